//! The demo of `serve --demo`: three synthetic patients (PySynthea) and a small Russian clinic
//! world: two Moscow organisations, three doctors with schedules, two citizens, their visits,
//! diagnoses and two registered signed documents (`demo/ru`), with slots generated from today
//! on every start, and the users to sign in as.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use serde_json::json;
use zdrav_server::smart::User;
use zdrav_server::Ctx;

/// The Russian clinic world: organisations, doctors, schedules, citizens, their records.
const CLINIC: &[u8] = include_bytes!("../../../demo/ru/clinic.json");

/// Two registered documents of the demo citizen, signed by `demo/ru/make_documents.sh`.
const DOCUMENTS: &[u8] = include_bytes!("../../../demo/ru/documents.json");

/// The demo schedules and their working hours.
const SCHEDULES: [(&str, &str, i64); 3] = [
    ("sched-ivanova", "mon-fri 08:00-12:00", 30),
    ("sched-sidorova", "mon-fri 13:00-17:00", 30),
    ("sched-petrov", "mon-fri 09:00-13:00", 20),
];

/// Days ahead that the demo schedules are opened for.
const DAYS_AHEAD: i64 = 21;

/// The demo users (password = user name; for a local demo only).
pub fn users() -> Vec<User> {
    let user = |username: &str, role: &str, name: &str| User {
        username: username.into(),
        password: username.into(),
        role: role.into(),
        sub: None,
        patient: None,
        practitioner: None,
        organization: None,
        name: Some(name.into()),
        fhir_user: None,
    };
    vec![
        User {
            patient: Some("pat-smirnov".into()),
            ..user("patient", "citizen", "Смирнов Алексей Иванович")
        },
        User {
            patient: Some("pat-kuznetsova".into()),
            ..user("patient2", "citizen", "Кузнецова Елена Сергеевна")
        },
        User {
            patient: Some("pat-kuznetsov".into()),
            fhir_user: Some("RelatedPerson/rp-kuznetsova-mother".into()),
            ..user(
                "mother",
                "citizen",
                "Кузнецова Елена Сергеевна, мать Кузнецова Михаила",
            )
        },
        User {
            practitioner: Some("pr-ivanova".into()),
            organization: Some("org-gp1".into()),
            ..user("doctor", "practitioner", "Иванова Мария Петровна, терапевт")
        },
        User {
            practitioner: Some("pr-petrov".into()),
            organization: Some("org-gkb5".into()),
            ..user(
                "cardio",
                "practitioner",
                "Петров Сергей Николаевич, кардиолог",
            )
        },
        User {
            organization: Some("org-gp1".into()),
            ..user("registrar", "registrar", "Регистратура поликлиники № 1")
        },
    ]
}

/// Loads the demo into an empty database; on every start opens the demo schedules for the
/// coming weeks (only missing slots are created).
pub async fn load(ctx: &Ctx) -> Result<(), String> {
    let counts = ctx.store.counts().await.map_err(|e| e.to_string())?;
    if counts.iter().all(|(_, n)| *n == 0) {
        crate::load::demo(ctx).await?;
        let n = crate::load::load_bytes(ctx, "demo/ru/clinic.json", CLINIC).await?;
        let bundles: Vec<serde_json::Value> = serde_json::from_slice(DOCUMENTS)
            .map_err(|e| format!("demo/ru/documents.json: {e}"))?;
        let mut registered = 0;
        for b in &bundles {
            let data = serde_json::to_vec(b).map_err(|e| e.to_string())?;
            // Under --trusted-ca the demo's self-issued certificates are (rightly) refused;
            // the demo goes on without its documents.
            match crate::load::load_bytes(ctx, "demo/ru/documents.json", &data).await {
                Ok(_) => registered += 1,
                Err(e) => eprintln!("zdrav: a demo document was not registered: {e}"),
            }
        }
        eprintln!(
            "zdrav: loaded the Russian demo clinic ({n} resources, {registered} signed documents)"
        );
    } else {
        eprintln!("zdrav: the database already has data; demo data not loaded again");
    }
    open_schedules(ctx).await
}

async fn open_schedules(ctx: &Ctx) -> Result<(), String> {
    if ctx
        .store
        .read("Schedule", "sched-ivanova")
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Ok(());
    }
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Duration::days(DAYS_AHEAD);
    let mut made = 0;
    for (id, hours, minutes) in SCHEDULES {
        let template = json!({"resourceType": "Parameters", "parameter": [
            {"name": "start", "valueDate": today.format("%Y-%m-%d").to_string()},
            {"name": "end", "valueDate": end.format("%Y-%m-%d").to_string()},
            {"name": "day", "valueString": hours},
            {"name": "slotMinutes", "valueInteger": minutes}]});
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json"),
        );
        let uri = format!("/fhir/Schedule/{id}/$generate")
            .parse()
            .map_err(|e| format!("{e}"))?;
        let body = Body::from(serde_json::to_vec(&template).map_err(|e| e.to_string())?);
        let r = zdrav_server::routes::serve(ctx.clone(), Method::POST, uri, headers, body).await;
        let status = r.status();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if !status.is_success() {
            return Err(format!("demo schedule {id}: {status} {v}"));
        }
        made += v
            .pointer("/parameter/0/valueInteger")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
    }
    eprintln!("zdrav: demo schedules open for {DAYS_AHEAD} days ({made} new slots)");
    Ok(())
}
