//! The client side of the control socket.

use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{Request, RequestBody, Response, ResponseBody, VERSION};

/// How long to wait for the connection itself (a console that does not accept is stuck).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends one request to the console serving `state_dir` and returns its reply.
pub async fn request(state_dir: &Path, body: RequestBody) -> std::io::Result<ResponseBody> {
    let path = super::socket_path(state_dir);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(&path))
        .await
        .map_err(|_| std::io::Error::other(format!("{} did not accept", path.display())))??;
    let (r, mut w) = stream.into_split();
    let mut out = serde_json::to_vec(&Request::new(body)).map_err(std::io::Error::other)?;
    out.push(b'\n');
    w.write_all(&out).await?;
    let mut line = String::new();
    BufReader::new(r).read_line(&mut line).await?;
    let reply: Response = serde_json::from_str(&line).map_err(|e| {
        std::io::Error::other(format!(
            "the console answered something that is not a version-{VERSION} reply ({e}); is it a switchboard of another version?"
        ))
    })?;
    Ok(reply.body)
}
