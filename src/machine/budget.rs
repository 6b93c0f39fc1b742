//! The restart budget, as a pure type: exponential backoff with jitter, a cap on attempts and on
//! the total time spent failing, and a full reset once the thing has stayed up long enough. The
//! connector state machine uses it for restarts; a host link uses it for reconnects (DESIGN §3,
//! §12). No clock of its own: every call takes `now`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use std::time::Instant;

pub use crate::model::restarts::CrashLoop;
use crate::model::RestartPolicy;

/// Restarts in one streak (no stay of `uptime_reset` between them) that make a crash loop: the
/// verdict every view shows until the connector has stayed up for `uptime_reset`.
pub const CRASH_LOOP_RESTARTS: u32 = 3;

/// What to do after one more failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Retry {
    /// Try again after `delay`; this is attempt `attempt` of `max_attempts`.
    After {
        attempt: u32,
        max_attempts: u32,
        delay: Duration,
    },
    /// The budget is spent; the reason says which limit ran out.
    GiveUp(String),
}

/// Failures counted against one [`RestartPolicy`], and the restarts made after them. A streak
/// runs from its first failure until the budget is earned back (an operator's start, or
/// staying up for `uptime_reset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestartBudget {
    attempt: u32,
    streak_started: Option<Instant>,
    /// Restarts the policy made in this streak.
    restarts: u32,
    last_restart: Option<Instant>,
}

/// A [`RestartBudget`] as `state.json` keeps it: wall-clock times (seconds since the Unix
/// epoch), so that a console that takes a connector over goes on counting where the last one
/// stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BudgetRecord {
    pub attempt: u32,
    pub streak_started_unix: Option<f64>,
    #[serde(default)]
    pub restarts: u32,
    #[serde(default)]
    pub last_restart_unix: Option<f64>,
}

/// Backoff before attempt `attempt` (1-based): initial × multiplier^(attempt-1), capped at
/// `max_backoff`, then ± `jitter`. `jitter_sample` is a uniform sample in [-1, 1].
pub fn backoff_delay(policy: &RestartPolicy, attempt: u32, jitter_sample: f64) -> Duration {
    let exp = policy
        .multiplier
        .powi(attempt.saturating_sub(1).min(64) as i32);
    let base = (policy.initial_backoff.as_secs_f64() * exp).min(policy.max_backoff.as_secs_f64());
    let factor = 1.0 + policy.jitter * jitter_sample.clamp(-1.0, 1.0);
    Duration::from_secs_f64((base * factor).max(0.0))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl RestartBudget {
    /// Failures in the current streak.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Earns back the whole budget: after an operator's start, or after staying up for
    /// `uptime_reset`. The streak (and a crash loop) ends with it.
    pub fn reset(&mut self) {
        *self = RestartBudget::default();
    }

    /// Notes a restart made in this streak (after a failure) at `now`.
    pub fn restarted(&mut self, now: Instant) {
        self.restarts = self.restarts.saturating_add(1);
        self.last_restart = Some(now);
    }

    /// The crash loop this streak is, if [`CRASH_LOOP_RESTARTS`] restarts were made in it.
    /// Pure: from the restarts' times alone. It lasts until the budget is earned back.
    pub fn crash_loop(&self) -> Option<CrashLoop> {
        if self.restarts < CRASH_LOOP_RESTARTS {
            return None;
        }
        let window = match (self.streak_started, self.last_restart) {
            (Some(first), Some(last)) => last.saturating_duration_since(first),
            _ => Duration::ZERO,
        };
        Some(CrashLoop {
            restarts: self.restarts,
            window_s: window.as_secs_f64().round() as u64,
        })
    }

    /// This budget with its times on the wall clock, `now` being `now_unix` (any one reading
    /// of both clocks: times before or after it are placed alike).
    pub fn record(&self, now: Instant, now_unix: f64) -> BudgetRecord {
        let unix = |t: Instant| {
            let secs = match t.checked_duration_since(now) {
                Some(after) => now_unix + after.as_secs_f64(),
                None => now_unix - now.saturating_duration_since(t).as_secs_f64(),
            };
            // Whole milliseconds: the same budget persists as the same value.
            (secs * 1000.0).round() / 1000.0
        };
        BudgetRecord {
            attempt: self.attempt,
            streak_started_unix: self.streak_started.map(unix),
            restarts: self.restarts,
            last_restart_unix: self.last_restart.map(unix),
        }
    }

    /// The budget `r` recorded, its times brought back to this process's clock (`now` being
    /// `now_unix`). A time that cannot be placed (corrupt, or before this clock's origin) is
    /// taken as `now`: the streak goes on, a little shorter.
    pub fn from_record(r: &BudgetRecord, now: Instant, now_unix: f64) -> RestartBudget {
        let instant = |t: f64| {
            Duration::try_from_secs_f64(now_unix - t)
                .ok()
                .and_then(|age| now.checked_sub(age))
                .unwrap_or(now)
        };
        RestartBudget {
            attempt: r.attempt,
            streak_started: r.streak_started_unix.map(instant),
            restarts: r.restarts,
            last_restart: r.last_restart_unix.map(instant),
        }
    }

    /// Counts one failure at `now` and says whether and when to retry. `reason` is the failure,
    /// quoted in the give-up message.
    pub fn next(
        &mut self,
        policy: &RestartPolicy,
        now: Instant,
        jitter_sample: f64,
        reason: &str,
    ) -> Retry {
        let streak_start = *self.streak_started.get_or_insert(now);
        self.attempt += 1;
        if self.attempt > policy.max_attempts {
            return Retry::GiveUp(format!(
                "gave up after {} restart attempts; last: {reason}",
                policy.max_attempts
            ));
        }
        let delay = backoff_delay(policy, self.attempt, jitter_sample);
        let elapsed = now.duration_since(streak_start);
        if elapsed + delay > policy.max_total {
            return Retry::GiveUp(format!(
                "gave up: failing for {} (max_total {}); last: {reason}",
                secs(elapsed),
                secs(policy.max_total)
            ));
        }
        Retry::After {
            attempt: self.attempt,
            max_attempts: policy.max_attempts,
            delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy::default()
    }

    #[test]
    fn backoff_doubles_from_one_second_to_the_cap_with_jitter() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(&p, 2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff_delay(&p, 5, 0.0), Duration::from_secs(16));
        assert_eq!(backoff_delay(&p, 6, 0.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(&p, 60, 0.0), Duration::from_secs(30));
        assert_eq!(backoff_delay(&p, 1, 1.0), Duration::from_secs_f64(1.2));
        assert_eq!(backoff_delay(&p, 1, -1.0), Duration::from_secs_f64(0.8));
        // Samples outside [-1, 1] are clamped: never more than ±jitter.
        assert_eq!(backoff_delay(&p, 1, 7.0), Duration::from_secs_f64(1.2));
    }

    #[test]
    fn attempts_run_out_after_max_attempts() {
        let p = RestartPolicy {
            max_attempts: 3,
            max_total: Duration::from_secs(3600),
            ..policy()
        };
        let mut b = RestartBudget::default();
        let t = Instant::now();
        for k in 1..=3 {
            match b.next(&p, t, 0.0, "boom") {
                Retry::After {
                    attempt,
                    max_attempts,
                    ..
                } => assert_eq!((attempt, max_attempts), (k, 3)),
                Retry::GiveUp(why) => panic!("gave up early: {why}"),
            }
        }
        match b.next(&p, t, 0.0, "boom") {
            Retry::GiveUp(why) => {
                assert!(why.contains("after 3 restart attempts") && why.contains("boom"))
            }
            other => panic!("expected give-up, got {other:?}"),
        }
    }

    #[test]
    fn total_time_failing_is_capped_from_the_first_failure() {
        let p = RestartPolicy {
            max_total: Duration::from_secs(10),
            ..policy()
        };
        let mut b = RestartBudget::default();
        let t0 = Instant::now();
        assert!(matches!(b.next(&p, t0, 0.0, "x"), Retry::After { .. }));
        // 9 s later the next delay (2 s) would end past max_total.
        match b.next(&p, t0 + Duration::from_secs(9), 0.0, "x") {
            Retry::GiveUp(why) => assert!(why.contains("max_total 10.0 s"), "{why}"),
            other => panic!("expected give-up, got {other:?}"),
        }
    }

    #[test]
    fn three_restarts_in_a_streak_are_a_crash_loop_until_the_budget_is_earned_back() {
        let p = policy();
        let mut b = RestartBudget::default();
        let t0 = Instant::now();
        for k in 0..CRASH_LOOP_RESTARTS {
            assert_eq!(b.crash_loop(), None, "after {k} restarts");
            let failed = t0 + Duration::from_secs(u64::from(k) * 4);
            assert!(matches!(b.next(&p, failed, 0.0, "x"), Retry::After { .. }));
            b.restarted(failed + Duration::from_secs(2));
        }
        let cl = b.crash_loop().expect("a crash loop");
        assert_eq!(
            cl,
            CrashLoop {
                restarts: 3,
                window_s: 10
            }
        );
        assert_eq!(cl.describe(), "crash-looping (3 restarts in 10 s)");
        assert_eq!(
            CrashLoop {
                restarts: 12,
                window_s: 330
            }
            .describe(),
            "crash-looping (12 restarts in 6 min)"
        );
        // The record round-trips, times and all.
        let now = t0 + Duration::from_secs(60);
        let back = RestartBudget::from_record(&b.record(now, 1000.0), now, 1000.0);
        assert_eq!(back.crash_loop(), Some(cl));
        assert_eq!(back.attempt(), 3);
        b.reset();
        assert_eq!(b.crash_loop(), None, "staying up ends it");
    }

    #[test]
    fn reset_earns_back_the_whole_budget() {
        let p = RestartPolicy {
            max_attempts: 1,
            ..policy()
        };
        let mut b = RestartBudget::default();
        let t = Instant::now();
        assert!(matches!(b.next(&p, t, 0.0, "x"), Retry::After { .. }));
        assert!(matches!(b.next(&p, t, 0.0, "x"), Retry::GiveUp(_)));
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert!(matches!(b.next(&p, t, 0.0, "x"), Retry::After { .. }));
    }
}
