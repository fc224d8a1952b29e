//! Durations as people write them on the command line and in scenario files: `4.5s`, `100ms`,
//! `250us`, `2m`. One parser, so both say the same thing about a typo.

use std::time::Duration;

/// Parses `4.5s`, `100ms`, `250us`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration; write a number and a unit, like 4.5s or 100ms")
    })?;
    let scale = match unit.trim() {
        "us" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "" => {
            return Err(format!(
                "'{text}' has no unit; write 4.5s, 100ms, 250us or 2m"
            ));
        }
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}'; use us, ms, s or m"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("'{text}': {e}"))
}
