//! A connector pane's title: name, type, phase, the feed's badge, a down link, and the clocks
//! and counts, cut to the pane's width least needed first.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::{shown_uptime, View};
use crate::model::format::{short_duration, short_rate};
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::view::{secs_duration, ConnectorView, FeedView, LinkState};

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

pub(super) fn title<'a>(v: &View, s: &'a ConnectorView, focused: bool, width: u16) -> Line<'a> {
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
