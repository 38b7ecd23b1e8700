#!/usr/bin/env bash
# Runs the whole test suite: engine (schedulers and pipeline parity against diffusers,
# bad input), the shipped default model (prompt accuracy, parity with diffusers), the exporter's
# refusals (needs python3, no PyTorch), plugin (through a headless OFX host loading the built
# plugin), bundle, C smoke host.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
export PROMPTREEL_ORT_LIB="$ROOT/target/onnxruntime/libonnxruntime.so"
# Keep the tests' disk cache away from the user's.
export PROMPTREEL_CACHE_DIR="${PROMPTREEL_CACHE_DIR:-$ROOT/target/test-cache}"
cargo test --workspace "$@"
