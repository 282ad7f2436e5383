//! Fuzzing entry points for the protocol's codecs (`fuzz/` holds the cargo-fuzz
//! targets; `make test` runs each on a seeded batch of inputs).
//!
//! Invariant: each function takes any bytes and returns normally; a panic is a
//! bug, and an assertion here states the property the input broke.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::envdir::{self, Mode};
use crate::status::{SIZE, Status};

/// The status codec: any 35 bytes decode, and the decoded record survives a
/// round trip through `pack` unchanged (what a reader of a status file written
/// by anyone — s6 or svkit — relies on).
pub fn status(data: &[u8]) {
    let Some(raw) = data.get(..SIZE) else { return };
    let mut b = [0u8; SIZE];
    b.copy_from_slice(raw);
    let st = Status::unpack(&b);
    let again = Status::unpack(&st.pack());
    assert_eq!(st, again, "round trip of {b:?}");
    let _ = (st.is_up(), st.exitcode(), st.signal());
}

/// Environment-directory values and names: whatever a file holds, its value has
/// no NUL (it could not be put in an environment), and a valid name carries no
/// `=` (it could not inject a second variable).
pub fn envdir(data: &[u8]) {
    let (&flags, rest) = data.split_first().unwrap_or((&0, &[]));
    let mode = Mode {
        whole: flags & 1 != 0,
        verbatim: flags & 2 != 0,
        unlimited: flags & 4 != 0,
        nul: if flags & 8 != 0 {
            b'\n'
        } else {
            flags >> 4 | 1
        },
    };
    if let Some(v) = mode.decode(rest.to_vec()) {
        assert!(!v.as_bytes().contains(&0), "a NUL in a value");
        if !mode.unlimited {
            assert!(v.len() <= envdir::VALUE_MAX);
        }
    }
    let name = OsStr::from_bytes(rest);
    if envdir::valid_name(name) {
        assert!(!rest.contains(&b'=') && !rest.is_empty());
    }
}
