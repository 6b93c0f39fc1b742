//! The keys that act on the merged log (`m`) while it has them: scroll, search, copy, errors.

use super::{App, UiCall};
use crate::model::view::ConnectorView;
use crate::tui::keymap::Action;

impl App {
    /// What `action` does on the merged log; None when it is not one of its keys.
    pub(super) fn merged_key(
        &mut self,
        action: Action,
        snaps: &[ConnectorView],
    ) -> Option<Vec<UiCall>> {
        match action {
            Action::ScrollUp(k) => self.merged_view.scroll_up(k as usize),
            Action::ScrollDown(k) => self.merged_view.scroll_down(k as usize),
            Action::ScrollTop => {
                // The top of the longest possible merge; the view clamps it.
                let total: usize = self
                    .logs
                    .iter()
                    .map(|l| l.lock().unwrap_or_else(|e| e.into_inner()).lines().len())
                    .sum();
                self.merged_view.offset = total;
            }
            Action::ScrollBottom => self.merged_view.to_bottom(),
            Action::SearchSubmit | Action::SearchNext | Action::SearchPrev => {
                if action == Action::SearchSubmit {
                    self.search.editing = false;
                    self.merged_view.hit = None;
                }
                let query = self.search.query.to_lowercase();
                let rows = self.visible_rows;
                let older = action != Action::SearchPrev;
                if let Err(none) = self
                    .merged_view
                    .find(&self.logs, &query, older, rows, rows / 2)
                {
                    self.notice = Some(none);
                }
            }
            Action::Copy => {
                let names: Vec<String> = snaps.iter().map(|s| s.id().to_string()).collect();
                let shown = self.merged_view.visible(&self.logs, self.visible_rows);
                let hit = self.merged_view.hit;
                let lines: Vec<String> = shown
                    .iter()
                    .filter(|l| hit.is_none_or(|h| h == (l.conn, l.abs)))
                    .map(|l| {
                        let name = names.get(l.conn).map(String::as_str).unwrap_or("?");
                        format!("{name} {}", crate::machine::redact::plain(&l.raw))
                    })
                    .collect();
                self.notice = Some(format!(
                    "copied {} line(s) to the clipboard (OSC 52; the terminal must allow it)",
                    lines.len()
                ));
                return Some(vec![UiCall::Copy(lines)]);
            }
            Action::Errors => {
                self.merged_view.errors_only = !self.merged_view.errors_only;
                self.merged_view.to_bottom();
            }
            _ => return None,
        }
        Some(vec![])
    }
}
