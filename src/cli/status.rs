//! `switchboard status [--json]`: the running console's answer, else `state.json` checked
//! against the live processes.

use std::path::Path;

use super::{runtime, Addressed};
use crate::config::manifest::ManifestOutline;
use crate::control::client;
use crate::control::protocol::{RequestBody, ResponseBody};
use crate::engine::io::logs::rfc3339;
use crate::engine::io::store::{self, unix_now};
use crate::engine::io::sys;
use crate::exit;
use crate::machine::redact::plain;
use crate::model::phase::Phase;
use crate::model::view::ConnectorView;

/// Where `status` got its rows.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StatusSource {
    /// The running console (its PID) answered, with its host links.
    Live(i32, Vec<crate::model::view::HostView>),
    /// No console answered; `state.json` (and /proc) were read. The text says why.
    StateFile(String),
}

/// The rows of `status`: asked of the running console, else built from `state.json` checked
/// against the live processes.
pub(super) async fn status_rows(
    manifest: &Addressed,
) -> Result<(Vec<ConnectorView>, StatusSource), String> {
    let dir = &manifest.state_dir;
    let holder = store::lock_state(dir);
    // Held or unknown (another user's state dir): the console itself is the one to ask.
    let answer = match holder {
        store::LockState::Free => None,
        store::LockState::Held(_) | store::LockState::Unknown(_) => {
            match client::request(dir, RequestBody::Status).await {
                Ok(ResponseBody::Status {
                    console_pid,
                    connectors,
                    hosts,
                }) => return Ok((connectors, StatusSource::Live(console_pid, hosts))),
                other => Some(other),
            }
        }
    };
    let (why, note) = match (&holder, answer) {
        (store::LockState::Unknown(why), _) => {
            return Err(format!(
                "cannot tell whether a console runs on {} ({why}); run `switchboard status` as the user the console runs as",
                dir.display()
            ))
        }
        (store::LockState::Held(pid), Some(answer)) => {
            let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "?".into());
            let why = match answer {
                Ok(other) => format!("the console (PID {pid}) answered {other:?}"),
                Err(e) => format!(
                    "the console (PID {pid}) did not answer on {}: {e}",
                    crate::control::socket_path(dir).display()
                ),
            };
            (why, "its console did not answer")
        }
        (store::LockState::Free | store::LockState::Held(_), _) => (
            format!("no console runs on {}", dir.display()),
            "no console running",
        ),
    };
    Ok((stored_rows(manifest, note)?, StatusSource::StateFile(why)))
}

/// Rows from `state.json`, in manifest order (in the file's own order when the manifest is
/// invalid), checked against /proc; a live process's detail ends with `(note)`. A connector
/// whose type is invalid has no row (its error is printed).
fn stored_rows(manifest: &Addressed, note: &str) -> Result<Vec<ConnectorView>, String> {
    let state = store::read_state(&manifest.state_dir)?;
    let now = unix_now();
    let row_of = |rec: &store::StoredConnector| {
        let alive = match (rec.view.pid, rec.adoption.start_ticks) {
            (Some(pid), Some(t)) => {
                sys::is_same_process(pid, t)
                    && crate::engine::adopt::runs_as(pid, &rec.view.name, rec.view.kind.as_str())
            }
            _ => false,
        };
        let mut row = ConnectorView {
            uptime_s: rec
                .adoption
                .started_unix
                .filter(|_| alive)
                .map(|s| (now - s).max(0.0)),
            countdown_s: None,
            as_of: now,
            ..rec.view.clone()
        };
        if rec.view.pid.is_some() && !alive {
            row.phase = Phase::Exited;
            row.pid = None;
            row.bots = 0;
            let pid = rec.view.pid.map(|p| p.to_string()).unwrap_or_default();
            let seen = format!(
                "last seen {} at {}",
                rec.view.phase,
                rfc3339(state.as_ref().map(|s| s.updated_unix).unwrap_or(0.0))
            );
            row.detail = match rec.view.pid.and_then(stranger_name) {
                // The number was reused: "gone" would read as "nothing runs as PID N".
                Some(name) => format!(
                    "PID {pid} now belongs to another process ({name}): the connector ended ({seen}); exit status unknown"
                ),
                None => format!("process {pid} is gone ({seen}); exit status unknown"),
            };
        } else if alive {
            row.detail = format!("{} ({note})", row.detail);
        }
        row
    };
    let Some(outline) = &manifest.outline else {
        return Ok(state
            .as_ref()
            .map(|s| s.connectors.iter().map(row_of).collect())
            .unwrap_or_default());
    };
    let rows = outline
        .connectors
        .iter()
        .filter_map(|c| {
            let kind = c.spec.as_ref().map(|s| s.kind).ok().or(c.kind)?;
            let Some(rec) = state.as_ref().and_then(|s| s.connector(&c.name)) else {
                return Some(ConnectorView {
                    detail: "never started by switchboard".into(),
                    max_attempts: c
                        .spec
                        .as_ref()
                        .map(|s| s.restart.max_attempts)
                        .unwrap_or(crate::config::manifest::restart_defaults::MAX_ATTEMPTS),
                    ..ConnectorView::new(c.name.clone(), kind, now)
                });
            };
            Some(row_of(rec))
        })
        .collect();
    Ok(rows)
}

/// The name (`comm`) of the live process that holds `pid` now, when it is not the process that
/// was recorded (the caller checked the start time).
fn stranger_name(pid: i32) -> Option<String> {
    if sys::is_zombie(pid) {
        return None;
    }
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(match plain(comm.trim()) {
        n if n.is_empty() => "unnamed".to_string(),
        n => n,
    })
}

/// Prints each broken connector's manifest error (a warning when the running console
/// answered: it runs on what it read before) and adds it to its row, unless the row says it
/// already. Returns whether any connector is broken.
fn mark_broken(manifest: &ManifestOutline, rows: &mut [ConnectorView], live: bool) -> bool {
    let mut broken = false;
    for c in &manifest.connectors {
        let Err(e) = &c.spec else { continue };
        broken = true;
        eprintln!("{}: {e}", if live { "warning" } else { "error" });
        if let Some(r) = rows
            .iter_mut()
            .find(|r| r.name == c.name && r.host.is_none())
        {
            let said = match e {
                crate::error::ManifestError::ConnectorConfig { config, .. } => {
                    r.detail.contains(&format!("config {}", config.display()))
                }
                _ => false,
            };
            if !said {
                r.detail = format!("{} · manifest error: {e}", r.detail);
            }
        }
    }
    broken
}

/// `switchboard status [--json]`. With a running console its answer is shown and is the
/// outcome, whatever the manifest on disk says (its problems are warnings); with none,
/// `state.json` is shown and an invalid manifest exits 2.
pub fn status(path: &Path, json: bool) -> u8 {
    let manifest = Addressed::load(path);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(c) => return c,
    };
    let (rows, source) = match rt.block_on(status_rows(&manifest)) {
        Ok(r) => r,
        Err(e) => {
            if let Some(p) = &manifest.problem {
                eprintln!("error: {p}");
            }
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let live = matches!(source, StatusSource::Live(..));
    if let StatusSource::Live(_, hosts) = &source {
        // A link that is not up (one whose command never speaks stays `connecting`): how long,
        // and what it runs. On stderr: stdout stays the table (or the JSON).
        let now = unix_now();
        for h in hosts
            .iter()
            .filter(|h| h.link != crate::model::view::LinkState::Connected)
        {
            eprintln!("switchboard: host {}", plain(&h.describe(now)));
        }
    }
    if let StatusSource::StateFile(why) = &source {
        eprintln!(
            "switchboard: {why}; showing {} checked against the live processes",
            store::state_path(&manifest.state_dir).display()
        );
    }
    let mut rows = rows;
    // Everything is shown. With no console running, the exit code still says the manifest is
    // invalid; a running console's answer is the outcome (the problems are warnings).
    let broken = match &manifest.outline {
        Some(outline) => mark_broken(outline, &mut rows, live) && !live,
        None => !live,
    };
    let rows: Vec<ConnectorView> = rows.into_iter().map(status_row).collect();
    // An invalid manifest with nothing recorded: only its error.
    let nothing = manifest.outline.is_none() && rows.is_empty() && !live;
    if json && !nothing {
        match serde_json::to_string(&rows) {
            Ok(s) => outln!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        }
    } else if !nothing {
        print_table(&rows, unix_now());
    }
    match (&manifest.problem, live) {
        (Some(_), true) => manifest.warn(),
        (Some(e), false) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
        (None, _) => {}
    }
    if broken {
        eprintln!(
            "error: {}: fix the connector(s) above, then `switchboard check`",
            manifest.path.display()
        );
        return exit::USAGE;
    }
    exit::OK
}

/// A `status` row as shown: times to a tenth of a second, and no CPU or memory figure for a
/// connector without a process (`state.json` keeps the last ones a stopped connector had).
fn status_row(mut v: ConnectorView) -> ConnectorView {
    v.uptime_s = v.uptime_s.map(|u| (u * 10.0).round() / 10.0);
    v.countdown_s = v.countdown_s.map(|c| (c * 10.0).round() / 10.0);
    if v.pid.is_none() {
        v.cpu_pct = None;
        v.rss_bytes = None;
    }
    v
}

/// The `status` table: every column as wide as its widest cell, numbers right-aligned, DETAIL
/// last. The cells are the one row formatter's (the TUI's table view shows the same).
fn print_table(rows: &[ConnectorView], now: f64) {
    use crate::model::row::{Column, STATUS_COLUMNS};
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let row = r.row(now);
            STATUS_COLUMNS
                .iter()
                .map(|c| match c {
                    // Text from the connector's own lines: printable only.
                    Column::Detail => plain(&row.cell(*c)),
                    c => row.cell(*c),
                })
                .collect()
        })
        .collect();
    let head: Vec<String> = STATUS_COLUMNS.iter().map(|c| c.header().into()).collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[String]| {
        let mut out = String::new();
        for (i, c) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(c);
            } else {
                // Padded by characters (`≥` is one), not bytes.
                let fill = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                if STATUS_COLUMNS[i].is_number() {
                    out.push_str(&format!("{fill}{c}  "));
                } else {
                    out.push_str(&format!("{c}{fill}  "));
                }
            }
        }
        out.trim_end().to_string()
    };
    outln!("{}", line(&head));
    for row in &cells {
        outln!("{}", line(row));
    }
}

#[cfg(test)]
mod status_row_tests {
    use super::*;

    #[test]
    fn a_connector_without_a_process_shows_no_cpu_or_memory() {
        let mut stopped = ConnectorView::new(
            "st-a",
            crate::config::connector::ConnectorType::BinanceFutures,
            0.0,
        );
        stopped.phase = crate::model::phase::Phase::Stopped;
        stopped.cpu_pct = Some(12.0);
        stopped.rss_bytes = Some(40 << 20);
        let shown = status_row(stopped.clone());
        assert_eq!((shown.cpu_pct, shown.rss_bytes), (None, None));
        // A running one keeps its figures.
        let mut running = stopped;
        running.phase = crate::model::phase::Phase::Ready;
        running.pid = Some(4242);
        let shown = status_row(running);
        assert_eq!(
            (shown.cpu_pct, shown.rss_bytes),
            (Some(12.0), Some(40 << 20))
        );
    }
}
