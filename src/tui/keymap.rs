//! Keys to actions. The map depends on the mode: a dialog or the search prompt takes keys first.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A direction on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Left,
    Right,
    Up,
    Down,
}

/// Everything the operator can ask of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Tab: the next connector (wraps).
    FocusNext,
    /// Shift-Tab: the previous connector (wraps).
    FocusPrev,
    /// Arrows and hjkl: the pane that way on screen (no wrap); the loop turns it into a Jump.
    Move(Dir),
    Start,
    Stop,
    Restart,
    Kill,
    Build,
    Rebuild,
    StartAll,
    StopAll,
    Zoom,
    ScrollUp(u16),
    ScrollDown(u16),
    ScrollTop,
    ScrollBottom,
    SearchBegin,
    /// `&`: type a filter; only lines containing it are shown (Enter on an empty one: all).
    FilterBegin,
    SearchChar(char),
    SearchBackspace,
    SearchSubmit,
    SearchNext,
    SearchPrev,
    Wrap,
    /// Show only WARN, ERROR and panic lines in the focused pane (again: all lines).
    Errors,
    Clear,
    ConsoleLog,
    /// `V`: the console log's target selector (levels per target, at run time).
    LogTargets,
    /// Re-read the manifest (add, remove, mark changed connectors).
    Reload,
    /// Focus connector number n (1-based, as numbered on screen).
    Jump(usize),
    /// Toggle the table view (one row per connector, the focused pane below).
    Table,
    /// `!`: focus the next unhealthy connector (wraps).
    NextUnhealthy,
    /// `O`: the table's next sort order.
    Sort,
    /// Open the focused connector's detail popup.
    Detail,
    /// Cycle how log timestamps are shown: full, short local time, hidden.
    Timestamps,
    /// Copy the visible lines (or the search hit's line) to the clipboard with OSC 52.
    Copy,
    /// `:` — type a connector's name to jump to it.
    JumpBegin,
    /// Every connector's lines in one view, interleaved by time (again: back).
    Merged,
    /// Tab while typing a name: complete it.
    Complete,
    /// Open the focused connector's log file in `$PAGER` at the line on screen.
    Pager,
    /// Turn mouse capture off (the terminal's own selection works) or back on.
    Mouse,
    /// Start the links to other hosts over (after `failed`).
    RetryHosts,
    Help,
    Quit,
    /// Esc: close the overlay, dialog or search.
    Cancel,
    /// `y` in a confirmation.
    Yes,
    /// `n` in a confirmation.
    No,
    /// `s` in the quit dialog: stop all and quit.
    QuitStopAll,
    /// `d` in the quit dialog: detach, leave connectors running.
    QuitDetach,
}

impl Action {
    /// The verb on the focused connector this key says, if it says one (`s x r K b B`).
    pub fn verb(self) -> Option<crate::model::Verb> {
        use crate::model::Verb;
        Some(match self {
            Action::Start => Verb::Start,
            Action::Stop => Verb::Stop,
            Action::Restart => Verb::Restart,
            Action::Kill => Verb::Kill,
            Action::Build => Verb::Build,
            Action::Rebuild => Verb::Rebuild,
            _ => return None,
        })
    }

    /// Whether the action changes connectors (start, stop, restart, kill, build, all of them,
    /// a reload), as opposed to changing the view.
    pub fn acts_on_connectors(self) -> bool {
        matches!(
            self,
            Action::Start
                | Action::Stop
                | Action::Restart
                | Action::Kill
                | Action::Build
                | Action::Rebuild
                | Action::StartAll
                | Action::StopAll
                | Action::Reload
        )
    }
}

/// What the keymap needs to know about the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Typing a search query.
    SearchInput,
    /// Typing a connector's name after `:`.
    JumpInput,
    /// A y/n confirmation is open.
    Confirm,
    /// The quit dialog is open.
    QuitDialog,
    /// The help overlay is open.
    Help,
}

/// Maps a key press in `mode` to an action.
pub fn action_for(mode: Mode, key: KeyEvent) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(match mode {
            Mode::QuitDialog => Action::Cancel,
            Mode::Normal | Mode::SearchInput | Mode::JumpInput | Mode::Confirm | Mode::Help => {
                Action::Quit
            }
        });
    }
    // Ctrl with a letter is not that letter: Ctrl-S, Ctrl-R or Ctrl-K (readline habits) must
    // not start, restart or kill a connector.
    if ctrl && matches!(key.code, KeyCode::Char(_)) {
        return None;
    }
    match mode {
        Mode::SearchInput => match key.code {
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Enter => Some(Action::SearchSubmit),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::SearchChar(c)),
            _ => None,
        },
        Mode::JumpInput => match key.code {
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Enter => Some(Action::SearchSubmit),
            KeyCode::Backspace => Some(Action::SearchBackspace),
            KeyCode::Tab => Some(Action::Complete),
            KeyCode::Char(c) if !ctrl => Some(Action::SearchChar(c)),
            _ => None,
        },
        Mode::Confirm => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Some(Action::Yes),
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Some(Action::No),
            _ => None,
        },
        Mode::QuitDialog => match key.code {
            KeyCode::Char('s') => Some(Action::QuitStopAll),
            KeyCode::Char('d') => Some(Action::QuitDetach),
            KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
            _ => None,
        },
        Mode::Help => match key.code {
            KeyCode::Esc
            | KeyCode::Char('?')
            | KeyCode::Char('q')
            | KeyCode::Char('i')
            | KeyCode::Enter => Some(Action::Cancel),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::ScrollDown(1)),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::ScrollUp(1)),
            KeyCode::PageDown | KeyCode::Char(' ') => Some(Action::ScrollDown(10)),
            KeyCode::PageUp => Some(Action::ScrollUp(10)),
            _ => None,
        },
        Mode::Normal => match key.code {
            KeyCode::Tab => Some(Action::FocusNext),
            KeyCode::BackTab => Some(Action::FocusPrev),
            KeyCode::Right | KeyCode::Char('l') => Some(Action::Move(Dir::Right)),
            KeyCode::Left | KeyCode::Char('h') => Some(Action::Move(Dir::Left)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Move(Dir::Down)),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Move(Dir::Up)),
            KeyCode::Char('s') => Some(Action::Start),
            KeyCode::Char('x') => Some(Action::Stop),
            KeyCode::Char('r') => Some(Action::Restart),
            KeyCode::Char('K') => Some(Action::Kill),
            KeyCode::Char('b') => Some(Action::Build),
            KeyCode::Char('B') => Some(Action::Rebuild),
            KeyCode::Char('a') => Some(Action::StartAll),
            KeyCode::Char('X') => Some(Action::StopAll),
            KeyCode::Char('R') => Some(Action::Reload),
            KeyCode::Char('t') => Some(Action::Table),
            KeyCode::Char('!') => Some(Action::NextUnhealthy),
            KeyCode::Char('O') => Some(Action::Sort),
            KeyCode::Char('i') => Some(Action::Detail),
            KeyCode::Char('T') => Some(Action::Timestamps),
            KeyCode::Char('Y') => Some(Action::Copy),
            KeyCode::Char(':') => Some(Action::JumpBegin),
            KeyCode::Char('m') => Some(Action::Merged),
            KeyCode::Char('M') => Some(Action::Mouse),
            KeyCode::Char('o') => Some(Action::Pager),
            KeyCode::Char(c @ '1'..='9') => Some(Action::Jump(c as usize - '0' as usize)),
            KeyCode::Char('H') => Some(Action::RetryHosts),
            KeyCode::Char('z') | KeyCode::Enter => Some(Action::Zoom),
            KeyCode::PageUp => Some(Action::ScrollUp(10)),
            KeyCode::PageDown => Some(Action::ScrollDown(10)),
            KeyCode::Home | KeyCode::Char('g') => Some(Action::ScrollTop),
            KeyCode::End | KeyCode::Char('G') => Some(Action::ScrollBottom),
            KeyCode::Char('/') => Some(Action::SearchBegin),
            KeyCode::Char('&') => Some(Action::FilterBegin),
            KeyCode::Char('n') => Some(Action::SearchNext),
            KeyCode::Char('N') => Some(Action::SearchPrev),
            KeyCode::Char('w') => Some(Action::Wrap),
            KeyCode::Char('e') => Some(Action::Errors),
            KeyCode::Char('c') => Some(Action::Clear),
            KeyCode::Char('L') => Some(Action::ConsoleLog),
            KeyCode::Char('V') => Some(Action::LogTargets),
            KeyCode::Char('?') => Some(Action::Help),
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Esc => Some(Action::Cancel),
            _ => None,
        },
    }
}

/// The keys, as the footer and the help overlay show them: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("←→↑↓ hjkl", "the pane that way"),
    ("Tab S-Tab", "next / previous connector"),
    ("1-9", "focus connector 1-9"),
    (":", "jump to a connector by name (Tab completes)"),
    ("!", "next unhealthy connector (stale, erroring, down)"),
    ("s", "start"),
    ("x", "stop (SIGTERM, then SIGKILL)"),
    ("r", "restart"),
    ("K", "kill now (SIGKILL)"),
    ("b B", "build / rebuild"),
    ("a X", "start all / stop all"),
    ("z Enter", "zoom the focused pane"),
    ("t", "table view / tiles"),
    ("O", "sort the table: unhealthy, phase, health, ↻, CPU…"),
    ("m", "merged log of every connector (e: errors only)"),
    ("i", "details: reason, last exit, errors, history"),
    ("PgUp PgDn wheel", "scroll"),
    ("g G Home End", "top / bottom of the log"),
    ("/  n N", "search; n older hit, N newer hit"),
    ("&", "only lines (table: rows) containing a text"),
    ("w", "wrap long lines"),
    ("T", "timestamps: full / short local / hidden"),
    ("Y", "copy the visible lines (or the hit) via OSC 52"),
    ("o", "open the log in $PAGER at this line and search"),
    ("M", "mouse capture off/on (terminal selection)"),
    ("e", "only WARN/ERROR/panic lines (again: all)"),
    ("c", "clear the view (the log file is kept)"),
    ("L", "console log: show and focus it, then hide it"),
    ("V", "console log: levels per target (+ more, - less)"),
    ("R", "reload the manifest"),
    ("H", "retry the links to other hosts"),
    ("Esc", "end the search or filter, close details, unzoom"),
    ("?", "this help"),
    ("q Ctrl-C", "quit (asks when connectors run)"),
];

/// The short footer, most used first: on a narrow screen the tail of the middle is dropped,
/// never `? help` and `q quit`.
pub const FOOTER: &[(&str, &str)] = &[
    ("s", "start"),
    ("x", "stop"),
    ("r", "restart"),
    ("K", "kill"),
    ("z", "zoom"),
    ("t", "table"),
    ("e", "errors"),
    ("/", "search"),
    ("b", "build"),
    ("a/X", "all"),
    ("R", "reload"),
    ("L", "log"),
    ("?", "help"),
    ("q", "quit"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn every_documented_key_maps_in_normal_mode() {
        let cases = [
            (KeyCode::Tab, Action::FocusNext),
            (KeyCode::BackTab, Action::FocusPrev),
            (KeyCode::Char('l'), Action::Move(Dir::Right)),
            (KeyCode::Char('h'), Action::Move(Dir::Left)),
            (KeyCode::Left, Action::Move(Dir::Left)),
            (KeyCode::Down, Action::Move(Dir::Down)),
            (KeyCode::Char('k'), Action::Move(Dir::Up)),
            (KeyCode::Char('3'), Action::Jump(3)),
            (KeyCode::Char('R'), Action::Reload),
            (KeyCode::Char('o'), Action::Pager),
            (KeyCode::Char('!'), Action::NextUnhealthy),
            (KeyCode::Char('O'), Action::Sort),
            (KeyCode::Char('H'), Action::RetryHosts),
            (KeyCode::Char('s'), Action::Start),
            (KeyCode::Char('x'), Action::Stop),
            (KeyCode::Char('r'), Action::Restart),
            (KeyCode::Char('K'), Action::Kill),
            (KeyCode::Char('b'), Action::Build),
            (KeyCode::Char('B'), Action::Rebuild),
            (KeyCode::Char('a'), Action::StartAll),
            (KeyCode::Char('X'), Action::StopAll),
            (KeyCode::Char('z'), Action::Zoom),
            (KeyCode::Enter, Action::Zoom),
            (KeyCode::PageUp, Action::ScrollUp(10)),
            (KeyCode::PageDown, Action::ScrollDown(10)),
            (KeyCode::Char('/'), Action::SearchBegin),
            (KeyCode::Char('&'), Action::FilterBegin),
            (KeyCode::Char('n'), Action::SearchNext),
            (KeyCode::Char('N'), Action::SearchPrev),
            (KeyCode::Char('w'), Action::Wrap),
            (KeyCode::Char('e'), Action::Errors),
            (KeyCode::Char('c'), Action::Clear),
            (KeyCode::Char('L'), Action::ConsoleLog),
            (KeyCode::Char('V'), Action::LogTargets),
            (KeyCode::Char('?'), Action::Help),
            (KeyCode::Char('q'), Action::Quit),
        ];
        for (k, a) in cases {
            assert_eq!(action_for(Mode::Normal, key(k)), Some(a), "{k:?}");
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(action_for(Mode::Normal, ctrl_c), Some(Action::Quit));
    }

    /// The help overlay's key column, one token per key: `←→↑↓` and `hjkl` are four keys each,
    /// `1-9` nine, `S-Tab` Shift-Tab.
    fn help_keys() -> Vec<(String, KeyEvent)> {
        let mut out = Vec::new();
        let mut push = |token: &str, code: KeyCode, mods: KeyModifiers| {
            out.push((token.to_string(), KeyEvent::new(code, mods)))
        };
        for (keys, _) in HELP {
            for token in keys.split_whitespace() {
                let none = KeyModifiers::NONE;
                match token {
                    "Tab" => push(token, KeyCode::Tab, none),
                    "S-Tab" => push(token, KeyCode::BackTab, KeyModifiers::SHIFT),
                    "Enter" => push(token, KeyCode::Enter, none),
                    "Esc" => push(token, KeyCode::Esc, none),
                    "PgUp" => push(token, KeyCode::PageUp, none),
                    "PgDn" => push(token, KeyCode::PageDown, none),
                    "Home" => push(token, KeyCode::Home, none),
                    "End" => push(token, KeyCode::End, none),
                    "Ctrl-C" => push(token, KeyCode::Char('c'), KeyModifiers::CONTROL),
                    // The mouse wheel is not a key (the loop reads it as a mouse event).
                    "wheel" => {}
                    "1-9" => ('1'..='9').for_each(|c| push(token, KeyCode::Char(c), none)),
                    "←→↑↓" => {
                        for code in [KeyCode::Left, KeyCode::Right, KeyCode::Up, KeyCode::Down] {
                            push(token, code, none)
                        }
                    }
                    t if t.chars().count() == 1 => push(
                        token,
                        KeyCode::Char(t.chars().next().expect("one char")),
                        none,
                    ),
                    "hjkl" => "hjkl"
                        .chars()
                        .for_each(|c| push(token, KeyCode::Char(c), none)),
                    other => panic!("the help shows a key this test cannot read: {other:?}"),
                }
            }
        }
        out
    }

    /// Every key press the normal mode can receive from a terminal (crossterm): printable ASCII,
    /// with and without Ctrl, and the named keys.
    fn every_key() -> Vec<KeyEvent> {
        let mut keys = Vec::new();
        for c in ' '..='~' {
            keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            keys.push(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
        }
        for code in [
            KeyCode::Tab,
            KeyCode::BackTab,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Delete,
            KeyCode::Insert,
            KeyCode::Left,
            KeyCode::Right,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageUp,
            KeyCode::PageDown,
        ]
        .into_iter()
        .chain((1..=12).map(KeyCode::F))
        {
            keys.push(KeyEvent::new(code, KeyModifiers::NONE));
        }
        keys
    }

    /// The help overlay (HELP) lists every key the normal mode handles, and every key it lists
    /// does something.
    #[test]
    fn the_help_lists_every_key_the_keymap_handles_and_the_reverse() {
        let listed = help_keys();
        for (token, k) in &listed {
            assert!(
                action_for(Mode::Normal, *k).is_some(),
                "the help lists {token:?} ({k:?}) but the keymap does nothing with it"
            );
        }
        let same = |a: &KeyEvent, b: &KeyEvent| {
            a.code == b.code
                && a.modifiers.contains(KeyModifiers::CONTROL)
                    == b.modifiers.contains(KeyModifiers::CONTROL)
        };
        for k in every_key() {
            if let Some(a) = action_for(Mode::Normal, k) {
                assert!(
                    listed.iter().any(|(_, l)| same(l, &k)),
                    "the keymap maps {k:?} to {a:?} but the help does not list it"
                );
            }
        }
    }

    #[test]
    fn dialogs_take_their_own_keys_first() {
        assert_eq!(
            action_for(Mode::Confirm, key(KeyCode::Char('y'))),
            Some(Action::Yes)
        );
        assert_eq!(action_for(Mode::Confirm, key(KeyCode::Char('x'))), None);
        assert_eq!(
            action_for(Mode::Confirm, key(KeyCode::Esc)),
            Some(Action::No)
        );
        assert_eq!(
            action_for(Mode::QuitDialog, key(KeyCode::Char('s'))),
            Some(Action::QuitStopAll)
        );
        assert_eq!(
            action_for(Mode::QuitDialog, key(KeyCode::Char('d'))),
            Some(Action::QuitDetach)
        );
        assert_eq!(
            action_for(Mode::QuitDialog, key(KeyCode::Esc)),
            Some(Action::Cancel)
        );
        // Typing a query never triggers commands.
        assert_eq!(
            action_for(Mode::SearchInput, key(KeyCode::Char('x'))),
            Some(Action::SearchChar('x'))
        );
        assert_eq!(
            action_for(Mode::SearchInput, key(KeyCode::Enter)),
            Some(Action::SearchSubmit)
        );
        assert_eq!(action_for(Mode::Help, key(KeyCode::Char('s'))), None);
    }
}
