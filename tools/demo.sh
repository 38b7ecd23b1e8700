#!/usr/bin/env bash
# Builds Promptreel.ofx.bundle and renders the default prompt with the bundled model into
# out/demo/ (frame_0000.png ... and preview.gif).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
# The CLI loads ONNX Runtime only from an explicit place: here, the copy setup.sh cached.
PROMPTREEL_ORT_LIB="$(bash tools/fetch_onnxruntime.sh)"
export PROMPTREEL_ORT_LIB
cargo run --release -q -p promptreel-bundle -- build
MODEL="$ROOT/target/bundle/Promptreel.ofx.bundle/Contents/Resources/models/default"
cargo run --release -q -p promptreel-engine --bin promptreel -- generate \
  --model "$MODEL" --prompt "${1:-a red ball moving right on a black background}" \
  --steps 20 --seed 1 --report out/demo/report.json --out out/demo
