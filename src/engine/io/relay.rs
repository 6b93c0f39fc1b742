//! The log relay: `switchboard log-relay --file F --max-bytes N --keep K`, a small process
//! between a connector's stdout/stderr (a pipe) and its log file. It is the file's only writer
//! (besides the console's marker lines), so it can rotate without losing a line: before a write
//! would take the file past `max_bytes` it renames `F` to `F.1` (shifting older files up to
//! `F.K`), opens a new `F` and writes there, cutting only at line ends.
//!
//! It runs in its own session, ignores SIGINT, SIGTERM and SIGHUP, and ends when the pipe
//! reaches end-of-file, i.e. when the connector (and anything it left holding the pipe) is
//! gone. So a crashed, frozen or killed console never touches it, and a connector's last words
//! after a SIGTERM or a panic reach the file. It names itself `sb-log-relay` (its `comm`), so
//! that `killall switchboard` or `pkill -x switchboard` aimed at consoles spares it.
//!
//! The console supervises each relay ([`Supervisor`]): it watches the relay's pidfd (no
//! polling), and when the relay dies, or stops reading (stopped, or its pipe full while the log
//! does not grow), it attaches a new relay to the same pipe and marks the gap in the log. Stop
//! and stall are looked for by one watchdog thread for all relays, once a second, and only in
//! the pipes that hold unread output: an idle connector's relay costs the console nothing. The
//! console holds a spare read end of the pipe, so that a connector never writes into a pipe
//! without a reader (EPIPE: its logger's error report to stderr, the same pipe, can panic it)
//! while one relay is replaced by the next.

use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Read size (the pipe holds up to 1 MiB).
const CHUNK: usize = 1024 * 1024;
/// After a read that found the pipe nearly empty, wait this long before the next, so that a
/// connector writing line by line is copied in large batches (one wake-up per thousands of
/// lines, not per line). At 200 MB/s a connector fills 400 KB in this time: less than the pipe
/// holds, so it is never blocked; quiet, the relay sleeps in `read`.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(2);
/// A read shorter than this counts as "nearly empty".
const SMALL_READ: usize = 64 * 1024;

/// The relay's process name (`/proc/PID/comm`, at most 15 bytes).
pub const RELAY_COMM: &std::ffi::CStr = c"sb-log-relay";

/// What the relay does, as its command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    pub file: PathBuf,
    pub max_bytes: u64,
    pub keep: u32,
}

impl RelaySpec {
    /// The arguments after the program: `log-relay --file F --max-bytes N --keep K`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "log-relay".into(),
            "--file".into(),
            self.file.display().to_string(),
            "--max-bytes".into(),
            self.max_bytes.to_string(),
            "--keep".into(),
            self.keep.to_string(),
        ]
    }
}

fn numbered(file: &Path, k: u32) -> PathBuf {
    PathBuf::from(format!("{}.{k}", file.display()))
}

/// `F` → `F.1`, `F.1` → `F.2`, … up to `F.keep` (the oldest is dropped). With `keep = 0` the
/// file is removed. Renames never follow a symlink; a new `F` is created by the next open.
pub fn rotate_by_rename(file: &Path, keep: u32) -> io::Result<()> {
    if keep == 0 {
        return std::fs::remove_file(file);
    }
    for k in (1..keep).rev() {
        let from = numbered(file, k);
        if std::fs::symlink_metadata(&from).is_ok() {
            std::fs::rename(&from, numbered(file, k + 1))?;
        }
    }
    std::fs::rename(file, numbered(file, 1))
}

/// Copies `input` to `spec.file` until end-of-file, rotating as it goes. Lossless: every byte
/// read is written to exactly one file.
pub fn relay(spec: &RelaySpec, mut input: impl Read) -> io::Result<()> {
    let mut out = super::private_fs::open_append(&spec.file)?;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return out.flush(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let coalesce = n < SMALL_READ;
        let mut data = &buf[..n];
        while !data.is_empty() {
            // The file's real size: the console's markers land in it too.
            let size = out.metadata()?.size();
            let room = spec.max_bytes.saturating_sub(size) as usize;
            if data.len() <= room {
                out.write_all(data)?;
                break;
            }
            // Whole lines that fit go here; the rest starts the next file.
            let cut = memchr::memrchr(b'\n', &data[..room]).map(|i| i + 1);
            match cut {
                Some(cut) => {
                    out.write_all(&data[..cut])?;
                    data = &data[cut..];
                }
                // Not even one line fits, and the file has something: rotate first.
                None if size > 0 => {}
                // An empty file and a line longer than the limit: it goes in whole.
                None => {
                    let end = memchr::memchr(b'\n', data).map_or(data.len(), |i| i + 1);
                    out.write_all(&data[..end])?;
                    data = &data[end..];
                    if data.is_empty() {
                        break;
                    }
                }
            }
            out.flush()?;
            rotate_by_rename(&spec.file, spec.keep)?;
            out = super::private_fs::open_append(&spec.file)?;
        }
        if coalesce {
            std::thread::sleep(COALESCE);
        }
    }
}

/// The `log-relay` process: ignores the signals that stop a connector, relays stdin, and
/// reports a failure in the log itself when it can (stderr goes nowhere).
pub fn run(spec: &RelaySpec) -> u8 {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // Its own name, so a kill aimed at the console's (`switchboard`) spares it.
    let _ = nix::sys::prctl::set_name(RELAY_COMM);
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: SIG_IGN installs no handler code; nothing else in this process handles them.
        #[allow(unsafe_code)]
        let _ = unsafe { signal(sig, SigHandler::SigIgn) };
    }
    match relay(spec, io::stdin().lock()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = super::logs::write_marker(
                &spec.file,
                &format!("log relay failed: {e}; the connector's further output is lost"),
            );
            1
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Supervision (in the console).

/// How often the relays are checked for having stopped reading (one timer for all of them:
/// see [`Watchdog`]).
const STALL_TICK: Duration = Duration::from_secs(1);
/// Checks in a row that find the relay stopped (state T) before it is replaced.
const STOPPED_CHECKS: u32 = 2;
/// Checks in a row that find its pipe at least half full and the log not growing.
const STALLED_CHECKS: u32 = 3;
/// A relay that dies younger than this is replaced only once this has passed (no busy loop
/// when every new relay dies at once, e.g. on a full disk).
const MIN_RELAY_LIFE: Duration = Duration::from_secs(1);

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

/// A relay process as `state.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelayRecord {
    pub pid: i32,
    /// /proc start time (clock ticks since boot), guarding against PID reuse.
    pub start_ticks: u64,
}

/// What a supervisor tells the engine about a connector's relay.
#[derive(Debug, Clone, PartialEq)]
pub enum RelayNews {
    /// This relay now copies the connector's output (the first, or a replacement).
    Running(RelayRecord),
    /// Something the operator should know, for the connector's detail.
    Note(String),
}

/// A relay process being watched through its pidfd.
pub struct Watched {
    pub record: RelayRecord,
    fd: tokio::io::unix::AsyncFd<OwnedFd>,
    /// Our own child: reaped once it ended.
    child: Option<tokio::process::Child>,
    since: tokio::time::Instant,
}

impl Watched {
    async fn ended(&mut self) {
        if let Ok(mut guard) = self.fd.readable().await {
            guard.retain_ready();
        }
        if let Some(child) = &mut self.child {
            let _ = child.wait().await;
        }
    }
}

/// Starts a relay (in its own session) reading `stdin`. Must be called inside a tokio runtime.
pub fn launch(program: &Path, spec: &RelaySpec, stdin: OwnedFd) -> io::Result<Watched> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(spec.args())
        .stdin(std::process::Stdio::from(stdin))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false);
    super::sys::new_session(&mut cmd);
    let child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the log relay ended before its PID was read"))?
        as i32;
    // Our unreaped child: the pidfd cannot name another process.
    let fd = super::sys::async_pidfd(pid)?;
    Ok(Watched {
        record: RelayRecord {
            pid,
            start_ticks: super::sys::process_start_ticks(pid).unwrap_or(0),
        },
        fd,
        child: Some(child),
        since: tokio::time::Instant::now(),
    })
}

/// The pipe `/proc/PID/fd/FD` names (`pipe:[inode]`), if it is one.
fn pipe_of(pid: i32, fd: i32) -> Option<std::ffi::OsString> {
    let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let s = link.into_os_string();
    s.to_string_lossy().starts_with("pipe:[").then_some(s)
}

/// A read end of the pipe connector `pid` writes its stdout (or else stderr) to, opened
/// through /proc (the connector holds the pipe; its PID must be checked by the caller after).
pub fn open_connector_pipe(pid: i32) -> io::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::unix::fs::OpenOptionsExt;
    let fd = [1, 2]
        .into_iter()
        .find(|fd| pipe_of(pid, *fd).is_some())
        .ok_or_else(|| io::Error::other(format!("PID {pid} writes to no pipe")))?;
    // Non-blocking open: an open for reading of a pipe without writers would wait for one.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(format!("/proc/{pid}/fd/{fd}"))?;
    // The relay reads it blocking (this open file description is ours alone).
    fcntl(f.as_fd(), FcntlArg::F_SETFL(OFlag::empty())).map_err(io::Error::from)?;
    Ok(f.into())
}

/// The live relay of connector `pid` that a previous console left: the recorded one if it
/// still runs and reads the connector's pipe, else (an older `state.json`) any `log-relay`
/// process reading it. Its pidfd is opened before its identity is checked.
pub fn find_live(recorded: Option<RelayRecord>, connector: i32) -> Option<Watched> {
    let pipe = pipe_of(connector, 1).or_else(|| pipe_of(connector, 2))?;
    let candidates: Vec<i32> = match recorded {
        Some(r) => vec![r.pid],
        None => std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|p| {
                super::sys::process_cmdline(*p)
                    .is_some_and(|argv| argv.iter().any(|a| a == "log-relay"))
            })
            .collect(),
    };
    candidates.into_iter().find_map(|pid| {
        let fd = super::sys::async_pidfd(pid).ok()?;
        let ticks = super::sys::process_start_ticks(pid)?;
        let same = recorded.is_none_or(|r| r.start_ticks == ticks);
        (same && !super::sys::is_zombie(pid) && pipe_of(pid, 0).as_ref() == Some(&pipe)).then(
            || Watched {
                record: RelayRecord {
                    pid,
                    start_ticks: ticks,
                },
                fd,
                child: None,
                since: tokio::time::Instant::now(),
            },
        )
    })
}

/// One process state letter from /proc/PID/stat (`R`, `S`, `D`, `T`, `Z`…).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// What says the log file moved: its inode and size.
fn log_mark(file: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(file).ok().map(|m| (m.ino(), m.size()))
}

/// Keeps a connector's output relayed for as long as the connector runs.
pub struct Supervisor {
    pub program: PathBuf,
    pub spec: RelaySpec,
    /// The connector: PID and /proc start time.
    pub connector: (i32, Option<u64>),
    /// A read end of the connector's pipe, held (never read) so the pipe always has a reader,
    /// and duplicated as each new relay's input.
    pub spare: OwnedFd,
    pub news: tokio::sync::mpsc::UnboundedSender<RelayNews>,
}

/// Why a relay is being replaced, and since when its output has not been copied.
struct Gap {
    since: tokio::time::Instant,
    what: String,
}

impl Supervisor {
    fn connector_alive(&self) -> bool {
        let (pid, ticks) = self.connector;
        match ticks {
            Some(t) => super::sys::is_same_process(pid, t),
            None => super::sys::process_start_ticks(pid).is_some() && !super::sys::is_zombie(pid),
        }
    }

    /// Runs until the connector is gone and its last relay has ended. `current`: the relay now
    /// running (None: attach one at once, the gap described by `gap`: what and since when).
    pub async fn run(self, mut current: Option<Watched>, gap: Option<(Duration, String)>) {
        let mut gap = gap.map(|(ago, what)| Gap {
            since: tokio::time::Instant::now()
                .checked_sub(ago)
                .unwrap_or_else(tokio::time::Instant::now),
            what,
        });
        // The shared watchdog wakes this task only on a tick that finds output waiting in the
        // pipe: a relay that keeps up (an idle connector's, most of all) costs no wake-up.
        let watch = match self.spare.try_clone() {
            Ok(fd) => Some(watchdog().watch(fd)),
            Err(e) => {
                tracing::warn!(
                    pid = self.connector.0,
                    "the log relay's watchdog is off (its pipe could not be duplicated: {e})"
                );
                None
            }
        };
        let mut last_tick = 0u64;
        let (mut stopped, mut stalled, mut mark) = (0u32, 0u32, log_mark(&self.spec.file));
        // The relay this supervisor killed itself (stopped, or not reading): its end is not
        // news, the reason already went out and stays the connector's detail.
        let mut killed: Option<i32> = None;
        loop {
            let Some(w) = current.as_mut() else {
                if !self.connector_alive() {
                    break;
                }
                match self.replace(gap.take()) {
                    Ok(w) => {
                        let _ = self.news.send(RelayNews::Running(w.record));
                        (stopped, stalled) = (0, 0);
                        current = Some(w);
                    }
                    Err(e) => {
                        tracing::warn!(
                            pid = self.connector.0,
                            "a new log relay could not be started: {e}"
                        );
                        let _ = self.news.send(RelayNews::Note(format!(
                            "its output is not logged: a new log relay could not be started ({e}); retrying"
                        )));
                        tokio::time::sleep(MIN_RELAY_LIFE).await;
                    }
                }
                continue;
            };
            let ended = tokio::select! {
                () = w.ended() => true,
                () = suspect(watch.as_deref()) => false,
            };
            let pid = w.record.pid;
            if ended {
                let lived = w.since.elapsed();
                current = None;
                if !self.connector_alive() {
                    break;
                }
                if killed.take() != Some(pid) {
                    let what = format!("its log relay (PID {pid}) ended");
                    tracing::warn!(connector = self.connector.0, "{what}; replacing it");
                    let _ = self
                        .news
                        .send(RelayNews::Note(format!("{what}; replacing it")));
                    gap.get_or_insert(Gap {
                        since: tokio::time::Instant::now(),
                        what,
                    });
                }
                if let Some(wait) = MIN_RELAY_LIFE.checked_sub(lived) {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
            // The counts are of checks in a row: a tick that found the pipe empty between two
            // suspect ones starts them again.
            let tick = watch.as_ref().map_or(0, |w| w.tick());
            if tick != last_tick.wrapping_add(1) {
                (stopped, stalled) = (0, 0);
            }
            last_tick = tick;
            // A relay that does not read blocks its connector once the pipe is full.
            let now_mark = log_mark(&self.spec.file);
            let grew = now_mark != mark;
            mark = now_mark;
            stopped = match proc_state(pid) {
                Some('T' | 't') => stopped + 1,
                _ => 0,
            };
            let queued = rustix::io::ioctl_fionread(&self.spare).unwrap_or(0);
            let capacity =
                nix::fcntl::fcntl(self.spare.as_fd(), nix::fcntl::FcntlArg::F_GETPIPE_SZ)
                    .map_or(u64::MAX, |c| c.max(1) as u64);
            stalled = match !grew && queued >= capacity / 2 {
                true => stalled + 1,
                false => 0,
            };
            let why = if stopped >= STOPPED_CHECKS {
                "is stopped"
            } else if stalled >= STALLED_CHECKS {
                "does not read (its pipe is full and the log does not grow)"
            } else {
                continue;
            };
            let what = format!("its log relay (PID {pid}) {why}");
            tracing::warn!(connector = self.connector.0, "{what}; replacing it");
            let _ = self
                .news
                .send(RelayNews::Note(format!("{what}; replacing it")));
            gap = Some(Gap {
                since: tokio::time::Instant::now(),
                what: what.replace(" is ", " was ").replace(" does ", " did "),
            });
            // Through its pidfd: never another process. Its end is then seen as any other.
            let _ =
                rustix::process::pidfd_send_signal(w.fd.get_ref(), rustix::process::Signal::KILL);
            killed = Some(pid);
            stopped = 0;
            stalled = 0;
        }
    }

    /// Marks the gap in the log, then starts a new relay on the spare read end.
    fn replace(&self, gap: Option<Gap>) -> io::Result<Watched> {
        let stdin = self.spare.try_clone()?;
        let gap = gap.unwrap_or(Gap {
            since: tokio::time::Instant::now(),
            what: "its log relay was gone".into(),
        });
        let _ = super::logs::write_marker(
            &self.spec.file,
            &format!(
                "{}; a new log relay takes over after a gap of {:.3} s (what the pipe held is kept)",
                gap.what,
                gap.since.elapsed().as_secs_f64()
            ),
        );
        let w = launch(&self.program, &self.spec, stdin)?;
        tracing::info!(
            connector = self.connector.0,
            "log relay PID {} took over",
            w.record.pid
        );
        Ok(w)
    }
}

/// Waits until the watchdog finds output waiting in the relay's pipe (forever without one).
async fn suspect(watch: Option<&Watch>) {
    match watch {
        Some(w) => w.notify.notified().await,
        None => std::future::pending().await,
    }
}

/// One relay as the watchdog sees it: a read end of its pipe (held, never read) and how to
/// wake its supervisor. The watchdog forgets it when the supervisor drops it.
struct Watch {
    spare: OwnedFd,
    notify: tokio::sync::Notify,
    /// The watchdog tick that last woke the supervisor.
    tick: std::sync::atomic::AtomicU64,
}

impl Watch {
    fn tick(&self) -> u64 {
        self.tick.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// One timer for every relay's watchdog (a thread of its own, so that it serves every runtime
/// and sleeps without a timer while no relay runs). Each tick reads how many bytes wait in each
/// relay's pipe (one `ioctl`) and wakes the supervisors of the pipes that hold some: only they
/// can have a relay that stopped reading. A dead relay is seen at once through its pidfd, not
/// here.
struct Watchdog {
    watches: std::sync::Mutex<Vec<std::sync::Weak<Watch>>>,
    added: std::sync::Condvar,
}

fn watchdog() -> &'static Watchdog {
    static DOG: std::sync::OnceLock<&'static Watchdog> = std::sync::OnceLock::new();
    DOG.get_or_init(|| {
        let dog: &'static Watchdog = Box::leak(Box::new(Watchdog {
            watches: std::sync::Mutex::new(Vec::new()),
            added: std::sync::Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("sb-relay-watchdog".into())
            .spawn(move || dog.run());
        if let Err(e) = spawned {
            tracing::warn!(
                "the log relays' watchdog could not start ({e}): a stuck relay is not replaced"
            );
        }
        dog
    })
}

impl Watchdog {
    fn watch(&self, spare: OwnedFd) -> std::sync::Arc<Watch> {
        let w = std::sync::Arc::new(Watch {
            spare,
            notify: tokio::sync::Notify::new(),
            tick: std::sync::atomic::AtomicU64::new(0),
        });
        let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
        watches.push(std::sync::Arc::downgrade(&w));
        self.added.notify_one();
        w
    }

    fn run(&self) {
        let mut tick = 0u64;
        loop {
            {
                let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
                while watches.is_empty() {
                    watches = self.added.wait(watches).unwrap_or_else(|e| e.into_inner());
                }
            }
            std::thread::sleep(STALL_TICK);
            tick += 1;
            let live: Vec<std::sync::Arc<Watch>> = {
                let mut watches = self.watches.lock().unwrap_or_else(|e| e.into_inner());
                watches.retain(|w| w.strong_count() > 0);
                watches
                    .iter()
                    .filter_map(std::sync::Weak::upgrade)
                    .collect()
            };
            for w in live {
                if rustix::io::ioctl_fionread(&w.spare).unwrap_or(0) > 0 {
                    w.tick.store(tick, std::sync::atomic::Ordering::Release);
                    w.notify.notify_one();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_by_rename_keeps_every_line_whole_and_files_within_the_limit() {
        let d = tempfile::tempdir().expect("tmp");
        let spec = RelaySpec {
            file: d.path().join("x.log"),
            max_bytes: 4096,
            keep: 100,
        };
        let mut input = Vec::new();
        for i in 0..5000 {
            input.extend_from_slice(format!("line {i:06} {}\n", "y".repeat(i % 50)).as_bytes());
        }
        relay(&spec, &input[..]).expect("relay");
        let mut seen = Vec::new();
        for k in (1..=100).rev() {
            let p = numbered(&spec.file, k);
            if let Ok(text) = std::fs::read_to_string(&p) {
                assert!(
                    text.len() <= 4096,
                    "{} is {} bytes",
                    p.display(),
                    text.len()
                );
                assert!(text.ends_with('\n'), "{} ends mid-line", p.display());
                seen.extend(text.lines().map(str::to_string));
            }
        }
        seen.extend(
            std::fs::read_to_string(&spec.file)
                .expect("current")
                .lines()
                .map(str::to_string),
        );
        let expected: Vec<String> = (0..5000)
            .map(|i| format!("line {i:06} {}", "y".repeat(i % 50)))
            .collect();
        assert_eq!(seen, expected, "every line, once, in order");
    }

    #[test]
    fn a_line_longer_than_the_limit_is_written_whole() {
        let d = tempfile::tempdir().expect("tmp");
        let spec = RelaySpec {
            file: d.path().join("x.log"),
            max_bytes: 100,
            keep: 3,
        };
        let long = format!("{}\n", "z".repeat(250));
        relay(&spec, format!("a\n{long}b\n").as_bytes()).expect("relay");
        assert_eq!(
            std::fs::read_to_string(numbered(&spec.file, 2)).expect("r"),
            "a\n"
        );
        assert_eq!(
            std::fs::read_to_string(numbered(&spec.file, 1)).expect("r"),
            long
        );
        assert_eq!(std::fs::read_to_string(&spec.file).expect("r"), "b\n");
    }
}
