#!/usr/bin/env bash
# What `make test` needs beyond cargo and python3, installed by name when missing:
# Debian's chromium and chromium-driver (and a font) for tests/it/real_browser.rs, openssl
# for the TLS test's certificates, util-linux's setpriv and unshare for the tests that
# drop privileges or make their own mount and network namespaces, strace for the crash
# matrix (tests/it/crash.rs: a kill or a failure at every system call), etcd-server for the
# etcd store's tests (tests/it/etcd.rs start a three-member cluster on loopback; installing
# the package starts no service where there is no systemd, and the tests use their own
# ports), zsh and fish to load the completion scripts in their real shells (bash is there)
# and groff-base to check the man page (tests/it/shell.rs). Where packages cannot be
# installed (not root, no apt-get), it says so; the tests that need them then fail under
# CI=true and report SKIPPED elsewhere.
set -u
packages=(chromium chromium-driver fonts-dejavu-core openssl util-linux strace etcd-server curl zsh fish groff-base)
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  exec "$(dirname "$0")/apt-install.sh" "${packages[@]}"
fi
missing=0
for cmd in chromium chromedriver openssl setpriv unshare strace etcd zsh fish groff; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    echo "test-deps: \`$cmd\` is missing and cannot be installed here (need root and apt-get: ${packages[*]})" >&2
    missing=1
  fi
done
# Under CI=true a missing tool is a failure; elsewhere the tests that need it say SKIPPED.
[ "$missing" = 0 ] || [ "${CI:-}" != true ]
