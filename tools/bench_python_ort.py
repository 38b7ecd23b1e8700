#!/usr/bin/env python3
"""Baseline benchmark: run a Promptreel model package with ONNX Runtime's Python package.

This is what the Rust engine's benchmark is compared against: the same graphs, the same DDIM
schedule, classifier-free guidance batched the way the manifest says (`cfg_batch`), the VAE decoded
in chunks of `vae.decode_chunk_frames` frames. CPU execution provider, `--threads` intra-op
threads, one inter-op thread, sequential execution.

Needs only numpy, onnxruntime and tokenizers (no torch, no diffusers): DDIM is implemented below
in numpy, following diffusers' DDIMScheduler (eta = 0).

    python tools/bench_python_ort.py --model onnx/tests/data/tiny-unet3d \
        --prompt "a red ball bouncing" --steps 20 --frames 16 --width 256 --height 256 \
        --guidance 7.5 --threads 4

Prints one JSON line: wall seconds in total and per graph (`*_s`, conversions included), the time
inside ONNX Runtime's `run` calls (`*_run_s`, `ort_s`), seconds per denoising step and peak resident
memory. ONNX Runtime's first runs are much slower than later ones (memory arenas grow; with the
memory pattern on, the second run at a new shape allocates its planned block): use `--warmup 1` (a
generation runs the denoiser once per step) for steady-state numbers.
`--serve` is for `onnx/benches/overhead.rs`: after loading and the warm-up it prints `{"ready": ...}`
and then runs one timed generation per line read on stdin, printing one JSON line for each, so that
the caller can alternate its own runs with these in warm processes. It exits at end of input.
`--session-config KEY=VALUE` (repeatable), `--no-mem-pattern` and `--no-cpu-arena` change the
session options for experiments (the defaults match the Rust engine's sessions).
`--latents FILE.npy` gives the initial latents (diffusers' shape, before scaling by the
scheduler's init_noise_sigma, which is 1 for DDIM); otherwise they come from `--seed`.
`--save-frames FILE.npy` writes the frames, float32 [F, H, W, 3] in [0, 1].
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

try:
    import resource
except ImportError:  # not on Windows
    resource = None

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

# ------------------------------------------------------------------------------------------------
# package loading


class Package:
    def __init__(self, model_dir: str, threads: int = 1, session_config: dict | None = None,
                 mem_pattern: bool = True, cpu_arena: bool = True):
        self.dir = model_dir
        with open(os.path.join(model_dir, "promptreel.json")) as f:
            self.manifest = json.load(f)
        m = self.manifest
        if m.get("format") != 1:
            raise ValueError("unsupported manifest format")
        if m["family"] not in ("unet3d", "sd"):
            raise ValueError(f"unsupported family {m['family']}")
        with open(os.path.join(model_dir, m["scheduler"])) as f:
            self.scheduler_config = json.load(f)

        t0 = time.perf_counter()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        so.enable_mem_pattern = mem_pattern
        so.enable_cpu_mem_arena = cpu_arena
        for k, v in (session_config or {}).items():
            so.add_session_config_entry(k, v)

        def session(rel):
            # loaded from the file path so ONNX Runtime finds external-data sidecars
            return ort.InferenceSession(os.path.join(model_dir, rel), sess_options=so,
                                        providers=["CPUExecutionProvider"])

        self.text_encoder = session(m["text_encoder"]["path"])
        self.denoiser = session(m["denoiser"]["path"])
        self.vae_decoder = session(m["vae_decoder"]["path"])
        self.load_s = time.perf_counter() - t0

        tk = m["tokenizer"]
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, tk["path"]))
        self.max_length = int(tk.get("max_length", 77))
        pad = tk.get("pad_token") or "<|endoftext|>"
        pad_id = self.tokenizer.token_to_id(pad)
        if pad_id is None:
            raise ValueError(f"pad token {pad!r} not in the tokenizer")
        # Same as transformers' fast tokenizers with padding="max_length", truncation=True:
        # the content is cut so that the template's special tokens still fit, then padded right.
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.enable_padding(length=self.max_length, pad_id=pad_id, pad_token=pad)

        ids_in = {i.name: i for i in self.text_encoder.get_inputs()}
        self.ids_dtype = np.int32 if ids_in[m["text_encoder"]["input_ids"]].type == "tensor(int32)" else np.int64
        den = {i.name: i for i in self.denoiser.get_inputs()}
        ts = den[m["denoiser"]["timestep"]]
        self.timestep_dtype = {"float32": np.float32, "float16": np.float16, "int64": np.int64}[
            m["denoiser"].get("timestep_dtype", "float32")]
        self.timestep_shape = ts.shape  # [] (rank 0), [1] or [batch]
        self.latent_dtype = np.float16 if den[m["denoiser"]["sample"]].type == "tensor(float16)" else np.float32

    def tokenize(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text).ids, dtype=self.ids_dtype)

    def timestep_input(self, t: float, batch: int) -> np.ndarray:
        shape = self.timestep_shape
        if len(shape) == 0:
            return np.asarray(t, dtype=self.timestep_dtype)
        n = shape[0] if isinstance(shape[0], int) else batch
        return np.full((n,), t, dtype=self.timestep_dtype)


# ------------------------------------------------------------------------------------------------
# DDIM (numpy port of diffusers' DDIMScheduler, eta = 0)


class DDIM:
    def __init__(self, config: dict):
        c = dict(config)
        self.num_train_timesteps = int(c.get("num_train_timesteps", 1000))
        beta_start = float(c.get("beta_start", 0.0001))
        beta_end = float(c.get("beta_end", 0.02))
        schedule = c.get("beta_schedule", "linear")
        n = self.num_train_timesteps
        if c.get("trained_betas") is not None:
            betas = np.asarray(c["trained_betas"], dtype=np.float32)
        elif schedule == "linear":
            betas = np.linspace(beta_start, beta_end, n, dtype=np.float32)
        elif schedule == "scaled_linear":
            betas = np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float32) ** 2
        elif schedule == "squaredcos_cap_v2":
            def abar(t):
                return np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2
            betas = np.array([min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)], dtype=np.float32)
        else:
            raise ValueError(f"beta_schedule {schedule} not supported")
        if c.get("rescale_betas_zero_snr", False):
            raise ValueError("rescale_betas_zero_snr not supported by this baseline")
        if c.get("thresholding", False):
            raise ValueError("thresholding not supported by this baseline")
        self.alphas_cumprod = np.cumprod(1.0 - betas.astype(np.float32), dtype=np.float32)
        self.final_alpha_cumprod = np.float32(1.0) if c.get("set_alpha_to_one", True) else self.alphas_cumprod[0]
        self.steps_offset = int(c.get("steps_offset", 0))
        self.spacing = c.get("timestep_spacing", "leading")
        self.prediction_type = c.get("prediction_type", "epsilon")
        self.clip_sample = bool(c.get("clip_sample", True))
        self.clip_sample_range = float(c.get("clip_sample_range", 1.0))
        self.init_noise_sigma = 1.0
        self.timesteps = np.zeros(0, dtype=np.int64)
        self.num_inference_steps = 0

    def set_timesteps(self, steps: int) -> None:
        n = self.num_train_timesteps
        if steps > n:
            raise ValueError("more steps than training timesteps")
        self.num_inference_steps = steps
        if self.spacing == "linspace":
            ts = np.linspace(0, n - 1, steps).round()[::-1].copy().astype(np.int64)
        elif self.spacing == "leading":
            ratio = n // steps
            ts = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.int64) + self.steps_offset
        elif self.spacing == "trailing":
            ratio = n / steps
            ts = np.round(np.arange(n, 0, -ratio)).astype(np.int64) - 1
        else:
            raise ValueError(f"timestep_spacing {self.spacing} not supported")
        self.timesteps = ts

    def scale_model_input(self, x, t):
        return x

    def step(self, model_output: np.ndarray, t: int, sample: np.ndarray) -> np.ndarray:
        prev_t = t - self.num_train_timesteps // self.num_inference_steps
        a_t = self.alphas_cumprod[t]
        a_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        b_t = 1 - a_t
        if self.prediction_type == "epsilon":
            x0 = (sample - b_t**0.5 * model_output) / a_t**0.5
            eps = model_output
        elif self.prediction_type == "sample":
            x0 = model_output
            eps = (sample - a_t**0.5 * x0) / b_t**0.5
        elif self.prediction_type == "v_prediction":
            x0 = a_t**0.5 * sample - b_t**0.5 * model_output
            eps = a_t**0.5 * model_output + b_t**0.5 * sample
        else:
            raise ValueError(f"prediction_type {self.prediction_type} not supported")
        if self.clip_sample:
            x0 = np.clip(x0, -self.clip_sample_range, self.clip_sample_range)
        prev = a_prev**0.5 * x0 + (1 - a_prev) ** 0.5 * eps
        return prev.astype(sample.dtype)


# ------------------------------------------------------------------------------------------------
# generation


def latent_shape(pkg: Package, frames: int, width: int, height: int) -> tuple:
    m = pkg.manifest
    sc = int(m["spatial_compression"])
    if width % sc or height % sc:
        raise ValueError(f"width and height must be multiples of {sc}")
    c = int(m["latent_channels"])
    if m["family"] == "sd":
        return (1, c, height // sc, width // sc)
    tc = int(m.get("temporal_compression", 1))
    f = (frames - 1) // tc + 1 if tc > 1 else frames
    return (1, c, f, height // sc, width // sc)


def generate(pkg: Package, prompt: str, negative_prompt: str | None, steps: int, guidance: float,
             frames: int, width: int, height: int, latents: np.ndarray | None = None, seed: int = 0,
             scheduler=None) -> tuple[np.ndarray, dict]:
    """Returns (frames float32 [F, H, W, 3] in [0, 1], timings)."""
    m = pkg.manifest
    timings = {"text_encoder_s": 0.0, "denoiser_s": 0.0, "scheduler_s": 0.0, "vae_decoder_s": 0.0, "step_s": [],
               "text_encoder_run_s": 0.0, "denoiser_run_s": 0.0, "vae_decoder_run_s": 0.0}

    def run(sess, key, outputs, feeds):
        # time inside ONNX Runtime's run call only, as the Rust engine's Timings count it
        t = time.perf_counter()
        out = sess.run(outputs, feeds)
        timings[key] += time.perf_counter() - t
        return out

    t_start = time.perf_counter()
    cfg = guidance > 1.0

    # 1. text
    t0 = time.perf_counter()
    ids = [pkg.tokenize(prompt)]
    if cfg:
        ids.insert(0, pkg.tokenize(negative_prompt or ""))  # diffusers' order: [uncond, cond]
    te_in, te_out = m["text_encoder"]["input_ids"], m["text_encoder"]["output"]
    if m["cfg_batch"] or not cfg:
        embeds = run(pkg.text_encoder, "text_encoder_run_s", [te_out], {te_in: np.stack(ids)})[0]
    else:
        embeds = np.concatenate([run(pkg.text_encoder, "text_encoder_run_s", [te_out], {te_in: i[None]})[0]
                                 for i in ids])
    embeds = embeds.astype(pkg.latent_dtype)
    timings["text_encoder_s"] = time.perf_counter() - t0

    # 2. latents + schedule
    sched = scheduler if scheduler is not None else DDIM(pkg.scheduler_config)
    sched.set_timesteps(steps)
    shape = latent_shape(pkg, frames, width, height)
    if latents is None:
        latents = np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
    latents = np.asarray(latents, dtype=np.float32)
    if latents.shape != shape:
        raise ValueError(f"latents have shape {latents.shape}, expected {shape}")
    x = latents * np.float32(sched.init_noise_sigma)

    d = m["denoiser"]
    for t in sched.timesteps:
        t_step = time.perf_counter()
        t0 = time.perf_counter()
        xin = sched.scale_model_input(x, t)
        xin = xin.astype(pkg.latent_dtype)
        if cfg and m["cfg_batch"]:
            out = run(pkg.denoiser, "denoiser_run_s", [d["output"]], {
                d["sample"]: np.concatenate([xin, xin]),
                d["timestep"]: pkg.timestep_input(float(t), 2),
                d["encoder_hidden_states"]: embeds,
            })[0]
            uncond, cond = out[:1], out[1:]
        elif cfg:
            uncond, cond = (run(pkg.denoiser, "denoiser_run_s", [d["output"]], {
                d["sample"]: xin,
                d["timestep"]: pkg.timestep_input(float(t), 1),
                d["encoder_hidden_states"]: embeds[i:i + 1],
            })[0] for i in (0, 1))
        else:
            cond = run(pkg.denoiser, "denoiser_run_s", [d["output"]], {
                d["sample"]: xin,
                d["timestep"]: pkg.timestep_input(float(t), 1),
                d["encoder_hidden_states"]: embeds,
            })[0]
        timings["denoiser_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        cond = cond.astype(np.float32)
        if cfg:
            uncond = uncond.astype(np.float32)
            eps = uncond + np.float32(guidance) * (cond - uncond)
        else:
            eps = cond
        x = sched.step(eps, t, x)
        timings["scheduler_s"] += time.perf_counter() - t0
        timings["step_s"].append(time.perf_counter() - t_step)

    # 3. decode (per frame, in chunks)
    t0 = time.perf_counter()
    vae = m["vae"]
    z = x / np.float32(vae["scaling_factor"]) + np.float32(vae.get("shift_factor", 0.0))
    if m["family"] == "unet3d":
        z = z[0].transpose(1, 0, 2, 3)  # [F, C, h, w]
    chunk = max(1, int(vae.get("decode_chunk_frames", 8)))
    v = m["vae_decoder"]
    images = []
    for s in range(0, z.shape[0], chunk):
        part = np.ascontiguousarray(z[s:s + chunk]).astype(pkg.latent_dtype)
        images.append(run(pkg.vae_decoder, "vae_decoder_run_s", [v["output"]], {v["input"]: part})[0]
                      .astype(np.float32))
    img = np.concatenate(images)
    out = np.clip(img / 2 + 0.5, 0.0, 1.0).transpose(0, 2, 3, 1)
    timings["vae_decoder_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    timings["ort_s"] = timings["text_encoder_run_s"] + timings["denoiser_run_s"] + timings["vae_decoder_run_s"]
    return np.ascontiguousarray(out, dtype=np.float32), timings


def peak_rss_mib() -> float | None:
    """Peak resident memory of this process, MiB (None where unknown)."""
    if resource is None:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1 << 20) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB elsewhere


def run_result(tm: dict) -> dict:
    """The per-run figures of one generation's timings."""
    steps = max(1, len(tm["step_s"]))
    keys = ("total_s", "ort_s", "text_encoder_s", "text_encoder_run_s", "denoiser_s", "denoiser_run_s",
            "scheduler_s", "vae_decoder_s", "vae_decoder_run_s")
    out = {k: round(tm[k], 6) for k in keys}
    out["s_per_step"] = round(sum(tm["step_s"]) / steps, 6)
    out["denoiser_run_s_per_step"] = round(tm["denoiser_run_s"] / steps, 6)
    out["step_s"] = [round(s, 6) for s in tm["step_s"]]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="model package folder")
    p.add_argument("--prompt", default="a red ball bouncing on a green floor")
    p.add_argument("--negative-prompt", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--frames", type=int, default=None, help="default: the manifest's native frames")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--latents", default=None, help="initial latents .npy (unscaled, diffusers' shape)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=0, help="untimed runs before the timed one(s)")
    p.add_argument("--runs", type=int, default=1, help="timed runs; the JSON reports the fastest")
    p.add_argument("--serve", action="store_true",
                   help="after the warm-up, run one timed generation per line read on stdin")
    p.add_argument("--session-config", action="append", default=[], metavar="KEY=VALUE",
                   help="extra session config entry, e.g. session.intra_op.allow_spinning=0")
    p.add_argument("--no-mem-pattern", action="store_true", help="disable the memory pattern")
    p.add_argument("--no-cpu-arena", action="store_true", help="disable the CPU memory arena")
    p.add_argument("--save-frames", default=None, help="write the frames (float32 [F,H,W,3]) here")
    a = p.parse_args(argv)
    session_config = {}
    for kv in a.session_config:
        k, sep, v = kv.partition("=")
        if not sep:
            p.error(f"--session-config wants KEY=VALUE, got {kv!r}")
        session_config[k] = v

    t_all = time.perf_counter()
    pkg = Package(a.model, threads=a.threads, session_config=session_config,
                  mem_pattern=not a.no_mem_pattern, cpu_arena=not a.no_cpu_arena)
    nat = pkg.manifest["native"]
    frames = a.frames or int(nat["frames"])
    width = a.width or int(nat["width"])
    height = a.height or int(nat["height"])
    if pkg.manifest["family"] == "sd":
        frames = 1
    latents = np.load(a.latents) if a.latents else None

    def once():
        return generate(pkg, a.prompt, a.negative_prompt, a.steps, a.guidance, frames, width, height, latents,
                        a.seed)

    for _ in range(a.warmup):
        once()

    header = {
        "engine": f"onnxruntime-python {ort.__version__}",
        "provider": "CPUExecutionProvider",
        "model": pkg.manifest["name"],
        "family": pkg.manifest["family"],
        "prompt": a.prompt,
        "steps": a.steps,
        "frames": frames,
        "width": width,
        "height": height,
        "guidance": a.guidance,
        "cfg_batch": bool(pkg.manifest["cfg_batch"]),
        "threads": a.threads,
        "mem_pattern": not a.no_mem_pattern,
        "cpu_arena": not a.no_cpu_arena,
        "session_config": session_config,
        "warmup": a.warmup,
        "load_s": round(pkg.load_s, 6),
    }

    if a.serve:
        print(json.dumps({"ready": True, **header, "peak_rss_mib": peak_rss_mib()}), flush=True)
        for _ in sys.stdin:
            _, tm = once()
            print(json.dumps({**run_result(tm), "peak_rss_mib": peak_rss_mib()}), flush=True)
        return 0

    runs = []
    for _ in range(max(1, a.runs)):
        out, tm = once()
        runs.append(tm)
    best = min(runs, key=lambda r: r["total_s"])
    if a.save_frames:
        np.save(a.save_frames, out)

    result = {
        **header,
        **run_result(best),
        "runs_total_s": [round(r["total_s"], 6) for r in runs],
        "wall_s": round(time.perf_counter() - t_all, 6),
        "peak_rss_mib": peak_rss_mib(),
        "frame_mean": float(out.mean()),
        "frame_std": float(out.std()),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
