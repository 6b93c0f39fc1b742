//! Managed bots and their connectors, in order (DESIGN §13, issue #23): a bot starts once every
//! connector it trades on serves (ready, its exchange stream up, the console's own registration
//! settled for its `cleanup_grace`); stopping or restarting a connector stops its bots first; a
//! connector that comes back as a new process restarts the bots bound to the old one. The state
//! machine stays per slot; this is the engine's ordering between slots.

use super::Runtime;
use crate::engine::io::store;
use crate::machine::session::RegistrationState;
use crate::machine::state::{Command, Event};
use crate::model::phase::Phase;
use crate::model::view;

impl Runtime {
    /// The slots of the bots that trade on slot `i`.
    pub(super) fn dependents(&self, i: usize) -> Vec<usize> {
        let name = &self.slots[i].spec.name;
        (0..self.slots.len())
            .filter(|&b| {
                self.slots[b]
                    .spec
                    .bot
                    .as_ref()
                    .is_some_and(|bot| bot.connectors.iter().any(|c| c == name))
            })
            .collect()
    }

    /// The slots of the connectors bot `b` trades on (those that exist).
    fn dependencies(&self, b: usize) -> Vec<usize> {
        let Some(bot) = &self.slots[b].spec.bot else {
            return Vec::new();
        };
        bot.connectors
            .iter()
            .filter_map(|c| self.slots.iter().position(|s| &s.spec.name == c))
            .collect()
    }

    /// Whether connector `c` serves its bots now; else what it waits for.
    fn serving(&self, c: usize, now: f64) -> Result<(), String> {
        let s = &self.slots[c];
        let name = &s.spec.name;
        if s.state.phase == Phase::Failed {
            // Nothing brings it back by itself (its budget gave up, or its start was refused).
            return Err(format!("{name}, which failed: start it to go on"));
        }
        let (Phase::Ready, Some(pid)) = (s.state.phase, s.state.pid) else {
            return Err(format!("{name} to be ready"));
        };
        if s.session.pid != Some(pid) {
            return Err(format!("{name} to be ready"));
        }
        let registers = s.spec.register && !s.spec.instruments.is_empty();
        if registers {
            let sent = s
                .session
                .view(&s.spec.instruments)
                .is_some_and(|v| v.state == RegistrationState::Sent);
            return match (sent, s.session.sent_at()) {
                // The connector's first registration of a symbol cancels that symbol's open
                // orders asynchronously (DESIGN §1): a bot's orders sent meanwhile can be
                // reported cancelled while they rest on the exchange.
                (true, Some(at)) if now - at >= s.spec.cleanup_grace.as_secs_f64() => Ok(()),
                (true, _) => Err(format!("{name}'s registration cleanup")),
                (false, _) => Err(format!("{name}'s exchange connection")),
            };
        }
        match s
            .session
            .stream
            .gate(now, s.session.ready_at, s.spec.connect_grace.as_secs_f64())
        {
            crate::machine::stream::Gate::Up => Ok(()),
            crate::machine::stream::Gate::Held { .. } => {
                Err(format!("{name}'s exchange connection"))
            }
        }
    }

    /// Whether every connector of bot `b` serves; else "waiting for …".
    fn all_serving(&self, b: usize, now: f64) -> Result<(), String> {
        let deps = self.dependencies(b);
        let waits: Vec<String> = deps
            .iter()
            .filter_map(|&c| self.serving(c, now).err())
            .collect();
        match waits.is_empty() {
            true => Ok(()),
            false => Err(format!("waiting for {}", waits.join(", "))),
        }
    }

    /// Carries out an operator's (or the API's) command on slot `i` in the order bots and
    /// connectors need. Returns true when the state machine refused it.
    pub(super) fn command_in_order(&mut self, i: usize, cmd: Command) -> bool {
        let now = store::unix_now();
        if self.slots[i].spec.is_bot() {
            match cmd {
                Command::Build { .. } => {
                    self.slots[i].hold = None;
                    tracing::info!("{}: a bot has nothing to build", self.slots[i].id);
                    return true;
                }
                Command::Stop | Command::Kill => {
                    self.slots[i].hold = None;
                    return self.dispatch(i, Event::Command(cmd));
                }
                Command::Start | Command::Restart => {
                    // Its connectors come first: start those at rest.
                    for c in self.dependencies(i) {
                        if self.slots[c].state.phase.is_at_rest()
                            && self.slots[c].after_bots.is_none()
                        {
                            self.slots[c].wanted = true;
                            self.dispatch(c, Event::Command(Command::Start));
                        }
                    }
                    return match self.all_serving(i, now) {
                        Ok(()) => {
                            self.slots[i].hold = None;
                            self.bind(i);
                            self.dispatch(i, Event::Command(cmd))
                        }
                        Err(why) => {
                            self.slots[i].hold = Some(why);
                            false
                        }
                    };
                }
            }
        }
        let bots: Vec<usize> = self
            .dependents(i)
            .into_iter()
            .filter(|&b| !self.slots[b].state.phase.is_at_rest() || self.slots[b].hold.is_some())
            .collect();
        match cmd {
            Command::Stop | Command::Kill | Command::Restart if !bots.is_empty() => {
                let name = self.slots[i].spec.name.clone();
                for &b in &bots {
                    let restart = cmd == Command::Restart
                        && self.slots[b]
                            .spec
                            .bot
                            .as_ref()
                            .is_some_and(|x| x.restart_with_connectors);
                    self.slots[b].hold = restart.then(|| format!("waiting for {name} to restart"));
                    if !self.slots[b].state.phase.is_at_rest() {
                        let stop = match cmd {
                            Command::Kill => Command::Kill,
                            _ => Command::Stop,
                        };
                        tracing::info!(
                            "{}: stopping it before {name}, which trades through it",
                            self.slots[b].id
                        );
                        self.dispatch(b, Event::Command(stop));
                    }
                }
                if cmd == Command::Kill {
                    return self.dispatch(i, Event::Command(cmd));
                }
                // The connector's own stop waits until its bots are at rest.
                self.slots[i].after_bots = Some(cmd);
                false
            }
            Command::Start
            | Command::Stop
            | Command::Kill
            | Command::Restart
            | Command::Build { .. } => self.dispatch(i, Event::Command(cmd)),
        }
    }

    /// Records which process of each connector bot `b` is started against.
    fn bind(&mut self, b: usize) {
        let bound: Vec<(super::SlotKey, i32)> = self
            .dependencies(b)
            .into_iter()
            .filter_map(|c| Some((self.slots[c].key, self.slots[c].state.pid?)))
            .collect();
        self.slots[b].bound = bound;
    }

    /// Each turn of the actor: connector stops that waited for their bots, bots whose connector
    /// came back as a new process, bots waiting for their connectors.
    pub(super) fn reconcile_bots(&mut self) {
        if !self.slots.iter().any(|s| s.spec.is_bot()) {
            return;
        }
        let now = store::unix_now();
        let mut changed = false;
        for i in 0..self.slots.len() {
            let Some(cmd) = self.slots[i].after_bots else {
                continue;
            };
            let bots_at_rest = self
                .dependents(i)
                .into_iter()
                .all(|b| self.slots[b].state.phase.is_at_rest());
            if bots_at_rest {
                self.slots[i].after_bots = None;
                self.origin = Some(view::Origin::Policy);
                self.dispatch(i, Event::Command(cmd));
                self.origin = None;
                changed = true;
            }
        }
        for b in 0..self.slots.len() {
            let Some(bot) = self.slots[b].spec.bot.clone() else {
                continue;
            };
            let running = matches!(self.slots[b].state.phase, Phase::Starting | Phase::Ready);
            if running && self.slots[b].hold.is_none() {
                if self.slots[b].bound.is_empty() {
                    // Adopted, or started before its connectors had PIDs: bound to what runs.
                    self.bind(b);
                }
                let moved = self.slots[b].bound.iter().find_map(|&(key, pid)| {
                    let c = self.slots.iter().position(|s| s.key == key)?;
                    (self.slots[c].state.pid != Some(pid)).then(|| self.slots[c].spec.name.clone())
                });
                if let (Some(name), true) = (moved, bot.restart_with_connectors) {
                    self.slots[b].hold = Some(format!("waiting for {name} to be ready again"));
                    changed = true;
                }
            }
            let Some(held) = self.slots[b].hold.clone() else {
                continue;
            };
            match self.all_serving(b, now) {
                Ok(()) => {
                    self.slots[b].hold = None;
                    self.bind(b);
                    let cmd = match running {
                        true => Command::Restart,
                        false => Command::Start,
                    };
                    tracing::info!(
                        "{}: its connectors serve: {}",
                        self.slots[b].id,
                        if running {
                            "restarting it"
                        } else {
                            "starting it"
                        }
                    );
                    self.origin = Some(view::Origin::Policy);
                    self.dispatch(b, Event::Command(cmd));
                    self.origin = None;
                    changed = true;
                }
                Err(why) => {
                    // A restart keeps its own words until the connectors serve again, or until
                    // one of them fails: then no restart is coming and the words say so.
                    let restarting = held.ends_with("to restart") || held.ends_with("ready again");
                    let failed = self
                        .dependencies(b)
                        .into_iter()
                        .any(|c| self.slots[c].state.phase == Phase::Failed);
                    if (!restarting || failed) && why != held {
                        self.slots[b].hold = Some(why);
                        changed = true;
                    }
                }
            }
        }
        if changed {
            self.publish();
        }
    }

    /// Whether any bot waits for something that time alone can bring (the engine ticks).
    pub(super) fn bots_waiting(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.hold.is_some() || s.after_bots.is_some())
    }
}
