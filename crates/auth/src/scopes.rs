//! SMART on FHIR scopes (v2 `patient/Observation.rs`, and the v1 forms `.read`, `.write`, `.*`).

use std::fmt;

/// Whose data a scope reaches: the patient in context, whatever the user may reach, or
/// everything a system client may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScopeContext {
    /// `patient/`: the compartment of the patient in context.
    Patient,
    /// `user/`: what the user may reach.
    User,
    /// `system/`: a backend service.
    System,
}

/// The interaction classes of SMART v2 permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interaction {
    /// `c`: create.
    Create,
    /// `r`: read and vread (and instance history).
    Read,
    /// `u`: update and patch.
    Update,
    /// `d`: delete.
    Delete,
    /// `s`: search (and type or system history).
    Search,
}

impl Interaction {
    fn bit(self) -> u8 {
        match self {
            Interaction::Create => 1,
            Interaction::Read => 2,
            Interaction::Update => 4,
            Interaction::Delete => 8,
            Interaction::Search => 16,
        }
    }

    /// The v2 letter.
    pub fn letter(self) -> char {
        match self {
            Interaction::Create => 'c',
            Interaction::Read => 'r',
            Interaction::Update => 'u',
            Interaction::Delete => 'd',
            Interaction::Search => 's',
        }
    }
}

/// One resource scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `patient`, `user` or `system`.
    pub context: ScopeContext,
    /// The resource type; `None` for `*`.
    pub rtype: Option<String>,
    /// Permission bits (see [`Interaction`]).
    perms: u8,
    /// A v2 granular constraint (`?category=...`), kept as written.
    pub constraint: Option<String>,
}

impl Scope {
    /// Parses one resource scope; `Ok(None)` for a scope that is not about resources
    /// (`openid`, `fhirUser`, `launch/patient`, `offline_access`, ...).
    pub fn parse(s: &str) -> Result<Option<Scope>, String> {
        let Some((ctx, rest)) = s.split_once('/') else {
            return Ok(None);
        };
        let context = match ctx {
            "patient" => ScopeContext::Patient,
            "user" => ScopeContext::User,
            "system" => ScopeContext::System,
            _ => return Ok(None),
        };
        let (body, constraint) = match rest.split_once('?') {
            Some((b, c)) => (b, Some(c.to_string())),
            None => (rest, None),
        };
        let (rtype, perms) = body
            .split_once('.')
            .ok_or_else(|| format!("scope '{s}' has no permissions after the resource type"))?;
        let rtype = match rtype {
            "*" => None,
            t if !t.is_empty() && t.chars().all(|c| c.is_ascii_alphabetic()) => Some(t.to_string()),
            _ => return Err(format!("scope '{s}' names no resource type")),
        };
        let perms = match perms {
            "read" => Interaction::Read.bit() | Interaction::Search.bit(),
            "write" => {
                Interaction::Create.bit() | Interaction::Update.bit() | Interaction::Delete.bit()
            }
            "*" => 31,
            v2 => parse_v2(v2).ok_or_else(|| {
                format!("scope '{s}': permissions must be c, r, u, d, s in that order, or read, write, *")
            })?,
        };
        Ok(Some(Scope {
            context,
            rtype,
            perms,
            constraint,
        }))
    }

    /// True if this scope permits `interaction` on `rtype`. A scope with a granular constraint
    /// permits nothing yet: the constraint is not enforced, and failing closed is the safe side.
    pub fn permits(&self, rtype: &str, interaction: Interaction) -> bool {
        self.constraint.is_none()
            && self.rtype.as_deref().is_none_or(|t| t == rtype)
            && self.perms & interaction.bit() != 0
    }
}

fn parse_v2(p: &str) -> Option<u8> {
    let order = [
        Interaction::Create,
        Interaction::Read,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
    ];
    let mut bits = 0;
    let mut next = 0;
    for c in p.chars() {
        let at = order[next..].iter().position(|i| i.letter() == c)? + next;
        bits |= order[at].bit();
        next = at + 1;
    }
    (bits != 0).then_some(bits)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctx = match self.context {
            ScopeContext::Patient => "patient",
            ScopeContext::User => "user",
            ScopeContext::System => "system",
        };
        let letters: String = [
            Interaction::Create,
            Interaction::Read,
            Interaction::Update,
            Interaction::Delete,
            Interaction::Search,
        ]
        .into_iter()
        .filter(|i| self.perms & i.bit() != 0)
        .map(Interaction::letter)
        .collect();
        write!(
            f,
            "{ctx}/{}.{letters}",
            self.rtype.as_deref().unwrap_or("*")
        )?;
        if let Some(c) = &self.constraint {
            write!(f, "?{c}")?;
        }
        Ok(())
    }
}

/// The scopes of a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    /// The resource scopes.
    pub resources: Vec<Scope>,
    /// Every scope as granted, including the non-resource ones.
    pub raw: Vec<String>,
}

impl Scopes {
    /// Parses a space-separated scope string.
    pub fn parse(s: &str) -> Result<Scopes, String> {
        let mut out = Scopes::default();
        for part in s.split_whitespace() {
            out.raw.push(part.to_string());
            if let Some(scope) = Scope::parse(part)? {
                out.resources.push(scope);
            }
        }
        Ok(out)
    }

    /// The widest context in which some scope permits `interaction` on `rtype`, if any.
    pub fn grant(&self, rtype: &str, interaction: Interaction) -> Option<ScopeContext> {
        self.resources
            .iter()
            .filter(|s| s.permits(rtype, interaction))
            .map(|s| s.context)
            .max()
    }

    /// True if the raw scope string `name` was granted (`openid`, `launch/patient`, ...).
    pub fn has(&self, name: &str) -> bool {
        self.raw.iter().any(|r| r == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_and_v1_forms() {
        let s = Scopes::parse("openid fhirUser patient/Observation.rs user/*.cruds system/Patient.read patient/Condition.write").unwrap();
        assert_eq!(s.resources.len(), 4);
        assert!(s.has("openid"));
        assert_eq!(
            s.grant("Observation", Interaction::Search),
            Some(ScopeContext::User)
        );
        assert_eq!(
            s.grant("Patient", Interaction::Read),
            Some(ScopeContext::System)
        );
        assert_eq!(
            s.grant("Condition", Interaction::Update),
            Some(ScopeContext::User)
        );
        let p = Scopes::parse("patient/Observation.rs patient/Condition.write").unwrap();
        assert_eq!(
            p.grant("Observation", Interaction::Read),
            Some(ScopeContext::Patient)
        );
        assert_eq!(p.grant("Observation", Interaction::Create), None);
        assert_eq!(p.grant("Condition", Interaction::Read), None);
        assert_eq!(
            p.grant("Condition", Interaction::Delete),
            Some(ScopeContext::Patient)
        );
        assert_eq!(p.grant("Patient", Interaction::Read), None);
    }

    #[test]
    fn letters_must_be_in_order() {
        assert!(Scope::parse("patient/Observation.sr").is_err());
        assert!(Scope::parse("patient/Observation.rr").is_err());
        assert!(Scope::parse("patient/Observation.x").is_err());
        assert!(Scope::parse("patient/Observation").is_err());
        assert!(Scope::parse("patient/Obs-1.r").is_err());
        let s = Scope::parse("user/Encounter.cud").unwrap().unwrap();
        assert_eq!(s.to_string(), "user/Encounter.cud");
        assert_eq!(Scope::parse("launch/patient").unwrap(), None);
    }

    #[test]
    fn constrained_scopes_fail_closed() {
        let s = Scopes::parse("patient/Observation.rs?category=laboratory").unwrap();
        assert_eq!(s.grant("Observation", Interaction::Read), None);
        assert_eq!(
            s.resources[0].to_string(),
            "patient/Observation.rs?category=laboratory"
        );
    }
}
