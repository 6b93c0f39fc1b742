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

/// What a `{NAME}/ToBot` payload is: bincode 2 (standard config) writes a `LiveEvent`'s variant
/// index first, as a varint that is one byte below 251.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    BatchStart,
    BatchEnd,
    /// Market data: the only kind that proves the exchange stream works.
    Feed,
    Order,
    Position,
    /// The connector's own error report (sent to every bot).
    Error,
    /// A first byte hftbacktest does not send.
    Unknown(u8),
}

impl EventKind {
    /// The kind of a payload, from its first byte.
    pub fn of(payload: &[u8]) -> EventKind {
        match payload.first() {
            Some(0) => EventKind::BatchStart,
            Some(1) => EventKind::BatchEnd,
            Some(2) => EventKind::Feed,
            Some(3) => EventKind::Order,
            Some(4) => EventKind::Position,
            Some(5) => EventKind::Error,
            Some(b) => EventKind::Unknown(*b),
            None => EventKind::Unknown(u8::MAX),
        }
    }

    /// Its first byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            EventKind::BatchStart => 0,
            EventKind::BatchEnd => 1,
            EventKind::Feed => 2,
            EventKind::Order => 3,
            EventKind::Position => 4,
            EventKind::Error => 5,
            EventKind::Unknown(b) => b,
        }
    }
}

/// `LiveRequest::RegisterInstrument`'s variant index (after `Order`).
pub const REGISTER_INSTRUMENT: u8 = 1;

/// Reads a bincode 2 standard-config unsigned varint: below 251 the byte itself; 251, 252 and
/// 253 announce a little-endian u16, u32 and u64. Returns the value and the bytes it took.
pub fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let first = *bytes.first()?;
    let le = |n: usize| -> Option<(u64, usize)> {
        let b = bytes.get(1..1 + n)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Some((u64::from_le_bytes(v), 1 + n))
    };
    match first {
        0..=250 => Some((first as u64, 1)),
        251 => le(2),
        252 => le(4),
        253 => le(8),
        _ => None,
    }
}

/// Writes `v` as a bincode 2 standard-config unsigned varint.
pub fn write_varint(v: u64, out: &mut Vec<u8>) {
    if v < 251 {
        out.push(v as u8);
    } else if v <= u16::MAX as u64 {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u32::MAX as u64 {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// The symbol of a `Feed` (or `Order`/`Position`) payload: the bincode string right after the
/// variant index. None when the payload is cut short or the bytes are not UTF-8.
pub fn symbol_of(payload: &[u8]) -> Option<&str> {
    let rest = payload.get(1..)?;
    let (len, used) = read_varint(rest)?;
    let len = usize::try_from(len).ok()?;
    let bytes = rest.get(used..used.checked_add(len)?)?;
    std::str::from_utf8(bytes).ok()
}

/// A payload that starts as `kind` with `symbol`, padded with zeros to `len` bytes (at least what
/// the prefix needs, at most [`MAX_PAYLOAD_SIZE`]). What follows the symbol is not decoded by
/// anyone here; simulators use this to publish events of a realistic size.
pub fn encode_with_symbol(kind: EventKind, symbol: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len.max(16));
    out.push(kind.byte());
    write_varint(symbol.len() as u64, &mut out);
    out.extend_from_slice(symbol.as_bytes());
    let len = len.min(MAX_PAYLOAD_SIZE);
    if out.len() < len {
        out.resize(len, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_every_width() {
        for v in [0u64, 1, 250, 251, 65_535, 65_536, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            write_varint(v, &mut buf);
            assert_eq!(read_varint(&buf), Some((v, buf.len())), "{v}");
        }
        assert_eq!(read_varint(&[251, 1]), None, "cut short");
        assert_eq!(read_varint(&[254]), None, "not a length prefix");
        assert_eq!(read_varint(&[]), None);
    }

    #[test]
    fn payloads_say_their_kind_and_symbol() {
        let feed = encode_with_symbol(EventKind::Feed, "BTCUSDT", 256);
        assert_eq!(feed.len(), 256);
        assert_eq!(EventKind::of(&feed), EventKind::Feed);
        assert_eq!(symbol_of(&feed), Some("BTCUSDT"));
        let long = "S".repeat(300);
        let p = encode_with_symbol(EventKind::Feed, &long, 0);
        assert_eq!(symbol_of(&p), Some(long.as_str()));
        assert_eq!(EventKind::of(&[5, 0]), EventKind::Error);
        assert_eq!(EventKind::of(&[]), EventKind::Unknown(255));
        assert_eq!(symbol_of(&[2, 10, b'a']), None, "cut short");
        assert_eq!(symbol_of(&[2, 2, 0xff, 0xfe]), None, "not UTF-8");
    }
}
