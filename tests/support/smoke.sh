#!/usr/bin/env bash
# The smoke sequence every shipped binary goes through, against the Linux build's sandbox,
# with the scripted browser as $BROWSER:
#     tests/support/smoke.sh BINARY [RUNNER...]
# RUNNER runs a binary of another architecture or system: `qemu-aarch64`, or wine (whose
# Windows programs can start Unix ones, so the same scripted browser works). Prints one
# line per step with its exit code, then "N passed, M failed"; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "$1"); shift
runner=("$@")
linux=${SMOKE_SANDBOX:-target/release/tiktok-shop-auth}
work=$(mktemp -d "${TMPDIR:-/tmp}/tsa-smoke.XXXXXX")
sandbox_pid=
cleanup() { [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

export TIKTOK_SHOP_APP_KEY=smokekey TIKTOK_SHOP_APP_SECRET=smoke-secret-123 TIKTOK_SHOP_SERVICE_ID=7001
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
run() { # name expected-exit args...
  local name=$1 expected=$2; shift 2
  (cd "$work" && timeout 120 "${runner[@]}" "$bin" "$@") >"$work/out" 2>"$work/err"
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
printed=$(tr -d '\r' <"$work/out")
saved=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["data"]["access_token"])' "$work/token.json")
check "token prints the saved access token, and only it" test -n "$printed" -a "$printed" = "$saved"
run "shops (signed call)" 0 shops
run "api /seller/202309/shops (signed call)" 0 api /seller/202309/shops
check "api printed TikTok's answer" grep -q '"code": 0' "$work/out"
run "status on a missing file" 5 status --token-file missing.json
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
