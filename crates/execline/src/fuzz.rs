//! Fuzzing entry point for the execline lexer (`fuzz/` holds the cargo-fuzz
//! target; `make test` runs a seeded batch).
//!
//! Invariant: any script lexes or is refused with an error, never a panic, and
//! no word holds a NUL (a NUL ends the script, as in C).

/// Lexes `data` as an execline script.
pub fn lex(data: &[u8]) {
    if let Ok(words) = crate::lexer::parse(data) {
        assert!(words.iter().all(|w| !w.contains(&0)), "a NUL in a word");
    }
}
