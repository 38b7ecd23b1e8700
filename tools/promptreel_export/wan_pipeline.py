"""Export a diffusers WanPipeline folder (Wan 2.1 / 2.2 text-to-video) into a package's folder.

    model_index.json   _class_name "WanPipeline"
    tokenizer/         T5 / UMT5 fast tokenizer (SentencePiece Unigram in tokenizer.json)
    text_encoder/      UMT5EncoderModel (T5EncoderModel is accepted too)
    transformer/       WanTransformer3DModel
    transformer_2/     (Wan 2.2 A14B) the low-noise WanTransformer3DModel, below boundary_ratio
    vae/               AutoencoderKLWan
    scheduler/         UniPCMultistepScheduler or FlowMatchEulerDiscreteScheduler

Graphs written (docs/model-package.md):
    text_encoder/model.onnx   input_ids, attention_mask [B, L] -> last_hidden_state [B, L, D]
    transformer/model.onnx    sample [B, z, F', h, w], timestep [B], encoder_hidden_states -> out_sample
    transformer_2/model.onnx  (A14B) the same contract
    vae_decoder/model.onnx    stateful: one latent frame per call (causal_vae.py)
    vae_encoder/model.onnx    stateful: the first frame, then 4 frames per call
"""

from __future__ import annotations

import os

from .pipeline import ExportError, _read_json

WAN_TEXT_ENCODERS = ("UMT5EncoderModel", "T5EncoderModel")
# What WanPipeline.__call__ pads prompts to unless told otherwise.
DEFAULT_MAX_SEQUENCE_LENGTH = 512
# Wan 2.1's native size: 480p, 81 frames (5 s) at 16 fps.
DEFAULT_NATIVE = {"width": 832, "height": 480, "frames": 81, "fps": 16.0}


def check_components(folder: str, index: dict) -> dict:
    """The classes of a WanPipeline folder's parts, or an ExportError naming the first wrong one."""
    expected = {
        "transformer": ("WanTransformer3DModel",),
        "text_encoder": WAN_TEXT_ENCODERS,
        "vae": ("AutoencoderKLWan",),
        "tokenizer": None,  # any transformers tokenizer class with a fast tokenizer.json
    }
    parts = {}
    for comp, allowed in expected.items():
        entry = index.get(comp)
        cls = entry[1] if isinstance(entry, list) and len(entry) == 2 else None
        if cls is None or not os.path.isdir(os.path.join(folder, comp)):
            raise ExportError(
                f"{folder}: the WanPipeline has no {comp!r} component (model_index.json names {entry!r} and the "
                f"{comp}/ folder must exist); the exporter needs tokenizer, text_encoder, transformer and vae"
            )
        if allowed is not None and cls not in allowed:
            raise ExportError(f"{folder}: component {comp!r} is {cls!r}; for a WanPipeline the exporter supports "
                              + ", ".join(allowed))
        parts[comp] = cls
    second = index.get("transformer_2")
    if isinstance(second, list) and second[1] is not None:
        # Wan 2.2 A14B: a low-noise transformer takes over below boundary_ratio
        if second[1] != "WanTransformer3DModel" or not os.path.isdir(os.path.join(folder, "transformer_2")):
            raise ExportError(f"{folder}: component 'transformer_2' is {second[1]!r} (or its folder is missing); "
                              "a two-transformer WanPipeline needs a WanTransformer3DModel there")
        ratio = index.get("boundary_ratio")
        if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
            raise ExportError(f"{folder}/model_index.json: a WanPipeline with transformer_2 needs boundary_ratio "
                              f"between 0 and 1 (Wan 2.2 A14B: 0.875), not {ratio!r}")
        parts["transformer_2"] = second[1]
    # Configuration mismatches are found here, from the config files alone (no torch needed).
    ecfg = _read_json(os.path.join(folder, "text_encoder", "config.json"))
    vcfg = _read_json(os.path.join(folder, "vae", "config.json"))
    for comp in ("transformer", "transformer_2") if "transformer_2" in parts else ("transformer",):
        tcfg = _read_json(os.path.join(folder, comp, "config.json"))
        text_dim, d_model = tcfg.get("text_dim"), ecfg.get("d_model")
        if text_dim is not None and d_model is not None and int(text_dim) != int(d_model):
            raise ExportError(
                f"{folder}: {comp}/config.json has text_dim {text_dim} but text_encoder/config.json has d_model "
                f"{d_model}; the transformer reads the text encoder's output, so the two must be equal (the "
                "components do not belong together)"
            )
        z, c_in = vcfg.get("z_dim", 16), tcfg.get("in_channels", 16)
        if int(z) != int(c_in):
            raise ExportError(
                f"{folder}: the {comp} takes {c_in} input channels but the VAE's latents have {z}; image-to-video "
                "Wan checkpoints (extra condition channels) are not supported"
            )
    parts["unet"] = parts["transformer"]
    return parts


def export_wan(folder: str, tmp: str, *, half: bool, external_data: bool, vae_encoder: bool, native: dict | None,
               opset: int, max_sequence_length: int | None, tokenizer_json, scheduler_config) -> dict:
    """Writes the Wan graphs, tokenizer and scheduler into `tmp`; returns (report, manifest kwargs)."""
    import torch
    import transformers
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from . import causal_vae, wan
    from .memory import memory_profile

    index = _read_json(os.path.join(folder, "model_index.json"))
    parts = check_components(folder, index)
    tok_max, pad = tokenizer_json(folder, os.path.join(tmp, "tokenizer", "tokenizer.json"), default_pad="<pad>")
    length = int(max_sequence_length or DEFAULT_MAX_SEQUENCE_LENGTH)
    if not 1 <= length <= 4096:
        raise ExportError(f"--max-sequence-length {length} is out of range 1..4096 (WanPipeline uses 512)")
    # --fp16: the text encoder and transformers as their libraries load them with
    # torch_dtype=float16, which keeps what overflows in float16 in float32 (T5's `wo` layers,
    # Wan's time embedder, modulation table and norms) with the casts in their own forward. The
    # VAE stays float32, as WanPipeline's documentation loads it.
    dtype = {"torch_dtype": torch.float16} if half else {}
    text_encoder = getattr(transformers, parts["text_encoder"]).from_pretrained(
        os.path.join(folder, "text_encoder"), **dtype).eval()
    transformer = WanTransformer3DModel.from_pretrained(os.path.join(folder, "transformer"), **dtype).eval()
    vae = AutoencoderKLWan.from_pretrained(os.path.join(folder, "vae")).eval()
    sched_cls = scheduler_config(folder, os.path.join(tmp, "scheduler", "scheduler_config.json"))

    tc = transformer.config
    if int(tc.text_dim) != int(text_encoder.config.d_model):
        raise ExportError(
            f"{folder}: the transformer's text_dim ({tc.text_dim}) differs from the text encoder's d_model "
            f"({text_encoder.config.d_model}); the components do not belong together"
        )
    z = int(vae.config.z_dim)
    if int(tc.in_channels) != z:
        raise ExportError(
            f"{folder}: the transformer takes {tc.in_channels} input channels but the VAE's latents have {z}; "
            "image-to-video Wan checkpoints (extra condition channels) are not supported"
        )
    p_t, p_h, p_w = (int(v) for v in tc.patch_size)
    if p_t != 1 or p_h != p_w:
        raise ExportError(f"{folder}: transformer patch_size {tc.patch_size} is not supported (expected (1, p, p))")
    spatial = int(vae.config.scale_factor_spatial or 8)
    temporal = int(vae.config.scale_factor_temporal or 4)

    print(f"exporting WanPipeline from {folder} ({parts['text_encoder']}, {sum(p.numel() for p in transformer.parameters()) / 1e6:.1f}M-parameter transformer)")
    report = {"source": os.path.abspath(folder), "pipeline": "WanPipeline", "half": half}
    # T5 guards float16 overflow with IsInf, which ONNX takes in float16 from opset 20
    report["text_encoder"] = wan.export_t5_encoder(
        text_encoder, os.path.join(tmp, "text_encoder", "model.onnx"), length, opset=max(opset, 20) if half else opset,
        external_data=external_data, half=half)
    # Wan 2.2 TI2V: per-token timesteps, which for text-to-video are the step's t everywhere
    expand = bool(index.get("expand_timesteps"))
    report["denoiser"] = wan.export_transformer(
        transformer, os.path.join(tmp, "transformer", "model.onnx"), length, opset=opset, external_data=external_data,
        expand_timesteps=expand, half=half)
    second = None
    if "transformer_2" in parts:
        transformer_2 = WanTransformer3DModel.from_pretrained(os.path.join(folder, "transformer_2"), **dtype).eval()
        if tuple(transformer_2.config.patch_size) != tuple(tc.patch_size):
            raise ExportError(f"{folder}: transformer and transformer_2 have different patch sizes")
        report["denoiser_2"] = wan.export_transformer(
            transformer_2, os.path.join(tmp, "transformer_2", "model.onnx"), length, opset=opset,
            external_data=external_data, expand_timesteps=expand, half=half)
        second = {"path": "transformer_2/model.onnx", "sample": "sample", "timestep": "timestep",
                  "encoder_hidden_states": "encoder_hidden_states", "output": "out_sample",
                  "timestep_dtype": "float32"}
    report["vae_decoder"] = export_vae_part(vae, "decoder", os.path.join(tmp, "vae_decoder", "model.onnx"), opset,
                                            external_data, causal_vae)
    enc = None
    if vae_encoder:
        report["vae_encoder"] = export_vae_part(vae, "encoder", os.path.join(tmp, "vae_encoder", "model.onnx"),
                                                opset, external_data, causal_vae)
        enc = {"path": "vae_encoder/model.onnx", "input": "sample", "output": "latent_parameters", "stateful": True}
    report["scheduler"] = sched_cls
    native = native or dict(DEFAULT_NATIVE)
    manifest = dict(
        family="wan",
        latent_channels=z,
        spatial_compression=spatial,
        temporal_compression=temporal,
        size_multiple=spatial * p_h,
        native=native,
        scaling_factor=1.0,
        latents_mean=[float(v) for v in vae.config.latents_mean],
        latents_std=[float(v) for v in vae.config.latents_std],
        decode_chunk_frames=1,
        max_length=length,
        pad_token=pad,
        text_encoder_attention_mask="attention_mask",
        denoiser_path="transformer/model.onnx",
        timestep_dtype="float32",
        denoiser_2=second,
        boundary_ratio=float(index["boundary_ratio"]) if second else None,
        vae_decoder_stateful=True,
        vae_encoder=enc,
        memory=memory_profile("WanTransformer3DModel", dict(tc), dict(vae.config), fused=True, half=half),
    )
    return report, manifest


def export_vae_part(vae, part: str, path: str, opset: int, external_data: bool, causal_vae) -> dict:
    """Exports and checks one stateful VAE graph against diffusers' own decode / encode loop, on
    clips of 1, 2 and 5 latent frames (batch 2 and odd sizes included)."""
    import numpy as np
    import torch

    from . import graphs

    info = causal_vae.export_step_graph(vae, part, path, opset, external_data=external_data)
    print(f"  vae {part} -> {path} (stateful: {info['caches']} caches)")
    counts = graphs._attention(path, f"vae {part}", require_fused=True)
    sess = graphs._session(path)
    gen = torch.Generator().manual_seed(1)
    s = int(vae.config.scale_factor_spatial or 8)
    t = int(vae.config.scale_factor_temporal or 4)
    checks = []
    for b, frames, h, w in ((1, 1, 4, 6), (1, 2, 4, 4), (2, 5, 3, 5)):
        with torch.no_grad():
            if part == "decoder":
                x = torch.randn((b, int(vae.config.z_dim), frames, h, w), generator=gen)
                ref = vae.decode(x).sample
            else:
                x = torch.rand((b, causal_vae.image_channels(vae), 1 + t * (frames - 1), h * s, w * s),
                               generator=gen) * 2 - 1
                ref = vae._encode(x)
        got = causal_vae.run_chunks(sess, part, x.numpy(), info["first_frames"], info["frames_per_step"])
        ref = ref.numpy()
        if got.shape != ref.shape:
            raise AssertionError(f"vae {part}: shape torch {ref.shape} vs onnx {got.shape}")
        d = float(np.max(np.abs(ref.astype(np.float64) - got)))
        print(f"    vae {part:8s} {str(list(x.shape)):40s} max|onnx-torch| = {d:.3e}")
        if not d < graphs.DEFAULT_TOL:
            raise AssertionError(f"vae {part}: ONNX Runtime differs from diffusers by {d} at {list(x.shape)}")
        checks.append({"shapes": {"x": list(x.shape)}, "max_abs_diff": d})
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "stateful": info, "checks": checks}
