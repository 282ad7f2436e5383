#!/bin/sh
# lint.sh — the checks that need no test run: formatting, clippy, and the rules
# of the test suite (no sleep outside poll_until, no dbg!/todo!).
set -eu
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

bad=$(grep -rn 'thread::sleep' tests | grep -v 'tests/util/mod.rs' || true)
if [ -n "$bad" ]; then
  echo "lint: tests must wait on events or poll_until, not sleep:" >&2
  echo "$bad" >&2
  exit 1
fi
bad=$(grep -rnE '\b(dbg|todo|unimplemented)!' crates src tests || true)
if [ -n "$bad" ]; then
  echo "lint: leftover debugging macros:" >&2
  echo "$bad" >&2
  exit 1
fi
echo "lint: ok"
