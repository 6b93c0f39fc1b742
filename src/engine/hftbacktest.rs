//! Facts about hftbacktest's real `connector` that anything speaking to it must share: the
//! iceoryx2 user header (with the type name iceoryx2 checks), the service names and the payload
//! and channel limits (DESIGN §1). The simulated connector and bot use this module and nothing
//! else of the console.

use iceoryx2::prelude::*;

/// The user header of hftbacktest's channels. iceoryx2 compares the type *name*, so it carries
/// hftbacktest's own; the layout is the same `#[repr(C)]` pair.
#[derive(Debug, Default, Clone, Copy, ZeroCopySend)]
#[type_name("hftbacktest::live::ipc::iceoryx::CustomHeader")]
#[repr(C)]
#[allow(unsafe_code)]
pub struct CustomHeader {
    /// The bot a message is for (0: every bot).
    pub id: u64,
    /// Payload length in bytes.
    pub len: usize,
}

/// Largest payload a message uses (hftbacktest's `MAX_PAYLOAD_SIZE`).
pub const MAX_PAYLOAD_SIZE: usize = 512;
/// hftbacktest's default `buffer_size`.
pub const DEFAULT_BUFFER_SIZE: usize = 10_000;
/// hftbacktest's default `max_bots`.
pub const DEFAULT_MAX_BOTS: usize = 200;
/// The environment variable naming a TOML file with `buffer_size` and `max_bots`.
pub const CHANNEL_CONFIG_ENV: &str = "HFTBACKTEST_CHANNEL_CONFIG";

/// The `{NAME}/ToBot` service name (1 publisher: the connector).
pub fn to_bot(name: &str) -> String {
    format!("{name}/ToBot")
}

/// The `{NAME}/FromBot` service name (1 subscriber: the connector).
pub fn from_bot(name: &str) -> String {
    format!("{name}/FromBot")
}
