#!/usr/bin/env python3
"""Build the tiny LTX-Video test package and its parity references against diffusers.

    /opt/ptools/bin/python tools/make_ltx_fixtures.py        (a few minutes on 2 CPU cores)
    /opt/ptools/bin/python tools/make_ltx_fixtures.py --only tiled
                                                    (the tiled-VAE cases alone, against the
                                                     committed tiny-ltx-diffusers folder)
    /opt/ptools/bin/python tools/make_ltx_fixtures.py --only fp16
                                                    (the tiny-ltx-fp16 package alone, exported
                                                     from the committed tiny-ltx-diffusers folder)

It builds a tiny random-weight LTX-Video folder of our own configuration that keeps the real
checkpoints' shape of things: a T5 encoder (gated GELU), an LTXVideoTransformer3DModel with
patch 1x1, an AutoencoderKLLTXVideo with LTX's 32x spatial and 8x temporal compression and
timestep conditioning (as 0.9.1+), non-trivial latents_mean / latents_std buffers, LTX's
FlowMatchEulerDiscreteScheduler settings and the SentencePiece tokenizer of
tools/fixtures/t5_tokenizer.py. It exports it with tools/export.py's code and records what
diffusers' LTXPipeline and LTXImageToVideoPipeline make from it:

    onnx/tests/data/tiny-ltx-diffusers/     the diffusers folder (the engine benchmark's PyTorch
                                            baseline, tools/bench_ltx_torch.py, runs it)
    onnx/tests/data/tiny-ltx/               the package exported from it (family "ltx")
    onnx/tests/data/tiny-ltx-fp16/          the same exported with --fp16 (for LTX-Video: the T5
                                            text encoder alone in float16); no cases of its own,
                                            it replays ltx-parity's with a looser tolerance
    onnx/tests/data/ltx-parity/<case>/      case.json, latents.npy (the initial noise, unpacked
                                            [1, C, F, h, w]), decode_noise.npy (the noise blended
                                            in before decoding, same shape), for image cases
                                            image_noise.npy (what latent_dist.sample drew,
                                            [1, C, 1, h, w]) and image.png, and frames.npy
                                            (output_type="np": [F, H, W, 3] in [0, 1])
    onnx/tests/data/ltx-parity-tiled/<case>/
                                            the same for LTXPipeline with diffusers' tiled VAE
                                            decoding (vae.enable_tiling() and
                                            vae.use_framewise_decoding = True, default tile
                                            settings), at sizes where the tiles blend in time
                                            and space; the frames are too large to commit, so
                                            frames_sub.npy holds frames[:, ::r, ::c, :] with
                                            case.json's "subsample": [r, c]

The noises are what the pipelines drew from a seeded torch Generator, recorded by wrapping the
functions they draw with (diffusers' randn_tensor in the pipeline and VAE modules, torch.randn
for LTXImageToVideoPipeline's decode noise). The script then replays case 1 with ONNX Runtime
and NumPy alone and fails unless the frames agree to 1e-4: an exporter bug shows here, not in
the engine's tests. For the tiled cases it prints instead how far the untiled decode of the same
latents lies from the tiled frames (the cases are only meaningful if the tiling shows), and
checks that the recorded frames are the tiled decode of the latents diffusers decoded. Everything
is seeded, nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
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
CASES = os.path.join(DATA, "ltx-parity")
TILED_CASES = os.path.join(DATA, "ltx-parity-tiled")
SOURCE = os.path.join(DATA, "tiny-ltx-diffusers")
PACKAGE = os.path.join(DATA, "tiny-ltx")
PACKAGE_FP16 = os.path.join(DATA, "tiny-ltx-fp16")
# how far the --fp16 package's frames may lie from diffusers' float32 ones (its text encoder
# computes in float16: about 3e-3 on the text embeddings)
FP16_FRAMES_TOL = 1e-3

# Text tokens per prompt: small keeps the fixture tiny, and not 128 so an engine that assumes
# LTXPipeline's default instead of reading the package fails the tests.
MAX_SEQUENCE_LENGTH = 24
TEXT_DIM = 32
LATENT_CHANNELS = 8
NATIVE = {"width": 96, "height": 64, "frames": 17, "fps": 25.0}
# LTX-Video's scheduler_config.json
SCHEDULER = dict(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
                 max_image_seq_len=4096, shift_terminal=0.1, shift=1.0, num_train_timesteps=1000)

# name: pipeline, prompt, negative, steps, guidance, frames, width, height, frame_rate,
#       decode_timestep, decode_noise_scale, image (None or (width, height) of the PNG drawn)
CASE_LIST = {
    "t2v_cfg": ("LTXPipeline", "a red fox running through fresh snow at dawn", "blurry, static", 4, 3.0, 17, 96,
                64, 25, 0.05, 0.025, None),
    "t2v_no_guidance": ("LTXPipeline", "a paper boat on a rainy street", "", 3, 1.0, 17, 64, 96, 24, 0.03, 0.025,
                        None),
    "i2v_cfg": ("LTXImageToVideoPipeline", "the colourful rings start to spin slowly", "low quality", 4, 3.0, 17, 96,
                64, 25, 0.03, 0.025, (96, 64)),
    # diffusers resizes the 80x50 picture to the clip's 64x64 with PIL's Lanczos (stretching)
    "i2v_resized": ("LTXImageToVideoPipeline", "a striped flag waving in the wind", "", 3, 1.0, 9, 64, 64, 25, 0.03,
                    0.025, (80, 50)),
}

# Decoded with diffusers' tiled VAE decoding (enable_tiling() + use_framewise_decoding, default
# tiles: 512x512 pixels (16x16 latents) at a stride of 448 (14), 16 frames (2 latent frames) at a
# stride of 8 (1)). Same spec as CASE_LIST, plus the subsampling (rows, cols) of the saved frames.
TILED_CASE_LIST = {
    # 4 latent frames x 2x18 latents: temporal windows, each split into 2 horizontal tiles
    "tiled_time_and_width": ("LTXPipeline", "a lighthouse beam sweeping across a stormy sea", "blurry, static", 3,
                             3.0, 25, 576, 64, 25, 0.05, 0.025, None),
    # 2 latent frames x 18x18 latents: no temporal windows, 2x2 tiles (vertical and horizontal blends)
    "tiled_2x2": ("LTXPipeline", "a field of sunflowers under a slow moving sky", "", 2, 1.0, 9, 576, 576, 25, 0.05,
                  0.025, None),
}
TILED_SUBSAMPLE = {"tiled_time_and_width": (4, 4), "tiled_2x2": (8, 8)}


# --------------------------------------------------------------------------------------------
# the folder


def build_folder(root: str) -> None:
    """An LTXPipeline folder with random weights (save_pretrained layout)."""
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    tok_dir = os.path.join(root, "tokenizer")
    save_tiny_t5_tokenizer(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    # T5 v1.1 shaped (gated GELU, as LTX's T5-XXL), tiny
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=TEXT_DIM, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    torch.manual_seed(1)
    transformer = LTXVideoTransformer3DModel(
        in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, patch_size=1, patch_size_t=1,
        num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16, num_layers=2,
        caption_channels=TEXT_DIM).eval()
    torch.manual_seed(2)
    # LTX's compression: a 4x4 patch and three 2x spatio-temporal stages (32x, 8x), with a
    # timestep-conditioned decoder as 0.9.1+; channels tiny. (0.9.1's decoder_inject_noise is
    # refused by the exporter; 0.9.5's residual upsamplers are checked by check_ltx095_vae.)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8), layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False), upsample_residual=(False, False, False),
        upsample_factor=(1, 1, 1), timestep_conditioning=True, patch_size=4, patch_size_t=1,
        encoder_causal=True, decoder_causal=False).eval()
    g = torch.Generator().manual_seed(3)
    vae.latents_mean.copy_(torch.randn(LATENT_CHANNELS, generator=g) * 0.5)
    vae.latents_std.copy_(torch.rand(LATENT_CHANNELS, generator=g) * 2 + 0.5)
    scheduler = FlowMatchEulerDiscreteScheduler(**SCHEDULER)
    LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                transformer=transformer).save_pretrained(root)


def check_ltx095_vae() -> None:
    """The VAE export on a 0.9.5-style VAE (LTXVideo095DownBlock3D, residual upsamplers that
    halve channels, explicit compression ratios), checked against diffusers into a temp folder.
    Nothing is kept; the run fails if it stops matching."""
    from diffusers import AutoencoderKLLTXVideo

    from promptreel_export import ltx

    torch.manual_seed(4)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8, 8),
        down_block_types=("LTXVideo095DownBlock3D",) * 4, decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False), downsample_type=("spatial", "temporal", "spatiotemporal",
                                                                            "spatiotemporal"),
        upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True, patch_size=4,
        patch_size_t=1, spatial_compression_ratio=32, temporal_compression_ratio=8).eval()
    with tempfile.TemporaryDirectory() as tmp:
        ltx.export_vae_decoder(vae, os.path.join(tmp, "dec", "model.onnx"))
        ltx.export_vae_encoder(vae, os.path.join(tmp, "enc", "model.onnx"))


# --------------------------------------------------------------------------------------------
# recording the pipelines' noise


@contextlib.contextmanager
def recording_noise():
    """Records every tensor the pipelines draw from a generator, in order."""
    import diffusers.models.autoencoders.vae as vae_module
    import diffusers.pipelines.ltx.pipeline_ltx as t2v
    import diffusers.pipelines.ltx.pipeline_ltx_image2video as i2v

    draws: list[tuple[str, torch.Tensor]] = []
    originals = [(m, m.randn_tensor) for m in (t2v, i2v, vae_module)]
    torch_randn = torch.randn
    depth = [0]  # randn_tensor draws with torch.randn itself: record the outer call only

    def wrap(fn, where):
        def recording(*args, **kwargs):
            depth[0] += 1
            try:
                out = fn(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0 and kwargs.get("generator") is not None:
                draws.append((where, out.detach().clone()))
            return out
        return recording

    for m, fn in originals:
        m.randn_tensor = wrap(fn, m.__name__.rsplit(".", 1)[-1])
    torch.randn = wrap(torch_randn, "torch.randn")
    try:
        yield draws
    finally:
        for m, fn in originals:
            m.randn_tensor = fn
        torch.randn = torch_randn


def draw_image(width: int, height: int, seed: int) -> "PIL.Image.Image":  # noqa: F821
    """A colourful 8-bit RGB test picture: gradients, rings and a few discs."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * 0.55, height * 0.45
    r = np.hypot(x - cx, y - cy)
    img = np.stack([
        0.5 + 0.5 * np.sin(r / 3.0),
        x / max(width - 1, 1),
        0.5 + 0.5 * np.cos((x + 2 * y) / 7.0),
    ], axis=-1)
    for _ in range(4):
        px, py, pr = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(3, 10)
        img[np.hypot(x - px, y - py) < pr] = rng.uniform(0, 1, size=3)
    return Image.fromarray(np.round(img * 255).clip(0, 255).astype(np.uint8), mode="RGB")


def calculate_shift(seq_len: int, cfg: dict) -> float:
    """diffusers' calculate_shift with the scheduler's settings, as the LTX pipelines call it."""
    m = (cfg["max_shift"] - cfg["base_shift"]) / (cfg["max_image_seq_len"] - cfg["base_image_seq_len"])
    return seq_len * m + (cfg["base_shift"] - m * cfg["base_image_seq_len"])


def record_case(folder: str, name: str, spec: tuple, cases: str | None = None,
                subsample: tuple[int, int] | None = None) -> None:
    """Records one case into cases/name. With subsample (rows, cols) the VAE decodes tiled, the
    frames are saved as frames_sub.npy = frames[:, ::rows, ::cols, :] and the tiled decode is
    checked against an untiled one (printed)."""
    from diffusers import LTXImageToVideoPipeline, LTXPipeline

    (pipeline, prompt, negative, steps, guidance, frames, width, height, fps, decode_t, decode_s, image_size) = spec
    cls = {"LTXPipeline": LTXPipeline, "LTXImageToVideoPipeline": LTXImageToVideoPipeline}[pipeline]
    pipe = cls.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    tiled = subsample is not None
    decoded = []  # the tiled cases: what the pipeline handed vae.decode
    if tiled:
        pipe.vae.enable_tiling()
        pipe.vae.use_framewise_decoding = True
        vae_decode = pipe.vae.decode

        def recording_decode(z, temb=None, **kwargs):
            decoded.append((z.detach().clone(), None if temb is None else temb.detach().clone()))
            return vae_decode(z, temb, **kwargs)

        pipe.vae.decode = recording_decode
    d = os.path.join(CASES if cases is None else cases, name)
    os.makedirs(d)
    kw = {}
    if image_size is not None:
        image = draw_image(*image_size, seed=sum(map(ord, name)))
        image.save(os.path.join(d, "image.png"))
        kw["image"] = image
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    with recording_noise() as draws:
        out = pipe(prompt=prompt, negative_prompt=negative, width=width, height=height, num_frames=frames,
                   num_inference_steps=steps, guidance_scale=guidance, frame_rate=fps, decode_timestep=decode_t,
                   decode_noise_scale=decode_s, max_sequence_length=MAX_SEQUENCE_LENGTH, generator=gen,
                   output_type="np", **kw).frames[0]
    frames_np = np.asarray(out, dtype=np.float32)
    assert frames_np.shape == (frames, height, width, 3), frames_np.shape
    s, t = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
    latent_shape = (1, LATENT_CHANNELS, (frames - 1) // t + 1, height // s, width // s)
    where = [w for w, _ in draws]
    expected = (["vae"] if image_size else []) + [
        "pipeline_ltx" if pipeline == "LTXPipeline" else "pipeline_ltx_image2video",
        "pipeline_ltx" if pipeline == "LTXPipeline" else "torch.randn"]
    assert where == expected, f"{name}: the pipeline drew {where}, expected {expected}"
    tensors = [x for _, x in draws]
    if image_size:
        image_noise = tensors.pop(0)
        assert tuple(image_noise.shape) == (1, LATENT_CHANNELS, 1) + latent_shape[3:], image_noise.shape
        np.save(os.path.join(d, "image_noise.npy"), image_noise.numpy().astype(np.float32))
    latents, decode_noise = tensors
    assert tuple(latents.shape) == latent_shape and tuple(decode_noise.shape) == latent_shape
    np.save(os.path.join(d, "latents.npy"), latents.numpy().astype(np.float32))
    np.save(os.path.join(d, "decode_noise.npy"), decode_noise.numpy().astype(np.float32))
    if tiled:
        np.save(os.path.join(d, "frames_sub.npy"), np.ascontiguousarray(frames_np[:, ::subsample[0], ::subsample[1]]))
    else:
        np.save(os.path.join(d, "frames.npy"), frames_np)

    def ids(text):
        return pipe.tokenizer(text, padding="max_length", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
                              add_special_tokens=True).input_ids

    seq = latent_shape[2] * latent_shape[3] * latent_shape[4]
    case = {
        "name": name,
        "package": "tiny-ltx",
        "family": "ltx",
        "pipeline": pipeline,
        "prompt": prompt,
        "negative_prompt": negative,
        "steps": steps,
        "guidance": guidance,
        "frames": frames,
        "width": width,
        "height": height,
        "frame_rate": float(fps),
        "decode_timestep": decode_t,
        "decode_noise_scale": decode_s,
        "max_sequence_length": MAX_SEQUENCE_LENGTH,
        "image": "image.png" if image_size else None,
        "image_fit": "stretch" if image_size else None,
        "input_ids": {"prompt": ids(prompt), "negative_prompt": ids(negative)},
        "latent_shape": list(latent_shape),
        "mu": calculate_shift(seq, dict(pipe.scheduler.config)),
        "sigmas": [float(v) for v in pipe.scheduler.sigmas.tolist()],
        "timesteps": [float(v) for v in pipe.scheduler.timesteps.tolist()],
        "frame_stats": {"mean": float(frames_np.mean()), "std": float(frames_np.std())},
        "notes": "diffusers " + pipeline + " (float32, CPU) with generator=torch.Generator().manual_seed(sum of the "
                 "name's code points); latents/decode_noise/image_noise are the tensors it drew, in that order "
                 "image_noise, latents, decode_noise. sigmas has the trailing 0. Image to video: the conditioning "
                 "latent is (mean + exp(0.5 * clamp(logvar, -30, 20)) * image_noise - latents_mean) / latents_std "
                 "(diffusers normalises without the scaling factor), frame 0 of latents is replaced by it and "
                 "frame 0 gets timestep 0 and is not stepped.",
    }
    if tiled:
        case["vae_tiling"] = True
        case["subsample"] = list(subsample)
        case["frames_file"] = "frames_sub.npy"
        case["notes"] += (
            " VAE decoded tiled: vae.enable_tiling() and vae.use_framewise_decoding = True with diffusers' default "
            "tiles (tile_sample_min 512x512, stride 448x448, tile_sample_min_num_frames 16, stride 8). The frames "
            "are too large to commit: frames_sub.npy is frames[:, ::subsample[0], ::subsample[1], :] of the "
            "[F, H, W, 3] output; frame_stats are of the full frames.")
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(case, f, indent=2)
        f.write("\n")
    print(f"  {name}: frames {frames_np.shape}, mean {frames_np.mean():.3f}, std {frames_np.std():.3f}")
    if tiled:
        check_tiling(pipe, decoded, frames_np, name, subsample)


def check_tiling(pipe, decoded: list, frames_np: np.ndarray, name: str, subsample: tuple[int, int]) -> None:
    """Decodes the latents the pipeline decoded again, tiled and untiled: the tiled decode must give
    the recorded frames back, and the untiled one must differ measurably (else the case would not
    test the tiling). Prints the difference; fails the run if either does not hold."""
    assert len(decoded) == 1, f"{name}: vae.decode was called {len(decoded)} times"
    z, temb = decoded[0]
    vae = pipe.vae
    del vae.decode  # the recording wrapper

    def frames_of(v):
        return np.asarray(pipe.video_processor.postprocess_video(v, output_type="np")[0], dtype=np.float32)

    again = frames_of(vae.decode(z.clone(), temb, return_dict=False)[0])
    redo = float(np.abs(again - frames_np).max())
    assert redo == 0.0, f"{name}: decoding the recorded latents again gives {redo:.3e} off the pipeline's frames"
    vae.disable_tiling()
    vae.use_framewise_decoding = False
    untiled = frames_of(vae.decode(z.clone(), temb, return_dict=False)[0])
    diff = np.abs(untiled - frames_np)
    sub = diff[:, ::subsample[0], ::subsample[1]]
    print(f"  {name}: tiled vs untiled decode of the same latents: max |diff| = {diff.max():.3e}, "
          f"mean |diff| = {diff.mean():.3e}; on the saved subsampled grid: max |diff| = {sub.max():.3e}")
    assert sub.max() > 1e-3, f"{name}: the tiled decode hardly differs from the untiled one ({sub.max():.3e})"


# --------------------------------------------------------------------------------------------
# the NumPy + ONNX Runtime replay of case 1


def numpy_schedule(steps: int, mu: float, cfg: dict) -> np.ndarray:
    """LTXPipeline's sigmas (linspace(1, 1/N, N)) through FlowMatchEulerDiscreteScheduler's
    exponential time shift and shift_terminal stretch, with the trailing 0."""
    s = np.linspace(1.0, 1.0 / steps, steps).astype(np.float32)
    s = math.exp(mu) / (math.exp(mu) + (1.0 / s - 1.0) ** 1.0)
    one_minus = 1.0 - s
    s = 1.0 - one_minus / (one_minus[-1] / (1.0 - cfg["shift_terminal"]))
    return np.append(s.astype(np.float32), np.float32(0.0))


def replay(name: str, package: str = PACKAGE) -> float:
    import onnxruntime as ort
    from tokenizers import Tokenizer

    PACKAGE = package  # noqa: N806 (the package replayed: tiny-ltx or tiny-ltx-fp16)

    with open(os.path.join(CASES, name, "case.json")) as f:
        case = json.load(f)
    with open(os.path.join(PACKAGE, "promptreel.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(PACKAGE, "scheduler", "scheduler_config.json")) as f:
        sched = json.load(f)

    def session(part):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        so.log_severity_level = 3
        return ort.InferenceSession(os.path.join(PACKAGE, manifest[part]["path"]), so,
                                    providers=["CPUExecutionProvider"])

    tok = Tokenizer.from_file(os.path.join(PACKAGE, manifest["tokenizer"]["path"]))
    length = manifest["tokenizer"]["max_length"]
    pad = tok.token_to_id(manifest["tokenizer"]["pad_token"])
    texts = [case["negative_prompt"], case["prompt"]] if case["guidance"] > 1 else [case["prompt"]]
    ids = np.full((len(texts), length), pad, np.int64)
    mask = np.zeros((len(texts), length), np.int64)
    for i, text in enumerate(texts):
        e = tok.encode(text).ids[:length]
        ids[i, : len(e)] = e
        mask[i, : len(e)] = 1
    assert ids[-1].tolist() == case["input_ids"]["prompt"], "tokenizer.json disagrees with transformers"
    # a --fp16 text encoder outputs float16: widened, as the engine does, for the float32 transformer
    text = session("text_encoder").run(None, {"input_ids": ids})[0].astype(np.float32)

    x = np.load(os.path.join(CASES, name, "latents.npy"))
    _, c, f, h, w = x.shape
    vae = manifest["vae"]
    mean = np.array(vae["latents_mean"], np.float32).reshape(1, -1, 1, 1, 1)
    std = np.array(vae["latents_std"], np.float32).reshape(1, -1, 1, 1, 1)
    image = case["image"] is not None
    if image:
        # the picture stretched to the clip (PIL Lanczos, diffusers' default resize), in [-1, 1],
        # encoded, sampled with the recorded noise and normalised (without the scaling factor,
        # as LTXImageToVideoPipeline does); it replaces frame 0, which is never stepped
        from PIL import Image

        pic = Image.open(os.path.join(CASES, name, case["image"])).convert("RGB")
        pic = pic.resize((case["width"], case["height"]), resample=Image.LANCZOS)
        pixels = (np.asarray(pic, np.float32) / 255.0 * 2 - 1).transpose(2, 0, 1)[None, :, None]
        moments = session("vae_encoder").run(None, {"sample": pixels})[0]
        mu_, logvar = moments[:, :c], np.clip(moments[:, c:], -30.0, 20.0)
        z0 = mu_ + np.exp(0.5 * logvar) * np.load(os.path.join(CASES, name, "image_noise.npy"))
        x[:, :, :1] = (z0 - mean) / std
    mu = calculate_shift(f * h * w, sched)
    sigmas = numpy_schedule(case["steps"], mu, sched)
    assert np.abs(sigmas - np.array(case["sigmas"], np.float32)).max() < 1e-6, (sigmas, case["sigmas"])
    s, t = manifest["spatial_compression"], manifest["temporal_compression"]
    scale = np.array([t / case["frame_rate"], s, s], np.float32)
    dit = session("denoiser")
    for i in range(case["steps"]):
        batch = np.concatenate([x] * len(texts), 0)
        ts = np.full((len(texts), f), sigmas[i] * np.float32(1000), np.float32)
        if image:
            ts[:, 0] = 0.0
        v = dit.run(None, {"sample": batch, "timestep": ts, "encoder_hidden_states": text,
                           "encoder_attention_mask": mask, "rope_interpolation_scale": scale})[0]
        if len(texts) == 2:
            v = v[:1] + np.float32(case["guidance"]) * (v[1:] - v[:1])
        stepped = (x + (sigmas[i + 1] - sigmas[i]) * v).astype(np.float32)
        x = np.concatenate([x[:, :, :1], stepped[:, :, 1:]], 2) if image else stepped
    z = x * std / np.float32(vae["scaling_factor"]) + mean
    noise = np.load(os.path.join(CASES, name, "decode_noise.npy"))
    dns = np.float32(case["decode_noise_scale"])
    z = ((1 - dns) * z + dns * noise).astype(np.float32)
    video = session("vae_decoder").run(None, {"latent_sample": z,
                                              "timestep": np.full((1,), case["decode_timestep"], np.float32)})[0]
    frames = np.clip(video / 2 + 0.5, 0, 1)[0].transpose(1, 2, 3, 0)
    ref = np.load(os.path.join(CASES, name, "frames.npy"))
    return float(np.abs(frames - ref).max())


def record_tiled_cases(folder: str) -> None:
    shutil.rmtree(TILED_CASES, ignore_errors=True)
    os.makedirs(TILED_CASES)
    for name, spec in TILED_CASE_LIST.items():
        record_case(folder, name, spec, cases=TILED_CASES, subsample=TILED_SUBSAMPLE[name])


def same_folder(built: str, committed: str) -> list[str]:
    """What differs between a freshly built diffusers folder and the committed one (configs and
    tokenizer byte for byte, weights tensor for tensor)."""
    from safetensors.numpy import load_file

    differ = []
    for dirpath, _, files in os.walk(built):
        for fname in files:
            rel = os.path.relpath(os.path.join(dirpath, fname), built)
            a, b = os.path.join(built, rel), os.path.join(committed, rel)
            if not os.path.exists(b):
                differ.append(rel + " (missing)")
            elif fname.endswith(".safetensors"):
                ta, tb = load_file(a), load_file(b)
                if ta.keys() != tb.keys() or any(not np.array_equal(ta[k], tb[k]) for k in ta):
                    differ.append(rel)
            else:
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    if fa.read() != fb.read():
                        differ.append(rel)
    return differ


def export_fp16(folder: str) -> int:
    """Exports `folder` with --fp16 into tiny-ltx-fp16 and replays ltx-parity's cases with it; fails
    unless their frames lie within FP16_FRAMES_TOL of diffusers' float32 frames."""
    export_folder(folder, PACKAGE_FP16, name="tiny-ltx-fp16", version="1", half=True, native=NATIVE, force=True,
                  max_sequence_length=MAX_SEQUENCE_LENGTH)
    report = os.path.join(PACKAGE_FP16, "export-report.json")
    with open(report) as f:
        r = json.load(f)
    r["source"] = "tools/make_ltx_fixtures.py (random weights), --fp16"
    with open(report, "w") as f:
        json.dump(r, f, indent=2)
        f.write("\n")
    worst = 0.0
    for name in CASE_LIST:
        diff = replay(name, PACKAGE_FP16)
        print(f"NumPy + ONNX Runtime replay of {name} with tiny-ltx-fp16: frames max |diff| = {diff:.3e}")
        worst = max(worst, diff)
    if not worst < FP16_FRAMES_TOL:
        print(f"the --fp16 package's frames lie {worst:.3e} from diffusers' (> {FP16_FRAMES_TOL})", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["tiled", "fp16"],
                        help="record only these cases (tiled: onnx/tests/data/ltx-parity-tiled) or export only the "
                             "--fp16 package (fp16: onnx/tests/data/tiny-ltx-fp16), against the committed "
                             "tiny-ltx-diffusers folder; the package and the other cases are left alone")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.set_grad_enabled(False)
    if args.only in ("tiled", "fp16"):
        # the weights are seeded: rebuild them and make sure they are the committed folder's, which
        # the committed package was exported from
        with tempfile.TemporaryDirectory() as tmp:
            build_folder(tmp)
            differ = same_folder(tmp, SOURCE)
        if differ:
            print(f"{SOURCE} is not what build_folder makes ({', '.join(differ)}): run the whole script",
                  file=sys.stderr)
            return 1
        if args.only == "fp16":
            return export_fp16(SOURCE)
        record_tiled_cases(SOURCE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "tiny-ltx")
        build_folder(folder)
        export_folder(folder, PACKAGE, name="tiny-ltx", version="1", native=NATIVE, force=True,
                      max_sequence_length=MAX_SEQUENCE_LENGTH)
        report = os.path.join(PACKAGE, "export-report.json")
        with open(report) as f:
            r = json.load(f)
        r["source"] = "tools/make_ltx_fixtures.py (random weights)"
        with open(report, "w") as f:
            json.dump(r, f, indent=2)
            f.write("\n")
        shutil.rmtree(CASES, ignore_errors=True)
        os.makedirs(CASES)
        for name, spec in CASE_LIST.items():
            record_case(folder, name, spec)
        record_tiled_cases(folder)
        shutil.rmtree(SOURCE, ignore_errors=True)
        shutil.copytree(folder, SOURCE)
        if export_fp16(folder):
            return 1
    worst = 0.0
    for name in CASE_LIST:
        diff = replay(name)
        print(f"NumPy + ONNX Runtime replay of {name}: frames max |diff| = {diff:.3e}")
        worst = max(worst, diff)
    if not worst < 1e-4:
        print("the exported package does not reproduce diffusers' frames", file=sys.stderr)
        return 1
    check_ltx095_vae()
    return 0


if __name__ == "__main__":
    sys.exit(main())
