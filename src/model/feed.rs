//! What the feed meter tells the views: rates, per-symbol figures, why a feed is stale.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One symbol's part of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SymbolStats {
    /// Feed events in the last complete second.
    pub events_per_s: f64,
    /// Wall-clock time (Unix seconds) of its last Feed event.
    pub last_event_at: f64,
}

/// What the meter knows, with absolute times (Unix seconds), so that it does not change while
/// nothing happens.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FeedStats {
    /// When the meter opened (the connector became ready).
    pub since: f64,
    /// Feed events in the last complete second.
    pub events_per_s: f64,
    /// Feed payload bytes in the last complete second.
    pub bytes_per_s: f64,
    /// Feed events since the meter opened.
    pub total: u64,
    /// When the last Feed event arrived.
    pub last_event_at: Option<f64>,
    /// The connector's `LiveEvent::Error` samples in the last minute.
    pub errors_1m: u32,
    pub symbols: BTreeMap<String, SymbolStats>,
    /// Feed events per second, oldest first, the newest complete second last (at most
    /// [`HISTORY_SECS`]).
    pub history: Vec<u32>,
    /// Samples may have been lost in the last minute (the console's buffer overflowed): the
    /// rates are lower bounds.
    pub lower_bound: bool,
    /// `ConnectionInterrupted` Error samples since the meter opened, and when the last came: the
    /// connector's exchange stream dropped and it is reconnecting.
    #[serde(default)]
    pub interruptions: u64,
    #[serde(default)]
    pub last_interruption_at: Option<f64>,
    /// `Order` events reporting a new order `Canceled` (with `req` New): the connector's
    /// registration cleanup cancelled it before the exchange answered (DESIGN §1), and it may
    /// still rest on the exchange. How many, and the last one's symbol and order id.
    #[serde(default)]
    pub cleanup_cancels: u64,
    #[serde(default)]
    pub last_cleanup_cancel: Option<(String, u64)>,
}

/// Why a connector is stale, for machines (`status --json`'s `stale_cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleCause {
    /// No market data at all with a bot attached.
    NoData,
    /// One or more symbols stopped (or a declared one never came).
    Symbol,
    /// Symbols that flowed before the exchange stream reconnected never came back: hftbacktest's
    /// connector does not resubscribe after a reconnect; only a restart brings them back.
    SilentReconnect,
}

impl StaleCause {
    pub fn as_str(self) -> &'static str {
        match self {
            StaleCause::NoData => "no_data",
            StaleCause::Symbol => "symbol",
            StaleCause::SilentReconnect => "silent_reconnect",
        }
    }
}
