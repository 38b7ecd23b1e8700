#!/usr/bin/env python3
"""Proves the large-model path on Wan 2.1 T2V 1.3B's real transformer, without downloading it.

    /opt/ptools/bin/python tools/wan_real_size.py [WORK_DIR]     (default /tmp/promptreel-wan13b;
                                                                  ~15 GB of disk, ~20 min on 2 cores)

1. Builds a WanPipeline folder whose transformer has the published Wan2.1-T2V-1.3B-Diffusers
   configuration (written below) with random weights: 1.42 B parameters, 5.7 GB in float32, far
   over protobuf's 2 GB limit. The other parts are small stand-ins of the right shape (a UMT5 of
   width 4096 with one layer, a small Wan VAE), so the transformer dominates as in the real model.
2. Exports it with tools/export.py (external data is automatic above 1.8 GB) and measures the
   exporter's peak memory.
3. Runs diffusers' WanPipeline and `promptreel generate` on the same initial latents (2 steps of
   UniPC, guidance 5, 33 frames at 64x64, in sequential and resident memory mode) and compares
   the frames; peak memory of both is measured, and ours per phase (`--report`).
4. With --fp16: also exports the folder with --fp16 and compares the engine's float16 frames with
   diffusers' float32 ones.

Prints one summary JSON at the end (also written to WORK_DIR/summary.json). Nothing here is
committed: the figures go into docs/model-package.md and the issue's closing note.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

# Wan-AI/Wan2.1-T2V-1.3B-Diffusers, transformer/config.json (public).
WAN21_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, image_dim=None, added_kv_proj_dim=None, rope_max_seq_len=1024,
)
MAX_SEQUENCE_LENGTH = 32
CASE = dict(prompt="a lighthouse on a cliff at sunset, waves below", negative="blurry", steps=2, guidance=5.0,
            frames=33, width=64, height=64)


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


def build(folder: str) -> None:
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    from fixtures.t5_tokenizer import save_tiny_t5_tokenizer

    torch.set_grad_enabled(False)
    tok_dir = os.path.join(folder, "tokenizer")
    save_tiny_t5_tokenizer(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=4096, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    torch.manual_seed(1)
    started = time.time()
    transformer = WanTransformer3DModel(**WAN21_1_3B)
    n = sum(p.numel() for p in transformer.parameters())
    print(f"transformer: {n / 1e9:.3f} B parameters, built in {time.time() - started:.0f} s")
    torch.manual_seed(2)
    vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
                scheduler=scheduler).save_pretrained(folder)


def reference(folder: str, out: str) -> None:
    """diffusers' frames for CASE (run in its own process for a clean peak-memory figure)."""
    import torch
    from diffusers import WanPipeline

    torch.set_grad_enabled(False)
    c = CASE
    pipe = WanPipeline.from_pretrained(folder)
    g = torch.Generator().manual_seed(7)
    lat = torch.randn((1, 16, (c["frames"] - 1) // 4 + 1, c["height"] // 8, c["width"] // 8), generator=g)
    np.save(os.path.join(out, "latents.npy"), lat.numpy())
    started = time.time()
    frames = pipe(prompt=c["prompt"], negative_prompt=c["negative"], num_inference_steps=c["steps"],
                  guidance_scale=c["guidance"], num_frames=c["frames"], width=c["width"], height=c["height"],
                  latents=lat, max_sequence_length=MAX_SEQUENCE_LENGTH, output_type="np").frames[0]
    np.save(os.path.join(out, "frames.npy"), np.asarray(frames, dtype=np.float32))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"seconds": time.time() - started}, f)


def main() -> int:
    work = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "/tmp/promptreel-wan13b"
    if "--reference" in sys.argv:
        reference(sys.argv[sys.argv.index("--reference") + 1], work)
        return 0
    os.makedirs(work, exist_ok=True)
    folder, package = os.path.join(work, "pipeline"), os.path.join(work, "package")
    py = sys.executable
    summary = {"config": {k: v for k, v in WAN21_1_3B.items()}, "case": CASE}
    if not os.path.exists(os.path.join(folder, "model_index.json")):
        build(folder)
    done = os.path.join(work, "export-and-reference.json")
    if os.path.exists(done):
        with open(done) as f:
            summary.update(json.load(f))
    else:
        peak, took, log = peak_rss_of([py, os.path.join(HERE, "export.py"), folder, package, "--force",
                                       "--max-sequence-length", str(MAX_SEQUENCE_LENGTH), "--native",
                                       "64x64x33@16"])
        print(log[-2500:])
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(package) for f in fs)
        summary["export"] = {"peak_rss_gib": peak / 2**30, "seconds": took, "package_gb": size / 1e9}
        peak, took, _ = peak_rss_of([py, os.path.abspath(__file__), work, "--reference", folder])
        summary["diffusers"] = {"peak_rss_gib": peak / 2**30, "seconds": took}
        with open(done, "w") as f:
            json.dump({k: summary[k] for k in ("export", "diffusers")}, f)
    if "--no-engine" in sys.argv:
        print(json.dumps(summary, indent=2))
        return 0
    if "--fp16" in sys.argv:
        # the same folder exported with --fp16 (2.9 GB: still over protobuf's limit), run by the
        # engine and compared with diffusers' float32 frames
        package16 = os.path.join(work, "package-fp16")
        peak, took, log = peak_rss_of([py, os.path.join(HERE, "export.py"), folder, package16, "--force", "--fp16",
                                       "--max-sequence-length", str(MAX_SEQUENCE_LENGTH), "--native",
                                       "64x64x33@16", "--no-vae-encoder"])
        print(log[-2500:])
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(package16) for f in fs)
        summary["export_fp16"] = {"peak_rss_gib": peak / 2**30, "seconds": took, "package_gb": size / 1e9}
        package = package16
    cli = os.path.join(REPO, "target", "release", "promptreel")
    env = dict(os.environ)
    env.setdefault("PROMPTREEL_ORT_LIB", os.path.join(REPO, "target", "onnxruntime", "libonnxruntime.so"))
    c = CASE
    report = os.path.join(work, "report.json")
    for mode in ("sequential",) if "--fp16" in sys.argv else ("sequential", "resident"):
        cmd = [cli, "generate", "--model", package, "--prompt", c["prompt"], "--negative", c["negative"],
               "--steps", str(c["steps"]), "--guidance", str(c["guidance"]), "--frames", str(c["frames"]),
               "--width", str(c["width"]), "--height", str(c["height"]), "--scheduler", "unipc",
               "--latents", os.path.join(work, "latents.npy"), "--npy", "--out", os.path.join(work, f"ours-{mode}"),
               "--report", report, "--memory-mode", mode, "--threads", "2"]
        peak, took, log = peak_rss_of(cmd, env)
        with open(report) as f:
            r = json.load(f)
        ours = np.load(os.path.join(work, f"ours-{mode}", "frames.npy"))
        ref = np.load(os.path.join(work, "frames.npy"))
        summary[f"ours_{mode}"] = {
            "seconds": took, "max_abs_diff": float(np.abs(ours - ref).max()),
            "peak_rss_gib": (r.get("peak_resident_bytes") or 0) / 2**30,
            "estimate_gib": r["estimated_peak_bytes"] / 2**30, "child_peak_rss_gib": peak / 2**30,
            "phases_gib": {k: v / 2**30 for k, v in r["peak_resident_bytes_by_phase"].items()},
            "seconds_report": r["seconds"],
        }
    with open(os.path.join(work, "summary-fp16.json" if "--fp16" in sys.argv else "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
