//! Drawing: a function of the view state, the engine's snapshots and the log buffers. It changes
//! nothing, so screens can be snapshot-tested in a `TestBackend`.

use ansi_to_tui::IntoText;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Clear, Gauge, Paragraph, Sparkline, Wrap};
use ratatui::Frame;

use super::app::{App, Dialog, PaneView, TimeMode};
use super::keymap::{FOOTER, HELP};
use super::layout::{self, Screen};
use super::theme::Theme;
use crate::engine::io::logs::SharedScrollback;
use crate::machine::session::RegistrationState;
use crate::model::fleet::Counted;
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::row::{Column, TABLE_COLUMNS};
use crate::model::view::{secs_duration, ConnectorView, FeedView};
use crate::model::view::{HostView, LinkState};

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

pub use crate::model::format::short_duration;

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
            draw_merged(f, v, *rect);
        }
    } else {
        for (idx, rect) in &screen.panes {
            if let (Some(s), true) = (v.snaps.get(*idx), *idx < v.app.panes.len()) {
                draw_pane(f, v, *idx, s, *rect);
            }
        }
    }
    if !v.app.merged {
        if let Some(table) = screen.table {
            draw_table(f, v, table);
        }
    }
    if let Some(c) = screen.console {
        draw_console(f, v, c);
    }
    draw_footer(f, v, &screen);
    draw_status_bar(f, v, screen.status);
    if v.app.help {
        draw_help(f, v, area);
    } else if v.app.detail {
        if let Some(s) = v.snaps.get(v.app.focus) {
            draw_detail(f, v, s, area);
        }
    }
    if let Some(d) = &v.app.dialog {
        draw_dialog(f, v, d, area);
    }
}

pub use crate::model::format::short_rate;

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

/// The feed part of a ready pane's title: `STALE 23s` or `E 12/m` in the warning colour when
/// unhealthy, else the events/s (`≥` when samples were lost) or `quiet`.
fn feed_badge(v: &View, s: &ConnectorView) -> Option<Span<'static>> {
    let t = &v.theme;
    let health = s.health?;
    let feed = s.feed.as_ref();
    Some(match health {
        FeedHealth::Stale => {
            let age = feed
                .and_then(|f| stalest_age(f, s))
                .map(|a| {
                    let a = a + (v.now - s.as_of).max(0.0);
                    format!(" {}", short_duration(secs_duration(a)))
                })
                .unwrap_or_default();
            Span::styled(
                format!(" STALE{age}"),
                t.warn().add_modifier(Modifier::BOLD),
            )
        }
        FeedHealth::Erroring => {
            let n = s.errors_1m.max(feed.map(|f| f.errors_1m).unwrap_or(0));
            Span::styled(format!(" E {n}/m"), t.warn().add_modifier(Modifier::BOLD))
        }
        FeedHealth::Quiet => Span::styled(" quiet", t.dim()),
        FeedHealth::Ok => match feed {
            Some(f) => Span::styled(
                format!(
                    " {}{} ev/s",
                    if f.lower_bound { "≥" } else { "" },
                    short_rate(f.events_per_s)
                ),
                t.phase(Phase::Ready),
            ),
            None => Span::styled(" ok", t.dim()),
        },
    })
}

/// How long the stale part of the feed has been silent (the stalled symbol's age when one
/// symbol stalled, else the whole feed's), as of the view.
fn stalest_age(f: &FeedView, s: &ConnectorView) -> Option<f64> {
    s.stale_symbol
        .as_ref()
        .and_then(|stalled| f.symbols.iter().find(|(sym, _)| *sym == stalled))
        .map(|(_, x)| x.last_event_age_s)
        .or(f.last_event_age_s)
}

fn title<'a>(v: &View, s: &'a ConnectorView, focused: bool, width: u16) -> Line<'a> {
    let t = &v.theme;
    let name_style = if focused {
        t.focused()
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    };
    let mut spans = vec![
        Span::raw(" "),
        Span::styled(s.id().to_string(), name_style),
        Span::styled(format!(" {} ", s.type_label()), t.dim()),
        Span::styled(s.phase.as_str().to_uppercase(), t.phase(s.phase)),
    ];
    if s.degraded {
        spans.push(Span::styled(" DEGRADED", t.phase(Phase::Exited)));
    }
    // A crash loop is the verdict, between crashes too: never `READY … ok`.
    if let Some(cl) = &s.crash_loop {
        spans.push(Span::styled(
            format!(" {}", cl.describe()),
            t.phase(Phase::Failed).add_modifier(Modifier::BOLD),
        ));
    }
    // Whether data flows sits next to the phase: it is what must never be cut off.
    if s.phase == Phase::Ready {
        if let Some(badge) = feed_badge(v, s) {
            let unhealthy = s.health.is_some_and(FeedHealth::is_unhealthy);
            if s.crash_loop.is_none() || unhealthy {
                spans.push(badge);
            }
        }
    }
    if s.restart_needed {
        spans.push(Span::styled(" RESTART NEEDED", t.warn()));
    }
    // A remote connector whose link is down: what is shown is its last known state.
    if let Some(h) = s
        .host
        .as_ref()
        .and_then(|name| v.hosts.iter().find(|h| h.name == *name))
    {
        match &h.link {
            LinkState::Connected => {}
            LinkState::Connecting { since, .. } => spans.push(Span::styled(
                format!(" LINK… connecting for {:.0} s", (v.now - since).max(0.0)),
                t.warn(),
            )),
            LinkState::Reconnecting {
                in_s,
                attempt,
                max_attempts,
                ..
            } => spans.push(Span::styled(
                format!(
                    " LINK LOST: retry in {} ({attempt}/{max_attempts})",
                    crate::model::view::seconds_left(in_s - (v.now - h.as_of).max(0.0))
                ),
                t.warn(),
            )),
            LinkState::Failed { .. } => spans.push(Span::styled(
                " LINK FAILED (H retries)",
                t.phase(Phase::Failed),
            )),
        }
    }
    let pid_at = spans.len();
    if let Some(pid) = s.pid {
        spans.push(Span::styled(format!(" pid {pid}"), t.dim()));
    }
    let uptime = s.uptime_at(v.now);
    if let Some(up) = uptime {
        spans.push(Span::styled(format!(" up {}", shown_uptime(up)), t.dim()));
    }
    spans.push(Span::styled(format!(" ↻{}", s.restarts), t.dim()));
    // A bot's own "bots" would always be 0: its title names its connectors instead.
    if s.role == crate::model::view::Role::Connector {
        // Its managed bots among those attached (the others run outside the console).
        let managed = v
            .snaps
            .iter()
            .filter(|b| {
                b.host == s.host && b.phase == Phase::Ready && b.connectors.contains(&s.name)
            })
            .count();
        spans.push(Span::styled(format!(" bots {}", s.bots), t.dim()));
        if managed > 0 {
            spans.push(Span::styled(format!(" ({managed} managed)"), t.dim()));
        }
    }

    if s.adopted {
        spans.push(Span::styled(" adopted", t.dim()));
    }
    let usage_at = spans.len();
    let usage = match (s.cpu_pct, s.rss_bytes) {
        (Some(c), Some(m)) => Some(format!(
            " {c:.0}% {}",
            crate::engine::io::usage::short_bytes(m)
        )),
        (None, Some(m)) => Some(format!(" {}", crate::engine::io::usage::short_bytes(m))),
        _ => None,
    };
    if let Some(u) = &usage {
        spans.push(Span::styled(u.clone(), t.dim()));
    }
    spans.push(Span::raw(" "));
    // Narrow panes drop the exchange type, then the uptime, then the PID: phase, feed,
    // restarts and bots matter more.
    let width_of = |sp: &[Span]| sp.iter().map(|x| x.width()).sum::<usize>() + 2;
    // CPU and memory go first (the table view and status have them), then as below.
    if width_of(&spans) > width as usize && usage.is_some() {
        spans.remove(usage_at);
    }
    if width_of(&spans) > width as usize {
        spans[2] = Span::raw(" ");
    }
    let uptime_at = pid_at + usize::from(s.pid.is_some());
    if width_of(&spans) > width as usize && uptime.is_some() {
        spans.remove(uptime_at);
    }
    if width_of(&spans) > width as usize && s.pid.is_some() {
        spans.remove(pid_at);
    }
    // Last: the managed part of the bots count (the bots' own panes say it).
    if width_of(&spans) > width as usize {
        if let Some(at) = spans
            .iter()
            .position(|sp| sp.content.ends_with(" managed)"))
        {
            spans.remove(at);
        }
    }
    Line::from(spans)
}

fn countdown(v: &View, s: &ConnectorView) -> Option<String> {
    let left = s.countdown_at(v.now)?;
    let secs = format!("{left:.1} s");
    Some(match s.phase {
        Phase::Stopping => format!("SIGKILL in {secs}"),
        Phase::Backoff => format!("restart in {secs}"),
        Phase::Starting => format!("startup timeout in {secs}"),
        Phase::Idle
        | Phase::Building
        | Phase::Ready
        | Phase::Stopped
        | Phase::Exited
        | Phase::Failed => return None,
    })
}

fn draw_pane(f: &mut Frame, v: &View, idx: usize, s: &ConnectorView, rect: Rect) {
    // With the console log focused, no connector pane looks focused.
    let focused = idx == v.app.focus && !(v.app.console_focus && v.app.console_log);
    let t = &v.theme;
    let pane = &v.app.panes[idx];
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            t.focused()
        } else if s.phase == Phase::Failed || s.crash_loop.is_some() {
            // What went wrong shows from across the room, not only in the title.
            t.phase(Phase::Failed)
        } else if s.health == Some(FeedHealth::Stale) {
            t.warn()
        } else {
            t.unfocused()
        })
        .title(title(v, s, focused, rect.width));
    let block = with_marks(block, pane);
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let mut body = inner;
    // Status row: countdown or build gauge, then the detail.
    let detail_style = match s.phase {
        Phase::Failed | Phase::Exited => t.phase(s.phase),
        Phase::Idle
        | Phase::Building
        | Phase::Starting
        | Phase::Ready
        | Phase::Stopping
        | Phase::Stopped
        | Phase::Backoff => t.dim(),
    };
    if let (Phase::Building, Some(crate::model::view::BuildProgress { done, total })) =
        (s.phase, s.build)
    {
        let ratio = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        };
        let gauge = Gauge::default()
            .gauge_style(t.phase(Phase::Building))
            .ratio(ratio)
            .label(format!("{done}/{total} units"));
        f.render_widget(gauge, Rect::new(body.x, body.y, body.width, 1));
        body.y += 1;
        body.height -= 1;
    }
    if body.height > 0 {
        let mut spans = Vec::new();
        if let Some(c) = countdown(v, s) {
            spans.push(Span::styled(format!("{c} · "), t.phase(s.phase)));
        }
        spans.push(Span::styled(s.detail.as_str(), detail_style));
        f.render_widget(
            Paragraph::new(Line::from(spans)),
            Rect::new(body.x, body.y, body.width, 1),
        );
        body.y += 1;
        body.height -= 1;
    }
    if let (true, Some(line)) = (body.height > 1, health_line(v, s)) {
        f.render_widget(
            Paragraph::new(line),
            Rect::new(body.x, body.y, body.width, 1),
        );
        body.y += 1;
        body.height -= 1;
    }
    if v.app.zoom && s.phase == Phase::Ready {
        if let Some(feed) = &s.feed {
            body = draw_feed(f, v, feed, s.as_of, body);
        }
    }
    if let (true, Some(log)) = (body.height > 0, v.app.logs.get(idx)) {
        draw_log(f, v, pane, log, body);
    }
}

/// `block` with what its bottom border says about the view: scrolled, wrapped, filtered.
fn with_marks<'a>(block: Block<'a>, pane: &PaneView) -> Block<'a> {
    let mut marks = Vec::new();
    if pane.offset > 0 {
        marks.push(format!("↑{}", pane.offset));
    }
    if pane.wrap {
        marks.push("wrap".into());
    }
    if pane.errors_only {
        marks.push("errors only".into());
    }
    if !pane.filter.is_empty() {
        marks.push(format!("&{}", pane.filter));
    }
    if marks.is_empty() {
        return block;
    }
    block.title_bottom(Line::from(format!(" {} ", marks.join(" "))).alignment(Alignment::Right))
}

/// The feed health row: what is wrong, and the last error line while errors are recent.
fn health_line(v: &View, s: &ConnectorView) -> Option<Line<'static>> {
    let t = &v.theme;
    let unhealthy = s.phase == Phase::Ready && s.health.is_some_and(FeedHealth::is_unhealthy);
    let recent_error = s.errors_1m > 0;
    let mut spans = Vec::new();
    if unhealthy {
        if let Some(why) = &s.health_detail {
            spans.push(Span::styled(format!("⚠ {why}"), t.warn()));
        }
    }
    // The console's own registration, while it waits for the exchange or when a restart left
    // the bots without data (sent is the normal case: nothing to say).
    if let Some(r) = s.registration.as_ref().filter(|r| {
        matches!(
            r.state,
            RegistrationState::Held | RegistrationState::Unhealable
        )
    }) {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", t.dim()));
        }
        spans.push(Span::styled(format!("⚠ {}", r.detail), t.warn()));
    }
    if let Some(w) = &s.order_warning {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", t.dim()));
        }
        spans.push(Span::styled(format!("⚠ {w}"), t.warn()));
    }
    if let (true, Some(e)) = (recent_error || unhealthy, &s.last_error) {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", t.dim()));
        }
        // The time of day is enough on a live screen: `04:31:02`.
        let time = e.ts.get(11..19).unwrap_or(&e.ts).to_string();
        spans.push(Span::styled(format!("last error {time}: "), t.dim()));
        spans.push(Span::styled(
            crate::machine::levels::message_of(&e.line).to_string(),
            t.warn(),
        ));
    }
    (!spans.is_empty()).then(|| Line::from(spans))
}

/// Rows of the zoomed pane's feed section: a sparkline of the last minute and up to this many
/// symbols.
const SPARK_ROWS: u16 = 3;
const MAX_SYMBOL_ROWS: usize = 8;

/// The zoomed pane's feed: a 60 s sparkline of events/s and a table of symbols (rate, age),
/// stalest first (ages as of `as_of`, moved on to the frame's time). Returns what is left of
/// `area` for the log.
fn draw_feed(f: &mut Frame, v: &View, feed: &FeedView, as_of: f64, area: Rect) -> Rect {
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

fn draw_log(f: &mut Frame, v: &View, pane: &PaneView, log: &SharedScrollback, area: Rect) {
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
fn hit_scroll(v: &View, raw: &str, query: &str, width: u16) -> u16 {
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

fn styled_line(v: &View, raw: &str, query: &str, is_hit: bool) -> Line<'static> {
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
fn draw_merged(f: &mut Frame, v: &View, rect: Rect) {
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
            spans.extend(styled_line(v, &l.raw, &query, is_hit).spans);
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// The table view: one row per connector (NAME TYPE PHASE PID UPTIME RESTARTS BOTS CPU MEM FEED
/// LAST EXIT, and DETAIL in the room left), the focused one highlighted, scrolled to keep it in
/// view; `↑3 ↓4` on the border counts the rows above and below the window.
fn draw_table(f: &mut Frame, v: &View, rect: Rect) {
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

/// The console's own log: a pane like a connector's, focused with `L`.
fn draw_console(f: &mut Frame, v: &View, rect: Rect) {
    let t = &v.theme;
    let app = v.app;
    let focused = app.console_focus;
    let pane = &app.console_pane;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.focused() } else { t.unfocused() })
        .title(if focused {
            " console log (L hides it · Tab back to the connectors) "
        } else {
            " console log (L focuses it) "
        });
    // Lines the in-memory log no longer holds are said (the owning console's logs/console.log
    // has them).
    let dropped = super::console_log::dropped_from(
        &app.console_scrollback
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    let block = if dropped > 0 {
        block.title_bottom(
            Line::from(format!(" {dropped} older line(s) dropped from memory ")).style(t.dim()),
        )
    } else {
        block
    };
    let block = with_marks(block, pane);
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    if inner.height > 0 && inner.width > 0 {
        draw_log(f, v, pane, &app.console_scrollback, inner);
    }
}

fn draw_status_bar(f: &mut Frame, v: &View, rect: Rect) {
    if rect.height == 0 {
        return;
    }
    let (line, _) = status_bar(v);
    let flashing = v.app.flash_until.is_some_and(|until| v.now < until);
    let style = if flashing {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    f.render_widget(Paragraph::new(line).style(style), rect);
}

/// The row filter a click on the status bar's column `x` asks for: a count (`2 stale`,
/// `1 FAILED`) filters the table to those connectors.
pub fn status_click(v: &View, x: u16) -> Option<String> {
    let (_, counts) = status_bar(v);
    counts
        .into_iter()
        .find(|(from, to, _)| (*from..*to).contains(&x))
        .map(|(_, _, filter)| filter)
}

/// The status bar's line, and where its counts are: (first column, column past the last, the
/// row filter that shows those connectors).
fn status_bar<'a>(v: &View) -> (Line<'a>, Vec<(u16, u16, String)>) {
    let t = &v.theme;
    let mut spans: Vec<Span> = vec![Span::raw(" ")];
    if let Some(viewing) = v.viewing {
        spans = viewer_banner(v, viewing);
    }
    let lead = spans.len();
    let mut counts = Vec::new();
    let mut count = |spans: &mut Vec<Span<'a>>, span: Span<'a>, filter: String| {
        if spans.len() > lead {
            spans.push(Span::styled(" · ", t.dim()));
        }
        let from: usize = spans.iter().map(|s| s.width()).sum();
        let to = from + span.width();
        spans.push(span);
        counts.push((
            from.min(u16::MAX as usize) as u16,
            to.min(u16::MAX as usize) as u16,
            filter,
        ));
    };
    // The counts of the one fleet summary (systemd's `STATUS=` says the same); what needs
    // the operator is shouted, and a click on a count filters the table to those rows.
    let fleet: Vec<_> = v.snaps.iter().map(ConnectorView::standing).collect();
    for (what, n) in crate::model::fleet::counts(&fleet) {
        let word = what.word();
        let (word, style, filter) = match what {
            Counted::Phase(p) => (
                match p {
                    Phase::Failed => word.to_uppercase(),
                    _ => word.to_string(),
                },
                t.phase(p),
                format!("phase:{word}"),
            ),
            Counted::Health(_) => (word.to_uppercase(), t.warn(), format!("health:{word}")),
            Counted::CrashLooping => (
                word.to_uppercase(),
                t.phase(Phase::Failed).add_modifier(Modifier::BOLD),
                "crash-loop".to_string(),
            ),
            // Said in each pane's title and DETAIL; no row filter selects it here.
            Counted::RestartNeeded => continue,
        };
        count(
            &mut spans,
            Span::styled(format!("{n} {word}"), style),
            filter,
        );
    }
    if v.snaps.is_empty() {
        spans.push(Span::styled("no connectors", t.dim()));
    }
    // A host link that has not spoken yet (no pane shows it): how long, and what it runs.
    if v.viewing.is_none() {
        for h in v.hosts {
            if let LinkState::Connecting { since, command } = &h.link {
                if spans.len() > lead {
                    spans.push(Span::styled(" · ", t.dim()));
                }
                spans.push(Span::styled(
                    format!(
                        "host {} connecting for {:.0} s ({})",
                        h.name,
                        (v.now - since).max(0.0),
                        crate::machine::redact::cut(command, 40)
                    ),
                    t.warn(),
                ));
            }
        }
    }
    // The most recent exit of a connector that is not back up (exited, backoff, failed).
    let last_failure = v
        .snaps
        .iter()
        .filter(|s| matches!(s.phase, Phase::Exited | Phase::Backoff | Phase::Failed))
        .filter_map(|s| Some((s.last_exit_age_s(v.now)?, s)))
        // The youngest exit (the last of equals, as listed).
        .max_by(|(a, _), (b, _)| b.total_cmp(a));
    if let Some((age, s)) = last_failure {
        spans.push(Span::styled("   last failure: ", t.dim()));
        spans.push(Span::styled(s.id().to_string(), t.phase(s.phase)));
        spans.push(Span::styled(
            format!(" {} ago", short_duration(secs_duration(age))),
            t.dim(),
        ));
    }
    (Line::from(spans), counts)
}

/// The start of a viewer's status bar: what it is, whose, and whether it still sees it.
fn viewer_banner<'a>(v: &View, viewing: &crate::console::Viewing) -> Vec<Span<'a>> {
    let t = &v.theme;
    let whose = match viewing.pid {
        Some(pid) => format!("of the console PID {pid} "),
        None => "of the running console ".to_string(),
    };
    let mut spans = vec![
        Span::styled(
            " VIEWER (read-only) ",
            t.key().add_modifier(Modifier::REVERSED),
        ),
        Span::styled(whose, t.dim()),
    ];
    let gone = match v.hosts.first().map(|h| (&h.link, h.as_of)) {
        Some((
            LinkState::Reconnecting {
                in_s,
                attempt,
                max_attempts,
                ..
            },
            as_of,
        )) => Some(format!(
            "console gone: retry in {:.0} s ({attempt}/{max_attempts})",
            (in_s - (v.now - as_of)).max(0.0)
        )),
        Some((LinkState::Failed { .. }, _)) => Some("console gone: H retries".to_string()),
        Some((LinkState::Connecting { since, .. }, _)) => {
            Some(format!("connecting for {:.0} s…", (v.now - since).max(0.0)))
        }
        Some((LinkState::Connected, _)) | None => None,
    };
    if let Some(g) = gone {
        spans.push(Span::styled(g, t.phase(Phase::Failed)));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(" "));
    spans
}

fn draw_footer(f: &mut Frame, v: &View, screen: &Screen) {
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

fn centered(area: Rect, w: u16, h: u16) -> Rect {
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
fn draw_detail(f: &mut Frame, v: &View, s: &ConnectorView, area: Rect) {
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

fn draw_help(f: &mut Frame, v: &View, area: Rect) {
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

fn draw_dialog(f: &mut Frame, v: &View, d: &Dialog, area: Rect) {
    let t = &v.theme;
    let (title, lines) = match d {
        Dialog::Confirm {
            verb,
            target,
            count,
            bots,
            heals,
            managed,
            ..
        } => (
            " confirm ",
            [
                vec![match target {
                    Some((name, phase)) => Line::from(vec![
                        Span::styled(format!("{verb} "), t.warn()),
                        Span::styled(name.clone(), t.phase(*phase)),
                        Span::styled("?", t.warn()),
                    ]),
                    None => Line::from(Span::styled(
                        format!("{verb} all {count} running connector(s)?"),
                        t.warn(),
                    )),
                }],
                match (*bots > 0, *heals, target.is_some()) {
                    (false, _, _) => vec![],
                    // The dialog is 50 columns wide: short lines.
                    (true, true, _) => vec![
                        Line::raw(format!(
                            "{bots} bot(s) attached lose data until it is ready;"
                        )),
                        Line::raw("its instruments are then registered again."),
                    ],
                    (true, false, true) => vec![
                        Line::raw(format!(
                            "{bots} bot(s) attached will lose their market data;"
                        )),
                        Line::raw("hftbacktest bots register once: restart them too."),
                    ],
                    (true, false, false) => vec![Line::raw(format!(
                        "{bots} bot(s) attached will lose their market data."
                    ))],
                },
                match (managed.is_empty(), verb.as_str()) {
                    (true, _) => vec![],
                    (false, "Restart") => vec![Line::raw(format!(
                        "managed bots stop first, restart after: {}",
                        managed.join(", ")
                    ))],
                    (false, "Kill") => vec![Line::raw(format!(
                        "managed bots are killed too: {}",
                        managed.join(", ")
                    ))],
                    (false, "Start") => vec![Line::raw(format!(
                        "its stopped connectors start first: {}",
                        managed.join(", ")
                    ))],
                    (false, _) => vec![Line::raw(format!(
                        "managed bots are stopped first: {}",
                        managed.join(", ")
                    ))],
                },
                vec![Line::raw("")],
                vec![Line::from(vec![
                    Span::styled("y", t.key()),
                    Span::raw(" yes   "),
                    Span::styled("n", t.key()),
                    Span::raw(" / "),
                    Span::styled("Esc", t.key()),
                    Span::raw(" no"),
                ])],
            ]
            .concat(),
        ),
        Dialog::Quit {
            running,
            bots,
            managed,
        } => (
            " quit ",
            [
                vec![
                    Line::from(Span::styled(
                        format!("{running} connector(s) still running."),
                        t.warn(),
                    )),
                    Line::raw(""),
                    // Detach first: it costs nothing.
                    Line::from(vec![
                        Span::styled("d", t.key()),
                        Span::raw(" detach: quit, leave them running"),
                    ]),
                    Line::from(vec![
                        Span::styled("s", t.key()),
                        Span::raw(" stop all and quit"),
                    ]),
                ],
                // What `s` costs, as the `X` confirmation says it.
                if *bots > 0 {
                    vec![Line::styled(
                        format!("  {bots} bot(s) attached will lose their market data"),
                        t.warn(),
                    )]
                } else {
                    vec![]
                },
                if managed.is_empty() {
                    vec![]
                } else {
                    vec![Line::styled(
                        format!(
                            "  {} managed bot(s) stopped too: {}",
                            managed.len(),
                            managed.join(", ")
                        ),
                        t.warn(),
                    )]
                },
                vec![Line::from(vec![
                    Span::styled("Esc", t.key()),
                    Span::raw(" cancel"),
                ])],
            ]
            .concat(),
        ),
        Dialog::TakeOver { pid } => (
            " console gone ",
            vec![
                Line::styled(
                    match pid {
                        Some(p) => format!("The console PID {p} is gone."),
                        None => "The watched console is gone.".to_string(),
                    },
                    t.warn(),
                ),
                Line::raw("Its counts here are the last it sent."),
                Line::raw(""),
                Line::from(vec![
                    Span::styled("y", t.key()),
                    Span::raw(" take over: start a console here that"),
                ]),
                Line::raw("  adopts the running connectors"),
                Line::from(vec![
                    Span::styled("n", t.key()),
                    Span::raw(" keep watching (it may come back)"),
                ]),
            ],
        ),
    };
    let rect = centered(area, 52, lines.len() as u16 + 2);
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.warn())
                .title(title),
        ),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
