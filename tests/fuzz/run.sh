#!/usr/bin/env bash
# Runs every fuzz target for RUNS executions (default 10 million) from its seeds, one after the
# other, optimized but with debug assertions (so an integer overflow is a finding too), and
# prints libFuzzer's last status line for each. Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`). Crashes land in tests/fuzz/artifacts/<target>/;
# copy each into tests/fuzz/regressions/<target>/ so the stable suite replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-10000000}
for t in ${TARGETS:-netstring api_args query_bars tws_decode manifest limits_file users_file rtx_lines fix_messages}; do
  mkdir -p tests/fuzz/corpus/$t
  echo "== $t"
  cargo +nightly fuzz run --fuzz-dir tests/fuzz -O -a "$t" tests/fuzz/corpus/$t tests/fuzz/seeds/$t -- \
    -runs="$RUNS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | grep -E "^(Done|#[0-9]+ *DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|.*panicked)" || true
done
