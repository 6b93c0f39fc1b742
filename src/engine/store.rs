//! `<state_dir>/state.json` (written atomically: temp file + rename) and the lock that allows one
//! console per state_dir.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::phase::{ExitStatus, Phase};

/// One connector as recorded for `status` and for re-adoption.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectorRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub phase: Phase,
    pub pid: Option<i32>,
    /// /proc start time of `pid` (clock ticks since boot), guarding against PID reuse.
    pub start_ticks: Option<u64>,
    /// Wall-clock start of the process, seconds since the Unix epoch.
    pub started_unix: Option<f64>,
    pub restarts: u32,
    pub bots: u32,
    pub last_exit: Option<ExitStatus>,
    pub detail: String,
    /// The binary and config it was started with (to recognise it when re-adopting).
    pub binary: Option<PathBuf>,
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StateFile {
    pub console_pid: i32,
    /// Seconds since the Unix epoch when this was written.
    pub updated_unix: f64,
    pub connectors: Vec<ConnectorRecord>,
}

/// Path of `state.json`.
pub fn state_path(state_dir: &Path) -> PathBuf {
    state_dir.join("state.json")
}

/// Writes `state` atomically.
pub fn write_state(state_dir: &Path, state: &StateFile) -> std::io::Result<()> {
    std::fs::create_dir_all(state_dir)?;
    let tmp = state_dir.join(format!(".state.json.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, state_path(state_dir))
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
            "{}: not a switchboard state file ({e}); delete it if no console runs",
            path.display()
        )
    })
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

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

/// Takes `<state_dir>/lock` without waiting, and writes our PID into it.
pub fn lock(state_dir: &Path) -> Result<ConsoleLock, LockError> {
    let path = state_dir.join("lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            lock.set_len(0).map_err(io)?;
            lock.write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(io)?;
            Ok(ConsoleLock { _lock: lock, path })
        }
        Err((mut file, _)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            Err(LockError::Held {
                pid: pid.trim().to_string(),
                dir: state_dir.to_path_buf(),
            })
        }
    }
}

/// The PID of the console holding the lock on `state_dir`, if one does.
pub fn lock_holder(state_dir: &Path) -> Option<i32> {
    let path = state_dir.join("lock");
    let file = OpenOptions::new().read(true).write(true).open(&path).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_free) => None,
        Err((mut f, _)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            pid.trim().parse().ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_roundtrips_and_lock_is_exclusive() {
        let d = tempfile::tempdir().expect("tmp");
        let st = StateFile {
            console_pid: 1,
            updated_unix: 2.0,
            connectors: vec![ConnectorRecord {
                name: "a".into(),
                kind: "bybit".into(),
                phase: Phase::Ready,
                pid: Some(5),
                start_ticks: Some(6),
                started_unix: Some(7.0),
                restarts: 1,
                bots: 2,
                last_exit: Some(ExitStatus::Code(1)),
                detail: "d".into(),
                binary: None,
            }],
        };
        write_state(d.path(), &st).expect("write");
        assert_eq!(read_state(d.path()).expect("read"), Some(st));
        let held = lock(d.path()).expect("first lock");
        let second = lock(d.path()).expect_err("second lock");
        assert!(
            second.to_string().contains(&std::process::id().to_string()),
            "{second}"
        );
        assert_eq!(lock_holder(d.path()), Some(std::process::id() as i32));
        drop(held);
        assert_eq!(lock_holder(d.path()), None);
    }
}
