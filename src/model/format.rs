//! Formatting shared by every front end (the TUI, `status`).

use std::time::Duration;

/// `12s`, `3m`, `1h02m`: seconds only in the first minute, so an idle screen changes (and is
/// redrawn) once a minute rather than every second.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `12M`, `1.3G`: memory in a title or a table cell.
pub fn short_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib < 1024.0 {
        format!("{mib:.0}M")
    } else {
        format!("{:.1}G", mib / 1024.0)
    }
}

/// `850`, `1.2k`, `12k`, `1.5M`: a rate of events per second.
pub fn short_rate(n: f64) -> String {
    match n {
        n if n < 1_000.0 => format!("{n:.0}"),
        n if n < 10_000.0 => format!("{:.1}k", n / 1e3),
        n if n < 1_000_000.0 => format!("{:.0}k", n / 1e3),
        n => format!("{:.1}M", n / 1e6),
    }
}

/// A number of seconds from outside this process (a remote view, `state.json`) as a
/// [`std::time::Duration`]: negative and NaN are zero, and what no `Duration` can hold (1e300)
/// is the longest one, where `Duration::from_secs_f64` would panic.
pub fn secs_duration(secs: f64) -> std::time::Duration {
    if secs.is_nan() || secs <= 0.0 {
        return std::time::Duration::ZERO;
    }
    std::time::Duration::try_from_secs_f64(secs).unwrap_or(std::time::Duration::MAX)
}
