//! The check-number algorithms: each function says what is wrong in words a registrar can act
//! on, because these messages reach the person at the registry desk.

fn digits(s: &str) -> Option<Vec<u32>> {
    s.chars().map(|c| c.to_digit(10)).collect()
}

/// Checks a СНИЛС written with or without separators (`112-233-445 95`, `11223344595`) and
/// returns it as `XXX-XXX-XXX YY`. The control number is the sum of the first nine digits
/// weighted 9 down to 1, taken modulo 101 (100 and 101 give `00`); numbers up to
/// 001-001-998 predate the rule and carry none that can be checked.
pub fn normalise_snils(s: &str) -> Result<String, String> {
    let compact: String = s.chars().filter(|c| !matches!(c, '-' | ' ')).collect();
    let d = digits(&compact)
        .filter(|d| d.len() == 11)
        .ok_or_else(|| format!("СНИЛС '{s}' must have 11 digits (XXX-XXX-XXX YY)"))?;
    let number = compact[..9].parse::<u64>().unwrap_or(0);
    let given = d[9] * 10 + d[10];
    if number > 1_001_998 {
        let sum: u32 = d[..9].iter().zip((1..=9).rev()).map(|(x, w)| x * w).sum();
        let want = match sum {
            0..=99 => sum,
            100 | 101 => 0,
            _ => match sum % 101 {
                100 => 0,
                r => r,
            },
        };
        if want != given {
            return Err(format!(
                "СНИЛС '{s}' has the control number {given:02}, but its digits give {want:02}"
            ));
        }
    }
    Ok(format!(
        "{}-{}-{} {}",
        &compact[..3],
        &compact[3..6],
        &compact[6..9],
        &compact[9..]
    ))
}

/// Checks the ЕНП of an ОМС policy: 16 digits, the last a control digit (ФОМС order No. 79):
/// the digits in odd places counted from the right of the first fifteen, read as a number
/// and doubled, with the digits in even places written in front; the control digit tops the
/// sum of all those digits up to a multiple of ten.
pub fn check_enp(s: &str) -> Result<(), String> {
    let d = digits(s)
        .filter(|d| d.len() == 16)
        .ok_or_else(|| format!("ЕНП '{s}' must have 16 digits"))?;
    let body = &d[..15];
    // Places 15, 13, ..., 1 and 14, 12, ..., 2 (1-based from the left), each read from the right.
    let odd: String = (0..15)
        .rev()
        .step_by(2)
        .map(|i| body[i].to_string())
        .collect();
    let even: String = (1..14)
        .rev()
        .step_by(2)
        .map(|i| body[i].to_string())
        .collect();
    let doubled = odd.parse::<u64>().unwrap_or(0) * 2;
    let joined = format!("{even}{doubled}");
    let sum: u32 = joined.chars().filter_map(|c| c.to_digit(10)).sum();
    let want = (10 - sum % 10) % 10;
    if want == d[15] {
        Ok(())
    } else {
        Err(format!(
            "ЕНП '{s}' has the control digit {}, but its digits give {want}",
            d[15]
        ))
    }
}

/// Checks an ОГРН (13 digits: the first twelve modulo 11, then modulo 10) or an ОГРНИП
/// (15 digits: the first fourteen modulo 13, then modulo 10).
pub fn check_ogrn(s: &str) -> Result<(), String> {
    let d = digits(s).ok_or_else(|| format!("ОГРН '{s}' must be digits only"))?;
    let (modulus, name) = match d.len() {
        13 => (11, "ОГРН"),
        15 => (13, "ОГРНИП"),
        _ => return Err(format!("ОГРН '{s}' must have 13 digits (15 for an ОГРНИП)")),
    };
    let head: u64 = s[..s.len() - 1].parse().unwrap_or(0);
    let want = u32::try_from(head % modulus % 10).unwrap_or(0);
    match d.last() {
        Some(&last) if last == want => Ok(()),
        _ => Err(format!(
            "{name} '{s}' has the control digit {}, but its digits give {want}",
            d.last().copied().unwrap_or(0)
        )),
    }
}

fn weighted(d: &[u32], weights: &[u32]) -> u32 {
    d.iter().zip(weights).map(|(x, w)| x * w).sum::<u32>() % 11 % 10
}

/// Checks an ИНН: 10 digits (organisations, one control digit) or 12 (individuals, two).
pub fn check_inn(s: &str) -> Result<(), String> {
    let d = digits(s).ok_or_else(|| format!("ИНН '{s}' must be digits only"))?;
    let ok = match d.len() {
        10 => weighted(&d, &[2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[9],
        12 => {
            weighted(&d, &[7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[10]
                && weighted(&d, &[3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]) == d[11]
        }
        _ => return Err(format!("ИНН '{s}' must have 10 digits (12 for a person)")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("ИНН '{s}' fails its control digits"))
    }
}

/// Checks a КПП: four digits (the tax office), two digits or capital Latin letters (the
/// reason), three digits (the number).
pub fn check_kpp(s: &str) -> Result<(), String> {
    let c: Vec<char> = s.to_uppercase().chars().collect();
    let ok = c.len() == 9
        && c[..4].iter().all(char::is_ascii_digit)
        && c[4..6]
            .iter()
            .all(|x| x.is_ascii_digit() || x.is_ascii_uppercase())
        && c[6..].iter().all(char::is_ascii_digit);
    if ok {
        Ok(())
    } else {
        Err(format!("КПП '{s}' must be 9 characters: NNNN PP NNN"))
    }
}

/// Checks an OID (`1.2.643.5.1.13.13.12.1.77.123`): dot-separated arcs without leading zeros,
/// the first 0, 1 or 2.
pub fn check_oid(s: &str) -> Result<(), String> {
    let arcs: Vec<&str> = s.split('.').collect();
    let arc_ok = |a: &&str| {
        !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) && (*a == "0" || !a.starts_with('0'))
    };
    if arcs.len() >= 2 && arcs.iter().all(arc_ok) && matches!(arcs[0], "0" | "1" | "2") {
        Ok(())
    } else {
        Err(format!(
            "'{s}' is not an OID (like 1.2.643.5.1.13.13.12.1.77.123)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snils() {
        // The published examples: 112-233-445 95, and one whose sum is 202 (202 mod 101 = 0).
        assert_eq!(
            normalise_snils("11223344595").as_deref(),
            Ok("112-233-445 95")
        );
        assert_eq!(
            normalise_snils("112-233-445 95").as_deref(),
            Ok("112-233-445 95")
        );
        assert_eq!(
            normalise_snils("087 654 303 00").as_deref(),
            Ok("087-654-303 00")
        );
        assert!(normalise_snils("112-233-445 94")
            .unwrap_err()
            .contains("95"));
        assert!(normalise_snils("1122334459").is_err());
        assert!(normalise_snils("11223344a95").is_err());
        // Old numbers carry no checkable control number.
        assert!(normalise_snils("001-001-998 42").is_ok());
        assert!(normalise_snils("001-001-999 42").is_err());
    }

    /// The ЕНП rule as its own independent formulation (Luhn over the first fifteen digits,
    /// doubling the odd places from the left), to check the literal algorithm against.
    fn luhn_digit(body: &[u32]) -> u32 {
        let sum: u32 = body
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                if i % 2 == 0 {
                    (2 * x) / 10 + (2 * x) % 10
                } else {
                    x
                }
            })
            .sum();
        (10 - sum % 10) % 10
    }

    #[test]
    fn enp() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let body: Vec<u32> = (0..15).map(|i| ((seed >> (i * 4)) % 10) as u32).collect();
            let check = luhn_digit(&body);
            let s: String = body.iter().map(u32::to_string).collect();
            assert_eq!(check_enp(&format!("{s}{check}")), Ok(()), "{s}{check}");
            let wrong = (check + 1) % 10;
            assert!(check_enp(&format!("{s}{wrong}")).is_err());
        }
        assert!(check_enp("123").is_err());
        assert!(check_enp("77555108320001x3").is_err());
    }

    #[test]
    fn organisations() {
        // Сбербанк: ОГРН 1027700132195, ИНН 7707083893, КПП 773601001.
        assert_eq!(check_ogrn("1027700132195"), Ok(()));
        assert!(check_ogrn("1027700132194").is_err());
        assert_eq!(check_ogrn("304500116000157"), Ok(()), "an ОГРНИП");
        assert!(check_ogrn("12345").is_err());
        assert_eq!(check_inn("7707083893"), Ok(()));
        assert!(check_inn("7707083894").is_err());
        assert_eq!(check_inn("500100732259"), Ok(()), "a person's ИНН");
        assert!(check_inn("500100732258").is_err());
        assert_eq!(check_kpp("773601001"), Ok(()));
        assert_eq!(check_kpp("7736AB001"), Ok(()));
        assert!(check_kpp("77360100").is_err());
        assert_eq!(check_oid("1.2.643.5.1.13.13.12.1.77.123"), Ok(()));
        assert!(check_oid("1.2.643.05").is_err());
        assert!(check_oid("frmo-1").is_err());
    }
}
