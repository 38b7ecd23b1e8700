"""Helpers that turn diffusers pipelines into Promptreel model packages (driven by tools/export.py).

Modules:
  pipeline           - read a diffusers pipeline folder, refuse what is unsupported, export it all
  graphs             - export text encoder / denoiser / VAE to ONNX and check them against torch
  video_transformer  - PromptreelVideoTransformer, the default model's denoiser (unet3d contract)
  tokenizer          - build a CLIP-style byte-level BPE `tokenizer.json` from scratch (fixtures)
  manifest           - write `promptreel.json` (see docs/model-package.md)
  attention          - every scaled_dot_product_attention as one fused MultiHeadAttention
  memory             - the manifest's memory section, from the configs
  wan, wan_pipeline  - Wan 2.1 / 2.2 (WanPipeline): UMT5 encoder, transformer, the package
  causal_vae         - Wan's causal video VAE as stateful step graphs (caches in and out)

`graphs` and `video_transformer` import torch; `pipeline` imports it only once a folder has passed
its checks, so refusals work with a bare Python.
"""
