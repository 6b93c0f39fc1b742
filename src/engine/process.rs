//! Starting a connector process and signalling it safely.
//!
//! Each connector runs as the leader of its own session and process group, with cwd = project
//! root and its stdout and stderr appended straight to its log file. One task owns the `Child`:
//! it both waits for the exit (SIGCHLD-driven, no polling) and delivers signals. Because a
//! signal is only sent while that task has not yet reaped the child, the PID (and so the group
//! id) cannot have been reused: a stop never signals a stranger.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use super::phase::ExitStatus;
use super::state::Sig;

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub binary: PathBuf,
    /// The positional arguments `<NAME> <CONNECTOR> <CONFIG>`.
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Log file for stdout and stderr; None discards them (`capture_output = false`).
    pub log: Option<PathBuf>,
}

/// A running child, owned by its reaper task.
#[derive(Debug)]
pub struct ChildHandle {
    pub pid: i32,
    /// Process start time from /proc (clock ticks since boot), to recognise it later.
    pub start_ticks: Option<u64>,
    signals: mpsc::UnboundedSender<Sig>,
    /// Resolves once, when the process has ended: its status for our own child, None for an
    /// adopted process (only its parent could know).
    pub exited: oneshot::Receiver<Option<ExitStatus>>,
}

impl ChildHandle {
    /// Asks the reaper task to signal the child's process group. A no-op once it has exited.
    pub fn signal(&self, sig: Sig) {
        let _ = self.signals.send(sig);
    }

    /// A cloneable sender for signals.
    pub fn signaller(&self) -> Signaller {
        Signaller(self.signals.clone())
    }
}

/// Signals one child's process group through its reaper task.
#[derive(Debug, Clone)]
pub struct Signaller(mpsc::UnboundedSender<Sig>);

impl Signaller {
    /// Sends `sig` to the group if the child has not exited yet.
    pub fn signal(&self, sig: Sig) {
        let _ = self.0.send(sig);
    }
}

/// Why a spawn failed: the log file (switchboard's side) or the exec (the binary's side), so that
/// an unwritable log is never blamed on the binary.
#[derive(Debug)]
pub enum SpawnError {
    /// The log file could not be opened (its path is in the message).
    Log(std::io::Error),
    /// The binary could not be executed.
    Exec(std::io::Error),
}

impl SpawnError {
    /// The underlying error.
    pub fn into_io(self) -> std::io::Error {
        match self {
            SpawnError::Log(e) | SpawnError::Exec(e) => e,
        }
    }
}

/// Spawns the connector. Must be called inside a tokio runtime.
pub fn spawn(spec: &SpawnSpec) -> Result<ChildHandle, SpawnError> {
    let (stdout, stderr) = match &spec.log {
        Some(path) => {
            let f = super::logs::open_for_child(path).map_err(SpawnError::Log)?;
            let g = f.try_clone().map_err(SpawnError::Log)?;
            (Stdio::from(f), Stdio::from(g))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = tokio::process::Command::new(&spec.binary);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // The connector must outlive the console: never kill it because a handle dropped.
        .kill_on_drop(false);
    super::sys::new_session(&mut cmd);
    let mut child = cmd.spawn().map_err(SpawnError::Exec)?;
    let pid = child.id().ok_or_else(|| {
        SpawnError::Exec(std::io::Error::other(
            "child exited before its PID was read",
        ))
    })? as i32;
    let start_ticks = super::sys::process_start_ticks(pid);
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel::<Sig>();
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::spawn(async move {
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                Some(sig) = sig_rx.recv() => {
                    // Not reaped yet (we are the only reaper), so `pid` is still ours.
                    let signal = match sig {
                        Sig::Term => Signal::SIGTERM,
                        Sig::Kill => Signal::SIGKILL,
                    };
                    if let Err(e) = killpg(Pid::from_raw(pid), signal) {
                        tracing::debug!(pid, "killpg {signal}: {e}");
                    }
                }
            }
        };
        let status = match status {
            Ok(s) => ExitStatus::from_std(s),
            Err(e) => {
                tracing::error!(pid, "waiting for the child failed: {e}");
                ExitStatus::Signal(0)
            }
        };
        let _ = exit_tx.send(Some(status));
    });
    Ok(ChildHandle {
        pid,
        start_ticks,
        signals: sig_tx,
        exited: exit_rx,
    })
}

/// Takes over a connector started by an earlier console (not our child). Its exit is watched
/// through a pidfd (readable when the process ends; no polling). Signals go to its process group
/// only while the pidfd says it is alive; the pidfd itself pins the identity of the process.
pub fn adopt(pid: i32) -> std::io::Result<ChildHandle> {
    let afd = super::sys::async_pidfd(pid)?;
    let start_ticks = super::sys::process_start_ticks(pid);
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel::<Sig>();
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                ready = afd.readable() => {
                    if let Ok(mut guard) = ready {
                        guard.retain_ready();
                    }
                    break;
                }
                Some(sig) = sig_rx.recv() => {
                    let signal = match sig {
                        Sig::Term => rustix::process::Signal::TERM,
                        Sig::Kill => rustix::process::Signal::KILL,
                    };
                    // pidfd_send_signal reaches exactly this process (never a reused PID); the
                    // group signal follows only if that succeeded, i.e. it is still alive.
                    if rustix::process::pidfd_send_signal(afd.get_ref(), signal).is_ok() {
                        let group = match sig {
                            Sig::Term => Signal::SIGTERM,
                            Sig::Kill => Signal::SIGKILL,
                        };
                        let _ = killpg(Pid::from_raw(pid), group);
                    }
                }
            }
        }
        let _ = exit_tx.send(None);
    });
    Ok(ChildHandle {
        pid,
        start_ticks,
        signals: sig_tx,
        exited: exit_rx,
    })
}
