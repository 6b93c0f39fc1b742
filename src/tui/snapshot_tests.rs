//! Whole screens rendered into a `TestBackend` and compared with reviewed snapshots. The data
//! is fixed (PIDs, durations relative to one instant), so nothing volatile reaches a snapshot.

use std::sync::{Arc, Mutex};

use super::app::{App, Dialog, UiCall};
use super::keymap::Action;
use super::render::{draw, View};
use super::theme::Theme;
use crate::config::connector::ConnectorType;
use crate::engine::io::logs::Scrollback;
use crate::model::view::{BuildProgress, ConnectorId, ConnectorView};
use crate::{Command, ExitStatus, Phase};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// A fixed wall-clock instant: nothing volatile reaches a snapshot.
const NOW: f64 = 1_795_000_000.0;

fn snap(name: &str, phase: Phase, now: f64) -> ConnectorView {
    let running = phase.has_process();
    ConnectorView {
        phase,
        pid: running.then_some(4242),
        uptime_s: running.then_some(65.0),
        restarts: 2,
        bots: 1,
        last_exit: Some(ExitStatus::Code(1)),
        detail: match phase {
            Phase::Ready => "ready in 41 ms".into(),
            Phase::Failed => "gave up after 20 restart attempts; last: exited (code 1)".into(),
            Phase::Exited => "exited (code 1): thread 'main' panicked".into(),
            Phase::Backoff => "attempt 3/20 after a 4.0 s backoff; last: exited (code 1)".into(),
            Phase::Stopping => "SIGTERM sent; SIGKILL after a 5.0 s grace".into(),
            Phase::Building => "building".into(),
            Phase::Starting => "PID 4242: waiting for its iceoryx2 services".into(),
            Phase::Stopped => "stopped cleanly (code 0)".into(),
            Phase::Idle => String::new(),
        },
        countdown_s: matches!(phase, Phase::Stopping | Phase::Backoff | Phase::Starting)
            .then_some(3.4),
        build: (phase == Phase::Building).then_some(BuildProgress {
            done: 120,
            total: 345,
        }),
        wanted: true,
        ..ConnectorView::new(name, ConnectorType::BinanceFutures, now)
    }
}

/// An app whose panes show `logs`, one per view, in order.
fn app_for(snaps: &[ConnectorView], logs: Vec<crate::engine::io::logs::SharedScrollback>) -> App {
    let mut app = App::new();
    app.sync(snaps, |id| {
        snaps
            .iter()
            .position(|v| v.id() == *id)
            .and_then(|i| logs.get(i).cloned())
    });
    app
}

fn logs(n: usize, lines: usize) -> Vec<crate::engine::io::logs::SharedScrollback> {
    (0..n)
        .map(|i| {
            let mut sb = Scrollback::new(100, 1 << 20);
            for k in 0..lines {
                sb.push(format!(
                    "\u{1b}[32m INFO\u{1b}[0m connector {i}: depth update BTCUSDT seq={k}"
                ));
            }
            Arc::new(Mutex::new(sb))
        })
        .collect()
}

fn render(app: &App, snaps: &[ConnectorView], now: f64, w: u16, h: u16) -> TestBackend {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let view = View {
        app,
        snaps,
        now,
        theme: Theme { color: true },
        hosts: &[],
        viewing: None,
    };
    t.draw(|f| draw(f, &view)).expect("draw");
    t.backend().clone()
}

#[test]
fn every_phase() {
    let now = NOW;
    let snaps: Vec<_> = Phase::ALL
        .iter()
        .map(|p| snap(&format!("c-{p}"), *p, now))
        .collect();
    let app = app_for(&snaps, logs(9, 20));
    insta::assert_snapshot!(render(&app, &snaps, now, 200, 60));
}

#[test]
fn three_connectors_at_80x24() {
    let now = NOW;
    let snaps = vec![
        snap("bf", Phase::Ready, now),
        snap("spot", Phase::Starting, now),
        snap("bybit", Phase::Backoff, now),
    ];
    let app = app_for(&snaps, logs(3, 20));
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
}

#[test]
fn twelve_connectors_at_80x24_fall_back_to_the_table() {
    let now = NOW;
    let snaps: Vec<_> = (0..12)
        .map(|i| snap(&format!("conn-{i:02}"), Phase::ALL[i % 9], now))
        .collect();
    let mut app = app_for(&snaps, logs(12, 20));
    app.focus = 3;
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
}

#[test]
fn help_overlay() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(1, 5));
    app.update(Action::Help, &snaps);
    insta::assert_snapshot!(render(&app, &snaps, now, 100, 30));
}

#[test]
fn confirm_dialog_before_stopping_a_connector_with_bots() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(1, 5));
    assert!(
        app.update(Action::Stop, &snaps).is_empty(),
        "nothing happens before y"
    );
    assert!(matches!(app.dialog, Some(Dialog::Confirm { .. })));
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
    assert_eq!(
        app.update(Action::Yes, &snaps),
        [UiCall::One(ConnectorId::local("bf"), Command::Stop)]
    );
}

#[test]
fn a_held_registration_shows_in_the_pane_and_a_restart_says_the_bots_get_their_data_back() {
    use crate::machine::session::{RegistrationState, RegistrationView};
    let now = NOW;
    let mut bf = snap("bf", Phase::Ready, now);
    bf.registration = Some(RegistrationView {
        state: RegistrationState::Held,
        symbols: vec!["btcusdt".into()],
        detail: "registration held: exchange unreachable (14 stream errors in the last 3 s)".into(),
        at: None,
    });
    let snaps = vec![bf];
    let mut app = app_for(&snaps, logs(1, 5));
    insta::assert_snapshot!("registration_held_pane", render(&app, &snaps, now, 100, 16));
    assert!(app.update(Action::Restart, &snaps).is_empty());
    let screen = format!("{}", render(&app, &snaps, now, 100, 16));
    assert!(
        screen.contains("its instruments are then registered again"),
        "{screen}"
    );
}

#[test]
fn the_confirmation_for_a_connector_names_its_managed_bots() {
    use crate::model::view::Role;
    let now = NOW;
    let bf = snap("bf", Phase::Ready, now);
    let mut bot = snap("mm", Phase::Ready, now);
    bot.role = Role::Bot;
    bot.connectors = vec!["bf".into()];
    let snaps = vec![bf, bot];
    let mut app = app_for(&snaps, logs(2, 5));
    app.focus = 0;
    assert!(app.update(Action::Restart, &snaps).is_empty());
    let screen = format!("{}", render(&app, &snaps, now, 100, 24));
    assert!(
        screen.contains("managed bots stop first, restart after: mm"),
        "{screen}"
    );
    assert!(
        screen.contains("bot→bf"),
        "the bot's title names its connector: {screen}"
    );
    assert!(
        screen.contains("(1 managed)"),
        "the connector's title tells managed bots apart: {screen}"
    );
    // Starting a bot whose connector is stopped asks first, naming the connector.
    let mut bf = snap("bf", Phase::Stopped, now);
    bf.pid = None;
    let mut bot = snap("mm", Phase::Stopped, now);
    bot.role = Role::Bot;
    bot.connectors = vec!["bf".into()];
    let snaps = vec![bf, bot];
    let mut app = app_for(&snaps, logs(2, 5));
    app.focus = 1;
    assert!(app.update(Action::Start, &snaps).is_empty(), "asked first");
    let screen = format!("{}", render(&app, &snaps, now, 100, 24));
    assert!(
        screen.contains("its stopped connectors start first: bf"),
        "{screen}"
    );
    assert_eq!(
        app.update(Action::Yes, &snaps),
        [UiCall::One(ConnectorId::local("mm"), Command::Start)]
    );
}

#[test]
fn quit_dialog() {
    let now = NOW;
    let snaps = vec![
        snap("bf", Phase::Ready, now),
        snap("spot", Phase::Stopped, now),
    ];
    let mut app = app_for(&snaps, logs(2, 5));
    assert!(app.update(Action::Quit, &snaps).is_empty());
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
    assert_eq!(app.update(Action::QuitDetach, &snaps), [UiCall::Detach]);
}

#[test]
fn the_quit_dialog_puts_detach_first_and_names_the_bots_stop_all_costs() {
    use crate::model::view::Role;
    let now = NOW;
    let mut bf = snap("bf", Phase::Ready, now);
    bf.bots = 3; // mm, arb and one run outside the console
    let mut bs = snap("bs", Phase::Ready, now);
    bs.bots = 1; // arb
    let mut mm = snap("mm", Phase::Ready, now);
    mm.role = Role::Bot;
    mm.bots = 0;
    mm.connectors = vec!["bf".into()];
    let mut arb = snap("arb", Phase::Ready, now);
    arb.role = Role::Bot;
    arb.bots = 0;
    arb.connectors = vec!["bf".into(), "bs".into()];
    let snaps = vec![bf, bs, mm, arb];
    let mut app = app_for(&snaps, logs(4, 5));
    assert!(app.update(Action::Quit, &snaps).is_empty());
    assert_eq!(
        app.dialog,
        Some(Dialog::Quit {
            running: 4,
            bots: 1,
            managed: vec!["mm".into(), "arb".into()],
        })
    );
    let screen = rows_of(&render(&app, &snaps, now, 80, 24));
    let at = |needle: &str| {
        screen
            .iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {screen:#?}"))
    };
    assert!(at("d detach") < at("s stop all"), "detach comes first");
    assert!(at("s stop all") < at("1 bot(s) attached will lose"));
    at("2 managed bot(s) stopped too: mm, arb");
    // X says the same.
    app.update(Action::Cancel, &snaps);
    app.update(Action::StopAll, &snaps);
    match &app.dialog {
        Some(Dialog::Confirm { bots, managed, .. }) => {
            assert_eq!(
                (*bots, managed.as_slice()),
                (1, &["mm".to_string(), "arb".to_string()][..])
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_quit_dialog_folds_a_long_list_of_managed_bots_instead_of_cutting_it() {
    use crate::model::view::Role;
    let now = NOW;
    let mut bf = snap("binance-futures-main", Phase::Ready, now);
    bf.bots = 2;
    let mut snaps = vec![bf];
    for name in ["market-maker-btc-perp", "cross-venue-arbitrage"] {
        let mut b = snap(name, Phase::Ready, now);
        b.role = Role::Bot;
        b.connectors = vec!["binance-futures-main".into()];
        snaps.push(b);
    }
    let mut app = app_for(&snaps, logs(3, 5));
    assert!(app.update(Action::Quit, &snaps).is_empty());
    let screen = rows_of(&render(&app, &snaps, now, 80, 24)).join("\n");
    // Both names are whole on the screen (the second was cut at the dialog's border before).
    assert!(screen.contains("market-maker-btc-perp"), "{screen}");
    assert!(screen.contains("cross-venue-arbitrage"), "{screen}");
    assert!(screen.contains("Esc cancel"), "{screen}");
    // Broken between names, not inside one; no row runs past the dialog's border.
    assert!(
        screen.contains("    market-maker-btc-perp, cross-venue-arbitrage"),
        "{screen}"
    );
}

#[test]
fn zoom_shows_the_focused_pane_alone() {
    let now = NOW;
    let snaps = vec![
        snap("bf", Phase::Ready, now),
        snap("spot", Phase::Failed, now),
    ];
    let mut app = app_for(&snaps, logs(2, 30));
    app.update(Action::FocusNext, &snaps);
    app.update(Action::Zoom, &snaps);
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
}

#[test]
fn search_highlights_and_jumps() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(1, 60));
    app.update(Action::SearchBegin, &snaps);
    for c in "seq=1".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    // The newest match is seq=19; n goes to older ones.
    assert_eq!(app.panes[0].hit, Some(19));
    app.update(Action::SearchNext, &snaps);
    assert_eq!(app.panes[0].hit, Some(18));
    app.update(Action::SearchPrev, &snaps);
    assert_eq!(app.panes[0].hit, Some(19));
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 24));
}

#[test]
fn clear_and_wrap() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let logs = logs(1, 10);
    let mut app = app_for(&snaps, logs.clone());
    app.update(Action::Clear, &snaps);
    logs[0]
        .lock()
        .expect("lock")
        .push(format!("after clear {}", "x".repeat(150)));
    app.update(Action::Wrap, &snaps);
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 12));
}

#[test]
fn no_color_renders_plain_text() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let app = app_for(&snaps, logs(1, 3));
    let mut t = Terminal::new(TestBackend::new(60, 8)).expect("terminal");
    let view = View {
        app: &app,
        snaps: &snaps,
        now,
        theme: Theme { color: false },
        hosts: &[],
        viewing: None,
    };
    t.draw(|f| draw(f, &view)).expect("draw");
    let buf = t.backend().buffer();
    let colored = buf
        .content()
        .iter()
        .any(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset);
    assert!(!colored, "NO_COLOR: no cell has a colour");
}

#[test]
fn scrolled_to_the_top_the_pane_is_full_from_the_first_line() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(1, 60));
    app.update(Action::ScrollTop, &snaps);
    let backend = render(&app, &snaps, now, 80, 24);
    let rows: Vec<String> = (0..24)
        .map(|y| {
            (0..80)
                .map(|x| backend.buffer()[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    // Row 0 is the status bar, row 1 the title, row 2 the detail, then the log from its first
    // line.
    assert!(rows[3].contains("seq=0 "), "{rows:#?}");
    assert!(rows[4].contains("seq=1 "), "{rows:#?}");
    // The last log row (above the bottom border and the footer) is filled too.
    assert!(rows[21].contains("seq=18 "), "{rows:#?}");
}

fn feed(rate: f64, symbols: &[(&str, f64, f64)]) -> crate::model::view::FeedView {
    use crate::model::view::{FeedView, SymbolView};
    FeedView {
        events_per_s: rate,
        bytes_per_s: rate * 96.0,
        total: 123_456,
        last_event_age_s: Some(symbols.iter().map(|s| s.2).fold(f64::MAX, f64::min)),
        errors_1m: 0,
        symbols: symbols
            .iter()
            .map(|(s, r, a)| {
                (
                    s.to_string(),
                    SymbolView {
                        events_per_s: *r,
                        last_event_age_s: *a,
                    },
                )
            })
            .collect(),
        // A minute that ramps up, dips to nothing, and recovers.
        history: (0..60)
            .map(|i| match i {
                20..=29 => 0,
                _ => 400 + (i * 37 % 13) * 60,
            })
            .collect(),
        lower_bound: false,
    }
}

fn with_health(
    mut v: ConnectorView,
    health: crate::model::health::FeedHealth,
    why: Option<&str>,
) -> ConnectorView {
    v.health = Some(health);
    v.health_detail = why.map(str::to_string);
    // As the engine's verdict does: "SYM: no market data …" names the stalled symbol.
    v.stale_symbol = why
        .and_then(|w| w.split_once(':'))
        .map(|(sym, _)| sym.to_string())
        .filter(|sym| !sym.contains(' '));
    v
}

#[test]
fn feed_health_in_the_titles() {
    use crate::model::health::FeedHealth;
    use crate::model::view::LastError;
    let now = NOW;
    let mut ok = with_health(snap("bf-ok", Phase::Ready, now), FeedHealth::Ok, None);
    ok.feed = Some(feed(1234.0, &[("BTCUSDT", 1234.0, 0.1)]));
    let mut quiet = with_health(snap("bf-quiet", Phase::Ready, now), FeedHealth::Quiet, None);
    quiet.bots = 0;
    quiet.feed = Some(feed(0.0, &[]));
    let mut stale = with_health(
        snap("bf-stale", Phase::Ready, now),
        FeedHealth::Stale,
        Some("no market data for 23 s with 1 bot(s) attached"),
    );
    stale.feed = Some(feed(0.0, &[("BTCUSDT", 0.0, 23.4)]));
    let mut erroring = with_health(
        snap("bf-err", Phase::Ready, now),
        FeedHealth::Erroring,
        Some("12 errors in the last minute"),
    );
    erroring.errors_1m = 12;
    erroring.feed = Some(feed(800.0, &[("BTCUSDT", 800.0, 0.0)]));
    erroring.last_error = Some(LastError {
        ts: "2026-11-23T04:31:02.120Z".into(),
        line: "2026-11-23T04:31:02.119Z ERROR connector: An error occurred in the market data stream connection: Connection refused".into(),
    });
    let snaps = vec![ok, quiet, stale, erroring];
    let app = app_for(&snaps, logs(4, 10));
    insta::assert_snapshot!(render(&app, &snaps, now, 160, 24));
}

#[test]
fn a_reloaded_entry_shows_restart_needed_and_the_reload_outcome_in_the_footer() {
    let now = NOW;
    let mut changed = snap("bf-changed", Phase::Ready, now);
    changed.restart_needed = true;
    let snaps = vec![changed, snap("bf-same", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(2, 6));
    app.notice = Some("manifest reloaded: bf-changed changed: restart to apply".into());
    // Wide enough for two tiles side by side.
    let screen = render(&app, &snaps, now, 160, 12);
    let text = format!("{screen}");
    assert!(text.contains("RESTART NEEDED"), "{text}");
    insta::assert_snapshot!(screen);
}

#[test]
fn the_status_bar_counts_the_fleet_names_the_last_failure_and_flashes_while_zoomed() {
    let now = NOW;
    let mut failed = snap("bf-failed", Phase::Failed, now);
    failed.last_exit_at = Some(crate::engine::io::logs::rfc3339(now - 125.0));
    let mut stale = snap("bf-stale", Phase::Ready, now);
    stale.health = Some(crate::model::health::FeedHealth::Stale);
    let before = vec![
        snap("bf-a", Phase::Ready, now),
        snap("bf-failed", Phase::Ready, now),
        snap("bf-stale", Phase::Ready, now),
        snap("bf-b", Phase::Backoff, now),
    ];
    let after = vec![
        snap("bf-a", Phase::Ready, now),
        failed,
        stale,
        snap("bf-b", Phase::Backoff, now),
    ];
    let mut app = app_for(&after, logs(4, 6));
    app.zoom = true;
    app.note_changes(&before, &after, now);
    assert!(
        app.flash_until.is_some_and(|t| t > now),
        "a failure flashes the bar"
    );
    let screen = format!("{}", render(&app, &after, now, 100, 12));
    let bar = screen.lines().next().unwrap_or_default().to_string();
    assert!(
        bar.contains("2 ready")
            && bar.contains("1 backoff")
            && bar.contains("1 FAILED")
            && bar.contains("1 STALE")
            && bar.contains("last failure: bf-failed 2m ago"),
        "{bar}"
    );
    insta::assert_snapshot!(screen);
    // Nothing new: no flash.
    let mut calm = app_for(&after, logs(4, 6));
    calm.note_changes(&after, &after, now);
    assert_eq!(calm.flash_until, None);
}

/// Ten connectors in every phase and feed state, as a trading desk has them.
fn ten(now: f64) -> Vec<ConnectorView> {
    (0..10)
        .map(|i| {
            let mut v = snap(&format!("bf-{i:02}"), Phase::ALL[i % 9], now);
            if v.phase == Phase::Ready {
                v.cpu_pct = Some(3.0 + i as f64);
                v.rss_bytes = Some((40 + i as u64) * 1024 * 1024);
                v.feed = Some(feed(1200.0, &[("BTCUSDT", 1200.0, 0.1)]));
                v.health = Some(crate::model::health::FeedHealth::Ok);
            }
            if matches!(v.phase, Phase::Failed | Phase::Exited | Phase::Backoff) {
                v.last_exit = Some(crate::ExitStatus::Code(1));
                v.last_exit_at = Some(crate::engine::io::logs::rfc3339(now - 130.0));
            }
            v
        })
        .collect()
}

#[test]
fn the_table_view_at_80x24_and_160x48_with_ten_connectors() {
    let now = NOW;
    let snaps = ten(now);
    let mut app = app_for(&snaps, logs(10, 30));
    app.update(Action::Table, &snaps);
    app.update(Action::Jump(4), &snaps);
    let small = format!("{}", render(&app, &snaps, now, 80, 24));
    assert!(
        small.contains("LAST EXIT") || small.contains("FEED"),
        "{small}"
    );
    insta::assert_snapshot!("table_80x24", small);
    let big = format!("{}", render(&app, &snaps, now, 160, 48));
    assert!(
        big.contains("code 1, 2m ago") && big.contains("1.2k"),
        "{big}"
    );
    insta::assert_snapshot!("table_160x48", big);
}

#[test]
fn the_detail_popup_tells_why_when_and_who() {
    use crate::model::view::{HistoryEntry, Origin};
    let now = NOW;
    let mut v = snap("bf", Phase::Backoff, now);
    v.detail = "attempt 2/20 after a 2.0 s backoff; last: exited (code 1): thread 'tokio-runtime-worker' panicked at connector/src/binancefutures/mod.rs: connection refused by the exchange, which is a long reason that must wrap".into();
    v.last_exit_at = Some("2026-11-23T04:31:02.120Z".into());
    v.history = vec![
        HistoryEntry {
            ts: "2026-11-23T04:30:00.000Z".into(),
            phase: Phase::Starting,
            detail: "starting".into(),
            by: Origin::Key,
        },
        HistoryEntry {
            ts: "2026-11-23T04:30:00.050Z".into(),
            phase: Phase::Ready,
            detail: "ready in 41 ms".into(),
            by: Origin::Process,
        },
        HistoryEntry {
            ts: "2026-11-23T04:31:02.120Z".into(),
            phase: Phase::Exited,
            detail: "exited (code 1)".into(),
            by: Origin::Process,
        },
        HistoryEntry {
            ts: "2026-11-23T04:31:02.121Z".into(),
            phase: Phase::Backoff,
            detail: "attempt 2/20".into(),
            by: Origin::Policy,
        },
    ];
    let snaps = vec![v];
    let mut app = app_for(&snaps, logs(1, 10));
    app.update(Action::Detail, &snaps);
    let screen = format!("{}", render(&app, &snaps, now, 100, 30));
    assert!(
        screen.contains("restart policy") && screen.contains("must wrap"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
    app.update(Action::Cancel, &snaps);
    assert!(!app.detail);
}

#[test]
fn a_crash_loop_reads_so_in_the_title_the_status_bar_and_the_popup_with_stale_since() {
    use crate::model::health::FeedHealth;
    use crate::model::view::CrashLoop;
    let now = NOW;
    // Ready between two crashes, its feed fine: the verdict is the crash loop, not `ok`.
    let mut looping = with_health(snap("bf-loop", Phase::Ready, now), FeedHealth::Ok, None);
    looping.crash_loop = Some(CrashLoop {
        restarts: 4,
        window_s: 150,
    });
    let mut stale = with_health(
        snap("bf-stale", Phase::Ready, now),
        FeedHealth::Stale,
        Some("no market data for 31 s with 1 bot(s) attached"),
    );
    stale.feed = Some(feed(0.0, &[("BTCUSDT", 0.0, 31.0)]));
    // 31 s before NOW (2026-11-18T11:06:40Z).
    stale.stale_since = Some("2026-11-18T11:06:09.000Z".into());
    let snaps = vec![looping, stale];
    let mut app = app_for(&snaps, logs(2, 6));
    // Wide enough for two tiles side by side.
    let screen = render(&app, &snaps, now, 160, 12);
    let rows = rows_of(&screen);
    let title = rows
        .iter()
        .find(|r| r.contains("bf-loop"))
        .expect("its title");
    assert!(
        title.contains("READY crash-looping (4 restarts in 3 min)"),
        "{title}"
    );
    assert!(!title.contains(" ok"), "not `READY … ok`: {title}");
    assert!(rows[0].contains("1 CRASH-LOOPING"), "{rows:#?}");
    insta::assert_snapshot!(screen);
    // `i` on the stale one: since when, on the wall clock, and how long.
    app.update(Action::FocusNext, &snaps);
    app.update(Action::Detail, &snaps);
    let popup = format!("{}", render(&app, &snaps, now, 120, 24));
    assert!(popup.contains("STALE since 11:06:09 (31 s)"), "{popup}");
    // And the crash loop's verdict in its own popup.
    app.update(Action::Cancel, &snaps);
    app.update(Action::FocusPrev, &snaps);
    app.update(Action::Detail, &snaps);
    let popup = format!("{}", render(&app, &snaps, now, 120, 24));
    assert!(
        popup.contains("crash-looping (4 restarts in 3 min)"),
        "{popup}"
    );
}

#[test]
fn ten_connectors_as_tiles_at_160x48() {
    let now = NOW;
    let snaps = ten(now);
    let app = app_for(&snaps, logs(10, 30));
    insta::assert_snapshot!(render(&app, &snaps, now, 160, 48));
}

#[test]
fn zoomed_pane_shows_the_feed_sparkline_and_symbols() {
    use crate::model::health::FeedHealth;
    let now = NOW;
    let mut v = with_health(
        snap("bf", Phase::Ready, now),
        FeedHealth::Stale,
        Some("ETHUSDT: no market data for 12 s"),
    );
    v.feed = Some(feed(
        850.0,
        &[
            ("BTCUSDT", 520.0, 0.0),
            ("ETHUSDT", 0.0, 12.2),
            ("SOLUSDT", 330.0, 0.1),
        ],
    ));
    let snaps = vec![v];
    let mut app = app_for(&snaps, logs(1, 30));
    app.update(Action::Zoom, &snaps);
    insta::assert_snapshot!(render(&app, &snaps, now, 80, 30));
}

#[test]
fn errors_only_shows_warn_error_and_panic_lines() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut sb = Scrollback::new(100, 1 << 20);
    for line in [
        "2026-11-23T04:31:00.000Z  INFO connector: depth update",
        "2026-11-23T04:31:01.000Z  WARN connector: slow websocket",
        "2026-11-23T04:31:02.000Z  INFO connector: depth update",
        "\u{1b}[2m2026-11-23T04:31:03.000Z\u{1b}[0m \u{1b}[31mERROR\u{1b}[0m connector: An error occurred in the market data stream connection",
        "2026-11-23T04:31:04.000Z  INFO connector: depth update",
        "thread 'tokio-runtime-worker' panicked at connector/src/main.rs:10:5:",
        "called `Result::unwrap()` on an `Err` value: SendError { .. }",
        "2026-11-23T04:31:05.000Z  INFO connector: depth update",
    ] {
        sb.push(line.to_string());
    }
    let mut app = app_for(&snaps, vec![Arc::new(Mutex::new(sb))]);
    app.update(Action::Errors, &snaps);
    assert!(app.panes[0].errors_only);
    insta::assert_snapshot!(render(&app, &snaps, now, 100, 12));
    app.update(Action::Errors, &snaps);
    assert!(!app.panes[0].errors_only, "e again: all lines");
}

#[test]
fn timestamps_show_full_short_or_not_at_all_with_colours_kept() {
    use super::app::TimeMode;
    use super::render::retime;
    let plain = "2026-11-30T16:04:30.456659Z  INFO sim_connector: depth update";
    assert_eq!(retime(plain, TimeMode::Full), plain);
    assert_eq!(
        retime(plain, TimeMode::Hidden),
        " INFO sim_connector: depth update"
    );
    let short = retime(plain, TimeMode::Short).to_string();
    let (time, rest) = short.split_at(12);
    assert!(
        time.len() == 12 && time.as_bytes()[2] == b':' && time.as_bytes()[8] == b'.',
        "{short}"
    );
    assert_eq!(rest, "  INFO sim_connector: depth update");
    let coloured = "\u{1b}[2m2026-11-30T16:04:30.456659Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x";
    assert_eq!(
        retime(coloured, TimeMode::Hidden),
        "\u{1b}[2m\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"
    );
    // Not a tracing line: untouched.
    let marker = "[switchboard 2026-11-30T16:04:26.458Z] stop: SIGTERM";
    assert_eq!(retime(marker, TimeMode::Hidden), marker);
}

#[test]
fn y_copies_the_lines_on_screen_or_the_search_hit() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now)];
    let mut app = app_for(&snaps, logs(1, 50));
    app.visible_rows = 5;
    let calls = app.update(Action::Copy, &snaps);
    let Some(UiCall::Copy(lines)) = calls.into_iter().next() else {
        panic!("Y asks the loop to copy");
    };
    assert_eq!(lines.len(), 5);
    assert!(lines[4].ends_with("seq=49"), "{lines:?}");
    // Scrolled up 10 lines: what is on screen then.
    app.update(Action::ScrollUp(10), &snaps);
    assert!(app.copy_lines(0)[4].ends_with("seq=39"));
    // A search hit: just its line.
    for c in "seq=7".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    let hit = app.copy_lines(0);
    assert_eq!(hit.len(), 1, "{hit:?}");
    assert!(hit[0].contains("seq=7"), "{hit:?}");
    // M releases the mouse and says how to take it back.
    let calls = app.update(Action::Mouse, &snaps);
    assert_eq!(calls, vec![UiCall::MouseCapture(false)]);
}

#[test]
fn colon_jumps_to_a_connector_by_name_with_completion() {
    let now = NOW;
    let snaps: Vec<ConnectorView> = ["bf-futures", "bs-spot", "bb-bybit", "bf-futures-2"]
        .iter()
        .map(|n| snap(n, Phase::Ready, now))
        .collect();
    let mut app = app_for(&snaps, logs(4, 5));
    app.update(Action::JumpBegin, &snaps);
    assert_eq!(app.mode(), crate::tui::keymap::Mode::JumpInput);
    for c in "bf".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    // Two names start with "bf": Tab completes what they share.
    app.update(Action::Complete, &snaps);
    assert_eq!(app.jump.as_deref(), Some("bf-futures"));
    let screen = format!("{}", render(&app, &snaps, now, 120, 20));
    assert!(
        screen.contains(":bf-futures") && screen.contains("bf-futures-2"),
        "{screen}"
    );
    app.update(Action::SearchChar('-'), &snaps);
    app.update(Action::Complete, &snaps);
    assert_eq!(app.jump.as_deref(), Some("bf-futures-2"));
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!((app.focus, app.jump.is_none()), (3, true));
    // A part of a name works too; no match says so.
    app.update(Action::JumpBegin, &snaps);
    for c in "spot".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.focus, 1);
    app.update(Action::JumpBegin, &snaps);
    app.update(Action::SearchChar('z'), &snaps);
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.focus, 1);
    assert!(app
        .notice
        .as_deref()
        .is_some_and(|n| n.contains("no connector matches")));
}

#[test]
fn the_merged_log_interleaves_every_connector_by_time_and_filters_errors() {
    let now = NOW;
    let snaps = vec![snap("bf", Phase::Ready, now), snap("bb", Phase::Ready, now)];
    let tail = |lines: &[&str]| {
        let mut sb = Scrollback::new(100, 1 << 20);
        for l in lines {
            sb.push(l.to_string());
        }
        Arc::new(Mutex::new(sb))
    };
    let logs = vec![
        tail(&[
            "2026-11-30T10:00:01.000Z  INFO bf one",
            "2026-11-30T10:00:03.000Z ERROR bf three: stream failed",
            "[switchboard 2026-11-30T10:00:05.000Z] stop: SIGTERM",
        ]),
        tail(&[
            "\u{1b}[2m2026-11-30T10:00:02.000Z\u{1b}[0m  WARN bb two",
            "thread 'main' panicked at connector/src/main.rs:",
            "bb four: the panic's message (no timestamp)",
            "2026-11-30T10:00:06.000Z  INFO bb six",
        ]),
    ];
    let mut app = app_for(&snaps, logs);
    app.update(Action::Merged, &snaps);
    let screen = format!("{}", render(&app, &snaps, now, 80, 14));
    // By time; a line without one (the panic and its message) keeps the time of the line
    // before it in its own log, so it stays with it.
    let expected = [
        "bf one",
        "bb two",
        "panicked",
        "bb four",
        "bf three",
        "stop: SIGTERM",
        "bb six",
    ];
    let order: Vec<usize> = expected
        .iter()
        .map(|needle| {
            screen
                .lines()
                .position(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("{needle} in {screen}"))
        })
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{screen}");
    insta::assert_snapshot!(screen);
    app.update(Action::Errors, &snaps);
    let errors = format!("{}", render(&app, &snaps, now, 80, 14));
    assert!(
        errors.contains("bf three") && errors.contains("panicked") && errors.contains("bb four"),
        "{errors}"
    );
    assert!(
        !errors.contains("bf one") && !errors.contains("bb six"),
        "{errors}"
    );
    app.update(Action::Merged, &snaps);
    assert!(!app.merged);
}

#[test]
fn line_times_come_from_tracing_prefixes_and_switchboard_markers() {
    use super::merged::line_time;
    assert!(line_time("2026-11-30T10:00:01.000Z  INFO x").is_some());
    assert!(line_time("\u{1b}[2m2026-11-30T10:00:01.000Z\u{1b}[0m x").is_some());
    assert!(line_time("[switchboard 2026-11-30T10:00:05.000Z] stop").is_some());
    assert_eq!(line_time("thread 'main' panicked"), None);
}

/// The text of a rendered screen, one string per row.
fn rows_of(b: &TestBackend) -> Vec<String> {
    let area = b.buffer().area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| b.buffer()[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn ampersand_filters_the_pane_and_search_finds_only_shown_lines() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 60));
    app.update(Action::FilterBegin, &snaps);
    for c in "SEQ=4".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.panes[0].filter, "seq=4");
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    let log: Vec<&String> = screen
        .iter()
        .filter(|r| r.contains("depth update"))
        .collect();
    // seq=4 and seq=40..=49: eleven lines, nothing else, oldest first.
    assert_eq!(log.len(), 11, "{screen:#?}");
    assert!(log[0].contains("seq=4 "), "{}", log[0]);
    assert!(log.iter().all(|r| r.contains("seq=4")));
    assert!(screen.iter().any(|r| r.contains("&seq=4")), "the mark");
    // A search among the shown lines: seq=1x lines are hidden, so "seq=" finds seq=49 first.
    app.update(Action::SearchBegin, &snaps);
    for c in "seq=".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.panes[0].hit, Some(49));
    app.update(Action::SearchNext, &snaps);
    assert_eq!(app.panes[0].hit, Some(48));
    // Esc clears the search first, then the filter.
    app.update(Action::Cancel, &snaps);
    assert_eq!(app.panes[0].filter, "seq=4");
    app.update(Action::Cancel, &snaps);
    assert!(app.panes[0].filter.is_empty());
}

#[test]
fn the_filter_prompt_opens_empty_and_enter_on_it_shows_every_line() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 60));
    app.update(Action::FilterBegin, &snaps);
    for c in "seq=4".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.panes[0].filter, "seq=4");
    // Again: the prompt is empty (not the filter in force), so Enter turns the filter off.
    app.update(Action::FilterBegin, &snaps);
    assert_eq!(app.filter_input.as_deref(), Some(""));
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(screen.iter().any(|r| r.starts_with("&█")), "{screen:#?}");
    app.update(Action::SearchSubmit, &snaps);
    assert!(app.panes[0].filter.is_empty());
}

#[test]
fn the_merged_log_takes_a_filter_of_its_own() {
    let snaps: Vec<ConnectorView> = ["aa", "bb"]
        .iter()
        .map(|n| snap(n, Phase::Ready, NOW))
        .collect();
    let mut app = app_for(&snaps, logs(2, 30));
    app.update(Action::Merged, &snaps);
    app.update(Action::FilterBegin, &snaps);
    for c in "connector 1".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.merged_view.filter, "connector 1");
    assert!(app.panes.iter().all(|p| p.filter.is_empty()));
    let screen = rows_of(&render(&app, &snaps, NOW, 100, 30));
    let log: Vec<&String> = screen
        .iter()
        .filter(|r| r.contains("depth update"))
        .collect();
    assert!(!log.is_empty());
    assert!(log
        .iter()
        .all(|r| r.contains("bb ") && r.contains("connector 1")));
    assert!(screen
        .iter()
        .any(|r| r.contains("lines with \"connector 1\"")));
}

#[test]
fn a_search_hit_is_placed_with_context_and_stays_as_lines_arrive() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let logs = logs(1, 60);
    let mut app = app_for(&snaps, logs.clone());
    app.settle();
    app.visible_rows = 18;
    app.update(Action::SearchBegin, &snaps);
    for c in "seq=30".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.panes[0].hit, Some(30));
    let hit_row = |app: &App| {
        let screen = rows_of(&render(app, &snaps, NOW, 80, 24));
        let at = screen
            .iter()
            .position(|r| r.contains("▶"))
            .expect("hit shown");
        (at, screen)
    };
    let (at, screen) = hit_row(&app);
    // Lines after the hit are on screen, not only the ones before it.
    assert!(screen[at + 5].contains("seq=35"), "{screen:#?}");
    for k in 60..90 {
        logs[0]
            .lock()
            .expect("log")
            .push(format!("INFO new line {k}"));
        app.settle();
    }
    let (again, _) = hit_row(&app);
    assert_eq!(again, at, "the hit stays where it was");
}

#[test]
fn refused_commands_go_to_the_message_line_and_are_not_sent() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 3));
    assert!(app.update(Action::Build, &snaps).is_empty());
    let said = app.notice.clone().expect("a message");
    assert!(said.starts_with("bf is ready: "), "{said}");
    assert!(said.contains("stop it first"), "{said}");
    assert!(app.update(Action::Start, &snaps).is_empty());
    assert_eq!(app.notice.as_deref(), Some("bf is already ready"));
    let stopped = vec![snap("bf", Phase::Stopped, NOW)];
    assert!(app.update(Action::Stop, &stopped).is_empty());
    assert_eq!(app.notice.as_deref(), Some("bf is not running (stopped)"));
    let screen = rows_of(&render(&app, &stopped, NOW, 80, 24));
    assert!(screen[23].contains("bf is not running (stopped)"));
    // The detail line keeps what the engine said.
    assert!(screen
        .iter()
        .any(|r| r.contains("stopped cleanly (code 0)")));
    assert_eq!(
        app.update(Action::Build, &stopped),
        vec![UiCall::One(
            ConnectorId::local("bf"),
            Command::Build { force: false }
        )]
    );
}

#[test]
fn a_restart_the_engine_refused_says_why_in_the_message_line() {
    let before = vec![ConnectorView {
        bots: 0,
        ..snap("bf", Phase::Ready, NOW)
    }];
    let mut app = app_for(&before, logs(1, 3));
    assert_eq!(
        app.update(Action::Restart, &before),
        vec![UiCall::One(ConnectorId::local("bf"), Command::Restart)],
        "sent: only the engine can look at the files"
    );
    let refusal = crate::model::view::Refusal {
        ts: "2026-11-18T11:06:40.000Z".into(),
        what: "restart".into(),
        why: "config /srv/bf.toml cannot be read (No such file or directory (os error 2)); fix the `config` path in the manifest".into(),
    };
    let after = vec![ConnectorView {
        refused: Some(refusal.clone()),
        ..before[0].clone()
    }];
    app.note_changes(&before, &after, NOW);
    let said = app.notice.clone().expect("a message");
    assert!(
        said.starts_with("bf restart refused: config /srv/bf.toml cannot be read"),
        "{said}"
    );
    let screen = rows_of(&render(&app, &after, NOW, 200, 24));
    assert!(
        screen[23].contains("bf restart refused: config /srv/bf.toml"),
        "{screen:#?}"
    );
    // The same refusal seen again is not news.
    app.notice = None;
    app.note_changes(&after, &after, NOW);
    assert_eq!(app.notice, None);
}

#[test]
fn the_console_log_is_a_pane_that_takes_the_focus_scrolls_and_searches() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 5));
    let mut console = Scrollback::new(100, 1 << 20);
    for k in 0..40 {
        console.push(format!(
            "2026-11-30T18:25:{:02}.000000Z  INFO reload {k}: nothing changed",
            k % 60
        ));
    }
    console.push("2026-11-30T18:26:00.000000Z  WARN tf-a: cannot open the log file".into());
    app.console_scrollback = Arc::new(Mutex::new(console));
    app.settle();
    app.update(Action::ConsoleLog, &snaps);
    assert!(app.console_log && app.console_focus);
    // Keys that act on a connector do nothing while the console log has the focus.
    assert!(app.update(Action::Stop, &snaps).is_empty());
    assert!(app
        .notice
        .as_deref()
        .unwrap_or("")
        .contains("console log has the focus"));
    app.update(Action::SearchBegin, &snaps);
    for c in "reload 3".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.console_pane.hit, Some(39));
    assert_eq!(app.panes[0].hit, None);
    app.update(Action::Errors, &snaps);
    assert!(app.console_pane.errors_only && !app.panes[0].errors_only);
    app.update(Action::Cancel, &snaps); // clears the search
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 30));
    let text = screen.join("\n");
    assert!(text.contains("console log (L hides it"), "{text}");
    assert!(
        text.contains("WARN tf-a: cannot open the log file"),
        "{text}"
    );
    assert!(!text.contains("INFO reload 39"), "errors only: {text}");
    // Tab gives the focus back to the connector focused before.
    let focus = app.focus;
    app.update(Action::FocusNext, &snaps);
    assert!(!app.console_focus && app.console_log);
    assert_eq!(app.focus, focus);
    app.update(Action::ConsoleLog, &snaps);
    assert!(app.console_focus);
    app.update(Action::ConsoleLog, &snaps);
    assert!(!app.console_log && !app.console_focus);
}

#[test]
fn a_help_taller_than_the_terminal_scrolls_to_its_last_line() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 3));
    app.update(Action::Help, &snaps);
    let top = rows_of(&render(&app, &snaps, NOW, 80, 24)).join("\n");
    assert!(top.contains("↓ more"), "{top}");
    assert!(!top.contains("green: up"));
    app.update(Action::ScrollDown(100), &snaps);
    let bottom = rows_of(&render(&app, &snaps, NOW, 80, 24)).join("\n");
    assert!(bottom.contains("green: up"), "{bottom}");
    assert!(bottom.contains("↑ more"), "{bottom}");
    assert!(app.help, "scrolling keeps the help open");
}

#[test]
fn a_viewer_says_so_refuses_actions_and_tells_when_its_console_is_gone() {
    use crate::model::view::{HostView, LinkState};
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 3));
    app.viewer = true;
    for a in [
        Action::Stop,
        Action::StopAll,
        Action::Restart,
        Action::Reload,
    ] {
        assert!(app.update(a, &snaps).is_empty(), "{a:?}");
        assert!(app
            .notice
            .as_deref()
            .unwrap_or("")
            .contains("read-only viewer"));
    }
    assert_eq!(app.update(Action::Quit, &snaps), vec![UiCall::Exit]);
    let viewing = crate::console::Viewing {
        pid: Some(777),
        state_dir: "/tmp/x".into(),
    };
    let hosts = [HostView {
        name: "console".into(),
        link: LinkState::Reconnecting {
            in_s: 4.0,
            attempt: 2,
            max_attempts: 20,
            last_error: "the link closed".into(),
        },
        as_of: NOW - 1.0,
    }];
    let mut t = Terminal::new(TestBackend::new(100, 12)).expect("terminal");
    let view = View {
        app: &app,
        snaps: &snaps,
        now: NOW,
        theme: Theme { color: false },
        hosts: &hosts,
        viewing: Some(&viewing),
    };
    t.draw(|f| draw(f, &view)).expect("draw");
    let rows = rows_of(t.backend());
    let footer = rows.last().expect("footer");
    assert!(
        !footer.contains("x stop") && footer.contains("q quit"),
        "{footer}"
    );
    let top = rows[0].clone();
    assert!(
        top.contains("VIEWER (read-only) of the console PID 777"),
        "{top}"
    );
    assert!(top.contains("console gone: retry in 3 s (2/20)"), "{top}");
    assert!(top.contains("1 ready"), "{top}");
}

#[test]
fn a_hit_whose_text_is_split_by_colours_is_marked_and_highlighted() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let logs = logs(1, 5);
    logs[0]
        .lock()
        .expect("log")
        .push("\u{1b}[2m2026-11-30T10:00:00Z\u{1b}[0m INFO \u{1b}[3mseq\u{1b}[0m\u{1b}[2m=\u{1b}[0m77 tick".into());
    let mut app = app_for(&snaps, logs);
    app.settle();
    app.update(Action::SearchBegin, &snaps);
    for c in "seq=77".chars() {
        app.update(Action::SearchChar(c), &snaps);
    }
    app.update(Action::SearchSubmit, &snaps);
    assert_eq!(app.panes[0].hit, Some(5));
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(
        screen
            .iter()
            .any(|r| r.contains("▶") && r.contains("seq=77 tick")),
        "{screen:#?}"
    );
}

#[test]
fn absurd_numbers_from_a_remote_view_render_without_a_panic() {
    use crate::model::health::FeedHealth;
    let now = NOW;
    let mut v = with_health(
        snap("bf-far", Phase::Ready, now),
        FeedHealth::Stale,
        Some("no market data"),
    );
    v.uptime_s = Some(1e300);
    v.countdown_s = Some(1e300);
    v.feed = Some(feed(1e300, &[("BTCUSDT", 1e300, 1e300)]));
    let mut behind = v.clone();
    behind.name = "bf-behind".into();
    behind.as_of = -1e300;
    let snaps = vec![v, behind];
    let app = app_for(&snaps, logs(2, 1));
    for (w, h) in [(160, 24), (80, 24)] {
        let screen = format!("{:?}", render(&app, &snaps, now, w, h));
        assert!(screen.contains("bf-far"), "{screen}");
    }
}

/// Issue #22 item 17: a line with a 20,000-parameter SGR, or 5,000 SGRs, before its text shows
/// its text as plain text (it was cut at 16 KiB of raw bytes, escapes included: an empty row).
#[test]
fn a_line_flooded_with_sgr_shows_its_text_plain() {
    let big = format!("\u{1b}[{}m", vec!["1"; 20_000].join(";"));
    let cases = [
        (format!("{big}20000 parameters, then text"), "then text"),
        (
            format!("{}5000 SGRs, then text", "\u{1b}[31m".repeat(5000)),
            "then text",
        ),
        ("\u{1b}[1mx".repeat(5000), "xxxxxxxxxx"),
    ];
    for (case, text) in cases {
        let mut sb = Scrollback::new(100, 1 << 20);
        // As the tailer reads it: in one read, and across many small ones.
        for chunk in [case.len() + 1, 1000] {
            let mut splitter = crate::engine::io::logs::LineSplitter::default();
            let bytes = format!("{case}\n");
            for part in bytes.as_bytes().chunks(chunk) {
                splitter.feed(part, |l| sb.push(l));
            }
        }
        let snaps = vec![snap("bf", Phase::Ready, NOW)];
        let app = app_for(&snaps, vec![Arc::new(Mutex::new(sb))]);
        let screen = render(&app, &snaps, NOW, 80, 10);
        let rows: Vec<String> = screen
            .buffer()
            .content()
            .chunks(80)
            .map(|r| r.iter().map(|c| c.symbol()).collect())
            .collect();
        let shown = rows.iter().filter(|r| r.contains(text)).count();
        assert_eq!(shown, 2, "{text:?} not shown twice:\n{}", rows.join("\n"));
    }
}

#[test]
fn bang_jumps_to_the_next_unhealthy_connector_and_wraps() {
    use crate::model::health::FeedHealth;
    use crate::model::view::CrashLoop;
    let mut snaps: Vec<ConnectorView> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|n| snap(n, Phase::Ready, NOW))
        .collect();
    snaps[1].health = Some(FeedHealth::Stale);
    snaps[2].phase = Phase::Backoff;
    snaps[3].health = Some(FeedHealth::Quiet); // quiet is normal
    snaps[4].crash_loop = Some(CrashLoop {
        restarts: 4,
        window_s: 9,
    });
    let mut app = app_for(&snaps, logs(6, 5));
    let mut visited = Vec::new();
    for _ in 0..4 {
        app.update(Action::NextUnhealthy, &snaps);
        visited.push(app.focus);
    }
    assert_eq!(visited, [1, 2, 4, 1], "b, c, e, then b again");
    // Only the focused one: it stays, and says so.
    let mut one = vec![snap("a", Phase::Ready, NOW), snap("b", Phase::Failed, NOW)];
    one[0].health = Some(FeedHealth::Ok);
    let mut app = app_for(&one, logs(2, 5));
    app.update(Action::NextUnhealthy, &one);
    assert_eq!(app.focus, 1);
    app.update(Action::NextUnhealthy, &one);
    assert_eq!(app.focus, 1);
    assert_eq!(
        app.notice.as_deref(),
        Some("b is the only unhealthy connector")
    );
    // None: the message line says it.
    let fine = vec![snap("a", Phase::Ready, NOW), snap("b", Phase::Stopped, NOW)];
    let mut app = app_for(&fine, logs(2, 5));
    app.update(Action::NextUnhealthy, &fine);
    assert_eq!(app.focus, 0);
    let screen = format!("{}", render(&app, &fine, NOW, 80, 24));
    assert!(screen.contains("no connector is unhealthy"), "{screen}");
}

#[test]
fn the_table_counts_the_rows_out_of_view_and_keeps_the_focused_one_in_it() {
    let snaps: Vec<ConnectorView> = (0..12)
        .map(|i| snap(&format!("conn-{i:02}"), Phase::ALL[i % 9], NOW))
        .collect();
    let mut app = app_for(&snaps, logs(12, 5));
    app.update(Action::Table, &snaps);
    // At 80x24 the table shows 8 rows: the first 8, 4 below.
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(screen.iter().any(|r| r.contains("↓4 ┘")), "{screen:#?}");
    assert!(!screen.iter().any(|r| r.contains('↑')), "{screen:#?}");
    // Focus row 10: it is shown, and both counts are.
    app.update(Action::Jump(10), &snaps);
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(
        screen.iter().any(|r| r.starts_with("│conn-09 ")),
        "{screen:#?}"
    );
    assert!(screen.iter().any(|r| r.contains("↑2 ↓2 ┘")), "{screen:#?}");
    // All of them fit: no marks.
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 60));
    assert!(
        !screen.iter().any(|r| r.contains('↑') || r.contains('↓')),
        "{screen:#?}"
    );
}

#[test]
fn the_table_fills_a_wide_screen_with_the_detail_column_cut_to_fit() {
    use crate::model::health::FeedHealth;
    let mut snaps = ten(NOW);
    snaps[3].health = Some(FeedHealth::Stale);
    snaps[3].health_detail = Some("no market data for 12 s".into());
    snaps[8].detail = format!("gave up: {}", "x".repeat(400));
    let mut app = app_for(&snaps, logs(10, 5));
    app.update(Action::Table, &snaps);
    let screen = rows_of(&render(&app, &snaps, NOW, 300, 40));
    assert!(screen.iter().any(|r| r.contains("DETAIL")), "{screen:#?}");
    let row = |name: &str| {
        screen
            .iter()
            .find(|r| r.starts_with(&format!("│{name} ")))
            .unwrap_or_else(|| panic!("{name}: {screen:#?}"))
            .clone()
    };
    assert!(row("bf-02").contains("PID 4242: waiting for its iceoryx2 services"));
    assert!(row("bf-03").contains("⚠ no market data for 12 s"));
    let long = row("bf-08");
    assert!(
        long.contains("gave up: xxx") && long.ends_with("x…  │"),
        "{long}"
    );
    // Too narrow for it: no DETAIL at all.
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(!screen.iter().any(|r| r.contains("DETAIL")), "{screen:#?}");
}

#[test]
fn o_sorts_the_table_unhealthy_first_by_default_and_the_title_says_how() {
    use crate::model::health::FeedHealth;
    let mut snaps = ten(NOW);
    snaps[3].restarts = 9;
    snaps[3].health = Some(FeedHealth::Stale);
    let mut app = app_for(&snaps, logs(10, 5));
    app.update(Action::Table, &snaps);
    let names = |app: &App| -> Vec<String> {
        app.order(&snaps)
            .iter()
            .map(|i| snaps[*i].name.clone())
            .collect()
    };
    // Unhealthy first (stale bf-03, exited bf-06, backoff bf-07, failed bf-08), then the rest,
    // each in manifest order.
    assert_eq!(
        names(&app)[..5],
        ["bf-03", "bf-06", "bf-07", "bf-08", "bf-00"]
    );
    let screen = rows_of(&render(&app, &snaps, NOW, 100, 30));
    assert!(
        screen
            .iter()
            .any(|r| r.contains("· by unhealthy first (O)")),
        "{screen:#?}"
    );
    let first = screen
        .iter()
        .position(|r| r.starts_with("│bf-03 "))
        .expect("bf-03");
    assert!(screen[first - 1].contains("NAME"), "{screen:#?}");
    let mut seen = Vec::new();
    for _ in 0..7 {
        app.update(Action::Sort, &snaps);
        seen.push((app.sort.as_str(), names(&app)[0].clone()));
    }
    assert_eq!(
        seen,
        [
            ("phase", "bf-08".to_string()),  // failed
            ("health", "bf-03".to_string()), // stale
            ("restarts", "bf-03".to_string()),
            ("CPU", "bf-03".to_string()), // the only one with a CPU reading
            ("name", "bf-00".to_string()),
            ("manifest order", "bf-00".to_string()),
            ("unhealthy first", "bf-03".to_string()),
        ]
    );
    app.update(Action::Sort, &snaps);
    assert_eq!(
        app.notice.as_deref(),
        Some("table sorted by phase (O: next)")
    );
    insta::assert_snapshot!("table_sorted_by_phase", render(&app, &snaps, NOW, 120, 24));
}

#[test]
fn the_console_log_pane_says_how_many_lines_its_memory_dropped() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 5));
    let mut console = Scrollback::new(10, 1 << 20);
    for k in 0..10 {
        console.push(format!("2026-11-30T18:25:{k:02}.000000Z  INFO line {k}"));
    }
    app.console_scrollback = Arc::new(Mutex::new(console));
    app.settle();
    app.update(Action::ConsoleLog, &snaps);
    let text = rows_of(&render(&app, &snaps, NOW, 100, 30)).join("\n");
    assert!(!text.contains("dropped"), "nothing dropped yet: {text}");
    for k in 10..13 {
        app.console_scrollback
            .lock()
            .expect("log")
            .push(format!("2026-11-30T18:25:{k:02}.000000Z  INFO line {k}"));
    }
    app.settle();
    let text = rows_of(&render(&app, &snaps, NOW, 100, 30)).join("\n");
    assert!(
        text.contains("3 older line(s) dropped from memory"),
        "{text}"
    );
}
/// Types `text` into the open prompt and presses Enter.
fn type_and_submit(app: &mut App, snaps: &[ConnectorView], text: &str) {
    for c in text.chars() {
        app.update(Action::SearchChar(c), snaps);
    }
    app.update(Action::SearchSubmit, snaps);
}

#[test]
fn ampersand_on_the_table_filters_its_rows_shown_on_the_border_and_esc_clears_it() {
    use crate::model::health::FeedHealth;
    let mut snaps: Vec<ConnectorView> = (0..12)
        .map(|i| snap(&format!("conn-{i:02}"), Phase::ALL[i % 9], NOW))
        .collect();
    snaps[3].health = Some(FeedHealth::Stale);
    snaps[3].health_detail = Some("no market data for 12 s".into());
    let mut app = app_for(&snaps, logs(12, 5));
    app.update(Action::Table, &snaps);
    // The loop says the table is on screen.
    app.on_table = true;
    app.update(Action::FilterBegin, &snaps);
    assert!(app.filter_rows, "on the table, & filters rows");
    let prompt = rows_of(&render(&app, &snaps, NOW, 100, 24));
    assert!(
        prompt
            .last()
            .is_some_and(|r| r.contains("only rows whose name")),
        "{prompt:#?}"
    );
    // By phase: the STOPPED one (the text is matched lowercase).
    type_and_submit(&mut app, &snaps, "Stopped");
    let names = |app: &App| -> Vec<String> {
        app.order(&snaps)
            .iter()
            .map(|i| snaps[*i].name.clone())
            .collect()
    };
    assert_eq!(names(&app), ["conn-05"]);
    assert_eq!(app.focus, 5, "the focus moves to a row shown");
    assert_eq!(
        app.notice.as_deref(),
        Some("1 of 12 connectors match \"stopped\" (Esc clears)")
    );
    // By health and by detail.
    app.update(Action::FilterBegin, &snaps);
    type_and_submit(&mut app, &snaps, "stale");
    assert_eq!(names(&app), ["conn-03"]);
    app.update(Action::FilterBegin, &snaps);
    type_and_submit(&mut app, &snaps, "waiting for its iceoryx2");
    assert_eq!(names(&app), ["conn-02", "conn-11"]);
    // A part of the name, counted on the border.
    app.update(Action::FilterBegin, &snaps);
    type_and_submit(&mut app, &snaps, "conn-0");
    assert_eq!(names(&app).len(), 10);
    app.update(Action::FilterBegin, &snaps);
    type_and_submit(&mut app, &snaps, "conn-1");
    assert_eq!(names(&app), ["conn-10", "conn-11"]);
    let screen = format!("{}", render(&app, &snaps, NOW, 100, 24));
    assert!(screen.contains("& conn-1 (Esc clears)"), "{screen}");
    assert!(screen.contains("2 of 12 connectors"), "{screen}");
    insta::assert_snapshot!("table_filtered_by_name", screen);
    // Tab and Shift-Tab walk the rows kept, wrapping.
    assert_eq!(app.focus, 10);
    app.update(Action::FocusNext, &snaps);
    assert_eq!(app.focus, 11);
    app.update(Action::FocusNext, &snaps);
    assert_eq!(app.focus, 10);
    app.update(Action::FocusPrev, &snaps);
    assert_eq!(app.focus, 11);
    app.update(Action::FocusPrev, &snaps);
    // Esc clears it: every row again.
    app.update(Action::Cancel, &snaps);
    assert!(app.row_filter.is_empty());
    assert_eq!(names(&app).len(), 12);
    // In the tiles, & filters the focused pane's lines as before.
    app.on_table = false;
    app.update(Action::FilterBegin, &snaps);
    assert!(!app.filter_rows);
    type_and_submit(&mut app, &snaps, "seq=3");
    assert!(app.row_filter.is_empty());
    assert_eq!(app.panes[app.focus].filter, "seq=3");
}

#[test]
fn a_filtered_table_with_rows_out_of_view_counts_only_the_rows_it_keeps() {
    let snaps: Vec<ConnectorView> = (0..24)
        .map(|i| snap(&format!("conn-{i:02}"), Phase::ALL[i % 2 * 6], NOW))
        .collect();
    // Phase::ALL[0] and Phase::ALL[6]: twelve of each.
    let mut app = app_for(&snaps, logs(24, 5));
    app.update(Action::Table, &snaps);
    app.on_table = true;
    let word = Phase::ALL[6].as_str().to_string();
    app.set_row_filter(&format!("phase:{word}"), &snaps);
    assert_eq!(app.order(&snaps).len(), 12);
    // The last of them focused: 9 shown at 80x14, 3 above, none below.
    let last = *app.order(&snaps).last().expect("rows");
    app.focus = last;
    let screen = format!("{}", render(&app, &snaps, NOW, 80, 14));
    assert!(screen.contains("↑3 ┘"), "{screen}");
    assert!(!screen.contains('↓'), "{screen}");
    insta::assert_snapshot!("table_filtered_with_markers", screen);
    // Arrows walk the rows shown; `!` still sees every connector.
    let s = super::layout::screen_with(
        ratatui::layout::Rect::new(0, 0, 80, 14),
        snaps.len(),
        app.focus,
        false,
        false,
        true,
    );
    let order = app.order(&snaps);
    let up = super::layout::neighbor(&s, &order, last, super::keymap::Dir::Up);
    assert_eq!(up, Some(order[order.len() - 2]));
    // A focused connector the filter hides: an arrow enters the rows shown.
    let hidden = (0..24).find(|i| !order.contains(i)).expect("a hidden one");
    let entered = super::layout::neighbor(&s, &order, hidden, super::keymap::Dir::Down);
    assert_eq!(entered, Some(order[0]));
}

#[test]
fn a_click_on_a_status_bar_count_names_the_rows_it_filters_to() {
    use crate::model::health::FeedHealth;
    let mut snaps = ten(NOW);
    snaps[3].health = Some(FeedHealth::Stale);
    let app = app_for(&snaps, logs(10, 5));
    let view = View {
        app: &app,
        snaps: &snaps,
        now: NOW,
        theme: Theme { color: true },
        hosts: &[],
        viewing: None,
    };
    let bar = rows_of(&render(&app, &snaps, NOW, 200, 30))[0].clone();
    let col = |text: &str| -> u16 {
        let at = bar.find(text).unwrap_or_else(|| panic!("{text} in {bar}"));
        bar[..at].chars().count() as u16
    };
    assert_eq!(
        super::render::status_click(&view, col("1 FAILED")).as_deref(),
        Some("phase:failed")
    );
    // Its last column too; the separator after it is no count.
    let end = col("1 FAILED") + "1 FAILED".len() as u16;
    assert_eq!(
        super::render::status_click(&view, end - 1).as_deref(),
        Some("phase:failed")
    );
    assert_eq!(super::render::status_click(&view, end + 1), None);
    assert_eq!(
        super::render::status_click(&view, col("1 STALE")).as_deref(),
        Some("health:stale")
    );
    assert_eq!(
        super::render::status_click(&view, col("2 idle")).as_deref(),
        Some("phase:idle")
    );
    assert_eq!(super::render::status_click(&view, 0), None);
    // The filter it sets keeps exactly those rows.
    let mut app = app_for(&snaps, logs(10, 5));
    app.set_row_filter("phase:failed", &snaps);
    assert_eq!(app.order(&snaps), [8]);
    app.set_row_filter("health:stale", &snaps);
    assert_eq!(app.order(&snaps), [3]);
    app.set_row_filter("phase:idle", &snaps);
    assert_eq!(app.order(&snaps), [0, 9]);
}

#[test]
fn a_search_hit_past_the_right_edge_scrolls_the_pane_to_it() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut sb = Scrollback::new(100, 1 << 20);
    for k in 0..10 {
        sb.push(format!(
            " INFO depth {} seq={k}{}",
            "x".repeat(120),
            if k == 4 { " NEEDLE here" } else { "" }
        ));
    }
    let mut app = app_for(&snaps, vec![Arc::new(Mutex::new(sb))]);
    app.update(Action::SearchBegin, &snaps);
    type_and_submit(&mut app, &snaps, "needle");
    assert_eq!(app.panes[0].hit, Some(4));
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    let hit = screen
        .iter()
        .find(|r| r.contains("NEEDLE"))
        .unwrap_or_else(|| panic!("the hit is in view: {screen:#?}"));
    assert!(hit.contains("NEEDLE here"), "{hit}");
    insta::assert_snapshot!(
        "search_hit_scrolled_right",
        format!("{}", render(&app, &snaps, NOW, 80, 24))
    );
    // Wrapped, nothing scrolls sideways: the hit wraps into view.
    app.update(Action::Wrap, &snaps);
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(
        screen.iter().any(|r| r.contains(" INFO depth")),
        "{screen:#?}"
    );
}

#[test]
fn a_search_hit_past_the_right_edge_scrolls_the_merged_log_to_it() {
    let snaps = vec![snap("bf", Phase::Ready, NOW), snap("bb", Phase::Ready, NOW)];
    let tail = |name: &str, needle_at: Option<usize>| {
        let mut sb = Scrollback::new(100, 1 << 20);
        for k in 0..5 {
            sb.push(format!(
                "2026-11-30T10:00:0{k}.000Z  INFO {name} {}{}",
                "x".repeat(120),
                if Some(k) == needle_at {
                    " NEEDLE here"
                } else {
                    ""
                }
            ));
        }
        Arc::new(Mutex::new(sb))
    };
    let mut app = app_for(&snaps, vec![tail("bf", None), tail("bb", Some(2))]);
    app.update(Action::Merged, &snaps);
    assert!(app.merged);
    app.update(Action::SearchBegin, &snaps);
    type_and_submit(&mut app, &snaps, "needle");
    assert!(app.merged_view.hit.is_some(), "the search found it");
    let screen = rows_of(&render(&app, &snaps, NOW, 80, 24));
    assert!(
        screen.iter().any(|r| r.contains("NEEDLE here")),
        "the hit is in view: {screen:#?}"
    );
}

#[test]
fn the_footer_offers_the_keys_of_what_is_on_screen() {
    let snaps = ten(NOW);
    let mut app = app_for(&snaps, logs(10, 5));
    let footer = |app: &App, w: u16, h: u16| -> String {
        rows_of(&render(app, &snaps, NOW, w, h))
            .last()
            .cloned()
            .unwrap_or_default()
    };
    // Tiles (10 fit at 160x48): t table.
    assert!(
        footer(&app, 160, 48).contains("t table"),
        "{}",
        footer(&app, 160, 48)
    );
    // Zoomed: how to get back.
    app.update(Action::Zoom, &snaps);
    let f = footer(&app, 160, 48);
    assert!(f.contains("z Esc unzoom") && !f.contains("z zoom"), "{f}");
    app.update(Action::Zoom, &snaps);
    // The table: its own keys.
    app.update(Action::Table, &snaps);
    let f = footer(&app, 160, 48);
    assert!(
        f.contains("& filter rows") && f.contains("O sort") && f.contains("t tiles"),
        "{f}"
    );
    // Popups and dialogs: the keys that answer them.
    app.update(Action::Detail, &snaps);
    assert!(footer(&app, 160, 48).contains("Esc close"));
    app.update(Action::Cancel, &snaps);
    app.update(Action::Quit, &snaps);
    let f = footer(&app, 160, 48);
    assert!(
        f.starts_with("d detach  s stop all and quit  Esc cancel"),
        "{f}"
    );
    app.update(Action::Cancel, &snaps);
    app.update(Action::Merged, &snaps);
    assert!(footer(&app, 160, 48).starts_with("m back"));
}

#[test]
fn a_viewer_offers_to_take_over_once_its_console_is_gone() {
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let mut app = app_for(&snaps, logs(1, 5));
    // Not a viewer: nothing is offered.
    app.console_gone(true, Some(77));
    assert_eq!(app.dialog, None);
    app.viewer = true;
    app.console_gone(false, Some(77));
    assert_eq!(app.dialog, None, "the console is there");
    app.console_gone(true, Some(77));
    assert_eq!(app.dialog, Some(Dialog::TakeOver { pid: Some(77) }));
    let screen = format!("{}", render(&app, &snaps, NOW, 80, 24));
    assert!(screen.contains("The console PID 77 is gone."), "{screen}");
    insta::assert_snapshot!("take_over_offer", screen);
    // n keeps watching, and the offer is not made again while it stays gone.
    app.update(Action::No, &snaps);
    assert_eq!(app.dialog, None);
    app.console_gone(true, Some(77));
    assert_eq!(app.dialog, None, "offered once");
    // Back, then gone again: offered again; back while it is open withdraws it.
    app.console_gone(false, Some(77));
    app.console_gone(true, Some(77));
    assert!(app.dialog.is_some());
    app.console_gone(false, Some(77));
    assert_eq!(app.dialog, None, "withdrawn: the console came back");
    // y asks the loop to take over.
    app.console_gone(true, None);
    assert_eq!(app.update(Action::Yes, &snaps), vec![UiCall::TakeOver]);
}

#[test]
fn a_host_link_that_never_spoke_shows_how_long_and_what_it_runs() {
    use crate::model::view::{HostView, LinkState};
    let snaps = vec![snap("bf", Phase::Ready, NOW)];
    let app = app_for(&snaps, logs(1, 3));
    let hosts = [HostView {
        name: "far".into(),
        link: LinkState::Connecting {
            since: NOW - 42.0,
            command: "ssh -T far switchboard attach --stdio".into(),
        },
        as_of: NOW - 42.0,
    }];
    let mut t = Terminal::new(TestBackend::new(120, 12)).expect("terminal");
    let view = View {
        app: &app,
        snaps: &snaps,
        now: NOW,
        theme: Theme { color: false },
        hosts: &hosts,
        viewing: None,
    };
    t.draw(|f| draw(f, &view)).expect("draw");
    let top = rows_of(t.backend())[0].clone();
    assert!(
        top.contains("host far connecting for 42 s (ssh -T far switchboard attach"),
        "{top}"
    );
}
