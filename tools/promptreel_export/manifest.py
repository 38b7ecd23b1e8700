"""Write Promptreel's manifest `promptreel.json` (format 1, see docs/model-package.md)."""

from __future__ import annotations

import json
import os

FAMILIES = ("unet3d", "sd", "wan", "ltx")
TIMESTEP_DTYPES = ("float32", "float16", "int64")


def write_manifest(
    package_dir: str,
    *,
    name: str,
    version: str,
    family: str,
    latent_channels: int,
    spatial_compression: int,
    temporal_compression: int = 1,
    size_multiple: int | None = None,
    native: dict,
    scaling_factor: float,
    shift_factor: float = 0.0,
    latents_mean: list[float] | None = None,
    latents_std: list[float] | None = None,
    decode_chunk_frames: int = 8,
    decode_timestep: float | None = None,
    decode_noise_scale: float | None = None,
    cfg_batch: bool = True,
    tokenizer_path: str = "tokenizer/tokenizer.json",
    max_length: int = 77,
    pad_token: str | None = "<|endoftext|>",
    text_encoder_path: str = "text_encoder/model.onnx",
    text_encoder_input: str = "input_ids",
    text_encoder_attention_mask: str | None = None,
    text_encoder_output: str = "last_hidden_state",
    denoiser_path: str = "unet/model.onnx",
    denoiser_sample: str = "sample",
    denoiser_timestep: str = "timestep",
    denoiser_encoder_hidden_states: str = "encoder_hidden_states",
    denoiser_output: str = "out_sample",
    denoiser_encoder_attention_mask: str | None = None,
    denoiser_rope_interpolation_scale: str | None = None,
    timestep_dtype: str = "float32",
    denoiser_2: dict | None = None,
    boundary_ratio: float | None = None,
    vae_decoder_path: str = "vae_decoder/model.onnx",
    vae_decoder_input: str = "latent_sample",
    vae_decoder_output: str = "sample",
    vae_decoder_stateful: bool = False,
    vae_decoder_timestep: str | None = None,
    vae_encoder: dict | None = None,
    scheduler: str = "scheduler/scheduler_config.json",
    memory: dict | None = None,
    defaults: dict | None = None,
) -> dict:
    """Validate the values, write `<package_dir>/promptreel.json` and return the manifest dict.

    Every path the manifest names must already exist in the package (write the graphs first).
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")
    if timestep_dtype not in TIMESTEP_DTYPES:
        raise ValueError(f"timestep_dtype must be one of {TIMESTEP_DTYPES}")
    if set(native) != {"width", "height", "frames", "fps"}:
        raise ValueError("native needs exactly width, height, frames, fps")
    multiple = size_multiple or spatial_compression
    if native["width"] % multiple or native["height"] % multiple:
        raise ValueError(f"native width/height must be multiples of {multiple}")
    if (latents_mean is None) != (latents_std is None):
        raise ValueError("latents_mean and latents_std go together")
    if latents_mean is not None and not (len(latents_mean) == len(latents_std) == latent_channels):
        raise ValueError("latents_mean and latents_std need one value per latent channel")
    if family == "sd" and native["frames"] != 1:
        raise ValueError("sd packages make one frame")
    if (decode_timestep is None) != (decode_noise_scale is None):
        raise ValueError("decode_timestep and decode_noise_scale go together")
    if (decode_timestep is None) != (vae_decoder_timestep is None):
        raise ValueError("a decode timestep needs the VAE decoder's timestep input, and the other way round")

    manifest = {
        "format": 1,
        "name": name,
        "version": str(version),
        "family": family,
        "latent_channels": int(latent_channels),
        "spatial_compression": int(spatial_compression),
        "temporal_compression": int(temporal_compression),
        **({"size_multiple": int(size_multiple)} if size_multiple else {}),
        "native": {
            "width": int(native["width"]),
            "height": int(native["height"]),
            "frames": int(native["frames"]),
            "fps": float(native["fps"]),
        },
        # the steps and guidance the model's pipeline uses by default, where they matter
        **({"defaults": {k: v for k, v in defaults.items() if v is not None}} if defaults else {}),
        "vae": {
            "scaling_factor": float(scaling_factor),
            "shift_factor": float(shift_factor),
            "decode_chunk_frames": int(decode_chunk_frames),
            **({"latents_mean": [float(v) for v in latents_mean], "latents_std": [float(v) for v in latents_std]}
               if latents_mean is not None else {}),
            # LTX-Video 0.9.1+: denoise a little while decoding (noise blend, decoder timestep)
            **({"decode_timestep": float(decode_timestep), "decode_noise_scale": float(decode_noise_scale)}
               if decode_timestep is not None else {}),
        },
        "cfg_batch": bool(cfg_batch),
        "tokenizer": {"path": tokenizer_path, "max_length": int(max_length), "pad_token": pad_token},
        "text_encoder": {
            "path": text_encoder_path,
            "input_ids": text_encoder_input,
            "attention_mask": text_encoder_attention_mask,
            "output": text_encoder_output,
        },
        "denoiser": {
            "path": denoiser_path,
            "sample": denoiser_sample,
            "timestep": denoiser_timestep,
            "encoder_hidden_states": denoiser_encoder_hidden_states,
            **({"encoder_attention_mask": denoiser_encoder_attention_mask}
               if denoiser_encoder_attention_mask else {}),
            **({"rope_interpolation_scale": denoiser_rope_interpolation_scale}
               if denoiser_rope_interpolation_scale else {}),
            "output": denoiser_output,
            "timestep_dtype": timestep_dtype,
        },
        **({"denoiser_2": denoiser_2, "boundary_ratio": float(boundary_ratio)} if denoiser_2 else {}),
        "vae_decoder": {"path": vae_decoder_path, "input": vae_decoder_input, "output": vae_decoder_output,
                        **({"stateful": True} if vae_decoder_stateful else {}),
                        **({"timestep": vae_decoder_timestep} if vae_decoder_timestep else {})},
        "vae_encoder": vae_encoder,
        "scheduler": scheduler,
    }
    if memory is not None:
        # What the graphs hold as exported, for the engine's estimate (memory.py).
        manifest["memory"] = memory
    paths = [tokenizer_path, text_encoder_path, denoiser_path, vae_decoder_path, scheduler]
    if vae_encoder is not None:
        paths.append(vae_encoder["path"])
    if denoiser_2 is not None:
        paths.append(denoiser_2["path"])
    for p in paths:
        if not os.path.isfile(os.path.join(package_dir, p)):
            raise FileNotFoundError(f"manifest names {p}, which is not in {package_dir}")
    with open(os.path.join(package_dir, "promptreel.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
