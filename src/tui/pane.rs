//! How one log is viewed — a connector's pane or the console's own log: scroll position, wrap,
//! filters, search hit — and the operations on it. Pure over a scrollback: no terminal here.

use crate::engine::io::logs::{strip_ansi, Scrollback, SharedScrollback};

/// How one log is viewed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneView {
    /// Lines between the newest line and the bottom of the view; 0 follows new lines.
    pub offset: u64,
    /// `appended` of the scrollback when `offset` was last adjusted.
    pub seen: u64,
    pub wrap: bool,
    /// Only WARN, ERROR and panic lines are shown (`e`).
    pub errors_only: bool,
    /// Lines with an absolute index below this are hidden (`c` clear).
    pub hidden_before: u64,
    /// Absolute index of the current search hit.
    pub hit: Option<u64>,
    /// Only lines containing this (lowercase; `&`); empty shows every line.
    pub filter: String,
}

/// Whether a log line is shown: `errors_only` keeps WARN, ERROR and panic lines (and the line
/// after a panic's, its message); a non-empty `filter` (lowercase) keeps lines that contain it.
pub fn line_shown(raw: &str, prev: Option<&str>, errors_only: bool, filter: &str) -> bool {
    use crate::machine::levels::{level_of, Level};
    if errors_only
        && !level_of(raw).is_notable()
        && !prev.is_some_and(|p| level_of(p) == Level::Panic)
    {
        return false;
    }
    filter.is_empty() || strip_ansi(raw).to_lowercase().contains(filter)
}

fn lock(log: &SharedScrollback) -> std::sync::MutexGuard<'_, Scrollback> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

/// (lines ever appended, lines kept).
fn counts(log: &SharedScrollback) -> (u64, usize) {
    let g = lock(log);
    (g.appended(), g.lines().len())
}

impl PaneView {
    /// Whether `raw` (after `prev`) is shown in this view.
    pub fn shows(&self, raw: &str, prev: Option<&str>) -> bool {
        line_shown(raw, prev, self.errors_only, &self.filter)
    }

    /// Keeps a scrolled view, or one showing a search hit, still while new lines arrive. Call
    /// before drawing.
    pub fn settle(&mut self, log: &SharedScrollback) {
        let (appended, len) = counts(log);
        if self.offset > 0 || self.hit.is_some() {
            self.offset = (self.offset + appended.saturating_sub(self.seen))
                .min(len.saturating_sub(1) as u64);
        }
        self.seen = appended;
    }

    /// `k` lines further back, at most to the first line shown.
    pub fn scroll_up(&mut self, log: &SharedScrollback, k: u64) {
        let (appended, len) = counts(log);
        let visible = appended.saturating_sub(self.hidden_before.max(appended - len as u64));
        self.offset = (self.offset + k).min(visible.saturating_sub(1));
    }

    pub fn scroll_down(&mut self, k: u64) {
        self.offset = self.offset.saturating_sub(k);
    }

    /// Back to following new lines.
    pub fn to_bottom(&mut self) {
        self.offset = 0;
        self.hit = None;
    }

    /// Hides every line so far (`c`); the log file keeps them.
    pub fn clear(&mut self, log: &SharedScrollback) {
        self.hidden_before = counts(log).0;
        self.offset = 0;
        self.hit = None;
    }

    /// Shows only lines containing `filter` (any case); empty: every line.
    pub fn set_filter(&mut self, filter: &str) {
        self.filter = filter.to_lowercase();
        self.offset = 0;
        self.hit = None;
    }

    /// What `Y` copies: the search hit's line, else the `rows` lines on screen (ANSI removed).
    pub fn copy_lines(&self, log: &SharedScrollback, rows: usize) -> Vec<String> {
        let g = lock(log);
        let appended = g.appended();
        let first = appended - g.lines().len() as u64;
        let line = |abs: u64| crate::machine::redact::plain(&g.lines()[(abs - first) as usize]);
        if let Some(hit) = self.hit.filter(|h| *h >= first && *h < appended) {
            return vec![line(hit)];
        }
        let end = appended.saturating_sub(self.offset);
        let start = end
            .saturating_sub(rows as u64)
            .max(first)
            .max(self.hidden_before);
        (start..end).map(line).collect()
    }

    /// Moves to the next line containing `query` (lowercase) among the lines shown: `older`
    /// searches up (`n`), else down (`N`). The hit is placed `context` lines above the bottom,
    /// so what followed it is on screen too. Err says there is none.
    pub fn find(
        &mut self,
        log: &SharedScrollback,
        query: &str,
        older: bool,
        context: u64,
    ) -> Result<(), String> {
        if query.is_empty() {
            return Ok(());
        }
        let g = lock(log);
        let appended = g.appended();
        let first = appended - g.lines().len() as u64;
        let start = self.hit.unwrap_or(appended - self.offset);
        let matches = |abs: u64| {
            let at = (abs - first) as usize;
            let prev = at.checked_sub(1).map(|i| g.lines()[i].as_str());
            abs >= self.hidden_before
                && g.lines().get(at).is_some_and(|l| {
                    self.shows(l, prev) && strip_ansi(l).to_lowercase().contains(query)
                })
        };
        let found = if older {
            (first..start.min(appended)).rev().find(|a| matches(*a))
        } else {
            (start.saturating_add(1)..appended).find(|a| matches(*a))
        };
        match found {
            Some(abs) => {
                self.hit = Some(abs);
                self.offset = (appended - 1 - abs).saturating_sub(context);
                Ok(())
            }
            None => Err(format!(
                "no {} match for \"{query}\"",
                if older { "older" } else { "newer" }
            )),
        }
    }
}
