//! `switchboard attach --stdio` (DESIGN §12): this host's running console as newline-delimited
//! JSON on stdin/stdout, for a console on another host that runs this command over OpenSSH.
//!
//! Stdout carries [`StreamLine`]s: a snapshot (connectors, phases, health, the last 200 log
//! lines of each), then events, view changes and log lines as they happen, and a `reply` to each
//! request read from stdin. Stdin takes the control socket's requests (`act`, `reload`,
//! `status`), one per line, each with an optional `id` that its reply carries back:
//! `{"v":1,"id":7,"op":"act","action":"stop","target":"bf"}`. A line of another version is
//! refused with an `error` (kind `unsupported_version`). Nothing here keeps state: it is a pipe
//! between the console's socket and the link.

use std::path::Path;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::cli::Addressed;
use crate::control::client;
use crate::control::lines::{self, Frame, LineReader};
use crate::control::protocol::{
    parse_request, ErrorKind, RequestBody, ResponseBody, StreamLine, StreamMessage,
};
use crate::engine::io::store;
use crate::exit;

/// The longest request line read from stdin (the control socket's own bound).
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Lines waiting for stdout: few, so that a slow reader holds the console's stream back
/// instead of making this process grow (see [`pipe`]).
const OUT_QUEUE: usize = 1;

/// The longest stream line read from the console (the link's own bound).
const MAX_STREAM_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Runs `attach --stdio` for the console of the manifest at `path`.
pub fn run(path: &Path) -> u8 {
    // A manifest mid-edit on that host must not cut the link to its running console.
    let manifest = Addressed::load(path);
    let state_dir = manifest.state_dir.clone();
    let lock = store::lock_state(&state_dir);
    if let store::LockState::Unknown(why) = &lock {
        eprintln!("error: {}", not_ours(&state_dir, why));
        return exit::FAILURE;
    }
    if !matches!(lock, store::LockState::Held(_)) {
        if let Some(e) = &manifest.problem {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
        eprintln!(
            "error: no console is running on {} (state dir {}): start one (`switchboard run --headless`, or the service) and attach again",
            manifest.path.display(),
            state_dir.display()
        );
        return exit::FAILURE;
    }
    if let Some(e) = &manifest.problem {
        eprintln!("warning: {e}; attached to the running console all the same");
    }
    let rt = match crate::console::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    let code = rt.block_on(pipe(&state_dir));
    // A read of stdin may still be blocked in its thread: do not wait for it.
    rt.shutdown_background();
    code
}

async fn pipe(state_dir: &Path) -> u8 {
    let (stream, _keep_open) = match client::watch(state_dir).await {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("error: {}", not_ours(state_dir, &e.to_string()));
            return exit::FAILURE;
        }
        Err(e) => {
            eprintln!(
                "error: the console's control socket {} did not answer: {e}",
                crate::control::socket_path(state_dir).display()
            );
            return exit::FAILURE;
        }
    };
    // One writer owns stdout: stream lines and replies never interleave mid-line. The channel
    // is bounded (a line may be a batch of 500 log lines): when whoever attached reads slowly,
    // this process stops reading the console's socket, the console's writes block, and the
    // console's slow-watcher path counts the lines it could not send as skipped (the remote
    // side shows them as one marker line). Nothing here grows with a slow reader.
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUT_QUEUE);
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                return false; // the link is gone (EPIPE)
            }
        }
        true
    });
    let replies = out_tx.clone();
    let dir = state_dir.to_path_buf();
    let requests = tokio::spawn(async move {
        // Requests are short: a longer line is refused (and the rest of it dropped).
        let mut stdin = LineReader::new(
            tokio::io::BufReader::new(tokio::io::stdin()),
            MAX_REQUEST_BYTES,
        );
        while let Ok(Some(frame)) = stdin.next().await {
            let Frame::Line(line) = frame else {
                let message = format!("a request line over {MAX_REQUEST_BYTES} bytes");
                let kind = ErrorKind::BadRequest;
                let _ = replies
                    .send(encode(StreamMessage::Error {
                        id: None,
                        kind,
                        message,
                    }))
                    .await;
                continue;
            };
            if line.trim_ascii().is_empty() {
                continue;
            }
            let (id, body) = match request_of(&line) {
                Ok(x) => x,
                Err((id, kind, message)) => {
                    let _ = replies
                        .send(encode(StreamMessage::Error { id, kind, message }))
                        .await;
                    continue;
                }
            };
            let replies = replies.clone();
            let dir = dir.clone();
            tokio::spawn(async move {
                let reply = client::request(&dir, body).await.unwrap_or_else(|e| {
                    ResponseBody::error(
                        ErrorKind::ShuttingDown,
                        format!("the console did not answer: {e}"),
                    )
                });
                let _ = replies
                    .send(encode(StreamMessage::Reply { id, reply }))
                    .await;
            });
        }
    });
    let mut stream = LineReader::new(stream, MAX_STREAM_LINE_BYTES);
    let code = loop {
        match stream.next().await {
            // Not from a console of this version (its lines are far shorter): dropped.
            Ok(Some(Frame::TooLong)) => continue,
            Ok(None) | Err(_) => {
                let _ = out_tx
                    .send(encode(StreamMessage::Error {
                        id: None,
                        kind: ErrorKind::ShuttingDown,
                        message: "the console ended".into(),
                    }))
                    .await;
                break exit::FAILURE;
            }
            Ok(Some(Frame::Line(mut out))) => {
                out.push(b'\n');
                // Waits while stdout is slow (the backpressure), or ends when it is gone.
                if out_tx.send(out).await.is_err() {
                    break exit::OK;
                }
            }
        }
        if writer.is_finished() {
            // stdout is gone: whoever attached has left.
            break exit::OK;
        }
    };
    requests.abort();
    drop(out_tx);
    let _ = writer.await;
    code
}

/// Why a console on `state_dir` cannot be reached by this user (`why`: the error seen): whose
/// it is, when the state dir belongs to another user, and the socket it would be reached on.
fn not_ours(state_dir: &Path, why: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let sock = crate::control::socket_path(state_dir);
    let me = nix::unistd::geteuid().as_raw();
    match std::fs::metadata(state_dir).map(|m| m.uid()) {
        Ok(uid) if uid != me => {
            let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| format!("uid {uid}"));
            format!(
                "permission denied: the console's state dir {} belongs to another user ({name}), so its control socket {} is not yours to reach ({why}); run `switchboard attach` as {name}",
                state_dir.display(),
                sock.display()
            )
        }
        _ => format!(
            "cannot reach the console's control socket {} ({why}); if the console runs as another user, run `switchboard attach` as that user",
            sock.display()
        ),
    }
}

fn encode(msg: StreamMessage) -> Vec<u8> {
    lines::encode(&StreamLine::new(msg)).unwrap_or_default()
}

type Refusal = (Option<serde_json::Value>, ErrorKind, String);

/// A request line of stdin: its `id` (if any) and what it asks. A watch is refused (this is
/// one already).
fn request_of(line: &[u8]) -> Result<(Option<serde_json::Value>, RequestBody), Refusal> {
    let mut value: serde_json::Value = serde_json::from_slice(line).map_err(|e| {
        (
            None,
            ErrorKind::BadRequest,
            format!("not JSON ({e}); send one request object per line"),
        )
    })?;
    let id = value.as_object_mut().and_then(|o| o.remove("id"));
    let text = serde_json::to_vec(&value).unwrap_or_default();
    match parse_request(&text) {
        Ok(req) if req.body == RequestBody::Watch => Err((
            id,
            ErrorKind::BadRequest,
            "this is a watch already; send act, reload or status".into(),
        )),
        Ok(req) => Ok((id, req.body)),
        Err(ResponseBody::Error { kind, message }) => Err((id, kind, message)),
        Err(_) => Err((id, ErrorKind::BadRequest, "not a request".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::Action;

    #[test]
    fn requests_carry_their_id_and_other_versions_are_refused() {
        let (id, body) = request_of(br#"{"v":1,"id":7,"op":"act","action":"stop","target":"bf"}"#)
            .expect("a request");
        assert_eq!(id, Some(serde_json::json!(7)));
        assert_eq!(
            body,
            RequestBody::Act {
                action: Action::Stop,
                target: "bf".parse().expect("id"),
            }
        );
        let (id, kind, message) =
            request_of(br#"{"v":2,"id":"x","op":"reload"}"#).expect_err("refused");
        assert_eq!(id, Some(serde_json::json!("x")));
        assert_eq!(kind, ErrorKind::UnsupportedVersion);
        assert!(message.contains("version 2"), "{message}");
        assert!(request_of(br#"{"v":1,"op":"watch"}"#).is_err());
        assert!(request_of(b"nope").is_err());
    }
}
