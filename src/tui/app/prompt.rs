//! The prompts typed in the footer: `:` jumps to a connector (Tab completes), `&` filters a
//! log's lines or the table's rows.

use super::App;
use crate::model::view::ConnectorView;
use crate::tui::keymap::Action;

impl App {
    /// A key while the `:` prompt is open.
    pub(super) fn type_jump(&mut self, action: Action, snaps: &[ConnectorView]) {
        let Some(typed) = self.jump.as_mut() else {
            return;
        };
        let n = snaps.len();
        let names: Vec<String> = snaps.iter().map(|s| s.id().to_string()).collect();
        let matching = |q: &str| -> Vec<usize> {
            let q = q.to_lowercase();
            let starts: Vec<usize> = (0..n)
                .filter(|i| names[*i].to_lowercase().starts_with(&q))
                .collect();
            if starts.is_empty() {
                (0..n)
                    .filter(|i| names[*i].to_lowercase().contains(&q))
                    .collect()
            } else {
                starts
            }
        };
        match action {
            Action::SearchChar(c) => typed.push(c),
            Action::SearchBackspace => {
                typed.pop();
            }
            Action::Complete => {
                let m = matching(typed);
                // The longest prefix the candidates share (a unique one: the whole name).
                if let Some(first) = m.first() {
                    let mut common = names[*first].clone();
                    for i in &m[1..] {
                        let shared = common
                            .chars()
                            .zip(names[*i].chars())
                            .take_while(|(a, b)| a == b)
                            .count();
                        common = common.chars().take(shared).collect();
                    }
                    if common.len() >= typed.len() {
                        *typed = common;
                    }
                }
            }
            Action::SearchSubmit => {
                let m = matching(typed);
                match m.first() {
                    Some(i) => self.focus = *i,
                    None => self.notice = Some(format!("no connector matches '{typed}'")),
                }
                self.jump = None;
            }
            Action::Cancel | Action::Quit => self.jump = None,
            _ => {}
        }
    }

    /// A key while the `&` prompt is open; `focus` is the focused connector.
    pub(super) fn type_filter(&mut self, action: Action, snaps: &[ConnectorView], focus: usize) {
        let Some(typed) = self.filter_input.as_mut() else {
            return;
        };
        match action {
            Action::SearchChar(c) => typed.push(c),
            Action::SearchBackspace => {
                typed.pop();
            }
            Action::SearchSubmit if self.filter_rows => {
                let typed = typed.clone();
                self.filter_input = None;
                self.set_row_filter(&typed, snaps);
            }
            Action::SearchSubmit => {
                let filter = typed.to_lowercase();
                self.notice = Some(if filter.is_empty() {
                    "filter off: every line is shown".into()
                } else {
                    format!("showing only lines with \"{typed}\" (& then Enter: all lines)")
                });
                if self.on_merged() {
                    self.merged_view.filter = filter;
                    self.merged_view.to_bottom();
                } else {
                    self.target(focus).0.set_filter(&filter);
                }
                self.filter_input = None;
            }
            Action::Cancel | Action::Quit => self.filter_input = None,
            _ => {}
        }
    }
}
