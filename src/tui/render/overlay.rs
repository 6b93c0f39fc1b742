//! The overlays over the panes: help (`?`) and one connector's detail (`i`), scrolled when
//! they do not fit.

use ratatui::layout::{Alignment, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::View;
use crate::model::format::short_duration;
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::view::{secs_duration, ConnectorView};
use crate::tui::keymap::HELP;

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// `i`: everything known about one connector, wrapped: where it stands and why, its last exit,
/// its last error, and its recent transitions with who caused each.
pub(super) fn draw_detail(f: &mut Frame, v: &View, s: &ConnectorView, area: Rect) {
    let t = &v.theme;
    let label = |k: &str| Span::styled(format!("{k:<12}"), t.dim().add_modifier(Modifier::BOLD));
    let mut lines: Vec<Line> = Vec::new();
    let mut state = vec![
        label("phase"),
        Span::styled(s.phase.as_str().to_uppercase(), t.phase(s.phase)),
    ];
    if let Some(pid) = s.pid {
        state.push(Span::raw(format!("  PID {pid}")));
    }
    if let Some(up) = s.uptime_at(v.now) {
        state.push(Span::raw(format!(
            "  up {}",
            short_duration(secs_duration(up))
        )));
    }
    state.push(Span::raw(format!(
        "  ↻{}  attempt {}/{}  bots {}",
        s.restarts, s.attempt, s.max_attempts, s.bots
    )));
    lines.push(Line::from(state));
    lines.push(Line::from(vec![
        label("detail"),
        Span::raw(s.detail.clone()),
    ]));
    if let Some(cl) = &s.crash_loop {
        lines.push(Line::from(vec![
            label("verdict"),
            Span::styled(
                format!("{} until it stays up for uptime_reset", cl.describe()),
                t.phase(Phase::Failed),
            ),
        ]));
    }
    if let Some(h) = s.health {
        let since = match h {
            FeedHealth::Stale => s.stale_since.as_deref(),
            FeedHealth::Erroring => s.erroring_since.as_deref(),
            FeedHealth::Ok | FeedHealth::Quiet => None,
        };
        let mut spans = vec![label("feed")];
        match since {
            // `STALE since 23:05:26 (31 s)`: the wall-clock time and how long ago.
            Some(at) => spans.push(Span::styled(
                format!(
                    "{} since {}{}",
                    h.as_str().to_uppercase(),
                    at.get(11..19).unwrap_or(at),
                    age_of(at, v.now)
                        .map(|a| match a as u64 {
                            secs @ 0..=119 => format!(" ({secs} s)"),
                            secs => format!(" ({} min)", secs / 60),
                        })
                        .unwrap_or_default()
                ),
                t.warn(),
            )),
            None => spans.push(Span::raw(h.as_str().to_string())),
        }
        if let Some(why) = &s.health_detail {
            spans.push(Span::raw(format!(": {why}")));
        }
        lines.push(Line::from(spans));
    }
    if let Some(r) = &s.registration {
        lines.push(Line::from(vec![
            label("register"),
            Span::raw(format!("{}: {}", r.state.as_str(), r.detail)),
        ]));
    }
    if let Some(d) = &s.decision {
        let what = match d.intent {
            crate::model::view::Intent::Run => "run it",
            crate::model::view::Intent::Stop => "keep it stopped",
            crate::model::view::Intent::GaveUp => {
                "the restart budget gave up: failed until someone acts"
            }
        };
        lines.push(Line::from(vec![
            label("decided"),
            Span::raw(format!("{what} ({}, {})", d.by.as_str(), d.ts)),
        ]));
    }
    if s.restart_needed {
        lines.push(Line::from(vec![
            label("manifest"),
            Span::styled("changed: restart it to use the new entry", t.warn()),
        ]));
    }
    if let Some(e) = &s.last_exit {
        let when = s
            .last_exit_at
            .clone()
            .unwrap_or_else(|| "when unknown".into());
        lines.push(Line::from(vec![
            label("last exit"),
            Span::raw(format!("{e} at {when}")),
        ]));
    }
    if let Some(e) = &s.last_error {
        lines.push(Line::from(vec![
            label("last error"),
            Span::raw(format!("{} {}", e.ts, e.line)),
        ]));
    }
    lines.push(Line::from(vec![
        label("log"),
        Span::raw(format!(
            "{} errors, {} warnings in the last minute",
            s.errors_1m, s.warns_1m
        )),
    ]));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        "history (newest last; by whom)",
        t.dim().add_modifier(Modifier::BOLD),
    )));
    if s.history.is_empty() {
        lines.push(Line::from(Span::styled("  nothing yet", t.dim())));
    }
    for h in &s.history {
        let time = h.ts.get(11..19).unwrap_or(&h.ts).to_string();
        lines.push(Line::from(vec![
            Span::styled(format!("  {time} "), t.dim()),
            Span::styled(format!("{:<9}", h.phase.as_str()), t.phase(h.phase)),
            Span::styled(format!("{:<15}", h.by.as_str()), t.key()),
            Span::raw(h.detail.clone()),
        ]));
    }
    let w = area.width.saturating_sub(4).min(110);
    let h = area.height.saturating_sub(2).min(lines.len() as u16 + 10);
    let rect = centered(area, w, h);
    f.render_widget(Clear, rect);
    // Rows once wrapped (word wrapping may take a few more; the last rows then need a scroll).
    let inner_w = rect.width.saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let para = Paragraph::new(lines).wrap(Wrap { trim: false });
    let (scroll, more) = overlay_scroll(v.app.overlay_scroll, rows, rect.height);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focused())
        .title(format!(" {} (Esc or i to close) ", s.id()))
        .title_bottom(Line::from(more).alignment(Alignment::Right));
    f.render_widget(para.scroll((scroll, 0)).block(block), rect);
}

/// Seconds from RFC 3339 time `at` to wall-clock time `now` (None if `at` cannot be read).
fn age_of(at: &str, now: f64) -> Option<f64> {
    let t = at.parse::<jiff::Timestamp>().ok()?;
    Some((now - t.as_millisecond() as f64 / 1000.0).max(0.0))
}

/// How far a popup of `rows` rows in a box `height` high (borders included) is scrolled, at
/// most to its last row, and what its bottom border says: which way there is more.
fn overlay_scroll(wanted: u16, rows: usize, height: u16) -> (u16, String) {
    let inner = height.saturating_sub(2) as usize;
    let max = rows.saturating_sub(inner) as u16;
    let scroll = wanted.min(max);
    let more = match (scroll > 0, scroll < max) {
        (false, false) => String::new(),
        (false, true) => " ↓ more (↑↓ PgUp PgDn) ".into(),
        (true, true) => " ↑↓ more ".into(),
        (true, false) => " ↑ more ".into(),
    };
    (scroll, more)
}

pub(super) fn draw_help(f: &mut Frame, v: &View, area: Rect) {
    let t = &v.theme;
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>18}  "), t.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    let legend: Vec<Span> = [
        Phase::Ready,
        Phase::Starting,
        Phase::Backoff,
        Phase::Building,
        Phase::Stopping,
        Phase::Exited,
        Phase::Failed,
        Phase::Stopped,
    ]
    .iter()
    .flat_map(|p| [Span::styled(p.as_str(), t.phase(*p)), Span::raw(" ")])
    .collect();
    lines.push(Line::from(legend));
    lines.push(Line::from(Span::styled(
        "  green: up · yellow: on its way · red: exited/failed · grey: at rest",
        t.dim(),
    )));
    lines.push(Line::from(vec![
        Span::styled("feed ", t.dim()),
        Span::styled("1.2k ev/s", t.phase(Phase::Ready)),
        Span::styled(" · quiet: no bot · ", t.dim()),
        Span::styled("STALE 23s", t.warn()),
        Span::styled(": no data · ", t.dim()),
        Span::styled("E 12/m", t.warn()),
        Span::styled(": errors", t.dim()),
    ]));
    let h = lines.len() as u16 + 2;
    let rect = centered(area, 72, h);
    let (scroll, more) = overlay_scroll(v.app.overlay_scroll, lines.len(), rect.height);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).scroll((scroll, 0)).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.focused())
                .title(" keys (Esc or ? to close) ")
                .title_bottom(Line::from(more).alignment(Alignment::Right)),
        ),
        rect,
    );
}
