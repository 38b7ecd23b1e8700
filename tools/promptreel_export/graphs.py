"""Export diffusers / transformers modules to ONNX graphs in Promptreel's layout and check them.

Every `export_*` function
  * traces the module with torch's legacy (TorchScript) exporter (`dynamo=False`: the dynamo
    exporter produces UNet3D graphs that ONNX Runtime rejects with a dynamic frame axis), with
    every `scaled_dot_product_attention` written as one fused MultiHeadAttention (attention.py);
    a denoiser or VAE graph that still computes attention with Softmax is refused,
  * stores the weights inside the `.onnx` file (or, with `external_data=True`, in one sidecar
    `model.onnx_data` next to it),
  * runs the graph with ONNX Runtime (CPU) on random inputs of several shapes, compares with torch
    and prints the largest absolute difference; it raises if any difference exceeds `tol`,
  * returns a report dict (path, size, input/output names + types + shapes, diffs).

Tensor names follow optimum's ONNX export of diffusers pipelines:
  text encoder   input_ids [B, T] int64 -> last_hidden_state [B, T, D], pooler_output [B, D]
  denoiser       sample [B, C, F, h, w] (unet3d) or [B, C, h, w] (sd) float32,
                 timestep rank-0 float32, encoder_hidden_states [B, S, D] float32 -> out_sample
  VAE decoder    latent_sample [N, C, h, w] float32 -> sample [N, 3, H, W]
"""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from . import attention

DEFAULT_OPSET = 17
DEFAULT_TOL = 1e-4
# float16 graphs are checked against the same module in float16 under torch; the two compute in
# different orders, so they agree to a few units of float16's 1e-3 resolution, not to 1e-4.
HALF_TOL = 5e-2
# protobuf cannot hold a message over 2 GiB; above this the weights go to a sidecar regardless.
EXTERNAL_DATA_BYTES = 1800 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# helpers


def _session(path: str, threads: int = 2) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


def _torch_export(module: nn.Module, args: tuple, path: str, input_names, output_names, dynamic_axes, opset):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    module.eval()
    with torch.no_grad(), warnings.catch_warnings(), attention.symbolic(opset):
        # The tracer warns about Python bools / ints taken from tensors (shape checks); those that
        # matter are covered by running the graph at other shapes below.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            path,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            custom_opsets=attention.CUSTOM_OPSETS,
            dynamo=False,
        )


def export_module(module: nn.Module, args: tuple, path: str, input_names, output_names, dynamic_axes,
                  opset: int = DEFAULT_OPSET) -> None:
    """Exports any module the way the package graphs are exported (fused attention included)."""
    _torch_export(module, args, path, input_names, output_names, dynamic_axes, opset)
    _finalize(path, external_data=False)


def _shorten_value_names(model: onnx.ModelProto) -> None:
    """Rename the intermediate values (`/unet/down_blocks.0/.../Reshape_output_0` -> `v123`).

    Saves about 10% of a small graph's file size. Graph inputs, outputs, initializers and node
    names (which ONNX Runtime's error messages quote) are kept.
    """
    g = model.graph
    keep = {i.name for i in g.input} | {o.name for o in g.output} | {i.name for i in g.initializer}
    names: dict[str, str] = {}
    for node in g.node:
        for o in node.output:
            if o and o not in keep and o not in names:
                names[o] = f"v{len(names)}"
    for node in g.node:
        node.input[:] = [names.get(x, x) for x in node.input]
        node.output[:] = [names.get(x, x) for x in node.output]
        for attr in node.attribute:  # subgraphs (If/Loop) may refer to outer values
            if attr.type == onnx.AttributeProto.GRAPH:
                raise NotImplementedError("graphs with subgraphs are not renamed")
    for vi in g.value_info:
        vi.name = names.get(vi.name, vi.name)


def _finalize(path: str, external_data: bool, output_dims: dict | None = None) -> None:
    """Re-save the graph: strip doc strings, name output axes, weights inline or in one sidecar.

    `output_dims` maps an output name to its dims (int for a fixed size, str for a named dynamic
    axis), replacing the exporter's generated names such as `Transposeout_sample_dim_1`.
    """
    model = onnx.load(path)
    _shorten_value_names(model)
    _finalize_model(model, path, external_data, output_dims)


def _finalize_model(model: onnx.ModelProto, path: str, external_data: bool, output_dims: dict | None = None) -> None:
    """`_finalize` for a model already in memory (value names as they are)."""
    for out in model.graph.output:
        dims = (output_dims or {}).get(out.name)
        if dims is None:
            continue
        shape = out.type.tensor_type.shape
        if len(shape.dim) != len(dims):
            raise AssertionError(f"{out.name}: rank {len(shape.dim)}, expected {len(dims)}")
        for d, v in zip(shape.dim, dims):
            if isinstance(v, int):
                d.Clear()
                d.dim_value = v
            else:
                d.Clear()
                d.dim_param = v
    for node in model.graph.node:
        node.doc_string = ""
    model.graph.doc_string = ""
    model.doc_string = ""
    weights = sum(_tensor_bytes(t) for t in model.graph.initializer)
    if weights > EXTERNAL_DATA_BYTES:
        external_data = True
    if not external_data:
        onnx.checker.check_model(model)
    if external_data:
        onnx.save_model(
            model,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx_data",
            size_threshold=0,
        )
        # onnx creates the sidecar owner-only; installed bundles are read by other accounts
        os.chmod(os.path.join(os.path.dirname(os.path.abspath(path)), "model.onnx_data"), 0o644)
        # the in-memory checker refuses models over 2 GiB; the path form reads the sidecar
        onnx.checker.check_model(path)
        # the exporter's own per-tensor files (written for >2 GiB models) are now in the sidecar
        directory = os.path.dirname(os.path.abspath(path))
        for stale in set(os.listdir(directory)) - {os.path.basename(path), "model.onnx_data"}:
            if not stale.endswith((".json", ".txt")):
                os.remove(os.path.join(directory, stale))
    else:
        onnx.save_model(model, path)


def _tensor_bytes(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n * onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize


def _io_signature(path: str) -> dict:
    model = onnx.load(path, load_external_data=False)

    def desc(vi):
        t = vi.type.tensor_type
        dims = [d.dim_param if d.dim_param else d.dim_value for d in t.shape.dim]
        return {"name": vi.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims}

    inits = {i.name for i in model.graph.initializer}
    return {
        "inputs": [desc(v) for v in model.graph.input if v.name not in inits],
        "outputs": [desc(v) for v in model.graph.output],
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
    }


def _attention(path: str, what: str, require_fused: bool) -> dict:
    """Counts the graph's fused attentions and leftover Softmax nodes; with `require_fused`, a
    leftover Softmax (attention computed outside `scaled_dot_product_attention`, so exported as
    MatMul-Softmax-MatMul with memory quadratic in tokens) stops the export."""
    counts = attention.count(onnx.load(path, load_external_data=False))
    print(f"    {what}: {counts['fused']} fused attention(s), {counts['softmax']} Softmax")
    if require_fused and counts["softmax"]:
        raise AssertionError(
            f"{what}: {counts['softmax']} attention(s) were exported unfused (Softmax nodes in {path}): the model "
            "computes attention by hand instead of with torch.nn.functional.scaled_dot_product_attention, so its "
            "memory would grow with the square of the tokens; port that attention to scaled_dot_product_attention"
        )
    return counts


def _size(path: str) -> int:
    directory = os.path.dirname(os.path.abspath(path))
    return sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))


def _compare(name: str, sess, module: nn.Module, feeds: dict, torch_args: tuple, output_names, tol: float):
    with torch.no_grad():
        ref = module(*torch_args)
    if isinstance(ref, torch.Tensor):
        ref = (ref,)
    got = sess.run(list(output_names), feeds)
    diffs = []
    for oname, r, g in zip(output_names, ref, got):
        r = r.detach().cpu().numpy()
        if r.shape != g.shape:
            raise AssertionError(f"{name}: output {oname} shape torch {r.shape} vs onnx {g.shape}")
        diffs.append(float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64)))))
    d = max(diffs)
    shapes = {k: list(v.shape) for k, v in feeds.items()}
    print(f"    {name:14s} {str(shapes):70s} max|onnx-torch| = {d:.3e}")
    if not d < tol:
        raise AssertionError(f"{name}: ONNX Runtime differs from torch by {d} (> {tol}) at {shapes}")
    return {"shapes": shapes, "max_abs_diff": d}


# --------------------------------------------------------------------------------------------
# text encoder


class _TextEncoderWrapper(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        out = self.model(input_ids=input_ids, return_dict=True)
        return out.last_hidden_state, out.pooler_output


def export_text_encoder(
    model,
    path: str,
    max_length: int,
    eos_token_id: int,
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    check_batches: Sequence[int] = (1, 2, 3),
    seed: int = 0,
) -> dict:
    """CLIP-style text encoder: input_ids [B, max_length] int64 -> last_hidden_state, pooler_output.

    The batch axis is dynamic, the sequence axis is fixed to `max_length` (position embeddings are
    sized for it). No attention mask input: like diffusers' pipelines the model sees the padded ids
    with only its causal mask.
    """
    wrapper = _TextEncoderWrapper(model).eval()
    vocab = int(model.config.vocab_size)
    rng = np.random.default_rng(seed)

    def ids(batch):
        a = rng.integers(0, vocab, size=(batch, max_length), dtype=np.int64)
        a[:, -1] = eos_token_id  # CLIP's pooler looks for the first EOS
        return a

    example = torch.from_numpy(ids(1))
    _torch_export(
        wrapper,
        (example,),
        path,
        ["input_ids"],
        ["last_hidden_state", "pooler_output"],
        {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}, "pooler_output": {0: "batch"}},
        opset,
    )
    hidden = int(model.config.hidden_size)
    _finalize(path, external_data, {"last_hidden_state": ["batch", max_length, hidden], "pooler_output": ["batch", hidden]})
    print(f"  text encoder -> {path}")
    counts = _attention(path, "text encoder", require_fused=False)
    sess = _session(path)
    checks = []
    for b in check_batches:
        a = ids(b)
        checks.append(
            _compare("text_encoder", sess, wrapper, {"input_ids": a}, (torch.from_numpy(a),),
                     ["last_hidden_state", "pooler_output"], tol)
        )
    return {"path": path, "bytes": _size(path), **_io_signature(path), "attention": counts, "checks": checks}


# --------------------------------------------------------------------------------------------
# denoisers


class _DenoiserWrapper(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, return_dict=False)[0]


def _export_denoiser(
    unet,
    path: str,
    video: bool,
    example_shape: tuple,
    check_shapes: Iterable[tuple],
    seq_len: int,
    opset: int,
    tol: float,
    external_data: bool,
    seed: int,
    half: bool = False,
) -> dict:
    dtype = torch.float16 if half else torch.float32
    tol = HALF_TOL if half else tol
    wrapper = _DenoiserWrapper(unet).eval().to(dtype)
    channels = int(unet.config.in_channels)
    hidden = int(unet.config.cross_attention_dim)
    gen = torch.Generator().manual_seed(seed)

    def inputs(shape, t):
        b = shape[0]
        sample = torch.randn((b, channels) + tuple(shape[1:]), generator=gen).to(dtype)
        ehs = torch.randn((b, seq_len, hidden), generator=gen).to(dtype)
        ts = torch.tensor(float(t), dtype=dtype)  # rank 0
        return sample, ts, ehs

    if video:
        sample_axes = {0: "batch", 2: "frames", 3: "height", 4: "width"}
    else:
        sample_axes = {0: "batch", 2: "height", 3: "width"}
    _torch_export(
        wrapper,
        inputs(example_shape, 421.0),
        path,
        ["sample", "timestep", "encoder_hidden_states"],
        ["out_sample"],
        {"sample": sample_axes, "encoder_hidden_states": {0: "batch", 1: "sequence"}, "out_sample": sample_axes},
        opset,
    )
    out_ch = int(unet.config.out_channels)
    dims = ["batch", out_ch, "frames", "height", "width"] if video else ["batch", out_ch, "height", "width"]
    _finalize(path, external_data, {"out_sample": dims})
    print(f"  denoiser -> {path}")
    counts = _attention(path, "denoiser", require_fused=True)
    sess = _session(path)
    checks = []
    for i, shape in enumerate(check_shapes):
        t = [999.0, 1.0, 500.0, 261.5][i % 4]
        s, ts, e = inputs(shape, t)
        feeds = {"sample": s.numpy(), "timestep": ts.numpy(), "encoder_hidden_states": e.numpy()}
        checks.append(_compare("denoiser", sess, wrapper, feeds, (s, ts, e), ["out_sample"], tol))
    return {"path": path, "bytes": _size(path), **_io_signature(path), "attention": counts, "checks": checks}


def export_unet3d(
    unet,
    path: str,
    seq_len: int,
    example_shape: tuple = (2, 3, 5, 7),
    check_shapes: Iterable[tuple] = ((1, 8, 8, 8), (2, 8, 8, 8), (2, 5, 4, 6), (1, 3, 5, 7), (2, 2, 9, 3)),
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    seed: int = 0,
    half: bool = False,
) -> dict:
    """UNet3DConditionModel: sample [B, C, F, h, w], timestep (rank 0, float32), encoder_hidden_states.

    Shapes are (batch, frames, latent_h, latent_w). The example traced is deliberately odd-sized so
    diffusers takes its `upsample_size` path: the exported up-sampling then copies the skip
    connection's size, and any latent size works (even sizes give the same result as scale 2).
    """
    return _export_denoiser(unet, path, True, example_shape, check_shapes, seq_len, opset, tol, external_data, seed,
                            half)


def export_video_transformer(
    model,
    path: str,
    seq_len: int,
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    seed: int = 0,
    half: bool = False,
) -> dict:
    """PromptreelVideoTransformer: the unet3d contract; height and width are multiples of its patch."""
    p = int(model.config.patch_size)
    example = (2, 3, 3 * p, 5 * p)
    checks = ((1, 8, 4 * p, 4 * p), (2, 8, 4 * p, 4 * p), (2, 5, 2 * p, 3 * p), (1, 3, 5 * p, 2 * p), (2, 16, p, 6 * p))
    return _export_denoiser(model, path, True, example, checks, seq_len, opset, tol, external_data, seed, half)


def export_unet2d(
    unet,
    path: str,
    seq_len: int,
    example_shape: tuple = (2, 5, 7),
    check_shapes: Iterable[tuple] = ((1, 8, 8), (2, 8, 8), (2, 4, 6), (1, 5, 7), (2, 16, 16)),
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    seed: int = 0,
    half: bool = False,
) -> dict:
    """UNet2DConditionModel (Stable Diffusion): sample [B, C, h, w]; shapes are (batch, h, w)."""
    return _export_denoiser(unet, path, False, example_shape, check_shapes, seq_len, opset, tol, external_data, seed,
                            half)


# --------------------------------------------------------------------------------------------
# VAE decoder


class _VaeDecoderWrapper(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        # AutoencoderKL.decode = post_quant_conv + decoder (no scaling: the engine divides by
        # scaling_factor before calling the graph, as diffusers' pipelines do).
        return self.vae.decode(latent_sample, return_dict=False)[0]


def export_vae_decoder(
    vae,
    path: str,
    example_shape: tuple = (2, 5, 7),
    check_shapes: Iterable[tuple] = ((1, 8, 8), (3, 5, 7), (8, 8, 8), (2, 16, 12)),
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    seed: int = 0,
    half: bool = False,
) -> dict:
    """latent_sample [N, C, h, w] -> sample [N, 3, H, W]; shapes are (N, h, w)."""
    dtype = torch.float16 if half else torch.float32
    tol = HALF_TOL if half else tol
    wrapper = _VaeDecoderWrapper(vae).eval().to(dtype)
    channels = int(vae.config.latent_channels)
    gen = torch.Generator().manual_seed(seed)

    def inputs(shape):
        # latents as the pipeline hands them over: roughly unit-variance / scaling_factor
        x = torch.randn((shape[0], channels) + tuple(shape[1:]), generator=gen) / vae.config.scaling_factor
        return (x.to(dtype),)

    _torch_export(wrapper, inputs(example_shape), path, ["latent_sample"], ["sample"],
                  {"latent_sample": {0: "batch", 2: "height", 3: "width"},
                   "sample": {0: "batch", 2: "out_height", 3: "out_width"}}, opset)
    out_ch = int(vae.config.out_channels)
    _finalize(path, external_data, {"sample": ["batch", out_ch, "out_height", "out_width"]})
    print(f"  vae decoder -> {path}" + (" (+ model.onnx_data)" if external_data else ""))
    counts = _attention(path, "vae decoder", require_fused=True)
    sess = _session(path)
    checks = []
    for shape in check_shapes:
        (x,) = inputs(shape)
        checks.append(_compare("vae_decoder", sess, wrapper, {"latent_sample": x.numpy()}, (x,), ["sample"], tol))
    return {"path": path, "bytes": _size(path), **_io_signature(path), "attention": counts, "checks": checks}


class _VaeEncoderWrapper(nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        # encoder + quant_conv: the Gaussian's parameters [N, 2C, h, w] (mean, then log-variance),
        # what AutoencoderKL.encode wraps in a DiagonalGaussianDistribution
        h = self.vae.encoder(sample)
        return self.vae.quant_conv(h) if self.vae.quant_conv is not None else h


def export_vae_encoder(
    vae,
    path: str,
    example_shape: tuple = (2, 20, 28),
    check_shapes: Iterable[tuple] = ((1, 32, 32), (3, 16, 24), (2, 64, 40)),
    opset: int = DEFAULT_OPSET,
    tol: float = DEFAULT_TOL,
    external_data: bool = False,
    seed: int = 0,
    half: bool = False,
) -> dict:
    """sample [N, 3, H, W] in [-1, 1] -> latent_parameters [N, 2C, H/f, W/f]; shapes are (N, H, W)
    with H and W multiples of the VAE's factor f."""
    dtype = torch.float16 if half else torch.float32
    tol = HALF_TOL if half else tol
    wrapper = _VaeEncoderWrapper(vae).eval().to(dtype)
    gen = torch.Generator().manual_seed(seed)

    def inputs(shape):
        x = torch.rand((shape[0], int(vae.config.in_channels)) + tuple(shape[1:]), generator=gen) * 2 - 1
        return (x.to(dtype),)

    _torch_export(wrapper, inputs(example_shape), path, ["sample"], ["latent_parameters"],
                  {"sample": {0: "batch", 2: "height", 3: "width"},
                   "latent_parameters": {0: "batch", 2: "latent_height", 3: "latent_width"}}, opset)
    _finalize(path, external_data,
              {"latent_parameters": ["batch", 2 * int(vae.config.latent_channels), "latent_height", "latent_width"]})
    print(f"  vae encoder -> {path}")
    counts = _attention(path, "vae encoder", require_fused=True)
    sess = _session(path)
    checks = []
    for shape in check_shapes:
        (x,) = inputs(shape)
        checks.append(_compare("vae_encoder", sess, wrapper, {"sample": x.numpy()}, (x,), ["latent_parameters"], tol))
    return {"path": path, "bytes": _size(path), **_io_signature(path), "attention": counts, "checks": checks}


def resave_with_external_data(src: str, dst: str, location: str = "model.onnx_data") -> None:
    """Copy graph `src` to `dst` with all weights moved to one sidecar `location` next to `dst`."""
    model = onnx.load(src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    onnx.save_model(model, dst, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)


def external_data_locations(path: str) -> list[str]:
    model = onnx.load(path, load_external_data=False)
    locs = set()
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            for kv in init.external_data:
                if kv.key == "location":
                    locs.add(kv.value)
    return sorted(locs)
