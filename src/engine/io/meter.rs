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

use crate::machine::feed::{FeedMeter, FeedStats};
use crate::wire::hftbacktest::{from_bot, to_bot, CustomHeader, CONSOLE_BOT_ID, MAX_PAYLOAD_SIZE};

/// Shortest drain interval while data flows or a bot is attached: at the default buffer of 10000
/// samples this keeps the meter exact up to 500k events/s.
pub const ACTIVE_DRAIN: Duration = Duration::from_millis(20);
/// Longest drain interval while data flows (#24: each wake of the console competes with the bots
/// for a core; at 10k events/s 20 ms drains were 50 wakes a second, 250 ms ones are 4).
pub const MAX_ACTIVE_DRAIN: Duration = Duration::from_millis(250);
/// With a bot attached or a node just changed but nothing flowing yet, the meter drains often
/// enough to stay exact if data starts at up to this rate (events/s): 100 ms at the default
/// buffer.
pub const EXACT_FROM_START: f64 = 100_000.0;

/// The next active drain interval: a quarter of the subscriber's buffer at the rate the last
/// drain saw (`got` samples in `since`), so that a burst of four times that rate, or a wake that
/// comes late on a loaded machine, still fits; with nothing seen,
/// the buffer at [`EXACT_FROM_START`]. Between [`ACTIVE_DRAIN`] and [`MAX_ACTIVE_DRAIN`].
pub fn active_interval(got: usize, since: Duration, capacity: usize) -> Duration {
    let cap = capacity.max(1) as f64;
    let secs = if got == 0 {
        cap / EXACT_FROM_START
    } else if got >= capacity || since > MAX_ACTIVE_DRAIN {
        // A full buffer says only that the rate is at least this, and data after an idle
        // interval may have begun anywhere in it: drain at the floor until the rate is known.
        0.0
    } else {
        // Grow at most twice the last interval: a rate misread once cannot overrun the buffer.
        (0.25 * cap * since.as_secs_f64().max(1e-4) / got as f64).min(2.0 * since.as_secs_f64())
    };
    Duration::from_secs_f64(secs.clamp(ACTIVE_DRAIN.as_secs_f64(), MAX_ACTIVE_DRAIN.as_secs_f64()))
}
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
    /// When the last drain ran (the rate between drains sets the next interval).
    pub last_drain: Option<Instant>,
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
            last_drain: None,
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

    /// The subscriber's buffer, in samples.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Receives everything buffered. Returns how many samples came. Of each payload it reads
    /// only what the figures need: the kind byte and the symbol (a Feed event's length comes
    /// from the header).
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

    /// The stats to report now, if a new second began since the last report (or the feed just
    /// started or came back, see [`report_now`]) and they changed.
    pub fn report(&mut self, now_unix: f64) -> Option<FeedStats> {
        let second = now_unix.floor() as i64;
        let sent_event = self.last_sent.as_ref().and_then(|s| s.last_event_at);
        if !report_now(
            self.reported_second,
            second,
            self.meter.last_event_at(),
            sent_event,
        ) {
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

/// Whether a meter reports now: once per wall-clock second, and at once when the feed starts or
/// comes back after more than a second without events (the last report said nothing came, or
/// an older time). Waiting for the next second there left the engine up to 1.25 s behind the
/// first data (a report per second, drains up to 250 ms apart), and a feed with a short
/// `stale_after` was called stale right after a bot attached, then recovered.
pub fn report_now(
    reported_second: Option<i64>,
    second: i64,
    last_event_at: Option<f64>,
    reported_event_at: Option<f64>,
) -> bool {
    let came_back = match (last_event_at, reported_event_at) {
        (Some(_), None) => true,
        (Some(now), Some(then)) => now - then > 1.0,
        (None, _) => false,
    };
    reported_second != Some(second) || came_back
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_reports_once_a_second_and_at_once_when_the_feed_starts_or_comes_back() {
        // A new second: report.
        assert!(report_now(Some(9), 10, None, None));
        assert!(report_now(None, 10, None, None));
        // The same second, nothing new or the feed flowing: wait for the next second.
        assert!(!report_now(Some(10), 10, None, None));
        assert!(!report_now(Some(10), 10, Some(10.4), Some(10.1)));
        assert!(!report_now(Some(10), 10, Some(10.4), Some(9.6)));
        // The first event, or the first after more than a second of silence: at once.
        assert!(report_now(Some(10), 10, Some(10.4), None));
        assert!(report_now(Some(10), 10, Some(10.4), Some(7.0)));
    }

    #[test]
    fn the_drain_interval_follows_the_rate_within_its_bounds() {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        // Nothing flowing yet (a bot attached): exact up to 100k events/s, 100 ms at 10000.
        assert!((ms(active_interval(0, Duration::from_secs(1), 10_000)) - 100.0).abs() < 1e-6);
        // 10k events/s: a quarter of the buffer lasts 250 ms, the cap, reached by doubling.
        assert_eq!(
            active_interval(2_500, Duration::from_millis(250), 10_000),
            MAX_ACTIVE_DRAIN
        );
        assert_eq!(
            active_interval(200, Duration::from_millis(20), 10_000),
            Duration::from_millis(40)
        );
        // Data that began somewhere in an idle second: the floor.
        assert_eq!(
            active_interval(30, Duration::from_secs(1), 64),
            ACTIVE_DRAIN
        );
        // 100k events/s: 25 ms.
        assert!(
            (ms(active_interval(5_000, Duration::from_millis(50), 10_000)) - 25.0).abs() < 1e-6
        );
        // 1000 events/s into the tests' 64-sample buffer: 16 ms, so the 20 ms floor.
        assert_eq!(
            active_interval(20, Duration::from_millis(20), 64),
            ACTIVE_DRAIN
        );
        // A full buffer (the rate is at least this): never below the floor.
        assert_eq!(
            active_interval(10_000, Duration::from_millis(20), 10_000),
            ACTIVE_DRAIN
        );
        // A full buffer after an idle second: the floor, not a rate of 64 per second.
        assert_eq!(
            active_interval(64, Duration::from_secs(1), 64),
            ACTIVE_DRAIN
        );
        // A small buffer drains at the floor.
        assert_eq!(active_interval(0, Duration::ZERO, 64), ACTIVE_DRAIN);
    }
}
