//! Durations as written in baton.yaml: `90s`, `5m`, `1h30m`, `2d`, `500ms`, or bare seconds.

use std::time::Duration;

/// Parse `90s`, `5m`, `1h30m`, `1h 30m`, `2d`, `500ms`, `1w` or a bare integer of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("an empty duration".to_string());
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let bad = || format!("`{trimmed}` is not a duration (write e.g. `90s`, `5m`, `1h30m`)");
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" | "sec" | "secs" => Duration::from_secs(number),
            "m" | "min" | "mins" => Duration::from_secs(number.saturating_mul(60)),
            "h" => Duration::from_secs(number.saturating_mul(3600)),
            "d" => Duration::from_secs(number.saturating_mul(86_400)),
            "w" => Duration::from_secs(number.saturating_mul(7 * 86_400)),
            "" => {
                return Err(format!(
                    "`{trimmed}`: a number without a unit (`s`, `m`, `h`, `d`)"
                ));
            }
            other => {
                return Err(format!(
                    "`{trimmed}`: unknown unit `{other}` (use `ms`, `s`, `m`, `h`, `d` or `w`)"
                ));
            }
        };
        total = total.saturating_add(part);
        rest = rest[unit_len..].trim_start();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let cases: &[(&str, u64)] = &[
            ("90s", 90_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1h 30m", 5_400_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("45", 45_000),
            (" 10s ", 10_000),
            ("0", 0),
        ];
        for (text, millis) in cases {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(*millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in ["", "s", "10x", "1.5h", "-5s", "abc", "10s 5", "h1"] {
            assert!(parse_duration(text).is_err(), "{text} should fail");
        }
    }
}
