//! A log's lines as the panes and the merged log show them: the tail that fills a pane (scrolled,
//! filtered, wrapped), timestamps retimed, colours kept when they are safe to show, the search
//! query highlighted.

use ansi_to_tui::IntoText;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::View;
use crate::engine::io::logs::SharedScrollback;
use crate::tui::app::{PaneView, TimeMode};

pub(super) fn draw_log(
    f: &mut Frame,
    v: &View,
    pane: &PaneView,
    log: &SharedScrollback,
    area: Rect,
) {
    let query = v.app.search.query.to_lowercase();
    let mut lines: Vec<Line> = Vec::new();
    let mut rows = 0usize;
    // Columns the view is scrolled right to show a search hit past the pane's right edge.
    let mut hscroll = 0u16;
    {
        let g = log.lock().unwrap_or_else(|p| p.into_inner());
        let appended = g.appended();
        let first = appended - g.lines().len() as u64;
        let start = first.max(pane.hidden_before);
        // Scrolled near the top (`g`), the view starts at the first line and fills the pane
        // downwards instead of showing one line over a blank pane.
        let end = appended
            .saturating_sub(pane.offset)
            .max((start + area.height as u64).min(appended));
        let mut abs = end;
        // From the bottom up, until the area is full.
        while abs > start && rows < area.height as usize {
            abs -= 1;
            let raw = &g.lines()[(abs - first) as usize];
            // A panic's message is on the line after `panicked at`: it goes with it.
            let prev = (abs > first).then(|| g.lines()[(abs - 1 - first) as usize].as_str());
            if !pane.shows(raw, prev) {
                continue;
            }
            let line = styled_line(v, raw, &query, pane.hit == Some(abs));
            if pane.hit == Some(abs) && !pane.wrap {
                hscroll = hit_scroll(v, raw, &query, area.width);
            }
            rows += if pane.wrap {
                (line.width().max(1)).div_ceil(area.width as usize)
            } else {
                1
            };
            lines.push(line);
        }
    }
    lines.reverse();
    let mut p = Paragraph::new(Text::from(lines));
    if pane.wrap {
        p = p.wrap(Wrap { trim: false });
        // Keep the newest line at the bottom when wrapped rows overflow.
        let overflow = rows.saturating_sub(area.height as usize) as u16;
        p = p.scroll((overflow, 0));
    } else if hscroll > 0 {
        p = p.scroll((0, hscroll));
    }
    f.render_widget(p, area);
}

/// How far right a view `width` columns wide must scroll so the search hit on `raw` (its first
/// match of `query`) is in view with some of what follows it; 0 when it already is.
pub(super) fn hit_scroll(v: &View, raw: &str, query: &str, width: u16) -> u16 {
    if query.is_empty() {
        return 0;
    }
    let plain = crate::machine::redact::plain(&retime(raw, v.app.timestamps));
    let Some(start) = plain.to_lowercase().find(query) else {
        return 0;
    };
    let end = start + query.len();
    if !plain.is_char_boundary(end) {
        return 0;
    }
    // The hit's line starts with the `▶` marker.
    let end_col = 1 + Span::raw(&plain[..end]).width();
    let width = width as usize;
    if end_col <= width {
        return 0;
    }
    (end_col - width + width / 4).min(u16::MAX as usize) as u16
}

/// Lines with more escape sequences than this are shown as plain text: parsing an SGR flood on
/// every frame cost a whole core.
const MAX_STYLED_ESCAPES: usize = 256;

/// `raw` with its ANSI colours, if they can be shown faithfully: the styled text must say exactly
/// what a terminal would (ansi-to-tui lets some sequences' bytes through as text), and no
/// control character may reach a cell (it would move the real cursor or ring the bell).
fn ansi_line(raw: &str) -> Option<Line<'static>> {
    let escapes = memchr::memchr_iter(0x1b, raw.as_bytes()).count();
    if escapes > MAX_STYLED_ESCAPES {
        return None;
    }
    let line = raw.as_bytes().into_text().ok()?.lines.into_iter().next()?;
    let shown: usize = line.spans.iter().map(|s| s.content.chars().count()).sum();
    if shown != strip_ansi_escapes::strip_str(raw).chars().count() {
        return None;
    }
    let clean = line
        .spans
        .iter()
        .all(|s| !s.content.chars().any(char::is_control));
    clean.then_some(line)
}

/// `raw` with tracing's leading RFC 3339 timestamp shown as `mode` says (colours kept): in full,
/// as short local time (`16:04:30.456`), or not at all, so a narrow pane shows the message.
pub fn retime(raw: &str, mode: TimeMode) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if mode == TimeMode::Full {
        return Cow::Borrowed(raw);
    }
    // Skip a leading SGR sequence (tracing dims the timestamp).
    let start = if raw.starts_with("\u{1b}[") {
        match raw.find('m') {
            Some(m) if m < 12 => m + 1,
            _ => 0,
        }
    } else {
        0
    };
    let rest = &raw[start..];
    let b = rest.as_bytes();
    let looks_like =
        b.len() > 20 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T';
    if !looks_like {
        return Cow::Borrowed(raw);
    }
    let end = rest.find([' ', '\u{1b}']).unwrap_or(rest.len());
    let Ok(ts) = rest[..end].parse::<jiff::Timestamp>() else {
        return Cow::Borrowed(raw);
    };
    let shown = match mode {
        TimeMode::Short => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%H:%M:%S%.3f")
            .to_string(),
        TimeMode::Hidden | TimeMode::Full => String::new(),
    };
    let mut tail = &rest[end..];
    if shown.is_empty() {
        tail = tail.strip_prefix(' ').unwrap_or(tail);
    }
    Cow::Owned(format!("{}{shown}{tail}", &raw[..start]))
}

pub(super) fn styled_line(v: &View, raw: &str, query: &str, is_hit: bool) -> Line<'static> {
    let t = &v.theme;
    let raw = &*retime(raw, v.app.timestamps);
    // Matched on the text as shown: a connector's colours may sit inside `seq=1`.
    let has_match = !query.is_empty()
        && crate::engine::io::logs::strip_ansi(raw)
            .to_lowercase()
            .contains(query);
    if !has_match && v.theme.color && raw.contains('\u{1b}') {
        if let Some(l) = ansi_line(raw) {
            return l;
        }
    }
    let plain = crate::machine::redact::plain(raw);
    if !has_match {
        return Line::from(plain);
    }
    // Highlight every occurrence (case-insensitive) on the plain text.
    let lower = plain.to_lowercase();
    let mut spans = Vec::new();
    if is_hit {
        spans.push(Span::styled("▶", t.matched()));
    }
    let mut pos = 0;
    while let Some(i) = lower[pos..].find(query) {
        let s = pos + i;
        let e = s + query.len();
        if !plain.is_char_boundary(s) || !plain.is_char_boundary(e) {
            break;
        }
        spans.push(Span::raw(plain[pos..s].to_string()));
        spans.push(Span::styled(plain[s..e].to_string(), t.matched()));
        pos = e;
    }
    spans.push(Span::raw(plain[pos..].to_string()));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lines_show_their_text_and_nothing_else() {
        // DCS: ansi-to-tui would show its bytes as text; a terminal shows "xy".
        assert!(ansi_line("x\u{1b}Pdcs\u{1b}\\y").is_none());
        // An SGR flood is not parsed at all.
        let flood = "\u{1b}[31mX".repeat(MAX_STYLED_ESCAPES + 1);
        assert!(ansi_line(&flood).is_none());
        // BEL and CR inside a coloured line never reach a cell.
        assert!(ansi_line("\u{1b}[31mred\u{7}\r\u{1b}[0m").is_none());
        // Ordinary colours are kept.
        let l = ansi_line("\u{1b}[32m INFO\u{1b}[0m ok").expect("styled");
        let text: String = l.spans.iter().map(|s| s.content.to_string()).collect();
        assert_eq!(text, " INFO ok");
        assert_eq!(
            crate::machine::redact::plain(&flood),
            "X".repeat(MAX_STYLED_ESCAPES + 1)
        );
    }
}
