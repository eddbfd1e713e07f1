#!/usr/bin/env bash
# The operator UI (ui/): install, build, check, test.
#
#   scripts/ui.sh deps    npm ci from ui/package-lock.json (skipped when node_modules matches it)
#   scripts/ui.sh build   vite build to ui/dist (static files; no Node at run time)
#   scripts/ui.sh check   tsc --noEmit + eslint (no warnings allowed)
#   scripts/ui.sh test    vitest component and unit tests (happy-dom, fake transport)
#   scripts/ui.sh e2e     Playwright (playwright-core + Debian's chromium) against
#                         `bigreach serve --twins --json`; builds the UI and the binary first
#                         unless BIGREACH_BIN names one. Screenshots go to ui/screenshots/.
#   scripts/ui.sh all     deps, check, test, build, e2e
#
# Node and npm come from Debian (nodejs, npm) and chromium too; both are installed with apt when
# missing, as scripts/setup.sh does for the build tools.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UI="$ROOT/ui"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  echo "ui: installing $* with apt" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

ensure_node() {
  local missing=()
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

ensure_chromium() {
  if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
}

deps() {
  ensure_node
  # npm ci wipes node_modules; skip it when the tree was installed from this very lock file.
  local stamp="$UI/node_modules/.bigreach-lock.sha256"
  local want
  want="$(sha256sum "$UI/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  (cd "$UI" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

build() { deps; (cd "$UI" && npx vite build); }
check() { deps; (cd "$UI" && npm run --silent check); }
unit() { deps; (cd "$UI" && npx vitest run); }

e2e() {
  deps
  ensure_chromium
  build
  if [ -z "${BIGREACH_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --quiet --bin bigreach)
    export BIGREACH_BIN="$ROOT/target/debug/bigreach"
  fi
  (cd "$UI" && node --test --test-concurrency=1 e2e/)
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  check) check ;;
  test) unit ;;
  e2e) e2e ;;
  all) check; unit; build; e2e ;;
  *)
    echo "usage: scripts/ui.sh deps|build|check|test|e2e|all" >&2
    exit 2
    ;;
esac
