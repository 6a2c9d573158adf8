//! The roles of the contour, as named in tokens and on the command line.

use std::fmt;
use std::str::FromStr;

/// What a caller is in the health system; decides which records it may reach at all, before
/// scopes narrow the interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A citizen: their own record and those they legally represent.
    Citizen,
    /// A clinician: patients of their organisation in care, or by consent, or break-glass.
    Practitioner,
    /// Registry staff: identities and appointments, not clinical content.
    Registrar,
    /// An organisation's administrator: its registries (staff, units, schedules).
    OrgAdmin,
    /// A regional health authority: aggregates only.
    Regional,
    /// The regulator: audit and aggregates.
    Regulator,
    /// A medical device: writes Observations for its bound patient only.
    Device,
    /// A system integration acting with system scopes.
    System,
}

impl Role {
    /// Every role, in the order of the contract.
    pub const ALL: [Role; 8] = [
        Role::Citizen,
        Role::Practitioner,
        Role::Registrar,
        Role::OrgAdmin,
        Role::Regional,
        Role::Regulator,
        Role::Device,
        Role::System,
    ];

    /// The name used in tokens and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Citizen => "citizen",
            Role::Practitioner => "practitioner",
            Role::Registrar => "registrar",
            Role::OrgAdmin => "org-admin",
            Role::Regional => "regional",
            Role::Regulator => "regulator",
            Role::Device => "device",
            Role::System => "system",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role '{s}'; the roles are {}", names.join(", "))
            })
    }
}

impl Role {
    /// The scopes a token of this role gets when none are asked for: what the role may ever
    /// do, which the relationship checks then narrow to particular records.
    pub fn default_scopes(self) -> &'static str {
        match self {
            Role::Citizen => "openid fhirUser patient/*.rs patient/Consent.cruds patient/Appointment.cruds",
            Role::Practitioner => "openid fhirUser user/*.cruds",
            Role::Registrar => "openid fhirUser user/Patient.cruds user/Appointment.cruds user/Slot.rs user/Schedule.rs user/Practitioner.rs user/PractitionerRole.rs user/Organization.rs user/Location.rs user/HealthcareService.rs",
            Role::OrgAdmin => "openid fhirUser user/Organization.cruds user/Location.cruds user/Practitioner.cruds user/PractitionerRole.cruds user/HealthcareService.cruds user/Schedule.cruds user/Slot.cruds user/Endpoint.cruds",
            Role::Regional => "openid fhirUser user/MeasureReport.rs user/Organization.rs user/Location.rs user/*.s",
            Role::Regulator => "openid fhirUser user/AuditEvent.rs user/MeasureReport.rs user/Organization.rs user/*.s",
            Role::Device => "patient/Observation.c user/Device.r",
            Role::System => "system/*.cruds",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("doctor".parse::<Role>().unwrap_err().contains("org-admin"));
    }
}
