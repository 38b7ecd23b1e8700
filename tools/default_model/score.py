"""Score a generated clip: dominant non-background colour and the object's direction of motion.

The same rules as the Rust accuracy test (onnx/tests/default_model.rs), so figures printed while
training mean what CI checks.
"""

from __future__ import annotations

import numpy as np

from .clips import BACKGROUNDS, COLOURS

STILL_PX = 3.0  # centroid displacement below this (pixels, first -> last frame) counts as still
OBJECT_DIFF = 0.25  # a pixel belongs to the object when it differs from the background this much


def background_level(frame: np.ndarray) -> float:
    """The background's gray level: the median over the frame's border pixels."""
    border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    return float(np.median(border))


def object_mask(frame: np.ndarray, bg: float) -> np.ndarray:
    return np.abs(frame - bg).max(axis=-1) > OBJECT_DIFF


def colour_of(frames: np.ndarray) -> str | None:
    bg = background_level(frames[0])
    pix = np.concatenate([f[object_mask(f, bg)] for f in frames])
    if len(pix) == 0:
        return None
    mean = pix.mean(axis=0)
    return min(COLOURS, key=lambda c: float(np.sum((np.asarray(COLOURS[c]) - mean) ** 2)))


def centroid(frame: np.ndarray, bg: float):
    m = object_mask(frame, bg)
    if not m.any():
        return None
    ys, xs = np.nonzero(m)
    return float(xs.mean()), float(ys.mean())


def direction_of(frames: np.ndarray) -> str | None:
    bg = background_level(frames[0])
    a, b = centroid(frames[0], bg), centroid(frames[-1], bg)
    if a is None or b is None:
        return None
    dx, dy = b[0] - a[0], b[1] - a[1]
    if max(abs(dx), abs(dy)) < STILL_PX:
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def background_of(frames: np.ndarray) -> str:
    level = background_level(frames[0])
    return min(BACKGROUNDS, key=lambda b: abs(BACKGROUNDS[b] - level))
