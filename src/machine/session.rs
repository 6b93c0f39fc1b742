//! The session around one connector process (DESIGN §13): the console's own registration of its
//! declared instruments, held until the exchange stream is evidently up (§1: an earlier one can
//! crash the connector), and the symbols seen in this process (kept in `state.json`, so a stall
//! that began before a console restart keeps its age). Pure: the engine passes times (Unix
//! seconds) and carries out what [`Session::poll`] asks for.

use std::collections::BTreeMap;

use super::feed::FeedStats;
use super::stream::{Gate, StreamWatch};
pub use crate::model::registration::{RegistrationState, RegistrationView};
use crate::model::settings::Instrument;
use crate::wire::hftbacktest;

/// The sentence shown when a restart left bots without data and nothing can heal it.
pub const UNHEALABLE: &str = "bots attached before this process: hftbacktest bots register once; restart them, or declare instruments";

/// What the engine must do after a [`Session::poll`].
#[derive(Debug, Clone, PartialEq)]
pub enum Ask {
    Nothing,
    /// Send these `LiveRequest` payloads on FromBot for this process.
    Register(Vec<Vec<u8>>),
}

/// One connector process's session, from `ready` until it ends.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The process this is about (None: not ready).
    pub pid: Option<i32>,
    pub ready_at: f64,
    pub stream: StreamWatch,
    state: Option<RegistrationState>,
    detail: String,
    sent_at: Option<f64>,
    /// A failed send is retried from then on.
    retry_at: f64,
    /// `ConnectionInterrupted` samples of the meter already counted.
    interruptions_seen: u64,
    /// The last Feed event per symbol in this process (what `state.json` keeps).
    pub seen: BTreeMap<String, f64>,
    /// Most bots attached at once during this process.
    pub bots_max: u32,
    /// Orders reported cancelled by the registration cleanup, already told.
    cancels_seen: u64,
    /// The last such order, said where the operator looks.
    pub order_warning: Option<String>,
}

/// How long a failed send waits before the next try.
const RETRY: f64 = 1.0;

impl Session {
    /// A session for `pid`, ready at `now`. `previous` is the session of the process before it
    /// (for the bots it had); `seen` is what a previous console recorded for this very process.
    pub fn begin(
        pid: i32,
        now: f64,
        previous: Option<&Session>,
        seen: BTreeMap<String, f64>,
        bots_now: u32,
        instruments: &[Instrument],
        register: bool,
    ) -> Session {
        let mut s = Session {
            pid: Some(pid),
            ready_at: now,
            seen,
            bots_max: bots_now,
            ..Session::default()
        };
        let bots_before = previous
            .filter(|p| p.pid.is_some_and(|old| old != pid))
            .map(|p| p.bots_max)
            .unwrap_or(0);
        if register && !instruments.is_empty() {
            s.state = Some(RegistrationState::Held);
            s.detail = "registration held: waiting for the exchange stream to connect".into();
        } else if bots_before > 0 && bots_now > 0 {
            s.state = Some(RegistrationState::Unhealable);
            s.detail = UNHEALABLE.into();
        }
        s
    }

    /// Whether time alone can change something (the engine ticks while it can).
    pub fn needs_ticks(&self) -> bool {
        matches!(
            self.state,
            Some(RegistrationState::Held | RegistrationState::Sending)
        )
    }

    /// The exchange-stream error lines in one read of the log, at `now`.
    pub fn stream_errors(&mut self, n: u32, now: f64) {
        for _ in 0..n {
            self.stream.failed(now);
        }
    }

    /// New meter figures: interruptions, bots, symbols seen, orders the registration cleanup
    /// reported cancelled (returns the warning when one is new).
    pub fn feed(&mut self, stats: &FeedStats) -> Option<String> {
        let mut news = None;
        if stats.cleanup_cancels > self.cancels_seen {
            self.cancels_seen = stats.cleanup_cancels;
            if let Some((sym, id)) = &stats.last_cleanup_cancel {
                let w = format!(
                    "order {id} on {sym} was reported cancelled by the connector's registration cleanup before the exchange answered; it may still rest on the exchange"
                );
                self.order_warning = Some(w.clone());
                news = Some(w);
            }
        }
        if stats.interruptions > self.interruptions_seen {
            self.interruptions_seen = stats.interruptions;
            if let Some(at) = stats.last_interruption_at {
                self.stream.failed(at);
            }
        }
        for (sym, s) in &stats.symbols {
            self.seen.insert(sym.clone(), s.last_event_at);
        }
        news
    }

    /// Bots attached now (a probe).
    pub fn bots(&mut self, bots: u32) {
        self.bots_max = self.bots_max.max(bots);
        if bots == 0 && self.state == Some(RegistrationState::Unhealable) {
            // The bots that were left without data are gone.
            self.state = None;
            self.detail.clear();
        }
    }

    /// Decides at `now` whether to register.
    pub fn poll(&mut self, now: f64, instruments: &[Instrument], connect_grace: f64) -> Ask {
        if self.state != Some(RegistrationState::Held) || now < self.retry_at {
            return Ask::Nothing;
        }
        match self.stream.gate(now, self.ready_at, connect_grace) {
            Gate::Held { why, .. } => {
                self.detail = format!("registration held: {why}");
                Ask::Nothing
            }
            Gate::Up => {
                self.state = Some(RegistrationState::Sending);
                self.detail = format!("registering {}", symbols_of(instruments).join(", "));
                Ask::Register(
                    instruments
                        .iter()
                        .map(|i| {
                            hftbacktest::register_instrument(&i.symbol, i.tick_size, i.lot_size)
                        })
                        .collect(),
                )
            }
        }
    }

    /// The IPC thread's answer to a [`Ask::Register`].
    pub fn registered(&mut self, result: Result<(), String>, now: f64, instruments: &[Instrument]) {
        if self.state != Some(RegistrationState::Sending) {
            return;
        }
        match result {
            Ok(()) => {
                self.state = Some(RegistrationState::Sent);
                self.sent_at = Some(now);
                self.detail = format!(
                    "registered {} (once the exchange stream was up)",
                    symbols_of(instruments).join(", ")
                );
            }
            Err(e) => {
                self.state = Some(RegistrationState::Held);
                self.retry_at = now + RETRY;
                self.detail = format!("registration not sent yet: {e}; retrying");
            }
        }
    }

    /// An exit that a bot's registration caused says who may have sent it: the console holds
    /// its own until the stream is up, so only the bots attached to this process can have.
    pub fn with_suspects(&self, ev: super::state::Event) -> super::state::Event {
        match ev {
            super::state::Event::Exited {
                status,
                summary: Some(s),
                send_error,
            } if s.starts_with("crashed by a registration") => {
                let who = match self.bots_max {
                    0 => "; no bot was seen attached: a tool, or a bot that came and went, sent it"
                        .to_string(),
                    n => format!("; {n} bot(s) were attached to it and may have sent it"),
                };
                super::state::Event::Exited {
                    status,
                    summary: Some(format!("{s}{who}")),
                    send_error,
                }
            }
            other => other,
        }
    }

    /// When its exchange stream last failed, if it is evidently up again since (the moment of
    /// the reconnect whose silence health names).
    pub fn reconnected_at(&self, now: f64, connect_grace: f64) -> Option<f64> {
        let last = self.stream.last_failure()?;
        (self.stream.gate(now, self.ready_at, connect_grace) == Gate::Up).then_some(last)
    }

    /// When the registration went out, if it did.
    pub fn sent_at(&self) -> Option<f64> {
        self.sent_at
    }

    /// Its view (None when there is nothing to say).
    pub fn view(&self, instruments: &[Instrument]) -> Option<RegistrationView> {
        let state = self.state?;
        Some(RegistrationView {
            state,
            symbols: symbols_of(instruments),
            detail: self.detail.clone(),
            at: self.sent_at.map(crate::model::clock::rfc3339),
        })
    }
}

fn symbols_of(instruments: &[Instrument]) -> Vec<String> {
    instruments.iter().map(|i| i.symbol.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btc() -> Vec<Instrument> {
        vec![Instrument {
            symbol: "btcusdt".into(),
            tick_size: 0.1,
            lot_size: 0.001,
        }]
    }

    #[test]
    fn registers_once_the_stream_is_up_and_only_once() {
        let inst = btc();
        let mut s = Session::begin(7, 100.0, None, BTreeMap::new(), 0, &inst, true);
        assert_eq!(s.poll(101.0, &inst, 3.0), Ask::Nothing);
        let v = s.view(&inst).expect("held");
        assert_eq!(v.state, RegistrationState::Held);
        assert!(
            v.detail.starts_with("registration held: waiting"),
            "{}",
            v.detail
        );
        let Ask::Register(reqs) = s.poll(103.0, &inst, 3.0) else {
            panic!("not registered after the grace");
        };
        assert_eq!(
            reqs,
            vec![hftbacktest::register_instrument("btcusdt", 0.1, 0.001)]
        );
        assert_eq!(
            s.poll(103.5, &inst, 3.0),
            Ask::Nothing,
            "one send at a time"
        );
        s.registered(Ok(()), 103.6, &inst);
        assert_eq!(
            s.view(&inst).map(|v| v.state),
            Some(RegistrationState::Sent)
        );
        assert_eq!(s.poll(200.0, &inst, 3.0), Ask::Nothing, "once per process");
    }

    #[test]
    fn stream_errors_hold_it_and_a_failed_send_is_retried() {
        let inst = btc();
        let mut s = Session::begin(7, 100.0, None, BTreeMap::new(), 0, &inst, true);
        s.stream_errors(3, 102.0);
        assert_eq!(s.poll(104.0, &inst, 3.0), Ask::Nothing);
        assert!(s
            .view(&inst)
            .expect("held")
            .detail
            .contains("exchange unreachable"));
        assert!(matches!(s.poll(105.0, &inst, 3.0), Ask::Register(_)));
        s.registered(Err("nobody subscribes".into()), 105.1, &inst);
        assert_eq!(
            s.poll(105.5, &inst, 3.0),
            Ask::Nothing,
            "waits before retrying"
        );
        assert!(matches!(s.poll(106.2, &inst, 3.0), Ask::Register(_)));
    }

    #[test]
    fn without_instruments_a_restart_under_bots_is_named_unhealable() {
        let prev = Session::begin(7, 100.0, None, BTreeMap::new(), 2, &[], true);
        let s = Session::begin(8, 200.0, Some(&prev), BTreeMap::new(), 2, &[], true);
        let v = s.view(&[]).expect("said");
        assert_eq!(v.state, RegistrationState::Unhealable);
        assert_eq!(v.detail, UNHEALABLE);
        // register = false with instruments is the same.
        let s = Session::begin(8, 200.0, Some(&prev), BTreeMap::new(), 1, &btc(), false);
        assert_eq!(
            s.view(&btc()).map(|v| v.state),
            Some(RegistrationState::Unhealable)
        );
        // No bot before: nothing to say.
        let fresh = Session::begin(9, 300.0, None, BTreeMap::new(), 1, &[], true);
        assert_eq!(fresh.view(&[]), None);
    }
}
