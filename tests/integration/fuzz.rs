//! The fuzz targets of `fuzz/` on the stable toolchain: each parser gets its
//! seeds, its saved regressions and a deterministic batch of mutations of them
//! (a short run for `make test`; `cargo +nightly fuzz run TARGET` runs long).
//! A failure names the input and saves it under target/fuzz-failures/.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// xorshift64*: the mutations are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// Bytes that matter to some parser: NUL, newline, quotes, blocks, escapes,
/// selection and action characters, the rc separator.
const INTERESTING: &[u8] = b"\0\n\r\t \"'{}\\#$+-!=^.*[]()0x9\xff";

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = u8::try_from(rng.below(256)).unwrap_or(0);
            }
            2 => {
                let b = INTERESTING[rng.below(INTERESTING.len())];
                input.insert(rng.below(len + 1), b);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below(len - at) + 1;
                input.drain(at..at + n);
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64)) + 1;
                let piece = input[at..at + n].to_vec();
                let to = rng.below(input.len() + 1);
                input.splice(to..to, piece);
            }
            5 if !other.is_empty() => {
                let at = rng.below(other.len());
                let to = rng.below(len + 1);
                input.splice(to.., other[at..].iter().copied());
            }
            _ => input.push(u8::try_from(rng.below(256)).unwrap_or(0)),
        }
    }
    input.truncate(4096);
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    names.sort();
    names.into_iter().filter_map(|p| fs::read(p).ok()).collect()
}

/// Runs `target` on its seeds, its regressions, then `rounds` mutations.
fn fuzz(name: &str, target: fn(&[u8]), rounds: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut corpus = files(&root.join("seeds").join(name));
    assert!(!corpus.is_empty(), "fuzz/seeds/{name} has seeds");
    corpus.extend(files(&root.join("regressions").join(name)));
    let check = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-failures");
            let _ = fs::create_dir_all(&dir);
            let saved = dir.join(format!("{name}-{what}"));
            let _ = fs::write(&saved, input);
            panic!(
                "fuzz target {name} failed on {what} (saved as {}; add it to fuzz/regressions/{name}/): {input:02x?}",
                saved.display()
            );
        }
    };
    for (i, input) in corpus.iter().enumerate() {
        check(input, &format!("corpus-{i}"));
    }
    let mut rng =
        Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64 ^ (u64::from(name.as_bytes()[0]) << 32));
    for round in 0..rounds {
        let mut input = corpus[rng.below(corpus.len())].clone();
        let other = corpus[rng.below(corpus.len())].clone();
        mutate(&mut rng, &mut input, &other);
        check(&input, &format!("round-{round}"));
        // Inputs that parse far are worth mutating again: keep a few.
        if corpus.len() < 256 && rng.below(16) == 0 {
            corpus.push(input);
        }
    }
}

#[test]
fn fuzz_status_codec() {
    fuzz("status", svkit_core::fuzz::status, 200_000);
}

#[test]
fn fuzz_envdir_values_and_names() {
    fuzz("envdir", svkit_core::fuzz::envdir, 200_000);
}

#[test]
fn fuzz_supervise_state_machine() {
    fuzz("machine", svkit_supervise::fuzz::machine, 200_000);
}

#[test]
fn fuzz_execline_lexer() {
    fuzz("execline", svkit_execline::fuzz::lex, 200_000);
}

#[test]
fn fuzz_log_script_parser() {
    fuzz("log_script", svkit_log::fuzz::script, 50_000);
}

#[test]
fn fuzz_rc_source_reader() {
    fuzz("rc_source", svkit_rc::fuzz::source, 2_000);
}
