//! The fleet table (`t`, or when tiles do not fit): one row per connector.

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::{shown_uptime, View};
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::row::{Column, TABLE_COLUMNS};
use crate::model::view::ConnectorView;
use crate::tui::layout;

/// The table view: one row per connector (NAME TYPE PHASE PID UPTIME RESTARTS BOTS CPU MEM FEED
/// LAST EXIT, and DETAIL in the room left), the focused one highlighted, scrolled to keep it in
/// view; `↑3 ↓4` on the border counts the rows above and below the window.
pub(super) fn draw_table(f: &mut Frame, v: &View, rect: Rect) {
    let t = &v.theme;
    // The border and the header take three rows.
    let visible = rect.height.saturating_sub(3) as usize;
    let order = v.app.order(v.snaps);
    let at = order.iter().position(|i| *i == v.app.focus).unwrap_or(0);
    let first = layout::table_first_row(at, visible);
    let above = first.min(order.len());
    let below = order.len().saturating_sub(first + visible);
    let mut marks = Vec::new();
    if above > 0 {
        marks.push(format!("↑{above}"));
    }
    if below > 0 {
        marks.push(format!("↓{below}"));
    }
    // A row filter says itself, and how many rows it keeps, first.
    let counted = if v.app.row_filter.is_empty() {
        format!("{} connectors", v.snaps.len())
    } else {
        format!("{} of {} connectors", order.len(), v.snaps.len())
    };
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.unfocused());
    if !v.app.row_filter.is_empty() {
        block = block.title(Line::from(vec![
            Span::raw(" "),
            Span::styled(format!("& {}", v.app.row_filter), t.key()),
            Span::styled(" (Esc clears) ", t.dim()),
        ]));
    }
    let mut block = block.title(format!(
        " {} {}· by {} (O) ",
        counted,
        // Shown because tiles do not fit: `t` would change nothing.
        if v.app.table {
            "(t: tiles) "
        } else {
            "(tiles would not fit here) "
        },
        v.app.sort.as_str(),
    ));
    if !marks.is_empty() {
        block = block.title_bottom(
            Line::styled(format!(" {} ", marks.join(" ")), t.warn()).alignment(Alignment::Right),
        );
    }
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    if inner.height == 0 {
        return;
    }
    // The cells of the one row formatter (`switchboard status` prints the same); the phase is
    // shouted here, with its crash loop, and an unhealthy feed's detail is marked.
    let cells = |s: &ConnectorView| -> [String; 12] {
        let row = s.row(v.now);
        TABLE_COLUMNS.map(|c| match c {
            Column::Phase => match &row.crash_loop {
                Some((restarts, _)) => {
                    format!("{} LOOP ↻{restarts}", row.phase.as_str().to_uppercase())
                }
                None => row.phase.as_str().to_uppercase(),
            },
            // Coarse, as in the titles, so that an idle table is not redrawn every second.
            Column::Uptime => row.uptime_s.map(shown_uptime).unwrap_or_else(|| "-".into()),
            Column::Detail if row.unhealthy() && row.health_detail.is_some() => {
                format!("⚠ {}", row.cell(c))
            }
            c => row.cell(c),
        })
    };
    // `↻` for the restarts, as in the titles.
    let head = TABLE_COLUMNS.map(|c| match c {
        Column::Restarts => "↻",
        c => c.header(),
    });
    const DETAIL: usize = 11;
    let rows: Vec<[String; 12]> = v.snaps.iter().map(cells).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    // DETAIL takes the room the others leave (when there is some), cut to fit.
    widths[DETAIL] = 0;
    // Narrow terminals drop columns, least needed first: the exchange type (the name usually
    // says it), last exit, memory, CPU, PID, uptime. NAME, PHASE, ↻, BOTS and FEED stay.
    for col in [1, 10, 8, 7, 3, 4] {
        let total: usize = widths.iter().filter(|w| **w > 0).map(|w| w + 2).sum();
        if total <= inner.width as usize {
            break;
        }
        widths[col] = 0;
    }
    let used: usize = widths.iter().filter(|w| **w > 0).map(|w| w + 2).sum();
    let room = (inner.width as usize).saturating_sub(used);
    if room >= 10 {
        widths[DETAIL] = room - 2;
    }
    let pad = |c: &str, w: usize| {
        if w == 0 {
            String::new()
        } else if c.chars().count() > w {
            let cut: String = c.chars().take(w - 1).collect();
            format!("{cut}…  ")
        } else {
            format!("{c:<w$}  ")
        }
    };
    let mut lines = vec![Line::from(
        head.iter()
            .zip(&widths)
            .map(|(h, w)| Span::styled(pad(h, *w), t.dim().add_modifier(Modifier::BOLD)))
            .collect::<Vec<_>>(),
    )];
    for &i in order.iter().skip(first).take(visible) {
        let (s, r) = (&v.snaps[i], &rows[i]);
        let focused = i == v.app.focus;
        let spans: Vec<Span> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(col, (c, w))| {
                let style = match col {
                    2 if s.crash_loop.is_some() => t.phase(Phase::Failed),
                    2 => t.phase(s.phase),
                    9 if s.health.is_some_and(FeedHealth::is_unhealthy) => t.warn(),
                    DETAIL if s.health.is_some_and(FeedHealth::is_unhealthy) => t.warn(),
                    DETAIL => t.dim(),
                    0 if focused => t.focused(),
                    _ => Style::default(),
                };
                Span::styled(pad(c, *w), style)
            })
            .collect();
        let line = Line::from(spans);
        lines.push(if focused {
            line.style(Style::default().add_modifier(Modifier::REVERSED))
        } else {
            line
        });
    }
    f.render_widget(Paragraph::new(lines), inner);
}
