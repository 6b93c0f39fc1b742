//! The dialogs that wait for an answer: confirm a verb, quit with connectors running, take
//! over from a gone console.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::overlay::centered;
use super::View;
use crate::tui::app::Dialog;

pub(super) fn draw_dialog(f: &mut Frame, v: &View, d: &Dialog, area: Rect) {
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
    let width = 52.min(area.width);
    let lines = fold(lines, width.saturating_sub(2).max(1) as usize);
    let rect = centered(area, width, lines.len() as u16 + 2);
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

/// Lines wider than the dialog continue on the next row, broken between words (styles kept),
/// so nothing is cut: a list of bot names, a long connector name. The rows are counted before
/// the box is sized.
fn fold(lines: Vec<Line<'static>>, width: usize) -> Vec<Line<'static>> {
    const INDENT: &str = "    ";
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        if line.width() <= width {
            out.push(line);
            continue;
        }
        let mut row: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for span in &line.spans {
            for word in span.content.split_inclusive(' ') {
                let w = Span::raw(word).width();
                if used + w.min(width) > width && used > INDENT.len() {
                    out.push(Line::from(std::mem::take(&mut row)).style(line.style));
                    // Continuation rows are indented under the list they continue.
                    row.push(Span::raw(INDENT));
                    used = INDENT.len();
                }
                // A word wider than a whole row is cut into rows.
                let mut rest = word;
                while used + Span::raw(rest).width() > width {
                    let mut take = 0;
                    let mut taken = 0;
                    for ch in rest.chars() {
                        let cw = Span::raw(ch.to_string()).width();
                        if used + taken + cw > width {
                            break;
                        }
                        taken += cw;
                        take += ch.len_utf8();
                    }
                    if take == 0 {
                        break;
                    }
                    row.push(Span::styled(rest[..take].to_string(), span.style));
                    out.push(Line::from(std::mem::take(&mut row)).style(line.style));
                    row.push(Span::raw(INDENT));
                    used = INDENT.len();
                    rest = &rest[take..];
                }
                used += Span::raw(rest).width();
                row.push(Span::styled(rest.to_string(), span.style));
            }
        }
        out.push(Line::from(row).style(line.style));
    }
    out
}
