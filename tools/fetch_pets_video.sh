#!/usr/bin/env bash
# Fetch the PETS 2009 S2.L1 video (vtest.avi, 768x576, 795 frames) from Debian's opencv-doc package
# into data-cache/ (ignored by git). ../shared/data/PETS09-S2L1 holds its MOTChallenge ground truth.
# Usage: bash tools/fetch_pets_video.sh     (needs apt-get and dpkg; about 96 MB download)
set -euo pipefail
cd "$(dirname "$0")/.."
target=data-cache/PETS09-S2L1/vtest.avi
if [ -f "$target" ]; then echo "$target already present"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download opencv-doc >/dev/null)
dpkg -x "$tmp"/opencv-doc_*.deb "$tmp/x"
mkdir -p "$(dirname "$target")"
cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$target"
echo "wrote $target"
