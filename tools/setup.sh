#!/usr/bin/env bash
# Installs what building and testing Promptreel needs, idempotently:
#   - libclang (the C library bindgen loads, for ofx-sys) from apt's libclang-dev, when missing;
#   - the pinned ONNX Runtime library, cached in target/onnxruntime/ (tools/fetch_onnxruntime.sh).
# Python and PyTorch are NOT needed here: they are only for the tools that export models.
#
#   bash tools/setup.sh                  # everything
#   bash tools/setup.sh --libclang-only  # only the libclang step (the tests use this)
#   bash tools/setup.sh --check          # only say whether libclang is there; installs nothing
#
# PROMPTREEL_SETUP_ROOT stands for `/` when looking for libclang, so the detection can be tested
# against a fake system folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SYSROOT="${PROMPTREEL_SETUP_ROOT:-}"

# The C API library that clang-sys (bindgen) loads is libclang.so, libclang-N.so or
# libclang.so.N (Debian: libclang-14.so.14, llvm-14/lib/libclang.so.1). libclang-cpp.so.N is the
# C++ API that other LLVM packages pull in: bindgen cannot use it, so it must not count.
is_libclang_name() {
  [[ "$1" =~ ^libclang(-[0-9]+(\.[0-9]+)*)?\.so(\.[0-9]+)*$ ]]
}

# Prints the first libclang found and succeeds, or fails quietly.
find_libclang() {
  local dirs=()
  [ -n "${LIBCLANG_PATH:-}" ] && dirs+=("$LIBCLANG_PATH")
  dirs+=("$SYSROOT"/usr/lib/llvm-*/lib "$SYSROOT"/usr/lib/*-linux-gnu "$SYSROOT"/usr/lib64
         "$SYSROOT"/usr/lib "$SYSROOT"/usr/local/lib)
  local dir file
  for dir in "${dirs[@]}"; do
    [ -d "$dir" ] || continue
    for file in "$dir"/libclang*.so*; do
      [ -e "$file" ] || continue
      if is_libclang_name "$(basename "$file")"; then
        echo "$file"
        return 0
      fi
    done
  done
  return 1
}

ensure_libclang() {
  [ "$(uname -s)" = "Linux" ] || return 0
  if find_libclang >/dev/null; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing libclang-dev (bindgen needs libclang; libclang-cpp is not enough)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libclang-dev >/dev/null
}

case "${1:-}" in
  --check)
    if found="$(find_libclang)"; then
      echo "libclang: $found"
    else
      echo "libclang: missing"
      exit 1
    fi
    ;;
  --libclang-only)
    ensure_libclang
    ;;
  "")
    ensure_libclang
    bash "$ROOT/tools/fetch_onnxruntime.sh" >/dev/null
    ;;
  *)
    echo "setup: unknown option $1 (use --check, --libclang-only or nothing)" >&2
    exit 2
    ;;
esac
