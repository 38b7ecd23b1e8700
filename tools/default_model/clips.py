"""Procedural training clips and their captions (numpy only).

A clip is one shape (circle, square, triangle) of one colour on a flat black or gray background,
moving left/right/up/down in a straight line or staying still. Frames are float32 RGB in [0, 1],
rendered at 4x supersampling and box-filtered so edges are anti-aliased and sub-pixel motion is
visible.

`Clip` holds the *facts* of a clip; `caption()` turns facts into one of many phrasings, drawn
fresh every time a clip is used, so the text encoder learns that "ball" and "circle", "going" and
"moving", "dark" and "black" mean the same. `VOCABULARY` is every word a caption can contain: the
tokenizer is built from it, and the README documents it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WIDTH = HEIGHT = 32
FRAMES = 8
SUPERSAMPLE = 4

COLOURS = {
    "red": (0.95, 0.10, 0.10),
    "green": (0.10, 0.80, 0.15),
    "blue": (0.15, 0.25, 1.00),
    "yellow": (1.00, 0.90, 0.10),
    "white": (1.00, 1.00, 1.00),
    "cyan": (0.10, 0.90, 0.90),
    "magenta": (0.90, 0.10, 0.90),
    "orange": (1.00, 0.50, 0.05),
}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = ("left", "right", "up", "down", "still")
BACKGROUNDS = {"black": 0.0, "gray": 0.5}

# Unit vectors in image coordinates (x right, y down).
_VECTORS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}

# --- phrasing --------------------------------------------------------------------------------
SHAPE_WORDS = {
    "circle": ("circle", "ball", "disk", "dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle",),
}
COLOUR_WORDS = {c: (c,) for c in COLOURS}
MOTION_VERBS = ("moving", "going", "sliding", "travelling", "traveling", "drifting", "heading")
MOTION_VERBS_3RD = ("moves", "goes", "slides", "travels", "drifts", "heads")
DIRECTION_WORDS = {
    "left": ("left", "to the left", "leftward", "leftwards"),
    "right": ("right", "to the right", "rightward", "rightwards"),
    "up": ("up", "upward", "upwards"),
    "down": ("down", "downward", "downwards"),
}
STILL_PHRASES = ("staying still", "standing still", "not moving", "resting", "holding still", "still")
STILL_PHRASES_3RD = ("stays still", "stands still", "does not move", "rests")
BACKGROUND_WORDS = {"black": ("black", "dark"), "gray": ("gray", "grey")}
ARTICLES = ("a", "one", "the")


@dataclass(frozen=True)
class Clip:
    colour: str
    shape: str
    direction: str
    background: str
    radius: float  # half the object's extent, pixels
    start: tuple[float, float]  # centre at frame 0 (x, y), pixels
    travel: float  # centre displacement from first to last frame, pixels


def sample_clip(rng: np.random.Generator) -> Clip:
    colour = str(rng.choice(list(COLOURS)))
    shape = str(rng.choice(SHAPES))
    direction = str(rng.choice(DIRECTIONS))
    background = str(rng.choice(list(BACKGROUNDS)))
    return sample_clip_of(rng, colour, shape, direction, background)


def sample_clip_of(rng: np.random.Generator, colour: str, shape: str, direction: str, background: str) -> Clip:
    radius = float(rng.uniform(4.0, 6.0))
    # Long, clearly visible trips: 12-16 px over the clip (3/8 to 1/2 of the frame).
    travel = 0.0 if direction == "still" else float(rng.uniform(12.0, 16.0))
    dx, dy = _VECTORS[direction]
    margin = radius + 0.5

    def axis_start(d: int, size: int) -> float:
        lo, hi = margin, size - margin
        if d > 0:
            hi -= travel
        elif d < 0:
            lo += travel
        return float(rng.uniform(lo, hi))

    start = (axis_start(dx, WIDTH), axis_start(dy, HEIGHT))
    return Clip(colour, shape, direction, background, radius, start, travel)


def centres(clip: Clip, frames: int = FRAMES) -> np.ndarray:
    """[frames, 2] object centre (x, y) per frame: constant speed from start."""
    dx, dy = _VECTORS[clip.direction]
    s = np.linspace(0.0, 1.0, frames)[:, None] * clip.travel
    return np.asarray(clip.start)[None, :] + s * np.array([dx, dy])[None, :]


def _mask(shape: str, cx: float, cy: float, r: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    if shape == "square":
        h = r * 0.85  # same visual area as the circle, roughly
        return (np.abs(xs - cx) <= h) & (np.abs(ys - cy) <= h)
    # Upward-pointing isosceles triangle inscribed in the circle of radius r*1.1.
    rr = r * 1.1
    top, base = cy - rr, cy + rr * 0.6
    half = (ys - top) / (base - top) * rr
    return (ys >= top) & (ys <= base) & (np.abs(xs - cx) <= half)


def render(clip: Clip, frames: int = FRAMES) -> np.ndarray:
    """float32 [frames, HEIGHT, WIDTH, 3] in [0, 1]."""
    n = SUPERSAMPLE
    coords = (np.arange(WIDTH * n) + 0.5) / n
    xs, ys = np.meshgrid(coords, coords)
    bg = BACKGROUNDS[clip.background]
    colour = np.asarray(COLOURS[clip.colour], np.float32)
    out = np.empty((frames, HEIGHT, WIDTH, 3), np.float32)
    for f, (cx, cy) in enumerate(centres(clip, frames)):
        cover = _mask(clip.shape, cx, cy, clip.radius, xs, ys).astype(np.float32)
        cover = cover.reshape(HEIGHT, n, WIDTH, n).mean(axis=(1, 3))[..., None]
        out[f] = bg * (1.0 - cover) + colour * cover
    return out


def caption(clip: Clip, rng: np.random.Generator) -> str:
    """One phrasing of the clip's facts, drawn from the templates and synonyms."""
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    art = pick(ARTICLES) if rng.random() < 0.3 else "a"
    thing = f"{pick(COLOUR_WORDS[clip.colour])} {pick(SHAPE_WORDS[clip.shape])}"
    bg = pick(BACKGROUND_WORDS[clip.background])
    if clip.direction == "still":
        motion, motion3 = pick(STILL_PHRASES), pick(STILL_PHRASES_3RD)
    else:
        d = pick(DIRECTION_WORDS[clip.direction])
        motion, motion3 = f"{pick(MOTION_VERBS)} {d}", f"{pick(MOTION_VERBS_3RD)} {d}"
    template = int(rng.integers(6))
    if template <= 1:  # the canonical form, twice as often
        text = f"{art} {thing} {motion} on a {bg} background"
    elif template == 2:
        text = f"{art} {thing} on a {bg} background, {motion}"
    elif template == 3:
        text = f"{art} {thing} that {motion3} on a {bg} background"
    elif template == 4:
        text = f"{thing} {motion}, {bg} background"
    else:  # no background named: the model picks one
        text = f"{art} {thing} {motion}"
    return text


def canonical_caption(clip: Clip) -> str:
    if clip.direction == "still":
        return f"a {clip.colour} {clip.shape} staying still on a {clip.background} background"
    return f"a {clip.colour} {clip.shape} moving {clip.direction} on a {clip.background} background"


def _vocabulary() -> list[str]:
    words: set[str] = {"on", "background", "that", ",", "to", "the"}
    groups = [ARTICLES, MOTION_VERBS, MOTION_VERBS_3RD, STILL_PHRASES, STILL_PHRASES_3RD]
    groups += list(SHAPE_WORDS.values()) + list(COLOUR_WORDS.values()) + list(DIRECTION_WORDS.values())
    groups += list(BACKGROUND_WORDS.values())
    for g in groups:
        for phrase in g:
            words.update(phrase.replace(",", " , ").split())
    return sorted(words)


VOCABULARY = _vocabulary()


def dataset(n: int, seed: int) -> tuple[list[Clip], np.ndarray]:
    """n clips with balanced colour/shape/direction/background, and their frames [n, F, H, W, 3]."""
    rng = np.random.default_rng(seed)
    combos = [(c, s, d, b) for c in COLOURS for s in SHAPES for d in DIRECTIONS for b in BACKGROUNDS]
    clips = [sample_clip_of(rng, *combos[i % len(combos)]) for i in range(n)]
    order = rng.permutation(n)
    clips = [clips[i] for i in order]
    frames = np.stack([render(c) for c in clips])
    return clips, frames
