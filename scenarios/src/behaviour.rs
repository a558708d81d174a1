//! Values of an image's process behaviour that are neither plain durations nor plain
//! quantities: a growth rate (`10Mi/s`, `60Mi/m`, `1Gi/h`) and a probability
//! (`0.1`, `10%`), both parsed exactly into integers.

use components::api::quantity::parse_bytes;
use sim_core::SimDuration;

/// `<quantity>/<unit>` with unit `s`, `m` (or `min`) or `h`: the bytes and the span they
/// are added over; `what` names the rate in errors (`memory growth`, `disk growth`).
pub fn parse_rate(text: &str, what: &str) -> Result<(u64, SimDuration), String> {
    let bad = |why: &str| format!("invalid {what} {text:?}: {why}");
    let Some((amount, unit)) = text.trim().split_once('/') else {
        return Err(bad("expected a quantity per unit, like 10Mi/s or 60Mi/m"));
    };
    let bytes = parse_bytes(amount.trim()).map_err(|error| bad(&error.to_string()))?;
    let per = match unit.trim() {
        "s" => SimDuration::from_secs(1),
        "m" | "min" => SimDuration::from_mins(1),
        "h" => SimDuration::from_secs(3600),
        _ => return Err(bad("the unit is s, m or h")),
    };
    if bytes == 0 {
        return Err(bad("a growth of 0 is no growth: leave the field out"));
    }
    Ok((bytes, per))
}

/// A probability as a decimal fraction (`0.1`, `1`) or a percentage (`10%`), in parts
/// per million; at most six decimals of a fraction (four of a percentage) count.
pub fn parse_probability_ppm(text: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid probability {text:?}: {why}");
    let trimmed = text.trim();
    let (number, scale_digits) = match trimmed.strip_suffix('%') {
        Some(percent) => (percent.trim(), 4),
        None => (trimmed, 6),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !fraction.chars().all(|c| c.is_ascii_digit())
    {
        return Err(bad("expected a number like 0.1 or 10%"));
    }
    if fraction.len() > scale_digits {
        return Err(bad(
            "too many decimals (the resolution is one in a million)",
        ));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let mut fraction_ppm: u64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad("too large"))?
    };
    for _ in fraction.len()..scale_digits {
        fraction_ppm *= 10;
    }
    let ppm = whole
        .checked_mul(10u64.pow(scale_digits as u32))
        .and_then(|w| w.checked_add(fraction_ppm))
        .ok_or_else(|| bad("too large"))?;
    if ppm > 1_000_000 {
        return Err(bad("a probability is at most 1 (100%)"));
    }
    Ok(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_growth_rate(text: &str) -> Result<(u64, SimDuration), String> {
        parse_rate(text, "memory growth")
    }

    #[test]
    fn growth_rates() {
        assert_eq!(
            parse_growth_rate("10Mi/s"),
            Ok((10 << 20, SimDuration::from_secs(1)))
        );
        assert_eq!(
            parse_growth_rate("60Mi/m"),
            Ok((60 << 20, SimDuration::from_mins(1)))
        );
        assert_eq!(
            parse_growth_rate("1Gi / h"),
            Ok((1 << 30, SimDuration::from_secs(3600)))
        );
        assert!(parse_growth_rate("10Mi").is_err());
        assert!(parse_growth_rate("10Mi/d").is_err());
        assert!(parse_growth_rate("0/s").is_err());
        assert!(parse_growth_rate("lots/s").is_err());
    }

    #[test]
    fn probabilities() {
        assert_eq!(parse_probability_ppm("0.1"), Ok(100_000));
        assert_eq!(parse_probability_ppm("1"), Ok(1_000_000));
        assert_eq!(parse_probability_ppm("0"), Ok(0));
        assert_eq!(parse_probability_ppm(".000001"), Ok(1));
        assert_eq!(parse_probability_ppm("10%"), Ok(100_000));
        assert_eq!(parse_probability_ppm("0.5%"), Ok(5_000));
        assert!(parse_probability_ppm("1.5").is_err());
        assert!(parse_probability_ppm("101%").is_err());
        assert!(parse_probability_ppm("0.0000001").is_err());
        assert!(parse_probability_ppm("-0.1").is_err());
        assert!(parse_probability_ppm("often").is_err());
        assert!(parse_probability_ppm("").is_err());
    }
}
