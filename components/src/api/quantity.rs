//! Resource quantities parsed as Kubernetes parses them (`resource.Quantity`): CPU becomes
//! millicores (rounded up, as `MilliValue` does) and memory and storage become bytes
//! (rounded up, as `Value` does).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid quantity {text:?}: {why}")]
pub struct QuantityError {
    pub text: String,
    pub why: &'static str,
}

/// A parsed quantity as an exact rational `mantissa × 10^exp10 × 2^exp2`.
struct Parsed {
    /// Digits with the decimal point removed.
    digits: u128,
    /// Power of ten from the suffix, the exponent and the removed decimal places.
    exp10: i32,
    exp2: u32,
}

fn parse(text: &str) -> Result<Parsed, QuantityError> {
    let err = |why| QuantityError {
        text: text.to_string(),
        why,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(err("empty"));
    }
    if trimmed.starts_with('-') {
        return Err(err("negative quantities are not allowed here"));
    }
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(err("expected a number"));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let mut digits: u128 = 0;
    for c in whole.chars().chain(fraction.chars()) {
        digits = digits
            .checked_mul(10)
            .and_then(|d| d.checked_add(u128::from(c as u8 - b'0')))
            .ok_or_else(|| err("too large"))?;
    }
    let mut exp10 = -(fraction.len() as i32);
    let mut exp2 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let exponent = other
                .strip_prefix(['e', 'E'])
                .ok_or_else(|| err("unknown suffix (use m, k, M, G, Ki, Mi, Gi, ... or e<n>)"))?;
            let value: i32 = exponent.parse().map_err(|_| err("bad decimal exponent"))?;
            exp10 += value;
        }
    }
    Ok(Parsed {
        digits,
        exp10,
        exp2,
    })
}

/// `value × 10^scale` as an integer, rounded up.
fn scaled_ceil(parsed: &Parsed, scale: i32, text: &str) -> Result<u64, QuantityError> {
    let too_large = || QuantityError {
        text: text.to_string(),
        why: "too large",
    };
    let mut numerator = parsed.digits;
    numerator = numerator
        .checked_mul(1u128 << parsed.exp2)
        .ok_or_else(too_large)?;
    let exp = parsed.exp10 + scale;
    let value = if exp >= 0 {
        numerator
            .checked_mul(10u128.checked_pow(exp as u32).ok_or_else(too_large)?)
            .ok_or_else(too_large)?
    } else {
        let divisor = 10u128.checked_pow((-exp) as u32).unwrap_or(u128::MAX);
        numerator.div_ceil(divisor)
    };
    u64::try_from(value).map_err(|_| too_large())
}

/// CPU in millicores: `"500m"` → 500, `"2"` → 2000, `"0.1"` → 100.
pub fn parse_cpu_millicores(text: &str) -> Result<u64, QuantityError> {
    scaled_ceil(&parse(text)?, 3, text)
}

/// Bytes: `"128Mi"` → 134217728, `"1G"` → 10^9, `"1.5Gi"`.
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    scaled_ceil(&parse(text)?, 0, text)
}

/// A plain count (pods, extended resources): `"110"`.
pub fn parse_count(text: &str) -> Result<u64, QuantityError> {
    scaled_ceil(&parse(text)?, 0, text)
}

/// Renders bytes the way people read them: `128Mi`, `2Gi`, or a plain number.
pub fn format_bytes(bytes: u64) -> String {
    for (suffix, shift) in [("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Renders millicores: `250m`, `2`.
pub fn format_millicores(millicores: u64) -> String {
    if millicores.is_multiple_of(1000) {
        (millicores / 1000).to_string()
    } else {
        format!("{millicores}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_forms() {
        assert_eq!(parse_cpu_millicores("500m"), Ok(500));
        assert_eq!(parse_cpu_millicores("2"), Ok(2000));
        assert_eq!(parse_cpu_millicores("0.1"), Ok(100));
        assert_eq!(parse_cpu_millicores("1.5"), Ok(1500));
        // Sub-millicore values round up, as MilliValue does.
        assert_eq!(parse_cpu_millicores("100u"), Ok(1));
        assert_eq!(parse_cpu_millicores("1e3"), Ok(1_000_000));
    }

    #[test]
    fn memory_forms() {
        assert_eq!(parse_bytes("128Mi"), Ok(134_217_728));
        assert_eq!(parse_bytes("64Mi"), Ok(67_108_864));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("1.5Gi"), Ok(1_610_612_736));
        assert_eq!(parse_bytes("129M"), Ok(129_000_000));
        assert_eq!(parse_bytes("123"), Ok(123));
        assert_eq!(parse_bytes("1k"), Ok(1000));
    }

    #[test]
    fn bad_forms_name_the_problem() {
        assert!(parse_bytes("12 apples").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("-1Gi").is_err());
        assert!(parse_bytes("1.2.3").is_err());
        assert!(parse_cpu_millicores("1Zi").is_err());
        assert!(parse_bytes("99999999999Ei").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(134_217_728), "128Mi");
        assert_eq!(format_bytes(1000), "1000");
        assert_eq!(format_millicores(250), "250m");
        assert_eq!(format_millicores(2000), "2");
    }
}
