#!/bin/sh
# install.sh BIN DESTDIR — lay out svkit in an s6-overlay-style tree:
#   DESTDIR/command/svkit            the multi-call binary
#   DESTDIR/command/<name>           -> svkit, for every tool, plain and s6- names
#   DESTDIR/usr/bin/<name>           -> ../../command/<name>, except the plain
#                                       names of NO_USR_BIN (see below)
#   DESTDIR/init                     -> command/svkit (the container entry point)
# The tool names come from the binary itself (svkit --list), so this script never
# goes stale when a tool is added.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 BIN DESTDIR" >&2
  exit 100
fi
bin=$1
dest=$2

mkdir -p "$dest/command" "$dest/usr/bin"
# Copy then rename, so a running svkit is never overwritten in place.
cp "$bin" "$dest/command/.svkit.new"
chmod 0755 "$dest/command/.svkit.new"
mv -f "$dest/command/.svkit.new" "$dest/command/svkit"

ln -sfn command/svkit "$dest/init"

# Plain names that belong to other programs: a /usr/bin link would replace them
# (util-linux's setsid, in every Debian/Ubuntu image, has other options; rc is
# Plan 9's shell; socklog is runit's syslog daemon; log is too generic a name to
# claim). They stay in /command, and their s6- names are in /usr/bin.
NO_USR_BIN=" setsid rc log socklog "

for name in svkit $("$dest/command/svkit" --list); do
  if [ "$name" != svkit ]; then
    ln -sfn svkit "$dest/command/$name"
  fi
  case "$NO_USR_BIN" in
    *" $name "*) continue ;;
  esac
  ln -sfn "../../command/$name" "$dest/usr/bin/$name"
done
