//! A pane: a connector's (title, status row with countdown or build gauge, feed health, the
//! zoomed feed, its log's tail) and the console log's, which looks like one.

use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph};
use ratatui::Frame;

use super::feed::draw_feed;
use super::log_lines::draw_log;
use super::title::title;
use super::View;
use crate::machine::session::RegistrationState;
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::view::ConnectorView;
use crate::tui::app::PaneView;

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

pub(super) fn draw_pane(f: &mut Frame, v: &View, idx: usize, s: &ConnectorView, rect: Rect) {
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

/// The console's own log: a pane like a connector's, focused with `L`.
pub(super) fn draw_console(f: &mut Frame, v: &View, rect: Rect) {
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
    let dropped = crate::tui::console_log::dropped_from(
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
