//! TAI64N timestamps as skalibs packs them (s6: skalibs `tain_pack`, `tai_from_utc`).
//!
//! Invariant: the seconds label is `2^62 + unix + 10 + leap seconds` (= unix + 37
//! since 2017), big-endian, then 4 bytes of big-endian nanoseconds. Using +10 alone
//! (daemontools' and runit's label) would make real `s6-svstat` report every
//! duration 27 s too long.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2^62`: TAI64 labels start here.
pub const TAI_MAGIC: u64 = 1 << 62;

/// Unix times at which a leap second had just been inserted (skalibs' table, which
/// stops at 2017-01-01). The TAI−UTC offset at time `t` is 10 + the number of entries ≤ t.
const LEAPS: [u64; 27] = [
    78_796_800,
    94_694_400,
    126_230_400,
    157_766_400,
    189_302_400,
    220_924_800,
    252_460_800,
    283_996_800,
    315_532_800,
    362_793_600,
    394_329_600,
    425_865_600,
    489_024_000,
    567_993_600,
    631_152_000,
    662_688_000,
    709_948_800,
    741_484_800,
    773_020_800,
    820_454_400,
    867_715_200,
    915_148_800,
    1_136_073_600,
    1_230_768_000,
    1_341_100_800,
    1_435_708_800,
    1_483_228_800,
];

fn leaps_at(unix: u64) -> u64 {
    LEAPS.iter().take_while(|&&t| t <= unix).count() as u64
}

/// A TAI64N instant: the packed label (including `2^62`) and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tai64n {
    /// TAI64 label: `2^62 + TAI seconds`.
    pub secs: u64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Tai64n {
    /// Packed size in bytes.
    pub const SIZE: usize = 12;

    /// The current wall-clock time.
    #[must_use]
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// Converts a system time (times before 1970 clamp to the epoch).
    #[must_use]
    pub fn from_system(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Self::from_unix(d.as_secs(), d.subsec_nanos())
    }

    /// From Unix seconds and nanoseconds.
    #[must_use]
    pub fn from_unix(secs: u64, nanos: u32) -> Self {
        Tai64n {
            secs: TAI_MAGIC + secs + 10 + leaps_at(secs),
            nanos,
        }
    }

    /// Back to Unix seconds (ignoring the instant of a leap second itself).
    #[must_use]
    pub fn unix_secs(self) -> u64 {
        let tai = self.secs.saturating_sub(TAI_MAGIC + 10);
        // unix = tai - n where n = leaps_at(unix); the smallest such n is the answer,
        // since any smaller candidate lies later and so has at least as many leaps.
        (0..=LEAPS.len() as u64)
            .map(|n| tai.saturating_sub(n))
            .find(|&u| leaps_at(u) == tai - u)
            .unwrap_or(tai)
    }

    /// Big-endian packed form.
    #[must_use]
    pub fn pack(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..8].copy_from_slice(&self.secs.to_be_bytes());
        b[8..].copy_from_slice(&self.nanos.to_be_bytes());
        b
    }

    /// From the big-endian packed form.
    #[must_use]
    pub fn unpack(b: &[u8; 12]) -> Self {
        let (s, n) = b.split_at(8);
        let mut secs = [0u8; 8];
        secs.copy_from_slice(s);
        let mut nanos = [0u8; 4];
        nanos.copy_from_slice(n);
        Tai64n {
            secs: u64::from_be_bytes(secs),
            nanos: u32::from_be_bytes(nanos),
        }
    }

    /// Whole seconds elapsed from `self` to `later` (0 if `later` is earlier),
    /// as `s6-svstat` computes them.
    #[must_use]
    pub fn secs_until(self, later: Tai64n) -> u64 {
        if later <= self {
            return 0;
        }
        let mut d = later.secs - self.secs;
        if later.nanos < self.nanos {
            d -= 1;
        }
        d
    }
}

/// `@` followed by 24 lowercase hex digits, as `s6-svstat -o updownsince` prints it.
impl fmt::Display for Tai64n {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{:016x}{:08x}", self.secs, self.nanos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_offset_is_37_today() {
        // Observed on real s6: unix 1795611146 -> label 0x400000006b06da2f.
        let t = Tai64n::from_unix(1_795_611_146, 701_127_457);
        assert_eq!(t.secs, 0x4000_0000_6b06_da2f);
        assert_eq!(t.unix_secs(), 1_795_611_146);
    }

    #[test]
    fn offset_before_leaps_is_10() {
        assert_eq!(Tai64n::from_unix(0, 0).secs, TAI_MAGIC + 10);
        assert_eq!(
            Tai64n::from_unix(1_000_000_000, 0).secs - TAI_MAGIC,
            1_000_000_032
        );
    }

    #[test]
    fn unix_round_trip_across_the_table() {
        for &t in &LEAPS {
            for u in [t - 1, t, t + 1, t + 86_400] {
                assert_eq!(Tai64n::from_unix(u, 0).unix_secs(), u, "unix {u}");
            }
        }
    }

    #[test]
    fn pack_unpack_and_text() {
        let t = Tai64n {
            secs: 0x4000_0000_6b06_da2f,
            nanos: 0x29ca_5b21,
        };
        assert_eq!(Tai64n::unpack(&t.pack()), t);
        assert_eq!(t.to_string(), "@400000006b06da2f29ca5b21");
    }

    #[test]
    fn secs_until_floors() {
        let a = Tai64n {
            secs: 100,
            nanos: 900,
        };
        assert_eq!(
            a.secs_until(Tai64n {
                secs: 101,
                nanos: 800
            }),
            0
        );
        assert_eq!(
            a.secs_until(Tai64n {
                secs: 101,
                nanos: 900
            }),
            1
        );
        assert_eq!(a.secs_until(Tai64n { secs: 99, nanos: 0 }), 0);
    }
}
