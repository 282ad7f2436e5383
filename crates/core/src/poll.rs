//! The pieces every poll loop of the suite shares: a deadline turned into a poll
//! timeout, readiness of a polled descriptor, and signals routed into a signalfd.
//!
//! Invariant: a timeout is rounded **up** to the millisecond, so a loop never wakes
//! just before its deadline and spins; no deadline means an infinite wait (an idle
//! daemon never wakes up).

use std::time::Instant;

use nix::poll::{PollFd, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::report::Failure;

/// The poll timeout that ends at `deadline` (`None`: wait forever).
#[must_use]
pub fn timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            PollTimeout::try_from(left.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Whether poll reported anything (data, hang-up, error) on `fd`.
#[must_use]
pub fn readable(fd: &PollFd<'_>) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}

/// Blocks `signals` and returns a non-blocking, close-on-exec signalfd that reads
/// them: the only way a daemon of the suite receives signals (no handlers). Blocked
/// signals are delivered even to PID 1 of a namespace, which drops signals whose
/// disposition is the default.
pub fn signalfd(signals: &[Signal]) -> Result<SignalFd, Failure> {
    let mut mask = SigSet::empty();
    for &s in signals {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| Failure::sys("block signals", &e.into()))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| Failure::sys("create signalfd", &e.into()))
}
