//! The level of a connector's log line (DESIGN §10): tracing's fmt format, `<ts>  ERROR target:
//! msg`, with or without ANSI colours, and Rust panics (`thread '…' panicked at …`). Cheap enough
//! for every line of a flood: it looks at the first two words only, and searches a line for a
//! panic only when it starts like one.

/// A line's level, as far as the console cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    /// `INFO`, `DEBUG`, `TRACE`.
    Other,
    /// A panic's first line.
    Panic,
    /// No level (a panic's message line, cargo output, a marker).
    None,
}

impl Level {
    /// ERROR lines and panics: what the error counts and the last error line are made of.
    pub fn is_error(self) -> bool {
        matches!(self, Level::Error | Level::Panic)
    }

    /// What the `e` filter shows.
    pub fn is_notable(self) -> bool {
        matches!(self, Level::Error | Level::Warn | Level::Panic)
    }
}

/// How far into a line the level may start (a timestamp, its colours and the padding).
const HEAD: usize = 96;

/// The level of `line`.
pub fn level_of(line: &str) -> Level {
    let bytes = line.as_bytes();
    if let Some(level) = head_level(&bytes[..bytes.len().min(HEAD)]) {
        return level;
    }
    // Rust's panic line: `thread '<name>' panicked at <file>:<line>:<col>:` (plain, stderr).
    if bytes.starts_with(b"thread '") && memchr::memmem::find(bytes, b"' panicked at ").is_some() {
        return Level::Panic;
    }
    Level::None
}

/// A plain (ANSI-free) log line without its timestamp and level: `connector: msg` of
/// `2026-…Z ERROR connector: msg`. Lines without a level come back whole.
pub fn message_of(line: &str) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..2 {
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if matches!(word, "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE") {
            return after.trim_start();
        }
        if !word.starts_with(|c: char| c.is_ascii_digit()) {
            break;
        }
        rest = after.trim_start();
    }
    line
}

/// The level word of tracing's format (ANSI escapes skipped): the first word, or the second
/// when the first is a timestamp (starts with a digit).
fn head_level(b: &[u8]) -> Option<Level> {
    let mut i = 0;
    let mut first_char = 0u8;
    let mut start: Option<usize> = None;
    let mut word = [0u8; 5];
    let mut len = 0usize;
    while i <= b.len() {
        let c = b.get(i).copied();
        match c {
            Some(0x1b) => {
                // CSI: ESC [ params final(0x40..=0x7e); anything else: skip the ESC alone.
                if b.get(i + 1) == Some(&b'[') {
                    i += 2;
                    while i < b.len() && !(0x40..=0x7e).contains(&b[i]) {
                        i += 1;
                    }
                }
                i += 1;
                continue;
            }
            Some(b' ') | Some(b'\t') | None => {
                if start.take().is_some() {
                    let w = &word[..len.min(5)];
                    let level = match (len, w) {
                        (5, b"ERROR") => Some(Level::Error),
                        (4, b"WARN") => Some(Level::Warn),
                        (4, b"INFO") | (5, b"DEBUG") | (5, b"TRACE") => Some(Level::Other),
                        _ => None,
                    };
                    if level.is_some() || !first_char.is_ascii_digit() {
                        return level;
                    }
                    first_char = b'x'; // only one timestamp
                }
                c?; // the end of the head
            }
            Some(ch) => {
                if start.is_none() {
                    start = Some(i);
                    len = 0;
                    if first_char == 0 {
                        first_char = ch;
                    }
                }
                if len < 5 {
                    word[len] = ch;
                }
                len += 1;
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tracing_levels_with_and_without_colours() {
        assert_eq!(
            level_of("2026-11-23T04:00:00.123456Z ERROR connector::binancefutures: An error occurred in the market data stream connection: Connection refused"),
            Level::Error
        );
        assert_eq!(
            level_of("2026-11-23T04:00:00.123456Z  WARN connector: slow"),
            Level::Warn
        );
        assert_eq!(
            level_of("2026-11-23T04:00:00Z  INFO c: ERROR in text"),
            Level::Other
        );
        let coloured = "\x1b[2m2026-11-23T04:00:00.123456Z\x1b[0m \x1b[31mERROR\x1b[0m \x1b[2mconnector\x1b[0m\x1b[2m:\x1b[0m boom";
        assert_eq!(level_of(coloured), Level::Error);
        let warn =
            "\x1b[2m2026-11-23T04:00:00.123456Z\x1b[0m \x1b[33m WARN\x1b[0m \x1b[2mc\x1b[0m: w";
        assert_eq!(level_of(warn), Level::Warn);
        assert_eq!(level_of("ERROR connector: no timestamp"), Level::Error);
    }

    #[test]
    fn panics_and_plain_lines() {
        assert_eq!(
            level_of("thread 'tokio-runtime-worker' panicked at connector/src/main.rs:10:5:"),
            Level::Panic
        );
        assert_eq!(
            level_of("called `Result::unwrap()` on an `Err` value"),
            Level::None
        );
        assert_eq!(
            level_of("[switchboard 2026-11-23T04:00:00.000Z] stop: SIGTERM sent"),
            Level::None
        );
        assert_eq!(
            level_of("the ERROR word late in a line is not a level"),
            Level::None
        );
        assert_eq!(level_of(""), Level::None);
        assert_eq!(level_of("\x1b[31m"), Level::None);
        assert_eq!(level_of("\x1b"), Level::None);
        assert_eq!(level_of("ERRORS everywhere"), Level::None);
        assert!(Level::Panic.is_error() && Level::Warn.is_notable() && !Level::Other.is_notable());
        assert_eq!(message_of("2026-11-23T04:00:00Z  ERROR c: boom"), "c: boom");
        assert_eq!(message_of("ERROR c: boom"), "c: boom");
        assert_eq!(
            message_of("thread 'x' panicked at a.rs"),
            "thread 'x' panicked at a.rs"
        );
    }
}
