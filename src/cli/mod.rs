//! The commands behind `switchboard`'s command line, one file per subcommand. Each returns the
//! process exit code ([`crate::exit`]): 0 ok, 1 runtime failure, 2 usage or invalid manifest.
//! Here: what they share (the runtime, the manifest's path and loaders, the console's log).

use std::path::{Path, PathBuf};

use crate::config::manifest::{Manifest, ManifestOutline};
use crate::console;
use crate::engine::io::store;
use crate::error::ManifestError;
use crate::exit;

/// `println!` that takes a closed stdout (`switchboard status | head`) as the reader's normal
/// end: the line is dropped and nothing panics (Rust ignores SIGPIPE, so a plain `println!`
/// would panic on EPIPE).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod act;
pub mod attach;
mod check;
pub mod demo;
pub mod init;
pub mod names;
mod reload;
mod run;
mod status;
mod tui;

pub use act::{act, act_many};
pub use check::check;
pub use demo::demo;
pub use init::init;
pub use reload::reload;
pub use run::run_headless;
pub use status::status;
pub use tui::tui;

fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    console::runtime().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::FAILURE
    })
}

/// The manifest as commands addressed to a running console see it (`status`, `start`, `stop`,
/// `restart`, `build`, `reload`, `attach`): its outline when the file reads and parses (one
/// broken connector does not stop the command, see [`ManifestOutline`]), else only where its
/// console's state dir is and why the file is invalid. A manifest mid-edit never locks the
/// operator out of a running console.
pub(crate) struct Addressed {
    /// The manifest file (absolute).
    pub path: PathBuf,
    /// Its console's state dir (see [`crate::config::manifest::state_dir_of`] when it is invalid).
    pub state_dir: PathBuf,
    pub outline: Option<ManifestOutline>,
    /// Why the file cannot be read or is invalid.
    pub problem: Option<ManifestError>,
}

impl Addressed {
    /// Reads `path`; never fails.
    pub(crate) fn load(path: &Path) -> Addressed {
        match ManifestOutline::load(path) {
            Ok(o) => Addressed {
                path: o.path.clone(),
                state_dir: o.console.state_dir.clone(),
                outline: Some(o),
                problem: None,
            },
            Err(e) => Addressed {
                path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
                state_dir: crate::config::manifest::state_dir_of(path),
                outline: None,
                problem: Some(e),
            },
        }
    }

    /// Whether a console holds the state dir.
    fn console_runs(&self) -> bool {
        matches!(
            store::lock_state(&self.state_dir),
            store::LockState::Held(_)
        )
    }

    /// Says the manifest's problem beside a running console's answer: a warning, the exit
    /// code stays the answer's.
    fn warn(&self) {
        if let Some(e) = &self.problem {
            eprintln!("warning: {e}. The running console answered: it runs on the manifest it read before; fix this file, then `switchboard check` (a reload is refused until then)");
        }
    }
}

/// The manifest a command uses: the one given (`-m`, `--manifest`, `SWITCHBOARD_MANIFEST`), else
/// `./switchboard.toml` when it exists, else the per-user one
/// (`$XDG_CONFIG_HOME/switchboard/switchboard.toml`, `~/.config/…` without XDG) when that
/// exists. `init` writes `./switchboard.toml` unless told otherwise.
pub fn manifest_path(given: Option<PathBuf>, for_init: bool) -> PathBuf {
    let here = PathBuf::from("switchboard.toml");
    if let Some(p) = given {
        return p;
    }
    if for_init || here.exists() {
        return here;
    }
    user_manifest().filter(|p| p.is_file()).unwrap_or(here)
}

/// `$XDG_CONFIG_HOME/switchboard/switchboard.toml`, or `~/.config/switchboard/switchboard.toml`.
fn user_manifest() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("switchboard").join("switchboard.toml"))
}

/// Sends the console's own log (tracing) to stderr, coloured only on a terminal (a journal or a
/// file gets plain lines) and never with `NO_COLOR`.
fn init_stderr_logging() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,iceoryx2=error")),
        )
        .try_init();
}

/// What a console opens on: a connector whose config cannot be used is only that connector's
/// problem (it reads `failed` with the reason); each such problem is said on stderr.
fn load_for_console(path: &Path) -> Result<Manifest, u8> {
    match Manifest::load_for_console(path) {
        Ok((manifest, config_problems)) => {
            for e in &config_problems {
                eprintln!("warning: {e}; that connector stays failed until its config is fixed, the others run");
            }
            Ok(manifest)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::USAGE)
        }
    }
}
