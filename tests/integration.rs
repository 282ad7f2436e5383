//! svkit's integration tests: real processes, FIFOs and signals, with Debian's s6
//! as the compatibility oracle. One binary (`[[test]] integration`), one module per
//! area, the harness in `util`.

#![allow(unreachable_pub)]

mod util;

#[path = "integration/bad_input.rs"]
mod bad_input;
#[path = "integration/chain.rs"]
mod chain;
#[path = "integration/dist.rs"]
mod dist;
#[path = "integration/execline.rs"]
mod execline;
#[path = "integration/faults.rs"]
mod faults;
#[path = "integration/fuzz.rs"]
mod fuzz;
#[path = "integration/init.rs"]
mod init;
#[path = "integration/interop.rs"]
mod interop;
#[path = "integration/log.rs"]
mod log;
#[path = "integration/multicall.rs"]
mod multicall;
#[path = "integration/permissions.rs"]
mod permissions;
#[path = "integration/rc.rs"]
mod rc;
#[path = "integration/rc_boot.rs"]
mod rc_boot;
#[path = "integration/readiness.rs"]
mod readiness;
#[path = "integration/socklog.rs"]
mod socklog;
#[path = "integration/supervise.rs"]
mod supervise;
#[path = "integration/svc.rs"]
mod svc;
#[path = "integration/svscan.rs"]
mod svscan;
#[path = "integration/svstat.rs"]
mod svstat;
#[path = "integration/svwait.rs"]
mod svwait;
#[path = "integration/timeouts.rs"]
mod timeouts;
