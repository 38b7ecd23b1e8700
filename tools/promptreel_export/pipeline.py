"""Read a diffusers pipeline folder and write a Promptreel model package from it.

Supported folders (model_index.json `_class_name`):

  TextToVideoSDPipeline    ModelScope text-to-video, Zeroscope, Promptreel's default model
                           -> family "unet3d"; denoiser UNet3DConditionModel or
                              PromptreelVideoTransformer
  StableDiffusionPipeline  Stable Diffusion 1.x / 2.x stills -> family "sd"; UNet2DConditionModel
  WanPipeline              Wan 2.1 / 2.2 text-to-video -> family "wan"; WanTransformer3DModel,
                           UMT5 text encoder, causal video VAE (wan_pipeline.py)
  LTXPipeline, LTXImageToVideoPipeline, LTXConditionPipeline
                           LTX-Video 0.9.x -> family "ltx"; LTXVideoTransformer3DModel, T5
                           text encoder, AutoencoderKLLTXVideo (ltx_pipeline.py)

Components are loaded one by one from their sub-folders (not through DiffusionPipeline), so a
folder is read the same way whether its denoiser is a diffusers class or ours, and nothing is
fetched from the network. Anything else is refused with a message naming what was found.
"""

from __future__ import annotations

import json
import os
import shutil
import time

SUPPORTED_PIPELINES = {
    "TextToVideoSDPipeline": "unet3d",
    "StableDiffusionPipeline": "sd",
    "WanPipeline": "wan",
    "LTXPipeline": "ltx",
    "LTXImageToVideoPipeline": "ltx",
    "LTXConditionPipeline": "ltx",
}
SUPPORTED_DENOISERS = {
    "unet3d": ("UNet3DConditionModel", "PromptreelVideoTransformer"),
    "sd": ("UNet2DConditionModel",),
}
SUPPORTED_TEXT_ENCODERS = ("CLIPTextModel",)
SUPPORTED_VAES = ("AutoencoderKL",)
# Schedulers the engine implements; PNDM (Stable Diffusion's default) is replaced by DDIM on the
# same noise schedule, as the engine has no PNDM.
ENGINE_SCHEDULERS = (
    "DDIMScheduler",
    "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "FlowMatchEulerDiscreteScheduler",
    "UniPCMultistepScheduler",
)


class ExportError(Exception):
    """A problem with the input folder or the options, worded for the person running the tool."""


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ExportError(f"{path} is missing: is this a diffusers pipeline folder (saved with save_pretrained)?")
    except json.JSONDecodeError as e:
        raise ExportError(f"{path} is not valid JSON: {e}")


def inspect_folder(folder: str) -> dict:
    """Check the folder's classes; return {'pipeline', 'family', 'denoiser', 'scheduler'}."""
    index = _read_json(os.path.join(folder, "model_index.json"))
    pipeline = index.get("_class_name")
    if pipeline not in SUPPORTED_PIPELINES:
        raise ExportError(
            f"{folder}/model_index.json names the pipeline class {pipeline!r}; tools/export.py supports "
            + " and ".join(SUPPORTED_PIPELINES)
            + " (ModelScope / Zeroscope text-to-video, Promptreel's default model, Stable Diffusion 1.x/2.x, "
            "Wan 2.1/2.2 text-to-video, LTX-Video 0.9.x)"
        )
    family = SUPPORTED_PIPELINES[pipeline]
    if family in ("wan", "ltx"):
        if family == "wan":
            from .wan_pipeline import check_components
        else:
            from .ltx_pipeline import check_components

        parts = check_components(folder, index)
        sched = index.get("scheduler")
        parts["scheduler"] = sched[1] if isinstance(sched, list) and len(sched) == 2 else None
        return {"pipeline": pipeline, "family": family, **parts}
    parts = {}
    for comp, allowed in (
        ("unet", SUPPORTED_DENOISERS[family]),
        ("text_encoder", SUPPORTED_TEXT_ENCODERS),
        ("vae", SUPPORTED_VAES),
    ):
        entry = index.get(comp)
        cls = entry[1] if isinstance(entry, list) and len(entry) == 2 else None
        if cls not in allowed:
            raise ExportError(
                f"{folder}: component {comp!r} is {cls!r}; for a {pipeline} the exporter supports "
                + ", ".join(allowed)
            )
        parts[comp] = cls
    sched = index.get("scheduler")
    parts["scheduler"] = sched[1] if isinstance(sched, list) and len(sched) == 2 else None
    return {"pipeline": pipeline, "family": family, **parts}


def _load_denoiser(folder: str, cls: str):
    if cls == "PromptreelVideoTransformer":
        from .video_transformer import PromptreelVideoTransformer

        return PromptreelVideoTransformer.from_pretrained(os.path.join(folder, "unet"))
    import diffusers

    return getattr(diffusers, cls).from_pretrained(os.path.join(folder, "unet"))


def _tokenizer_json(folder: str, out_path: str, default_pad: str = "<|endoftext|>") -> tuple[int, str]:
    """Write the folder's tokenizer as one tokenizer.json; return (max_length, pad token)."""
    from tokenizers import Tokenizer

    tok_dir = os.path.join(folder, "tokenizer")
    if not os.path.isdir(tok_dir):
        raise ExportError(f"{folder} has no tokenizer/ folder; the pipeline's tokenizer is needed to read prompts")
    cfg_path = os.path.join(tok_dir, "tokenizer_config.json")
    cfg = _read_json(cfg_path) if os.path.exists(cfg_path) else {}
    src = os.path.join(tok_dir, "tokenizer.json")
    if os.path.exists(src):
        tok = Tokenizer.from_file(src)
    else:
        # vocab.json + merges.txt (CLIPTokenizer, as ModelScope/SD folders ship): let transformers
        # build the fast tokenizer, then keep only its `tokenizers` core.
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tok_dir).backend_tokenizer
    # the engine pads and truncates itself (to the manifest's max_length)
    tok.no_padding()
    tok.no_truncation()
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tok.save(out_path, pretty=True)
    max_length = int(cfg.get("model_max_length", 77))
    pad = cfg.get("pad_token") or default_pad
    if isinstance(pad, dict):  # older files store AddedToken dicts
        pad = pad.get("content", default_pad)
    if tok.token_to_id(pad) is None:
        raise ExportError(f"{cfg_path}: the padding token {pad!r} is not in the tokenizer's vocabulary")
    return max_length, pad


def _scheduler_config(folder: str, out_path: str) -> str:
    cfg = _read_json(os.path.join(folder, "scheduler", "scheduler_config.json"))
    cls = cfg.get("_class_name")
    if cls == "PNDMScheduler":
        print("  scheduler: PNDMScheduler is not in the engine; the package uses DDIMScheduler on the same noise schedule")
        cfg["_class_name"] = "DDIMScheduler"
    elif cls not in ENGINE_SCHEDULERS:
        raise ExportError(
            f"{folder}/scheduler/scheduler_config.json is a {cls}; the engine runs " + ", ".join(ENGINE_SCHEDULERS)
        )
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    return cfg["_class_name"]


def export_folder(
    folder: str,
    out: str,
    *,
    name: str | None = None,
    version: str = "1",
    half: bool = False,
    external_data: bool = False,
    vae_encoder: bool = True,
    native: dict | None = None,
    decode_chunk_frames: int = 8,
    opset: int = 17,
    force: bool = False,
    max_sequence_length: int | None = None,
    decode_timestep: float | None = None,
    decode_noise_scale: float | None = None,
) -> dict:
    """Export `folder` into the package folder `out` (written to `out`.partial, then renamed)."""
    # Refusals first: they need neither torch nor the weights.
    info = inspect_folder(folder)
    decode = None
    if info["family"] == "ltx":
        from .ltx_pipeline import check_options

        decode = check_options(folder, _read_json(os.path.join(folder, "model_index.json")), half=half,
                               decode_timestep=decode_timestep, decode_noise_scale=decode_noise_scale)
    elif decode_timestep is not None or decode_noise_scale is not None:
        raise ExportError("--decode-timestep and --decode-noise-scale apply to LTX-Video pipelines (VAEs with "
                          f"timestep conditioning); {folder} is a {info['pipeline']}")
    if os.path.exists(out) and not force:
        raise ExportError(f"{out} already exists; pass --force to replace it")

    import torch

    from .manifest import write_manifest

    started = time.time()
    tmp = out.rstrip("/") + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    torch.set_grad_enabled(False)
    if info["family"] == "wan":
        from .wan_pipeline import export_wan

        report, fields = export_wan(
            folder, tmp, half=half, external_data=external_data, vae_encoder=vae_encoder, native=native, opset=opset,
            max_sequence_length=max_sequence_length, tokenizer_json=_tokenizer_json, scheduler_config=_scheduler_config)
        write_manifest(tmp, name=name or os.path.basename(os.path.abspath(folder)), version=version, **fields)
    elif info["family"] == "ltx":
        from .ltx_pipeline import export_ltx

        report, fields = export_ltx(
            folder, tmp, external_data=external_data, vae_encoder=vae_encoder, native=native, opset=opset,
            max_sequence_length=max_sequence_length, decode=decode, tokenizer_json=_tokenizer_json,
            scheduler_config=_scheduler_config, half=half)
        write_manifest(tmp, name=name or os.path.basename(os.path.abspath(folder)), version=version, **fields)
    else:
        if max_sequence_length is not None:
            raise ExportError("--max-sequence-length applies to Wan and LTX-Video pipelines; CLIP text encoders "
                              "read a fixed length")
        report = _export_unet_family(folder, tmp, info, name=name, version=version, half=half,
                                     external_data=external_data, vae_encoder=vae_encoder, native=native,
                                     decode_chunk_frames=decode_chunk_frames, opset=opset)
    report["seconds"] = round(time.time() - started, 1)
    with open(os.path.join(tmp, "export-report.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
    _install(tmp, out)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    worst = max(c["max_abs_diff"] for k in ("text_encoder", "denoiser", "vae_decoder", "vae_encoder")
                if k in report for c in report[k]["checks"])
    print(f"wrote {out}: {total / 1e6:.1f} MB, largest |onnx - torch| {worst:.2e}, {report['seconds']} s")
    return report


def _export_unet_family(folder: str, tmp: str, info: dict, *, name, version, half, external_data, vae_encoder,
                        native, decode_chunk_frames, opset) -> dict:
    """The unet3d and sd families (CLIP text encoder, UNet or our transformer, SD-style VAE)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel

    from . import graphs
    from .manifest import write_manifest
    from .memory import memory_profile

    print(f"exporting {info['pipeline']} from {folder} (family {info['family']}, denoiser {info['unet']})")
    max_length, pad = _tokenizer_json(folder, os.path.join(tmp, "tokenizer", "tokenizer.json"))
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder")).eval()
    max_length = min(max_length, int(text_encoder.config.max_position_embeddings))
    unet = _load_denoiser(folder, info["unet"]).eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(folder, "vae")).eval()
    sched_cls = _scheduler_config(folder, os.path.join(tmp, "scheduler", "scheduler_config.json"))

    if int(unet.config.cross_attention_dim) != int(text_encoder.config.hidden_size):
        raise ExportError(
            f"{folder}: the denoiser's cross_attention_dim ({unet.config.cross_attention_dim}) differs from the "
            f"text encoder's hidden_size ({text_encoder.config.hidden_size}); the components do not belong together"
        )
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    if native is None:
        size = int(unet.config.sample_size) * factor
        native = {"width": size, "height": size, "frames": int(getattr(unet.config, "num_frames", 16) or 16)
                  if info["family"] == "unet3d" else 1, "fps": 8.0}

    report = {"source": os.path.abspath(folder), "pipeline": info["pipeline"], "half": half}
    eos = text_encoder.config.eos_token_id
    report["text_encoder"] = graphs.export_text_encoder(
        text_encoder, os.path.join(tmp, "text_encoder", "model.onnx"), max_length, eos, opset=opset,
        external_data=external_data)
    den_path = os.path.join(tmp, "unet", "model.onnx")
    kw = dict(seq_len=max_length, opset=opset, external_data=external_data, half=half)
    if info["unet"] == "PromptreelVideoTransformer":
        report["denoiser"] = graphs.export_video_transformer(unet, den_path, **kw)
    elif info["unet"] == "UNet3DConditionModel":
        report["denoiser"] = graphs.export_unet3d(unet, den_path, **kw)
    else:
        report["denoiser"] = graphs.export_unet2d(unet, den_path, **kw)
    report["vae_decoder"] = graphs.export_vae_decoder(
        vae, os.path.join(tmp, "vae_decoder", "model.onnx"), opset=opset, external_data=external_data, half=half)
    enc = None
    if vae_encoder:
        report["vae_encoder"] = graphs.export_vae_encoder(
            vae, os.path.join(tmp, "vae_encoder", "model.onnx"), opset=opset, external_data=external_data, half=half)
        enc = {"path": "vae_encoder/model.onnx", "input": "sample", "output": "latent_parameters"}

    write_manifest(
        tmp,
        name=name or os.path.basename(os.path.abspath(folder)),
        version=version,
        family=info["family"],
        latent_channels=int(vae.config.latent_channels),
        spatial_compression=factor,
        native=native,
        scaling_factor=float(vae.config.scaling_factor),
        shift_factor=float(getattr(vae.config, "shift_factor", None) or 0.0),
        decode_chunk_frames=decode_chunk_frames,
        max_length=max_length,
        pad_token=pad,
        timestep_dtype="float16" if half else "float32",
        vae_encoder=enc,
        # every denoiser and VAE attention is fused, or the export stopped above (graphs.py)
        memory=memory_profile(info["unet"], dict(unet.config), dict(vae.config), fused=True, half=half),
    )
    report["scheduler"] = sched_cls
    return report


def _install(tmp: str, out: str) -> None:
    """Moves the finished package from `tmp` to `out`."""
    if os.path.exists(out):
        # --force replaces the package but keeps what people wrote next to it (README.md,
        # figures): top-level files the exporter does not produce are carried over.
        for entry in os.listdir(out):
            src = os.path.join(out, entry)
            if os.path.isfile(src) and not os.path.exists(os.path.join(tmp, entry)):
                shutil.copy2(src, os.path.join(tmp, entry))
                print(f"  kept {entry}")
        old = out.rstrip("/") + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
