//! Typed facts an event carries for machines, next to the English detail for people: a front
//! end or observer matches on these, never on the wording of a detail.

use serde::{Deserialize, Serialize};

/// What a transition establishes beyond its phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fact {
    /// A build of its binary succeeded, after `seconds` (from the start of cargo to its end).
    Built { seconds: f64 },
    /// A process started by this console became ready, `seconds` after its spawn.
    Ready { seconds: f64 },
    /// A build was refused because a process runs; nothing was changed.
    BuildRefused,
    /// A start or restart was refused because a new process could not start (its config or
    /// its binary); what runs was left alone.
    StartRefused,
}
