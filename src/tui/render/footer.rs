//! The footer: the prompt being typed (`:` jump, `&` filter, `/` search), a notice, or the
//! keys that act on what is on screen, as many as fit.

use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::View;
use crate::tui::app::{App, Dialog};
use crate::tui::keymap::FOOTER;
use crate::tui::layout::Screen;

pub(super) fn draw_footer(f: &mut Frame, v: &View, screen: &Screen) {
    let t = &v.theme;
    let app = v.app;
    let line = if let Some(typed) = &app.jump {
        // The candidates follow the prompt, so Tab's completion is never a surprise.
        let q = typed.to_lowercase();
        let candidates: Vec<String> = v
            .snaps
            .iter()
            .map(|s| s.id().to_string())
            .filter(|n| n.to_lowercase().contains(&q))
            .take(6)
            .collect();
        Line::from(vec![
            Span::styled(":", t.key()),
            Span::raw(typed.clone()),
            Span::styled("█", t.dim()),
            Span::styled(
                format!(
                    "  Tab completes · Enter jumps · Esc cancels   {}",
                    candidates.join(" ")
                ),
                t.dim(),
            ),
        ])
    } else if let Some(typed) = &app.filter_input {
        Line::from(vec![
            Span::styled("&", t.key()),
            Span::raw(typed.clone()),
            Span::styled("█", t.dim()),
            Span::styled(
                if app.filter_rows {
                    "  only rows whose name, phase, health or detail contain this · Enter applies (empty: all rows) · Esc cancels"
                } else {
                    "  only lines containing this · Enter applies (empty: all lines) · Esc cancels"
                },
                t.dim(),
            ),
        ])
    } else if app.search.editing {
        Line::from(vec![
            Span::styled("/", t.key()),
            Span::raw(app.search.query.clone()),
            Span::styled("█", t.dim()),
            Span::styled("  Enter search · Esc cancel", t.dim()),
        ])
    } else if let Some(n) = &app.notice {
        Line::from(Span::styled(n.clone(), t.warn()))
    } else if app.quitting {
        Line::from(Span::styled(
            "stopping all connectors, then quitting…",
            t.warn(),
        ))
    } else {
        let mut spans = Vec::new();
        if !app.search.query.is_empty() {
            spans.push(Span::styled(format!("/{} ", app.search.query), t.key()));
            spans.push(Span::styled("n/N next/prev · Esc clear │ ", t.dim()));
        }
        // `? help` and `q quit` always show; the others while they fit, in order.
        let width = screen.footer.width as usize;
        let used: usize = spans.iter().map(|s| s.width()).sum();
        let cost = |(k, what): &(&str, &str)| k.chars().count() + what.chars().count() + 3;
        let (middle, tail) = footer_keys(app, screen.table.is_some() && !app.merged);
        let (middle, tail) = (middle.as_slice(), tail.as_slice());
        let mut room = width.saturating_sub(used + tail.iter().map(cost).sum::<usize>());
        // A viewer acts on nothing: its footer offers only what it can do.
        let acting = ["s", "x", "r", "K", "b", "a/X", "R"];
        let shown = middle
            .iter()
            .filter(|(k, _)| v.viewing.is_none() || !acting.contains(k))
            .take_while(|e| {
                let c = cost(e);
                let fits = c <= room;
                room = room.saturating_sub(c);
                fits
            });
        for (k, what) in shown.chain(tail.iter()) {
            spans.push(Span::styled(*k, t.key()));
            spans.push(Span::styled(format!(" {what}  "), t.dim()));
        }
        Line::from(spans)
    };
    f.render_widget(Paragraph::new(line), screen.footer);
}

/// A key and what it does, as the footer shows it.
pub type FooterKey = (&'static str, &'static str);

/// The footer's keys for what is on screen: (most used first, always shown). A popup or a
/// dialog shows the keys that answer it; zoomed, the merged log and the table offer their own.
pub fn footer_keys(app: &App, on_table: bool) -> (Vec<FooterKey>, Vec<FooterKey>) {
    let help_quit = vec![("?", "help"), ("q", "quit")];
    match &app.dialog {
        Some(Dialog::Quit { .. }) => {
            return (
                vec![("d", "detach"), ("s", "stop all and quit")],
                vec![("Esc", "cancel")],
            )
        }
        Some(Dialog::Confirm { .. }) => return (vec![("y", "yes")], vec![("n Esc", "no")]),
        Some(Dialog::TakeOver { .. }) => {
            return (vec![("y", "take over")], vec![("n Esc", "keep watching")])
        }
        None => {}
    }
    if app.help || app.detail {
        return (vec![("↑↓ PgUp PgDn", "scroll")], vec![("Esc", "close")]);
    }
    if app.merged {
        let keys = vec![
            ("m", "back"),
            ("e", "errors"),
            ("/", "search"),
            ("&", "filter"),
            ("Y", "copy"),
            ("L", "log"),
        ];
        return (keys, help_quit);
    }
    let mut keys: Vec<(&str, &str)> = Vec::with_capacity(FOOTER.len() + 3);
    for &(k, what) in &FOOTER[..FOOTER.len().saturating_sub(2)] {
        match k {
            "z" if app.zoom => keys.push(("z Esc", "unzoom")),
            "t" if app.zoom => {}
            "t" if app.table => keys.push(("t", "tiles")),
            // Shown because tiles do not fit: `t` would change nothing.
            "t" if on_table => {}
            _ => keys.push((k, what)),
        }
        // The table's own keys come right after the connector keys.
        if k == "z" && on_table && !app.zoom {
            keys.extend([("&", "filter rows"), ("O", "sort"), ("!", "unhealthy")]);
        }
    }
    (keys, help_quit)
}
