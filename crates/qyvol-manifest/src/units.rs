//! Sizes (`128MiB`) and durations (`30s`) as people write them, shared by the
//! manifest's `limits` and the CLI's `--memory` / `--timeout` flags so both
//! accept exactly the same spellings.

use std::time::Duration;

/// A WebAssembly memory grows in pages of 64 KiB: a smaller limit could not
/// hold even one page.
pub const WASM_PAGE_SIZE: u64 = 64 * 1024;

const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kb", 1000),
    ("mb", 1000 * 1000),
    ("gb", 1000 * 1000 * 1000),
    ("tb", 1000 * 1000 * 1000 * 1000),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
];

const SIZE_UNITS_HELP: &str =
    "use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 128MiB";

const DURATION_UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3600 * 1_000_000_000),
];

const DURATION_UNITS_HELP: &str = "use ms, s, m or h, e.g. 500ms, 30s, 1.5s, 5m, 1h";

/// A decimal number split at its point, kept as digits so `1.1GiB` is exact
/// instead of going through floating point.
struct Decimal<'a> {
    whole: &'a str,
    fraction: &'a str,
}

/// Splits `text` into a leading decimal number and the rest.
fn split_number(text: &str) -> (Option<Decimal<'_>>, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, rest) = text.split_at(end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    // "5." and ".5" are refused: a digit must stand on each side of the point.
    let invalid = whole.is_empty() || fraction.contains('.') || number.ends_with('.');
    let valid = !invalid;
    (valid.then_some(Decimal { whole, fraction }), rest)
}

/// `decimal * unit`, exact, as a u128; None on overflow, or Err(()) if the
/// result is not a whole multiple of the smallest unit.
fn scale(decimal: &Decimal<'_>, unit: u128) -> Option<Result<u128, ()>> {
    let mut whole: u128 = 0;
    for digit in decimal.whole.bytes() {
        whole = whole
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    let mut value = whole.checked_mul(unit)?;
    let fraction = decimal.fraction.trim_end_matches('0');
    // Units reach 3.6e12 ns (an hour) at most, so a fraction with more
    // significant digits than that can never come out whole; refusing it
    // early also keeps the arithmetic below far from overflow.
    if fraction.len() > 20 {
        return Some(Err(()));
    }
    if !fraction.is_empty() {
        let mut numerator: u128 = 0;
        for digit in fraction.bytes() {
            numerator = numerator * 10 + u128::from(digit - b'0');
        }
        let denominator = 10u128.pow(fraction.len() as u32);
        let scaled = numerator.checked_mul(unit)?;
        if !scaled.is_multiple_of(denominator) {
            return Some(Err(()));
        }
        value = value.checked_add(scaled / denominator)?;
    }
    Some(Ok(value))
}

/// Parses a size: a number and an optional unit (`64MiB`, `1.5 GB`, `65536`).
///
/// KB, MB, GB, TB are powers of 1000 and KiB, MiB, GiB, TiB powers of 1024;
/// units are case-insensitive; a number alone is bytes. Zero is accepted here;
/// see [`parse_memory_limit`] for the rule on memory limits.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty size; write a number with a unit, e.g. 128MiB".into());
    }
    if trimmed.starts_with('-') {
        return Err(format!("{trimmed:?} is negative; a size is 0 or more"));
    }
    let (number, rest) = split_number(trimmed);
    let Some(number) = number else {
        return Err(format!(
            "{trimmed:?} is not a size; write a number with a unit, e.g. 128MiB"
        ));
    };
    let unit_text = rest.trim_start();
    let unit = if unit_text.is_empty() {
        1
    } else {
        let lower = unit_text.to_ascii_lowercase();
        match SIZE_UNITS.iter().find(|(name, _)| *name == lower) {
            Some((_, unit)) => *unit,
            None => {
                return Err(format!(
                    "unknown unit {unit_text:?} in {trimmed:?}; {SIZE_UNITS_HELP}"
                ));
            }
        }
    };
    match scale(&number, u128::from(unit)) {
        Some(Ok(bytes)) => u64::try_from(bytes).map_err(|_| format!("{trimmed:?} is too large")),
        Some(Err(())) => Err(format!("{trimmed:?} is not a whole number of bytes")),
        None => Err(format!("{trimmed:?} is too large")),
    }
}

/// Parses a memory limit: a size (see [`parse_size`]) of at least one
/// WebAssembly page (64 KiB).
pub fn parse_memory_limit(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    check_memory_limit(bytes)?;
    Ok(bytes)
}

/// The rule on memory limits, for values that are already numbers.
pub fn check_memory_limit(bytes: u64) -> Result<(), String> {
    if bytes == 0 {
        Err(
            "must be more than 0; a WebAssembly memory needs at least one 64 KiB page, e.g. 64MiB"
                .into(),
        )
    } else if bytes < WASM_PAGE_SIZE {
        Err(format!(
            "{} is less than one WebAssembly page (64 KiB); use at least 64KiB",
            format_size(bytes)
        ))
    } else {
        Ok(())
    }
}

/// Formats a byte count for messages: the largest unit that divides it
/// exactly (binary units first, as limits usually are), else bytes.
pub fn format_size(bytes: u64) -> String {
    const BINARY: &[(&str, u64)] = &[
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    const DECIMAL: &[(&str, u64)] = &[
        ("TB", 1_000_000_000_000),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("KB", 1_000),
    ];
    if bytes == 0 {
        return "0 B".into();
    }
    // Of the exact spellings, the one with the smallest number reads best
    // (64 MB rather than 62500 KiB); on a tie binary wins.
    BINARY
        .iter()
        .chain(DECIMAL)
        .filter(|(_, unit)| bytes.is_multiple_of(*unit))
        .min_by_key(|(_, unit)| bytes / unit)
        .map_or_else(
            || format!("{bytes} B"),
            |(name, unit)| format!("{} {name}", bytes / unit),
        )
}

/// Parses a duration: a number with a unit, or several (`500ms`, `30s`,
/// `1.5s`, `5m`, `1h`, `1m30s`). Units are ns, us, ms, s, m, h; a number
/// without a unit is refused because `30` could mean seconds or milliseconds.
/// Zero is accepted here; see [`parse_timeout`] for the rule on timeouts.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write a number with a unit, e.g. 30s".into());
    }
    if trimmed.starts_with('-') {
        return Err(format!("{trimmed:?} is negative; a duration is 0 or more"));
    }
    let mut rest = trimmed;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (number, after) = split_number(rest);
        let Some(number) = number else {
            return Err(format!(
                "{trimmed:?} is not a duration; write a number with a unit, e.g. 30s"
            ));
        };
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit_text, next) = after.split_at(unit_end);
        if unit_text.is_empty() {
            return Err(format!(
                "{trimmed:?} has no unit; add a unit, e.g. 30s ({DURATION_UNITS_HELP})"
            ));
        }
        let Some((_, unit)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit_text) else {
            return Err(format!(
                "unknown unit {unit_text:?} in {trimmed:?}; {DURATION_UNITS_HELP}"
            ));
        };
        match scale(&number, *unit) {
            Some(Ok(nanos)) => {
                total = total
                    .checked_add(nanos)
                    .ok_or_else(|| format!("{trimmed:?} is too long"))?;
            }
            Some(Err(())) => {
                return Err(format!(
                    "{trimmed:?} is finer than a nanosecond; use fewer decimals"
                ));
            }
            None => return Err(format!("{trimmed:?} is too long")),
        }
        rest = next.trim_start();
    }
    let secs =
        u64::try_from(total / 1_000_000_000).map_err(|_| format!("{trimmed:?} is too long"))?;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Parses a timeout: a duration (see [`parse_duration`]) longer than zero.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("must be more than 0, e.g. 30s".into());
    }
    Ok(duration)
}

/// Formats a duration the way [`parse_duration`] reads it (`30s`, `1.5s`,
/// `500ms`, `1m30s`).
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    const SECOND: u128 = 1_000_000_000;
    if nanos.is_multiple_of(SECOND) {
        let mut secs = nanos / SECOND;
        let mut out = String::new();
        if secs >= 3600 {
            out.push_str(&format!("{}h", secs / 3600));
            secs %= 3600;
        }
        if secs >= 60 {
            out.push_str(&format!("{}m", secs / 60));
            secs %= 60;
        }
        if secs > 0 {
            out.push_str(&format!("{secs}s"));
        }
        return out;
    }
    if nanos < SECOND {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}us", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let fraction = format!("{:09}", nanos % SECOND);
    format!("{}.{}s", nanos / SECOND, fraction.trim_end_matches('0'))
}

/// Most cores `limits.cpu` may name.
pub const MAX_CPU_CORES: u32 = 1024;

/// `limits.cpu`: cores as a number (`0.5`, `2`) or thousandths of a core
/// with `m` (`500m`), in thousandths of a core.
pub fn parse_cpu(text: &str) -> Result<u32, String> {
    let example =
        "write cores as a number, e.g. 0.5 (half a core) or 2, or thousandths with m, e.g. 250m";
    let text = text.trim();
    let millicores = if let Some(m) = text.strip_suffix('m') {
        m.parse::<u64>()
            .map_err(|_| format!("{text:?} is not a CPU amount; {example}"))?
    } else {
        let cores: f64 = text
            .parse()
            .ok()
            .filter(|c: &f64| c.is_finite())
            .ok_or_else(|| format!("{text:?} is not a CPU amount; {example}"))?;
        if cores < 0.0 {
            return Err(format!("must be more than 0 cores; got {text}; {example}"));
        }
        let m = cores * 1000.0;
        // 1.1 × 1000 is 1100.0000000000002 in floating point.
        if (m - m.round()).abs() > 1e-6 {
            return Err(format!(
                "{text} is finer than a thousandth of a core; round it, e.g. {:.3}",
                cores
            ));
        }
        m.round().min(u64::MAX as f64) as u64
    };
    if millicores == 0 {
        return Err(format!("must be more than 0 cores; got {text}; {example}"));
    }
    if millicores > u64::from(MAX_CPU_CORES) * 1000 {
        return Err(format!("at most {MAX_CPU_CORES} cores; got {text}"));
    }
    Ok(millicores as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("64MB"), Ok(64_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64mib"), Ok(64 << 20));
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 2kb "), Ok(2000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("0.5KB"), Ok(500));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("16TiB"), Ok(16 << 40));
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(
            parse_size("12XB").unwrap_err(),
            "unknown unit \"XB\" in \"12XB\"; use B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 128MiB"
        );
        assert_eq!(
            parse_size("lots").unwrap_err(),
            "\"lots\" is not a size; write a number with a unit, e.g. 128MiB"
        );
        assert_eq!(
            parse_size("-5MiB").unwrap_err(),
            "\"-5MiB\" is negative; a size is 0 or more"
        );
        assert_eq!(
            parse_size("1.5B").unwrap_err(),
            "\"1.5B\" is not a whole number of bytes"
        );
        assert_eq!(
            parse_size("99999999999TiB").unwrap_err(),
            "\"99999999999TiB\" is too large"
        );
        assert_eq!(
            parse_size("").unwrap_err(),
            "empty size; write a number with a unit, e.g. 128MiB"
        );
        assert!(parse_size("1..5MiB").is_err());
        assert!(parse_size(".5MiB").is_err());
        assert!(parse_size("5.MiB").is_err());
        assert!(parse_size("5 M iB").is_err());
        assert!(parse_size("99999999999999999999999999999999999999999999").is_err());
    }

    #[test]
    fn memory_limits() {
        assert_eq!(parse_memory_limit("64KiB"), Ok(65536));
        assert_eq!(
            parse_memory_limit("1KiB").unwrap_err(),
            "1 KiB is less than one WebAssembly page (64 KiB); use at least 64KiB"
        );
        assert_eq!(
            parse_memory_limit("0").unwrap_err(),
            "must be more than 0; a WebAssembly memory needs at least one 64 KiB page, e.g. 64MiB"
        );
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(format_size(64 << 20), "64 MiB");
        assert_eq!(format_size(1 << 30), "1 GiB");
        assert_eq!(format_size(1536 << 20), "1536 MiB");
        assert_eq!(format_size(64_000_000), "64 MB");
        assert_eq!(format_size(1000), "1 KB");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(0), "0 B");
        for bytes in [1u64, 999, 4096, 65536, 1 << 33, 3_000_000_000] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0.25h"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 2m 3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration(" 2 s "), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            parse_duration("30").unwrap_err(),
            "\"30\" has no unit; add a unit, e.g. 30s (use ms, s, m or h, e.g. 500ms, 30s, 1.5s, 5m, 1h)"
        );
        assert_eq!(
            parse_duration("30sec").unwrap_err(),
            "unknown unit \"sec\" in \"30sec\"; use ms, s, m or h, e.g. 500ms, 30s, 1.5s, 5m, 1h"
        );
        assert_eq!(
            parse_duration("soon").unwrap_err(),
            "\"soon\" is not a duration; write a number with a unit, e.g. 30s"
        );
        assert_eq!(
            parse_duration("-1s").unwrap_err(),
            "\"-1s\" is negative; a duration is 0 or more"
        );
        assert_eq!(
            parse_duration("1.0000000001s").unwrap_err(),
            "\"1.0000000001s\" is finer than a nanosecond; use fewer decimals"
        );
        assert!(parse_duration("99999999999999999999999h").is_err());
        assert!(parse_duration("1s30").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(
            parse_timeout("0s").unwrap_err(),
            "must be more than 0, e.g. 30s"
        );
        assert_eq!(parse_timeout("30s"), Ok(Duration::from_secs(30)));
    }

    #[test]
    fn formats_durations() {
        for (text, expected) in [
            ("30s", "30s"),
            ("90s", "1m30s"),
            ("1h", "1h"),
            ("500ms", "500ms"),
            ("1.5s", "1.5s"),
            ("250us", "250us"),
            ("0s", "0s"),
        ] {
            let duration = parse_duration(text).unwrap();
            assert_eq!(format_duration(duration), expected);
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
    }
}
