#!/usr/bin/env bash
# The test command (README and CI run exactly this): makes sure the Python venv with the real
# txTrader clients exists, then runs every Rust and conformance test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/compat-venv.sh
cargo test --workspace --locked "$@"
