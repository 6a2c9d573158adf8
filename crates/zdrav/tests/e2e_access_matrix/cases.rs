//! The cases of the authorisation matrix and the record they run against.

use super::common::Server;
use serde_json::{json, Value};

/// Patients by relationship to practitioner d1 of org1; the first five are in reach.
pub const IN_CARE: [&str; 5] = ["pa", "pb", "pc", "pd", "pe"];
pub const NOT_IN_CARE: [&str; 3] = ["pf", "pg", "ph"];

/// What a case must answer.
#[derive(Debug, Clone)]
pub enum Want {
    /// This status.
    Status(u16),
    /// 200 with exactly these entries (`Type/id`, sorted), OperationOutcome entries aside.
    Ids(Vec<String>),
    /// 200 with this `total`.
    Total(u64),
}

pub struct Case {
    pub who: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<Value>,
    pub break_glass: Option<&'static str>,
    pub want: Want,
}

pub fn case(who: &'static str, method: &'static str, path: impl Into<String>, want: Want) -> Case {
    Case {
        who,
        method,
        path: path.into(),
        body: None,
        break_glass: None,
        want,
    }
}

pub fn ids(list: &[String]) -> Want {
    let mut v = list.to_vec();
    v.sort();
    Want::Ids(v)
}

pub fn obs(id: &str, patient: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": format!("Patient/{patient}")},
           "valueQuantity": {"value": 70, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}})
}

pub fn consent(id: &str, patient: &str, actor: &str, status: &str, period: Value) -> Value {
    json!({"resourceType": "Consent", "id": id, "status": status,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": format!("Patient/{patient}")},
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
        "provision": {"type": "permit", "period": period,
            "actor": [{"role": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]},
                       "reference": {"reference": actor}}]}})
}

/// The record: two organisations, their practitioners, eight patients with one Observation
/// each, and the relationships that put the first five in the care of d1 / org1.
pub fn seed(s: &Server, system: &str) {
    let put = |r: Value| {
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        let got = s.call("PUT", &path, Some(system), Some(&r));
        let status = got.status().as_u16();
        assert!(
            status == 201 || status == 200,
            "{path}: {}",
            got.text().unwrap()
        );
    };
    for org in ["org1", "org2"] {
        put(json!({"resourceType": "Organization", "id": org, "name": org}));
    }
    for (d, org) in [("d1", "org1"), ("d2", "org2")] {
        put(json!({"resourceType": "Practitioner", "id": d, "name": [{"family": d}]}));
        put(
            json!({"resourceType": "PractitionerRole", "id": format!("role-{d}"),
            "practitioner": {"reference": format!("Practitioner/{d}")},
            "organization": {"reference": format!("Organization/{org}")}}),
        );
    }
    let patient = |id: &str, extra: Value| {
        let mut p = json!({"resourceType": "Patient", "id": id,
            "name": [{"family": format!("Fam{id}")}]});
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        put(p);
    };
    patient(
        "pa",
        json!({"managingOrganization": {"reference": "Organization/org1"}}),
    );
    patient(
        "pb",
        json!({"generalPractitioner": [{"reference": "Practitioner/d1"}]}),
    );
    patient("pc", json!({}));
    patient("pd", json!({}));
    patient("pe", json!({}));
    patient("pf", json!({}));
    patient(
        "pg",
        json!({"managingOrganization": {"reference": "Organization/org2"}}),
    );
    patient("ph", json!({}));
    put(
        json!({"resourceType": "EpisodeOfCare", "id": "ep-c", "status": "active",
        "patient": {"reference": "Patient/pc"}, "managingOrganization": {"reference": "Organization/org1"}}),
    );
    put(
        json!({"resourceType": "Encounter", "id": "en-d", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/pd"}, "serviceProvider": {"reference": "Organization/org1"}}),
    );
    put(
        json!({"resourceType": "Encounter", "id": "en-h", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/ph"}, "serviceProvider": {"reference": "Organization/org1"}}),
    );
    put(consent(
        "cs-e",
        "pe",
        "Practitioner/d1",
        "active",
        json!({"start": "2020-01-01"}),
    ));
    put(consent(
        "cs-f",
        "pf",
        "Practitioner/d1",
        "active",
        json!({"start": "2019-01-01", "end": "2021-01-01"}),
    ));
    for p in IN_CARE.iter().chain(NOT_IN_CARE.iter()) {
        put(obs(&format!("o{}", &p[1..]), p));
    }
    // Representatives of pc: the mother (legal), a friend (not legal); and a guardianship of
    // ph that has ended.
    for (id, patient, code, period) in [
        ("rp-mother", "pc", "MTH", json!({"start": "2015-01-01"})),
        ("rp-friend", "pc", "FRND", json!({"start": "2015-01-01"})),
        (
            "rp-guardian",
            "ph",
            "GUARD",
            json!({"start": "2010-01-01", "end": "2020-01-01"}),
        ),
    ] {
        put(related(id, patient, code, period, true));
    }
}

/// A RelatedPerson of `patient` with a v3 RoleCode relationship.
pub fn related(id: &str, patient: &str, code: &str, period: Value, active: bool) -> Value {
    json!({"resourceType": "RelatedPerson", "id": id, "active": active,
        "patient": {"reference": format!("Patient/{patient}")},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": code}]}],
        "period": period})
}

/// The cases of practitioner d1 for patient `p`, in reach or not.
pub fn practitioner_cases(p: &'static str, reach: bool) -> Vec<Case> {
    let o = format!("o{}", &p[1..]);
    let ok_or_404 = if reach {
        Want::Status(200)
    } else {
        Want::Status(404)
    };
    let found = |list: &[String]| if reach { ids(list) } else { Want::Ids(vec![]) };
    let (pr, or) = (format!("Patient/{p}"), format!("Observation/{o}"));
    let mut write = case(
        "d1",
        "POST",
        "Observation",
        Want::Status(if reach { 201 } else { 403 }),
    );
    let mut new_obs = obs("x", p);
    if let Some(m) = new_obs.as_object_mut() {
        m.remove("id");
    }
    write.body = Some(new_obs);
    let mut update = case("d1", "PUT", or.clone(), ok_or_404.clone());
    update.body = Some(obs(&o, p));
    vec![
        case("d1", "GET", pr.clone(), ok_or_404.clone()),
        case("d1", "GET", or.clone(), ok_or_404.clone()),
        case("d1", "GET", format!("{or}/_history/1"), ok_or_404.clone()),
        case("d1", "GET", format!("{or}/_history"), ok_or_404.clone()),
        case("d1", "GET", format!("{pr}/$everything"), ok_or_404.clone()),
        case(
            "d1",
            "GET",
            format!("Observation?subject={pr}"),
            found(std::slice::from_ref(&or)),
        ),
        case(
            "d1",
            "GET",
            format!("{pr}/Observation"),
            found(std::slice::from_ref(&or)),
        ),
        case(
            "d1",
            "GET",
            format!("Observation?subject:Patient.family=Fam{p}"),
            found(std::slice::from_ref(&or)),
        ),
        case(
            "d1",
            "GET",
            format!("Patient?_id={p}&_has:Observation:subject:code=8867-4"),
            found(std::slice::from_ref(&pr)),
        ),
        case(
            "d1",
            "GET",
            format!("Observation?_id={o}&_include=Observation:subject"),
            found(&[or.clone(), pr.clone()]),
        ),
        case(
            "d1",
            "GET",
            format!("Patient?_id={p}&_revinclude=Observation:subject"),
            found(&[pr.clone(), or.clone()]),
        ),
        case(
            "d1",
            "GET",
            format!("Patient?family=Fam{p}&_summary=count"),
            Want::Total(u64::from(reach)),
        ),
        update,
        write,
    ]
}

pub fn other_role_cases() -> Vec<Case> {
    use Want::*;
    let s = |v: &[&str]| ids(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    let mut v = vec![
        // Search totals hold only the practitioner's patients; type and system history, and
        // $export, would show the others'.
        case(
            "d1",
            "GET",
            "Observation?code=http://loinc.org|8867-4&_summary=count",
            Total(5),
        ),
        case("d1", "GET", "Patient?_summary=count", Total(5)),
        case("d1", "GET", "Observation/_history", Status(403)),
        case("d1", "GET", "_history", Status(403)),
        case("d1", "GET", "$export", Status(403)),
        case("d1", "GET", "Organization/org2", Status(200)),
        case("d1", "GET", "Practitioner?_id=d2", s(&["Practitioner/d2"])),
        // A practitioner of org2 has its attached patient only.
        case("d2", "GET", "Patient/pg", Status(200)),
        case("d2", "GET", "Patient/pa", Status(404)),
        case(
            "d2",
            "GET",
            "Observation?code=http://loinc.org|8867-4",
            s(&["Observation/og"]),
        ),
        // Citizens: their own compartment; others' data does not exist for them.
        case("cit-a", "GET", "Patient/pa", Status(200)),
        case("cit-a", "GET", "Patient/pb", Status(404)),
        case("cit-a", "GET", "Observation/oa", Status(200)),
        case("cit-a", "GET", "Observation/ob", Status(404)),
        case("cit-a", "GET", "Observation", s(&["Observation/oa"])),
        case("cit-a", "GET", "Patient/pb/$everything", Status(404)),
        case("cit-a", "GET", "Observation/_history", Status(403)),
        // The regional authority: counts of patient data, never the data.
        case(
            "regional",
            "GET",
            "Observation?code=http://loinc.org|8867-4&_summary=count",
            Total(8),
        ),
        case("regional", "GET", "Patient?_summary=count", Total(8)),
        case("regional", "GET", "Observation", Status(403)),
        case("regional", "GET", "Observation/oa", Status(403)),
        case("regional", "GET", "Patient/pa/$everything", Status(403)),
        case(
            "regional",
            "GET",
            "Observation?_summary=count&_include=Observation:subject",
            Status(403),
        ),
        case("regional", "GET", "Organization/org1", Status(200)),
        case("regional", "GET", "$export", Status(403)),
        // The regulator: the audit trail, and counts.
        case("regulator", "GET", "AuditEvent?_summary=count", Status(200)),
        case("regulator", "GET", "Observation?_summary=count", Total(8)),
        case("regulator", "GET", "Patient/pa", Status(403)),
        // Registrar: identities of every patient, no clinical content.
        case("registrar", "GET", "Patient/pg", Status(200)),
        case("registrar", "GET", "Observation/oa", Status(403)),
        // Organisation admin: its registries, no patients.
        case("org-admin", "GET", "Practitioner/d1", Status(200)),
        case("org-admin", "GET", "Patient/pa", Status(403)),
        // A device bound to pa writes Observations for pa only and reads nothing.
        case("device", "GET", "Observation/oa", Status(403)),
        // A legal representative acts for the represented patient only; a friend or an ended
        // guardianship does not.
        case("mother-c", "GET", "Patient/pc", Status(200)),
        case("mother-c", "GET", "Observation/oc", Status(200)),
        case("mother-c", "GET", "Observation", s(&["Observation/oc"])),
        case("mother-c", "GET", "Observation/oa", Status(404)),
        case("friend-c", "GET", "Patient/pc", Status(403)),
        case("guardian-h", "GET", "Patient/ph", Status(403)),
        // A system integration reaches everything.
        case(
            "system",
            "GET",
            "Observation?code=http://loinc.org|8867-4&_summary=count",
            Total(8),
        ),
        case("system", "GET", "Patient/ph", Status(200)),
    ];
    let mut dev_ok = case("device", "POST", "Observation", Status(201));
    dev_ok.body = Some(json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "пульс"}, "subject": {"reference": "Patient/pa"}}));
    let mut dev_other = case("device", "POST", "Observation", Status(403));
    dev_other.body = Some(json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "пульс"}, "subject": {"reference": "Patient/pb"}}));
    v.push(dev_ok);
    v.push(dev_other);
    // Bundles: a limited practitioner may create and change by id for their patients, not for
    // others (an existing record of another patient is 404 as if absent, like a direct PUT).
    let tx = |p: &str| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
            "fullUrl": "urn:uuid:6a1f7c3e-0000-4000-8000-000000000001",
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "subject": {"reference": format!("Patient/{p}")}},
            "request": {"method": "POST", "url": "Observation"}}]})
    };
    let mut tx_ok = case("d1", "POST", "", Status(200));
    tx_ok.body = Some(tx("pa"));
    let mut tx_other = case("d1", "POST", "", Status(403));
    tx_other.body = Some(tx("pg"));
    let put_tx = |o: Value, id: &str| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [{
        "resource": o, "request": {"method": "PUT", "url": format!("Observation/{id}")}}]})
    };
    let mut tx_put = case("d1", "POST", "", Status(200));
    tx_put.body = Some(put_tx(obs("oa", "pa"), "oa"));
    let mut tx_put_other = case("d1", "POST", "", Status(404));
    tx_put_other.body = Some(put_tx(obs("og", "pa"), "og"));
    let mut tx_move_out = case("d1", "POST", "", Status(403));
    tx_move_out.body = Some(put_tx(obs("oa", "pg"), "oa"));
    v.extend([tx_ok, tx_other, tx_put, tx_put_other, tx_move_out]);
    // Break-glass: a stated reason opens a record outside care, for this request only.
    let mut glass = case("d1", "GET", "Patient/pg", Status(200));
    glass.break_glass = Some("%D0%BA%D0%BE%D0%BC%D0%B0%2C%20%D0%B1%D0%B5%D0%B7%20%D1%81%D0%BE%D0%B7%D0%BD%D0%B0%D0%BD%D0%B8%D1%8F");
    let mut short = case("d1", "GET", "Patient/pg", Status(400));
    short.break_glass = Some("x");
    let mut citizen_glass = case("cit-a", "GET", "Patient/pg", Status(403));
    citizen_glass.break_glass = Some("emergency");
    v.extend([glass, short, citizen_glass]);
    v.push(case("d1", "GET", "Patient/pg", Status(404)));
    v
}
