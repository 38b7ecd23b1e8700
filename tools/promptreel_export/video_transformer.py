"""PromptreelVideoTransformer: a small text-to-video denoiser with joint space-time attention.

Why not a stock UNet3DConditionModel for the default model: its temporal layers are attention
without positional information plus zero-padded temporal convolutions, and its text reaches only
the spatial cross-attention. At a few million parameters and two CPU hours it learns colours and
shapes but hardly which way things move. Here every token (one 2x2 latent patch of one frame)

  * knows where and *when* it is (sinusoidal features of frame, row and column, projected),
  * attends to every other token of the clip, in all frames at once (joint space-time attention),
  * reads the prompt three times: by cross-attention to the token states, through adaptive layer
    norm driven by timestep + mean prompt state (a global "what" signal), and (with
    `comoving_positions`) through a velocity predicted from the prompt that shifts every frame's
    position features, so that "which way" is where the model looks for the object next.

The last one is what made motion learnable in the CPU budget: with absolute positions the default
model learned colours and shapes but drew objects standing still; measured in a frame moving with
the requested velocity, a moving object is a still one, and the model already knew those.

It keeps the denoiser contract of diffusers' UNet3DConditionModel, so the engine's `unet3d`
family, diffusers' TextToVideoSDPipeline and the exporter treat it like one:

    sample [B, C, F, H, W] float32, timestep (scalar), encoder_hidden_states [B, S, D]
    -> out_sample [B, C, F, H, W]

Frames, height and width are free (H and W multiples of `patch_size`); position features are
computed from the input's shape, so the exported graph keeps those axes dynamic.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


def sinusoid(positions: torch.Tensor, dim: int, max_period: float) -> torch.Tensor:
    """[...] float -> [..., dim] (cos | sin) features, periods from 2 pi up to 2 pi `max_period`."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = positions.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class Attention(nn.Module):
    """Multi-head attention through `F.scaled_dot_product_attention`, which our exporter writes as
    one fused MultiHeadAttention (memory linear in tokens; tools/promptreel_export/attention.py)."""

    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(context_dim or dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        ctx = x if context is None else context
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(ctx).reshape(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)  # scale 1/sqrt(d // h)
        return self.out(a.transpose(1, 2).reshape(b, n, d))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.cross = Attention(dim, heads, context_dim)
        self.norm3 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))
        # adaLN-Zero: shift/scale/gate for attention and MLP; gates start at 0 (block = identity)
        self.ada = nn.Linear(dim, 6 * dim)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x, cond, context):
        s1, c1, g1, s2, c2, g2 = self.ada(cond).chunk(6, dim=-1)
        x = x + g1[:, None] * self.attn(modulate(self.norm1(x), s1, c1))
        x = x + self.cross(self.norm2(x), context)
        return x + g2[:, None] * self.mlp(modulate(self.norm3(x), s2, c2))


class PromptreelVideoTransformer(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        patch_size: int = 2,
        dim: int = 128,
        depth: int = 6,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        cross_attention_dim: int = 128,
        position_features: int = 32,
        sample_size: int = 8,
        num_frames: int = 8,
        comoving_positions: bool = False,
    ):
        super().__init__()
        p = patch_size
        if comoving_positions:
            # prompt -> velocity (patches per frame, x then y): positions are measured in a frame
            # that moves with it (see _positions); zero at first, so a model trained without
            # this head starts out unchanged when the head is added.
            self.motion = nn.Sequential(nn.Linear(cross_attention_dim, dim), nn.SiLU(), nn.Linear(dim, 2))
            nn.init.zeros_(self.motion[2].weight)
            nn.init.zeros_(self.motion[2].bias)
        self.embed = nn.Linear(in_channels * p * p, dim)
        self.pos = nn.Linear(3 * position_features, dim)
        self.time = nn.Sequential(nn.Linear(256, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.text = nn.Sequential(nn.Linear(cross_attention_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, cross_attention_dim, mlp_ratio) for _ in range(depth)])
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(dim, 2 * dim)
        self.proj_out = nn.Linear(dim, out_channels * p * p)
        for m in (self.ada_out, self.proj_out):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def velocity(self, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        """[B, 2] the motion the prompt asks for, in patches per frame (x right, y down)."""
        return self.motion(encoder_hidden_states.mean(dim=1))

    def _positions(self, f: int, h: int, w: int, velocity: torch.Tensor | None) -> torch.Tensor:
        """[B or 1, f*h*w, dim] position embedding for a grid of f frames x h x w patches.

        With a velocity (v_x, v_y), a patch at column x, row y of frame t sits at
        (x - v_x t, y - v_y t): coordinates that move with the object the prompt describes. An
        object moving as asked then occupies the *same* coordinates in every frame, so keeping it
        coherent across frames is the same attention pattern as keeping a still object in place,
        which the model learns first and easily.
        """
        n = self.config.position_features
        t = torch.arange(f).float()[:, None, None]
        y = torch.arange(h).float()[None, :, None]
        x = torch.arange(w).float()[None, None, :]
        if velocity is None:
            ty, tx = y.expand(f, h, 1)[None], x.expand(f, 1, w)[None]  # [1, f, h, 1], [1, f, 1, w]
        else:
            vx = velocity[:, 0].float()[:, None, None, None]
            vy = velocity[:, 1].float()[:, None, None, None]
            ty = y[None] - vy * t[None]  # [B, f, h, 1]
            tx = x[None] - vx * t[None]  # [B, f, 1, w]
        b = ty.shape[0]
        grid = torch.cat(
            [
                sinusoid(t[None], n, 64.0).expand(b, f, h, w, n),
                sinusoid(ty, n, 64.0).expand(b, f, h, w, n),
                sinusoid(tx, n, 64.0).expand(b, f, h, w, n),
            ],
            dim=-1,
        )
        return self.pos(grid.reshape(b, f * h * w, 3 * n).to(self.pos.weight.dtype))

    def forward(self, sample, timestep, encoder_hidden_states, cross_attention_kwargs=None, return_dict=True):
        b, c, f, hh, ww = sample.shape
        p = self.config.patch_size
        h, w = hh // p, ww // p
        # [B, C, F, H, W] -> tokens [B, F*h*w, C*p*p], frame-major
        x = sample.reshape(b, c, f, h, p, w, p).permute(0, 2, 3, 5, 1, 4, 6).reshape(b, f * h * w, c * p * p)
        velocity = self.velocity(encoder_hidden_states) if self.config.comoving_positions else None
        x = self.embed(x) + self._positions(f, h, w, velocity)

        t = timestep.reshape(-1).float().expand(b) if torch.is_tensor(timestep) else torch.full((b,), float(timestep))
        cond = self.time(sinusoid(t, 256, 10000.0).to(sample.dtype)) + self.text(encoder_hidden_states.mean(dim=1))
        cond = F.silu(cond)
        for block in self.blocks:
            x = block(x, cond, encoder_hidden_states)
        shift, scale = self.ada_out(cond).chunk(2, dim=-1)
        x = self.proj_out(modulate(self.norm_out(x), shift, scale))
        out = x.reshape(b, f, h, w, c, p, p).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, -1, f, hh, ww)
        if not return_dict:
            return (out,)
        return {"sample": out}
