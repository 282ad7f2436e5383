//! Fuzzing entry point for the supervisor's state machine: any sequence of
//! control bytes, deaths, signals, readiness lines and clock jumps (`fuzz/`
//! holds the cargo-fuzz target; `make test` runs a seeded batch).
//!
//! Invariants checked at every step: the status record is written before each
//! event and agrees with it (s6's event meanings); the record agrees with the
//! state (`finishing` iff finish runs, pid 0 iff down); `run` is never started
//! while a previous `run` or `finish` is alive; nothing happens after the
//! supervisor is done.
// A broken property must stop the fuzzer: panicking is this module's job.
#![allow(clippy::panic, clippy::expect_used)]

use std::time::{Duration, Instant};

use svkit_core::status::Status;
use svkit_core::tai64n::Tai64n;

use crate::machine::{Input, Machine, RetryIn, Sig, State, World, event_agrees};

/// A world of fake processes, driven by the fuzzer's bytes.
struct Fake {
    base: Instant,
    clock: Duration,
    next_pid: i32,
    live: Vec<i32>,
    run_fails: bool,
    has_finish: bool,
    timeout_kill: Option<Duration>,
    timeout_finish: Option<Duration>,
    last: Option<Status>,
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
        self.last = Some(*st);
    }
    fn notify(&mut self, events: &[u8]) {
        let Some(st) = self.last else {
            panic!("event {events:?} before any status write");
        };
        for &e in events {
            assert!(event_agrees(e, &st), "event {} with {st:?}", e as char);
        }
    }
    fn spawn_run(&mut self) -> Result<i32, RetryIn> {
        assert!(
            self.live.is_empty(),
            "run started while {:?} live",
            self.live
        );
        if self.run_fails {
            return Err(RetryIn(Duration::from_secs(1)));
        }
        self.next_pid += 1;
        self.live.push(self.next_pid);
        Ok(self.next_pid)
    }
    fn spawn_finish(&mut self, _wstat: i32, _pgid: i32) -> Option<i32> {
        self.has_finish.then(|| {
            self.next_pid += 1;
            self.live.push(self.next_pid);
            self.next_pid
        })
    }
    fn kill(&mut self, _pid: i32, _sig: i32) {}
    fn killpg(&mut self, _pgid: i32, _sig: i32) {}
    fn down_signal(&mut self) -> i32 {
        15
    }
    fn timeout_kill(&mut self) -> Option<Duration> {
        self.timeout_kill
    }
    fn timeout_finish(&mut self) -> Option<Duration> {
        self.timeout_finish
    }
    fn record_death(&mut self, _when: Tai64n, _wstat: u16) {}
    fn drop_notification(&mut self) {}
    fn set_down_file(&mut self, _present: bool) {}
    fn detach_stdio(&mut self) {}
    fn warn(&mut self, _msg: &str) {}
}

/// Runs the machine on the inputs `data` spells, two bytes per input.
pub fn machine(data: &[u8]) {
    let (&setup, data) = data.split_first().unwrap_or((&0, &[]));
    let ms = |b: u8| Duration::from_millis(u64::from(b) * 20);
    let mut w = Fake {
        base: Instant::now(),
        clock: Duration::ZERO,
        next_pid: 100,
        live: Vec::new(),
        run_fails: setup & 1 != 0,
        has_finish: setup & 2 != 0,
        timeout_kill: (setup & 4 != 0).then(|| ms(setup)),
        timeout_finish: (setup & 8 != 0).then(|| ms(setup >> 2)),
        last: None,
    };
    let mut m = Machine::start(&mut w, setup & 16 != 0);
    for pair in data.chunks(2) {
        let (op, arg) = (pair[0], pair.get(1).copied().unwrap_or(0));
        let input = match op % 8 {
            0 => {
                if let Some(at) = m.deadline() {
                    w.clock = w.clock.max(at - w.base);
                }
                Input::Timeout
            }
            1 | 2 => {
                // A death: of one of our children, or of a stray.
                let pid = match w.live.get(usize::from(arg) % (w.live.len() + 1)) {
                    Some(&p) => p,
                    None => 7,
                };
                w.live.retain(|&p| p != pid);
                Input::Died {
                    pid,
                    wstat: i32::from(arg) << (op % 2 * 8),
                }
            }
            3 => Input::Signal(match arg % 4 {
                0 => Sig::Term,
                1 => Sig::Hup,
                2 => Sig::Quit,
                _ => Sig::Int,
            }),
            4 | 5 => Input::Control(arg),
            6 => Input::Ready,
            _ => {
                w.clock += ms(arg);
                continue;
            }
        };
        m.handle(&mut w, input);
        let st = *m.status();
        assert_eq!(w.last, Some(st), "the record published is the machine's");
        assert_eq!(
            st.finishing,
            matches!(m.state(), State::Finish | State::LastFinish),
            "{st:?} in {:?}",
            m.state()
        );
        assert_eq!(
            st.pid == 0,
            m.state() == State::Down,
            "{st:?} in {:?}",
            m.state()
        );
        if m.done() {
            return;
        }
    }
}
