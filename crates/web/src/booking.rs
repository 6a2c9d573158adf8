//! Finding free time and booking it, shared by the citizen's «Запись к врачу» and the
//! clinician's «Записать к другому врачу»: the choices (specialties and organisations that
//! have doctors), `Appointment/$find`, and `$book` of one slot with the slot's doctors.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::fhir::{Failure, Fhir};
use crate::forms;
use crate::view;
use crate::Web;

/// A choice in a select list.
pub struct Choice {
    /// The submitted value.
    pub value: String,
    /// What it says.
    pub label: String,
    /// Whether it is the current choice.
    pub selected: bool,
}

/// A free slot offered.
pub struct Offer {
    /// Slot id.
    pub slot: String,
    /// When.
    pub when: String,
    /// The doctor and their specialty.
    pub doctor: String,
    /// The organisation.
    pub organization: String,
}

/// What the search form asked.
#[derive(Default)]
pub struct Ask {
    /// `system|code` of the specialty.
    pub specialty: Option<String>,
    /// Organisation id.
    pub organization: Option<String>,
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Whether a search was asked at all.
    pub asked: bool,
}

impl Ask {
    /// Reads the form; the message is what to fix when the input is malformed.
    pub fn read(q: &[(String, String)]) -> (Ask, Option<String>) {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let mut problem = None;
        let from = match forms::filled(q, "from") {
            Some(d) if forms::is_date(d) => d.to_string(),
            Some(_) => {
                problem = Some("Дата указана неверно: выберите день в календаре.".to_string());
                today
            }
            None => today,
        };
        let specialty = forms::filled(q, "specialty")
            .filter(|s| s.len() < 200 && s.contains('|'))
            .map(str::to_string);
        let organization = forms::filled(q, "organization")
            .filter(|o| forms::is_id(o))
            .map(str::to_string);
        let asked = forms::first(q, "find").is_some();
        if asked && specialty.is_none() && problem.is_none() {
            problem = Some("Выберите специальность врача.".into());
        }
        (
            Ask {
                specialty,
                organization,
                from,
                asked,
            },
            problem,
        )
    }
}

/// The specialties and organisations that have active doctors.
pub async fn choices(fhir: &Fhir, ask: &Ask) -> Result<(Vec<Choice>, Vec<Choice>), Failure> {
    let roles = fhir
        .get("PractitionerRole?active=true&_count=500&_include=PractitionerRole:organization")
        .await?;
    let mut specialties: BTreeMap<String, String> = BTreeMap::new();
    let mut bookable: Vec<&str> = Vec::new();
    for r in crate::fhir::matches(&roles) {
        for c in r
            .get("specialty")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("coding")?.as_array())
            .flatten()
        {
            let (Some(system), Some(code)) = (
                c.get("system").and_then(Value::as_str),
                c.get("code").and_then(Value::as_str),
            ) else {
                continue;
            };
            let label = c
                .get("display")
                .and_then(Value::as_str)
                .unwrap_or(code)
                .to_string();
            specialties.insert(format!("{system}|{code}"), label);
            bookable.push(view::text(r, "/organization/reference"));
        }
    }
    let mut specialty_choices: Vec<Choice> = specialties
        .into_iter()
        .map(|(value, label)| Choice {
            selected: ask.specialty.as_deref() == Some(value.as_str()),
            value,
            label,
        })
        .collect();
    specialty_choices.sort_by(|a, b| a.label.cmp(&b.label));
    let mut orgs: Vec<Choice> = crate::fhir::included(&roles)
        .into_iter()
        .filter(|o| o.get("resourceType").and_then(Value::as_str) == Some("Organization"))
        .filter(|o| bookable.contains(&format!("Organization/{}", view::text(o, "/id")).as_str()))
        .map(|o| {
            let id = view::text(o, "/id").to_string();
            Choice {
                selected: ask.organization.as_deref() == Some(id.as_str()),
                label: view::text(o, "/name").to_string(),
                value: id,
            }
        })
        .collect();
    orgs.sort_by(|a, b| a.label.cmp(&b.label));
    orgs.dedup_by(|a, b| a.value == b.value);
    Ok((specialty_choices, orgs))
}

/// The first participant of an appointment that is a doctor (PractitionerRole or
/// Practitioner), as a reference.
pub fn doctor_of(a: &Value) -> String {
    a.get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.pointer("/actor/reference").and_then(Value::as_str))
        .find(|r| r.starts_with("PractitionerRole/") || r.starts_with("Practitioner/"))
        .unwrap_or("")
        .to_string()
}

/// Everything the search form and its results show.
pub struct Search {
    /// What was asked.
    pub ask: Ask,
    /// What to fix in the input, if anything.
    pub problem: Option<String>,
    /// Specialties to choose from.
    pub specialties: Vec<Choice>,
    /// Organisations to choose from.
    pub organizations: Vec<Choice>,
    /// Free time found (when asked and the input is fine).
    pub offers: Vec<Offer>,
}

impl Search {
    /// Reads the form `q`, the choices and (when asked) the free time through `channel`.
    pub async fn run(
        fhir: &Fhir,
        q: &[(String, String)],
        channel: &str,
    ) -> Result<Search, Failure> {
        let (ask, problem) = Ask::read(q);
        let (specialties, organizations) = choices(fhir, &ask).await?;
        let offers = if ask.asked && problem.is_none() {
            find(fhir, &ask, channel).await?
        } else {
            Vec::new()
        };
        Ok(Search {
            ask,
            problem,
            specialties,
            organizations,
            offers,
        })
    }

    /// Whether results are shown.
    pub fn shown(&self) -> bool {
        self.ask.asked && self.problem.is_none()
    }
}

/// Free slots for `ask` over two weeks from its first day, through `channel`.
pub async fn find(fhir: &Fhir, ask: &Ask, channel: &str) -> Result<Vec<Offer>, Failure> {
    let Some(specialty) = &ask.specialty else {
        return Ok(Vec::new());
    };
    let start = chrono::NaiveDate::parse_from_str(&ask.from, "%Y-%m-%d")
        .unwrap_or_else(|_| chrono::Utc::now().date_naive());
    let end = start + chrono::Duration::days(14);
    // Time already past is not offered: from today, the search starts now.
    let first = format!("{}T00:00:00+03:00", start.format("%Y-%m-%d"));
    let now = chrono::Utc::now();
    let first = match chrono::DateTime::parse_from_rfc3339(&first) {
        Ok(t) if t < now => now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        _ => first,
    };
    let mut path = format!(
        "Appointment/$find?start={}&end={}T00:00:00%2B03:00&specialty={}&channel={channel}&_count=40",
        forms::enc(&first),
        end.format("%Y-%m-%d"),
        forms::enc(specialty)
    );
    if let Some(o) = &ask.organization {
        path.push_str(&format!("&organization=Organization/{o}"));
    }
    let found = fhir.get(&path).await?;
    let mut names = Names::default();
    let mut offers = Vec::new();
    for a in crate::fhir::matches(&found) {
        let slot = view::text(a, "/slot/0/reference")
            .strip_prefix("Slot/")
            .unwrap_or("")
            .to_string();
        let (doctor, organization) = names.of(fhir, &doctor_of(a)).await;
        offers.push(Offer {
            slot,
            when: view::when(view::text(a, "/start")),
            doctor: format!("{doctor}, {}", view::concept(a.pointer("/specialty/0"))),
            organization,
        });
    }
    Ok(offers)
}

/// Names of doctors and their organisations, read once per page.
#[derive(Default)]
pub struct Names {
    seen: HashMap<String, (String, String)>,
}

impl Names {
    /// The doctor's name and organisation of a PractitionerRole or Practitioner reference.
    pub async fn of(&mut self, fhir: &Fhir, reference: &str) -> (String, String) {
        if let Some(v) = self.seen.get(reference) {
            return v.clone();
        }
        let mut doctor = String::new();
        let mut organization = String::new();
        if reference.starts_with("PractitionerRole/") {
            if let Ok(role) = fhir.get(reference).await {
                if let Ok(p) = fhir.get(view::text(&role, "/practitioner/reference")).await {
                    doctor = view::person_name(&p);
                }
                if let Ok(o) = fhir.get(view::text(&role, "/organization/reference")).await {
                    organization = view::text(&o, "/name").to_string();
                }
            }
        } else if reference.starts_with("Practitioner/") {
            if let Ok(p) = fhir.get(reference).await {
                doctor = view::person_name(&p);
            }
        }
        let v = (doctor, organization);
        self.seen.insert(reference.to_string(), v.clone());
        v
    }
}

/// Books `slot` for `patient` through `channel`, with the slot's doctors as participants.
pub async fn book(
    web: &Web,
    fhir: &Fhir,
    patient: &str,
    slot: &str,
    channel: &str,
) -> Result<(), Failure> {
    let s = fhir.get(&format!("Slot/{slot}")).await?;
    // Schedule is in the Patient compartment (its actor may be a patient), so a citizen cannot
    // read one; the server reads it and takes only the doctors, rooms and services.
    let schedule = web
        .system_fhir()
        .get(view::text(&s, "/schedule/reference"))
        .await
        .unwrap_or(Value::Null);
    let mut participants = vec![json!({"actor": {"reference": format!("Patient/{patient}")},
        "status": "accepted"})];
    participants.extend(
        schedule
            .get("actor")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| {
                let r = view::text(a, "/reference");
                [
                    "PractitionerRole/",
                    "Practitioner/",
                    "Location/",
                    "HealthcareService/",
                ]
                .iter()
                .any(|t| r.starts_with(t))
            })
            .map(|a| json!({"actor": a, "status": "accepted"})),
    );
    let mut proposal = json!({"resourceType": "Appointment", "status": "proposed",
        "slot": [{"reference": format!("Slot/{slot}")}], "participant": participants});
    for k in ["specialty", "serviceType"] {
        if let Some(v) = s.get(k) {
            proposal[k] = v.clone();
        }
    }
    fhir.post(
        "Appointment/$book",
        &json!({"resourceType": "Parameters", "parameter": [
            {"name": "appointment-resource", "resource": proposal},
            {"name": "channel", "valueCode": channel}]}),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_search_form_is_read_with_messages() {
        let (a, p) = Ask::read(&q(&[("find", "1"), ("from", "2026-12-01")]));
        assert_eq!(a.from, "2026-12-01");
        assert_eq!(p.as_deref(), Some("Выберите специальность врача."));
        let (a, p) = Ask::read(&q(&[
            ("find", "1"),
            ("from", "31.12.2026"),
            ("specialty", "s|1"),
        ]));
        assert!(p.unwrap().contains("Дата"));
        assert_eq!(a.specialty.as_deref(), Some("s|1"));
        let (a, p) = Ask::read(&q(&[("organization", "../x"), ("specialty", "nocode")]));
        assert!(p.is_none() && !a.asked);
        assert!(a.organization.is_none() && a.specialty.is_none());
    }
}
