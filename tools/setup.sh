#!/usr/bin/env bash
# Installs what building and testing Promptreel needs, idempotently:
#   - libclang-dev (bindgen, for ofx-sys) from apt, when missing;
#   - the pinned ONNX Runtime library, cached in target/onnxruntime/ (tools/fetch_onnxruntime.sh).
# Python and PyTorch are NOT needed here: they are only for the tools that export models.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

have_libclang() {
  [ -n "${LIBCLANG_PATH:-}" ] && return 0
  ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && return 0
  ls /usr/lib/x86_64-linux-gnu/libclang*.so* /usr/lib/aarch64-linux-gnu/libclang*.so* >/dev/null 2>&1
}

if [ "$(uname -s)" = "Linux" ] && ! have_libclang; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing libclang-dev (needed by bindgen)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libclang-dev >/dev/null
fi

bash "$ROOT/tools/fetch_onnxruntime.sh" >/dev/null
