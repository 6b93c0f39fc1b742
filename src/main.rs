//! The `switchboard` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use switchboard::cli;
use switchboard::control::protocol::Action;

/// Operator console for hftbacktest's live connector processes.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about,
    long_about = None,
    after_help = "Environment: SWITCHBOARD_MANIFEST (the manifest, as -m), SWITCHBOARD_LOG (the console's log filter, e.g. info,switchboard::fleet::hosts=debug), NO_COLOR (no colours).\nNames: NAME, NAME@HOST, or a shell-style pattern ('bs-*', '*@tokyo'; quote it)."
)]
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
        /// Connector names (NAME or NAME@HOST) or shell-style patterns ('bs-*', '*@tokyo'):
        /// one that names nothing among several acts on none.
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Stop connectors: SIGTERM, then SIGKILL after their shutdown_timeout.
    Stop {
        /// Connector names (NAME or NAME@HOST) or shell-style patterns ('bs-*', '*@tokyo'):
        /// one that names nothing among several acts on none.
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Restart connectors.
    Restart {
        /// Connector names (NAME or NAME@HOST) or shell-style patterns ('bs-*', '*@tokyo'):
        /// one that names nothing among several acts on none.
        names: Vec<String>,
        /// Every connector of this host.
        #[arg(long, conflicts_with = "names")]
        all: bool,
    },
    /// Build connectors' binaries with cargo (connectors sharing a binary share the build).
    Build {
        /// Connector names (NAME or NAME@HOST) or shell-style patterns ('bs-*', '*@tokyo'):
        /// one that names nothing among several acts on none.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Re-read the manifest in the running console: add, remove, mark changed connectors.
    Reload,
    /// This host's running console as JSON lines on stdin/stdout (for `[[host]] command`).
    Attach {
        /// Required: speak on stdin/stdout.
        #[arg(long, required = true)]
        stdio: bool,
    },
    /// Print a shell completion script on stdout.
    ///
    /// bash: `switchboard completions bash > ~/.local/share/bash-completion/completions/switchboard`;
    /// zsh: into a directory on $fpath as `_switchboard`; fish: `~/.config/fish/completions/switchboard.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    ///
    /// Read it with `switchboard man | man -l -`; `--dir DIR` writes switchboard.1 and one page
    /// per subcommand (switchboard-restart.1, …) into DIR instead.
    Man {
        /// Write the pages into this directory (e.g. /usr/local/share/man/man1) instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// The TUI on an embedded manifest of three simulated connectors.
    Demo {
        /// No TUI: run the demo as `run --headless` would.
        #[arg(long)]
        headless: bool,
    },
}

/// Internal, not a subcommand (so no completion or man page offers it): `switchboard log-relay
/// --file F --max-bytes N --keep K` relays a connector's output (stdin) into its log file,
/// rotating without loss. The engine starts it (`engine::io::relay::RelaySpec::args`).
#[derive(Parser, Debug)]
#[command(name = "switchboard log-relay")]
struct LogRelay {
    #[arg(long)]
    file: PathBuf,
    #[arg(long)]
    max_bytes: u64,
    #[arg(long)]
    keep: u32,
}

/// The command line with the manifest chosen.
struct Resolved {
    manifest: PathBuf,
    command: Option<Cmd>,
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "log-relay") {
        let r = LogRelay::parse_from(std::env::args_os().skip(1));
        return ExitCode::from(switchboard::engine::io::relay::run(
            &switchboard::engine::io::relay::RelaySpec {
                file: r.file,
                max_bytes: r.max_bytes,
                keep: r.keep,
            },
        ));
    }
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
        Some(Cmd::Build { names }) => cli::act_many(&args.manifest, Action::Build, &names, false),
        Some(Cmd::Reload) => cli::reload(&args.manifest),
        Some(Cmd::Attach { .. }) => switchboard::cli::attach::run(&args.manifest),
        Some(Cmd::Completions { shell }) => completions(shell),
        Some(Cmd::Man { dir }) => man(dir.as_deref()),
        None => cli::tui(&args.manifest),
    };
    ExitCode::from(code)
}

/// `switchboard completions SHELL`: the script on stdout.
fn completions(shell: clap_complete::Shell) -> u8 {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "switchboard", &mut out);
    write_stdout(&out)
}

/// `switchboard man [--dir DIR]`: switchboard(1) on stdout, or every page into DIR.
fn man(dir: Option<&std::path::Path>) -> u8 {
    use switchboard::exit;
    let cmd = Cli::command();
    if let Some(dir) = dir {
        return match clap_mangen::generate_to(cmd, dir) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!(
                    "error: cannot write the man pages into {}: {e}; create the directory or name another with --dir",
                    dir.display()
                );
                exit::FAILURE
            }
        };
    }
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
        eprintln!("error: cannot render the man page: {e}");
        return exit::FAILURE;
    }
    write_stdout(&out)
}

/// Writes `bytes` to stdout; a closed pipe (`| head`) is the reader's normal end.
fn write_stdout(bytes: &[u8]) -> u8 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot write to stdout: {e}");
            switchboard::exit::FAILURE
        }
        _ => switchboard::exit::OK,
    }
}
