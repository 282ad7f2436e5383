#!/bin/sh
# dist.sh [OUTDIR] — the release: a static (musl) svkit for each architecture
# whose Rust target is installed, laid out for `ADD`/`COPY` at / (/init,
# /command/<every tool and s6- name>, /usr/bin links, docs in
# /usr/share/doc/svkit), as OUTDIR/svkit-VERSION-ARCH.tar.gz (ARCH in Docker's
# names: amd64, arm64) with a .sha256 beside it.
#
# Reproducible: the binary is built with the checkout's path remapped, the
# archive lists files in name order with uid/gid 0, modes as installed and every
# mtime set to the last commit's time (SOURCE_DATE_EPOCH), and gzip stores no
# name or time. Building twice gives the same bytes.
set -eu
cd "$(dirname "$0")/.."
out=${1:-dist}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
export RUSTFLAGS="${RUSTFLAGS:-} --remap-path-prefix=$(pwd)=/svkit --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"

installed=$(rustup target list --installed 2>/dev/null || echo x86_64-unknown-linux-musl)
mkdir -p "$out"
built=0
for pair in x86_64:amd64 aarch64:arm64; do
  triple=${pair%%:*}-unknown-linux-musl
  arch=${pair#*:}
  case "$installed" in
    *"$triple"*) ;;
    *) echo "dist: $triple is not installed: no $arch tarball (rustup target add $triple)" >&2; continue ;;
  esac
  if ! cargo build --release --locked --target "$triple" --bin svkit; then
    echo "dist: cannot build for $triple here (no cross linker?): no $arch tarball" >&2
    continue
  fi
  stage=$(mktemp -d)
  sh tools/install.sh "target/$triple/release/svkit" "$stage/root" >/dev/null
  mkdir -p "$stage/root/usr/share/doc/svkit"
  cp README.md "$stage/root/usr/share/doc/svkit/"
  cp docs/*.md "$stage/root/usr/share/doc/svkit/"
  chmod -R u=rwX,go=rX "$stage/root/usr/share/doc"
  name=svkit-$version-$arch.tar.gz
  (cd "$stage/root" && tar --sort=name --owner=0 --group=0 --numeric-owner \
      --mtime="@$SOURCE_DATE_EPOCH" --format=gnu -cf - init command usr) \
    | gzip -9n > "$out/$name"
  (cd "$out" && sha256sum "$name" > "$name.sha256")
  rm -rf "$stage"
  echo "dist: $out/$name ($(wc -c < "$out/$name") bytes; binary $(wc -c < "target/$triple/release/svkit") bytes)"
  built=$((built + 1))
done
[ "$built" -gt 0 ] || { echo "dist: nothing built" >&2; exit 111; }
