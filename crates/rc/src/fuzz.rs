//! Fuzzing entry point for the s6-rc source reader and compiler (`fuzz/` holds
//! the cargo-fuzz target; `make test` runs a seeded batch).
//!
//! Invariants: any source tree is read and checked without a panic; when the
//! checks find nothing fatal, the database is written and reads back.
// A broken property must stop the fuzzer: panicking is this module's job.
#![allow(clippy::panic, clippy::expect_used)]

use std::fs;
use std::path::PathBuf;

/// The files a definition may hold, as the fuzzer picks them.
const FILES: &[&str] = &[
    "type",
    "dependencies",
    "contents",
    "up",
    "down",
    "run",
    "finish",
    "notification-fd",
    "producer-for",
    "consumer-for",
    "pipeline-name",
    "timeout-up",
    "timeout-down",
    "flag-essential",
    "dependencies.d",
    "contents.d",
];

/// Builds a source tree of up to four services (`s0`…`s3`) from `data` —
/// pieces separated by 0xFF, each naming a service and a file by its first byte
/// and holding the rest — then compiles it.
pub fn source(data: &[u8]) {
    let root = std::env::temp_dir().join(format!("svkit-fuzz-rc-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let src = root.join("src");
    for piece in data.split(|&b| b == 0xff) {
        let Some((&pick, content)) = piece.split_first() else {
            continue;
        };
        let dir = src.join(format!("s{}", pick % 4));
        let file = FILES[usize::from(pick / 4) % FILES.len()];
        let r = if file.ends_with(".d") {
            // An entry of a list directory: its name comes from the content.
            let name = format!("s{}", content.first().copied().unwrap_or(0) % 5);
            fs::create_dir_all(dir.join(file))
                .and_then(|()| fs::write(dir.join(file).join(name), ""))
        } else {
            fs::create_dir_all(&dir).and_then(|()| fs::write(dir.join(file), content))
        };
        if r.is_err() {
            return;
        }
    }
    let sources: Vec<PathBuf> = vec![src];
    let (g, problems) = crate::db::check(&sources);
    if problems.fatal.is_empty() {
        let db = root.join("db");
        crate::db::write(&g, &db).expect("a checked database can be written");
        crate::db::load(&db).expect("a written database reads back");
    }
    let _ = fs::remove_dir_all(&root);
}
