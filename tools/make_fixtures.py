#!/usr/bin/env python3
"""Build Promptreel's test fixtures: tiny random-weight model packages and parity references.

Run from anywhere (about 20 s on 2 CPU cores; needs no network):

    /opt/ptools/bin/python tools/make_fixtures.py

or with any Python environment that has tools/requirements.txt installed. It deletes and rewrites

    onnx/tests/data/tiny-unet3d/         TextToVideoSDPipeline-style package (family "unet3d"), with
                                         a VAE encoder for video to video
    onnx/tests/data/tiny-sd/             StableDiffusionPipeline-style package (family "sd")
    onnx/tests/data/tiny-sd-external/    tiny-sd, but the VAE decoder's weights live in the
                                         external-data sidecar vae_decoder/model.onnx_data
    onnx/tests/data/parity/<case>/       case.json + latents.npy + frames.npy (+ step_latents.npy,
                                         prompt_embeds.npy) from diffusers' own pipelines

Every component is randomly initialised from fixed seeds (nothing is downloaded), so reruns give
the same files. Each ONNX graph is checked against torch with ONNX Runtime at several shapes, and
each parity case is re-run through the ONNX graphs (tools/bench_python_ort.py's pipeline, with the
case's diffusers scheduler driving it) and compared with diffusers' frames.

Parity case layout (see case.json "notes"): latents.npy are the initial latents handed to the
pipeline *before* it multiplies them by the scheduler's init_noise_sigma; frames.npy is the
pipeline's output_type="np" result, float32 [F, H, W, 3] in [0, 1] (F = 1 for sd);
step_latents.npy [steps, ...latent shape] holds the latents after each scheduler step (the last
one is what the VAE decodes after dividing by scaling_factor); prompt_embeds.npy is the text
encoder output in the order the denoiser gets it ([uncond, cond] with guidance > 1, else [cond]).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from promptreel_export import graphs  # noqa: E402
from promptreel_export.manifest import write_manifest  # noqa: E402
from promptreel_export.memory import memory_profile  # noqa: E402
from promptreel_export.tokenizer import BOS, EOS, build_clip_tokenizer, hf_fast_tokenizer, save_tokenizer  # noqa: E402

import bench_python_ort as ortpipe  # noqa: E402

REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "onnx", "tests", "data")

VOCAB_SIZE = 1000
MAX_LENGTH = 32  # tokens per prompt (CLIP uses 77); smaller keeps the fixtures tiny, and not 77
# so an engine that assumes 77 instead of reading tokenizer.max_length fails the tests
HIDDEN = 32  # text encoder width = cross-attention width
LATENT_CHANNELS = 4
OPSET = 17

# VAE with four levels -> 8x spatial compression, like the SD VAE, so a 256x256 video has 32x32
# latents (with the two-level (32, 64) VAE the UNet's spatial attention at 256x256 would run over
# 128x128 = 16384 tokens per frame, far too much memory for the benchmark).
VAE_BLOCKS = (8, 8, 16, 16)
VAE_GROUPS = 4
SPATIAL_COMPRESSION = 2 ** (len(VAE_BLOCKS) - 1)

SCHEDULER_CONFIG = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="epsilon",
    timestep_spacing="leading",
)


# ------------------------------------------------------------------------------------------------
# components


def build_text_encoder(bos_id: int, eos_id: int):
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    cfg = CLIPTextConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=HIDDEN,
        intermediate_size=37,
        projection_dim=HIDDEN,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    model = CLIPTextModel(cfg).eval()
    return model


def build_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(1)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * len(VAE_BLOCKS),
        up_block_types=("UpDecoderBlock2D",) * len(VAE_BLOCKS),
        block_out_channels=VAE_BLOCKS,
        layers_per_block=1,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=VAE_GROUPS,
        sample_size=64,
        scaling_factor=0.18215,
    ).eval()
    # Widen the last layer a little so the frames use more of [0, 1] (random init gives a frame
    # std of about 0.15) while few pixels are clipped, so the parity test compares real structure.
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(1.5)
    return vae


def build_unet3d():
    from diffusers import UNet3DConditionModel

    torch.manual_seed(2)
    unet = UNet3DConditionModel(
        sample_size=8,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        cross_attention_dim=HIDDEN,
        attention_head_dim=4,  # diffusers uses this as the number of heads for UNet3D
        norm_num_groups=8,
    ).eval()
    return unet


def build_unet2d():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(3)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        cross_attention_dim=HIDDEN,
        attention_head_dim=2,  # used as the number of heads, as in diffusers' own configs
        norm_num_groups=4,
    ).eval()
    return unet


def build_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULER_CONFIG)


# ------------------------------------------------------------------------------------------------
# packages


def _dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total


def _write_common(pkg_dir: str, pipe, tokenizer_file: str, text_encoder, vae, eos_id: int, report: dict):
    os.makedirs(os.path.join(pkg_dir, "tokenizer"))
    shutil.copyfile(tokenizer_file, os.path.join(pkg_dir, "tokenizer", "tokenizer.json"))
    pipe.save_config(pkg_dir)  # model_index.json
    pipe.scheduler.save_config(os.path.join(pkg_dir, "scheduler"))  # scheduler/scheduler_config.json
    report["text_encoder"] = graphs.export_text_encoder(
        text_encoder, os.path.join(pkg_dir, "text_encoder", "model.onnx"), MAX_LENGTH, eos_id, opset=OPSET)
    report["vae_decoder"] = graphs.export_vae_decoder(vae, os.path.join(pkg_dir, "vae_decoder", "model.onnx"),
                                                      opset=OPSET)


def make_unet3d_package(pipe, tokenizer_file: str, eos_id: int) -> dict:
    pkg_dir = os.path.join(DATA, "tiny-unet3d")
    print(f"\n== {pkg_dir}")
    report: dict = {}
    _write_common(pkg_dir, pipe, tokenizer_file, pipe.text_encoder, pipe.vae, eos_id, report)
    report["denoiser"] = graphs.export_unet3d(pipe.unet, os.path.join(pkg_dir, "unet", "model.onnx"), MAX_LENGTH,
                                              opset=OPSET)
    # The VAE encoder (encoder + quant_conv -> mean and log-variance on the channel axis), exported
    # as the exporter does it for unet3d packages (promptreel_export/pipeline.py), for video to
    # video. Checked against torch to 1e-5; it uses its own generator, so the other fixtures'
    # bytes do not depend on it.
    report["vae_encoder"] = graphs.export_vae_encoder(pipe.vae, os.path.join(pkg_dir, "vae_encoder", "model.onnx"),
                                                      opset=OPSET, tol=1e-5)
    report["manifest"] = write_manifest(
        pkg_dir,
        name="tiny-unet3d",
        version="1",
        family="unet3d",
        latent_channels=LATENT_CHANNELS,
        spatial_compression=SPATIAL_COMPRESSION,
        temporal_compression=1,
        native={"width": 64, "height": 64, "frames": 8, "fps": 8.0},
        scaling_factor=pipe.vae.config.scaling_factor,
        shift_factor=0.0,
        decode_chunk_frames=8,
        cfg_batch=True,
        max_length=MAX_LENGTH,
        pad_token=EOS,
        timestep_dtype="float32",
        vae_encoder={"path": "vae_encoder/model.onnx", "input": "sample", "output": "latent_parameters"},
        memory=memory_profile("UNet3DConditionModel", dict(pipe.unet.config), dict(pipe.vae.config)),
    )
    report["bytes"] = _dir_size(pkg_dir)
    return report


def make_sd_package(pipe, tokenizer_file: str, eos_id: int) -> dict:
    pkg_dir = os.path.join(DATA, "tiny-sd")
    print(f"\n== {pkg_dir}")
    report: dict = {}
    _write_common(pkg_dir, pipe, tokenizer_file, pipe.text_encoder, pipe.vae, eos_id, report)
    report["denoiser"] = graphs.export_unet2d(pipe.unet, os.path.join(pkg_dir, "unet", "model.onnx"), MAX_LENGTH,
                                              opset=OPSET)
    report["manifest"] = write_manifest(
        pkg_dir,
        name="tiny-sd",
        version="1",
        family="sd",
        latent_channels=LATENT_CHANNELS,
        spatial_compression=SPATIAL_COMPRESSION,
        temporal_compression=1,
        native={"width": 64, "height": 64, "frames": 1, "fps": 1.0},
        scaling_factor=pipe.vae.config.scaling_factor,
        shift_factor=0.0,
        decode_chunk_frames=8,
        cfg_batch=True,
        max_length=MAX_LENGTH,
        pad_token=EOS,
        timestep_dtype="float32",
        memory=memory_profile("UNet2DConditionModel", dict(pipe.unet.config), dict(pipe.vae.config)),
    )
    report["bytes"] = _dir_size(pkg_dir)
    return report


def make_sd_external_package() -> dict:
    """tiny-sd with the VAE decoder's weights moved to vae_decoder/model.onnx_data."""
    src = os.path.join(DATA, "tiny-sd")
    dst = os.path.join(DATA, "tiny-sd-external")
    print(f"\n== {dst}")
    shutil.copytree(src, dst)
    graph = os.path.join(dst, "vae_decoder", "model.onnx")
    os.remove(graph)
    graphs.resave_with_external_data(os.path.join(src, "vae_decoder", "model.onnx"), graph, "model.onnx_data")
    locs = graphs.external_data_locations(graph)
    assert locs == ["model.onnx_data"], locs
    with open(os.path.join(dst, "promptreel.json")) as f:
        manifest = json.load(f)
    manifest["name"] = "tiny-sd-external"
    with open(os.path.join(dst, "promptreel.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    # same numbers as the inline graph, loaded from its path so ORT finds the sidecar
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, LATENT_CHANNELS, 5, 7)) / 0.18215).astype(np.float32)
    a = graphs._session(os.path.join(src, "vae_decoder", "model.onnx")).run(None, {"latent_sample": x})[0]
    b = graphs._session(graph).run(None, {"latent_sample": x})[0]
    diff = float(np.max(np.abs(a - b)))
    print(f"    external-data VAE decoder vs inline: max abs diff {diff:.3e}; sidecar locations {locs}")
    assert diff == 0.0
    return {
        "bytes": _dir_size(dst),
        "sidecar": os.path.join("vae_decoder", "model.onnx_data"),
        "sidecar_bytes": os.path.getsize(os.path.join(dst, "vae_decoder", "model.onnx_data")),
        "graph_bytes": os.path.getsize(graph),
        "diff_vs_inline": diff,
    }


# ------------------------------------------------------------------------------------------------
# parity cases


class DiffusersSchedulerAdapter:
    """Lets bench_python_ort.generate() be driven by a diffusers scheduler (numpy in, numpy out)."""

    def __init__(self, sched):
        self.s = sched

    def set_timesteps(self, steps):
        self.s.set_timesteps(steps)

    @property
    def timesteps(self):
        return list(self.s.timesteps)

    @property
    def init_noise_sigma(self):
        return float(self.s.init_noise_sigma)

    def scale_model_input(self, x, t):
        return self.s.scale_model_input(torch.from_numpy(np.ascontiguousarray(x)), t).numpy()

    def step(self, eps, t, x):
        video = x.ndim == 5
        if video:  # the text-to-video pipeline steps over [B*F, C, h, w]
            b, c, f, h, w = x.shape
            eps = eps.transpose(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
            x = x.transpose(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
        out = self.s.step(torch.from_numpy(np.ascontiguousarray(eps)), t,
                          torch.from_numpy(np.ascontiguousarray(x))).prev_sample.numpy()
        if video:
            out = out.reshape(b, f, c, h, w).transpose(0, 2, 1, 3, 4)
        return np.ascontiguousarray(out)


def _make_scheduler(pipe_scheduler_config, class_name: str, overrides: dict):
    import diffusers

    cls = getattr(diffusers, class_name)
    return cls.from_config(pipe_scheduler_config, **overrides)


def _jsonable(v):
    """JSON that strict parsers (serde_json) accept: non-finite floats become "inf"/"-inf"/"nan"."""
    if isinstance(v, (np.generic,)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    return v


def _frame_stats(frames: np.ndarray) -> dict:
    return {
        "shape": list(frames.shape),
        "min": float(frames.min()),
        "max": float(frames.max()),
        "mean": float(frames.mean()),
        "std": float(frames.std()),
        "frac_clipped": float(np.mean((frames <= 0.0) | (frames >= 1.0))),
        "std_over_frames": float(frames.std(axis=0).mean()) if frames.shape[0] > 1 else 0.0,
    }


def run_case(case: dict, pipes: dict, hf_tok) -> dict:
    name = case["name"]
    out_dir = os.path.join(DATA, "parity", name)
    os.makedirs(out_dir)
    family = case["family"]
    pipe = pipes[family]
    base_config = dict(pipe.scheduler.config)
    sched = _make_scheduler(base_config, case["scheduler"], case.get("scheduler_overrides", {}))
    pipe.scheduler = sched

    sc = SPATIAL_COMPRESSION
    h, w = case["height"] // sc, case["width"] // sc
    if family == "unet3d":
        shape = (1, LATENT_CHANNELS, case["frames"], h, w)
    else:
        shape = (1, LATENT_CHANNELS, h, w)
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)

    step_latents = []
    captured = {}
    cfg = case["guidance"] > 1.0

    # capture the text embeddings the denoiser receives
    orig_forward = pipe.unet.forward

    def unet_spy(sample, timestep, encoder_hidden_states=None, *a, **k):
        if "embeds" not in captured:
            captured["embeds"] = encoder_hidden_states.detach().clone().numpy()
        return orig_forward(sample, timestep, encoder_hidden_states, *a, **k)

    pipe.unet.forward = unet_spy
    try:
        with torch.no_grad():
            if family == "unet3d":
                def cb(step, t, lat):
                    step_latents.append(lat.detach().clone().numpy())

                out = pipe(
                    prompt=case["prompt"],
                    negative_prompt=case["negative_prompt"],
                    num_inference_steps=case["steps"],
                    guidance_scale=case["guidance"],
                    num_frames=case["frames"],
                    height=case["height"],
                    width=case["width"],
                    latents=latents.clone(),
                    output_type="np",
                    callback=cb,
                    callback_steps=1,
                )
                frames = np.asarray(out.frames[0], dtype=np.float32)  # [F, H, W, 3]
            else:
                def cb(p, i, t, kw):
                    step_latents.append(kw["latents"].detach().clone().numpy())
                    return kw

                out = pipe(
                    prompt=case["prompt"],
                    negative_prompt=case["negative_prompt"],
                    num_inference_steps=case["steps"],
                    guidance_scale=case["guidance"],
                    height=case["height"],
                    width=case["width"],
                    latents=latents.clone(),
                    output_type="np",
                    callback_on_step_end=cb,
                )
                frames = np.asarray(out.images, dtype=np.float32)  # [1, H, W, 3]
    finally:
        pipe.unet.forward = orig_forward

    assert len(step_latents) == case["steps"], (len(step_latents), case["steps"])
    timesteps = [float(t) for t in sched.timesteps]
    sigmas = [float(s) for s in sched.sigmas] if hasattr(sched, "sigmas") and sched.sigmas is not None else None

    # token ids exactly as the pipeline's tokenizer made them
    def ids_of(text):
        return hf_tok(text, padding="max_length", max_length=hf_tok.model_max_length, truncation=True).input_ids

    prompt_ids = ids_of(case["prompt"])
    uncond_text = case["negative_prompt"] if case["negative_prompt"] is not None else ""
    untruncated = hf_tok(case["prompt"]).input_ids
    truncated = len(untruncated) > MAX_LENGTH

    np.save(os.path.join(out_dir, "latents.npy"), latents.numpy().astype(np.float32))
    np.save(os.path.join(out_dir, "frames.npy"), frames)
    np.save(os.path.join(out_dir, "step_latents.npy"), np.stack(step_latents).astype(np.float32))
    np.save(os.path.join(out_dir, "prompt_embeds.npy"), captured["embeds"].astype(np.float32))

    stats = _frame_stats(frames)
    record = {
        "name": name,
        "package": case["package"],
        "family": family,
        "prompt": case["prompt"],
        "negative_prompt": case["negative_prompt"],
        "steps": case["steps"],
        "guidance": case["guidance"],
        "cfg": cfg,
        "frames": case["frames"],
        "width": case["width"],
        "height": case["height"],
        "eta": 0.0,
        "scheduler": {
            "class_name": case["scheduler"],
            "config_overrides": case.get("scheduler_overrides", {}),
            # the scheduler's full config as used (diffusers' `from_config(package config,
            # **overrides)`); internal "_" keys dropped, non-finite floats written as strings
            "config": _jsonable({k: v for k, v in dict(sched.config).items() if not k.startswith("_")}),
        },
        "timesteps": timesteps,
        "sigmas": sigmas,
        "init_noise_sigma": float(sched.init_noise_sigma),
        "latents_are_unscaled": True,
        "latent_shape": list(shape),
        "input_ids": {
            "prompt": prompt_ids,
            "negative_prompt": ids_of(uncond_text) if cfg else None,
            "negative_prompt_text_used": uncond_text if cfg else None,
            "prompt_untruncated": untruncated,
            "prompt_truncated": truncated,
        },
        "frame_stats": stats,
        "files": {
            "latents": "latents.npy",
            "frames": "frames.npy",
            "step_latents": "step_latents.npy",
            "prompt_embeds": "prompt_embeds.npy",
        },
        "notes": [
            "latents.npy: initial latents passed as `latents=` to the diffusers pipeline, before the "
            "pipeline multiplies them by init_noise_sigma.",
            "frames.npy: output_type='np', float32 [F, H, W, 3] in [0, 1] (F = 1 for sd).",
            "step_latents.npy: latents after each scheduler step, [steps] + latent_shape.",
            "prompt_embeds.npy: encoder_hidden_states given to the denoiser: [uncond, cond] when cfg, "
            "else [cond]; uncond is the negative prompt, or '' when there is none.",
            "input_ids: padding='max_length' to tokenizer.max_length with <|endoftext|>, truncation=True "
            "(content cut so <|startoftext|> ... <|endoftext|> still fit).",
        ],
    }

    # Re-run through the ONNX graphs (the benchmark's pipeline) with the same scheduler class.
    pkg = ortpipe.Package(os.path.join(DATA, case["package"]), threads=2)
    ort_sched = DiffusersSchedulerAdapter(_make_scheduler(base_config, case["scheduler"],
                                                          case.get("scheduler_overrides", {})))
    ort_frames, _ = ortpipe.generate(pkg, case["prompt"], case["negative_prompt"], case["steps"], case["guidance"],
                                     case["frames"], case["width"], case["height"], latents.numpy(),
                                     scheduler=ort_sched)
    ort_diff = float(np.max(np.abs(ort_frames - frames)))
    record["onnx_pipeline_max_abs_diff"] = ort_diff
    ddim_diff = None
    if case["scheduler"] == "DDIMScheduler" and not case.get("scheduler_overrides"):
        np_frames, _ = ortpipe.generate(pkg, case["prompt"], case["negative_prompt"], case["steps"],
                                        case["guidance"], case["frames"], case["width"], case["height"],
                                        latents.numpy())
        ddim_diff = float(np.max(np.abs(np_frames - frames)))
        record["onnx_numpy_ddim_max_abs_diff"] = ddim_diff
    # tokenizer check: the `tokenizers` file alone (as the Rust side uses it) gives the same ids
    assert list(pkg.tokenize(case["prompt"])) == list(prompt_ids), name
    if cfg:
        assert list(pkg.tokenize(uncond_text)) == list(record["input_ids"]["negative_prompt"]), name

    with open(os.path.join(out_dir, "case.json"), "w") as f:
        json.dump(record, f, indent=2, allow_nan=False)
        f.write("\n")

    print(f"  {name:28s} frames {str(stats['shape']):18s} mean {stats['mean']:.3f} std {stats['std']:.3f} "
          f"min {stats['min']:.3f} max {stats['max']:.3f} clipped {stats['frac_clipped']:.3f} | onnx pipeline "
          f"diff {ort_diff:.2e}" + (f", numpy DDIM diff {ddim_diff:.2e}" if ddim_diff is not None else ""))
    if stats["std"] < 0.05:
        raise AssertionError(f"{name}: frames are nearly constant (std {stats['std']})")
    if ort_diff > 1e-3 or (ddim_diff is not None and ddim_diff > 1e-3):
        raise AssertionError(f"{name}: ONNX pipeline differs from diffusers")
    return record


TOKENIZER_STRINGS = [
    "a red ball bouncing on a green floor",
    "",
    "   A  Red\tBALL\n bouncing   ",
    "it's a cat's toy, isn't it? they're here; we'll see.",
    "2 cats and 13 dogs at 4:30pm (100%)",
    "Crème brûlée über café naïve",
    "emoji: \U0001F431 \U0001F680 \u2728 and CJK \u732b",
    "high-quality, ultra-detailed video!!!",
    "<|startoftext|> literal special tokens <|endoftext|>",
    " ".join(["very"] * 40) + " long prompt that must be truncated",
]


def write_tokenizer_cases(tok_file: str, hf_tok) -> None:
    """parity/tokenizer_cases.json: ids from the tokenizer file alone and as the pipelines pad them."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(tok_file)
    cases = []
    for text in TOKENIZER_STRINGS:
        enc = raw.encode(text)
        padded = hf_tok(text, padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
        cases.append({
            "text": text,
            "ids": enc.ids,  # add_special_tokens=True, no padding/truncation
            "tokens": enc.tokens,
            "padded_ids": padded,  # what the pipelines feed the text encoder
            "truncated": len(enc.ids) > MAX_LENGTH,
            "decoded": raw.decode(enc.ids),
        })
    out = {
        "tokenizer": "tokenizer/tokenizer.json (identical in every package)",
        "max_length": MAX_LENGTH,
        "bos": {"token": BOS, "id": raw.token_to_id(BOS)},
        "eos": {"token": EOS, "id": raw.token_to_id(EOS)},
        "pad": {"token": EOS, "id": raw.token_to_id(EOS)},
        "notes": "padded_ids: transformers' fast tokenizer with padding='max_length', truncation=True, "
                 "max_length=max_length: the content is cut to max_length - 2 so <|startoftext|> and "
                 "<|endoftext|> remain, then <|endoftext|> pads on the right.",
        "cases": cases,
    }
    path = os.path.join(DATA, "parity", "tokenizer_cases.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"  tokenizer cases -> {path} ({len(cases)} strings)")


CASES = [
    dict(name="unet3d_ddim_cfg", package="tiny-unet3d", family="unet3d", scheduler="DDIMScheduler",
         prompt="a red ball bouncing on a green floor", negative_prompt="blurry, low quality",
         steps=3, guidance=7.5, frames=8, width=64, height=64),
    dict(name="unet3d_euler", package="tiny-unet3d", family="unet3d", scheduler="EulerDiscreteScheduler",
         prompt="a white cat walking in the snow at night", negative_prompt=None,
         steps=3, guidance=7.5, frames=8, width=32, height=32),
    dict(name="unet3d_dpmpp_karras", package="tiny-unet3d", family="unet3d",
         scheduler="DPMSolverMultistepScheduler",
         scheduler_overrides={"algorithm_type": "dpmsolver++", "use_karras_sigmas": True},
         prompt="a blue boat sailing across the ocean at sunset", negative_prompt="noisy",
         steps=3, guidance=7.5, frames=8, width=32, height=32),
    dict(name="unet3d_no_cfg_48x32", package="tiny-unet3d", family="unet3d", scheduler="DDIMScheduler",
         prompt="yellow stars spinning slowly", negative_prompt=None,
         steps=2, guidance=1.0, frames=5, width=48, height=32),
    dict(name="unet3d_empty_prompt", package="tiny-unet3d", family="unet3d", scheduler="DDIMScheduler",
         prompt="", negative_prompt="dark",
         steps=2, guidance=5.0, frames=4, width=32, height=32),
    dict(name="sd_ddim", package="tiny-sd", family="sd", scheduler="DDIMScheduler",
         prompt="a photo of a small orange fox in a forest", negative_prompt="ugly",
         steps=3, guidance=7.5, frames=1, width=64, height=64),
    dict(name="sd_euler", package="tiny-sd", family="sd", scheduler="EulerDiscreteScheduler",
         prompt="a golden tower under a purple sky", negative_prompt=None,
         steps=3, guidance=7.5, frames=1, width=64, height=64),
    dict(name="sd_truncated_prompt", package="tiny-sd", family="sd", scheduler="DDIMScheduler",
         prompt="a very long prompt about a big red house near a quiet lake with tall green trees, "
                "white clouds, a small boat, two birds flying over the water and a dog running on the beach",
         negative_prompt=None, steps=2, guidance=7.5, frames=1, width=48, height=64),
]


# ------------------------------------------------------------------------------------------------


def main() -> int:
    t_start = time.time()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    import diffusers
    import onnx
    import onnxruntime
    import tokenizers
    import transformers
    from diffusers import StableDiffusionPipeline, TextToVideoSDPipeline
    from diffusers.utils import logging as dlogging
    from transformers.utils import logging as tlogging

    dlogging.set_verbosity_error()
    dlogging.disable_progress_bar()
    tlogging.set_verbosity_error()
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__}, "
          f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, tokenizers {tokenizers.__version__}")

    for d in ("tiny-unet3d", "tiny-sd", "tiny-sd-external", "parity"):
        shutil.rmtree(os.path.join(DATA, d), ignore_errors=True)
    os.makedirs(DATA, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        tok_file = os.path.join(tmp, "tokenizer.json")
        tok = build_clip_tokenizer(VOCAB_SIZE)
        save_tokenizer(tok, tok_file)
        bos_id, eos_id = tok.token_to_id(BOS), tok.token_to_id(EOS)
        hf_tok = hf_fast_tokenizer(tok_file, MAX_LENGTH)
        print(f"tokenizer: vocab {tok.get_vocab_size()}, {BOS}={bos_id}, {EOS}={eos_id}, max_length {MAX_LENGTH}")

        text_encoder = build_text_encoder(bos_id, eos_id)
        vae = build_vae()
        t2v = TextToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=hf_tok, unet=build_unet3d(),
                                    scheduler=build_scheduler())
        sd = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=hf_tok, unet=build_unet2d(),
                                     scheduler=build_scheduler(), safety_checker=None, feature_extractor=None,
                                     requires_safety_checker=False)
        for p in (t2v, sd):
            p.set_progress_bar_config(disable=True)

        reports = {
            "tiny-unet3d": make_unet3d_package(t2v, tok_file, eos_id),
            "tiny-sd": make_sd_package(sd, tok_file, eos_id),
        }
        reports["tiny-sd-external"] = make_sd_external_package()

        print("\n== parity cases")
        pipes = {"unet3d": t2v, "sd": sd}
        records = []
        for case in CASES:
            records.append(run_case(case, pipes, hf_tok))
            fam = case["family"]
            pipes[fam].scheduler = build_scheduler()  # back to the package's DDIM

        write_tokenizer_cases(tok_file, hf_tok)

    # ---- summary
    print("\n== summary")
    for name, r in reports.items():
        print(f"{name}: {r['bytes'] / 1e6:.2f} MB")
        for g in ("text_encoder", "denoiser", "vae_decoder", "vae_encoder"):
            if g in r:
                gr = r[g]
                ins = ", ".join(f"{i['name']} {i['dtype']} {i['shape']}" for i in gr["inputs"])
                outs = ", ".join(f"{o['name']} {o['dtype']} {o['shape']}" for o in gr["outputs"])
                worst = max(c["max_abs_diff"] for c in gr["checks"])
                print(f"  {g:12s} {gr['bytes'] / 1e6:6.2f} MB  opset {gr['opset']}  max|onnx-torch| {worst:.2e}")
                print(f"      in:  {ins}\n      out: {outs}")
    print("parity:")
    for r in records:
        s = r["frame_stats"]
        print(f"  {r['name']:28s} {str(s['shape']):18s} std {s['std']:.3f} mean {s['mean']:.3f} "
              f"onnx-vs-diffusers {r['onnx_pipeline_max_abs_diff']:.2e}")
    sizes = {d: _dir_size(os.path.join(DATA, d)) for d in ("tiny-unet3d", "tiny-sd", "tiny-sd-external", "parity")}
    total = sum(sizes.values())
    print("sizes: " + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()) + f"; total {total / 1e6:.2f} MB")
    print(f"done in {time.time() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
