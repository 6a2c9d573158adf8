//! The clinician's side and what it changes for citizens: consents and emergencies, document
//! registration by upload, trusted certification centres.

use std::path::Path;

use reqwest::blocking::multipart;

use crate::common::{self, Server};
use crate::{alert, sign_in};

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
    // The kind is chosen from НСИ 1522 as the server knows it, the laboratory protocol first.
    assert!(form.contains("<option value=\"7\" selected>Протокол лабораторного исследования (7)"));
    assert!(form.contains(">Справка об отсутствии контактов с инфекционными больными (88)"));
    let upload = |doctor_sig: Vec<u8>, org_sig: Vec<u8>, body: Vec<u8>| {
        let f = multipart::Form::new()
            .text("csrf", doctor.csrf())
            .text("patient", "pat-smirnov")
            .text("kind_code", "7")
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
    // The form sent only the kind's code; the API named it from the dictionary.
    assert!(
        page.contains("<h1>Протокол лабораторного исследования</h1>"),
        "{page}"
    );
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
