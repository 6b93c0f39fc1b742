//! The table's state: its order (`O`), its row filter (`&` on the table, a status bar click)
//! and what `!` stops at.

use super::App;
use crate::model::phase::Phase;
use crate::model::view::ConnectorView;

/// The order of the table's rows (`O` cycles); ties keep the manifest's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Unhealthy connectors (as `!` finds them) first.
    #[default]
    Unhealthy,
    /// Failed, exited, backoff, … first; idle last.
    Phase,
    /// Stale, erroring, ok, quiet, then those without a feed.
    Health,
    /// Most restarts first.
    Restarts,
    /// Busiest first.
    Cpu,
    Name,
    /// As the manifest lists them.
    Manifest,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Unhealthy => SortKey::Phase,
            SortKey::Phase => SortKey::Health,
            SortKey::Health => SortKey::Restarts,
            SortKey::Restarts => SortKey::Cpu,
            SortKey::Cpu => SortKey::Name,
            SortKey::Name => SortKey::Manifest,
            SortKey::Manifest => SortKey::Unhealthy,
        }
    }

    /// As the table's title says it.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Unhealthy => "unhealthy first",
            SortKey::Phase => "phase",
            SortKey::Health => "health",
            SortKey::Restarts => "restarts",
            SortKey::Cpu => "CPU",
            SortKey::Name => "name",
            SortKey::Manifest => "manifest order",
        }
    }

    /// `snaps`' indices in this order.
    pub fn order(self, snaps: &[ConnectorView]) -> Vec<usize> {
        use crate::model::health::FeedHealth;
        let mut idx: Vec<usize> = (0..snaps.len()).collect();
        let phase_rank = |p: Phase| match p {
            Phase::Failed => 0,
            Phase::Exited => 1,
            Phase::Backoff => 2,
            Phase::Stopping => 3,
            Phase::Starting => 4,
            Phase::Building => 5,
            Phase::Ready => 6,
            Phase::Stopped => 7,
            Phase::Idle => 8,
        };
        let health_rank = |h: Option<FeedHealth>| match h {
            Some(FeedHealth::Stale) => 0,
            Some(FeedHealth::Erroring) => 1,
            Some(FeedHealth::Ok) => 2,
            Some(FeedHealth::Quiet) => 3,
            None => 4,
        };
        match self {
            SortKey::Unhealthy => idx.sort_by_key(|i| !is_unhealthy(&snaps[*i])),
            SortKey::Phase => idx.sort_by_key(|i| phase_rank(snaps[*i].phase)),
            SortKey::Health => idx.sort_by_key(|i| health_rank(snaps[*i].health)),
            SortKey::Restarts => idx.sort_by_key(|i| std::cmp::Reverse(snaps[*i].restarts)),
            SortKey::Cpu => idx.sort_by(|a, b| {
                let cpu = |i: &usize| snaps[*i].cpu_pct.unwrap_or(-1.0);
                cpu(b).total_cmp(&cpu(a))
            }),
            SortKey::Name => idx.sort_by_key(|i| snaps[*i].id().to_string()),
            SortKey::Manifest => {}
        }
        idx
    }
}

impl App {
    /// The connectors' indices in the order the table shows them, without the rows the row
    /// filter hides.
    pub fn order(&self, snaps: &[ConnectorView]) -> Vec<usize> {
        let mut order = self.sort.order(snaps);
        if !self.row_filter.is_empty() {
            order.retain(|i| row_matches(&snaps[*i], &self.row_filter));
        }
        order
    }

    /// Filters the table to the rows matching `filter` (empty: all) and focuses the first of
    /// them when the focused connector is filtered out; says how many match.
    pub fn set_row_filter(&mut self, filter: &str, snaps: &[ConnectorView]) {
        self.row_filter = filter.trim().to_lowercase();
        let order = self.order(snaps);
        if let Some(first) = order.first() {
            if !order.contains(&self.focus) {
                self.focus = *first;
            }
        }
        self.notice = Some(if self.row_filter.is_empty() {
            "row filter off: every connector is listed".into()
        } else if order.is_empty() {
            format!("no connector matches \"{}\" (Esc clears)", self.row_filter)
        } else {
            format!(
                "{} of {} connectors match \"{}\" (Esc clears)",
                order.len(),
                snaps.len(),
                self.row_filter
            )
        });
    }
}

/// Whether the table's row filter `filter` (lowercase) keeps `s`: its name, `phase:PHASE`,
/// `health:HEALTH`, `crash-loop` when it is in one, `unhealthy` when `!` would stop at it, and
/// its detail are searched for the text. A status bar count filters with the exact word (e.g.
/// `phase:failed`, `health:stale`).
pub fn row_matches(s: &ConnectorView, filter: &str) -> bool {
    use crate::model::health::FeedHealth;
    if filter.is_empty() {
        return true;
    }
    let health = match s.health {
        Some(FeedHealth::Ok) => "ok",
        Some(FeedHealth::Quiet) => "quiet",
        Some(FeedHealth::Stale) => "stale",
        Some(FeedHealth::Erroring) => "erroring",
        None => "none",
    };
    let hay = format!(
        "{} phase:{} health:{} {}{}{} {}",
        s.id(),
        s.phase.as_str(),
        health,
        if s.crash_loop.is_some() {
            "crash-loop "
        } else {
            ""
        },
        if is_unhealthy(s) { "unhealthy " } else { "" },
        s.detail,
        s.health_detail.as_deref().unwrap_or(""),
    );
    hay.to_lowercase().contains(filter)
}

/// Whether `!` stops at a connector: its feed is stale or erroring, it is down (failed, exited,
/// in backoff), or it is crash-looping.
pub fn is_unhealthy(s: &ConnectorView) -> bool {
    s.health.is_some_and(|h| h.is_unhealthy())
        || matches!(s.phase, Phase::Failed | Phase::Exited | Phase::Backoff)
        || s.crash_loop.is_some()
}
