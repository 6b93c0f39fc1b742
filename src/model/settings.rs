//! The settings the lifecycle machine (`engine::state`, the restart budget) and the
//! feed-health verdict need, resolved: the manifest (`switchboard.toml`) converts its tables
//! into them. Plain values, no I/O.

use std::time::Duration;

use serde::Deserialize;

/// Restart budget defaults: the reconnect budget of a well-tested backtest client.
pub mod restart_defaults {
    /// First backoff delay, seconds.
    pub const INITIAL_BACKOFF: f64 = 1.0;
    /// Backoff cap, seconds.
    pub const MAX_BACKOFF: f64 = 30.0;
    /// Growth factor per attempt.
    pub const MULTIPLIER: f64 = 2.0;
    /// ± fraction of random jitter on each delay.
    pub const JITTER: f64 = 0.2;
    /// Attempts before giving up.
    pub const MAX_ATTEMPTS: u32 = 20;
    /// Seconds of failing before giving up.
    pub const MAX_TOTAL: f64 = 300.0;
    /// Seconds of Ready that earn back the full budget.
    pub const UPTIME_RESET: f64 = 30.0;
}

/// When a connector that exits on its own is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicyKind {
    /// Never restart automatically.
    Never,
    /// Restart after any exit that an operator did not ask for, and after a startup timeout.
    OnFailure,
    /// As `on-failure`, and also retry when the start itself is refused (spawn error, name in use).
    Always,
}

/// The restart budget of one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct RestartPolicy {
    pub policy: RestartPolicyKind,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    pub jitter: f64,
    pub max_attempts: u32,
    pub max_total: Duration,
    pub uptime_reset: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        use restart_defaults::*;
        RestartPolicy {
            policy: RestartPolicyKind::OnFailure,
            initial_backoff: Duration::from_secs_f64(INITIAL_BACKOFF),
            max_backoff: Duration::from_secs_f64(MAX_BACKOFF),
            multiplier: MULTIPLIER,
            jitter: JITTER,
            max_attempts: MAX_ATTEMPTS,
            max_total: Duration::from_secs_f64(MAX_TOTAL),
            uptime_reset: Duration::from_secs_f64(UPTIME_RESET),
        }
    }
}

/// Feed-health defaults (DESIGN §10).
pub mod feed_defaults {
    /// Seconds without market data, with a bot attached, before a connector is stale.
    pub const STALE_AFTER: f64 = 10.0;
    /// ERROR lines or Error samples per minute that make a connector erroring.
    pub const ERROR_THRESHOLD: u32 = 5;
    /// Seconds after an exchange-stream reconnect before silent symbols are stale.
    pub const RESUME_GRACE: f64 = 5.0;
}

/// What to do when a connector's feed goes stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnStale {
    /// Show it (pane, status, headless line) and do nothing else.
    Alert,
    /// Restart it through the restart budget, with "stale feed" as the reason.
    Restart,
}

/// Feed health settings of one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSettings {
    pub stale_after: Duration,
    pub on_stale: OnStale,
    pub error_threshold: u32,
    /// How long symbols that flowed before an exchange-stream reconnect may stay silent after
    /// it before the connector is stale (DESIGN §13: no resubscription after a reconnect).
    pub resume_grace: Duration,
    /// `feed.meter` (default true): the console's passive subscriber on `{NAME}/ToBot`. Off, the
    /// console takes no subscriber slot and never wakes for the feed (#24), and so cannot give
    /// the feed's rate, its staleness, per-symbol figures nor stream-error counts from the
    /// feed, nor register declared instruments (which it refuses with `meter = false`).
    pub meter: bool,
}

impl Default for FeedSettings {
    fn default() -> Self {
        FeedSettings {
            stale_after: Duration::from_secs_f64(feed_defaults::STALE_AFTER),
            on_stale: OnStale::Alert,
            error_threshold: feed_defaults::ERROR_THRESHOLD,
            resume_grace: Duration::from_secs_f64(feed_defaults::RESUME_GRACE),
            meter: true,
        }
    }
}

/// One declared instrument: the values must be the bots' own, because the connector builds a
/// symbol's depth with the tick and lot size of the first registration it gets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Instrument {
    pub symbol: String,
    pub tick_size: f64,
    pub lot_size: f64,
}
