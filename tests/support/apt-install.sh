#!/usr/bin/env bash
# Installs the Debian packages named (never their "recommends"), skipping those already
# installed. Every package the Makefile and scripts need is named here by its callers, so
# a fresh machine gets exactly what a build or test needs: nothing is assumed to have come
# along with something else.
#     tests/support/apt-install.sh PACKAGE...
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "need Debian packages: ${missing[*]} (run: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
