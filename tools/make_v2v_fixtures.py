#!/usr/bin/env python3
"""Build Promptreel's video-to-video parity references against diffusers' own pipelines.

Run from anywhere (about two minutes on 2 CPU cores; needs no network, and ftfy must not be
installed, as for tools/make_wan_fixtures.py):

    /opt/ptools/bin/python tools/make_v2v_fixtures.py

It deletes and rewrites onnx/tests/data/v2v-parity/<case>/ from the tiny packages already in
onnx/tests/data (run tools/make_fixtures.py and tools/make_wan_fixtures.py first):

  * tiny-unet3d with diffusers' VideoToVideoSDPipeline, on the same random-weight components
    make_fixtures.py builds (its build_* functions and seeds; the package's tokenizer file),
  * tiny-wan with diffusers' WanVideoToVideoPipeline, on onnx/tests/data/tiny-wan-diffusers (the
    diffusers folder tiny-wan was exported from).

Video to video as diffusers does it: the source frames are encoded with the VAE encoder, noised
to the level of timestep index t_start (diffusers' get_timesteps: t_start = steps -
min(int(steps * strength), steps)) and denoised from there, timesteps[t_start:].

Each case folder holds

    case.json          {"package", "pipeline", "prompt", "negative_prompt", "steps", "guidance",
                        "strength", "scheduler", "frames", "width", "height", "sample_mode",
                        "t_start", "notes"}; "scheduler" is null for the package's own
                        scheduler_config.json, else one of the engine's names ("dpm++2m", ...);
                        "notes" names the diffusers scheduler class and config actually used and
                        the timesteps run
    video.npy          uint8 [F, H, W, 3]: the source frames, at exactly the model size. The
                       pipelines get them as float frames x / 255, which their video processor
                       turns into exactly x / 255 * 2 - 1 (checked on every run)
    noise.npy          float32 [1, C, F', h, w] (our latent layout): the noise mixed into the
                       encoded latents by the scheduler's add_noise / scale_noise
    video_noise.npy    (sample_mode "sample" only) float32 [1, C, F, h, w]: the standard-normal
                       eps of the VAE posterior's sample, frame f's at [0, :, f]:
                       latent = mean + exp(0.5 * clamp(logvar, -30, 20)) * eps
                       (VideoToVideoSDPipeline encodes the frames as an [F, 3, H, W] batch and
                       draws its noises [F, C, h, w]; they are saved transposed to our layout)
    init_latents.npy   float32 [1, C, F', h, w]: the latents after noising, before the first
                       denoiser call
    frames.npy         float32 [F, H, W, 3] in [0, 1]: the pipeline's output_type="np" result

sample_mode "sample" (VideoToVideoSDPipeline): z = scaling_factor * (mean + std * eps).
sample_mode "argmax" (WanVideoToVideoPipeline): z = (mean - latents_mean) / latents_std.
Noising: DDIM sqrt(abar_t) z + sqrt(1 - abar_t) n; Euler z + sigma n; DPM-Solver (sigma form)
z / sqrt(sigma^2 + 1) + sigma / sqrt(sigma^2 + 1) n; flow (UniPC flow sigmas, flow-matching
Euler) (1 - sigma) z + sigma n, with sigma = the schedule's sigmas[t_start]. VideoToVideoSDPipeline
calls set_begin_index(t_start); WanVideoToVideoPipeline does not (the schedulers find t_start
from the timestep, which is unique in these schedules).

Randomness is pinned by replacing diffusers' randn_tensor in the pipeline module (the noise) and
in diffusers.models.autoencoders.vae (the posterior's eps; for argmax it must not be called)
with functions that hand out the saved arrays, drawn from a torch generator seeded from the
case name. Every run checks that each was drawn exactly once with the expected shape, that
the scheduler's add_noise / scale_noise got exactly that noise, and that the latents it noised
equal the posterior formula above applied to the ONNX encoder's output; then it re-runs each
case through the package's ONNX graphs (ONNX Runtime, the same diffusers scheduler class for
the steps, our own noising formula) and compares the frames with diffusers'.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import make_fixtures as mf  # noqa: E402  (build_* functions, seeds, sizes of tiny-unet3d)
from promptreel_export import causal_vae, graphs  # noqa: E402

REPO = os.path.dirname(HERE)
DATA = os.path.join(REPO, "onnx", "tests", "data")
OUT = os.path.join(DATA, "v2v-parity")
WAN_SOURCE = os.path.join(DATA, "tiny-wan-diffusers")

TOL_GRAPH = 1e-4  # ONNX graph vs torch module on the same input
TOL_NOISING = 1e-5  # our noising formula (ONNX encoder) vs the pipeline's latents after add_noise
TOL_FRAMES = 1e-3  # ONNX Runtime re-run vs diffusers' frames

CASES = [
    dict(name="unet3d_ddim_cfg", package="tiny-unet3d", pipeline="VideoToVideoSDPipeline", scheduler=None,
         prompt="a red ball bouncing on a green floor", negative_prompt="blurry, low quality",
         steps=10, guidance=7.5, strength=0.6, frames=8, width=64, height=64),
    dict(name="unet3d_dpmpp_no_cfg", package="tiny-unet3d", pipeline="VideoToVideoSDPipeline", scheduler="dpm++2m",
         prompt="a blue boat sailing across the ocean at sunset", negative_prompt="",
         steps=8, guidance=1.0, strength=0.5, frames=6, width=48, height=32),
    dict(name="unet3d_euler_full", package="tiny-unet3d", pipeline="VideoToVideoSDPipeline", scheduler="euler",
         prompt="a white cat walking in the snow at night", negative_prompt="",
         steps=6, guidance=5.0, strength=1.0, frames=4, width=32, height=32),
    dict(name="wan_unipc_cfg", package="tiny-wan", pipeline="WanVideoToVideoPipeline", scheduler=None,
         prompt="a red fox running through fresh snow at dawn", negative_prompt="blurry, static",
         steps=8, guidance=5.0, strength=0.7, frames=9, width=48, height=32),
    dict(name="wan_flow_euler", package="tiny-wan", pipeline="WanVideoToVideoPipeline", scheduler="flow-euler",
         prompt="waves crash on a rocky shore", negative_prompt="",
         steps=6, guidance=1.0, strength=0.5, frames=5, width=32, height=32),
]


# ------------------------------------------------------------------------------------------------
# inputs


def source_video(frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [F, H, W, 3]: a gradient that drifts with time, a red square moving right and a
    blue bar moving down, so frame order and both axes matter."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty((frames, height, width, 3), dtype=np.float64)
    side = max(4, min(height, width) // 4)
    for f in range(frames):
        out[f, ..., 0] = 40 + 120 * x / max(width - 1, 1)
        out[f, ..., 1] = 60 + 100 * y / max(height - 1, 1)
        out[f, ..., 2] = 90 + 60 * np.sin(2 * np.pi * (x / width + f / frames))
        x0 = f * (width - side) // max(frames - 1, 1)  # left edge to right edge over the clip
        y0 = height // 3
        out[f, y0:y0 + side, x0:x0 + side] = (230, 40, 30)
        yb = (f * height // frames) % (height - 3)
        out[f, yb:yb + 3, width // 8:width // 8 + side // 2] = (20, 50, 240)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def case_seed(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def t_start_of(steps: int, strength: float) -> int:
    """diffusers' get_timesteps (every scheduler here has order 1)."""
    init_timestep = min(int(steps * strength), steps)
    return max(steps - init_timestep, 0)


# ------------------------------------------------------------------------------------------------
# schedulers: the diffusers object each of the engine's names stands for


def make_scheduler(package_config: dict, name: str | None):
    """The diffusers scheduler for the engine's `name` (None = the package's own class) on the
    package's scheduler_config.json, configured the way onnx/src/scheduler/mod.rs builds it
    (from_config; flow-euler on a UniPC flow config takes shift = flow_shift)."""
    import diffusers

    cfg = dict(package_config)
    if name is None:
        return getattr(diffusers, cfg["_class_name"]).from_config(cfg)
    flow = (cfg.get("_class_name", "").startswith("FlowMatch") or cfg.get("use_flow_sigmas") is True
            or cfg.get("prediction_type") == "flow_prediction")
    if name == "ddim":
        return diffusers.DDIMScheduler.from_config(cfg)
    if name == "euler":
        return diffusers.EulerDiscreteScheduler.from_config(cfg)
    if name in ("dpm++2m", "dpm++2m-karras"):
        over = {}
        if name == "dpm++2m-karras":
            over = dict(use_karras_sigmas=True, use_exponential_sigmas=False, use_beta_sigmas=False,
                        use_lu_lambdas=False)
        if flow and not cfg.get("use_flow_sigmas"):
            over.update(use_flow_sigmas=True, prediction_type="flow_prediction",
                        flow_shift=cfg.get("flow_shift", cfg.get("shift")))
        return diffusers.DPMSolverMultistepScheduler.from_config(cfg, **over)
    if name == "unipc":
        over = {}
        if flow and not cfg.get("use_flow_sigmas"):
            over.update(use_flow_sigmas=True, prediction_type="flow_prediction",
                        flow_shift=cfg.get("flow_shift", cfg.get("shift")))
        return diffusers.UniPCMultistepScheduler.from_config(cfg, **over)
    if name == "flow-euler":
        assert flow, "flow-euler needs a flow-matching package"
        shift = cfg.get("shift", cfg.get("flow_shift"))
        return diffusers.FlowMatchEulerDiscreteScheduler.from_config(cfg, shift=shift)
    raise ValueError(f"no v2v case uses scheduler {name!r} (euler-a draws step noise, which these cases do not pin)")


def scheduler_config_json(sched) -> dict:
    """The settings the scheduler class takes (from_config keeps the other class's keys in
    .config too, unused; they are left out)."""
    import inspect

    params = inspect.signature(sched.__class__.__init__).parameters
    return mf._jsonable({k: v for k, v in dict(sched.config).items() if k in params})


def noise_formula(sched, t_start: int) -> tuple[str, float, float]:
    """(description, a, b) with our noising x = a * z + b * n at step index t_start, computed
    here from the scheduler's tables (float64), not by calling add_noise."""
    from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                           FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler)

    if isinstance(sched, DDIMScheduler):
        t = int(sched.timesteps[t_start])
        abar = float(sched.alphas_cumprod[t])
        return f"DDIM add_noise at t={t}: abar={abar!r}", abar ** 0.5, (1 - abar) ** 0.5
    sigma = float(sched.sigmas[t_start])
    if isinstance(sched, EulerDiscreteScheduler):
        return f"Euler add_noise: z + sigma n, sigma={sigma!r}", 1.0, sigma
    if isinstance(sched, FlowMatchEulerDiscreteScheduler):
        return f"flow scale_noise: (1-sigma) z + sigma n, sigma={sigma!r}", 1 - sigma, sigma
    if isinstance(sched, (DPMSolverMultistepScheduler, UniPCMultistepScheduler)):
        if sched.config.use_flow_sigmas:
            return f"flow add_noise: (1-sigma) z + sigma n, sigma={sigma!r}", 1 - sigma, sigma
        a = 1.0 / (sigma ** 2 + 1) ** 0.5
        return f"add_noise: alpha z + alpha sigma n, alpha=1/sqrt(sigma^2+1), sigma={sigma!r}", a, sigma * a
    raise TypeError(type(sched).__name__)


# ------------------------------------------------------------------------------------------------
# pinning diffusers' randomness


class Pinned:
    """Replaces `module.randn_tensor` with a function that returns `value` (checked shape) and
    counts the calls; value None = any call is an error (argmax encoding draws nothing)."""

    def __init__(self, module, value: torch.Tensor | None, what: str):
        self.module, self.value, self.what = module, value, what
        self.calls = 0

    def __enter__(self):
        self.orig = self.module.randn_tensor

        def fake(shape, generator=None, device=None, dtype=None, layout=None):
            self.calls += 1
            if self.value is None:
                raise AssertionError(f"{self.what}: randn_tensor called with shape {tuple(shape)}, none expected")
            if tuple(shape) != tuple(self.value.shape):
                raise AssertionError(f"{self.what}: randn_tensor shape {tuple(shape)}, pinned {tuple(self.value.shape)}")
            assert dtype in (None, torch.float32), dtype
            return self.value.clone()

        self.module.randn_tensor = fake
        return self

    def __exit__(self, *exc):
        self.module.randn_tensor = self.orig
        return False


def spy_noising(sched, record: dict):
    """Wraps the scheduler instance's add_noise (or scale_noise, flow matching) to record its
    arguments and result. The instance attribute shadows the class method; only the method the
    scheduler really has is wrapped (WanVideoToVideoPipeline picks by hasattr)."""
    if hasattr(sched, "add_noise"):
        orig = sched.add_noise

        def add_noise(original_samples, noise, timesteps):
            out = orig(original_samples, noise, timesteps)
            record.update(method="add_noise", sample=original_samples.clone(), noise=noise.clone(),
                          timestep=timesteps.clone(), out=out.clone())
            return out

        sched.add_noise = add_noise
    else:
        orig = sched.scale_noise

        def scale_noise(sample, timestep, noise=None):
            out = orig(sample, timestep, noise)
            record.update(method="scale_noise", sample=sample.clone(), noise=noise.clone(),
                          timestep=timestep.clone(), out=out.clone())
            return out

        sched.scale_noise = scale_noise


def spy_call(obj, attr: str, record: list, keep):
    """Wraps obj.attr (a bound method) to append keep(args, kwargs, result) to `record`."""
    orig = getattr(obj, attr)

    def wrapper(*a, **k):
        out = orig(*a, **k)
        record.append(keep(a, k, out))
        return out

    setattr(obj, attr, wrapper)
    return orig


# ------------------------------------------------------------------------------------------------
# helpers


def max_abs(a, b) -> float:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check(name: str, value: float, tol: float, what: str) -> float:
    if not value <= tol:
        raise AssertionError(f"{name}: {what} = {value:.3e} > {tol:.0e}")
    return value


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def write_case(out_dir: str, case: dict, t_start: int, sample_mode: str, notes: str, arrays: dict) -> None:
    os.makedirs(out_dir)
    record = {
        "package": case["package"],
        "pipeline": case["pipeline"],
        "prompt": case["prompt"],
        "negative_prompt": case["negative_prompt"],
        "steps": case["steps"],
        "guidance": case["guidance"],
        "strength": case["strength"],
        "scheduler": case["scheduler"],
        "frames": case["frames"],
        "width": case["width"],
        "height": case["height"],
        "sample_mode": sample_mode,
        "t_start": t_start,
        "notes": notes,
    }
    for fname, arr in arrays.items():
        np.save(os.path.join(out_dir, fname), arr)
    with open(os.path.join(out_dir, "case.json"), "w") as f:
        json.dump(record, f, indent=2, allow_nan=False)
        f.write("\n")


def frame_summary(frames: np.ndarray) -> str:
    return (f"shape {list(frames.shape)} max|x| {np.max(np.abs(frames)):.3f} mean {frames.mean():.3f} "
            f"std {frames.std():.3f} clipped {np.mean((frames <= 0) | (frames >= 1)):.3f}")


# ------------------------------------------------------------------------------------------------
# VideoToVideoSDPipeline on tiny-unet3d


def build_unet3d_pipe(pkg_dir: str):
    from diffusers import VideoToVideoSDPipeline
    from tokenizers import Tokenizer

    from promptreel_export.tokenizer import BOS, EOS, hf_fast_tokenizer

    tok_file = os.path.join(pkg_dir, "tokenizer", "tokenizer.json")
    raw = Tokenizer.from_file(tok_file)
    text_encoder = mf.build_text_encoder(raw.token_to_id(BOS), raw.token_to_id(EOS))
    vae = mf.build_vae()
    unet = mf.build_unet3d()
    sched = make_scheduler(read_json(os.path.join(pkg_dir, "scheduler", "scheduler_config.json")), None)
    pipe = VideoToVideoSDPipeline(vae=vae, text_encoder=text_encoder, tokenizer=hf_fast_tokenizer(tok_file, mf.MAX_LENGTH),
                                  unet=unet, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_unet3d_case(case: dict, pipe, pkg_cfg: dict, report: dict) -> None:
    import diffusers.models.autoencoders.vae as vae_mod
    import diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_synth_img2img as v2v_mod

    import bench_python_ort as ortpipe

    name = case["name"]
    pkg_dir = os.path.join(DATA, case["package"])
    F, H, W = case["frames"], case["height"], case["width"]
    C, sc = mf.LATENT_CHANNELS, mf.SPATIAL_COMPRESSION
    h, w = H // sc, W // sc
    steps, strength, guidance = case["steps"], case["strength"], case["guidance"]
    t_start = t_start_of(steps, strength)

    video = source_video(F, H, W)
    gen = torch.Generator().manual_seed(case_seed(name))
    noise = torch.randn((1, C, F, h, w), generator=gen, dtype=torch.float32)  # our layout
    video_noise = torch.randn((1, C, F, h, w), generator=gen, dtype=torch.float32)
    # the pipeline's layout: frames as the batch, [F, C, h, w]
    noise_pipe = noise[0].permute(1, 0, 2, 3).contiguous()
    eps_pipe = video_noise[0].permute(1, 0, 2, 3).contiguous()

    sched = make_scheduler(pkg_cfg, case["scheduler"])
    pipe.scheduler = sched
    noising: dict = {}
    spy_noising(sched, noising)
    encodes, unet_calls = [], []
    orig_encode = spy_call(pipe.vae, "encode", encodes,
                           lambda a, k, out: (a[0].clone(), out.latent_dist.parameters.clone()))
    orig_unet = spy_call(pipe.unet, "forward", unet_calls,
                         lambda a, k, out: (a[0].clone(), a[1].clone() if torch.is_tensor(a[1]) else torch.tensor(a[1]),
                                            k["encoder_hidden_states"].clone(), out[0].clone()))
    video_in = (video.astype(np.float32) / np.float32(255.0))[None]  # [1, F, H, W, 3] in [0, 1]
    try:
        with Pinned(v2v_mod, noise_pipe, f"{name} add_noise noise") as pn, \
                Pinned(vae_mod, eps_pipe, f"{name} posterior eps") as pe:
            out = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], video=video_in,
                       strength=strength, num_inference_steps=steps, guidance_scale=guidance, output_type="np")
    finally:
        pipe.vae.encode = orig_encode
        pipe.unet.forward = orig_unet
    frames = np.asarray(out.frames[0], dtype=np.float32)
    assert frames.shape == (F, H, W, 3), frames.shape

    # --- the randomness and inputs diffusers used are the ones saved
    assert pn.calls == 1 and pe.calls == 1, (pn.calls, pe.calls)
    assert noising["method"] == "add_noise" and torch.equal(noising["noise"], noise_pipe), name
    assert len(encodes) == 1
    enc_in, moments = encodes[0]
    expected_in = torch.from_numpy((video.astype(np.float32) / np.float32(255.0)) * 2 - 1).permute(0, 3, 1, 2)
    pre_diff = max_abs(enc_in, expected_in)
    assert pre_diff == 0.0, f"{name}: preprocessing differs from x/255*2-1 by {pre_diff}"
    timesteps = [float(t) for t in sched.timesteps]
    assert float(noising["timestep"][0]) == timesteps[t_start]
    run_ts = [float(c[1]) for c in unet_calls]
    assert run_ts == timesteps[t_start:], (run_ts, timesteps, t_start)

    # --- the ONNX graphs hold the same weights (first denoiser call; the encoder on the source)
    pkg = ortpipe.Package(pkg_dir, threads=2)
    m = pkg.manifest
    d = m["denoiser"]
    x0, t0, ehs0, y0 = unet_calls[0]
    y_onnx = pkg.denoiser.run([d["output"]], {d["sample"]: x0.numpy(), d["timestep"]: pkg.timestep_input(float(t0), 1),
                                              d["encoder_hidden_states"]: ehs0.numpy()})[0]
    unet_diff = check(name, max_abs(y_onnx, y0), TOL_GRAPH, "ONNX unet vs the pipeline's unet (first call)")
    enc_sess = graphs._session(os.path.join(pkg_dir, m["vae_encoder"]["path"]))
    moments_onnx = enc_sess.run([m["vae_encoder"]["output"]], {m["vae_encoder"]["input"]: enc_in.numpy()})[0]
    enc_diff = check(name, max_abs(moments_onnx, moments), TOL_GRAPH, "ONNX VAE encoder vs torch")

    # --- our formula from the ONNX encoder's output reproduces diffusers' latents after noising
    scaling = float(m["vae"]["scaling_factor"])
    mean = moments_onnx[:, :C].astype(np.float64)
    logvar = np.clip(moments_onnx[:, C:].astype(np.float64), -30.0, 20.0)
    eps = eps_pipe.numpy().astype(np.float64)
    z = scaling * (mean + np.exp(0.5 * logvar) * eps)  # [F, C, h, w]
    z_diff = check(name, max_abs(z, noising["sample"]), TOL_NOISING, "posterior sample formula vs diffusers")
    desc, a, b = noise_formula(sched, t_start)
    ours = a * z + b * noise_pipe.numpy().astype(np.float64)
    init_diff = check(name, max_abs(ours, noising["out"]), TOL_NOISING, "noising formula vs diffusers' add_noise")
    init_latents = noising["out"].permute(1, 0, 2, 3)[None].contiguous().numpy()  # [1, C, F, h, w]
    # the first unet input is the noised latents (scaled for the denoiser; cond half if cfg)
    first_in = sched.__class__.from_config(sched.config)
    first_in.set_timesteps(steps)
    if hasattr(first_in, "set_begin_index"):
        first_in.set_begin_index(t_start)
    expect_first = first_in.scale_model_input(torch.from_numpy(init_latents), first_in.timesteps[t_start])
    check(name, max_abs(unet_calls[0][0][-1:], expect_first), 1e-6, "first unet input vs init_latents")

    # --- independent re-run: ONNX graphs + the same diffusers scheduler class, our noising
    ort_frames, ort_init = ort_unet3d(pkg, enc_sess, case, video, noise.numpy(), video_noise.numpy(), pkg_cfg)
    check(name, max_abs(ort_init, init_latents), TOL_NOISING, "ONNX Runtime re-run init latents vs diffusers")
    ort_diff = check(name, max_abs(ort_frames, frames), TOL_FRAMES, "ONNX Runtime re-run vs diffusers frames")
    # sanity: how much the source matters (the same run with the source frames in reverse order)
    rev, rev_init = ort_unet3d(pkg, enc_sess, case, np.ascontiguousarray(video[::-1]), noise.numpy(),
                               video_noise.numpy(), pkg_cfg)
    rev_diff = (max_abs(rev_init, ort_init), max_abs(rev, ort_frames), float(np.mean(np.abs(rev - ort_frames))))

    # --- for the record: the random-weight VAE's reconstruction of the source (mean, no noise)
    with torch.no_grad():
        rec = pipe.vae.decode(torch.from_numpy(moments_onnx[:, :C])).sample
    rec01 = (rec / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    recon = max_abs(rec01, video.astype(np.float32) / 255.0)

    cfg_txt = json.dumps(scheduler_config_json(sched), sort_keys=True)
    notes = (f"diffusers {pipe.__class__.__name__} (float32, CPU). Scheduler {sched.__class__.__name__} "
             f"(" + ("the package's scheduler_config.json" if case["scheduler"] is None else
                     f"engine name {case['scheduler']!r}: from_config of the package's scheduler_config.json")
             + f"), config {cfg_txt}. set_timesteps({steps}) gives timesteps {[int(t) for t in timesteps]}; "
             f"t_start {t_start}" + (f" (set_begin_index({t_start}))" if hasattr(sched, "set_begin_index") else "")
             + f", so {len(run_ts)} denoiser steps at "
             f"{[int(t) for t in run_ts]}. Encoding: the frames as an [F, 3, H, W] batch in [-1, 1], posterior "
             f"sample z = {scaling} * (mean + exp(0.5 clamp(logvar, -30, 20)) * eps), eps = video_noise.npy. "
             f"Noising: {desc}. CFG {'on' if guidance > 1 else 'off'} (guidance {guidance}); the scheduler "
             f"steps over [F, C, h, w], elementwise. Checked: ONNX unet vs torch {unet_diff:.1e}, ONNX encoder "
             f"{enc_diff:.1e}, noising formula {init_diff:.1e}, ONNX Runtime re-run frames {ort_diff:.1e}.")
    write_case(os.path.join(OUT, name), case, t_start, "sample", notes, {
        "video.npy": video,
        "noise.npy": noise.numpy().astype(np.float32),
        "video_noise.npy": video_noise.numpy().astype(np.float32),
        "init_latents.npy": init_latents.astype(np.float32),
        "frames.npy": frames,
    })
    report[name] = dict(t_start=t_start, unet=unet_diff, encoder=enc_diff, z=z_diff, init=init_diff,
                        ort=ort_diff, recon=recon, rev=rev_diff, frames=frame_summary(frames),
                        sched=sched.__class__.__name__)
    print(f"  {name:22s} {sched.__class__.__name__:28s} t_start {t_start} ({len(run_ts)}/{steps} steps) | "
          f"frames {frame_summary(frames)}")
    print(f"  {'':22s} preprocessing exact; onnx unet {unet_diff:.1e}, encoder {enc_diff:.1e}, posterior "
          f"{z_diff:.1e}, noising {init_diff:.1e}, ORT re-run frames {ort_diff:.1e}; VAE reconstruction of the "
          f"source max abs {recon:.3f} (random weights); the source reversed changes init latents by max "
          f"{rev_diff[0]:.3f}, frames by max {rev_diff[1]:.3f} (mean {rev_diff[2]:.4f})")


def ort_unet3d(pkg, enc_sess, case: dict, video: np.ndarray, noise: np.ndarray, video_noise: np.ndarray,
               pkg_cfg: dict) -> np.ndarray:
    """Video to video from the case files alone, on the ONNX graphs (the steps by diffusers'
    scheduler class, in our [1, C, F, h, w] layout)."""
    m = pkg.manifest
    C = m["latent_channels"]
    steps, guidance = case["steps"], case["guidance"]
    t_start = t_start_of(steps, case["strength"])
    cfg = guidance > 1.0
    ids = [pkg.tokenize(case["prompt"])]
    if cfg:
        ids.insert(0, pkg.tokenize(case["negative_prompt"]))
    te = m["text_encoder"]
    embeds = pkg.text_encoder.run([te["output"]], {te["input_ids"]: np.stack(ids)})[0]
    # encode: frames as a batch, [-1, 1]
    x = (video.astype(np.float32) / np.float32(255.0)) * np.float32(2) - np.float32(1)
    params = enc_sess.run(None, {m["vae_encoder"]["input"]: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})[0]
    mean, logvar = params[:, :C], np.clip(params[:, C:], -30.0, 20.0)
    eps = video_noise[0].transpose(1, 0, 2, 3)
    z = np.float32(m["vae"]["scaling_factor"]) * (mean + np.exp(np.float32(0.5) * logvar) * eps)
    z = z.transpose(1, 0, 2, 3)[None]  # [1, C, F, h, w]
    sched = make_scheduler(pkg_cfg, case["scheduler"])
    sched.set_timesteps(steps)
    _, a, b = noise_formula(sched, t_start)
    lat = (np.float32(a) * z + np.float32(b) * noise).astype(np.float32)
    init = lat.copy()
    if hasattr(sched, "set_begin_index"):  # as get_timesteps does
        sched.set_begin_index(t_start)
    adapter = mf.DiffusersSchedulerAdapter(sched)
    d = m["denoiser"]
    for t in list(sched.timesteps)[t_start:]:
        xin = adapter.scale_model_input(lat, t)
        if cfg:
            out = pkg.denoiser.run([d["output"]], {d["sample"]: np.concatenate([xin, xin]),
                                                   d["timestep"]: pkg.timestep_input(float(t), 2),
                                                   d["encoder_hidden_states"]: embeds})[0]
            eps_pred = out[:1] + np.float32(guidance) * (out[1:] - out[:1])
        else:
            eps_pred = pkg.denoiser.run([d["output"]], {d["sample"]: xin, d["timestep"]: pkg.timestep_input(float(t), 1),
                                                        d["encoder_hidden_states"]: embeds})[0]
        lat = adapter.step(eps_pred, t, lat)
    zdec = np.ascontiguousarray((lat / np.float32(m["vae"]["scaling_factor"]))[0].transpose(1, 0, 2, 3))
    img = pkg.vae_decoder.run([m["vae_decoder"]["output"]], {m["vae_decoder"]["input"]: zdec})[0]
    return np.clip(img / 2 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1).astype(np.float32), init


# ------------------------------------------------------------------------------------------------
# WanVideoToVideoPipeline on tiny-wan


def build_wan_pipe():
    from diffusers import WanPipeline, WanVideoToVideoPipeline

    src = WanPipeline.from_pretrained(WAN_SOURCE)
    pipe = WanVideoToVideoPipeline(tokenizer=src.tokenizer, text_encoder=src.text_encoder,
                                   transformer=src.transformer, vae=src.vae, scheduler=src.scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_wan_case(case: dict, pipe, pkg_cfg: dict, report: dict) -> None:
    import diffusers.models.autoencoders.vae as vae_mod
    import diffusers.pipelines.wan.pipeline_wan_video2video as v2v_mod

    name = case["name"]
    pkg_dir = os.path.join(DATA, case["package"])
    m = read_json(os.path.join(pkg_dir, "promptreel.json"))
    max_seq = int(m["tokenizer"]["max_length"])
    F, H, W = case["frames"], case["height"], case["width"]
    C = int(m["latent_channels"])
    sc, tc = int(m["spatial_compression"]), int(m["temporal_compression"])
    Fl, h, w = (F - 1) // tc + 1, H // sc, W // sc
    steps, strength, guidance = case["steps"], case["strength"], case["guidance"]
    t_start = t_start_of(steps, strength)

    video = source_video(F, H, W)
    gen = torch.Generator().manual_seed(case_seed(name))
    noise = torch.randn((1, C, Fl, h, w), generator=gen, dtype=torch.float32)  # also the pipeline's layout

    sched = make_scheduler(pkg_cfg, case["scheduler"])
    pipe.scheduler = sched
    noising: dict = {}
    spy_noising(sched, noising)
    encodes, calls = [], []
    orig_encode = spy_call(pipe.vae, "encode", encodes,
                           lambda a, k, out: (a[0].clone(), out.latent_dist.parameters.clone()))
    orig_tr = spy_call(pipe.transformer, "forward", calls,
                       lambda a, k, out: (k["hidden_states"].clone(), k["timestep"].clone(),
                                          k["encoder_hidden_states"].clone(), out[0].clone()))
    video_in = (video.astype(np.float32) / np.float32(255.0))[None]
    # diffusers 0.42.1's pipeline_wan_video2video.basic_clean calls ftfy.fix_text unconditionally
    # (NameError without ftfy); pipeline_wan.prompt_clean is the same cleaning that skips ftfy when
    # it is absent, the one the engine and the wan-parity cases implement.
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean as t2v_prompt_clean

    orig_clean = v2v_mod.prompt_clean
    v2v_mod.prompt_clean = t2v_prompt_clean
    try:
        with Pinned(v2v_mod, noise, f"{name} noise") as pn, Pinned(vae_mod, None, f"{name} posterior (argmax)") as pe:
            out = pipe(video=video_in, prompt=case["prompt"], negative_prompt=case["negative_prompt"], height=H,
                       width=W, num_inference_steps=steps, guidance_scale=guidance, strength=strength,
                       max_sequence_length=max_seq, output_type="np")
    finally:
        v2v_mod.prompt_clean = orig_clean
        pipe.vae.encode = orig_encode
        pipe.transformer.forward = orig_tr
    frames = np.asarray(out.frames[0], dtype=np.float32)
    assert frames.shape == (F, H, W, 3), frames.shape

    assert pn.calls == 1 and pe.calls == 0, (pn.calls, pe.calls)
    assert torch.equal(noising["noise"], noise), name
    assert len(encodes) == 1
    enc_in, moments = encodes[0]  # [1, 3, F, H, W], [1, 2C, F', h, w]
    expected_in = torch.from_numpy((video.astype(np.float32) / np.float32(255.0)) * 2 - 1).permute(3, 0, 1, 2)[None]
    pre_diff = max_abs(enc_in, expected_in)
    assert pre_diff == 0.0, f"{name}: preprocessing differs from x/255*2-1 by {pre_diff}"
    timesteps = [float(t) for t in sched.timesteps]
    assert float(noising["timestep"][0]) == timesteps[t_start]
    per_call = 2 if guidance > 1 else 1
    run_ts = [float(c[1][0]) for c in calls[::per_call]]
    assert run_ts == timesteps[t_start:], (run_ts, timesteps, t_start)

    # --- ONNX graphs vs the pipeline's modules
    tr_sess = graphs._session(os.path.join(pkg_dir, m["denoiser"]["path"]))
    x0, t0, ehs0, y0 = calls[0]
    y_onnx = tr_sess.run(["out_sample"], {"sample": x0.numpy(), "timestep": t0.to(torch.float32).numpy(),
                                          "encoder_hidden_states": ehs0.numpy()})[0]
    tr_diff = check(name, max_abs(y_onnx, y0), TOL_GRAPH, "ONNX transformer vs the pipeline's (first call)")
    enc_sess = graphs._session(os.path.join(pkg_dir, m["vae_encoder"]["path"]))
    first, per = causal_vae._frames_per_step(pipe.vae, "encoder")
    moments_onnx = causal_vae.run_chunks(enc_sess, "encoder", enc_in.numpy(), first, per)
    enc_diff = check(name, max_abs(moments_onnx, moments), TOL_GRAPH, "ONNX VAE encoder vs torch")
    # the text: the ONNX text encoder, zero past the prompt's tokens, as the pipeline pads
    te_sess = graphs._session(os.path.join(pkg_dir, m["text_encoder"]["path"]))

    def embed(text: str) -> np.ndarray:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        ids = pipe.tokenizer(prompt_clean(text), padding="max_length", max_length=max_seq, truncation=True,
                             add_special_tokens=True, return_attention_mask=True, return_tensors="np")
        e = te_sess.run(["last_hidden_state"], {"input_ids": ids.input_ids.astype(np.int64),
                                                "attention_mask": ids.attention_mask.astype(np.int64)})[0]
        return (e * ids.attention_mask[..., None]).astype(np.float32)

    text_diff = max_abs(embed(case["prompt"]), ehs0)
    check(name, text_diff, TOL_GRAPH, "ONNX text encoder vs the pipeline's prompt embeddings")

    # --- our formula from the ONNX encoder's output reproduces the latents after noising
    lm = np.asarray(m["vae"]["latents_mean"], dtype=np.float64).reshape(1, C, 1, 1, 1)
    ls = np.asarray(m["vae"]["latents_std"], dtype=np.float64).reshape(1, C, 1, 1, 1)
    z = (moments_onnx[:, :C].astype(np.float64) - lm) / ls
    z_diff = check(name, max_abs(z, noising["sample"]), TOL_NOISING, "argmax normalisation vs diffusers")
    desc, a, b = noise_formula(sched, t_start)
    ours = a * z + b * noise.numpy().astype(np.float64)
    init_diff = check(name, max_abs(ours, noising["out"]), TOL_NOISING, "noising formula vs diffusers")
    init_latents = noising["out"].numpy()
    check(name, max_abs(calls[0][0], init_latents), 0.0, "first transformer input vs init_latents")

    # --- independent re-run on the ONNX graphs
    ort_frames, ort_init = ort_wan(m, pkg_dir, pipe.vae, case, video, noise.numpy(), pkg_cfg,
                                   embed(case["prompt"]), embed(case["negative_prompt"]) if guidance > 1 else None)
    check(name, max_abs(ort_init, init_latents), TOL_NOISING, "ONNX Runtime re-run init latents vs diffusers")
    ort_diff = check(name, max_abs(ort_frames, frames), TOL_FRAMES, "ONNX Runtime re-run vs diffusers frames")
    rev, rev_init = ort_wan(m, pkg_dir, pipe.vae, case, np.ascontiguousarray(video[::-1]), noise.numpy(), pkg_cfg,
                            embed(case["prompt"]), embed(case["negative_prompt"]) if guidance > 1 else None)
    rev_diff = (max_abs(rev_init, ort_init), max_abs(rev, ort_frames), float(np.mean(np.abs(rev - ort_frames))))

    cfg_txt = json.dumps(scheduler_config_json(sched), sort_keys=True)
    fmt = (lambda ts: [round(t, 4) for t in ts]) if any(t != int(t) for t in timesteps) else \
        (lambda ts: [int(t) for t in ts])
    notes = (f"diffusers {pipe.__class__.__name__} (float32, CPU), max_sequence_length {max_seq} (the package's "
             f"tokenizer max_length); prompts cleaned by pipeline_wan.prompt_clean without ftfy (the video2video "
             f"module's copy needs ftfy). Scheduler {sched.__class__.__name__} ("
             + ("the package's scheduler_config.json" if case["scheduler"] is None else
                f"engine name {case['scheduler']!r}: from_config of the package's UniPC config with shift = its "
                f"flow_shift, as onnx/src/scheduler builds it and wan-parity/flow_euler uses it")
             + f"), config {cfg_txt}. set_timesteps({steps}) gives timesteps {fmt(timesteps)}; t_start {t_start} "
             f"(no set_begin_index: the scheduler finds the index from the timestep), so {len(run_ts)} denoiser "
             f"steps at {fmt(run_ts)}. Encoding: the clip [1, 3, F, H, W] in [-1, 1] through the causal VAE, "
             f"argmax (posterior mean), z = (mean - latents_mean) / latents_std; no posterior noise. Noising "
             f"({noising['method']}): {desc}. CFG {'on' if guidance > 1 else 'off'} (guidance {guidance}). "
             f"Checked: ONNX transformer vs torch {tr_diff:.1e}, ONNX encoder {enc_diff:.1e}, text {text_diff:.1e}, "
             f"noising formula {init_diff:.1e}, ONNX Runtime re-run frames {ort_diff:.1e}.")
    write_case(os.path.join(OUT, name), case, t_start, "argmax", notes, {
        "video.npy": video,
        "noise.npy": noise.numpy().astype(np.float32),
        "init_latents.npy": init_latents.astype(np.float32),
        "frames.npy": frames,
    })
    report[name] = dict(t_start=t_start, unet=tr_diff, encoder=enc_diff, z=z_diff, init=init_diff, ort=ort_diff,
                        rev=rev_diff, frames=frame_summary(frames), sched=sched.__class__.__name__)
    print(f"  {name:22s} {sched.__class__.__name__:28s} t_start {t_start} ({len(run_ts)}/{steps} steps) | "
          f"frames {frame_summary(frames)}")
    print(f"  {'':22s} preprocessing exact; onnx transformer {tr_diff:.1e}, encoder {enc_diff:.1e}, text "
          f"{text_diff:.1e}, argmax latents {z_diff:.1e}, noising {init_diff:.1e}, ORT re-run frames {ort_diff:.1e}; "
          f"the source reversed changes init latents by max {rev_diff[0]:.3f}, frames by max {rev_diff[1]:.3f} "
          f"(mean {rev_diff[2]:.4f})")


def ort_wan(m: dict, pkg_dir: str, vae, case: dict, video: np.ndarray, noise: np.ndarray, pkg_cfg: dict,
            cond: np.ndarray, uncond: np.ndarray | None) -> np.ndarray:
    C = int(m["latent_channels"])
    steps, guidance = case["steps"], case["guidance"]
    t_start = t_start_of(steps, case["strength"])
    x = ((video.astype(np.float32) / np.float32(255.0)) * np.float32(2) - np.float32(1)).transpose(3, 0, 1, 2)[None]
    enc = graphs._session(os.path.join(pkg_dir, m["vae_encoder"]["path"]))
    first, per = causal_vae._frames_per_step(vae, "encoder")
    params = causal_vae.run_chunks(enc, "encoder", np.ascontiguousarray(x), first, per)
    lm = np.asarray(m["vae"]["latents_mean"], dtype=np.float32).reshape(1, C, 1, 1, 1)
    ls = np.asarray(m["vae"]["latents_std"], dtype=np.float32).reshape(1, C, 1, 1, 1)
    z = (params[:, :C] - lm) / ls
    sched = make_scheduler(pkg_cfg, case["scheduler"])
    sched.set_timesteps(steps)
    _, a, b = noise_formula(sched, t_start)
    lat = torch.from_numpy((np.float32(a) * z + np.float32(b) * noise).astype(np.float32))
    init = lat.numpy().copy()
    tr = graphs._session(os.path.join(pkg_dir, m["denoiser"]["path"]))
    for t in sched.timesteps[t_start:]:
        ts = np.full((1,), float(t), dtype=np.float32)
        pred = tr.run(["out_sample"], {"sample": lat.numpy(), "timestep": ts, "encoder_hidden_states": cond})[0]
        if uncond is not None:
            un = tr.run(["out_sample"], {"sample": lat.numpy(), "timestep": ts, "encoder_hidden_states": uncond})[0]
            pred = un + np.float32(guidance) * (pred - un)
        lat = sched.step(torch.from_numpy(pred), t, lat, return_dict=False)[0]
    zdec = lat.numpy() * ls + lm
    dec = graphs._session(os.path.join(pkg_dir, m["vae_decoder"]["path"]))
    img = causal_vae.run_chunks(dec, "decoder", np.ascontiguousarray(zdec), 1, 1)  # [1, 3, F, H, W]
    return np.clip(img[0] / 2 + 0.5, 0.0, 1.0).transpose(1, 2, 3, 0).astype(np.float32), init


# ------------------------------------------------------------------------------------------------


def main() -> int:
    t0 = time.time()
    try:
        import ftfy  # noqa: F401

        print("uninstall ftfy first: WanPipeline would clean prompts with it and the engine does not", file=sys.stderr)
        return 2
    except ImportError:
        pass
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    torch.set_grad_enabled(False)
    import diffusers
    from diffusers.utils import logging as dlogging
    from transformers.utils import logging as tlogging

    dlogging.set_verbosity_error()
    dlogging.disable_progress_bar()
    tlogging.set_verbosity_error()
    tlogging.disable_progress_bar()
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}")

    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)

    unet3d_cfg = read_json(os.path.join(DATA, "tiny-unet3d", "scheduler", "scheduler_config.json"))
    wan_cfg = read_json(os.path.join(DATA, "tiny-wan", "scheduler", "scheduler_config.json"))
    src_cfg = read_json(os.path.join(WAN_SOURCE, "scheduler", "scheduler_config.json"))
    assert {k: v for k, v in wan_cfg.items() if k != "_diffusers_version"} == \
        {k: v for k, v in src_cfg.items() if k != "_diffusers_version"}, "tiny-wan and its diffusers folder differ"

    # flow-euler as make_wan_fixtures.py configures it for the wan-parity flow_euler case
    from diffusers import FlowMatchEulerDiscreteScheduler

    ref = FlowMatchEulerDiscreteScheduler(shift=wan_cfg["flow_shift"], num_train_timesteps=1000)
    assert scheduler_config_json(make_scheduler(wan_cfg, "flow-euler")) == scheduler_config_json(ref)

    report: dict = {}
    print("\n== VideoToVideoSDPipeline on tiny-unet3d")
    pipe = build_unet3d_pipe(os.path.join(DATA, "tiny-unet3d"))
    for case in CASES:
        if case["package"] == "tiny-unet3d":
            run_unet3d_case(case, pipe, unet3d_cfg, report)
    print("\n== WanVideoToVideoPipeline on tiny-wan")
    pipe = build_wan_pipe()
    for case in CASES:
        if case["package"] == "tiny-wan":
            run_wan_case(case, pipe, wan_cfg, report)

    print("\n== summary")
    for case in CASES:
        d = os.path.join(OUT, case["name"])
        files = sorted(os.listdir(d))
        size = sum(os.path.getsize(os.path.join(d, f)) for f in files)
        r = report[case["name"]]
        print(f"  {case['name']:22s} t_start {r['t_start']}  {size / 1e3:6.1f} kB  ORT re-run {r['ort']:.1e}  "
              f"[{', '.join(files)}]")
    total = mf._dir_size(OUT)
    print(f"total {total / 1e6:.2f} MB; done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
