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

/// The header id the console's own registrations carry. hftbacktest bots pick a random
/// non-zero u64; this one spells `switchbd` so that it is recognisable in a capture, and 0 (to
/// every bot) is never used for a request.
pub const CONSOLE_BOT_ID: u64 = u64::from_be_bytes(*b"switchbd");

/// `LiveRequest::RegisterInstrument { symbol, tick_size, lot_size }` as hftbacktest encodes it
/// (bincode 2, standard config): the variant index as a varint, the symbol as a varint length
/// and its UTF-8 bytes, then the two f64s as 8 little-endian bytes each (bincode writes floats
/// fixed-width, whatever the integer encoding). The real connector exits on a request it cannot
/// decode, so this must stay byte-exact; the unit test pins the bytes.
pub fn register_instrument(symbol: &str, tick_size: f64, lot_size: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(symbol.len() + 20);
    write_varint(u64::from(REGISTER_INSTRUMENT), &mut out);
    write_varint(symbol.len() as u64, &mut out);
    out.extend_from_slice(symbol.as_bytes());
    out.extend_from_slice(&tick_size.to_le_bytes());
    out.extend_from_slice(&lot_size.to_le_bytes());
    out
}

/// A `LiveRequest` decoded as far as anyone here needs (the sim's side of the channel).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `LiveRequest::Order`: its symbol and order id.
    Order { symbol: String, order_id: u64 },
    RegisterInstrument {
        symbol: String,
        tick_size: f64,
        lot_size: f64,
    },
}

/// The fewest bytes hftbacktest's hand-written `Order` codec reads: qty, leaves_qty and
/// exec_qty (three f64s), exec_price_tick and price_tick (varints), tick_size (f64), the two
/// timestamps and the order id (varints), then maker, order_type, req, status, side and
/// time_in_force (a byte each at least).
const MIN_ORDER_BYTES: usize = 3 * 8 + 2 + 8 + 3 + 6;

/// Decodes a `LiveRequest` payload; None where hftbacktest's decoder would fail (the real
/// connector then exits 1).
pub fn decode_request(payload: &[u8]) -> Option<Request> {
    let (variant, used) = read_varint(payload)?;
    let rest = &payload[used..];
    let (len, used) = read_varint(rest)?;
    let len = usize::try_from(len).ok()?;
    let sym = rest.get(used..used.checked_add(len)?)?;
    let symbol = std::str::from_utf8(sym).ok()?.to_string();
    let after = &rest[used + len..];
    match variant {
        0 if after.len() >= MIN_ORDER_BYTES => {
            read_order(symbol.clone(), after).map(|o| Request::Order {
                symbol,
                order_id: o.order_id,
            })
        }
        1 if after.len() >= 16 => {
            let f = |b: &[u8]| -> Option<f64> { Some(f64::from_le_bytes(b.try_into().ok()?)) };
            Some(Request::RegisterInstrument {
                symbol,
                tick_size: f(&after[..8])?,
                lot_size: f(&after[8..16])?,
            })
        }
        _ => None,
    }
}

/// `Status::New` and `Status::Canceled` as bincode writes them: the derived codec encodes an
/// enum's variant *index* (bincode_derive 2.0.1), which for these equals the discriminant
/// (hftbacktest 0.9.4 `types.rs`: None, New, Expired, Filled, Canceled, …).
pub const STATUS_NEW: u64 = 1;
pub const STATUS_CANCELED: u64 = 4;

/// What the console reads of an `Order` (in `LiveEvent::Order` or `LiveRequest::Order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInfo {
    pub symbol: String,
    pub order_id: u64,
    /// The request it answers (`Status` variant index).
    pub req: u64,
    pub status: u64,
}

/// Reads an `Order` after its symbol, in hftbacktest 0.9.4's hand-written codec (`types.rs`,
/// `impl Encode for Order`): qty, leaves_qty, exec_qty (f64), exec_price_tick, price_tick (i64,
/// zigzag varints), tick_size (f64), exch_timestamp, local_timestamp (i64), order_id (u64
/// varint), maker (bool, one byte), order_type, req, status, side, time_in_force (enum indices).
fn read_order(symbol: String, b: &[u8]) -> Option<OrderInfo> {
    let mut at = 0usize;
    let fixed = |n: usize, at: &mut usize| -> Option<()> {
        b.get(*at..*at + n)?;
        *at += n;
        Some(())
    };
    let varint = |at: &mut usize| -> Option<u64> {
        let (v, used) = read_varint(b.get(*at..)?)?;
        *at += used;
        Some(v)
    };
    fixed(24, &mut at)?;
    varint(&mut at)?;
    varint(&mut at)?;
    fixed(8, &mut at)?;
    varint(&mut at)?;
    varint(&mut at)?;
    let order_id = varint(&mut at)?;
    fixed(1, &mut at)?;
    varint(&mut at)?;
    let req = varint(&mut at)?;
    let status = varint(&mut at)?;
    varint(&mut at)?;
    varint(&mut at)?;
    Some(OrderInfo {
        symbol,
        order_id,
        req,
        status,
    })
}

/// The order of a `LiveEvent::Order` payload (first byte 3).
pub fn order_event(payload: &[u8]) -> Option<OrderInfo> {
    if EventKind::of(payload) != EventKind::Order {
        return None;
    }
    let rest = payload.get(1..)?;
    let (len, used) = read_varint(rest)?;
    let len = usize::try_from(len).ok()?;
    let symbol = std::str::from_utf8(rest.get(used..used.checked_add(len)?)?).ok()?;
    read_order(symbol.to_string(), &rest[used + len..])
}

/// `variant`, then `symbol`, then an `Order` (limit buy of 1 at price tick 100, tick 0.1) with
/// `order_id`, `req` and `status`, as hftbacktest 0.9.4 encodes it: variant 0 is
/// `LiveRequest::Order`, variant 3 `LiveEvent::Order`. For the sims and tests.
pub fn encode_order(variant: u8, symbol: &str, order_id: u64, req: u64, status: u64) -> Vec<u8> {
    let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
    let mut out = vec![variant];
    write_varint(symbol.len() as u64, &mut out);
    out.extend_from_slice(symbol.as_bytes());
    for f in [1.0f64, 1.0, 0.0] {
        out.extend_from_slice(&f.to_le_bytes());
    }
    write_varint(zigzag(0), &mut out); // exec_price_tick
    write_varint(zigzag(100), &mut out); // price_tick
    out.extend_from_slice(&0.1f64.to_le_bytes());
    write_varint(zigzag(0), &mut out); // exch_timestamp
    write_varint(zigzag(1_700_000_000_000_000_000), &mut out); // local_timestamp
    write_varint(order_id, &mut out);
    out.push(0); // maker
    write_varint(0, &mut out); // OrdType::Limit
    write_varint(req, &mut out);
    write_varint(status, &mut out);
    write_varint(0, &mut out); // Side::Buy (index 0)
    write_varint(0, &mut out); // TimeInForce::GTC
    out
}

/// `ErrorKind::ConnectionInterrupted`'s variant index: a `LiveEvent::Error` payload is
/// `[5, kind, value…]` (hftbacktest `types.rs`: `ConnectionInterrupted, CriticalConnectionError,
/// OrderError, Custom(i64)`).
pub const CONNECTION_INTERRUPTED: u8 = 0;

/// True for a `LiveEvent::Error` of kind `ConnectionInterrupted`: the connector's market-data or
/// user-data stream dropped and it is reconnecting.
pub fn is_connection_interrupted(payload: &[u8]) -> bool {
    payload.first() == Some(&EventKind::Error.byte())
        && payload.get(1) == Some(&CONNECTION_INTERRUPTED)
}

/// The ERROR lines the real connector logs when its market-data stream fails, per exchange,
/// read in hftbacktest's `connector/src/{binancefutures,binancespot}/mod.rs` (`An error occurred
/// in the market data stream connection.`) and `connector/src/bybit/mod.rs` (`An error occurred
/// in the public stream connection.`, and `A connection error occurred.` from its connection
/// loop). The console's log tailer looks for any of them in ERROR lines only.
pub const STREAM_ERROR_LINES: [&str; 3] = [
    "An error occurred in the market data stream connection",
    "An error occurred in the public stream connection",
    "A connection error occurred",
];

/// A crash of the real connector that a request on its FromBot caused (DESIGN §1, issue #27).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestCrash {
    /// `register()` sent the new symbol on a broadcast channel with no receiver (its exchange
    /// stream was between connection attempts) and unwrapped: `SendError("SYMBOL")` at
    /// `connector/src/{binancefutures,binancespot,bybit}/mod.rs`.
    Registration { symbol: String },
    /// It could not decode a request and exited.
    Undecodable,
}

/// The line the connector logs before it exits on a request it cannot decode.
pub const UNDECODABLE_REQUEST_LINE: &str =
    "An error occurred while receiving a request from the bots";

/// Which request crash, if any, the output of a connector process that ended shows.
pub fn request_crash(output: &str) -> Option<RequestCrash> {
    if output.contains(UNDECODABLE_REQUEST_LINE) {
        return Some(RequestCrash::Undecodable);
    }
    let at = [
        "binancefutures/mod.rs:",
        "binancespot/mod.rs:",
        "bybit/mod.rs:",
    ]
    .iter()
    .filter_map(|f| output.find(&format!("panicked at connector/src/{f}")))
    .min()?;
    let rest = &output[at..];
    let start = rest.find("SendError(\"")? + "SendError(\"".len();
    let end = rest[start..].find("\")")?;
    let symbol = &rest[start..start + end];
    (!symbol.is_empty() && symbol.len() <= 64 && !symbol.contains('\n')).then(|| {
        RequestCrash::Registration {
            symbol: symbol.to_string(),
        }
    })
}

impl RequestCrash {
    /// What the operator reads about connector `name`'s exit.
    pub fn explain(&self, name: &str) -> String {
        match self {
            RequestCrash::Registration { symbol } => format!(
                "crashed by a registration of {symbol} while its exchange was unreachable (a defect of hftbacktest's connector); switchboard holds its own registrations until the stream is up"
            ),
            RequestCrash::Undecodable => format!(
                "a request on {} that it could not decode ended it (a malformed request from a bot or tool)",
                from_bot(name)
            ),
        }
    }
}

/// True when an ERROR line says the exchange stream failed (any exchange's wording).
pub fn is_stream_error_line(line: &str) -> bool {
    STREAM_ERROR_LINES.iter().any(|l| line.contains(l))
}

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
    fn register_instrument_is_byte_exact() {
        // bincode 2 standard config of LiveRequest::RegisterInstrument { "btcusdt", 0.1, 0.001 }:
        // variant 1, length 7, the bytes, then 0.1 and 0.001 as little-endian IEEE 754.
        let mut want = vec![1u8, 7];
        want.extend_from_slice(b"btcusdt");
        want.extend_from_slice(&[0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f]);
        want.extend_from_slice(&[0xfc, 0xa9, 0xf1, 0xd2, 0x4d, 0x62, 0x50, 0x3f]);
        let got = register_instrument("btcusdt", 0.1, 0.001);
        assert_eq!(got, want);
        assert_eq!(
            decode_request(&got),
            Some(Request::RegisterInstrument {
                symbol: "btcusdt".into(),
                tick_size: 0.1,
                lot_size: 0.001
            })
        );
        // A long symbol takes a 3-byte length.
        let long = "x".repeat(300);
        let p = register_instrument(&long, 1.0, 1.0);
        assert_eq!(&p[..4], &[1, 251, 0x2c, 0x01]);
        assert!(
            matches!(decode_request(&p), Some(Request::RegisterInstrument { symbol, .. }) if symbol == long)
        );
    }

    #[test]
    fn undecodable_requests_are_refused_like_the_real_decoder() {
        assert_eq!(decode_request(&[0u8; 16][..1]), None);
        assert_eq!(decode_request(&[]), None);
        assert_eq!(
            decode_request(&[1, 3, b'a', b'b', b'c', 0, 0]),
            None,
            "floats cut short"
        );
        assert_eq!(decode_request(&[9, 0]), None, "no such variant");
        assert_eq!(decode_request(&[1, 2, 0xff, 0xfe]), None, "not UTF-8");
        // 16 zero bytes (the malformed request of issue #27): an Order with an empty symbol whose
        // own codec runs out of bytes (the real one said `UnexpectedEnd { additional: 2 }`).
        assert_eq!(decode_request(&[0u8; 16]), None);
        let order = encode_order(0, "btcusdt", 1000, STATUS_NEW, STATUS_NEW);
        assert_eq!(
            decode_request(&order),
            Some(Request::Order {
                symbol: "btcusdt".into(),
                order_id: 1000
            })
        );
    }

    #[test]
    fn order_events_are_read_field_by_field() {
        // Hand-assembled from hftbacktest 0.9.4's Order codec: variant 3, "ethusdt", qty 1.0,
        // leaves 1.0, exec 0.0, exec_price_tick 0 (zigzag 0), price_tick 100 (zigzag 200, one
        // byte below 251), tick 0.1, exch_ts 0, local_ts 5 (zigzag 10), order_id 1000 ([251,
        // 232, 3]), maker false, Limit, req New, status Canceled, Buy, GTC.
        let mut want = vec![3u8, 7];
        want.extend_from_slice(b"ethusdt");
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&1.0f64.to_le_bytes());
        want.extend_from_slice(&0.0f64.to_le_bytes());
        want.extend_from_slice(&[0, 200]);
        want.extend_from_slice(&0.1f64.to_le_bytes());
        want.extend_from_slice(&[0, 10, 251, 232, 3, 0, 0, 1, 4, 0, 0]);
        assert_eq!(
            order_event(&want),
            Some(OrderInfo {
                symbol: "ethusdt".into(),
                order_id: 1000,
                req: STATUS_NEW,
                status: STATUS_CANCELED
            })
        );
        // The sims' encoder round-trips; a cut payload is not an order.
        let e = encode_order(3, "btcusdt", 7, STATUS_NEW, STATUS_CANCELED);
        assert_eq!(
            order_event(&e).map(|o| (o.order_id, o.status)),
            Some((7, STATUS_CANCELED))
        );
        assert_eq!(order_event(&e[..e.len() - 1]), None);
        assert_eq!(order_event(&[3, 0]), None);
    }

    #[test]
    fn connection_interrupted_errors_and_stream_error_lines_are_recognised() {
        assert!(is_connection_interrupted(&[5, 0, 0]));
        assert!(!is_connection_interrupted(&[5, 2, 0]), "an order error");
        assert!(!is_connection_interrupted(&[2, 0, 0]));
        assert!(is_stream_error_line(
            "2026-12-02T10:00:00Z ERROR connector::binancefutures: An error occurred in the market data stream connection. error=Tungstenite(Io(..))"
        ));
        assert!(is_stream_error_line(
            "ERROR connector::bybit: A connection error occurred. error=.."
        ));
        assert!(!is_stream_error_line(
            "ERROR connector: Couldn't cancel all orders."
        ));
    }

    #[test]
    fn the_two_request_crashes_are_recognised() {
        let reg = "2026-12-02T10:00:01Z  INFO connector: x\nthread 'main' panicked at connector/src/binancefutures/mod.rs:220:41:\ncalled `Result::unwrap()` on an `Err` value: SendError(\"btcusdt\")\n";
        assert_eq!(
            request_crash(reg),
            Some(RequestCrash::Registration {
                symbol: "btcusdt".into()
            })
        );
        let bybit = "thread 'main' panicked at connector/src/bybit/mod.rs:289:30:\ncalled `Result::unwrap()` on an `Err` value: SendError(\"ETHUSDT\")";
        assert!(
            matches!(request_crash(bybit), Some(RequestCrash::Registration { symbol }) if symbol == "ETHUSDT")
        );
        // The SendError panic after SIGTERM (a normal stop) is not one.
        let stop = "thread 'tokio-runtime-worker' panicked at connector/src/main.rs:\ncalled `Result::unwrap()` on an `Err` value: SendError { .. }";
        assert_eq!(request_crash(stop), None);
        let decode = "ERROR connector: An error occurred while receiving a request from the bots. error=Decode(UnexpectedEnd { additional: 2 })\nthread 'main' panicked at connector/src/main.rs:443:10:";
        assert_eq!(request_crash(decode), Some(RequestCrash::Undecodable));
        assert!(RequestCrash::Undecodable
            .explain("bf")
            .contains("bf/FromBot"));
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
