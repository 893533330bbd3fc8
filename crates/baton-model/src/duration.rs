//! Durations as written in baton.yaml: `90s`, `5m`, `1h30m`, `2d`, `500ms`, or bare seconds.

use std::time::Duration;

/// The longest duration baton accepts: 366 days. Timeouts and intervals are added to
/// `Instant::now()`, which panics on overflow for absurd values; nothing baton waits for
/// sensibly lasts longer than a year.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// `Err` naming the cap when `d` exceeds [`MAX_DURATION`]; `written` is the text as written.
pub fn check_bounds(d: Duration, written: &str) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "`{written}` is longer than the longest duration baton accepts, 366d (a year)"
        ));
    }
    Ok(d)
}

/// Parse `90s`, `5m`, `1h30m`, `1h 30m`, `2d`, `500ms`, `1w` or a bare integer of seconds, at
/// most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    check_bounds(parse_unbounded(trimmed)?, trimmed)
}

fn parse_unbounded(trimmed: &str) -> Result<Duration, String> {
    // Any number too long for u64 is also far beyond the cap; say so rather than "not a
    // duration".
    let too_long = || check_bounds(Duration::MAX, trimmed).unwrap_err();
    if trimmed.is_empty() {
        return Err("an empty duration".to_string());
    }
    if trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| too_long());
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
        let number: u64 = rest[..digits].parse().map_err(|_| too_long())?;
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
    fn durations_are_bounded_by_a_year() {
        assert_eq!(parse_duration("366d"), Ok(MAX_DURATION));
        assert_eq!(
            parse_duration("52w"),
            Ok(Duration::from_secs(52 * 7 * 86_400))
        );
        for text in [
            "367d",
            "53w",
            "20000000000000w",
            "99999999999999999999999s",
            "99999999999999999999999",
            "31622401",
            "1w 360d",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains("366d"), "{text}: {err}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in ["", "s", "10x", "1.5h", "-5s", "abc", "10s 5", "h1"] {
            assert!(parse_duration(text).is_err(), "{text} should fail");
        }
    }
}
