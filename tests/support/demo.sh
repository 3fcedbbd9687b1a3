#!/usr/bin/env bash
# make demo: the whole flow against the built-in sandbox, on a free loopback port.
# Uses a real browser when this session has a display and an opener; otherwise the scripted
# browser (tests/support/browser.py) clicks "Authorize" on the sandbox's page.
set -euo pipefail
bin=${1:-target/release/tiktok-shop-auth}
work=$(mktemp -d "${TMPDIR:-/tmp}/tiktok-shop-auth-demo.XXXXXX")
sandbox_pid=
receiver_pid=
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null
  [ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

export TIKTOK_SHOP_APP_KEY=demo_app_key
export TIKTOK_SHOP_APP_SECRET=demo-secret-not-real
export TIKTOK_SHOP_SERVICE_ID=7001
export TIKTOK_SHOP_TOKEN_FILE="$work/tokens/tiktok-shop-token.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export TIKTOK_SHOP_REDIRECT_URL="http://localhost:$port/"

"$bin" sandbox --listen 127.0.0.1:0 >"$work/sandbox.out" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do grep -q listening "$work/sandbox.out" 2>/dev/null && break; sleep 0.05; done
base=$(sed -n 's/^sandbox listening on //p' "$work/sandbox.out")
export TIKTOK_SHOP_AUTHORIZE_URL="$base/open/authorize" TIKTOK_SHOP_AUTH_BASE="$base" TIKTOK_SHOP_API_BASE="$base"
echo "== sandbox at $base (its request log follows at the end)"

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && command -v xdg-open >/dev/null && [ -z "${BROWSER:-}" ]; then
  echo "== opening your browser: click Authorize on the sandbox page"
else
  export BROWSER="python3 $(pwd)/tests/support/browser.py $work/browser.log redirect=$TIKTOK_SHOP_REDIRECT_URL,approve"
  echo "== no display: a scripted browser will click Authorize"
fi

echo "== tiktok-shop-auth login"
"$bin" login
echo
echo "== the saved file ($(stat -c '%a' "$TIKTOK_SHOP_TOKEN_FILE" 2>/dev/null || echo '?') $TIKTOK_SHOP_TOKEN_FILE)"
cat "$TIKTOK_SHOP_TOKEN_FILE"
echo
echo "== tiktok-shop-auth refresh"
"$bin" refresh
echo "== tiktok-shop-auth status"
"$bin" status
echo "== tiktok-shop-auth shops"
"$bin" shops
echo
echo "== tiktok-shop-auth api POST /order/202309/orders/search --query page_size=2 --data '{\"order_status\": \"AWAITING_SHIPMENT\"}'"
echo "   (signed over the body; the one shop's cipher added; the answer as TikTok sent it)"
"$bin" api POST /order/202309/orders/search --query page_size=2 --data '{"order_status": "AWAITING_SHIPMENT"}'
echo
echo "== tiktok-shop-auth api /seller/202309/shops --dry-run   (nothing sent: what would be, and the signature's input)"
"$bin" api /seller/202309/shops --dry-run
echo
echo "== tiktok-shop-auth exec --shop GB -- sh -c '...'   (the token in the environment, never on a command line)"
"$bin" exec --shop GB -- sh -c 'echo "child sees TIKTOK_SHOP_ACCESS_TOKEN=$(printf %.6s "$TIKTOK_SHOP_ACCESS_TOKEN")… TIKTOK_SHOP_SHOP_ID=$TIKTOK_SHOP_SHOP_ID TIKTOK_SHOP_SHOP_CIPHER=$TIKTOK_SHOP_SHOP_CIPHER secret=${TIKTOK_SHOP_APP_SECRET:-(not passed)}"'
echo
echo "== webhooks: a receiver on loopback (tests/support/demo_receiver.py, the README's recipe: it"
echo "   checks every delivery with \`tiktok-shop-auth webhook verify\` and handles each id once)"
python3 tests/support/demo_receiver.py 0 --tool "$bin" --port-file "$work/receiver.port" >"$work/receiver.out" 2>&1 &
receiver_pid=$!
for _ in $(seq 100); do [ -s "$work/receiver.port" ] && break; sleep 0.05; done
hook="http://127.0.0.1:$(cat "$work/receiver.port")/tiktok/events"
echo "== tiktok-shop-auth webhook subscribe SELLER_DEAUTHORIZATION $hook"
"$bin" webhook subscribe SELLER_DEAUTHORIZATION "$hook"
echo "== tiktok-shop-auth webhook list"
"$bin" webhook list
echo "== the seller revokes the app (the sandbox's control: POST $base/sandbox/revoke)"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="POST")).read().decode())' "$base/sandbox/revoke"
for _ in $(seq 200); do grep -q "receiver: valid signature" "$work/receiver.out" 2>/dev/null && break; sleep 0.05; done
echo "== what the receiver got"
cat "$work/receiver.out"
echo "== tiktok-shop-auth refresh   (the grant is gone: exit 5, a new login is needed)"
status=0
"$bin" refresh || status=$?
echo "(exit status $status)"
[ "$status" = 5 ] || { echo "demo: expected refresh to exit 5 after the revoke" >&2; exit 1; }
echo
echo "== the sandbox's request log (secrets masked)"
cat "$work/sandbox.log"
