//! The one JSON-lines framing of the control socket, `attach --stdio` and the host links: one
//! JSON value per line, each line read with a maximum length.
//!
//! [`LineReader`] is what tokio-util's `LinesCodec::new_with_max_length` does (that crate is
//! not among this build's dependencies): a line over the maximum is reported once as
//! [`Frame::TooLong`] and the rest of it is read and dropped, so a peer that never sends a
//! newline costs nothing. Its state lives in the reader, so [`LineReader::next`] is cancel
//! safe: it may lose a `tokio::select!` race and be called again without losing a byte.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One framed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line, without its newline.
    Line(Vec<u8>),
    /// A line over the maximum length (its bytes were dropped).
    TooLong,
}

/// Reads newline-delimited lines of at most `max` bytes from a buffered reader.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max: usize,
    /// Dropping the rest of a line that was too long.
    discarding: bool,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max,
            discarding: false,
        }
    }

    /// The next line; None at the end of the stream (a last line without a newline is a line).
    pub async fn next(&mut self) -> std::io::Result<Option<Frame>> {
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                self.discarding = false;
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Frame::Line(std::mem::take(&mut self.buf))));
            }
            let newline = memchr::memchr(b'\n', chunk);
            let content = newline.unwrap_or(chunk.len());
            let used = newline.map(|i| i + 1).unwrap_or(chunk.len());
            if self.discarding {
                self.inner.consume(used);
                self.discarding = newline.is_none();
                continue;
            }
            if self.buf.len() + content > self.max {
                self.buf = Vec::new();
                self.inner.consume(used);
                self.discarding = newline.is_none();
                return Ok(Some(Frame::TooLong));
            }
            self.buf.extend_from_slice(&chunk[..content]);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(Some(Frame::Line(std::mem::take(&mut self.buf))));
            }
        }
    }

    /// The reader underneath (bytes it had buffered stay in it).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// `value` as one JSON line (newline included).
pub fn encode<T: serde::Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    let mut out = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_framed_and_a_long_one_is_dropped_once_without_growing() {
        let mut data = b"{\"a\":1}\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 5 << 20));
        data.extend_from_slice(b"\nshort\nlast");
        let mut r = LineReader::new(tokio::io::BufReader::new(&data[..]), 1024);
        assert_eq!(
            r.next().await.expect("read"),
            Some(Frame::Line(b"{\"a\":1}".to_vec()))
        );
        assert_eq!(r.next().await.expect("read"), Some(Frame::TooLong));
        assert!(r.buf.capacity() <= 1024 + 8192, "{}", r.buf.capacity());
        assert_eq!(
            r.next().await.expect("read"),
            Some(Frame::Line(b"short".to_vec()))
        );
        assert_eq!(
            r.next().await.expect("read"),
            Some(Frame::Line(b"last".to_vec()))
        );
        assert_eq!(r.next().await.expect("eof"), None);
    }

    #[tokio::test]
    async fn a_read_that_loses_a_select_race_loses_no_byte() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = LineReader::new(tokio::io::BufReader::new(server), 1024);
        let mut w = client;
        use tokio::io::AsyncWriteExt;
        w.write_all(b"hal").await.expect("write");
        // The read is cancelled (a timeout wins) with part of a line taken in.
        let cut = tokio::time::timeout(std::time::Duration::from_millis(50), r.next()).await;
        assert!(cut.is_err());
        w.write_all(b"f\n").await.expect("write");
        assert_eq!(
            r.next().await.expect("read"),
            Some(Frame::Line(b"half".to_vec()))
        );
    }
}
