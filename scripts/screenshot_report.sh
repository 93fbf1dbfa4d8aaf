#!/usr/bin/env bash
# Render the example results into a report and screenshot its HTML page for the docs
# (docs/images/report-example.png). Needs a chromium binary (Debian: apt-get install chromium).
# Usage: scripts/screenshot_report.sh [results.json] [out.png]
set -euo pipefail
cd "$(dirname "$0")/.."
results="${1:-tests/data/run_results_example.json}"
out="${2:-docs/images/report-example.png}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "no chromium binary found (Debian: apt-get install chromium)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -c '
import sys
from agorabench.report import load_results, write_report
write_report(load_results(sys.argv[1]), sys.argv[2])
' "$results" "$work/report"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$work/profile" \
  --screenshot="$work/shot.png" --window-size=1400,2000 "file://$work/report/report.html" 2>/dev/null
mkdir -p "$(dirname "$out")"
# A 256-colour palette keeps the page legible at a fraction of the size (docs should stay small).
"${PYTHON:-python3}" -c '
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)
' "$work/shot.png" "$out"
echo "$out ($(du -k "$out" | cut -f1) KB)"
