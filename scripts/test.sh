#!/usr/bin/env bash
# The test command from the README: installs the test peers this suite needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --all-targets
