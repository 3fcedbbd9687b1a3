#!/usr/bin/env bash
# Makes Debian's chromium and chromedriver available for tests/it/real_browser.rs. Installs it with apt-get
# when missing and this user may; otherwise says so, and that test reports "SKIPPED".
set -u
command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the real-browser test (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null 2>&1; then
    exit 0
  fi
  echo "could not install chromium; the real-browser test will report itself skipped" >&2
else
  echo "chromium is not installed (and apt-get is not usable here); the real-browser test will report itself skipped" >&2
fi
exit 0
