#!/bin/sh
# bench-log.sh BIN [LINES] — log throughput: svkit's `log` against s6-log on the
# same input and script, interleaved, 5 runs each, medians and ratios.
#
# The input is LINES (default 2,000,000) numbered lines of ~50 bytes in a file,
# fed through `cat |` (a pipe, as from a service). Each script runs in a fresh
# logdir on /tmp. Output: a Markdown table on stdout.
set -eu
bin=$(realpath "$1")
lines=${2:-2000000}
s6log=$(command -v s6-log) || { echo "bench-log: s6-log is missing (apt-get install s6)" >&2; exit 100; }
work=$(mktemp -d /tmp/svkit-bench-log.XXXXXX)
trap 'rm -rf "$work"' EXIT
seq 1 "$lines" | sed 's/$/ a typical log line payload with some words/' > "$work/in"
size=$(wc -c < "$work/in")
cd "$work"   # the scripts name ./d

# One timed run: prints seconds.
run() { # run NAME SCRIPT...
  name=$1; shift
  rm -rf "$work/d"
  start=$(date +%s%N)
  if [ "$name" = svkit ]; then
    cat "$work/in" | "$bin" log -b "$@"
  else
    cat "$work/in" | "$s6log" -b "$@"
  fi
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "log throughput: $lines lines, $size bytes, through a pipe; median of 5 runs"
echo
echo "| script | svkit log | s6-log | s6-log / svkit |"
echo "|---|---|---|---|"
for script in "n20 s1000000 ./d" "n20 s1000000 T ./d" "n20 s1000000 t ./d" "- +5 n20 s1000000 ./d"; do
  : > "$work/svkit.t"; : > "$work/s6.t"
  for _ in 1 2 3 4 5; do
    # shellcheck disable=SC2086
    run svkit $script >> "$work/svkit.t"
    # shellcheck disable=SC2086
    run s6 $script >> "$work/s6.t"
  done
  a=$(median < "$work/svkit.t"); b=$(median < "$work/s6.t")
  awk -v s="$script" -v a="$a" -v b="$b" -v n="$size" 'BEGIN {
    printf "| `%s` | %.0f MB/s | %.0f MB/s | %.2f |\n", s, n / a, n / b, b / a }'
done
