//! What every page shares: the frame (title, who is signed in, the menu of their role), Russian
//! dates and names, the Russian words for FHIR statuses, and the messages that replace the
//! API's English refusals.

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use zdrav_auth::Role;
use zdrav_server::smart::User;

use crate::fhir::Failure;
use crate::session::Signed;

/// One item of the menu.
#[derive(Debug, Clone)]
pub struct Link {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
}

/// The frame of a page.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page title.
    pub title: String,
    /// The signed-in user's name, if any.
    pub user: Option<String>,
    /// The menu.
    pub menu: Vec<Link>,
    /// The form token of the session ("" when signed out).
    pub csrf: String,
    /// A message about the last action (success).
    pub notice: Option<String>,
    /// A message about the last action (failure).
    pub alert: Option<String>,
}

impl Chrome {
    /// The frame of a page titled `title` for `s`.
    pub fn new(title: &str, s: Option<&Signed>) -> Chrome {
        let menu = match s.map(|s| s.principal.role) {
            Some(Role::Citizen) => vec![
                Link {
                    href: "/portal",
                    label: "Главная",
                },
                Link {
                    href: "/portal/documents",
                    label: "Мои документы",
                },
                Link {
                    href: "/portal/appointments",
                    label: "Запись к врачу",
                },
                Link {
                    href: "/portal/consents",
                    label: "Согласия",
                },
                Link {
                    href: "/portal/access-log",
                    label: "Кто смотрел мою карту",
                },
            ],
            Some(_) => vec![
                Link {
                    href: "/arm",
                    label: "Поиск пациента",
                },
                Link {
                    href: "/arm/schedule",
                    label: "Расписание врачей",
                },
            ],
            None => Vec::new(),
        };
        Chrome {
            title: title.to_string(),
            user: s.map(|s| s.name.clone()),
            menu,
            csrf: s.map(|s| s.csrf.clone()).unwrap_or_default(),
            notice: None,
            alert: None,
        }
    }

    /// The same frame with the outcome of the last action.
    pub fn with_outcome(mut self, notice: Option<String>, alert: Option<String>) -> Chrome {
        self.notice = notice;
        self.alert = alert;
        self
    }
}

/// Renders a page.
pub fn html(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "Страница не отображается из-за внутренней ошибки.",
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    page: Chrome,
    text: &'a str,
}

/// A page that only says `text`.
pub fn message_page(status: StatusCode, page: Chrome, text: &str) -> Response {
    html(status, MessagePage { page, text })
}

/// The 404 page for an address naming something that cannot exist (a malformed id).
pub fn no_such(s: &Signed, title: &str, text: &str) -> Response {
    message_page(StatusCode::NOT_FOUND, Chrome::new(title, Some(s)), text)
}

/// The page for a failed FHIR request.
pub fn failure_page(s: &Signed, f: &Failure) -> Response {
    let status = if f.status.is_server_error() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        f.status
    };
    message_page(status, Chrome::new("Ошибка", Some(s)), &explain(f))
}

/// A demo user shown on the sign-in and start pages.
#[derive(Debug, Clone)]
pub struct DemoUser {
    /// Sign-in name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Who they are.
    pub who: String,
}

/// The users of the built-in issuer, for a demo deployment's pages.
pub fn demo_users(users: &[User]) -> Vec<DemoUser> {
    users
        .iter()
        .map(|u| DemoUser {
            username: u.username.clone(),
            password: u.password.clone(),
            who: format!(
                "{} ({})",
                u.name.clone().unwrap_or_else(|| u.username.clone()),
                role_ru(&u.role)
            ),
        })
        .collect()
}

/// The Russian name of a role.
pub fn role_ru(role: &str) -> &'static str {
    match role {
        "citizen" => "гражданин",
        "practitioner" => "врач",
        "registrar" => "регистратор",
        "org-admin" => "администратор МО",
        "regional" => "региональный орган",
        "regulator" => "регулятор",
        "device" => "устройство",
        "system" => "система",
        _ => "пользователь",
    }
}

/// What a refused request means, in Russian, for the person at the page.
pub fn explain(f: &Failure) -> String {
    let d = f.diagnostics.as_str();
    let s = f.status.as_u16();
    if s == 409 && (d.contains("Slot") || d.contains("slot") || f.code == "conflict") {
        return "Это время уже занято. Выберите другое время.".into();
    }
    if d.contains("overlap") {
        return "У пациента уже есть запись на это время.".into();
    }
    if d.contains("open appointment of specialty") || d.contains("two open appointments") {
        return "У пациента уже есть открытая запись к врачу этой специальности. Отмените её или дождитесь приёма.".into();
    }
    if d.contains("may hold at most") {
        return "Достигнуто наибольшее число одновременных записей. Отмените одну из записей."
            .into();
    }
    if d.contains("not open to remote booking") {
        return "Это время доступно только для записи через регистратуру или по направлению."
            .into();
    }
    if d.contains("attached to") {
        return "Запись в эту медицинскую организацию возможна только для прикреплённых пациентов."
            .into();
    }
    match s {
        400 => format!("Запрос не принят: проверьте введённые данные{}.", place(f)),
        401 => "Сеанс истёк. Войдите заново.".into(),
        403 => "Недостаточно прав для этого действия.".into(),
        404 => "Запись не найдена или недоступна вам.".into(),
        409 => "Данные изменились, пока вы работали со страницей. Обновите её и повторите.".into(),
        413 => "Файл слишком большой.".into(),
        422 => format!("Действие отклонено по правилам системы{}.", place(f)),
        429 => "Слишком много запросов. Подождите немного и повторите.".into(),
        _ => "Внутренняя ошибка сервера. Попробуйте позже.".into(),
    }
}

fn place(f: &Failure) -> String {
    match &f.at {
        Some(at) => format!(" (поле {at})"),
        None => String::new(),
    }
}

const MONTHS: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

/// A FHIR date or dateTime in Russian: «1 декабря 2026», «1 декабря 2026, 08:30» (in the
/// offset the value was written with, which is the clinic's local time).
pub fn when(v: &str) -> String {
    let date = |d: &str| -> Option<String> {
        let day = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
        use chrono::Datelike;
        Some(format!(
            "{} {} {}",
            day.day(),
            MONTHS[day.month0() as usize],
            day.year()
        ))
    };
    if v.len() >= 16 && v.as_bytes().get(10) == Some(&b'T') {
        if let Some(d) = date(&v[..10]) {
            return format!("{d}, {}", &v[11..16]);
        }
    }
    if v.len() == 10 {
        if let Some(d) = date(v) {
            return d;
        }
    }
    v.to_string()
}

/// The name of a Patient, Practitioner or RelatedPerson: «Фамилия Имя Отчество».
pub fn person_name(r: &Value) -> String {
    let Some(n) = r
        .get("name")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    else {
        return r
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("без имени")
            .to_string();
    };
    if let Some(t) = n.get("text").and_then(Value::as_str) {
        return t.to_string();
    }
    let mut parts: Vec<&str> = n
        .get("family")
        .and_then(Value::as_str)
        .into_iter()
        .collect();
    parts.extend(
        n.get("given")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    );
    if parts.is_empty() {
        "без имени".into()
    } else {
        parts.join(" ")
    }
}

/// What a CodeableConcept says: its text, else the first display, else the first code.
pub fn concept(c: Option<&Value>) -> String {
    let Some(c) = c else {
        return String::new();
    };
    if let Some(t) = c.get("text").and_then(Value::as_str) {
        return t.to_string();
    }
    let codings = c.get("coding").and_then(Value::as_array);
    codings
        .into_iter()
        .flatten()
        .find_map(|x| x.get("display").and_then(Value::as_str))
        .or_else(|| {
            codings
                .into_iter()
                .flatten()
                .find_map(|x| x.get("code").and_then(Value::as_str))
        })
        .unwrap_or("")
        .to_string()
}

/// A string element of `r` at JSON pointer `p`.
pub fn text<'a>(r: &'a Value, p: &str) -> &'a str {
    r.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// The Russian word for an Appointment, DocumentReference, Consent or Slot status.
pub fn status_ru(status: &str) -> &'static str {
    match status {
        "booked" => "записан",
        "pending" => "ожидает подтверждения",
        "proposed" => "предложено",
        "cancelled" => "отменена",
        "fulfilled" => "состоялся",
        "noshow" => "неявка",
        "arrived" => "пришёл",
        "checked-in" => "на приёме",
        "waitlist" => "лист ожидания",
        "entered-in-error" => "ошибочная запись",
        "current" => "действующий",
        "superseded" => "заменён",
        "active" => "действует",
        "inactive" => "отозвано",
        "draft" => "черновик",
        "rejected" => "отклонено",
        "free" => "свободно",
        "busy" => "занято",
        "busy-tentative" => "предварительно занято",
        "busy-unavailable" => "недоступно",
        "finished" => "завершён",
        "in-progress" => "идёт",
        "planned" => "запланирован",
        "final" => "окончательный",
        "completed" => "выполнено",
        _ => "—",
    }
}

/// The Russian name of a resource type shown on the timeline.
pub fn type_ru(rtype: &str) -> &'static str {
    match rtype {
        "Encounter" => "Обращение",
        "DocumentReference" => "Документ",
        "Condition" => "Диагноз",
        "Procedure" => "Процедура",
        "Immunization" => "Прививка",
        "MedicationRequest" => "Назначение",
        "DiagnosticReport" => "Исследование",
        "Observation" => "Наблюдение",
        "Appointment" => "Запись",
        _ => "Запись карты",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn russian_dates() {
        assert_eq!(when("2026-12-01"), "1 декабря 2026");
        assert_eq!(when("2026-03-08T08:30:00+03:00"), "8 марта 2026, 08:30");
        assert_eq!(when("2026"), "2026");
        assert_eq!(when("garbage-at-all"), "garbage-at-all");
    }

    #[test]
    fn names_and_concepts() {
        let p = json!({"name": [{"family": "Смирнов", "given": ["Алексей", "Иванович"]}]});
        assert_eq!(person_name(&p), "Смирнов Алексей Иванович");
        assert_eq!(person_name(&json!({"id": "x"})), "x");
        let c = json!({"coding": [{"code": "76"}, {"display": "Терапия"}]});
        assert_eq!(concept(Some(&c)), "Терапия");
        assert_eq!(concept(Some(&json!({"coding": [{"code": "76"}]}))), "76");
        assert_eq!(concept(None), "");
    }

    #[test]
    fn refusals_in_russian() {
        let f = |status: u16, d: &str| Failure {
            status: StatusCode::from_u16(status).unwrap(),
            code: "business-rule".into(),
            diagnostics: d.into(),
            at: None,
        };
        assert!(explain(&f(409, "Slot/x was taken")).contains("занято"));
        assert!(
            explain(&f(422, "Patient/p may hold at most 5 open appointments"))
                .contains("наибольшее")
        );
        assert!(explain(&f(404, "")).contains("не найдена"));
        assert!(explain(&f(500, "boom")).contains("Внутренняя"));
    }
}
