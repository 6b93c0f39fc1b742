//! Feed health of a ready connector (DESIGN §10): `ok | quiet | stale | erroring`, from its
//! feed meter, its bots and its error counts. Pure: the caller passes the time.

use serde::{Deserialize, Serialize};

use super::feed::FeedStats;
use crate::manifest::FeedSettings;

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

/// Everything health depends on, at `now` (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub now: f64,
    pub bots: u32,
    /// Since when at least one bot has been attached (None: no bot).
    pub bots_since: Option<f64>,
    /// The meter (None: no meter could be opened; then only the error counts speak).
    pub feed: Option<&'a FeedStats>,
    /// ERROR lines and panics in the connector's log in the last minute.
    pub log_errors_1m: u32,
    pub settings: &'a FeedSettings,
}

/// A health and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub health: FeedHealth,
    /// For an unhealthy verdict: what is wrong ("no market data for 12 s with 1 bot attached",
    /// "ETHUSDT: no market data for 11 s", "7 errors in the last minute").
    pub why: Option<String>,
    /// The stalled symbol, when one symbol among others stalled.
    pub symbol: Option<String>,
    /// For a stale verdict: since when no data came (Unix seconds), the stall's start.
    pub since: Option<f64>,
}

/// The health of a ready connector. Stale wins over erroring: no data is worse than noisy data.
pub fn evaluate(i: Inputs<'_>) -> Verdict {
    let stale_after = i.settings.stale_after.as_secs_f64();
    if let (Some(feed), Some(bots_since), true) = (i.feed, i.bots_since, i.bots > 0) {
        // The clock starts when data last came, or when watching with a bot began.
        let reference = feed
            .last_event_at
            .unwrap_or(f64::MIN)
            .max(bots_since)
            .max(feed.since);
        let silent = i.now - reference;
        if silent >= stale_after {
            return Verdict {
                health: FeedHealth::Stale,
                why: Some(format!(
                    "no market data for {:.0} s with {} bot(s) attached",
                    silent.floor(),
                    i.bots
                )),
                symbol: None,
                since: Some(reference),
            };
        }
        // One symbol stalled among live ones: the stalest, if past the limit.
        let stalest = feed
            .symbols
            .iter()
            .map(|(sym, s)| (sym, i.now - s.last_event_at.max(bots_since)))
            .filter(|(_, age)| *age >= stale_after)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((sym, age)) = stalest {
            return Verdict {
                health: FeedHealth::Stale,
                why: Some(format!("{sym}: no market data for {:.0} s", age.floor())),
                symbol: Some(sym.clone()),
                since: Some(i.now - age),
            };
        }
    }
    let errors = i
        .log_errors_1m
        .max(i.feed.map(|f| f.errors_1m).unwrap_or(0));
    if errors >= i.settings.error_threshold {
        return Verdict {
            health: FeedHealth::Erroring,
            why: Some(format!("{errors} errors in the last minute")),
            symbol: None,
            since: None,
        };
    }
    let recent = i
        .feed
        .and_then(|f| f.last_event_at)
        .is_some_and(|t| i.now - t < stale_after);
    let health = if i.bots == 0 && !recent {
        FeedHealth::Quiet
    } else {
        FeedHealth::Ok
    };
    Verdict {
        health,
        why: None,
        symbol: None,
        since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::feed::SymbolStats;
    use crate::manifest::OnStale;
    use std::time::Duration;

    fn settings() -> FeedSettings {
        FeedSettings {
            stale_after: Duration::from_secs(10),
            on_stale: OnStale::Alert,
            error_threshold: 5,
        }
    }

    fn feed(last: Option<f64>, symbols: &[(&str, f64)]) -> FeedStats {
        FeedStats {
            since: 100.0,
            last_event_at: last,
            symbols: symbols
                .iter()
                .map(|(s, t)| {
                    (
                        s.to_string(),
                        SymbolStats {
                            events_per_s: 1.0,
                            last_event_at: *t,
                        },
                    )
                })
                .collect(),
            ..FeedStats::default()
        }
    }

    fn at(now: f64, bots: u32, f: &FeedStats, errors: u32) -> Verdict {
        let s = settings();
        evaluate(Inputs {
            now,
            bots,
            bots_since: (bots > 0).then_some(101.0),
            feed: Some(f),
            log_errors_1m: errors,
            settings: &s,
        })
    }

    #[test]
    fn silence_without_a_bot_is_quiet_and_with_one_stale() {
        let f = feed(None, &[]);
        assert_eq!(at(500.0, 0, &f, 0).health, FeedHealth::Quiet);
        assert_eq!(
            at(110.0, 1, &f, 0).health,
            FeedHealth::Ok,
            "grace after a bot attaches"
        );
        let v = at(111.5, 1, &f, 0);
        assert_eq!(v.health, FeedHealth::Stale);
        assert_eq!(
            v.why.as_deref(),
            Some("no market data for 10 s with 1 bot(s) attached")
        );
        // The stall began when watching with a bot did, whenever it is evaluated.
        assert_eq!(v.since, Some(101.0));
        assert_eq!(at(140.0, 1, &f, 0).since, Some(101.0));
    }

    #[test]
    fn one_stalled_symbol_among_live_ones_is_stale_and_named() {
        let f = feed(Some(200.0), &[("BTCUSDT", 200.0), ("ETHUSDT", 185.0)]);
        let v = at(200.5, 1, &f, 0);
        assert_eq!(v.health, FeedHealth::Stale);
        assert_eq!(v.symbol.as_deref(), Some("ETHUSDT"));
        assert_eq!(v.since, Some(185.0), "its last event");
        assert_eq!(
            at(200.5, 0, &f, 0).health,
            FeedHealth::Ok,
            "data flows, no bot"
        );
    }

    #[test]
    fn errors_make_it_erroring_but_stale_wins() {
        let f = feed(Some(200.0), &[("BTCUSDT", 200.0)]);
        assert_eq!(at(201.0, 1, &f, 5).health, FeedHealth::Erroring);
        assert_eq!(at(201.0, 1, &f, 4).health, FeedHealth::Ok);
        let with_samples = FeedStats {
            errors_1m: 6,
            ..f.clone()
        };
        assert_eq!(at(201.0, 1, &with_samples, 0).health, FeedHealth::Erroring);
        assert_eq!(at(230.0, 1, &f, 50).health, FeedHealth::Stale);
    }
}
