//! Feed health words (DESIGN §10): the verdict `engine::health` reaches, as every front end
//! shows it.

use serde::{Deserialize, Serialize};

/// Whether market data flows. Only ready connectors have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedHealth {
    /// Data flows, or a bot has just attached and the grace has not run out.
    Ok,
    /// No bot attached and no data: normal (the connector publishes only for bots).
    Quiet,
    /// A bot is attached and no Feed event came for `stale_after` (or one symbol stalled).
    Stale,
    /// At least `error_threshold` ERROR lines or Error samples in the last minute.
    Erroring,
}

impl FeedHealth {
    /// Stale or erroring.
    pub fn is_unhealthy(self) -> bool {
        matches!(self, FeedHealth::Stale | FeedHealth::Erroring)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FeedHealth::Ok => "ok",
            FeedHealth::Quiet => "quiet",
            FeedHealth::Stale => "stale",
            FeedHealth::Erroring => "erroring",
        }
    }
}

impl std::fmt::Display for FeedHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
