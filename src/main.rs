//! The `switchboard` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::cli;
use switchboard::control::protocol::Action;

/// Operator console for hftbacktest's live connector processes.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, long_about = None)]
struct Cli {
    /// The manifest to use [default: ./switchboard.toml, else
    /// $XDG_CONFIG_HOME/switchboard/switchboard.toml when that exists]
    #[arg(
        short = 'm',
        long,
        global = true,
        value_name = "FILE",
        env = "SWITCHBOARD_MANIFEST"
    )]
    manifest: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start every connector without a TUI, print each transition, stop all on SIGINT/SIGTERM.
    Run {
        /// Required: no TUI.
        #[arg(long, required = true)]
        headless: bool,
        /// One JSON object per transition.
        #[arg(long)]
        json: bool,
    },
    /// One-shot view of a running console's connectors.
    Status {
        /// A JSON array, one object per connector, in manifest order.
        #[arg(long)]
        json: bool,
    },
    /// Validate the manifest and every connector config.
    Check,
    /// Write a starter manifest (--manifest, default ./switchboard.toml) from a checkout's
    /// connector/examples/*.toml.
    Init {
        /// The hftbacktest checkout (default: the one this directory is in, else
        /// $HFTBACKTEST_ROOT).
        checkout: Option<PathBuf>,
        /// Replace an existing manifest.
        #[arg(long)]
        force: bool,
    },
    /// Start connectors (through the running console, or directly).
    Start {
        /// Connector names (NAME or NAME@HOST).
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Stop connectors: SIGTERM, then SIGKILL after their shutdown_timeout.
    Stop {
        /// Connector names (NAME or NAME@HOST).
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Restart connectors.
    Restart {
        /// Connector names (NAME or NAME@HOST).
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Build a connector's binary with cargo.
    Build {
        /// The connector's name.
        name: String,
    },
    /// Re-read the manifest in the running console: add, remove, mark changed connectors.
    Reload,
    /// This host's running console as JSON lines on stdin/stdout (for `[[host]] command`).
    Attach {
        /// Required: speak on stdin/stdout.
        #[arg(long, required = true)]
        stdio: bool,
    },
    /// Internal: relays a connector's output (stdin) into its log file, rotating without loss.
    #[command(name = "log-relay", hide = true)]
    LogRelay {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        max_bytes: u64,
        #[arg(long)]
        keep: u32,
    },
    /// The TUI on an embedded manifest of three simulated connectors.
    Demo {
        /// No TUI: run the demo as `run --headless` would.
        #[arg(long)]
        headless: bool,
    },
}

/// The command line with the manifest chosen.
struct Resolved {
    manifest: PathBuf,
    command: Option<Cmd>,
}

fn main() -> ExitCode {
    let args = Cli::parse();
    let init = matches!(args.command, Some(Cmd::Init { .. }));
    let manifest = cli::manifest_path(args.manifest, init);
    let args = Resolved {
        manifest,
        command: args.command,
    };
    let code = match args.command {
        Some(Cmd::Run { json, .. }) => cli::run_headless(&args.manifest, json),
        Some(Cmd::Status { json }) => cli::status(&args.manifest, json),
        Some(Cmd::Check) => cli::check(&args.manifest),
        Some(Cmd::Init { checkout, force }) => {
            cli::init(&args.manifest, checkout.as_deref(), force)
        }
        Some(Cmd::Demo { headless }) => cli::demo(headless),
        Some(Cmd::Start { names, all }) => {
            cli::act_many(&args.manifest, Action::Start, &names, all)
        }
        Some(Cmd::Stop { names, all }) => cli::act_many(&args.manifest, Action::Stop, &names, all),
        Some(Cmd::Restart { names, all }) => {
            cli::act_many(&args.manifest, Action::Restart, &names, all)
        }
        Some(Cmd::Build { name }) => cli::act(&args.manifest, Action::Build, &name),
        Some(Cmd::Reload) => cli::reload(&args.manifest),
        Some(Cmd::Attach { .. }) => switchboard::attach::run(&args.manifest),
        Some(Cmd::LogRelay {
            file,
            max_bytes,
            keep,
        }) => switchboard::engine::relay::run(&switchboard::engine::relay::RelaySpec {
            file,
            max_bytes,
            keep,
        }),
        None => cli::tui(&args.manifest),
    };
    ExitCode::from(code)
}
