#!/usr/bin/env bash
# The test command from the README. The suite needs no outside services yet (the drop folder
# and the HTTP API are started by the tests themselves on 127.0.0.1 with free ports), so this
# only checks the toolchain and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (install Rust with rustup)"; exit 2; }
cargo test --all-targets
