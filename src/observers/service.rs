//! Running under systemd (`Type=notify`, see `contrib/switchboard.service`): `READY=1` once
//! every connector the console started is ready, a `STATUS=` line with a one-line summary
//! whenever it changes, and `STOPPING=1` when a stop begins. Outside systemd (no
//! `NOTIFY_SOCKET`) nothing is sent. Notifications go through the sd-notify crate.

use sd_notify::NotifyState;
use tokio::task::JoinHandle;

use crate::fleet::Fleet;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView};

/// The summary systemd shows in `systemctl status`: counts per phase in lifecycle order, then
/// the unhealthy feeds and crash loops, e.g. `3 ready · 1 backoff · 1 stale · 1 crash-looping`.
pub fn summary(views: &[ConnectorView]) -> String {
    let fleet: Vec<_> = views.iter().map(ConnectorView::standing).collect();
    crate::model::fleet::summary(&fleet)
}

/// True when every connector in `wanted` is ready.
pub fn all_ready(views: &[ConnectorView], wanted: &[ConnectorId]) -> bool {
    wanted.iter().all(|id| {
        views
            .iter()
            .any(|v| v.id() == *id && v.phase == Phase::Ready)
    })
}

/// Whether systemd waits for our notifications.
pub fn under_systemd() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// Tells systemd that a stop has begun.
pub fn stopping() {
    if under_systemd() {
        notify(&[NotifyState::Stopping]);
    }
}

/// Sends `READY=1` once every `wanted` connector is ready and `STATUS=` on every change of the
/// summary, until the engine ends. None outside systemd.
pub fn spawn(engine: &Fleet, wanted: Vec<ConnectorId>) -> Option<JoinHandle<()>> {
    if !under_systemd() {
        return None;
    }
    let mut views = engine.views();
    let engine = engine.clone();
    Some(tokio::spawn(async move {
        let mut ready_sent = false;
        let mut last = String::new();
        loop {
            let (line, ready) = {
                let v = views.borrow_and_update();
                (summary(&v), all_ready(&v, &wanted))
            };
            let mut states = Vec::new();
            let status;
            if line != last {
                status = line.clone();
                states.push(NotifyState::Status(&status));
            }
            if ready && !ready_sent {
                states.push(NotifyState::Ready);
                ready_sent = true;
            }
            if !states.is_empty() {
                notify(&states);
            }
            last = line;
            tokio::select! {
                changed = views.changed() => if changed.is_err() { break },
                _ = engine.await_shutdown() => break,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::connector::ConnectorType;
    use crate::model::health::FeedHealth;

    fn view(name: &str, phase: Phase) -> ConnectorView {
        ConnectorView {
            phase,
            ..ConnectorView::new(name, ConnectorType::Bybit, 0.0)
        }
    }

    #[test]
    fn the_summary_counts_phases_in_lifecycle_order_then_bad_feeds() {
        let mut stale = view("d", Phase::Ready);
        stale.health = Some(FeedHealth::Stale);
        let views = vec![
            view("a", Phase::Failed),
            view("b", Phase::Ready),
            view("c", Phase::Backoff),
            stale,
        ];
        assert_eq!(summary(&views), "2 ready · 1 backoff · 1 failed · 1 stale");
        assert_eq!(summary(&[]), "no connectors");
    }

    #[test]
    fn ready_means_every_wanted_connector_is_ready() {
        let views = vec![view("a", Phase::Ready), view("b", Phase::Starting)];
        assert!(all_ready(&views, &[ConnectorId::local("a")]));
        assert!(!all_ready(
            &views,
            &[ConnectorId::local("a"), ConnectorId::local("b")]
        ));
        assert!(!all_ready(&views, &[ConnectorId::local("zz")]));
    }
}
