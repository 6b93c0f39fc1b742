//! Phases, exit statuses and the transition record shared by the engine, the CLI and the UI.

use serde::{Deserialize, Serialize};

pub use crate::model::phase::Phase;

/// How a process ended. Serialized as `"code 1"` or `"signal 9"` (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// Converts std's status; None when it says neither a code nor a signal (which a reaped
    /// child cannot do): unknown, never an invented signal.
    pub fn from_std(s: std::process::ExitStatus) -> Option<ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        match (s.code(), s.signal()) {
            (Some(c), _) => Some(ExitStatus::Code(c)),
            (None, Some(sig)) => Some(ExitStatus::Signal(sig)),
            (None, None) => None,
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

impl std::str::FromStr for ExitStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not an exit status like \"code 1\" or \"signal 9\"");
        let (kind, n) = s.split_once(' ').ok_or_else(bad)?;
        let n: i32 = n.parse().map_err(|_| bad())?;
        match kind {
            "code" => Ok(ExitStatus::Code(n)),
            "signal" => Ok(ExitStatus::Signal(n)),
            _ => Err(bad()),
        }
    }
}

impl Serialize for ExitStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ExitStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// The string form, or the `{"Code": 1}` form that consoles before 0.2 wrote into
        /// `state.json` (so that an upgraded console still re-adopts what an older one started).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Old(Old),
        }
        #[derive(Deserialize)]
        enum Old {
            Code(i32),
            Signal(i32),
        }
        match Either::deserialize(d)? {
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
            Either::Old(Old::Code(c)) => Ok(ExitStatus::Code(c)),
            Either::Old(Old::Signal(s)) => Ok(ExitStatus::Signal(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_reads_and_writes_text_and_reads_the_old_form() {
        let s = serde_json::to_string(&ExitStatus::Signal(9)).expect("json");
        assert_eq!(s, "\"signal 9\"");
        let back: ExitStatus = serde_json::from_str(&s).expect("text");
        assert_eq!(back, ExitStatus::Signal(9));
        let old: ExitStatus = serde_json::from_str("{\"Code\":1}").expect("old form");
        assert_eq!(old, ExitStatus::Code(1));
        assert!(serde_json::from_str::<ExitStatus>("\"code x\"").is_err());
    }
}
