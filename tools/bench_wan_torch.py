#!/usr/bin/env python3
"""diffusers' WanPipeline on PyTorch CPU, timed: the baseline of the engine benchmark's Wan
configurations (onnx/benches/overhead.rs).

    python tools/bench_wan_torch.py --folder onnx/tests/data/tiny-wan-diffusers --latents L.npy \\
        --prompt P --negative-prompt N --steps 8 --frames 9 --width 48 --height 32 --guidance 5 \\
        --threads 2 --max-sequence-length 24 --warmup 1 --serve

With --serve it prints {"ready": true} once warmed up, then answers each "run" line on stdin with
one JSON line: total_s, s_per_step (the loop's mean step), denoiser_run_s_per_step (the
transformer's forward calls per step), ort_s (0: no ONNX Runtime here) and peak_rss_mib.
Needs tools/requirements.txt (PyTorch, diffusers).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_torch_timing import serve  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    for name in ("--folder", "--latents", "--prompt", "--negative-prompt"):
        ap.add_argument(name, required=name in ("--folder", "--latents"), default="")
    for name in ("--steps", "--frames", "--width", "--height", "--threads", "--max-sequence-length", "--warmup"):
        ap.add_argument(name, type=int, default=1)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()

    import torch
    from diffusers import WanPipeline

    torch.set_num_threads(a.threads)
    torch.set_grad_enabled(False)
    pipe = WanPipeline.from_pretrained(a.folder)
    pipe.set_progress_bar_config(disable=True)
    latents = torch.from_numpy(np.load(a.latents))

    def generate(on_step) -> None:
        pipe(prompt=a.prompt, negative_prompt=a.negative_prompt, num_inference_steps=a.steps,
             guidance_scale=a.guidance, num_frames=a.frames, width=a.width, height=a.height,
             latents=latents.clone(), max_sequence_length=a.max_sequence_length, output_type="np",
             callback_on_step_end=on_step)

    return serve(pipe, a.steps, generate, a.warmup, a.serve)


if __name__ == "__main__":
    sys.exit(main())
