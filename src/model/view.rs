//! What the engine tells the world, in one serializable shape: [`ConnectorView`] is the single
//! description of a connector that the TUI, the headless output, `status --json`, the control
//! socket and `state.json` all use; [`EngineEvent`] is one sequenced change of it.
//!
//! Times in a view are wall-clock or relative to the view's own `as_of` instant (uptime, seconds
//! left on a countdown), never a process-local `Instant`, so a view can cross a socket or an SSH
//! link and still be read right.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::feed::FeedStats;
pub use super::health::FeedHealth;
use super::phase::Phase;
pub use super::restarts::CrashLoop;
use crate::model::exit::ExitStatus;
use crate::model::ConnectorType;
pub use crate::model::Fact;

pub use crate::model::format::secs_duration;

/// A connector's stable identity: its name, and the host it runs on (`None`: this console's
/// own host). Written `name` or `name@host`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorId {
    pub name: String,
    pub host: Option<String>,
}

impl ConnectorId {
    /// A connector of this console's own host.
    pub fn local(name: impl Into<String>) -> ConnectorId {
        ConnectorId {
            name: name.into(),
            host: None,
        }
    }
}

impl fmt::Display for ConnectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) => write!(f, "{}@{h}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl FromStr for ConnectorId {
    type Err = String;
    /// `NAME` or `NAME@HOST`. Names never contain `@`'s host part: the last `@` splits.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.rsplit_once('@') {
            Some((name, host)) if !name.is_empty() && !host.is_empty() => Ok(ConnectorId {
                name: name.to_string(),
                host: Some(host.to_string()),
            }),
            Some(_) => Err(format!("'{s}' is not NAME or NAME@HOST")),
            None if s.is_empty() => Err("an empty connector name".into()),
            None => Ok(ConnectorId::local(s)),
        }
    }
}

impl Serialize for ConnectorId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ConnectorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Build progress: compiled units out of the total cargo plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildProgress {
    pub done: u32,
    pub total: u32,
}

/// One symbol's feed, at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolView {
    pub events_per_s: f64,
    pub last_event_age_s: f64,
}

/// A ready connector's market data as the console's meter sees it (DESIGN §10), at `as_of`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedView {
    /// Feed events in the last complete second (a lower bound when `lower_bound`).
    pub events_per_s: f64,
    pub bytes_per_s: f64,
    /// Feed events since the connector became ready.
    pub total: u64,
    /// Seconds since the last Feed event (null: none yet).
    pub last_event_age_s: Option<f64>,
    /// The connector's `LiveEvent::Error` samples in the last minute.
    pub errors_1m: u32,
    pub symbols: std::collections::BTreeMap<String, SymbolView>,
    /// Feed events per second over the last minute, oldest first.
    pub history: Vec<u32>,
    /// Samples may have been lost in the last minute: rates are lower bounds (`≥`).
    pub lower_bound: bool,
}

impl FeedView {
    /// The view of `stats` at wall-clock time `now`.
    pub fn of(stats: &FeedStats, now: f64) -> FeedView {
        FeedView {
            events_per_s: stats.events_per_s,
            bytes_per_s: stats.bytes_per_s,
            total: stats.total,
            last_event_age_s: stats.last_event_at.map(|t| (now - t).max(0.0)),
            errors_1m: stats.errors_1m,
            symbols: stats
                .symbols
                .iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        SymbolView {
                            events_per_s: s.events_per_s,
                            last_event_age_s: (now - s.last_event_at).max(0.0),
                        },
                    )
                })
                .collect(),
            history: stats.history.clone(),
            lower_bound: stats.lower_bound,
        }
    }

    fn aged(mut self, dt: f64) -> FeedView {
        self.last_event_age_s = self.last_event_age_s.map(|a| a + dt);
        for s in self.symbols.values_mut() {
            s.last_event_age_s += dt;
        }
        self
    }

    /// Equal apart from the ages moving on with time.
    fn same_as(&self, other: &FeedView, dt: f64) -> bool {
        let close = |a: f64, b: f64| (a + dt - b).abs() < 0.05;
        self.events_per_s == other.events_per_s
            && self.bytes_per_s == other.bytes_per_s
            && self.total == other.total
            && self.errors_1m == other.errors_1m
            && self.history == other.history
            && self.lower_bound == other.lower_bound
            && match (self.last_event_age_s, other.last_event_age_s) {
                (Some(a), Some(b)) => close(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.symbols.len() == other.symbols.len()
            && self
                .symbols
                .iter()
                .zip(&other.symbols)
                .all(|((ka, a), (kb, b))| {
                    ka == kb
                        && a.events_per_s == b.events_per_s
                        && close(a.last_event_age_s, b.last_event_age_s)
                })
    }
}

/// The last ERROR line (or panic) of a connector's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    /// When the console read it (RFC 3339, UTC).
    pub ts: String,
    /// The line, ANSI removed, secrets masked, cut to a screen's width.
    pub line: String,
}

/// How many past transitions a view carries.
pub const HISTORY_LEN: usize = 12;

/// Who or what caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A key in the TUI.
    Key,
    /// The command line (`switchboard stop NAME`, through the control socket).
    Cli,
    /// A program using the library, or a host link.
    Api,
    /// The console started it as it opened (`autostart`, or `run --headless`).
    Autostart,
    /// The restart policy (a backoff ran out, a startup timed out).
    Policy,
    /// The feed went stale and `on_stale = "restart"`.
    StaleFeed,
    /// The process itself (it became ready, exited, a build ended).
    Process,
    /// The console's feed meter (the feed went stale or erroring, or recovered).
    Health,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Key => "key",
            Origin::Cli => "CLI",
            Origin::Api => "API",
            Origin::Autostart => "autostart",
            Origin::Policy => "restart policy",
            Origin::StaleFeed => "stale feed",
            Origin::Process => "process",
            Origin::Health => "feed health",
        }
    }
}

/// One past transition of a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// RFC 3339, UTC.
    pub ts: String,
    pub phase: Phase,
    pub detail: String,
    pub by: Origin,
}

/// What someone decided a connector should be doing: it outlives the console (DESIGN §4,
/// "Intent outlives the console"), and a new console follows it instead of `autostart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Started (a key, the CLI, the API): a new console starts it, or adopts it.
    Run,
    /// Stopped or killed (a key, `X`, the CLI): it stays stopped until someone starts it.
    Stop,
    /// The restart budget ran out: it stays `failed` until someone acts.
    GaveUp,
}

/// The last decision about a connector, who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub intent: Intent,
    pub by: Origin,
    /// RFC 3339, UTC.
    pub ts: String,
}

/// A restart refused because a new process could not start; the running one was left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// RFC 3339, UTC.
    pub ts: String,
    /// What was refused: `restart`, `stale-feed restart (…)`.
    pub what: String,
    /// Why, naming the file and the problem.
    pub why: String,
}

/// A known cause of a connector's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCause {
    /// A registration of a symbol new to it while its exchange stream was down
    /// (`SendError("SYMBOL")`).
    RegistrationCrash,
    /// A request on its FromBot it could not decode.
    UndecodableRequest,
}

impl ExitCause {
    /// Every cause, for a state set.
    pub const ALL: [ExitCause; 2] = [ExitCause::RegistrationCrash, ExitCause::UndecodableRequest];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitCause::RegistrationCrash => "registration_crash",
            ExitCause::UndecodableRequest => "undecodable_request",
        }
    }
}

/// What a supervised process is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Connector,
    /// A strategy process supervised with its connectors (a `[[bot]]`).
    Bot,
}

/// One connector as the engine sees it, at `as_of`. This is the `status --json` element of
/// DESIGN §2 (`name`, `type`, `phase`, `pid`, `uptime_s`, `restarts`, `bots`, `last_exit`,
/// `detail`, `host`) plus what the TUI shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorView {
    pub name: String,
    /// The host it runs on; null for this console's own host.
    pub host: Option<String>,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    /// A connector, or a managed bot (`"kind": "bot"`) trading on `connectors`.
    #[serde(default, rename = "kind")]
    pub role: Role,
    /// A bot's connectors (empty for a connector).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connectors: Vec<String>,
    pub phase: Phase,
    pub pid: Option<i32>,
    /// Seconds the current process has run, at `as_of`.
    pub uptime_s: Option<f64>,
    /// Start attempts made automatically or by a restart (the pane's ↻).
    pub restarts: u32,
    /// Bots attached (distinct live iceoryx2 nodes on ToBot other than the connector's).
    pub bots: u32,
    /// How the last process ended: `"code 1"`, `"signal 9"`, or null.
    pub last_exit: Option<ExitStatus>,
    /// When it ended (RFC 3339, UTC), if known.
    #[serde(default)]
    pub last_exit_at: Option<String>,
    /// What ended it, when a request did (DESIGN §1: the connector's two request crashes).
    #[serde(default)]
    pub last_exit_cause: Option<ExitCause>,
    /// The last order of any bot its registration cleanup reported cancelled while it may
    /// still rest on the exchange (this process).
    #[serde(default)]
    pub order_warning: Option<String>,
    /// Why it is in this phase: exit status, last error line, what to do.
    pub detail: String,
    /// Failures in the current restart streak, against `max_attempts`.
    pub attempt: u32,
    pub max_attempts: u32,
    /// Seconds left on the running countdown (stopping → SIGKILL, backoff → restart, starting →
    /// startup timeout), at `as_of`.
    pub countdown_s: Option<f64>,
    /// When the current process started (RFC 3339, UTC).
    pub started: Option<String>,
    pub build: Option<BuildProgress>,
    /// cargo's whole error, one line each, while a failed build is why it is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_error: Option<Vec<String>>,
    /// Ready, but its iceoryx2 services are gone while the process lives.
    pub degraded: bool,
    /// The operator wants it running.
    pub wanted: bool,
    /// Taken over from a previous console (its exit status will not be known).
    pub adopted: bool,
    /// Whether market data flows (ready connectors only).
    #[serde(default)]
    pub health: Option<FeedHealth>,
    /// What is wrong when stale or erroring.
    #[serde(default)]
    pub health_detail: Option<String>,
    /// Why it is stale, for machines: `no_data`, `symbol` or `silent_reconnect`.
    #[serde(default)]
    pub stale_cause: Option<super::feed::StaleCause>,
    /// The stalled symbol, when one symbol among others stalled (the health verdict's own fact:
    /// no front end parses it back out of `health_detail`).
    #[serde(default)]
    pub stale_symbol: Option<String>,
    /// The feed meter (ready connectors only).
    #[serde(default)]
    pub feed: Option<FeedView>,
    /// ERROR lines and panics in its log in the last minute.
    #[serde(default)]
    pub errors_1m: u32,
    /// WARN lines in its log in the last minute.
    #[serde(default)]
    pub warns_1m: u32,
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// Percent of one core its process used over the last second (when sampled).
    #[serde(default)]
    pub cpu_pct: Option<f64>,
    /// Its process's resident memory, bytes (when sampled).
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    /// ERROR lines and panics read from its log since this console began.
    #[serde(default)]
    pub errors_total: u64,
    /// WARN lines read from its log since this console began.
    #[serde(default)]
    pub warns_total: u64,
    /// Its last transitions, oldest first (at most [`HISTORY_LEN`]), with who caused each.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// The operator's (or the restart budget's) last decision about it, kept across consoles:
    /// null when nobody decided, and `autostart` applies.
    #[serde(default)]
    pub decision: Option<Decision>,
    /// It is crash-looping: restarts in one streak with no stay of `uptime_reset` between them
    /// (null when not). Shown until it has stayed up for `uptime_reset`.
    #[serde(default)]
    pub crash_loop: Option<CrashLoop>,
    /// When its feed went stale (RFC 3339, UTC): the last market data, or when watching began.
    #[serde(default)]
    pub stale_since: Option<String>,
    /// When its errors reached `error_threshold` a minute (RFC 3339, UTC).
    #[serde(default)]
    pub erroring_since: Option<String>,
    /// The last restart refused because a new process could not start (until one starts).
    #[serde(default)]
    pub refused: Option<Refusal>,
    /// A reloaded manifest changed its entry while it ran: the new one is used at the
    /// operator's next start or restart.
    #[serde(default)]
    pub restart_needed: bool,
    /// The console's own registration of the declared instruments of the running process (or
    /// why a restart left its bots without data); null when there is nothing to say.
    #[serde(default)]
    pub registration: Option<super::registration::RegistrationView>,
    /// The wall-clock instant (seconds since the Unix epoch) the relative times refer to.
    pub as_of: f64,
}

impl ConnectorView {
    /// What it is, for a title or a TYPE column: the exchange type of a connector, `bot→bf,bs`
    /// for a bot and its connectors.
    pub fn type_label(&self) -> String {
        match self.role {
            Role::Connector => self.kind.as_str().to_string(),
            Role::Bot => format!("bot→{}", self.connectors.join(",")),
        }
    }

    /// A connector at rest (idle, no process, nothing known yet) as of `as_of`; the start of a
    /// view built field by field (`ConnectorView { phase, pid, ..ConnectorView::new(…) }`).
    pub fn new(name: impl Into<String>, kind: ConnectorType, as_of: f64) -> ConnectorView {
        ConnectorView {
            name: name.into(),
            host: None,
            kind,
            role: Role::Connector,
            connectors: Vec::new(),
            phase: Phase::Idle,
            pid: None,
            uptime_s: None,
            restarts: 0,
            bots: 0,
            last_exit: None,
            last_exit_at: None,
            last_exit_cause: None,
            order_warning: None,
            detail: String::new(),
            attempt: 0,
            max_attempts: crate::model::settings::restart_defaults::MAX_ATTEMPTS,
            countdown_s: None,
            started: None,
            build: None,
            build_error: None,
            degraded: false,
            wanted: false,
            adopted: false,
            health: None,
            health_detail: None,
            stale_cause: None,
            stale_symbol: None,
            feed: None,
            errors_1m: 0,
            warns_1m: 0,
            last_error: None,
            cpu_pct: None,
            rss_bytes: None,
            errors_total: 0,
            warns_total: 0,
            restart_needed: false,
            registration: None,
            history: Vec::new(),
            decision: None,
            crash_loop: None,
            stale_since: None,
            erroring_since: None,
            refused: None,
            as_of,
        }
    }

    /// Its identity.
    pub fn id(&self) -> ConnectorId {
        ConnectorId {
            name: self.name.clone(),
            host: self.host.clone(),
        }
    }

    /// Seconds between its last exit and wall-clock time `now`, if the exit's time is known.
    pub fn last_exit_age_s(&self, now: f64) -> Option<f64> {
        let at = self
            .last_exit_at
            .as_deref()?
            .parse::<jiff::Timestamp>()
            .ok()?;
        Some((now - at.as_millisecond() as f64 / 1000.0).max(0.0))
    }

    /// Its last exit for a table cell: `code 1, 2m ago`, `code 1` (time unknown) or `-`.
    pub fn last_exit_text(&self, now: f64) -> String {
        match (&self.last_exit, self.last_exit_age_s(now)) {
            (Some(e), Some(age)) => {
                let secs = age as u64;
                let ago = match secs {
                    0..=59 => format!("{secs}s"),
                    60..=3599 => format!("{}m", secs / 60),
                    3600..=86_399 => format!("{}h", secs / 3600),
                    _ => format!("{}d", secs / 86_400),
                };
                format!("{e}, {ago} ago")
            }
            (Some(e), None) => e.to_string(),
            (None, _) => "-".into(),
        }
    }

    /// Uptime at wall-clock time `now` (seconds since the Unix epoch).
    pub fn uptime_at(&self, now: f64) -> Option<f64> {
        self.uptime_s.map(|u| u + (now - self.as_of).max(0.0))
    }

    /// Seconds left on the countdown at wall-clock time `now`.
    pub fn countdown_at(&self, now: f64) -> Option<f64> {
        self.countdown_s
            .map(|c| (c - (now - self.as_of).max(0.0)).max(0.0))
    }

    /// Its row of the fleet table at wall-clock time `now`, for [`crate::model::row`] to
    /// format (`switchboard status` and the TUI's table view show the same cells).
    pub fn row(&self, now: f64) -> crate::model::row::RowFacts {
        use super::registration::RegistrationState;
        crate::model::row::RowFacts {
            id: self.id().to_string(),
            type_label: self.type_label(),
            phase: self.phase,
            crash_loop: self.crash_loop.as_ref().map(|c| (c.restarts, c.describe())),
            pid: self.pid,
            uptime_s: self.uptime_at(now),
            restarts: self.restarts,
            bots: self.bots,
            cpu_pct: self.cpu_pct,
            rss_bytes: self.rss_bytes,
            health: self.health,
            health_detail: self.health_detail.clone(),
            rate: self.feed.as_ref().map(|f| (f.events_per_s, f.lower_bound)),
            errors_1m: self.errors_1m,
            last_exit: self.last_exit_text(now),
            detail: self.detail.clone(),
            registration: self
                .registration
                .as_ref()
                .filter(|g| {
                    matches!(
                        g.state,
                        RegistrationState::Held | RegistrationState::Unhealable
                    )
                })
                .map(|g| g.detail.clone()),
            restart_needed: self.restart_needed,
        }
    }

    /// What the fleet summary ([`crate::model::fleet`]) counts of it.
    pub fn standing(&self) -> crate::model::fleet::Standing {
        crate::model::fleet::Standing {
            phase: self.phase,
            health: self.health,
            crash_loop: self.crash_loop.is_some(),
            restart_needed: self.restart_needed,
        }
    }

    /// The same view with its clocks moved on to wall-clock time `now`.
    pub fn at(self, now: f64) -> ConnectorView {
        let dt = (now - self.as_of).max(0.0);
        ConnectorView {
            uptime_s: self.uptime_at(now),
            countdown_s: self.countdown_at(now),
            feed: self.feed.clone().map(|f| f.aged(dt)),
            as_of: now,
            ..self
        }
    }

    /// The view split in two: what matters ([`Settled`], compared with `==`) and the clocks and
    /// samples that move with time alone ([`Clocks`]). The destructuring names every field, so a
    /// field added to the view does not compile until it is placed in one of the two: the
    /// comparators that decide publishing ([`ConnectorView::differs_from`]), durability
    /// ([`Settled::durable`]) cannot drift from the view again.
    pub fn split(&self) -> (Settled<'_>, Clocks<'_>) {
        let ConnectorView {
            name,
            host,
            kind,
            role,
            connectors,
            phase,
            pid,
            uptime_s,
            restarts,
            bots,
            last_exit,
            last_exit_at,
            last_exit_cause,
            order_warning,
            detail,
            attempt,
            max_attempts,
            countdown_s,
            started,
            build,
            degraded,
            wanted,
            adopted,
            health,
            health_detail,
            stale_cause,
            stale_symbol,
            build_error,
            feed,
            errors_1m,
            warns_1m,
            last_error,
            cpu_pct,
            rss_bytes,
            errors_total,
            warns_total,
            history,
            decision,
            crash_loop,
            stale_since,
            erroring_since,
            refused,
            restart_needed,
            registration,
            as_of,
        } = self;
        (
            Settled {
                name,
                host,
                kind,
                role,
                connectors,
                phase,
                pid,
                restarts,
                bots,
                last_exit,
                last_exit_at,
                last_exit_cause,
                order_warning,
                detail,
                attempt,
                max_attempts,
                started,
                build,
                degraded,
                wanted,
                adopted,
                health,
                health_detail,
                stale_cause,
                stale_symbol,
                build_error,
                errors_1m,
                warns_1m,
                last_error,
                errors_total,
                warns_total,
                history,
                decision,
                crash_loop,
                stale_since,
                erroring_since,
                refused,
                restart_needed,
                registration,
            },
            Clocks {
                uptime_s: *uptime_s,
                countdown_s: *countdown_s,
                feed: feed.as_ref(),
                cpu_pct: *cpu_pct,
                rss_bytes: *rss_bytes,
                as_of: *as_of,
            },
        )
    }

    /// True when the two differ in anything but the passing of time (`as_of` and the clocks
    /// that run with it). Publishing only such changes keeps an idle console quiet.
    pub fn differs_from(&self, other: &ConnectorView) -> bool {
        let (a, ca) = self.split();
        let (b, cb) = other.split();
        a != b || ca.moved_from(&cb)
    }
}

/// What of a [`ConnectorView`] matters whatever the time: two views with equal `Settled` parts
/// and clocks that only ran on say the same thing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settled<'a> {
    pub name: &'a String,
    pub host: &'a Option<String>,
    pub kind: &'a ConnectorType,
    pub role: &'a Role,
    pub connectors: &'a Vec<String>,
    pub phase: &'a Phase,
    pub pid: &'a Option<i32>,
    pub restarts: &'a u32,
    pub bots: &'a u32,
    pub last_exit: &'a Option<ExitStatus>,
    pub last_exit_at: &'a Option<String>,
    pub last_exit_cause: &'a Option<ExitCause>,
    pub order_warning: &'a Option<String>,
    pub detail: &'a String,
    pub attempt: &'a u32,
    pub max_attempts: &'a u32,
    pub started: &'a Option<String>,
    pub build: &'a Option<BuildProgress>,
    pub degraded: &'a bool,
    pub wanted: &'a bool,
    pub adopted: &'a bool,
    pub health: &'a Option<FeedHealth>,
    pub health_detail: &'a Option<String>,
    pub stale_cause: &'a Option<super::feed::StaleCause>,
    pub stale_symbol: &'a Option<String>,
    pub build_error: &'a Option<Vec<String>>,
    pub errors_1m: &'a u32,
    pub warns_1m: &'a u32,
    pub last_error: &'a Option<LastError>,
    pub errors_total: &'a u64,
    pub warns_total: &'a u64,
    pub history: &'a Vec<HistoryEntry>,
    pub decision: &'a Option<Decision>,
    pub crash_loop: &'a Option<CrashLoop>,
    pub stale_since: &'a Option<String>,
    pub erroring_since: &'a Option<String>,
    pub refused: &'a Option<Refusal>,
    pub restart_needed: &'a bool,
    pub registration: &'a Option<super::registration::RegistrationView>,
}

impl Settled<'_> {
    /// Whether `self` and `other` differ in what `state.json` must hold durably: the phase's
    /// wording, the feed's health and the error counts of the last minute are details, written
    /// along with other changes but never fsynced for themselves.
    pub fn durably_differs(&self, other: &Settled<'_>) -> bool {
        let with_their_details = Settled {
            detail: other.detail,
            health: other.health,
            health_detail: other.health_detail,
            errors_1m: other.errors_1m,
            warns_1m: other.warns_1m,
            last_error: other.last_error,
            ..*self
        };
        with_their_details != *other
    }
}

/// What of a [`ConnectorView`] moves with time alone.
#[derive(Debug, Clone, Copy)]
pub struct Clocks<'a> {
    /// Seconds the process has run, at `as_of`.
    pub uptime_s: Option<f64>,
    /// Seconds left on the countdown, at `as_of`.
    pub countdown_s: Option<f64>,
    pub feed: Option<&'a FeedView>,
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub as_of: f64,
}

impl Clocks<'_> {
    /// True when `self` (seen first) and `later` differ in more than time passing: a re-armed
    /// countdown, a CPU or memory sample that moved enough to be news, a feed that did more
    /// than age. Uptime runs with `as_of` and is never news by itself.
    pub fn moved_from(&self, later: &Clocks<'_>) -> bool {
        let rearmed = match (self.countdown_s, later.countdown_s) {
            // A new deadline (re-armed timer) is a change; the same deadline seen later is not.
            (Some(a), Some(b)) => ((a + self.as_of) - (b + later.as_of)).abs() > 0.05,
            (None, None) => false,
            _ => true,
        };
        // Small moves of CPU and memory are not news (an idle screen stays idle).
        let cpu = match (self.cpu_pct, later.cpu_pct) {
            (Some(a), Some(b)) => (a - b).abs() >= 1.0,
            (None, None) => false,
            _ => true,
        };
        let rss = match (self.rss_bytes, later.rss_bytes) {
            (Some(a), Some(b)) => a.abs_diff(b) >= 1024 * 1024,
            (None, None) => false,
            _ => true,
        };
        let feed = match (self.feed, later.feed) {
            (Some(a), Some(b)) => !a.same_as(b, later.as_of - self.as_of),
            (None, None) => false,
            _ => true,
        };
        rearmed || cpu || rss || feed
    }
}

/// What happened, as one sequenced event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A phase change, or a change of the phase's detail.
    Transition {
        phase: Phase,
        pid: Option<i32>,
        detail: String,
        /// What it establishes, typed (a build's duration, a refusal); absent for most.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fact: Option<Fact>,
    },
    /// Its feed health turned stale or erroring, or recovered.
    Health {
        change: HealthChange,
        health: FeedHealth,
        pid: Option<i32>,
        detail: String,
    },
    /// The connector was added to the running engine.
    Added,
    /// The connector was removed from the running engine (after it stopped).
    Removed,
}

/// A feed health change worth telling (ok ↔ quiet is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthChange {
    Stale,
    Erroring,
    /// Healthy again after being stale or erroring.
    Recovered,
}

impl HealthChange {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthChange::Stale => "stale",
            HealthChange::Erroring => "erroring",
            HealthChange::Recovered => "recovered",
        }
    }
}

/// One change, numbered: `seq` grows by one per event of an engine, so an observer can tell it
/// missed nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineEvent {
    pub seq: u64,
    /// RFC 3339 UTC time.
    pub ts: String,
    pub id: ConnectorId,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One line of `run --headless --json` (DESIGN §2): `{"ts","name","phase","pid","detail"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub ts: String,
    pub name: String,
    pub phase: Phase,
    pub pid: Option<i32>,
    pub detail: String,
}

impl Transition {
    /// The transition an event carries, if it is one.
    pub fn of(e: &EngineEvent) -> Option<Transition> {
        match &e.kind {
            EventKind::Transition {
                phase, pid, detail, ..
            } => Some(Transition {
                ts: e.ts.clone(),
                name: e.id.to_string(),
                phase: *phase,
                pid: *pid,
                detail: detail.clone(),
            }),
            EventKind::Health { .. } | EventKind::Added | EventKind::Removed => None,
        }
    }

    /// The transition that states where `v` stands now.
    pub fn current(v: &ConnectorView, ts: String) -> Transition {
        Transition {
            ts,
            name: v.id().to_string(),
            phase: v.phase,
            pid: v.pid,
            detail: v.detail.clone(),
        }
    }
}

/// A feed health line of `run --headless --json`: `{"ts","name","health","pid","detail"}` with
/// `health` one of `stale`, `erroring`, `recovered`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthLine {
    pub ts: String,
    pub name: String,
    pub health: HealthChange,
    pub pid: Option<i32>,
    pub detail: String,
}

impl HealthLine {
    /// The health change an event carries, if it is one.
    pub fn of(e: &EngineEvent) -> Option<HealthLine> {
        match &e.kind {
            EventKind::Health {
                change,
                pid,
                detail,
                ..
            } => Some(HealthLine {
                ts: e.ts.clone(),
                name: e.id.to_string(),
                health: *change,
                pid: *pid,
                detail: detail.clone(),
            }),
            EventKind::Transition { .. } | EventKind::Added | EventKind::Removed => None,
        }
    }
}

/// A link to another host's console (DESIGN §12), as the link reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    pub name: String,
    #[serde(flatten)]
    pub link: LinkState,
    /// The wall-clock instant (Unix seconds) the countdown refers to.
    pub as_of: f64,
}

/// Where a host link stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "link", rename_all = "snake_case")]
pub enum LinkState {
    /// Its command is starting; no snapshot yet. `since` (Unix seconds) and `command` tell
    /// how long and what: a command that never speaks (a hung ssh) shows as such.
    Connecting {
        #[serde(default)]
        since: f64,
        #[serde(default)]
        command: String,
    },
    Connected,
    /// Lost; the next try in `in_s` seconds (as of `as_of`).
    Reconnecting {
        in_s: f64,
        attempt: u32,
        max_attempts: u32,
        /// Why the last try ended (the command's last stderr line, or its exit).
        last_error: String,
    },
    /// The reconnect budget is spent; a retry (key `H`, `switchboard reload`) starts over.
    Failed {
        last_error: String,
    },
}

impl HostView {
    /// One line for the operator: `tokyo: reconnecting in 4 s (attempt 2/20): ssh: …`.
    pub fn describe(&self, now: f64) -> String {
        match &self.link {
            LinkState::Connecting { since, command } => format!(
                "{}: connecting for {:.0} s (`{command}`, no snapshot yet)",
                self.name,
                (now - since).max(0.0)
            ),
            LinkState::Connected => format!("{}: connected", self.name),
            LinkState::Reconnecting {
                in_s,
                attempt,
                max_attempts,
                last_error,
            } => format!(
                "{}: reconnecting in {} (attempt {attempt}/{max_attempts}): {last_error}",
                self.name,
                seconds_left(in_s - (now - self.as_of).max(0.0))
            ),
            LinkState::Failed { last_error } => {
                format!("{}: failed: {last_error} (H to retry)", self.name)
            }
        }
    }
}

/// `0.4 s`, `12 s`: tenths under ten seconds.
pub fn seconds_left(s: f64) -> String {
    let s = s.max(0.0);
    if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// The engine's answer to "is everything up?".
#[derive(Debug, Clone)]
pub struct Health {
    pub connectors: Vec<ConnectorView>,
    /// True iff every connector the operator wants running is Ready and not degraded.
    pub healthy: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_and_write_name_at_host() {
        let id: ConnectorId = "bf@tokyo".parse().expect("id");
        assert_eq!(id.name, "bf");
        assert_eq!(id.host.as_deref(), Some("tokyo"));
        assert_eq!(id.to_string(), "bf@tokyo");
        assert_eq!("bf".parse::<ConnectorId>(), Ok(ConnectorId::local("bf")));
        assert!("@tokyo".parse::<ConnectorId>().is_err());
        assert!("bf@".parse::<ConnectorId>().is_err());
        assert!("".parse::<ConnectorId>().is_err());
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(json, "\"bf@tokyo\"");
    }

    #[test]
    fn views_extrapolate_their_clocks_and_ignore_time_passing() {
        let v = ConnectorView {
            phase: Phase::Stopping,
            pid: Some(7),
            uptime_s: Some(10.0),
            last_exit: Some(ExitStatus::Signal(9)),
            detail: "x".into(),
            countdown_s: Some(3.0),
            wanted: true,
            ..ConnectorView::new("bf", ConnectorType::BinanceFutures, 100.0)
        };
        assert_eq!(v.uptime_at(102.5), Some(12.5));
        assert_eq!(v.countdown_at(102.0), Some(1.0));
        assert_eq!(v.countdown_at(200.0), Some(0.0));
        let later = ConnectorView {
            uptime_s: Some(12.0),
            countdown_s: Some(1.0),
            as_of: 102.0,
            ..v.clone()
        };
        assert!(!v.differs_from(&later), "only time passed");
        let rearmed = ConnectorView {
            countdown_s: Some(5.0),
            ..later.clone()
        };
        assert!(v.differs_from(&rearmed), "a new deadline is a change");
        // Issue #21: the hand-kept comparator left these out, so a reload that changed only
        // them at rest was never published.
        let spot = ConnectorView {
            kind: ConnectorType::BinanceSpot,
            ..v.clone()
        };
        assert!(v.differs_from(&spot), "the type is a change");
        let fewer = ConnectorView {
            max_attempts: 3,
            ..v.clone()
        };
        assert!(v.differs_from(&fewer), "max_attempts is a change");
        let stalled = ConnectorView {
            stale_symbol: Some("ETHUSDT".into()),
            ..v.clone()
        };
        assert!(v.differs_from(&stalled), "the stalled symbol is a change");
        // What state.json must hold durably leaves the details out, and nothing else.
        let reworded = ConnectorView {
            detail: "y".into(),
            errors_1m: 4,
            ..v.clone()
        };
        assert!(!v.split().0.durably_differs(&reworded.split().0));
        assert!(v.split().0.durably_differs(&fewer.split().0));
        let json = serde_json::to_value(&v).expect("json");
        assert_eq!(json["last_exit"], "signal 9");
        assert_eq!(json["type"], "binancefutures");
        assert_eq!(json["host"], serde_json::Value::Null);
    }
}
