//! The control socket: `switchboard start|stop|restart|build NAME` reaches a running console
//! through `<state_dir>/control.sock` (owner-only), so the console performs the action and shows
//! it. One JSON line in, one JSON line out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::state::Command;
use super::EngineHandle;
use crate::Phase;

/// Path of the socket in a state dir.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

/// A request: `{"action":"stop","name":"bf"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub action: String,
    pub name: String,
}

/// The answer: an exit code for the CLI (0 ok, 1 failed, 2 unknown name or bad request) and
/// what happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    pub code: u8,
    pub message: String,
}

/// Parses an action word.
pub fn parse_action(action: &str) -> Option<Command> {
    match action {
        "start" => Some(Command::Start),
        "stop" => Some(Command::Stop),
        "restart" => Some(Command::Restart),
        "kill" => Some(Command::Kill),
        "build" => Some(Command::Build { force: false }),
        "rebuild" => Some(Command::Build { force: true }),
        _ => None,
    }
}

/// How long to wait for an action's outcome.
fn patience(cmd: Command) -> Duration {
    match cmd {
        // Starting may build first.
        Command::Start | Command::Restart | Command::Build { .. } => Duration::from_secs(30 * 60),
        Command::Stop | Command::Kill => Duration::from_secs(10 * 60),
    }
}

/// Sends `cmd` to connector `name` and waits for its outcome.
pub async fn execute(handle: &EngineHandle, name: &str, cmd: Command) -> Reply {
    let Some(idx) = handle.names().iter().position(|n| n == name) else {
        return Reply {
            code: 2,
            message: format!(
                "no connector named '{name}'; the manifest has: {}",
                handle.names().join(", ")
            ),
        };
    };
    let mut snaps = handle.snapshots();
    let before = snaps.borrow_and_update()[idx].clone();
    // Nothing to do: say so instead of waiting for a transition that will not come.
    match (cmd, before.phase) {
        (Command::Start, Phase::Ready) => {
            return Reply {
                code: 0,
                message: format!("{name} is already ready (PID {})", before.pid.unwrap_or(0)),
            }
        }
        (Command::Stop | Command::Kill, p) if p.is_at_rest() => {
            return Reply {
                code: 0,
                message: format!("{name} is not running ({p})"),
            }
        }
        _ => {}
    }
    let mut transitions = handle.subscribe();
    if handle.command_at(idx, cmd).is_err() {
        return Reply {
            code: 1,
            message: "the console is shutting down".into(),
        };
    }
    let outcome = async {
        let mut left_start = false;
        loop {
            let t = match transitions.recv().await {
                Ok(t) => t,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    return (1, "the console ended".to_string())
                }
            };
            if t.name != name {
                continue;
            }
            let pid = t.pid.map(|p| format!(" (PID {p})")).unwrap_or_default();
            match (cmd, t.phase) {
                (Command::Start | Command::Restart, Phase::Ready) => {
                    return (0, format!("{name} is ready{pid}: {}", t.detail))
                }
                (
                    Command::Start | Command::Restart,
                    Phase::Failed | Phase::Backoff | Phase::Exited,
                ) => return (1, format!("{name} {}: {}", t.phase, t.detail)),
                (
                    Command::Stop | Command::Kill,
                    Phase::Stopped | Phase::Idle | Phase::Exited | Phase::Failed,
                ) => return (0, format!("{name} {}: {}", t.phase, t.detail)),
                (Command::Build { .. }, Phase::Building) => left_start = true,
                (Command::Build { .. }, Phase::Idle) if left_start => {
                    return (0, format!("{name}: {}", t.detail))
                }
                (Command::Build { .. }, Phase::Failed) => {
                    return (1, format!("{name}: {}", t.detail))
                }
                (Command::Build { .. }, _) if t.detail.contains("build refused") => {
                    return (1, format!("{name}: {}", t.detail))
                }
                _ => {}
            }
        }
    };
    match tokio::time::timeout(patience(cmd), outcome).await {
        Ok((code, message)) => Reply { code, message },
        Err(_) => Reply {
            code: 1,
            message: format!("{name}: no outcome after {:?}", patience(cmd)),
        },
    }
}

/// Serves the socket until the engine ends; removes it afterwards.
pub fn serve(state_dir: &Path, handle: EngineHandle) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(state_dir);
    // We hold the state-dir lock, so a socket file left here belongs to a dead console.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                conn = listener.accept() => {
                    let Ok((stream, _)) = conn else { continue };
                    let h = handle.clone();
                    tokio::spawn(async move {
                        if let Err(e) = answer(stream, &h).await {
                            tracing::warn!("control socket: {e}");
                        }
                    });
                }
                _ = handle.await_shutdown() => break,
            }
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

async fn answer(stream: UnixStream, handle: &EngineHandle) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut line = String::new();
    BufReader::new(r.take(64 * 1024))
        .read_line(&mut line)
        .await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match parse_action(&req.action) {
            Some(cmd) => {
                tracing::info!(connector = %req.name, "{} requested through the control socket", req.action);
                execute(handle, &req.name, cmd).await
            }
            None => Reply {
                code: 2,
                message: format!("unknown action '{}'", req.action),
            },
        },
        Err(e) => Reply {
            code: 2,
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await
}

/// Sends a request to the console serving `state_dir`.
pub async fn send(state_dir: &Path, req: &Request) -> std::io::Result<Reply> {
    let stream = UnixStream::connect(socket_path(state_dir)).await?;
    let (r, mut w) = stream.into_split();
    let mut out = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}
