//! The operator console: one event loop (`event_loop.rs`) over terminal input, the fleet's
//! snapshots, signals and a frame tick; keys become [`keymap::Action`]s, [`app::App::update`]
//! turns them into fleet calls, and [`render::draw`] draws a frame only when something changed,
//! at most ~30 times a second. The loop draws off-screen; the terminal writer's thread
//! ([`writer`]) paints, so a terminal that reads nothing blocks that thread only, never the loop
//! or the engine. [`run`] sets the terminal up and hands the loop the real fleet, input, signals
//! and screen ([`ports`]); the loop's tests hand it fakes.

pub mod app;
pub mod console_log;
mod event_loop;
pub mod keymap;
pub mod layout;
pub mod log_targets;
#[cfg(test)]
mod loop_tests;
pub mod merged;
pub mod pane;
pub mod ports;
pub mod prefs;
pub mod render;
#[cfg(test)]
mod snapshot_tests;
pub mod theme;
pub mod writer;

use std::io::Stdout;

use crossterm::execute;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::console::Console;
use ports::Screen;

/// Set when a viewer's operator chose to take over from its gone console: the caller starts a
/// console in its place once the viewer has ended.
static TAKE_OVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the TUI that just ended asked to take over (and forgets it).
pub fn take_over_requested() -> bool {
    TAKE_OVER.swap(false, std::sync::atomic::Ordering::SeqCst)
}

fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

fn setup_terminal() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    crossterm::terminal::enable_raw_mode()?;
    execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::event::EnableMouseCapture
    )?;
    // A panic restores the terminal before the message is printed.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    Terminal::new(CrosstermBackend::new(std::io::stdout()))
}

/// Runs the TUI on a started engine until the operator quits: starts the selected connectors,
/// then loops. Returns true when the operator detached (connectors left running), and an error
/// saying why when there is no terminal to run on or its input ended (the engine is detached
/// then: connectors keep running). The engine has ended either way.
pub async fn run(console: &Console) -> Result<bool, String> {
    let handle = &console.fleet;
    // Detaching ends the engine without touching a connector; the caller then exits.
    let give_up = |why: String| async move {
        handle.detach();
        handle.await_shutdown().await;
        Err(why)
    };
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return give_up(
            "the TUI needs a terminal and stdout is not one (use `ssh -t`, or `switchboard run --headless` for a service); connectors are left as they are".into(),
        )
        .await;
    }
    let terminal = match setup_terminal() {
        Ok(t) => t,
        Err(e) => {
            restore_terminal();
            return give_up(format!(
                "cannot set up the terminal: {e} (no controlling terminal? use `ssh -t`, or `switchboard run --headless`); connectors are left as they are"
            ))
            .await;
        }
    };
    // From here on only the writer's thread writes to the terminal; dropping it puts the
    // terminal back (also during a panic unwind).
    let writer = match writer::Writer::start(terminal) {
        Ok(w) => w,
        Err(e) => {
            restore_terminal();
            return give_up(format!(
                "cannot start the terminal writer: {e}; connectors are left as they are"
            ))
            .await;
        }
    };
    if let Err(e) = handle.start_selected() {
        drop(writer);
        return give_up(e.to_string()).await;
    }
    let ended = match event_loop::event_loop(
        handle,
        &writer,
        crossterm::event::EventStream::new,
        ports::os_signals(),
        ports::Context::of(console),
    )
    .await
    {
        Ok(detached) => Ok(detached),
        Err(why) => give_up(why).await,
    };
    // The engine has ended: only now wait for the terminal to be put back (a terminal that
    // reads nothing keeps this process, not its connectors or its lock).
    drop(writer);
    ended
}

/// The terminal's size now (a query, no write: it never waits for the terminal).
fn terminal_size() -> ratatui::layout::Size {
    crossterm::terminal::size()
        .map(|(width, height)| ratatui::layout::Size { width, height })
        .unwrap_or(ratatui::layout::Size {
            width: 80,
            height: 24,
        })
}

/// How many lines `path` has (a missing file has none).
fn count_lines(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .map(|b| memchr::memchr_iter(b'\n', &b).count() as u64)
        .unwrap_or(0)
}

/// `text` as a pattern that matches it literally (less and vi take patterns, the console's
/// search takes text): an extended regular expression for less (`ere`), else one for vi's
/// `magic` patterns, where `+ ? | ( ) {` are plain characters and `~ /` are not.
fn literal_pattern(text: &str, ere: bool) -> String {
    let special = if ere { "\\^$.|?*+()[]{}" } else { "\\^$.*[~/" };
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The pager's command line for `path` at `line`: `$PAGER` (default `less`) through `sh`, so
/// a `PAGER` with options works. less (with `-R`, so colours show), more, most and the vi
/// family are told the line as `+N`; other pagers open the file at its start. An active search
/// (`pattern`) goes to less as `-I -p PATTERN` before the line (the pattern highlighted, `n`
/// finds the next one, the view still at the line) and to the vi family as `+/PATTERN`.
fn pager_command(
    pager: &str,
    path: &std::path::Path,
    line: u64,
    pattern: Option<&str>,
) -> tokio::process::Command {
    let program = pager.split_whitespace().next().unwrap_or("less");
    let name = std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    let mut args: Vec<std::ffi::OsString> = Vec::new();
    if name == "less" {
        // Colours as written; the line in the middle of the screen, with what led to it.
        args.push("-R".into());
        args.push("-j.5".into());
        if let Some(p) = pattern {
            // The console's search ignores case; so does less's with -I.
            args.push("-I".into());
            args.push("-p".into());
            args.push(literal_pattern(p, true).into());
        }
    }
    if let (Some(p), true) = (pattern, matches!(name, "vi" | "vim" | "nvim" | "view")) {
        args.push(format!("+/{}", literal_pattern(p, false)).into());
    }
    if matches!(
        name,
        "less" | "more" | "most" | "vi" | "vim" | "nvim" | "view"
    ) {
        args.push(format!("+{line}").into());
    }
    args.push(path.as_os_str().to_owned());
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{pager} \"$@\""))
        .arg("sh")
        .args(args);
    crate::engine::io::sys::inherit_only_stdio(&mut cmd);
    cmd
}

/// Lends the terminal to the pager on `path` at `line` and takes it back. Ctrl-C in the pager
/// reaches this process too (the pager is in our process group): the loop has a SIGINT handler
/// installed, so it is ignored here.
async fn page(
    screen: &impl Screen,
    path: &std::path::Path,
    line: u64,
    pattern: Option<&str>,
    mouse: bool,
) -> Result<(), String> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less".into());
    screen.lend().await;
    let status = pager_command(&pager, path, line, pattern).status().await;
    screen.take_back(mouse).await?;
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`{pager}` ended with {s}")),
        Err(e) => Err(format!("cannot run `{pager}`: {e}")),
    }
}

#[cfg(test)]
mod pager_tests {
    use super::*;

    fn args(pager: &str, pattern: Option<&str>) -> Vec<String> {
        let cmd = pager_command(pager, std::path::Path::new("/s/logs/a.log"), 42, pattern);
        cmd.as_std()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn the_search_goes_to_less_and_vi_as_a_literal_pattern_before_the_line() {
        let tail = |a: &[String]| a[3..].to_vec();
        assert_eq!(
            tail(&args("less", None)),
            ["-R", "-j.5", "+42", "/s/logs/a.log"]
        );
        assert_eq!(
            tail(&args("/usr/bin/less", Some("seq=1.5 (x)"))),
            [
                "-R",
                "-j.5",
                "-I",
                "-p",
                "seq=1\\.5 \\(x\\)",
                "+42",
                "/s/logs/a.log"
            ]
        );
        assert_eq!(
            tail(&args("vim", Some("a/b+c"))),
            ["+/a\\/b+c", "+42", "/s/logs/a.log"]
        );
        // Pagers that take no pattern get none (and `more` its line as before).
        assert_eq!(tail(&args("more", Some("x"))), ["+42", "/s/logs/a.log"]);
        assert_eq!(tail(&args("cat", Some("x"))), ["/s/logs/a.log"]);
    }
}
