//! Taking over from a previous console: its `state.json` says what ran; what still runs and is
//! verifiably the same process is adopted, the rest is reported truthfully. What the previous
//! console knew goes on: each connector's history, restart count, restart budget (a crash loop
//! stays one) and the last decision about it (a connector stopped by the operator stays
//! stopped, one the budget gave up on stays failed).

use tokio::time::Instant;

use super::{adopt, exit_message, EngineOptions, Runtime};
use crate::config::manifest::ConnectorSpec;
use crate::engine::io::{logs, process, store};
use crate::machine::budget::RestartBudget;
use crate::machine::state::{self, ConnectorState};
use crate::model::phase::Phase;

impl Runtime {
    /// Applies the previous console's `state.json`: adopts what still runs and is verifiably
    /// ours, reports the rest truthfully, and resumes a restart it was waiting for when this
    /// console (opened with `options`) is to start that connector. The checks read /proc and
    /// iceoryx2: off the workers.
    pub(super) async fn take_over(&mut self, options: &EngineOptions) {
        let previous = match store::read_state(&self.state_dir) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!("ignoring the previous state: {e}");
                return;
            }
        };
        let specs: Vec<ConnectorSpec> = self.slots.iter().map(|s| s.spec.clone()).collect();
        self.foreign = previous
            .connectors
            .iter()
            .filter(|r| !specs.iter().any(|s| s.name == r.view.name))
            .cloned()
            .collect();
        let prev = previous.clone();
        let verdicts = tokio::task::spawn_blocking(move || {
            specs
                .iter()
                .map(|spec| {
                    prev.connector(&spec.name)
                        .map(|rec| adopt::verdict(&prev, rec, spec))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_else(|e| {
            tracing::warn!("adoption checks failed: {e}; nothing adopted");
            Vec::new()
        });
        let now = Instant::now().into_std();
        for (i, verdict) in verdicts.into_iter().enumerate() {
            let (Some(verdict), Some(rec)) =
                (verdict, previous.connector(&self.slots[i].spec.name))
            else {
                continue;
            };
            let v = &rec.view;
            let budget = rec
                .adoption
                .budget
                .map(|b| RestartBudget::from_record(&b, now, store::unix_now()))
                .unwrap_or_default();
            {
                let slot = &mut self.slots[i];
                slot.decision = v.decision.clone();
                slot.history = v.history.iter().cloned().collect();
            }
            let selected = self.selected_at_start(i, options);
            let slot = &mut self.slots[i];
            slot.last_exit_at = v.last_exit_at.clone();
            match verdict {
                adopt::Verdict::Adopt {
                    pid,
                    start_ticks,
                    ready,
                } => match process::adopt(pid, start_ticks) {
                    Ok(handle) => {
                        let now_unix = store::unix_now();
                        // A corrupt value (NaN, 1e300) leaves the uptime unknown, never panics.
                        let started_at = rec
                            .adoption
                            .started_unix
                            .and_then(|t| std::time::Duration::try_from_secs_f64(now_unix - t).ok())
                            .and_then(|age| now.checked_sub(age));
                        let stopping = match (v.phase, rec.adoption.stop) {
                            (Phase::Stopping, Some(stop)) => Some(state::StopIntent {
                                left: std::time::Duration::try_from_secs_f64(
                                    stop.kill_at_unix - now_unix,
                                )
                                .unwrap_or_default(),
                                kill: stop.kill,
                            }),
                            // Stopping without a recorded deadline (an older console): due now.
                            (Phase::Stopping, None) => Some(state::StopIntent {
                                left: std::time::Duration::ZERO,
                                kill: false,
                            }),
                            _ => None,
                        };
                        slot.restored_seen = Some((pid, rec.adoption.symbols.clone()));
                        slot.child = Some(handle.signaller());
                        slot.start_ticks = Some(start_ticks);
                        slot.started_unix = rec.adoption.started_unix;
                        slot.adopted = true;
                        slot.wanted = stopping.is_none();
                        let _ = logs::write_marker(
                            &slot.log,
                            &format!("adopt: PID {pid} taken over by a new console"),
                        );
                        tracing::info!("{}: PID {pid} adopted from the previous console", slot.id);
                        let key = slot.key;
                        if let (Some(program), true) =
                            (self.log_relay.clone(), slot.spec.capture_output)
                        {
                            let spec = crate::engine::io::relay::RelaySpec {
                                file: slot.log.clone(),
                                max_bytes: self.log_max_bytes,
                                keep: self.log_keep,
                            };
                            let recorded = rec.adoption.relay;
                            supervise_adopted_relay(
                                program,
                                spec,
                                (pid, start_ticks),
                                recorded,
                                self.tx.clone(),
                                key,
                            );
                        }
                        let tx = self.tx.clone();
                        let log = slot.log.clone();
                        let secrets = slot.spec.secrets.clone();
                        let name = slot.spec.name.clone();
                        tokio::spawn(async move {
                            let status = handle.exited.await.ok().flatten();
                            let _ = tx.send(exit_message(
                                &name,
                                key,
                                pid,
                                status,
                                Some(&log),
                                &secrets,
                            ));
                        });
                        let takeover = state::Takeover {
                            pid,
                            restarts: v.restarts,
                            budget,
                            started_at,
                            ready,
                            stopping,
                        };
                        let ctx = self.ctx(None);
                        let (st, effects) =
                            ConnectorState::take_over(&self.slots[i].settings, takeover, ctx);
                        self.slots[i].state = st;
                        for fx in effects {
                            self.perform(i, fx);
                        }
                    }
                    Err(e) => {
                        slot.state = ConnectorState::gone(
                            format!("process {pid} could not be watched ({e}); not adopted"),
                            v.restarts,
                            v.last_exit,
                        );
                    }
                },
                adopt::Verdict::Gone(why) => {
                    slot.state = ConnectorState::gone(why, v.restarts, v.last_exit);
                }
                adopt::Verdict::AtRest if v.phase == Phase::Backoff && selected => {
                    // The restart it was waiting for goes on, within the same budget: a crash
                    // loop does not earn a fresh budget by outliving its console.
                    let left = v
                        .countdown_s
                        .map(|c| v.as_of + c - store::unix_now())
                        .and_then(|l| std::time::Duration::try_from_secs_f64(l).ok())
                        .unwrap_or_default()
                        .min(slot.settings.restart.max_backoff);
                    slot.wanted = true;
                    let ctx = self.ctx(None);
                    let (st, effects) = ConnectorState::resume_backoff(
                        v.restarts,
                        budget,
                        v.last_exit,
                        v.detail.clone(),
                        left,
                        ctx,
                    );
                    self.slots[i].state = st;
                    for fx in effects {
                        self.perform(i, fx);
                    }
                }
                adopt::Verdict::AtRest => {
                    let phase = match v.phase {
                        Phase::Stopped | Phase::Exited | Phase::Failed | Phase::Idle => v.phase,
                        // A build, start or backoff the previous console did not finish.
                        Phase::Building
                        | Phase::Starting
                        | Phase::Ready
                        | Phase::Stopping
                        | Phase::Backoff => Phase::Idle,
                    };
                    slot.state =
                        ConnectorState::restored(phase, v.detail.clone(), v.restarts, v.last_exit);
                    // Given up on, it is still wanted (and not healthy) until someone acts.
                    slot.wanted = phase == Phase::Failed && v.wanted;
                }
            }
        }
    }
}

/// Watches the log relay a previous console left for adopted connector `connector`, or attaches
/// a new one (with a gap marker) when it is gone. Nothing is done for a connector that writes to
/// no pipe (its output was not captured, or went straight to the file).
fn supervise_adopted_relay(
    program: std::path::PathBuf,
    spec: crate::engine::io::relay::RelaySpec,
    connector: (i32, u64),
    recorded: Option<crate::engine::io::relay::RelayRecord>,
    tx: tokio::sync::mpsc::UnboundedSender<super::mailbox::Msg>,
    key: super::mailbox::SlotKey,
) {
    use crate::engine::io::relay;
    let (pid, ticks) = connector;
    tokio::spawn(async move {
        // /proc reads: off the workers' hot path but short; the pidfds need the runtime.
        let spare = match relay::open_connector_pipe(pid) {
            Ok(fd) if crate::engine::io::sys::is_same_process(pid, ticks) => fd,
            Ok(_) => return,
            Err(e) => {
                tracing::info!(pid, "no log relay to supervise: {e}");
                return;
            }
        };
        let live = relay::find_live(recorded, pid);
        let gap = match &live {
            Some(_) => None,
            None => {
                // When the file was last written bounds the gap from below.
                let ago = std::fs::metadata(&spec.file)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                let who = recorded.map_or("its log relay".to_string(), |r| {
                    format!("its log relay (PID {})", r.pid)
                });
                Some((
                    ago,
                    format!("{who} was gone when a new console took over the connector (the log was last written {:.1} s ago)", ago.as_secs_f64()),
                ))
            }
        };
        let (news, mut rx) = tokio::sync::mpsc::unbounded_channel();
        if let Some(w) = &live {
            let _ = news.send(relay::RelayNews::Running(w.record));
        }
        let supervisor = relay::Supervisor {
            program,
            spec,
            connector: (pid, Some(ticks)),
            spare,
            news,
        };
        tokio::spawn(async move {
            while let Some(news) = rx.recv().await {
                if tx
                    .send(super::mailbox::Msg::Relay { key, pid, news })
                    .is_err()
                {
                    break;
                }
            }
        });
        supervisor.run(live, gap).await;
    });
}
