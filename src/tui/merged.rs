//! The merged log (`m`): every connector's lines interleaved by when they were written, with
//! its own filters, scroll position and search hit. Pure over the scrollbacks.

use crate::engine::io::logs::{strip_ansi, SharedScrollback};

use super::pane::line_shown;

/// How the merged log is viewed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergedView {
    /// Only WARN, ERROR and panic lines (`e` there).
    pub errors_only: bool,
    /// Only lines containing this (lowercase; `&` there).
    pub filter: String,
    /// Rows between the newest line and the bottom of the view; 0 follows new lines.
    pub offset: usize,
    /// The search hit: (connector index, line's absolute index in its scrollback).
    pub hit: Option<(usize, u64)>,
    /// Each scrollback's `appended` when the offset was last kept still.
    seen: Vec<u64>,
}

/// One line of the merged log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedLine {
    /// When it was written (Unix ms; an untimed line takes the time of the line before it).
    pub at: i64,
    /// Which connector (index in the views).
    pub conn: usize,
    /// Its absolute index in the connector's scrollback.
    pub abs: u64,
    pub raw: String,
}

/// When a log line was written, from its leading timestamp: tracing's RFC 3339 prefix (ANSI
/// dimmed or not) or switchboard's own `[switchboard TS]` markers (Unix milliseconds).
pub fn line_time(raw: &str) -> Option<i64> {
    let s =
        raw.strip_prefix("[switchboard ")
            .unwrap_or_else(|| match raw.strip_prefix("\u{1b}[") {
                Some(rest) => rest.split_once('m').map(|(_, r)| r).unwrap_or(raw),
                None => raw,
            });
    if !s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let end = s.find([' ', ']', '\u{1b}']).unwrap_or(s.len());
    s[..end]
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

/// How many of a tail's last lines are read to find `want` shown ones: all of them without a
/// filter; with one, a bounded window (a rare match further back is not worth a frame's time).
fn window(want: usize, filtered: bool, len: usize) -> usize {
    if filtered {
        want.saturating_mul(50).min(len)
    } else {
        want.min(len)
    }
}

impl MergedView {
    fn filtered(&self) -> bool {
        self.errors_only || !self.filter.is_empty()
    }

    /// The last `want` lines the view shows, oldest first.
    pub fn lines(&self, logs: &[SharedScrollback], want: usize) -> Vec<MergedLine> {
        let mut all = Vec::new();
        for (conn, log) in logs.iter().enumerate() {
            let g = log.lock().unwrap_or_else(|p| p.into_inner());
            let lines = g.lines();
            let first = g.appended() - lines.len() as u64;
            let take = window(want, self.filtered(), lines.len());
            let mut last = i64::MIN;
            for (n, raw) in lines.iter().enumerate().skip(lines.len() - take) {
                let at = line_time(raw).unwrap_or(last);
                last = at;
                let prev = n.checked_sub(1).map(|p| lines[p].as_str());
                if line_shown(raw, prev, self.errors_only, &self.filter) {
                    all.push(MergedLine {
                        at,
                        conn,
                        abs: first + n as u64,
                        raw: raw.clone(),
                    });
                }
            }
        }
        all.sort_by_key(|l| (l.at, l.conn, l.abs));
        let cut = all.len().saturating_sub(want);
        all.split_off(cut)
    }

    /// The `rows` lines on screen, oldest first (the offset clamped to what there is).
    pub fn visible(&self, logs: &[SharedScrollback], rows: usize) -> Vec<MergedLine> {
        let mut lines = self.lines(logs, rows + self.offset);
        let end = lines
            .len()
            .saturating_sub(self.offset)
            .max(rows.min(lines.len()));
        lines.truncate(end);
        let start = lines.len().saturating_sub(rows);
        lines.split_off(start)
    }

    /// Keeps a scrolled view, or one showing a hit, still while new lines arrive: the offset
    /// grows by the new lines it shows.
    pub fn settle(&mut self, logs: &[SharedScrollback]) {
        self.seen.resize(logs.len(), u64::MAX);
        let keep = self.offset > 0 || self.hit.is_some();
        for (i, log) in logs.iter().enumerate() {
            let g = log.lock().unwrap_or_else(|p| p.into_inner());
            let appended = g.appended();
            let seen = std::mem::replace(&mut self.seen[i], appended);
            if !keep || seen == u64::MAX || appended <= seen {
                continue;
            }
            let lines = g.lines();
            let new = ((appended - seen) as usize).min(lines.len());
            let from = lines.len() - new;
            self.offset += (from..lines.len())
                .filter(|n| {
                    let prev = n.checked_sub(1).map(|p| lines[p].as_str());
                    line_shown(&lines[*n], prev, self.errors_only, &self.filter)
                })
                .count();
        }
    }

    pub fn scroll_up(&mut self, k: usize) {
        self.offset = self.offset.saturating_add(k);
    }

    pub fn scroll_down(&mut self, k: usize) {
        self.offset = self.offset.saturating_sub(k);
    }

    pub fn to_bottom(&mut self) {
        self.offset = 0;
        self.hit = None;
    }

    /// Moves to the next line containing `query` (lowercase): `older` up (`n`), else down
    /// (`N`); the hit is placed `context` rows above the bottom. Err says there is none.
    pub fn find(
        &mut self,
        logs: &[SharedScrollback],
        query: &str,
        older: bool,
        rows: usize,
        context: usize,
    ) -> Result<(), String> {
        if query.is_empty() {
            return Ok(());
        }
        // Everything the view could show: every tail's window.
        let total: usize = logs
            .iter()
            .map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).lines().len())
            .sum();
        let all = self.lines(logs, total);
        let here = match self.hit {
            Some((conn, abs)) => all.iter().position(|l| l.conn == conn && l.abs == abs),
            None => None,
        }
        .unwrap_or_else(|| {
            // The bottom row of the view (older search starts above it).
            let bottom = all.len().saturating_sub(self.offset);
            if older {
                bottom
            } else {
                bottom.saturating_sub(rows.min(bottom))
            }
        });
        let matches = |l: &MergedLine| strip_ansi(&l.raw).to_lowercase().contains(query);
        let found = if older {
            all[..here.min(all.len())].iter().rposition(matches)
        } else {
            all.iter()
                .enumerate()
                .skip(here + 1)
                .find(|(_, l)| matches(l))
                .map(|(i, _)| i)
        };
        match found {
            Some(i) => {
                self.hit = Some((all[i].conn, all[i].abs));
                self.offset = (all.len() - 1 - i).saturating_sub(context);
                Ok(())
            }
            None => Err(format!(
                "no {} match for \"{query}\" in the merged log",
                if older { "older" } else { "newer" }
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::io::logs::Scrollback;
    use std::sync::{Arc, Mutex};

    fn log(lines: &[&str]) -> SharedScrollback {
        let mut sb = Scrollback::new(1000, 1 << 20);
        for l in lines {
            sb.push(l.to_string());
        }
        Arc::new(Mutex::new(sb))
    }

    fn at(s: u32) -> String {
        format!("2026-11-30T10:00:{s:02}.000000Z")
    }

    #[test]
    fn lines_interleave_by_time_and_untimed_ones_follow_their_line() {
        let a = log(&[
            &format!("{}  INFO a0", at(1)),
            &format!("{} ERROR a1", at(3)),
            "thread 'main' panicked at x.rs:1:1:",
            "the message",
        ]);
        let b = log(&[
            &format!("{}  INFO b0", at(2)),
            &format!("{}  WARN b1", at(4)),
        ]);
        let logs = [a, b];
        let v = MergedView::default();
        let texts: Vec<String> = v.lines(&logs, 10).into_iter().map(|l| l.raw).collect();
        assert!(
            texts[0].ends_with("a0") && texts[1].ends_with("b0"),
            "{texts:?}"
        );
        assert!(
            texts[2].ends_with("a1") && texts[4] == "the message",
            "{texts:?}"
        );
        assert!(texts[5].ends_with("b1"));
        let errors = MergedView {
            errors_only: true,
            ..Default::default()
        };
        assert_eq!(
            errors.lines(&logs, 10).len(),
            4,
            "a1, the panic, its message, b1"
        );
    }

    #[test]
    fn scrolling_and_search_move_through_the_merged_lines_and_stay_as_lines_arrive() {
        let a = log(&(0..30)
            .map(|k| format!("{}  INFO a seq={k}", at(k)))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>());
        let logs = [a.clone()];
        let mut v = MergedView::default();
        v.settle(&logs);
        v.find(&logs, "seq=10", true, 6, 3).expect("found");
        assert_eq!(v.hit, Some((0, 10)));
        let shown: Vec<u64> = v.visible(&logs, 6).iter().map(|l| l.abs).collect();
        assert!(
            shown.contains(&10) && shown.contains(&13),
            "context after the hit: {shown:?}"
        );
        a.lock()
            .expect("log")
            .push(format!("{}  INFO a new", at(59)));
        v.settle(&logs);
        let again: Vec<u64> = v.visible(&logs, 6).iter().map(|l| l.abs).collect();
        assert_eq!(again, shown, "still");
        assert!(v.find(&logs, "nothing like it", true, 6, 3).is_err());
        v.to_bottom();
        assert!(v
            .visible(&logs, 6)
            .last()
            .expect("lines")
            .raw
            .ends_with("a new"));
    }
}

#[cfg(test)]
mod more_tests {
    use super::*;
    use crate::engine::io::logs::Scrollback;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_hit_among_several_tails_is_on_screen() {
        let mk = |name: &str, step: u32| {
            let mut sb = Scrollback::new(1000, 1 << 20);
            for k in 0..200u32 {
                let ms = k * step;
                sb.push(format!(
                    "2026-11-30T10:{:02}:{:02}.{:03}000Z  INFO {name} seq={k}",
                    ms / 60000,
                    (ms / 1000) % 60,
                    ms % 1000
                ));
            }
            Arc::new(Mutex::new(sb))
        };
        let logs = [mk("a", 250), mk("b", 500), mk("c", 170)];
        let mut v = MergedView::default();
        v.settle(&logs);
        v.find(&logs, "seq=1", true, 18, 9).expect("found");
        let hit = v.hit.expect("hit");
        let shown = v.visible(&logs, 18);
        assert!(
            shown.iter().any(|l| (l.conn, l.abs) == hit),
            "hit {hit:?} offset {} shown {:?}",
            v.offset,
            shown.iter().map(|l| (l.conn, l.abs)).collect::<Vec<_>>()
        );
        v.find(&logs, "seq=1", true, 18, 9).expect("found");
        let hit2 = v.hit.expect("hit");
        assert_ne!(hit2, hit);
        assert!(v.visible(&logs, 18).iter().any(|l| (l.conn, l.abs) == hit2));
    }
}
