//! Every transition of the pure state machine, with paused time and no processes.

use std::time::Duration;

use tokio::time::advance;

/// Now on tokio's (paused) clock, as the std instant the pure core keeps.
fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

use super::state::*;
use crate::config::manifest::{RestartPolicy, RestartPolicyKind};
use crate::model::exit::ExitStatus;
use crate::model::phase::Phase;
use crate::model::{CannotStart, Fact, StartBlock};

fn settings() -> Settings {
    Settings {
        binary: "/opt/hftbacktest/target/release/connector".into(),
        startup_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(5),
        auto_build: true,
        restart: RestartPolicy {
            jitter: 0.0,
            ..RestartPolicy::default()
        },
    }
}

fn ctx() -> Ctx {
    Ctx {
        now: now(),
        jitter: 0.0,
        cannot_start: None,
    }
}

struct M {
    s: Settings,
    st: ConnectorState,
}

impl M {
    fn new() -> M {
        M::with(settings())
    }
    fn with(s: Settings) -> M {
        M {
            s,
            st: ConnectorState::default(),
        }
    }
    fn with_restart(restart: RestartPolicy) -> M {
        M::with(Settings {
            restart,
            ..settings()
        })
    }
    fn ev(&mut self, e: Event) -> Vec<Effect> {
        self.st.handle(&self.s, e, ctx())
    }
    fn cmd(&mut self, c: Command) -> Vec<Effect> {
        self.ev(Event::Command(c))
    }
    fn timer(&mut self, kind: TimerKind) -> Vec<Effect> {
        let epoch = self.st.epoch;
        self.ev(Event::Timer { kind, epoch })
    }
    fn exit(&mut self, status: ExitStatus) -> Vec<Effect> {
        self.ev(Event::Exited {
            status: Some(status),
            summary: Some("boom".into()),
            send_error: false,
        })
    }
    /// Takes over PID 77 (4 restarts so far), started 3 s ago.
    fn adopt(&mut self, ready: bool, stopping: Option<StopIntent>) -> Vec<Effect> {
        let (st, fx) = ConnectorState::take_over(
            &self.s,
            Takeover {
                pid: 77,
                restarts: 4,
                budget: Default::default(),
                started_at: now().checked_sub(Duration::from_secs(3)),
                ready,
                stopping,
            },
            ctx(),
        );
        self.st = st;
        fx
    }
    /// Idle → Ready with PID 42.
    fn ready(&mut self) {
        self.cmd(Command::Start);
        self.ev(Event::Spawned { pid: 42 });
        self.ev(Event::Probe {
            ready: true,
            bots: 0,
        });
        assert_eq!(self.st.phase, Phase::Ready);
    }
}

fn phases(fx: &[Effect]) -> Vec<Phase> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Transition { phase, .. } => Some(*phase),
            _ => None,
        })
        .fold(Vec::new(), |mut v, p| {
            if v.last() != Some(&p) {
                v.push(p);
            }
            v
        })
}

fn timer_of(fx: &[Effect], kind: TimerKind) -> Option<Duration> {
    fx.iter().find_map(|e| match e {
        Effect::ArmTimer { kind: k, after, .. } if *k == kind => Some(*after),
        _ => None,
    })
}

#[tokio::test(start_paused = true)]
async fn start_spawn_probe_ready() {
    let mut m = M::new();
    let fx = m.cmd(Command::Start);
    assert_eq!(phases(&fx), [Phase::Starting]);
    assert!(fx.contains(&Effect::Spawn));
    let fx = m.ev(Event::Spawned { pid: 42 });
    assert_eq!(
        timer_of(&fx, TimerKind::StartupTimeout),
        Some(Duration::from_secs(10))
    );
    advance(Duration::from_millis(30)).await;
    let fx = m.ev(Event::Probe {
        ready: true,
        bots: 2,
    });
    assert_eq!(phases(&fx), [Phase::Ready]);
    assert_eq!(m.st.detail, "ready in 30 ms");
    assert_eq!(m.st.bots, 2);
    assert_eq!(
        timer_of(&fx, TimerKind::UptimeReset),
        Some(Duration::from_secs(30))
    );
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_is_not_ready_keeps_starting() {
    let mut m = M::new();
    m.cmd(Command::Start);
    m.ev(Event::Spawned { pid: 42 });
    let fx = m.ev(Event::Probe {
        ready: false,
        bots: 1,
    });
    assert!(fx.is_empty());
    assert_eq!(m.st.phase, Phase::Starting);
}

#[tokio::test(start_paused = true)]
async fn missing_binary_builds_first_then_starts() {
    let mut m = M::new();
    let fx = m.st.handle(&m.s, Event::Command(Command::Start), unbuilt());
    assert_eq!(phases(&fx), [Phase::Building]);
    assert!(fx.contains(&Effect::Build { force: false }));
    let fx = m.ev(Event::BuildFinished(Ok(())));
    assert_eq!(phases(&fx), [Phase::Starting]);
    assert!(fx.contains(&Effect::Spawn));
}

#[tokio::test(start_paused = true)]
async fn missing_binary_without_auto_build_fails() {
    let mut m = M::with(Settings {
        auto_build: false,
        ..settings()
    });
    let fx = m.st.handle(&m.s, Event::Command(Command::Start), unbuilt());
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(m.st.detail.contains("auto_build"));
    // It names the path it looked for.
    assert!(
        m.st.detail
            .contains("/opt/hftbacktest/target/release/connector"),
        "{}",
        m.st.detail
    );
    assert!(!fx.contains(&Effect::Spawn));
}

#[tokio::test(start_paused = true)]
async fn build_success_is_idle_failure_is_failed_and_stop_cancels() {
    let mut m = M::new();
    assert_eq!(
        phases(&m.cmd(Command::Build { force: true })),
        [Phase::Building]
    );
    assert_eq!(phases(&m.ev(Event::BuildFinished(Ok(())))), [Phase::Idle]);
    m.cmd(Command::Build { force: false });
    let fx = m.ev(Event::BuildFinished(Err("error[E0425]: x".into())));
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert_eq!(m.st.detail, "error[E0425]: x");
    m.cmd(Command::Build { force: false });
    let fx = m.cmd(Command::Stop);
    assert!(fx.contains(&Effect::CancelBuild));
    assert_eq!(phases(&fx), [Phase::Idle]);
    // A late result of the cancelled build changes nothing.
    assert!(m.ev(Event::BuildFinished(Ok(()))).is_empty());
}

#[tokio::test(start_paused = true)]
async fn build_is_refused_while_running() {
    let mut m = M::new();
    m.ready();
    let fx = m.cmd(Command::Build { force: false });
    assert!(!fx.iter().any(|e| matches!(e, Effect::Build { .. })));
    assert_eq!(m.st.phase, Phase::Ready);
    assert!(m.st.detail.contains("stop it first"));
}

#[tokio::test(start_paused = true)]
async fn stop_sends_sigterm_then_sigkill_at_the_grace_timer() {
    let mut m = M::new();
    m.ready();
    let fx = m.cmd(Command::Stop);
    assert_eq!(phases(&fx), [Phase::Stopping]);
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
    assert_eq!(
        timer_of(&fx, TimerKind::ShutdownGrace),
        Some(Duration::from_secs(5))
    );
    assert_eq!(m.st.deadline, Some(now() + Duration::from_secs(5)));
    advance(Duration::from_secs(5)).await;
    let fx = m.timer(TimerKind::ShutdownGrace);
    assert!(fx.contains(&Effect::Signal(Sig::Kill)));
    let fx = m.exit(ExitStatus::Signal(9));
    assert_eq!(phases(&fx), [Phase::Stopped]);
    assert!(m.st.detail.contains("SIGKILL after 5.0 s"));
    assert_eq!(m.st.pid, None);
}

#[tokio::test(start_paused = true)]
async fn a_stale_grace_timer_never_kills_a_restarted_connector() {
    let mut m = M::new();
    m.ready();
    m.cmd(Command::Stop);
    let stale_epoch = m.st.epoch;
    m.exit(ExitStatus::Code(0));
    m.cmd(Command::Start);
    m.ev(Event::Spawned { pid: 43 });
    m.ev(Event::Probe {
        ready: true,
        bots: 0,
    });
    let fx = m.ev(Event::Timer {
        kind: TimerKind::ShutdownGrace,
        epoch: stale_epoch,
    });
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(m.st.phase, Phase::Ready);
}

#[tokio::test(start_paused = true)]
async fn senderror_after_sigterm_is_a_normal_stop() {
    let mut m = M::new();
    m.ready();
    m.cmd(Command::Stop);
    let fx = m.ev(Event::Exited {
        status: Some(ExitStatus::Code(1)),
        summary: None,
        send_error: true,
    });
    assert_eq!(phases(&fx), [Phase::Stopped]);
    assert!(m.st.detail.contains("SendError"));
    assert!(!fx.iter().any(|e| matches!(e, Effect::ArmTimer { .. })));
}

#[tokio::test(start_paused = true)]
async fn an_exit_on_its_own_backs_off_then_restarts() {
    let mut m = M::new();
    m.ready();
    let fx = m.exit(ExitStatus::Code(1));
    assert_eq!(phases(&fx), [Phase::Exited, Phase::Backoff]);
    assert_eq!(
        timer_of(&fx, TimerKind::Backoff),
        Some(Duration::from_secs(1))
    );
    assert!(m.st.detail.contains("attempt 1/20"), "{}", m.st.detail);
    assert!(m.st.detail.contains("(code 1): boom"), "{}", m.st.detail);
    assert_eq!(m.st.last_exit, Some(ExitStatus::Code(1)));
    advance(Duration::from_secs(1)).await;
    let fx = m.timer(TimerKind::Backoff);
    assert_eq!(phases(&fx), [Phase::Starting]);
    assert_eq!(m.st.restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn the_budget_runs_out_by_attempts() {
    let mut m = M::with_restart(RestartPolicy {
        max_attempts: 2,
        jitter: 0.0,
        ..RestartPolicy::default()
    });
    m.ready();
    for _ in 0..2 {
        m.exit(ExitStatus::Code(1));
        assert_eq!(m.st.phase, Phase::Backoff);
        m.timer(TimerKind::Backoff);
        m.ev(Event::Spawned { pid: 44 });
    }
    let fx = m.exit(ExitStatus::Code(1));
    assert_eq!(phases(&fx), [Phase::Exited, Phase::Failed]);
    assert!(m.st.detail.contains("gave up after 2"), "{}", m.st.detail);
}

#[tokio::test(start_paused = true)]
async fn the_budget_runs_out_by_total_time() {
    let mut m = M::with_restart(RestartPolicy {
        max_total: Duration::from_secs(10),
        jitter: 0.0,
        ..RestartPolicy::default()
    });
    m.ready();
    m.exit(ExitStatus::Code(1)); // streak starts, 1 s backoff
    advance(Duration::from_secs(8)).await;
    m.timer(TimerKind::Backoff);
    m.ev(Event::Spawned { pid: 44 });
    let fx = m.exit(ExitStatus::Code(1)); // 8 s in, next delay 2 s would pass 10 s
    assert_eq!(phases(&fx), [Phase::Exited, Phase::Backoff]);
    m.timer(TimerKind::Backoff);
    m.ev(Event::Spawned { pid: 45 });
    advance(Duration::from_secs(1)).await;
    let fx = m.exit(ExitStatus::Code(1)); // 9 s in, +4 s > 10 s
    assert_eq!(phases(&fx), [Phase::Exited, Phase::Failed]);
    assert!(m.st.detail.contains("max_total 10.0 s"), "{}", m.st.detail);
}

#[tokio::test(start_paused = true)]
async fn staying_ready_resets_the_budget() {
    let mut m = M::new();
    m.ready();
    m.exit(ExitStatus::Code(1));
    m.timer(TimerKind::Backoff);
    m.ev(Event::Spawned { pid: 44 });
    m.ev(Event::Probe {
        ready: true,
        bots: 0,
    });
    assert_eq!(m.st.budget.attempt(), 1);
    advance(Duration::from_secs(30)).await;
    m.timer(TimerKind::UptimeReset);
    assert_eq!(m.st.budget.attempt(), 0);
    m.exit(ExitStatus::Code(1));
    assert!(m.st.detail.contains("attempt 1/20"), "{}", m.st.detail);
    assert_eq!(m.st.restarts, 1, "restarts keep counting");
}

#[tokio::test(start_paused = true)]
async fn policy_never_stays_exited() {
    let mut m = M::with_restart(RestartPolicy {
        policy: RestartPolicyKind::Never,
        ..RestartPolicy::default()
    });
    m.ready();
    let fx = m.exit(ExitStatus::Signal(11));
    assert_eq!(phases(&fx), [Phase::Exited]);
    assert!(m.st.detail.contains("signal 11"));
}

/// SIGBUS (signal 7) is how a connector dies when /dev/shm is full (a touched page of its
/// shared memory cannot be backed): the exit detail says so.
#[tokio::test(start_paused = true)]
async fn a_sigbus_exit_hints_at_a_full_dev_shm() {
    let mut m = M::with_restart(RestartPolicy {
        policy: RestartPolicyKind::Never,
        ..RestartPolicy::default()
    });
    m.ready();
    m.exit(ExitStatus::Signal(7));
    assert!(m.st.detail.contains("signal 7"), "{}", m.st.detail);
    assert!(m.st.detail.contains("/dev/shm"), "{}", m.st.detail);
    // Not on other signals.
    let mut m = M::with_restart(RestartPolicy {
        policy: RestartPolicyKind::Never,
        ..RestartPolicy::default()
    });
    m.ready();
    m.exit(ExitStatus::Signal(11));
    assert!(!m.st.detail.contains("/dev/shm"), "{}", m.st.detail);
}

#[tokio::test(start_paused = true)]
async fn stop_during_backoff_cancels_the_restart() {
    let mut m = M::new();
    m.ready();
    m.exit(ExitStatus::Code(1));
    let epoch = m.st.epoch;
    let fx = m.cmd(Command::Stop);
    assert_eq!(phases(&fx), [Phase::Stopped]);
    let fx = m.ev(Event::Timer {
        kind: TimerKind::Backoff,
        epoch,
    });
    assert!(fx.is_empty());
    assert_eq!(m.st.phase, Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn operator_restart_stops_then_starts_without_a_stopped_phase() {
    let mut m = M::new();
    m.ready();
    let fx = m.cmd(Command::Restart);
    assert_eq!(phases(&fx), [Phase::Stopping]);
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
    let fx = m.exit(ExitStatus::Code(0));
    assert_eq!(phases(&fx), [Phase::Starting]);
    assert!(fx.contains(&Effect::Spawn));
    assert_eq!(m.st.restarts, 1);
}

#[tokio::test(start_paused = true)]
async fn stop_while_the_spawn_is_in_flight_signals_once_spawned() {
    let mut m = M::new();
    m.cmd(Command::Start);
    let fx = m.cmd(Command::Stop);
    assert_eq!(phases(&fx), [Phase::Stopping]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Signal(_))));
    let fx = m.ev(Event::Spawned { pid: 42 });
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
    assert!(timer_of(&fx, TimerKind::ShutdownGrace).is_some());
    assert_eq!(phases(&m.exit(ExitStatus::Code(0))), [Phase::Stopped]);
}

#[tokio::test(start_paused = true)]
async fn startup_timeout_stops_and_counts_a_failure() {
    let mut m = M::new();
    m.cmd(Command::Start);
    m.ev(Event::Spawned { pid: 42 });
    advance(Duration::from_secs(10)).await;
    let fx = m.timer(TimerKind::StartupTimeout);
    assert_eq!(phases(&fx), [Phase::Stopping]);
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
    let fx = m.exit(ExitStatus::Code(0));
    assert_eq!(phases(&fx), [Phase::Backoff]);
    assert!(
        m.st.detail.contains("not ready in 10.0 s"),
        "{}",
        m.st.detail
    );
    assert_eq!(m.st.budget.attempt(), 1);
}

#[tokio::test(start_paused = true)]
async fn kill_sends_sigkill_at_once() {
    let mut m = M::new();
    m.ready();
    let fx = m.cmd(Command::Kill);
    assert!(fx.contains(&Effect::Signal(Sig::Kill)));
    assert!(!fx.contains(&Effect::Signal(Sig::Term)));
    let fx = m.exit(ExitStatus::Signal(9));
    assert_eq!(phases(&fx), [Phase::Stopped]);
    assert!(m.st.detail.contains("killed by the operator"));
}

#[tokio::test(start_paused = true)]
async fn probes_while_ready_track_bots_and_degradation() {
    let mut m = M::new();
    m.ready();
    m.ev(Event::Probe {
        ready: true,
        bots: 3,
    });
    assert_eq!(m.st.bots, 3);
    m.ev(Event::Probe {
        ready: false,
        bots: 0,
    });
    assert!(m.st.degraded);
    assert_eq!(m.st.phase, Phase::Ready);
    assert!(m.st.detail.contains("degraded"));
    m.ev(Event::Probe {
        ready: true,
        bots: 0,
    });
    assert!(!m.st.degraded);
}

#[tokio::test(start_paused = true)]
async fn a_refused_start_fails_unless_policy_is_always() {
    let mut m = M::new();
    m.cmd(Command::Start);
    let fx = m.ev(Event::SpawnFailed {
        kind: SpawnFailure::Refused,
        message: "in use by PID 7".into(),
    });
    assert_eq!(phases(&fx), [Phase::Failed]);
    let mut m = M::with_restart(RestartPolicy {
        policy: RestartPolicyKind::Always,
        ..RestartPolicy::default()
    });
    m.cmd(Command::Start);
    let fx = m.ev(Event::SpawnFailed {
        kind: SpawnFailure::Refused,
        message: "in use by PID 7".into(),
    });
    assert_eq!(phases(&fx), [Phase::Backoff]);
}

#[tokio::test(start_paused = true)]
async fn commands_at_rest_do_nothing() {
    let mut m = M::new();
    assert!(m.cmd(Command::Stop).is_empty());
    assert!(m.cmd(Command::Kill).is_empty());
    m.ready();
    assert!(m.cmd(Command::Start).is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_adopted_connector_exits_with_an_unknown_status_and_is_restarted() {
    let mut m = M::new();
    m.adopt(true, None);
    assert_eq!(m.st.phase, Phase::Ready);
    let fx = m.ev(Event::Exited {
        status: None,
        summary: None,
        send_error: false,
    });
    assert_eq!(phases(&fx), [Phase::Exited, Phase::Backoff]);
    assert_eq!(m.st.last_exit, None, "an unknown status is not invented");
    assert!(
        m.st.detail.contains("exit status unknown"),
        "{}",
        m.st.detail
    );
    assert_eq!(m.st.restarts, 4);
}

#[tokio::test(start_paused = true)]
async fn a_gone_connector_is_exited_and_can_be_started() {
    let mut m = M::new();
    m.st = ConnectorState::gone("process 5 is gone".into(), 1, None);
    assert_eq!(m.st.phase, Phase::Exited);
    assert_eq!(phases(&m.cmd(Command::Start)), [Phase::Starting]);
}

#[tokio::test(start_paused = true)]
async fn a_process_adopted_before_it_was_ready_is_watched_not_started_again() {
    let mut m = M::new();
    let fx = m.adopt(false, None);
    assert_eq!(m.st.phase, Phase::Starting);
    assert_eq!(m.st.pid, Some(77));
    assert!(!fx.contains(&Effect::Spawn), "never a second process");
    // What is left of its 10 s startup timeout: it started 3 s ago.
    assert!(fx.contains(&Effect::ArmTimer {
        kind: TimerKind::StartupTimeout,
        after: Duration::from_secs(7),
        epoch: m.st.epoch,
    }));
    assert!(m.cmd(Command::Start).is_empty(), "autostart does nothing");
    m.ev(Event::Probe {
        ready: true,
        bots: 0,
    });
    assert_eq!(m.st.phase, Phase::Ready);
    // Not ready in time: stopped like any start that times out.
    let mut m = M::new();
    m.adopt(false, None);
    let fx = m.timer(TimerKind::StartupTimeout);
    assert_eq!(m.st.phase, Phase::Stopping);
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
}

#[tokio::test(start_paused = true)]
async fn a_stop_in_progress_is_carried_out_by_the_next_console() {
    let mut m = M::new();
    let fx = m.adopt(
        true,
        Some(StopIntent {
            left: Duration::from_millis(2500),
            kill: false,
        }),
    );
    assert_eq!(m.st.phase, Phase::Stopping);
    assert!(!fx.contains(&Effect::Signal(Sig::Term)), "SIGTERM was sent");
    assert!(fx.contains(&Effect::ArmTimer {
        kind: TimerKind::ShutdownGrace,
        after: Duration::from_millis(2500),
        epoch: m.st.epoch,
    }));
    let fx = m.timer(TimerKind::ShutdownGrace);
    assert!(fx.contains(&Effect::Signal(Sig::Kill)));
    m.ev(Event::Exited {
        status: None,
        summary: None,
        send_error: false,
    });
    assert_eq!(m.st.phase, Phase::Stopped, "a stop, never a restart");
    // Past its deadline, or a kill: SIGKILL at once.
    for stop in [
        StopIntent {
            left: Duration::ZERO,
            kill: false,
        },
        StopIntent {
            left: Duration::from_secs(4),
            kill: true,
        },
    ] {
        let mut m = M::new();
        let fx = m.adopt(true, Some(stop));
        assert!(fx.contains(&Effect::Signal(Sig::Kill)), "{stop:?}: {fx:?}");
        assert_eq!(m.st.is_killing(), stop.kill);
    }
}

/// The context of an event before which the runtime's pre-flight found `problem` (its config
/// or a program no build makes runnable).
fn cannot_start(problem: &str) -> Ctx {
    let reason = match problem.starts_with("config") {
        true => StartBlock::Config,
        false => StartBlock::Program,
    };
    Ctx {
        cannot_start: Some(CannotStart {
            reason,
            why: problem.into(),
        }),
        ..ctx()
    }
}

/// The context of an event before which the pre-flight found the binary missing where a build
/// puts it.
fn unbuilt() -> Ctx {
    Ctx {
        cannot_start: Some(CannotStart {
            reason: StartBlock::Unbuilt,
            why: "binary /opt/hftbacktest/target/release/connector does not exist".into(),
        }),
        ..ctx()
    }
}

#[tokio::test(start_paused = true)]
async fn a_restart_that_could_not_start_a_new_process_leaves_the_running_one_alone() {
    let mut m = M::new();
    m.ready();
    let epoch = m.st.epoch;
    let problem = "config /x/b.toml cannot be read (No such file or directory)";
    let fx = m.st.handle(
        &m.s,
        Event::Command(Command::Restart),
        cannot_start(problem),
    );
    assert_eq!(
        fx,
        vec![Effect::Refused {
            what: "restart".into(),
            why: problem.into(),
        }],
        "nothing but the refusal: no signal, no transition"
    );
    assert_eq!(
        (m.st.phase, m.st.pid, m.st.epoch),
        (Phase::Ready, Some(42), epoch)
    );
    // The same for a stale feed's restart: refused, the process keeps running.
    let fx = m.st.handle(
        &m.s,
        Event::StaleFeed {
            why: "no market data for 10 s".into(),
        },
        cannot_start(problem),
    );
    assert!(
        matches!(&fx[..], [Effect::Refused { what, why }] if what.starts_with("stale-feed restart") && why == problem),
        "{fx:?}"
    );
    assert_eq!((m.st.phase, m.st.pid), (Phase::Ready, Some(42)));
    // With nothing wrong the restart goes ahead.
    let fx = m.cmd(Command::Restart);
    assert!(fx.contains(&Effect::Signal(Sig::Term)));
}

#[tokio::test(start_paused = true)]
async fn a_start_that_cannot_produce_a_process_fails_with_why_or_counts_against_the_budget() {
    // By the operator, from rest: failed, naming the problem, nothing spawned.
    let mut m = M::new();
    let problem = "binary /x/connector is not executable (mode 644); chmod +x it";
    let fx =
        m.st.handle(&m.s, Event::Command(Command::Start), cannot_start(problem));
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(!fx.contains(&Effect::Spawn));
    assert_eq!(m.st.detail, format!("cannot start: {problem}"));
    // By the restart policy (a backoff ran out): one more failure, so it retries when the
    // file is back, and gives up once the budget is spent.
    let mut m = M::with_restart(RestartPolicy {
        max_attempts: 2,
        jitter: 0.0,
        ..RestartPolicy::default()
    });
    m.ready();
    m.exit(ExitStatus::Code(1));
    let epoch = m.st.epoch;
    let fx = m.st.handle(
        &m.s,
        Event::Timer {
            kind: TimerKind::Backoff,
            epoch,
        },
        cannot_start(problem),
    );
    assert_eq!(phases(&fx), [Phase::Backoff]);
    assert!(!fx.contains(&Effect::Spawn));
    assert!(m.st.detail.contains("attempt 2/2"), "{}", m.st.detail);
    assert!(m.st.detail.contains(problem), "{}", m.st.detail);
    let epoch = m.st.epoch;
    let fx = m.st.handle(
        &m.s,
        Event::Timer {
            kind: TimerKind::Backoff,
            epoch,
        },
        cannot_start(problem),
    );
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(m.st.detail.contains("gave up"), "{}", m.st.detail);
}

#[tokio::test(start_paused = true)]
async fn a_budget_that_gives_up_says_so_before_the_transition_to_failed() {
    let mut m = M::with_restart(RestartPolicy {
        max_attempts: 1,
        jitter: 0.0,
        ..RestartPolicy::default()
    });
    m.ready();
    m.exit(ExitStatus::Code(1));
    m.timer(TimerKind::Backoff);
    m.ev(Event::Spawned { pid: 43 });
    let fx = m.exit(ExitStatus::Code(1));
    let gave_up = fx.iter().position(|e| *e == Effect::GaveUp);
    let failed = fx.iter().position(|e| {
        matches!(
            e,
            Effect::Transition {
                phase: Phase::Failed,
                ..
            }
        )
    });
    assert!(
        matches!((gave_up, failed), (Some(g), Some(f)) if g < f),
        "{fx:?}"
    );
    // An operator's stop of a ready connector gives nothing up.
    let mut m = M::new();
    m.ready();
    assert!(!m.cmd(Command::Stop).contains(&Effect::GaveUp));
}

#[tokio::test(start_paused = true)]
async fn three_restarts_without_staying_up_are_a_crash_loop_even_while_ready() {
    let mut m = M::new();
    m.ready();
    for k in 1..=3u32 {
        assert_eq!(m.st.crash_loop(), None, "after {} restarts", k - 1);
        advance(Duration::from_secs(5)).await;
        m.exit(ExitStatus::Code(1));
        advance(Duration::from_secs(1) * 2u32.pow(k - 1)).await;
        m.timer(TimerKind::Backoff);
        m.ev(Event::Spawned { pid: 50 + k as i32 });
        m.ev(Event::Probe {
            ready: true,
            bots: 0,
        });
    }
    // Ready between crashes, and still a crash loop: 3 restarts, the first failure at 5 s,
    // the third restart at 5 + 1 + 5 + 2 + 5 + 4 = 22 s: 17 s after it.
    assert_eq!(m.st.phase, Phase::Ready);
    let cl = m.st.crash_loop().expect("a crash loop while ready");
    assert_eq!((cl.restarts, cl.window_s), (3, 17));
    // Between crashes (exited, backoff) too.
    advance(Duration::from_secs(5)).await;
    m.exit(ExitStatus::Code(1));
    assert_eq!(m.st.phase, Phase::Backoff);
    assert_eq!(m.st.crash_loop().map(|c| c.restarts), Some(3));
    m.timer(TimerKind::Backoff);
    m.ev(Event::Spawned { pid: 60 });
    m.ev(Event::Probe {
        ready: true,
        bots: 0,
    });
    assert_eq!(m.st.crash_loop().map(|c| c.restarts), Some(4));
    // Staying up for uptime_reset ends it.
    advance(Duration::from_secs(30)).await;
    m.timer(TimerKind::UptimeReset);
    assert_eq!(m.st.crash_loop(), None);
}

#[tokio::test(start_paused = true)]
async fn operator_restarts_are_not_a_crash_loop_and_a_start_ends_one() {
    let mut m = M::new();
    m.ready();
    for pid in 70..74 {
        m.cmd(Command::Restart);
        m.exit(ExitStatus::Code(0));
        m.ev(Event::Spawned { pid });
        m.ev(Event::Probe {
            ready: true,
            bots: 0,
        });
    }
    assert_eq!(m.st.restarts, 4);
    assert_eq!(m.st.crash_loop(), None, "restarts by the operator");
    // A crash loop ended by the operator's stop and start.
    let mut m = M::new();
    m.ready();
    for pid in 80..83 {
        m.exit(ExitStatus::Code(1));
        m.timer(TimerKind::Backoff);
        m.ev(Event::Spawned { pid });
    }
    assert!(m.st.crash_loop().is_some());
    m.cmd(Command::Stop);
    m.exit(ExitStatus::Code(0));
    assert_eq!(m.st.crash_loop(), None, "not while stopped");
    m.cmd(Command::Start);
    assert_eq!(
        m.st.crash_loop(),
        None,
        "an operator's start earns the budget back"
    );
}

#[tokio::test(start_paused = true)]
async fn a_taken_over_connector_keeps_its_budget_and_its_crash_loop() {
    let mut m = M::new();
    m.ready();
    for pid in 80..83 {
        m.exit(ExitStatus::Code(1));
        m.timer(TimerKind::Backoff);
        m.ev(Event::Spawned { pid });
    }
    let budget = m.st.budget;
    let (st, _) = ConnectorState::take_over(
        &m.s,
        Takeover {
            pid: 77,
            restarts: 3,
            budget,
            started_at: None,
            ready: true,
            stopping: None,
        },
        ctx(),
    );
    assert_eq!(st.crash_loop().map(|c| c.restarts), Some(3));
    assert_eq!(st.budget.attempt(), 3);
    // A restart a previous console was waiting for goes on within the same budget.
    let (mut st, fx) = ConnectorState::resume_backoff(
        3,
        budget,
        Some(ExitStatus::Code(1)),
        "attempt 3/20 after a 4.0 s backoff".into(),
        Duration::from_millis(1500),
        ctx(),
    );
    assert_eq!(st.phase, Phase::Backoff);
    assert_eq!(
        timer_of(&fx, TimerKind::Backoff),
        Some(Duration::from_millis(1500))
    );
    let epoch = st.epoch;
    let fx = st.handle(
        &m.s,
        Event::Timer {
            kind: TimerKind::Backoff,
            epoch,
        },
        ctx(),
    );
    assert!(fx.contains(&Effect::Spawn));
    assert_eq!(st.restarts, 4);
    assert_eq!(st.crash_loop().map(|c| c.restarts), Some(4));
}

#[tokio::test(start_paused = true)]
async fn a_start_refusal_fails_a_connector_at_rest_and_leaves_a_running_one_alone() {
    let why = "config /x/bf.toml: cannot be read";
    let refused = |fx: &[Effect]| {
        fx.iter().any(|e| {
            matches!(
                e,
                Effect::Transition {
                    fact: Some(Fact::StartRefused),
                    ..
                }
            )
        })
    };
    // At rest: failed with the reason, and said again on the next refusal (whoever asked
    // hears it); nothing is spawned or built.
    let mut m = M::new();
    let fx =
        m.st.handle(&m.s, Event::Command(Command::Start), cannot_start(why));
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(refused(&fx), "{fx:?}");
    assert_eq!(m.st.detail, format!("cannot start: {why}"));
    let fx =
        m.st.handle(&m.s, Event::Command(Command::Start), cannot_start(why));
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(!fx
        .iter()
        .any(|e| matches!(e, Effect::Spawn | Effect::Build { .. } | Effect::Signal(_))));
    // As the console opens on it: the same, for a config only (a binary is looked at, and
    // built, when it is started).
    let mut m = M::new();
    let fx = m.st.handle(&m.s, Event::Opened, cannot_start(why));
    assert_eq!(phases(&fx), [Phase::Failed]);
    assert!(refused(&fx), "{fx:?}");
    let mut m = M::new();
    let fx = m.st.handle(&m.s, Event::Opened, unbuilt());
    assert!(fx.is_empty(), "{fx:?}");
    let fx = m.st.handle(
        &m.s,
        Event::Opened,
        cannot_start("binary /x is not executable"),
    );
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(m.st.phase, Phase::Idle);
    // Running: no signal, still ready, PID kept; the restart is refused, even for a binary
    // a build would make (the process would be stopped for nothing that runs).
    let mut m = M::new();
    m.ready();
    for c in [cannot_start(why), unbuilt()] {
        let fx = m.st.handle(&m.s, Event::Command(Command::Restart), c);
        assert!(
            matches!(&fx[..], [Effect::Refused { what, .. }] if what == "restart"),
            "{fx:?}"
        );
        assert_eq!((m.st.phase, m.st.pid), (Phase::Ready, Some(42)));
    }
    // A start of a running one starts nothing: nothing to refuse.
    assert!(m
        .st
        .handle(&m.s, Event::Command(Command::Start), cannot_start(why))
        .is_empty());
    // Building: the start it was to make afterwards is dropped, and the detail says why.
    let mut m = M::new();
    m.cmd(Command::Build { force: false });
    let fx =
        m.st.handle(&m.s, Event::Command(Command::Start), cannot_start(why));
    assert!(refused(&fx), "{fx:?}");
    assert!(m.st.detail.contains("it will not start"), "{}", m.st.detail);
    let fx = m.ev(Event::BuildFinished(Ok(())));
    assert_eq!(phases(&fx), [Phase::Idle], "no start after the build");
    // In backoff: the pending restart is cancelled (its timer's epoch is stale).
    let mut m = M::new();
    m.ready();
    m.exit(ExitStatus::Code(1));
    assert_eq!(m.st.phase, Phase::Backoff);
    let restarts = m.st.restarts;
    m.st.handle(&m.s, Event::Command(Command::Start), cannot_start(why));
    assert_eq!(m.st.phase, Phase::Failed);
    assert_eq!(m.st.restarts, restarts, "a refused start is no restart");
    let fx = m.timer(TimerKind::Backoff);
    assert!(fx.is_empty(), "{fx:?}");
}

/// Issue #22 item 7: the machine said "will start afterwards", so the stop a startup timeout
/// began ends in the operator's start, not in a counted failure (nor `failed` under `never`).
#[tokio::test(start_paused = true)]
async fn restart_during_a_startup_timeout_stop_starts_afterwards() {
    for policy in [RestartPolicyKind::OnFailure, RestartPolicyKind::Never] {
        let mut m = M::with_restart(RestartPolicy {
            policy,
            jitter: 0.0,
            ..RestartPolicy::default()
        });
        m.cmd(Command::Start);
        m.ev(Event::Spawned { pid: 42 });
        advance(Duration::from_secs(10)).await;
        assert_eq!(
            phases(&m.timer(TimerKind::StartupTimeout)),
            [Phase::Stopping]
        );
        m.cmd(Command::Restart);
        assert!(
            m.st.detail.contains("will start afterwards"),
            "{}",
            m.st.detail
        );
        let fx = m.exit(ExitStatus::Code(0));
        assert_eq!(
            phases(&fx),
            [Phase::Starting],
            "{policy:?}: {}",
            m.st.detail
        );
        assert!(fx.contains(&Effect::Spawn));
        assert_eq!(m.st.budget.attempt(), 0, "{policy:?}: no failure counted");
        assert_eq!(m.st.restarts, 1);
    }
}

#[test]
fn every_verb_maps_to_a_command_and_back() {
    use crate::model::Verb;
    for v in Verb::ALL {
        assert_eq!(Command::from(v).verb(), v);
    }
    assert_eq!(Command::from(Verb::Rebuild), Command::Build { force: true });
}
