//! Typed errors of the library. Every variant names the file, the connector and the key it is
//! about, and its message ends with what the operator should do.

use std::path::PathBuf;

/// A problem with the manifest or with a connector config it names. `switchboard check` and every
/// other command print these and exit with code 2.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("{file}: cannot read the manifest: {source}. Pass --manifest FILE or create switchboard.toml")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error or an unknown/mistyped key; `message` carries toml's line and column.
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    /// A problem with one key: a wrong type or value, an unknown or missing key. `line` is
    /// the key's own line (for a missing key, its table's).
    #[error("{file}: {}{scope}key '{key}': {problem}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        /// Whose key it is.
        scope: Scope,
        key: String,
        problem: String,
    },
    /// No hftbacktest workspace could be found for a connector.
    #[error("{file}: connector '{connector}': project root not found ({tried}). Run inside the hftbacktest checkout, set `project_root` in the manifest, or set HFTBACKTEST_ROOT")]
    ProjectRoot {
        file: PathBuf,
        connector: String,
        tried: String,
    },
    /// The connector's own config file is missing, unreadable or wrong for its exchange.
    #[error("{file}: connector '{connector}': config {config}: {problem}")]
    ConnectorConfig {
        file: PathBuf,
        connector: String,
        config: PathBuf,
        problem: String,
    },
}

/// Whose key a manifest error is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A console-wide key (`console.log_keep`, `metrics.listen`) or a whole table.
    Manifest,
    /// A key of `[defaults]`.
    Defaults,
    /// A key of the `[[connector]]` with this name.
    Connector(String),
    /// A key of the n-th `[[connector]]` (1-based), one without a usable name.
    ConnectorNo(usize),
    /// A key of the `[[host]]` with this name.
    Host(String),
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Manifest => Ok(()),
            Scope::Defaults => f.write_str("[defaults]: "),
            Scope::Connector(name) => write!(f, "connector '{name}': "),
            Scope::ConnectorNo(n) => write!(f, "connector #{n}: "),
            Scope::Host(name) => write!(f, "host '{name}': "),
        }
    }
}

impl ManifestError {
    pub(crate) fn invalid(
        file: &std::path::Path,
        connector: Option<&str>,
        key: &str,
        problem: impl Into<String>,
    ) -> Self {
        ManifestError::Invalid {
            file: file.to_path_buf(),
            line: None,
            scope: connector
                .map(|c| Scope::Connector(c.to_string()))
                .unwrap_or(Scope::Manifest),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
}

/// Errors of [`crate::ConnectorRunner`] and of the engine's effects, shown in a pane's `detail`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorRunnerError {
    /// cargo is missing or the build failed.
    #[error("connector '{connector}': build failed: {message}{hint}")]
    Build {
        connector: String,
        message: String,
        /// Empty, or a sentence starting with "; " (e.g. the libclang hint).
        hint: String,
    },
    /// The process could not be started or died before it was ready.
    #[error("connector '{connector}': {message}")]
    Startup { connector: String, message: String },
    /// The binary does not exist and `auto_build` is off.
    #[error("connector '{connector}': binary {binary} not found; build it (key b) or set auto_build = true")]
    NotFound { connector: String, binary: PathBuf },
    /// Another live process already publishes on `{name}/ToBot`.
    #[error("connector '{connector}': the name is in use by another live process (PID {pid}); stop it first or rename this connector")]
    NameInUse { connector: String, pid: i32 },
    /// Dead iceoryx2 nodes of this connector's services could not be removed.
    #[error("connector '{connector}': stale iceoryx2 resources could not be removed ({message}); with '{connector}' and its bots stopped, delete the files of its two services under the iceoryx2 root its config names (default /tmp/iceoryx2), never files of services still in use (hftbacktest #204)")]
    StaleResources { connector: String, message: String },
    /// An I/O failure while doing `action`.
    #[error("connector '{connector}': {action}: {source}")]
    Io {
        connector: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The iceoryx2 layer failed.
    #[error("connector '{connector}': iceoryx2: {message}")]
    Ipc { connector: String, message: String },
}
