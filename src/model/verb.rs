//! The operator's verbs on one connector, as every front end names them: the control socket's
//! `"action"` (same spelling), the TUI's keys (`s x r K b B`). The engine's `Command` maps
//! from and to them in one place (`engine::state::Command::from`, `Command::verb`).

use serde::{Deserialize, Serialize};

/// What an operator can ask of one connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verb {
    Start,
    Stop,
    Restart,
    /// SIGKILL now.
    Kill,
    /// Build when out of date.
    Build,
    /// Build even when up to date.
    Rebuild,
}

impl Verb {
    /// Every verb, in the order the help lists them.
    pub const ALL: [Verb; 6] = [
        Verb::Start,
        Verb::Stop,
        Verb::Restart,
        Verb::Kill,
        Verb::Build,
        Verb::Rebuild,
    ];

    /// The wire and CLI spelling (`start`, `rebuild`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Stop => "stop",
            Verb::Restart => "restart",
            Verb::Kill => "kill",
            Verb::Build => "build",
            Verb::Rebuild => "rebuild",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_spelling_is_the_display() {
        for v in Verb::ALL {
            assert_eq!(
                serde_json::to_string(&v).expect("a verb serializes"),
                format!("\"{v}\"")
            );
        }
    }
}
