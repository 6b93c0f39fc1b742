//! Alerts (DESIGN §11): an observer of the engine's event stream that tells a human when a
//! connector exits, fails, goes stale, starts erroring or recovers, by running the manifest's
//! `[alerts] command` and, in the TUI, ringing the terminal bell.
//!
//! The pure parts ([`Watcher`]: which events need a human; [`Gate`]: at most one alert per
//! connector and event per `min_interval`, then one summary of the rest) are unit-tested here;
//! [`spawn`] wires them to the engine and to `sh -c`. A command runs in its own process group,
//! in its own task, and is killed with its group after [`COMMAND_TIMEOUT`]: a slow, failing or
//! missing command never delays the engine or the UI, and its failure goes to the console log.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::manifest::AlertSettings;
use crate::fleet::Fleet;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView, EngineEvent, EventKind, HealthChange};

/// How long an alert command may run before it is killed with its process group.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the commands still running when the console ends (the summaries sent at exit
/// among them) may go on before their groups are killed.
pub const EXIT_GRACE: Duration = Duration::from_secs(1);
/// The most of a command's stderr kept for the console log: its tail (all of it is read while
/// the command runs, so that a chatty command never blocks on a full pipe).
const STDERR_KEEP: u64 = 4096;
/// The most alert commands running at once; more wait for one to end (with `min_interval = 0`
/// a crash loop of many connectors would otherwise start dozens at a time).
pub const MAX_RUNNING: usize = 8;

/// An event that needs a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    Exited,
    Failed,
    Stale,
    Erroring,
    Recovered,
}

impl AlertKind {
    /// The `SWITCHBOARD_EVENT` value.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Exited => "exited",
            AlertKind::Failed => "failed",
            AlertKind::Stale => "stale",
            AlertKind::Erroring => "erroring",
            AlertKind::Recovered => "recovered",
        }
    }
}

/// One alert: what happened to which connector.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: ConnectorId,
    pub kind: AlertKind,
    /// The connector's phase when it happened.
    pub phase: Phase,
    pub detail: String,
    /// Alerts of this kind held back since the last one sent (a summary when > 0).
    pub more: u32,
}

/// Tells which events need a human. It follows each connector's phase, so that a change of
/// detail within a phase (a countdown, a build step) is not mistaken for a new exit.
#[derive(Debug, Default)]
pub struct Watcher {
    phases: HashMap<ConnectorId, Phase>,
}

impl Watcher {
    /// Starts from where the connectors stand (nothing there is news).
    pub fn new(views: &[ConnectorView]) -> Watcher {
        Watcher {
            phases: views.iter().map(|v| (v.id(), v.phase)).collect(),
        }
    }

    /// The alert `ev` calls for, if any.
    pub fn alert_of(&mut self, ev: &EngineEvent) -> Option<Alert> {
        let alert = |kind, phase, detail: &str| Alert {
            id: ev.id.clone(),
            kind,
            phase,
            detail: detail.to_string(),
            more: 0,
        };
        match &ev.kind {
            EventKind::Transition { phase, detail, .. } => {
                let before = self.phases.insert(ev.id.clone(), *phase);
                if before == Some(*phase) {
                    return None;
                }
                match phase {
                    Phase::Exited => Some(alert(AlertKind::Exited, *phase, detail)),
                    Phase::Failed => Some(alert(AlertKind::Failed, *phase, detail)),
                    _ => None,
                }
            }
            EventKind::Health { change, detail, .. } => {
                let phase = self.phases.get(&ev.id).copied().unwrap_or(Phase::Ready);
                let kind = match change {
                    HealthChange::Stale => AlertKind::Stale,
                    HealthChange::Erroring => AlertKind::Erroring,
                    HealthChange::Recovered => AlertKind::Recovered,
                };
                Some(alert(kind, phase, detail))
            }
            EventKind::Added => {
                self.phases.insert(ev.id.clone(), Phase::Idle);
                None
            }
            EventKind::Removed => {
                self.phases.remove(&ev.id);
                None
            }
        }
    }
}

/// One (connector, event) rate-limit window.
#[derive(Debug)]
struct Window {
    opened: Instant,
    held: u32,
    last: Option<Alert>,
}

/// At most one alert per connector and event per `min_interval`. Alerts that come sooner are
/// held and counted; when the window ends, one summary ("N more") goes out for them and opens
/// the next window. A crash loop therefore sends its first exit at once, then one summary per
/// interval, never a storm.
#[derive(Debug)]
pub struct Gate {
    min_interval: Duration,
    windows: HashMap<(ConnectorId, AlertKind), Window>,
}

impl Gate {
    pub fn new(min_interval: Duration) -> Gate {
        Gate {
            min_interval,
            windows: HashMap::new(),
        }
    }

    /// True when `alert` may go out now; false when it is held for the next summary.
    pub fn offer(&mut self, alert: &Alert, now: Instant) -> bool {
        let key = (alert.id.clone(), alert.kind);
        match self.windows.get_mut(&key) {
            Some(w) if now < w.opened + self.min_interval => {
                w.held += 1;
                w.last = Some(alert.clone());
                false
            }
            _ => {
                self.windows.insert(
                    key,
                    Window {
                        opened: now,
                        held: 0,
                        last: None,
                    },
                );
                true
            }
        }
    }

    /// Summaries of windows that ended with alerts held: each carries the last held alert with
    /// `more` = how many were held, and opens a new window. Quiet ended windows are forgotten.
    pub fn due(&mut self, now: Instant) -> Vec<Alert> {
        let min = self.min_interval;
        let mut out = Vec::new();
        self.windows.retain(|_, w| {
            if now < w.opened + min {
                return true;
            }
            match w.last.take() {
                Some(mut last) if w.held > 0 => {
                    last.more = w.held;
                    out.push(last);
                    w.opened = now;
                    w.held = 0;
                    true
                }
                _ => false,
            }
        });
        out.sort_by(|a, b| (&a.id, a.kind.as_str()).cmp(&(&b.id, b.kind.as_str())));
        out
    }

    /// When the next summary is due, if any alert is held.
    pub fn next_due(&self) -> Option<Instant> {
        self.windows
            .values()
            .filter(|w| w.held > 0)
            .map(|w| w.opened + self.min_interval)
            .min()
    }
}

/// The environment an alert command gets.
pub fn environment(alert: &Alert, local_host: &str) -> Vec<(&'static str, String)> {
    let detail = if alert.more > 0 {
        format!(
            "{} more {} in the last interval; the last: {}",
            alert.more,
            alert.kind.as_str(),
            alert.detail
        )
    } else {
        alert.detail.clone()
    };
    // The command may print it to a terminal or a chat: a feed symbol or a remote's detail
    // must not carry a title, clipboard or clear-screen sequence there.
    let detail = crate::machine::redact::plain(&detail);
    vec![
        ("SWITCHBOARD_CONNECTOR", alert.id.name.clone()),
        ("SWITCHBOARD_EVENT", alert.kind.as_str().to_string()),
        ("SWITCHBOARD_PHASE", alert.phase.as_str().to_string()),
        ("SWITCHBOARD_DETAIL", detail),
        (
            "SWITCHBOARD_HOST",
            alert
                .id
                .host
                .clone()
                .unwrap_or_else(|| local_host.to_string()),
        ),
        ("SWITCHBOARD_MORE", alert.more.to_string()),
    ]
}

/// The running alert observer.
pub struct Alerts {
    task: JoinHandle<()>,
    /// The tasks of the commands started: each owns its child, and alone signals its group.
    commands: Arc<Mutex<JoinSet<()>>>,
    /// Set when the console ends: each command still running kills its group and reaps it.
    stop: watch::Sender<bool>,
    /// Told on every alert that passed the gate, when `bell = true` (the TUI rings).
    pub bell: Option<Arc<tokio::sync::Notify>>,
}

impl Alerts {
    /// Ends the observer and kills the commands still running (a console that exits does not
    /// leave alert commands behind, whatever their timeout).
    pub async fn finish(self) {
        // The observer's last act starts the held-back summaries: once it has ended, every
        // command is in `commands`.
        let _ = self.task.await;
        let mut commands =
            std::mem::take(&mut *self.commands.lock().unwrap_or_else(|p| p.into_inner()));
        let _ = tokio::time::timeout(EXIT_GRACE, async {
            while commands.join_next().await.is_some() {}
        })
        .await;
        let _ = self.stop.send(true);
        while commands.join_next().await.is_some() {}
    }
}

/// Starts the alert observer, or None when `[alerts]` asks for nothing.
pub fn spawn(engine: &Fleet, settings: &AlertSettings) -> Option<Alerts> {
    if settings.command.is_none() && !settings.bell {
        return None;
    }
    let (views, mut events) = engine.subscribe_with_views();
    let mut watcher = Watcher::new(&views);
    let mut gate = Gate::new(settings.min_interval);
    let command = settings.command.clone();
    let bell = settings.bell.then(|| Arc::new(tokio::sync::Notify::new()));
    let commands: Arc<Mutex<JoinSet<()>>> = Arc::default();
    let (stop, stop_rx) = watch::channel(false);
    let local_host = crate::engine::io::sys::hostname();
    let (bell_tx, commands_tx) = (bell.clone(), commands.clone());
    let running = Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING));
    let engine = engine.clone();
    let task = tokio::spawn(async move {
        let send = |alert: Alert| {
            if let Some(b) = &bell_tx {
                b.notify_one();
            }
            if let Some(cmd) = &command {
                let env = environment(&alert, &local_host);
                let mut tasks = commands_tx.lock().unwrap_or_else(|p| p.into_inner());
                // Ended tasks are let go of as new ones come (a long crash loop).
                while tasks.try_join_next().is_some() {}
                tasks.spawn(run_command(
                    cmd.clone(),
                    env,
                    alert.id.clone(),
                    alert.kind,
                    stop_rx.clone(),
                    running.clone(),
                ));
            }
        };
        let mut offer = |ev: &EngineEvent, gate: &mut Gate| {
            if let Some(alert) = watcher.alert_of(ev) {
                if gate.offer(&alert, Instant::now()) {
                    send(alert);
                } else {
                    tracing::debug!(
                        "{}: alert {} held (min_interval)",
                        alert.id,
                        alert.kind.as_str()
                    );
                }
            }
        };
        loop {
            let next = gate.next_due();
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { break };
                    offer(&ev, &mut gate);
                }
                _ = engine.await_shutdown() => {
                    // Every event is out before the engine says it has ended.
                    while let Some(ev) = events.try_recv() {
                        offer(&ev, &mut gate);
                    }
                    break;
                }
                _ = async { match next { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    for alert in gate.due(Instant::now()) {
                        send(alert);
                    }
                }
            }
        }
        // The engine has ended: what was held goes out as a summary now.
        for alert in gate.due(Instant::now() + Duration::from_secs(86_400 * 365)) {
            send(alert);
        }
    });
    Some(Alerts {
        task,
        commands,
        stop,
        bell,
    })
}

/// Runs one alert command: `sh -c COMMAND` in its own process group with the alert's
/// environment, stdin and stdout closed; killed with its group after [`COMMAND_TIMEOUT`] or
/// when `stop` turns true (the console ends). Its failure (exit code, signal, or not runnable)
/// is logged with its last stderr line.
///
/// Only this task signals the group, and only while its leader is not reaped (its `wait`
/// has not completed): until then the group's number cannot have been reused by another
/// process, so a kill can never reach a stranger.
async fn run_command(
    command: String,
    env: Vec<(&'static str, String)>,
    id: ConnectorId,
    kind: AlertKind,
    mut stop: watch::Receiver<bool>,
    running: Arc<tokio::sync::Semaphore>,
) {
    if *stop.borrow() {
        return; // the console has ended
    }
    let what = format!("alert command for {id} ({})", kind.as_str());
    // Held until this command has ended (its group killed, its leader reaped).
    let _permit = match running.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            tracing::info!("{what}: {MAX_RUNNING} alert commands are running; it waits");
            tokio::select! {
                p = running.acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                _ = stop.wait_for(|s| *s) => {
                    tracing::info!("{what}: not run, the console ends");
                    return;
                }
            }
        }
    };
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(&command)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    crate::engine::io::sys::inherit_only_stdio(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("{what}: cannot run `sh -c`: {e}");
            return;
        }
    };
    let Some(pgid) = child.id().map(|p| p as i32) else {
        return;
    };
    tracing::info!("{what}: started (PID {pgid})");
    let mut stderr = child.stderr.take();
    let mut err = Vec::new();
    enum End {
        Exited(Option<std::process::ExitStatus>),
        TimedOut,
        ConsoleEnded,
    }
    let end = tokio::select! {
        r = tokio::time::timeout(COMMAND_TIMEOUT, async {
            // Read all of it while it runs (a full pipe would block the command), keep the tail.
            let drain = async {
                if let Some(s) = stderr.as_mut() {
                    drain_keeping_tail(s, &mut err).await;
                }
            };
            tokio::join!(drain, child.wait()).1
        }) => match r {
            Ok(status) => End::Exited(status.ok()),
            Err(_) => End::TimedOut,
        },
        _ = stop.wait_for(|s| *s) => End::ConsoleEnded,
    };
    let status = match end {
        End::Exited(status) => status,
        End::TimedOut | End::ConsoleEnded => {
            // Its wait did not complete, so the leader is not reaped: the group is still its.
            if child.id().is_some() {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.wait().await;
            if matches!(end, End::TimedOut) {
                tracing::warn!(
                    "{what}: still running after {} s: killed",
                    COMMAND_TIMEOUT.as_secs()
                );
            } else {
                tracing::info!("{what}: still running as the console ends: killed");
            }
            None
        }
    };
    let last_line = String::from_utf8_lossy(&err)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", crate::machine::redact::plain(l.trim())))
        .unwrap_or_default();
    match status {
        Some(s) if s.success() => tracing::info!("{what}: done"),
        Some(s) => {
            use std::os::unix::process::ExitStatusExt;
            let how = match (s.code(), s.signal()) {
                (Some(127), _) => "could not find the command (exit code 127)".to_string(),
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                (None, None) => "ended".to_string(),
            };
            tracing::warn!("{what} {how}{last_line}");
        }
        None => {}
    }
}

/// Reads `r` to its end, leaving in `tail` at most the last [`STDERR_KEEP`] bytes.
async fn drain_keeping_tail(r: &mut (impl tokio::io::AsyncRead + Unpin), tail: &mut Vec<u8>) {
    let keep = STDERR_KEEP as usize;
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                // Trim in batches, not on every read.
                if tail.len() > 4 * keep {
                    tail.drain(..tail.len() - keep);
                }
            }
        }
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, name: &str, kind: EventKind) -> EngineEvent {
        EngineEvent {
            seq,
            ts: String::new(),
            id: ConnectorId::local(name),
            kind,
        }
    }

    fn transition(phase: Phase) -> EventKind {
        EventKind::Transition {
            phase,
            pid: Some(1),
            detail: format!("now {phase}"),
            fact: None,
        }
    }

    #[test]
    fn only_entering_exited_or_failed_and_health_changes_need_a_human() {
        let mut w = Watcher::default();
        assert_eq!(w.alert_of(&ev(1, "bf", transition(Phase::Ready))), None);
        let a = w
            .alert_of(&ev(2, "bf", transition(Phase::Exited)))
            .expect("an exit alerts");
        assert_eq!((a.kind, a.phase), (AlertKind::Exited, Phase::Exited));
        // A detail change within the same phase is not a second exit.
        assert_eq!(w.alert_of(&ev(3, "bf", transition(Phase::Exited))), None);
        assert_eq!(w.alert_of(&ev(4, "bf", transition(Phase::Backoff))), None);
        assert_eq!(w.alert_of(&ev(5, "bf", transition(Phase::Stopped))), None);
        let f = w
            .alert_of(&ev(6, "bf", transition(Phase::Failed)))
            .expect("failed alerts");
        assert_eq!(f.kind, AlertKind::Failed);
        w.alert_of(&ev(7, "bf", transition(Phase::Ready)));
        let s = w
            .alert_of(&ev(
                8,
                "bf",
                EventKind::Health {
                    change: HealthChange::Stale,
                    health: crate::model::health::FeedHealth::Stale,
                    pid: Some(1),
                    detail: "no market data for 10 s".into(),
                },
            ))
            .expect("stale alerts");
        assert_eq!((s.kind, s.phase), (AlertKind::Stale, Phase::Ready));
        assert_eq!(w.alert_of(&ev(9, "bf", EventKind::Removed)), None);
    }

    #[test]
    fn a_crash_loop_sends_one_alert_then_one_summary_per_interval() {
        let t0 = Instant::now();
        let mut gate = Gate::new(Duration::from_secs(60));
        let exit = |n: u32| Alert {
            id: ConnectorId::local("bf"),
            kind: AlertKind::Exited,
            phase: Phase::Exited,
            detail: format!("exit {n}"),
            more: 0,
        };
        assert!(gate.offer(&exit(0), t0));
        for n in 1..=5 {
            assert!(!gate.offer(&exit(n), t0 + Duration::from_secs(n as u64 * 10)));
        }
        // Another connector, and another event of the same one, have their own windows.
        let other = Alert {
            id: ConnectorId::local("bb"),
            ..exit(9)
        };
        assert!(gate.offer(&other, t0 + Duration::from_secs(1)));
        let failed = Alert {
            kind: AlertKind::Failed,
            ..exit(10)
        };
        assert!(gate.offer(&failed, t0 + Duration::from_secs(2)));
        assert_eq!(gate.next_due(), Some(t0 + Duration::from_secs(60)));
        assert!(gate.due(t0 + Duration::from_secs(59)).is_empty());
        let due = gate.due(t0 + Duration::from_secs(60));
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!((due[0].more, due[0].detail.as_str()), (5, "exit 5"));
        // The summary opened a new window: the next exit is held again.
        assert!(!gate.offer(&exit(6), t0 + Duration::from_secs(70)));
        assert_eq!(gate.next_due(), Some(t0 + Duration::from_secs(120)));
        // Once quiet for a whole window, the next exit goes out at once.
        assert_eq!(gate.due(t0 + Duration::from_secs(120)).len(), 1);
        assert!(gate.due(t0 + Duration::from_secs(180)).is_empty());
        assert!(gate.offer(&exit(7), t0 + Duration::from_secs(181)));
    }

    /// At most [`MAX_RUNNING`] commands run at once, however many alerts pass the gate; the
    /// others wait and still run.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_max_running_commands_run_at_once() {
        let d = tempfile::tempdir().expect("tmp");
        let log = d.path().join("log");
        let command = format!("echo + >> '{0}'; sleep 0.3; echo - >> '{0}'", log.display());
        let (_stop, stop_rx) = watch::channel(false);
        let running = Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING));
        let mut tasks = JoinSet::new();
        for _ in 0..20 {
            tasks.spawn(run_command(
                command.clone(),
                vec![],
                ConnectorId::local("bf"),
                AlertKind::Exited,
                stop_rx.clone(),
                running.clone(),
            ));
        }
        while tasks.join_next().await.is_some() {}
        let text = std::fs::read_to_string(&log).expect("log");
        let (mut now, mut most, mut ran) = (0i32, 0i32, 0);
        for l in text.lines() {
            match l {
                "+" => {
                    now += 1;
                    ran += 1;
                }
                _ => now -= 1,
            }
            most = most.max(now);
        }
        assert_eq!(ran, 20, "every command ran");
        assert!(most <= MAX_RUNNING as i32, "{most} ran at once");
    }

    #[test]
    fn a_zero_interval_lets_everything_through() {
        let mut gate = Gate::new(Duration::ZERO);
        let a = Alert {
            id: ConnectorId::local("bf"),
            kind: AlertKind::Stale,
            phase: Phase::Ready,
            detail: String::new(),
            more: 0,
        };
        let t = Instant::now();
        assert!(gate.offer(&a, t));
        assert!(gate.offer(&a, t));
    }

    #[test]
    fn the_environment_names_connector_event_phase_detail_and_host() {
        let a = Alert {
            id: ConnectorId::local("bf"),
            kind: AlertKind::Exited,
            phase: Phase::Exited,
            detail: "code 1".into(),
            more: 3,
        };
        let env: HashMap<_, _> = environment(&a, "box1").into_iter().collect();
        assert_eq!(env["SWITCHBOARD_CONNECTOR"], "bf");
        assert_eq!(env["SWITCHBOARD_EVENT"], "exited");
        assert_eq!(env["SWITCHBOARD_PHASE"], "exited");
        assert_eq!(env["SWITCHBOARD_HOST"], "box1");
        assert_eq!(env["SWITCHBOARD_MORE"], "3");
        assert!(env["SWITCHBOARD_DETAIL"].starts_with("3 more exited"));
        let remote = Alert {
            id: "bf@tokyo".parse().expect("id"),
            more: 0,
            ..a
        };
        let env: HashMap<_, _> = environment(&remote, "box1").into_iter().collect();
        assert_eq!(env["SWITCHBOARD_HOST"], "tokyo");
        assert_eq!(env["SWITCHBOARD_DETAIL"], "code 1");
    }

    #[test]
    fn the_detail_reaches_the_command_without_escape_sequences() {
        let a = Alert {
            id: ConnectorId::local("bf"),
            kind: AlertKind::Stale,
            phase: Phase::Ready,
            // A title, a clipboard write, a clear screen and a bell, from a feed symbol.
            detail: "\u{1b}]0;pwned\u{7}\u{1b}]52;c;Y2xpcA==\u{7}\u{1b}[2JBTC\u{7}USDT: no data"
                .into(),
            more: 0,
        };
        for more in [0, 2] {
            let a = Alert { more, ..a.clone() };
            let env: HashMap<_, _> = environment(&a, "box1").into_iter().collect();
            let d = &env["SWITCHBOARD_DETAIL"];
            assert!(!d.chars().any(|c| c.is_control()), "{d:?}");
            assert!(
                d.ends_with("USDT: no data") && !d.contains("pwned"),
                "{d:?}"
            );
        }
    }
}
