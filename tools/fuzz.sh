#!/bin/sh
# fuzz.sh — run svkit's cargo-fuzz targets (fuzz/fuzz_targets) under libFuzzer.
#
# usage: tools/fuzz.sh SECONDS TARGET...
#
# Each target runs for SECONDS on fuzz/corpus/TARGET (grown as it goes, not in
# git) seeded from fuzz/seeds/TARGET. A crash stops the run and leaves the input
# in fuzz/artifacts/TARGET/: copy it to fuzz/regressions/TARGET/, which
# `make test` replays (tests/integration/fuzz.rs). Needs the nightly toolchain
# and cargo-fuzz (cargo install cargo-fuzz).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 SECONDS TARGET..." >&2; exit 100; }
secs=$1
shift
cd "$(dirname "$0")/../fuzz"
for t in "$@"; do
  mkdir -p "corpus/$t"
  echo "fuzz: $t for ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1
done
