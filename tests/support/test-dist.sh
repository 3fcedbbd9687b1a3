#!/usr/bin/env bash
# make test-dist: each archive in target/dist/ unpacked into a fresh directory, checked
# against SHA256SUMS, and its binary put through the smoke sequence (tests/support/smoke.sh):
# x86_64 directly, aarch64 under qemu-aarch64, Windows under wine. "N passed, M failed" per
# artifact, and a total.
set -uo pipefail
cd "$(dirname "$0")/../.."
dist=$(realpath target/dist)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
tests/support/apt-install.sh qemu-user wine wine64 file || exit 1
failed_artifacts=0
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-pc-windows-gnu; do
  name="tiktok-shop-auth-$version-$target"
  archive=$(cd "$dist" && ls "$name".tar.gz "$name".zip 2>/dev/null | head -n1)
  echo "== $archive"
  fresh=$(mktemp -d "${TMPDIR:-/tmp}/tsa-dist.XXXXXX")
  if ! (cd "$dist" && grep "  $archive\$" SHA256SUMS | sha256sum -c -); then
    echo "FAIL $archive: checksum"; failed_artifacts=$((failed_artifacts + 1)); continue
  fi
  case $archive in
    *.zip) python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$dist/$archive" "$fresh" ;;
    *) tar -xzf "$dist/$archive" -C "$fresh" ;;
  esac
  ls "$fresh/$name"
  # The completions and the man page, as the binary itself writes them.
  for extra in completions/tiktok-shop-auth.bash completions/_tiktok-shop-auth completions/tiktok-shop-auth.fish \
    completions/tiktok-shop-auth.ps1 man/tiktok-shop-auth.1; do
    if [ ! -s "$fresh/$name/$extra" ]; then
      echo "FAIL $archive: no $extra"; failed_artifacts=$((failed_artifacts + 1)); continue 2
    fi
  done
  if [ "$target" = x86_64-unknown-linux-musl ] &&
    ! "$fresh/$name/tiktok-shop-auth" man | cmp -s - "$fresh/$name/man/tiktok-shop-auth.1"; then
    echo "FAIL $archive: man/tiktok-shop-auth.1 is not what the binary writes"; failed_artifacts=$((failed_artifacts + 1)); continue
  fi
  case $target in
    x86_64-unknown-linux-musl) file "$fresh/$name/tiktok-shop-auth"; tests/support/smoke.sh "$fresh/$name/tiktok-shop-auth" ;;
    aarch64-unknown-linux-musl) file "$fresh/$name/tiktok-shop-auth"; tests/support/smoke.sh "$fresh/$name/tiktok-shop-auth" qemu-aarch64 ;;
    x86_64-pc-windows-gnu) tests/support/wine-smoke.sh "$fresh/$name/tiktok-shop-auth.exe" ;;
  esac || failed_artifacts=$((failed_artifacts + 1))
  rm -rf "$fresh"
done
echo "artifacts: $((3 - failed_artifacts)) passed, $failed_artifacts failed"
[ "$failed_artifacts" = 0 ]
