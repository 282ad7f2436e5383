#!/bin/sh
# demo.sh [BIN] — the seed sample (s6-overlay's two-service example) as a container
# under svkit's /init, in tools/container.sh: no Docker needed. It boots, shows the
# process tree, the services' status and an HTTP answer, then sends SIGTERM to
# PID 1 like `docker stop`, and shows the finish scripts and the exit code.
set -eu
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-target/release/svkit}")

work=$(mktemp -d /tmp/svkit-demo.XXXXXX)
chmod 755 "$work"
harness=
cleanup() {
  [ -n "$harness" ] && kill "$harness" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say '$ docker run -e PORT=8080 -e S6_LOGGING_PREFIX=1 seed-sample   # here: tools/container.sh'
sh tools/container.sh -r "$work/root" -b "$bin" -e PORT=8080 -e S6_LOGGING_PREFIX=1 tools/sample/etc &
harness=$!

# The container's PID 1 is the child of the harness once it has become unshare;
# the services appear under the container's /run.
init=
i=0
until [ -n "$init" ]; do
  if [ "$(cat "/proc/$harness/comm" 2>/dev/null)" = unshare ]; then
    init=$(cut -d' ' -f1 "/proc/$harness/task/$harness/children" 2>/dev/null)
  fi
  i=$((i + 1)); [ $i -lt 500 ] || { echo "demo: the container did not start" >&2; exit 1; }
  [ -n "$init" ] || sleep 0.01
done
for s in service1 service2; do
  dir=$work/root/run/s6/legacy-services/$s
  i=0
  until "$bin" svok "$dir" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 1000 ] || { echo "demo: $s was not started" >&2; exit 1; }
    sleep 0.01
  done
  "$bin" svwait -u "$dir"
done

inside() { nsenter -t "$init" -m -p -n -r -w "$@"; }

say '$ docker exec seed-sample ps -e -o pid,ppid,args --forest'
inside ps -e -o pid,ppid,args --forest
say '$ docker exec seed-sample s6-svstat /run/service/service1 /run/service/service2'
inside /command/s6-svstat /run/service/service1 /run/service/service2
say '$ docker exec seed-sample python3 -c "…urlopen(\"http://127.0.0.1:8080/\")…"'
i=0
until inside python3 -c 'import urllib.request as u; r = u.urlopen("http://127.0.0.1:8080/"); print("HTTP", r.status, "from service1")' 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 500 ] || { echo "demo: service1 does not answer" >&2; exit 1; }
  sleep 0.01
done

say '$ docker kill --signal=TERM seed-sample'
start=$(date +%s%N)
kill -TERM "$init"
code=0
wait "$harness" || code=$?
harness=
end=$(date +%s%N)
say "container exited with status $code, $(( (end - start) / 1000000 )) ms after SIGTERM"
