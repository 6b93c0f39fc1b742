//! Prometheus metrics (DESIGN §11), opt-in with `[metrics] listen`: `GET /metrics` answers in
//! the OpenMetrics text format (which Prometheus scrapes natively), encoded by
//! prometheus-client and served by hyper.
//!
//! Gauges and counters are read from the engine's current views at each scrape (a
//! [`Collector`]), so they always equal what `status --json` says; the build and start
//! duration histograms are fed by an observer of the event stream. Every series carries the
//! labels `connector`, `type` and `host`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::engine::io::store::unix_now;
use crate::fleet::Fleet;
use crate::model::fact::Fact;
use crate::model::health::FeedHealth;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView, EventKind};

/// The labels of one connector's series.
type Labels = Vec<(&'static str, String)>;
type Durations = Family<Labels, Histogram, fn() -> Histogram>;

/// Most scrapes served at once; more wait for a free slot.
const MAX_CONNECTIONS: usize = 16;
/// A scraper must send its request head within this.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const HEALTHS: [FeedHealth; 4] = [
    FeedHealth::Ok,
    FeedHealth::Quiet,
    FeedHealth::Stale,
    FeedHealth::Erroring,
];

/// The labels of a connector no view names (any more).
fn unknown_labels(id: &ConnectorId, local_host: &str) -> Labels {
    vec![
        ("connector", id.name.clone()),
        ("type", String::new()),
        (
            "host",
            id.host.clone().unwrap_or_else(|| local_host.to_string()),
        ),
    ]
}

fn labels(v: &ConnectorView, local_host: &str) -> Labels {
    vec![
        ("connector", v.name.clone()),
        ("type", v.kind.as_str().to_string()),
        (
            "host",
            v.host.clone().unwrap_or_else(|| local_host.to_string()),
        ),
    ]
}

/// The gauges and counters of every connector, read from the engine's views at each scrape.
struct ViewCollector {
    views: watch::Receiver<Arc<Vec<ConnectorView>>>,
    engine: Fleet,
    local_host: String,
}

impl std::fmt::Debug for ViewCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ViewCollector")
    }
}

impl ViewCollector {
    fn family<T: EncodeMetric>(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        kind: MetricType,
        series: impl IntoIterator<Item = (Labels, T)>,
    ) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
        for (labels, value) in series {
            value.encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

impl Collector for ViewCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let now = unix_now();
        // Each scrape keeps CPU and memory sampling on for the next minute.
        self.engine.want_usage(60.0);
        let views: Vec<ConnectorView> = self
            .views
            .borrow()
            .iter()
            .map(|v| v.clone().at(now))
            .collect();
        let host = self.local_host.as_str();
        let each = |f: &dyn Fn(&ConnectorView) -> i64| -> Vec<(Labels, ConstGauge<i64>)> {
            views
                .iter()
                .map(|v| (labels(v, host), ConstGauge::new(f(v))))
                .collect()
        };
        let counted = |f: &dyn Fn(&ConnectorView) -> u64| -> Vec<(Labels, ConstCounter<u64>)> {
            views
                .iter()
                .map(|v| (labels(v, host), ConstCounter::new(f(v))))
                .collect()
        };
        Self::family(
            &mut encoder,
            "switchboard_connector_up",
            "1 when the connector is ready (its process runs and its iceoryx2 services are open), else 0",
            MetricType::Gauge,
            each(&|v| i64::from(v.phase == Phase::Ready)),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_phase",
            "The connector's lifecycle phase, as a state set: 1 for the current phase, 0 for the others",
            MetricType::Gauge,
            views.iter().flat_map(|v| {
                Phase::ALL.iter().map(move |p| {
                    let mut l = labels(v, host);
                    l.push(("phase", p.as_str().to_string()));
                    (l, ConstGauge::new(i64::from(v.phase == *p)))
                })
            }),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_feed_health",
            "Feed health of a ready connector, as a state set (all 0 when not ready)",
            MetricType::Gauge,
            views.iter().flat_map(|v| {
                HEALTHS.iter().map(move |h| {
                    let mut l = labels(v, host);
                    l.push(("health", h.as_str().to_string()));
                    (l, ConstGauge::new(i64::from(v.health == Some(*h))))
                })
            }),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_last_exit_cause",
            "What ended the connector's last process when a request on its FromBot did, as a state set (registration_crash: a registration while its exchange was unreachable; undecodable_request); all 0 otherwise",
            MetricType::Gauge,
            views.iter().flat_map(|v| {
                crate::model::view::ExitCause::ALL.iter().map(move |c| {
                    let mut l = labels(v, host);
                    l.push(("reason", c.as_str().to_string()));
                    (l, ConstGauge::new(i64::from(v.last_exit_cause == Some(*c))))
                })
            }),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_restarts",
            "Start attempts made automatically or by a restart",
            MetricType::Counter,
            counted(&|v| u64::from(v.restarts)),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_crash_looping",
            &format!(
                "1 while the connector is crash-looping (at least {} restarts with no stay of uptime_reset between them, until it stays up that long), else 0",
                crate::machine::budget::CRASH_LOOP_RESTARTS
            ),
            MetricType::Gauge,
            each(&|v| i64::from(v.crash_loop.is_some())),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_crash_loop_restarts",
            "Restarts in the connector's current crash loop (0 when it is not crash-looping)",
            MetricType::Gauge,
            each(&|v| v.crash_loop.map(|c| i64::from(c.restarts)).unwrap_or(0)),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_bots",
            "Bots attached to the connector's iceoryx2 services",
            MetricType::Gauge,
            each(&|v| i64::from(v.bots)),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_feed_events",
            "Market-data (Feed) events the console's meter counted since the connector became ready (a lower bound above 100k/s)",
            MetricType::Counter,
            views
                .iter()
                .filter_map(|v| Some((labels(v, host), ConstCounter::new(v.feed.as_ref()?.total)))),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_feed_last_event_age_seconds",
            "Seconds since the connector's last Feed event (only once it has sent one)",
            MetricType::Gauge,
            views.iter().filter_map(|v| {
                let age = v.feed.as_ref()?.last_event_age_s?;
                Some((labels(v, host), ConstGauge::new(age)))
            }),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_cpu_percent",
            "Percent of one core the connector's process used over the last second",
            MetricType::Gauge,
            views
                .iter()
                .filter_map(|v| Some((labels(v, host), ConstGauge::new(v.cpu_pct?)))),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_memory_rss_bytes",
            "Resident memory of the connector's process, bytes",
            MetricType::Gauge,
            views
                .iter()
                .filter_map(|v| Some((labels(v, host), ConstGauge::new(v.rss_bytes? as i64)))),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_log_errors",
            "ERROR lines and panics in the connector's log since this console began",
            MetricType::Counter,
            counted(&|v| v.errors_total),
        )?;
        Self::family(
            &mut encoder,
            "switchboard_connector_log_warnings",
            "WARN lines in the connector's log since this console began",
            MetricType::Counter,
            counted(&|v| v.warns_total),
        )?;
        Ok(())
    }
}

/// The running metrics endpoint.
pub struct Metrics {
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    observer: JoinHandle<()>,
}

impl Metrics {
    /// Ends with the engine.
    pub async fn finish(self) {
        let _ = self.observer.await;
        self.server.abort();
        let _ = self.server.await;
    }
}

/// Buckets from 50 ms to about 7 minutes (doubling): a start takes milliseconds to seconds, a
/// build seconds to minutes.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Binds `addr` (before anything else starts, so that a port in use is a startup error).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Serves `/metrics` on `listener` for `engine` until the engine ends.
pub fn serve(listener: std::net::TcpListener, engine: &Fleet) -> std::io::Result<Metrics> {
    let listener = TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let local_host = crate::engine::io::sys::hostname();
    let mut registry = Registry::default();
    let build: Durations = Family::new_with_constructor(duration_histogram);
    let start: Durations = Family::new_with_constructor(duration_histogram);
    registry.register(
        "switchboard_connector_build_duration_seconds",
        "Seconds from the start of a successful build of the connector binary to its end",
        build.clone(),
    );
    registry.register(
        "switchboard_connector_start_duration_seconds",
        "Seconds from a connector's spawn to ready (its iceoryx2 services open)",
        start.clone(),
    );
    engine.want_usage(60.0);
    registry.register_collector(Box::new(ViewCollector {
        views: engine.views(),
        engine: engine.clone(),
        local_host: local_host.clone(),
    }));
    let registry = Arc::new(Mutex::new(registry));

    let mut events = engine.subscribe();
    let current = engine.views();
    let engine = engine.clone();
    let observer = tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                ev = events.recv() => match ev { Some(ev) => ev, None => break },
                _ = engine.await_shutdown() => break,
            };
            // Durations travel typed with their transitions: a successful build (whatever
            // came next: idle after `b`, starting after the auto-build of a first start), a
            // process from its spawn to ready. No timestamp is parsed back.
            let (family, seconds) = match &ev.kind {
                EventKind::Transition {
                    fact: Some(Fact::Built { seconds }),
                    ..
                } => (&build, *seconds),
                EventKind::Transition {
                    fact: Some(Fact::Ready { seconds }),
                    ..
                } => (&start, *seconds),
                _ => continue,
            };
            let l = {
                let views = current.borrow();
                views
                    .iter()
                    .find(|v| v.id() == ev.id)
                    .map(|v| labels(v, &local_host))
            };
            let l = l.unwrap_or_else(|| unknown_labels(&ev.id, &local_host));
            family.get_or_create(&l).observe(seconds.max(0.0));
        }
    });

    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let server = tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("metrics endpoint: cannot accept a connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |req| {
                    let registry = registry.clone();
                    async move { Ok::<_, Infallible>(respond(&req, &registry)) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!("metrics endpoint: {e}");
                }
            });
        }
    });
    Ok(Metrics {
        addr,
        server,
        observer,
    })
}

fn respond<B>(req: &Request<B>, registry: &Mutex<Registry>) -> Response<Full<Bytes>> {
    let plain = |status: StatusCode, text: &str| {
        let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
        *r.status_mut() = status;
        r
    };
    if req.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "switchboard serves Prometheus metrics at /metrics\n",
        );
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n");
    }
    let mut body = String::new();
    let encoded = {
        let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
        prometheus_client::encoding::text::encode(&mut body, &registry)
    };
    if encoded.is_err() {
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded\n",
        );
    }
    let mut r = Response::new(Full::new(Bytes::from(body)));
    if let Ok(v) = hyper::header::HeaderValue::from_str(CONTENT_TYPE) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}
