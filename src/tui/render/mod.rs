//! Drawing: a function of the view state, the engine's snapshots and the log buffers. It changes
//! nothing, so screens can be snapshot-tested in a `TestBackend`.
//!
//! [`draw`] lays the frame out and hands each part to its widget: a connector's pane
//! (`pane.rs`, its title in `title.rs`, the zoomed feed in `feed.rs`), the lines of a log as
//! panes show them (`log_lines.rs`), the merged log (`merged.rs`), the fleet table
//! (`table.rs`), the status bar (`status.rs`), the footer with its prompts (`footer.rs`), the
//! help and detail overlays (`overlay.rs`) and the y/n dialogs (`dialog.rs`).

mod dialog;
mod feed;
mod footer;
mod log_lines;
mod merged;
mod overlay;
mod pane;
mod status;
mod table;
mod title;

use ratatui::Frame;

use super::app::App;
use super::layout;
use super::theme::Theme;
use crate::model::view::{secs_duration, ConnectorView, HostView};

pub use footer::{footer_keys, FooterKey};
pub use log_lines::retime;
pub use status::status_click;

/// Everything a frame shows.
pub struct View<'a> {
    pub app: &'a App,
    pub snaps: &'a [ConnectorView],
    /// Wall-clock time of the frame (seconds since the Unix epoch): clocks in the views are
    /// moved on to it.
    pub now: f64,
    pub theme: Theme,
    /// Links to other hosts (their connectors' panes say when a link is down).
    pub hosts: &'a [HostView],
    /// Set when this console is a read-only viewer of another.
    pub viewing: Option<&'a crate::console::Viewing>,
}

pub use crate::model::format::{short_duration, short_rate};

/// Draws one frame.
pub fn draw(f: &mut Frame, v: &View) {
    let area = f.area();
    let screen = layout::screen_with(
        area,
        v.snaps.len(),
        v.app.focus,
        v.app.zoom,
        v.app.console_log,
        v.app.table,
    );
    if v.app.merged && !v.snaps.is_empty() {
        // The whole main area (as a zoomed pane would have it) is the merged log.
        let main = layout::screen(area, v.snaps.len(), v.app.focus, true, v.app.console_log);
        if let Some((_, rect)) = main.panes.first() {
            merged::draw_merged(f, v, *rect);
        }
    } else {
        for (idx, rect) in &screen.panes {
            if let (Some(s), true) = (v.snaps.get(*idx), *idx < v.app.panes.len()) {
                pane::draw_pane(f, v, *idx, s, *rect);
            }
        }
    }
    if !v.app.merged {
        if let Some(table) = screen.table {
            table::draw_table(f, v, table);
        }
    }
    if let Some(c) = screen.console {
        pane::draw_console(f, v, c);
    }
    footer::draw_footer(f, v, &screen);
    status::draw_status_bar(f, v, screen.status);
    if v.app.help {
        overlay::draw_help(f, v, area);
    } else if v.app.detail {
        if let Some(s) = v.snaps.get(v.app.focus) {
            overlay::draw_detail(f, v, s, area);
        }
    }
    if let Some(d) = &v.app.dialog {
        dialog::draw_dialog(f, v, d, area);
    }
}

/// An uptime as pane titles and the table show it: seconds for the first 10 s (a fresh start
/// or a restart is seen at once), then in steps of 10 s (`up 20s` from 20 to 29 s) until a
/// minute, then minutes (hours and minutes from an hour). The detail view (`d`) gives the
/// seconds. Coarse so that an idle screen of young connectors is redrawn a few times in their
/// first minute instead of every second (#24).
pub fn shown_uptime(up: f64) -> String {
    let s = secs_duration(up).as_secs();
    match s {
        10..=59 => format!("{}s", s / 10 * 10),
        _ => short_duration(secs_duration(up)),
    }
}

/// Seconds from uptime `up` until [`shown_uptime`] shows something else.
pub fn shown_uptime_changes_in(up: f64) -> f64 {
    let up = if up.is_finite() { up.max(0.0) } else { 0.0 };
    let step = if up < 10.0 {
        1.0
    } else if up < 60.0 {
        10.0
    } else {
        60.0
    };
    ((up / step).floor() + 1.0) * step - up
}

/// How long after the first uptime text turns the screen waits for others turning with it:
/// connectors started together turn within milliseconds of each other, and one frame then shows
/// them all (two frames 35 ms apart for 8 connectors started at once, before).
pub const UPTIMES_TOGETHER: f64 = 0.1;

/// Seconds until the uptimes in `turns` (each one's [`shown_uptime_changes_in`]) should be
/// redrawn: the first turn, or the last of those within [`UPTIMES_TOGETHER`] of it. `cap` when
/// there are none (or none sooner).
pub fn uptimes_turn_in(turns: impl Iterator<Item = f64> + Clone, cap: f64) -> f64 {
    let first = turns.clone().fold(cap, f64::min);
    turns
        .filter(|t| *t <= first + UPTIMES_TOGETHER)
        .fold(first, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_turning_together_are_drawn_in_one_frame() {
        let at = |ts: &[f64]| uptimes_turn_in(ts.iter().copied(), 60.0);
        assert_eq!(at(&[]), 60.0);
        assert_eq!(at(&[0.50, 0.53, 0.58]), 0.58);
        // One far off is drawn on its own turn.
        assert_eq!(at(&[0.50, 0.53, 0.90]), 0.53);
        assert_eq!(at(&[70.0]), 60.0);
    }

    #[test]
    fn titles_show_young_uptimes_coarsely_and_say_when_they_change() {
        let shown = |u: f64| shown_uptime(u);
        assert_eq!(shown(0.4), "0s");
        assert_eq!(shown(9.9), "9s");
        assert_eq!(shown(10.0), "10s");
        assert_eq!(shown(29.9), "20s");
        assert_eq!(shown(59.9), "50s");
        assert_eq!(shown(61.0), "1m");
        assert_eq!(shown(3725.0), "1h02m");
        // The next change is when the text changes, and the text does change there.
        for u in [0.0, 3.5, 9.99, 10.0, 27.3, 59.5, 60.0, 125.0, 3599.0] {
            let d = shown_uptime_changes_in(u);
            assert!(d > 0.0, "{u}: {d}");
            assert_ne!(shown(u), shown(u + d + 1e-6), "{u} + {d}");
            assert_eq!(shown(u), shown(u + d - 1e-3), "{u} + {d}");
        }
        assert_eq!(shown_uptime_changes_in(27.0), 3.0);
        assert_eq!(shown_uptime_changes_in(65.0), 55.0);
    }
}
