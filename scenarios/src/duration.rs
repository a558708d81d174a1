//! Durations as Kubernetes and Go write them (`time.ParseDuration`): `300s`, `5m`,
//! `1h30m`, `250ms`, `1.5s`. Parsed exactly into integer nanoseconds, never through floats.

use sim_core::SimDuration;

const UNITS: [(&str, u64); 7] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration; the error says what is wrong with it.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let bad = |why: &str| format!("invalid duration {text:?}: {why}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad("empty"));
    }
    if rest.starts_with('-') {
        return Err(bad("negative durations are not allowed"));
    }
    if rest == "0" {
        return Ok(SimDuration::ZERO);
    }
    let mut total_nanos: u64 = 0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(bad(
                "expected a number (a duration looks like 300s, 5m, 1h30m, 250ms)",
            ));
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(bad("missing unit (use ns, us, ms, s, m or h)"));
        }
        let Some(&(_, nanos_per_unit)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(bad(&format!(
                "unknown unit {unit:?} (use ns, us, ms, s, m or h)"
            )));
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad("too large"))?
        };
        let mut nanos = whole
            .checked_mul(nanos_per_unit)
            .ok_or_else(|| bad("too large"))?;
        // The fraction, exactly: digits × unit / 10^len, truncated below a nanosecond.
        let mut scale = nanos_per_unit;
        for digit in fraction.bytes() {
            scale /= 10;
            nanos = nanos
                .checked_add(u64::from(digit - b'0') * scale)
                .ok_or_else(|| bad("too large"))?;
        }
        total_nanos = total_nanos
            .checked_add(nanos)
            .ok_or_else(|| bad("too large"))?;
        rest = next;
    }
    Ok(SimDuration::from_nanos(total_nanos))
}

/// Renders a duration the way people write them: `5m`, `1h30m`, `250ms`, `1.5s`.
pub fn format_duration(duration: SimDuration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    const SEC: u64 = 1_000_000_000;
    if !nanos.is_multiple_of(SEC) {
        if nanos < SEC && nanos.is_multiple_of(1_000_000) {
            return format!("{}ms", nanos / 1_000_000);
        }
        if nanos.is_multiple_of(1_000_000) {
            let millis = nanos / 1_000_000;
            let text = format!("{}.{:03}", millis / 1000, millis % 1000);
            return format!("{}s", text.trim_end_matches('0'));
        }
        return format!("{nanos}ns");
    }
    let secs = nanos / SEC;
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    if seconds > 0 || out.is_empty() {
        out.push_str(&format!("{seconds}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> SimDuration {
        SimDuration::from_secs(s)
    }

    #[test]
    fn go_forms() {
        assert_eq!(parse_duration("300s"), Ok(secs(300)));
        assert_eq!(parse_duration("5m"), Ok(secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(SimDuration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(SimDuration::from_millis(1500)));
        assert_eq!(
            parse_duration("2m30.25s"),
            Ok(SimDuration::from_millis(150_250))
        );
        assert_eq!(parse_duration("10us"), Ok(SimDuration::from_micros(10)));
        assert_eq!(parse_duration("7ns"), Ok(SimDuration::from_nanos(7)));
        assert_eq!(parse_duration("0"), Ok(SimDuration::ZERO));
        assert_eq!(parse_duration(".5h"), Ok(secs(1800)));
    }

    #[test]
    fn bad_forms_say_why() {
        assert_eq!(
            parse_duration("5 minutes"),
            Err("invalid duration \"5 minutes\": unknown unit \" minutes\" (use ns, us, ms, s, m or h)".to_string())
        );
        assert!(parse_duration("300").unwrap_err().contains("missing unit"));
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("1.2.3s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(
            parse_duration("99999999999999h")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["5m", "1h30m", "250ms", "1.5s", "45s", "2h", "0s", "1m0.1s"] {
            let parsed = parse_duration(text).unwrap();
            assert_eq!(
                parse_duration(&format_duration(parsed)),
                Ok(parsed),
                "{text}"
            );
        }
        assert_eq!(format_duration(secs(5400)), "1h30m");
        assert_eq!(format_duration(SimDuration::from_millis(1500)), "1.5s");
    }
}
