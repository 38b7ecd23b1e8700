#!/usr/bin/env bash
# The Windows lane of the tests: cross-builds the plug-in, the Windows bundles (CPU and
# DirectML) and the command-line renderer for x86_64-pc-windows-gnu, and runs under Wine:
#   - the plug-in's disk cache tests on Windows file semantics (renames over open files, the
#     cache folder in %LOCALAPPDATA%);
#   - the headless OFX host built for Windows, loading the Windows bundle's Contents/Win64 and
#     rendering float, 16-bit and 8-bit frames compared with the engine's, plus its bad inputs
#     (tests/ofx_host.rs), and which onnxruntime.dll the plug-in loads, a bundle without one,
#     and DirectML where Direct3D 12 cannot run (tests/windows_bundle.rs);
# and on Linux:
#   - the Windows plug-in's export and import tables (tests/windows_exports.rs);
#   - the Windows CLI rendering the default prompt to the same bytes as the Linux one, and its
#     DirectML refusal (onnx/tests/windows_cli.rs).
# tools/test.sh runs it after the Linux tests; it prints how long it took. Needs what
# tools/setup_windows.sh installs (it runs it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
START=$SECONDS
TARGET=x86_64-pc-windows-gnu

WINE="$(bash tools/setup_windows.sh)"
export PROMPTREEL_WINE="$WINE"
export PROMPTREEL_WINE_PREFIX="${PROMPTREEL_WINE_PREFIX:-$ROOT/target/wine/prefix}"
export WINEPREFIX="$PROMPTREEL_WINE_PREFIX" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
# `cargo test --target x86_64-pc-windows-gnu` runs the test executables through Wine.
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$WINE"
# The Linux CLI the Windows one is compared with.
PROMPTREEL_ORT_LIB="${PROMPTREEL_ORT_LIB:-$(bash tools/fetch_onnxruntime.sh)}"
export PROMPTREEL_ORT_LIB
export PROMPTREEL_CACHE_DIR="${PROMPTREEL_CACHE_DIR:-$ROOT/target/test-cache}"

step() {
  local t=$SECONDS
  echo "windows lane: $1" >&2
  shift
  "$@"
  echo "windows lane:   done in $((SECONDS - t)) s" >&2
}

# The debug profile, as the Linux tests use: one build of the dependencies serves the plug-in,
# the CLI and the test executables. With line tables only, not full debug information: the DLL
# is about a quarter of the size (full: 269 MB) and links in a fraction of the time, and
# backtraces still name files and lines. Only the Windows builds see this; the Linux ones keep
# theirs (the `cargo run` and `cargo test` without --target below).
WIN=(env -u PROMPTREEL_ORT_LIB CARGO_PROFILE_DEV_DEBUG=line-tables-only)
step "building the plug-in and the CLI for $TARGET" \
  "${WIN[@]}" cargo build --target "$TARGET" -p promptreel-ofx --lib -p promptreel-engine --bin promptreel
step "assembling the Windows bundles" bash -c '
  cargo run -q -p promptreel-bundle -- build --target windows --debug --no-build
  cargo run -q -p promptreel-bundle -- build --target windows --gpu directml --debug --no-build'

# Windows programs find ONNX Runtime in the bundle, never through a Linux path (WIN drops it).
step "disk cache tests under Wine" \
  "${WIN[@]}" cargo test --target "$TARGET" -p promptreel-ofx --lib cache
step "the headless host under Wine (tests/ofx_host.rs, tests/windows_bundle.rs)" \
  "${WIN[@]}" cargo test --target "$TARGET" -p promptreel-ofx \
  --test ofx_host --test windows_bundle -- \
  text_to_video_on_a_natron_like_host text_to_video_on_a_resolve_like_host \
  a_bundle_missing_its_runtime the_bundled_runtime_is_used asking_for_directml
# With --workspace, as tools/test.sh builds the Linux tests: the same features, so nothing is
# compiled again (-p for each package alone recompiles a dozen crates, about 3 minutes).
step "the Windows binaries from Linux (exports, CLI parity)" \
  cargo test --workspace --test windows_exports --test windows_cli

echo "windows lane: passed in $((SECONDS - START)) s" >&2
