//! The zoomed pane's feed section: the last minute's events/s as a sparkline and the symbols,
//! stalest first.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::View;
use crate::model::format::short_rate;
use crate::model::phase::Phase;
use crate::model::view::FeedView;

/// Rows of the zoomed pane's feed section: a sparkline of the last minute and up to this many
/// symbols.
const SPARK_ROWS: u16 = 3;
const MAX_SYMBOL_ROWS: usize = 8;

/// The zoomed pane's feed: a 60 s sparkline of events/s and a table of symbols (rate, age),
/// stalest first (ages as of `as_of`, moved on to the frame's time). Returns what is left of
/// `area` for the log.
pub(super) fn draw_feed(f: &mut Frame, v: &View, feed: &FeedView, as_of: f64, area: Rect) -> Rect {
    let t = &v.theme;
    let symbols = feed.symbols.len().min(MAX_SYMBOL_ROWS) as u16;
    let need = SPARK_ROWS + 1 + symbols + u16::from(symbols > 0);
    // The log keeps at least a few rows.
    if area.height < need + 4 || area.width < 20 {
        return area;
    }
    let dt = (v.now - as_of).max(0.0);
    let peak = feed.history.iter().copied().max().unwrap_or(0);
    let caption = format!(
        "events/s, last {} s (peak {}) · now {}{} · {}/s · total {}",
        feed.history.len(),
        short_rate(peak as f64),
        if feed.lower_bound { "≥" } else { "" },
        short_rate(feed.events_per_s),
        short_bytes(feed.bytes_per_s),
        feed.total
    );
    f.render_widget(
        Paragraph::new(Line::from(Span::styled(caption, t.dim()))),
        Rect::new(area.x, area.y, area.width, 1),
    );
    let data: Vec<u64> = feed.history.iter().map(|n| u64::from(*n)).collect();
    // Newest on the right edge: pad the left when the history is shorter than the width.
    let width = area.width as usize;
    let mut padded = vec![0u64; width.saturating_sub(data.len())];
    padded.extend(data.iter().skip(data.len().saturating_sub(width)));
    f.render_widget(
        Sparkline::default()
            .data(&padded)
            .style(t.phase(Phase::Ready)),
        Rect::new(area.x, area.y + 1, area.width, SPARK_ROWS),
    );
    let mut y = area.y + 1 + SPARK_ROWS;
    if symbols > 0 {
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                format!("{:<16} {:>9} {:>9}", "SYMBOL", "EVENTS/S", "LAST"),
                t.dim(),
            ))),
            Rect::new(area.x, y, area.width, 1),
        );
        y += 1;
        let mut rows: Vec<(&String, f64, f64)> = feed
            .symbols
            .iter()
            .map(|(k, s)| (k, s.events_per_s, s.last_event_age_s + dt))
            .collect();
        rows.sort_by(|a, b| b.2.total_cmp(&a.2));
        for (sym, rate, age) in rows.into_iter().take(MAX_SYMBOL_ROWS) {
            let style = if rate == 0.0 && age >= 2.0 {
                t.warn()
            } else {
                Style::default()
            };
            f.render_widget(
                Paragraph::new(Line::from(Span::styled(
                    format!("{sym:<16} {:>9} {:>8.1}s", short_rate(rate), age),
                    style,
                ))),
                Rect::new(area.x, y, area.width, 1),
            );
            y += 1;
        }
    }
    Rect::new(area.x, y, area.width, area.height - (y - area.y))
}

/// `512 B`, `12.3 kB`, `4.5 MB`.
fn short_bytes(n: f64) -> String {
    match n {
        n if n < 1e3 => format!("{n:.0} B"),
        n if n < 1e6 => format!("{:.1} kB", n / 1e3),
        n => format!("{:.1} MB", n / 1e6),
    }
}
