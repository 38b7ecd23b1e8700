"""Wan 2.1 / 2.2 (diffusers' WanPipeline) graphs: the UMT5 text encoder and the Wan transformer.

The VAE is exported as stateful step graphs by causal_vae.py.

Two things in diffusers' WanTransformer3DModel do not trace into a graph that works at other
sizes with the TorchScript exporter (dit-families.md, section 1), so the export swaps them for
equivalents while it runs; torch and the graph are then compared at several shapes:

  * `torch.nn.RMSNorm` (the q/k norms) lowers to `aten::rms_norm`, which the exporter has no
    symbolic for: `rms_norm_symbolic()` writes x / sqrt(mean(x^2) + eps) * weight.
  * The rotary embedding slices its tables with Python ints taken from the input's shape, which
    the trace freezes at the traced size. `_DynamicRope` builds the same tables with indices
    computed from the input tensor itself, and `_ExportProcessor` applies them without the
    in-place strided writes of diffusers' processor (same float64 arithmetic, same result).

Attention itself goes through `scaled_dot_product_attention` and so becomes one fused
MultiHeadAttention (attention.py).
"""

from __future__ import annotations

import contextlib
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import graphs

# --------------------------------------------------------------------------------------------
# export-time replacements


@contextlib.contextmanager
def rms_norm_symbolic(opset: int):
    """Registers an ONNX lowering of `aten::rms_norm` for the duration of an export."""
    from torch.onnx import symbolic_helper

    def rms_norm(g, x, normalized_shape, weight, eps):
        shape = symbolic_helper._get_const(normalized_shape, "is", "normalized_shape")
        eps_v = symbolic_helper._maybe_get_const(eps, "f")
        if eps_v is None or symbolic_helper._is_none(eps) or not isinstance(eps_v, float):
            eps_v = float(torch.finfo(torch.float32).eps)  # torch's default for float32
        axes = g.op("Constant", value_t=torch.tensor(list(range(-len(shape), 0)), dtype=torch.int64))
        sq = g.op("Mul", x, x)
        mean = g.op("ReduceMean", sq, axes, keepdims_i=1) if opset >= 18 else g.op(
            "ReduceMean", sq, axes_i=list(range(-len(shape), 0)), keepdims_i=1)
        denom = g.op("Sqrt", g.op("Add", mean, g.op("Constant", value_t=torch.tensor(eps_v, dtype=torch.float32))))
        y = g.op("Div", x, denom)
        if not symbolic_helper._is_none(weight):
            y = g.op("Mul", y, weight)
        return y

    torch.onnx.register_custom_op_symbolic("aten::rms_norm", rms_norm, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::rms_norm", opset)


def _index(x: torch.Tensor, axis: int, step: int) -> torch.Tensor:
    """0, 1, ..., size(axis) // step - 1 as int64, computed from `x` so the trace keeps it
    dynamic (a Python int from x.shape would be frozen)."""
    line = x.select(0, 0).select(0, 0)  # [F, H, W]
    line = line.movedim(axis, 0).flatten(1)[:, 0]
    line = line[::step]
    return (torch.ones_like(line).cumsum(0) - 1).to(torch.int64)


class _DynamicRope(nn.Module):
    """diffusers' WanRotaryPosEmbed with the sizes read from the input as tensors."""

    def __init__(self, rope):
        super().__init__()
        self.rope = rope

    def forward(self, hidden_states):
        r = self.rope
        p_t, p_h, p_w = r.patch_size
        split = [r.t_dim, r.h_dim, r.w_dim]
        cos = r.freqs_cos.split(split, dim=1)
        sin = r.freqs_sin.split(split, dim=1)
        idx = [_index(hidden_states, 0, p_t), _index(hidden_states, 1, p_h), _index(hidden_states, 2, p_w)]

        def table(parts):
            f = parts[0].index_select(0, idx[0])[:, None, None, :]
            h = parts[1].index_select(0, idx[1])[None, :, None, :]
            w = parts[2].index_select(0, idx[2])[None, None, :, :]
            # broadcast each to [F, H, W, d] by adding zeros of the others' extent: exact
            zero = (f[..., :1] * 0) + (h[..., :1] * 0) + (w[..., :1] * 0)
            full = torch.cat([f + zero, h + zero, w + zero], dim=-1)
            return full.reshape(1, -1, 1, full.shape[-1])

        return table(cos), table(sin)


def _rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """diffusers' apply_rotary_emb (pairs (x1, x2) rotated in float64), without strided writes."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    c = cos[..., 0::2]
    s = sin[..., 1::2]
    return torch.stack([x1 * c - x2 * s, x1 * s + x2 * c], dim=-1).flatten(-2).type_as(x)


class _ExportProcessor:
    """WanAttnProcessor's text-to-video path, written for tracing."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if attn.add_k_proj is not None:
            raise NotImplementedError("Wan image-to-video attention (added K/V projections) is not exported yet")
        from diffusers.models.transformers.transformer_wan import _get_qkv_projections

        query, key, value = _get_qkv_projections(attn, hidden_states, encoder_hidden_states)
        query = attn.norm_q(query)
        key = attn.norm_k(key)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        if rotary_emb is not None:
            query = _rotary(query, *rotary_emb)
            key = _rotary(key, *rotary_emb)
        out = F.scaled_dot_product_attention(
            query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), attn_mask=attention_mask
        ).transpose(1, 2)
        out = out.flatten(2, 3).type_as(query)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)


@contextlib.contextmanager
def exportable(transformer):
    """Swaps the rotary embedding and attention processors for traceable equivalents."""
    rope = transformer.rope
    processors = transformer.attn_processors
    transformer.rope = _DynamicRope(rope)
    transformer.set_attn_processor(_ExportProcessor())
    try:
        yield transformer
    finally:
        transformer.rope = rope
        transformer.set_attn_processor(processors)


# --------------------------------------------------------------------------------------------
# text encoder


class _T5Wrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state


def export_t5_encoder(model, path: str, max_length: int, opset: int = graphs.DEFAULT_OPSET,
                      tol: float = graphs.DEFAULT_TOL, external_data: bool = False, seed: int = 0,
                      half: bool = False) -> dict:
    """T5 / UMT5 encoder: input_ids, attention_mask [B, L] int64 -> last_hidden_state [B, L, D].

    Batch and length are dynamic (the length is a package setting the CLI can override). The
    pipeline zeroes the rows past each prompt's length itself; the graph returns them as the
    model computes them, like transformers.

    `half`: the model as transformers loads it with torch_dtype=float16 (its `wo` layers kept in
    float32, the casts around them in its own forward), checked with the float16 tolerance.
    """
    tol = graphs.HALF_TOL if half else tol
    wrapper = _T5Wrapper(model).eval()
    vocab = int(model.config.vocab_size)
    rng = np.random.default_rng(seed)

    def inputs(batch, length):
        ids = rng.integers(3, vocab, size=(batch, length), dtype=np.int64)
        mask = np.zeros((batch, length), dtype=np.int64)
        for b in range(batch):
            n = int(rng.integers(1, length + 1)) if b else length
            mask[b, :n] = 1
            ids[b, n - 1] = 1  # </s>
            ids[b, n:] = 0  # <pad>
        return ids, mask

    ids, mask = inputs(2, max_length)
    graphs._torch_export(
        wrapper, (torch.from_numpy(ids), torch.from_numpy(mask)), path, ["input_ids", "attention_mask"],
        ["last_hidden_state"],
        {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
         "last_hidden_state": {0: "batch", 1: "sequence"}},
        opset,
    )
    graphs._finalize(path, external_data, {"last_hidden_state": ["batch", "sequence", int(model.config.d_model)]})
    print(f"  text encoder -> {path}")
    counts = graphs._attention(path, "text encoder", require_fused=False)
    sess = graphs._session(path)
    checks = []
    for b, n in ((1, max_length), (3, max_length), (2, max(2, max_length // 2 + 3))):
        ids, mask = inputs(b, n)
        checks.append(graphs._compare("text_encoder", sess, wrapper, {"input_ids": ids, "attention_mask": mask},
                                      (torch.from_numpy(ids), torch.from_numpy(mask)), ["last_hidden_state"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "checks": checks}


# --------------------------------------------------------------------------------------------
# transformer


class _TransformerWrapper(nn.Module):
    def __init__(self, model, expand_timesteps: bool = False):
        super().__init__()
        self.model = model
        self.expand = expand_timesteps

    def forward(self, sample, timestep, encoder_hidden_states):
        if self.expand:
            # Wan 2.2 TI2V (`expand_timesteps`): one timestep per token. For text to video
            # WanPipeline's mask is all ones, so every token gets t: (mask[:, ::p, ::p] * t)
            # flattened, here built from the sample's own shape.
            p_t, p_h, p_w = self.model.config.patch_size
            ones = torch.ones_like(sample[:, 0, ::p_t, ::p_h, ::p_w]).flatten(1)
            timestep = ones * timestep[:, None]
        return self.model(hidden_states=sample, timestep=timestep, encoder_hidden_states=encoder_hidden_states,
                          return_dict=False)[0]


def export_transformer(model, path: str, seq_len: int, opset: int = graphs.DEFAULT_OPSET,
                       tol: float = graphs.DEFAULT_TOL, external_data: bool = False, seed: int = 0,
                       check_shapes: Iterable[tuple] | None = None, expand_timesteps: bool = False,
                       half: bool = False) -> dict:
    """WanTransformer3DModel: sample [B, C, F', h, w], timestep [B] float32, encoder_hidden_states
    [B, L, D] -> out_sample [B, C_out, F', h, w]. Batch, frames, height, width and L are dynamic;
    h and w are multiples of the patch. `check_shapes` are (batch, frames, h, w, L). With
    `expand_timesteps` (Wan 2.2 TI2V) the graph spreads the timestep over the tokens itself.

    `half`: the model as diffusers loads it with torch_dtype=float16 (its `_keep_in_fp32_modules`
    in float32): sample and text in float16, the timestep in float32, as WanPipeline feeds it."""
    tol = graphs.HALF_TOL if half else tol
    dtype = torch.float16 if half else torch.float32
    p_t, p_h, p_w = model.config.patch_size
    channels = int(model.config.in_channels)
    text_dim = int(model.config.text_dim)
    gen = torch.Generator().manual_seed(seed)
    wrapper = _TransformerWrapper(model, expand_timesteps).eval()

    def inputs(b, f, h, w, length, t):
        sample = torch.randn((b, channels, f * p_t, h * p_h, w * p_w), generator=gen).to(dtype)
        ts = torch.full((b,), float(t))
        ehs = torch.randn((b, length, text_dim), generator=gen).to(dtype)
        return sample, ts, ehs

    if check_shapes is None:
        check_shapes = ((1, 2, 3, 2, seq_len), (2, 3, 2, 3, seq_len), (1, 5, 1, 4, max(1, seq_len // 2)),
                        (2, 1, 4, 4, seq_len + 3))
    axes = {0: "batch", 2: "frames", 3: "height", 4: "width"}
    with exportable(model), rms_norm_symbolic(opset):
        graphs._torch_export(
            wrapper, inputs(2, 3, 3, 2, seq_len, 421.0), path, ["sample", "timestep", "encoder_hidden_states"],
            ["out_sample"],
            {"sample": axes, "timestep": {0: "batch"}, "encoder_hidden_states": {0: "batch", 1: "sequence"},
             "out_sample": axes},
            opset,
        )
    out_ch = int(model.config.out_channels or channels)
    graphs._finalize(path, external_data, {"out_sample": ["batch", out_ch, "frames", "height", "width"]})
    print(f"  transformer -> {path}")
    counts = graphs._attention(path, "denoiser", require_fused=True)
    sess = graphs._session(path)
    checks = []
    for i, (b, f, h, w, length) in enumerate(check_shapes):
        t = [999.0, 1.0, 500.0, 261.5][i % 4]
        s, ts, e = inputs(b, f, h, w, length, t)
        feeds = {"sample": s.numpy(), "timestep": ts.numpy(), "encoder_hidden_states": e.numpy()}
        checks.append(graphs._compare("denoiser", sess, wrapper, feeds, (s, ts, e), ["out_sample"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "checks": checks}
