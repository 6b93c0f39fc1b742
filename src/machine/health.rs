//! Feed health of a ready connector (DESIGN §10): `ok | quiet | stale | erroring`, from its
//! feed meter, its bots and its error counts. Pure: the caller passes the time.

use super::feed::FeedStats;
pub use crate::model::feed::StaleCause;
use crate::model::FeedSettings;

pub use crate::model::health::FeedHealth;

/// How long a new console's meter watches before symbols recorded by a previous console are
/// judged (a flowing symbol shows in the meter well within it).
pub const RESTORED_GRACE: f64 = 3.0;

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
    /// Declared instruments (DESIGN §13): each is expected to flow from `ready_since` on, bot or
    /// no bot, even if it never delivered.
    pub declared: &'a [String],
    /// Last Feed event per symbol in this process as far as anyone saw (a previous console
    /// included): a stall that began before this console keeps its age.
    pub seen: &'a std::collections::BTreeMap<String, f64>,
    /// When this process became ready (or was adopted ready).
    pub ready_since: f64,
    /// When its exchange stream last failed, once it is evidently up again (the stream gate
    /// opened after the failure): the reconnect whose silence [`StaleCause::SilentReconnect`]
    /// names.
    pub reconnected_at: Option<f64>,
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
    /// Why it is stale (None unless stale).
    pub cause: Option<StaleCause>,
    /// For a stale verdict: since when no data came (Unix seconds), the stall's start.
    pub since: Option<f64>,
}

/// The health of a ready connector. Stale wins over erroring: no data is worse than noisy data.
pub fn evaluate(i: Inputs<'_>) -> Verdict {
    let stale_after = i.settings.stale_after.as_secs_f64();
    // What a previous console saw counts once this console's meter has had time to see the
    // symbols that still flow (their recorded times are as old as the console's absence).
    let empty = std::collections::BTreeMap::new();
    let seen = match i.feed {
        Some(f) if i.now - f.since >= RESTORED_GRACE => i.seen,
        _ => &empty,
    };
    // A declared symbol is due from `ready` whether or not a bot is attached: the console
    // registers it itself. The last event is the meter's, else what was seen before.
    let last_of = |sym: &str| -> Option<f64> {
        let metered = i
            .feed
            .and_then(|f| f.symbols.get(sym))
            .map(|s| s.last_event_at);
        match (metered, seen.get(sym).copied()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    // Symbols that flowed before the stream's last failure and not since, `resume_grace` after
    // it came back: the connector's missing resubscription (DESIGN §1), named one by one.
    if let Some(at) = i
        .reconnected_at
        .filter(|at| i.now - at >= i.settings.resume_grace.as_secs_f64())
    {
        let mut dead: Vec<&String> = i
            .feed
            .map(|f| {
                f.symbols
                    .iter()
                    .filter(|(_, s)| s.last_event_at < at)
                    .map(|(sym, _)| sym)
                    .collect()
            })
            .unwrap_or_default();
        dead.sort();
        if !dead.is_empty() {
            let names: Vec<&str> = dead.iter().map(|s| s.as_str()).collect();
            return Verdict {
                health: FeedHealth::Stale,
                why: Some(format!(
                    "{}: no data since the stream reconnected at {}: hftbacktest's connector does not resubscribe after a reconnect; a restart brings it back",
                    names.join(", "),
                    crate::model::clock::clock_time(at)
                )),
                symbol: dead.first().map(|s| s.to_string()),
                cause: Some(StaleCause::SilentReconnect),
                since: i.feed.and_then(|f| {
                    f.symbols
                        .values()
                        .map(|s| s.last_event_at)
                        .filter(|t| *t < at)
                        .max_by(f64::total_cmp)
                }),
            };
        }
    }
    let declared_stale = i
        .declared
        .iter()
        .map(|sym| (sym, last_of(sym)))
        .map(|(sym, last)| (sym, last, i.now - last.unwrap_or(i.ready_since)))
        .filter(|(_, _, age)| *age >= stale_after)
        .max_by(|a, b| a.2.total_cmp(&b.2));
    if let Some((sym, last, age)) = declared_stale {
        let why = match last {
            Some(_) => format!("{sym}: no market data for {:.0} s", age.floor()),
            None => format!(
                "{sym}: no market data since it became ready {:.0} s ago (declared, never delivered)",
                age.floor()
            ),
        };
        return Verdict {
            health: FeedHealth::Stale,
            why: Some(why),
            symbol: Some(sym.clone()),
            cause: Some(StaleCause::Symbol),
            since: Some(i.now - age),
        };
    }
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
                cause: Some(StaleCause::NoData),
                since: Some(reference),
            };
        }
        // One symbol stalled among live ones: the stalest, if past the limit (symbols a
        // previous console saw in this process count with their own times).
        // A symbol the meter has not seen since this console began keeps the age the previous
        // console saw (not reset by the bots' attach time, which this console only now saw).
        let stalest = feed
            .symbols
            .iter()
            .map(|(sym, s)| (sym, i.now - s.last_event_at.max(bots_since)))
            .chain(
                seen.iter()
                    .filter(|(sym, _)| !feed.symbols.contains_key(*sym))
                    .map(|(sym, t)| (sym, i.now - t)),
            )
            .filter(|(_, age)| *age >= stale_after)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((sym, age)) = stalest {
            return Verdict {
                health: FeedHealth::Stale,
                why: Some(format!("{sym}: no market data for {:.0} s", age.floor())),
                symbol: Some(sym.clone()),
                cause: Some(StaleCause::Symbol),
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
            cause: None,
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
        cause: None,
        since: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::feed::SymbolStats;
    use crate::model::OnStale;
    use std::time::Duration;

    fn settings() -> FeedSettings {
        FeedSettings {
            stale_after: Duration::from_secs(10),
            on_stale: OnStale::Alert,
            error_threshold: 5,
            resume_grace: Duration::from_secs(5),
            meter: true,
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
            declared: &[],
            seen: &std::collections::BTreeMap::new(),
            ready_since: 100.0,
            reconnected_at: None,
        })
    }

    #[test]
    fn symbols_silent_since_a_reconnect_are_named_with_the_cause() {
        let s = settings();
        // BTCUSDT and ETHUSDT flowed until 150; the stream failed last at 151 and is up again;
        // SOLUSDT, registered after the reconnect, flows.
        let f = feed(
            Some(158.0),
            &[("BTCUSDT", 150.0), ("ETHUSDT", 149.5), ("SOLUSDT", 158.0)],
        );
        let at = |now: f64| {
            evaluate(Inputs {
                now,
                bots: 0,
                bots_since: None,
                feed: Some(&f),
                log_errors_1m: 0,
                settings: &s,
                declared: &[],
                seen: &std::collections::BTreeMap::new(),
                ready_since: 100.0,
                reconnected_at: Some(151.0),
            })
        };
        assert_eq!(at(155.0).health, FeedHealth::Ok, "within resume_grace");
        let v = at(158.5);
        assert_eq!(v.health, FeedHealth::Stale);
        assert_eq!(v.cause, Some(StaleCause::SilentReconnect));
        let why = v.why.expect("why");
        assert!(
            why.starts_with("BTCUSDT, ETHUSDT: no data since the stream reconnected at "),
            "{why}"
        );
        assert!(why.ends_with("a restart brings it back"), "{why}");
    }

    #[test]
    fn a_declared_symbol_that_never_delivered_is_stale_without_any_bot() {
        let s = settings();
        let f = feed(Some(150.0), &[("BTCUSDT", 150.0)]);
        let declared = vec!["BTCUSDT".to_string(), "ETHUSDT".to_string()];
        let seen = std::collections::BTreeMap::new();
        let at = |now: f64| {
            evaluate(Inputs {
                now,
                bots: 0,
                bots_since: None,
                feed: Some(&f),
                log_errors_1m: 0,
                settings: &s,
                declared: &declared,
                seen: &seen,
                ready_since: 145.0,
                reconnected_at: None,
            })
        };
        assert_eq!(at(150.5).health, FeedHealth::Ok);
        let v = at(155.0);
        assert_eq!(v.health, FeedHealth::Stale);
        assert_eq!(v.symbol.as_deref(), Some("ETHUSDT"));
        assert!(
            v.why.as_deref().unwrap_or("").contains("never delivered"),
            "{v:?}"
        );
    }

    #[test]
    fn a_stall_seen_by_a_previous_console_keeps_its_age() {
        let s = settings();
        // The meter of the new console has seen nothing yet; the previous one saw ETHUSDT last
        // at 120 (BTCUSDT flows).
        let f = feed(Some(200.0), &[("BTCUSDT", 200.0)]);
        let seen: std::collections::BTreeMap<String, f64> =
            [("ETHUSDT".to_string(), 120.0)].into_iter().collect();
        let v = evaluate(Inputs {
            now: 200.5,
            bots: 1,
            bots_since: Some(100.0),
            feed: Some(&f),
            log_errors_1m: 0,
            settings: &s,
            declared: &[],
            seen: &seen,
            ready_since: 199.0,
            reconnected_at: None,
        });
        assert_eq!(v.health, FeedHealth::Stale);
        assert_eq!(v.why.as_deref(), Some("ETHUSDT: no market data for 80 s"));
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
