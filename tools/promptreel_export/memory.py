"""The manifest's `memory` section: what the exported graphs hold, from the models' configurations.

The engine estimates a generation's peak memory before it starts (onnx/src/budget/) and refuses
one that cannot fit. It needs, per graph, the activations held per position and the shape of every
kind of attention (docs/model-package.md, "memory"). This module derives both from diffusers'
configuration dicts alone, so it needs neither torch nor the weights.

Every attention is exported fused (`com.microsoft` MultiHeadAttention, attention.py), so each
site says `fused: true` and its head width: the engine then counts memory linear in tokens.
`fused=False` describes graphs with MatMul-Softmax-MatMul attention (quadratic in tokens).
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


def _site(span: str, heads: int, head_dim: int, fused: bool, downsample: int = 1, keys: str = "self") -> dict:
    site = {"span": span, "downsample": downsample, "heads": heads}
    if keys != "self":
        site["keys"] = keys
    site["head_dim"] = head_dim
    if fused:
        site["fused"] = True
    return site


def _unet(config: dict, video: bool, fused: bool) -> dict:
    channels = list(config["block_out_channels"])
    levels = len(channels)
    # diffusers' UNets take `attention_head_dim` where `num_attention_heads` is not given (a
    # naming quirk kept for old checkpoints), and the blocks read that number differently:
    # UNet2D's (Stable Diffusion) as the head count, UNet3D's (ModelScope) as the head width.
    per_level = _per_level(config.get("num_attention_heads") or config.get("attention_head_dim") or 8, levels)
    sites: list[dict] = []

    def heads_and_width(level: int) -> tuple[int, int]:
        c = channels[level]
        n = per_level[min(level, len(per_level) - 1)]
        return (c // n, n) if video else (n, c // n)

    def level_sites(level: int) -> None:
        ds = 2**level
        h, d = heads_and_width(level)
        sites.append(_site("frame", h, d, fused, ds))
        sites.append(_site("frame", h, d, fused, ds, "text"))
        if video:
            sites.append(_site("time", h, d, fused, ds))

    for i, kind in enumerate(config.get("down_block_types", [])):
        if "CrossAttn" in kind:
            level_sites(i)
    for j, kind in enumerate(config.get("up_block_types", [])):
        if "CrossAttn" in kind:
            level_sites(levels - 1 - j)
    level_sites(levels - 1)  # the mid block
    if video:
        # UNet3D's first temporal transformer runs on the full-resolution input features, with 8
        # heads of `attention_head_dim`.
        sites.append(_site("time", 8, per_level[0], fused))
    unique = []
    for s in sites:
        if s not in unique:
            unique.append(s)
    return {"bytes_per_position": FLOAT * channels[0] * LIVE_TENSORS, "attention": unique}


def _video_transformer(config: dict, fused: bool) -> dict:
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
            _site("clip", heads, dim // heads, fused, p),
            _site("clip", heads, dim // heads, fused, p, "text"),
        ],
    }


def _wan_transformer(config: dict, fused: bool) -> dict:
    _, p_h, p_w = (int(v) for v in config.get("patch_size", (1, 2, 2)))
    heads = int(config["num_attention_heads"])
    head_dim = int(config["attention_head_dim"])
    dim = heads * head_dim
    ffn = int(config["ffn_dim"])
    # Per token: the residual stream and its modulated / normalised copies, q, k, v and the
    # attention output, and the feed-forward's hidden state (with its GELU), spread over the
    # p_h * p_w latent positions a token covers.
    per_position = FLOAT * (dim * 10 + ffn * 2) // (p_h * p_w)
    return {
        "bytes_per_position": per_position,
        "attention": [
            _site("clip", heads, head_dim, fused, p_h),
            _site("clip", heads, head_dim, fused, p_h, "text"),
        ],
    }


# Tensors alive per level of Wan's causal decoder during one call (resnet input, RMS-normed,
# activated, cache-padded, convolved, shortcut, the caches in and out, the If's copies):
# measured on tiny-wan at 256x256x17 (190 MiB of working memory for a 4-frame call).
WAN_VAE_LIVE_TENSORS = 14


def _wan_vae_decoder(config: dict, fused: bool) -> dict:
    """AutoencoderKLWan's decoder, run one latent frame per call (causal_vae.py): per output
    pixel of a call, the tensors of every level, each level's channels weighed by its share of
    the output's pixels (1/64, 1/16, 1/4, 1 for Wan 2.1's three 2x upsamplers)."""
    base = int(config.get("decoder_base_dim") or config["base_dim"])
    mult = [int(m) for m in config["dim_mult"]]
    dims = [base * m for m in [mult[-1]] + mult[::-1]]
    levels = len(mult) - 1
    # conv_in and the mid block at the lowest resolution, then one up block per level
    weighted = dims[0] * 2 / 4**levels
    for i, d in enumerate(dims[1:]):
        weighted += d / 4 ** max(levels - i, 0)
    # Wan 2.2's VAE works on 2x2 patches: its full-resolution level has a quarter of the pixels
    p = int(config.get("patch_size") or 1)
    per_pixel = FLOAT * weighted * WAN_VAE_LIVE_TENSORS / (p * p)
    attention = [_site("frame", 1, dims[0], fused)]
    return {"bytes_per_position": int(per_pixel), "attention": attention}


def _vae_decoder(config: dict, fused: bool) -> dict:
    channels = list(config["block_out_channels"])
    attention = []
    if config.get("mid_block_add_attention", True):
        # One single-head attention over the latent positions of each frame, as wide as the
        # deepest level.
        attention.append(_site("frame", 1, channels[-1], fused))
    # The decoder's full-resolution blocks are narrower than a UNet's levels: half the tensors.
    return {"bytes_per_position": FLOAT * channels[0] * LIVE_TENSORS // 2, "attention": attention}


# dim-wide float tensors held per token by the LTX transformer graph on ONNX Runtime's CPU
# provider, measured (see _ltx_transformer)
LTX_LIVE_DIMS = 180


def _ltx_transformer(config: dict, fused: bool) -> dict:
    heads = int(config["num_attention_heads"])
    head_dim = int(config["attention_head_dim"])
    dim = heads * head_dim
    # Per token (patch 1x1: one token per latent position): the residual stream and its
    # modulated / normalised copies, q, k, v and the attention output, the feed-forward's 4x
    # hidden state with the tanh-GELU's temporaries, the per-token timestep modulation (6 x dim)
    # and what ONNX Runtime's arena holds beyond the live tensors. Calibrated on the real 2B
    # transformer (tools/ltx_real_size.py, random weights, CPU): the denoising peak grew by
    # 1.41 MB per token and sample (dim 2048) from 240 to 1152; a count of the tensors alone
    # (26 x dim) read 4x under that, so the measured ~172 x dim is used, rounded up.
    per_position = FLOAT * dim * LTX_LIVE_DIMS
    return {
        "bytes_per_position": per_position,
        "attention": [
            _site("clip", heads, head_dim, fused),
            _site("clip", heads, head_dim, fused, keys="text"),
        ],
    }


def _ltx_vae_decoder(config: dict) -> dict:
    """AutoencoderKLLTXVideo's decoder, the whole clip in one call: per output pixel (frames
    included), the tensors of every level, each level's channels weighed by its share of the
    output's positions (each upsampler doubles frames, rows and columns: 8x), the last level at
    1/p^2 of the pixels (the decoder ends with a p x p unpatchify). No attention."""
    dims = [int(c) for c in config.get("decoder_block_out_channels") or config["block_out_channels"]][::-1]
    factors = [int(f) for f in config.get("upsample_factor") or [1] * len(dims)][::-1]
    scaling = [bool(x) for x in config.get("decoder_spatio_temporal_scaling") or [True] * len(dims)][::-1]
    p = int(config.get("patch_size") or 1)
    share = 1.0 / (p * p * 8 ** sum(scaling))
    weighted = dims[0] * 2 * share  # conv_in and the mid block at the lowest resolution
    for d, f, up in zip(dims, factors, scaling):
        if up:
            share *= 8
        weighted += d // max(f, 1) * share
    return {"bytes_per_position": int(FLOAT * weighted * LIVE_TENSORS), "attention": []}


def memory_profile(denoiser_class: str, denoiser_config: dict, vae_config: dict, fused: bool = True,
                   half: bool = False) -> dict:
    """The `memory` section for a package whose denoiser is `denoiser_class`; `fused`: whether its
    graphs compute attention with MultiHeadAttention (what the exporter writes); `half`: the
    weights are float16 (the engine counts the float32 copies ONNX Runtime's CPU provider makes)."""
    profile = _profile(denoiser_class, denoiser_config, vae_config, fused)
    if half:
        profile["float16_weights"] = True
    return profile


def _profile(denoiser_class: str, denoiser_config: dict, vae_config: dict, fused: bool) -> dict:
    if denoiser_class == "PromptreelVideoTransformer":
        denoiser = _video_transformer(denoiser_config, fused)
    elif denoiser_class == "UNet3DConditionModel":
        denoiser = _unet(denoiser_config, video=True, fused=fused)
    elif denoiser_class == "UNet2DConditionModel":
        denoiser = _unet(denoiser_config, video=False, fused=fused)
    elif denoiser_class == "LTXVideoTransformer3DModel":
        return {"denoiser": _ltx_transformer(denoiser_config, fused), "vae_decoder": _ltx_vae_decoder(vae_config)}
    elif denoiser_class == "WanTransformer3DModel":
        return {"denoiser": _wan_transformer(denoiser_config, fused), "vae_decoder": _wan_vae_decoder(vae_config, fused)}
    else:
        raise ValueError(f"no memory profile for {denoiser_class}")
    return {"denoiser": denoiser, "vae_decoder": _vae_decoder(vae_config, fused)}
