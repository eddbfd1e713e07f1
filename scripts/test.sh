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
# Every step says when it started, so a slow CI run shows where its time went.
step() { echo "== $* (at ${SECONDS} s)"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "ui: type check, lint, component tests, build"
# Node and npm from Debian when missing (scripts/ui.sh); the browser suite runs after the demo.
bash scripts/ui.sh check
bash scripts/ui.sh test
bash scripts/ui.sh build
step "cargo clippy (the desktop shell too)"
# src-tauri is not a default member: its GTK/WebKitGTK packages first (scripts/desktop.sh).
bash scripts/desktop.sh deps
cargo clippy --all-targets --quiet -- -D warnings
cargo clippy -p bigreach-desktop --all-targets --quiet -- -D warnings
step "cargo test"
mkdir -p target
cargo test --quiet 2>&1 | tee target/test-output.txt
step "demo"
demo_dir=$(mktemp -d)
fuzz_build=
trap '[ -z "$fuzz_build" ] || kill -- "-$fuzz_build" 2>/dev/null; rm -rf "$demo_dir"' EXIT
# The fuzz targets are their own cargo project with instrumented code, so they share no build
# with the steps below. Their build (about 4 minutes of both cores) starts now at the lowest CPU
# priority and takes the cycles the demo, the browser and window suites and the scenarios leave
# idle while they wait on sockets and timers; the fuzz step at the end waits for it. It runs in a
# process group of its own (setsid), so a failing step stops the whole build with it.
mkdir -p crates/fuzz/target
setsid nice -n 19 bash scripts/fuzz.sh build >crates/fuzz/target/build.log 2>&1 &
fuzz_build=$!
cargo run --quiet --bin bigreach -- demo --plan data/demo.toml --data-dir "$demo_dir/data"
step "audit bundle of the demo"
cargo run --quiet --bin bigreach -- audit export --data-dir "$demo_dir/data" --out "$demo_dir/b.zip"
cargo run --quiet --bin bigreach -- verify "$demo_dir/b.zip"
# One byte changed in a copy must make verify fail (exit status 9).
cp "$demo_dir/b.zip" "$demo_dir/changed.zip"
byte=$(od -An -tu1 -j 300 -N1 "$demo_dir/changed.zip" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$demo_dir/changed.zip" bs=1 seek=300 conv=notrunc status=none
status=0
cargo run --quiet --bin bigreach -- verify "$demo_dir/changed.zip" || status=$?
if [ "$status" -ne 9 ]; then echo "verify of a changed bundle exited $status, not 9"; exit 1; fi
step "ui: the browser suite (Debian's chromium) against bigreach serve --twins"
BIGREACH_BIN="$PWD/target/debug/bigreach" bash scripts/ui.sh e2e
step "desktop: the real window under Xvfb, through WebKitWebDriver"
# GTK/WebKitGTK, Xvfb and WebKitWebDriver from Debian when missing (scripts/desktop.sh).
bash scripts/desktop.sh smoke
step "scenarios"
cargo run --quiet --bin bigreach -- scenario run --jobs 4 data/scenarios/*.toml data/scenarios/identity/*.toml data/scenarios/orders/*.toml data/scenarios/catalog/*.toml data/scenarios/cutover/*.toml
step "fuzz"
# A short run of every fuzz target (crates/fuzz); `bash scripts/fuzz.sh 600` hunts longer.
if ! wait "$fuzz_build"; then
  fuzz_build=
  cat crates/fuzz/target/build.log
  echo "the fuzz targets did not build (log above: crates/fuzz/target/build.log)"
  exit 1
fi
fuzz_build=
bash scripts/fuzz.sh 20
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' target/test-output.txt
