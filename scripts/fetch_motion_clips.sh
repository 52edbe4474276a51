#!/usr/bin/env bash
# Fetch the live-action evaluation clips of Debian's python3-mecavideo (CC BY-SA 3.0, see
# data/README.md) into a folder, for `csc-predict` and `csc-transfer --real`. Not shipped with
# csc; nothing is installed.
#
#   bash scripts/fetch_motion_clips.sh [DIR]      # default DIR: runs/motion_clips
set -euo pipefail
out="${1:-runs/motion_clips}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
(cd "$work" && apt-get download python3-mecavideo >/dev/null 2>&1) || {
    echo "fetch_motion_clips: error: apt-get download python3-mecavideo failed (run apt-get update first?)" >&2
    exit 2
}
dpkg-deb -x "$work"/python3-mecavideo_*.deb "$work/pkg"
for clip in balle-jbart.mp4 balle1-vp9.avi Principe_inertie.avi Force_constante.avi; do
    cp "$work/pkg/usr/share/pymecavideo/data/video/$clip" "$out/"
done
cp "$work/pkg/usr/share/doc/python3-mecavideo/copyright" "$out/COPYRIGHT"
echo "$out: $(ls "$out" | tr '\n' ' ')"
