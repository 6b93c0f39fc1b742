//! The restart budget, as a pure type: exponential backoff with jitter, a cap on attempts and on
//! the total time spent failing, and a full reset once the thing has stayed up long enough. The
//! connector state machine uses it for restarts; a host link uses it for reconnects (DESIGN §3,
//! §12). No clock of its own: every call takes `now`.

use std::time::Duration;

use tokio::time::Instant;

use crate::manifest::RestartPolicy;

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

/// Failures counted against one [`RestartPolicy`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestartBudget {
    attempt: u32,
    streak_started: Option<Instant>,
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
    /// `uptime_reset`.
    pub fn reset(&mut self) {
        *self = RestartBudget::default();
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
