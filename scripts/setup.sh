#!/usr/bin/env bash
# Installs what BigReach needs to build on a fresh Debian machine: a C toolchain (for crates that
# build C code) and, when cargo is absent, the Rust toolchain through rustup (curl is installed
# for that). The toolchain version itself is pinned in rust-toolchain.toml. Idempotent: installs
# only what is missing; no system library is needed (TLS is rustls, the store is redb).
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "setup: installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain none
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
fi

# cargo-fuzz for `scripts/fuzz.sh` (not needed to build or test): the pinned version, installed
# only when missing or different (about a minute). It runs on the pinned stable toolchain with
# RUSTC_BOOTSTRAP=1 for libFuzzer's instrumentation flags (fuzz.sh sets it).
CARGO_FUZZ_VERSION=0.13.2
ensure_cargo_fuzz() {
  if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --quiet
  fi
}
