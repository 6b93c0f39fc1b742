//! The feed meter of one ready connector (DESIGN §10): what its `{NAME}/ToBot` samples say
//! about market data. Pure bookkeeping, no I/O: the iceoryx2 thread drains the console's passive
//! subscriber, calls [`FeedMeter::advance`] with the drain's wall-clock time and
//! [`FeedMeter::record`] per sample, and hands [`FeedMeter::stats`] to the engine.
//!
//! Only `Feed` samples (first byte 2) count as data; `Error` samples (first byte 5) are counted
//! per rolling minute; everything else (batches, orders, positions) is neither.

use std::collections::{HashMap, VecDeque};

use super::rolling::RollingMinute;
pub use crate::model::feed::{FeedStats, SymbolStats};
use crate::wire::hftbacktest::{symbol_of, EventKind};

/// Seconds of events/s history kept (the zoomed pane's sparkline).
pub const HISTORY_SECS: usize = 60;
/// Most symbols tracked per connector; further ones count in the totals only.
pub const MAX_SYMBOLS: usize = 512;

#[derive(Debug, Default)]
struct SymbolMeter {
    this_second: u64,
    last_second: u64,
    last_at: f64,
}

/// Counts the samples of one connector's `{NAME}/ToBot`.
#[derive(Debug)]
pub struct FeedMeter {
    since: f64,
    /// The wall-clock second the current bucket covers.
    second: i64,
    now: f64,
    events: u64,
    bytes: u64,
    last_events: u64,
    last_bytes: u64,
    history: VecDeque<u32>,
    total: u64,
    last_event_at: Option<f64>,
    errors: RollingMinute,
    symbols: HashMap<String, SymbolMeter>,
    /// The last second in which samples may have been lost.
    lossy_second: Option<i64>,
    interruptions: u64,
    last_interruption_at: Option<f64>,
    cleanup_cancels: u64,
    last_cleanup_cancel: Option<(String, u64)>,
}

impl FeedMeter {
    /// A meter opened at wall-clock time `now`.
    pub fn new(now: f64) -> FeedMeter {
        FeedMeter {
            since: now,
            second: now.floor() as i64,
            now,
            events: 0,
            bytes: 0,
            last_events: 0,
            last_bytes: 0,
            history: VecDeque::with_capacity(HISTORY_SECS),
            total: 0,
            last_event_at: None,
            errors: RollingMinute::default(),
            symbols: HashMap::new(),
            lossy_second: None,
            interruptions: 0,
            last_interruption_at: None,
            cleanup_cancels: 0,
            last_cleanup_cancel: None,
        }
    }

    /// Moves the clock to `now` (the time of the drain that follows). Completed seconds go
    /// into the history; seconds without a drain count as seconds without events.
    pub fn advance(&mut self, now: f64) {
        if now < self.now {
            return; // the wall clock stepped back: keep the buckets as they are
        }
        self.now = now;
        let second = now.floor() as i64;
        if second <= self.second {
            return;
        }
        let gap = second - self.second;
        // Before the first Feed event the history stays empty: a quiet connector's figures
        // never change, so it costs the console nothing.
        if self.total > 0 || !self.history.is_empty() {
            self.push_history(self.events.min(u32::MAX as u64) as u32);
            for _ in 1..gap.min(HISTORY_SECS as i64) {
                self.push_history(0);
            }
        }
        let one = gap == 1;
        self.last_events = if one { self.events } else { 0 };
        self.last_bytes = if one { self.bytes } else { 0 };
        self.events = 0;
        self.bytes = 0;
        for s in self.symbols.values_mut() {
            s.last_second = if one { s.this_second } else { 0 };
            s.this_second = 0;
        }
        self.second = second;
    }

    fn push_history(&mut self, n: u32) {
        if self.history.len() == HISTORY_SECS {
            self.history.pop_front();
        }
        self.history.push_back(n);
    }

    /// Counts one sample received at the current time.
    pub fn record(&mut self, payload: &[u8]) {
        match EventKind::of(payload) {
            EventKind::Feed => {
                self.events += 1;
                self.bytes += payload.len() as u64;
                self.total += 1;
                self.last_event_at = Some(self.now);
                if let Some(sym) = symbol_of(payload) {
                    let now = self.now;
                    if let Some(m) = self.symbols.get_mut(sym) {
                        m.this_second += 1;
                        m.last_at = now;
                    } else if self.symbols.len() < MAX_SYMBOLS {
                        self.symbols.insert(
                            sym.to_string(),
                            SymbolMeter {
                                this_second: 1,
                                last_second: 0,
                                last_at: now,
                            },
                        );
                    }
                }
            }
            EventKind::Error => {
                self.errors.add(self.now, 1);
                if crate::wire::hftbacktest::is_connection_interrupted(payload) {
                    self.interruptions += 1;
                    self.last_interruption_at = Some(self.now);
                }
            }
            EventKind::Order => {
                use crate::wire::hftbacktest::{order_event, STATUS_CANCELED, STATUS_NEW};
                if let Some(o) = order_event(payload)
                    .filter(|o| o.req == STATUS_NEW && o.status == STATUS_CANCELED)
                {
                    self.cleanup_cancels += 1;
                    self.last_cleanup_cancel = Some((o.symbol, o.order_id));
                }
            }
            EventKind::BatchStart
            | EventKind::BatchEnd
            | EventKind::Position
            | EventKind::Unknown(_) => {}
        }
    }

    /// Samples may have been lost in the current second (a drain found the buffer full).
    pub fn mark_lossy(&mut self) {
        self.lossy_second = Some(self.second);
    }

    /// When the last event came (Unix seconds), if any did.
    pub fn last_event_at(&self) -> Option<f64> {
        self.last_event_at
    }

    /// What the meter knows now.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            since: self.since,
            events_per_s: self.last_events as f64,
            bytes_per_s: self.last_bytes as f64,
            total: self.total,
            last_event_at: self.last_event_at,
            errors_1m: self.errors.total(self.now),
            symbols: self
                .symbols
                .iter()
                .map(|(k, m)| {
                    (
                        k.clone(),
                        SymbolStats {
                            events_per_s: m.last_second as f64,
                            last_event_at: m.last_at,
                        },
                    )
                })
                .collect(),
            history: self.history.iter().copied().collect(),
            lower_bound: self
                .lossy_second
                .is_some_and(|s| self.second - s < HISTORY_SECS as i64),
            interruptions: self.interruptions,
            last_interruption_at: self.last_interruption_at,
            cleanup_cancels: self.cleanup_cancels,
            last_cleanup_cancel: self.last_cleanup_cancel.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::hftbacktest::encode_with_symbol;

    fn feed(sym: &str) -> Vec<u8> {
        encode_with_symbol(EventKind::Feed, sym, 100)
    }

    #[test]
    fn counts_feed_per_second_and_per_symbol() {
        let mut m = FeedMeter::new(1000.2);
        for i in 0..50 {
            m.advance(1000.2 + i as f64 * 0.01);
            m.record(&feed("BTCUSDT"));
            m.record(&feed("ETHUSDT"));
        }
        m.advance(1001.1);
        let s = m.stats();
        assert_eq!(s.events_per_s, 100.0);
        assert_eq!(s.bytes_per_s, 10_000.0);
        assert_eq!(s.total, 100);
        assert_eq!(s.symbols["BTCUSDT"].events_per_s, 50.0);
        assert_eq!(s.history, vec![100]);
        assert!(!s.lower_bound);
        // Two quiet seconds later the rate is zero, the ages keep their absolute times.
        m.advance(1003.5);
        let s = m.stats();
        assert_eq!(s.events_per_s, 0.0);
        assert_eq!(s.history, vec![100, 0, 0]);
        assert!((s.last_event_at.expect("seen") - 1000.69).abs() < 1e-9);
    }

    #[test]
    fn error_samples_and_other_kinds_are_never_data() {
        let mut m = FeedMeter::new(10.0);
        m.record(&encode_with_symbol(EventKind::Error, "", 8));
        m.record(&encode_with_symbol(EventKind::Order, "BTCUSDT", 8));
        m.record(&[0]);
        m.record(&[]);
        let s = m.stats();
        assert_eq!(s.total, 0);
        assert_eq!(s.last_event_at, None);
        assert_eq!(s.errors_1m, 1);
        assert_eq!(s.interruptions, 1, "an Error of kind ConnectionInterrupted");
        assert!(s.symbols.is_empty());
        m.advance(75.0);
        assert_eq!(m.stats().errors_1m, 0, "errors age out after a minute");
    }

    #[test]
    fn history_is_bounded_and_symbols_are_capped() {
        let mut m = FeedMeter::new(0.0);
        for s in 0..200 {
            m.advance(s as f64);
            m.record(&feed(&format!("S{s}")));
            m.record(&feed(&format!("T{s}")));
            m.record(&feed(&format!("U{s}")));
        }
        let s = m.stats();
        assert_eq!(s.history.len(), HISTORY_SECS);
        assert_eq!(s.symbols.len(), MAX_SYMBOLS);
        assert_eq!(s.total, 600);
        m.mark_lossy();
        assert!(m.stats().lower_bound);
        m.advance(400.0);
        assert!(
            !m.stats().lower_bound,
            "a minute without loss is exact again"
        );
    }
}
