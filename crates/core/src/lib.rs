//! svkit-core: s6's service-directory protocol, and nothing else (libs6's role).
//!
//! Every svkit tool meets every other one — and every real s6 tool — only through
//! what this crate reads and writes on disk: the 35-byte `supervise/status` record,
//! the `supervise/control` FIFO, the `event/` fifodir, the fcntl `supervise/lock`,
//! and the small text files of a service directory. All `unsafe` code of the
//! project lives in [`sys`]; the rest of the workspace forbids it.

pub mod config;
pub mod control;
pub mod deathtally;
pub mod envdir;
pub mod event;
pub mod exit;
#[doc(hidden)]
pub mod fuzz;
pub mod getopt;
pub mod lock;
pub mod overlay;
pub mod poll;
pub mod process;
pub mod report;
pub mod servicedir;
pub mod signals;
pub mod status;
pub mod tai64n;
pub mod text;

mod sys;

pub use exit::Exit;
pub use report::Failure;
pub use status::Status;
pub use tai64n::Tai64n;
