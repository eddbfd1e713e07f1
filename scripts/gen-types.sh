#!/usr/bin/env bash
# Regenerates the UI's TypeScript types (ui/src/generated/) from the app API's Rust structs.
# CI runs the same test without the variable, and it fails when the committed files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
BIGREACH_WRITE_BINDINGS=1 cargo test --quiet -p bigreach-core --test bindings
echo "ui/src/generated: $(ls ui/src/generated | wc -l) files"
