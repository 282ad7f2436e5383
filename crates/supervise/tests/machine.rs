//! Tests of supervise's state machine (crate-level, through its public API) with a recording world and a fake clock:
//! the restart rule, timeouts and every control byte, without real time passing.

use std::time::{Duration, Instant};

use svkit_core::Status;
use svkit_core::tai64n::Tai64n;

use svkit_supervise::machine::{
    Input, KILL_AGAIN, MIN_START_GAP, Machine, RetryIn, Sig, State, World, event_agrees,
};

const TERM: i32 = 15;
const KILL: i32 = 9;
const CONT: i32 = 18;

/// A world that records effects and checks that each event follows a status write
/// that already shows it.
struct Fake {
    base: Instant,
    clock: Duration,
    next_pid: i32,
    run_fails: Option<Duration>,
    has_finish: bool,
    down_signal: i32,
    timeout_kill: Option<Duration>,
    timeout_finish: Option<Duration>,
    last_status: Option<Status>,
    writes: usize,
    events: Vec<u8>,
    kills: Vec<(i32, i32)>,
    killpgs: Vec<(i32, i32)>,
    runs: Vec<Duration>,
    finishes: Vec<(i32, i32)>,
    deaths: usize,
    down_file: Option<bool>,
    detached: bool,
    warnings: Vec<String>,
}

impl Fake {
    fn new() -> Self {
        Fake {
            base: Instant::now(),
            clock: Duration::ZERO,
            next_pid: 100,
            run_fails: None,
            has_finish: true,
            down_signal: TERM,
            timeout_kill: None,
            timeout_finish: Some(Duration::from_secs(5)),
            last_status: None,
            writes: 0,
            events: Vec::new(),
            kills: Vec::new(),
            killpgs: Vec::new(),
            runs: Vec::new(),
            finishes: Vec::new(),
            deaths: 0,
            down_file: None,
            detached: false,
            warnings: Vec::new(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.clock += d;
    }

    fn events(&self) -> String {
        String::from_utf8_lossy(&self.events).into_owned()
    }
}

impl World for Fake {
    fn now(&self) -> Instant {
        self.base + self.clock
    }

    fn stamp(&self) -> Tai64n {
        Tai64n::from_unix(
            1_800_000_000 + self.clock.as_secs(),
            self.clock.subsec_nanos(),
        )
    }

    fn write_status(&mut self, st: &Status) {
        self.last_status = Some(*st);
        self.writes += 1;
    }

    fn notify(&mut self, events: &[u8]) {
        let st = self.last_status.expect("an event before any status write");
        for &e in events {
            assert!(event_agrees(e, &st), "{} with {st:?}", e as char);
        }
        self.events.extend_from_slice(events);
    }

    fn spawn_run(&mut self) -> Result<i32, RetryIn> {
        if let Some(d) = self.run_fails {
            return Err(RetryIn(d));
        }
        self.runs.push(self.clock);
        self.next_pid += 1;
        Ok(self.next_pid)
    }

    fn spawn_finish(&mut self, wstat: i32, pgid: i32) -> Option<i32> {
        if !self.has_finish {
            return None;
        }
        self.finishes.push((wstat, pgid));
        self.next_pid += 1;
        Some(self.next_pid)
    }

    fn kill(&mut self, pid: i32, sig: i32) {
        self.kills.push((pid, sig));
    }

    fn killpg(&mut self, pgid: i32, sig: i32) {
        self.killpgs.push((pgid, sig));
    }

    fn down_signal(&mut self) -> i32 {
        self.down_signal
    }

    fn timeout_kill(&mut self) -> Option<Duration> {
        self.timeout_kill
    }

    fn timeout_finish(&mut self) -> Option<Duration> {
        self.timeout_finish
    }

    fn record_death(&mut self, _when: Tai64n, _wstat: u16) {
        self.deaths += 1;
    }

    fn drop_notification(&mut self) {}

    fn set_down_file(&mut self, present: bool) {
        self.down_file = Some(present);
    }

    fn detach_stdio(&mut self) {
        self.detached = true;
    }

    fn warn(&mut self, msg: &str) {
        self.warnings.push(msg.to_owned());
    }
}

/// Fires the timeout if it is due now, as the real loop does.
fn tick(m: &mut Machine, w: &mut Fake) {
    if m.deadline().is_some_and(|d| d <= w.now()) {
        m.handle(w, Input::Timeout);
    }
}

/// Advances the clock to the machine's deadline and fires it.
fn until_deadline(m: &mut Machine, w: &mut Fake) {
    let d = m.deadline().expect("a deadline");
    w.clock = d - w.base;
    m.handle(w, Input::Timeout);
}

fn started(w: &mut Fake) -> Machine {
    let mut m = Machine::start(w, false);
    tick(&mut m, w);
    assert_eq!(m.state(), State::Up);
    m
}

fn die(m: &mut Machine, w: &mut Fake, wstat: i32) {
    let pid = i32::try_from(m.status().pid).unwrap();
    m.handle(w, Input::Died { pid, wstat });
}

#[test]
fn starts_at_once_and_announces() {
    let mut w = Fake::new();
    let m = started(&mut w);
    assert_eq!(w.events(), "su");
    assert_eq!(w.runs, [Duration::ZERO]);
    let st = m.status();
    assert!(st.wantup && !st.ready && st.pid == 101);
    assert_eq!(m.deadline(), None, "nothing due while up: no wake-ups");
}

#[test]
fn normally_down_waits_for_u() {
    let mut w = Fake::new();
    let mut m = Machine::start(&mut w, true);
    assert_eq!(m.deadline(), None);
    assert!(!m.status().wantup && m.status().ready);
    m.handle(&mut w, Input::Control(b'u'));
    assert_eq!(m.state(), State::Up);
    assert_eq!(w.events(), "su");
}

#[test]
fn finish_gets_wstat_and_pgid_then_down_and_ready() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    die(&mut m, &mut w, 3 << 8);
    assert_eq!(m.state(), State::Finish);
    assert_eq!(w.finishes, [(3 << 8, 101)]);
    assert!(m.status().finishing && m.status().pid == 102);
    assert_eq!(m.status().wstat, 0x0300);
    die(&mut m, &mut w, 0);
    assert_eq!(m.state(), State::Down);
    assert_eq!(w.events(), "sudD");
    assert_eq!(w.deaths, 1);
}

#[test]
fn quick_deaths_are_throttled_to_one_start_per_second() {
    let mut w = Fake::new();
    w.has_finish = false;
    let mut m = started(&mut w);
    for _ in 0..5 {
        w.advance(Duration::from_millis(10));
        die(&mut m, &mut w, 1 << 8);
        tick(&mut m, &mut w);
        assert_eq!(
            m.state(),
            State::Down,
            "no restart before a second has passed"
        );
        until_deadline(&mut m, &mut w);
        assert_eq!(m.state(), State::Up);
    }
    for pair in w.runs.windows(2) {
        assert!(pair[1] - pair[0] >= MIN_START_GAP, "{:?}", w.runs);
        assert!(pair[1] - pair[0] < MIN_START_GAP + Duration::from_millis(20));
    }
}

#[test]
fn a_service_up_for_a_second_restarts_at_once() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    w.advance(Duration::from_secs(30));
    die(&mut m, &mut w, 9);
    die(&mut m, &mut w, 0); // finish
    assert_eq!(m.deadline(), Some(w.now()));
    tick(&mut m, &mut w);
    assert_eq!(m.state(), State::Up);
    assert_eq!(w.runs, [Duration::ZERO, Duration::from_secs(30)]);
}

#[test]
fn explicit_u_is_never_throttled() {
    let mut w = Fake::new();
    w.has_finish = false;
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Control(b'd'));
    die(&mut m, &mut w, TERM);
    assert_eq!(m.state(), State::Down);
    m.handle(&mut w, Input::Control(b'u'));
    assert_eq!(m.state(), State::Up);
    assert_eq!(w.runs, [Duration::ZERO, Duration::ZERO]);
}

#[test]
fn finish_125_is_a_permanent_failure() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    die(&mut m, &mut w, 1 << 8);
    die(&mut m, &mut w, 125 << 8);
    assert_eq!(w.events(), "sudOD");
    assert!(!m.status().wantup);
    assert_eq!(m.deadline(), None);
}

#[test]
fn no_finish_means_d_and_d_at_once() {
    let mut w = Fake::new();
    w.has_finish = false;
    let mut m = started(&mut w);
    die(&mut m, &mut w, 0);
    assert_eq!(w.events(), "sudD");
    assert_eq!(m.state(), State::Down);
}

#[test]
fn down_sends_down_signal_cont_and_arms_timeout_kill() {
    let mut w = Fake::new();
    w.down_signal = 10;
    w.timeout_kill = Some(Duration::from_millis(300));
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Control(b'p'));
    assert!(m.status().paused);
    m.handle(&mut w, Input::Control(b'd'));
    assert_eq!(w.kills, [(101, 19), (101, 10), (101, CONT)]);
    assert!(!m.status().wantup && !m.status().paused);
    until_deadline(&mut m, &mut w);
    assert_eq!(w.kills.last(), Some(&(101, KILL)));
    assert_eq!(w.clock, Duration::from_millis(300));
    until_deadline(&mut m, &mut w);
    assert_eq!(w.clock, Duration::from_millis(300) + KILL_AGAIN);
    die(&mut m, &mut w, KILL);
    assert_eq!(m.state(), State::Finish);
}

#[test]
fn hanging_finish_is_killed_after_timeout_finish() {
    let mut w = Fake::new();
    w.timeout_finish = Some(Duration::from_millis(200));
    let mut m = started(&mut w);
    die(&mut m, &mut w, 0);
    until_deadline(&mut m, &mut w);
    assert_eq!(w.kills, [(102, CONT), (102, KILL)]);
    assert_eq!(w.warnings.len(), 1);
    die(&mut m, &mut w, KILL);
    assert_eq!(m.state(), State::Down);
}

#[test]
fn x_exits_at_once_when_down_and_after_finish_when_up() {
    let mut w = Fake::new();
    let mut m = Machine::start(&mut w, true);
    m.handle(&mut w, Input::Control(b'x'));
    assert!(m.done());
    assert_eq!(w.events(), "sx");

    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Control(b'x'));
    assert_eq!(m.state(), State::LastUp);
    assert!(
        w.detached && w.kills.is_empty(),
        "x does not stop the service"
    );
    die(&mut m, &mut w, TERM);
    assert_eq!(m.state(), State::LastFinish);
    die(&mut m, &mut w, 0);
    assert!(m.done());
    assert_eq!(w.events(), "sudDx");
}

#[test]
fn term_stops_the_service_then_exits() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Signal(Sig::Term));
    assert_eq!(w.kills, [(101, TERM), (101, CONT)]);
    assert!(!m.done());
    die(&mut m, &mut w, TERM);
    die(&mut m, &mut w, 0);
    assert!(m.done());
    assert_eq!(w.events(), "sudDx");
}

#[test]
fn quit_and_int() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Signal(Sig::Quit));
    assert!(m.done() && w.kills.is_empty());

    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Signal(Sig::Int));
    assert!(m.done());
    assert_eq!(w.killpgs, [(101, 2)]);
}

#[test]
fn readiness_sets_ready_and_sends_u() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    w.advance(Duration::from_millis(1500));
    m.handle(&mut w, Input::Ready);
    assert!(m.status().ready);
    assert_eq!(m.status().readystamp.secs_until(w.stamp()), 0);
    assert_eq!(w.events(), "suU");
    m.handle(&mut w, Input::Ready);
    assert_eq!(w.events(), "suU", "a second newline changes nothing");
}

#[test]
fn o_starts_once() {
    let mut w = Fake::new();
    w.has_finish = false;
    let mut m = Machine::start(&mut w, true);
    m.handle(&mut w, Input::Control(b'o'));
    assert_eq!(m.state(), State::Up);
    die(&mut m, &mut w, 0);
    assert_eq!(m.deadline(), None);
    assert_eq!(w.runs.len(), 1);
}

#[test]
fn down_file_commands() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(&mut w, Input::Control(b'Q'));
    assert_eq!(w.down_file, Some(true));
    assert!(w.kills.is_empty() && !m.status().wantup);
    m.handle(&mut w, Input::Control(b'U'));
    assert_eq!(w.down_file, Some(false));
    m.handle(&mut w, Input::Control(b'D'));
    assert_eq!(w.down_file, Some(true));
    assert_eq!(w.kills, [(101, TERM), (101, CONT)]);
}

#[test]
fn spawn_failures_retry_later_but_u_retries_now() {
    let mut w = Fake::new();
    w.run_fails = Some(Duration::from_secs(10));
    let mut m = Machine::start(&mut w, false);
    tick(&mut m, &mut w);
    assert_eq!(m.state(), State::Down);
    assert_eq!(m.deadline(), Some(w.now() + Duration::from_secs(10)));
    w.run_fails = None;
    m.handle(&mut w, Input::Control(b'u'));
    assert_eq!(m.state(), State::Up);
}

#[test]
fn strays_are_ignored() {
    let mut w = Fake::new();
    let mut m = started(&mut w);
    m.handle(
        &mut w,
        Input::Died {
            pid: 4242,
            wstat: 0,
        },
    );
    assert_eq!(m.state(), State::Up);
    assert_eq!(w.events(), "su");
}

#[test]
fn every_byte_in_every_state_keeps_the_machine_sane() {
    for b in 0..=255u8 {
        for setup in 0..4 {
            let mut w = Fake::new();
            let mut m = started(&mut w);
            match setup {
                0 => {}
                1 => die(&mut m, &mut w, 0), // Finish
                2 => {
                    die(&mut m, &mut w, 0);
                    die(&mut m, &mut w, 0); // Down
                }
                _ => m.handle(&mut w, Input::Control(b'x')), // LastUp
            }
            m.handle(&mut w, Input::Control(b));
            let st = *m.status();
            assert_eq!(
                st.finishing,
                matches!(m.state(), State::Finish | State::LastFinish)
            );
            assert_eq!(
                st.pid == 0,
                m.state() == State::Down,
                "byte {b} setup {setup}"
            );
            if !b"abqhkti12pcyroduDUxOQ".contains(&b) {
                assert!(w.kills.is_empty() && !m.done(), "byte {b} did something");
            }
        }
    }
}
