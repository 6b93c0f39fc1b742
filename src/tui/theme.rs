//! Colours that mean something: each phase has one, and `NO_COLOR` turns them all off.

use ratatui::style::{Color, Modifier, Style};

use crate::model::phase::Phase;

/// Styles used by the renderer.
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colours on unless `NO_COLOR` is set (to anything).
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// The colour of a phase: green ready; yellow on the way (starting, backoff); blue building;
    /// magenta stopping; red exited/failed; grey at rest.
    pub fn phase(&self, p: Phase) -> Style {
        let s = match p {
            Phase::Ready => self.fg(Color::Green),
            Phase::Starting | Phase::Backoff => self.fg(Color::Yellow),
            Phase::Building => self.fg(Color::Blue),
            Phase::Stopping => self.fg(Color::Magenta),
            Phase::Exited => self.fg(Color::LightRed),
            Phase::Failed => self.fg(Color::Red),
            Phase::Idle | Phase::Stopped => self.fg(Color::Gray),
        };
        s.add_modifier(Modifier::BOLD)
    }

    /// Border of the focused pane.
    pub fn focused(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// Border of other panes.
    pub fn unfocused(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Secondary text (detail lines, footer descriptions).
    pub fn dim(&self) -> Style {
        self.fg(Color::Gray)
    }

    /// Key names in the footer and help.
    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// A search match.
    pub fn matched(&self) -> Style {
        if self.color {
            Style::default().bg(Color::Yellow).fg(Color::Black)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// Warnings in dialogs.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
}
