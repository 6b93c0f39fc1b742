//! A stand-in for hftbacktest's `connector`: the same command line (`<NAME> <CONNECTOR>
//! <CONFIG>`), the same iceoryx2 services with the same settings and header type name, tracing
//! log lines on stdout, exit 1 on a bad config. Its behaviour comes from an optional `[sim]`
//! table in the config:
//!
//! ```toml
//! [sim]
//! ready_delay_ms = 200          # before the services are created
//! lines_per_sec = 2.0           # INFO lines while running (0 = quiet)
//! crash_after_ms = 5000         # exit with crash_code after this long (no cleanup: dead nodes)
//! crash_code = 1
//! crash_message = "…"          # the panic message printed at the crash (default: a simulated one)
//! ignore_sigterm = false        # log it and keep running
//! never_ready = false           # never create the services
//! panic_after_sigterm_ms = 300  # like the real connector: panic with SendError, exit 1
//! flood_lines = 0               # write this many lines as fast as possible, one write each
//! line_bytes = 129              # length of each flood line, newline included
//! echo_config = false           # log every config value, secrets included (a careless connector)
//! exit_after_flood = false      # exit 0 once the flood is written
//! # Market data on {NAME}/ToBot, only after a bot has sent something on {NAME}/FromBot (as the
//! # real connector publishes only for registered instruments):
//! feed_hz = 20.0                # Feed events per second, over all symbols (0 = none)
//! feed_symbols = ["BTCUSDT"]    # round robin
//! feed_bytes = 80               # payload size of each Feed event (≤ 512)
//! feed_stall_after = 30.0       # seconds after the feed began: stop publishing, stay up
//! feed_stall_symbol = "ETHUSDT" # with feed_stall_after: stall only this symbol
//! feed_burst = 0                # first publish this many events as fast as possible
//! feed_stamp = false            # latency benchmark: each paced Feed event carries its send
//!                               # time (Unix ns, u64 little-endian) in its last 8 bytes, and
//!                               # events go out one by one at their due time, not in batches
//! error_every = 2.0             # seconds: log the real stream-error line, publish an Error
//! # Its exchange stream, modelled on the real connector's (DESIGN §1): each failed connection
//! # attempt logs the exchange's stream-error line and publishes a ConnectionInterrupted Error to
//! # all, then retries after a backoff doubling from 0.1 s up to `reconnect_max_ms`. While it is
//! # down, a registration of a symbol new to the process panics with `SendError("SYMBOL")` and
//! # exits 1, as the real one does; after a reconnect, symbols registered before never flow again.
//! exchange_down_ms = 0          # the exchange is unreachable this long after the services open
//! stream_drop_after = 5.0       # seconds after the stream first connected: it drops …
//! stream_drop_ms = 2000         # … for this long, then reconnects without resubscribing
//! reconnect_max_ms = 60000      # the backoff's cap
//! registration_cleanup_ms = 0   # with api_key and secret set: the first registration of a
//!                               # symbol cancels its open orders asynchronously for this long;
//!                               # an order for it meanwhile is reported Canceled (req New), as
//!                               # the real connector's race does; otherwise New
//! faults_once = "path"          # the faults above (crash, stall, outage, drop) only while this
//!                               # file does not exist; the first process creates it, so a
//!                               # restarted one runs healthy
//! ```
//!
//! Requests on `{NAME}/FromBot` are decoded as hftbacktest's `LiveRequest`; one it cannot decode
//! ends it as it ends the real connector (the ERROR line, a panic, exit 1). The first registration
//! starts `feed_symbols` (and the registered symbol); a later one adds its symbol if it is new to
//! the process, and a repeated one is ignored.
//!
//! With `SIM_REPORT=/path` in its environment it appends one JSON line per milestone
//! (`services`, `flood`, `crash`, `feed_burst`, `feed`) with the Unix time, for benchmarks and
//! tests (`feed` tells how many Feed events it published, at exit).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use iceoryx2::prelude::*;
use serde::Deserialize;
// The only part of switchboard a stand-in for the real connector may share: the facts of the
// wire (header type name, service names, limits). Its config handling is its own, modelled on
// the real connector's serde structs, so it accepts and rejects what the real one does.
use switchboard::wire::hftbacktest::{self as wire, CustomHeader};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SimConfig {
    ready_delay_ms: u64,
    lines_per_sec: Option<f64>,
    crash_after_ms: Option<u64>,
    crash_code: Option<i32>,
    crash_message: Option<String>,
    ignore_sigterm: bool,
    never_ready: bool,
    panic_after_sigterm_ms: Option<u64>,
    flood_lines: u64,
    line_bytes: Option<usize>,
    echo_config: bool,
    exit_after_flood: bool,
    feed_hz: Option<f64>,
    feed_symbols: Option<Vec<String>>,
    feed_bytes: Option<usize>,
    feed_stall_after: Option<f64>,
    feed_stall_symbol: Option<String>,
    feed_burst: u64,
    feed_stamp: bool,
    error_every: Option<f64>,
    exchange_down_ms: u64,
    stream_drop_after: Option<f64>,
    stream_drop_ms: Option<u64>,
    reconnect_max_ms: Option<u64>,
    faults_once: Option<String>,
    registration_cleanup_ms: u64,
}

impl SimConfig {
    /// With `faults_once`: a process after the first one runs without faults.
    fn faults_once(mut self) -> SimConfig {
        let Some(marker) = self.faults_once.clone() else {
            return self;
        };
        if std::fs::metadata(&marker).is_ok() {
            self.crash_after_ms = None;
            self.feed_stall_after = None;
            self.exchange_down_ms = 0;
            self.stream_drop_after = None;
        } else if let Err(e) = std::fs::write(&marker, b"") {
            die(1, &format!("faults_once: cannot create {marker}: {e}"));
        }
        self
    }
}

/// What the IPC thread publishes.
#[derive(Debug, Clone)]
struct FeedPlan {
    hz: f64,
    symbols: Vec<String>,
    bytes: usize,
    stall_after: Option<f64>,
    stall_symbol: Option<String>,
    burst: u64,
    /// Stamp each paced event with its send time and pace them one by one.
    stamp: bool,
    error_every: Option<f64>,
    kind: ConnectorType,
    /// The registration cleanup's length (zero without API keys).
    cleanup: Duration,
    exchange_down: Duration,
    drop_after: Option<Duration>,
    drop_for: Duration,
    reconnect_max: Duration,
}

impl FeedPlan {
    fn of(sim: &SimConfig, kind: ConnectorType, keys: bool) -> FeedPlan {
        FeedPlan {
            kind,
            cleanup: match keys {
                true => Duration::from_millis(sim.registration_cleanup_ms),
                false => Duration::ZERO,
            },
            exchange_down: Duration::from_millis(sim.exchange_down_ms),
            drop_after: sim
                .stream_drop_after
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            drop_for: Duration::from_millis(sim.stream_drop_ms.unwrap_or(2000)),
            reconnect_max: Duration::from_millis(sim.reconnect_max_ms.unwrap_or(60_000).max(100)),
            hz: sim.feed_hz.unwrap_or(20.0).max(0.0),
            symbols: sim
                .feed_symbols
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["BTCUSDT".into()]),
            bytes: sim.feed_bytes.unwrap_or(80).min(wire::MAX_PAYLOAD_SIZE),
            stall_after: sim.feed_stall_after,
            stall_symbol: sim.feed_stall_symbol.clone(),
            burst: sim.feed_burst,
            stamp: sim.feed_stamp,
            error_every: sim.error_every.filter(|e| *e > 0.0),
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Appends a milestone to `$SIM_REPORT`, if set.
fn report(event: &str, extra: &str) {
    if let Some(path) = std::env::var_os("SIM_REPORT") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(
                f,
                "{{\"event\":\"{event}\",\"pid\":{},\"unix\":{:.6}{extra}}}",
                std::process::id(),
                unix_now()
            );
        }
    }
}

#[derive(Debug, Deserialize)]
struct ChannelConfig {
    buffer_size: usize,
    max_bots: usize,
}

fn channel_config() -> ChannelConfig {
    std::env::var("HFTBACKTEST_CHANNEL_CONFIG")
        .ok()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or(ChannelConfig {
            buffer_size: wire::DEFAULT_BUFFER_SIZE,
            max_bots: wire::DEFAULT_MAX_BOTS,
        })
}

/// The exchanges the real connector knows, by their CLI spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectorType {
    BinanceFutures,
    BinanceSpot,
    Bybit,
}

impl std::fmt::Display for ConnectorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectorType::BinanceFutures => "binancefutures",
            ConnectorType::BinanceSpot => "binancespot",
            ConnectorType::Bybit => "bybit",
        })
    }
}

// The real connector's config structs (hftbacktest connector/src/*/mod.rs): unknown keys are
// ignored, missing required keys fail deserialization.
#[derive(Deserialize)]
#[allow(dead_code)]
struct BinanceFuturesConfig {
    stream_url: String,
    api_url: String,
    #[serde(default)]
    order_prefix: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    secret: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct BinanceSpotConfig {
    stream_url: String,
    api_url: String,
    #[serde(default)]
    order_prefix: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    ws_api_url: String,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct BybitConfig {
    public_url: String,
    private_url: String,
    trade_url: String,
    rest_url: String,
    api_key: String,
    secret: String,
    category: String,
    order_prefix: String,
}

/// What the real connector does with its config at startup: parse it for its exchange, and
/// panic where it would panic. Returns the panic message.
fn load_config(kind: ConnectorType, text: &str) -> Result<(), String> {
    let cfg = |e: toml::de::Error| format!("Config({:?})", e.message());
    match kind {
        ConnectorType::BinanceFutures => toml::from_str::<BinanceFuturesConfig>(text)
            .map(|_| ())
            .map_err(cfg),
        ConnectorType::BinanceSpot => {
            let c: BinanceSpotConfig = toml::from_str(text).map_err(cfg)?;
            // The user-data stream (and its Ed25519 signing key) only when both are set.
            if !c.api_key.is_empty()
                && !c.secret.is_empty()
                && !c.secret.contains("-----BEGIN PRIVATE KEY-----")
            {
                return Err("secret is not an Ed25519 PKCS#8 PEM key".into());
            }
            Ok(())
        }
        ConnectorType::Bybit => {
            let c: BybitConfig = toml::from_str(text).map_err(cfg)?;
            if c.order_prefix.chars().count() > 8 || c.order_prefix.contains('/') {
                return Err("order prefix must be at most 8 characters without '/'".into());
            }
            Ok(())
        }
    }
}

fn die(code: i32, msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(code);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        die(2, "Usage: sim-connector <NAME> <CONNECTOR> <CONFIG>");
    }
    let (name, kind, config) = (&args[1], &args[2], &args[3]);
    let kind = match kind.as_str() {
        "binancefutures" => ConnectorType::BinanceFutures,
        "binancespot" => ConnectorType::BinanceSpot,
        "bybit" => ConnectorType::Bybit,
        other => die(1, &format!("ERROR connector: {other} is not supported.")),
    };
    let text = std::fs::read_to_string(config).unwrap_or_else(|e| {
        die(
            1,
            &format!("thread 'main' panicked at connector/src/main.rs: {config}: {e}"),
        )
    });
    if let Err(e) = load_config(kind, &text) {
        die(
            1,
            &format!("thread 'main' panicked at connector/src/main.rs: {e}"),
        );
    }
    let sim: SimConfig = text
        .parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("sim").cloned())
        .map(|v| {
            v.try_into().unwrap_or_else(|e: toml::de::Error| {
                die(
                    1,
                    &format!("thread 'main' panicked: bad [sim] table: {}", e.message()),
                )
            })
        })
        .unwrap_or_default();
    let sim = sim.faults_once();

    tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(1, &format!("tokio: {e}")));
    if sim.echo_config {
        if let Ok(table) = std::fs::read_to_string(config).map(|t| t.parse::<toml::Table>()) {
            for (k, v) in table.iter().flat_map(|t| t.iter()) {
                if let Some(v) = v.as_str() {
                    tracing::info!("config {k} = {v}");
                }
            }
        }
    }
    // With both keys set the real connector runs its private stream and cancels a symbol's open
    // orders on its first registration.
    let keys = text.parse::<toml::Table>().is_ok_and(|t| {
        ["api_key", "secret"].iter().all(|k| {
            t.get(*k)
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty())
        })
    });
    let code = rt.block_on(run(name.clone(), kind, sim, keys));
    std::process::exit(code);
}

async fn run(name: String, kind: ConnectorType, sim: SimConfig, keys: bool) -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    tracing::info!(%name, connector = %kind, "connector starting");
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => die(1, &format!("signal handler: {e}")),
    };
    let mut int = match signal(SignalKind::interrupt()) {
        Ok(s) => s,
        Err(e) => die(1, &format!("signal handler: {e}")),
    };
    let stop_ipc = Arc::new(AtomicBool::new(false));
    let mut ipc_thread = None;
    if !sim.never_ready {
        tokio::time::sleep(Duration::from_millis(sim.ready_delay_ms)).await;
        let (ok_tx, ok_rx) = tokio::sync::oneshot::channel();
        let stop = stop_ipc.clone();
        let n = name.clone();
        let plan = FeedPlan::of(&sim, kind, keys);
        ipc_thread = Some(std::thread::spawn(move || serve_ipc(&n, plan, stop, ok_tx)));
        match ok_rx.await {
            Ok(Ok(())) => {
                report("services", "");
                tracing::info!("iceoryx2 services {name}/ToBot and {name}/FromBot open")
            }
            Ok(Err(e)) => {
                eprintln!("thread 'main' panicked at connector/src/main.rs: {e}");
                return 1;
            }
            Err(_) => return 1,
        }
    } else {
        tracing::warn!("never_ready: not creating iceoryx2 services");
    }
    if sim.flood_lines > 0 {
        let t0 = std::time::Instant::now();
        flood(sim.flood_lines, sim.line_bytes.unwrap_or(129));
        report(
            "flood",
            &format!(
                ",\"lines\":{},\"secs\":{:.6}",
                sim.flood_lines,
                t0.elapsed().as_secs_f64()
            ),
        );
        if sim.exit_after_flood {
            return finish(0, stop_ipc, ipc_thread);
        }
    }
    let rate = sim.lines_per_sec.unwrap_or(2.0);
    let tick = if rate > 0.0 {
        Duration::from_secs_f64(1.0 / rate)
    } else {
        Duration::from_secs(3600)
    };
    let crash = async {
        match sim.crash_after_ms {
            Some(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(crash);
    let mut seq: u64 = 0;
    let mut interval = tokio::time::interval(tick);
    interval.tick().await;
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if rate > 0.0 {
                    seq += 1;
                    tracing::info!(seq, "depth update BTCUSDT bid=67012.5 ask=67012.6");
                }
            }
            _ = &mut crash => {
                tracing::error!("websocket task failed: connection reset by peer");
                eprintln!(
                    "thread 'tokio-runtime-worker' panicked at connector/src/binancefutures/mod.rs:\n{}",
                    sim.crash_message.as_deref().unwrap_or("simulated crash")
                );
                // No cleanup: a crash leaves dead iceoryx2 nodes behind, as the real one does.
                report("crash", "");
                std::process::exit(sim.crash_code.unwrap_or(1));
            }
            _ = term.recv() => {
                if let Some(code) = on_sigterm(&sim).await { return finish(code, stop_ipc, ipc_thread); }
            }
            _ = int.recv() => {
                tracing::info!("SIGINT: shutting down");
                return finish(0, stop_ipc, ipc_thread);
            }
        }
    }
}

/// Returns the exit code to exit with, or None to keep running.
async fn on_sigterm(sim: &SimConfig) -> Option<i32> {
    if sim.ignore_sigterm {
        tracing::warn!("SIGTERM received: ignoring it");
        return None;
    }
    if let Some(ms) = sim.panic_after_sigterm_ms {
        tracing::info!("SIGTERM received");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        eprintln!(
            "thread 'tokio-runtime-worker' panicked at connector/src/main.rs:\ncalled `Result::unwrap()` on an `Err` value: SendError {{ .. }}"
        );
        std::process::exit(1);
    }
    tracing::info!("SIGTERM received: shutting down");
    Some(0)
}

fn finish(code: i32, stop: Arc<AtomicBool>, thread: Option<std::thread::JoinHandle<()>>) -> i32 {
    stop.store(true, Ordering::SeqCst);
    if let Some(t) = thread {
        let _ = t.join();
    }
    code
}

fn flood(lines: u64, bytes: usize) {
    let bytes = bytes.max(2);
    let mut line = vec![b'x'; bytes];
    line[bytes - 1] = b'\n';
    let mut out = std::io::stdout().lock();
    for i in 0..lines {
        let tag = format!("flood {i:>12} ");
        let n = tag.len().min(bytes - 1);
        line[..n].copy_from_slice(&tag.as_bytes()[..n]);
        // One write per line, as a tracing subscriber does; stdout's LineWriter flushes it.
        if out.write_all(&line).is_err() {
            return;
        }
    }
    let _ = out.flush();
}

/// Creates the services exactly as hftbacktest's connector does (each port with its own node),
/// then serves until `stop`.
fn serve_ipc(
    name: &str,
    plan: FeedPlan,
    stop: Arc<AtomicBool>,
    ok: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    let cfg = channel_config();
    let setup = || -> Result<_, String> {
        let make_node = || {
            NodeBuilder::new()
                .signal_handling_mode(SignalHandlingMode::Disabled)
                .create::<ipc::Service>()
                .map_err(|e| format!("{e:?}"))
        };
        let pub_node = make_node()?;
        let to_bot = pub_node
            .service_builder(&ServiceName::new(&wire::to_bot(name)).map_err(|e| format!("{e:?}"))?)
            .publish_subscribe::<[u8]>()
            .subscriber_max_buffer_size(cfg.buffer_size)
            .max_publishers(1)
            .max_subscribers(cfg.max_bots)
            .user_header::<CustomHeader>()
            .open_or_create()
            .map_err(|e| format!("PublishSubscribeOpenError: {e:?}"))?;
        let publisher = to_bot
            .publisher_builder()
            .initial_max_slice_len(wire::MAX_PAYLOAD_SIZE)
            .create()
            .map_err(|e| format!("{e:?}"))?;
        let sub_node = make_node()?;
        let from_bot = sub_node
            .service_builder(
                &ServiceName::new(&wire::from_bot(name)).map_err(|e| format!("{e:?}"))?,
            )
            .publish_subscribe::<[u8]>()
            .subscriber_max_buffer_size(cfg.buffer_size)
            .max_publishers(cfg.max_bots)
            .max_subscribers(1)
            .user_header::<CustomHeader>()
            .open_or_create()
            .map_err(|e| format!("PublishSubscribeOpenError: {e:?}"))?;
        let subscriber = from_bot
            .subscriber_builder()
            .create()
            .map_err(|e| format!("{e:?}"))?;
        Ok((pub_node, to_bot, publisher, sub_node, from_bot, subscriber))
    };
    match setup() {
        Ok(ports) => {
            let _ = ok.send(Ok(()));
            let (_pn, _tb, publisher, _sn, _fb, subscriber) = &ports;
            let mut feed = Feed::new(plan);
            while !stop.load(Ordering::SeqCst) {
                while let Ok(Some(sample)) = subscriber.receive() {
                    let payload = sample.payload();
                    let len = sample.user_header().len.min(payload.len());
                    feed.request(&payload[..len]);
                }
                let pause = feed.step(publisher);
                std::thread::sleep(pause);
            }
            report("feed", &format!(",\"sent\":{}", feed.sent));
        }
        Err(e) => {
            let _ = ok.send(Err(e));
        }
    }
}

type Publisher = iceoryx2::port::publisher::Publisher<ipc::Service, [u8], CustomHeader>;

/// The feed the sim publishes, as the real connector would: nothing before a bot registers.
struct Feed {
    plan: FeedPlan,
    /// When the first bot registered (the feed began).
    began: Option<std::time::Instant>,
    /// Feed events published (the burst included).
    sent: u64,
    /// Events of the steady rate published so far.
    paced: u64,
    next_symbol: usize,
    next_error: Option<std::time::Instant>,
    /// Payloads of the symbols flowing on the current stream connection.
    payloads: Vec<Vec<u8>>,
    /// Which of `plan.symbols` each payload is (None: a symbol added by a registration).
    flowing: Vec<String>,
    /// Symbols registered in this process (the real connector's symbol set).
    known: std::collections::HashSet<String>,
    /// Per symbol, until when its first registration's cancel-all runs.
    cleanup_until: std::collections::HashMap<String, std::time::Instant>,
    /// Order events to publish (to every bot, id 0).
    outbox: Vec<Vec<u8>>,
    stream: Stream,
}

/// The exchange stream of the sim, as the real connector runs it: connection attempts with a
/// doubling backoff while the exchange is unreachable, and a drop that reconnects without
/// resubscribing.
struct Stream {
    up: bool,
    /// The exchange refuses connections until then.
    down_until: Option<std::time::Instant>,
    next_attempt: std::time::Instant,
    backoff: Duration,
    /// When the connected stream drops (once).
    drop_at: Option<std::time::Instant>,
    connected_once: bool,
}

/// The first retry delay of the real connector's backoff (`connector/src/utils.rs`).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

impl Feed {
    fn new(plan: FeedPlan) -> Feed {
        let next_error = plan
            .error_every
            .map(|e| std::time::Instant::now() + Duration::from_secs_f64(e));
        let now = std::time::Instant::now();
        // A reachable exchange: the first attempt connects at once.
        let up = plan.exchange_down.is_zero();
        let stream = Stream {
            up,
            down_until: (!up).then(|| now + plan.exchange_down),
            next_attempt: now,
            backoff: FIRST_BACKOFF,
            drop_at: if up {
                plan.drop_after.map(|d| now + d)
            } else {
                None
            },
            connected_once: up,
        };
        Feed {
            plan,
            began: None,
            sent: 0,
            paced: 0,
            next_symbol: 0,
            next_error,
            payloads: Vec::new(),
            flowing: Vec::new(),
            known: std::collections::HashSet::new(),
            cleanup_until: std::collections::HashMap::new(),
            outbox: Vec::new(),
            stream,
        }
    }

    fn add_flowing(&mut self, symbol: &str) {
        if !self.flowing.iter().any(|s| s == symbol) {
            self.flowing.push(symbol.to_string());
            self.payloads.push(wire::encode_with_symbol(
                wire::EventKind::Feed,
                symbol,
                self.plan.bytes,
            ));
        }
    }

    /// One request from `{NAME}/FromBot`, handled as the real connector handles it.
    fn request(&mut self, payload: &[u8]) {
        let Some(req) = wire::decode_request(payload) else {
            tracing::error!(
                target: "connector",
                "An error occurred while receiving a request from the bots. error=Decode(UnexpectedEnd {{ additional: 2 }})"
            );
            eprintln!(
                "thread 'main' panicked at connector/src/main.rs:443:10:\ncalled `Result::unwrap()` on an `Err` value: Decode(UnexpectedEnd {{ additional: 2 }})"
            );
            report("crash", ",\"why\":\"decode\"");
            std::process::exit(1);
        };
        let symbol = match req {
            wire::Request::RegisterInstrument { symbol, .. } => symbol,
            wire::Request::Order { symbol, order_id } => {
                // A new order: answered New, unless the symbol's registration cleanup is still
                // cancelling: then Canceled (req New) while it would rest on the exchange.
                let cancelling = self
                    .cleanup_until
                    .get(&symbol)
                    .is_some_and(|t| std::time::Instant::now() < *t);
                let status = match cancelling {
                    true => wire::STATUS_CANCELED,
                    false => wire::STATUS_NEW,
                };
                tracing::info!(%symbol, order_id, cancelled = cancelling, "order");
                self.outbox.push(wire::encode_order(
                    wire::EventKind::Order.byte(),
                    &symbol,
                    order_id,
                    wire::STATUS_NEW,
                    status,
                ));
                return;
            }
        };
        if self.known.contains(&symbol) {
            // The symbol set has it: nothing is subscribed again (DESIGN §1).
            tracing::info!(%symbol, "already registered");
            return;
        }
        if !self.stream.up {
            // The real connector's register(): a broadcast send with no receiver between
            // connection attempts, unwrapped.
            let at = match self.plan.kind {
                ConnectorType::BinanceFutures => "binancefutures/mod.rs:220:41",
                ConnectorType::BinanceSpot => "binancespot/mod.rs:223",
                ConnectorType::Bybit => "bybit/mod.rs:289",
            };
            eprintln!(
                "thread 'main' panicked at connector/src/{at}:\ncalled `Result::unwrap()` on an `Err` value: SendError(\"{symbol}\")"
            );
            report("crash", ",\"why\":\"register\"");
            std::process::exit(1);
        }
        self.known.insert(symbol.clone());
        if !self.plan.cleanup.is_zero() {
            self.cleanup_until.insert(
                symbol.clone(),
                std::time::Instant::now() + self.plan.cleanup,
            );
        }
        if self.began.is_none() {
            self.began = Some(std::time::Instant::now());
            for s in self.plan.symbols.clone() {
                self.add_flowing(&s);
            }
            tracing::info!(%symbol, "a bot registered: publishing market data");
        } else {
            tracing::info!(%symbol, "registered");
        }
        self.add_flowing(&symbol);
    }

    /// Runs the stream's connection attempts and its drop.
    fn step_stream(&mut self, publisher: &Publisher, now: std::time::Instant) {
        let st = &mut self.stream;
        if st.up {
            if st.drop_at.is_some_and(|t| now >= t) {
                st.drop_at = None;
                st.up = false;
                st.down_until = Some(now + self.plan.drop_for);
                st.next_attempt = now;
                st.backoff = FIRST_BACKOFF;
                // The new connection will hear only later registrations.
                self.flowing.clear();
                self.payloads.clear();
                self.next_symbol = 0;
                tracing::warn!("market data stream dropped by the exchange");
            }
            return;
        }
        if now < st.next_attempt {
            return;
        }
        if st.down_until.is_some_and(|t| now < t) {
            let line = match self.plan.kind {
                ConnectorType::Bybit => "An error occurred in the public stream connection.",
                ConnectorType::BinanceFutures | ConnectorType::BinanceSpot => {
                    "An error occurred in the market data stream connection."
                }
            };
            tracing::error!(target: "connector", error = "Connection refused (os error 111)", "{line}");
            Self::publish(
                publisher,
                0,
                &[
                    wire::EventKind::Error.byte(),
                    wire::CONNECTION_INTERRUPTED,
                    0,
                    0,
                ],
            );
            st.next_attempt = now + st.backoff;
            st.backoff = (st.backoff * 2).min(self.plan.reconnect_max);
            return;
        }
        st.up = true;
        st.down_until = None;
        st.backoff = FIRST_BACKOFF;
        if !st.connected_once {
            st.connected_once = true;
            st.drop_at = self.plan.drop_after.map(|d| now + d);
        }
        tracing::info!("market data stream connected");
    }

    fn publish(publisher: &Publisher, id: u64, payload: &[u8]) -> bool {
        let mut buf = [0u8; wire::MAX_PAYLOAD_SIZE];
        buf[..payload.len()].copy_from_slice(payload);
        let Ok(sample) = publisher.loan_slice_uninit(wire::MAX_PAYLOAD_SIZE) else {
            return false;
        };
        let mut sample = sample.write_from_slice(&buf);
        *sample.user_header_mut() = CustomHeader {
            id,
            len: payload.len(),
        };
        sample.send().is_ok()
    }

    /// [`Self::publish`] with the send time (Unix ns, u64 LE) in the payload's last 8 bytes.
    fn publish_stamped(publisher: &Publisher, payload: &[u8]) -> bool {
        let mut buf = [0u8; wire::MAX_PAYLOAD_SIZE];
        buf[..payload.len()].copy_from_slice(payload);
        let Ok(sample) = publisher.loan_slice_uninit(wire::MAX_PAYLOAD_SIZE) else {
            return false;
        };
        let at = payload.len().saturating_sub(8);
        let ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        buf[at..at + 8].copy_from_slice(&ns.to_le_bytes());
        let mut sample = sample.write_from_slice(&buf);
        *sample.user_header_mut() = CustomHeader {
            id: 0,
            len: payload.len(),
        };
        sample.send().is_ok()
    }

    /// The next symbol's payload, skipping a stalled symbol.
    fn next_payload(&mut self, stalled: Option<&str>) -> Option<usize> {
        for _ in 0..self.flowing.len() {
            let i = self.next_symbol % self.flowing.len();
            self.next_symbol = (i + 1) % self.flowing.len();
            if stalled != Some(self.flowing[i].as_str()) {
                return Some(i);
            }
        }
        None
    }

    /// Publishes what is due; returns how long to sleep.
    fn step(&mut self, publisher: &Publisher) -> Duration {
        let now = std::time::Instant::now();
        self.step_stream(publisher, now);
        for order in std::mem::take(&mut self.outbox) {
            Self::publish(publisher, 0, &order);
        }
        if let Some(at) = self.next_error {
            if now >= at {
                tracing::error!(
                    target: "connector",
                    "An error occurred in the market data stream connection: Connection refused (os error 111)"
                );
                // LiveEvent::Error, to every bot (registered or not), as the real one does.
                Self::publish(publisher, 0, &[wire::EventKind::Error.byte(), 0, 0]);
                self.next_error = self
                    .plan
                    .error_every
                    .map(|e| now + Duration::from_secs_f64(e));
            }
        }
        let Some(began) = self.began else {
            return Duration::from_millis(20);
        };
        if self.plan.burst > 0 && self.sent == 0 {
            let t0 = std::time::Instant::now();
            for _ in 0..self.plan.burst {
                let Some(i) = self.next_payload(None) else {
                    break;
                };
                if Self::publish(publisher, 0, &self.payloads[i]) {
                    self.sent += 1;
                }
            }
            report(
                "feed_burst",
                &format!(
                    ",\"events\":{},\"bytes\":{},\"secs\":{:.6}",
                    self.sent,
                    self.plan.bytes,
                    t0.elapsed().as_secs_f64()
                ),
            );
        }
        let elapsed = now.duration_since(began).as_secs_f64();
        let stalled = match self.plan.stall_after {
            Some(after) if elapsed >= after => match &self.plan.stall_symbol {
                Some(sym) => Some(sym.clone()),
                None => return Duration::from_millis(20), // everything stalled
            },
            _ => None,
        };
        if self.plan.hz <= 0.0 {
            return Duration::from_millis(20);
        }
        let due = (elapsed * self.plan.hz) as u64;
        while self.paced < due {
            self.paced += 1;
            if let Some(i) = self.next_payload(stalled.as_deref()) {
                let sent = match self.plan.stamp {
                    true => Self::publish_stamped(publisher, &self.payloads[i]),
                    false => Self::publish(publisher, 0, &self.payloads[i]),
                };
                if sent {
                    self.sent += 1;
                }
            }
        }
        if self.plan.stamp {
            // The next event's due time (sleeping overshoots by the timer slack: at 100k/s a
            // few events go out per wake).
            let next = (self.paced + 1) as f64 / self.plan.hz;
            let elapsed = began.elapsed().as_secs_f64();
            return Duration::from_secs_f64((next - elapsed).clamp(0.0, 0.002));
        }
        Duration::from_millis(2)
    }
}
