#!/usr/bin/env bash
# Installs what the Windows lane of the tests needs (tools/test_windows.sh), idempotently, and
# prints the Wine loader's path on stdout (progress goes to stderr):
#   - Rust's x86_64-pc-windows-gnu target (rustup);
#   - mingw-w64 (the linker .cargo/config.toml names, and objcopy for the bundle's debug
#     information) and Wine 8 (`wine64`) from apt, when missing;
#   - a Wine prefix of our own in target/wine/prefix (never the user's ~/.wine);
#   - the test-only bcryptprimitives.dll, built from tools/windows/bcryptprimitives_shim.c into
#     that prefix's system32. Wine 8 lacks the DLL, and Rust's standard library imports
#     ProcessPrng from it; real Windows 10 and later have it, so the shim is never shipped.
#
#   bash tools/setup_windows.sh    # prints e.g. /usr/lib/wine/wine64
#
# PROMPTREEL_WINE_PREFIX chooses another prefix folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PROMPTREEL_WINE_PREFIX:-$ROOT/target/wine/prefix}"
TARGET=x86_64-pc-windows-gnu
SHIM_SRC="$ROOT/tools/windows/bcryptprimitives_shim.c"
SHIM_DLL="$ROOT/target/wine/bcryptprimitives.dll"

if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "setup_windows: the Windows lane cross-builds on Linux x86-64; this is" \
    "$(uname -s) $(uname -m)" >&2
  exit 1
fi

if ! rustup target list --installed | grep -qx "$TARGET"; then
  echo "setup_windows: adding Rust's $TARGET target" >&2
  rustup target add "$TARGET" >&2
fi

# The Wine loader: Debian's wine64 package installs it in /usr/lib/wine; the `wine` package (and
# other distributions) put `wine64` or `wine` on PATH.
find_wine() {
  local c
  for c in "${PROMPTREEL_WINE:-}" /usr/lib/wine/wine64 "$(command -v wine64 || true)" \
    "$(command -v wine || true)"; do
    if [ -n "$c" ] && [ -x "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if ! command -v x86_64-w64-mingw32-gcc >/dev/null \
  || ! command -v x86_64-w64-mingw32-objcopy >/dev/null || ! find_wine >/dev/null; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup_windows: installing mingw-w64 and Wine from apt (about 400 MB, once)" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine64 >/dev/null
fi
WINE="$(find_wine)" || { echo "setup_windows: no Wine loader after installing wine64" >&2; exit 1; }

# Quiet, and no prompts to install Wine's .NET (mono) or HTML (gecko) engines: nothing here
# needs them, and this machine may not reach their downloads.
export WINEPREFIX="$PREFIX" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
WINESERVER="$(dirname "$WINE")/wineserver"
[ -x "$WINESERVER" ] || WINESERVER="$(command -v wineserver || echo wineserver)"
if [ ! -f "$PREFIX/system.reg" ] || [ ! -d "$PREFIX/drive_c/windows/system32" ]; then
  echo "setup_windows: creating the Wine prefix $PREFIX" >&2
  mkdir -p "$PREFIX"
  # NOTE: a 64-bit-only Wine says it cannot find syswow64's rundll32.exe; the prefix is fine.
  "$WINE" wineboot -i >/dev/null 2>&1 || true
  "$WINESERVER" -w || true
  if [ ! -f "$PREFIX/system.reg" ]; then
    echo "setup_windows: wineboot did not create $PREFIX" >&2
    exit 1
  fi
fi

if [ ! -f "$SHIM_DLL" ] || [ "$SHIM_SRC" -nt "$SHIM_DLL" ]; then
  echo "setup_windows: building the test shim bcryptprimitives.dll" >&2
  mkdir -p "$(dirname "$SHIM_DLL")"
  x86_64-w64-mingw32-gcc -O2 -shared -Wl,--kill-at -o "$SHIM_DLL.part" "$SHIM_SRC" -ladvapi32
  mv "$SHIM_DLL.part" "$SHIM_DLL"
fi
SYSTEM32="$PREFIX/drive_c/windows/system32"
if ! cmp -s "$SHIM_DLL" "$SYSTEM32/bcryptprimitives.dll"; then
  cp "$SHIM_DLL" "$SYSTEM32/.bcryptprimitives.dll.part"
  mv "$SYSTEM32/.bcryptprimitives.dll.part" "$SYSTEM32/bcryptprimitives.dll"
fi

echo "$WINE"
