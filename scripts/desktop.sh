#!/usr/bin/env bash
# The desktop app (src-tauri/): system packages, build, the real-window smoke suite, the .deb.
#
#   scripts/desktop.sh deps    GTK/WebKitGTK build packages, Xvfb and WebKitWebDriver (apt, once)
#   scripts/desktop.sh build   the UI, then `cargo build -p bigreach-desktop` (debug)
#   scripts/desktop.sh smoke   build, then ui/desktop/*.test.mjs: the window under Xvfb driven
#                              through WebKitWebDriver (boots, wizard, advance + rollback, a chart
#                              with its table); screenshots in ui/screenshots/desktop-*.png
#   scripts/desktop.sh deb     the release .deb through the Tauri CLI (npm @tauri-apps/cli, no
#                              cargo install): target/deb/release/bundle/deb/bigreach_*.deb
#   scripts/desktop.sh run     build, then open the window on the twins (needs a display)
#
# The binary it builds is the whole product: `bigreach-desktop` with no subcommand opens the
# window, with one it is the CLI. The .deb installs it as /usr/bin/bigreach.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=setup.sh
source scripts/setup.sh

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# stack.md §2: what Tauri 2 needs to build on Debian 12, and what the smoke suite runs on.
PACKAGES=(libwebkit2gtk-4.1-dev librsvg2-dev libxdo-dev libssl-dev pkg-config file
  xvfb xauth webkit2gtk-driver)

deps() {
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "desktop: installing ${missing[*]} with apt" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build() {
  deps
  # The window embeds ui/dist at compile time.
  bash scripts/ui.sh build >/dev/null
  cargo build --quiet -p bigreach-desktop
}

smoke() {
  build
  export BIGREACH_DESKTOP_BIN="$ROOT/target/debug/bigreach-desktop"
  # No D-Bus session or window manager is needed (stack.md §4); each run gets its own display.
  (cd ui && xvfb-run -a -s "-screen 0 1280x860x24 -nolisten tcp" node --test --test-concurrency=1 desktop/)
}

deb() {
  deps
  bash scripts/ui.sh build >/dev/null
  # The npm CLI ships a prebuilt binary (2 s) where `cargo install tauri-cli` compiles for 8 min.
  bash scripts/ui.sh deps
  # Its own target directory: the CLI renames the binary to `bigreach`, which must not replace
  # the root's own release `bigreach`; stripped, without debug info, for the package.
  export CARGO_TARGET_DIR="$ROOT/target/deb"
  export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=symbols
  (cd src-tauri && "$ROOT/ui/node_modules/.bin/tauri" build --ci --bundles deb)
  ls -l target/deb/release/bundle/deb/*.deb
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  smoke) smoke ;;
  deb) deb ;;
  run) build && exec target/debug/bigreach-desktop window --twins ;;
  *)
    echo "usage: scripts/desktop.sh deps|build|smoke|deb|run" >&2
    exit 2
    ;;
esac
