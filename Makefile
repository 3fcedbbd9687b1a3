# tiktok-shop-auth. `make demo` and `make test` need nothing but this repository, cargo
# and python3 (both on a fresh machine of this kind); each installs what else it needs.
CARGO ?= cargo
BIN := target/release/tiktok-shop-auth

.PHONY: all build release demo test check fmt clippy test-deps bench man static vendor-dist offline-check windows test-windows macos-check dist test-dist clean

all: build

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --release --locked

demo: release
	tests/support/demo.sh $(BIN)

# Installs what the tests need beyond cargo and python3 (tests/support/test-deps.sh says
# what and why): chromium and chromium-driver for the real-browser test, openssl.
test-deps:
	@tests/support/test-deps.sh

# Under CI=true a test that cannot set up its environment fails instead of skipping.
test: test-deps
	$(CARGO) test --locked
	@if command -v chromedriver >/dev/null 2>&1; then \
	  $(CARGO) test --locked --test it -- --ignored real_browser; \
	elif [ "$$CI" = true ]; then echo "real-browser test: chromedriver is missing (CI=true: a skip is a failure)"; exit 1; \
	else echo "real-browser test: SKIPPED (Debian's chromium/chromium-driver could not be installed here)"; fi

fmt:
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	$(CARGO) fmt --check

clippy:
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	$(CARGO) clippy --locked --all-targets -- -D warnings

check: fmt clippy test

MUSL := x86_64-unknown-linux-musl
STATIC_BIN := target/$(MUSL)/release/tiktok-shop-auth
WINDOWS := x86_64-pc-windows-gnu
WINDOWS_BIN := target/$(WINDOWS)/release/tiktok-shop-auth.exe

# A fully static Linux binary. Adds the rustup target and Debian's musl-tools (a C
# compiler for ring's C and assembly) when they are missing.
static:
	@rustup target list --installed | grep -qx $(MUSL) || rustup target add $(MUSL)
	@tests/support/apt-install.sh musl-tools
	CC_x86_64_unknown_linux_musl=musl-gcc $(CARGO) build --release --locked --target $(MUSL)
	@file $(STATIC_BIN); ldd $(STATIC_BIN) 2>&1 | sed 's/^/ldd: /'; ls -l $(STATIC_BIN)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
DIST := target/dist
SRC_NAME := tiktok-shop-auth-$(VERSION)
SRC_TARBALL := $(DIST)/$(SRC_NAME)-src.tar.gz
# What a vendored build must cover: Linux, macOS and Windows on x86_64 and aarch64.
VENDOR_PLATFORMS := x86_64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-gnu \
	x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-gnu x86_64-pc-windows-msvc aarch64-pc-windows-msvc

# One source tarball with vendor/ and .cargo/config.toml, for builds with no network.
# cargo-vendor-filterer (crates.io) drops crates no listed platform builds (Windows
# import libraries for i686 and gnullvm, proc-macro stacks only dev-deps use), replacing
# them with checksummed stubs: 4.9 MB instead of plain `cargo vendor`'s 14 MB.
vendor-dist:
	@command -v cargo-vendor-filterer >/dev/null 2>&1 || $(CARGO) install --locked cargo-vendor-filterer
	rm -rf $(DIST)/$(SRC_NAME) && mkdir -p $(DIST)/$(SRC_NAME)/.cargo
	git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(DIST)/$(SRC_NAME)
	$(CARGO) vendor-filterer --keep-dep-kinds=no-dev $(addprefix --platform=,$(VENDOR_PLATFORMS)) $(DIST)/$(SRC_NAME)/vendor >/dev/null
	printf '[source.crates-io]\nreplace-with = "vendored-sources"\n\n[source.vendored-sources]\ndirectory = "vendor"\n' > $(DIST)/$(SRC_NAME)/.cargo/config.toml
	@epoch=$$(git log -1 --format=%ct 2>/dev/null || echo 0); \
	find $(DIST)/$(SRC_NAME) -exec touch -h -d "@$${SOURCE_DATE_EPOCH:-$$epoch}" {} +; \
	tar --sort=name --mtime="@$${SOURCE_DATE_EPOCH:-$$epoch}" --owner=0 --group=0 --numeric-owner --format=gnu \
	  -C $(DIST) -cf - $(SRC_NAME) | gzip -9n > $(SRC_TARBALL)
	rm -rf $(DIST)/$(SRC_NAME)
	@ls -l $(SRC_TARBALL)

# Unpacks the tarball in a temporary directory and builds it with an empty CARGO_HOME,
# --offline --locked, and no network at all (a new network namespace, where unshare works).
offline-check: vendor-dist
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	tar -xzf $(SRC_TARBALL) -C "$$tmp"; mkdir "$$tmp/cargo-home"; \
	if unshare -n true 2>/dev/null; then isolate="unshare -n --"; echo "building with no network (unshare -n)"; \
	else isolate=""; echo "unshare -n is not available here: building offline without a network namespace"; fi; \
	cd "$$tmp/$(SRC_NAME)" && CARGO_HOME="$$tmp/cargo-home" $$isolate $(CARGO) build --offline --locked --release; \
	./target/release/tiktok-shop-auth --version

# Release archives for Linux x86_64 and aarch64 (static, musl), Windows, and the source
# tarball, with SHA256SUMS, in target/dist/ (tests/support/dist.sh says how they are made
# reproducible). Installs the rustup targets and Debian's cross compilers when missing.
dist:
	tests/support/dist.sh

# Each archive unpacked afresh, checked against SHA256SUMS and run through the smoke
# sequence: x86_64 directly, aarch64 under qemu-aarch64, Windows under wine.
test-dist: dist release
	tests/support/test-dist.sh

# The Windows build, cross-compiled here with Debian's mingw-w64.
windows:
	@rustup target list --installed | grep -qx $(WINDOWS) || rustup target add $(WINDOWS)
	@tests/support/apt-install.sh gcc-mingw-w64-x86-64
	$(CARGO) build --release --locked --target $(WINDOWS)
	@ls -l $(WINDOWS_BIN)

# The .exe under wine against the Linux sandbox: version, help, login, refresh, status, token, shops.
test-windows: windows release
	@tests/support/apt-install.sh wine wine64
	tests/support/wine-smoke.sh

# macOS: a compile check of everything for both Mac targets. ring's C is compiled by
# Debian's clang against three stub headers (tests/support/macos-stub) in place of the
# Apple SDK, which cannot be had here; nothing is linked.
MACOS_CFLAGS := -ffreestanding -nostdlibinc -I$(CURDIR)/tests/support/macos-stub
macos-check:
	@for t in x86_64-apple-darwin aarch64-apple-darwin; do rustup target list --installed | grep -qx $$t || rustup target add $$t; done
	@tests/support/apt-install.sh clang
	CC_x86_64_apple_darwin=clang CC_aarch64_apple_darwin=clang \
	CFLAGS_x86_64_apple_darwin="$(MACOS_CFLAGS)" CFLAGS_aarch64_apple_darwin="$(MACOS_CFLAGS)" \
	$(CARGO) check --locked --target x86_64-apple-darwin --target aarch64-apple-darwin

# The man page, target/man/tiktok-shop-auth.1 (`man -l target/man/tiktok-shop-auth.1`), as the
# binary writes it from the same flag definitions as --help; the release archives carry it.
man: build
	@mkdir -p target/man
	./target/debug/tiktok-shop-auth man >target/man/tiktok-shop-auth.1
	@echo "target/man/tiktok-shop-auth.1 (read it: man -l target/man/tiktok-shop-auth.1)"

# The numbers in BENCHMARKS.md: sizes (binaries and release archives), crates, build time,
# latencies, RSS, api and fleet refresh, and the PyPI SDK side by side.
bench: release static dist
	@tests/support/apt-install.sh time etcd-server strace
	python3 tests/support/bench.py

clean:
	$(CARGO) clean
