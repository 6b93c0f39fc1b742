//! The few OS facts switchboard needs that no safe API gives: a new session for each child, and
//! a process's start time from /proc (to tell a live connector from a reused PID).
#![allow(unsafe_code)]

use std::path::Path;

/// Makes the command's child the leader of a new session and process group (setsid), so that
/// signals to its group reach it and its helpers, and it keeps no controlling terminal: closing
/// the console's terminal (SIGHUP) does not reach it.
/// It inherits no descriptor but its stdin, stdout and stderr (see [`inherit_only_stdio`]).
pub fn new_session(cmd: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the forked child before exec and calls only setsid(2) and
    // the syscalls of `cloexec_above_stdio`, which are async-signal-safe and touch no memory
    // of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            cloexec_above_stdio();
            Ok(())
        });
    }
}

/// The command's child inherits no descriptor of ours but 0, 1 and 2 (which the command sets
/// up: stdio redirections are made before this runs). Rust opens everything close-on-exec,
/// but iceoryx2 does not: without this every child (connectors, relays, builds, alert
/// commands) would hold the console's node files open (its monitor lock among them), and so
/// would whatever a console inherited itself.
pub fn inherit_only_stdio(cmd: &mut tokio::process::Command) {
    // SAFETY: as in `new_session`: only async-signal-safe syscalls, in the child before exec.
    unsafe {
        cmd.pre_exec(|| {
            cloexec_above_stdio();
            Ok(())
        });
    }
}

/// Marks every descriptor from 3 up close-on-exec (marks, not closes: std's own exec-error
/// pipe must stay open until the exec). close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11);
/// on an older kernel, fcntl on each descriptor below the limit. Async-signal-safe.
fn cloexec_above_stdio() {
    use nix::libc;
    // SAFETY: plain syscalls on descriptor numbers; no memory is passed.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    } == 0;
    if done {
        return;
    }
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; fcntl takes plain integers.
    let top = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } {
        0 => lim.rlim_cur.min(1 << 16) as libc::c_int,
        _ => 1024,
    };
    for fd in 3..top {
        // SAFETY: see above.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// A pidfd for `pid`, registered with the tokio reactor: it becomes readable when the process
/// ends. Must be called inside a tokio runtime.
pub fn async_pidfd(pid: i32) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let raw =
        Pid::from_raw(pid).ok_or_else(|| std::io::Error::other(format!("invalid PID {pid}")))?;
    let fd = pidfd_open(raw, PidfdFlags::NONBLOCK).map_err(std::io::Error::from)?;
    // SAFETY: the OwnedFd moves into the AsyncFd, which owns it for its whole life; nothing else
    // closes or replaces that descriptor.
    unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None if
/// the process does not exist.
pub fn process_start_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come fields 3.. ; start time is field 22, i.e. index 19 here.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The process group of `pid` (field 5 of /proc/PID/stat), or None if it is gone.
pub fn process_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come state (3), ppid (4), pgrp (5).
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The session of `pid` (field 6 of /proc/PID/stat), or None if it is gone.
pub fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// The value of environment variable `name` in process `pid` (None if it has none, or its
/// environment cannot be read: another user's process).
pub fn process_env(pid: i32, name: &str) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|kv| {
        let kv = std::str::from_utf8(kv).ok()?;
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Live processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| process_group(pid) == Some(pgid) && !is_zombie(pid))
        .collect()
}

/// A pidfd for `pid` (not registered with any reactor): it names that one process for as long
/// as it is open, whatever happens to the PID.
pub fn pidfd(pid: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let raw =
        Pid::from_raw(pid).ok_or_else(|| std::io::Error::other(format!("invalid PID {pid}")))?;
    pidfd_open(raw, PidfdFlags::empty()).map_err(std::io::Error::from)
}

/// SIGKILL to every live member of process group `pgid`, each through its own pidfd after
/// checking (with the pidfd pinning it) that it is still in the group: a member that exits and
/// whose PID is reused meanwhile is never hit. For a group whose leader is gone and was not our
/// child, where `killpg` could reach a stranger that took the group id.
pub fn kill_group_members(pgid: i32) -> usize {
    let mut killed = 0;
    for pid in group_members(pgid) {
        let Ok(fd) = pidfd(pid) else { continue };
        if process_group(pid) == Some(pgid)
            && rustix::process::pidfd_send_signal(&fd, rustix::process::Signal::KILL).is_ok()
        {
            killed += 1;
        }
    }
    killed
}

/// The process's command line (argv), or None if it is gone.
pub fn process_cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

/// True if `pid` is alive (not a zombie) and started at `start_ticks`.
pub fn is_same_process(pid: i32, start_ticks: u64) -> bool {
    process_start_ticks(pid) == Some(start_ticks) && !is_zombie(pid)
}

/// True while `pid` is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s[s.rfind(')')? + 1..].to_string();
            rest.split_whitespace().next().map(|st| st == "Z")
        })
        .unwrap_or(false)
}

/// Whether a file exists and is executable by someone.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Why a path cannot be run as a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramProblem {
    /// Nothing is there.
    Missing,
    /// It cannot be looked at (e.g. a directory on the way is not searchable): why.
    Unreadable(String),
    /// A directory, FIFO or device.
    NotAFile,
    /// A file without any execute bit: its permission bits.
    NotExecutable(u32),
}

impl std::fmt::Display for ProgramProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProgramProblem::Missing => f.write_str("does not exist"),
            ProgramProblem::Unreadable(why) => write!(f, "cannot be looked at ({why})"),
            ProgramProblem::NotAFile => {
                f.write_str("is not a program (a directory, FIFO or device); point `binary` at the connector")
            }
            ProgramProblem::NotExecutable(mode) => write!(
                f,
                "is not executable (mode {mode:o}); make it so (chmod +x) or point `binary` at the connector"
            ),
        }
    }
}

/// Why `path` cannot be run, if it cannot (what [`is_executable`] says no to, in words).
pub fn program_problem(path: &Path) -> Option<ProgramProblem> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(ProgramProblem::Missing),
        Err(e) => Some(ProgramProblem::Unreadable(e.to_string())),
        Ok(m) if !m.is_file() => Some(ProgramProblem::NotAFile),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Some(ProgramProblem::NotExecutable(
            m.permissions().mode() & 0o7777,
        )),
        Ok(_) => None,
    }
}

/// This machine's hostname (`localhost` if it cannot be read): what alerts and metrics call a
/// local connector's host.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_problems_are_told_apart() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let missing = d.path().join("connector");
        assert_eq!(program_problem(&missing), Some(ProgramProblem::Missing));
        assert_eq!(program_problem(d.path()), Some(ProgramProblem::NotAFile));
        std::fs::write(&missing, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(
            program_problem(&missing),
            Some(ProgramProblem::NotExecutable(0o644))
        );
        assert!(!is_executable(&missing));
        std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(program_problem(&missing), None);
        assert!(is_executable(&missing));
    }

    #[test]
    fn own_start_time_is_readable_and_stable() {
        let me = std::process::id() as i32;
        let t = process_start_ticks(me).expect("own stat");
        assert!(is_same_process(me, t));
        assert!(!is_same_process(me, t + 1));
        assert!(!process_cmdline(me).expect("cmdline").is_empty());
    }
}
