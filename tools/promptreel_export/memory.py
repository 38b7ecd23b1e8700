"""The manifest's `memory` section: what the exported graphs hold, from the models' configurations.

The engine estimates a generation's peak memory before it starts (onnx/src/budget/) and refuses
one that cannot fit. It needs, per graph, the activations held per position and the shape of every
kind of attention (docs/model-package.md, "memory"). This module derives both from diffusers'
configuration dicts alone, so it needs neither torch nor the weights.

Graphs are exported with MatMul-Softmax-MatMul attention today (`fused: false`): memory quadratic
in tokens per attention call.
"""

from __future__ import annotations

FLOAT = 4  # bytes; fp16 exports still compute parts in f32, so count f32
# Tensors of the widest full-resolution width alive at once inside a UNet level or a VAE decoder
# block (resnet input, normalised, activated, convolved, skip), with some slack.
LIVE_TENSORS = 12


def _per_level(value, levels: int) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] * levels


def _unet(config: dict, video: bool) -> dict:
    channels = list(config["block_out_channels"])
    levels = len(channels)
    # diffusers' UNets pass `attention_head_dim` as the number of heads unless
    # `num_attention_heads` is given (a naming quirk kept for old checkpoints).
    heads = _per_level(config.get("num_attention_heads") or config.get("attention_head_dim") or 8, levels)
    sites: list[dict] = []

    def level_sites(level: int) -> None:
        ds = 2**level
        h = heads[min(level, len(heads) - 1)]
        sites.append({"span": "frame", "downsample": ds, "heads": h})
        sites.append({"span": "frame", "downsample": ds, "heads": h, "keys": "text"})
        if video:
            sites.append({"span": "time", "downsample": ds, "heads": h})

    for i, kind in enumerate(config.get("down_block_types", [])):
        if "CrossAttn" in kind:
            level_sites(i)
    for j, kind in enumerate(config.get("up_block_types", [])):
        if "CrossAttn" in kind:
            level_sites(levels - 1 - j)
    level_sites(levels - 1)  # the mid block
    if video:
        # UNet3D's first temporal transformer runs on the full-resolution input features.
        sites.append({"span": "time", "downsample": 1, "heads": heads[0]})
    unique = []
    for s in sites:
        if s not in unique:
            unique.append(s)
    return {"bytes_per_position": FLOAT * channels[0] * LIVE_TENSORS, "attention": unique}


def _video_transformer(config: dict) -> dict:
    p = int(config.get("patch_size", 2))
    heads = int(config["heads"])
    dim = int(config["dim"])
    mlp = float(config.get("mlp_ratio", 4.0))
    # Per token: the residual stream, the MLP's widened hidden state and a few copies, spread
    # over the p*p latent positions a token covers.
    per_position = int(FLOAT * dim * mlp * 6 / (p * p))
    return {
        "bytes_per_position": per_position,
        "attention": [
            {"span": "clip", "downsample": p, "heads": heads},
            {"span": "clip", "downsample": p, "heads": heads, "keys": "text"},
        ],
    }


def _vae_decoder(config: dict) -> dict:
    channels = list(config["block_out_channels"])
    attention = []
    if config.get("mid_block_add_attention", True):
        # One single-head attention over the latent positions of each frame.
        attention.append({"span": "frame", "heads": 1})
    # The decoder's full-resolution blocks are narrower than a UNet's levels: half the tensors.
    return {"bytes_per_position": FLOAT * channels[0] * LIVE_TENSORS // 2, "attention": attention}


def memory_profile(denoiser_class: str, denoiser_config: dict, vae_config: dict) -> dict:
    """The `memory` section for a package whose denoiser is `denoiser_class`."""
    if denoiser_class == "PromptreelVideoTransformer":
        denoiser = _video_transformer(denoiser_config)
    elif denoiser_class == "UNet3DConditionModel":
        denoiser = _unet(denoiser_config, video=True)
    elif denoiser_class == "UNet2DConditionModel":
        denoiser = _unet(denoiser_config, video=False)
    else:
        raise ValueError(f"no memory profile for {denoiser_class}")
    return {"denoiser": denoiser, "vae_decoder": _vae_decoder(vae_config)}
