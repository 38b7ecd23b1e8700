#!/usr/bin/env bash
# Installs the test server of the remote graph backend: MLServer (a KServe v2 / Open Inference
# Protocol server, standing in for NVIDIA Triton, which cannot be installed here) with ONNX Runtime,
# in a virtual environment at <target>/mlserver/venv, where <target> is $CARGO_TARGET_DIR when set,
# else target/. The packages are the pinned ones of tools/remote/requirements.txt, from PyPI
# (pip is the only network client it uses); the server itself is tools/remote/serve_mlserver.py.
# Idempotent: the venv holds a marker with the sha256 of requirements.txt, written last, and a
# second run with a matching marker does nothing. A venv without it (an interrupted run, older
# requirements) is removed and made anew.
#
#   bash tools/fetch_mlserver.sh     # prints the venv's python, the one to run serve_mlserver.py
#
# PYTHON picks the interpreter the venv is made from (default python3; it must be CPython 3.11 or
# 3.12). On Debian and Ubuntu, where `python3 -m venv` fails until the python3.X-venv package is
# there ("ensurepip is not available"), that package is installed with apt (sudo when not root).
# Progress goes to stderr; stdout has the one path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUIREMENTS="$ROOT/tools/remote/requirements.txt"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET" in /*) ;; *) TARGET="$PWD/$TARGET" ;; esac  # cargo reads it from the working dir
DEST="$TARGET/mlserver"
VENV="$DEST/venv"
MARKER="$VENV/promptreel-requirements.sha256"
PYTHON="${PYTHON:-python3}"

sha256_of() {
  if command -v sha256sum >/dev/null; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1
  fi
}
WANTED="$(sha256_of "$REQUIREMENTS")"

installed() {
  [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$WANTED" ] && [ -x "$VENV/bin/python" ]
}
if installed; then
  echo "$VENV/bin/python"
  exit 0
fi

mkdir -p "$DEST"
# Two test runs may start this at once: the second waits for the first, then finds it done.
if command -v flock >/dev/null; then
  exec 9>"$DEST/.lock"
  flock 9
  if installed; then
    echo "$VENV/bin/python"
    exit 0
  fi
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "fetch_mlserver: there is no $PYTHON; point PYTHON at a CPython 3.11 or 3.12" >&2
  exit 1
fi
SUPPORTED='import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'
if ! "$PYTHON" -c "$SUPPORTED" 2>/dev/null; then
  echo "fetch_mlserver: MLServer 1.7.1 and its pinned packages need CPython 3.11 or 3.12;" \
    "$PYTHON is $("$PYTHON" --version 2>&1). Point PYTHON at one." >&2
  exit 1
fi

# Debian's and Ubuntu's Python leave ensurepip (and so `venv` with pip) to python3.X-venv.
install_venv_package() {
  local version sudo=""
  version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  if ! command -v apt-get >/dev/null; then
    echo "fetch_mlserver: $PYTHON cannot make a venv (no ensurepip) and there is no apt-get;" \
      "install its venv module (python$version-venv or the like), or point PYTHON elsewhere" >&2
    exit 1
  fi
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "fetch_mlserver: installing python$version-venv (python -m venv needs ensurepip)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "python$version-venv" >/dev/null \
    || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
}

make_venv() {
  local log
  rm -rf "$VENV"
  log="$(mktemp)"
  if "$PYTHON" -m venv "$VENV" >"$log" 2>&1; then
    rm -f "$log"
    return 0
  fi
  cat "$log" >&2
  if grep -q ensurepip "$log"; then
    rm -f "$log"
    return 2
  fi
  rm -f "$log"
  return 1
}

echo "fetch_mlserver: creating $VENV from $PYTHON" >&2
status=0
make_venv || status=$?
if [ "$status" = 2 ]; then
  install_venv_package
  status=0
  make_venv || status=$?
fi
if [ "$status" != 0 ]; then
  echo "fetch_mlserver: could not create the venv at $VENV" >&2
  rm -rf "$VENV"
  exit 1
fi

echo "fetch_mlserver: installing tools/remote/requirements.txt" \
  "(MLServer, ONNX Runtime and their dependencies, about 400 MB)" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q \
  -r "$REQUIREMENTS" >&2

echo "$WANTED" > "$MARKER.part" && mv "$MARKER.part" "$MARKER"
echo "$VENV/bin/python"
