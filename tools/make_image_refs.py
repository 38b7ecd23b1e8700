"""Writes the conditioning-image fixtures in onnx/tests/data/image/ with Pillow and diffusers.

The Rust test `onnx/tests/image.rs` checks `promptreel_engine::image` against these files:

* Source PNGs (deterministic patterns, no randomness beyond a fixed seed):
  `rgb_a.png` (37x23), `rgb_b.png` (64x48), `rgb_c.png` (9x14), `rgb_d.png` (10x31): 8-bit RGB, colourful gradients
  with hard edges and noise so Lanczos overshoots and clips; `rgb16.png` (11x7, 16-bit RGB,
  written by hand because Pillow cannot save 48-bit RGB); `palette.png` (8-bit palette),
  `palette4.png` (4-bit palette, packed indices); `rgba_opaque.png` (every alpha 255);
  `gray.png` (8-bit grayscale), `rgba_translucent.png` (some alpha < 255) and
  `palette_trns.png` (a palette with a transparent entry in use): these three must be refused.
* `<name>.rgb.npy`: what `numpy.array(Image.open(p).convert("RGB"))` gives for each accepted
  source, uint8 [H, W, 3].
* `<src>__<fit>__<W>x<H>.npy`: diffusers' `VaeImageProcessor().resize(img, H, W, resize_mode)`
  with resize_mode "default" (fit "stretch", a plain `Image.resize(.., LANCZOS)`) or "crop"
  (`_resize_and_crop`), uint8 [H, W, 3].
* `preprocess__rgb_a__32x24.npy`: `VaeImageProcessor().preprocess(rgb_a, height=24, width=32)`,
  float32 [1, 3, 24, 32] (resize then scale to [-1, 1]).

Run from the repository root (deterministic for a given Pillow/numpy version):

    /opt/ptools/bin/python tools/make_image_refs.py

For a wider check that stays out of the repository, `--fuzz DIR [COUNT]` writes COUNT (default
500) random cases (noise sources of 1 to 90 pixels a side, random targets, both fits) to DIR as
`src_<i>.png` plus `src_<i>__<fit>__<W>x<H>.npy`; then run the ignored test:

    PROMPTREEL_IMAGE_FUZZ=DIR cargo test -p promptreel-engine --test image -- --ignored

Written with Pillow 13.0, numpy 2.4 and diffusers 0.42.
"""

import pathlib
import struct
import zlib

import numpy as np
import PIL
from PIL import Image
from diffusers.image_processor import VaeImageProcessor

OUT = pathlib.Path(__file__).resolve().parent.parent / "onnx" / "tests" / "data" / "image"


def pattern(w, h, seed):
    """A colourful test card: gradients, a checkerboard, a hard-edged disc and some noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 127.5 + 127.5 * np.sin(0.9 * x + 0.5 * y)
    img = np.stack([r, g, b], axis=-1)
    checker = ((x // 3 + y // 3) % 2 == 0)[..., None]
    img = np.where(checker & (x < w / 3)[..., None], 255 - img, img)
    disc = ((x - 0.6 * w) ** 2 + (y - 0.5 * h) ** 2 < (0.25 * min(w, h)) ** 2)[..., None]
    img = np.where(disc, np.array([250.0, 10.0, 240.0]), img)
    rng = np.random.default_rng(seed)
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png_rgb16(path, arr):
    """A 16-bit RGB PNG (colour type 2, depth 16), big-endian samples, filter 0 on every row."""
    h, w, _ = arr.shape
    raw = b"".join(b"\0" + arr[row].astype(">u2").tobytes() for row in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
    path.write_bytes(data + chunk(b"IEND", b""))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()

    sources = {
        "rgb_a": Image.fromarray(pattern(37, 23, 1), "RGB"),
        "rgb_b": Image.fromarray(pattern(64, 48, 2), "RGB"),
        "rgb_c": Image.fromarray(pattern(9, 14, 3), "RGB"),
        "rgb_d": Image.fromarray(pattern(10, 31, 6), "RGB"),
    }
    for name, im in sources.items():
        im.save(OUT / f"{name}.png")

    # 16-bit RGB: Pillow opens it as mode "RGB" keeping each sample's high byte.
    rng = np.random.default_rng(4)
    write_png_rgb16(OUT / "rgb16.png", rng.integers(0, 65536, (7, 11, 3), dtype=np.uint16))

    card = Image.fromarray(pattern(12, 10, 5), "RGB")
    card.quantize(colors=64).save(OUT / "palette.png")  # 8-bit indices (more than 16 colours)
    card.quantize(colors=16).save(OUT / "palette4.png", bits=4)
    opaque = card.convert("RGBA")
    opaque.save(OUT / "rgba_opaque.png")

    card.convert("L").save(OUT / "gray.png")
    translucent = np.array(opaque)
    translucent[2:5, 3:7, 3] = 128
    Image.fromarray(translucent, "RGBA").save(OUT / "rgba_translucent.png")
    pal = card.quantize(colors=8)
    assert 0 in np.array(pal), "the transparent entry must be in use"
    pal.save(OUT / "palette_trns.png", transparency=0)

    for name in ["rgb_a", "rgb_b", "rgb_c", "rgb_d", "rgb16", "palette", "palette4", "rgba_opaque"]:
        with Image.open(OUT / f"{name}.png") as im:
            np.save(OUT / f"{name}.rgb.npy", np.array(im.convert("RGB")))

    processor = VaeImageProcessor()
    cases = [
        # (source, fit, width, height)
        ("rgb_a", "stretch", 64, 40),  # upscale, non-integer ratios
        ("rgb_a", "stretch", 12, 7),  # downscale by just over 3x
        ("rgb_a", "stretch", 37, 50),  # vertical only
        ("rgb_a", "stretch", 20, 23),  # horizontal only
        ("rgb_a", "stretch", 37, 23),  # same size: a copy
        ("rgb_b", "stretch", 16, 12),  # 4x down, aspect kept
        ("rgb_b", "stretch", 9, 5),  # about 7x / 10x down
        ("rgb_b", "stretch", 1, 1),
        ("rgb_b", "stretch", 1, 10),  # one pixel wide
        ("rgb_b", "stretch", 100, 1),  # one pixel tall, upscale in x
        ("rgb_c", "stretch", 33, 31),  # upscale, odd ratios
        # Pillow 13 runs the vertical pass first when the height shrinks by more than twice as
        # many pixels as the width: these take that order, the ones above mostly the other.
        ("rgb_a", "stretch", 40, 9),
        ("rgb_b", "stretch", 60, 20),
        ("rgb_b", "stretch", 50, 40),  # both shrink, horizontal first
        ("rgb_d", "stretch", 8, 12),
        ("rgb_d", "stretch", 3, 2),
        ("rgb_a", "crop", 32, 32),
        ("rgb_a", "crop", 64, 40),
        ("rgb_a", "crop", 16, 24),
        ("rgb_b", "crop", 30, 10),
        ("rgb_b", "crop", 10, 30),
        ("rgb_b", "crop", 48, 64),
        ("rgb_b", "crop", 16, 12),  # aspect already matches: same as stretch
        ("rgb_c", "crop", 20, 12),
        ("rgb_c", "crop", 7, 33),
        ("rgb_d", "crop", 6, 6),  # tall source shrunk to 6x18, vertical pass first
        ("rgb_d", "crop", 12, 20),
    ]
    for src, fit, w, h in cases:
        mode = {"stretch": "default", "crop": "crop"}[fit]
        out = processor.resize(sources[src], h, w, resize_mode=mode)
        arr = np.array(out)
        assert arr.shape == (h, w, 3), (src, fit, w, h, arr.shape)
        np.save(OUT / f"{src}__{fit}__{w}x{h}.npy", arr)

    pre = processor.preprocess(sources["rgb_a"], height=24, width=32)
    np.save(OUT / "preprocess__rgb_a__32x24.npy", pre.numpy().astype(np.float32))

    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"Pillow {PIL.__version__}: wrote {len(list(OUT.iterdir()))} files, {total} bytes to {OUT}")


def fuzz(out, count):
    """Random sources and targets (not committed): noise is the hardest case for rounding."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    processor = VaeImageProcessor()
    for i in range(count):
        sw, sh = (int(v) for v in rng.integers(1, 91, 2))
        src = Image.fromarray(rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), "RGB")
        src.save(out / f"src_{i}.png")
        w, h = (int(v) for v in rng.integers(1, 121, 2))
        for fit, mode in [("stretch", "default"), ("crop", "crop")]:
            arr = np.array(processor.resize(src, h, w, resize_mode=mode))
            np.save(out / f"src_{i}__{fit}__{w}x{h}.npy", arr)
    print(f"wrote {count} fuzz sources to {out}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) >= 3 and sys.argv[1] == "--fuzz":
        fuzz(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 500)
    else:
        main()
