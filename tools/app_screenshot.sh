#!/usr/bin/env bash
# Reproduces docs/screenshot.png: the real app in a real X server (Xvfb) on the demo
# library, showing the demo's first example query (a composed query) and its results;
# with a second file, docs/viewer.png too: the same query's best result in the viewer
# (tools/viewer_screenshot.py, on the same library).
#
#   tools/app_screenshot.sh [OUT.png [VIEWER.png]]
#
# Needs: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 xauth
# The model is the installed demo bundle (resources/demo-bundle, or $CIRSEARCH_DEMO_BUNDLE);
# without one, the tiny architecture with random weights is exported and used, and the
# window says which model it is (random weights rank photos meaninglessly).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/screenshot.png}")
viewer=${2:+$(realpath -m "$2")}
py=.venv/bin/python
work=$(mktemp -d /tmp/cirsearch-shot.XXXXXX)
trap 'kill "${xvfb:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

if ! "$py" -c 'import sys; from engine.resources import demo_bundle_dir; sys.exit(demo_bundle_dir() is None)'; then
  echo "no demo bundle installed: using the tiny architecture with random weights" >&2
  export CIRSEARCH_DEMO_BUNDLE=$("$py" tools/tiny_bundle.py /tmp/cirsearch-tiny-random-bundle | tail -1)
fi

display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x820x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb=$!
sleep 1
DISPLAY=$display QT_QPA_PLATFORM=xcb "$py" -m app.main --demo --library "$work/demo-library" \
  --settings "$work/settings.ini" --screenshot "$out"
echo "$out"
if [ -n "$viewer" ]; then
  DISPLAY=$display QT_QPA_PLATFORM=xcb "$py" tools/viewer_screenshot.py --demo --library "$work/demo-library" \
    --settings "$work/settings.ini" --screenshot "$viewer"
  echo "$viewer"
fi
