#!/usr/bin/env bash
# make dist: the release archives in target/dist/, and SHA256SUMS over them.
#
#   tiktok-shop-auth-VERSION-x86_64-unknown-linux-musl.tar.gz    static
#   tiktok-shop-auth-VERSION-aarch64-unknown-linux-musl.tar.gz   static
#   tiktok-shop-auth-VERSION-x86_64-pc-windows-gnu.zip
#   tiktok-shop-auth-VERSION-src.tar.gz                          (make vendor-dist)
#
# Each archive holds the binary, README.md, BENCHMARKS.md and LICENSE in a directory of its own name,
# with completions/ (bash, zsh, fish, PowerShell) and man/tiktok-shop-auth.1, which the x86_64
# binary writes (`completions SHELL`, `man`: the same on every platform).
# Reproducible: the builds run in their own target directory with this checkout's and
# Cargo's paths remapped (--remap-path-prefix), so no path of this machine is baked in;
# archive members get SOURCE_DATE_EPOCH (the commit's time) as mtime, owner 0, sorted
# names, and gzip stores no name or time. Building the same commit twice gives the same
# Linux archives byte for byte.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
dist=target/dist
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export CARGO_TARGET_DIR=${DIST_TARGET_DIR:-target/dist-build}
cargo=${CARGO:-cargo}
remap="--remap-path-prefix=$PWD=/build/tiktok-shop-auth --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"
mkdir -p "$dist"

need_target() { rustup target list --installed | grep -qx "$1" || rustup target add "$1"; }

build() { # target, then environment assignments for the C compiler and linker
  local target=$1; shift
  need_target "$target"
  echo "== building $target" >&2
  env "$@" RUSTFLAGS="$remap ${EXTRA_RUSTFLAGS:-}" "$cargo" build --release --locked --quiet --target "$target"
}

# The completion scripts and the man page, written by a binary this machine runs.
extras() { # binary
  local dir="$dist/extras"
  rm -rf "$dir" && mkdir -p "$dir/completions" "$dir/man"
  "$1" completions bash >"$dir/completions/tiktok-shop-auth.bash"
  "$1" completions zsh >"$dir/completions/_tiktok-shop-auth"
  "$1" completions fish >"$dir/completions/tiktok-shop-auth.fish"
  "$1" completions powershell >"$dir/completions/tiktok-shop-auth.ps1"
  "$1" man >"$dir/man/tiktok-shop-auth.1"
}

# A directory holding the binary, README.md, BENCHMARKS.md, LICENSE, completions/ and man/,
# with fixed times and modes.
stage() { # name binary
  local dir="$dist/$1"
  rm -rf "$dir" && mkdir -p "$dir"
  install -m 0755 "$2" "$dir/"
  install -m 0644 README.md BENCHMARKS.md LICENSE "$dir/"
  cp -r "$dist/extras/completions" "$dist/extras/man" "$dir/"
  chmod -R u=rwX,go=rX "$dir" # 0755 for the binary and the directories, 0644 for the rest
  find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
}

tarball() { # name
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$dist" -cf - "$1" | gzip -9n >"$dist/$1.tar.gz"
  rm -rf "${dist:?}/$1"
}

zipball() { # name
  python3 - "$dist" "$1" <<'PY'
import os, sys, time, zipfile
dist, name = sys.argv[1], sys.argv[2]
when = time.gmtime(max(int(os.environ["SOURCE_DATE_EPOCH"]), 315532800))[:6]  # zip cannot go before 1980
root = os.path.join(dist, name)
entries = sorted(
    os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
)
with zipfile.ZipFile(os.path.join(dist, name + ".zip"), "w", zipfile.ZIP_DEFLATED) as z:
    for entry in entries:
        info = zipfile.ZipInfo(f"{name}/{entry}", when)
        info.external_attr = (0o755 if entry.endswith(".exe") else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(os.path.join(root, entry), "rb") as f:
            z.writestr(info, f.read())
PY
  rm -rf "${dist:?}/$1"
}

# By package name, not by "is the compiler there": the aarch64 cross compiler without
# libc6-dev-arm64-cross (a "recommends", left out by --no-install-recommends) has no
# <stdint.h> for ring's C.
tests/support/apt-install.sh musl-tools gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-mingw-w64-x86-64 python3

t=x86_64-unknown-linux-musl
build $t CC_x86_64_unknown_linux_musl=musl-gcc
extras "$CARGO_TARGET_DIR/$t/release/tiktok-shop-auth"
stage "tiktok-shop-auth-$version-$t" "$CARGO_TARGET_DIR/$t/release/tiktok-shop-auth"
tarball "tiktok-shop-auth-$version-$t"

# aarch64: Debian's cross gcc compiles ring's C and drives the link; Rust's musl target
# brings its own (static) C library and start files, so the glibc cross libraries are not
# linked in.
t=aarch64-unknown-linux-musl
build $t CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
stage "tiktok-shop-auth-$version-$t" "$CARGO_TARGET_DIR/$t/release/tiktok-shop-auth"
tarball "tiktok-shop-auth-$version-$t"

# Windows: no link timestamp in the PE header.
t=x86_64-pc-windows-gnu
EXTRA_RUSTFLAGS="-C link-arg=-Wl,--no-insert-timestamp" build $t
stage "tiktok-shop-auth-$version-$t" "$CARGO_TARGET_DIR/$t/release/tiktok-shop-auth.exe"
zipball "tiktok-shop-auth-$version-$t"

make --no-print-directory vendor-dist >/dev/null

rm -rf "${dist:?}/extras"
(cd "$dist" && sha256sum -- *.tar.gz *.zip >SHA256SUMS)
echo "== $dist"
(cd "$dist" && ls -l -- *.tar.gz *.zip && cat SHA256SUMS)
