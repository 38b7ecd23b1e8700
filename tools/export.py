#!/usr/bin/env python3
"""Export a diffusers pipeline folder to a Promptreel model package.

    python tools/export.py PIPELINE_FOLDER OUT_PACKAGE [--name NAME] [--fp16] [--external-data]

PIPELINE_FOLDER is what diffusers' save_pretrained writes (model_index.json, tokenizer/,
text_encoder/, unet/, vae/, scheduler/): a ModelScope or Zeroscope text-to-video checkpoint
(TextToVideoSDPipeline), a Wan 2.1 / 2.2 text-to-video checkpoint (WanPipeline), an LTX-Video
0.9.x checkpoint (LTXPipeline, LTXImageToVideoPipeline or LTXConditionPipeline: one package for
text and image to video), a Stable Diffusion 1.x/2.x checkpoint (StableDiffusionPipeline), or
Promptreel's default model as tools/default_model/train.py leaves it. Nothing is downloaded.

Every graph is run with ONNX Runtime on random inputs at several shapes and compared with torch
before the package is written; the largest difference is printed. The package appears at
OUT_PACKAGE only when every check passed (it is built in OUT_PACKAGE.partial and renamed).
Format: docs/model-package.md. Requirements: tools/requirements.txt.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from promptreel_export.pipeline import ExportError, export_folder, inspect_folder  # noqa: E402


def _native(text: str | None) -> dict | None:
    """'WxHxF@FPS' -> native dict, e.g. 576x320x24@8."""
    if text is None:
        return None
    try:
        dims, fps = text.split("@")
        w, h, f = (int(x) for x in dims.lower().split("x"))
        return {"width": w, "height": h, "frames": f, "fps": float(fps)}
    except ValueError:
        raise ExportError(f"--native {text!r}: expected WIDTHxHEIGHTxFRAMES@FPS, for example 576x320x24@8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", help="diffusers pipeline folder (model_index.json inside)")
    ap.add_argument("out", nargs="?", help="package folder to write (not needed with --check)")
    ap.add_argument("--name", help="model name shown in the host (default: the folder's name)")
    ap.add_argument("--version", default="1", help="package version string (default 1)")
    ap.add_argument("--fp16", action="store_true",
                    help="denoiser and VAE in float16 (half the size; for GPUs); Wan: text encoder and transformer in "
                         "float16 with their overflow-prone layers in float32, VAE in float32; LTX-Video: the T5 "
                         "text encoder alone in float16 (T5-XXL: 9.5 GB on disk instead of 19 GB; its wo layers stay "
                         "float32), transformer and VAE in float32")
    ap.add_argument("--bf16", action="store_true", help="refused: see the message")
    ap.add_argument("--external-data", action="store_true",
                    help="weights in a model.onnx_data sidecar (automatic above 1.8 GB)")
    ap.add_argument("--no-vae-encoder", action="store_true", help="leave out the VAE encoder graph")
    ap.add_argument("--native", help="native WIDTHxHEIGHTxFRAMES@FPS (default: from the denoiser's config)")
    ap.add_argument("--max-sequence-length", type=int,
                    help="Wan and LTX-Video: text tokens per prompt the package pads to (default: the "
                         "pipeline's, 512 for Wan, 128 for LTX-Video)")
    ap.add_argument("--decode-timestep", type=float,
                    help="LTX-Video with a timestep-conditioned VAE (0.9.1+): the decoder's timestep "
                         "(default 0.03, diffusers' documented setting)")
    ap.add_argument("--decode-noise-scale", type=float,
                    help="LTX-Video with a timestep-conditioned VAE: the noise blended into the latents "
                         "before decoding (default 0.025)")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--force", action="store_true", help="replace OUT_PACKAGE if it exists")
    ap.add_argument("--check", action="store_true", help="only say whether the folder is supported")
    args = ap.parse_args(argv)
    try:
        if args.check:
            print(inspect_folder(args.folder))
            return 0
        if not args.out:
            raise ExportError("give the package folder to write (OUT_PACKAGE)")
        if args.bf16:
            raise ExportError(
                "--bf16: ONNX Runtime's CPU provider has no bfloat16 kernels for these graphs (MatMul, attention, "
                "norms), so a bfloat16 package would not run everywhere Promptreel runs; use --fp16, which keeps "
                "what overflows in float16 in float32")
        export_folder(
            args.folder, args.out, name=args.name, version=args.version, half=args.fp16,
            external_data=args.external_data, vae_encoder=not args.no_vae_encoder,
            native=_native(args.native), opset=args.opset, force=args.force,
            max_sequence_length=args.max_sequence_length, decode_timestep=args.decode_timestep,
            decode_noise_scale=args.decode_noise_scale,
        )
    except ExportError as e:
        print(f"export.py: {e}", file=sys.stderr)
        return 2
    except AssertionError as e:  # a graph failed its check against torch
        print(f"export.py: check failed, no package written: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
