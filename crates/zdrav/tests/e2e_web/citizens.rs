//! The citizen's side: signing in, roles, documents, booking, a legal representative.

use crate::common::{self, Server};
use crate::{alert, http, sign_in};

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
