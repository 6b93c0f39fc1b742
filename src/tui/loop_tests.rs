//! The event loop driven through its seams: a fake fleet (views the test publishes, commands
//! recorded), keys on a channel, signals on a channel and a screen that keeps the last frame.
//! No terminal, no engine: what the loop does with a key, a signal or a new view is read off
//! the fake fleet and the frames it drew.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Size;
use tokio::sync::{mpsc, watch, Notify};

use super::event_loop::event_loop;
use super::ports::{Context, FleetPort, Screen, Signal};
use crate::config::connector::ConnectorType;
use crate::engine::io::logs::SharedScrollback;
use crate::engine::io::store::unix_now;
use crate::fleet::FleetError;
use crate::machine::state::Command;
use crate::model::phase::Phase;
use crate::model::view::{ConnectorId, ConnectorView, HostView, Origin};

/// How long a test waits for what it expects before it fails saying what it saw (a hang
/// guard, not a measure: the loop answers in milliseconds).
const GUARD: Duration = Duration::from_secs(30);

/// What the loop asked of the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    One(ConnectorId, Command, Origin),
    All(Command, Origin),
    Shutdown,
    Detach,
}

/// A fleet whose views the test publishes and which records what it is asked.
struct FakeFleet {
    views: watch::Sender<Arc<Vec<ConnectorView>>>,
    hosts: watch::Sender<Arc<Vec<HostView>>>,
    asked: watch::Sender<Vec<Asked>>,
    log_activity: Arc<Notify>,
}

impl FakeFleet {
    fn ask(&self, what: Asked) {
        self.asked.send_modify(|a| a.push(what));
    }

    fn asked(&self) -> Vec<Asked> {
        self.asked.borrow().clone()
    }
}

impl FleetPort for FakeFleet {
    fn views(&self) -> watch::Receiver<Arc<Vec<ConnectorView>>> {
        self.views.subscribe()
    }

    fn hosts(&self) -> watch::Receiver<Arc<Vec<HostView>>> {
        self.hosts.subscribe()
    }

    fn scrollback(&self, _id: &ConnectorId) -> Option<SharedScrollback> {
        None
    }

    fn log_activity(&self) -> Arc<Notify> {
        self.log_activity.clone()
    }

    fn want_usage(&self, _secs: f64) -> bool {
        true
    }

    fn command_by(&self, id: ConnectorId, cmd: Command, origin: Origin) -> Result<(), FleetError> {
        self.ask(Asked::One(id, cmd, origin));
        Ok(())
    }

    fn command_all_by(&self, cmd: Command, origin: Origin) -> Result<(), FleetError> {
        self.ask(Asked::All(cmd, origin));
        Ok(())
    }

    fn shutdown(&self) {
        self.ask(Asked::Shutdown);
    }

    fn detach(&self) {
        self.ask(Asked::Detach);
    }

    /// The fake engine ends as soon as it is told to (shut down or detach).
    fn await_shutdown(&self) -> impl Future<Output = ()> {
        let mut asked = self.asked.subscribe();
        async move {
            let _ = asked
                .wait_for(|a| {
                    a.iter()
                        .any(|x| matches!(x, Asked::Shutdown | Asked::Detach))
                })
                .await;
        }
    }
}

/// A screen that keeps the newest frame and records everything else it is asked.
struct FakeScreen {
    size: Mutex<Size>,
    frame: watch::Sender<Option<Buffer>>,
    asked: Mutex<Vec<String>>,
}

impl FakeScreen {
    fn note(&self, what: String) {
        self.asked.lock().expect("not poisoned").push(what);
    }
}

impl Screen for FakeScreen {
    fn size(&self) -> Size {
        *self.size.lock().expect("not poisoned")
    }

    fn frame(&self, frame: Buffer) {
        self.frame.send_replace(Some(frame));
    }

    fn bell(&self) {
        self.note("bell".into());
    }

    fn copy(&self, text: String) {
        self.note(format!("copy {text}"));
    }

    fn mouse(&self, on: bool) {
        self.note(format!("mouse {on}"));
    }

    async fn lend(&self) {
        self.note("lend".into());
    }

    async fn take_back(&self, mouse: bool) -> Result<(), String> {
        self.note(format!("take back {mouse}"));
        Ok(())
    }
}

/// A frame's text, one line per row.
fn text(frame: &Buffer) -> String {
    let width = frame.area.width.max(1) as usize;
    frame
        .content
        .chunks(width)
        .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Connector `name` in `phase` with `bots` attached.
fn view(name: &str, phase: Phase, bots: u32) -> ConnectorView {
    ConnectorView {
        phase,
        pid: phase.has_process().then_some(4242),
        bots,
        wanted: true,
        ..ConnectorView::new(name, ConnectorType::BinanceFutures, unix_now())
    }
}

fn press(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

type Keys = mpsc::UnboundedSender<std::io::Result<Event>>;

/// The fakes around one run of the loop.
struct Harness {
    fleet: FakeFleet,
    screen: FakeScreen,
    keys: Mutex<Option<Keys>>,
    signals: mpsc::UnboundedSender<Signal>,
    /// Set once the loop has returned.
    ended: watch::Sender<bool>,
    /// The loop's ends of the key and signal channels, until it runs.
    parts: Mutex<Option<LoopEnds>>,
    state_dir: tempfile::TempDir,
    /// How many times the loop asked the console to retry its host links.
    retried: std::sync::atomic::AtomicUsize,
}

type LoopEnds = (
    mpsc::UnboundedReceiver<std::io::Result<Event>>,
    mpsc::UnboundedReceiver<Signal>,
);

impl Harness {
    fn new(views: Vec<ConnectorView>) -> Harness {
        let (keys, keys_rx) = mpsc::unbounded_channel();
        let (signals, signals_rx) = mpsc::unbounded_channel();
        Harness {
            fleet: FakeFleet {
                views: watch::channel(Arc::new(views)).0,
                hosts: watch::channel(Arc::new(Vec::new())).0,
                asked: watch::channel(Vec::new()).0,
                log_activity: Arc::new(Notify::new()),
            },
            screen: FakeScreen {
                size: Mutex::new(Size {
                    width: 80,
                    height: 24,
                }),
                frame: watch::channel(None).0,
                asked: Mutex::new(Vec::new()),
            },
            keys: Mutex::new(Some(keys)),
            signals,
            ended: watch::channel(false).0,
            parts: Mutex::new(Some((keys_rx, signals_rx))),
            state_dir: tempfile::tempdir().expect("a temp dir"),
            retried: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Runs the loop while `driver` plays the operator; returns what the loop returned.
    async fn run(&self, driver: impl Future<Output = ()>) -> Result<bool, String> {
        let (keys, signals) = self
            .parts
            .lock()
            .expect("not poisoned")
            .take()
            .expect("the loop runs once");
        // The input is opened once (no pager runs here): a second opening reads nothing.
        let mut keys = Some(keys);
        let open_input = move || {
            let mut keys = keys.take();
            futures_util::stream::poll_fn(move |cx| match keys.as_mut() {
                Some(k) => k.poll_recv(cx),
                None => Poll::Ready(None),
            })
        };
        let context = Context {
            bell: None,
            confirm_always: false,
            viewing: None,
            state_dir: self.state_dir.path().to_path_buf(),
            has_hosts: false,
            retry_hosts: Box::new(|| {
                self.retried
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }),
            reload: Box::new(|| Box::pin(async { "reloaded: 1 connector added".to_string() })),
        };
        let looped = async {
            let ended = event_loop(&self.fleet, &self.screen, open_input, signals, context).await;
            self.ended.send_replace(true);
            ended
        };
        let both = async { tokio::join!(looped, driver).0 };
        // Longer than the waits' own guard, so that a wait that fails says what it saw.
        tokio::time::timeout(2 * GUARD, both)
            .await
            .expect("the loop did not end: it was never told to, or it hung")
    }

    fn send(&self, ev: Event) {
        if let Some(k) = self.keys.lock().expect("not poisoned").as_ref() {
            let _ = k.send(Ok(ev));
        }
    }

    fn key(&self, c: char) {
        self.send(press(c));
    }

    /// The terminal's input ends (as when the terminal is closed under the process).
    fn end_input(&self) {
        self.keys.lock().expect("not poisoned").take();
    }

    fn signal(&self, s: Signal) {
        let _ = self.signals.send(s);
    }

    /// Waits until `ok` holds for the newest frame; returns that frame's text. Fails, with the
    /// last frame, if the loop ends first or the guard time passes.
    async fn frame_where(&self, what: &str, ok: impl Fn(&Buffer) -> bool) -> String {
        let mut frames = self.screen.frame.subscribe();
        let mut ended = self.ended.subscribe();
        let seen = tokio::select! {
            seen = tokio::time::timeout(GUARD, frames.wait_for(|f| f.as_ref().is_some_and(&ok))) => {
                seen.is_ok_and(|s| s.is_ok())
            }
            _ = ended.wait_for(|e| *e) => false,
        };
        let last = self.screen.frame.borrow().as_ref().map(text);
        match (seen, last) {
            (true, Some(t)) => t,
            (_, last) => panic!(
                "no frame showed {what}; the last one:\n{}",
                last.unwrap_or_default()
            ),
        }
    }

    /// Waits for a frame that shows `needle`.
    async fn shows(&self, needle: &str) -> String {
        self.frame_where(needle, |f| text(f).contains(needle)).await
    }

    /// Waits until the fleet was asked `what`.
    async fn asked(&self, what: Asked) {
        let mut asked = self.fleet.asked.subscribe();
        let mut ended = self.ended.subscribe();
        let seen = tokio::select! {
            seen = tokio::time::timeout(GUARD, asked.wait_for(|a| a.contains(&what))) => {
                seen.is_ok_and(|s| s.is_ok())
            }
            _ = ended.wait_for(|e| *e) => self.fleet.asked().contains(&what),
        };
        assert!(
            seen,
            "the fleet was not asked {what:?}; it was asked {:?}",
            self.fleet.asked()
        );
    }
}

#[tokio::test]
async fn the_first_frame_shows_the_fleets_connectors_and_a_new_view_is_drawn() {
    let h = Harness::new(vec![
        view("lt1-a", Phase::Ready, 0),
        view("lt1-b", Phase::Ready, 0),
    ]);
    let ended = h
        .run(async {
            let first = h.shows("lt1-b").await;
            assert!(first.contains("lt1-a binancefutures READY"), "{first}");
            assert!(first.contains("lt1-b binancefutures READY"), "{first}");
            assert!(first.contains("2 ready"), "{first}");
            h.fleet.views.send_replace(Arc::new(vec![
                view("lt1-a", Phase::Ready, 0),
                view("lt1-b", Phase::Failed, 0),
            ]));
            let next = h.shows("lt1-b binancefutures FAILED").await;
            assert!(next.contains("1 ready"), "{next}");
            assert!(next.contains("lt1-a binancefutures READY"), "{next}");
            h.signal(Signal::Terminate);
        })
        .await;
    assert_eq!(ended, Ok(true));
    assert_eq!(h.fleet.asked(), [Asked::Detach]);
}

#[tokio::test]
async fn x_asks_first_when_bots_are_attached_then_stops_and_r_restarts_at_once() {
    let h = Harness::new(vec![
        view("lt2-a", Phase::Ready, 0),
        view("lt2-b", Phase::Ready, 1),
    ]);
    let ended = h
        .run(async {
            h.shows("lt2-b").await;
            // The second connector, with a bot attached: stopping it asks first.
            h.key('2');
            h.key('x');
            let dialog = h.shows("Stop lt2-b?").await;
            assert!(dialog.contains("1 bot(s) attached"), "{dialog}");
            assert!(
                h.fleet.asked().is_empty(),
                "nothing is sent before the answer"
            );
            h.key('y');
            h.asked(Asked::One(
                ConnectorId::local("lt2-b"),
                Command::Stop,
                Origin::Key,
            ))
            .await;
            // The first one, without bots: restarted at once.
            h.key('1');
            h.key('r');
            h.asked(Asked::One(
                ConnectorId::local("lt2-a"),
                Command::Restart,
                Origin::Key,
            ))
            .await;
            // All of them, asked first.
            h.key('X');
            h.shows("Stop all 2 running connector(s)?").await;
            h.key('y');
            h.asked(Asked::All(Command::Stop, Origin::Key)).await;
            h.signal(Signal::Hangup);
        })
        .await;
    assert_eq!(ended, Ok(true));
    assert_eq!(
        h.fleet.asked(),
        [
            Asked::One(ConnectorId::local("lt2-b"), Command::Stop, Origin::Key),
            Asked::One(ConnectorId::local("lt2-a"), Command::Restart, Origin::Key),
            Asked::All(Command::Stop, Origin::Key),
            Asked::Detach,
        ]
    );
}

#[tokio::test]
async fn q_then_d_detaches_and_leaves_the_connectors_running() {
    let h = Harness::new(vec![view("lt3-a", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.shows("lt3-a").await;
            h.key('q');
            h.shows("d detach: quit, leave them running").await;
            h.key('d');
        })
        .await;
    assert_eq!(ended, Ok(true));
    assert_eq!(h.fleet.asked(), [Asked::Detach]);
}

#[tokio::test]
async fn q_then_s_stops_everything_and_quits_once_the_engine_has_ended() {
    let h = Harness::new(vec![view("lt4-a", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.shows("lt4-a").await;
            h.key('q');
            h.shows("s stop all and quit").await;
            h.key('s');
        })
        .await;
    assert_eq!(ended, Ok(false));
    assert_eq!(h.fleet.asked(), [Asked::Shutdown]);
}

#[tokio::test]
async fn terminate_hangup_and_an_interrupt_outside_a_pager_detach() {
    for signal in [Signal::Terminate, Signal::Hangup, Signal::Interrupt] {
        let h = Harness::new(vec![view("lt5-a", Phase::Ready, 0)]);
        let ended = h
            .run(async {
                h.shows("lt5-a").await;
                h.signal(signal);
            })
            .await;
        assert_eq!(ended, Ok(true), "{signal:?}");
        assert_eq!(h.fleet.asked(), [Asked::Detach], "{signal:?}");
    }
}

#[tokio::test]
async fn the_input_ending_or_failing_ends_the_loop_saying_so() {
    let h = Harness::new(vec![view("lt6-a", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.shows("lt6-a").await;
            h.end_input();
        })
        .await;
    let why = ended.expect_err("the loop ends with why");
    assert!(why.contains("the terminal's input ended"), "{why}");
    // The caller detaches (`tui::run`), not the loop.
    assert!(h.fleet.asked().is_empty(), "{:?}", h.fleet.asked());

    let h = Harness::new(vec![view("lt6-b", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.shows("lt6-b").await;
            if let Some(k) = h.keys.lock().expect("not poisoned").as_ref() {
                let _ = k.send(Err(std::io::Error::other("EIO")));
            }
        })
        .await;
    let why = ended.expect_err("the loop ends with why");
    assert!(why.contains("reading the terminal failed: EIO"), "{why}");
}

#[tokio::test]
async fn a_resize_draws_a_frame_of_the_new_size() {
    let h = Harness::new(vec![view("lt7-a", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.frame_where("an 80×24 frame", |f| {
                (f.area.width, f.area.height) == (80, 24)
            })
            .await;
            *h.screen.size.lock().expect("not poisoned") = Size {
                width: 120,
                height: 40,
            };
            h.send(Event::Resize(120, 40));
            let wide = h
                .frame_where("a 120×40 frame", |f| {
                    (f.area.width, f.area.height) == (120, 40)
                })
                .await;
            // The footer is on the new last row.
            let last = wide.lines().last().unwrap_or_default();
            assert!(last.contains("q quit"), "{wide}");
            h.signal(Signal::Terminate);
        })
        .await;
    assert_eq!(ended, Ok(true));
}

#[tokio::test]
async fn m_releases_the_mouse_h_retries_the_hosts_and_r_shows_the_reloads_outcome() {
    let h = Harness::new(vec![view("lt8-a", Phase::Ready, 0)]);
    let ended = h
        .run(async {
            h.shows("lt8-a").await;
            h.key('M');
            h.shows("mouse: released").await;
            h.key('H');
            h.shows("no [[host]] in the manifest").await;
            h.key('R');
            h.shows("reloaded: 1 connector added").await;
            h.signal(Signal::Terminate);
        })
        .await;
    assert_eq!(ended, Ok(true));
    assert_eq!(
        *h.screen.asked.lock().expect("not poisoned"),
        ["mouse false"]
    );
    assert_eq!(h.retried.load(std::sync::atomic::Ordering::SeqCst), 1);
}
