#!/usr/bin/env python3
"""Record diffusers' frames for the default model, for the engine's parity test.

    /opt/ptools/bin/python -m default_model.make_refs [--pipeline target/default-model/pipeline]
                                                         (from tools/)

Runs diffusers' TextToVideoSDPipeline on the trained torch components (the folder that
tools/export.py exported into bundle/models/default) from fixed initial latents, and writes

    onnx/tests/data/default-parity/<case>/case.json   prompt, settings, the tokenizer's ids
                                          latents.npy  initial latents [1, 4, F, h, w]
                                          frames.npy   output_type="np" frames [F, H, W, 3]

onnx/tests/default_model.rs runs the same cases through the Rust engine on the exported package
and requires every frame value within 1e-4 of these.

diffusers' FlowMatchEulerDiscreteScheduler predates its use with TextToVideoSDPipeline and lacks
the two hooks that pipeline calls (`init_noise_sigma`, `scale_model_input`); for flow matching
they are 1 and the identity, and are added on the instance here.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from default_model import clips as C  # noqa: E402

CASES = [
    # name, prompt, negative, steps, guidance
    ("canonical_cfg", "a red circle moving left on a black background", "", 20, 7.5),
    ("synonyms_no_cfg", "a cyan box going up on a grey background", "", 10, 1.0),
    ("unknown_word_negative", "a shiny yellow triangle sliding right, dark background", "a blue ball", 8, 5.0),
]


def load_pipeline(folder: str):
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, TextToVideoSDPipeline
    from transformers import CLIPTextModel, PreTrainedTokenizerFast

    from promptreel_export.video_transformer import PromptreelVideoTransformer

    sched = FlowMatchEulerDiscreteScheduler.from_pretrained(os.path.join(folder, "scheduler"))
    sched.init_noise_sigma = 1.0
    sched.scale_model_input = lambda sample, timestep=None: sample
    pipe = TextToVideoSDPipeline(
        vae=AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).eval(),
        text_encoder=CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder")).eval(),
        tokenizer=PreTrainedTokenizerFast.from_pretrained(os.path.join(folder, "tokenizer")),
        unet=PromptreelVideoTransformer.from_pretrained(os.path.join(folder, "unet")).eval(),
        scheduler=sched,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", default=os.path.join(REPO, "target", "default-model", "pipeline"))
    ap.add_argument("--out", default=os.path.join(REPO, "onnx", "tests", "data", "default-parity"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    pipe = load_pipeline(args.pipeline)
    tok = pipe.tokenizer
    shutil.rmtree(args.out, ignore_errors=True)
    for i, (name, prompt, negative, steps, guidance) in enumerate(CASES):
        shape = (1, 4, C.FRAMES, C.HEIGHT // 4, C.WIDTH // 4)
        latents = torch.randn(shape, generator=torch.Generator().manual_seed(100 + i))
        with torch.no_grad():
            out = pipe(prompt=prompt, negative_prompt=negative or None, num_inference_steps=steps,
                       guidance_scale=guidance, num_frames=C.FRAMES, height=C.HEIGHT, width=C.WIDTH,
                       latents=latents.clone(), output_type="np")
        frames = np.asarray(out.frames[0], dtype=np.float32)
        d = os.path.join(args.out, name)
        os.makedirs(d)
        np.save(os.path.join(d, "latents.npy"), latents.numpy().astype(np.float32))
        np.save(os.path.join(d, "frames.npy"), frames)
        ids = tok(prompt, padding="max_length", max_length=tok.model_max_length, truncation=True).input_ids
        case = {
            "name": name, "prompt": prompt, "negative_prompt": negative, "steps": steps, "guidance": guidance,
            "frames": C.FRAMES, "width": C.WIDTH, "height": C.HEIGHT, "scheduler": "flow-euler",
            "input_ids": ids, "latents_are_unscaled": True,
            "notes": "frames: TextToVideoSDPipeline output_type=np on the torch components of the default model",
        }
        with open(os.path.join(d, "case.json"), "w") as f:
            json.dump(case, f, indent=2)
            f.write("\n")
        print(f"{name}: {frames.shape}, mean {frames.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
