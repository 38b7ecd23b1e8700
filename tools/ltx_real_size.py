#!/usr/bin/env python3
"""Proves the large-model path on LTX-Video 2B's real transformer, without downloading it.

    /opt/ptools/bin/python tools/ltx_real_size.py [WORK_DIR] [--layers N] [--no-engine]
                                                  [--tiling WxHxF] [--rerun]
        (default WORK_DIR /tmp/promptreel-ltx2b; ~20 GB of disk, ~15.5 GiB of memory while
         exporting; ~20 min on 2 cores, ~9 min more with --tiling 768x512x17)

1. Builds an LTXPipeline folder whose transformer has the LTX-Video 2B configuration (0.9.x,
   written below: as recalled from the published transformer/config.json, and equal to the
   defaults of diffusers' LTXVideoTransformer3DModel.__init__, which are that configuration)
   with random weights: 1.92 B parameters, 7.7 GB in float32, far over protobuf's 2 GB limit.
   --layers N keeps N of the 28 blocks (same per-layer shapes) where time or memory is short.
   The VAE has LTX-Video 0.9.5's decoder as recalled from its vae/config.json (128 latent
   channels, 32x spatial / 8x temporal, timestep conditioning, residual 2x upsamplers,
   decoder_block_out_channels 256/512/1024 with 5 layers each, no decoder noise injection:
   0.55 B parameters, 2.2 GB) but a tiny encoder of the same 0.9.5 block types (the real one
   is another 0.69 B parameters that text to video never runs; with it the exporter would hold
   an estimated ~21 GiB). The text encoder is a small stand-in of the right interface: a T5
   encoder of width 4096 (what caption_channels expects) with one layer, and the tokenizer of
   tools/fixtures/t5_tokenizer.py. The scheduler is LTX-Video's (dynamic shifting,
   shift_terminal 0.1).
2. Exports it with tools/export.py (external data is automatic above 1.8 GB) and measures the
   exporter's time and peak memory.
3. Runs diffusers' LTXPipeline and `promptreel generate` on the same initial noise and decode
   noise (recorded from the pipeline's randn_tensor draws) for CASE (2 steps, guidance 3,
   17 frames at 256x160, 3x5x8 = 120 latent tokens), in sequential and resident memory mode,
   and compares the frames, the time per step and the peak memory (ours per phase, from
   --report, with the engine's own estimate).
4. With --tiling WxHxF (e.g. 768x512x17): runs the engine once more at that size (2 steps, no
   guidance, seeded noise) with --vae-tiling on and off and records the VAE phase's peak.

Each stage's figures are kept in WORK_DIR, so a rerun resumes (--rerun runs the engine again).
The engine is $PROMPTREEL_CLI (default target/release/promptreel), with $PROMPTREEL_ORT_LIB.
Prints one summary JSON at the end (also written to WORK_DIR/summary.json). Nothing here is
committed except this script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# LTX-Video 2B (0.9.x) transformer/config.json as recalled; diffusers'
# LTXVideoTransformer3DModel.__init__ defaults are the same values.
LTX_2B = dict(
    in_channels=128, out_channels=128, patch_size=1, patch_size_t=1, num_attention_heads=32, attention_head_dim=64,
    cross_attention_dim=2048, num_layers=28, activation_fn="gelu-approximate", qk_norm="rms_norm_across_heads",
    norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=4096, attention_bias=True, attention_out_bias=True,
)
# LTX-Video 0.9.5's vae/config.json as recalled, with the encoder made tiny (module doc): the
# decoder_* keys, the factors and the conditioning are the real ones.
LTX_095_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=128,
    # real encoder: block_out_channels (128, 256, 512, 1024, 2048), layers_per_block (4, 6, 6, 2, 2)
    block_out_channels=(8, 8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
    down_block_types=("LTXVideo095DownBlock3D",) * 4,
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
    spatio_temporal_scaling=(True, True, True, True),
    decoder_block_out_channels=(256, 512, 1024), decoder_layers_per_block=(5, 5, 5, 5),
    decoder_spatio_temporal_scaling=(True, True, True), decoder_inject_noise=(False, False, False, False),
    upsample_residual=(True, True, True), upsample_factor=(2, 2, 2), timestep_conditioning=True,
    patch_size=4, patch_size_t=1, resnet_norm_eps=1e-6, scaling_factor=1.0, encoder_causal=True,
    decoder_causal=False, spatial_compression_ratio=32, temporal_compression_ratio=8,
)
# LTX-Video's scheduler/scheduler_config.json
SCHEDULER = dict(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
                 max_image_seq_len=4096, shift_terminal=0.1, shift=1.0, num_train_timesteps=1000)
CASE = dict(prompt="a lighthouse on a cliff at sunset, waves below", negative="blurry, static", steps=2,
            guidance=3.0, frames=17, width=256, height=160, frame_rate=25.0, decode_timestep=0.03,
            decode_noise_scale=0.025, seed=7)


def peak_rss_of(cmd: list[str], env: dict | None = None) -> tuple[int, float, str]:
    """Runs `cmd`; returns (the child's own peak RSS in bytes, seconds, output tail)."""
    started = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    took = time.time() - started
    if os.waitstatus_to_exitcode(status) != 0:
        print(out[-6000:])
        raise SystemExit(f"{cmd[:3]} failed with {os.waitstatus_to_exitcode(status)}")
    return usage.ru_maxrss * 1024, took, out[-4000:]


def transformer_config(layers: int | None) -> dict:
    cfg = dict(LTX_2B)
    if layers:
        cfg["num_layers"] = layers
    return cfg


def build(folder: str, layers: int | None) -> None:
    import torch
    from diffusers import (AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline,
                           LTXVideoTransformer3DModel)
    from transformers import AutoTokenizer, T5Config, T5EncoderModel

    from fixtures.t5_tokenizer import save_tiny_t5_tokenizer

    torch.set_grad_enabled(False)
    tok_dir = os.path.join(folder, "tokenizer")
    save_tiny_t5_tokenizer(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    # T5 v1.1 shaped (gated GELU, as LTX's T5-XXL) at T5-XXL's width, one small layer
    text_encoder = T5EncoderModel(T5Config(
        vocab_size=len(tokenizer), d_model=4096, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, relative_attention_max_distance=16, feed_forward_proj="gated-gelu",
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)).eval()
    torch.manual_seed(1)
    started = time.time()
    transformer = LTXVideoTransformer3DModel(**transformer_config(layers)).eval()
    n = sum(p.numel() for p in transformer.parameters())
    print(f"transformer: {n / 1e9:.3f} B parameters, built in {time.time() - started:.0f} s", flush=True)
    torch.manual_seed(2)
    vae = AutoencoderKLLTXVideo(**LTX_095_VAE).eval()
    g = torch.Generator().manual_seed(3)
    # non-trivial statistics, so the engine's (de)normalisation is exercised
    vae.latents_mean.copy_(torch.randn(vae.config.latent_channels, generator=g) * 0.5)
    vae.latents_std.copy_(torch.rand(vae.config.latent_channels, generator=g) * 2 + 0.5)
    nv = sum(p.numel() for p in vae.decoder.parameters())
    print(f"vae decoder: {nv / 1e9:.3f} B parameters", flush=True)
    LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULER), vae=vae, text_encoder=text_encoder,
                tokenizer=tokenizer, transformer=transformer).save_pretrained(folder)
    with open(os.path.join(folder, "parameters.json"), "w") as f:
        json.dump({"transformer": n, "vae_decoder": nv,
                   "vae_encoder": sum(p.numel() for p in vae.encoder.parameters()),
                   "text_encoder": sum(p.numel() for p in text_encoder.parameters())}, f)


def reference(folder: str, out: str) -> None:
    """diffusers' frames for CASE, with the noise it drew (run in its own process for a clean
    peak-memory figure)."""
    import torch
    import diffusers.pipelines.ltx.pipeline_ltx as pipeline_ltx
    from diffusers import LTXPipeline

    torch.set_grad_enabled(False)
    torch.set_num_threads(2)
    c = CASE
    pipe = LTXPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)

    draws = []
    randn_tensor = pipeline_ltx.randn_tensor

    def recording(*args, **kwargs):
        x = randn_tensor(*args, **kwargs)
        draws.append(x.detach().clone())
        return x

    calls = {"transformer": [], "vae": []}

    def timed(fn, key):
        def run(*args, **kwargs):
            t = time.time()
            out = fn(*args, **kwargs)
            calls[key].append(time.time() - t)
            return out
        return run

    pipe.transformer.forward = timed(pipe.transformer.forward, "transformer")
    pipe.vae.decode = timed(pipe.vae.decode, "vae")
    pipeline_ltx.randn_tensor = recording
    started = time.time()
    try:
        frames = pipe(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=c["steps"],
                      guidance_scale=c["guidance"], num_frames=c["frames"], width=c["width"], height=c["height"],
                      frame_rate=c["frame_rate"], decode_timestep=c["decode_timestep"],
                      decode_noise_scale=c["decode_noise_scale"], generator=torch.Generator().manual_seed(c["seed"]),
                      output_type="np").frames[0]
    finally:
        pipeline_ltx.randn_tensor = randn_tensor
    took = time.time() - started
    s, t = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
    shape = (1, pipe.vae.config.latent_channels, (c["frames"] - 1) // t + 1, c["height"] // s, c["width"] // s)
    # LTXPipeline draws the initial noise unpacked [1, C, F, h, w] and packs it; the decode
    # noise is drawn in the unpacked shape
    assert len(draws) == 2 and all(tuple(x.shape) == shape for x in draws), [tuple(x.shape) for x in draws]
    np.save(os.path.join(out, "latents.npy"), draws[0].numpy().astype(np.float32))
    np.save(os.path.join(out, "decode_noise.npy"), draws[1].numpy().astype(np.float32))
    frames = np.asarray(frames, dtype=np.float32)
    assert frames.shape == (c["frames"], c["height"], c["width"], 3), frames.shape
    np.save(os.path.join(out, "frames.npy"), frames)
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"seconds": took, "per_step": calls["transformer"],
                   "mean_per_step": sum(calls["transformer"]) / len(calls["transformer"]),
                   "vae_decode": sum(calls["vae"]), "latent_shape": list(shape),
                   "sigmas": [float(v) for v in pipe.scheduler.sigmas.tolist()]}, f)


def engine_cmd(cli: str, package: str, out: str, report: str, mode: str, c: dict, extra: list[str]) -> list[str]:
    cmd = [cli, "generate", "--model", package, "--prompt", c["prompt"], "--negative", c["negative"],
           "--steps", str(c["steps"]), "--guidance", str(c["guidance"]), "--frames", str(c["frames"]),
           "--width", str(c["width"]), "--height", str(c["height"]), "--frame-rate", str(c["frame_rate"]),
           "--decode-timestep", str(c["decode_timestep"]), "--decode-noise-scale", str(c["decode_noise_scale"]),
           "--npy", "--out", out, "--report", report, "--memory-mode", mode, "--threads", "2"]
    return cmd + extra


def engine_figures(r: dict, peak: int, took: float) -> dict:
    return {
        "seconds": took,
        "peak_rss_gib": (r.get("peak_resident_bytes") or 0) / 2**30,
        "estimate_gib": (r.get("estimated_peak_bytes") or 0) / 2**30,
        # wait4's ru_maxrss: the engine restarts the high-water mark at each phase, so this is
        # the last phase's peak (decoding), not the run's; peak_rss_gib is the run's
        "child_peak_rss_gib": peak / 2**30,
        "phases_gib": {k: v / 2**30 for k, v in r["peak_resident_bytes_by_phase"].items()},
        "vae_tiled": r["settings"].get("vae_tiled"),
        "seconds_report": r["seconds"],
    }


def main() -> int:
    args = sys.argv[1:]
    work = args[0] if args and not args[0].startswith("--") else "/tmp/promptreel-ltx2b"
    if "--reference" in args:
        reference(args[args.index("--reference") + 1], work)
        return 0
    layers = int(args[args.index("--layers") + 1]) if "--layers" in args else None
    os.makedirs(work, exist_ok=True)
    folder, package = os.path.join(work, "pipeline"), os.path.join(work, "package")
    py = sys.executable
    summary = {"config": transformer_config(layers), "vae_config": LTX_095_VAE, "scheduler": SCHEDULER, "case": CASE}
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        started = time.time()
        build(folder, layers)
        summary["build_seconds"] = time.time() - started
    with open(os.path.join(folder, "parameters.json")) as f:
        summary["parameters"] = json.load(f)
    with open(os.path.join(folder, "transformer", "config.json")) as f:
        built_layers = json.load(f)["num_layers"]
    if built_layers != summary["config"]["num_layers"]:
        raise SystemExit(f"{folder} has {built_layers} layers; remove it or pass --layers {built_layers}")
    # each stage's figures are kept, so a rerun resumes after the last stage that finished
    for stage in ("export", "diffusers"):
        done = os.path.join(work, f"{stage}.json")
        if os.path.exists(done):
            with open(done) as f:
                summary[stage] = json.load(f)
            continue
        if stage == "export":
            c = CASE
            peak, took, log = peak_rss_of([py, os.path.join(HERE, "export.py"), folder, package, "--force",
                                           "--native", f"{c['width']}x{c['height']}x{c['frames']}@{c['frame_rate']:g}"])
            print(log[-2500:])
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(package) for f in fs)
            with open(os.path.join(package, "export-report.json")) as f:
                rep = json.load(f)
            summary[stage] = {
                "peak_rss_gib": peak / 2**30, "seconds": took, "package_gb": size / 1e9,
                "graph_files": {d: sorted(os.listdir(os.path.join(package, d))) for d in
                                ("transformer", "vae_decoder", "vae_encoder", "text_encoder")
                                if os.path.isdir(os.path.join(package, d))},
                "checks_max_abs_diff": {k: max(ch["max_abs_diff"] for ch in v["checks"]) for k, v in rep.items()
                                        if isinstance(v, dict) and "checks" in v},
            }
        else:
            peak, took, _ = peak_rss_of([py, os.path.abspath(__file__), work, "--reference", folder])
            with open(os.path.join(work, "reference.json")) as f:
                summary[stage] = {"peak_rss_gib": peak / 2**30, "seconds": took, **json.load(f)}
        print(json.dumps({stage: summary[stage]}, indent=2), flush=True)
        with open(done, "w") as f:
            json.dump(summary[stage], f)
    if "--no-engine" in args:
        print(json.dumps(summary, indent=2))
        return 0
    cli = os.environ.get("PROMPTREEL_CLI", os.path.join(REPO, "target", "release", "promptreel"))
    env = dict(os.environ)
    env.setdefault("PROMPTREEL_ORT_LIB", os.path.join(REPO, "target", "onnxruntime", "libonnxruntime.so"))
    summary["cli"] = cli
    report = os.path.join(work, "report.json")
    ref = np.load(os.path.join(work, "frames.npy"))
    noise = ["--latents", os.path.join(work, "latents.npy"), "--decode-noise", os.path.join(work, "decode_noise.npy"),
             "--vae-tiling", "off"]  # diffusers decodes in one call unless enable_tiling()
    # the engine's figures of an earlier run are kept unless --rerun (--tiling alone can be added later)
    previous = {}
    if os.path.exists(os.path.join(work, "summary.json")) and "--rerun" not in args:
        with open(os.path.join(work, "summary.json")) as f:
            previous = json.load(f)
    for mode in ("sequential", "resident"):
        if f"ours_{mode}" in previous:
            summary[f"ours_{mode}"] = previous[f"ours_{mode}"]
            continue
        out = os.path.join(work, f"ours-{mode}")
        peak, took, _ = peak_rss_of(engine_cmd(cli, package, out, report, mode, CASE, noise), env)
        with open(report) as f:
            r = json.load(f)
        ours = np.load(os.path.join(out, "frames.npy"))
        summary[f"ours_{mode}"] = {"max_abs_diff": float(np.abs(ours - ref).max()),
                                   "mean_abs_diff": float(np.abs(ours - ref).mean()),
                                   **engine_figures(r, peak, took)}
        print(json.dumps({f"ours_{mode}": summary[f"ours_{mode}"]}, indent=2), flush=True)
    if "--tiling" in args:
        w, h, fr = (int(v) for v in args[args.index("--tiling") + 1].lower().split("x"))
        case = dict(CASE, steps=2, guidance=1.0, frames=fr, width=w, height=h)
        summary["tiling_case"] = {k: case[k] for k in ("steps", "guidance", "frames", "width", "height")}
        frames = {}
        for tiling in ("on", "off"):
            out = os.path.join(work, f"ours-tiling-{tiling}")
            rep = os.path.join(work, f"report-tiling-{tiling}.json")
            peak, took, _ = peak_rss_of(engine_cmd(cli, package, out, rep, "sequential", case,
                                                   ["--seed", "11", "--vae-tiling", tiling]), env)
            with open(rep) as f:
                r = json.load(f)
            summary[f"tiling_{tiling}"] = engine_figures(r, peak, took)
            frames[tiling] = np.load(os.path.join(out, "frames.npy"))
            print(json.dumps({f"tiling_{tiling}": summary[f"tiling_{tiling}"]}, indent=2), flush=True)
        summary["tiling_on_vs_off_max_abs_diff"] = float(np.abs(frames["on"] - frames["off"]).max())
    with open(os.path.join(work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
