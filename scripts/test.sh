#!/usr/bin/env bash
# The test command (README and CI run exactly this): makes sure the Python venv with the real
# txTrader clients exists, then runs every Rust and conformance test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/compat-venv.sh
# The FIX adapter's tests run against QuickFIX acceptors (Debian packages, a venv).
scripts/fix-peers.sh
# The strategy tests build the example strategies of plugins/ for wasm32-wasip2.
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
cargo test --workspace --locked "$@"
