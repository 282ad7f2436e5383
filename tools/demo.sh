#!/bin/sh
# demo.sh [BIN] — one supervised service, driven and inspected with svkit's tools.
# Everything happens in a throwaway directory; the demo stops by itself.
set -eu
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/svkit}")

work=$(mktemp -d /tmp/svkit-demo.XXXXXX)
sup=
cleanup() {
  [ -n "$sup" ] && kill "$sup" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Install the tools under $work/root, s6-overlay style, and call them by path.
sh tools/install.sh "$bin" "$work/root"
cmd=$work/root/command

# A service that says hello, tells its supervisor it is ready (a newline on fd 3),
# then waits; and a finish script that reports how it ended.
svc_dir=$work/hello
mkdir -p "$svc_dir"
cat > "$svc_dir/run" <<'RUN'
#!/bin/sh
echo "hello: running as pid $$"
echo >&3
exec sleep 100000
RUN
cat > "$svc_dir/finish" <<'FINISH'
#!/bin/sh
echo "hello: finish called with: $*"
FINISH
chmod +x "$svc_dir/run" "$svc_dir/finish"
echo 3 > "$svc_dir/notification-fd"

# step TOOL ARGS...: show the command as a user would type it, then run it.
step() {
  tool=$1
  shift
  printf '\n$ %s %s\n' "$tool" "$*"
  "$cmd/$tool" "$@"
}

cd "$work"
printf '$ supervise hello &\n'
"$cmd/supervise" hello &
sup=$!
# svwait needs the supervisor's status file; it is there as soon as svok says yes.
i=0
until "$cmd/svok" hello; do
  i=$((i + 1)); [ $i -lt 500 ] || { echo "demo: supervise did not start" >&2; exit 1; }
  sleep 0.01
done

step svwait -U hello
step svstat hello
step svstat -o up,ready,pid,normallyup hello
step svstat --json hello
step svc -wR -k hello          # SIGKILL it; wait until it is back and ready
step svstat hello
step svc -wD -d hello          # stop it; wait until finish has run
step svstat hello
step svc -wU -u hello          # start it again
step svc -wD -xd hello         # stop it and let the supervisor exit
wait "$sup"
echo "supervise exited with status $?"
sup=
step svok hello || echo "(svok: exit $? - nothing supervises hello any more)"
