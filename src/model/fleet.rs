//! The fleet at a glance: `3 ready · 1 backoff · 1 stale · 1 crash-looping`, counted once for
//! every front end (the TUI's status bar, systemd's `STATUS=` line).

use super::health::FeedHealth;
use super::phase::Phase;

/// What the summary needs of one connector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub phase: Phase,
    pub health: Option<FeedHealth>,
    pub crash_loop: bool,
    pub restart_needed: bool,
}

/// One part of the summary: what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    Phase(Phase),
    /// Stale or erroring feeds (the unhealthy ones).
    Health(FeedHealth),
    CrashLooping,
    RestartNeeded,
}

impl Counted {
    /// The word after the count, lowercase (a front end may shout it).
    pub fn word(self) -> &'static str {
        match self {
            Counted::Phase(p) => p.as_str(),
            Counted::Health(h) => h.as_str(),
            Counted::CrashLooping => "crash-looping",
            Counted::RestartNeeded => "restart needed",
        }
    }
}

/// The phases in the order the summary lists them: running first, at rest last.
pub const PHASE_ORDER: [Phase; 9] = [
    Phase::Ready,
    Phase::Starting,
    Phase::Building,
    Phase::Backoff,
    Phase::Stopping,
    Phase::Exited,
    Phase::Failed,
    Phase::Stopped,
    Phase::Idle,
];

/// The non-zero counts: phases in [`PHASE_ORDER`], then stale and erroring feeds, crash loops
/// and entries waiting for a restart.
pub fn counts(fleet: &[Standing]) -> Vec<(Counted, usize)> {
    let count = |f: &dyn Fn(&Standing) -> bool| fleet.iter().filter(|s| f(s)).count();
    let mut out = Vec::new();
    for p in PHASE_ORDER {
        out.push((Counted::Phase(p), count(&|s| s.phase == p)));
    }
    for h in [FeedHealth::Stale, FeedHealth::Erroring] {
        out.push((Counted::Health(h), count(&|s| s.health == Some(h))));
    }
    out.push((Counted::CrashLooping, count(&|s| s.crash_loop)));
    out.push((Counted::RestartNeeded, count(&|s| s.restart_needed)));
    out.retain(|(_, n)| *n > 0);
    out
}

/// The summary in one line, `no connectors` for none.
pub fn summary(fleet: &[Standing]) -> String {
    if fleet.is_empty() {
        return "no connectors".into();
    }
    counts(fleet)
        .iter()
        .map(|(c, n)| format!("{n} {}", c.word()))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(phase: Phase) -> Standing {
        Standing {
            phase,
            health: None,
            crash_loop: false,
            restart_needed: false,
        }
    }

    #[test]
    fn counts_come_in_lifecycle_order_then_the_troubles() {
        let fleet = [
            Standing {
                crash_loop: true,
                restart_needed: true,
                ..at(Phase::Backoff)
            },
            Standing {
                health: Some(FeedHealth::Erroring),
                ..at(Phase::Ready)
            },
            at(Phase::Idle),
            at(Phase::Ready),
        ];
        assert_eq!(
            summary(&fleet),
            "2 ready · 1 backoff · 1 idle · 1 erroring · 1 crash-looping · 1 restart needed"
        );
        assert_eq!(summary(&[]), "no connectors");
    }
}
