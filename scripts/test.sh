#!/usr/bin/env bash
# The whole check, as CI runs it: formatting, lints, every test (all offline, against the twins
# on 127.0.0.1), then the full demo, which must come out clean, the scenarios, and a short fuzz
# run of every parser of outside input.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=setup.sh
source scripts/setup.sh
export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
mkdir -p target
cargo test --quiet 2>&1 | tee target/test-output.txt
echo "== demo"
cargo run --quiet --bin bigreach -- demo --plan data/demo.toml
echo "== scenarios"
cargo run --quiet --bin bigreach -- scenario run data/scenarios/*.toml data/scenarios/identity/*.toml data/scenarios/orders/*.toml data/scenarios/catalog/*.toml
echo "== fuzz"
# A short run of every fuzz target (crates/fuzz); `bash scripts/fuzz.sh 600` hunts longer.
bash scripts/fuzz.sh 20
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.txt
