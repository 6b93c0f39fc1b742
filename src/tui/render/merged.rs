//! `m`: the merged log, every connector's lines interleaved, each after its name.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::log_lines::{hit_scroll, styled_line};
use super::View;

/// Colours that tell connectors apart in the merged log.
const NAME_COLOURS: [ratatui::style::Color; 6] = [
    ratatui::style::Color::Cyan,
    ratatui::style::Color::Magenta,
    ratatui::style::Color::Yellow,
    ratatui::style::Color::Green,
    ratatui::style::Color::Blue,
    ratatui::style::Color::LightRed,
];

/// `m`: the last lines of every connector interleaved by when they were written (a line
/// without a timestamp, like a panic's message, stays after the line before it), each after
/// its connector's name in that connector's colour; `e` keeps WARN/ERROR/panic lines only and
/// the search query is highlighted.
pub(super) fn draw_merged(f: &mut Frame, v: &View, rect: Rect) {
    let t = &v.theme;
    let m = &v.app.merged_view;
    let mut marks = Vec::new();
    if m.offset > 0 {
        marks.push(format!("↑{}", m.offset));
    }
    if m.errors_only {
        marks.push("errors only".to_string());
    }
    if !m.filter.is_empty() {
        marks.push(format!("lines with \"{}\"", m.filter));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focused())
        .title(format!(
            " merged log of {} connectors{} (m: back) ",
            v.snaps.len(),
            if marks.is_empty() {
                String::new()
            } else {
                format!(", {}", marks.join(", "))
            }
        ));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let query = v.app.search.query.to_lowercase();
    let width = v
        .snaps
        .iter()
        .map(|s| s.id().to_string().chars().count())
        .max()
        .unwrap_or(0);
    // Columns scrolled right to show a search hit past the right edge (as a pane does).
    let mut hscroll = 0u16;
    let lines: Vec<Line> = m
        .visible(&v.app.logs, inner.height as usize)
        .iter()
        .map(|l| {
            let name = v
                .snaps
                .get(l.conn)
                .map(|s| s.id().to_string())
                .unwrap_or_default();
            let colour = if t.color {
                Style::default().fg(NAME_COLOURS[l.conn % NAME_COLOURS.len()])
            } else {
                Style::default()
            };
            let mut spans = vec![Span::styled(format!("{name:<width$} "), colour)];
            let is_hit = m.hit == Some((l.conn, l.abs));
            if is_hit {
                // The name column comes before the line: the line has that much less room.
                let room = inner.width.saturating_sub(width as u16 + 1);
                hscroll = hit_scroll(v, &l.raw, &query, room);
            }
            spans.extend(styled_line(v, &l.raw, &query, is_hit).spans);
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines).scroll((0, hscroll)), inner);
}
