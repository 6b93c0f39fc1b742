//! Whether a ready connector's exchange stream is evidently up (DESIGN §1, §13): the gate the
//! console's own registrations wait behind. A `RegisterInstrument` for a symbol new to the process
//! while its market-data stream is between connection attempts crashes the real connector
//! (`SendError("SYMBOL")`), so "ready" is not enough. Pure: the caller passes the times (Unix
//! seconds).
//!
//! The stream counts as up once nothing said it failed for `connect_grace` since `ready`. After
//! failures (the exchange's stream-error line in the log, or a `ConnectionInterrupted` Error
//! sample), the connector retries with a backoff that doubles from 0.1 s up to 60 s, so a quiet
//! spell alone proves nothing: the silence since the last failure must also be longer than twice
//! the last gap between failures, plus a margin: by then the next attempt would have failed, so
//! it succeeded.

use std::collections::VecDeque;

/// Failures closer together than this are one burst (the log line and the Error sample of one
/// attempt, read a moment apart).
pub const BURST: f64 = 0.5;
/// Added to twice the last gap: the time a connection attempt itself takes.
pub const MARGIN: f64 = 1.0;
/// Failures remembered (for the "N stream errors in the last 3 s" count).
const KEEP: usize = 64;

/// What the gate says now.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// The stream is evidently up.
    Up,
    /// Not yet: why, and the earliest time it could open (if nothing else fails).
    Held { why: String, until: f64 },
}

/// The failures of one connector process's exchange stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamWatch {
    /// Start of each failure burst (newest last).
    bursts: VecDeque<f64>,
    /// Every failure's time (newest last), for the recent count.
    failures: VecDeque<f64>,
    /// The last failure of the newest burst.
    last: Option<f64>,
}

impl StreamWatch {
    /// One failure at `at`.
    pub fn failed(&mut self, at: f64) {
        if self.failures.len() == KEEP {
            self.failures.pop_front();
        }
        self.failures.push_back(at);
        match self.last {
            Some(last) if at - last < BURST => {}
            _ => {
                if self.bursts.len() == KEEP {
                    self.bursts.pop_front();
                }
                self.bursts.push_back(at);
            }
        }
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// When the last failure came, if any.
    pub fn last_failure(&self) -> Option<f64> {
        self.last
    }

    /// Failures in the `window` seconds before `now`.
    pub fn recent(&self, now: f64, window: f64) -> usize {
        self.failures.iter().filter(|t| now - **t <= window).count()
    }

    /// Whether the stream of a process ready since `ready_at` is up at `now`.
    pub fn gate(&self, now: f64, ready_at: f64, connect_grace: f64) -> Gate {
        let Some(last) = self.last else {
            let until = ready_at + connect_grace;
            return if now >= until {
                Gate::Up
            } else {
                Gate::Held {
                    why: format!(
                        "waiting {:.0} s for the exchange stream to connect",
                        (until - now).ceil()
                    ),
                    until,
                }
            };
        };
        let gap = match (self.bursts.len(), self.bursts.back()) {
            (n, Some(newest)) if n >= 2 => newest - self.bursts[n - 2],
            _ => 0.0,
        };
        let wait = connect_grace.max(2.0 * gap + MARGIN);
        let until = (last + wait).max(ready_at + connect_grace);
        if now >= until {
            return Gate::Up;
        }
        let n = self.recent(now, connect_grace.max(1.0));
        let why = if n > 0 {
            format!(
                "exchange unreachable ({n} stream error{} in the last {:.0} s)",
                if n == 1 { "" } else { "s" },
                connect_grace.max(1.0)
            )
        } else {
            format!(
                "exchange stream reconnecting (last error {:.0} s ago; up once quiet for {:.0} s)",
                (now - last).floor(),
                wait.ceil()
            )
        };
        Gate::Held { why, until }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_stream_is_up_after_the_grace() {
        let w = StreamWatch::default();
        assert!(matches!(w.gate(101.0, 100.0, 3.0), Gate::Held { until, .. } if until == 103.0));
        assert_eq!(w.gate(103.0, 100.0, 3.0), Gate::Up);
    }

    #[test]
    fn after_errors_the_silence_must_outlast_twice_the_last_gap() {
        // The real connector's backoff: attempts at 0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s.
        let mut w = StreamWatch::default();
        for t in [0.0, 0.1, 0.3, 0.7, 1.5, 3.1] {
            w.failed(100.0 + t);
        }
        // Bursts: 100.0 (0 to 0.7, each within 0.5 s of the one before), 101.5, 103.1; last gap
        // 1.6 s: up once quiet for 2 × 1.6 + 1 = 4.2 s after 103.1.
        assert!(
            matches!(w.gate(106.0, 100.0, 3.0), Gate::Held { why, .. } if why.contains("1 stream error in the last 3 s"))
        );
        let held = w.gate(106.5, 100.0, 3.0);
        match held {
            Gate::Held { why, until } => {
                assert!((until - 107.3).abs() < 1e-9, "{until}");
                assert!(why.contains("reconnecting"), "{why}");
            }
            Gate::Up => panic!("opened during the backoff"),
        }
        assert_eq!(w.gate(107.3, 100.0, 3.0), Gate::Up);
        // Errors that resume close it again.
        w.failed(108.0);
        assert!(matches!(w.gate(108.5, 100.0, 3.0), Gate::Held { .. }));
    }

    #[test]
    fn recent_errors_are_counted_in_the_reason() {
        let mut w = StreamWatch::default();
        for i in 0..14 {
            w.failed(200.0 + i as f64 * 0.2);
        }
        match w.gate(203.0, 199.0, 3.0) {
            Gate::Held { why, .. } => assert_eq!(
                why,
                "exchange unreachable (14 stream errors in the last 3 s)"
            ),
            Gate::Up => panic!("up while failing"),
        }
    }
}
