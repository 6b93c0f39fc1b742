//! The console log's target selector (`V`): tui-logger's `TuiLoggerTargetWidget` lists every
//! tracing target the console knows (its main modules, `iceoryx2`, and each target that logged
//! since), with the levels the console log keeps for it (`EWIDT`: a letter shown is a level
//! kept). `+`/`-` make the selected target more or less verbose at run time, e.g. raising
//! `switchboard::fleet::hosts` or `iceoryx2` to DEBUG while a link flaps: the level is set in
//! tui-logger's own table (what the widget shows) and the console log's filter (tracing-
//! subscriber's `reload` layer around an `EnvFilter`) is rebuilt from the same levels, so the
//! pane and `console.log` get the new lines at once.
//!
//! The table is the process's (tracing's subscriber and tui-logger's table are global). A level
//! set for a target covers the targets under it (`switchboard::engine` covers
//! `switchboard::engine::io::ipc`), as in `SWITCHBOARD_LOG`, unless they have their own.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Clear};
use ratatui::Frame;
use tui_logger::{LevelFilter, TuiLoggerTargetWidget, TuiWidgetEvent, TuiWidgetState};

/// What the console log keeps unless `SWITCHBOARD_LOG` says otherwise: INFO and above,
/// iceoryx2's own warnings hidden (stale files it cleans up say nothing to an operator).
pub const DEFAULT_FILTER: &str = "info,iceoryx2=error";

/// Targets listed before they log anything: the console's modules an operator would raise.
pub const SEEDS: &[&str] = &[
    "iceoryx2",
    "switchboard::observers::alerts",
    "switchboard::cli",
    "switchboard::console",
    "switchboard::control",
    "switchboard::engine",
    "switchboard::fleet::hosts",
    "switchboard::observers::metrics",
    "switchboard::console::reload",
    "switchboard::tui",
];

/// Target of iceoryx2's own log lines (its `logger_tracing` feature).
const ICEORYX2_TARGET: &str = "iceoryx2_bb_log::logger::tracing";

/// Rebuilds the console log's filter from directives (`info,switchboard::fleet::hosts=debug`).
pub type Reloader = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The levels: the base filter's directives, the operator's changes, the targets known.
#[derive(Default)]
pub struct Levels {
    /// The base filter's comma-separated directives, as written.
    base: Vec<String>,
    /// Levels set with the selector, by target.
    set: BTreeMap<String, LevelFilter>,
    /// Targets in tui-logger's table (what the widget lists).
    known: BTreeSet<String>,
    /// Targets that logged and are not in tui-logger's table yet (added at the next draw, so
    /// the list only changes when it is drawn).
    seen: HashSet<&'static str>,
    pending: BTreeSet<&'static str>,
}

impl Levels {
    /// Levels over `base` (an `EnvFilter` directive string).
    pub fn new(base: &str) -> Levels {
        Levels {
            base: base
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(String::from)
                .collect(),
            ..Levels::default()
        }
    }

    /// The directives of the filter now: the base's, but those of a target set with the
    /// selector, then the selector's.
    pub fn directives(&self) -> String {
        let mut out: Vec<String> = self
            .base
            .iter()
            .filter(|d| !directive_target(d).is_some_and(|t| self.set.contains_key(t)))
            .cloned()
            .collect();
        out.extend(
            self.set
                .iter()
                .map(|(t, l)| format!("{t}={}", l.as_str().to_ascii_lowercase())),
        );
        out.join(",")
    }

    /// The level kept for `target`: that of the longest directive target it starts with (as
    /// tracing's `EnvFilter` picks), else the bare level, else ERROR. Directives with spans or
    /// fields are not modelled (they only narrow what a target logs).
    pub fn level_of(&self, target: &str) -> LevelFilter {
        let mut best: Option<(usize, LevelFilter)> = None;
        let mut bare = None;
        let simple = self
            .base
            .iter()
            .filter(|d| !d.contains('[') && !d.contains('{'))
            .filter_map(|d| match d.split_once('=') {
                Some((t, l)) => Some((Some(t.trim()), parse_level(l)?)),
                None => Some((None, parse_level(d)?)),
            })
            .filter(|(t, _)| !t.is_some_and(|t| self.set.contains_key(t)));
        let chosen = self.set.iter().map(|(t, l)| (Some(t.as_str()), *l));
        for (t, l) in simple.chain(chosen) {
            match t {
                None => bare = Some(l),
                Some(t) if target.starts_with(t) => {
                    if best.is_none_or(|(n, _)| t.len() >= n) {
                        best = Some((t.len(), l));
                    }
                }
                Some(_) => {}
            }
        }
        best.map(|(_, l)| l).or(bare).unwrap_or(LevelFilter::Error)
    }

    /// Sets `target`'s level; returns the directives to reload.
    pub fn set(&mut self, target: &str, level: LevelFilter) -> String {
        self.set.insert(target.to_string(), level);
        self.directives()
    }

    /// Notes that `target` logged (cheap when it is known).
    fn saw(&mut self, target: &'static str) {
        if self.seen.insert(target) && !self.known.contains(target) {
            self.pending.insert(target);
        }
    }

    /// Adds the seeds and the targets that logged since to tui-logger's table, each with its
    /// level, and returns the list as the widget shows it (sorted).
    fn refresh(&mut self) -> Vec<String> {
        let new: Vec<String> = SEEDS
            .iter()
            .copied()
            .chain(std::mem::take(&mut self.pending))
            .filter(|t| !self.known.contains(*t))
            .map(String::from)
            .collect();
        for t in new {
            tui_logger::set_level_for_target(&t, self.level_of(&t));
            self.known.insert(t);
        }
        self.known.iter().cloned().collect()
    }

    /// Tells tui-logger every known target's level (a level set for a target changes those
    /// under it) and iceoryx2 its own (it drops lines below its level before tracing sees
    /// them; it is never set below its default, INFO).
    fn publish(&self) {
        for t in &self.known {
            tui_logger::set_level_for_target(t, self.level_of(t));
        }
        use iceoryx2::prelude::{set_log_level, LogLevel};
        set_log_level(match self.level_of(ICEORYX2_TARGET) {
            LevelFilter::Trace => LogLevel::Trace,
            LevelFilter::Debug => LogLevel::Debug,
            _ => LogLevel::Info,
        });
    }
}

/// `d`'s target, when it is `target=level` (not a bare level).
fn directive_target(d: &str) -> Option<&str> {
    d.split_once('=').map(|(t, _)| t.trim())
}

fn parse_level(s: &str) -> Option<LevelFilter> {
    s.trim().parse().ok()
}

/// One level more verbose (`None` at TRACE).
pub fn more(l: LevelFilter) -> Option<LevelFilter> {
    match l {
        LevelFilter::Off => Some(LevelFilter::Error),
        LevelFilter::Error => Some(LevelFilter::Warn),
        LevelFilter::Warn => Some(LevelFilter::Info),
        LevelFilter::Info => Some(LevelFilter::Debug),
        LevelFilter::Debug => Some(LevelFilter::Trace),
        LevelFilter::Trace => None,
    }
}

/// One level less verbose (`None` at OFF).
pub fn less(l: LevelFilter) -> Option<LevelFilter> {
    match l {
        LevelFilter::Off => None,
        LevelFilter::Error => Some(LevelFilter::Off),
        LevelFilter::Warn => Some(LevelFilter::Error),
        LevelFilter::Info => Some(LevelFilter::Warn),
        LevelFilter::Debug => Some(LevelFilter::Info),
        LevelFilter::Trace => Some(LevelFilter::Debug),
    }
}

struct Table {
    levels: Levels,
    reload: Option<Reloader>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with_table<T>(f: impl FnOnce(&mut Table) -> T) -> T {
    let mut g = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let t = g.get_or_insert_with(|| Table {
        levels: Levels::new(DEFAULT_FILTER),
        reload: None,
    });
    f(t)
}

/// Called once by the console log's subscriber: its base filter and how to reload it.
pub fn install(base: &str, reload: Reloader) {
    with_table(|t| {
        t.levels.base = Levels::new(base).base;
        t.reload = Some(reload);
    });
}

/// Sets `target`'s level in the console log (its filter and tui-logger's table); says why not.
pub fn set_level(target: &str, level: LevelFilter) -> Result<(), String> {
    with_table(|t| {
        let directives = t.levels.set(target, level);
        let r = match &t.reload {
            Some(reload) => reload(&directives),
            None => Err("the console log has no subscriber".into()),
        };
        t.levels.publish();
        r
    })
}

/// The level the console log keeps for `target` now.
pub fn level_of(target: &str) -> LevelFilter {
    with_table(|t| t.levels.level_of(target))
}

/// A layer (behind the console log's filter) that notes each event's target for the selector.
pub struct Seen;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Seen {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let target = event.metadata().target();
        if let Ok(mut g) = TABLE.try_lock() {
            if let Some(t) = g.as_mut() {
                t.levels.saw(target);
            }
        }
    }
}

/// The open selector: tui-logger's widget state, and the same selection kept here (the widget
/// keeps its own private), so `+`/`-` know the target under the highlight.
pub struct Selector {
    state: TuiWidgetState,
    /// Targets as last drawn (the widget's order).
    shown: Vec<String>,
    selected: usize,
    /// What the last change said (or why it failed).
    pub said: Option<String>,
}

/// What a key did to the selector.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Close,
}

impl Default for Selector {
    fn default() -> Self {
        Selector::open()
    }
}

impl Selector {
    pub fn open() -> Selector {
        let shown = with_table(|t| t.levels.refresh());
        Selector {
            state: TuiWidgetState::new(),
            shown,
            selected: 0,
            said: None,
        }
    }

    /// The target under the highlight.
    pub fn selected(&self) -> Option<&str> {
        self.shown.get(self.selected).map(String::as_str)
    }

    pub fn key(&mut self, key: KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('V') => return Outcome::Close,
            KeyCode::Up | KeyCode::Char('k') => {
                self.state.transition(TuiWidgetEvent::UpKey);
                self.selected = self.selected.saturating_sub(1);
                self.said = None;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.state.transition(TuiWidgetEvent::DownKey);
                if self.selected + 1 < self.shown.len() {
                    self.selected += 1;
                }
                self.said = None;
            }
            KeyCode::Char('+') | KeyCode::Right | KeyCode::Char('l') => self.step(more),
            KeyCode::Char('-') | KeyCode::Left | KeyCode::Char('h') => self.step(less),
            _ => {}
        }
        Outcome::Stay
    }

    fn step(&mut self, f: fn(LevelFilter) -> Option<LevelFilter>) {
        let Some(target) = self.selected().map(String::from) else {
            return;
        };
        let Some(level) = f(level_of(&target)) else {
            return;
        };
        self.said = Some(match set_level(&target, level) {
            Ok(()) => {
                tracing::info!("console log: {target} now at {}", level.as_str());
                format!("{target}: {}", level.as_str())
            }
            Err(e) => format!("{target}: not changed: {e}"),
        });
    }

    /// Draws the selector over `area`'s middle.
    pub fn draw(&mut self, f: &mut Frame, area: Rect) {
        self.shown = with_table(|t| t.levels.refresh());
        if self.selected >= self.shown.len() {
            self.selected = self.shown.len().max(1) - 1;
        }
        let widest = self
            .shown
            .iter()
            .map(|t| t.chars().count())
            .max()
            .unwrap_or(0);
        let width = ((widest + 8).max(56) as u16).min(area.width.saturating_sub(2));
        let height = ((self.shown.len() + 2) as u16).min(area.height.saturating_sub(2));
        if width < 10 || height < 3 {
            return;
        }
        let rect = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        let top = match (&self.said, self.selected()) {
            (Some(said), _) => format!(" console log levels · {said} "),
            (None, Some(t)) => format!(" console log levels · › {t} "),
            (None, None) => " console log levels ".to_string(),
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(top)
            .title_bottom(" ↑↓ target · + more · - less · EWIDT: kept · Esc ");
        f.render_widget(Clear, rect);
        f.render_widget(
            TuiLoggerTargetWidget::default()
                .block(block)
                .style_show(Style::default())
                .style_hide(Style::default())
                .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
                .state(&self.state),
            rect,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_level_replaces_the_base_directive_of_that_target_and_covers_those_under_it() {
        let mut l = Levels::new("info,iceoryx2=error");
        assert_eq!(l.level_of("switchboard::fleet::hosts"), LevelFilter::Info);
        assert_eq!(
            l.level_of("iceoryx2_bb_log::logger::tracing"),
            LevelFilter::Error
        );
        let d = l.set("iceoryx2", LevelFilter::Debug);
        assert_eq!(d, "info,iceoryx2=debug");
        assert!(tracing_subscriber::EnvFilter::try_new(&d).is_ok());
        assert_eq!(l.level_of(ICEORYX2_TARGET), LevelFilter::Debug);
        l.set("switchboard::engine", LevelFilter::Warn);
        assert_eq!(
            l.level_of("switchboard::engine::io::ipc"),
            LevelFilter::Warn
        );
        assert_eq!(l.level_of("switchboard::fleet::hosts"), LevelFilter::Info);
        // The longest target wins, whichever was written first.
        l.set("switchboard::engine::io::ipc", LevelFilter::Trace);
        assert_eq!(
            l.level_of("switchboard::engine::io::ipc"),
            LevelFilter::Trace
        );
        assert_eq!(
            l.level_of("switchboard::engine::mailbox"),
            LevelFilter::Warn
        );
        assert_eq!(
            l.directives(),
            "info,iceoryx2=debug,switchboard::engine=warn,switchboard::engine::io::ipc=trace"
        );
    }

    #[test]
    fn without_a_bare_level_a_target_keeps_errors_only() {
        let l = Levels::new("switchboard=debug");
        assert_eq!(l.level_of("switchboard::cli"), LevelFilter::Debug);
        assert_eq!(l.level_of("tokio"), LevelFilter::Error);
    }

    #[test]
    fn more_and_less_stop_at_the_ends() {
        assert_eq!(more(LevelFilter::Info), Some(LevelFilter::Debug));
        assert_eq!(more(LevelFilter::Trace), None);
        assert_eq!(less(LevelFilter::Error), Some(LevelFilter::Off));
        assert_eq!(less(LevelFilter::Off), None);
    }

    /// The selection kept here is the one tui-logger's widget highlights: drawn into a buffer,
    /// the reversed row is the target `+` would change.
    #[test]
    fn the_highlighted_row_is_the_selected_target() {
        let backend = ratatui::backend::TestBackend::new(80, 30);
        let mut term = ratatui::Terminal::new(backend).expect("terminal");
        let mut sel = Selector::open();
        term.draw(|f| sel.draw(f, f.area())).expect("draw");
        for _ in 0..3 {
            sel.key(KeyEvent::from(KeyCode::Down));
        }
        sel.key(KeyEvent::from(KeyCode::Up));
        term.draw(|f| sel.draw(f, f.area())).expect("draw");
        let want = sel.selected().expect("a target").to_string();
        let buf = term.backend().buffer().clone();
        let row = (0..buf.area.height)
            .find(|&y| {
                (0..buf.area.width).any(|x| {
                    let c = &buf[(x, y)];
                    c.modifier.contains(Modifier::REVERSED) && c.symbol() != " "
                })
            })
            .expect("a highlighted row");
        let text: String = (0..buf.area.width)
            .map(|x| buf[(x, row)].symbol().to_string())
            .collect();
        assert!(
            text.contains(&format!(":{want} ")),
            "row {text:?} is not {want}"
        );
        assert_eq!(want, sel.shown[2], "three down, one up: the third target");
    }
}
