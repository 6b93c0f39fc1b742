//! The wall clock: now in Unix seconds, and the formats the console shows times in. Imports
//! nothing of the crate, so anything may use it.

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// UTC wall-clock time now, RFC 3339 with milliseconds (`2026-11-18T11:06:40.123Z`).
pub fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

/// The UTC time of day of `unix_secs`, `HH:MM:SS` (what a live screen needs).
pub fn clock_time(unix_secs: f64) -> String {
    let full = rfc3339(unix_secs);
    full.get(11..19).unwrap_or(&full).to_string()
}

/// Seconds since the Unix epoch as an RFC 3339 UTC timestamp with milliseconds (jiff does the
/// calendar; a time it cannot represent prints as `?`).
pub fn rfc3339(unix_secs: f64) -> String {
    let ms = (unix_secs * 1000.0).floor();
    if !ms.is_finite() {
        return "?".into();
    }
    match jiff::Timestamp::from_millisecond(ms as i64) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "?".into(),
    }
}
