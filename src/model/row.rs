//! One row of the fleet table, formatted once for every front end: `switchboard status` prints
//! it as text, the TUI's table view lays the same cells out and styles them on top.

use super::format::{secs_duration, short_bytes, short_duration, short_rate};
use super::health::FeedHealth;
use super::phase::Phase;

/// What a row shows of one connector, as plain values (the engine's view fills it in).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowFacts {
    /// `NAME` or `NAME@HOST`.
    pub id: String,
    pub type_label: String,
    pub phase: Phase,
    /// The crash loop's restarts and its sentence, while it crash-loops.
    pub crash_loop: Option<(u32, String)>,
    pub pid: Option<i32>,
    /// Uptime at the time of the table, seconds.
    pub uptime_s: Option<f64>,
    pub restarts: u32,
    pub bots: u32,
    pub cpu_pct: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub health: Option<FeedHealth>,
    /// Why its feed is unhealthy, when it is.
    pub health_detail: Option<String>,
    /// Events per second, and whether that is a lower bound (samples were lost).
    pub rate: Option<(f64, bool)>,
    pub errors_1m: u32,
    /// `code 1, 2m ago`, `code 1` or `-`.
    pub last_exit: String,
    /// Why it is in its phase.
    pub detail: String,
    /// The console's registration, while it waits or cannot heal the bots.
    pub registration: Option<String>,
    /// Its manifest entry changed while it ran.
    pub restart_needed: bool,
}

/// A column of the fleet table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    Type,
    Phase,
    Pid,
    Uptime,
    Restarts,
    Bots,
    Cpu,
    Mem,
    /// The feed health word (`ok`, `quiet`, `stale`, `erroring`).
    Health,
    /// Events per second.
    Rate,
    /// Health and rate in one cell, for narrow screens: `STALE`, `E 7/m`, `quiet`, `1.2k`.
    Feed,
    LastExit,
    Detail,
}

/// The columns of `switchboard status`.
pub const STATUS_COLUMNS: [Column; 13] = [
    Column::Name,
    Column::Type,
    Column::Phase,
    Column::Pid,
    Column::Uptime,
    Column::Restarts,
    Column::Bots,
    Column::Cpu,
    Column::Mem,
    Column::Health,
    Column::Rate,
    Column::LastExit,
    Column::Detail,
];

/// The columns of the TUI's table view: health and rate share one cell there.
pub const TABLE_COLUMNS: [Column; 12] = [
    Column::Name,
    Column::Type,
    Column::Phase,
    Column::Pid,
    Column::Uptime,
    Column::Restarts,
    Column::Bots,
    Column::Cpu,
    Column::Mem,
    Column::Feed,
    Column::LastExit,
    Column::Detail,
];

/// What an empty cell shows.
pub const NONE: &str = "-";

impl Column {
    /// The column's heading.
    pub fn header(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Type => "TYPE",
            Column::Phase => "PHASE",
            Column::Pid => "PID",
            Column::Uptime => "UPTIME",
            Column::Restarts => "RESTARTS",
            Column::Bots => "BOTS",
            Column::Cpu => "CPU",
            Column::Mem => "MEM",
            Column::Health => "HEALTH",
            Column::Rate => "EVENTS/S",
            Column::Feed => "FEED",
            Column::LastExit => "LAST EXIT",
            Column::Detail => "DETAIL",
        }
    }

    /// True for the numbers, which a text table aligns right.
    pub fn is_number(self) -> bool {
        match self {
            Column::Pid
            | Column::Uptime
            | Column::Restarts
            | Column::Bots
            | Column::Cpu
            | Column::Mem
            | Column::Rate => true,
            Column::Name
            | Column::Type
            | Column::Phase
            | Column::Health
            | Column::Feed
            | Column::LastExit
            | Column::Detail => false,
        }
    }
}

impl RowFacts {
    /// The text of one cell.
    pub fn cell(&self, c: Column) -> String {
        let or_none = |s: Option<String>| s.unwrap_or_else(|| NONE.into());
        match c {
            Column::Name => self.id.clone(),
            Column::Type => self.type_label.clone(),
            Column::Phase => self.phase.as_str().to_string(),
            Column::Pid => or_none(self.pid.map(|p| p.to_string())),
            Column::Uptime => or_none(self.uptime_s.map(|u| short_duration(secs_duration(u)))),
            Column::Restarts => self.restarts.to_string(),
            Column::Bots => self.bots.to_string(),
            Column::Cpu => or_none(self.cpu_pct.map(|c| format!("{c:.0}%"))),
            Column::Mem => or_none(self.rss_bytes.map(short_bytes)),
            Column::Health => or_none(self.health.map(|h| h.as_str().to_string())),
            Column::Rate => or_none(self.rate_text()),
            Column::Feed => self.feed(),
            Column::LastExit => self.last_exit.clone(),
            Column::Detail => self.full_detail(),
        }
    }

    /// `1.2k`, `≥1.2k` when samples were lost.
    fn rate_text(&self) -> Option<String> {
        self.rate.map(|(r, lower_bound)| {
            format!("{}{}", if lower_bound { "≥" } else { "" }, short_rate(r))
        })
    }

    /// The feed of a ready connector in one cell: the trouble when it has one, else the rate.
    fn feed(&self) -> String {
        if self.phase != Phase::Ready {
            return NONE.into();
        }
        match self.health {
            Some(FeedHealth::Stale) => "STALE".into(),
            Some(FeedHealth::Erroring) => format!("E {}/m", self.errors_1m),
            Some(FeedHealth::Quiet) => "quiet".into(),
            Some(FeedHealth::Ok) | None => self.rate_text().unwrap_or_else(|| NONE.into()),
        }
    }

    /// True when its feed is stale or erroring.
    pub fn unhealthy(&self) -> bool {
        self.health.is_some_and(FeedHealth::is_unhealthy)
    }

    /// The detail, most pressing first: the crash loop, a pending restart, the console's
    /// registration, what is wrong with the feed, then why it is in its phase.
    pub fn full_detail(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        if let Some((_, cl)) = &self.crash_loop {
            parts.push(cl);
        }
        if self.restart_needed {
            parts.push("restart needed (its manifest entry changed)");
        }
        if let Some(reg) = &self.registration {
            parts.push(reg);
        }
        if let (Some(why), true) = (&self.health_detail, self.unhealthy()) {
            parts.push(why);
        }
        parts.push(&self.detail);
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> RowFacts {
        RowFacts {
            id: "bf".into(),
            type_label: "binancefutures".into(),
            phase: Phase::Ready,
            pid: Some(42),
            uptime_s: Some(75.0),
            cpu_pct: Some(6.4),
            rss_bytes: Some(43 * 1024 * 1024),
            health: Some(FeedHealth::Ok),
            rate: Some((1234.0, true)),
            last_exit: "-".into(),
            detail: "ready in 41 ms".into(),
            ..RowFacts::default()
        }
    }

    #[test]
    fn one_format_per_cell() {
        let r = ready();
        let cells: Vec<String> = STATUS_COLUMNS.iter().map(|c| r.cell(*c)).collect();
        assert_eq!(
            cells,
            [
                "bf",
                "binancefutures",
                "ready",
                "42",
                "1m",
                "0",
                "0",
                "6%",
                "43M",
                "ok",
                "≥1.2k",
                "-",
                "ready in 41 ms"
            ]
        );
        assert_eq!(r.cell(Column::Feed), "≥1.2k");
        let idle = RowFacts {
            phase: Phase::Idle,
            ..RowFacts::default()
        };
        for c in [
            Column::Pid,
            Column::Uptime,
            Column::Cpu,
            Column::Mem,
            Column::Feed,
        ] {
            assert_eq!(idle.cell(c), NONE, "{c:?}");
        }
    }

    #[test]
    fn the_detail_says_the_most_pressing_first() {
        let r = RowFacts {
            health: Some(FeedHealth::Stale),
            health_detail: Some("no data for 12s".into()),
            restart_needed: true,
            crash_loop: Some((3, "crash-looping (3 restarts in 8 s)".into())),
            ..ready()
        };
        assert_eq!(
            r.cell(Column::Detail),
            "crash-looping (3 restarts in 8 s); restart needed (its manifest entry changed); no data for 12s; ready in 41 ms"
        );
        assert_eq!(r.cell(Column::Feed), "STALE");
        assert_eq!(r.cell(Column::Health), "stale");
        // A verdict of a feed that is healthy again is not shown.
        let ok = RowFacts {
            health_detail: Some("old".into()),
            ..ready()
        };
        assert_eq!(ok.cell(Column::Detail), "ready in 41 ms");
    }
}
