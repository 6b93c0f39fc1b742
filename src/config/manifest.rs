//! The manifest (`switchboard.toml`): serde model, named defaults, validation and project-root
//! discovery. Loading never panics; every error names the file, the connector and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::connector::{self, ConnectorType};
pub use crate::config::diag::did_you_mean;
use crate::config::diag::{expectation, explain, line_of, KeyMap};
use crate::error::{ManifestError, Scope};
pub use crate::model::settings::Instrument;

/// Default state directory, relative to the manifest.
pub const DEFAULT_STATE_DIR: &str = ".switchboard";
/// Default size at which a connector log file is rotated (64 MiB).
pub const DEFAULT_LOG_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default number of rotated log files kept.
pub const DEFAULT_LOG_KEEP: u32 = 3;
/// Default number of log lines kept in memory per pane.
pub const DEFAULT_SCROLLBACK: usize = 10_000;
/// Default bytes of log text kept in memory per pane (with each line's bookkeeping): 4 MiB, so
/// eight connectors printing 16 KiB lines hold at most 32 MiB, well under 64 MB.
pub const DEFAULT_SCROLLBACK_BYTES: usize = 4 * 1024 * 1024;
/// Smallest `scrollback_bytes`: room for a few of the longest lines kept (16 KiB each).
pub const MIN_SCROLLBACK_BYTES: usize = 64 * 1024;
/// Most rotated log files kept per connector (each rotation renames them all).
pub const MAX_LOG_KEEP: u32 = 100;
/// Shortest `startup_timeout` and `shutdown_timeout`: below this a connector cannot even be
/// spawned and probed (startup), or never gets a chance to stop cleanly (shutdown).
pub const MIN_TIMEOUT_SECS: f64 = 0.1;
/// Shortest restart backoff: below it a crash loop would spin.
pub const MIN_BACKOFF_SECS: f64 = 0.01;
/// Seconds until Ready before a start counts as failed.
pub const DEFAULT_STARTUP_TIMEOUT: f64 = 10.0;
/// Seconds between SIGTERM and SIGKILL.
pub const DEFAULT_SHUTDOWN_TIMEOUT: f64 = 5.0;

// The settings the lifecycle machine and the health verdict need live in the model (the
// manifest resolves into them); re-exported so `manifest::RestartPolicy` keeps its meaning.
pub use crate::model::settings::{
    feed_defaults, restart_defaults, FeedSettings, OnStale, RestartPolicy, RestartPolicyKind,
};

/// Console-wide settings, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleSettings {
    pub state_dir: PathBuf,
    pub log_max_bytes: u64,
    pub log_keep: u32,
    pub scrollback: usize,
    /// Bytes of log text kept in memory per pane; the oldest lines go first.
    pub scrollback_bytes: usize,
    /// `confirm = "always"`: the TUI asks before every stop, restart and kill, not only when
    /// bots are attached (`"bots"`, the default).
    pub confirm_always: bool,
}

/// Default `[alerts] min_interval`: one alert per connector and event per minute.
pub const DEFAULT_ALERT_MIN_INTERVAL: f64 = 60.0;

/// `[alerts]`, resolved (DESIGN §11).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// Run with `sh -c` on each event that needs a human; None: no command.
    pub command: Option<String>,
    /// At most one alert per connector and event in this interval (the rest are summed up).
    pub min_interval: Duration,
    /// Ring the terminal bell (TUI) on the same events.
    pub bell: bool,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            command: None,
            min_interval: Duration::from_secs_f64(DEFAULT_ALERT_MIN_INTERVAL),
            bell: false,
        }
    }
}

/// `[metrics]`, resolved: where the Prometheus endpoint listens (None: nowhere, the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSettings {
    pub listen: Option<std::net::SocketAddr>,
}

/// Another host's console (DESIGN §12), reached by running `command` (OpenSSH in practice)
/// whose stdin/stdout speak `switchboard attach --stdio` there.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSpec {
    pub name: String,
    pub command: String,
    /// The reconnect budget of the link (the restart budget's keys and defaults; `policy` is
    /// not used).
    pub reconnect: RestartPolicy,
    /// The console at the other end runs on this host and its connectors are shown under
    /// their own names (a read-only viewer's link); never set from a manifest.
    pub as_local: bool,
}

/// One connector, with every default applied and every path absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorSpec {
    pub name: String,
    pub kind: ConnectorType,
    pub config: PathBuf,
    pub project_root: PathBuf,
    pub binary: PathBuf,
    pub features: Vec<String>,
    /// The cargo profile that builds `binary` (`release`, `dev` or a custom profile).
    pub profile: String,
    pub startup_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub auto_build: bool,
    pub autostart: bool,
    pub capture_output: bool,
    pub env: BTreeMap<String, String>,
    pub restart: RestartPolicy,
    pub feed: FeedSettings,
    /// Instruments the bots trade on it (DESIGN §13): watched from `ready`, and registered by the
    /// console itself unless `register` is false.
    pub instruments: Vec<Instrument>,
    /// Send each declared instrument as a `RegisterInstrument` once per connector process.
    pub register: bool,
    /// Quiet time after `ready` (and after the last stream error) before the exchange stream
    /// counts as up and the console registers (a registration before that can crash it).
    pub connect_grace: Duration,
    /// Time between the console's registration and the start of the connector's managed bots:
    /// the connector's first registration of a symbol cancels its open orders asynchronously.
    pub cleanup_grace: Duration,
    /// Values of `api_key` and `secret` from the connector config: never printed, masked in logs.
    pub secrets: Vec<String>,
    /// A digest of the config file's content when it was read (a reload compares it).
    pub config_digest: u64,
    /// Set for a `[[bot]]`: a strategy process supervised with its connectors (DESIGN §13).
    /// Its `binary` is the program, `kind` its first connector's type; no config, no build.
    pub bot: Option<BotSpec>,
    /// Why its config file cannot be used (missing, unreadable, not TOML, a key its exchange
    /// needs is missing), if so. The connector is `failed` with this reason and is not started
    /// until the file is fixed; every other connector runs.
    pub config_problem: Option<String>,
}

impl ConnectorSpec {
    /// The binary `b` (and `auto_build`) builds for it:
    /// `<project_root>/target/<profile dir>/connector`.
    pub fn built_binary(&self) -> PathBuf {
        self.project_root
            .join("target")
            .join(profile_dir(&self.profile))
            .join("connector")
    }

    /// Its config problem as a manifest error (what `check` and a reload report).
    pub fn config_error(&self, file: &Path) -> Option<ManifestError> {
        self.config_problem
            .as_ref()
            .map(|problem| ManifestError::ConnectorConfig {
                file: file.to_path_buf(),
                connector: self.name.clone(),
                config: self.config.clone(),
                problem: problem.clone(),
            })
    }

    /// Why it cannot start, in the pre-flight's words ([`connector::unusable`]): the config
    /// file, what is wrong, and what to do.
    pub fn config_refusal(&self) -> Option<String> {
        self.config_problem
            .as_ref()
            .map(|problem| connector::unusable(&self.config, problem))
    }

    /// Reads its config file again (a start of a connector whose config was broken): when it
    /// is fixed now, its secrets and digest are taken and the problem is cleared; else the
    /// refusal, as [`ConnectorSpec::config_refusal`] says it.
    pub fn recheck_config(&mut self) -> Result<(), String> {
        if self.config_problem.is_none() {
            return Ok(());
        }
        match connector::check(self.kind, &self.config) {
            Ok(checked) => {
                self.secrets = checked.secrets;
                self.config_digest = checked.digest;
                self.config_problem = None;
                Ok(())
            }
            Err(problem) => {
                self.config_problem = Some(problem);
                Err(self.config_refusal().unwrap_or_default())
            }
        }
    }
}

/// What makes a `[[bot]]` a bot.
#[derive(Debug, Clone, PartialEq)]
pub struct BotSpec {
    /// The argv it runs (`command = "…"` becomes `["sh", "-c", "…"]`).
    pub command: Vec<String>,
    /// Its working directory (default: its first connector's project root).
    pub cwd: PathBuf,
    /// The `[[connector]]`s it trades on: it starts once they are ready, and is ready once its
    /// process has an iceoryx2 node on each of their services.
    pub connectors: Vec<String>,
    /// Restart it after one of its connectors restarted (hftbacktest bots register once).
    pub restart_with_connectors: bool,
}

impl ConnectorSpec {
    /// True for a `[[bot]]`.
    pub fn is_bot(&self) -> bool {
        self.bot.is_some()
    }
}

/// Default quiet time before the exchange stream counts as up (seconds).
pub const DEFAULT_CONNECT_GRACE: f64 = 3.0;
/// The shortest `connect_grace`: a stream error reaches the console through the log tailer or
/// the meter up to about a second late (their idle pace), so a shorter quiet time could open
/// the gate before a failure that already happened is seen (the chaos soak caught it at 0.5 s).
pub const MIN_CONNECT_GRACE: f64 = 2.0;
/// Default time between the console's registration and its managed bots' start (seconds).
pub const DEFAULT_CLEANUP_GRACE: f64 = 2.0;

/// A loaded and validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub path: PathBuf,
    pub console: ConsoleSettings,
    pub alerts: AlertSettings,
    pub metrics: MetricsSettings,
    pub connectors: Vec<ConnectorSpec>,
    /// Other hosts' consoles shown beside this one's connectors.
    pub hosts: Vec<HostSpec>,
}

// ---- raw serde model -------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default)]
    console: RawConsole,
    #[serde(default)]
    defaults: RawConnectorKeys,
    #[serde(default)]
    connector: Vec<RawConnectorKeys>,
    #[serde(default)]
    alerts: RawAlerts,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    bot: Vec<RawBot>,
}

/// A `[[bot]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBot {
    name: String,
    command: RawCommand,
    cwd: Option<String>,
    env: Option<BTreeMap<String, String>>,
    connectors: Vec<String>,
    autostart: Option<bool>,
    restart: Option<RawRestart>,
    startup_timeout: Option<f64>,
    shutdown_timeout: Option<f64>,
    on_connector_restart: Option<String>,
    capture_output: Option<bool>,
}

/// `command = ["prog", "arg"]` or `command = "a shell line"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: String,
    command: String,
    reconnect: Option<RawRestart>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    command: Option<String>,
    min_interval: Option<f64>,
    bell: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    state_dir: Option<String>,
    log_max_bytes: Option<u64>,
    log_keep: Option<u32>,
    scrollback: Option<usize>,
    scrollback_bytes: Option<usize>,
    confirm: Option<String>,
}

/// The keys of a `[[connector]]` table; `[defaults]` takes all but `name`, `type` and `config`.
/// One struct for both (no `#[serde(flatten)]`, which would hide the line of a bad key).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnectorKeys {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    config: Option<String>,
    project_root: Option<String>,
    startup_timeout: Option<f64>,
    shutdown_timeout: Option<f64>,
    auto_build: Option<bool>,
    autostart: Option<bool>,
    capture_output: Option<bool>,
    env: Option<BTreeMap<String, String>>,
    restart: Option<RawRestart>,
    feed: Option<RawFeed>,
    binary: Option<String>,
    features: Option<Vec<String>>,
    profile: Option<String>,
    instruments: Option<Vec<RawInstrument>>,
    register: Option<bool>,
    connect_grace: Option<f64>,
    cleanup_grace: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    symbol: String,
    tick_size: f64,
    lot_size: f64,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestart {
    policy: Option<RestartPolicyKind>,
    initial_backoff: Option<f64>,
    max_backoff: Option<f64>,
    multiplier: Option<f64>,
    jitter: Option<f64>,
    max_attempts: Option<u32>,
    max_total: Option<f64>,
    uptime_reset: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    stale_after: Option<f64>,
    on_stale: Option<String>,
    error_threshold: Option<i64>,
    resume_grace: Option<f64>,
    meter: Option<bool>,
}

impl RawRestart {
    /// `mine` over `defaults`, key by key.
    fn merged(mine: Option<RawRestart>, defaults: Option<RawRestart>) -> Option<RawRestart> {
        match (mine, defaults) {
            (Some(r), Some(d)) => Some(RawRestart {
                policy: r.policy.or(d.policy),
                initial_backoff: r.initial_backoff.or(d.initial_backoff),
                max_backoff: r.max_backoff.or(d.max_backoff),
                multiplier: r.multiplier.or(d.multiplier),
                jitter: r.jitter.or(d.jitter),
                max_attempts: r.max_attempts.or(d.max_attempts),
                max_total: r.max_total.or(d.max_total),
                uptime_reset: r.uptime_reset.or(d.uptime_reset),
            }),
            (r, d) => r.or(d),
        }
    }
}

impl RawConnectorKeys {
    /// `self` overrides `defaults`, key by key (restart keys too).
    fn over(self, defaults: &RawConnectorKeys) -> RawConnectorKeys {
        let restart = RawRestart::merged(self.restart, defaults.restart.clone());
        let feed = match (self.feed, defaults.feed.clone()) {
            (Some(f), Some(d)) => Some(RawFeed {
                stale_after: f.stale_after.or(d.stale_after),
                on_stale: f.on_stale.or(d.on_stale),
                error_threshold: f.error_threshold.or(d.error_threshold),
                resume_grace: f.resume_grace.or(d.resume_grace),
                meter: f.meter.or(d.meter),
            }),
            (f, d) => f.or(d),
        };
        let env = match (self.env, defaults.env.clone()) {
            (Some(mine), Some(mut base)) => {
                base.extend(mine);
                Some(base)
            }
            (mine, base) => mine.or(base),
        };
        RawConnectorKeys {
            // Each connector's own: `[defaults]` cannot hold them.
            name: self.name,
            kind: self.kind,
            config: self.config,
            project_root: self.project_root.or_else(|| defaults.project_root.clone()),
            startup_timeout: self.startup_timeout.or(defaults.startup_timeout),
            shutdown_timeout: self.shutdown_timeout.or(defaults.shutdown_timeout),
            auto_build: self.auto_build.or(defaults.auto_build),
            autostart: self.autostart.or(defaults.autostart),
            capture_output: self.capture_output.or(defaults.capture_output),
            env,
            restart,
            feed,
            binary: self.binary.or_else(|| defaults.binary.clone()),
            features: self.features.or_else(|| defaults.features.clone()),
            profile: self.profile.or_else(|| defaults.profile.clone()),
            instruments: self.instruments.or_else(|| defaults.instruments.clone()),
            register: self.register.or(defaults.register),
            connect_grace: self.connect_grace.or(defaults.connect_grace),
            cleanup_grace: self.cleanup_grace.or(defaults.cleanup_grace),
        }
    }
}

// ---- loading -----------------------------------------------------------------------------------

/// One thing wrong with a manifest.
enum Problem {
    /// The manifest itself is wrong: no console opens on it.
    Manifest(ManifestError),
    /// A connector's config file cannot be used: that connector is `failed`, the others run.
    Config(ManifestError),
}

impl Problem {
    fn into_error(self) -> ManifestError {
        match self {
            Problem::Manifest(e) | Problem::Config(e) => e,
        }
    }
}

/// Largest manifest read (real ones are a few kilobytes).
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Reads a manifest as connector configs are read: only a regular file of at most
/// [`MAX_MANIFEST_BYTES`]. The open never blocks (a FIFO would hang `check`, or a reload while
/// it holds the reload lock), and what is read is bounded (`/dev/zero` would eat memory).
pub fn read_manifest_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO with no writer returns at once; it changes nothing for a
    // regular file, the only kind read.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)?;
    // The file opened, not the path looked at before: nothing can be swapped in between.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a directory, FIFO or device)",
        ));
    }
    let too_big = |len: u64| {
        std::io::Error::other(format!(
            "it is {len} bytes or more, more than a manifest can be ({MAX_MANIFEST_BYTES})"
        ))
    };
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(too_big(meta.len()));
    }
    let mut text = String::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        // It grew while read.
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

fn read_manifest(path: &Path) -> Result<String, ManifestError> {
    read_manifest_text(path).map_err(|source| ManifestError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// Resolves manifest text read from `path`: the manifest as far as it goes (connectors with a
/// manifest problem left out; connectors with a config problem in, with `config_problem` set)
/// and every problem, in the file's order. Fails at once on a syntax or type error.
fn resolve(text: &str, path: &Path) -> Result<(Manifest, Vec<Problem>), ManifestError> {
    let parsed = parse(text, path)?;
    let place = |e| parsed.place(e);
    let Parsed {
        raw, path, base, ..
    } = &parsed;
    let mut problems = Vec::new();
    let console = parsed
        .keep(resolve_console(&raw.console, base, path), &mut problems)
        .unwrap_or_else(|| {
            resolve_console(&RawConsole::default(), base, path)
                .expect("the default [console] is valid")
        });
    let alerts = parsed
        .keep(resolve_alerts(&raw.alerts, path), &mut problems)
        .unwrap_or_default();
    let metrics = parsed
        .keep(resolve_metrics(&raw.metrics, path), &mut problems)
        .unwrap_or_default();
    let hosts = parsed
        .keep(resolve_hosts(raw.host.clone(), path), &mut problems)
        .unwrap_or_default();
    parsed.keep(check_defaults(&raw.defaults, path), &mut problems);
    // A console with only [[host]] tables watches other hosts' consoles.
    if raw.connector.is_empty() && raw.host.is_empty() {
        problems.push(Problem::Manifest(place(ManifestError::invalid(
            path,
            None,
            "connector",
            "no [[connector]] tables; add one per exchange connector (or a [[host]] to watch another host's console)",
        ))));
    }
    let mut connectors = Vec::with_capacity(raw.connector.len() + raw.bot.len());
    for entry in resolve_entries(&parsed) {
        match entry.spec {
            Ok(spec) => {
                if let Some(e) = entry.config {
                    problems.push(Problem::Config(e));
                }
                connectors.push(spec);
            }
            Err(e) => problems.push(Problem::Manifest(e)),
        }
    }
    let manifest = Manifest {
        path: path.clone(),
        console,
        alerts,
        metrics,
        connectors,
        hosts,
    };
    Ok((manifest, problems))
}

/// One `[[connector]]` or `[[bot]]` of a parsed manifest, resolved on its own.
struct Entry {
    /// Its name (`#3` for a third connector without one).
    name: String,
    /// Its type, when it names a valid one.
    kind: Option<ConnectorType>,
    /// Its spec, or why it has none (at the line of the key it is about).
    spec: Result<ConnectorSpec, ManifestError>,
    /// Why its connector config cannot be used; the spec stands (the console shows it failed
    /// with the reason and runs the others).
    config: Option<ManifestError>,
}

/// The one per-connector pass every load goes through ([`Manifest::load`], `check`, the
/// console's load and [`ManifestOutline::load`]): every `[[connector]]` in order, then every
/// `[[bot]]`, each with its own result. A name already taken by an entry that resolved is
/// refused (connectors and bots share one namespace); a bot resolves against the connectors
/// that resolved, whatever their config files say.
fn resolve_entries(parsed: &Parsed<'_>) -> Vec<Entry> {
    let Parsed {
        raw, path, base, ..
    } = parsed;
    let taken = |have: &[Entry], spec: &ConnectorSpec| {
        have.iter()
            .any(|e| e.spec.as_ref().is_ok_and(|s| s.name == spec.name))
            .then(|| {
                ManifestError::invalid(
                    path,
                    Some(&spec.name),
                    "name",
                    match spec.is_bot() {
                        false => "is used twice; connector names must be unique",
                        true => "is used twice; bots and connectors share one namespace, so each name must be unique",
                    },
                )
            })
    };
    let mut entries: Vec<Entry> = Vec::with_capacity(raw.connector.len() + raw.bot.len());
    let add = |entries: &mut Vec<Entry>,
               name: String,
               kind,
               spec: Result<ConnectorSpec, ManifestError>| {
        let spec = spec.and_then(|s| match taken(entries, &s) {
            Some(e) => Err(e),
            None => Ok(s),
        });
        let config = spec.as_ref().ok().and_then(|s| s.config_error(path));
        entries.push(Entry {
            name,
            kind,
            spec: spec.map_err(|e| parsed.place(e)),
            config,
        });
    };
    for (i, rc) in raw.connector.iter().enumerate() {
        let name = rc.name.clone().unwrap_or_else(|| format!("#{}", i + 1));
        let kind = rc.kind.as_deref().and_then(|k| k.parse().ok());
        let spec = resolve_connector(rc.clone(), i, &raw.defaults, base, path);
        add(&mut entries, name, kind, spec);
    }
    for rb in &raw.bot {
        let resolved: Vec<ConnectorSpec> = entries
            .iter()
            .filter_map(|e| e.spec.as_ref().ok().cloned())
            .collect();
        let spec = resolve_bot(rb.clone(), &raw.defaults, &resolved, base, path);
        let kind = spec.as_ref().ok().map(|s| s.kind);
        add(&mut entries, rb.name.clone(), kind, spec);
    }
    entries
}

impl Manifest {
    /// Reads, parses and validates `path`, including each connector's config file: the first
    /// problem is an error (a reload uses this).
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        Manifest::from_str_at(&read_manifest(path)?, path)
    }

    /// Parses manifest text as if it were read from `path` (relative paths resolve against
    /// `path`'s directory), as strictly as [`Manifest::load`]. Used for the embedded demo
    /// manifest.
    pub fn from_str_at(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let (manifest, problems) = resolve(text, path)?;
        match problems.into_iter().next() {
            Some(p) => Err(p.into_error()),
            None => Ok(manifest),
        }
    }

    /// What a console opens on: as [`Manifest::load`], except that a connector whose config
    /// file cannot be used is only that connector's problem (its spec has `config_problem`;
    /// the console shows it `failed` with the reason and runs the others). Those problems are
    /// returned beside the manifest, for the console to say.
    pub fn load_for_console(path: &Path) -> Result<(Manifest, Vec<ManifestError>), ManifestError> {
        let (manifest, problems) = resolve(&read_manifest(path)?, path)?;
        let mut configs = Vec::new();
        for p in problems {
            match p {
                Problem::Manifest(e) => return Err(e),
                Problem::Config(e) => configs.push(e),
            }
        }
        Ok((manifest, configs))
    }

    /// Every problem of `path` (what `switchboard check` lists), beside the manifest as far
    /// as it goes (the connectors that resolved). A file that cannot be read, or a syntax or
    /// type error, is the one error.
    pub fn check(path: &Path) -> Result<(Manifest, Vec<ManifestError>), ManifestError> {
        let (manifest, problems) = resolve(&read_manifest(path)?, path)?;
        Ok((
            manifest,
            problems.into_iter().map(Problem::into_error).collect(),
        ))
    }

    /// The connector called `name`.
    pub fn connector(&self, name: &str) -> Option<&ConnectorSpec> {
        self.connectors.iter().find(|c| c.name == name)
    }
}

/// A manifest whose connectors are resolved one by one: the file itself must parse (and its
/// `[console]` be valid), but a connector whose config is missing or wrong is only that
/// connector's problem. Commands addressed to a running console use this, so that one broken
/// config does not block `status`, `stop` or `restart` of the others.
#[derive(Debug)]
pub struct ManifestOutline {
    pub path: PathBuf,
    pub console: ConsoleSettings,
    /// Every `[[connector]]`, in order, then every `[[bot]]`.
    pub connectors: Vec<OutlinedConnector>,
}

/// One connector of a [`ManifestOutline`].
#[derive(Debug)]
pub struct OutlinedConnector {
    pub name: String,
    /// Its type, when it names a valid one.
    pub kind: Option<ConnectorType>,
    pub spec: Result<ConnectorSpec, ManifestError>,
}

impl ManifestOutline {
    /// Reads `path`; fails only when the file cannot be read or parsed, or `[console]` is wrong.
    pub fn load(path: &Path) -> Result<ManifestOutline, ManifestError> {
        let text = read_manifest(path)?;
        let parsed = parse(&text, path)?;
        let place = |e| parsed.place(e);
        let Parsed {
            raw, path, base, ..
        } = &parsed;
        let console = resolve_console(&raw.console, base, path).map_err(place)?;
        // A connector whose config cannot be used is only that connector's problem here.
        let connectors = resolve_entries(&parsed)
            .into_iter()
            .map(|e| OutlinedConnector {
                name: e.name,
                kind: e.kind,
                spec: match e.config {
                    Some(config) => Err(config),
                    None => e.spec,
                },
            })
            .collect();
        Ok(ManifestOutline {
            path: path.clone(),
            console,
            connectors,
        })
    }

    /// The connector called `name`, valid or not.
    pub fn connector(&self, name: &str) -> Option<&OutlinedConnector> {
        self.connectors.iter().find(|c| c.name == name)
    }
}

/// The manifest file, parsed: the raw model, where its keys are, its absolute path and the
/// directory relative paths resolve against.
struct Parsed<'a> {
    raw: RawManifest,
    map: KeyMap<'a>,
    path: PathBuf,
    base: PathBuf,
}

/// Parses `text` (read from `path`): a syntax error gives its line; a wrong type, an unknown
/// key or value names the connector and the key at the key's own line.
fn parse<'a>(text: &'a str, path: &Path) -> Result<Parsed<'a>, ManifestError> {
    let path = absolute(path);
    let map = KeyMap::parse(text).map_err(|e| ManifestError::Parse {
        file: path.clone(),
        message: parse_message(&e, text),
    })?;
    let raw: RawManifest = toml::from_str(text).map_err(|e| explain(&e, &map, &path))?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(Parsed {
        raw,
        map,
        path,
        base,
    })
}

impl Parsed<'_> {
    /// `r`'s value, or None with its error (placed at its line) added to `problems`.
    fn keep<T>(&self, r: Result<T, ManifestError>, problems: &mut Vec<Problem>) -> Option<T> {
        r.map_err(|e| problems.push(Problem::Manifest(self.place(e))))
            .ok()
    }

    /// `e` with the line of the key it is about.
    fn place(&self, e: ManifestError) -> ManifestError {
        match e {
            ManifestError::Invalid {
                file,
                line: None,
                scope,
                key,
                problem,
            } => ManifestError::Invalid {
                line: self.map.line(&scope, &key),
                file,
                scope,
                key,
                problem,
            },
            other => other,
        }
    }
}

/// A syntax error: toml's message with the line it gives (toml's snippet is left out).
fn parse_message(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim();
    match e.span() {
        Some(s) => format!("line {}: {msg}", line_of(text, s.start)),
        None => msg.to_string(),
    }
}

/// "; did you mean `X`?" when `word` is a near miss of one of `candidates`, else nothing.
fn near_miss(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates)
        .map(|n| format!("; did you mean `{n}`?"))
        .unwrap_or_default()
}

/// `[defaults]` may hold every connector key but the three that are each connector's own.
fn check_defaults(defaults: &RawConnectorKeys, file: &Path) -> Result<(), ManifestError> {
    for (key, set) in [
        ("name", defaults.name.is_some()),
        ("type", defaults.kind.is_some()),
        ("config", defaults.config.is_some()),
    ] {
        if set {
            return Err(ManifestError::Invalid {
                file: file.to_path_buf(),
                line: None,
                scope: Scope::Defaults,
                key: key.into(),
                problem: "belongs in each [[connector]] table, not in [defaults]".into(),
            });
        }
    }
    Ok(())
}

/// The size of `sun_path` in a Unix socket address, its NUL included.
const MAX_SOCKET_PATH: usize = 108;

/// The console's control socket in `state_dir` (the manifest checks its length; the control
/// server binds it).
pub fn control_socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("control.sock")
}

fn resolve_console(
    raw: &RawConsole,
    base: &Path,
    file: &Path,
) -> Result<ConsoleSettings, ManifestError> {
    let state_dir = state_dir_at(base, raw.state_dir.as_deref());
    // A Unix socket address holds at most 107 bytes of path (108 with its NUL): a longer one
    // cannot be bound, and no command could reach the console.
    let socket = control_socket_path(&state_dir);
    if socket.as_os_str().len() >= MAX_SOCKET_PATH {
        return Err(ManifestError::invalid(
            file,
            None,
            "console.state_dir",
            format!(
                "is too long: its control socket {} is {} bytes, a Unix socket path holds at most {}; use a shorter path",
                socket.display(),
                socket.as_os_str().len(),
                MAX_SOCKET_PATH - 1
            ),
        ));
    }
    let log_max_bytes = raw.log_max_bytes.unwrap_or(DEFAULT_LOG_MAX_BYTES);
    if log_max_bytes < 4096 {
        return Err(ManifestError::invalid(
            file,
            None,
            "console.log_max_bytes",
            format!("{log_max_bytes} is too small; use at least 4096"),
        ));
    }
    let log_keep = raw.log_keep.unwrap_or(DEFAULT_LOG_KEEP);
    if log_keep > MAX_LOG_KEEP {
        return Err(ManifestError::invalid(
            file,
            None,
            "console.log_keep",
            format!("{log_keep} is too many rotated files; use 0 to {MAX_LOG_KEEP}"),
        ));
    }
    let scrollback_bytes = raw.scrollback_bytes.unwrap_or(DEFAULT_SCROLLBACK_BYTES);
    if scrollback_bytes < MIN_SCROLLBACK_BYTES {
        return Err(ManifestError::invalid(
            file,
            None,
            "console.scrollback_bytes",
            format!("{scrollback_bytes} is too small; use at least {MIN_SCROLLBACK_BYTES}"),
        ));
    }
    let scrollback = raw.scrollback.unwrap_or(DEFAULT_SCROLLBACK);
    if scrollback == 0 {
        return Err(ManifestError::invalid(
            file,
            None,
            "console.scrollback",
            "must be at least 1",
        ));
    }
    let confirm_always = match raw.confirm.as_deref() {
        None | Some("bots") => false,
        Some("always") => true,
        Some(other) => {
            return Err(ManifestError::invalid(
                file,
                None,
                "console.confirm",
                format!(
                "'{other}' is not \"bots\" (ask when bots are attached, the default) or \"always\"{}",
                near_miss(other, &["bots", "always"])
            ),
            ))
        }
    };
    Ok(ConsoleSettings {
        confirm_always,
        state_dir,
        log_max_bytes,
        log_keep,
        scrollback,
        scrollback_bytes,
    })
}

/// `[console] state_dir` (`raw`, else the default) of a manifest in directory `base`.
fn state_dir_at(base: &Path, raw: Option<&str>) -> PathBuf {
    base.join(expand_tilde(Path::new(raw.unwrap_or(DEFAULT_STATE_DIR))))
}

/// The state dir of the console that runs on the manifest at `path`, found even when the
/// manifest is invalid (mid-edit), so that commands can still reach that console: `[console]
/// state_dir` read from the file (line by line when the file is not valid TOML), else the
/// default `.switchboard` beside the file.
pub fn state_dir_of(path: &Path) -> PathBuf {
    let path = absolute(path);
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let text = read_manifest_text(&path).unwrap_or_default();
    state_dir_at(&base, find_state_dir(&text).as_deref())
}

/// `[console] state_dir` in manifest text, valid TOML or not.
fn find_state_dir(text: &str) -> Option<String> {
    let in_console = |t: &toml::Table| {
        t.get("console")?
            .get("state_dir")?
            .as_str()
            .map(str::to_string)
    };
    if let Ok(whole) = toml::from_str::<toml::Table>(text) {
        return in_console(&whole);
    }
    // Not valid TOML: each line on its own, knowing which table it is in.
    let mut table = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(header) = t.strip_prefix('[') {
            table = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            continue;
        }
        let Ok(kv) = toml::from_str::<toml::Table>(t) else {
            continue;
        };
        let found = match table.as_str() {
            "console" => kv
                .get("state_dir")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            // `console.state_dir = …` or `console = { state_dir = … }` before any table.
            "" => in_console(&kv),
            _ => None,
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

fn resolve_hosts(raw: Vec<RawHost>, file: &Path) -> Result<Vec<HostSpec>, ManifestError> {
    let mut hosts: Vec<HostSpec> = Vec::with_capacity(raw.len());
    for h in raw {
        let problem = |key: &str, problem: String| ManifestError::Invalid {
            file: file.to_path_buf(),
            line: None,
            scope: Scope::Host(h.name.clone()),
            key: key.to_string(),
            problem,
        };
        if h.name.is_empty()
            || !h
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(problem(
                "name",
                "use letters, digits, '-', '_' and '.' (it is written NAME@HOST)".into(),
            ));
        }
        if hosts.iter().any(|o| o.name == h.name) {
            return Err(problem(
                "name",
                "is used twice; host names must be unique".into(),
            ));
        }
        if h.command.trim().is_empty() {
            return Err(problem(
                "command",
                "is empty; give the command that runs `switchboard attach --stdio` there, e.g. \"ssh -T -o BatchMode=yes trader@tokyo switchboard attach --stdio --manifest /srv/sb/switchboard.toml\"".into(),
            ));
        }
        let reconnect = resolve_restart(h.reconnect, file, &h.name).map_err(|e| match e {
            ManifestError::Invalid {
                key, problem: p, ..
            } => problem(&key.replacen("restart.", "reconnect.", 1), p),
            other => other,
        })?;
        hosts.push(HostSpec {
            name: h.name,
            command: h.command,
            reconnect,
            as_local: false,
        });
    }
    Ok(hosts)
}

fn resolve_alerts(raw: &RawAlerts, file: &Path) -> Result<AlertSettings, ManifestError> {
    let command = match raw.command.as_deref().map(str::trim) {
        Some("") => {
            return Err(ManifestError::invalid(
                file,
                None,
                "alerts.command",
                "is empty; give a shell command (run with `sh -c`) or remove the key",
            ))
        }
        Some(c) => Some(c.to_string()),
        None => None,
    };
    let min_interval = raw.min_interval.unwrap_or(DEFAULT_ALERT_MIN_INTERVAL);
    if !(min_interval.is_finite() && (0.0..=86_400.0).contains(&min_interval)) {
        return Err(ManifestError::invalid(
            file,
            None,
            "alerts.min_interval",
            format!("{min_interval} is not a number of seconds from 0 to 86400 (default {DEFAULT_ALERT_MIN_INTERVAL})"),
        ));
    }
    Ok(AlertSettings {
        command,
        min_interval: Duration::from_secs_f64(min_interval),
        bell: raw.bell.unwrap_or(false),
    })
}

fn resolve_metrics(raw: &RawMetrics, file: &Path) -> Result<MetricsSettings, ManifestError> {
    let listen = match raw.listen.as_deref() {
        None => None,
        Some(text) => Some(text.trim().parse::<std::net::SocketAddr>().map_err(|_| {
            ManifestError::invalid(
                file,
                None,
                "metrics.listen",
                format!("'{text}' is not an address and port like \"127.0.0.1:9464\" or \"[::1]:9464\"; remove the key to serve no metrics"),
            )
        })?),
    };
    Ok(MetricsSettings { listen })
}

/// Checks a connector name against what an iceoryx2 service name (`{NAME}/ToBot`) allows.
///
/// ```
/// use switchboard::config::manifest::validate_name;
/// assert!(validate_name("binance-futures").is_ok());
/// assert!(validate_name("bf/1").unwrap_err().contains("'/'"));
/// ```
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty; give the connector the name its bots use".into());
    }
    if name.contains('/') {
        return Err(format!(
            "'{name}' contains '/'; names are iceoryx2 service prefixes and cannot contain '/'"
        ));
    }
    if name.starts_with('-') {
        return Err(format!(
            "'{name}' starts with '-', which the connector would read as an option; start it with a letter or digit"
        ));
    }
    if name.len() > 200 {
        return Err(format!("'{name}' is longer than 200 bytes"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "'{name}' contains {c:?}; use letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// [`validate_name`] for a connector or bot of this host: its log is `logs/NAME.log`, so
/// `console` (the console's own `logs/console.log`) is taken.
///
/// ```
/// use switchboard::config::manifest::validate_local_name;
/// assert!(validate_local_name("console").unwrap_err().contains("console.log"));
/// assert!(validate_local_name("console-1").is_ok());
/// ```
pub fn validate_local_name(name: &str) -> Result<(), String> {
    validate_name(name)?;
    if name == "console" {
        return Err(
            "'console' is taken: <state_dir>/logs/console.log is the console's own log; pick another name"
                .into(),
        );
    }
    Ok(())
}

fn seconds(
    value: Option<f64>,
    default: f64,
    file: &Path,
    name: &str,
    key: &str,
) -> Result<Duration, ManifestError> {
    let v = value.unwrap_or(default);
    if !v.is_finite() || !(0.0..=1.0e7).contains(&v) {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            key,
            format!("{v} is not a duration in seconds; use a number >= 0"),
        ));
    }
    Ok(Duration::from_secs_f64(v))
}

fn resolve_restart(
    raw: Option<RawRestart>,
    file: &Path,
    name: &str,
) -> Result<RestartPolicy, ManifestError> {
    use restart_defaults::*;
    let r = raw.unwrap_or_default();
    let policy = RestartPolicy {
        policy: r.policy.unwrap_or(RestartPolicyKind::OnFailure),
        initial_backoff: seconds(
            r.initial_backoff,
            INITIAL_BACKOFF,
            file,
            name,
            "restart.initial_backoff",
        )?,
        max_backoff: seconds(
            r.max_backoff,
            MAX_BACKOFF,
            file,
            name,
            "restart.max_backoff",
        )?,
        multiplier: r.multiplier.unwrap_or(MULTIPLIER),
        jitter: r.jitter.unwrap_or(JITTER),
        max_attempts: r.max_attempts.unwrap_or(MAX_ATTEMPTS),
        max_total: seconds(r.max_total, MAX_TOTAL, file, name, "restart.max_total")?,
        uptime_reset: seconds(
            r.uptime_reset,
            UPTIME_RESET,
            file,
            name,
            "restart.uptime_reset",
        )?,
    };
    if !(policy.multiplier.is_finite() && policy.multiplier >= 1.0) {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "restart.multiplier",
            format!("{} must be >= 1", policy.multiplier),
        ));
    }
    if !(0.0..=1.0).contains(&policy.jitter) {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "restart.jitter",
            format!("{} must be between 0 and 1", policy.jitter),
        ));
    }
    if policy.max_attempts == 0 {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "restart.max_attempts",
            "must be at least 1; for no automatic restarts use restart.policy = \"never\"",
        ));
    }
    if policy.initial_backoff.as_secs_f64() < MIN_BACKOFF_SECS {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "restart.initial_backoff",
            format!("must be at least {MIN_BACKOFF_SECS} s, or a crash loop spins"),
        ));
    }
    if policy.max_backoff < policy.initial_backoff {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "restart.max_backoff",
            "is smaller than restart.initial_backoff",
        ));
    }
    Ok(policy)
}

/// `declared`: the connector declares instruments, so a restart can heal a stale feed (the
/// console registers them again): `on_stale` then defaults to `"restart"` (DESIGN §13).
fn resolve_feed(
    raw: Option<RawFeed>,
    declared: bool,
    file: &Path,
    name: &str,
) -> Result<FeedSettings, ManifestError> {
    use feed_defaults::*;
    let f = raw.unwrap_or_default();
    let stale_after = f.stale_after.unwrap_or(STALE_AFTER);
    if !stale_after.is_finite() || !(MIN_TIMEOUT_SECS..=1.0e7).contains(&stale_after) {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "feed.stale_after",
            format!(
                "{stale_after} is not a duration in seconds; use a number >= {MIN_TIMEOUT_SECS} (default {STALE_AFTER})"
            ),
        ));
    }
    let on_stale = match f.on_stale.as_deref() {
        None if declared => OnStale::Restart,
        None | Some("alert") => OnStale::Alert,
        Some("restart") => OnStale::Restart,
        Some(other) => {
            return Err(ManifestError::invalid(
                file,
                Some(name),
                "feed.on_stale",
                format!(
                    "{other:?} is not \"alert\" or \"restart\"{}",
                    near_miss(other, &["alert", "restart"])
                ),
            ))
        }
    };
    let error_threshold = match f.error_threshold {
        None => ERROR_THRESHOLD,
        Some(n) if (1..=1_000_000).contains(&n) => n as u32,
        Some(n) => {
            return Err(ManifestError::invalid(
                file,
                Some(name),
                "feed.error_threshold",
                format!(
                "{n} must be a count of at least 1 (errors per minute; default {ERROR_THRESHOLD})"
            ),
            ))
        }
    };
    let resume_grace = f.resume_grace.unwrap_or(RESUME_GRACE);
    if !resume_grace.is_finite() || !(MIN_TIMEOUT_SECS..=1.0e7).contains(&resume_grace) {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "feed.resume_grace",
            format!(
                "{resume_grace} is not a duration in seconds; use a number >= {MIN_TIMEOUT_SECS} (default {RESUME_GRACE})"
            ),
        ));
    }
    let meter = f.meter.unwrap_or(true);
    if !meter && declared {
        return Err(ManifestError::invalid(
            file,
            Some(name),
            "feed.meter",
            "false cannot go with declared `instruments`: the console registers them through its feed meter; remove `instruments` or `meter = false`".to_string(),
        ));
    }
    Ok(FeedSettings {
        stale_after: Duration::from_secs_f64(stale_after),
        on_stale,
        error_threshold,
        resume_grace: Duration::from_secs_f64(resume_grace),
        meter,
    })
}

/// Longest symbol accepted (a bincode string in a 512-byte request; exchange symbols are short).
const MAX_SYMBOL_LEN: usize = 64;

fn resolve_instruments(
    raw: Option<Vec<RawInstrument>>,
    file: &Path,
    name: &str,
) -> Result<Vec<Instrument>, ManifestError> {
    let raw = raw.unwrap_or_default();
    let mut out: Vec<Instrument> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("instruments[{i}].{k}");
        if r.symbol.is_empty()
            || r.symbol.len() > MAX_SYMBOL_LEN
            || r.symbol
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ManifestError::invalid(
                file,
                Some(name),
                &key("symbol"),
                format!(
                    "{:?} is not a symbol: use the exchange's symbol as the bots register it, e.g. \"btcusdt\" (1 to {MAX_SYMBOL_LEN} characters, no spaces)",
                    r.symbol
                ),
            ));
        }
        for (k, v) in [("tick_size", r.tick_size), ("lot_size", r.lot_size)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(ManifestError::invalid(
                    file,
                    Some(name),
                    &key(k),
                    format!("{v} must be a positive number, the same as the bots use (e.g. 0.1)"),
                ));
            }
        }
        if out.iter().any(|o| o.symbol == r.symbol) {
            return Err(ManifestError::invalid(
                file,
                Some(name),
                &key("symbol"),
                format!(
                    "{:?} is declared twice; keep one entry per symbol",
                    r.symbol
                ),
            ));
        }
        out.push(Instrument {
            symbol: r.symbol,
            tick_size: r.tick_size,
            lot_size: r.lot_size,
        });
    }
    Ok(out)
}

fn resolve_bot(
    rb: RawBot,
    defaults: &RawConnectorKeys,
    specs: &[ConnectorSpec],
    base: &Path,
    file: &Path,
) -> Result<ConnectorSpec, ManifestError> {
    let name = rb.name.clone();
    validate_local_name(&name).map_err(|p| ManifestError::invalid(file, Some(&name), "name", p))?;
    let invalid =
        |key: &str, problem: String| ManifestError::invalid(file, Some(&name), key, problem);
    let command = match rb.command {
        RawCommand::Argv(v) => v,
        RawCommand::Shell(line) => vec!["sh".into(), "-c".into(), line],
    };
    if command.first().is_none_or(|p| p.is_empty()) || command.iter().any(|a| a.contains('\0')) {
        return Err(invalid(
            "command",
            "must name a program: an argv array like [\"./target/release/my-bot\", \"--live\"], or a shell line".into(),
        ));
    }
    if rb.connectors.is_empty() {
        return Err(invalid(
            "connectors",
            "is empty; name the [[connector]]s the bot trades on, e.g. [\"bf\"]".into(),
        ));
    }
    let mut deps: Vec<&ConnectorSpec> = Vec::new();
    for c in &rb.connectors {
        match specs.iter().find(|s| &s.name == c) {
            Some(s) if s.is_bot() => {
                return Err(invalid(
                    "connectors",
                    format!("'{c}' is a bot; a bot depends on [[connector]]s only"),
                ))
            }
            Some(s) => {
                if deps.iter().any(|d| d.name == s.name) {
                    return Err(invalid("connectors", format!("'{c}' is named twice")));
                }
                deps.push(s)
            }
            None => {
                return Err(invalid(
                    "connectors",
                    format!("'{c}' is not a [[connector]] of this manifest"),
                ))
            }
        }
    }
    let first = deps[0];
    let restart_with_connectors = match rb.on_connector_restart.as_deref() {
        None | Some("restart") => true,
        Some("keep") => false,
        Some(other) => {
            return Err(invalid(
                "on_connector_restart",
                format!("{other:?} is not \"restart\" or \"keep\""),
            ))
        }
    };
    let cwd = match &rb.cwd {
        Some(c) => base.join(expand_tilde(Path::new(c))),
        None => first.project_root.clone(),
    };
    let mut env = defaults.env.clone().unwrap_or_default();
    env.extend(rb.env.unwrap_or_default());
    if let Some((k, _)) = env
        .iter()
        .find(|(k, v)| k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0'))
    {
        return Err(invalid(
            "env",
            format!(
                "variable {k:?} is empty or contains '=' or NUL, which no environment can hold"
            ),
        ));
    }
    let restart = RawRestart::merged(rb.restart, defaults.restart.clone());
    let timeout = |v: Option<f64>, d: Option<f64>, def: f64, key: &str| {
        let t = seconds(v.or(d), def, file, &name, key)?;
        if t.as_secs_f64() < MIN_TIMEOUT_SECS {
            return Err(invalid(
                key,
                format!(
                    "{} s is too short; use at least {MIN_TIMEOUT_SECS} s",
                    t.as_secs_f64()
                ),
            ));
        }
        Ok(t)
    };
    let startup_timeout = timeout(
        rb.startup_timeout,
        defaults.startup_timeout,
        DEFAULT_STARTUP_TIMEOUT,
        "startup_timeout",
    )?;
    let shutdown_timeout = timeout(
        rb.shutdown_timeout,
        defaults.shutdown_timeout,
        DEFAULT_SHUTDOWN_TIMEOUT,
        "shutdown_timeout",
    )?;
    let program = PathBuf::from(&command[0]);
    let binary = if program.components().count() > 1 {
        cwd.join(program)
    } else {
        program
    };
    Ok(ConnectorSpec {
        restart: resolve_restart(restart, file, &name)?,
        feed: FeedSettings::default(),
        instruments: Vec::new(),
        register: false,
        connect_grace: Duration::from_secs_f64(DEFAULT_CONNECT_GRACE),
        cleanup_grace: Duration::from_secs_f64(DEFAULT_CLEANUP_GRACE),
        kind: first.kind,
        config: PathBuf::new(),
        project_root: first.project_root.clone(),
        binary,
        features: Vec::new(),
        profile: String::new(),
        startup_timeout,
        shutdown_timeout,
        auto_build: false,
        autostart: rb.autostart.or(defaults.autostart).unwrap_or(true),
        capture_output: rb
            .capture_output
            .or(defaults.capture_output)
            .unwrap_or(true),
        env,
        secrets: Vec::new(),
        config_digest: 0,
        config_problem: None,
        bot: Some(BotSpec {
            command,
            cwd,
            connectors: rb.connectors,
            restart_with_connectors,
        }),
        name,
    })
}

fn resolve_connector(
    rc: RawConnectorKeys,
    index: usize,
    defaults: &RawConnectorKeys,
    base: &Path,
    file: &Path,
) -> Result<ConnectorSpec, ManifestError> {
    let missing = |scope: Scope, key: &str| ManifestError::Invalid {
        file: file.to_path_buf(),
        line: None,
        problem: format!(
            "is missing: give {}",
            expectation(&scope, key).unwrap_or("it")
        ),
        scope,
        key: key.into(),
    };
    let Some(name) = rc.name.clone() else {
        return Err(missing(Scope::ConnectorNo(index + 1), "name"));
    };
    validate_local_name(&name).map_err(|p| ManifestError::invalid(file, Some(&name), "name", p))?;
    let scope = Scope::Connector(name.clone());
    let kind: ConnectorType = rc
        .kind
        .as_deref()
        .ok_or_else(|| missing(scope.clone(), "type"))?
        .parse()
        .map_err(|p: String| ManifestError::invalid(file, Some(&name), "type", p))?;
    let config = rc
        .config
        .clone()
        .ok_or_else(|| missing(scope.clone(), "config"))?;
    let keys = rc.over(defaults);
    let project_root = find_project_root(keys.project_root.as_deref(), base).map_err(|tried| {
        ManifestError::ProjectRoot {
            file: file.to_path_buf(),
            connector: name.clone(),
            tried,
        }
    })?;
    let config = base.join(expand_tilde(Path::new(&config)));
    // A broken config is this connector's problem only: the console opens with it `failed`
    // (see `config_problem`); `check` and a reload still refuse it.
    let (checked, config_problem) = match connector::check(kind, &config) {
        Ok(c) => (c, None),
        Err(problem) => (Default::default(), Some(problem)),
    };
    let (binary, profile) = resolve_binary(&keys, &project_root, base, file, &name)?;
    let startup_timeout = seconds(
        keys.startup_timeout,
        DEFAULT_STARTUP_TIMEOUT,
        file,
        &name,
        "startup_timeout",
    )?;
    let shutdown_timeout = seconds(
        keys.shutdown_timeout,
        DEFAULT_SHUTDOWN_TIMEOUT,
        file,
        &name,
        "shutdown_timeout",
    )?;
    for (key, value) in [
        ("startup_timeout", startup_timeout),
        ("shutdown_timeout", shutdown_timeout),
    ] {
        if value.as_secs_f64() < MIN_TIMEOUT_SECS {
            return Err(ManifestError::invalid(
                file,
                Some(&name),
                key,
                format!(
                    "{} s is too short; use at least {MIN_TIMEOUT_SECS} s",
                    value.as_secs_f64()
                ),
            ));
        }
    }
    if let Some(env) = &keys.env {
        for (k, v) in env {
            let problem = if k.is_empty() {
                Some("has an empty variable name".to_string())
            } else if k.contains('=') || k.contains('\0') {
                Some(format!(
                    "variable {k:?} contains '=' or NUL, which no environment can hold"
                ))
            } else if v.contains('\0') {
                Some(format!(
                    "the value of {k} contains NUL, which no environment can hold"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ManifestError::invalid(file, Some(&name), "env", problem));
            }
        }
    }
    let features = keys.features.unwrap_or_default();
    if let Some(f) = features
        .iter()
        .find(|f| f.is_empty() || f.contains(|c: char| c.is_whitespace() || c == ','))
    {
        return Err(ManifestError::invalid(
            file,
            Some(&name),
            "features",
            format!("{f:?} is not a cargo feature name"),
        ));
    }
    let instruments = resolve_instruments(keys.instruments, file, &name)?;
    let connect_grace = seconds(
        keys.connect_grace,
        DEFAULT_CONNECT_GRACE,
        file,
        &name,
        "connect_grace",
    )?;
    if connect_grace.as_secs_f64() < MIN_CONNECT_GRACE {
        return Err(ManifestError::invalid(
            file,
            Some(&name),
            "connect_grace",
            format!(
                "{} s is too short: the console sees a stream error up to a second after the connector logs it, and a registration while the stream is down crashes the connector; use at least {MIN_CONNECT_GRACE} s (default {DEFAULT_CONNECT_GRACE})",
                connect_grace.as_secs_f64()
            ),
        ));
    }
    let cleanup_grace = seconds(
        keys.cleanup_grace,
        DEFAULT_CLEANUP_GRACE,
        file,
        &name,
        "cleanup_grace",
    )?;
    Ok(ConnectorSpec {
        cleanup_grace,
        restart: resolve_restart(keys.restart, file, &name)?,
        feed: resolve_feed(keys.feed, !instruments.is_empty(), file, &name)?,
        register: keys.register.unwrap_or(true),
        instruments,
        connect_grace,
        name,
        kind,
        config,
        project_root,
        binary,
        features,
        profile,
        startup_timeout,
        shutdown_timeout,
        auto_build: keys.auto_build.unwrap_or(true),
        autostart: keys.autostart.unwrap_or(true),
        capture_output: keys.capture_output.unwrap_or(true),
        env: keys.env.unwrap_or_default(),
        secrets: checked.secrets,
        config_digest: checked.digest,
        bot: None,
        config_problem,
    })
}

/// Cargo's output directory for `profile` (`dev` builds into `target/debug`).
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "debug" => "debug",
        other => other,
    }
}

/// The binary to run and the cargo profile that builds it: `b` must rebuild the binary that
/// runs, so a `binary` under `target/<dir>/` implies that profile (`target/debug` → `dev`), a
/// `profile` implies the binary, and the two must agree when both are given.
fn resolve_binary(
    keys: &RawConnectorKeys,
    project_root: &Path,
    base: &Path,
    file: &Path,
    name: &str,
) -> Result<(PathBuf, String), ManifestError> {
    let target = project_root.join("target");
    let profile = match keys.profile.as_deref() {
        Some("debug") => Some("dev".to_string()),
        Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
            Some(p.to_string())
        }
        Some(p) => {
            return Err(ManifestError::invalid(
                file,
                Some(name),
                "profile",
                format!("{p:?} is not a cargo profile name; use release, dev or a profile from the workspace's Cargo.toml"),
            ))
        }
        None => None,
    };
    let binary = keys
        .binary
        .as_ref()
        .map(|b| base.join(expand_tilde(Path::new(b))));
    // target/<dir>/connector → the profile building into <dir>.
    let implied = binary.as_ref().and_then(|b| {
        let dir = b.strip_prefix(&target).ok()?;
        let mut parts = dir.components();
        let (Some(d), Some(exe), None) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        (exe.as_os_str() == "connector").then(|| match d.as_os_str().to_string_lossy().as_ref() {
            "debug" => "dev".to_string(),
            other => other.to_string(),
        })
    });
    match (binary, profile, implied) {
        (Some(b), Some(p), Some(i)) if p != i => Err(ManifestError::invalid(
            file,
            Some(name),
            "profile",
            format!(
                "profile = {p:?} builds target/{}/connector, but binary is {}; make them agree (or drop one of the two keys)",
                profile_dir(&p),
                b.display()
            ),
        )),
        (Some(b), Some(p), _) => Ok((b, p)),
        (Some(b), None, Some(i)) => Ok((b, i)),
        (Some(b), None, None) => Ok((b, "release".into())),
        (None, p, _) => {
            let p = p.unwrap_or_else(|| "release".into());
            Ok((target.join(profile_dir(&p)).join("connector"), p))
        }
    }
}

/// `project_root` if set; else the nearest ancestor of `base` that is an hftbacktest workspace;
/// else `$HFTBACKTEST_ROOT`. On failure, returns what was tried.
pub fn find_project_root(explicit: Option<&str>, base: &Path) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        let p = base.join(expand_tilde(Path::new(p)));
        return if p.is_dir() {
            Ok(p)
        } else {
            Err(format!("project_root {} is not a directory", p.display()))
        };
    }
    let mut dir = Some(base);
    while let Some(d) = dir {
        if is_workspace(d) {
            return Ok(d.to_path_buf());
        }
        dir = d.parent();
    }
    if let Some(env) = std::env::var_os("HFTBACKTEST_ROOT") {
        let p = expand_tilde(Path::new(&env));
        return if p.is_dir() {
            Ok(p)
        } else {
            Err(format!(
                "HFTBACKTEST_ROOT={} is not a directory",
                p.display()
            ))
        };
    }
    Err(format!(
        "no Cargo.toml with [workspace] and connector/Cargo.toml above {}, HFTBACKTEST_ROOT unset",
        base.display()
    ))
}

fn is_workspace(dir: &Path) -> bool {
    dir.join("connector/Cargo.toml").is_file()
        && std::fs::read_to_string(dir.join("Cargo.toml"))
            .map(|t| t.lines().any(|l| l.trim() == "[workspace]"))
            .unwrap_or(false)
}

fn expand_tilde(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(rest),
            None => p.to_path_buf(),
        },
        Err(_) => p.to_path_buf(),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(manifest: &str) -> (tempfile::TempDir, Result<Manifest, ManifestError>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("bf.toml"),
            "stream_url = \"wss://x\"\napi_url = \"https://x\"\napi_key = \"KEY123\"\nsecret = \"SEC456\"\n",
        )
        .expect("write");
        let path = dir.path().join("switchboard.toml");
        let text = manifest.replace("ROOT", &dir.path().display().to_string());
        let m = Manifest::from_str_at(&text, &path);
        (dir, m)
    }

    #[test]
    fn a_connect_grace_below_two_seconds_is_refused_naming_why() {
        let (_d, m) = setup(&format!("{GOOD}connect_grace = 0.5\n"));
        let e = m.expect_err("too short").to_string();
        assert!(
            e.contains("connect_grace") && e.contains("at least 2 s"),
            "{e}"
        );
        let (_d, m) = setup(&format!("{GOOD}connect_grace = 2.0\n"));
        assert!(m.is_ok(), "{:?}", m.err());
    }

    #[test]
    fn bots_name_their_connectors_and_share_the_namespace() {
        let bot = |body: &str| format!("{GOOD}\n[[bot]]\n{body}\n");
        let (_d, m) = setup(&bot(
            "name = \"mm\"\ncommand = \"./my-bot --live\"\nconnectors = [\"bf\"]\non_connector_restart = \"keep\"",
        ));
        let m = m.expect("a valid bot");
        let b = m.connector("mm").expect("the bot is in the list");
        let spec = b.bot.as_ref().expect("a bot");
        assert_eq!(spec.command, ["sh", "-c", "./my-bot --live"]);
        assert_eq!(spec.connectors, ["bf"]);
        assert!(!spec.restart_with_connectors);
        assert_eq!(
            b.env.get("RUST_LOG").map(String::as_str),
            Some("info"),
            "[defaults] env"
        );
        assert_eq!(b.restart.max_attempts, 3, "[defaults] restart");
        for (body, key, says) in [
            ("name = \"mm\"\ncommand = [\"x\"]\nconnectors = [\"nope\"]", "connectors", "'nope' is not a [[connector]]"),
            ("name = \"bf\"\ncommand = [\"x\"]\nconnectors = [\"bf\"]", "name", "share one namespace"),
            ("name = \"mm\"\ncommand = []\nconnectors = [\"bf\"]", "command", "must name a program"),
            ("name = \"mm\"\ncommand = [\"x\"]\nconnectors = []", "connectors", "is empty"),
            ("name = \"mm\"\ncommand = [\"x\"]\nconnectors = [\"bf\"]\non_connector_restart = \"later\"", "on_connector_restart", "\"later\""),
        ] {
            let (_d, m) = setup(&bot(body));
            let e = m.expect_err(body).to_string();
            assert!(e.contains(key) && e.contains(says), "{body}: {e}");
        }
        // A bot naming another bot.
        let (_d, m) = setup(&format!(
            "{}\n[[bot]]\nname = \"b2\"\ncommand = [\"x\"]\nconnectors = [\"mm\"]\n",
            bot("name = \"mm\"\ncommand = [\"x\"]\nconnectors = [\"bf\"]")
        ));
        let e = m.expect_err("a bot on a bot").to_string();
        assert!(e.contains("'mm' is a bot"), "{e}");
    }

    const GOOD: &str = r#"
[defaults]
project_root = "ROOT"
restart = { max_attempts = 3 }
env = { RUST_LOG = "info" }

[[connector]]
name = "bf"
type = "binancefutures"
config = "bf.toml"
restart = { policy = "never" }
env = { EXTRA = "1" }
"#;

    #[test]
    fn defaults_merge_key_by_key() {
        let (_d, m) = setup(GOOD);
        let m = m.expect("valid");
        let c = &m.connectors[0];
        assert_eq!(c.restart.policy, RestartPolicyKind::Never);
        assert_eq!(c.restart.max_attempts, 3);
        assert_eq!(c.restart.max_backoff, Duration::from_secs(30));
        assert_eq!(c.env.get("RUST_LOG").map(String::as_str), Some("info"));
        assert_eq!(c.env.get("EXTRA").map(String::as_str), Some("1"));
        assert_eq!(c.secrets, vec!["KEY123".to_string(), "SEC456".to_string()]);
        assert!(c.binary.ends_with("target/release/connector"));
        assert_eq!(c.profile, "release");
        assert_eq!(m.console.scrollback, DEFAULT_SCROLLBACK);
    }

    #[test]
    fn the_build_profile_follows_the_binary_and_must_agree_with_it() {
        let with = |extra: &str| setup(&format!("{GOOD}{extra}\n")).1;
        // A debug binary is rebuilt as a debug binary, not as release (which it would not run).
        let m = with("binary = \"ROOT/target/debug/connector\"").expect("valid");
        assert_eq!(m.connectors[0].profile, "dev");
        // A profile names the binary it builds.
        let m = with("profile = \"debug\"").expect("valid");
        assert!(m.connectors[0].binary.ends_with("target/debug/connector"));
        assert_eq!(m.connectors[0].profile, "dev");
        let m = with("profile = \"fast\"").expect("valid");
        assert!(m.connectors[0].binary.ends_with("target/fast/connector"));
        // A binary elsewhere (a wrapper, a copied binary) is built with release.
        let m = with("binary = \"/opt/bin/connector\"").expect("valid");
        assert_eq!(m.connectors[0].profile, "release");
        let e = with("binary = \"ROOT/target/debug/connector\"\nprofile = \"release\"")
            .expect_err("disagree");
        assert!(e.to_string().contains("key 'profile'"), "{e}");
        let e = with("profile = \"no good\"").expect_err("bad name");
        assert!(e.to_string().contains("key 'profile'"), "{e}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let (_d, m) = setup(&GOOD.replace("env = { EXTRA", "colour = 1\nenv = { EXTRA"));
        let e = m.expect_err("unknown key").to_string();
        assert!(e.contains("colour"), "{e}");
        assert!(e.contains("line 12"), "{e}");
        assert!(e.contains("switchboard.toml"), "{e}");
    }

    #[test]
    fn errors_point_at_the_key_in_plain_words_with_a_near_miss() {
        let err = |text: String| setup(&text).1.expect_err(&text).to_string();
        // GOOD has 12 lines: a key added after it is on line 13.
        let e = err(format!("{GOOD}startup_timeout = \"ten\"\n"));
        for want in [
            "line 13:",
            "connector 'bf'",
            "key 'startup_timeout'",
            "a number of seconds, e.g. 10.0",
        ] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(format!("{GOOD}confg = \"bf.toml\"\n"));
        for want in [
            "line 13:",
            "connector 'bf'",
            "key 'confg'",
            "did you mean `config`?",
        ] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(GOOD.replace("\"never\"", "\"on-falure\""));
        for want in [
            "line 11:",
            "connector 'bf'",
            "key 'restart.policy'",
            "did you mean `on-failure`?",
        ] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(GOOD.replace("binancefutures", "binancefuture"));
        for want in ["line 9:", "key 'type'", "did you mean `binancefutures`?"] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(GOOD.replace("config = \"bf.toml\"\n", ""));
        for want in ["line 7:", "connector 'bf'", "key 'config'", "is missing"] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        // A key set in [defaults] is reported there, on its own line.
        let e = err(GOOD.replace("[defaults]\n", "[defaults]\nautostart = 1\n"));
        for want in ["line 3:", "[defaults]", "key 'autostart'", "true or false"] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(GOOD.replace("max_attempts = 3", "max_attempts = 0"));
        for want in ["line 4:", "connector 'bf'", "key 'restart.max_attempts'"] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
        let e = err(format!("[console]\nconfirm = \"alway\"\n{GOOD}"));
        for want in ["line 2:", "key 'console.confirm'", "did you mean `always`?"] {
            assert!(e.contains(want), "{want:?} in {e}");
        }
    }

    #[test]
    fn a_broken_config_is_its_connectors_problem_but_check_lists_every_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("bf.toml"),
            "stream_url = \"wss://x\"\napi_url = \"https://x\"\n",
        )
        .expect("write");
        let path = dir.path().join("switchboard.toml");
        let table = |name: &str, config: &str, extra: &str| {
            format!("[[connector]]\nname = \"{name}\"\ntype = \"binancefutures\"\nconfig = \"{config}\"\n{extra}\n")
        };
        let head = format!("[defaults]\nproject_root = \"{}\"\n", dir.path().display());
        let text = format!(
            "{head}{}{}",
            table("ok", "bf.toml", ""),
            table("gone", "nope.toml", "")
        );
        std::fs::write(&path, &text).expect("write");
        // A console opens: the broken one carries its problem, the other is whole.
        let (m, problems) = Manifest::load_for_console(&path).expect("opens");
        assert_eq!(m.connectors.len(), 2);
        assert_eq!(m.connectors[0].config_problem, None);
        let why = m.connectors[1].config_refusal().expect("refused");
        assert!(
            why.contains("nope.toml") && why.contains("start it again"),
            "{why}"
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().contains("'gone'"),
            "{}",
            problems[0]
        );
        // Strict loads (check, reload) refuse it.
        assert!(Manifest::load(&path).is_err());
        // A manifest problem still keeps every console closed, and check lists them all.
        let text = format!(
            "[console]\nlog_keep = 1000\n{text}{}",
            table("slow", "bf.toml", "startup_timeout = -1.0")
        );
        std::fs::write(&path, &text).expect("write");
        assert!(Manifest::load_for_console(&path).is_err());
        let all: Vec<String> = Manifest::check(&path)
            .expect("it parses")
            .1
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(all[0].contains("console.log_keep"), "{all:#?}");
        assert!(
            all[1].contains("'gone'") && all[1].contains("nope.toml"),
            "{all:#?}"
        );
        assert!(
            all[2].contains("'slow'") && all[2].contains("startup_timeout"),
            "{all:#?}"
        );
        // Fixed, the re-check clears the problem and takes the secrets.
        let mut spec = m.connectors[1].clone();
        assert!(spec.recheck_config().is_err());
        std::fs::write(
            dir.path().join("nope.toml"),
            "stream_url = \"a\"\napi_url = \"b\"\napi_key = \"K\"\nsecret = \"S\"\n",
        )
        .expect("write");
        spec.recheck_config().expect("fixed");
        assert_eq!(spec.config_problem, None);
        assert_eq!(spec.secrets, ["K", "S"]);
    }

    #[test]
    fn the_outline_and_the_console_load_agree_connector_by_connector() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("bf.toml"),
            "stream_url = \"wss://x\"\napi_url = \"https://x\"\n",
        )
        .expect("write");
        let path = dir.path().join("switchboard.toml");
        let text = format!(
            "[defaults]\nproject_root = \"{}\"\n\
             [[connector]]\nname = \"ok\"\ntype = \"binancefutures\"\nconfig = \"bf.toml\"\n\
             [[connector]]\nname = \"gone\"\ntype = \"binancefutures\"\nconfig = \"nope.toml\"\n\
             [[bot]]\nname = \"mm\"\ncommand = [\"x\"]\nconnectors = [\"gone\"]\n",
            dir.path().display()
        );
        std::fs::write(&path, &text).expect("write");
        let (m, problems) = Manifest::load_for_console(&path).expect("opens");
        assert_eq!(problems.len(), 1, "{problems:?}");
        let o = ManifestOutline::load(&path).expect("outlined");
        let names: Vec<&str> = o.connectors.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ok", "gone", "mm"]);
        assert!(o.connectors[0].spec.is_ok());
        let gone = o.connectors[1]
            .spec
            .as_ref()
            .expect_err("its config is missing");
        assert!(gone.to_string().contains("nope.toml"), "{gone}");
        // The bot depends on a connector whose config is broken: the bot itself is valid,
        // as the console that runs it says (it used to be "'gone' is not a [[connector]]").
        let mm = o.connectors[2].spec.as_ref().expect("the bot resolves");
        assert_eq!(Some(mm), m.connector("mm"));
    }

    #[test]
    fn a_manifest_with_only_hosts_is_valid_and_an_empty_one_is_not() {
        let path = Path::new("/nonexistent/switchboard.toml");
        let m = Manifest::from_str_at(
            "[[host]]\nname = \"tokyo\"\ncommand = \"ssh -T tokyo switchboard attach --stdio\"\n",
            path,
        )
        .expect("hosts only");
        assert!(m.connectors.is_empty());
        assert_eq!(m.hosts.len(), 1);
        let e = Manifest::from_str_at("", path).expect_err("empty");
        assert!(e.to_string().contains("[[connector]]"), "{e}");
    }

    #[test]
    fn the_state_dir_is_found_in_an_invalid_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("switchboard.toml");
        let at = |text: &str| {
            std::fs::write(&path, text).expect("write");
            state_dir_of(&path)
        };
        assert_eq!(
            at("[[connector]]\nname = = \"x\"\n"),
            dir.path().join(".switchboard")
        );
        assert_eq!(
            at("[console]  # ours\nstate_dir = \"run/sb\"\n[[connector]]\nname = = 1\n"),
            dir.path().join("run/sb")
        );
        assert_eq!(
            at("console.state_dir = \"/srv/sb\"\ntypo here\n"),
            Path::new("/srv/sb")
        );
        // Another table's state_dir is not the console's.
        assert_eq!(
            at("[defaults]\nstate_dir = \"no\"\n[x\n"),
            dir.path().join(".switchboard")
        );
        // Valid TOML with a wrong key elsewhere: read as a whole.
        assert_eq!(
            at("[console]\nstate_dir = \"a\"\ncolour = 1\n"),
            dir.path().join("a")
        );
        // No file at all: the default beside where it would be.
        std::fs::remove_file(&path).expect("rm");
        assert_eq!(state_dir_of(&path), dir.path().join(".switchboard"));
        // The same place a valid manifest's console uses.
        let m = Manifest::from_str_at(
            "[console]\nstate_dir = \"s\"\n[[host]]\nname = \"h\"\ncommand = \"c\"\n",
            &path,
        )
        .expect("valid");
        assert_eq!(m.console.state_dir, at("[console]\nstate_dir = \"s\"\n"));
    }

    #[test]
    fn bad_type_lists_the_valid_ones() {
        let (_d, m) = setup(&GOOD.replace("binancefutures", "binance"));
        let e = m.expect_err("bad type").to_string();
        assert!(
            e.contains("connector 'bf'") && e.contains("key 'type'"),
            "{e}"
        );
        assert!(e.contains("binancefutures, binancespot, bybit"), "{e}");
    }

    #[test]
    fn names_are_checked() {
        for (bad, want) in [("a/b", "'/'"), ("", "empty"), ("a b", "' '")] {
            let (_d, m) = setup(&GOOD.replace("name = \"bf\"", &format!("name = \"{bad}\"")));
            let e = m.expect_err("bad name").to_string();
            assert!(e.contains("key 'name'") && e.contains(want), "{bad}: {e}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let twice = format!(
            "{GOOD}\n[[connector]]\nname = \"bf\"\ntype = \"binancefutures\"\nconfig = \"bf.toml\"\n"
        );
        let (_d, m) = setup(&twice);
        assert!(m.expect_err("dup").to_string().contains("used twice"));
    }

    #[test]
    fn bad_restart_values_name_the_key() {
        let (_d, m) = setup(&GOOD.replace("max_attempts = 3", "jitter = 2.0"));
        let e = m.expect_err("jitter").to_string();
        assert!(e.contains("restart.jitter"), "{e}");
    }

    #[test]
    fn values_that_would_hang_or_exhaust_the_console_are_refused_naming_the_key() {
        let restart = "restart = { max_attempts = 3 }";
        let env = "env = { RUST_LOG = \"info\" }";
        let cases = [
            (
                "[defaults]",
                "[console]\nlog_keep = 4294967295\n[defaults]",
                "console.log_keep",
            ),
            (
                restart,
                "restart = { max_attempts = 0 }",
                "restart.max_attempts",
            ),
            (
                restart,
                "restart = { initial_backoff = 0.0 }",
                "restart.initial_backoff",
            ),
            (restart, "startup_timeout = 1e-9", "startup_timeout"),
            (restart, "shutdown_timeout = 0.0", "shutdown_timeout"),
            (env, "env = { \"\" = \"x\" }", "env"),
            (env, "env = { \"A=B\" = \"x\" }", "env"),
            (env, "env = { A = \"x\\u0000y\" }", "env"),
        ];
        for (from, to, key) in cases {
            let (_d, m) = setup(&GOOD.replacen(from, to, 1));
            let e = m.expect_err(key).to_string();
            assert!(e.contains(&format!("key '{key}'")), "{key}: {e}");
        }
        let (_d, m) = setup(&GOOD.replace("name = \"bf\"", "name = \"-bf\""));
        let e = m.expect_err("dash").to_string();
        assert!(e.contains("key 'name'") && e.contains("option"), "{e}");
    }

    #[test]
    fn feed_settings_merge_key_by_key_and_bad_ones_name_the_key() {
        let (_d, m) = setup(
            &GOOD
                .replacen(
                    "[defaults]",
                    "[defaults]\nfeed = { stale_after = 3.5, error_threshold = 2 }",
                    1,
                )
                .replacen(
                    "restart = { policy = \"never\" }",
                    "restart = { policy = \"never\" }\nfeed = { on_stale = \"restart\" }",
                    1,
                ),
        );
        let m = m.expect("valid feed keys");
        let f = &m.connectors[0].feed;
        assert_eq!(f.stale_after, Duration::from_secs_f64(3.5));
        assert_eq!(f.on_stale, OnStale::Restart);
        assert_eq!(f.error_threshold, 2);
        let restart = "restart = { policy = \"never\" }";
        for (feed, key) in [
            ("feed = { stale_after = 0.0 }", "feed.stale_after"),
            ("feed = { stale_after = -1.0 }", "feed.stale_after"),
            ("feed = { stale_after = nan }", "feed.stale_after"),
            ("feed = { on_stale = \"panic\" }", "feed.on_stale"),
            ("feed = { error_threshold = 0 }", "feed.error_threshold"),
            ("feed = { error_threshold = -3 }", "feed.error_threshold"),
        ] {
            let (_d, m) = setup(&GOOD.replacen(restart, &format!("{restart}\n{feed}"), 1));
            let e = m.expect_err(key).to_string();
            assert!(
                e.contains(&format!("key '{key}'")) && e.contains("bf"),
                "{key}: {e}"
            );
        }
        let (_d, m) =
            setup(&GOOD.replacen(restart, &format!("{restart}\nfeed = {{ stale = 1 }}"), 1));
        let e = m.expect_err("unknown").to_string();
        assert!(e.contains("stale"), "{e}");
    }

    #[test]
    fn the_feed_meter_can_be_turned_off_but_not_with_declared_instruments() {
        let restart = "restart = { policy = \"never\" }";
        let (_d, m) = setup(GOOD);
        assert!(m.expect("valid").connectors[0].feed.meter, "on by default");
        let (_d, m) =
            setup(&GOOD.replacen("[defaults]", "[defaults]\nfeed = { meter = false }", 1));
        assert!(
            !m.expect("valid").connectors[0].feed.meter,
            "off from [defaults]"
        );
        let off = format!(
            "{restart}\nfeed = {{ meter = false }}\ninstruments = [{{ symbol = \"BTCUSDT\", tick_size = 0.1, lot_size = 0.001 }}]"
        );
        let (_d, m) = setup(&GOOD.replacen(restart, &off, 1));
        let e = m.expect_err("meter off with instruments").to_string();
        assert!(
            e.contains("key 'feed.meter'") && e.contains("bf") && e.contains("instruments"),
            "{e}"
        );
    }

    #[test]
    fn missing_project_root_has_hint() {
        let (_d, m) =
            setup(&GOOD.replace("project_root = \"ROOT\"", "project_root = \"ROOT/nope\""));
        let e = m.expect_err("root").to_string();
        assert!(e.contains("HFTBACKTEST_ROOT") && e.contains("nope"), "{e}");
    }

    #[test]
    fn workspace_is_found_by_walking_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("connector")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("live/ops")).expect("mkdir");
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers=[]\n").expect("w");
        std::fs::write(dir.path().join("connector/Cargo.toml"), "[package]\n").expect("w");
        let found = find_project_root(None, &dir.path().join("live/ops")).expect("found");
        assert_eq!(found, dir.path());
    }
}

/// Issue #22 item 14: manifests are read as connector configs are: regular files only, at most
/// [`MAX_MANIFEST_BYTES`], never a blocking open.
#[cfg(test)]
mod read_tests {
    use super::*;

    /// `f(path)` in a thread; panics if it has not returned within 5 s.
    fn returns<T: Send + 'static>(path: &Path, f: impl FnOnce(PathBuf) -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(f(path));
        });
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .expect("returned within 5 s")
    }

    #[test]
    fn a_fifo_a_huge_file_and_a_device_are_refused_at_once() {
        let d = tempfile::tempdir().expect("tempdir");
        let fifo = d.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let e = returns(&fifo, |p| Manifest::load(&p)).expect_err("a FIFO is refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        returns(&fifo, |p| ManifestOutline::load(&p)).expect_err("a FIFO is refused");
        returns(&fifo, |p| Manifest::load_for_console(&p)).expect_err("a FIFO is refused");
        returns(&fifo, |p| state_dir_of(&p));

        let huge = d.path().join("huge.toml");
        std::fs::write(&huge, "# a comment\n".repeat(200_000)).expect("write");
        let e = Manifest::load(&huge).expect_err("over 1 MiB is refused");
        assert!(e.to_string().contains("bytes"), "{e}");

        let e = returns(Path::new("/dev/zero"), |p| Manifest::load(&p))
            .expect_err("a device is refused");
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
