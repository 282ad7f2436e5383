//! The supervisor's state machine (s6: the `actions[state][event]` table of
//! `s6-supervise.c`), pure: every effect goes through [`World`], and time is read
//! from it, so each (state, input) pair can be tested with an injected clock.
//!
//! Invariants: the status record is written before every event it explains; a
//! started service is never started again until its death has been handled; an
//! explicit start (`u`, `U`, `o`) is never delayed, and automatic starts are at
//! least [`MIN_START_GAP`] apart.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use svkit_core::Exit;
use svkit_core::event::byte;
use svkit_core::status::{Status, wstat_exitcode};
use svkit_core::tai64n::Tai64n;

/// The restart rule: an automatic (re)start happens at `max(now, last start + 1 s)`.
/// So a service that had been up for at least a second is restarted at once, and a
/// service that dies at once is started at most once per second. (s6 waits a full
/// second after every death of a service that never notified readiness.)
pub const MIN_START_GAP: Duration = Duration::from_secs(1);

/// After the first SIGKILL of `timeout-kill` or `timeout-finish`, it is repeated this often.
pub const KILL_AGAIN: Duration = Duration::from_secs(5);

/// Where the supervisor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing runs.
    Down,
    /// `run` runs.
    Up,
    /// `finish` runs.
    Finish,
    /// `run` runs; the supervisor exits once it is dead and finished.
    LastUp,
    /// `finish` runs; the supervisor exits when it ends.
    LastFinish,
}

/// Signals the supervisor itself handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sig {
    /// Stop the service, then exit.
    Term,
    /// Exit once the service is down (like `x`).
    Hup,
    /// Exit now, leaving the service alone.
    Quit,
    /// Forward SIGINT to the service's process group, then exit.
    Int,
}

/// Everything that can happen to the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The deadline returned by [`Machine::deadline`] has passed.
    Timeout,
    /// A child died with this raw wait status.
    Died {
        /// Its pid.
        pid: i32,
        /// Raw wait status.
        wstat: i32,
    },
    /// A signal to the supervisor.
    Signal(Sig),
    /// A byte from the control FIFO.
    Control(u8),
    /// `run` wrote a newline on its notification fd.
    Ready,
}

/// Whether event byte `e` may be sent with the status record `st` just written
/// (s6's meanings: `u` up and not ready, `U` up and ready, `d` down or
/// finishing, `D` down and finished, `O` no longer wanted up).
#[must_use]
pub fn event_agrees(e: u8, st: &Status) -> bool {
    match e {
        b'u' => st.is_up() && !st.ready,
        b'U' => st.is_up() && st.ready,
        b'd' => st.finishing || st.pid == 0,
        b'D' => st.pid == 0 && st.ready && !st.finishing,
        b'O' => !st.wantup,
        _ => true,
    }
}

/// Why a program could not be started, and when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryIn(pub Duration);

/// The effects a supervisor has on the world. The real one lives in `lib.rs`.
pub trait World {
    /// Monotonic time, for deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time, for the status record.
    fn stamp(&self) -> Tai64n;
    /// Replaces the status file.
    fn write_status(&mut self, st: &Status);
    /// Sends event bytes to the listeners.
    fn notify(&mut self, events: &[u8]);
    /// Starts `./run` in a new session; its pid.
    fn spawn_run(&mut self) -> Result<i32, RetryIn>;
    /// Starts `./finish` for a run that died with `wstat` and had pgid `pgid`; its
    /// pid, or `None` if there is no finish to wait for.
    fn spawn_finish(&mut self, wstat: i32, pgid: i32) -> Option<i32>;
    /// Sends a signal to one process.
    fn kill(&mut self, pid: i32, sig: i32);
    /// Sends a signal to a process group.
    fn killpg(&mut self, pgid: i32, sig: i32);
    /// The signal that stops the service (`down-signal`, read now).
    fn down_signal(&mut self) -> i32;
    /// `timeout-kill`, read now; `None` for never.
    fn timeout_kill(&mut self) -> Option<Duration>;
    /// `timeout-finish`, read now; `None` for unlimited.
    fn timeout_finish(&mut self) -> Option<Duration>;
    /// Appends a death record.
    fn record_death(&mut self, when: Tai64n, wstat: u16);
    /// Stops listening for readiness of the current run.
    fn drop_notification(&mut self);
    /// Creates (`true`) or removes the `down` file.
    fn set_down_file(&mut self, present: bool);
    /// Points the supervisor's stdin and stdout at /dev/null (before a last exit,
    /// so that a logger pipe closes once the service is gone).
    fn detach_stdio(&mut self);
    /// A warning line.
    fn warn(&mut self, msg: &str);
}

/// The supervisor: its state and the status record it publishes.
#[derive(Debug)]
pub struct Machine {
    state: State,
    st: Status,
    last_start: Option<Instant>,
    /// Down: when to try the next automatic start.
    start_at: Option<Instant>,
    /// Up: when to send SIGKILL (`timeout-kill`).
    kill_at: Option<Instant>,
    /// Finishing: when to kill `finish` (`timeout-finish`).
    finish_kill_at: Option<Instant>,
    done: bool,
}

const SIGKILL: i32 = Signal::SIGKILL as i32;
const SIGCONT: i32 = Signal::SIGCONT as i32;
const SIGSTOP: i32 = Signal::SIGSTOP as i32;

impl Machine {
    /// A supervisor that just started: publishes the initial status and `s`. The
    /// service is wanted up unless the directory has a `down` file.
    pub fn start(w: &mut impl World, normally_down: bool) -> Self {
        let now = w.stamp();
        let m = Machine {
            state: State::Down,
            st: Status {
                stamp: now,
                readystamp: now,
                wantup: !normally_down,
                ready: true,
                ..Status::default()
            },
            last_start: None,
            start_at: Some(w.now()),
            kill_at: None,
            finish_kill_at: None,
            done: false,
        };
        m.publish(w, &[byte::START]);
        m
    }

    /// The current state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// The status record as last published.
    #[must_use]
    pub fn status(&self) -> &Status {
        &self.st
    }

    /// The supervisor has exited its loop (after sending `x`).
    #[must_use]
    pub fn done(&self) -> bool {
        self.done
    }

    /// When the supervisor must wake up with [`Input::Timeout`], if ever.
    #[must_use]
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Down if self.st.wantup => self.start_at,
            State::Down => None,
            State::Up | State::LastUp => self.kill_at,
            State::Finish | State::LastFinish => self.finish_kill_at,
        }
    }

    /// Handles one input.
    pub fn handle(&mut self, w: &mut impl World, input: Input) {
        if self.done {
            return;
        }
        match input {
            Input::Timeout => self.timeout(w),
            Input::Died { pid, wstat } => {
                if u64::try_from(pid).ok() != Some(self.st.pid) || self.st.pid == 0 {
                    return; // a stray child: reaped, nothing else
                }
                match self.state {
                    State::Up | State::LastUp => self.run_died(w, pid, wstat),
                    State::Finish | State::LastFinish => self.finish_died(w, wstat),
                    State::Down => {}
                }
            }
            Input::Signal(sig) => self.signal(w, sig),
            Input::Control(c) => self.control(w, c),
            Input::Ready => {
                if self.is_up() && !self.st.ready {
                    self.st.ready = true;
                    self.st.readystamp = w.stamp();
                    self.publish(w, &[byte::READY]);
                }
            }
        }
    }

    fn is_up(&self) -> bool {
        matches!(self.state, State::Up | State::LastUp)
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.st.pid).unwrap_or(0)
    }

    fn publish(&self, w: &mut impl World, events: &[u8]) {
        w.write_status(&self.st);
        if !events.is_empty() {
            w.notify(events);
        }
    }

    fn exit(&mut self, w: &mut impl World) {
        w.notify(&[byte::EXIT]);
        self.done = true;
    }

    fn timeout(&mut self, w: &mut impl World) {
        let now = w.now();
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        match self.state {
            State::Down => {
                if self.st.wantup && due(self.start_at) {
                    self.try_start(w);
                }
            }
            State::Up | State::LastUp => {
                if due(self.kill_at) {
                    w.kill(self.pid(), SIGKILL);
                    self.kill_at = Some(now + KILL_AGAIN);
                }
            }
            State::Finish | State::LastFinish => {
                if due(self.finish_kill_at) {
                    w.warn("finish script lifetime reached maximum value");
                    w.kill(self.pid(), SIGCONT);
                    w.kill(self.pid(), SIGKILL);
                    self.finish_kill_at = Some(now + KILL_AGAIN);
                }
            }
        }
    }

    fn try_start(&mut self, w: &mut impl World) {
        let now = w.now();
        match w.spawn_run() {
            Ok(pid) => {
                self.state = State::Up;
                self.st.pid = u64::try_from(pid).unwrap_or(0);
                self.st.stamp = w.stamp();
                self.st.ready = false;
                self.st.paused = false;
                self.last_start = Some(now);
                self.start_at = None;
                self.kill_at = None;
                self.publish(w, &[byte::UP]);
            }
            Err(RetryIn(d)) => self.start_at = Some(now + d),
        }
    }

    fn run_died(&mut self, w: &mut impl World, pid: i32, wstat: i32) {
        let last = self.state == State::LastUp;
        self.st.wstat = u16::try_from(wstat & 0xffff).unwrap_or(0);
        self.st.paused = false;
        self.st.ready = false;
        self.st.stamp = w.stamp();
        self.kill_at = None;
        w.drop_notification();
        w.record_death(self.st.stamp, self.st.wstat);
        match w.spawn_finish(wstat, pid) {
            Some(fpid) => {
                self.state = if last {
                    State::LastFinish
                } else {
                    State::Finish
                };
                self.st.pid = u64::try_from(fpid).unwrap_or(0);
                self.st.finishing = true;
                self.finish_kill_at = w.timeout_finish().map(|d| w.now() + d);
                self.publish(w, &[byte::DOWN]);
            }
            None => self.down_and_ready(w, &[byte::DOWN, byte::DOWN_READY]),
        }
    }

    fn finish_died(&mut self, w: &mut impl World, wstat: i32) {
        if wstat_exitcode(wstat) == Some(Exit::Permanent.code()) {
            self.st.wantup = false;
            self.down_and_ready(w, &[byte::PERMANENT, byte::DOWN_READY]);
        } else {
            self.down_and_ready(w, &[byte::DOWN_READY]);
        }
    }

    /// Finish is over (or there was none): down and ready, restart per the rule.
    fn down_and_ready(&mut self, w: &mut impl World, events: &[u8]) {
        let last = matches!(self.state, State::LastUp | State::LastFinish);
        let now = w.now();
        self.state = State::Down;
        self.st.pid = 0;
        self.st.finishing = false;
        self.st.ready = true;
        self.st.readystamp = w.stamp();
        self.finish_kill_at = None;
        self.start_at = Some(
            self.last_start
                .map_or(now, |t| (t + MIN_START_GAP).max(now)),
        );
        self.publish(w, events);
        if last {
            self.exit(w);
        }
    }

    fn want_up(&mut self, w: &mut impl World) {
        self.st.wantup = true;
        self.publish(w, &[]);
        if self.state == State::Down {
            self.try_start(w);
        }
    }

    fn want_down(&mut self, w: &mut impl World) {
        self.st.wantup = false;
        if self.is_up() {
            self.stop(w);
        } else {
            self.publish(w, &[]);
        }
    }

    /// The down signal, then SIGCONT (a stopped process must run to die), and the
    /// `timeout-kill` deadline.
    fn stop(&mut self, w: &mut impl World) {
        let sig = w.down_signal();
        w.kill(self.pid(), sig);
        if sig != SIGCONT {
            w.kill(self.pid(), SIGCONT);
        }
        self.st.paused = false;
        self.kill_at = w.timeout_kill().map(|d| w.now() + d);
        self.publish(w, &[]);
    }

    /// `x`: exit now if down, otherwise once the service has died and finished.
    fn last(&mut self, w: &mut impl World) {
        match self.state {
            State::Down => self.exit(w),
            State::Up => {
                self.state = State::LastUp;
                w.detach_stdio();
            }
            State::Finish => {
                self.state = State::LastFinish;
                w.detach_stdio();
            }
            State::LastUp | State::LastFinish => {}
        }
    }

    fn signal(&mut self, w: &mut impl World, sig: Sig) {
        match (sig, self.state) {
            (Sig::Quit, _) | (Sig::Term | Sig::Hup | Sig::Int, State::Down) => self.exit(w),
            (Sig::Term, State::Up) => {
                self.state = State::LastUp;
                self.want_down(w);
            }
            (Sig::Term, State::LastUp) => self.want_down(w),
            (Sig::Term, State::Finish) => {
                self.state = State::LastFinish;
                w.detach_stdio();
            }
            (Sig::Term, State::LastFinish) => {}
            (Sig::Hup, State::Up | State::Finish) => self.last(w),
            (Sig::Hup, State::LastUp | State::LastFinish) => w.detach_stdio(),
            (Sig::Int, _) => {
                w.killpg(self.pid(), Signal::SIGINT as i32);
                self.exit(w);
            }
        }
    }

    fn control(&mut self, w: &mut impl World, c: u8) {
        let up = self.is_up();
        match c {
            b'a' | b'b' | b'q' | b'h' | b'k' | b't' | b'i' | b'1' | b'2' | b'y' if up => {
                w.kill(self.pid(), letter_signal(c));
            }
            b'p' | b'c' if up => {
                w.kill(self.pid(), if c == b'p' { SIGSTOP } else { SIGCONT });
                self.st.paused = c == b'p';
                self.publish(w, &[]);
            }
            b'r' if up => {
                let sig = w.down_signal();
                w.kill(self.pid(), sig);
            }
            b'o' => {
                self.st.wantup = false;
                self.publish(w, &[]);
                if self.state == State::Down {
                    self.try_start(w);
                }
            }
            b'd' => self.want_down(w),
            b'u' => self.want_up(w),
            b'D' => {
                w.set_down_file(true);
                self.want_down(w);
            }
            b'U' => {
                w.set_down_file(false);
                self.want_up(w);
            }
            b'x' => self.last(w),
            b'O' => {
                self.st.wantup = false;
                self.publish(w, &[]);
            }
            b'Q' => {
                w.set_down_file(true);
                self.st.wantup = false;
                self.publish(w, &[]);
            }
            _ => {} // unknown bytes are ignored, as s6 does
        }
    }
}

/// The signal of a plain signal-sending control letter.
fn letter_signal(c: u8) -> i32 {
    let sig = match c {
        b'a' => Signal::SIGALRM,
        b'b' => Signal::SIGABRT,
        b'q' => Signal::SIGQUIT,
        b'h' => Signal::SIGHUP,
        b'k' => Signal::SIGKILL,
        b't' => Signal::SIGTERM,
        b'i' => Signal::SIGINT,
        b'1' => Signal::SIGUSR1,
        b'2' => Signal::SIGUSR2,
        _ => Signal::SIGWINCH, // y
    };
    sig as i32
}
