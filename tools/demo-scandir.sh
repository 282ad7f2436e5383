#!/bin/sh
# demo.sh [BIN] — a scan directory with three services (one with a logger), run
# by svscan and driven with svkit's tools. Everything happens in a throwaway
# directory; the demo stops by itself.
set -eu
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/svkit}")

work=$(mktemp -d /tmp/svkit-demo.XXXXXX)
scanner=
cleanup() {
  [ -n "$scanner" ] && kill "$scanner" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Install the tools under $work/root, s6-overlay style, and call them by path.
sh tools/install.sh "$bin" "$work/root"
cmd=$work/root/command

# step TOOL ARGS...: show the command as a user would type it, then run it.
step() {
  tool=$1
  shift
  printf '\n$ %s %s\n' "$tool" "$*"
  "$cmd/$tool" "$@"
}

script() { # script FILE BODY: an executable sh script
  printf '#!/bin/sh\n%s\n' "$2" > "$1"
  chmod +x "$1"
}

scan=$work/scan
mkdir -p "$scan/hello" "$scan/ticker/log" "$scan/flaky"

# hello: says it is ready (a newline on fd 3), then waits.
script "$scan/hello/run" 'echo "hello: up as pid $$"
echo >&3
exec sleep 100000'
echo 3 > "$scan/hello/notification-fd"
script "$scan/hello/finish" 'echo "hello: finish $1 $2"'

# ticker: numbered lines on stdout, kept by its logger through a pipe svscan holds.
script "$scan/ticker/run" 'i=0
while :; do i=$((i+1)); echo "tick $i"; sleep 0.1; done'
script "$scan/ticker/log/run" 'exec cat >> ../../../ticker.log'

# flaky: dies after a moment; restarted at most once a second.
script "$scan/flaky/run" 'echo "flaky: started"
sleep 0.3
exit 3'
script "$scan/flaky/finish" 'echo "flaky: finish $1 $2 (exit code, signal)"'

cd "$work"
printf '$ svscan scan &\n'
"$cmd/svscan" scan &
scanner=$!
# svwait needs a supervisor's status file: wait until svok sees each supervisor.
for d in hello ticker ticker/log; do
  i=0
  until "$cmd/svok" "scan/$d"; do
    i=$((i + 1)); [ $i -lt 500 ] || { echo "demo: no supervisor for $d" >&2; exit 1; }
    sleep 0.01
  done
done

step svwait -U scan/hello
step svwait -u scan/ticker scan/ticker/log
step svstat scan/hello scan/ticker scan/ticker/log scan/flaky
step svstat -o up,ready,pid,normallyup scan/hello
step svstat --json scan/hello

printf '\n# The logger is killed; the ticker keeps writing into the pipe svscan holds.\n'
log_pid=$("$cmd/svstat" -o pid scan/ticker/log)
step svc -wr -k scan/ticker/log      # SIGKILL the logger, wait until a new one runs
sleep 0.5
printf '\n$ tail -n 3 ticker.log   # (%s lines, none missing)\n' "$(wc -l < ticker.log)"
tail -n 3 ticker.log
awk -v n=0 '{ n++; if ($2 != n) { print "demo: line " n " missing"; exit 1 } }' ticker.log
echo "(the logger was pid $log_pid; it is now pid $("$cmd/svstat" -o pid scan/ticker/log))"

step svc -wR -r scan/hello          # restart it, wait until it is back and ready
step svstat scan/hello scan/flaky

printf '\n# Stop the whole tree: every service gets TERM, finish scripts run.\n'
step svscanctl -t scan
wait "$scanner"
echo "svscan exited with status $?"
scanner=
step svok scan/hello || echo "(svok: exit $? - nothing supervises hello any more)"
