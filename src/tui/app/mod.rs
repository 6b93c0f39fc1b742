//! The UI's own state (focus, scroll, search, zoom, dialogs), kept apart from what the engine
//! reports, and `update`, which turns an [`Action`] into changes here plus calls to the engine.
//! By mode: the table's order and row filter (`table.rs`), the dialogs (`dialog.rs`), the `:`
//! and `&` prompts (`prompt.rs`), the merged log's keys (`merged_keys.rs`).

mod dialog;
mod merged_keys;
mod prompt;
mod table;

use std::collections::HashMap;

use crate::engine::io::logs::{Scrollback, SharedScrollback};
use crate::machine::state::Command;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView};

use super::keymap::{Action, Mode};
pub use super::merged::MergedView;
pub use super::pane::{line_shown, PaneView};
pub use dialog::{stop_all_cost, Dialog};
pub use table::{is_unhealthy, row_matches, SortKey};

/// What the UI asks of the engine (or of the event loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiCall {
    /// A command for one connector.
    One(ConnectorId, Command),
    /// A command for every connector.
    All(Command),
    /// Stop everything, then leave.
    StopAllAndQuit,
    /// Leave; connectors keep running.
    Detach,
    /// Leave now (nothing runs).
    Exit,
    /// Re-read the manifest.
    Reload,
    /// Start the links to other hosts over.
    RetryHosts,
    /// Leave this read-only viewer and start a console here that adopts the connectors (the
    /// watched console is gone).
    TakeOver,
    /// Copy these lines to the terminal's clipboard (OSC 52).
    Copy(Vec<String>),
    /// Turn the terminal's mouse capture on (true) or off.
    MouseCapture(bool),
    /// Open the connector's log file in `$PAGER` at the line `from_end` lines before its last,
    /// with the active search (`pattern`, as typed) handed to pagers that take one.
    Pager {
        id: ConnectorId,
        from_end: u64,
        pattern: Option<String>,
    },
}

/// How log lines' timestamps are shown (`T` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeMode {
    #[default]
    Full,
    Short,
    Hidden,
}

impl TimeMode {
    pub fn next(self) -> TimeMode {
        match self {
            TimeMode::Full => TimeMode::Short,
            TimeMode::Short => TimeMode::Hidden,
            TimeMode::Hidden => TimeMode::Full,
        }
    }
}
/// How long the status bar flashes after a connector exits, fails or goes stale.
pub const FLASH_SECS: f64 = 1.5;
/// The search prompt and query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub query: String,
    /// The prompt is open for typing.
    pub editing: bool,
}

/// All view state. Pane state is kept per [`ConnectorId`]: `ids`, `panes` and `logs` are
/// aligned with the engine's views, and [`App::sync`] carries each pane's state along when
/// connectors are added or removed.
pub struct App {
    /// Index of the focused connector in `ids`.
    pub focus: usize,
    pub ids: Vec<ConnectorId>,
    pub zoom: bool,
    pub help: bool,
    /// The console's own log is shown (`L`).
    pub console_log: bool,
    /// The console log has the focus: scroll, search, filter and copy keys act on it.
    pub console_focus: bool,
    pub console_pane: PaneView,
    /// The console's own log lines (see [`crate::tui::console_log`]).
    pub console_scrollback: SharedScrollback,
    pub panes: Vec<PaneView>,
    pub dialog: Option<Dialog>,
    pub search: Search,
    /// A one-line notice in the footer (e.g. "no match").
    pub notice: Option<String>,
    /// The status bar is drawn reversed until then (Unix seconds): something went wrong.
    pub flash_until: Option<f64>,
    /// `[console] confirm = "always"`: `x`, `r` and `K` ask even without bots attached.
    pub confirm_always: bool,
    /// The table view (`t`) instead of tiles.
    pub table: bool,
    /// The table's order (`O`).
    pub sort: SortKey,
    /// The focused connector's detail popup (`i`).
    pub detail: bool,
    /// Rows the help or detail popup is scrolled down (↑↓ PgUp PgDn while it is open).
    pub overlay_scroll: u16,
    /// How log lines' timestamps are shown (`T`).
    pub timestamps: TimeMode,
    /// Rows of the focused pane's log area on the last frame (what `Y` copies).
    pub visible_rows: usize,
    /// The console captures the mouse (clicks focus, the wheel scrolls); `M` toggles.
    pub mouse: bool,
    /// The name typed after `:` (jump to a connector), while typing.
    pub jump: Option<String>,
    /// The merged log (`m`): every connector's lines interleaved by time.
    pub merged: bool,
    /// How the merged log is viewed: its filters, scroll and search hit.
    pub merged_view: MergedView,
    /// The filter typed after `&`, while typing.
    pub filter_input: Option<String>,
    /// The `&` prompt filters the table's rows (it was opened on the table), not log lines.
    pub filter_rows: bool,
    /// Only the table rows matching this are shown (see [`row_matches`]); empty: all rows.
    pub row_filter: String,
    /// The table is on screen (the loop sets it from the layout): `&` and Esc act on its rows.
    pub on_table: bool,
    /// A read-only viewer of another console: keys that act are refused, quitting leaves at
    /// once (nothing runs here).
    pub viewer: bool,
    /// Set after `s` in the quit dialog: the UI waits for the engine to stop everything.
    pub quitting: bool,
    /// A viewer offered to take over from its gone console (not again until it is back).
    pub take_over_offered: bool,
    pub logs: Vec<SharedScrollback>,
}

impl App {
    /// A view over no connectors yet; [`App::sync`] adds them.
    pub fn new() -> App {
        App {
            focus: 0,
            ids: Vec::new(),
            zoom: false,
            help: false,
            console_log: false,
            console_focus: false,
            console_pane: PaneView::default(),
            console_scrollback: std::sync::Arc::new(std::sync::Mutex::new(Scrollback::new(1, 1))),
            panes: Vec::new(),
            dialog: None,
            search: Search::default(),
            notice: None,
            flash_until: None,
            confirm_always: false,
            table: false,
            sort: SortKey::default(),
            detail: false,
            overlay_scroll: 0,
            timestamps: TimeMode::Full,
            visible_rows: 20,
            mouse: true,
            jump: None,
            merged: false,
            merged_view: MergedView::default(),
            filter_input: None,
            filter_rows: false,
            row_filter: String::new(),
            on_table: false,
            viewer: false,
            quitting: false,
            take_over_offered: false,
            logs: Vec::new(),
        }
    }

    /// Aligns the panes with `views` (the engine's connectors, in order). A pane keeps its
    /// scroll, wrap and search state, and focus stays on the same connector, across additions
    /// and removals. `scrollback` looks up a new connector's log tail.
    pub fn sync(
        &mut self,
        views: &[ConnectorView],
        scrollback: impl Fn(&ConnectorId) -> Option<SharedScrollback>,
    ) {
        if views.len() == self.ids.len() && views.iter().zip(&self.ids).all(|(v, id)| v.id() == *id)
        {
            return;
        }
        let focused = self.ids.get(self.focus).cloned();
        let mut old: HashMap<ConnectorId, (PaneView, SharedScrollback)> = self
            .ids
            .drain(..)
            .zip(self.panes.drain(..).zip(self.logs.drain(..)))
            .collect();
        for v in views {
            let id = v.id();
            let (pane, log) = old.remove(&id).unwrap_or_else(|| {
                let log = scrollback(&id).unwrap_or_else(|| {
                    std::sync::Arc::new(std::sync::Mutex::new(Scrollback::new(1, 1 << 16)))
                });
                (PaneView::default(), log)
            });
            self.ids.push(id);
            self.panes.push(pane);
            self.logs.push(log);
        }
        self.focus = focused
            .and_then(|f| self.ids.iter().position(|i| *i == f))
            .unwrap_or_else(|| self.focus.min(self.ids.len().saturating_sub(1)));
    }

    /// Which keymap applies now.
    pub fn mode(&self) -> Mode {
        match (&self.dialog, self.help, self.search.editing) {
            (Some(Dialog::Quit { .. }), _, _) => Mode::QuitDialog,
            (Some(Dialog::Confirm { .. } | Dialog::TakeOver { .. }), _, _) => Mode::Confirm,
            (None, true, _) => Mode::Help,
            // The detail popup closes with the same keys as the help.
            (None, false, _) if self.detail => Mode::Help,
            (None, false, _) if self.jump.is_some() => Mode::JumpInput,
            // Typing a filter takes the same keys as typing a search.
            (None, false, _) if self.filter_input.is_some() => Mode::SearchInput,
            (None, false, true) => Mode::SearchInput,
            (None, false, false) => Mode::Normal,
        }
    }
    /// Keeps scrolled views still while new lines arrive. Call before drawing.
    pub fn settle(&mut self) {
        for (p, log) in self.panes.iter_mut().zip(&self.logs) {
            p.settle(log);
        }
        self.console_pane.settle(&self.console_scrollback);
        if self.merged {
            self.merged_view.settle(&self.logs);
        }
    }

    /// The scroll, search, filter and copy keys act on the merged log.
    fn on_merged(&self) -> bool {
        self.merged && !(self.console_focus && self.console_log)
    }

    /// The view and log the scroll, search, filter and copy keys act on: the console log's
    /// when it has the focus, else the focused connector's.
    pub fn target(&mut self, focus: usize) -> (&mut PaneView, SharedScrollback) {
        if self.console_focus && self.console_log {
            (&mut self.console_pane, self.console_scrollback.clone())
        } else {
            (&mut self.panes[focus], self.logs[focus].clone())
        }
    }

    /// What `Y` copies from pane `idx`: the search hit's line, else the lines on screen.
    pub fn copy_lines(&self, idx: usize) -> Vec<String> {
        match (self.panes.get(idx), self.logs.get(idx)) {
            (Some(p), Some(log)) => p.copy_lines(log, self.visible_rows),
            _ => Vec::new(),
        }
    }

    /// Flashes the status bar when, between `before` and `after`, a connector exited, failed
    /// or went stale (whichever pane is shown, zoomed or not); puts a newly refused restart in
    /// the message line.
    pub fn note_changes(&mut self, before: &[ConnectorView], after: &[ConnectorView], now: f64) {
        use crate::model::health::FeedHealth;
        let bad = after.iter().any(|a| {
            let b = before.iter().find(|b| b.id() == a.id());
            let entered = |p: Phase| a.phase == p && b.is_none_or(|b| b.phase != p);
            entered(Phase::Exited)
                || entered(Phase::Failed)
                || (a.health == Some(FeedHealth::Stale)
                    && b.is_none_or(|b| b.health != Some(FeedHealth::Stale)))
        });
        if bad {
            self.flash_until = Some(now + FLASH_SECS);
        }
        // A restart the engine refused (a new process could not start) says why in the
        // message line: the key that asked for it was sent before anyone could know.
        for a in after {
            let Some(r) = &a.refused else { continue };
            if before
                .iter()
                .find(|b| b.id() == a.id())
                .is_some_and(|b| b.refused.as_ref() != Some(r))
            {
                self.notice = Some(crate::machine::redact::plain(&format!(
                    "{} {} refused: {}",
                    a.id(),
                    r.what,
                    r.why
                )));
            }
        }
    }
    /// Applies `action`; returns what the engine or the loop must do.
    pub fn update(&mut self, action: Action, snaps: &[ConnectorView]) -> Vec<UiCall> {
        self.notice = None;
        if snaps.is_empty() {
            // Nothing to act on: only leaving is possible.
            return match action {
                Action::Quit => vec![UiCall::Exit],
                Action::Reload => vec![UiCall::Reload],
                Action::RetryHosts => vec![UiCall::RetryHosts],
                _ => vec![],
            };
        }
        if self.panes.len() != snaps.len() {
            return vec![]; // not synced with these views (the loop syncs before every update)
        }
        if self.help || self.detail {
            match action {
                Action::ScrollUp(k) => self.overlay_scroll = self.overlay_scroll.saturating_sub(k),
                Action::ScrollDown(k) => {
                    self.overlay_scroll = self.overlay_scroll.saturating_add(k)
                }
                _ => {}
            }
        }
        let n = snaps.len();
        let focus = self.focus.min(n - 1);
        let bots = snaps[focus].bots;
        let id = snaps[focus].id();
        let name = id.to_string();
        if self.jump.is_some() {
            self.type_jump(action, snaps);
            return vec![];
        }
        if self.filter_input.is_some() {
            self.type_filter(action, snaps, focus);
            return vec![];
        }
        if self.viewer {
            if action.acts_on_connectors() {
                self.notice = Some(
                    "read-only viewer: act in the running console, or with `switchboard start|stop|restart NAME`".into(),
                );
                return vec![];
            }
            if action == Action::Quit {
                return vec![UiCall::Exit];
            }
        }
        // With the console log focused, no key may act on a connector the operator is not
        // looking at.
        let acts = action.acts_on_connectors()
            && !matches!(action, Action::StartAll | Action::StopAll | Action::Reload);
        if acts && self.console_focus && self.console_log {
            self.notice =
                Some("the console log has the focus: Tab or a digit picks a connector".into());
            return vec![];
        }
        // A command that can only be refused is not sent: why goes to the message line.
        let refused = action
            .verb()
            .and_then(|verb| Command::from(verb).refusal(snaps[focus].phase));
        if let Some(why) = refused {
            self.notice = Some(format!("{name} {why}"));
            return vec![];
        }
        if self.console_focus
            && self.console_log
            && matches!(action, Action::FocusNext | Action::FocusPrev)
        {
            // Tab from the console log goes back to the connector focused before.
            self.console_focus = false;
            return vec![];
        }
        if matches!(
            action,
            Action::FocusNext | Action::FocusPrev | Action::Jump(_) | Action::Zoom | Action::Table
        ) {
            self.console_focus = false;
        }
        if self.on_merged() {
            if let Some(calls) = self.merged_key(action, snaps) {
                return calls;
            }
        }
        match action {
            // A filtered table: Tab walks the rows it keeps.
            Action::FocusNext | Action::FocusPrev
                if self.on_table && !self.row_filter.is_empty() =>
            {
                let order = self.order(snaps);
                if !order.is_empty() {
                    let k = order.len();
                    self.focus = match order.iter().position(|i| *i == focus) {
                        Some(at) if action == Action::FocusNext => order[(at + 1) % k],
                        Some(at) => order[(at + k - 1) % k],
                        None => order[0],
                    };
                }
            }
            Action::FocusNext => self.focus = (focus + 1) % n,
            Action::FocusPrev => self.focus = (focus + n - 1) % n,
            Action::Start => {
                // A bot starts its stopped connectors first: asked, as it starts more than
                // the focused pane.
                let stopped: Vec<String> = snaps[focus]
                    .connectors
                    .iter()
                    .filter(|c| {
                        snaps.iter().any(|s| {
                            s.host == snaps[focus].host && &s.name == *c && s.phase.is_at_rest()
                        })
                    })
                    .cloned()
                    .collect();
                if stopped.is_empty() {
                    return vec![UiCall::One(id, Command::Start)];
                }
                self.dialog = Some(Dialog::Confirm {
                    call: UiCall::One(id, Command::Start),
                    verb: "Start".into(),
                    target: Some((name, snaps[focus].phase)),
                    count: 1,
                    bots: 0,
                    heals: false,
                    managed: stopped,
                });
                return vec![];
            }
            Action::Stop | Action::Kill | Action::Restart => {
                let cmd = match action.verb() {
                    Some(verb) => Command::from(verb),
                    None => return vec![],
                };
                let call = UiCall::One(id, cmd);
                // Managed bots trading on it go down first (the engine's order rules).
                let managed: Vec<String> = snaps
                    .iter()
                    .filter(|s| {
                        s.host == snaps[focus].host
                            && !s.phase.is_at_rest()
                            && s.connectors.iter().any(|c| *c == snaps[focus].name)
                    })
                    .map(|s| s.name.clone())
                    .collect();
                if bots > 0 || !managed.is_empty() || self.confirm_always {
                    let verb = match cmd {
                        Command::Kill => "Kill",
                        Command::Restart => "Restart",
                        _ => "Stop",
                    };
                    let heals = snaps[focus].registration.as_ref().is_some_and(|r| {
                        !matches!(
                            r.state,
                            crate::machine::session::RegistrationState::Unhealable
                        )
                    });
                    self.dialog = Some(Dialog::Confirm {
                        call,
                        verb: verb.into(),
                        target: Some((name, snaps[focus].phase)),
                        count: 1,
                        // The managed ones are said apart (they restart with it).
                        bots: bots.saturating_sub(managed.len() as u32),
                        heals,
                        managed,
                    });
                    return vec![];
                }
                return vec![call];
            }
            Action::Build | Action::Rebuild => {
                return (action.verb().into_iter())
                    .map(|verb| UiCall::One(id.clone(), Command::from(verb)))
                    .collect();
            }
            Action::StartAll => return vec![UiCall::All(Command::Start)],
            Action::StopAll => {
                // Always asked: stopping everything is never one stray key away. Only this
                // host's connectors are stopped (others' belong to their hosts).
                let (count, bots, managed) = stop_all_cost(snaps);
                if count == 0 {
                    self.notice = Some("nothing is running on this host".into());
                    return vec![];
                }
                self.dialog = Some(Dialog::Confirm {
                    call: UiCall::All(Command::Stop),
                    verb: "Stop".into(),
                    target: None,
                    count,
                    bots,
                    heals: false,
                    managed,
                });
                return vec![];
            }
            // Turned into a Jump by the loop (it knows the layout); alone it does nothing.
            Action::Move(_) => {}
            Action::Jump(n) => {
                if n >= 1 && n <= snaps.len() {
                    self.focus = n - 1;
                } else {
                    self.notice = Some(format!("there is no connector {n}"));
                }
            }
            Action::NextUnhealthy => {
                // After the focused one in the order shown, wrapping; the focused one last.
                // Over every connector: a row filter does not hide trouble from `!`.
                let order = self.sort.order(snaps);
                let at = order.iter().position(|i| *i == focus).unwrap_or(0);
                let next = (1..=n)
                    .map(|k| order[(at + k) % n])
                    .find(|i| is_unhealthy(&snaps[*i]));
                match next {
                    Some(i) if i == focus => {
                        self.notice = Some(format!("{name} is the only unhealthy connector"))
                    }
                    Some(i) => self.focus = i,
                    None => self.notice = Some("no connector is unhealthy".into()),
                }
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.notice = Some(format!("table sorted by {} (O: next)", self.sort.as_str()));
            }
            Action::Zoom => self.zoom = !self.zoom,
            Action::Table => {
                self.table = !self.table;
                self.zoom = false;
            }
            Action::ScrollUp(k) => {
                let (p, log) = self.target(focus);
                p.scroll_up(&log, k as u64);
            }
            Action::ScrollDown(k) => self.target(focus).0.scroll_down(k as u64),
            Action::ScrollTop => {
                let (p, log) = self.target(focus);
                p.scroll_up(&log, u64::MAX / 2);
            }
            Action::ScrollBottom => self.target(focus).0.to_bottom(),
            // Opens empty, as its hint says: Enter on nothing shows every line again.
            Action::FilterBegin => {
                self.filter_input = Some(String::new());
                // On the table (not while the console log has the focus) it filters rows.
                self.filter_rows = self.on_table && !self.on_merged() && !self.console_focus;
            }
            Action::SearchBegin => {
                self.search = Search {
                    query: String::new(),
                    editing: true,
                };
            }
            Action::SearchChar(c) => self.search.query.push(c),
            Action::SearchBackspace => {
                self.search.query.pop();
            }
            Action::SearchSubmit | Action::SearchNext | Action::SearchPrev => {
                if action == Action::SearchSubmit {
                    self.search.editing = false;
                }
                let query = self.search.query.to_lowercase();
                let context = (self.visible_rows / 2) as u64;
                let (p, log) = self.target(focus);
                if action == Action::SearchSubmit {
                    p.hit = None;
                }
                if let Err(none) = p.find(&log, &query, action != Action::SearchPrev, context) {
                    self.notice = Some(none);
                }
            }
            Action::Wrap => {
                let p = self.target(focus).0;
                p.wrap = !p.wrap;
            }
            Action::Errors => {
                let p = self.target(focus).0;
                p.errors_only = !p.errors_only;
            }
            Action::Merged => {
                self.merged = !self.merged;
                self.zoom = false;
            }
            Action::Clear => {
                let (p, log) = self.target(focus);
                p.clear(&log);
            }
            // Hidden → shown with the focus → hidden; shown without the focus → focused.
            Action::ConsoleLog => {
                if self.console_log && !self.console_focus {
                    self.console_focus = true;
                } else {
                    self.console_log = !self.console_log;
                    self.console_focus = self.console_log;
                }
            }
            Action::Reload => {
                self.notice = Some("reloading the manifest…".into());
                return vec![UiCall::Reload];
            }
            Action::RetryHosts => return vec![UiCall::RetryHosts],
            // The event loop opens the target selector (see `log_targets`).
            Action::LogTargets => {}
            Action::Help => {
                self.help = true;
                self.overlay_scroll = 0;
            }
            Action::Detail => {
                self.detail = true;
                self.overlay_scroll = 0;
            }
            Action::JumpBegin => self.jump = Some(String::new()),
            Action::Complete => {}
            Action::Copy => {
                let rows = self.visible_rows;
                let (p, log) = self.target(focus);
                let lines = p.copy_lines(&log, rows);
                self.notice = Some(format!(
                    "copied {} line(s) to the clipboard (OSC 52; the terminal must allow it)",
                    lines.len()
                ));
                return vec![UiCall::Copy(lines)];
            }
            Action::Pager => {
                if self.console_focus && self.console_log {
                    self.notice = Some(
                        "the console log: Y copies its lines; all of them are in logs/console.log"
                            .into(),
                    );
                    return vec![];
                }
                // The hit's line, else the last line on screen.
                let p = &self.panes[focus];
                let from_end = match p.hit {
                    Some(hit) => {
                        let appended = self.logs[focus]
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .appended();
                        appended.saturating_sub(hit + 1)
                    }
                    None => p.offset,
                };
                let pattern = Some(self.search.query.clone()).filter(|q| !q.is_empty());
                return vec![UiCall::Pager {
                    id,
                    from_end,
                    pattern,
                }];
            }
            Action::Mouse => {
                self.mouse = !self.mouse;
                self.notice = Some(if self.mouse {
                    "mouse: captured (click focuses, the wheel scrolls)".into()
                } else {
                    "mouse: released (select text with the terminal; M to capture again)".into()
                });
                return vec![UiCall::MouseCapture(self.mouse)];
            }
            Action::Timestamps => {
                self.timestamps = self.timestamps.next();
                self.notice = Some(format!(
                    "timestamps: {}",
                    match self.timestamps {
                        TimeMode::Full => "full (UTC, as written)",
                        TimeMode::Short => "short local time",
                        TimeMode::Hidden => "hidden",
                    }
                ));
            }
            Action::Quit => {
                // Other hosts' connectors are theirs to stop: only this host's count.
                let (running, bots, managed) = stop_all_cost(snaps);
                if running == 0 {
                    return vec![UiCall::Exit];
                }
                self.dialog = Some(Dialog::Quit {
                    running,
                    bots,
                    managed,
                });
            }
            Action::Cancel => {
                if self.dialog.is_some() {
                    self.dialog = None;
                } else if self.help {
                    self.help = false;
                } else if self.detail {
                    self.detail = false;
                } else if self.search.editing {
                    self.search = Search::default();
                } else if !self.search.query.is_empty() {
                    self.search = Search::default();
                    self.target(focus).0.hit = None;
                    self.merged_view.hit = None;
                } else if self.on_table && !self.console_focus && !self.row_filter.is_empty() {
                    self.set_row_filter("", snaps);
                } else if self.on_merged() && !self.merged_view.filter.is_empty() {
                    self.merged_view.filter.clear();
                    self.merged_view.to_bottom();
                } else if !self.target(focus).0.filter.is_empty() {
                    self.target(focus).0.set_filter("");
                } else if self.console_focus {
                    self.console_focus = false;
                } else {
                    self.zoom = false;
                }
            }
            Action::Yes => match self.dialog.take() {
                Some(Dialog::Confirm { call, .. }) => return vec![call],
                Some(Dialog::TakeOver { .. }) => {
                    self.notice = Some("taking over: starting a console here…".into());
                    return vec![UiCall::TakeOver];
                }
                other => self.dialog = other,
            },
            Action::No => self.dialog = None,
            Action::QuitStopAll => {
                self.dialog = None;
                self.quitting = true;
                return vec![UiCall::StopAllAndQuit];
            }
            Action::QuitDetach => {
                self.dialog = None;
                return vec![UiCall::Detach];
            }
        }
        vec![]
    }
}
impl Default for App {
    fn default() -> Self {
        App::new()
    }
}
