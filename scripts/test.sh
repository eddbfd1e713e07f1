#!/usr/bin/env bash
# The whole check, as CI runs it: formatting, lints, every test (all offline, against the twins
# on 127.0.0.1), then the full demo, which must come out clean, the browser suite against
# `bigreach serve --twins`, the desktop window's smoke suite, the scenarios, and a short fuzz run
# of every parser of outside input.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=setup.sh
source scripts/setup.sh
export CARGO_TERM_COLOR=never
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== ui: type check, lint, component tests, build"
# Node and npm from Debian when missing (scripts/ui.sh); the browser suite runs after the demo.
bash scripts/ui.sh check
bash scripts/ui.sh test
bash scripts/ui.sh build
echo "== cargo clippy (the desktop shell too)"
# src-tauri is not a default member: its GTK/WebKitGTK packages first (scripts/desktop.sh).
bash scripts/desktop.sh deps
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy -p bigreach-desktop --all-targets --quiet -- -D warnings
echo "== cargo test"
mkdir -p target
cargo test --quiet 2>&1 | tee target/test-output.txt
echo "== demo"
demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
cargo run --quiet --bin bigreach -- demo --plan data/demo.toml --data-dir "$demo_dir/data"
echo "== audit bundle of the demo"
cargo run --quiet --bin bigreach -- audit export --data-dir "$demo_dir/data" --out "$demo_dir/b.zip"
cargo run --quiet --bin bigreach -- verify "$demo_dir/b.zip"
# One byte changed in a copy must make verify fail (exit status 9).
cp "$demo_dir/b.zip" "$demo_dir/changed.zip"
byte=$(od -An -tu1 -j 300 -N1 "$demo_dir/changed.zip" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$demo_dir/changed.zip" bs=1 seek=300 conv=notrunc status=none
status=0
cargo run --quiet --bin bigreach -- verify "$demo_dir/changed.zip" || status=$?
if [ "$status" -ne 9 ]; then echo "verify of a changed bundle exited $status, not 9"; exit 1; fi
echo "== ui: the browser suite (Debian's chromium) against bigreach serve --twins"
BIGREACH_BIN="$PWD/target/debug/bigreach" bash scripts/ui.sh e2e
echo "== desktop: the real window under Xvfb, through WebKitWebDriver"
# GTK/WebKitGTK, Xvfb and WebKitWebDriver from Debian when missing (scripts/desktop.sh).
bash scripts/desktop.sh smoke
echo "== scenarios"
cargo run --quiet --bin bigreach -- scenario run --jobs 4 data/scenarios/*.toml data/scenarios/identity/*.toml data/scenarios/orders/*.toml data/scenarios/catalog/*.toml data/scenarios/cutover/*.toml
echo "== fuzz"
# A short run of every fuzz target (crates/fuzz); `bash scripts/fuzz.sh 600` hunts longer.
bash scripts/fuzz.sh 20
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.txt
