#!/usr/bin/env bash
# Caches the NVIDIA libraries a GPU bundle ships next to ONNX Runtime's CUDA (and TensorRT)
# provider, taken from NVIDIA's wheels on PyPI (pip is the only network client it uses).
#
#   bash tools/fetch_cuda_libraries.sh cuda       # CUDA 13.0 runtime, cuBLAS, cuRAND, cuFFT, NVRTC, cuDNN
#   bash tools/fetch_cuda_libraries.sh tensorrt   # all of that and TensorRT: refused, see below
#
# The pinned wheels are downloaded once into <target>/gpu-wheels/ (kept, so a rebuild downloads
# nothing; a cached wheel whose sha256 is not the pinned one is downloaded again), and the
# libraries the provider needs are extracted flat into <target>/cuda-libraries/<flavour>/ with
# gpu-runtime.json, which names them in the order the engine loads them (`preload`, each file
# after the ones it needs, checked against the libraries' ELF NEEDED entries) and records the
# wheels and their sha256. Each wheel's licence (`*.dist-info/licenses/License.txt`: five carry
# the CUDA EULA, cuDNN its own) goes to licenses/<package>.txt there (licenses/nvidia-cublas.txt),
# listed under `licenses` in gpu-runtime.json; the bundle ships them. <target> is
# $CARGO_TARGET_DIR when set, else target/ (the rule promptreel-bundle follows). The folder is
# built next to its place and renamed into it, so it is complete or absent. Idempotent: with the
# folder up to date it only prints its path (stdout; progress goes to stderr); one made before
# the licences were collected is rebuilt from the cached wheels. Linux x86-64 only.
#
# CUDA 13.0 components: by CUDA's minor-version compatibility they run on every CUDA 13 driver,
# NVIDIA driver branch 580 or newer. onnxruntime-gpu 1.31.1 (tools/fetch_onnxruntime.sh --gpu
# cuda) asks for these packages in its `cuda` and `cudnn` extras.
#
# TensorRT cannot be taken from PyPI: ONNX Runtime 1.31.1's libonnxruntime_providers_tensorrt.so
# NEEDs libnvinfer.so.10 and libnvonnxparser.so.10, which only NVIDIA's tensorrt-cu13-libs
# carries, and PyPI has no wheel of it (every version, 10.13 to 11.4, is a source package whose
# `wheel-stub` build downloads the real wheel from NVIDIA's own index; tensorrt-cu13-bindings
# 10.16.1.11 is a wheel, but holds only the Python module tensorrt.so). So `tensorrt` stops with
# that explanation instead of shipping a provider that cannot load.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
ORT_VERSION="${PROMPTREEL_ORT_GPU_VERSION:-1.31.1}"
CUDA_VERSION="13.0"
DRIVER="580"

# "package==version sha256"; the sha256 is checked on every wheel taken from the cache or PyPI
# ("-": not pinned yet, any file of that version is taken and its sha256 recorded).
CUDA_WHEELS=(
  "nvidia-cuda-runtime==13.0.96 7f82250d7782aa23b6cfe765ecc7db554bd3c2870c43f3d1821f1d18aebf0548"
  "nvidia-cublas==13.0.2.14 0cf238ffdbe46c00cb9aa98e7bca745c223a5ca5a53e686ac8b3e5a08fe80d6c"
  "nvidia-curand==10.4.0.35 1aee33a5da6e1db083fe2b90082def8915f30f3248d5896bcec36a579d941bfc"
  "nvidia-cufft==12.0.0.61 6c44f692dce8fd5ffd3e3df134b6cdb9c2f72d99cf40b62c32dde45eea9ddad3"
  "nvidia-cuda-nvrtc==13.0.88 ad9b6d2ead2435f11cbb6868809d2adeeee302e9bb94bcf0539c7a40d80e8575"
  "nvidia-cudnn-cu13==9.28.1.4 a54f205b1db1f2895d99f398754db1369816f0569dd459731f925635cf7b65ec"
)
# The libraries ONNX Runtime's CUDA provider needs, in load order (each after those it NEEDs).
CUDA_LIBRARIES=(
  libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcurand.so.10 libcufft.so.12
  libnvrtc-builtins.so.13.0 libnvrtc.so.13
  libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_cnn.so.9 libcudnn_adv.so.9
  libcudnn_heuristic.so.9 libcudnn_engines_precompiled.so.9
  libcudnn_engines_runtime_compiled.so.9 libcudnn_engines_tensor_ir.so.9 libcudnn_ext.so.9
  libcudnn.so.9
)
TENSORRT_MISSING="the tensorrt flavour cannot be built from PyPI: ONNX Runtime $ORT_VERSION's \
TensorRT provider (libonnxruntime_providers_tensorrt.so) needs libnvinfer.so.10 and \
libnvonnxparser.so.10, which only NVIDIA's tensorrt-cu13-libs package carries, and PyPI has no \
wheel of tensorrt-cu13-libs (10.16.1.11, like every version, is a source package that downloads \
the libraries from NVIDIA's own package index when built; tensorrt-cu13-bindings holds only the \
Python module). Build the cuda flavour instead."

usage() {
  echo "usage: bash tools/fetch_cuda_libraries.sh cuda|tensorrt" >&2
  exit 2
}

[ $# -eq 1 ] || usage
FLAVOUR="$1"
case "$FLAVOUR" in
  cuda)
    WHEELS=("${CUDA_WHEELS[@]}")
    LIBRARIES=("${CUDA_LIBRARIES[@]}")
    ;;
  tensorrt)
    echo "fetch_cuda_libraries: $TENSORRT_MISSING" >&2
    exit 1
    ;;
  *)
    echo "fetch_cuda_libraries: unknown flavour '$FLAVOUR'" >&2
    usage
    ;;
esac
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "fetch_cuda_libraries: NVIDIA's CUDA wheels for the bundle are for Linux x86-64 only;" \
    "this is $(uname -s) $(uname -m)" >&2
  exit 1
fi

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET"
TARGET="$(cd "$TARGET" && pwd)"

WHEEL_LIST="$(printf '%s\n' "${WHEELS[@]}")" \
LIBRARY_LIST="$(printf '%s\n' "${LIBRARIES[@]}")" \
exec "$PYTHON" - "$FLAVOUR" "$TARGET" "$ORT_VERSION" "$CUDA_VERSION" "$DRIVER" <<'PY'
import glob, hashlib, json, os, shutil, struct, subprocess, sys, zipfile

flavour, target, ort_version, cuda_version, driver = sys.argv[1:]
wheels = []
for line in os.environ["WHEEL_LIST"].split("\n"):
    spec, sha256 = line.split()
    name, version = spec.split("==")
    wheels.append({"name": name, "version": version, "sha256": sha256})
libraries = os.environ["LIBRARY_LIST"].split()
# Where each wheel's licence goes in the folder, in the order of the wheels.
licenses = [f"licenses/{w['name']}.txt" for w in wheels]
cache = os.path.join(target, "gpu-wheels")
dest = os.path.join(target, "cuda-libraries", flavour)
manifest_name = "gpu-runtime.json"


def say(message):
    print(f"fetch_cuda_libraries: {message}", file=sys.stderr, flush=True)


def fail(message):
    sys.exit(f"fetch_cuda_libraries: {message}")


def up_to_date():
    """Whether dest holds this pinning's libraries and manifest already."""
    try:
        with open(os.path.join(dest, manifest_name)) as f:
            old = json.load(f)
        return (
            old.get("format") == 1
            and old.get("flavour") == flavour
            and old.get("onnxruntime") == ort_version
            and old.get("cuda") == cuda_version
            and old.get("driver") == driver
            and old.get("preload") == libraries
            and old.get("licenses") == licenses
            and len(old["wheels"]) == len(wheels)
            and all(
                (o["name"], o["version"]) == (w["name"], w["version"])
                and w["sha256"] in ("-", o["sha256"])
                for o, w in zip(old["wheels"], wheels)
            )
            and all(os.path.isfile(os.path.join(dest, f)) for f in libraries + licenses)
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


if up_to_date():
    print(dest)
    sys.exit(0)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached(wheel):
    """The cached wheel file of this pin with the pinned sha256 (and its sha256), or None."""
    stem = wheel["name"].replace("-", "_")
    for path in sorted(glob.glob(os.path.join(cache, f"{stem}-{wheel['version']}-*.whl"))):
        digest = sha256_of(path)
        if wheel["sha256"] in ("-", digest):
            return path, digest
        say(f"{os.path.basename(path)} is not the pinned file (sha256 differs); removing it")
        os.remove(path)
    return None


os.makedirs(cache, exist_ok=True)
files = {}  # package name: (wheel path, its sha256)
for w in wheels:
    hit = cached(w)
    if hit is not None:
        files[w["name"]] = hit
missing = [w for w in wheels if w["name"] not in files]
if missing:
    specs = [f"{w['name']}=={w['version']}" for w in missing]
    say(f"downloading {', '.join(specs)} from PyPI into {cache}")
    download = os.path.join(cache, f".download-{os.getpid()}")
    shutil.rmtree(download, ignore_errors=True)
    try:
        # Wheels for any glibc up to 2.28 (as onnxruntime-gpu's manylinux_2_28): pip takes a
        # --platform literally, without the older manylinux tags it implies.
        platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(28, 4, -1)]
        platforms += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--progress-bar", "off", "--no-deps",
             "--only-binary=:all:", *(f"--platform={p}" for p in platforms),
             "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
             "-d", download, *specs],
            check=True, stdout=sys.stderr,
        )
        for name in os.listdir(download):
            os.replace(os.path.join(download, name), os.path.join(cache, name))
    except subprocess.CalledProcessError as e:
        fail(f"pip download failed ({e.returncode})")
    finally:
        shutil.rmtree(download, ignore_errors=True)
    for w in missing:
        hit = cached(w)
        if hit is None:
            fail(f"PyPI's {w['name']}=={w['version']} is not the pinned wheel "
                 f"(sha256 {w['sha256']})")
        files[w["name"]] = hit
for w in wheels:
    if w["sha256"] == "-":
        say(f"{w['name']}=={w['version']} is not pinned by sha256; "
            f"this one is {files[w['name']][1]}")
        w["sha256"] = files[w["name"]][1]
files = {name: path for name, (path, _) in files.items()}

# Where each library is in the wheels: exactly one member of that name.
found = {}
for w in wheels:
    with zipfile.ZipFile(files[w["name"]]) as z:
        for member in z.namelist():
            base = member.rsplit("/", 1)[-1]
            if base in libraries:
                if base in found:
                    fail(f"{base} is in two wheels: {found[base][0]['name']} and {w['name']}")
                found[base] = (w, member)
absent = [lib for lib in libraries if lib not in found]
if absent:
    fail(f"{', '.join(absent)} not in any of the wheels {', '.join(w['name'] for w in wheels)}")

# Each wheel's licence: exactly one *.dist-info/licenses/License.txt.
license_members = {}
for w in wheels:
    with zipfile.ZipFile(files[w["name"]]) as z:
        members = [m for m in z.namelist()
                   if m.endswith("/licenses/License.txt")
                   and m.count("/") == 2 and m.split("/", 1)[0].endswith(".dist-info")]
    if len(members) != 1:
        fail(f"{os.path.basename(files[w['name']])} holds {len(members)} "
             f"*.dist-info/licenses/License.txt files, not one")
    license_members[w["name"]] = members[0]

parent = os.path.dirname(dest)
os.makedirs(parent, exist_ok=True)
tmp = os.path.join(parent, f".{flavour}.tmp-{os.getpid()}")
old = os.path.join(parent, f".{flavour}.old-{os.getpid()}")
shutil.rmtree(tmp, ignore_errors=True)
os.makedirs(tmp)
try:
    say(f"extracting {len(libraries)} libraries into {dest}")
    for lib in libraries:
        w, member = found[lib]
        with zipfile.ZipFile(files[w["name"]]) as z, z.open(member) as src:
            with open(os.path.join(tmp, lib), "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    os.makedirs(os.path.join(tmp, "licenses"))
    for w, path in zip(wheels, licenses):
        with zipfile.ZipFile(files[w["name"]]) as z, z.open(license_members[w["name"]]) as src:
            with open(os.path.join(tmp, path), "wb") as out:
                shutil.copyfileobj(src, out)

    # Check the load order against the ELF dynamic sections: a library may only NEED one loaded
    # before it, or one the system provides (the C and C++ runtimes, zlib, the driver's libcuda).
    system = {
        "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0",
        "libgcc_s.so.1", "libstdc++.so.6", "ld-linux-x86-64.so.2", "libz.so.1", "libcuda.so.1",
    }

    def needed(path):
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                fail(f"{os.path.basename(path)} is not a 64-bit little-endian ELF library")
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            loads, dynamic = [], None
            for i in range(phnum):
                kind, _, offset, vaddr, _, filesz, _, _ = struct.unpack_from(
                    "<IIQQQQQQ", table, i * phentsize)
                if kind == 1:
                    loads.append((vaddr, offset, filesz))
                elif kind == 2:
                    dynamic = (offset, filesz)
            if dynamic is None:
                return []
            f.seek(dynamic[0])
            data = f.read(dynamic[1])
            entries = [struct.unpack_from("<qQ", data, i) for i in range(0, len(data), 16)]
            strtab = next(value for tag, value in entries if tag == 5)
            at = next(off + strtab - va for va, off, size in loads if va <= strtab < va + size)
            names = []
            for tag, value in entries:
                if tag == 1:
                    f.seek(at + value)
                    names.append(f.read(256).split(b"\0", 1)[0].decode())
            return names

    loaded = set()
    for lib in libraries:
        for dep in needed(os.path.join(tmp, lib)):
            if dep in libraries and dep not in loaded:
                fail(f"{lib} needs {dep}, which comes after it in the load order")
            if dep not in libraries and dep not in system:
                fail(f"{lib} needs {dep}, which is neither shipped nor a system library")
        loaded.add(lib)

    manifest = {
        "format": 1,
        "flavour": flavour,
        "onnxruntime": ort_version,
        "cuda": cuda_version,
        "driver": driver,
        "preload": libraries,
        "licenses": licenses,
        "wheels": [
            {"name": w["name"], "version": w["version"],
             "file": os.path.basename(files[w["name"]]), "sha256": w["sha256"]}
            for w in wheels
        ],
    }
    with open(os.path.join(tmp, manifest_name), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    if os.path.exists(dest):
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(dest)
PY
