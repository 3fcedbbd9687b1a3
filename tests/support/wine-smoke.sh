#!/usr/bin/env bash
# make test-windows: the Windows build run under Debian's wine through the smoke sequence
# (tests/support/smoke.sh). Usage: wine-smoke.sh [EXE]
#
# Rust's std needs bcryptprimitives.dll!ProcessPrng, which wine 8 lacks: a 10-line
# stand-in (forwarding to RtlGenRandom) is built beside a copy of the .exe.
set -uo pipefail
cd "$(dirname "$0")/../.."
exe=${1:-target/x86_64-pc-windows-gnu/release/tiktok-shop-auth.exe}
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
dir=$(mktemp -d "${TMPDIR:-/tmp}/tsa-wine.XXXXXX")
trap 'wineserver -k 2>/dev/null; rm -rf "$dir"' EXIT
export WINEPREFIX="$PWD/target/wineprefix" WINEDEBUG=-all
cp "$exe" "$dir/tiktok-shop-auth.exe"
x86_64-w64-mingw32-gcc -shared -O2 -o "$dir/bcryptprimitives.dll" tests/support/wine/bcryptprimitives.c -ladvapi32
[ -d "$WINEPREFIX" ] || { echo "creating the wine prefix (once)"; "$wine" wineboot --init >/dev/null 2>&1 || true; }
tests/support/smoke.sh "$dir/tiktok-shop-auth.exe" "$wine"
