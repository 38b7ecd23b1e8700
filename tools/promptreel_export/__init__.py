"""Helpers that turn diffusers pipelines into Promptreel model packages.

Modules:
  tokenizer  - build a CLIP-style byte-level BPE `tokenizer.json` from scratch
  graphs     - export text encoder / denoiser / VAE decoder to ONNX and check them against torch
  manifest   - write `promptreel.json` (see docs/model-package.md)

`graphs` imports torch; `tokenizer` and `manifest` need only `tokenizers` / the standard library.
"""
