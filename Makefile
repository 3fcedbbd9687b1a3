# tiktok-shop-auth. `make demo` and `make test` need nothing but this repository, cargo
# and python3 (both on a fresh machine of this kind); each installs what else it needs.
CARGO ?= cargo
BIN := target/release/tiktok-shop-auth

.PHONY: all build release demo test check fmt clippy browser-deps bench static vendor-dist offline-check windows test-windows clean

all: build

build:
	$(CARGO) build --locked

release:
	$(CARGO) build --release --locked

demo: release
	tests/support/demo.sh $(BIN)

# Installs Debian's chromium for the real-browser test when it is missing and apt-get is
# usable; without it that one test reports itself skipped.
browser-deps:
	@tests/support/ensure-chromium.sh

test: browser-deps
	$(CARGO) test --locked
	@if command -v chromedriver >/dev/null 2>&1; then \
	  $(CARGO) test --locked --test it -- --ignored real_browser; \
	else echo "real-browser test: SKIPPED (Debian's chromium/chromium-driver could not be installed here)"; fi

fmt:
	$(CARGO) fmt --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

check: fmt clippy test

clean:
	$(CARGO) clean
