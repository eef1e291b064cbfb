#!/usr/bin/env bash
# Vendor the few three.js files the in-browser player (studio/player_static/) needs into
# assets/vendor/three/, from the npm registry (no CDN), pinned by version and tarball SHA-256.
#
#   scripts/vendor_threejs.sh          # re-create assets/vendor/three/ (needs npm, sha256sum)
#
# three.js 0.187 ships no minified ES module build: build/three.module.js imports
# build/three.core.js, so both are copied. The player imports them through an import map
# ("three" -> three.module.js, "three/addons/" -> addons/), which is why the addons keep their
# examples/jsm/ layout below addons/ and their `from 'three'` imports unchanged.
set -euo pipefail

VERSION=0.187.0
TARBALL_SHA256=ff540832ded0cfe919764d24a3d88f3e2a05f23303f876423e4f893841e90728
FILES=(
  build/three.module.js
  build/three.core.js
  examples/jsm/loaders/GLTFLoader.js
  examples/jsm/utils/BufferGeometryUtils.js # imported by GLTFLoader
  examples/jsm/utils/SkeletonUtils.js       # imported by GLTFLoader
  examples/jsm/controls/OrbitControls.js
  LICENSE
)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/assets/vendor/three"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "three@$VERSION" >/dev/null)
echo "$TARBALL_SHA256  $work/three-$VERSION.tgz" | sha256sum --check --quiet
tar -xzf "$work/three-$VERSION.tgz" -C "$work"

rm -rf "$target"
mkdir -p "$target"
for file in "${FILES[@]}"; do
  case "$file" in
    build/*) dest="${file#build/}" ;;
    examples/jsm/*) dest="addons/${file#examples/jsm/}" ;;
    *) dest="$file" ;;
  esac
  mkdir -p "$target/$(dirname "$dest")"
  cp "$work/package/$file" "$target/$dest"
done

printf 'three@%s from the npm registry (tarball sha256 %s)\n' "$VERSION" "$TARBALL_SHA256" >"$target/VERSION"
(cd "$target" && find . -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
echo "vendored three.js $VERSION into ${target#"$root"/}:"
(cd "$target" && du -ch $(find . -type f -printf '%P\n' | LC_ALL=C sort) | tail -n 1)
