#!/usr/bin/env bash
# Installs Debian packages the Makefile needs (musl-tools, mingw-w64, wine), once.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "need Debian packages: $* (run: sudo apt-get install $*)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
