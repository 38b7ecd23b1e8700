#!/usr/bin/env python3
"""Train Promptreel's default model from scratch on procedural clips (2 CPU cores, ~1.9 hours).

    /opt/ptools/bin/python -m default_model.train --work target/default-model   (from tools/)

Stages, each skipped when its output exists, so an interrupted run resumes where it stopped:

  1. tokenizer      word-level tokenizer.json over clips.VOCABULARY
  2. data           N procedural clips (fixed seed) -> frames, their facts
  3. vae            AutoencoderKL, 32x32 RGB -> 4 x 8 x 8 latents (factor 4), MSE + tiny KL
  4. latents        every clip's frames through the VAE encoder (posterior mean); the scaling
                    factor makes them unit-variance
  5. denoiser       phase 1: PromptreelVideoTransformer (absolute positions) + CLIPTextModel
                    trained jointly with the rectified-flow objective, 2250 steps of a 4800-step
                    schedule; 10% of captions dropped for classifier-free guidance; EMA weights
  5b. motion        phase 2, warm-started from phase 1: the same network with co-moving
                    positions driven by a velocity predicted from the prompt (auxiliary loss
                    on the caption's direction), 3000 steps. Phase 1 alone learned colours
                    and shapes but left objects standing still (direction ~20%); phase 2 had
                    direction right at 96% after 250 steps. Checkpoints every --save-every
                    steps; each phase resumes from its own.
  6. pipeline       a diffusers TextToVideoSDPipeline-layout folder (model_index.json, tokenizer,
                    text_encoder, unet, vae, scheduler) that tools/export.py turns into our package

Every stage uses fixed seeds; the loss of every denoiser step goes to <work>/loss.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from default_model import clips as C  # noqa: E402
from default_model import score as S  # noqa: E402
from default_model import vocab_tokenizer as V  # noqa: E402
from promptreel_export.video_transformer import PromptreelVideoTransformer  # noqa: E402

MAX_LENGTH = 24
TEXT_DIM = 128


def log(work: str, msg: str) -> None:
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(work, "train.log"), "a") as f:
        f.write(line + "\n")


def atomic_torch_save(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------
# components


def make_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=C.WIDTH,
    )


def make_text_encoder(tok):
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=TEXT_DIM,
        intermediate_size=2 * TEXT_DIM,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=MAX_LENGTH,
        bos_token_id=tok.token_to_id(V.BOS),
        eos_token_id=tok.token_to_id(V.EOS),
        pad_token_id=tok.token_to_id(V.EOS),
    )
    return CLIPTextModel(cfg)


def make_denoiser(comoving: bool = True):
    return PromptreelVideoTransformer(
        in_channels=4, out_channels=4, patch_size=2, dim=160, depth=6, heads=4, mlp_ratio=4.0,
        cross_attention_dim=TEXT_DIM, sample_size=C.WIDTH // 4, num_frames=C.FRAMES,
        comoving_positions=comoving,
    )


def make_scheduler():
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)


# ------------------------------------------------------------------------------------------
# stages


def stage_tokenizer(work):
    path = os.path.join(work, "tokenizer.json")
    if not os.path.exists(path):
        V.save(V.build(C.VOCABULARY), path)
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


def stage_data(work, n):
    path = os.path.join(work, "clips.npz")
    if not os.path.exists(path):
        t0 = time.time()
        clips, frames = C.dataset(n, seed=1234)
        facts = np.array([(c.colour, c.shape, c.direction, c.background) for c in clips])
        np.savez(path + ".tmp.npz", frames=(frames * 255).round().astype(np.uint8), facts=facts)
        os.replace(path + ".tmp.npz", path)
        log(work, f"data: {n} clips in {time.time() - t0:.0f} s")
    z = np.load(path)
    return z["frames"], z["facts"]


def stage_vae(work, frames_u8, steps):
    path = os.path.join(work, "vae")
    vae = make_vae()
    if os.path.exists(os.path.join(path, "config.json")):
        from diffusers import AutoencoderKL

        return AutoencoderKL.from_pretrained(path)
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    flat = frames_u8.reshape(-1, C.HEIGHT, C.WIDTH, 3)
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    t0 = time.time()
    vae.train()
    for step in range(steps):
        lr = 1e-3 * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, len(flat), 64)
        x = torch.from_numpy(flat[idx]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.sample()).sample
        mse = F.mse_loss(rec, x)
        kl = post.kl().mean()
        loss = mse + 1e-6 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(work, f"vae {step}/{steps} mse {mse.item():.5f} kl {kl.item():.1f} ({time.time() - t0:.0f} s)")
    vae.eval()
    vae.save_pretrained(path)
    return vae


def stage_latents(work, vae, frames_u8):
    path = os.path.join(work, "latents.npz")
    if not os.path.exists(path):
        t0 = time.time()
        n = len(frames_u8)
        out = np.empty((n, 4, C.FRAMES, C.HEIGHT // 4, C.WIDTH // 4), np.float32)
        worst = 0.0
        with torch.no_grad():
            for i in range(0, n, 64):
                x = torch.from_numpy(frames_u8[i : i + 64].reshape(-1, C.HEIGHT, C.WIDTH, 3))
                x = x.permute(0, 3, 1, 2).float() / 127.5 - 1.0
                mean = vae.encode(x).latent_dist.mean
                if i == 0:
                    rec = vae.decode(mean).sample
                    worst = float((rec - x).abs().max()) / 2
                lat = mean.reshape(-1, C.FRAMES, 4, C.HEIGHT // 4, C.WIDTH // 4).permute(0, 2, 1, 3, 4)
                out[i : i + 64] = lat.numpy()
        scaling = float(1.0 / out.std())
        np.savez(path + ".tmp.npz", latents=out, scaling=scaling)
        os.replace(path + ".tmp.npz", path)
        log(work, f"latents: {n} clips in {time.time() - t0:.0f} s, std {out.std():.3f} -> scaling "
                  f"{scaling:.4f}, worst reconstruction error {worst:.3f} (of 1)")
    z = np.load(path)
    return z["latents"], float(z["scaling"])


def sample_flow(denoiser, text_encoder, tok, prompts, seed, steps=20, guidance=7.5):
    """Plain flow-matching Euler sampler (shift 1) for progress checks; returns latents."""
    g = torch.Generator().manual_seed(seed)
    b = len(prompts)
    x = torch.randn((b, 4, C.FRAMES, C.HEIGHT // 4, C.WIDTH // 4), generator=g)
    ids = torch.tensor(V.encode_batch(tok, list(prompts) + [""] * b, MAX_LENGTH))
    with torch.no_grad():
        ehs = text_encoder(input_ids=ids).last_hidden_state
        sigmas = torch.linspace(1.0, 1.0 / steps, steps).tolist() + [0.0]
        for i in range(steps):
            t = torch.full((2 * b,), sigmas[i] * 1000.0)
            v = denoiser(torch.cat([x, x]), t, ehs, return_dict=False)[0]
            vc, vu = v[:b], v[b:]
            v = vu + guidance * (vc - vu)
            x = x + (sigmas[i + 1] - sigmas[i]) * v
    return x


def decode(vae, latents, scaling):
    b = latents.shape[0]
    z = (latents / scaling).permute(0, 2, 1, 3, 4).reshape(-1, 4, C.HEIGHT // 4, C.WIDTH // 4)
    with torch.no_grad():
        img = vae.decode(z).sample
    img = ((img + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).reshape(b, C.FRAMES, C.HEIGHT, C.WIDTH, 3)
    return img.numpy()


EVAL_SET = [
    (c, s, d, b)
    for i, (c, s, d, b) in enumerate(
        (c, s, d, b) for c in C.COLOURS for s in C.SHAPES for d in C.DIRECTIONS for b in C.BACKGROUNDS
    )
    if i % 10 == 3
]  # 24 of the 240 combinations


def evaluate(denoiser, text_encoder, vae, tok, scaling, seed=7, guidance=7.5):
    prompts = [C.canonical_caption(C.Clip(c, s, d, b, 5, (16, 16), 0)) for c, s, d, b in EVAL_SET]
    lat = sample_flow(denoiser, text_encoder, tok, prompts, seed, guidance=guidance)
    frames = decode(vae, lat, scaling)
    col = sum(S.colour_of(f) == e[0] for f, e in zip(frames, EVAL_SET))
    dire = sum(S.direction_of(f) == e[2] for f, e in zip(frames, EVAL_SET))
    return col / len(EVAL_SET), dire / len(EVAL_SET), frames


VELOCITY = 0.25  # patches per frame: 14 px over 7 frame steps = 0.5 latent px = 0.25 patches
_DIRECTION_VELOCITY = {"left": (-VELOCITY, 0.0), "right": (VELOCITY, 0.0), "up": (0.0, -VELOCITY),
                       "down": (0.0, VELOCITY), "still": (0.0, 0.0)}


def train_denoiser(work, tag, tok, latents, facts, scaling, vae, *, steps, stop_at, batch, save_every,
                   comoving, init_from=None, lr_peak=3e-4, warmup=200, step_offset=0, rng_seed=3):
    """One training phase of text encoder + denoiser; resumable from <work>/<tag>.ckpt.

    `steps` sets the learning-rate schedule (warm-up, then cosine to 10%); training stops at
    `stop_at` (<= steps). `init_from` warm-starts from another phase's checkpoint (weights and
    EMA; new layers keep their initialisation, the optimiser starts fresh). With `comoving`, the
    denoiser predicts a velocity from the prompt and learns it also from the caption's direction
    (an auxiliary MSE to +-VELOCITY, 0 for still and for dropped captions).
    """
    ckpt_path = os.path.join(work, f"{tag}.ckpt")
    torch.manual_seed(2)
    denoiser = make_denoiser(comoving)
    text_encoder = make_text_encoder(tok)
    ema_d, ema_t = make_denoiser(comoving), make_text_encoder(tok)
    if init_from is not None:
        ck = torch.load(init_from, weights_only=False)
        denoiser.load_state_dict(ck["denoiser"], strict=False)
        text_encoder.load_state_dict(ck["text_encoder"])
        ema_d.load_state_dict(denoiser.state_dict())
        ema_d.load_state_dict(ck["ema_denoiser"], strict=False)
        ema_t.load_state_dict(ck["ema_text_encoder"])
    else:
        ema_d.load_state_dict(denoiser.state_dict())
        ema_t.load_state_dict(text_encoder.state_dict())
    params = list(denoiser.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=lr_peak, weight_decay=0.01, betas=(0.9, 0.99))
    start = 0
    rng = np.random.default_rng(rng_seed)
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, weights_only=False)
        denoiser.load_state_dict(ck["denoiser"])
        text_encoder.load_state_dict(ck["text_encoder"])
        ema_d.load_state_dict(ck["ema_denoiser"])
        ema_t.load_state_dict(ck["ema_text_encoder"])
        opt.load_state_dict(ck["opt"])
        start = ck["step"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        log(work, f"{tag}: resumed at step {start}")
    clips = [C.Clip(*f, 5.0, (16.0, 16.0), 0.0) for f in facts]  # captions need only the facts
    lat_all = torch.from_numpy(latents) * scaling
    loss_path = os.path.join(work, "loss.csv")
    if not os.path.exists(loss_path):
        with open(loss_path, "w") as f:
            f.write("step,loss,phase\n")
    loss_file = open(loss_path, "a", newline="")
    writer = csv.writer(loss_file)
    denoiser.train()
    text_encoder.train()
    t0, window = time.time(), []
    for step in range(start, stop_at):
        warm = min(1.0, (step + 1) / warmup)
        lr = lr_peak * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = rng.integers(0, len(clips), batch)
        keep = rng.random(batch) >= 0.1  # 10% of captions dropped for classifier-free guidance
        texts = [C.caption(clips[i], rng) if k else "" for i, k in zip(idx, keep)]
        ids = torch.tensor(V.encode_batch(tok, texts, MAX_LENGTH))
        x0 = lat_all[idx]
        noise = torch.randn_like(x0)
        sigma = torch.sigmoid(torch.randn(batch))  # logit-normal timesteps (SD3)
        s = sigma[:, None, None, None, None]
        xt = (1 - s) * x0 + s * noise
        ehs = text_encoder(input_ids=ids).last_hidden_state
        pred = denoiser(xt, sigma * 1000.0, ehs, return_dict=False)[0]
        flow = F.mse_loss(pred, noise - x0)
        loss = flow
        if comoving:
            target = torch.tensor([_DIRECTION_VELOCITY[clips[i].direction] if k else (0.0, 0.0)
                                   for i, k in zip(idx, keep)])
            loss = loss + 10.0 * F.mse_loss(denoiser.velocity(ehs), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for m, e in ((denoiser, ema_d), (text_encoder, ema_t)):
                for p, q in zip(m.parameters(), e.parameters()):
                    q.lerp_(p, 1 - decay)
        writer.writerow([step_offset + step, f"{flow.item():.6f}", tag])
        window.append(flow.item())
        if (step + 1) % 50 == 0:
            loss_file.flush()
            rate = (time.time() - t0) / (step + 1 - start)
            log(work, f"{tag} {step + 1}/{stop_at} loss {np.mean(window):.4f} lr {lr:.2e} "
                      f"{rate:.2f} s/step, eta {rate * (stop_at - step - 1) / 60:.0f} min")
            window = []
        if (step + 1) % save_every == 0 or step + 1 == stop_at:
            loss_file.flush()
            atomic_torch_save(
                {
                    "denoiser": denoiser.state_dict(), "text_encoder": text_encoder.state_dict(),
                    "ema_denoiser": ema_d.state_dict(), "ema_text_encoder": ema_t.state_dict(),
                    "opt": opt.state_dict(), "step": step + 1, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(),
                },
                ckpt_path,
            )
            ema_d.eval()
            ema_t.eval()
            col, dire, _ = evaluate(ema_d, ema_t, vae, tok, scaling)
            log(work, f"eval at {tag} {step + 1}: colour {col:.0%} direction {dire:.0%} (24 prompts, EMA)")
            ema_d.train()
            ema_t.train()
    loss_file.close()
    ema_d.eval()
    ema_t.eval()
    return ema_d, ema_t


def stage_pipeline(work, tok_path, vae, text_encoder, denoiser, scaling):
    from diffusers import TextToVideoSDPipeline

    out = os.path.join(work, "pipeline")
    vae.register_to_config(scaling_factor=scaling)
    sched = make_scheduler()
    # Saved component by component, with model_index.json written below, so the index names exactly
    # the classes tools/export.py reads (our denoiser by its module path); the sub-folders are what
    # each component's own save_pretrained writes.
    for name, comp in (("vae", vae), ("text_encoder", text_encoder), ("unet", denoiser), ("scheduler", sched)):
        comp.save_pretrained(os.path.join(out, name))
    os.makedirs(os.path.join(out, "tokenizer"), exist_ok=True)
    from default_model.vocab_tokenizer import BOS, EOS, UNK
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_file=tok_path, model_max_length=MAX_LENGTH, bos_token=BOS,
                                 eos_token=EOS, unk_token=UNK, pad_token=EOS)
    hf.save_pretrained(os.path.join(out, "tokenizer"))
    index = {
        "_class_name": TextToVideoSDPipeline.__name__,
        "_diffusers_version": __import__("diffusers").__version__,
        "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
        "unet": ["promptreel_export.video_transformer", "PromptreelVideoTransformer"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    log(work, f"pipeline folder written to {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(HERE), "target", "default-model"))
    ap.add_argument("--clips", type=int, default=24000)
    ap.add_argument("--vae-steps", type=int, default=1200)
    ap.add_argument("--steps", type=int, default=4800, help="phase 1 schedule length")
    ap.add_argument("--phase1-stop", type=int, default=2250, help="phase 1 stops here")
    ap.add_argument("--motion-steps", type=int, default=3000, help="phase 2 schedule length")
    ap.add_argument("--motion-stop", type=int, default=3000, help="phase 2 stops here")
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--save-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    tok = stage_tokenizer(args.work)
    frames, facts = stage_data(args.work, args.clips)
    vae = stage_vae(args.work, frames, args.vae_steps)
    latents, scaling = stage_latents(args.work, vae, frames)
    del frames
    # Phase 1 (the first design, kept so the run reproduces): absolute positions. It learned
    # colours and shapes, but objects stood still (direction ~20% at step 2000).
    train_denoiser(args.work, "denoiser", tok, latents, facts, scaling, vae, steps=args.steps,
                   stop_at=args.phase1_stop, batch=args.batch, save_every=args.save_every, comoving=False)
    # Phase 2: the same network plus the prompt's velocity driving co-moving positions.
    denoiser, text_encoder = train_denoiser(
        args.work, "motion", tok, latents, facts, scaling, vae, steps=args.motion_steps,
        stop_at=args.motion_stop, batch=args.batch, save_every=args.save_every, comoving=True,
        init_from=os.path.join(args.work, "denoiser.ckpt"), warmup=100, step_offset=args.phase1_stop,
        rng_seed=4)
    stage_pipeline(args.work, os.path.join(args.work, "tokenizer.json"), vae, text_encoder, denoiser, scaling)
    log(args.work, f"done in {(time.time() - t0) / 60:.1f} min (this run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
