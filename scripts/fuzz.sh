#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside input (crates/fuzz, cargo-fuzz/libFuzzer):
# builds all targets once, then runs each for SECONDS_PER_TARGET (default 20) from its seed
# corpus (crates/fuzz/corpus/<target>, read only; what it learns goes to
# crates/fuzz/target/corpus/<target>, kept between runs). Prints, per target, the executions
# (libFuzzer's final stat::number_of_executed_units) and the findings; exits 1 on any crash,
# with the crashing input under crates/fuzz/artifacts/<target>/ (replay it with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir crates/fuzz -s none -a <target> <file>`).
#
#   bash scripts/fuzz.sh        # the short run scripts/test.sh does
#   bash scripts/fuzz.sh 600    # a longer hunt: ten minutes per target
#   bash scripts/fuzz.sh build  # only the build (scripts/test.sh starts it early, in the background)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
case "$secs" in
  build) ;;
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET | build]" >&2; exit 2 ;;
esac
# shellcheck source=setup.sh
source scripts/setup.sh
ensure_cargo_fuzz
# libFuzzer's instrumentation flags are nightly-only; the pinned stable toolchain accepts them so.
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
fuzz_dir=crates/fuzz
# No sanitizer: the code fuzzed is safe Rust (unsafe_code = "forbid"), so AddressSanitizer adds
# cost and nothing else; debug assertions make an integer overflow a finding. 16 codegen units
# (cargo-fuzz's default is 1) build the instrumented dependency tree several times faster.
flags=(--fuzz-dir "$fuzz_dir" --sanitizer none --debug-assertions --codegen-units 16)

cargo fuzz build "${flags[@]}"
if [ "$secs" = build ]; then exit 0; fi
mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")

failed=0
total=0
for target in "${targets[@]}"; do
  work="$fuzz_dir/target/corpus/$target"
  artifacts="$fuzz_dir/artifacts/$target"
  log="$fuzz_dir/target/fuzz-$target.log"
  mkdir -p "$work" "$artifacts"
  rm -f "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-* "$artifacts"/leak-*
  status=0
  cargo fuzz run "${flags[@]}" "$target" "$work" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  executions=$(awk '/stat::number_of_executed_units/ { n = $2 } END { print n + 0 }' "$log")
  total=$((total + executions))
  findings=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' \
    -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
    failed=1
    echo "fuzz: $target: $executions executions in ${secs}s, FOUND $findings (exit $status):"
    grep -m 5 -E "panicked at|^thread|SUMMARY|deadly signal|Test unit written" "$log" | sed 's/^/  /' || true
    echo "  full log: $log"
  else
    echo "fuzz: $target: $executions executions in ${secs}s, 0 findings"
  fi
done
echo "fuzz: ${#targets[@]} targets, $total executions, $([ "$failed" -eq 0 ] && echo "no findings" || echo "FINDINGS above")"
exit "$failed"
