#!/usr/bin/env bash
# Runs `bigreach demo`: both twins on loopback, a seeded store of 500 customers, 200 products
# and 2,000 orders, then a trading burst with webhooks, and a summary checked against the
# twins' ground truth. Extra arguments go to `bigreach demo` (e.g. --json).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=setup.sh
source scripts/setup.sh
cargo build --release --quiet --bin bigreach
exec ./target/release/bigreach demo --plan data/demo.toml "$@"
