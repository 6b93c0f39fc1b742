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
