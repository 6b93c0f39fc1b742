//! The control protocol, version [`VERSION`]: a request is one JSON object on one line,
//! `{"v":1,"op":"status"}` or `{"v":1,"op":"act","action":"stop","target":"bf"}`, and the reply
//! is one JSON object on one line whose `result` says which kind it is: `status`, `acted` or
//! `error`. A request of another version, or one that is not UTF-8 JSON of this shape, gets an
//! `error` reply (never a closed connection).

use serde::{Deserialize, Serialize};

use crate::exit;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView};
pub use crate::model::ReloadReport;

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;

/// A request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub body: RequestBody,
}

impl Request {
    /// A request of this version.
    pub fn new(body: RequestBody) -> Request {
        Request { v: VERSION, body }
    }
}

/// What is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum RequestBody {
    /// Every connector's view.
    Status,
    /// Act on one connector and wait for the outcome.
    Act { action: Action, target: ConnectorId },
    /// Re-read the console's manifest (DESIGN §11).
    Reload,
    /// Stream this console: a [`StreamMessage::Snapshot`] first, then changes as they happen,
    /// on the same connection until either side closes it (DESIGN §12, `attach --stdio`).
    Watch,
}

/// An operator action on one connector: the model's verb (same spelling on the wire); the
/// engine command is `Command::from(action)`.
pub use crate::model::Verb as Action;

/// A reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub v: u32,
    #[serde(flatten)]
    pub body: ResponseBody,
}

impl Response {
    /// A reply of this version.
    pub fn new(body: ResponseBody) -> Response {
        Response { v: VERSION, body }
    }
}

/// What a request got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ResponseBody {
    /// The views of every connector, as of now, in the console's order.
    Status {
        console_pid: i32,
        connectors: Vec<ConnectorView>,
        /// The links to other hosts (absent when there are none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hosts: Vec<crate::model::view::HostView>,
    },
    /// The outcome of an action.
    Acted(Outcome),
    /// What a reload changed.
    Reloaded(ReloadReport),
    /// The request could not be carried out.
    Error { kind: ErrorKind, message: String },
}

impl ResponseBody {
    /// An error reply.
    pub fn error(kind: ErrorKind, message: impl Into<String>) -> ResponseBody {
        ResponseBody::Error {
            kind,
            message: message.into(),
        }
    }

    /// The CLI exit code this reply calls for.
    pub fn exit_code(&self) -> u8 {
        match self {
            ResponseBody::Status { .. } | ResponseBody::Reloaded(_) => exit::OK,
            ResponseBody::Acted(o) if o.ok => exit::OK,
            ResponseBody::Acted(_) => exit::FAILURE,
            ResponseBody::Error { kind, .. } => match kind {
                ErrorKind::BadRequest
                | ErrorKind::UnsupportedVersion
                | ErrorKind::UnknownConnector
                | ErrorKind::InvalidManifest => exit::USAGE,
                ErrorKind::ShuttingDown
                | ErrorKind::Timeout
                | ErrorKind::Busy
                | ErrorKind::HostUnreachable => exit::FAILURE,
            },
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub target: ConnectorId,
    /// The action reached its goal (ready, stopped, built) or had nothing to do.
    pub ok: bool,
    /// The phase it ended in.
    pub phase: Phase,
    pub pid: Option<i32>,
    /// One sentence: what happened; a failed build's continues with cargo's whole error, one
    /// line each.
    pub message: String,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Not UTF-8, not JSON, or not a request of this shape.
    BadRequest,
    /// Another protocol version.
    UnsupportedVersion,
    UnknownConnector,
    ShuttingDown,
    /// No outcome within the action's patience.
    Timeout,
    /// Too many connections at once; try again in a moment.
    Busy,
    /// The connector's host link is not up (the command was not sent), or it was lost or
    /// the remote console did not reply in time.
    HostUnreachable,
    /// A reload found the manifest invalid: nothing was changed.
    InvalidManifest,
}

/// The most log lines one connector's [`LogBatch`] carries in a snapshot.
pub const SNAPSHOT_LOG_LINES: usize = 200;

/// New log lines of one connector: `lines[i]` is line number `first_seq + i` of its scrollback
/// (numbers grow for the life of the console that sent them, so a receiver that reconnects to
/// the same console skips what it already has). `skipped` lines before them were not sent
/// (a flood, or a slow link).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    pub first_seq: u64,
    pub lines: Vec<String>,
    #[serde(default)]
    pub skipped: u64,
}

/// One line of a [`RequestBody::Watch`] stream (and of `attach --stdio`'s output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamLine {
    pub v: u32,
    #[serde(flatten)]
    pub msg: StreamMessage,
}

impl StreamLine {
    pub fn new(msg: StreamMessage) -> StreamLine {
        StreamLine { v: VERSION, msg }
    }
}

/// One message of a [`RequestBody::Watch`] stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum StreamMessage {
    /// Where everything stands: every connector's view and the last lines of its log.
    Snapshot {
        console_pid: i32,
        connectors: Vec<ConnectorView>,
        logs: std::collections::BTreeMap<String, LogBatch>,
    },
    /// The views changed (a phase, health, the feed's figures).
    Views { connectors: Vec<ConnectorView> },
    /// One engine event (transition, health change, added, removed).
    Event(crate::model::view::EngineEvent),
    /// New log lines, by connector name.
    Logs {
        logs: std::collections::BTreeMap<String, LogBatch>,
    },
    /// `attach --stdio`'s answer to a request read from its stdin (`id` as the request had it).
    Reply {
        #[serde(default)]
        id: Option<serde_json::Value>,
        reply: ResponseBody,
    },
    /// `attach --stdio` could not take a line of its stdin, or lost its console.
    Error {
        #[serde(default)]
        id: Option<serde_json::Value>,
        kind: ErrorKind,
        message: String,
    },
}

/// Parses one request line. Every failure is an error reply that says what was wrong.
pub fn parse_request(line: &[u8]) -> Result<Request, ResponseBody> {
    let text = std::str::from_utf8(line).map_err(|e| {
        ResponseBody::error(
            ErrorKind::BadRequest,
            format!("the request is not UTF-8 ({e}); send one JSON object per line"),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ResponseBody::error(
            ErrorKind::BadRequest,
            format!("the request is not JSON ({e}); send one JSON object per line"),
        )
    })?;
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == VERSION as u64 => {}
        Some(v) => {
            return Err(ResponseBody::error(
                ErrorKind::UnsupportedVersion,
                format!("protocol version {v} is not spoken here (this console speaks {VERSION}); use a switchboard of the same version"),
            ))
        }
        None => {
            return Err(ResponseBody::error(
                ErrorKind::BadRequest,
                format!("the request has no protocol version \"v\" (this console speaks {VERSION})"),
            ))
        }
    }
    serde_json::from_value(value).map_err(|e| {
        ResponseBody::error(
            ErrorKind::BadRequest,
            format!("not a request: {e}; expected {{\"v\":{VERSION},\"op\":\"status\"}}, {{\"v\":{VERSION},\"op\":\"reload\"}} or {{\"v\":{VERSION},\"op\":\"act\",\"action\":\"stop\",\"target\":\"NAME\"}}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_roundtrip_in_their_documented_shape() {
        let r = Request::new(RequestBody::Act {
            action: Action::Stop,
            target: ConnectorId::local("bf"),
        });
        let line = serde_json::to_string(&r).expect("json");
        assert_eq!(line, r#"{"v":1,"op":"act","action":"stop","target":"bf"}"#);
        assert_eq!(parse_request(line.as_bytes()), Ok(r));
        assert_eq!(
            parse_request(br#"{"v":1,"op":"status"}"#),
            Ok(Request::new(RequestBody::Status))
        );
    }

    #[test]
    fn bad_requests_get_an_error_naming_what_was_wrong() {
        let kind = |line: &[u8]| match parse_request(line) {
            Err(ResponseBody::Error { kind, message }) => (kind, message),
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(kind(b"\xff\xfe").0, ErrorKind::BadRequest);
        assert!(kind(b"\xff\xfe").1.contains("UTF-8"));
        assert!(kind(b"{nope").1.contains("not JSON"));
        assert_eq!(
            kind(br#"{"v":9,"op":"status"}"#).0,
            ErrorKind::UnsupportedVersion
        );
        assert!(kind(br#"{"op":"status"}"#).1.contains("\"v\""));
        assert!(kind(br#"{"v":1,"op":"dance"}"#).1.contains("not a request"));
        assert_eq!(
            kind(br#"{"v":1,"op":"act","action":"fly","target":"bf"}"#).0,
            ErrorKind::BadRequest
        );
    }

    #[test]
    fn replies_map_to_exit_codes() {
        let err = |k| ResponseBody::error(k, "x").exit_code();
        assert_eq!(err(ErrorKind::UnknownConnector), exit::USAGE);
        assert_eq!(err(ErrorKind::Timeout), exit::FAILURE);
        let acted = |ok| {
            ResponseBody::Acted(Outcome {
                target: ConnectorId::local("a"),
                ok,
                phase: Phase::Stopped,
                pid: None,
                message: String::new(),
            })
            .exit_code()
        };
        assert_eq!(acted(true), exit::OK);
        assert_eq!(acted(false), exit::FAILURE);
    }
}
