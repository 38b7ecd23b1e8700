"""LTX-Video 0.9.x (diffusers' LTXPipeline / LTXImageToVideoPipeline) graphs.

    text_encoder   input_ids [B, L] int64 -> last_hidden_state [B, L, D]   (no mask: LTXPipeline
                   calls T5 without one; the mask goes to the transformer instead)
    transformer    sample [B, C, F, h, w], timestep [B, F] (one per latent frame),
                   encoder_hidden_states [B, L, D], encoder_attention_mask [B, L] int64,
                   rope_interpolation_scale [3] -> out_sample [B, C, F, h, w]
    vae_decoder    latent_sample [B, C, F, h, w] (+ timestep [B]) -> sample [B, 3, F', H, W]
    vae_encoder    sample [B, 3, F, H, W] -> latent_parameters [B, 2C, F', h, w]

The transformer graph is traced with the TorchScript exporter, so every attention becomes one
fused MultiHeadAttention (attention.py). diffusers' forward does not trace into a graph that
loads at other sizes: the pipeline hands it num_frames / height / width as Python ints (frozen
by the trace), and the TorchScript exporter mis-resolves several of its negative axes (`dim=-1`
in the timestep embedding, `view(b, -1, x.size(-1))`, `unbind(-1)` in the rotary embedding:
ONNX Runtime then refuses the graph with "axis must be in [-rank, rank-1]" or "Invalid position
of 0"). `_TransformerGraph` therefore runs the same layers itself, with positive axes and with
the rotary coordinates computed from the sample's shape. Every export is compared with
diffusers' own forward, called exactly as the pipelines call it.

The VAE graphs use the dynamo exporter (opset 18): LTX's VAE has no attention, and the
TorchScript trace writes a negative Transpose permutation (from `movedim`) that ONNX Runtime
rejects. Both take every frame in one call (LTX's decoder is not causal).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import graphs

# The dynamo exporter writes opset 18 at the least.
DYNAMO_OPSET = 18

# --------------------------------------------------------------------------------------------
# text encoder


class _T5Wrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        return self.model(input_ids=input_ids, return_dict=True).last_hidden_state


def export_t5_encoder(model, path: str, max_length: int, opset: int = graphs.DEFAULT_OPSET,
                      tol: float = graphs.DEFAULT_TOL, external_data: bool = False, seed: int = 0,
                      half: bool = False) -> dict:
    """T5 encoder without an attention mask: input_ids [B, L] -> last_hidden_state [B, L, D].
    Batch and length are dynamic; the pad positions are encoded like any token, as LTXPipeline
    does (the transformer masks them).

    `half` (--fp16): the model as transformers loads it with torch_dtype=float16 (its `wo`
    layers kept in float32 by `_keep_in_fp32_modules`, the casts around them in its own
    forward), exactly as wan.export_t5_encoder takes it: the graph then outputs float16 (the
    engine widens it to float32 for the float32 transformer), needs opset 20 (T5 guards float16
    overflow with IsInf) and is checked against the same float16 module under torch with
    graphs.HALF_TOL."""
    tol = graphs.HALF_TOL if half else tol
    wrapper = _T5Wrapper(model).eval()
    vocab = int(model.config.vocab_size)
    rng = np.random.default_rng(seed)

    def ids(batch, length):
        a = rng.integers(3, vocab, size=(batch, length), dtype=np.int64)
        for b in range(batch):
            n = int(rng.integers(1, length + 1)) if b else length
            a[b, n - 1] = 1  # </s>
            a[b, n:] = 0  # <pad>
        return a

    graphs._torch_export(wrapper, (torch.from_numpy(ids(2, max_length)),), path, ["input_ids"], ["last_hidden_state"],
                         {"input_ids": {0: "batch", 1: "sequence"}, "last_hidden_state": {0: "batch", 1: "sequence"}},
                         opset)
    graphs._finalize(path, external_data, {"last_hidden_state": ["batch", "sequence", int(model.config.d_model)]})
    print(f"  text encoder -> {path}")
    counts = graphs._attention(path, "text encoder", require_fused=False)
    sess = graphs._session(path)
    checks = []
    for b, n in ((1, max_length), (3, max_length), (2, max(2, max_length // 2 + 3))):
        a = ids(b, n)
        checks.append(graphs._compare("text_encoder", sess, wrapper, {"input_ids": a}, (torch.from_numpy(a),),
                                      ["last_hidden_state"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "checks": checks}


# --------------------------------------------------------------------------------------------
# transformer


def _rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """diffusers' LTX apply_rotary_emb (pairs (x0, x1) -> (-x1, x0)) with positive axes."""
    pairs = x.unflatten(2, (x.shape[2] // 2, 2))
    rotated = torch.stack([-pairs[:, :, :, 1], pairs[:, :, :, 0]], dim=3).flatten(2, 3)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class _ExportProcessor:
    """LTXVideoAttnProcessor for tracing: q/k RMS norms, rotary embedding, one
    scaled_dot_product_attention. The mask arrives as the [B, 1, L] bias the model builds and is
    broadcast over heads and queries (diffusers repeats it per head; same values)."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query = attn.norm_q(attn.to_q(hidden_states))
        key = attn.norm_k(attn.to_k(context))
        value = attn.to_v(context)
        if image_rotary_emb is not None:
            query = _rotary(query, *image_rotary_emb)
            key = _rotary(key, *image_rotary_emb)
        query, key, value = (t.unflatten(2, (attn.heads, -1)).transpose(1, 2) for t in (query, key, value))
        bias = attention_mask.unsqueeze(1) if attention_mask is not None else None
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias)
        out = out.transpose(1, 2).flatten(2, 3).to(query.dtype)
        return attn.to_out[1](attn.to_out[0](out))


class _TimeProjection(nn.Module):
    """diffusers' Timesteps (sinusoidal embedding of a 1-D timestep) with positive axes; the
    frequencies are computed by the same float32 expression, once."""

    def __init__(self, proj):
        super().__init__()
        half = proj.num_channels // 2
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32)
        exponent = exponent / (half - proj.downscale_freq_shift)
        self.register_buffer("freqs", torch.exp(exponent)[None, :], persistent=False)
        self.scale = proj.scale
        self.flip = proj.flip_sin_to_cos
        if proj.num_channels % 2:
            raise NotImplementedError("odd timestep embedding widths are not exported")

    def forward(self, t):
        emb = self.scale * (t[:, None].float() * self.freqs)
        parts = [torch.cos(emb), torch.sin(emb)] if self.flip else [torch.sin(emb), torch.cos(emb)]
        return torch.cat(parts, dim=1)


def _positions(sample: torch.Tensor, axis: int) -> torch.Tensor:
    """0, 1, ... along latent axis `axis` (0 frames, 1 rows, 2 columns) as float32, computed
    from the tensor so the trace keeps the size dynamic."""
    line = sample[0, 0].movedim(axis, 0).flatten(1)[:, 0]
    return torch.ones_like(line).cumsum(0) - 1


class _TransformerGraph(nn.Module):
    """LTXVideoTransformer3DModel.forward on 5-D latents with per-frame timesteps (see the module
    doc); `exportable()` must be active (it installs the traceable processor and time projection)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, sample, timestep, encoder_hidden_states, encoder_attention_mask, rope_interpolation_scale):
        m = self.model
        b = sample.shape[0]
        ones = torch.ones_like(sample[:, 0])  # [B, F, h, w]
        # rotary coordinates as _prepare_video_coords makes them: grid * scale * patch, then the
        # rope divides by its base sizes (video_coords path: same float32 operations)
        f = _positions(sample, 0)[:, None, None] * ones[0]
        h = _positions(sample, 1)[None, :, None] * ones[0]
        w = _positions(sample, 2)[None, None, :] * ones[0]
        coords = torch.stack([f * rope_interpolation_scale[0] * m.rope.patch_size_t,
                              h * rope_interpolation_scale[1] * m.rope.patch_size,
                              w * rope_interpolation_scale[2] * m.rope.patch_size], dim=0).flatten(1, 3)
        coords = coords[None] * ones.flatten(1, 3)[:, None, :1]  # [B, 3, S]
        # one timestep per token: each frame's h*w tokens get the frame's value
        per_token = (timestep[:, :, None, None] * ones).flatten(1, 3)  # [B, S]
        x = sample.flatten(2, 4).transpose(1, 2)  # _pack_latents with patch 1: (f, h, w) order
        rope = m.rope(x, video_coords=coords)
        bias = ((1 - encoder_attention_mask.to(x.dtype)) * -10000.0).unsqueeze(1)
        hidden = m.proj_in(x)
        dim = m.scale_shift_table.shape[1]
        temb, embedded = m.time_embed(per_token.flatten(0, 1), batch_size=b, hidden_dtype=hidden.dtype)
        temb = temb.unflatten(0, (b, per_token.shape[1]))
        embedded = embedded.unflatten(0, (b, per_token.shape[1]))
        text = m.caption_projection(encoder_hidden_states)
        for block in m.transformer_blocks:
            ada = block.scale_shift_table[None, None] + temb.unflatten(2, (6, dim))
            shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = ada.unbind(dim=2)
            normed = block.norm1(hidden) * (1 + scale_msa) + shift_msa
            hidden = hidden + block.attn1(normed, encoder_hidden_states=None, image_rotary_emb=rope) * gate_msa
            hidden = hidden + block.attn2(hidden, encoder_hidden_states=text, attention_mask=bias)
            normed = block.norm2(hidden) * (1 + scale_mlp) + shift_mlp
            hidden = hidden + block.ff(normed) * gate_mlp
        table = m.scale_shift_table[None, None] + embedded[:, :, None]
        hidden = m.norm_out(hidden) * (1 + table[:, :, 1]) + table[:, :, 0]
        out = m.proj_out(hidden)
        return out.transpose(1, 2).unflatten(2, (sample.shape[2], sample.shape[3], sample.shape[4]))


@contextlib.contextmanager
def exportable(transformer):
    """Installs the traceable attention processor and time projection for the export."""
    processors = transformer.attn_processors
    time_proj = transformer.time_embed.emb.time_proj
    transformer.set_attn_processor(_ExportProcessor())
    transformer.time_embed.emb.time_proj = _TimeProjection(time_proj)
    try:
        yield transformer
    finally:
        transformer.set_attn_processor(processors)
        transformer.time_embed.emb.time_proj = time_proj


def reference_transformer(model, sample, timestep, encoder_hidden_states, encoder_attention_mask, scale):
    """diffusers' forward as LTXImageToVideoPipeline calls it (packed tokens, per-token
    timesteps, Python-int sizes and a tuple of floats for the rope scale), unpacked to 5-D."""
    b, c, f, h, w = sample.shape
    tokens = sample.permute(0, 2, 3, 4, 1).reshape(b, f * h * w, c)
    per_token = timestep[:, :, None].expand(b, f, h * w).reshape(b, f * h * w)
    out = model(hidden_states=tokens, encoder_hidden_states=encoder_hidden_states, timestep=per_token,
                encoder_attention_mask=encoder_attention_mask, num_frames=f, height=h, width=w,
                rope_interpolation_scale=tuple(float(v) for v in scale), return_dict=False)[0]
    return out.reshape(b, f, h, w, -1).permute(0, 4, 1, 2, 3)


class _Reference(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args):
        return reference_transformer(self.model, *args)


TRANSFORMER_INPUTS = ["sample", "timestep", "encoder_hidden_states", "encoder_attention_mask",
                      "rope_interpolation_scale"]


def export_transformer(model, path: str, seq_len: int, rope_scale: tuple, opset: int = graphs.DEFAULT_OPSET,
                       tol: float = graphs.DEFAULT_TOL, external_data: bool = False, seed: int = 0,
                       check_shapes: Iterable[tuple] | None = None) -> dict:
    """The transformer graph (module doc). `rope_scale` is a typical rope_interpolation_scale
    (the checks also use others); `check_shapes` are (batch, frames, h, w, text length)."""
    channels = int(model.config.in_channels)
    text_dim = int(model.config.caption_channels)
    gen = torch.Generator().manual_seed(seed)

    def inputs(b, f, h, w, length, scale):
        sample = torch.randn((b, channels, f, h, w), generator=gen)
        ts = torch.rand((b, f), generator=gen) * 1000
        ts[:, 0] = 0.0  # image to video: the conditioning frame is at t = 0
        ehs = torch.randn((b, length, text_dim), generator=gen)
        mask = torch.zeros((b, length), dtype=torch.int64)
        for i in range(b):
            mask[i, : max(1, length - 3 * i - 1)] = 1
        return sample, ts, ehs, mask, torch.tensor(scale, dtype=torch.float32)

    if check_shapes is None:
        check_shapes = ((1, 3, 2, 3, seq_len), (2, 3, 3, 2, seq_len), (1, 5, 1, 4, max(1, seq_len // 2)),
                        (2, 1, 4, 4, seq_len + 3))
    axes = {0: "batch", 2: "frames", 3: "height", 4: "width"}
    wrapper = _TransformerGraph(model).eval()
    from .wan import rms_norm_symbolic

    with exportable(model), rms_norm_symbolic(opset):
        graphs._torch_export(
            wrapper, inputs(2, 3, 3, 2, seq_len, rope_scale), path, TRANSFORMER_INPUTS, ["out_sample"],
            {"sample": axes, "timestep": {0: "batch", 1: "frames"},
             "encoder_hidden_states": {0: "batch", 1: "sequence"},
             "encoder_attention_mask": {0: "batch", 1: "sequence"}, "out_sample": axes},
            opset,
        )
    out_ch = int(model.config.out_channels or channels)
    graphs._finalize(path, external_data, {"out_sample": ["batch", out_ch, "frames", "height", "width"]})
    print(f"  transformer -> {path}")
    counts = graphs._attention(path, "denoiser", require_fused=True)
    sess = graphs._session(path)
    reference = _Reference(model).eval()
    checks = []
    scales = [rope_scale, (8 / 24, 32.0, 32.0), (1.0, 1.0, 1.0), (0.32, 16.0, 16.0)]
    for i, (b, f, h, w, length) in enumerate(check_shapes):
        args = inputs(b, f, h, w, length, scales[i % len(scales)])
        feeds = {k: v.numpy() for k, v in zip(TRANSFORMER_INPUTS, args)}
        checks.append(graphs._compare("denoiser", sess, reference, feeds, args, ["out_sample"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "exporter": "torchscript (fused attention)", "checks": checks}


# --------------------------------------------------------------------------------------------
# VAE


class _Decoder(nn.Module):
    def __init__(self, vae, conditioned: bool):
        super().__init__()
        self.vae = vae
        self.conditioned = conditioned

    def forward(self, latent_sample, timestep=None):
        # the decoder itself (no tiling or framewise batches: the whole clip in one call)
        return self.vae.decoder(latent_sample, timestep if self.conditioned else None)


class _Encoder(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        # the moments DiagonalGaussianDistribution receives: C means, then C log-variances
        return self.vae.encoder(sample)


def _dynamo_export(module, args: tuple, path: str, input_names, output_names, dynamic_shapes,
                   input_dims: dict) -> None:
    """torch.onnx's dynamo exporter; `input_dims` names the inputs' axes (it writes s53, s30...)."""
    import os
    import warnings

    import onnx

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # above protobuf's 2 GiB the exporter must write the weights beside the graph; _finalize
    # then gathers them into the one sidecar the package uses
    big = sum(p.numel() * p.element_size() for p in module.parameters()) > graphs.EXTERNAL_DATA_BYTES
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=list(input_names), output_names=list(output_names),
                          dynamic_shapes=dynamic_shapes, opset_version=DYNAMO_OPSET, dynamo=True,
                          external_data=big, verbose=False)
    model = onnx.load(path, load_external_data=False)
    # the exporter annotates every node with the Python stack that made it (two thirds of a
    # small graph's bytes); the graph does not need them
    for node in model.graph.node:
        del node.metadata_props[:]
    for value in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        del value.metadata_props[:]
    for value in model.graph.input:
        for d, v in zip(value.type.tensor_type.shape.dim, input_dims.get(value.name, [])):
            d.Clear()
            if isinstance(v, int):
                d.dim_value = v
            else:
                d.dim_param = v
    onnx.save_model(model, path)


def _finalize_dynamo(path: str, external_data: bool, output_dims: dict) -> None:
    """graphs._finalize for dynamo graphs. Those keep small shape constants (Slice starts,
    Reshape targets) as initializers, which ONNX Runtime must read while it loads the graph, so
    with a sidecar the tensors under 1 KiB stay in the graph file."""
    import os

    import onnx

    model = onnx.load(path)
    weights = sum(graphs._tensor_bytes(t) for t in model.graph.initializer)
    directory = os.path.dirname(os.path.abspath(path))
    if not (external_data or weights > graphs.EXTERNAL_DATA_BYTES):
        graphs._shorten_value_names(model)
        graphs._finalize_model(model, path, False, output_dims)
        # The exporter wrote a sidecar when the wrapped module was large (the VAE encoder's
        # wrapper holds the decoder too); the graph now holds its weights inline.
        _remove_stale(directory, {os.path.basename(path)})
        return
    graphs._shorten_value_names(model)
    for out in model.graph.output:
        for d, v in zip(out.type.tensor_type.shape.dim, output_dims.get(out.name, [])):
            d.Clear()
            if isinstance(v, int):
                d.dim_value = v
            else:
                d.dim_param = v
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx_data", size_threshold=1024)
    os.chmod(os.path.join(directory, "model.onnx_data"), 0o644)
    onnx.checker.check_model(path)
    # the exporter's own sidecar is now in model.onnx_data
    _remove_stale(directory, {os.path.basename(path), "model.onnx_data"})


def _remove_stale(directory: str, keep: set) -> None:
    """Deletes what the exporter left beside a graph other than `keep` (its sidecars)."""
    import os

    for stale in set(os.listdir(directory)) - keep:
        if not stale.endswith((".json", ".txt")):
            os.remove(os.path.join(directory, stale))


def export_vae_decoder(vae, path: str, external_data: bool = False, tol: float = graphs.DEFAULT_TOL,
                       seed: int = 0,
                       check_shapes: Iterable[tuple] = ((1, 3, 2, 3), (2, 2, 3, 2), (1, 4, 1, 1))) -> dict:
    """latent_sample [B, C, F, h, w] (+ timestep [B] for timestep-conditioned VAEs) -> sample
    [B, 3, 1 + T (F - 1), S h, S w], the decoder's raw output (about [-1, 1])."""
    from torch.export import Dim

    conditioned = bool(vae.config.timestep_conditioning)
    wrapper = _Decoder(vae, conditioned).eval()
    c = int(vae.config.latent_channels)
    gen = torch.Generator().manual_seed(seed)

    def inputs(b, f, h, w):
        z = torch.randn((b, c, f, h, w), generator=gen)
        return (z, torch.rand((b,), generator=gen) * 0.1) if conditioned else (z,)

    batch, frames, height, width = (Dim("batch", min=1, max=64), Dim("frames", min=1, max=1024),
                                    Dim("height", min=1, max=1024), Dim("width", min=1, max=1024))
    shapes = {"latent_sample": {0: batch, 2: frames, 3: height, 4: width}}
    names = ["latent_sample"]
    if conditioned:
        shapes["timestep"] = {0: batch}
        names.append("timestep")
    _dynamo_export(wrapper, inputs(2, 3, 2, 3), path, names, ["sample"], shapes,
                   {"latent_sample": ["batch", c, "frames", "height", "width"], "timestep": ["batch"]})
    _finalize_dynamo(path, external_data, {"sample": ["batch", 3, "out_frames", "out_height", "out_width"]})
    print(f"  vae decoder -> {path}")
    counts = graphs._attention(path, "vae decoder", require_fused=True)
    sess = graphs._session(path)
    checks = []
    for shape in check_shapes:
        args = inputs(*shape)
        feeds = {k: v.numpy() for k, v in zip(names, args)}
        checks.append(graphs._compare("vae_decoder", sess, wrapper, feeds, args, ["sample"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "exporter": "dynamo", "checks": checks}


def export_vae_encoder(vae, path: str, external_data: bool = False, tol: float = graphs.DEFAULT_TOL,
                       seed: int = 0, check_shapes: Iterable[tuple] | None = None) -> dict:
    """sample [B, 3, F, H, W] in [-1, 1] -> latent_parameters [B, 2C, 1 + (F - 1) / T, H / S, W / S].
    `check_shapes` are (batch, latent frames, latent h, latent w); F = 1 is an image."""
    from torch.export import Dim

    wrapper = _Encoder(vae).eval()
    s, t = int(vae.spatial_compression_ratio), int(vae.temporal_compression_ratio)
    gen = torch.Generator().manual_seed(seed)

    def inputs(b, f, h, w):
        return (torch.rand((b, 3, 1 + t * (f - 1), h * s, w * s), generator=gen) * 2 - 1,)

    # Dim.AUTO lets torch.export find the relations between the axes itself (frames = 1 + T k,
    # sizes multiples of S); named Dims with explicit relations were refused as too general.
    # With 0.9.5's down blocks torch.export did not finish within 10 minutes on a tiny VAE with
    # a dynamic frame axis, so those encoders take one frame (an image: all the engine encodes).
    dynamic_frames = all(kind == "LTXVideoDownBlock3D" for kind in vae.config.down_block_types)
    axes = {0: Dim.AUTO, 2: Dim.AUTO, 3: Dim.AUTO, 4: Dim.AUTO} if dynamic_frames else {0: Dim.AUTO, 3: Dim.AUTO,
                                                                                           4: Dim.AUTO}
    example = inputs(2, 2, 2, 3) if dynamic_frames else inputs(2, 1, 2, 3)
    _dynamo_export(wrapper, example, path, ["sample"], ["latent_parameters"], {"sample": axes},
                   {"sample": ["batch", 3, "frames" if dynamic_frames else 1, "height", "width"]})
    _finalize_dynamo(path, external_data, {"latent_parameters": ["batch", 2 * int(vae.config.latent_channels),
                                                                 "latent_frames", "latent_height", "latent_width"]})
    print(f"  vae encoder -> {path}")
    counts = graphs._attention(path, "vae encoder", require_fused=True)
    sess = graphs._session(path)
    checks = []
    if check_shapes is None:
        check_shapes = ((1, 1, 2, 3), (2, 1, 3, 2), (1, 3, 2, 2)) if dynamic_frames else ((1, 1, 2, 3), (2, 1, 3, 2),
                                                                                           (1, 1, 1, 1))
    for shape in check_shapes:
        args = inputs(*shape)
        checks.append(graphs._compare("vae_encoder", sess, wrapper, {"sample": args[0].numpy()}, args,
                                      ["latent_parameters"], tol))
    return {"path": path, "bytes": graphs._size(path), **graphs._io_signature(path), "attention": counts,
            "exporter": "dynamo", "checks": checks}
