#!/usr/bin/env python3
"""Build the tiny Wan test package and its parity references against diffusers' WanPipeline.

    /opt/ptools/bin/python tools/make_wan_fixtures.py        (about a minute on 2 CPU cores)

It builds a tiny random-weight WanPipeline folder (our own small configuration of the real
architecture: UMT5 text encoder, WanTransformer3DModel, AutoencoderKLWan with Wan 2.1's 8x
spatial and 4x temporal compression, UniPC with flow sigmas as the real checkpoints ship, and a
SentencePiece Unigram tokenizer trained here, tools/fixtures/t5_tokenizer.py), exports it with
tools/export.py's code, and records diffusers' frames for a few generations:

    onnx/tests/data/tiny-wan/                  the Wan 2.1 package (family "wan")
    onnx/tests/data/tiny-wan-a14b/             Wan 2.2 A14B-style: two transformers, boundary 0.875
    onnx/tests/data/tiny-wan-ti2v/             Wan 2.2 TI2V-style: per-token timesteps, 48-channel VAE
    onnx/tests/data/tiny-wan-fp16/             tiny-wan exported with --fp16
    onnx/tests/data/tiny-wan-diffusers/        the diffusers folder it was exported from (2 MB;
                                               the engine benchmark's PyTorch baseline runs it)
    onnx/tests/data/wan-parity/<case>/         case.json, latents.npy (the initial noise handed to
                                               the pipeline), frames.npy ([F, H, W, 3] in [0, 1])

Everything is seeded, nothing is downloaded. ftfy must not be installed: WanPipeline cleans
prompts with it when present, and the engine implements the cleaning without it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fixtures.t5_tokenizer import save_tiny_t5_tokenizer  # noqa: E402
from promptreel_export.pipeline import export_folder  # noqa: E402

REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "onnx", "tests", "data")
CASES = os.path.join(DATA, "wan-parity")
SOURCE = os.path.join(DATA, "tiny-wan-diffusers")

# Text tokens per prompt: small keeps the fixture tiny, and not 512 so an engine that assumes
# WanPipeline's default instead of reading the package fails the tests.
MAX_SEQUENCE_LENGTH = 24
TEXT_DIM = 32
FLOW_SHIFT = 3.0  # Wan 2.1 at 480p

# The packages: Wan 2.1 (one transformer, 16-channel VAE), a Wan 2.2 A14B-style pair of
# transformers switched at boundary_ratio, and a Wan 2.2 TI2V-style model (per-token
# timesteps, the 48-channel VAE with 16x spatial compression). The last two skip the VAE encoder.
VARIANTS = {
    "tiny-wan": {"native": {"width": 48, "height": 32, "frames": 9, "fps": 16.0}, "encoder": True},
    "tiny-wan-a14b": {"native": {"width": 32, "height": 32, "frames": 9, "fps": 16.0}, "encoder": False},
    "tiny-wan-ti2v": {"native": {"width": 64, "height": 32, "frames": 9, "fps": 24.0}, "encoder": False},
}

# case name: (package, scheduler, steps, guidance, guidance_2, frames, width, height, prompt, negative)
CASE_LIST = {
    "unipc_cfg": ("tiny-wan", "unipc", 4, 5.0, None, 9, 32, 32, "a red fox running through fresh snow at dawn",
                  "blurry, static"),
    "flow_euler": ("tiny-wan", "flow-euler", 4, 4.0, None, 5, 32, 32, "waves crash on a rocky shore", ""),
    "unipc_no_guidance": ("tiny-wan", "unipc", 3, 1.0, None, 9, 32, 32, "a paper boat on a rainy street", ""),
    "unipc_48x32": ("tiny-wan", "unipc", 3, 5.0, None, 5, 48, 32, "Caf\u00e9 &amp; croissants, close-up",
                    "low quality"),
    "unipc_17_frames": ("tiny-wan", "unipc", 3, 5.0, None, 17, 32, 32, "a hot air balloon rises over green hills",
                        "noise"),
    # 4 UniPC steps with shift 3 run t = 999, 900, 750, 500: two on each side of 875
    "a14b_two_guidances": ("tiny-wan-a14b", "unipc", 4, 4.0, 3.0, 9, 32, 32, "a tram crossing a bridge at night",
                           "blurry"),
    "ti2v_unipc": ("tiny-wan-ti2v", "unipc", 3, 5.0, None, 9, 64, 32, "a kite above a windy beach", "dark"),
}


def _tokenizer_and_text_encoder(root: str):
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    tok_dir = os.path.join(root, "tokenizer")
    save_tiny_t5_tokenizer(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    return tokenizer, text_encoder


def _transformer(seed: int, channels: int = 16):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=channels,
        out_channels=channels, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=64, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=64).eval()


def build_folder(root: str, variant: str) -> None:
    """A WanPipeline folder with random weights (save_pretrained layout)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline

    tokenizer, text_encoder = _tokenizer_and_text_encoder(root)
    extra = {}
    if variant == "tiny-wan-ti2v":
        transformer = _transformer(6, channels=48)
        # Wan 2.2's VAE: residual blocks, a 2x2 patch (16x spatial in all), 48 latent channels
        g = torch.Generator().manual_seed(8)
        torch.manual_seed(7)
        vae = AutoencoderKLWan(
            base_dim=8, decoder_base_dim=12, z_dim=48, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
            temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
            patch_size=2, scale_factor_spatial=16,
            latents_mean=(torch.randn(48, generator=g) * 0.5).tolist(),
            latents_std=(torch.rand(48, generator=g) * 2 + 0.5).tolist()).eval()
        extra["expand_timesteps"] = True
    else:
        transformer = _transformer(1)
        torch.manual_seed(2)
        # Wan 2.1's compression (8x spatial, 4x temporal) with few channels. Non-trivial latent
        # statistics, so a missing de-normalisation shows in the frames.
        g = torch.Generator().manual_seed(3)
        vae = AutoencoderKLWan(
            base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True],
            latents_mean=(torch.randn(16, generator=g) * 0.5).tolist(),
            latents_std=(torch.rand(16, generator=g) * 2 + 0.5).tolist()).eval()
        if variant == "tiny-wan-a14b":
            extra["transformer_2"] = _transformer(5)
            extra["boundary_ratio"] = 0.875
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=FLOW_SHIFT, num_train_timesteps=1000)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
                       scheduler=scheduler, **extra)
    pipe.save_pretrained(root)


def record_case(folders: dict, name: str, spec: tuple) -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanPipeline

    package, sched_name, steps, guidance, guidance_2, frames, width, height, prompt, negative = spec
    pipe = WanPipeline.from_pretrained(folders[package])
    if sched_name == "flow-euler":
        # The engine's flow-euler on a Wan package uses the package's flow_shift, as WanPipeline
        # users configure it (diffusers' from_config would drop the UniPC key and use shift 1).
        pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=FLOW_SHIFT, num_train_timesteps=1000)
    else:
        assert isinstance(pipe.scheduler, UniPCMultistepScheduler)
    latent_frames = (frames - 1) // 4 + 1
    s = pipe.vae.config.scale_factor_spatial
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    latents = torch.randn((1, pipe.vae.config.z_dim, latent_frames, height // s, width // s), generator=g)
    kw = {"guidance_scale_2": guidance_2} if guidance_2 is not None else {}
    out = pipe(prompt=prompt, negative_prompt=negative, height=height, width=width, num_frames=frames,
               num_inference_steps=steps, guidance_scale=guidance, latents=latents.clone(),
               max_sequence_length=MAX_SEQUENCE_LENGTH, output_type="np", **kw).frames[0]
    frames_np = np.asarray(out, dtype=np.float32)
    assert frames_np.shape == (frames, height, width, 3), frames_np.shape
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean

    ids = pipe.tokenizer(prompt_clean(prompt), padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
                         add_special_tokens=True).input_ids
    d = os.path.join(CASES, name)
    os.makedirs(d)
    np.save(os.path.join(d, "latents.npy"), latents.numpy().astype(np.float32))
    np.save(os.path.join(d, "frames.npy"), frames_np)
    case = {
        "name": name,
        "package": package,
        "family": "wan",
        "prompt": prompt,
        "negative_prompt": negative,
        "steps": steps,
        "guidance": guidance,
        **({"guidance_2": guidance_2} if guidance_2 is not None else {}),
        "frames": frames,
        "width": width,
        "height": height,
        "scheduler": sched_name,
        "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "latents_are_unscaled": True,
        "input_ids": {"prompt": ids},
        "frame_stats": {"mean": float(frames_np.mean()), "std": float(frames_np.std())},
        "notes": "diffusers WanPipeline (float32, CPU) with the given initial latents; frames are "
                 "output_type='np'. flow-euler = FlowMatchEulerDiscreteScheduler(shift=flow_shift).",
    }
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    print(f"  {name}: frames {frames_np.shape}, mean {frames_np.mean():.3f}, std {frames_np.std():.3f}")


def check_wan22_vae() -> None:
    """The stateful VAE export on a Wan 2.2-style VAE (residual up/down blocks, 2x2 patch, 16x
    spatial): exported and checked against diffusers like the package's, into a temp folder.
    Nothing is kept; the run fails if it stops matching."""
    from diffusers import AutoencoderKLWan

    from promptreel_export import causal_vae
    from promptreel_export.wan_pipeline import export_vae_part

    torch.manual_seed(4)
    vae = AutoencoderKLWan(
        base_dim=8, decoder_base_dim=12, z_dim=12, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
        temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12, patch_size=2,
        scale_factor_spatial=16, latents_mean=[0.0] * 12, latents_std=[1.0] * 12).eval()
    with tempfile.TemporaryDirectory() as tmp:
        for part in ("decoder", "encoder"):
            export_vae_part(vae, part, os.path.join(tmp, part, "model.onnx"), 17, False, causal_vae)


def main() -> int:
    try:
        import ftfy  # noqa: F401

        print("uninstall ftfy first: WanPipeline would clean prompts with it and the engine does not", file=sys.stderr)
        return 2
    except ImportError:
        pass
    torch.set_grad_enabled(False)
    check_wan22_vae()
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for variant, spec in VARIANTS.items():
            folders[variant] = os.path.join(tmp, variant)
            build_folder(folders[variant], variant)
            export_folder(folders[variant], os.path.join(DATA, variant), name=variant, version="1",
                          native=spec["native"], force=True, max_sequence_length=MAX_SEQUENCE_LENGTH,
                          vae_encoder=spec["encoder"])
            report = os.path.join(DATA, variant, "export-report.json")
            with open(report) as f:
                r = json.load(f)
            r["source"] = "tools/make_wan_fixtures.py (random weights)"
            with open(report, "w") as f:
                json.dump(r, f, indent=2)
                f.write("\n")
        shutil.rmtree(CASES, ignore_errors=True)
        os.makedirs(CASES)
        for name, spec in CASE_LIST.items():
            record_case(folders, name, spec)
        shutil.rmtree(SOURCE, ignore_errors=True)
        shutil.copytree(folders["tiny-wan"], SOURCE)
        # --fp16 of the same weights: the engine's frames against diffusers' float32 ones
        export_folder(folders["tiny-wan"], os.path.join(DATA, "tiny-wan-fp16"), name="tiny-wan-fp16", version="1",
                      native=VARIANTS["tiny-wan"]["native"], force=True, max_sequence_length=MAX_SEQUENCE_LENGTH,
                      vae_encoder=False, half=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
