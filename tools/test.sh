#!/usr/bin/env bash
# Runs the whole test suite: engine (schedulers and pipeline parity against diffusers,
# bad input), the shipped default model (prompt accuracy, parity with diffusers), the exporter's
# refusals (needs python3, no PyTorch), plugin (through a headless OFX host loading the built
# plugin), bundle, C smoke host, and the GPU providers' checks that need no GPU; then the
# Windows lane (tools/test_windows.sh): the Win64 bundle and CLI cross-built and run under Wine.
# PROMPTREEL_SKIP_WINDOWS=1 leaves the Windows lane out (it says so); CI always runs it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash tools/setup.sh
export PROMPTREEL_ORT_LIB="$ROOT/target/onnxruntime/libonnxruntime.so"
# The CUDA build of ONNX Runtime (a 256 MB wheel, fetched once): onnx/tests/providers.rs checks
# that it renders on the CPU here and refuses CUDA in words on a machine without a GPU.
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  PROMPTREEL_ORT_CUDA_LIB="$(bash tools/fetch_onnxruntime.sh --gpu cuda)"
  export PROMPTREEL_ORT_CUDA_LIB
fi
# The remote backend's tests run a real KServe v2 server: MLServer with our runtime
# (tools/remote/), installed once into target/mlserver/venv from PyPI.
PROMPTREEL_MLSERVER_PYTHON="$(bash tools/fetch_mlserver.sh)"
export PROMPTREEL_MLSERVER_PYTHON
# DirectML and CoreML run only on Windows and macOS; their code paths must still compile here.
cargo check --quiet -p promptreel-engine --lib --features directml,coreml
# Keep the tests' disk cache away from the user's.
export PROMPTREEL_CACHE_DIR="${PROMPTREEL_CACHE_DIR:-$ROOT/target/test-cache}"
cargo test --workspace "$@"
if [ "${PROMPTREEL_SKIP_WINDOWS:-}" = 1 ]; then
  echo "test: the Windows lane was skipped (PROMPTREEL_SKIP_WINDOWS=1)" >&2
elif [ $# -gt 0 ]; then
  echo "test: the Windows lane runs with the whole suite only (no arguments); skipped" >&2
elif [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  bash tools/test_windows.sh
else
  echo "test: the Windows lane cross-builds on Linux x86-64 only; skipped on $(uname -s) $(uname -m)" >&2
fi
