//! The client side of the control socket.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};

use super::lines::{encode, Frame, LineReader};
use tokio::net::UnixStream;

use super::protocol::{ErrorKind, Request, RequestBody, Response, ResponseBody, VERSION};

/// How long to wait for the connection itself (a console that does not accept is stuck).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A console that has just taken its lock binds its socket a moment later: how long a missing
/// or refusing socket is retried.
const SOCKET_APPEARS_WITHIN: Duration = Duration::from_secs(2);

async fn connect(path: &Path) -> std::io::Result<UnixStream> {
    let deadline = tokio::time::Instant::now() + SOCKET_APPEARS_WITHIN;
    loop {
        match tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path)).await {
            Err(_) => {
                return Err(std::io::Error::other(format!(
                    "{} did not accept",
                    path.display()
                )))
            }
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// The longest reply read (a status of many connectors is the largest).
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// How long a `busy` console is asked again.
const BUSY_RETRY_FOR: Duration = Duration::from_secs(10);

/// Sends one request to the console serving `state_dir` and returns its reply. A console that
/// is busy (too many connections) is asked again for a few seconds.
pub async fn request(state_dir: &Path, body: RequestBody) -> std::io::Result<ResponseBody> {
    let deadline = tokio::time::Instant::now() + BUSY_RETRY_FOR;
    loop {
        let reply = request_once(state_dir, body.clone()).await?;
        match &reply {
            ResponseBody::Error {
                kind: ErrorKind::Busy,
                ..
            } if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => return Ok(reply),
        }
    }
}

async fn request_once(state_dir: &Path, body: RequestBody) -> std::io::Result<ResponseBody> {
    let stream = connect(&super::socket_path(state_dir)).await?;
    let (r, mut w) = stream.into_split();
    let out = encode(&Request::new(body))?;
    // A console over its connection cap answers `busy` and closes without reading: the write
    // may then fail, but the reply is there to read.
    let written = w.write_all(&out).await;
    let read = LineReader::new(BufReader::new(r), MAX_REPLY_BYTES)
        .next()
        .await;
    let line = match read {
        Ok(Some(Frame::Line(line))) => line,
        Ok(Some(Frame::TooLong)) => {
            return Err(std::io::Error::other(format!(
                "the console's reply is over {MAX_REPLY_BYTES} bytes"
            )))
        }
        Ok(None) => {
            written?;
            Vec::new()
        }
        Err(e) => {
            written?;
            return Err(e);
        }
    };
    let reply: Response = serde_json::from_slice(&line).map_err(|e| {
        std::io::Error::other(format!(
            "the console answered something that is not a version-{VERSION} reply ({e}); is it a switchboard of another version?"
        ))
    })?;
    Ok(reply.body)
}

/// Opens a [`RequestBody::Watch`] stream on the console serving `state_dir`: the returned
/// reader yields one JSON [`super::protocol::StreamLine`] per line; the write half is returned
/// too and must be kept open (closing it ends the stream).
pub async fn watch(
    state_dir: &Path,
) -> std::io::Result<(
    BufReader<tokio::net::unix::OwnedReadHalf>,
    tokio::net::unix::OwnedWriteHalf,
)> {
    let stream = connect(&super::socket_path(state_dir)).await?;
    let (r, mut w) = stream.into_split();
    let line = encode(&Request::new(RequestBody::Watch))?;
    w.write_all(&line).await?;
    Ok((BufReader::new(r), w))
}
