//! Where the console's registration of declared instruments stands, as the views tell it.

use serde::{Deserialize, Serialize};

/// Where the console's registration of one process stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Waiting for the exchange stream to be evidently up.
    Held,
    /// Handed to the IPC thread.
    Sending,
    /// Sent: data can flow to every bot.
    Sent,
    /// Nothing can bring the attached bots' data back: no instruments to register (or
    /// `register = false`) and bots attached before this process.
    Unhealable,
}

impl RegistrationState {
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Held => "held",
            RegistrationState::Sending => "sending",
            RegistrationState::Sent => "sent",
            RegistrationState::Unhealable => "unhealable",
        }
    }
}

/// What `status --json` and the panes show of the registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistrationView {
    pub state: RegistrationState,
    /// The symbols it registers.
    pub symbols: Vec<String>,
    /// What is happening, in a sentence.
    pub detail: String,
    /// When it was sent (RFC 3339), once sent.
    pub at: Option<String>,
}
