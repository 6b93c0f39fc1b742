//! The operator console: one event loop over terminal input, engine snapshots and a frame tick;
//! keys become [`keymap::Action`]s, [`app::App::update`] turns them into engine calls, and
//! [`render::draw`] draws a frame only when something changed, at most ~30 times a second. The
//! loop draws off-screen; the terminal writer's thread ([`writer`]) paints, so a terminal that
//! reads nothing blocks that thread only, never the loop or the engine.

pub mod app;
pub mod console_log;
pub mod keymap;
pub mod layout;
pub mod log_targets;
pub mod merged;
pub mod pane;
pub mod prefs;
pub mod render;
#[cfg(test)]
mod snapshot_tests;
pub mod theme;
pub mod writer;

use std::io::Stdout;
use std::time::Duration;

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEventKind};
use crossterm::execute;
use ratatui::backend::{Backend, CrosstermBackend, TestBackend};
use ratatui::Terminal;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::console::Console;
use crate::engine::io::store::unix_now;
use app::{App, UiCall};

/// Set when a viewer's operator chose to take over from its gone console: the caller starts a
/// console in its place once the viewer has ended.
static TAKE_OVER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the TUI that just ended asked to take over (and forgets it).
pub fn take_over_requested() -> bool {
    TAKE_OVER.swap(false, std::sync::atomic::Ordering::SeqCst)
}

/// Shortest time between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);

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
    let ended = match event_loop(&writer, console).await {
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
    writer: &writer::Writer,
    path: &std::path::Path,
    line: u64,
    pattern: Option<&str>,
    mouse: bool,
) -> Result<(), String> {
    let pager = std::env::var("PAGER")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "less".into());
    writer.lend().await;
    let status = pager_command(&pager, path, line, pattern).status().await;
    writer.take_back(mouse).await?;
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("`{pager}` ended with {s}")),
        Err(e) => Err(format!("cannot run `{pager}`: {e}")),
    }
}

/// Returns true when the operator detached (connectors left running), and why when the
/// terminal's input ended or failed (the caller detaches).
async fn event_loop(writer: &writer::Writer, console: &Console) -> Result<bool, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let handle = &console.fleet;
    let bell = console.bell();
    // Reload outcomes come back here, to be shown in the footer.
    let (reloaded_tx, mut reloaded) = mpsc::unbounded_channel::<String>();
    let mut app = App::new();
    let console_log = console_log::get();
    app.console_scrollback = console_log.lines.clone();
    app.confirm_always = console.settings.confirm_always;
    app.viewer = console.viewing.is_some();
    // The view chosen last time (`t`), kept in the watched console's state dir.
    let view_dir = match &console.viewing {
        Some(v) => v.state_dir.clone(),
        None => console.engine.state_dir().to_path_buf(),
    };
    if let Some(table) = prefs::load_table(&view_dir) {
        app.table = table;
    }
    // CPU and memory are on screen for as long as the TUI runs.
    handle.want_usage(1e12);
    let theme = theme::Theme::from_env();
    let mut snaps_rx = handle.views();
    let mut hosts_rx = handle.hosts();
    app.sync(&snaps_rx.borrow_and_update(), |id| handle.scrollback(id));
    use futures_util::StreamExt;
    // Terminal input; None while the terminal is lent to a pager (the stream stops reading
    // when dropped, so the pager gets every key).
    let mut input = Some(crossterm::event::EventStream::new());
    // Raw mode sends no SIGINT; a pager's cooked mode does, to us too (we share its process
    // group): a SIGINT while or just after a pager ran is the pager's. Any other one detaches,
    // as SIGTERM does. SIGQUIT (Ctrl-\ in the pager) is caught and ignored.
    let mut int = signal(SignalKind::interrupt()).ok();
    let _quit = signal(SignalKind::quit()).ok();
    let mut pager_ended: Option<Instant> = None;
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let log_activity = handle.log_activity();
    let mut last_draw: Option<Instant> = None;
    // The views last drawn, to tell what changed since (the status bar flashes on failures).
    let mut drawn = snaps_rx.borrow().clone();
    // A viewer names the console it watches: the one that holds the lock when its link
    // (re)connects, which after a console restart is not the one it started with.
    let mut viewing = console.viewing.clone();
    let mut link_was_up = false;
    // The console log's target selector (`V`), while it is open: it takes every key.
    let mut targets: Option<log_targets::Selector> = None;
    // Frames are drawn here, off-screen, and handed to the writer's thread to paint: an
    // in-memory backend the size of the terminal.
    let mut offscreen = {
        let size = terminal_size();
        Terminal::new(TestBackend::new(size.width, size.height))
            .map_err(|e| format!("cannot set up the off-screen frame: {e}"))?
    };
    // Every wake-up below means something on screen may have changed: draw (at most one frame
    // per FRAME), then wait for the next one.
    loop {
        {
            let now = Instant::now();
            let due = last_draw.map(|t| t + FRAME).unwrap_or(now);
            if now >= due {
                let snaps = snaps_rx.borrow_and_update().clone();
                app.sync(&snaps, |id| handle.scrollback(id));
                app.settle();
                if !std::sync::Arc::ptr_eq(&drawn, &snaps) {
                    app.note_changes(&drawn, &snaps, unix_now());
                    drawn = snaps.clone();
                }
                let hosts = hosts_rx.borrow_and_update().clone();
                if let Some(v) = viewing.as_mut() {
                    let up = hosts.first().is_some_and(|h| {
                        matches!(h.link, crate::model::view::LinkState::Connected)
                    });
                    if up && !link_was_up {
                        v.pid = crate::engine::io::store::lock_holder(&v.state_dir).or(v.pid);
                    }
                    link_was_up = up;
                }
                let view = render::View {
                    app: &app,
                    snaps: &snaps,
                    now: unix_now(),
                    theme,
                    hosts: &hosts,
                    viewing: viewing.as_ref(),
                };
                let size = terminal_size();
                if offscreen.backend().size().ok() != Some(size) {
                    offscreen.backend_mut().resize(size.width, size.height);
                }
                match offscreen.draw(|f| {
                    render::draw(f, &view);
                    if let Some(t) = targets.as_mut() {
                        t.draw(f, f.area());
                    }
                }) {
                    Ok(frame) => writer.frame(frame.buffer.clone()),
                    Err(never) => match never {},
                }
                last_draw = Some(now);
            } else {
                // Come back when the next frame may be drawn.
                tokio::time::sleep_until(due).await;
                continue;
            }
        }
        // The next time a clock on screen changes: countdowns every 0.1 s, stale ages (and
        // uptimes under a minute in the detail view) every second, the uptimes in titles and
        // the table when their text changes (each second for 10 s, then every 10 s, then every
        // minute, see `render::shown_uptime`). An idle screen with grown-up connectors wakes
        // once a minute.
        let next_clock = {
            let now = unix_now();
            let snaps = snaps_rx.borrow();
            let flashing = app.flash_until.is_some_and(|t| now < t);
            // When the first uptime's text changes (a hair after, so the new text is shown).
            let uptime_turns = snaps
                .iter()
                .filter_map(|s| s.uptime_at(now))
                .map(render::shown_uptime_changes_in)
                .fold(60.0_f64, f64::min);
            let every = if flashing {
                Duration::from_millis(250)
            } else if snaps.iter().any(|s| s.countdown_s.is_some()) {
                Duration::from_millis(100)
            } else if snaps.iter().any(|s| {
                (app.detail && s.uptime_at(now).is_some_and(|u| u < 60.0))
                    || s.health.is_some_and(|h| h.is_unhealthy())
            }) || hosts_rx.borrow().iter().any(|h| {
                matches!(
                    h.link,
                    crate::model::view::LinkState::Reconnecting { .. }
                        | crate::model::view::LinkState::Connecting { .. }
                )
            }) {
                Duration::from_secs(1)
            } else {
                Duration::from_secs_f64(uptime_turns + 0.005)
            };
            tokio::time::Instant::now() + every
        };
        tokio::select! {
            ev = async { match input.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                let ev = match ev {
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => return Err(format!("reading the terminal failed: {e}; detached, connectors keep running")),
                    None => return Err("the terminal's input ended; detached, connectors keep running".into()),
                };
                if let Some(t) = targets.as_mut() {
                    if let Event::Key(k) = ev {
                        if k.kind != KeyEventKind::Release && t.key(k) == log_targets::Outcome::Close {
                            targets = None;
                        }
                    }
                    continue;
                }
                let snaps = snaps_rx.borrow().clone();
                app.sync(&snaps, |id| handle.scrollback(id));
                let size = terminal_size();
                let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
                let action = match ev {
                    Event::Key(k) if k.kind != KeyEventKind::Release => keymap::action_for(app.mode(), k),
                    Event::Mouse(m) => {
                        let screen = layout::screen_with(area, snaps.len(), app.focus, app.zoom, app.console_log, app.table);
                        let target = layout::pane_at(&screen, m.column, m.row)
                            .or_else(|| layout::table_row_at(&screen, m.column, m.row, &app.order(&snaps), app.focus));
                        let on_console = screen.console.is_some_and(|r| r.contains(ratatui::layout::Position::new(m.column, m.row)));
                        // A count in the status bar (`2 STALE`, `1 FAILED`): the table, filtered
                        // to those connectors.
                        let on_status = screen.status.contains(ratatui::layout::Position::new(m.column, m.row));
                        let count_filter = match m.kind {
                            MouseEventKind::Down(MouseButton::Left) if on_status => {
                                let hosts = hosts_rx.borrow().clone();
                                let view = render::View { app: &app, snaps: &snaps, now: unix_now(), theme, hosts: &hosts, viewing: console.viewing.as_ref() };
                                render::status_click(&view, m.column)
                            }
                            _ => None,
                        };
                        if let Some(filter) = count_filter {
                            app.table = true;
                            app.zoom = false;
                            app.merged = false;
                            app.console_focus = false;
                            app.set_row_filter(&filter, &snaps);
                            continue;
                        }
                        match (m.kind, target) {
                            (MouseEventKind::Down(MouseButton::Left), _) if on_console => { app.console_focus = true; None }
                            (MouseEventKind::ScrollUp, _) if on_console => { app.console_focus = true; Some(keymap::Action::ScrollUp(3)) }
                            (MouseEventKind::ScrollDown, _) if on_console => { app.console_focus = true; Some(keymap::Action::ScrollDown(3)) }
                            (MouseEventKind::Down(MouseButton::Left), Some(i)) => { app.focus = i; app.console_focus = false; None }
                            (MouseEventKind::ScrollUp, Some(i)) => { app.focus = i; app.console_focus = false; Some(keymap::Action::ScrollUp(3)) }
                            (MouseEventKind::ScrollDown, Some(i)) => { app.focus = i; app.console_focus = false; Some(keymap::Action::ScrollDown(3)) }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                // `V` opens the target selector over the console log (shown and focused, so a
                // level's effect is in view).
                if action == Some(keymap::Action::LogTargets) {
                    app.console_log = true;
                    app.console_focus = true;
                    targets = Some(log_targets::Selector::open());
                    continue;
                }
                // `Y` copies what the focused pane shows and a search hit is placed mid-view:
                // the loop knows the pane's height.
                {
                    let screen = layout::screen_with(area, snaps.len(), app.focus, app.zoom, app.console_log, app.table);
                    let merged = layout::screen(area, snaps.len(), app.focus, true, app.console_log);
                    // `&` and Esc act on the table's rows while it is on screen.
                    app.on_table = screen.table.is_some() && !app.merged;
                    match screen.console {
                        Some(r) if app.console_focus => app.visible_rows = r.height.saturating_sub(2) as usize,
                        _ if app.merged => if let Some((_, r)) = merged.panes.first() {
                            app.visible_rows = r.height.saturating_sub(2) as usize;
                        },
                        _ => if let Some((_, r)) = screen.panes.iter().find(|(i, _)| *i == app.focus) {
                            // Borders and the detail line are not log.
                            app.visible_rows = r.height.saturating_sub(3) as usize;
                        },
                    }
                }
                // Tiles that do not fit are not offered: the table stays.
                if action == Some(keymap::Action::Table) && !app.table && !app.zoom && !layout::tiles_fit(area, snaps.len(), app.console_log) {
                    app.notice = Some(format!("{} tiles do not fit a {}×{} terminal: the table stays (z zooms one pane)", snaps.len(), area.width, area.height));
                    continue;
                }
                // Arrows move on the screen as drawn: the loop knows the layout.
                let action = match action {
                    Some(keymap::Action::Move(dir)) => {
                        let screen = layout::screen_with(area, snaps.len(), app.focus, app.zoom, app.console_log, app.table);
                        layout::neighbor(&screen, &app.order(&snaps), app.focus, dir).map(|i| keymap::Action::Jump(i + 1))
                    }
                    other => other,
                };
                if let Some(a) = action {
                    let table = app.table;
                    let calls = app.update(a, &snaps);
                    if app.table != table {
                        if let Err(e) = prefs::save_table(&view_dir, app.table) { tracing::warn!("{e}"); }
                    }
                    for call in calls {
                        match call {
                            UiCall::One(id, cmd) => {
                                if let Err(e) = handle.command_by(id, cmd, crate::model::view::Origin::Key) { tracing::warn!("{e}"); }
                            }
                            UiCall::All(cmd) => { let _ = handle.command_all_by(cmd, crate::model::view::Origin::Key); }
                            UiCall::StopAllAndQuit => handle.shutdown(),
                            UiCall::Detach => { handle.detach(); handle.await_shutdown().await; return Ok(true); }
                            UiCall::Exit => { handle.shutdown(); handle.await_shutdown().await; return Ok(false); }
                            UiCall::TakeOver => {
                                TAKE_OVER.store(true, std::sync::atomic::Ordering::SeqCst);
                                handle.shutdown(); handle.await_shutdown().await; return Ok(false);
                            }
                            UiCall::Copy(lines) => writer.copy(lines.join("\n")),
                            UiCall::MouseCapture(on) => writer.mouse(on),
                            UiCall::Pager { id, from_end, pattern } => {
                                if let Some(host) = &id.host {
                                    app.notice = Some(format!("{id}'s log file is on host {host}: o opens this host's logs"));
                                    continue;
                                }
                                let path = console.log_path(&id.name);
                                let total = { let p = path.clone(); tokio::task::spawn_blocking(move || count_lines(&p)).await.unwrap_or(0) };
                                if total == 0 {
                                    app.notice = Some(format!("{id} has no log file yet ({})", path.display()));
                                    continue;
                                }
                                drop(input.take());
                                let paged = page(writer, &path, total.saturating_sub(from_end).max(1), pattern.as_deref(), app.mouse).await;
                                input = Some(crossterm::event::EventStream::new());
                                pager_ended = Some(Instant::now());
                                if let Err(e) = paged { app.notice = Some(e); }
                            }
                            UiCall::RetryHosts => {
                                console.retry_hosts();
                                app.notice = Some(if console.hosts.is_empty() {
                                    "no [[host]] in the manifest".to_string()
                                } else {
                                    "retrying the links to other hosts".to_string()
                                });
                            }
                            UiCall::Reload => {
                                let (r, tx) = (console.reloader.clone(), reloaded_tx.clone());
                                tokio::spawn(async move {
                                    let said = match r.reload().await {
                                        Ok(report) => report.sentence(),
                                        Err(e) => format!("reload refused: {e}"),
                                    };
                                    let _ = tx.send(said);
                                });
                            }
                        }
                    }
                }
            }
            _ = snaps_rx.changed() => {}
            _ = hosts_rx.changed() => {
                // A viewer whose console went away offers to take over.
                if let Some(viewing) = &console.viewing {
                    let gone = hosts_rx.borrow().first().is_some_and(|h| matches!(
                        h.link,
                        crate::model::view::LinkState::Reconnecting { .. } | crate::model::view::LinkState::Failed { .. }
                    ));
                    app.console_gone(gone, viewing.pid);
                }
            }
            Some(said) = reloaded.recv() => { app.notice = Some(crate::machine::redact::plain(&said)); }
            _ = async { match &bell { Some(b) => b.notified().await, None => std::future::pending().await } } => writer.bell(),
            _ = handle.await_shutdown(), if app.quitting => { return Ok(false); }
            // New log lines: the tailers say so (no polling of the scrollbacks).
            _ = log_activity.notified() => {}
            // A console log line, redrawn while the log is shown.
            _ = console_log.activity.notified(), if app.console_log => {}
            _ = tokio::time::sleep_until(next_clock) => {}
            Some(_) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                let pagers = input.is_none() || pager_ended.is_some_and(|t| t.elapsed() < Duration::from_secs(2));
                if !pagers {
                    handle.detach(); handle.await_shutdown().await; return Ok(true);
                }
            }
            Some(_) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                // Killed politely: leave the connectors running; they never depend on us.
                handle.detach(); handle.await_shutdown().await; return Ok(true);
            }
            Some(_) = async { match hup.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                // The terminal is gone (closed window, dropped SSH): detach.
                handle.detach(); handle.await_shutdown().await; return Ok(true);
            }
        }
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
