"""Wan's causal video VAE as step graphs: one chunk of frames per call, the causal caches as explicit
inputs and outputs, so the engine's memory is one chunk's whatever the clip length.

Why. diffusers' `AutoencoderKLWan.decode` runs the decoder once per latent frame in a Python loop;
every causal 3-D convolution keeps the last two frames it saw (`feat_cache`) and prepends them
to the next chunk. Traced as one graph that loop is frozen at the traced frame count, and a
single-pass rewrite holds every frame's activations at once (about 12 GB for 81 frames at
480x832). So we export the loop's *body* and let the engine run the loop.

The state. Each cached convolution's cache is a tensor [B, C, 2, h, w]: the last two frames of
its input, zeros before the clip starts. That uniform form is exact: diffusers' first chunk pads
with zeros where it has no cache, its one-frame caches are "zeros, then that frame" in our form,
and the "Rep" marker of a temporal upsampler (skip the time convolution on the first chunk)
means a zero cache for the next chunk.

The first chunk is different (temporal upsamplers pass it through instead of doubling it; Wan
2.2's shortcut trims it), so two variants are traced from the same module, `first` (no cache
inputs) and `step`, and joined into one graph with an ONNX `If` that takes the `first` branch
when the caches are empty (zero frames). One graph, one copy of the weights, one session:

    decoder:  latent_sample [B, z, 1, h, w], cache_in_0..N-1 -> sample [B, 3, T, H, W],
              cache_out_0..N-1            (T = 1 for the first latent frame, then the VAE's
                                           temporal factor, 4 for Wan)
    encoder:  sample [B, 3, T, H, W], cache_in_* -> latent_parameters [B, 2z, 1, h, w], cache_out_*
              (T = 1 for the first frame, then 4 frames per call)

The engine feeds caches of shape [B, C, 0, 1, 1] on the first call and each call's outputs to
the next (docs/model-package.md, "stateful VAE graphs"). The decoder output is clamped to
[-1, 1] as diffusers' `_decode` does; the encoder output has `quant_conv` applied (the Gaussian's
mean and log-variance, as `encode` returns them).
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import onnx
import torch
from onnx import helper
from torch import nn

CACHE_FRAMES = 2
# ONNX names of the step graphs' state
CACHE_IN = "cache_in_{}"
CACHE_OUT = "cache_out_{}"


def _two_frames(c: torch.Tensor) -> torch.Tensor:
    """A cache as [B, C, 2, h, w]: missing leading frames are the zeros before the clip."""
    t = c.shape[2]
    if t >= CACHE_FRAMES:
        return c[:, :, -CACHE_FRAMES:]
    return torch.cat([torch.zeros_like(c[:, :, :1])] * (CACHE_FRAMES - t) + [c], dim=2)


@contextlib.contextmanager
def _record_upsampler_inputs(decoder: nn.Module, seen: dict):
    """Records the input of each temporal upsampler by its cache slot: on the first chunk it
    marks its slot "Rep" and the zero cache we write instead needs that input's shape."""
    handles = []

    def hook(_module, args, kwargs):
        idx = kwargs.get("feat_idx")
        if idx is not None:
            seen[idx[0]] = args[0]

    for m in decoder.modules():
        if getattr(m, "mode", None) == "upsample3d" and hasattr(m, "time_conv"):
            handles.append(m.register_forward_pre_hook(hook, with_kwargs=True))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def nearest_for_integer_scales(module: nn.Module):
    """Wan's upsamplers use 'nearest-exact', which the TorchScript exporter cannot write. For an
    integer scale factor it picks the same source pixel as plain 'nearest' (output i reads
    floor((i + 0.5) / s) = floor(i / s)), so the export uses 'nearest' for those."""
    changed = []
    for m in module.modules():
        if isinstance(m, nn.Upsample) and m.mode == "nearest-exact":
            factors = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,)
            if all(float(f).is_integer() for f in factors):
                changed.append(m)
                m.mode = "nearest"
    try:
        yield
    finally:
        for m in changed:
            m.mode = "nearest-exact"


class _Chunk(nn.Module):
    """One call of diffusers' decode or encode loop body, state in and out."""

    def __init__(self, vae, part: str, first: bool, slots: list[int] | None):
        super().__init__()
        self.vae = vae
        self.part = part
        self.first = first
        self.slots = slots  # the cache slots in use (None while they are being found)
        self.n = vae._cached_conv_counts[part]

    def forward(self, x, *caches):
        from diffusers.models.autoencoders.autoencoder_kl_wan import patchify, unpatchify

        vae = self.vae
        feat = [None] * self.n
        if not self.first:
            for slot, c in zip(self.slots, caches):
                feat[slot] = c
        reps: dict[int, torch.Tensor] = {}
        p = vae.config.patch_size
        if self.part == "decoder":
            h = vae.post_quant_conv(x)
            with _record_upsampler_inputs(vae.decoder, reps):
                out = vae.decoder(h, feat_cache=feat, feat_idx=[0], first_chunk=self.first)
            if p is not None:
                out = unpatchify(out, patch_size=p)
            out = torch.clamp(out, min=-1.0, max=1.0)
        else:
            if p is not None:
                x = patchify(x, patch_size=p)
            out = vae.quant_conv(vae.encoder(x, feat_cache=feat, feat_idx=[0]))
        state = []
        for slot, c in enumerate(feat):
            if isinstance(c, str):  # "Rep": this upsampler's time conv starts from zeros
                c = torch.zeros_like(reps[slot])
            state.append((slot, c))
        if self.slots is None:
            self.slots = [s for s, c in state if c is not None]
        by_slot = dict(state)
        return (out, *[_two_frames(by_slot[s]) for s in self.slots])


def image_channels(vae) -> int:
    """Colour channels of the pictures (Wan 2.2's VAE counts the 2x2 patch in `in_channels`)."""
    p = vae.config.patch_size or 1
    return int(vae.config.in_channels) // (p * p)


def _frames_per_step(vae, part: str) -> tuple[int, int]:
    """(frames in the first call, frames in later calls) at the chunk's input."""
    if part == "decoder":
        return 1, 1
    return 1, int(vae.config.scale_factor_temporal or 4)


def _export(module, args, path, input_names, output_names, dynamic_axes, opset):
    from .graphs import _torch_export

    _torch_export(module, args, path, input_names, output_names, dynamic_axes, opset)
    return onnx.load(path)


def _all_nodes(graph: onnx.GraphProto):
    """The graph's nodes and those of its subgraphs (a traced `squeeze` of a dynamic axis is an
    If), depth first."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _all_nodes(attr.g)


def _rename_subgraph(model: onnx.ModelProto, prefix: str, outer: set[str]) -> tuple[list, list]:
    """The model's nodes with every value it creates prefixed (ONNX forbids a subgraph to
    shadow a name of the enclosing graph); names in `outer` (graph inputs, shared initializers)
    stay as they are. Returns (nodes, output names)."""
    names = {}
    for node in _all_nodes(model.graph):
        for o in node.output:
            if o and o not in outer:
                names[o] = prefix + o
        node.name = prefix + node.name if node.name else node.name
        node.doc_string = ""

    def rename(graph):
        for node in graph.node:
            node.input[:] = [names.get(i, i) for i in node.input]
            node.output[:] = [names.get(o, o) for o in node.output]
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    for o in attr.g.output:
                        o.name = names.get(o.name, o.name)
                    rename(attr.g)

    rename(model.graph)
    return list(model.graph.node), [names.get(o.name, o.name) for o in model.graph.output]


def _merge(first: onnx.ModelProto, step: onnx.ModelProto, x_name: str) -> onnx.ModelProto:
    """One graph: If(cache_in_0 has zero frames) then `first` else `step`."""
    inits: dict[str, onnx.TensorProto] = {}
    for t in step.graph.initializer:
        inits[t.name] = t
    renames = {}
    for t in first.graph.initializer:
        other = inits.get(t.name)
        if other is None:
            inits[t.name] = t
        elif other.SerializeToString() != t.SerializeToString():
            # a folded constant of the same generated name but other content
            new = onnx.TensorProto()
            new.CopyFrom(t)
            new.name = "first/" + t.name
            inits[new.name] = new
            renames[t.name] = new.name
    for node in first.graph.node:
        node.input[:] = [renames.get(i, i) for i in node.input]
    outer = set(inits) | {i.name for i in step.graph.input}
    f_nodes, f_outs = _rename_subgraph(first, "first/", outer)
    s_nodes, s_outs = _rename_subgraph(step, "step/", outer)

    def branch(name, nodes, outs, like):
        outputs = [helper.make_tensor_value_info(o, v.type.tensor_type.elem_type, None) for o, v in zip(outs, like)]
        return helper.make_graph(nodes, name, [], outputs)

    final = [o.name for o in step.graph.output]
    then_g = branch("first_chunk", f_nodes, f_outs, step.graph.output)
    else_g = branch("next_chunk", s_nodes, s_outs, step.graph.output)
    cond_nodes = [
        helper.make_node("Shape", [CACHE_IN.format(0)], ["state/shape"], name="state/Shape"),
        helper.make_node("Gather", ["state/shape", "state/time_axis"], ["state/frames"], name="state/Gather", axis=0),
        helper.make_node("Equal", ["state/frames", "state/zero"], ["state/is_first"], name="state/Equal"),
        helper.make_node("If", ["state/is_first"], final, name="chunk", then_branch=then_g, else_branch=else_g),
    ]
    consts = [
        helper.make_tensor("state/time_axis", onnx.TensorProto.INT64, [], [2]),
        helper.make_tensor("state/zero", onnx.TensorProto.INT64, [], [0]),
    ]
    graph = helper.make_graph(
        cond_nodes,
        "causal_vae_step",
        list(step.graph.input),
        list(step.graph.output),
        initializer=list(inits.values()) + consts,
    )
    opsets = {}
    for m in (first, step):
        for o in m.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    model.ir_version = step.ir_version
    # the cache inputs: every axis named apart, so an empty first-call cache [B, C, 0, 1, 1]
    # matches whatever the real caches' sizes are
    for i, inp in enumerate(model.graph.input):
        if inp.name == x_name:
            continue
        dims = inp.type.tensor_type.shape.dim
        for axis, d in enumerate(dims):
            if axis != 1:
                d.Clear()
                d.dim_param = f"{inp.name}_{'bxthw'[axis]}"
    for out in model.graph.output:
        if out.name.startswith("cache_out_"):
            for axis, d in enumerate(out.type.tensor_type.shape.dim):
                if axis != 1:
                    d.Clear()
                    d.dim_param = f"{out.name}_{'bxthw'[axis]}"
    return model


def export_step_graph(vae, part: str, path: str, opset: int, external_data: bool = False,
                      example_hw: tuple[int, int] = (3, 5)) -> dict:
    """Exports the decoder (part="decoder") or encoder (part="encoder") of an AutoencoderKLWan as
    one stateful step graph at `path`; returns {'inputs', 'outputs', 'caches'}."""
    from .graphs import _finalize_model

    vae = vae.eval()
    z = int(vae.config.z_dim)
    s = int(vae.config.scale_factor_spatial or 8)
    h, w = example_hw
    gen = torch.Generator().manual_seed(0)
    n_first, n_next = _frames_per_step(vae, part)
    if part == "decoder":
        def example(frames):
            return torch.randn((1, z, frames, h, w), generator=gen)
        x_name, out_name = "latent_sample", "sample"
        x_axes = {0: "batch", 3: "height", 4: "width"}
        out_axes = {0: "batch", 2: "frames", 3: "out_height", 4: "out_width"}
    else:
        def example(frames):
            return torch.rand((1, image_channels(vae), frames, h * s, w * s), generator=gen) * 2 - 1
        x_name, out_name = "sample", "latent_parameters"
        x_axes = {0: "batch", 2: "frames", 3: "height", 4: "width"}
        out_axes = {0: "batch", 3: "latent_height", 4: "latent_width"}

    first = _Chunk(vae, part, first=True, slots=None)
    x0 = example(n_first)
    with torch.no_grad():
        first_out = first(x0)
    slots = first.slots
    caches = [c.detach() for c in first_out[1:]]
    step = _Chunk(vae, part, first=False, slots=slots)
    cache_in = [CACHE_IN.format(i) for i in range(len(slots))]
    cache_out = [CACHE_OUT.format(i) for i in range(len(slots))]
    cache_axes = {name: {0: "batch", 3: f"{name}_h", 4: f"{name}_w"} for name in cache_in + cache_out}

    tmp_first, tmp_step = path + ".first.onnx", path + ".step.onnx"
    try:
        with nearest_for_integer_scales(vae):
            m_first = _export(first, (x0,), tmp_first, [x_name], [out_name] + cache_out,
                              {x_name: x_axes, out_name: out_axes, **{c: cache_axes[c] for c in cache_out}}, opset)
            m_step = _export(step, (example(n_next), *caches), tmp_step, [x_name] + cache_in,
                             [out_name] + cache_out, {x_name: x_axes, out_name: out_axes, **cache_axes}, opset)
    finally:
        for p in (tmp_first, tmp_step):
            if os.path.exists(p):
                os.remove(p)
    merged = _merge(m_first, m_step, x_name)
    _finalize_model(merged, path, external_data)
    return {"caches": len(slots), "first_frames": n_first, "frames_per_step": n_next}


# --------------------------------------------------------------------------------------------
# running a step graph the way the engine does (for the checks)


def run_chunks(sess, part: str, x: np.ndarray, first_frames: int, frames_per_step: int) -> np.ndarray:
    """Drives the step graph over a whole clip `x` ([B, C, T, h, w]) and joins the outputs on
    the time axis, as the engine does."""
    names = [i.name for i in sess.get_inputs()]
    x_name = names[0]
    outs = [o.name for o in sess.get_outputs()]
    cache_names = [n for n in names if n.startswith("cache_in_")]
    state = {}
    for n in cache_names:
        inp = next(i for i in sess.get_inputs() if i.name == n)
        state[n] = np.zeros((x.shape[0], int(inp.shape[1]), 0, 1, 1), dtype=np.float32)
    pieces = []
    t0, total = 0, x.shape[2]
    while t0 < total:
        n = first_frames if t0 == 0 else frames_per_step
        got = sess.run(outs, {x_name: x[:, :, t0:t0 + n], **state})
        pieces.append(got[0])
        state = {f"cache_in_{i}": v for i, v in enumerate(got[1:])}
        t0 += n
    return np.concatenate(pieces, axis=2)
