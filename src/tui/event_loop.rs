//! The event loop: one `select!` over terminal input, the fleet's views and hosts, log activity,
//! signals and the clocks on screen. Every wake-up may have changed the screen: a frame is drawn
//! off-screen (at most one per [`FRAME`]) and handed to the [`Screen`]. What it reads and drives
//! comes from outside ([`super::ports`]), so tests run it on a fake fleet and screen.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use futures_util::stream::{Stream, StreamExt};
use ratatui::backend::{Backend, TestBackend};
use ratatui::layout::{Position, Rect};
use ratatui::Terminal;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::app::{App, UiCall};
use super::console_log::{self, ConsoleLog};
use super::ports::{Context, FleetPort, Screen, Signal};
use super::{keymap, layout, log_targets, prefs, render, theme};
use crate::console::Viewing;
use crate::engine::io::store::unix_now;
use crate::model::view::{ConnectorView, HostView, LinkState, Origin};

/// Shortest time between two frames (~30 fps).
const FRAME: Duration = Duration::from_millis(33);

/// A SIGINT this soon after a pager ended is the pager's.
const PAGER_SIGINT: Duration = Duration::from_secs(2);

/// Runs the loop until the operator leaves. Returns true when the operator detached (connectors
/// left running), and why when the terminal's input ended or failed (the caller detaches).
/// `open_input` opens the terminal's input: once now, and again after each pager (the stream
/// stops reading when dropped, so the pager gets every key).
pub(crate) async fn event_loop<F, S, I>(
    fleet: &F,
    screen: &S,
    open_input: impl FnMut() -> I,
    signals: mpsc::UnboundedReceiver<Signal>,
    ctx: Context<'_>,
) -> Result<bool, String>
where
    F: FleetPort,
    S: Screen,
    I: Stream<Item = std::io::Result<Event>> + Unpin,
{
    Loop::new(fleet, screen, open_input, signals, ctx)?
        .run()
        .await
}

/// What woke the loop.
enum Wake {
    /// Terminal input (None: it ended).
    Input(Option<std::io::Result<Event>>),
    /// Something on screen may have changed: views, log lines, a clock.
    Redraw,
    /// The host links changed.
    Hosts,
    /// A reload's outcome.
    Reloaded(String),
    Bell,
    /// The engine has ended after the operator chose to stop all and quit.
    Ended,
    Signal(Signal),
}

/// The loop's state between wake-ups.
struct Loop<'a, F, S, O, I> {
    fleet: &'a F,
    screen: &'a S,
    ctx: Context<'a>,
    open_input: O,
    /// Terminal input; None while the terminal is lent to a pager.
    input: Option<I>,
    signals: mpsc::UnboundedReceiver<Signal>,
    /// When the last pager ended (see [`PAGER_SIGINT`]).
    pager_ended: Option<Instant>,
    app: App,
    theme: theme::Theme,
    snaps_rx: watch::Receiver<Arc<Vec<ConnectorView>>>,
    hosts_rx: watch::Receiver<Arc<Vec<HostView>>>,
    log_activity: Arc<Notify>,
    console_log: &'static ConsoleLog,
    /// Reload outcomes come back here, to be shown in the footer.
    reloaded_tx: mpsc::UnboundedSender<String>,
    reloaded: mpsc::UnboundedReceiver<String>,
    last_draw: Option<Instant>,
    /// The views last drawn, to tell what changed since (the status bar flashes on failures).
    drawn: Arc<Vec<ConnectorView>>,
    /// A viewer names the console it watches: the one that holds the lock when its link
    /// (re)connects, which after a console restart is not the one it started with.
    viewing: Option<Viewing>,
    link_was_up: bool,
    /// The console log's target selector (`V`), while it is open: it takes every key.
    targets: Option<log_targets::Selector>,
    /// Frames are drawn here, off-screen, and handed to the screen to paint: an in-memory
    /// backend the size of the terminal.
    offscreen: Terminal<TestBackend>,
}

impl<'a, F, S, O, I> Loop<'a, F, S, O, I>
where
    F: FleetPort,
    S: Screen,
    O: FnMut() -> I,
    I: Stream<Item = std::io::Result<Event>> + Unpin,
{
    fn new(
        fleet: &'a F,
        screen: &'a S,
        mut open_input: O,
        signals: mpsc::UnboundedReceiver<Signal>,
        ctx: Context<'a>,
    ) -> Result<Self, String> {
        let (reloaded_tx, reloaded) = mpsc::unbounded_channel::<String>();
        let mut app = App::new();
        let console_log = console_log::get();
        app.console_scrollback = console_log.lines.clone();
        app.confirm_always = ctx.confirm_always;
        app.viewer = ctx.viewing.is_some();
        // The view chosen last time (`t`), kept in the watched console's state dir.
        if let Some(table) = prefs::load_table(&ctx.state_dir) {
            app.table = table;
        }
        // CPU and memory are on screen for as long as the TUI runs.
        fleet.want_usage(1e12);
        let theme = theme::Theme::from_env();
        let mut snaps_rx = fleet.views();
        let hosts_rx = fleet.hosts();
        app.sync(&snaps_rx.borrow_and_update(), |id| fleet.scrollback(id));
        let input = Some(open_input());
        let log_activity = fleet.log_activity();
        let drawn = snaps_rx.borrow().clone();
        let viewing = ctx.viewing.clone();
        let offscreen = {
            let size = screen.size();
            Terminal::new(TestBackend::new(size.width, size.height))
                .map_err(|e| format!("cannot set up the off-screen frame: {e}"))?
        };
        Ok(Loop {
            fleet,
            screen,
            ctx,
            open_input,
            input,
            signals,
            pager_ended: None,
            app,
            theme,
            snaps_rx,
            hosts_rx,
            log_activity,
            console_log,
            reloaded_tx,
            reloaded,
            last_draw: None,
            drawn,
            viewing,
            link_was_up: false,
            targets: None,
            offscreen,
        })
    }

    /// Every wake-up means something on screen may have changed: draw (at most one frame per
    /// FRAME), then wait for the next one.
    async fn run(mut self) -> Result<bool, String> {
        loop {
            let now = Instant::now();
            let due = self.last_draw.map(|t| t + FRAME).unwrap_or(now);
            if now < due {
                // Come back when the next frame may be drawn.
                tokio::time::sleep_until(due).await;
                continue;
            }
            self.draw();
            self.last_draw = Some(now);
            let next_clock = self.next_clock();
            let ended = match self.wait(next_clock).await {
                Wake::Input(ev) => self.on_input(ev).await,
                Wake::Redraw => None,
                Wake::Hosts => {
                    self.on_hosts();
                    None
                }
                Wake::Reloaded(said) => {
                    self.app.notice = Some(crate::machine::redact::plain(&said));
                    None
                }
                Wake::Bell => {
                    self.screen.bell();
                    None
                }
                Wake::Ended => Some(Ok(false)),
                Wake::Signal(signal) => self.on_signal(signal).await,
            };
            if let Some(ended) = ended {
                return ended;
            }
        }
    }

    /// Draws a frame off-screen and hands it to the screen.
    fn draw(&mut self) {
        let fleet = self.fleet;
        let snaps = self.snaps_rx.borrow_and_update().clone();
        self.app.sync(&snaps, |id| fleet.scrollback(id));
        self.app.settle();
        if !Arc::ptr_eq(&self.drawn, &snaps) {
            self.app.note_changes(&self.drawn, &snaps, unix_now());
            self.drawn = snaps.clone();
        }
        let hosts = self.hosts_rx.borrow_and_update().clone();
        if let Some(v) = self.viewing.as_mut() {
            let up = hosts
                .first()
                .is_some_and(|h| matches!(h.link, LinkState::Connected));
            if up && !self.link_was_up {
                v.pid = crate::engine::io::store::lock_holder(&v.state_dir).or(v.pid);
            }
            self.link_was_up = up;
        }
        let view = render::View {
            app: &self.app,
            snaps: &snaps,
            now: unix_now(),
            theme: self.theme,
            hosts: &hosts,
            viewing: self.viewing.as_ref(),
        };
        let size = self.screen.size();
        if self.offscreen.backend().size().ok() != Some(size) {
            self.offscreen.backend_mut().resize(size.width, size.height);
        }
        let targets = &mut self.targets;
        match self.offscreen.draw(|f| {
            render::draw(f, &view);
            if let Some(t) = targets.as_mut() {
                t.draw(f, f.area());
            }
        }) {
            Ok(frame) => self.screen.frame(frame.buffer.clone()),
            Err(never) => match never {},
        }
    }

    /// The next time a clock on screen changes: countdowns every 0.1 s, stale ages (and
    /// uptimes under a minute in the detail view) every second, the uptimes in titles and the
    /// table when their text changes (each second for 10 s, then every 10 s, then every minute,
    /// see `render::shown_uptime`). An idle screen with grown-up connectors wakes once a minute.
    fn next_clock(&self) -> Instant {
        let now = unix_now();
        let snaps = self.snaps_rx.borrow();
        let flashing = self.app.flash_until.is_some_and(|t| now < t);
        // When the first uptime's text changes, with those turning just after it (a hair
        // after, so the new texts are shown).
        let uptime_turns = render::uptimes_turn_in(
            snaps
                .iter()
                .filter_map(|s| s.uptime_at(now))
                .map(render::shown_uptime_changes_in),
            60.0,
        );
        let every = if flashing {
            Duration::from_millis(250)
        } else if snaps.iter().any(|s| s.countdown_s.is_some()) {
            Duration::from_millis(100)
        } else if snaps.iter().any(|s| {
            (self.app.detail && s.uptime_at(now).is_some_and(|u| u < 60.0))
                || s.health.is_some_and(|h| h.is_unhealthy())
        }) || self.hosts_rx.borrow().iter().any(|h| {
            matches!(
                h.link,
                LinkState::Reconnecting { .. } | LinkState::Connecting { .. }
            )
        }) {
            Duration::from_secs(1)
        } else {
            Duration::from_secs_f64(uptime_turns + 0.005)
        };
        Instant::now() + every
    }

    /// Waits for the next thing that may change the screen or end the loop.
    async fn wait(&mut self, next_clock: Instant) -> Wake {
        let quitting = self.app.quitting;
        let console_log_shown = self.app.console_log;
        let Loop {
            fleet,
            ctx,
            input,
            signals,
            snaps_rx,
            hosts_rx,
            log_activity,
            console_log,
            reloaded,
            ..
        } = self;
        tokio::select! {
            ev = async { match input.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => Wake::Input(ev),
            _ = snaps_rx.changed() => Wake::Redraw,
            _ = hosts_rx.changed() => Wake::Hosts,
            Some(said) = reloaded.recv() => Wake::Reloaded(said),
            _ = async { match &ctx.bell { Some(b) => b.notified().await, None => std::future::pending().await } } => Wake::Bell,
            _ = fleet.await_shutdown(), if quitting => Wake::Ended,
            // New log lines: the tailers say so (no polling of the scrollbacks).
            _ = log_activity.notified() => Wake::Redraw,
            // A console log line, redrawn while the log is shown.
            _ = console_log.activity.notified(), if console_log_shown => Wake::Redraw,
            _ = tokio::time::sleep_until(next_clock) => Wake::Redraw,
            Some(signal) = signals.recv() => Wake::Signal(signal),
        }
    }

    /// Raw mode sends no SIGINT; a pager's cooked mode does, to us too (we share its process
    /// group): a SIGINT while or just after a pager ran is the pager's. Any other one detaches,
    /// as SIGTERM does (killed politely: leave the connectors running; they never depend on us)
    /// and SIGHUP (the terminal is gone: closed window, dropped SSH).
    async fn on_signal(&mut self, signal: Signal) -> Option<Result<bool, String>> {
        if signal == Signal::Interrupt {
            let pagers = self.input.is_none()
                || self.pager_ended.is_some_and(|t| t.elapsed() < PAGER_SIGINT);
            if pagers {
                return None;
            }
        }
        Some(self.detach().await)
    }

    /// Leaves the connectors running: ends the engine without touching them.
    async fn detach(&self) -> Result<bool, String> {
        self.fleet.detach();
        self.fleet.await_shutdown().await;
        Ok(true)
    }

    /// A viewer whose console went away offers to take over.
    fn on_hosts(&mut self) {
        if let Some(viewing) = &self.ctx.viewing {
            let gone = self.hosts_rx.borrow().first().is_some_and(|h| {
                matches!(
                    h.link,
                    LinkState::Reconnecting { .. } | LinkState::Failed { .. }
                )
            });
            self.app.console_gone(gone, viewing.pid);
        }
    }

    /// A key, a click or a resize: into an action, then into calls on the fleet or the screen.
    async fn on_input(
        &mut self,
        ev: Option<std::io::Result<Event>>,
    ) -> Option<Result<bool, String>> {
        let ev = match ev {
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                return Some(Err(format!(
                    "reading the terminal failed: {e}; detached, connectors keep running"
                )))
            }
            None => {
                return Some(Err(
                    "the terminal's input ended; detached, connectors keep running".into(),
                ))
            }
        };
        if let Some(t) = self.targets.as_mut() {
            if let Event::Key(k) = ev {
                if k.kind != KeyEventKind::Release && t.key(k) == log_targets::Outcome::Close {
                    self.targets = None;
                }
            }
            return None;
        }
        let fleet = self.fleet;
        let snaps = self.snaps_rx.borrow().clone();
        self.app.sync(&snaps, |id| fleet.scrollback(id));
        let size = self.screen.size();
        let area = Rect::new(0, 0, size.width, size.height);
        let action = match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                keymap::action_for(self.app.mode(), k)
            }
            Event::Mouse(m) => match self.on_mouse(m, area, &snaps) {
                Some(action) => action,
                None => return None,
            },
            _ => None,
        };
        let app = &mut self.app;
        // `V` opens the target selector over the console log (shown and focused, so a level's
        // effect is in view).
        if action == Some(keymap::Action::LogTargets) {
            app.console_log = true;
            app.console_focus = true;
            self.targets = Some(log_targets::Selector::open());
            return None;
        }
        // `Y` copies what the focused pane shows and a search hit is placed mid-view: the loop
        // knows the pane's height.
        set_visible_rows(app, area, snaps.len());
        // Tiles that do not fit are not offered: the table stays.
        if action == Some(keymap::Action::Table)
            && !app.table
            && !app.zoom
            && !layout::tiles_fit(area, snaps.len(), app.console_log)
        {
            app.notice = Some(format!(
                "{} tiles do not fit a {}×{} terminal: the table stays (z zooms one pane)",
                snaps.len(),
                area.width,
                area.height
            ));
            return None;
        }
        // Arrows move on the screen as drawn: the loop knows the layout.
        let action = match action {
            Some(keymap::Action::Move(dir)) => {
                let screen = layout::screen_with(
                    area,
                    snaps.len(),
                    app.focus,
                    app.zoom,
                    app.console_log,
                    app.table,
                );
                layout::neighbor(&screen, &app.order(&snaps), app.focus, dir)
                    .map(|i| keymap::Action::Jump(i + 1))
            }
            other => other,
        };
        let a = action?;
        let table = app.table;
        let calls = app.update(a, &snaps);
        if app.table != table {
            if let Err(e) = prefs::save_table(&self.ctx.state_dir, app.table) {
                tracing::warn!("{e}");
            }
        }
        for call in calls {
            if let Some(ended) = self.carry_out(call).await {
                return Some(ended);
            }
        }
        None
    }

    /// A click or the wheel: focuses what is under the pointer, scrolls it, or filters the
    /// table by the count clicked in the status bar. Some(action) to carry on with; None when
    /// the click was handled here (a count).
    fn on_mouse(
        &mut self,
        m: MouseEvent,
        area: Rect,
        snaps: &[ConnectorView],
    ) -> Option<Option<keymap::Action>> {
        let app = &mut self.app;
        let screen = layout::screen_with(
            area,
            snaps.len(),
            app.focus,
            app.zoom,
            app.console_log,
            app.table,
        );
        let target = layout::pane_at(&screen, m.column, m.row).or_else(|| {
            layout::table_row_at(&screen, m.column, m.row, &app.order(snaps), app.focus)
        });
        let at = Position::new(m.column, m.row);
        let on_console = screen.console.is_some_and(|r| r.contains(at));
        // A count in the status bar (`2 STALE`, `1 FAILED`): the table, filtered to those
        // connectors.
        let on_status = screen.status.contains(at);
        let count_filter = match m.kind {
            MouseEventKind::Down(MouseButton::Left) if on_status => {
                let hosts = self.hosts_rx.borrow().clone();
                let view = render::View {
                    app,
                    snaps,
                    now: unix_now(),
                    theme: self.theme,
                    hosts: &hosts,
                    viewing: self.ctx.viewing.as_ref(),
                };
                render::status_click(&view, m.column)
            }
            _ => None,
        };
        if let Some(filter) = count_filter {
            app.table = true;
            app.zoom = false;
            app.merged = false;
            app.console_focus = false;
            app.set_row_filter(&filter, snaps);
            return None;
        }
        use keymap::Action::{ScrollDown, ScrollUp};
        use MouseEventKind::{Down, ScrollDown as WheelDown, ScrollUp as WheelUp};
        Some(match (m.kind, target) {
            (Down(MouseButton::Left), _) if on_console => {
                app.console_focus = true;
                None
            }
            (WheelUp, _) if on_console => {
                app.console_focus = true;
                Some(ScrollUp(3))
            }
            (WheelDown, _) if on_console => {
                app.console_focus = true;
                Some(ScrollDown(3))
            }
            (Down(MouseButton::Left), Some(i)) => {
                app.focus = i;
                app.console_focus = false;
                None
            }
            (WheelUp, Some(i)) => {
                app.focus = i;
                app.console_focus = false;
                Some(ScrollUp(3))
            }
            (WheelDown, Some(i)) => {
                app.focus = i;
                app.console_focus = false;
                Some(ScrollDown(3))
            }
            _ => None,
        })
    }

    /// Does what the UI asked; Some when the loop ends.
    async fn carry_out(&mut self, call: UiCall) -> Option<Result<bool, String>> {
        let fleet = self.fleet;
        match call {
            UiCall::One(id, cmd) => {
                if let Err(e) = fleet.command_by(id, cmd, Origin::Key) {
                    tracing::warn!("{e}");
                }
            }
            UiCall::All(cmd) => {
                let _ = fleet.command_all_by(cmd, Origin::Key);
            }
            UiCall::StopAllAndQuit => fleet.shutdown(),
            UiCall::Detach => return Some(self.detach().await),
            UiCall::Exit => {
                fleet.shutdown();
                fleet.await_shutdown().await;
                return Some(Ok(false));
            }
            UiCall::TakeOver => {
                super::TAKE_OVER.store(true, std::sync::atomic::Ordering::SeqCst);
                fleet.shutdown();
                fleet.await_shutdown().await;
                return Some(Ok(false));
            }
            UiCall::Copy(lines) => self.screen.copy(lines.join("\n")),
            UiCall::MouseCapture(on) => self.screen.mouse(on),
            UiCall::Pager {
                id,
                from_end,
                pattern,
            } => {
                if let Some(host) = &id.host {
                    self.app.notice = Some(format!(
                        "{id}'s log file is on host {host}: o opens this host's logs"
                    ));
                    return None;
                }
                let path = crate::engine::io::logs::log_path(&self.ctx.state_dir, &id.name);
                let total = {
                    let p = path.clone();
                    tokio::task::spawn_blocking(move || super::count_lines(&p))
                        .await
                        .unwrap_or(0)
                };
                if total == 0 {
                    self.app.notice =
                        Some(format!("{id} has no log file yet ({})", path.display()));
                    return None;
                }
                drop(self.input.take());
                let line = total.saturating_sub(from_end).max(1);
                let paged =
                    super::page(self.screen, &path, line, pattern.as_deref(), self.app.mouse).await;
                self.input = Some((self.open_input)());
                self.pager_ended = Some(Instant::now());
                if let Err(e) = paged {
                    self.app.notice = Some(e);
                }
            }
            UiCall::RetryHosts => {
                (self.ctx.retry_hosts)();
                self.app.notice = Some(if self.ctx.has_hosts {
                    "retrying the links to other hosts".to_string()
                } else {
                    "no [[host]] in the manifest".to_string()
                });
            }
            UiCall::Reload => {
                let (reloading, tx) = ((self.ctx.reload)(), self.reloaded_tx.clone());
                tokio::spawn(async move {
                    let _ = tx.send(reloading.await);
                });
            }
        }
        None
    }
}

/// The rows of log the focused pane shows (what `Y` copies, where a search hit is placed), and
/// whether the table is on screen (`&` and Esc act on its rows then).
fn set_visible_rows(app: &mut App, area: Rect, n: usize) {
    let screen = layout::screen_with(area, n, app.focus, app.zoom, app.console_log, app.table);
    let merged = layout::screen(area, n, app.focus, true, app.console_log);
    app.on_table = screen.table.is_some() && !app.merged;
    match screen.console {
        Some(r) if app.console_focus => app.visible_rows = r.height.saturating_sub(2) as usize,
        _ if app.merged => {
            if let Some((_, r)) = merged.panes.first() {
                app.visible_rows = r.height.saturating_sub(2) as usize;
            }
        }
        _ => {
            if let Some((_, r)) = screen.panes.iter().find(|(i, _)| *i == app.focus) {
                // Borders and the detail line are not log.
                app.visible_rows = r.height.saturating_sub(3) as usize;
            }
        }
    }
}
