#!/usr/bin/env bash
# Caches the pinned ONNX Runtime shared library in target/onnxruntime/, taken from the official
# `onnxruntime` wheel on PyPI (pip is the only network client it uses). Idempotent: a second run
# with the library in place does nothing. The engine, the CLI, the tests and the bundle all load
# the library from there (or from PROMPTREEL_ORT_LIB). Next to it go the wheel's licence files,
# LICENSE and ThirdPartyNotices.txt, which every bundle ships (promptreel-bundle refuses a library
# without them); a cache made without them is fetched again.
#
#   bash tools/fetch_onnxruntime.sh            # prints the library path
#   bash tools/fetch_onnxruntime.sh --gpu cuda # the GPU build (Linux x86-64), see below
#
# `--gpu cuda` caches the pinned `onnxruntime-gpu` wheel's libraries instead, for the CUDA and
# TensorRT bundles (`promptreel-bundle build --gpu cuda|tensorrt`; `--gpu tensorrt` is the same
# download, as the wheel holds both providers): libonnxruntime.so.<version> and a copy named
# libonnxruntime.so, libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so and
# libonnxruntime_providers_tensorrt.so, the two licence files, plus VERSION, in
# <target>/onnxruntime-cuda/, where <target> is $CARGO_TARGET_DIR when set, else target/ (the
# rule promptreel-bundle follows).
# The wheel is chosen for manylinux_2_28 x86-64 and CPython 3.11 whatever Python runs pip, so
# every machine gets the same file. The NVIDIA libraries it needs come from
# tools/fetch_cuda_libraries.sh. The CPU library stays in target/onnxruntime/ in any case.
#
#   bash tools/fetch_onnxruntime.sh --platform win64                # 64-bit Windows, CPU
#   bash tools/fetch_onnxruntime.sh --platform win64 --gpu directml # 64-bit Windows, DirectML
#
# `--platform win64` caches the libraries of a 64-bit Windows bundle, whatever system this runs
# on (`promptreel-bundle build --target windows` cross-builds the plug-in on Linux): the
# `onnxruntime` wheel for win_amd64 and CPython 3.11, of the same pinned version, gives
# onnxruntime.dll and onnxruntime_providers_shared.dll, with the two licence files and VERSION,
# in target/onnxruntime-win64/. With `--gpu directml` it is the DirectML build of ONNX Runtime
# instead, in target/onnxruntime-directml/: onnxruntime.dll and DirectML.dll from Microsoft's npm
# package `onnxruntime-node` (its Windows x64 binaries; npm comes from apt when missing), and
# onnxruntime_providers_shared.dll and the licence files from the `onnxruntime` wheel of the same
# release, pinned at 1.30.0 (PROMPTREEL_ORT_DIRECTML_VERSION picks another). Not PyPI's
# `onnxruntime-directml`: it stops at 1.24.4, older than the C API level the engine is built
# against, and its CPU kernels cannot run our CLIP text encoders (no Trilu on booleans). Neither
# package carries a licence of DirectML.dll of its own; ONNX Runtime's two files are all there
# is to ship. `--gpu directml` needs `--platform win64`, and `--platform` knows no other value.
# The Windows folders lie under the repository's target/ like the CPU one, whatever
# $CARGO_TARGET_DIR says.
# Both builds need the Visual C++ 2015-2022 runtime (MSVCP140.dll, VCRUNTIME140_1.dll) on the
# Windows machine; the wheels do not carry it.
set -euo pipefail

VERSION="${PROMPTREEL_ORT_VERSION:-1.32.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/target/onnxruntime"
PYTHON="${PYTHON:-python3}"
# The licence files, taken from the wheel's onnxruntime/ folder and kept next to the library.
NOTICES="LICENSE ThirdPartyNotices.txt"

GPU=""
PLATFORM=""
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu)
      if [ $# -lt 2 ]; then
        echo "fetch_onnxruntime: --gpu needs a flavour: cuda (or tensorrt, the same libraries)," \
          "or directml with --platform win64" >&2
        exit 2
      fi
      GPU="$2"; shift 2 ;;
    --gpu=*) GPU="${1#--gpu=}"; shift ;;
    --platform)
      if [ $# -lt 2 ]; then
        echo "fetch_onnxruntime: --platform needs a platform: win64" >&2
        exit 2
      fi
      PLATFORM="$2"; shift 2 ;;
    --platform=*) PLATFORM="${1#--platform=}"; shift ;;
    *)
      echo "fetch_onnxruntime: unknown argument $1 (use nothing, --gpu cuda," \
        "or --platform win64 [--gpu directml])" >&2
      exit 2 ;;
  esac
done

case "$PLATFORM" in
  ""|win64) ;;
  *)
    echo "fetch_onnxruntime: unknown platform '$PLATFORM': the one platform besides this" \
      "machine's is win64 (64-bit Windows)" >&2
    exit 2 ;;
esac
case "$GPU" in
  ""|cuda|tensorrt|directml) ;;
  *)
    echo "fetch_onnxruntime: unknown GPU flavour '$GPU' (use cuda or tensorrt, or directml with" \
      "--platform win64)" >&2
    exit 2 ;;
esac
if [ "$GPU" = directml ] && [ "$PLATFORM" != win64 ]; then
  echo "fetch_onnxruntime: --gpu directml is ONNX Runtime's DirectML build, which is packaged" \
    "for Windows only; add --platform win64" >&2
  exit 2
fi
if [ "$PLATFORM" = win64 ] && [ -n "$GPU" ] && [ "$GPU" != directml ]; then
  echo "fetch_onnxruntime: the $GPU build of ONNX Runtime is fetched for Linux x86-64 only;" \
    "with --platform win64 use --gpu directml, or no --gpu for the CPU build" >&2
  exit 2
fi

if [ "$PLATFORM" = win64 ]; then
  if [ "$GPU" = directml ]; then
    WIN_VERSION="${PROMPTREEL_ORT_DIRECTML_VERSION:-1.30.0}"
    WIN_DEST="$ROOT/target/onnxruntime-directml"
    # DirectML.dll is required, not optional: without the redistributable next to it, ONNX
    # Runtime's DirectML provider would fall back to the system's older DirectML.dll, if any.
    WIN_LIBS="onnxruntime.dll onnxruntime_providers_shared.dll DirectML.dll"
    # From the npm package: the DirectML build and DirectML.dll. The rest (the wheel's
    # onnxruntime_providers_shared.dll and the licence files) from the same release's wheel.
    NPM_LIBS="onnxruntime.dll DirectML.dll"
    WHEEL_LIBS="onnxruntime_providers_shared.dll"
  else
    WIN_VERSION="$VERSION"
    WIN_DEST="$ROOT/target/onnxruntime-win64"
    # onnxruntime_providers_shared.dll is what ONNX Runtime loads before any provider library;
    # the CPU provider does not need it, but it ships with the runtime as in the wheel.
    WIN_LIBS="onnxruntime.dll onnxruntime_providers_shared.dll"
    NPM_LIBS=""
    WHEEL_LIBS="$WIN_LIBS"
  fi
  complete=1
  for file in $WIN_LIBS $NOTICES; do
    [ -f "$WIN_DEST/$file" ] || complete=0
  done
  if [ "$complete" = 1 ] && [ -f "$WIN_DEST/VERSION" ] \
    && [ "$(cat "$WIN_DEST/VERSION")" = "$WIN_VERSION" ]; then
    echo "$WIN_DEST/onnxruntime.dll"
    exit 0
  fi

  mkdir -p "$WIN_DEST"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  # A folder being updated claims no version until every file is in place, so an interrupted
  # update is fetched again rather than taken for a complete cache of the old version.
  rm -f "$WIN_DEST/VERSION"
  # The same wheel whatever Python runs pip (CPython 3.11's win_amd64 build), so every machine
  # caches the same files.
  echo "fetch_onnxruntime: downloading the onnxruntime $WIN_VERSION wheel for 64-bit Windows" \
    "from PyPI (about 17 MB)" >&2
  "$PYTHON" -m pip download --progress-bar off --no-deps --only-binary=:all: \
    --platform win_amd64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$WORK" "onnxruntime==$WIN_VERSION" >&2
  WHEEL="$(ls "$WORK"/*.whl | head -n 1)"
  echo "fetch_onnxruntime: extracting into $WIN_DEST" >&2
  # shellcheck disable=SC2086 # NOTICES and WHEEL_LIBS are lists of plain file names
  "$PYTHON" - "$WHEEL" "$WIN_DEST" "$NOTICES" $WHEEL_LIBS <<'PY'
import os, shutil, sys, zipfile
wheel, dest, notices, *libs = sys.argv[1:]
members = [("onnxruntime/capi/" + lib, lib) for lib in libs]
members += [("onnxruntime/" + name, name) for name in notices.split()]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for member, _ in members:
        if member not in names:
            sys.exit(f"fetch_onnxruntime: {member} is not in {os.path.basename(wheel)}")
    for member, name in members:
        path = os.path.join(dest, name)
        with z.open(member) as src, open(path + ".part", "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(path + ".part", path)  # atomic: a half-written file is never visible
PY
  if [ -n "$NPM_LIBS" ]; then
    # PyPI's onnxruntime-directml stops at 1.24.4, whose CPU kernels cannot run the CLIP text
    # encoders of our packages (no Trilu on booleans); Microsoft's npm package onnxruntime-node
    # carries the DirectML build of each release for Windows, with DirectML.dll.
    if ! command -v npm >/dev/null; then
      sudo=""
      [ "$(id -u)" -ne 0 ] && sudo="sudo"
      echo "fetch_onnxruntime: installing npm from apt (the DirectML build comes from npm)" >&2
      $sudo apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm \
        >/dev/null
    fi
    echo "fetch_onnxruntime: downloading the onnxruntime-node $WIN_VERSION package from npm" \
      "(about 110 MB, for its Windows DirectML build)" >&2
    (cd "$WORK" && npm pack --silent "onnxruntime-node@$WIN_VERSION" >/dev/null)
    TARBALL="$(ls "$WORK"/onnxruntime-node-*.tgz | head -n 1)"
    # shellcheck disable=SC2086 # NPM_LIBS is a list of plain file names
    "$PYTHON" - "$TARBALL" "$WIN_DEST" $NPM_LIBS <<'PY'
import os, shutil, sys, tarfile
tarball, dest, *libs = sys.argv[1:]
with tarfile.open(tarball) as t:
    for lib in libs:
        member = "package/bin/napi-v6/win32/x64/" + lib
        try:
            src = t.extractfile(member)
        except KeyError:
            src = None
        if src is None:
            sys.exit(f"fetch_onnxruntime: {member} is not in {os.path.basename(tarball)}")
        path = os.path.join(dest, lib)
        with src, open(path + ".part", "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(path + ".part", path)  # atomic, as above
PY
  fi
  echo "$WIN_VERSION" > "$WIN_DEST/VERSION.part" && mv "$WIN_DEST/VERSION.part" "$WIN_DEST/VERSION"
  echo "$WIN_DEST/onnxruntime.dll"
  exit 0
fi

if [ -n "$GPU" ]; then
  if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
    echo "fetch_onnxruntime: the GPU build of ONNX Runtime is packaged for Linux x86-64 only;" \
      "this is $(uname -s) $(uname -m)" >&2
    exit 1
  fi
  GPU_VERSION="${PROMPTREEL_ORT_GPU_VERSION:-1.31.1}"
  GPU_DEST="${CARGO_TARGET_DIR:-$ROOT/target}/onnxruntime-cuda"
  GPU_LIBS="libonnxruntime.so.$GPU_VERSION libonnxruntime_providers_shared.so"
  GPU_LIBS="$GPU_LIBS libonnxruntime_providers_cuda.so libonnxruntime_providers_tensorrt.so"
  complete=1
  for file in libonnxruntime.so $GPU_LIBS $NOTICES; do
    [ -f "$GPU_DEST/$file" ] || complete=0
  done
  if [ "$complete" = 1 ] && [ -f "$GPU_DEST/VERSION" ] \
    && [ "$(cat "$GPU_DEST/VERSION")" = "$GPU_VERSION" ]; then
    echo "$GPU_DEST/libonnxruntime.so"
    exit 0
  fi

  mkdir -p "$GPU_DEST"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  echo "fetch_onnxruntime: downloading the onnxruntime-gpu $GPU_VERSION wheel from PyPI" \
    "(about 250 MB)" >&2
  "$PYTHON" -m pip download --progress-bar off --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
    -d "$WORK" "onnxruntime-gpu==$GPU_VERSION" >&2
  WHEEL="$(ls "$WORK"/onnxruntime_gpu-*.whl | head -n 1)"
  echo "fetch_onnxruntime: extracting into $GPU_DEST" >&2
  # shellcheck disable=SC2086 # NOTICES and GPU_LIBS are lists of plain file names
  "$PYTHON" - "$WHEEL" "$GPU_DEST" "$NOTICES" $GPU_LIBS <<'PY'
import os, shutil, sys, zipfile
wheel, dest, notices, *libs = sys.argv[1:]
members = [("onnxruntime/capi/" + lib, lib) for lib in libs]
members += [("onnxruntime/" + name, name) for name in notices.split()]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for member, _ in members:
        if member not in names:
            sys.exit(f"fetch_onnxruntime: {member} is not in {os.path.basename(wheel)}")
    for member, name in members:
        path = os.path.join(dest, name)
        with z.open(member) as src, open(path + ".part", "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(path + ".part", path)  # atomic: a half-written file is never visible
# The name the engine and the bundle look for: a copy of the versioned library.
link = os.path.join(dest, "libonnxruntime.so")
shutil.copyfile(os.path.join(dest, libs[0]), link + ".part")
os.replace(link + ".part", link)
PY
  echo "$GPU_VERSION" > "$GPU_DEST/VERSION.part" && mv "$GPU_DEST/VERSION.part" "$GPU_DEST/VERSION"
  echo "$GPU_DEST/libonnxruntime.so"
  exit 0
fi

case "$(uname -s)" in
  Linux)  LIB="libonnxruntime.so";    MEMBER_RE="onnxruntime/capi/libonnxruntime\.so\.[0-9.]+$" ;;
  Darwin) LIB="libonnxruntime.dylib"; MEMBER_RE="onnxruntime/capi/libonnxruntime\.[0-9.]+\.dylib$" ;;
  MINGW*|MSYS*|CYGWIN*) LIB="onnxruntime.dll"; MEMBER_RE="onnxruntime/capi/onnxruntime\.dll$" ;;
  *) echo "fetch_onnxruntime: unsupported system $(uname -s)" >&2; exit 1 ;;
esac

complete=1
for file in "$LIB" $NOTICES; do
  [ -f "$DEST/$file" ] || complete=0
done
if [ "$complete" = 1 ] && [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$VERSION" ]; then
  echo "$DEST/$LIB"
  exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "fetch_onnxruntime: downloading the onnxruntime $VERSION wheel from PyPI" >&2
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WORK" "onnxruntime==$VERSION" >&2

WHEEL="$(ls "$WORK"/onnxruntime-*.whl | head -n 1)"
"$PYTHON" - "$WHEEL" "$MEMBER_RE" "$DEST" "$LIB" "$NOTICES" <<'PY'
import os, re, shutil, sys, zipfile
wheel, member_re, dest, lib, notices = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    members = [m for m in z.namelist() if re.search(member_re, m)]
    if not members:
        sys.exit(f"fetch_onnxruntime: no runtime library in {wheel}")
    for name in notices.split():
        if "onnxruntime/" + name not in names:
            sys.exit(f"fetch_onnxruntime: onnxruntime/{name} is not in {os.path.basename(wheel)}")
    for name in notices.split():
        path = os.path.join(dest, name)
        with z.open("onnxruntime/" + name) as src, open(path + ".part", "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(path + ".part", path)  # atomic, like the library
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
