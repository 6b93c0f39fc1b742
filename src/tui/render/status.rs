//! The status bar: the fleet's counts (a click filters the table to them), links still
//! connecting, the last failure, and a viewer's banner.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::View;
use crate::model::fleet::Counted;
use crate::model::format::short_duration;
use crate::model::phase::Phase;
use crate::model::view::{secs_duration, ConnectorView, LinkState};

pub(super) fn draw_status_bar(f: &mut Frame, v: &View, rect: Rect) {
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
