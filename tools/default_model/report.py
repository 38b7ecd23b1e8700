#!/usr/bin/env python3
"""Figures for the default model's README, from a finished training run.

    /opt/ptools/bin/python -m default_model.report [--work target/default-model]   (from tools/)
        [--demo out/demo]

Writes into bundle/models/default/:
  loss.png      the denoiser's training loss per step (and its 100-step mean), from loss.csv
  samples.png   one clip per row (8 frames, left to right) for prompts covering every direction,
                sampled from the trained torch model (the engine matches it within 1e-4)
and, with --demo (the folder tools/demo.sh rendered with the Rust CLI), docs/images/
default-preview.png: the default prompt's frames side by side, as the main README shows them.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

PACKAGE = os.path.join(REPO, "bundle", "models", "default")
SAMPLE_PROMPTS = [
    "a red ball moving right on a black background",
    "a blue square moving left on a gray background",
    "a yellow triangle moving up on a black background",
    "a green box going down on a grey background",
    "a magenta circle staying still on a dark background",
    "the orange triangle sliding to the right",
]


def loss_plot(work: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(work, "loss.csv")) as f:
        rows = [(int(r["step"]), float(r["loss"]), r["phase"]) for r in csv.DictReader(f)]
    steps = np.array([r[0] for r in rows])
    loss = np.array([r[1] for r in rows])
    switch = next((r[0] for r in rows if r[2] == "motion"), None)
    k = 100
    mean = np.convolve(loss, np.ones(k) / k, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.plot(steps, loss, lw=0.4, color="#9bb7d4", label="loss per step")
    ax.plot(steps[k - 1 :], mean, lw=1.6, color="#1f4e79", label=f"mean of {k} steps")
    if switch is not None:
        ax.axvline(switch, color="#c0504d", lw=1, ls="--", label="phase 2: co-moving positions")
    ax.set_yscale("log")
    ax.set_xlabel("step (batch of 48 clips)")
    ax.set_ylabel("flow-matching MSE")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def samples(work: str, out: str) -> None:
    import torch
    from PIL import Image, ImageDraw

    from default_model.make_refs import load_pipeline
    from default_model import clips as C

    pipe = load_pipeline(os.path.join(work, "pipeline"))
    scale, pad, label_h = 4, 4, 14
    w = C.FRAMES * (C.WIDTH * scale + pad) + pad
    h = len(SAMPLE_PROMPTS) * (C.HEIGHT * scale + label_h + pad) + pad
    sheet = Image.new("RGB", (w, h), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    y = pad
    for i, prompt in enumerate(SAMPLE_PROMPTS):
        lat = torch.randn((1, 4, C.FRAMES, C.HEIGHT // 4, C.WIDTH // 4), generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            frames = pipe(prompt=prompt, num_inference_steps=25, guidance_scale=7.5, num_frames=C.FRAMES,
                          height=C.HEIGHT, width=C.WIDTH, latents=lat, output_type="np").frames[0]
        draw.text((pad, y), prompt, fill=(230, 230, 230))
        y += label_h
        for f, frame in enumerate(frames):
            img = Image.fromarray((np.clip(frame, 0, 1) * 255).round().astype(np.uint8))
            img = img.resize((C.WIDTH * scale, C.HEIGHT * scale), Image.NEAREST)
            sheet.paste(img, (pad + f * (C.WIDTH * scale + pad), y))
        y += C.HEIGHT * scale + pad
    sheet.save(out, optimize=True)
    print(f"wrote {out}")


def demo_strip(demo: str, out: str) -> None:
    from PIL import Image

    paths = sorted(glob.glob(os.path.join(demo, "frame_*.png")))
    if not paths:
        raise SystemExit(f"no frame_*.png in {demo}: run tools/demo.sh first")
    frames = [Image.open(p).convert("RGB") for p in paths]
    fw, fh = frames[0].size
    scale, pad = 4, 4
    sheet = Image.new("RGB", (len(frames) * (fw * scale + pad) + pad, fh * scale + 2 * pad), (24, 24, 24))
    for i, f in enumerate(frames):
        sheet.paste(f.resize((fw * scale, fh * scale), Image.NEAREST), (pad + i * (fw * scale + pad), pad))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    sheet.save(out, optimize=True)
    print(f"wrote {out}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default=os.path.join(REPO, "target", "default-model"))
    ap.add_argument("--demo", help="folder with the CLI's frame_*.png (tools/demo.sh: out/demo)")
    args = ap.parse_args()
    loss_plot(args.work, os.path.join(PACKAGE, "loss.png"))
    samples(args.work, os.path.join(PACKAGE, "samples.png"))
    if args.demo:
        demo_strip(args.demo, os.path.join(REPO, "docs", "images", "default-preview.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
