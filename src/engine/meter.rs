//! The console's passive subscriber on a ready connector's `{NAME}/ToBot` (DESIGN §10). It is
//! opened from the console's one node (services cap their nodes, and bots need those slots),
//! never creates the service, never publishes on `{NAME}/FromBot` (so it registers nothing), and
//! relies on iceoryx2's safe overflow: when the console falls behind, the oldest sample in *its*
//! buffer is dropped, never the connector's. It uses one of the service's `max_bots` subscriber
//! slots. Lives on the iceoryx2 thread (iceoryx2 ports are not `Send`).

use std::time::{Duration, Instant};

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use super::feed::{FeedMeter, FeedStats};
use super::hftbacktest::{from_bot, to_bot, CustomHeader, CONSOLE_BOT_ID, MAX_PAYLOAD_SIZE};

/// Drain interval while data flows or a bot is attached: at the default buffer of 10000 samples
/// this keeps the meter exact up to 500k events/s.
pub const ACTIVE_DRAIN: Duration = Duration::from_millis(20);
/// How long after a node change the meter drains at the active pace.
pub const WAKE_ACTIVE: Duration = Duration::from_secs(2);
/// Drain interval with no bot and no data (DESIGN §10 allows up to 1 s).
pub const IDLE_DRAIN: Duration = Duration::from_millis(1000);

/// One open meter.
pub struct Meter {
    subscriber: Subscriber<ipc::Service, [u8], CustomHeader>,
    meter: FeedMeter,
    /// The subscriber's buffer: a drain that finds it full may have lost samples.
    capacity: usize,
    pub next_drain: Instant,
    /// Drain at the active pace until then (set when a node comes or goes: a bot may be about
    /// to register, and data to start).
    pub active_until: Instant,
    /// The wall-clock second of the last report (reports go out once per second at most).
    reported_second: Option<i64>,
    last_sent: Option<FeedStats>,
    /// The console's publisher on `{NAME}/FromBot` once it has registered the declared
    /// instruments (DESIGN §13): one of the service's `max_bots` publisher slots, held as long as
    /// the meter, so that what it sent is never withdrawn with it.
    registrar: Option<Publisher<ipc::Service, [u8], CustomHeader>>,
}

impl Meter {
    /// Opens a subscriber on `{name}/ToBot`, which must already exist (the connector made it).
    pub fn open(node: &Node<ipc::Service>, name: &str, now_unix: f64) -> Result<Meter, String> {
        let service = ServiceName::new(&to_bot(name))
            .map_err(|e| format!("invalid service name {}: {e:?}", to_bot(name)))?;
        let factory = node
            .service_builder(&service)
            .publish_subscribe::<[u8]>()
            .user_header::<CustomHeader>()
            .open()
            .map_err(|e| format!("cannot open {}: {e:?}", to_bot(name)))?;
        let subscriber = factory
            .subscriber_builder()
            .create()
            .map_err(|e| format!("cannot subscribe to {}: {e:?}", to_bot(name)))?;
        Ok(Meter {
            capacity: subscriber.buffer_size(),
            subscriber,
            meter: FeedMeter::new(now_unix),
            next_drain: Instant::now(),
            active_until: Instant::now(),
            reported_second: None,
            last_sent: None,
            registrar: None,
        })
    }

    /// Sends each request (a `LiveRequest` payload, see `hftbacktest::register_instrument`) on
    /// `{name}/FromBot` under [`CONSOLE_BOT_ID`], from the console's node.
    pub fn register(
        &mut self,
        node: &Node<ipc::Service>,
        name: &str,
        requests: &[Vec<u8>],
    ) -> Result<(), String> {
        if self.registrar.is_none() {
            let service = ServiceName::new(&from_bot(name))
                .map_err(|e| format!("invalid service name {}: {e:?}", from_bot(name)))?;
            let factory = node
                .service_builder(&service)
                .publish_subscribe::<[u8]>()
                .user_header::<CustomHeader>()
                .open()
                .map_err(|e| format!("cannot open {}: {e:?}", from_bot(name)))?;
            let publisher = factory
                .publisher_builder()
                .initial_max_slice_len(MAX_PAYLOAD_SIZE)
                .create()
                .map_err(|e| format!("cannot publish on {}: {e:?}", from_bot(name)))?;
            self.registrar = Some(publisher);
        }
        let Some(publisher) = &self.registrar else {
            return Err("no publisher".into());
        };
        for req in requests {
            if req.len() > MAX_PAYLOAD_SIZE {
                return Err(format!("a request of {} bytes does not fit", req.len()));
            }
            let sample = publisher
                .loan_slice_uninit(req.len())
                .map_err(|e| format!("loan on {}: {e:?}", from_bot(name)))?;
            let mut sample = sample.write_from_slice(req);
            *sample.user_header_mut() = CustomHeader {
                id: CONSOLE_BOT_ID,
                len: req.len(),
            };
            let delivered = sample
                .send()
                .map_err(|e| format!("send on {}: {e:?}", from_bot(name)))?;
            if delivered == 0 {
                return Err(format!(
                    "nobody subscribes to {} (the connector is not listening yet)",
                    from_bot(name)
                ));
            }
        }
        Ok(())
    }

    /// A node came or went: drain now, and at the active pace for a while.
    pub fn wake(&mut self, now: Instant) {
        self.next_drain = now;
        self.active_until = now + WAKE_ACTIVE;
    }

    /// Receives everything buffered. Returns how many samples came.
    pub fn drain(&mut self, now_unix: f64) -> Result<usize, String> {
        self.meter.advance(now_unix);
        let mut n = 0usize;
        loop {
            match self.subscriber.receive() {
                Ok(Some(sample)) => {
                    let payload = sample.payload();
                    let len = sample.user_header().len.min(payload.len());
                    self.meter.record(&payload[..len]);
                    n += 1;
                }
                Ok(None) => break,
                Err(e) => return Err(format!("receive: {e:?}")),
            }
        }
        if n >= self.capacity {
            self.meter.mark_lossy();
        }
        Ok(n)
    }

    /// The stats to report now, if a new second began since the last report and they changed.
    pub fn report(&mut self, now_unix: f64) -> Option<FeedStats> {
        let second = now_unix.floor() as i64;
        if self.reported_second == Some(second) {
            return None;
        }
        self.reported_second = Some(second);
        let stats = self.meter.stats();
        if self.last_sent.as_ref() == Some(&stats) {
            return None;
        }
        self.last_sent = Some(stats.clone());
        Some(stats)
    }
}
