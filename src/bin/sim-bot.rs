//! A stand-in for an hftbacktest bot: opens `{NAME}/ToBot` as a subscriber and `{NAME}/FromBot`
//! as a publisher, exactly as hftbacktest's `IceoryxBuilder` does for a bot, registers its
//! instruments (a `RegisterInstrument` request per symbol) and counts what it receives until
//! SIGTERM/SIGINT. The console counts it as an attached bot.
//!
//! Usage: `sim-bot [--once | --malformed] <NAME> [SYMBOL...]` (default symbol BTCUSDT). It prints
//! one line per second while events arrive (`sim-bot: feed N (BTCUSDT N, …), errors N`) and the
//! totals at exit. Unlike a real bot it registers again after 2 s without market data, so a
//! restarted connector feeds it again; `--once` registers once, at start, as hftbacktest's
//! `LiveBot` does; `--malformed` sends 16 zero bytes instead, a request no connector can decode.
//! With `SIM_BOT_ORDERS=N` in its environment it submits N new orders (ids 1000 and up) for its
//! first symbol right after its first registration, as a bot that trades at once does.
//! With `SIM_BOT_LATENCY=/path` it is the latency benchmark's bot: it busy-polls its subscriber
//! (no sleep, one core), reads each Feed event's send time from its last 8 bytes (a sim-connector
//! with `feed_stamp = true`), skips the first second of data, records `SIM_BOT_LATENCY_SECS`
//! (default 20) seconds of receive latencies, appends one JSON line with their percentiles (ns)
//! to the path and exits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use iceoryx2::prelude::*;
use switchboard::wire::hftbacktest::{self as wire, CustomHeader, EventKind};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match args.first().map(String::as_str) {
        Some("--once") => Mode::Once,
        Some("--malformed") => Mode::Malformed,
        _ => Mode::Again,
    };
    if mode != Mode::Again {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("Usage: sim-bot [--once | --malformed] <NAME> [SYMBOL...]");
        std::process::exit(2);
    }
    let symbols: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        vec!["BTCUSDT".into()]
    };
    if let Err(e) = run(&args[0], &symbols, mode) {
        eprintln!("sim-bot: {e}");
        std::process::exit(1);
    }
}

/// When the bot registers its symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At start, and again after 2 s without market data.
    Again,
    /// At start only (hftbacktest's `LiveBot`).
    Once,
    /// Never: it sends one undecodable request instead.
    Malformed,
}

/// What the bot received.
#[derive(Default)]
struct Received {
    feed: u64,
    errors: u64,
    other: u64,
    per_symbol: BTreeMap<String, u64>,
}

impl Received {
    fn line(&self) -> String {
        let syms: Vec<String> = self
            .per_symbol
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        format!(
            "sim-bot: feed {} ({}), errors {}, other {}",
            self.feed,
            syms.join(", "),
            self.errors,
            self.other
        )
    }
}

/// `LiveRequest::RegisterInstrument` with the tick and lot size the demo and tests declare.
fn register_request(symbol: &str) -> Vec<u8> {
    wire::register_instrument(symbol, 0.1, 0.001)
}

fn run(name: &str, symbols: &[String], mode: Mode) -> Result<(), String> {
    let (buffer_size, max_bots) = (wire::DEFAULT_BUFFER_SIZE, wire::DEFAULT_MAX_BOTS);
    let (buffer_size, max_bots) = std::env::var(wire::CHANNEL_CONFIG_ENV)
        .ok()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| t.parse::<toml::Table>().ok())
        .map(|t| {
            let get = |k: &str, d: usize| {
                t.get(k)
                    .and_then(|v| v.as_integer())
                    .map(|v| v as usize)
                    .unwrap_or(d)
            };
            (get("buffer_size", buffer_size), get("max_bots", max_bots))
        })
        .unwrap_or((buffer_size, max_bots));
    let e = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let sub_node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|x| e(&x))?;
    let to_bot = sub_node
        .service_builder(&ServiceName::new(&wire::to_bot(name)).map_err(|x| e(&x))?)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(buffer_size)
        .max_publishers(1)
        .max_subscribers(max_bots)
        .user_header::<CustomHeader>()
        .open_or_create()
        .map_err(|x| e(&x))?;
    let subscriber = to_bot.subscriber_builder().create().map_err(|x| e(&x))?;
    let pub_node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|x| e(&x))?;
    let from_bot = pub_node
        .service_builder(&ServiceName::new(&wire::from_bot(name)).map_err(|x| e(&x))?)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(buffer_size)
        .max_publishers(max_bots)
        .max_subscribers(1)
        .user_header::<CustomHeader>()
        .open_or_create()
        .map_err(|x| e(&x))?;
    let publisher = from_bot
        .publisher_builder()
        .initial_max_slice_len(wire::MAX_PAYLOAD_SIZE)
        .create()
        .map_err(|x| e(&x))?;
    let bot_id = u64::from(std::process::id());
    let orders: u64 = std::env::var("SIM_BOT_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let orders_sent = std::cell::Cell::new(false);
    let register = || {
        let mut requests: Vec<Vec<u8>> = match mode {
            Mode::Malformed => vec![vec![0u8; 16]],
            Mode::Again | Mode::Once => symbols.iter().map(|s| register_request(s)).collect(),
        };
        if !orders_sent.replace(true) {
            for id in 0..orders {
                requests.push(wire::encode_order(
                    0,
                    &symbols[0],
                    1000 + id,
                    wire::STATUS_NEW,
                    wire::STATUS_NEW,
                ));
            }
        }
        for req in requests {
            let mut buf = [0u8; wire::MAX_PAYLOAD_SIZE];
            buf[..req.len()].copy_from_slice(&req);
            if let Ok(sample) = publisher.loan_slice_uninit(wire::MAX_PAYLOAD_SIZE) {
                let mut sample = sample.write_from_slice(&buf);
                *sample.user_header_mut() = CustomHeader {
                    id: bot_id,
                    len: req.len(),
                };
                let _ = sample.send();
            }
        }
    };
    println!("sim-bot attached to {name}");
    if let Ok(path) = std::env::var("SIM_BOT_LATENCY") {
        let secs: f64 = std::env::var("SIM_BOT_LATENCY_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20.0);
        register();
        let mut lat: Vec<u64> = Vec::with_capacity(4_000_000);
        let mut first: Option<Instant> = None;
        let warmup = Duration::from_secs(1);
        let window = Duration::from_secs_f64(secs);
        let mut polls: u64 = 0;
        loop {
            polls += 1;
            // Signals (iceoryx2's handler) are looked at every 64k empty polls.
            if polls.is_multiple_of(65_536) && sub_node.wait(Duration::ZERO).is_err() {
                break;
            }
            let Ok(Some(sample)) = subscriber.receive() else {
                std::hint::spin_loop();
                continue;
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            let payload = sample.payload();
            let len = sample.user_header().len.min(payload.len());
            if EventKind::of(&payload[..len]) != EventKind::Feed || len < 8 {
                continue;
            }
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(&payload[len - 8..len]);
            let sent = u64::from_le_bytes(stamp);
            let t0 = *first.get_or_insert_with(Instant::now);
            let since = t0.elapsed();
            if since < warmup {
                continue;
            }
            if since >= warmup + window {
                break;
            }
            lat.push(now.saturating_sub(sent));
        }
        lat.sort_unstable();
        let pct = |p: f64| {
            lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let line = format!(
            "{{\"count\":{},\"secs\":{secs},\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{}}}\n",
            lat.len(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(0.999),
            lat.last().copied().unwrap_or(0)
        );
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| format!("{path}: {e}"))?;
        return Ok(());
    }
    let mut got = Received::default();
    let mut last_feed = Instant::now();
    let mut last_registered: Option<Instant> = None;
    let mut last_print = Instant::now();
    let mut printed_feed = 0;
    // node.wait returns an error on SIGTERM/SIGINT (iceoryx2's own handler): then we leave
    // cleanly, removing our nodes.
    while sub_node.wait(Duration::from_millis(5)).is_ok() {
        while let Ok(Some(sample)) = subscriber.receive() {
            let payload = sample.payload();
            let len = sample.user_header().len.min(payload.len());
            let payload = &payload[..len];
            match EventKind::of(payload) {
                EventKind::Feed => {
                    got.feed += 1;
                    last_feed = Instant::now();
                    let sym = wire::symbol_of(payload).unwrap_or("?").to_string();
                    *got.per_symbol.entry(sym).or_default() += 1;
                }
                EventKind::Error => got.errors += 1,
                EventKind::Order => {
                    if let Some(o) = wire::order_event(payload) {
                        println!(
                            "sim-bot: order {} on {} req {} status {}",
                            o.order_id, o.symbol, o.req, o.status
                        );
                    }
                    got.other += 1;
                }
                _ => got.other += 1,
            }
        }
        // The connector's FromBot subscriber may be new (a restart): register (again) after
        // 2 s without market data.
        let quiet_for = last_feed.elapsed();
        if mode == Mode::Again
            && quiet_for > Duration::from_secs(2)
            && last_registered.is_none_or(|t| t.elapsed() > Duration::from_secs(2))
        {
            register();
            last_registered = Some(Instant::now());
        }
        if last_registered.is_none() {
            register();
            last_registered = Some(Instant::now());
        }
        if last_print.elapsed() >= Duration::from_secs(1) && got.feed != printed_feed {
            println!("{}", got.line());
            printed_feed = got.feed;
            last_print = Instant::now();
        }
    }
    println!("{} (at exit)", got.line());
    Ok(())
}
