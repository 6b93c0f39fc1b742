//! Starting a connector process and signalling it safely.
//!
//! Each connector runs as the leader of its own session and process group, with cwd = project
//! root and its stdout and stderr going to its log file (through its log relay, or straight).
//! One task owns the `Child`: it sees the exit through a pidfd (no polling), ends what is left of
//! the group while the zombie still pins the group id, reaps the child, and delivers signals.
//! Because a signal is only sent while that task has not yet reaped the child, the PID (and so
//! the group id) cannot have been reused: a stop never signals a stranger.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Stdio;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};

use crate::machine::state::Sig;
use crate::model::exit::ExitStatus;

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub binary: PathBuf,
    /// The positional arguments `<NAME> <CONNECTOR> <CONFIG>`.
    pub args: Vec<String>,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    /// Where stdout and stderr go.
    pub log: LogTarget,
}

/// Where a connector's output goes.
#[derive(Debug, Clone, PartialEq)]
pub enum LogTarget {
    /// Nowhere (`capture_output = false`).
    Discard,
    /// Appended straight to this file (no rotation: the library's `ConnectorRunner`).
    File(PathBuf),
    /// Through a log relay (`program log-relay …`), which rotates without losing a line.
    Relay {
        program: PathBuf,
        spec: super::relay::RelaySpec,
    },
}

impl LogTarget {
    /// The log file, if output is kept.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            LogTarget::Discard => None,
            LogTarget::File(f) => Some(f),
            LogTarget::Relay { spec, .. } => Some(&spec.file),
        }
    }
}

/// Bytes a relay's pipe may hold (F_SETPIPE_SZ; Linux caps it at fs.pipe-max-size, 1 MiB by
/// default): a relay that falls behind for a moment does not block the connector.
const RELAY_PIPE_BYTES: nix::libc::c_int = 1 << 20;

/// Starts a log relay in its own session, reading a new pipe. Returns the pipe's write end (for
/// the connector's stdout and stderr), the relay, and a spare read end for its supervisor.
fn start_relay(
    program: &std::path::Path,
    spec: &super::relay::RelaySpec,
) -> std::io::Result<(std::fs::File, super::relay::Watched, OwnedFd)> {
    if let Some(dir) = spec.file.parent() {
        super::private_fs::ensure_private_dir(dir)?;
    }
    // The file is opened here first, so that a bad log path is reported now, by us.
    drop(super::private_fs::open_append(&spec.file)?);
    let (read, write): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
    let _ = nix::fcntl::fcntl(
        write.as_fd(),
        nix::fcntl::FcntlArg::F_SETPIPE_SZ(RELAY_PIPE_BYTES),
    );
    let spare = read.try_clone()?;
    let relay = super::relay::launch(program, spec, read)?;
    Ok((std::fs::File::from(write), relay, spare))
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
    /// With a log relay: resolves when the relay has written the connector's last output.
    pub log_flushed: Option<oneshot::Receiver<()>>,
    /// With a log relay: what its supervisor says (the relay running, a replacement and why).
    pub relay_news: Option<mpsc::UnboundedReceiver<super::relay::RelayNews>>,
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
    let mut relay = None;
    let out = match &spec.log {
        LogTarget::File(path) => Some(super::logs::open_for_child(path).map_err(SpawnError::Log)?),
        LogTarget::Relay { program, spec } => {
            let (pipe, watched, spare) = start_relay(program, spec).map_err(SpawnError::Log)?;
            relay = Some((program.clone(), spec.clone(), watched, spare));
            Some(pipe)
        }
        LogTarget::Discard => None,
    };
    let (stdout, stderr) = match out {
        Some(f) => {
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
    let (log_flushed, relay_news) = match relay {
        Some((program, spec, watched, spare)) => {
            let (news, relay_news) = mpsc::unbounded_channel();
            let _ = news.send(super::relay::RelayNews::Running(watched.record));
            let (done_tx, done_rx) = oneshot::channel();
            let supervisor = super::relay::Supervisor {
                program,
                spec,
                connector: (pid, start_ticks),
                spare,
                news,
            };
            tokio::spawn(async move {
                supervisor.run(Some(watched), None).await;
                let _ = done_tx.send(());
            });
            (Some(done_rx), Some(relay_news))
        }
        None => (None, None),
    };
    // Our unreaped child: its PID cannot be reused, so this pidfd is race-free. It tells us the
    // child has exited while it is still a zombie, i.e. while its PID (and so its process group
    // id) is still pinned: the moment to end whatever is left of its group.
    // Without pidfds (Linux before 5.3) the exit is seen by reaping, and group members that
    // outlive the leader are not ended.
    let exit_fd = super::sys::async_pidfd(pid)
        .inspect_err(|e| {
            tracing::warn!(
                pid,
                "no pidfd ({e}); leftover group members will not be ended"
            )
        })
        .ok();
    let (sig_tx, mut sig_rx) = mpsc::unbounded_channel::<Sig>();
    let (exit_tx, exit_rx) = oneshot::channel();
    tokio::spawn(async move {
        let exited = async {
            match &exit_fd {
                Some(fd) => {
                    if let Ok(mut guard) = fd.readable().await {
                        guard.retain_ready();
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(exited);
        let mut reaped = None;
        loop {
            tokio::select! {
                () = &mut exited => break,
                status = child.wait(), if exit_fd.is_none() => { reaped = Some(status); break; }
                Some(sig) = sig_rx.recv() => {
                    // Not reaped yet (we are the only reaper), so `pid` is still ours.
                    if let Err(e) = killpg(Pid::from_raw(pid), signal_of(sig)) {
                        tracing::debug!(pid, "killpg {sig:?}: {e}");
                    }
                }
            }
        }
        // The leader is a zombie: members of its group (helpers, a wrapper's children) must not
        // outlive it. The zombie pins the group id, so killpg cannot reach a stranger.
        if reaped.is_none() {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        // When wait fails (someone else reaped it), the status is unknown: never invented.
        let status = match reaped.unwrap_or(child.wait().await) {
            Ok(s) => ExitStatus::from_std(s),
            Err(e) => {
                tracing::error!(
                    pid,
                    "waiting for the child failed: {e}; exit status unknown"
                );
                None
            }
        };
        let _ = exit_tx.send(status);
    });
    Ok(ChildHandle {
        pid,
        start_ticks,
        signals: sig_tx,
        exited: exit_rx,
        log_flushed,
        relay_news,
    })
}

fn signal_of(sig: Sig) -> Signal {
    match sig {
        Sig::Term => Signal::SIGTERM,
        Sig::Kill => Signal::SIGKILL,
    }
}

/// Takes over a connector started by an earlier console (not our child), which must be the
/// process that started at `start_ticks`: the pidfd is opened first and the start time checked
/// after, so the process checked is the one held. Its exit is watched through that pidfd (no
/// polling). Signals go to the process first and to its group only if that succeeded (it is
/// still alive, so its group id is still its own). When it exits, what is left of its group is
/// killed member by member.
pub fn adopt(pid: i32, start_ticks: u64) -> std::io::Result<ChildHandle> {
    let afd = super::sys::async_pidfd(pid)?;
    if !super::sys::is_same_process(pid, start_ticks) {
        return Err(std::io::Error::other(format!(
            "PID {pid} is no longer the recorded process"
        )));
    }
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
                        let _ = killpg(Pid::from_raw(pid), signal_of(sig));
                    }
                }
            }
        }
        let n = tokio::task::spawn_blocking(move || super::sys::kill_group_members(pid))
            .await
            .unwrap_or(0);
        if n > 0 {
            tracing::info!(
                pid,
                "killed {n} process(es) left in its group after it exited"
            );
        }
        let _ = exit_tx.send(None);
    });
    Ok(ChildHandle {
        pid,
        start_ticks: Some(start_ticks),
        signals: sig_tx,
        exited: exit_rx,
        log_flushed: None,
        relay_news: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// When `wait` fails (here: the child was reaped behind the reaper's back), nothing is
    /// invented: the status is unknown.
    #[tokio::test(flavor = "current_thread")]
    async fn a_failed_wait_reports_an_unknown_status() {
        let spec = SpawnSpec {
            binary: "/bin/sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
            log: LogTarget::Discard,
        };
        let handle = spawn(&spec).expect("spawn sh");
        // The runtime has one thread and this test holds it: the reaper task cannot run until
        // the child has been reaped here.
        let reaped = nix::sys::wait::waitpid(Pid::from_raw(handle.pid), None).expect("waitpid");
        assert!(matches!(reaped, nix::sys::wait::WaitStatus::Exited(_, 3)));
        let status = tokio::time::timeout(std::time::Duration::from_secs(5), handle.exited)
            .await
            .expect("the reaper ends")
            .expect("the reaper says how it ended");
        assert_eq!(status, None, "not an invented status");
    }
}
