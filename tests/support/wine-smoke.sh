#!/usr/bin/env bash
# make test-windows: the Windows build, run under Debian's wine, against the Linux build's
# sandbox, with the scripted browser as $BROWSER (wine starts Unix programs too).
# Prints one line per command with its exit code, then "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
exe=target/x86_64-pc-windows-gnu/release/tiktok-shop-auth.exe
linux=target/release/tiktok-shop-auth
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
work=$(mktemp -d "${TMPDIR:-/tmp}/tsa-wine.XXXXXX")
sandbox_pid=
cleanup() { [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; wineserver -k 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export WINEPREFIX="$PWD/target/wineprefix" WINEDEBUG=-all
cp "$exe" "$work/"
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" tests/support/wine/bcryptprimitives.c -ladvapi32
[ -d "$WINEPREFIX" ] || { echo "creating the wine prefix (once)"; "$wine" wineboot --init >/dev/null 2>&1 || true; }

export TIKTOK_SHOP_APP_KEY=winekey TIKTOK_SHOP_APP_SECRET=wine-secret-123 TIKTOK_SHOP_SERVICE_ID=7001
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redirect="http://127.0.0.1:$port/"
"$linux" sandbox --listen 127.0.0.1:0 --auto-approve --redirect-url "$redirect" >"$work/sandbox.out" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do grep -q listening "$work/sandbox.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.out")
export TIKTOK_SHOP_AUTHORIZE_URL="$base/open/authorize" TIKTOK_SHOP_AUTH_BASE="$base" TIKTOK_SHOP_API_BASE="$base"
export TIKTOK_SHOP_REDIRECT_URL="$redirect" TIKTOK_SHOP_TOKEN_FILE=token.json
export BROWSER="$(command -v python3) $PWD/tests/support/browser.py $work/browser.log redirect=$redirect,auto"

passed=0 failed=0
run() { # name expected-exit command...
  local name=$1 expected=$2; shift 2
  (cd "$work" && timeout 120 "$wine" ./tiktok-shop-auth.exe "$@") >"$work/out" 2>"$work/err"
  local code=$?
  if [ "$code" = "$expected" ]; then passed=$((passed + 1)); echo "ok   $name: exit $code"
  else failed=$((failed + 1)); echo "FAIL $name: exit $code, expected $expected"; sed 's/^/     /' "$work/err" | tail -5; fi
}
check() { # name condition...
  if "${@:2}"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

run "--version" 0 --version
check "--version prints the version" grep -q '^tiktok-shop-auth ' "$work/out"
run "--help" 0 --help
run "login (scripted browser through the sandbox)" 0 login --timeout 30
check "login saved the token file" grep -q '"access_token"' "$work/token.json"
check "the browser got the granted page" grep -q 'Authorized and saved' "$work/browser.log"
before=$(grep refresh_token\" "$work/token.json")
run "refresh" 0 refresh
check "refresh rotated the refresh token" test "$before" != "$(grep refresh_token\" "$work/token.json")"
run "refresh --if-expiring-within 2d (no request)" 0 refresh --if-expiring-within 2d
run "status" 0 status
run "token" 0 token
check "token prints the saved access token" grep -q "$(tr -d '\r' <"$work/out")" "$work/token.json"
run "shops (signed call)" 0 shops
run "status on a missing file" 5 status --token-file missing.json
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
