#!/bin/sh
# deps.sh [--bench] — install from Debian what svkit's tests (and, with --bench,
# its benchmarks) need and a fresh machine lacks. Used by .ci/run and make bench.
#
# Tests: Debian's s6 (2.11.3.2) is the compatibility oracle; python3 runs a
# splice-based logger in the no-lost-lines test; util-linux gives unshare,
# nsenter and setpriv, bsdutils script and logger (PID 1, container, non-root,
# terminal and syslog tests); iproute2 brings the containers' loopback up;
# busybox-static is the libc-free image the release tarball is tested in, and
# the musl target builds that tarball (make dist). Benchmarks: the peers, runit
# and daemontools.
set -eu
export DEBIAN_FRONTEND=noninteractive
need=
[ -x /usr/bin/s6-svstat ] || need="$need s6"
[ -x /usr/bin/python3 ] || need="$need python3"
for tool in unshare setpriv nsenter; do
  command -v $tool >/dev/null || need="$need util-linux"
done
for tool in script logger; do
  command -v $tool >/dev/null || need="$need bsdutils"
done
command -v ip >/dev/null || need="$need iproute2"
[ -x /bin/busybox ] || need="$need busybox-static"
if [ "${1:-}" = --bench ]; then
  [ -x /usr/bin/runsvdir ] || need="$need runit"
  [ -x /usr/bin/svscan ] || need="$need daemontools"
fi
if [ -n "$need" ]; then
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $need
fi
if command -v rustup >/dev/null; then
  rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
    || rustup target add x86_64-unknown-linux-musl
fi
