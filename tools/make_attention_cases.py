#!/usr/bin/env python3
"""Build the fused-attention test cases: one tiny graph per way a model can call attention.

    /opt/ptools/bin/python tools/make_attention_cases.py      (a few seconds; needs no network)

Our exporter writes every `F.scaled_dot_product_attention` as ONNX Runtime's MultiHeadAttention
(tools/promptreel_export/attention.py), translating masks, causality and scale. The model
fixtures exercise only some of those paths (no masks in the UNets; a causal mask in CLIP). Each
case here is a module around one attention call, exported through the same code, with inputs and
torch's output saved next to it:

    onnx/tests/data/attention/<case>/model.onnx      inputs q, k, v, m (float32) -> out
    onnx/tests/data/attention/<case>/{q,k,v,m,out}.npy

The graphs are traced at one shape and the references taken at another (batch, queries and keys
differ), so the dynamic axes are exercised too. `onnx/tests/attention.rs` runs every case through
the engine's ONNX Runtime and compares with torch. Bool masks are made inside the graph from `m`
(the engine feeds float tensors); `m` is all ones where a case needs no mask input.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from promptreel_export import attention, graphs  # noqa: E402

OUT = os.path.join(os.path.dirname(HERE), "onnx", "tests", "data", "attention")
HEADS, DIM = 3, 8
TOL = 1e-5


class Case(torch.nn.Module):
    def __init__(self, mask: str = "none", causal: bool = False, scale: float | None = None):
        super().__init__()
        self.mask, self.causal, self.scale = mask, causal, scale

    def forward(self, q, k, v, m):
        kw = {"is_causal": self.causal, "scale": self.scale}
        if self.mask == "float":  # additive, as given: [S, T] or any broadcastable shape
            kw["attn_mask"] = m
        elif self.mask == "keys":  # LTX-style text mask: [B, T] keep flags -> additive [B, 1, 1, T]
            kw["attn_mask"] = ((1.0 - m) * -10000.0)[:, None, None, :]
        elif self.mask == "bool":  # True = attend, same rank as m
            kw["attn_mask"] = m > 0.5
        out = F.scaled_dot_product_attention(q, k, v, **kw)
        return out * 1.0  # a node after the attention, like every model has


# name: (module, (B, S, T, Dv) traced, (B, S, T, Dv) reference, mask shape builder)
CASES = {
    "self": (Case(), (2, 5, 5, DIM), (3, 9, 9, DIM), None),
    "cross": (Case(), (2, 5, 7, DIM), (3, 11, 4, DIM), None),
    "scale": (Case(scale=0.3), (2, 5, 7, DIM), (1, 6, 9, DIM), None),
    "value_width": (Case(), (2, 5, 7, 5), (3, 4, 6, 5), None),
    "float_mask_2d": (Case("float"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (s, t)),
    "float_mask_4d": (Case("float"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (b, HEADS, s, t)),
    "key_mask": (Case("keys"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (b, t)),
    "bool_mask_4d": (Case("bool"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (b, 1, s, t)),
    "bool_mask_3d": (Case("bool"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (1, s, t)),
    # a query whose keys are all masked: torch gives zeros
    "bool_mask_empty_row": (Case("bool"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (b, 1, s, t)),
    "float_mask_inf_row": (Case("float"), (2, 5, 7, DIM), (3, 6, 9, DIM), lambda b, s, t: (b, 1, s, t)),
    "causal": (Case(causal=True), (2, 5, 5, DIM), (3, 8, 8, DIM), None),
    "causal_wide": (Case(causal=True), (2, 5, 7, DIM), (3, 4, 9, DIM), None),
    "causal_tall": (Case(causal=True), (2, 7, 5, DIM), (3, 9, 4, DIM), None),
}


def inputs(shape, mask_shape, gen, bool_mask: bool, empty_row: str | None = None):
    b, s, t, dv = shape
    q = torch.randn(b, HEADS, s, DIM, generator=gen)
    k = torch.randn(b, HEADS, t, DIM, generator=gen)
    v = torch.randn(b, HEADS, t, dv, generator=gen)
    if mask_shape is None:
        m = torch.ones(1)
    elif bool_mask or len(mask_shape) == 2 and mask_shape[0] == b:
        m = (torch.rand(*mask_shape, generator=gen) > 0.4).float()
        m[..., 0] = 1.0  # every query keeps a key (the *_empty_row cases mask all of one)
    else:
        m = torch.randn(*mask_shape, generator=gen)
    if empty_row == "bool":  # masked keys in every row, every key of query 1
        m[..., 1, :] = 0.0
    elif empty_row == "float":  # -inf marks masked keys: some, and all of query 1
        m[..., 0, 2] = float("-inf")
        m[..., 1, :] = float("-inf")
    return q, k, v, m


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    gen = torch.Generator().manual_seed(7)
    for name, (module, traced, ref, mask_shape) in CASES.items():
        d = os.path.join(OUT, name)
        os.makedirs(d)
        path = os.path.join(d, "model.onnx")
        bool_mask = module.mask in ("bool", "keys")

        def shape_of(s):
            return None if mask_shape is None else mask_shape(s[0], s[1], s[2])

        empty_row = {"bool_mask_empty_row": "bool", "float_mask_inf_row": "float"}.get(name)
        args = inputs(traced, shape_of(traced), gen, bool_mask, empty_row)
        axes = {"q": {0: "batch", 2: "queries"}, "k": {0: "batch", 2: "keys"}, "v": {0: "batch", 2: "keys"},
                "out": {0: "batch", 2: "queries"}}
        if mask_shape is not None:
            dims = shape_of((90, 91, 92))  # which of the mask's axes are batch / queries / keys
            axes["m"] = {i: {90: "batch", 91: "queries", 92: "keys"}[n] for i, n in enumerate(dims) if n >= 90}
        graphs.export_module(module.eval(), args, path, ["q", "k", "v", "m"], ["out"], axes)
        counts = attention.count(__import__("onnx").load(path))
        if counts != {"fused": 1, "softmax": 0}:
            raise AssertionError(f"{name}: {counts}")
        q, k, v, m = inputs(ref, shape_of(ref), gen, bool_mask, empty_row)
        with torch.no_grad():
            expected = module(q, k, v, m).numpy()
        feeds = {"q": q.numpy(), "k": k.numpy(), "v": v.numpy(), "m": m.numpy()}
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}  # unused inputs are dropped
        got = sess.run(["out"], feeds)[0]
        diff = float(np.max(np.abs(got - expected)))  # NaN stays NaN and fails below
        print(f"  {name:14s} reference {list(q.shape)} x {list(k.shape)}: max|onnx-torch| = {diff:.2e}")
        if not diff < TOL:
            raise AssertionError(f"{name}: ONNX Runtime differs from torch by {diff}")
        for key, value in {**feeds, "out": expected}.items():
            np.save(os.path.join(d, f"{key}.npy"), np.ascontiguousarray(value, dtype=np.float32))
    print(f"{len(CASES)} cases in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
