//! The patient-compartment owner of a resource: the distribution key of a sharded deployment.

use crate::{registry, IndexRow, IndexValue};

/// The id of the Patient whose compartment `rtype/id` belongs to, read from its index rows: the
/// Patient itself, else the target of the first compartment parameter (`subject`, `patient`,
/// ...) in the order of the CompartmentDefinition that points at a local Patient. Resources in
/// no patient's compartment (Organization, Practitioner) have none. A resource that names
/// several patients (a Group-less Appointment with two) is owned by the first; the others still
/// find it through the reference index, so the owner only decides where its rows live.
pub fn patient_owner(rtype: &str, id: &str, rows: &[IndexRow]) -> Option<String> {
    if rtype == "Patient" {
        return Some(id.to_string());
    }
    for param in registry().compartment_params("Patient", rtype) {
        for row in rows.iter().filter(|r| &r.param == param) {
            if let IndexValue::Reference {
                target_type: Some(t),
                target_id: Some(i),
                ..
            } = &row.value
            {
                if t == "Patient" {
                    return Some(i.clone());
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner(r: serde_json::Value) -> Option<String> {
        let rtype = r["resourceType"].as_str().unwrap_or_default().to_string();
        let id = r["id"].as_str().unwrap_or_default().to_string();
        patient_owner(&rtype, &id, &crate::extract(zdrav_fhir::r4(), &r))
    }

    #[test]
    fn owners() {
        assert_eq!(
            owner(json!({"resourceType": "Patient", "id": "p1"})).as_deref(),
            Some("p1")
        );
        let obs = json!({"resourceType": "Observation", "id": "o", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Patient/p2"},
            "performer": [{"reference": "Patient/p3"}]});
        assert_eq!(owner(obs).as_deref(), Some("p2"));
        let grp = json!({"resourceType": "Observation", "id": "o", "status": "final",
            "code": {"text": "x"}, "subject": {"reference": "Group/g"}});
        assert_eq!(owner(grp), None);
        let org = json!({"resourceType": "Organization", "id": "o", "name": "x"});
        assert_eq!(owner(org), None);
        let enc = json!({"resourceType": "Encounter", "id": "e", "status": "finished",
            "class": {"code": "AMB"}, "subject": {"reference": "Patient/p4"}});
        assert_eq!(owner(enc).as_deref(), Some("p4"));
    }
}
