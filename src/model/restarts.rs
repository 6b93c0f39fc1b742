//! A restart streak as the views tell it.

use serde::{Deserialize, Serialize};

/// A crash loop: `restarts` restarts in one streak, the last `window` after its first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashLoop {
    pub restarts: u32,
    /// Seconds from the streak's first failure to its last restart.
    pub window_s: u64,
}

impl CrashLoop {
    /// `crash-looping (3 restarts in 8 s)`, `crash-looping (12 restarts in 6 min)`.
    pub fn describe(&self) -> String {
        let w = self.window_s;
        let window = if w < 120 {
            format!("{w} s")
        } else {
            format!("{} min", w.div_ceil(60))
        };
        format!("crash-looping ({} restarts in {window})", self.restarts)
    }
}
