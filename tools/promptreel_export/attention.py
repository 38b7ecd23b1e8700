"""Fused attention: every `scaled_dot_product_attention` exported as ONNX Runtime's
`com.microsoft` MultiHeadAttention.

Why. torch's own ONNX lowering of `F.scaled_dot_product_attention` is MatMul -> Softmax -> MatMul,
which holds a queries x keys score matrix per head (and a second one for the softmax output): at
32k video tokens that is 4 GiB per head, so real video models cannot run at all. ONNX Runtime's
MultiHeadAttention runs a flash-attention kernel on CPU (and flash / memory-efficient kernels on
CUDA) whose memory is linear in tokens. The choice between the ways to get there is written down
in docs/fused-attention.md.

How. While `symbolic()` is active (a context manager around `torch.onnx.export`, legacy
TorchScript exporter), `aten::scaled_dot_product_attention` lowers to

    q, k, v [B, H, S, D]  --Transpose(0,2,1,3)-->  [B, S, H, D]  --Reshape-->  [B, S, H*D]
    MultiHeadAttention(q, k, v, attention_bias?; num_heads=H, scale)  ->  [B, S, H*Dv]
    --Reshape--> [B, S, H, Dv] --Transpose(0,2,1,3)--> [B, H, S, Dv]

The exporter's peephole pass cancels most of these transposes against the model's own.

H and D come from the traced example (the TorchScript node's concrete sizes): in diffusers'
processors and our own models the heads and head width are configuration constants, while the
batch and sequence axes stay dynamic. The ONNX-side types are useless here: with dynamic axes
they are all unknown.

Masks keep their meaning:
  * a float `attn_mask` is added to the scores: MultiHeadAttention's `attention_bias` input,
    broadcast to [B or 1, H or 1, S, T] as the operator requires (torch broadcasts any way);
  * a boolean `attn_mask` (True = attend) becomes a 0 / lowest-float bias; a float mask's -inf
    is clamped to the lowest float; a query whose keys are all masked gets zeros, as in torch
    (the operator alone would average the values, or give NaN);
  * `is_causal` becomes an explicit lower-triangular bias aligned top-left, as torch defines it
    (ONNX Runtime's `unidirectional` attribute aligns for key caches, bottom-right).
On CPU, ONNX Runtime runs attention with a bias unfused: the S x T scores are held. That is
linear in tokens when the keys are text (T fixed), which is where video models use masks.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch.onnx import symbolic_helper

# The operator set our graphs import for the contrib operators.
MS_DOMAIN = "com.microsoft"
MS_OPSET = 1
OP = "MultiHeadAttention"
_ATEN = "aten::scaled_dot_product_attention"
# ONNX TensorProto data types used below
_FLOAT, _FLOAT16, _BOOL, _INT32 = 1, 10, 9, 6


class UnsupportedAttention(NotImplementedError):
    """An attention call the lowering cannot express exactly (the export stops, nothing is written)."""


def _traced_sizes(g, index: int, what: str, value) -> list[int | None]:
    """Sizes of the node's `index`-th input (None where dynamic): the traced TorchScript type's,
    completed from the ONNX-side type where the traced one lacks a size."""
    traced = g.original_node.inputsAt(index).type().varyingSizes()
    onnx_side = symbolic_helper._get_tensor_sizes(value)
    if traced is None and onnx_side is None:
        raise UnsupportedAttention(f"scaled_dot_product_attention: the {what}'s rank is unknown")
    if traced is None or (onnx_side is not None and len(onnx_side) != len(traced)):
        traced = onnx_side
    elif onnx_side is not None:
        traced = [t if t is not None else o for t, o in zip(traced, onnx_side)]
    return [None if s is None else int(s) for s in traced]


def _const(g, values, dtype=torch.int64):
    return g.op("Constant", value_t=torch.tensor(values, dtype=dtype))


def _to_bsd(g, x):
    """[B, H, S, D] -> [B, S, H*D]"""
    x = g.op("Transpose", x, perm_i=[0, 2, 1, 3])
    # [0, 0, -1], not [0, 0, heads * dim]: torch's shape inference asserts on zeros without a -1
    return g.op("Reshape", x, _const(g, [0, 0, -1]))


def _lowest(float_type: int) -> float:
    """The most negative finite value of the graph's float type: a masked score that stays finite
    (float32's lowest would become -inf in float16)."""
    return float(torch.finfo(torch.float16 if float_type == _FLOAT16 else torch.float32).min)


def _reduce_max_last(g, x):
    """ReduceMax over the last axis, kept: axes moved from attribute to input in opset 18."""
    if g.opset >= 18:
        return g.op("ReduceMax", x, _const(g, [-1]), keepdims_i=1)
    return g.op("ReduceMax", x, axes_i=[-1], keepdims_i=1)


def _bias(g, query, key, attn_mask, is_causal: bool, float_type: int):
    """(bias, kept) for `attn_mask` / `is_causal`, or (None, None).

    bias: the additive attention bias [B or 1, H or 1, S, T] MultiHeadAttention takes.
    kept: with a mask, 1.0 for queries that keep at least one key and 0.0 for those whose keys are
    all masked, [B or 1, H or 1, S or 1, 1]. torch returns zeros for such a query; the operator
    would average the values (every score equally low) or give NaN (scores of -inf), so the
    output is multiplied by it.
    """
    bias, kept = None, None
    lowest = g.op("Constant", value_t=torch.tensor(_lowest(float_type)))
    if attn_mask is not None and not symbolic_helper._is_none(attn_mask):
        rank = len(_traced_sizes(g, 3, "mask", attn_mask))
        if rank > 4:
            raise UnsupportedAttention(f"scaled_dot_product_attention: a mask of rank {rank} (expected at most 4)")
        scalar = g.original_node.inputsAt(3).type().scalarType()
        if scalar == "Bool":
            keep = attn_mask
            zero = g.op("Constant", value_t=torch.tensor(0.0))
            attn_mask = g.op("Where", attn_mask, zero, lowest)
        else:
            # -inf marks a masked key; clamp it so a fully masked row gives no NaN
            keep = g.op("Not", g.op("IsInf", attn_mask, detect_positive_i=0, detect_negative_i=1))
            attn_mask = g.op("Max", g.op("Cast", attn_mask, to_i=_FLOAT), g.op("Cast", lowest, to_i=_FLOAT))
        kept = _reduce_max_last(g, g.op("Cast", keep, to_i=float_type))
        if rank < 4:
            attn_mask = g.op("Unsqueeze", attn_mask, _const(g, list(range(4 - rank))))
            kept = g.op("Unsqueeze", kept, _const(g, list(range(4 - rank))))
        bias = g.op("Cast", attn_mask, to_i=float_type)
    if is_causal:
        # ones [S, T] -> lower triangle (kept) -> 0 where kept, lowest where not; aligned
        # top-left, so every query keeps key 0
        s = g.op("Slice", g.op("Shape", query), _const(g, [2]), _const(g, [3]))
        t = g.op("Slice", g.op("Shape", key), _const(g, [2]), _const(g, [3]))
        ones = g.op("Expand", g.op("Constant", value_t=torch.tensor(True)), g.op("Concat", s, t, axis_i=0))
        keep = g.op("Cast", g.op("Trilu", g.op("Cast", ones, to_i=_INT32), upper_i=0), to_i=_BOOL)
        zero = g.op("Constant", value_t=torch.tensor(0.0))
        causal = g.op("Cast", g.op("Where", keep, zero, lowest), to_i=float_type)
        causal = g.op("Unsqueeze", causal, _const(g, [0, 1]))
        bias = causal if bias is None else g.op("Add", bias, causal)
    if bias is None:
        return None, None
    # MultiHeadAttention wants the query and key axes in full; the batch and head axes may be 1.
    lead = g.op("Slice", g.op("Shape", bias), _const(g, [0]), _const(g, [2]))
    s = g.op("Slice", g.op("Shape", query), _const(g, [2]), _const(g, [3]))
    t = g.op("Slice", g.op("Shape", key), _const(g, [2]), _const(g, [3]))
    return g.op("Expand", bias, g.op("Concat", lead, s, t, axis_i=0)), kept


@symbolic_helper.parse_args("v", "v", "v", "v", "f", "b", "v", "b")
def _sdpa(g, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if dropout_p != 0.0:
        raise UnsupportedAttention("scaled_dot_product_attention with dropout: export the model in eval mode")
    if enable_gqa:
        raise UnsupportedAttention("scaled_dot_product_attention with enable_gqa (grouped-query attention)")
    q_sizes = _traced_sizes(g, 0, "query", query)
    k_sizes = _traced_sizes(g, 1, "key", key)
    v_sizes = _traced_sizes(g, 2, "value", value)
    if not len(q_sizes) == len(k_sizes) == len(v_sizes) == 4:
        raise UnsupportedAttention(
            f"scaled_dot_product_attention on rank {len(q_sizes)} tensors (expected [batch, heads, tokens, width])")
    heads, dim, v_dim = q_sizes[1], q_sizes[3], v_sizes[3]
    if heads is None or dim is None:
        raise UnsupportedAttention(
            f"scaled_dot_product_attention: query {q_sizes}: the heads and head width must be fixed, not dynamic axes")
    if k_sizes[1] != heads or v_sizes[1] != heads or k_sizes[3] != dim:
        raise UnsupportedAttention(
            f"scaled_dot_product_attention: query {q_sizes}, key {k_sizes}, value {v_sizes} differ in heads or width")
    if symbolic_helper._is_none(scale):
        scale_value = 1.0 / math.sqrt(dim)
    else:
        scale_value = symbolic_helper._maybe_get_const(scale, "f")
        if not isinstance(scale_value, float):
            raise UnsupportedAttention("scaled_dot_product_attention: the scale must be a constant")
        if scale_value == 0.0:
            # the operator reads 0 as "use the default 1/sqrt(width)"; torch as uniform weights
            raise UnsupportedAttention("scaled_dot_product_attention with scale=0")
    scalar = g.original_node.inputsAt(0).type().scalarType()
    float_type = _FLOAT16 if scalar == "Half" else _FLOAT
    bias, kept = _bias(g, query, key, attn_mask, is_causal, float_type)
    inputs = [_to_bsd(g, query), _to_bsd(g, key), _to_bsd(g, value)]
    if bias is not None:
        # inputs 3 and 4 (projection bias, key padding mask) left out: empty names
        inputs += [symbolic_helper._optional_input_placeholder_tensor(g) for _ in range(2)] + [bias]
    out = g.op(f"{MS_DOMAIN}::{OP}", *inputs, num_heads_i=heads, scale_f=scale_value)
    out = g.op("Reshape", out, _const(g, [0, 0, heads, -1]))
    out = g.op("Transpose", out, perm_i=[0, 2, 1, 3])
    return out if kept is None else g.op("Mul", out, kept)


@contextlib.contextmanager
def symbolic(opset: int):
    """Export every scaled_dot_product_attention inside as MultiHeadAttention (see the module doc).

    Pass `custom_opsets=CUSTOM_OPSETS` to torch.onnx.export so the graph imports the domain.
    """
    torch.onnx.register_custom_op_symbolic(_ATEN, _sdpa, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic(_ATEN, opset)


CUSTOM_OPSETS = {MS_DOMAIN: MS_OPSET}


def _nodes(graph):
    """The graph's nodes and its subgraphs' (If branches of the stateful VAE graphs)."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.g is not None and attr.g.node:
                yield from _nodes(attr.g)


def count(model) -> dict:
    """How the graph computes attention: fused operators and leftover Softmax nodes, subgraphs
    included (a stateful VAE graph holds its network twice, once per If branch)."""
    nodes = list(_nodes(model.graph))
    fused = sum(1 for n in nodes if n.op_type == OP and n.domain == MS_DOMAIN)
    softmax = sum(1 for n in nodes if n.op_type == "Softmax")
    return {"fused": fused, "softmax": softmax}
