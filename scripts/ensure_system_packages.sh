#!/usr/bin/env bash
# Install the Debian packages the studio needs when they are missing.
# Usage: scripts/ensure_system_packages.sh FILE...   (each FILE lists one package per line)
# As root it runs apt-get; otherwise it prints the exact apt line to run and exits 1.
set -euo pipefail
missing=()
for file in "$@"; do
  while read -r pkg; do
    pkg="${pkg%%#*}"; pkg="$(echo "$pkg" | xargs)"
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < "$file"
done
[ ${#missing[@]} -eq 0 ] && exit 0
line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages. Run as root:" >&2
  echo "  sudo sh -c '$line'" >&2
  exit 1
fi
echo "Installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"
