#!/usr/bin/env bash
# Install the Debian packages the stack needs, only when they are missing.
# Usage: deploy/system-deps.sh nginx|chromium|prometheus ...
set -euo pipefail

binary_for() {
  case "$1" in
    nginx) echo /usr/sbin/nginx ;;
    chromium) echo /usr/bin/chromium ;;
    prometheus) echo /usr/bin/promtool ;;
    *) echo "unknown package $1" >&2; exit 2 ;;
  esac
}

missing=()
for pkg in "$@"; do
  bin=$(binary_for "$pkg")
  if [ ! -x "$bin" ] && ! command -v "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "Need root to install: ${missing[*]} (apt-get install ${missing[*]})" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
