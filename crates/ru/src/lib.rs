//! Russian identifiers, as the contour writes them (`../shared/fhir-ru`): СНИЛС of patients and
//! practitioners, the ЕНП of the ОМС policy, passports and birth certificates, ОГРН / ОГРНИП,
//! ИНН, КПП of organisations and the OIDs of the ФРМО / ФРМР registries. Each is checked with its control number and normalised
//! to one written form, so that the same person or organisation is found however a client
//! typed it. No crate does these checks (they are national rules), so they are written here,
//! each against the published algorithm and its published examples.

mod documents;
mod numbers;

pub use documents::{check_newborn, normalise_passport, normalise_soviet_series};
pub use numbers::{check_enp, check_inn, check_kpp, check_ogrn, check_oid, normalise_snils};

/// СНИЛС of a patient.
pub const SNILS_PATIENT: &str = "urn:identity:snils:Patient";
/// СНИЛС of a practitioner.
pub const SNILS_PRACTITIONER: &str = "urn:identity:snils:Practitioner";
/// ЕНП: the single number of the ОМС policy.
pub const ENP: &str = "urn:identity:enp:Patient";
/// ОГРН (or ОГРНИП) of an organisation.
pub const OGRN: &str = "urn:identity:ogrn";
/// ИНН of an organisation.
pub const INN: &str = "urn:identity:inn";
/// КПП of an organisation.
pub const KPP: &str = "urn:identity:kpp";
/// The ФРМО OID of a medical organisation or of one of its units.
pub const FRMO: &str = "urn:identity:frmo";
/// The passport of a citizen of Russia.
pub const PASSPORT: &str = "urn:identity:passport-rf:Patient";
/// A Soviet passport.
pub const PASSPORT_USSR: &str = "urn:identity:passport-ussr:Patient";
/// A birth certificate.
pub const BIRTH_CERTIFICATE: &str = "urn:identity:birth-certificate:Patient";
/// A newborn's identifier before the birth is registered.
pub const NEWBORN: &str = "urn:identity:newborn:Patient";

/// For an identifier of a Russian system this crate knows: the value in its normalised form,
/// or why it is not valid. `None` for other systems (left as they are).
pub fn check_identifier(system: &str, value: &str) -> Option<Result<String, String>> {
    let v = value.trim();
    Some(match system {
        SNILS_PATIENT | SNILS_PRACTITIONER => normalise_snils(v),
        ENP => check_enp(v).map(|()| v.to_string()),
        OGRN => check_ogrn(v).map(|()| v.to_string()),
        INN => check_inn(v).map(|()| v.to_string()),
        KPP => check_kpp(v).map(|()| v.to_uppercase()),
        FRMO => check_oid(v).map(|()| v.to_string()),
        PASSPORT => normalise_passport(v),
        PASSPORT_USSR => normalise_soviet_series(v, "Soviet passport"),
        BIRTH_CERTIFICATE => normalise_soviet_series(v, "birth certificate"),
        NEWBORN => check_newborn(v).map(|()| v.to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_systems_are_checked_and_normalised() {
        assert_eq!(
            check_identifier(SNILS_PATIENT, " 11223344595 "),
            Some(Ok("112-233-445 95".into()))
        );
        assert!(matches!(
            check_identifier(SNILS_PRACTITIONER, "112-233-445 96"),
            Some(Err(_))
        ));
        assert_eq!(
            check_identifier(KPP, "7736a1001"),
            Some(Ok("7736A1001".into()))
        );
        assert_eq!(check_identifier("http://example.org", "x"), None);
    }
}
