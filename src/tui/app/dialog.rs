//! The dialogs that wait for an answer: a confirmation, quitting with connectors running, a
//! viewer's offer to take over from its gone console.

use super::{App, UiCall};
use crate::model::phase::Phase;
use crate::model::view::ConnectorView;

/// A confirmation the operator must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    /// "`verb` `target`?" (one connector, named in its phase's colour) or "`verb` all `count`
    /// running connectors?", with the bots that would lose their data.
    Confirm {
        call: UiCall,
        verb: String,
        /// The connector and its phase; None for all of them.
        target: Option<(String, Phase)>,
        /// How many connectors the action reaches.
        count: usize,
        bots: u32,
        /// The console registers the connector's declared instruments again after a restart, so
        /// the attached bots get their data back; else they need a restart of their own.
        heals: bool,
        /// The managed bots that are stopped first (and, for a restart, started after it).
        managed: Vec<String>,
    },
    /// Quit while connectors run: `d` detach, `s` stop all, `Esc` cancel; with what `s` would
    /// cost, as `X` says it: the bots attached (not managed) and the managed bots stopped too.
    Quit {
        running: usize,
        bots: u32,
        managed: Vec<String>,
    },
    /// A viewer's console is gone: `y` starts a console here that adopts the connectors, `n`
    /// keeps watching (its counts are the last it saw).
    TakeOver {
        /// The watched console's PID, when known.
        pid: Option<i32>,
    },
}

impl App {
    /// A viewer's link to its console changed: `gone` offers the take-over once (until the
    /// console is back), and a console back again withdraws the offer.
    pub fn console_gone(&mut self, gone: bool, pid: Option<i32>) {
        if !self.viewer {
            return;
        }
        match (gone, &self.dialog) {
            (true, None) if !self.take_over_offered => {
                self.take_over_offered = true;
                self.help = false;
                self.detail = false;
                self.dialog = Some(Dialog::TakeOver { pid });
            }
            (false, Some(Dialog::TakeOver { .. })) => {
                self.dialog = None;
                self.take_over_offered = false;
            }
            (false, _) => self.take_over_offered = false,
            _ => {}
        }
    }
}

/// What stopping everything on this host costs (`X`, or `s` in the quit dialog): how many run,
/// the bots attached to them that the console does not manage (they lose their market data),
/// and the managed bots (views with the bot role) that are stopped with them.
pub fn stop_all_cost(snaps: &[ConnectorView]) -> (usize, u32, Vec<String>) {
    use crate::model::view::Role;
    let running: Vec<&ConnectorView> = snaps
        .iter()
        .filter(|s| s.host.is_none() && !s.phase.is_at_rest())
        .collect();
    let managed: Vec<&ConnectorView> = running
        .iter()
        .copied()
        .filter(|s| s.role == Role::Bot)
        .collect();
    let attached: u32 = running.iter().map(|s| s.bots).sum();
    // A managed bot is counted once by each running connector it trades on.
    let managed_attachments: u32 = managed
        .iter()
        .map(|b| {
            running
                .iter()
                .filter(|c| c.role == Role::Connector && b.connectors.contains(&c.name))
                .count() as u32
        })
        .sum();
    (
        running.len(),
        attached.saturating_sub(managed_attachments),
        managed.iter().map(|b| b.name.clone()).collect(),
    )
}
