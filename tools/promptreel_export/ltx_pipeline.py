"""Export a diffusers LTX-Video 0.9.x folder (LTXPipeline, LTXImageToVideoPipeline or
LTXConditionPipeline) into a package's folder, family "ltx".

    model_index.json   _class_name one of LTX_PIPELINES
    tokenizer/         T5 tokenizer (fast tokenizer.json, or SentencePiece converted here)
    text_encoder/      T5EncoderModel
    transformer/       LTXVideoTransformer3DModel (patch 1 x 1, as every 0.9.x checkpoint)
    vae/               AutoencoderKLLTXVideo
    scheduler/         FlowMatchEulerDiscreteScheduler

One transformer graph serves text to video and image to video (per-frame timesteps), see
ltx.py. The package's settings and graph names: docs/model-package.md.

--fp16 means the text encoder alone in float16 (T5-XXL: 19 GB of weights in float32, 9.5 GB in
float16), exported as wan.py exports Wan's: T5 as transformers loads it with torch_dtype=float16
(its `wo` layers kept in float32), at opset 20. The transformer and the VAE stay float32: their
float16 graphs have not been checked against diffusers.
"""

from __future__ import annotations

import os

from .pipeline import ExportError, _read_json

LTX_PIPELINES = ("LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline")
# What LTXPipeline.__call__ pads prompts to unless told otherwise.
DEFAULT_MAX_SEQUENCE_LENGTH = 128
# LTX-Video's native size: 768x512, 161 frames (about 6 s) at 25 fps.
DEFAULT_NATIVE = {"width": 768, "height": 512, "frames": 161, "fps": 25.0}
# The decode settings diffusers' LTX documentation uses for 0.9.1 and later (VAEs with
# timestep conditioning denoise a little while decoding).
DEFAULT_DECODE_TIMESTEP = 0.03
# LTXPipeline.__call__'s num_inference_steps and guidance_scale.
DEFAULT_STEPS = 50
DEFAULT_GUIDANCE = 3.0
DEFAULT_DECODE_NOISE_SCALE = 0.025

_EXPECTED = {
    "tokenizer": None,  # any transformers tokenizer class with a T5 vocabulary
    "text_encoder": ("T5EncoderModel",),
    "transformer": ("LTXVideoTransformer3DModel",),
    "vae": ("AutoencoderKLLTXVideo",),
    "scheduler": ("FlowMatchEulerDiscreteScheduler",),
}


def check_components(folder: str, index: dict) -> dict:
    """The classes of an LTX folder's parts, or an ExportError naming the first problem. Reads
    config files only (no torch), so the refusals are quick."""
    pipeline = index.get("_class_name")
    parts = {}
    for comp, allowed in _EXPECTED.items():
        entry = index.get(comp)
        cls = entry[1] if isinstance(entry, list) and len(entry) == 2 else None
        if cls is None or not os.path.isdir(os.path.join(folder, comp)):
            raise ExportError(
                f"{folder}: the {pipeline} has no {comp!r} component (model_index.json names {entry!r} and the "
                f"{comp}/ folder must exist); the exporter needs tokenizer, text_encoder, transformer, vae and "
                "scheduler"
            )
        if allowed is not None and cls not in allowed:
            raise ExportError(f"{folder}: component {comp!r} is {cls!r}; for an {pipeline} the exporter supports "
                              + ", ".join(allowed))
        parts[comp] = cls
    ecfg = _read_json(os.path.join(folder, "text_encoder", "config.json"))
    tcfg = _read_json(os.path.join(folder, "transformer", "config.json"))
    vcfg = _read_json(os.path.join(folder, "vae", "config.json"))
    p, p_t = tcfg.get("patch_size", 1), tcfg.get("patch_size_t", 1)
    if int(p) != 1 or int(p_t) != 1:
        raise ExportError(
            f"{folder}: transformer/config.json has patch_size {p} and patch_size_t {p_t}; the engine supports "
            "LTX-Video 0.9.x's patch 1x1 (one token per latent position)"
        )
    caption, d_model = tcfg.get("caption_channels", 4096), ecfg.get("d_model")
    if d_model is not None and int(caption) != int(d_model):
        raise ExportError(
            f"{folder}: transformer/config.json has caption_channels {caption} but text_encoder/config.json has "
            f"d_model {d_model}; the transformer reads the text encoder's output, so the two must be equal (the "
            "components do not belong together)"
        )
    latent = int(vcfg.get("latent_channels", 128))
    for key in ("in_channels", "out_channels"):
        value = tcfg.get(key, 128)
        if value is not None and int(value) != latent:
            raise ExportError(
                f"{folder}: transformer/config.json has {key} {value} but vae/config.json has latent_channels "
                f"{latent}; with patch 1x1 they must be equal (the components do not belong together)"
            )
    if any(vcfg.get("decoder_inject_noise") or ()):
        raise ExportError(
            f"{folder}: vae/config.json sets decoder_inject_noise {vcfg['decoder_inject_noise']} (LTX-Video 0.9.1's "
            "VAE): its decoder adds noise drawn from torch's unseeded global generator inside the network, which "
            "an ONNX graph cannot reproduce; export LTX-Video 0.9.5 or later, whose VAE does not"
        )
    parts["unet"] = parts["transformer"]
    parts["timestep_conditioning"] = bool(vcfg.get("timestep_conditioning", False))
    return parts


def check_options(folder: str, index: dict, *, half: bool, decode_timestep, decode_noise_scale) -> tuple:
    """Refuses options that do not apply to this folder (no torch); returns the decode
    (timestep, noise scale) to write, None for VAEs without timestep conditioning. `half`
    (--fp16) is accepted: for LTX-Video it makes the text encoder float16 only (module doc)."""
    parts = check_components(folder, index)
    if not parts["timestep_conditioning"]:
        for flag, value in (("--decode-timestep", decode_timestep), ("--decode-noise-scale", decode_noise_scale)):
            if value is not None:
                raise ExportError(
                    f"{flag}: {folder}/vae/config.json has timestep_conditioning false (LTX-Video 0.9.0's VAE), so "
                    "its decoder takes no timestep and adds no noise; leave the flag out"
                )
        return None, None
    t = DEFAULT_DECODE_TIMESTEP if decode_timestep is None else float(decode_timestep)
    s = DEFAULT_DECODE_NOISE_SCALE if decode_noise_scale is None else float(decode_noise_scale)
    if not 0.0 <= t <= 1.0 or not 0.0 <= s <= 1.0:
        raise ExportError(f"--decode-timestep {t} / --decode-noise-scale {s}: both must be between 0 and 1 "
                          f"(diffusers' LTX documentation uses {DEFAULT_DECODE_TIMESTEP} and "
                          f"{DEFAULT_DECODE_NOISE_SCALE})")
    return t, s


def export_ltx(folder: str, tmp: str, *, external_data: bool, vae_encoder: bool, native: dict | None, opset: int,
               max_sequence_length: int | None, decode: tuple, tokenizer_json, scheduler_config,
               half: bool = False) -> tuple:
    """Writes the LTX graphs, tokenizer and scheduler into `tmp`; returns (report, manifest kwargs).
    `half`: the text encoder in float16, the rest in float32 (module doc)."""
    import torch
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import T5EncoderModel

    from . import ltx
    from .memory import memory_profile

    index = _read_json(os.path.join(folder, "model_index.json"))
    parts = check_components(folder, index)
    _, pad = tokenizer_json(folder, os.path.join(tmp, "tokenizer", "tokenizer.json"), default_pad="<pad>")
    length = int(max_sequence_length or DEFAULT_MAX_SEQUENCE_LENGTH)
    if not 1 <= length <= 4096:
        raise ExportError(f"--max-sequence-length {length} is out of range 1..4096 (LTXPipeline uses 128)")
    # --fp16: T5 as transformers loads it with torch_dtype=float16, which keeps its `wo` layers
    # (what overflows in float16) in float32, with the casts in its own forward: as wan_pipeline.
    dtype = {"torch_dtype": torch.float16} if half else {}
    text_encoder = T5EncoderModel.from_pretrained(os.path.join(folder, "text_encoder"), **dtype).eval()
    transformer = LTXVideoTransformer3DModel.from_pretrained(os.path.join(folder, "transformer")).eval()
    vae = AutoencoderKLLTXVideo.from_pretrained(os.path.join(folder, "vae")).eval()
    sched_cls = scheduler_config(folder, os.path.join(tmp, "scheduler", "scheduler_config.json"))

    spatial = int(vae.spatial_compression_ratio)
    temporal = int(vae.temporal_compression_ratio)
    native = native or dict(DEFAULT_NATIVE)
    size = sum(p.numel() for p in transformer.parameters()) / 1e6
    print(f"exporting {index['_class_name']} from {folder} ({size:.1f}M-parameter transformer, VAE {spatial}x "
          f"spatial / {temporal}x temporal)")
    if half:
        print("  --fp16: the text encoder in float16 (T5-XXL: 9.5 GB on disk instead of 19 GB); the transformer and "
              "the VAE stay float32 (not checked in float16)")
    # "half" names what is float16: here the text encoder alone
    report = {"source": os.path.abspath(folder), "pipeline": index["_class_name"],
              "half": "text_encoder" if half else False}
    # T5 guards float16 overflow with IsInf, which ONNX takes in float16 from opset 20
    report["text_encoder"] = ltx.export_t5_encoder(
        text_encoder, os.path.join(tmp, "text_encoder", "model.onnx"), length,
        opset=max(opset, 20) if half else opset, external_data=external_data, half=half)
    if half:
        report["text_encoder"]["dtype"] = "float16 (its wo layers float32, as transformers loads it)"
    # the checks' rope scale: the pipeline's (T / fps, S, S) at the native frame rate
    rope = (temporal / float(native["fps"]), float(spatial), float(spatial))
    report["denoiser"] = ltx.export_transformer(
        transformer, os.path.join(tmp, "transformer", "model.onnx"), length, rope, opset=opset,
        external_data=external_data)
    report["vae_decoder"] = ltx.export_vae_decoder(vae, os.path.join(tmp, "vae_decoder", "model.onnx"),
                                                   external_data=external_data)
    enc = None
    if vae_encoder:
        report["vae_encoder"] = ltx.export_vae_encoder(vae, os.path.join(tmp, "vae_encoder", "model.onnx"),
                                                       external_data=external_data)
        enc = {"path": "vae_encoder/model.onnx", "input": "sample", "output": "latent_parameters"}
    report["scheduler"] = sched_cls
    decode_timestep, decode_noise_scale = decode
    # memory.float16_weights stays false with --fp16: the engine would count every graph's weights
    # (the float32 transformer and VAE included) at 2.5x their size on disk
    profile = memory_profile("LTXVideoTransformer3DModel", dict(transformer.config), dict(vae.config), fused=True)
    report["memory"] = {"attention": "every transformer attention is one com.microsoft MultiHeadAttention (self "
                                     "attention runs fused; ONNX Runtime's CPU kernel computes the masked cross "
                                     "attention over the text unfused, linear in video tokens); the VAE has none"}
    if half:
        # Only the text encoder is float16: memory.float16_text_encoder makes the engine count it
        # at 2.5x its size on disk (ONNX Runtime's CPU provider keeps float32 copies of float16
        # weights: measured 2.1x on a 33M-parameter T5), and the float32 transformer and VAE at
        # theirs (float16_weights would inflate all of them).
        profile["float16_text_encoder"] = True
        report["memory"]["float16_text_encoder"] = (
            "the text encoder is float16: counted at 2.5x its size on disk, as the CPU provider holds it; --fp16 "
            "halves the text encoder's download and disk, not its memory on the CPU provider")
    manifest = dict(
        family="ltx",
        # LTXPipeline.__call__'s own defaults (the CLI's general 7.5 over-saturates LTX)
        defaults={"steps": DEFAULT_STEPS, "guidance": DEFAULT_GUIDANCE},
        latent_channels=int(vae.config.latent_channels),
        spatial_compression=spatial,
        temporal_compression=temporal,
        size_multiple=spatial * int(transformer.config.patch_size),
        native=native,
        scaling_factor=float(vae.config.scaling_factor),
        # the statistics are buffers of the VAE's weights, not config fields
        latents_mean=[float(v) for v in vae.latents_mean],
        latents_std=[float(v) for v in vae.latents_std],
        decode_chunk_frames=1,
        decode_timestep=decode_timestep,
        decode_noise_scale=decode_noise_scale,
        max_length=length,
        pad_token=pad,
        denoiser_path="transformer/model.onnx",
        denoiser_encoder_attention_mask="encoder_attention_mask",
        denoiser_rope_interpolation_scale="rope_interpolation_scale",
        timestep_dtype="float32",
        vae_decoder_timestep="timestep" if decode_timestep is not None else None,
        vae_encoder=enc,
        memory=profile,
    )
    return report, manifest
