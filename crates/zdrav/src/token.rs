//! `zdrav token`: prints a bearer token of the database's built-in issuer, which every server on
//! the same `--database` accepts (the signing key lives in the database).

use std::time::Duration;

use zdrav_auth::{Role, TokenRequest};
use zdrav_store::DynStore;

/// What `zdrav token` was asked for.
#[derive(clap::Args)]
pub struct Args {
    /// Subject (user or client id).
    #[arg(long)]
    pub sub: String,
    /// citizen, practitioner, registrar, org-admin, regional, regulator, device or system.
    #[arg(long)]
    pub role: String,
    /// The patient in context: Patient/ID (citizens and devices need one).
    #[arg(long)]
    pub patient: Option<String>,
    /// The practitioner the user is: Practitioner/ID.
    #[arg(long)]
    pub practitioner: Option<String>,
    /// The organisation the user acts for: Organization/ID.
    #[arg(long)]
    pub org: Option<String>,
    /// Who the user is, when not the patient in context: RelatedPerson/ID of a legal
    /// representative (parent, guardian) acting for that patient.
    #[arg(long)]
    pub user: Option<String>,
    /// SMART scopes, space-separated (default: the role's).
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime: 90s, 30m, 1h, 7d.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
}

/// Signs the token.
pub async fn run(store: DynStore, a: Args) -> Result<String, String> {
    let security = zdrav_server::auth::Security::open(&store).await?;
    let req = TokenRequest {
        sub: a.sub,
        role: a.role.parse::<Role>()?,
        scope: a.scope,
        patient: a.patient.map(|r| id_of(&r, "Patient")).transpose()?,
        practitioner: a
            .practitioner
            .map(|r| id_of(&r, "Practitioner"))
            .transpose()?,
        organization: a.org.map(|r| id_of(&r, "Organization")).transpose()?,
        client_id: None,
        fhir_user: a
            .user
            .map(|r| id_of(&r, "RelatedPerson").map(|id| format!("RelatedPerson/{id}")))
            .transpose()?,
        ttl: parse_ttl(&a.ttl)?,
    };
    let (token, _) = security.issuer.issue(&req).map_err(|e| e.to_string())?;
    Ok(token)
}

/// The id of `Type/ID` (or a bare id).
fn id_of(reference: &str, rtype: &str) -> Result<String, String> {
    let id = match reference.split_once('/') {
        Some((t, id)) if t == rtype => id,
        Some(_) => return Err(format!("'{reference}' must be {rtype}/ID")),
        None => reference,
    };
    if zdrav_fhir::primitives::is_id(id) {
        Ok(id.to_string())
    } else {
        Err(format!("'{id}' is not a valid {rtype} id"))
    }
}

/// `90s`, `30m`, `1h`, `7d`, or plain seconds.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("--ttl '{s}': write it like 90s, 30m, 1h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("--ttl '{s}': the unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 366 * 86_400 {
        return Err(format!("--ttl '{s}': between 1 second and a year"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_and_references() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("90"), Ok(Duration::from_secs(90)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("0s").is_err());
        assert_eq!(id_of("Patient/p-1", "Patient"), Ok("p-1".into()));
        assert!(id_of("Practitioner/p-1", "Patient").is_err());
        assert!(id_of("Patient/a b", "Patient").is_err());
    }
}
