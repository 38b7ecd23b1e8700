#!/usr/bin/env python3
"""Rebuild the default model's diffusers pipeline folder from the shipped package's ONNX graphs.

    /opt/ptools/bin/python -m default_model.from_package     (from tools/)
        [--package ../bundle/models/default] [--work ../target/default-model]

Why: the trained torch weights live only in the training run's work folder (about two hours of
training on two cores to remake), but every weight is also inside the exported graphs. When the
exporter changes (fused attention, say), this recovers the exact weights so the same model can be
re-exported without training it again:

    python -m default_model.from_package
    python export.py ../target/default-model/pipeline ../bundle/models/default \\
        --name "Promptreel Shapes" --force

How: the legacy exporter keeps a parameter's name as its initializer's name, except where constant
folding rewrote it: a Linear's weight becomes the transposed operand of the MatMul named after the
module (`/unet/blocks.0/attn/q/MatMul`), a GroupNorm's affine pair becomes the operands of its
`Mul` / `Add`. Every parameter must be found, and every rebuilt module must reproduce its graph's
outputs (ONNX Runtime against torch, within 1e-5) before the folder is written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

from default_model import train as T  # noqa: E402

TOL = 1e-5


class RecoveryError(RuntimeError):
    pass


def _param_values(path: str, prefix: str) -> dict[str, np.ndarray]:
    """Parameter name -> value, for the parameters graph `path` holds (`prefix` is the wrapper's)."""
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    values: dict[str, np.ndarray] = {}
    for name, value in inits.items():
        if name.startswith(prefix):
            values[name[len(prefix):]] = value
    for node in model.graph.node:
        parts = node.name.strip("/").split("/")
        if len(parts) < 2:
            continue
        scope = parts[:-1]
        if scope and scope[0] + "." == prefix:
            scope = scope[1:]
        # a Sequential's children are scoped `mlp/mlp.0`: the child's name already has the parent's
        path: list[str] = []
        for part in scope:
            if path and part.startswith(path[-1] + "."):
                path[-1] = part
            else:
                path.append(part)
        module = ".".join(path)
        folded = [i for i in node.input if i in inits and not i.startswith(prefix)]
        if not folded:
            continue
        if node.op_type == "MatMul":
            values.setdefault(module + ".weight", inits[folded[0]].T)
        elif node.op_type == "Mul" and module.split(".")[-1].startswith(("norm", "group_norm", "conv_norm")):
            values.setdefault(module + ".weight", inits[folded[0]].reshape(-1))
        elif node.op_type == "Add" and module.split(".")[-1].startswith(("norm", "group_norm", "conv_norm")):
            values.setdefault(module + ".bias", inits[folded[0]].reshape(-1))
    return values


def _load(module: torch.nn.Module, values: dict[str, np.ndarray], what: str, only: str | None = None) -> None:
    state = module.state_dict()
    params = dict(module.named_parameters())
    missing = []
    for name in params:
        if only and not name.startswith(only):
            continue
        if name not in values:
            missing.append(name)
            continue
        v = torch.from_numpy(np.array(values[name]))
        if tuple(v.shape) != tuple(state[name].shape):
            raise RecoveryError(f"{what}: {name} has shape {tuple(v.shape)} in the graph, "
                                f"{tuple(state[name].shape)} in the module")
        state[name] = v
    if missing:
        raise RecoveryError(f"{what}: no value found in the graph for {len(missing)} parameter(s): {missing[:5]}")
    module.load_state_dict(state)


def _session(path: str) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def _check(what: str, path: str, feeds: dict, expected) -> float:
    got = _session(path).run(None, feeds)
    diff = max(float(np.max(np.abs(g - e.detach().numpy()))) for g, e in zip(got, expected))
    print(f"  {what:14s} max|onnx-torch| = {diff:.2e}")
    if not diff < TOL:
        raise RecoveryError(f"{what}: the rebuilt module differs from {path} by {diff} (> {TOL})")
    return diff


def recover(package: str, work: str) -> str:
    from tokenizers import Tokenizer

    manifest = json.load(open(os.path.join(package, "promptreel.json")))
    tok_path = os.path.join(package, manifest["tokenizer"]["path"])
    tok = Tokenizer.from_file(tok_path)
    gen = torch.Generator().manual_seed(0)

    text_encoder = T.make_text_encoder(tok).eval()
    te_path = os.path.join(package, manifest["text_encoder"]["path"])
    _load(text_encoder, _param_values(te_path, "model."), "text encoder")
    ids = torch.randint(0, tok.get_vocab_size(), (2, T.MAX_LENGTH), generator=gen)
    with torch.no_grad():
        out = text_encoder(input_ids=ids)
    _check("text encoder", te_path, {"input_ids": ids.numpy()}, [out.last_hidden_state, out.pooler_output])

    denoiser = T.make_denoiser(comoving=True).eval()
    unet_path = os.path.join(package, manifest["denoiser"]["path"])
    _load(denoiser, _param_values(unet_path, "unet."), "denoiser")
    sample = torch.randn(2, 4, 8, 8, 8, generator=gen)
    ehs = torch.randn(2, T.MAX_LENGTH, T.TEXT_DIM, generator=gen)
    ts = torch.tensor(500.0)
    with torch.no_grad():
        ref = denoiser(sample, ts, ehs, return_dict=False)[0]
    _check("denoiser", unet_path, {"sample": sample.numpy(), "timestep": ts.numpy(),
                                   "encoder_hidden_states": ehs.numpy()}, [ref])

    vae = T.make_vae().eval()
    dec_path = os.path.join(package, manifest["vae_decoder"]["path"])
    enc_path = os.path.join(package, manifest["vae_encoder"]["path"])
    dec = _param_values(dec_path, "vae.")
    enc = _param_values(enc_path, "vae.")
    _load(vae, dec, "VAE decoder", only="decoder.")
    _load(vae, dec, "VAE decoder", only="post_quant_conv.")
    _load(vae, enc, "VAE encoder", only="encoder.")
    _load(vae, enc, "VAE encoder", only="quant_conv.")
    z = torch.randn(3, 4, 8, 8, generator=gen)
    with torch.no_grad():
        img = vae.decode(z, return_dict=False)[0]
    _check("vae decoder", dec_path, {"latent_sample": z.numpy()}, [img])
    x = torch.rand(3, 3, 32, 32, generator=gen) * 2 - 1
    with torch.no_grad():
        params = vae.quant_conv(vae.encoder(x))
    _check("vae encoder", enc_path, {"sample": x.numpy()}, [params])

    os.makedirs(work, exist_ok=True)
    scaling = float(manifest["vae"]["scaling_factor"])
    out = os.path.join(work, "pipeline")
    if os.path.exists(out):
        shutil.rmtree(out)
    T.stage_pipeline(work, tok_path, vae, text_encoder, denoiser, scaling)
    return out


def main() -> int:
    repo = os.path.dirname(HERE)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", default=os.path.join(repo, "bundle", "models", "default"))
    ap.add_argument("--work", default=os.path.join(repo, "target", "default-model"))
    args = ap.parse_args()
    try:
        out = recover(args.package, args.work)
    except RecoveryError as e:
        print(f"from_package: {e}", file=sys.stderr)
        return 2
    print(f"pipeline folder: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
