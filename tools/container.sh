#!/bin/sh
# container.sh — run an image-like root under svkit's /init, without Docker.
#
# usage: container.sh [-r ROOT] [-b BIN] [-e NAME=VALUE]... [-w WORKDIR]
#                     [-u UID:GID] [-n] [-R] [-O] [-m] ETC [CMD...]
#
# Builds ROOT (default: a new directory under /tmp): the host's /usr overlaid
# read-only with svkit's /usr/bin links, /bin /sbin /lib* as on the host, svkit
# installed by tools/install.sh (/init, /command), the contents of ETC copied into
# /etc over a minimal base (passwd, group, hosts), an empty writable /run and /tmp.
# Then runs /init CMD... as PID 1 of new PID, mount, network and UTS namespaces
# (with a private tmpfs /dev holding the usual nodes, as Docker's),
# chrooted into ROOT, with an environment like Docker's (PATH, HOSTNAME, HOME and
# the -e variables). The exit status is /init's. Run as root; otherwise a user
# namespace maps the caller to root in the container (one uid only).
#   -n   run /init as a child of a shell that is PID 1 (like docker --init)
#   -R   make /run read-only (to test a container without a writable /run)
#   -O   a read-only root with a noexec tmpfs on /run (docker run --read-only
#        --tmpfs /run, whose tmpfs is noexec and mode 1777 by default)
#   -u   run /init as UID:GID (Docker's USER), with no other groups
#   -m   minimal: ROOT already holds the whole image (svkit from a release
#        tarball, a libc-free busybox…); nothing of the host is put in it, and
#        /init is started with the host's env and chroot (-w is ignored)
# ROOT is left in place for inspection; the caller removes it.
set -eu

root= bin= workdir=/ notpid1= rorun= minimal= roroot= user=
vars=
nl='
'
while getopts r:b:e:w:u:nRmO opt; do
  case $opt in
    r) root=$OPTARG ;;
    b) bin=$OPTARG ;;
    e) vars=$vars$OPTARG$nl ;;
    w) workdir=$OPTARG ;;
    n) notpid1=1 ;;
    R) rorun=1 ;;
    m) minimal=1 ;;
    O) roroot=1 ;;
    u) user=$OPTARG ;;
    *) echo "usage: $0 [-r ROOT] [-b BIN] [-e NAME=VALUE]... [-w DIR] [-u UID:GID] [-n] [-R] [-O] [-m] ETC [CMD...]" >&2; exit 100 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "$0: usage: container.sh [options] ETC [CMD...]" >&2; exit 100; }
etc=$(realpath "$1")
shift
here=$(dirname "$(realpath "$0")")
[ -n "$bin" ] || bin=$here/../target/release/svkit
bin=$(realpath "$bin")
[ -n "$root" ] || root=$(mktemp -d /tmp/svkit-root.XXXXXX)
mkdir -p "$root"
chmod 0755 "$root" # an image's root, whatever mktemp made
root=$(realpath "$root")

# The image: svkit, /etc, and the mount points.
mkdir -p "$root/etc" "$root/proc" "$root/dev" "$root/tmp" "$root/run" "$root/var" "$root/root"
if [ -z "$minimal" ]; then
  sh "$here/install.sh" "$bin" "$root"
  mv "$root/usr" "$root/.svkit-usr"
  mkdir -p "$root/usr"
  for d in bin sbin lib lib64 lib32 libx32; do
    if [ -L "/$d" ]; then
      ln -sfn "$(readlink "/$d")" "$root/$d"
    elif [ -d "/$d" ]; then
      mkdir -p "$root/$d"
    fi
  done
  for f in passwd group hosts nsswitch.conf; do
    if [ -e "/etc/$f" ]; then cp "/etc/$f" "$root/etc/$f"; fi
  done
fi
cp -a "$etc/." "$root/etc/"
envfile=$root/.svkit-env
printf '%s' "$vars" > "$envfile"

# Inside new namespaces: mounts that vanish with the container, then /init.
export SVKIT_ROOT="$root" SVKIT_NOTPID1="$notpid1" SVKIT_RORUN="$rorun" SVKIT_MINIMAL="$minimal" SVKIT_ROROOT="$roroot" \
  SVKIT_ENVFILE="$envfile" SVKIT_WORKDIR="$workdir" SVKIT_USER="$user"
userns=
[ "$(id -u)" = 0 ] || userns="--user --map-root-user"
# shellcheck disable=SC2086
exec unshare $userns --mount --pid --fork --net --uts --kill-child sh -c '
  set -eu
  r=$SVKIT_ROOT
  mount --make-rprivate /
  if [ -n "$SVKIT_ROROOT" ]; then
    mount --bind "$r" "$r" && mount -o remount,bind,ro "$r"
    mount -t tmpfs -o noexec,nosuid,nodev,mode=1777 tmpfs "$r/run"
  fi
  if [ -z "$SVKIT_MINIMAL" ]; then
    mount -t overlay overlay -o "lowerdir=$r/.svkit-usr:/usr" "$r/usr"
    for d in bin sbin lib lib64 lib32 libx32; do
      if [ -d "/$d" ] && [ ! -L "/$d" ]; then
        mount --bind "/$d" "$r/$d" && mount -o remount,bind,ro "$r/$d"
      fi
    done
  fi
  mount -t proc proc "$r/proc"
  # A private /dev, as Docker gives: a tmpfs with the usual nodes bound in, so
  # what the container creates there (/dev/log) stays in the container.
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$r/dev"
  for n in null zero full random urandom tty; do
    : > "$r/dev/$n" && mount --bind "/dev/$n" "$r/dev/$n"
  done
  mkdir "$r/dev/pts" "$r/dev/shm"
  mount --bind /dev/pts "$r/dev/pts"
  ln -s pts/ptmx "$r/dev/ptmx"
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"
  ln -s /proc/self/fd/1 "$r/dev/stdout"
  ln -s /proc/self/fd/2 "$r/dev/stderr"
  mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
  if [ -n "$SVKIT_RORUN" ]; then
    mount --bind "$r/run" "$r/run" && mount -o remount,bind,ro "$r/run"
  fi
  ip link set lo up 2>/dev/null || true
  hostname svkit-container
  # chroot [--userspec...] ROOT ARGS...: /init as SVKIT_USER when given (USER).
  chroot_args() {
    if [ -n "$SVKIT_USER" ]; then
      printf "%s\n" --userspec="$SVKIT_USER" --groups="${SVKIT_USER#*:}"
    fi
  }
  if [ -n "$SVKIT_MINIMAL" ]; then
    # The image may have no env(1): the host'"'"'s env and chroot set it up.
    set -- "$r" /init "$@"
    for a in $(chroot_args); do set -- "$a" "$@"; done
    set -- "$(command -v chroot)" "$@"
    while IFS= read -r kv; do set -- "$kv" "$@"; done < "$SVKIT_ENVFILE"
    exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOSTNAME=svkit-container HOME=/root "$@"
  fi
  # argv: env -i -C WORKDIR <Docker-like env> <-e vars> /init CMD...
  if [ -n "$SVKIT_NOTPID1" ]; then
    set -- /bin/sh -c "/init \"\$@\"; exit \$?" sh "$@"
  else
    set -- /init "$@"
  fi
  while IFS= read -r kv; do set -- "$kv" "$@"; done < "$SVKIT_ENVFILE"
  set -- env -i -C "$SVKIT_WORKDIR" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOSTNAME=svkit-container HOME=/root "$@"
  set -- "$r" "$@"
  for a in $(chroot_args); do set -- "$a" "$@"; done
  exec chroot "$@"
' container "$@"
