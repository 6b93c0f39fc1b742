//! `<state_dir>/state.json` and the lock that allows one console per state_dir.
//!
//! The file holds each connector's [`ConnectorView`] plus what re-adoption needs (the process's
//! /proc start time and wall-clock start). It is written by a [`StateWriter`] thread, never on
//! the async workers: writes are atomic (a `tempfile` in the same directory, fsynced, then
//! renamed over the old file), coalesced (only the newest state is written; a change of a detail
//! alone is written without an fsync, at most once a second), and retried until they succeed, so
//! a full disk leaves the file stale only until space is back.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::model::view::ConnectorView;

/// The layout version of `state.json`. Fields added since (decisions, budgets, crash loops,
/// health times) all have serde defaults, so a file an older console wrote still reads.
pub const STATE_VERSION: u32 = 2;
/// A detail-only change waits this long for company before it is written (without fsync).
const DETAIL_COALESCE: Duration = Duration::from_secs(1);
/// First wait after a failed write; doubles up to [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// On shutdown, how many times the last state is tried before the console gives up on it.
const FINAL_ATTEMPTS: u32 = 3;

/// What re-adoption needs beyond the view.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Adoption {
    /// /proc start time of `pid` (clock ticks since boot), guarding against PID reuse.
    pub start_ticks: Option<u64>,
    /// Wall-clock start of the process, seconds since the Unix epoch.
    pub started_unix: Option<f64>,
    /// The binary it was started with.
    pub binary: Option<PathBuf>,
    /// A stop under way: a console that takes over carries it out.
    #[serde(default)]
    pub stop: Option<StopRecord>,
    /// The last Feed event per symbol of this process (Unix seconds), as far as the console saw:
    /// a stall that began before a console restart keeps its age (DESIGN §13).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub symbols: std::collections::BTreeMap<String, f64>,
    /// Where its restart budget stood (a console that takes it over goes on counting).
    #[serde(default)]
    pub budget: Option<crate::machine::budget::BudgetRecord>,
    /// The log relay of `pid` (absent in files of older consoles: the next console then looks
    /// for a relay reading the connector's pipe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay: Option<super::relay::RelayRecord>,
}

/// A stop under way, as `state.json` keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct StopRecord {
    /// When SIGKILL is due (seconds since the Unix epoch).
    pub kill_at_unix: f64,
    /// It is a kill (K), not a stop.
    pub kill: bool,
}

/// One connector in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredConnector {
    #[serde(flatten)]
    pub view: ConnectorView,
    pub adoption: Adoption,
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateFile {
    pub version: u32,
    pub console_pid: i32,
    /// Seconds since the Unix epoch when this was written.
    pub updated_unix: f64,
    pub connectors: Vec<StoredConnector>,
}

impl StateFile {
    /// The record of connector `name`, if any.
    pub fn connector(&self, name: &str) -> Option<&StoredConnector> {
        self.connectors.iter().find(|c| c.view.name == name)
    }
}

/// Path of `state.json`.
pub fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join("state.json")
}

/// Writes `state` atomically: a temporary file in `state_dir` (removed if anything fails),
/// optionally fsynced, then renamed over `state.json`.
pub fn write_state(state_dir: &Path, state: &StateFile, durable: bool) -> std::io::Result<()> {
    super::private_fs::ensure_private_dir(state_dir)?;
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".state.json.")
        .suffix(".tmp")
        .tempfile_in(state_dir)?;
    tmp.write_all(&json)?;
    if durable {
        tmp.as_file().sync_data()?;
    }
    tmp.persist(state_path(state_dir))
        .map(|_| ())
        .map_err(|e| e.error)
}

/// Reads `state.json`, or None if there is none.
pub fn read_state(state_dir: &Path) -> Result<Option<StateFile>, String> {
    let path = state_path(state_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        format!(
            "{}: not a switchboard state file of this version ({e}); delete it if no console runs",
            path.display()
        )
    })
}

pub use crate::model::clock::unix_now;

// ---- the writer thread -----------------------------------------------------------------------

/// How one state is written; the console uses [`write_state`], tests inject failures.
pub type WriteFn = Box<dyn FnMut(&Path, &StateFile, bool) -> std::io::Result<()> + Send>;

#[derive(Default)]
struct Pending {
    latest: Option<StateFile>,
    /// Generation of `latest` (one per submit).
    latest_gen: u64,
    /// Some change since the last successful write was more than a detail.
    durable: bool,
    closing: bool,
    /// Successful writes so far (for tests and the console log).
    written: u64,
    /// A state taken from `latest` is being written.
    writing: bool,
    /// Warnings logged about failed writes (for tests).
    warned: u64,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// The generation of the newest state on disk.
    written_gen: tokio::sync::watch::Sender<u64>,
}

/// Writes `state.json` on its own thread. Dropping it writes the last submitted state (a few
/// attempts) and ends the thread.
pub struct StateWriter {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StateWriter {
    /// A writer for `state_dir` using [`write_state`].
    pub fn spawn(state_dir: PathBuf) -> std::io::Result<StateWriter> {
        Self::with_write_fn(state_dir, Box::new(write_state))
    }

    /// A writer that writes with `write` (tests inject failures through it).
    pub fn with_write_fn(state_dir: PathBuf, write: WriteFn) -> std::io::Result<StateWriter> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            written_gen: tokio::sync::watch::channel(0).0,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("switchboard-state".into())
            .spawn(move || writer_loop(&s, &state_dir, write))?;
        Ok(StateWriter {
            shared,
            thread: Some(thread),
        })
    }

    /// Hands over the newest state. `durable`: more than a detail changed (fsync it, now).
    /// Returns its generation: once [`Self::written`] reaches it, it is on disk.
    pub fn submit(&self, state: StateFile, durable: bool) -> u64 {
        let mut p = lock(&self.shared.pending);
        p.latest = Some(state);
        p.latest_gen += 1;
        p.durable |= durable;
        self.shared.wake.notify_one();
        p.latest_gen
    }

    /// The generation of the newest state on disk, as it changes.
    pub fn written(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.written_gen.subscribe()
    }

    /// Successful writes so far.
    pub fn writes(&self) -> u64 {
        lock(&self.shared.pending).written
    }

    /// Warnings logged about failed writes so far.
    pub fn warnings(&self) -> u64 {
        lock(&self.shared.pending).warned
    }

    /// True when nothing submitted is still waiting to be written.
    pub fn is_idle(&self) -> bool {
        let p = lock(&self.shared.pending);
        p.latest.is_none() && !p.writing
    }
}

impl Drop for StateWriter {
    fn drop(&mut self) {
        lock(&self.shared.pending).closing = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(m: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn writer_loop(shared: &Shared, dir: &Path, mut write: WriteFn) {
    let mut retry = RETRY_MIN;
    let mut final_attempts = 0;
    let mut last_error: Option<String> = None;
    let mut failures = 0u64;
    loop {
        let (state, gen, durable, closing) = {
            let mut p = lock(&shared.pending);
            while p.latest.is_none() && !p.closing {
                p = shared.wake.wait(p).unwrap_or_else(|e| e.into_inner());
            }
            if p.latest.is_some() && !p.durable && !p.closing {
                // A detail alone: give it a moment to be joined by others (a held key).
                let (g, _) = shared
                    .wake
                    .wait_timeout_while(p, DETAIL_COALESCE, |p| !p.durable && !p.closing)
                    .unwrap_or_else(|e| e.into_inner());
                p = g;
            }
            match p.latest.take() {
                Some(st) => {
                    let durable = std::mem::take(&mut p.durable);
                    p.writing = true;
                    (st, p.latest_gen, durable, p.closing)
                }
                None => return, // closing with nothing left
            }
        };
        match write(dir, &state, durable) {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!(
                        "{} is written again, after {failures} failed attempt(s)",
                        state_path(dir).display()
                    );
                }
                failures = 0;
                retry = RETRY_MIN;
                shared.written_gen.send_replace(gen);
                let mut p = lock(&shared.pending);
                p.written += 1;
                p.writing = false;
            }
            Err(e) => {
                let msg = e.to_string();
                failures += 1;
                // Once per streak: each attempt's error may name another temporary file.
                if last_error.is_none() {
                    tracing::warn!(
                        "cannot write {}: {msg}; retrying until it works (`status` without a console shows older data until then)",
                        state_path(dir).display()
                    );
                    lock(&shared.pending).warned += 1;
                }
                last_error = Some(msg);
                let mut p = lock(&shared.pending);
                p.writing = false;
                // Put it back unless something newer arrived meanwhile.
                if p.latest.is_none() {
                    p.latest = Some(state);
                }
                p.durable |= durable;
                if closing {
                    final_attempts += 1;
                    if final_attempts >= FINAL_ATTEMPTS {
                        tracing::error!(
                            "giving up on {} at shutdown: {}",
                            state_path(dir).display(),
                            last_error.as_deref().unwrap_or("")
                        );
                        return;
                    }
                }
                let _ = shared
                    .wake
                    .wait_timeout(p, retry)
                    .unwrap_or_else(|e| e.into_inner());
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

// ---- the console lock ------------------------------------------------------------------------

/// Held while a console runs on a state_dir. Dropping it releases the lock.
#[derive(Debug)]
pub struct ConsoleLock {
    _lock: Flock<File>,
    pub path: PathBuf,
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another switchboard console (PID {pid}) already runs on {dir}; use it, or stop it first"
    )]
    Held { pid: String, dir: PathBuf },
    #[error("{path}: cannot create the lock file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How long a starting console retries a lock held by someone else (a probe lasts microseconds).
const LOCK_PROBE_PATIENCE: std::time::Duration = std::time::Duration::from_millis(750);

/// Takes `<state_dir>/lock` (retrying briefly past a `lock_state` probe), and writes our PID
/// into it.
pub fn lock_state_dir(state_dir: &Path) -> Result<ConsoleLock, LockError> {
    let path = state_dir.join("lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    super::private_fs::ensure_private_dir(state_dir).map_err(io)?;
    let mut file = super::private_fs::open_rw(&path).map_err(io)?;
    // `lock_state` (status, the viewer, every CLI call) probes with a shared lock held for
    // microseconds; a console starting at that instant must not take the probe for a console.
    // A real console holds the lock for its lifetime, so a short retry changes nothing for it.
    let deadline = std::time::Instant::now() + LOCK_PROBE_PATIENCE;
    let taken = loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => break Ok(lock),
            Err((back, _)) if std::time::Instant::now() < deadline => {
                file = back;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err((back, _)) => break Err(back),
        }
    };
    match taken {
        Ok(mut lock) => {
            lock.set_len(0).map_err(io)?;
            lock.write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(io)?;
            Ok(ConsoleLock { _lock: lock, path })
        }
        Err(mut file) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = match pid.trim() {
                "" => "unknown".to_string(),
                p => p.to_string(),
            };
            Err(LockError::Held {
                pid,
                dir: state_dir.to_path_buf(),
            })
        }
    }
}

/// Whether a console holds a state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockState {
    /// No console runs there.
    Free,
    /// A console runs there: this PID (None for the instant before it has written it).
    Held(Option<i32>),
    /// The lock cannot be looked at (e.g. another user's private state dir): why.
    Unknown(String),
}

/// Looks at `<state_dir>/lock` without taking it. Read-only, so that it works for any user
/// who may read the file.
pub fn lock_state(state_dir: &Path) -> LockState {
    use std::os::unix::fs::OpenOptionsExt;
    let path = state_dir.join("lock");
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // No lock file: free, unless the directory itself cannot be looked into.
            return match std::fs::read_dir(state_dir) {
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    LockState::Unknown(format!("{}: {e}", state_dir.display()))
                }
                _ => LockState::Free,
            };
        }
        Err(e) => return LockState::Unknown(format!("{}: {e}", path.display())),
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => LockState::Free,
        Err((mut f, _)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            LockState::Held(pid.trim().parse().ok())
        }
    }
}

/// The PID of the console holding the lock on `state_dir`, if one does and has written it.
pub fn lock_holder(state_dir: &Path) -> Option<i32> {
    match lock_state(state_dir) {
        LockState::Held(pid) => pid,
        LockState::Free | LockState::Unknown(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::connector::ConnectorType;
    use crate::model::exit::ExitStatus;
    use crate::model::phase::Phase;

    fn state(detail: &str) -> StateFile {
        StateFile {
            version: STATE_VERSION,
            console_pid: 1,
            updated_unix: 2.0,
            connectors: vec![StoredConnector {
                view: ConnectorView {
                    phase: Phase::Ready,
                    pid: Some(5),
                    uptime_s: Some(3.0),
                    restarts: 1,
                    bots: 2,
                    last_exit: Some(ExitStatus::Code(1)),
                    detail: detail.into(),
                    wanted: true,
                    ..ConnectorView::new("a", ConnectorType::Bybit, 2.0)
                },
                adoption: Adoption {
                    start_ticks: Some(6),
                    started_unix: Some(7.0),
                    binary: None,
                    stop: Some(StopRecord {
                        kill_at_unix: 9.5,
                        kill: false,
                    }),
                    symbols: [("ETHUSDT".to_string(), 8.25)].into_iter().collect(),
                    budget: None,
                    relay: None,
                },
            }],
        }
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn state_roundtrips_and_lock_is_exclusive() {
        let d = tempfile::tempdir().expect("tmp");
        let st = state("d");
        write_state(d.path(), &st, true).expect("write");
        assert_eq!(read_state(d.path()).expect("read"), Some(st));
        assert!(leftovers(d.path()).is_empty());
        let held = lock_state_dir(d.path()).expect("first lock");
        let second = lock_state_dir(d.path()).expect_err("second lock");
        assert!(
            second.to_string().contains(&std::process::id().to_string()),
            "{second}"
        );
        assert_eq!(lock_holder(d.path()), Some(std::process::id() as i32));
        drop(held);
        assert_eq!(lock_holder(d.path()), None);
    }

    /// The CI failure of 2026-12-03: a console started while `status` probed the lock with a
    /// shared flock, and refused to run ("another switchboard console (PID ) already runs").
    #[test]
    fn a_console_starting_during_a_status_probe_still_takes_the_lock() {
        let d = tempfile::tempdir().expect("tempdir");
        drop(lock_state_dir(d.path()).expect("create the lock file"));
        let probe = File::open(d.path().join("lock")).expect("open the lock file");
        let probe = Flock::lock(probe, FlockArg::LockSharedNonblock).expect("probe");
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            drop(probe);
        });
        let held = lock_state_dir(d.path()).expect("the probe ends; the console gets the lock");
        release.join().expect("the probe thread");
        assert_eq!(lock_holder(d.path()), Some(std::process::id() as i32));
        drop(held);
    }

    #[test]
    fn a_failing_disk_is_retried_until_the_newest_state_lands() {
        // A real error: the state dir's path runs through a regular file (ENOTDIR, even for
        // root). Once the file is replaced by a directory, the newest state must land.
        let d = tempfile::tempdir().expect("tmp");
        let blocker = d.path().join("blocked");
        std::fs::write(&blocker, "not a dir").expect("file");
        let dir = blocker.join("state");
        let w = StateWriter::spawn(dir.clone()).expect("writer");
        w.submit(state("first"), true);
        w.submit(state("newest"), false);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(w.writes(), 0, "nothing can be written yet");
        std::fs::remove_file(&blocker).expect("rm");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !w.is_idle() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(w.is_idle(), "the state was written once space was back");
        assert_eq!(*w.written().borrow(), 2, "the newest generation is on disk");
        let back = read_state(&dir).expect("read").expect("some");
        assert_eq!(back.connectors[0].view.detail, "newest");
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }

    /// A disk-full streak is warned about once, although each attempt's error names another
    /// temporary file.
    #[test]
    fn a_failure_streak_is_warned_about_once() {
        let d = tempfile::tempdir().expect("tmp");
        let mut attempt = 0;
        let w = StateWriter::with_write_fn(
            d.path().to_path_buf(),
            Box::new(move |dir, st, durable| {
                attempt += 1;
                if attempt <= 4 {
                    return Err(std::io::Error::other(format!(
                        "No space left on device (os error 28) at path \".state.json.{attempt}.tmp\""
                    )));
                }
                write_state(dir, st, durable)
            }),
        )
        .expect("writer");
        w.submit(state("full"), true);
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while w.writes() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(w.writes(), 1, "written once the disk had room");
        assert_eq!(w.warnings(), 1, "one warning for the streak of 4 failures");
    }

    #[test]
    fn detail_only_changes_are_coalesced_without_fsync() {
        let d = tempfile::tempdir().expect("tmp");
        let log: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
        let l = log.clone();
        let w = StateWriter::with_write_fn(
            d.path().to_path_buf(),
            Box::new(move |dir, st, durable| {
                l.lock()
                    .expect("log")
                    .push((st.connectors[0].view.detail.clone(), durable));
                write_state(dir, st, durable)
            }),
        )
        .expect("writer");
        w.submit(state("phase change"), true);
        std::thread::sleep(Duration::from_millis(100));
        for k in 0..200 {
            w.submit(state(&format!("key press {k}")), false);
        }
        drop(w); // writes the last state at shutdown
        let writes = log.lock().expect("log").clone();
        assert_eq!(writes[0], ("phase change".to_string(), true));
        assert!(
            writes.len() <= 3,
            "200 detail changes coalesced into few writes: {writes:?}"
        );
        assert!(
            writes[1..].iter().all(|(_, durable)| !durable),
            "{writes:?}"
        );
        assert_eq!(writes.last().map(|w| w.0.as_str()), Some("key press 199"));
        let back = read_state(d.path()).expect("read").expect("some");
        assert_eq!(back.connectors[0].view.detail, "key press 199");
    }
}
