//! The pure lifecycle state machine of one connector. No I/O, no clocks of its own: a transition
//! takes an event, the current state and a [`Ctx`] (the time, what the runtime's pre-flight
//! found, a jitter sample) and returns the effects for the runtime to carry out. Every timer carries the
//! epoch it was armed in; a timer whose epoch is stale is ignored, so a late grace timer can never
//! SIGKILL a connector that has since been restarted.

use std::time::Duration;

use std::time::Instant;

use super::budget::{CrashLoop, RestartBudget, Retry};
use crate::model::exit::ExitStatus;
use crate::model::phase::Phase;
use crate::model::{CannotStart, Fact, RestartPolicy, RestartPolicyKind, Verb};

/// The per-connector settings the machine needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The program it runs (named when it is missing).
    pub binary: std::path::PathBuf,
    pub startup_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub auto_build: bool,
    pub restart: RestartPolicy,
}

/// What the runtime knows at the moment of the event.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub now: Instant,
    /// A uniform sample in [-1, 1] for backoff jitter.
    pub jitter: f64,
    /// Why a new process could not start now (typed, with the operator's words naming the
    /// file and what to do), as the runtime's one pre-flight found it before an event that
    /// may start one. None: nothing wrong, or not checked (an event that starts nothing).
    /// Every refusal of a start is decided here, from this: see [`ConnectorState::handle`].
    pub cannot_start: Option<CannotStart>,
}

/// A process a new console takes over (see [`ConnectorState::take_over`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Takeover {
    pub pid: i32,
    pub restarts: u32,
    /// Where the previous console's restart budget stood (its streak goes on).
    pub budget: RestartBudget,
    /// When the process started, if known (uptime, and what is left of a startup timeout).
    pub started_at: Option<Instant>,
    /// Both its iceoryx2 services have an Alive node of its PID now.
    pub ready: bool,
    /// The previous console was stopping it.
    pub stopping: Option<StopIntent>,
}

/// A stop under way, as the previous console left it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StopIntent {
    /// Time left until SIGKILL (zero: due now).
    pub left: Duration,
    /// It was a kill (K), not a stop.
    pub kill: bool,
}

/// The least time a process adopted before it was ready gets to become ready.
pub const MIN_ADOPTED_STARTUP: Duration = Duration::from_secs(1);

/// Operator commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Restart,
    /// SIGKILL now.
    Kill,
    /// Build; `force` rebuilds even when up to date.
    Build {
        force: bool,
    },
}

impl Command {
    /// Why this command would change nothing in `phase`, as the end of a sentence that starts
    /// with the connector's name ("is already ready"); None when it applies. The TUI shows it
    /// in its message line and the control socket replies with it, so neither sends a
    /// command that can only be refused.
    pub fn refusal(self, phase: Phase) -> Option<String> {
        match (self, phase) {
            (Command::Start, Phase::Ready | Phase::Starting) => Some(format!("is already {phase}")),
            (Command::Stop | Command::Kill, p) if p.is_at_rest() => {
                Some(format!("is not running ({p})"))
            }
            (Command::Build { .. }, Phase::Building) => Some("is already building".into()),
            (
                Command::Build { .. },
                Phase::Starting | Phase::Ready | Phase::Stopping | Phase::Backoff,
            ) => Some(format!(
                "is {}: a build would replace its binary; stop it first (x), then build (b)",
                if phase == Phase::Backoff {
                    "waiting to restart"
                } else {
                    phase.as_str()
                }
            )),
            _ => None,
        }
    }
}

/// The one mapping between the operator's verbs and the engine's commands (the control
/// socket and the TUI both go through it).
impl From<Verb> for Command {
    fn from(verb: Verb) -> Command {
        match verb {
            Verb::Start => Command::Start,
            Verb::Stop => Command::Stop,
            Verb::Restart => Command::Restart,
            Verb::Kill => Command::Kill,
            Verb::Build => Command::Build { force: false },
            Verb::Rebuild => Command::Build { force: true },
        }
    }
}

impl Command {
    /// The verb an operator says for this command.
    pub fn verb(self) -> Verb {
        match self {
            Command::Start => Verb::Start,
            Command::Stop => Verb::Stop,
            Command::Restart => Verb::Restart,
            Command::Kill => Verb::Kill,
            Command::Build { force: false } => Verb::Build,
            Command::Build { force: true } => Verb::Rebuild,
        }
    }
}

/// Timers the machine arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    StartupTimeout,
    ShutdownGrace,
    Backoff,
    UptimeReset,
}

/// Why a start could not even produce a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnFailure {
    /// Another live process holds the name.
    Refused,
    /// exec failed, the log could not be opened, stale resources could not be removed.
    Error,
}

/// Everything that can happen to a connector.
#[derive(Debug, Clone)]
pub enum Event {
    Command(Command),
    BuildFinished(Result<(), String>),
    Spawned {
        pid: i32,
    },
    SpawnFailed {
        kind: SpawnFailure,
        message: String,
    },
    /// IPC check result: both services have an Alive node of the PID, and the bots attached.
    Probe {
        ready: bool,
        bots: u32,
    },
    /// The process ended. `summary` is its last meaningful output line; `send_error` is true
    /// when its output shows the `SendError` panic that the real connector produces after SIGTERM.
    Exited {
        /// None when it cannot be known (an adopted process is not our child).
        status: Option<ExitStatus>,
        summary: Option<String>,
        send_error: bool,
    },
    Timer {
        kind: TimerKind,
        epoch: u64,
    },
    /// Its feed went stale and `on_stale = "restart"`: restart it through the restart budget.
    StaleFeed {
        why: String,
    },
    /// The console has it now (it opened on it, or it was added) and starts nothing by
    /// itself: at rest, a config that cannot be used ([`Ctx::cannot_start`]) makes it `failed`
    /// with why, so the operator sees it before asking for a start.
    Opened,
}

/// Signals the machine sends (always to the process group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Build {
        force: bool,
    },
    CancelBuild,
    Spawn,
    Signal(Sig),
    ArmTimer {
        kind: TimerKind,
        after: Duration,
        epoch: u64,
    },
    /// Write a marker line into the connector's log.
    Marker(String),
    /// The phase (or its detail) changed: publish it.
    Transition {
        phase: Phase,
        detail: String,
        /// What it establishes, typed, for machines (a refusal).
        fact: Option<Fact>,
    },
    /// `what` (a restart) was refused because a new process could not start (`why`, from
    /// [`Ctx::cannot_start`]); the running process was left alone. Tell whoever asked. (At
    /// rest the same refusal is a transition to `failed` carrying [`Fact::StartRefused`].)
    Refused {
        what: String,
        why: String,
    },
    /// The restart budget ran out: the connector is `failed` until someone acts, and stays so
    /// across console restarts.
    GaveUp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// Start once the build or the stop finishes.
    Start,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Operator,
    StartupTimeout,
    /// Stopped to be restarted because its feed went stale.
    StaleFeed,
}

/// The state of one connector.
#[derive(Debug, Clone)]
pub struct ConnectorState {
    pub phase: Phase,
    /// Bumped on every phase change; timers from older epochs are ignored.
    pub epoch: u64,
    pub pid: Option<i32>,
    /// When the current process was spawned.
    pub started_at: Option<Instant>,
    pub ready_at: Option<Instant>,
    /// Start attempts made automatically or by `r` (shown as "restarts").
    pub restarts: u32,
    /// Failures in the current streak, against `max_attempts`.
    pub budget: RestartBudget,
    pub last_exit: Option<ExitStatus>,
    pub detail: String,
    pub bots: u32,
    pub degraded: bool,
    /// When the running countdown (stopping, backoff, startup) ends.
    pub deadline: Option<Instant>,
    pending: Pending,
    stop_reason: StopReason,
    /// Why a stale-feed restart was begun.
    stale_why: String,
    killed: bool,
}

impl Default for ConnectorState {
    fn default() -> Self {
        ConnectorState {
            phase: Phase::Idle,
            epoch: 0,
            pid: None,
            started_at: None,
            ready_at: None,
            restarts: 0,
            budget: RestartBudget::default(),
            last_exit: None,
            detail: String::new(),
            bots: 0,
            degraded: false,
            deadline: None,
            pending: Pending::None,
            stop_reason: StopReason::Operator,
            stale_why: String::new(),
            killed: false,
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl ConnectorState {
    /// Takes over a process a previous console started (its identity already verified): a
    /// stop that console had begun is carried out (SIGKILL at the deadline it had, or now);
    /// a ready one is ready; one not ready yet is watched as `starting` for what is left of its
    /// startup timeout (at least [`MIN_ADOPTED_STARTUP`]), never started a second time.
    pub fn take_over(s: &Settings, t: Takeover, ctx: Ctx) -> (ConnectorState, Vec<Effect>) {
        let mut st = ConnectorState {
            pid: Some(t.pid),
            started_at: Some(t.started_at.unwrap_or(ctx.now)),
            restarts: t.restarts,
            budget: t.budget,
            ..ConnectorState::default()
        };
        let mut fx = Vec::new();
        match (t.stopping, t.ready) {
            (Some(stop), _) => {
                st.stop_reason = StopReason::Operator;
                st.killed = stop.kill;
                if stop.kill || stop.left.is_zero() {
                    st.set_phase(
                        Phase::Stopping,
                        "a stop begun by the previous console, past its grace: SIGKILL sent",
                        &mut fx,
                    );
                    fx.push(Effect::Marker(
                        "stop: SIGKILL sent by a new console (the previous one was stopping it)"
                            .into(),
                    ));
                    fx.push(Effect::Signal(Sig::Kill));
                } else {
                    st.set_phase(
                        Phase::Stopping,
                        format!(
                            "a stop begun by the previous console: SIGKILL after the {} left of its grace",
                            secs(stop.left)
                        ),
                        &mut fx,
                    );
                    st.arm(TimerKind::ShutdownGrace, stop.left, &ctx, &mut fx);
                }
            }
            (None, true) => {
                st.ready_at = Some(ctx.now);
                st.set_phase(
                    Phase::Ready,
                    "adopted from a previous console; its exit status will not be known",
                    &mut fx,
                );
                st.arm(
                    TimerKind::UptimeReset,
                    s.restart.uptime_reset,
                    &ctx,
                    &mut fx,
                );
            }
            (None, false) => {
                let age = ctx
                    .now
                    .saturating_duration_since(st.started_at.unwrap_or(ctx.now));
                let left = s
                    .startup_timeout
                    .saturating_sub(age)
                    .max(MIN_ADOPTED_STARTUP);
                st.set_phase(
                    Phase::Starting,
                    format!(
                        "adopted from a previous console before it was ready: PID {} waiting for its iceoryx2 services",
                        t.pid
                    ),
                    &mut fx,
                );
                st.arm(TimerKind::StartupTimeout, left, &ctx, &mut fx);
            }
        }
        (st, fx)
    }

    /// Whether the stop under way is a kill (K): it must stay one across a console restart.
    pub fn is_killing(&self) -> bool {
        self.killed
    }

    /// A connector restored at rest from a previous console's record.
    pub fn restored(
        phase: Phase,
        detail: String,
        restarts: u32,
        last_exit: Option<ExitStatus>,
    ) -> ConnectorState {
        ConnectorState {
            phase,
            restarts,
            last_exit,
            detail,
            ..ConnectorState::default()
        }
    }

    /// A connector the previous console left waiting to restart (backoff): it goes on waiting
    /// for what was `left` of its delay, its budget and restart count as they were, then
    /// restarts like any backoff.
    pub fn resume_backoff(
        restarts: u32,
        budget: RestartBudget,
        last_exit: Option<ExitStatus>,
        detail: String,
        left: Duration,
        ctx: Ctx,
    ) -> (ConnectorState, Vec<Effect>) {
        let mut st = ConnectorState {
            restarts,
            budget,
            last_exit,
            ..ConnectorState::default()
        };
        let mut fx = Vec::new();
        st.set_phase(
            Phase::Backoff,
            format!("{detail} (restart taken over by a new console)"),
            &mut fx,
        );
        st.arm(TimerKind::Backoff, left, &ctx, &mut fx);
        (st, fx)
    }

    /// The crash loop it is in, while its restarts go on (from the restart budget's times:
    /// [`RestartBudget::crash_loop`]); None at rest, where the phase and its detail speak.
    pub fn crash_loop(&self) -> Option<CrashLoop> {
        match self.phase {
            Phase::Starting | Phase::Ready | Phase::Stopping | Phase::Exited | Phase::Backoff => {
                self.budget.crash_loop()
            }
            Phase::Idle | Phase::Building | Phase::Stopped | Phase::Failed => None,
        }
    }

    /// A connector whose recorded process is gone (or whose PID now belongs to another
    /// process): shown as exited with why, never silently reset to idle.
    pub fn gone(detail: String, restarts: u32, last_exit: Option<ExitStatus>) -> ConnectorState {
        ConnectorState::restored(Phase::Exited, detail, restarts, last_exit)
    }

    /// Whether `cmd` is refused, nothing of it done, when the pre-flight said `c`: a start or
    /// restart is, unless it starts nothing (a start of a running connector) or a build lifts
    /// `c` and no process runs (it builds first). A running process is never stopped for one
    /// that cannot start. The runtime asks before it does anything of the command itself.
    pub fn refuses(&self, cmd: Command, c: &CannotStart) -> bool {
        let running = matches!(self.phase, Phase::Starting | Phase::Ready);
        match cmd {
            Command::Start => !running && !c.build_lifts(),
            Command::Restart => running || !c.build_lifts(),
            Command::Stop | Command::Kill | Command::Build { .. } => false,
        }
    }

    /// Applies `event` and returns the effects to carry out, in order.
    pub fn handle(&mut self, s: &Settings, event: Event, ctx: Ctx) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Command(cmd) => self.on_command(s, cmd, &ctx, &mut fx),
            Event::BuildFinished(result) => self.on_build_finished(s, result, &ctx, &mut fx),
            Event::Spawned { pid } => self.on_spawned(s, pid, &ctx, &mut fx),
            Event::SpawnFailed { kind, message } => {
                self.on_spawn_failed(s, kind, message, &ctx, &mut fx)
            }
            Event::Probe { ready, bots } => self.on_probe(s, ready, bots, &ctx, &mut fx),
            Event::Exited {
                status,
                summary,
                send_error,
            } => self.on_exit(s, status, summary, send_error, &ctx, &mut fx),
            Event::Timer { kind, epoch } => {
                if epoch == self.epoch {
                    self.on_timer(s, kind, &ctx, &mut fx);
                }
            }
            Event::Opened => {
                if let (true, Some(c)) = (self.phase.is_at_rest(), &ctx.cannot_start) {
                    // Only a config: a binary is looked at (and built) when it is started.
                    if c.reason == crate::model::StartBlock::Config {
                        self.refuse_start(c, &mut fx);
                    }
                }
            }
            Event::StaleFeed { why } => {
                if let (Phase::Ready, Some(problem)) = (self.phase, &ctx.cannot_start) {
                    fx.push(Effect::Refused {
                        what: format!("stale-feed restart ({why})"),
                        why: problem.why.clone(),
                    });
                } else if self.phase == Phase::Ready {
                    fx.push(Effect::Marker(format!(
                        "stale feed ({why}): restarting it (on_stale = \"restart\")"
                    )));
                    let detail = format!("stale feed ({why}): restarting, SIGTERM sent");
                    self.stale_why = why;
                    self.begin_stop(s, StopReason::StaleFeed, detail, &ctx, &mut fx);
                }
            }
        }
        fx
    }

    fn set_phase(&mut self, phase: Phase, detail: impl Into<String>, fx: &mut Vec<Effect>) {
        self.set_phase_as(phase, detail, None, fx);
    }

    fn set_phase_as(
        &mut self,
        phase: Phase,
        detail: impl Into<String>,
        fact: Option<Fact>,
        fx: &mut Vec<Effect>,
    ) {
        self.phase = phase;
        self.epoch += 1;
        self.detail = detail.into();
        self.deadline = None;
        fx.push(Effect::Transition {
            phase,
            detail: self.detail.clone(),
            fact,
        });
    }

    /// Adds `note` to the detail once: a held or repeated key neither grows the detail nor
    /// publishes the same change again.
    fn note_once(&mut self, note: &str, fx: &mut Vec<Effect>) {
        self.note_once_as(note, None, fx);
    }

    fn note_once_as(&mut self, note: &str, fact: Option<Fact>, fx: &mut Vec<Effect>) {
        if !self.detail.ends_with(note) {
            self.set_detail_as(format!("{}; {note}", self.detail), fact, fx);
        }
    }

    fn set_detail(&mut self, detail: impl Into<String>, fx: &mut Vec<Effect>) {
        self.set_detail_as(detail, None, fx);
    }

    fn set_detail_as(
        &mut self,
        detail: impl Into<String>,
        fact: Option<Fact>,
        fx: &mut Vec<Effect>,
    ) {
        self.detail = detail.into();
        fx.push(Effect::Transition {
            phase: self.phase,
            detail: self.detail.clone(),
            fact,
        });
    }

    fn arm(&mut self, kind: TimerKind, after: Duration, ctx: &Ctx, fx: &mut Vec<Effect>) {
        if kind != TimerKind::UptimeReset {
            self.deadline = Some(ctx.now + after);
        }
        fx.push(Effect::ArmTimer {
            kind,
            after,
            epoch: self.epoch,
        });
    }

    /// Start now: build first if the binary is missing where a build puts it. Nothing runs: a
    /// start that cannot produce a process (see [`Ctx::cannot_start`]) fails with why, or,
    /// when the restart policy made it (`by_policy`), counts as one more failure against the
    /// budget.
    fn begin_start(&mut self, s: &Settings, ctx: &Ctx, by_policy: bool, fx: &mut Vec<Effect>) {
        self.pending = Pending::None;
        if ctx
            .cannot_start
            .as_ref()
            .is_some_and(CannotStart::build_lifts)
        {
            if s.auto_build {
                self.pending = Pending::Start;
                self.set_phase(Phase::Building, "binary missing: building it first", fx);
                fx.push(Effect::Build { force: false });
            } else {
                self.set_phase_as(
                    Phase::Failed,
                    format!(
                        "binary not found: {} does not exist (or is not executable) and auto_build = false; build it (key b) or set auto_build = true",
                        s.binary.display()
                    ),
                    Some(Fact::StartRefused),
                    fx,
                );
            }
            return;
        }
        if let Some(c) = &ctx.cannot_start {
            self.pid = None;
            self.bots = 0;
            if by_policy {
                self.schedule_restart(s, format!("cannot start: {}", c.why), ctx, fx);
            } else {
                // Whatever the phase was (a stop or a build that was to end in this start).
                self.fail_to_start(c, fx);
            }
            return;
        }
        self.pid = None;
        self.bots = 0;
        self.degraded = false;
        self.killed = false;
        self.stop_reason = StopReason::Operator;
        self.started_at = None;
        self.ready_at = None;
        self.set_phase(Phase::Starting, "spawning", fx);
        fx.push(Effect::Spawn);
    }

    fn begin_stop(
        &mut self,
        s: &Settings,
        reason: StopReason,
        detail: String,
        ctx: &Ctx,
        fx: &mut Vec<Effect>,
    ) {
        self.stop_reason = reason;
        self.set_phase(Phase::Stopping, detail, fx);
        if self.pid.is_some() {
            fx.push(Effect::Marker("stop: SIGTERM sent by switchboard".into()));
            fx.push(Effect::Signal(Sig::Term));
            self.arm(TimerKind::ShutdownGrace, s.shutdown_timeout, ctx, fx);
        }
        // Without a PID the spawn is still under way; `on_spawned` signals it.
    }

    fn on_command(&mut self, s: &Settings, cmd: Command, ctx: &Ctx, fx: &mut Vec<Effect>) {
        let blocked = ctx.cannot_start.as_ref().filter(|c| self.refuses(cmd, c));
        match (cmd, self.phase) {
            (Command::Start | Command::Restart, _) if blocked.is_some() => {
                if let Some(c) = blocked {
                    self.refuse_start(c, fx);
                }
            }
            (Command::Start, Phase::Starting | Phase::Ready) => {}
            (Command::Start, Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed) => {
                // An operator start earns back the full restart budget.
                self.budget.reset();
                self.begin_start(s, ctx, false, fx);
            }
            (Command::Start | Command::Restart, Phase::Backoff) => {
                // The restart the loop was waiting for, made now: still the same streak.
                self.restarts += 1;
                self.budget.restarted(ctx.now);
                self.begin_start(s, ctx, false, fx);
            }
            (Command::Start | Command::Restart, Phase::Building | Phase::Stopping) => {
                self.pending = Pending::Start;
                self.note_once("will start afterwards", fx);
            }
            (Command::Restart, Phase::Starting | Phase::Ready) => {
                let detail = "restart: stopping first (SIGTERM)".to_string();
                self.begin_stop(s, StopReason::Operator, detail, ctx, fx);
                self.pending = Pending::Start;
            }
            (Command::Restart, Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed) => {
                self.budget.reset();
                self.restarts += 1;
                self.begin_start(s, ctx, false, fx);
            }
            (Command::Stop, Phase::Starting | Phase::Ready) => {
                let detail = format!(
                    "SIGTERM sent; SIGKILL after a {} grace",
                    secs(s.shutdown_timeout)
                );
                self.begin_stop(s, StopReason::Operator, detail, ctx, fx);
            }
            (Command::Stop, Phase::Stopping) => {
                self.stop_reason = StopReason::Operator;
                self.pending = Pending::None;
            }
            (Command::Stop | Command::Kill, Phase::Backoff) => {
                self.set_phase(Phase::Stopped, "restart cancelled by the operator", fx);
            }
            (Command::Stop | Command::Kill, Phase::Building) => {
                self.pending = Pending::None;
                fx.push(Effect::CancelBuild);
                self.set_phase(Phase::Idle, "build cancelled by the operator", fx);
            }
            (
                Command::Stop | Command::Kill,
                Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed,
            ) => {}
            (Command::Kill, Phase::Starting | Phase::Ready | Phase::Stopping) => {
                self.pending = Pending::None;
                self.stop_reason = StopReason::Operator;
                self.killed = true;
                if self.phase != Phase::Stopping {
                    self.set_phase(Phase::Stopping, "SIGKILL sent by the operator", fx);
                } else {
                    self.set_detail("SIGKILL sent by the operator", fx);
                }
                if self.pid.is_some() {
                    fx.push(Effect::Marker("kill: SIGKILL sent by switchboard".into()));
                    fx.push(Effect::Signal(Sig::Kill));
                }
            }
            (
                Command::Build { force },
                Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed,
            ) => {
                self.pending = Pending::None;
                self.set_phase(
                    Phase::Building,
                    if force { "rebuilding" } else { "building" },
                    fx,
                );
                fx.push(Effect::Build { force });
            }
            (Command::Build { .. }, Phase::Building) => {}
            (
                Command::Build { .. },
                Phase::Starting | Phase::Ready | Phase::Stopping | Phase::Backoff,
            ) => {
                self.note_once_as(
                    "build refused while it runs: stop it first (x), then build (b)",
                    Some(Fact::BuildRefused),
                    fx,
                );
            }
        }
    }

    fn on_build_finished(
        &mut self,
        s: &Settings,
        result: Result<(), String>,
        ctx: &Ctx,
        fx: &mut Vec<Effect>,
    ) {
        match self.phase {
            Phase::Building => match result {
                Ok(()) => {
                    if self.pending == Pending::Start {
                        // Built: no build again, whatever the check said (a binary still not
                        // there fails at its spawn, naming the path).
                        let ctx = Ctx {
                            cannot_start: ctx.cannot_start.clone().filter(|c| !c.build_lifts()),
                            ..ctx.clone()
                        };
                        self.begin_start(s, &ctx, false, fx);
                    } else {
                        self.set_phase(Phase::Idle, "build finished", fx);
                    }
                }
                Err(message) => {
                    self.pending = Pending::None;
                    self.set_phase(Phase::Failed, message, fx);
                }
            },
            Phase::Idle
            | Phase::Starting
            | Phase::Ready
            | Phase::Stopping
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => {}
        }
    }

    fn on_spawned(&mut self, s: &Settings, pid: i32, ctx: &Ctx, fx: &mut Vec<Effect>) {
        self.pid = Some(pid);
        self.started_at = Some(ctx.now);
        match self.phase {
            Phase::Starting => {
                self.set_detail(format!("PID {pid}: waiting for its iceoryx2 services"), fx);
                self.arm(TimerKind::StartupTimeout, s.startup_timeout, ctx, fx);
            }
            Phase::Stopping => {
                // Stopped while the spawn was under way.
                if self.killed {
                    fx.push(Effect::Signal(Sig::Kill));
                } else {
                    fx.push(Effect::Signal(Sig::Term));
                    self.arm(TimerKind::ShutdownGrace, s.shutdown_timeout, ctx, fx);
                }
            }
            Phase::Idle
            | Phase::Building
            | Phase::Ready
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => {
                // The engine only spawns in Starting; a process we did not ask for is stopped.
                fx.push(Effect::Signal(Sig::Kill));
            }
        }
    }

    /// `failed` with why and [`Fact::StartRefused`]: a start refused with nothing running (said
    /// again on each start, so that whoever asked hears it).
    fn fail_to_start(&mut self, c: &CannotStart, fx: &mut Vec<Effect>) {
        self.pending = Pending::None;
        let detail = format!("cannot start: {}", c.why);
        self.set_phase_as(Phase::Failed, detail, Some(Fact::StartRefused), fx);
    }

    /// A start or restart refused when it is asked for (by the operator, or the console
    /// opening on it), by phase. Running: the process is left alone and [`Effect::Refused`]
    /// tells whoever asked. At rest or waiting in backoff: [`ConnectorState::fail_to_start`].
    /// Building or stopping: the start that was to follow is dropped and the detail says why,
    /// with [`Fact::StartRefused`]. (A start the restart policy makes counts against the budget
    /// instead.)
    fn refuse_start(&mut self, c: &CannotStart, fx: &mut Vec<Effect>) {
        self.pending = Pending::None;
        let fact = Some(Fact::StartRefused);
        match self.phase {
            Phase::Starting | Phase::Ready => fx.push(Effect::Refused {
                what: "restart".into(),
                why: c.why.clone(),
            }),
            Phase::Building => {
                self.set_detail_as(format!("building; it will not start: {}", c.why), fact, fx)
            }
            Phase::Stopping => self.set_detail_as(
                format!("stopping; it will not start again: {}", c.why),
                fact,
                fx,
            ),
            Phase::Idle | Phase::Stopped | Phase::Exited | Phase::Failed | Phase::Backoff => {
                self.fail_to_start(c, fx)
            }
        }
    }

    fn on_spawn_failed(
        &mut self,
        s: &Settings,
        kind: SpawnFailure,
        message: String,
        ctx: &Ctx,
        fx: &mut Vec<Effect>,
    ) {
        match self.phase {
            Phase::Starting => {
                self.pid = None;
                let retry = match (s.restart.policy, kind) {
                    (RestartPolicyKind::Always, _) => true,
                    (RestartPolicyKind::OnFailure, SpawnFailure::Error) => false,
                    (RestartPolicyKind::OnFailure, SpawnFailure::Refused) => false,
                    (RestartPolicyKind::Never, _) => false,
                };
                if retry {
                    self.schedule_restart(s, message, ctx, fx);
                } else {
                    self.set_phase(Phase::Failed, message, fx);
                }
            }
            Phase::Stopping => {
                self.pid = None;
                self.set_phase(
                    Phase::Stopped,
                    format!("stopped before it started ({message})"),
                    fx,
                );
            }
            Phase::Idle
            | Phase::Building
            | Phase::Ready
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => {}
        }
    }

    fn on_probe(&mut self, s: &Settings, ready: bool, bots: u32, ctx: &Ctx, fx: &mut Vec<Effect>) {
        match self.phase {
            Phase::Starting if ready && self.pid.is_some() => {
                self.ready_at = Some(ctx.now);
                self.bots = bots;
                let took = self.started_at.map(|t| ctx.now.duration_since(t));
                self.set_phase_as(
                    Phase::Ready,
                    match took {
                        Some(d) => format!("ready in {} ms", d.as_millis()),
                        None => "ready".to_string(),
                    },
                    took.map(|d| Fact::Ready {
                        seconds: d.as_secs_f64(),
                    }),
                    fx,
                );
                self.arm(TimerKind::UptimeReset, s.restart.uptime_reset, ctx, fx);
            }
            Phase::Ready => {
                let changed = self.bots != bots || self.degraded == ready;
                self.bots = bots;
                self.degraded = !ready;
                if changed {
                    let detail = if ready {
                        format!("ready, {bots} bot(s) attached")
                    } else {
                        "degraded: process alive but its iceoryx2 services are gone".to_string()
                    };
                    self.set_detail(detail, fx);
                }
            }
            Phase::Starting
            | Phase::Idle
            | Phase::Building
            | Phase::Stopping
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => {}
        }
    }

    fn on_exit(
        &mut self,
        s: &Settings,
        status: Option<ExitStatus>,
        summary: Option<String>,
        send_error: bool,
        ctx: &Ctx,
        fx: &mut Vec<Effect>,
    ) {
        self.pid = None;
        self.bots = 0;
        self.last_exit = status;
        let said = summary.map(|l| format!(": {l}")).unwrap_or_default();
        let status_text = match status {
            // A write to shared memory that /dev/shm cannot back kills with SIGBUS.
            Some(st @ ExitStatus::Signal(7)) => format!(
                "{st}: SIGBUS, is /dev/shm full? (`df -h /dev/shm`; each connector's iceoryx2 services need room there)"
            ),
            Some(st) => st.to_string(),
            None => "exit status unknown: adopted process".to_string(),
        };
        match self.phase {
            Phase::Stopping => {
                fx.push(Effect::Marker(format!("exit: {status_text} after stop")));
                if self.pending == Pending::Start && self.stop_reason != StopReason::Operator {
                    // A start or restart pressed during a startup-timeout or stale-feed stop:
                    // the machine said "will start afterwards", so the operator's start wins
                    // over the failure the stop would have counted (issue #22 item 7).
                    self.pending = Pending::None;
                    self.restarts += 1;
                    self.begin_start(s, ctx, false, fx);
                    return;
                }
                if self.stop_reason == StopReason::StartupTimeout {
                    let msg = format!(
                        "not ready in {}: stopped ({status_text}). It ran but no iceoryx2 node with its PID appeared; check the iceoryx2 version (0.6.1) and config location (project root/config/iceoryx2.toml), and that /dev/shm has room (ToBot is ~1.1 GB sparse)",
                        secs(s.startup_timeout)
                    );
                    self.count_failure_then(s, msg, ctx, fx);
                    return;
                }
                if self.stop_reason == StopReason::StaleFeed {
                    // The restart the operator configured for a stale feed: through the budget.
                    let msg = format!("stale feed ({}), stopped ({status_text})", self.stale_why);
                    self.schedule_restart(s, msg, ctx, fx);
                    return;
                }
                let how = match (status, send_error, self.killed) {
                    (_, _, true) => format!("killed by the operator ({status_text})"),
                    (Some(ExitStatus::Code(0)), _, false) => "stopped cleanly (code 0)".to_string(),
                    (Some(ExitStatus::Code(1)), true, false) => {
                        "stopped (code 1: SendError panic after SIGTERM, a normal stop)".to_string()
                    }
                    (Some(ExitStatus::Signal(9)), _, false) => format!(
                        "stopped by SIGKILL after {} (SIGTERM was ignored)",
                        secs(s.shutdown_timeout)
                    ),
                    (_, _, false) => format!("stopped ({status_text}){said}"),
                };
                if self.pending == Pending::Start {
                    self.restarts += 1;
                    self.begin_start(s, ctx, false, fx);
                } else {
                    self.set_phase(Phase::Stopped, how, fx);
                }
            }
            Phase::Starting | Phase::Ready => {
                fx.push(Effect::Marker(format!("exit: {status_text} on its own")));
                let was_ready = self.phase == Phase::Ready;
                let when = if was_ready {
                    "exited"
                } else {
                    "died before it was ready"
                };
                let msg = format!("{when} ({status_text}){said}");
                self.set_phase(Phase::Exited, msg.clone(), fx);
                self.count_failure_then(s, msg, ctx, fx);
            }
            // An exit can only come from a process we spawned; in other phases it was already
            // accounted for (e.g. a kill after a spawn we no longer wanted).
            Phase::Idle
            | Phase::Building
            | Phase::Stopped
            | Phase::Exited
            | Phase::Backoff
            | Phase::Failed => {}
        }
    }

    /// Applies the restart policy after a failure described by `msg`.
    fn count_failure_then(&mut self, s: &Settings, msg: String, ctx: &Ctx, fx: &mut Vec<Effect>) {
        match s.restart.policy {
            RestartPolicyKind::Never => {
                if self.phase != Phase::Exited {
                    self.set_phase(Phase::Failed, msg, fx);
                }
            }
            RestartPolicyKind::OnFailure | RestartPolicyKind::Always => {
                self.schedule_restart(s, msg, ctx, fx)
            }
        }
    }

    fn schedule_restart(&mut self, s: &Settings, msg: String, ctx: &Ctx, fx: &mut Vec<Effect>) {
        match self.budget.next(&s.restart, ctx.now, ctx.jitter, &msg) {
            Retry::GiveUp(why) => {
                // First: the decision is kept with the transition that shows it.
                fx.push(Effect::GaveUp);
                self.set_phase(Phase::Failed, why, fx);
            }
            Retry::After {
                attempt,
                max_attempts,
                delay,
            } => {
                self.set_phase(
                    Phase::Backoff,
                    format!(
                        "attempt {attempt}/{max_attempts} after a {} backoff; last: {msg}",
                        secs(delay)
                    ),
                    fx,
                );
                self.arm(TimerKind::Backoff, delay, ctx, fx);
            }
        }
    }

    fn on_timer(&mut self, s: &Settings, kind: TimerKind, ctx: &Ctx, fx: &mut Vec<Effect>) {
        match (kind, self.phase) {
            (TimerKind::StartupTimeout, Phase::Starting) => {
                let pid = self.pid.map(|p| p.to_string()).unwrap_or_default();
                let detail = format!(
                    "not ready in {}: PID {pid} alive but no iceoryx2 node of its PID; stopping it",
                    secs(s.startup_timeout)
                );
                self.begin_stop(s, StopReason::StartupTimeout, detail, ctx, fx);
            }
            (TimerKind::ShutdownGrace, Phase::Stopping) => {
                fx.push(Effect::Marker(format!(
                    "stop: SIGKILL sent after {} without exit",
                    secs(s.shutdown_timeout)
                )));
                fx.push(Effect::Signal(Sig::Kill));
                self.set_detail(
                    format!(
                        "SIGTERM ignored for {}: SIGKILL sent",
                        secs(s.shutdown_timeout)
                    ),
                    fx,
                );
            }
            (TimerKind::Backoff, Phase::Backoff) => {
                self.restarts += 1;
                self.budget.restarted(ctx.now);
                self.begin_start(s, ctx, true, fx);
            }
            (TimerKind::UptimeReset, Phase::Ready) => {
                self.budget.reset();
            }
            // A timer armed in a phase we have left keeps its epoch only if the phase did not
            // change; these combinations cannot occur, and are ignored if they do.
            (
                TimerKind::StartupTimeout
                | TimerKind::ShutdownGrace
                | TimerKind::Backoff
                | TimerKind::UptimeReset,
                Phase::Idle
                | Phase::Building
                | Phase::Starting
                | Phase::Ready
                | Phase::Stopping
                | Phase::Stopped
                | Phase::Exited
                | Phase::Backoff
                | Phase::Failed,
            ) => {}
        }
    }
}
