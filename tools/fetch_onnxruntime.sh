#!/usr/bin/env bash
# Caches the pinned ONNX Runtime shared library in target/onnxruntime/, taken from the official
# `onnxruntime` wheel on PyPI (pip is the only network client it uses). Idempotent: a second run
# with the library in place does nothing. The engine, the CLI, the tests and the bundle all load
# the library from there (or from PROMPTREEL_ORT_LIB).
#
#   bash tools/fetch_onnxruntime.sh            # prints the library path
set -euo pipefail

VERSION="${PROMPTREEL_ORT_VERSION:-1.32.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/target/onnxruntime"
PYTHON="${PYTHON:-python3}"

case "$(uname -s)" in
  Linux)  LIB="libonnxruntime.so";    MEMBER_RE="onnxruntime/capi/libonnxruntime\.so\.[0-9.]+$" ;;
  Darwin) LIB="libonnxruntime.dylib"; MEMBER_RE="onnxruntime/capi/libonnxruntime\.[0-9.]+\.dylib$" ;;
  MINGW*|MSYS*|CYGWIN*) LIB="onnxruntime.dll"; MEMBER_RE="onnxruntime/capi/onnxruntime\.dll$" ;;
  *) echo "fetch_onnxruntime: unsupported system $(uname -s)" >&2; exit 1 ;;
esac

if [ -f "$DEST/$LIB" ] && [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$VERSION" ]; then
  echo "$DEST/$LIB"
  exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "fetch_onnxruntime: downloading the onnxruntime $VERSION wheel from PyPI" >&2
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WORK" "onnxruntime==$VERSION" >&2

WHEEL="$(ls "$WORK"/onnxruntime-*.whl | head -n 1)"
"$PYTHON" - "$WHEEL" "$MEMBER_RE" "$DEST" "$LIB" <<'PY'
import os, re, shutil, sys, zipfile
wheel, member_re, dest, lib = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if re.search(member_re, m)]
    if not members:
        sys.exit(f"fetch_onnxruntime: no runtime library in {wheel}")
    member = members[0]
    real = os.path.join(dest, os.path.basename(member))
    tmp = real + ".part"
    with z.open(member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(tmp, real)  # atomic: a half-written library is never visible
    if os.path.basename(member) != lib:
        link = os.path.join(dest, lib)
        tmp_link = link + ".part"
        shutil.copyfile(real, tmp_link)
        os.replace(tmp_link, link)
PY
echo "$VERSION" > "$DEST/VERSION.part" && mv "$DEST/VERSION.part" "$DEST/VERSION"
echo "$DEST/$LIB"
