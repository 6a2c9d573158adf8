//! The Russian pages over HTTP (issue 10), against the real binary with `--demo`: signing in
//! and the role checks, what each page shows, every form's malformed input answered with a
//! Russian message (never a server error), the form token, a consent's effect on the doctor's
//! next page, an emergency access showing up in the citizen's log with its reason, and a
//! signed document registered through the workstation's upload form. The browser tests
//! (`e2e_web_browser`) click through the same pages in Chromium.

mod common;

use std::path::Path;

use common::Server;
use reqwest::blocking::{multipart, Client, Response};
use reqwest::redirect::Policy;

/// A signed-in browser without a browser: the session cookie and the form token.
struct Session {
    http: Client,
    root: String,
    cookie: String,
}

fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

fn sign_in(s: &Server, user: &str) -> Session {
    let r = http()
        .post(format!("{}/login", s.root))
        .form(&[("username", user), ("password", user)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in of {user}");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    assert!(cookie.starts_with("zdrav_session="));
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    Session {
        http: http(),
        root: s.root.clone(),
        cookie,
    }
}

impl Session {
    fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.root))
            .header("cookie", &self.cookie)
            .send()
            .unwrap()
    }

    fn page(&self, path: &str, status: u16) -> String {
        let r = self.get(path);
        assert_eq!(r.status(), status, "GET {path}");
        r.text().unwrap()
    }

    /// The form token of the session, read from a page.
    fn csrf(&self) -> String {
        let page = self.page("/", 200);
        let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        page[at..at + 24].to_string()
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.root))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .unwrap()
    }

    /// POSTs with the form token and follows the redirect; the page it lands on.
    fn submit(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let csrf = self.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        let r = self.post(path, &all);
        let status = r.status().as_u16();
        if status == 303 {
            let to = r.headers()["location"].to_str().unwrap().to_string();
            return (303, self.page(&to, 200));
        }
        (status, r.text().unwrap())
    }
}

/// The text of the page's alert.
fn alert(page: &str) -> &str {
    let Some(at) = page.find("role=\"alert\">") else {
        return "";
    };
    let rest = &page[at + 13..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}

#[test]
fn sign_in_roles_and_what_citizens_see() {
    let s = Server::start_with(&["--demo"]);
    let http = http();
    // The start page says what runs and where, and lists the demo users.
    let start = http.get(format!("{}/", s.root)).send().unwrap();
    assert_eq!(start.status(), 200);
    let start = start.text().unwrap();
    for words in [
        "«Мое здоровье»",
        "/fhir/metadata",
        "CapabilityStatement",
        "patient2",
        "registrar",
        "lang=\"ru\"",
    ] {
        assert!(start.contains(words), "start page lacks {words}");
    }
    // Pages need a session: the sign-in page comes back to where the user was going.
    let r = http
        .get(format!("{}/portal/documents", s.root))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=%2Fportal%2Fdocuments");
    // Bad sign-ins are answered on the form, in Russian.
    for (form, status, words) in [
        (
            vec![("username", ""), ("password", "")],
            400,
            "Введите имя пользователя и пароль.",
        ),
        (
            vec![("username", "patient"), ("password", "wrong")],
            401,
            "Неверное имя пользователя или пароль.",
        ),
        (
            vec![("username", "nobody"), ("password", "x")],
            401,
            "Неверное имя пользователя или пароль.",
        ),
        (vec![], 400, "Введите имя пользователя и пароль."),
    ] {
        let r = http
            .post(format!("{}/login", s.root))
            .form(&form)
            .send()
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(alert(&r.text().unwrap()), words);
    }
    let citizen = sign_in(&s, "patient");
    // Roles: a citizen has no workstation, a doctor no citizen's portal.
    assert!(citizen
        .page("/arm", 403)
        .contains("недоступен для вашей роли"));
    let doctor = sign_in(&s, "doctor");
    assert!(doctor
        .page("/portal", 403)
        .contains("недоступен для вашей роли"));
    // The citizen's pages.
    let home = citizen.page("/portal", 200);
    assert!(home.contains("Смирнов Алексей Иванович") && home.contains("128-456-390 80"));
    assert!(home.contains("Документов в карте: 2."));
    let docs = citizen.page("/portal/documents", 200);
    assert!(docs.find("Протокол консультации") < docs.find("Протокол лабораторного исследования"));
    assert!(docs.contains("ГБУЗ «Городская клиническая больница № 5 ДЗМ»"));
    let doc = citizen.page("/portal/documents/doc-smirnov-lab", 200);
    assert!(doc.contains("Гемоглобин"), "the body is shown");
    assert_eq!(doc.matches("Подпись действительна").count(), 2, "{doc}");
    assert!(doc.contains("Иванова Мария Петровна, СНИЛС 11223344595"));
    assert!(doc.contains("ОГРН 1027700132195") && doc.contains("ГОСТ Р 34.10-2012 (256 бит)"));
    let body = citizen.get("/portal/documents/doc-smirnov-lab/body");
    assert_eq!(body.status(), 200);
    assert_eq!(body.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(body.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(body
        .text()
        .unwrap()
        .contains("ПРОТОКОЛ ЛАБОРАТОРНОГО ИССЛЕДОВАНИЯ"));
    // Another citizen cannot open it (as if it did not exist), nor its body.
    let other = sign_in(&s, "patient2");
    assert!(other
        .page("/portal/documents/doc-smirnov-lab", 404)
        .contains("не найдена"));
    assert_eq!(
        other.get("/portal/documents/doc-smirnov-lab/body").status(),
        404
    );
    assert!(other
        .page("/portal/documents", 200)
        .contains("нет документов"));
    assert!(citizen
        .page("/portal/documents/..%2Fx", 404)
        .contains("нет"));
    // Signing out ends the page session.
    let r = citizen.post("/logout", &[]);
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    // Guessing is stopped: after ten failed sign-ins from this address within a minute (two
    // above), even the right password waits.
    let attempt = |password: &str| {
        http.post(format!("{}/login", s.root))
            .form(&[("username", "patient"), ("password", password)])
            .send()
            .unwrap()
    };
    for _ in 0..8 {
        assert_eq!(attempt("guess").status(), 401);
    }
    let r = attempt("patient");
    assert_eq!(r.status(), 429);
    assert!(alert(&r.text().unwrap()).contains("Слишком много неудачных попыток входа"));
}

#[test]
fn booking_forms_and_their_mistakes() {
    let s = Server::start_with(&["--demo"]);
    let c = sign_in(&s, "patient");
    let page = c.page("/portal/appointments", 200);
    assert!(page.contains("У вас нет записей на приём."));
    assert!(page.contains(">Терапия<") && page.contains(">Кардиология<"));
    // Malformed search input: a message, not an error.
    let bad_date = c.page(
        "/portal/appointments?find=1&specialty=x%7C1&from=31.12.2026",
        400,
    );
    assert!(alert(&bad_date).contains("Дата указана неверно"));
    let no_specialty = c.page("/portal/appointments?find=1", 400);
    assert_eq!(alert(&no_specialty), "Выберите специальность врача.");
    // A search finds the therapist's free time; booking it shows in «Мои записи».
    let spec = "urn%3Aoid%3A1.2.643.5.1.13.13.11.1066%7C76";
    let found = c.page(
        &format!("/portal/appointments?find=1&specialty={spec}"),
        200,
    );
    assert!(found.contains("Иванова Мария Петровна, Терапия"), "{found}");
    let at = found.find("name=\"slot\" value=\"").unwrap() + 19;
    let slot = &found[at..at + found[at..].find('"').unwrap()];
    let (status, mine) = c.submit("/portal/appointments/book", &[("slot", slot)]);
    assert_eq!(status, 303);
    assert!(mine.contains("Вы записаны на приём."));
    assert!(mine.contains("Иванова Мария Петровна, Терапия") && mine.contains("записан"));
    // The same slot again: taken. Another therapist's slot: the one-per-specialty rule.
    let (status, again) = c.submit("/portal/appointments/book", &[("slot", slot)]);
    assert_eq!(status, 409);
    assert_eq!(
        alert(&again),
        "Это время уже занято. Выберите другое время."
    );
    let at2 = found[at..].find("name=\"slot\" value=\"").unwrap() + at + 19;
    let slot2 = &found[at2..at2 + found[at2..].find('"').unwrap()];
    let (status, rule) = c.submit("/portal/appointments/book", &[("slot", slot2)]);
    assert_eq!(status, 422);
    assert!(
        alert(&rule).contains("открытая запись к врачу этой специальности"),
        "{}",
        alert(&rule)
    );
    // Malformed booking input.
    for (slot, words) in [
        ("", "Выберите время приёма из списка."),
        ("../../x", "Выберите время приёма из списка."),
    ] {
        let (status, p) = c.submit("/portal/appointments/book", &[("slot", slot)]);
        assert_eq!(status, 400);
        assert_eq!(alert(&p), words);
    }
    let (status, p) = c.submit("/portal/appointments/book", &[("slot", "no-such-slot")]);
    assert_eq!(status, 404, "{p}");
    assert!(alert(&p).contains("не найдена"));
    // Without the form token nothing happens.
    let r = c.post("/portal/appointments/book", &[("slot", slot2)]);
    assert_eq!(r.status(), 403);
    assert!(r.text().unwrap().contains("Форма устарела"));
    // Cancel: the citizen's own appointment only.
    let mine = c.page("/portal/appointments", 200);
    let at = mine.find("/portal/appointments/").unwrap();
    let id = &mine[at + 21..at + 21 + mine[at + 21..].find('/').unwrap()];
    let other = sign_in(&s, "patient2");
    let (status, p) = other.submit(&format!("/portal/appointments/{id}/cancel"), &[]);
    assert_eq!(status, 404, "{p}");
    let (status, p) = c.submit(&format!("/portal/appointments/{id}/cancel"), &[]);
    assert_eq!(status, 303);
    assert!(p.contains("Запись отменена.") && p.contains("отменена"));
    let (status, _) = c.submit("/portal/appointments/bad%20id/cancel", &[]);
    assert_eq!(status, 404);
    // The registry desk books the patient through the workstation (any slot).
    let desk = sign_in(&s, "registrar");
    let (status, p) = desk.submit("/arm/patients/pat-smirnov/book", &[("slot", slot)]);
    assert_eq!(status, 303, "{p}");
    assert!(p.contains("Пациент записан на приём."));
    let day = &slot["sched-ivanova-".len()..];
    let date = format!("{}-{}-{}", &day[..4], &day[4..6], &day[6..8]);
    let sched = desk.page(
        &format!("/arm/schedule?doctor=role-ivanova&date={date}"),
        200,
    );
    assert!(
        sched.contains("Смирнов Алексей Иванович") && sched.contains("регистратура"),
        "{sched}"
    );
    assert!(
        alert(&desk.page("/arm/schedule?doctor=role-ivanova&date=2026-02-30", 400))
            .contains("Дата")
    );
}

#[test]
fn consents_take_effect_and_emergencies_are_logged() {
    let s = Server::start_with(&["--demo"]);
    let c = sign_in(&s, "patient");
    let cardio = sign_in(&s, "cardio");
    // The cardiologist of the other hospital has no access to Смирнов's record.
    let closed = cardio.page("/arm/patients/pat-smirnov", 404);
    assert!(closed.contains("Карта пациента недоступна") && closed.contains("Экстренный доступ"));
    // Form mistakes.
    for (form, words) in [
        (vec![], "Выберите, кому открыть доступ."),
        (
            vec![("actor", "Patient/pat-kuznetsova")],
            "Выберите врача или организацию из списка.",
        ),
        (
            vec![("actor", "Practitioner/pr-petrov"), ("until", "2020-01-01")],
            "Дата окончания уже прошла",
        ),
        (
            vec![("actor", "Practitioner/pr-petrov"), ("until", "завтра")],
            "Дата окончания указана неверно",
        ),
    ] {
        let (status, p) = c.submit("/portal/consents", &form);
        assert_eq!(status, 400);
        assert!(alert(&p).starts_with(words), "{}", alert(&p));
    }
    let (status, p) = c.submit("/portal/consents", &[("actor", "Practitioner/pr-petrov")]);
    assert_eq!(status, 303);
    assert!(p.contains("Доступ к вашей карте открыт.") && p.contains("действует"));
    assert!(p.contains("Петров Сергей Николаевич — Кардиология"));
    // On the doctor's next page the record opens, with the timeline of both organisations.
    let record = cardio.page("/arm/patients/pat-smirnov", 200);
    for words in [
        "Протокол лабораторного исследования",
        "Протокол консультации",
        "Приём терапевта",
        "Эссенциальная (первичная) гипертензия",
    ] {
        assert!(record.contains(words), "the timeline lacks {words}");
    }
    let at = p.find("/portal/consents/").unwrap() + 17;
    let id = &p[at..at + p[at..].find('/').unwrap()];
    let (status, p) = c.submit(&format!("/portal/consents/{id}/revoke"), &[]);
    assert_eq!(status, 303);
    assert!(p.contains("Согласие отозвано") && p.contains("отозвано"));
    cardio.page("/arm/patients/pat-smirnov", 404);
    // An emergency needs a reason, and then opens the record for that page only.
    let (status, p) = cardio.submit(
        "/arm/patients/pat-smirnov/emergency",
        &[("reason", "срочно")],
    );
    assert_eq!(status, 200, "{p}");
    assert!(p.contains("Экстренный доступ: обращение записано"));
    let (status, p) = cardio.submit("/arm/patients/pat-smirnov/emergency", &[("reason", "  ")]);
    assert_eq!(status, 400);
    assert!(alert(&p).contains("Укажите причину"));
    cardio.page("/arm/patients/pat-smirnov", 404);
    // The citizen sees who looked, and the emergency with its reason (read events are written
    // by the audit's background writer, so the log is read until they are there).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let log = c.page("/portal/access-log", 200);
        if log.contains("экстренный доступ: «срочно»") || std::time::Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(log.contains("Петров Сергей Николаевич"), "{log}");
    assert!(log.contains("экстренный доступ: «срочно»"), "{log}");
    assert!(!log.contains(">вы<"));
    assert!(c.page("/portal/access-log?mine=1", 200).contains(">вы<"));
    // Patient search in the workstation: by СНИЛС in any spelling, mistakes explained.
    let doctor = sign_in(&s, "doctor");
    let found = doctor.page("/arm?find=1&snils=12845639080", 200);
    assert!(found.contains("/arm/patients/pat-smirnov"));
    assert!(
        alert(&doctor.page("/arm?find=1&snils=12845639081", 400)).contains("СНИЛС указан неверно")
    );
    assert!(alert(&doctor.page("/arm?find=1", 400)).contains("Укажите фамилию"));
    assert!(alert(&doctor.page("/arm?find=1&birthdate=1980-13-01", 400)).contains("Дата рождения"));
    let by_name = doctor.page(
        "/arm?find=1&family=%D0%A1%D0%BC%D0%B8%D1%80%D0%BD%D0%BE%D0%B2",
        200,
    );
    assert!(by_name.contains("Смирнов Алексей Иванович"));
    // The therapist's search is limited to her patients: Кузнецова is not hers.
    let none = doctor.page("/arm?find=1&snils=167-234-581+80", 200);
    assert!(none.contains("Пациенты не найдены."));
}

#[test]
fn a_signed_document_is_registered_through_the_workstation() {
    if !common::remd::gost_engine() {
        eprintln!("\n*** SKIPPED: openssl gost engine not installed ***\n");
        return;
    }
    // The bench fixture signs as Иванов (СНИЛС 112-233-445 95) and the clinic with ОГРН
    // 1027700132195: the demo's doctor Иванова and her polyclinic.
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/remd_fixture.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    let s = Server::start_with(&["--demo"]);
    let doctor = sign_in(&s, "doctor");
    let form = doctor.page("/arm/documents?patient=pat-smirnov", 200);
    assert!(
        form.contains("Смирнов Алексей Иванович")
            && form.contains("enctype=\"multipart/form-data\"")
    );
    let upload = |doctor_sig: Vec<u8>, org_sig: Vec<u8>, body: Vec<u8>| {
        let f = multipart::Form::new()
            .text("csrf", doctor.csrf())
            .text("patient", "pat-smirnov")
            .text("kind_code", "7")
            .text("kind_name", "Протокол лабораторного исследования")
            .part(
                "body",
                multipart::Part::bytes(body)
                    .file_name("body.txt")
                    .mime_str("text/plain")
                    .unwrap(),
            )
            .part(
                "doctor_signature",
                multipart::Part::bytes(doctor_sig).file_name("d.p7s"),
            )
            .part(
                "organization_signature",
                multipart::Part::bytes(org_sig).file_name("o.p7s"),
            );
        doctor
            .http
            .post(format!("{}/arm/documents", s.root))
            .header("cookie", &doctor.cookie)
            .multipart(f)
            .send()
            .unwrap()
    };
    // Mistakes are named by file.
    let r = upload(file("clinic.p7s"), file("doctor.p7s"), file("body.txt"));
    let (status, page) = (r.status(), r.text().unwrap());
    assert_eq!(status, 422, "{page}");
    assert!(
        alert(&page).starts_with("Подпись врача не принята"),
        "{page}"
    );
    let r = upload(
        file("doctor.p7s"),
        file("clinic.p7s"),
        b"another body".to_vec(),
    );
    assert_eq!(r.status(), 422);
    assert_eq!(
        alert(&r.text().unwrap()),
        "Подпись врача не принята: не соответствует файлу документа или повреждена."
    );
    let r = upload(file("doctor.p7s"), Vec::new(), file("body.txt"));
    assert_eq!(r.status(), 400);
    assert!(alert(&r.text().unwrap()).contains("подписи медицинской организации"));
    // The real thing, with the organisation's signature as PEM.
    use base64::Engine;
    let pem = format!(
        "-----BEGIN CMS-----\n{}\n-----END CMS-----\n",
        base64::engine::general_purpose::STANDARD.encode(file("clinic.p7s"))
    );
    let r = upload(file("doctor.p7s"), pem.into_bytes(), file("body.txt"));
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    assert!(to.starts_with("/arm/documents/") && to.ends_with("?done=registered"));
    let page = doctor.page(&to, 200);
    assert!(page.contains("Документ зарегистрирован"));
    assert_eq!(page.matches("Подпись действительна").count(), 2);
    // The citizen now has three documents.
    let c = sign_in(&s, "patient");
    assert!(c.page("/portal", 200).contains("Документов в карте: 3."));
    // A registrar does not sign documents.
    let desk = sign_in(&s, "registrar");
    assert_eq!(desk.get("/arm/documents?patient=pat-smirnov").status(), 403);
}

/// With trusted certification centres the demo's self-issued documents are not registered
/// (the server still starts), and a document signed under the trusted centre shows, on the
/// citizen's page, the centre its certificates chain to.
#[test]
fn trusted_centres_are_named_on_the_document_page() {
    use common::remd::{registration_for, Kind, Openssl, Parties};
    let o = Openssl::new();
    let root = o.root(Kind::P256, "/CN=Тестовый УЦ");
    let (doctor, clinic) = o.author_and_clinic_of(&root, Kind::P256, Kind::P256);
    let ca = root.cert.to_str().unwrap().to_string();
    let s = Server::start_with(&["--demo", "--trusted-ca", &ca]);
    let c = sign_in(&s, "patient");
    assert!(c.page("/portal", 200).contains("Документов в карте: 0."));
    let body = "Протокол лабораторного исследования\r\nГемоглобин 141 г/л\n".as_bytes();
    let parties = Parties {
        patient: "Patient/pat-smirnov",
        author: "Practitioner/pr-ivanova",
        custodian: "Organization/org-gp1",
        date: "2026-11-23T10:00:00+03:00",
    };
    let signed = o.both(&doctor, &clinic, body);
    let signed: Vec<(&str, Vec<u8>)> = vec![
        ("Practitioner/pr-ivanova", signed[0].1.clone()),
        ("Organization/org-gp1", signed[1].1.clone()),
    ];
    common::expect(
        s.post(
            "",
            &registration_for("doc-t", body, &signed, None, &parties),
        ),
        200,
    );
    let page = c.page("/portal/documents/doc-t", 200);
    assert_eq!(
        page.matches("выдан доверенным УЦ «Тестовый УЦ»").count(),
        2,
        "{page}"
    );
}

/// Without users (no `--demo`, no `--auth-config`) the sign-in page says how to configure them.
#[test]
fn sign_in_without_users_says_how_to_add_them() {
    let s = Server::start();
    let page = http().get(format!("{}/login", s.root)).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page
        .text()
        .unwrap()
        .contains("Пользователи для входа не настроены"));
    let demo = Server::start_with(&["--demo"]);
    let page = http()
        .get(format!("{}/login", demo.root))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!page.contains("Пользователи для входа не настроены"));
}

/// A mother signs in for her child: the portal is the child's, it says she acts as the legal
/// representative, she books for him, and the access ends on her next page when the relation
/// is ended.
#[test]
fn a_legal_representative_acts_for_the_child() {
    let s = Server::start_with(&["--demo"]);
    let m = sign_in(&s, "mother");
    let home = m.page("/portal", 200);
    assert!(home.contains("Кузнецов Михаил Андреевич"), "{home}");
    assert!(home.contains("Вы, Кузнецова Елена Сергеевна, действуете как законный представитель"));
    let spec = "urn%3Aoid%3A1.2.643.5.1.13.13.11.1066%7C76";
    let found = m.page(
        &format!("/portal/appointments?find=1&specialty={spec}"),
        200,
    );
    let at = found.find("name=\"slot\" value=\"").unwrap() + 19;
    let slot = &found[at..at + found[at..].find('"').unwrap()];
    let (status, p) = m.submit("/portal/appointments/book", &[("slot", slot)]);
    assert_eq!(status, 303, "{p}");
    assert!(p.contains("Вы записаны на приём."));
    // The relation ends (the test server runs without authentication for the API).
    let mut rp = common::expect(s.get("RelatedPerson/rp-kuznetsova-mother"), 200);
    rp["active"] = serde_json::json!(false);
    common::expect(s.put("RelatedPerson/rp-kuznetsova-mother", &rp), 200);
    let closed = m.page("/portal", 403);
    assert!(alert(&closed).contains("Недостаточно прав"), "{closed}");
}
