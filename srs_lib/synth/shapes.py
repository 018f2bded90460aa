"""A second, deliberately simple corpus generator: geometric shapes and one small mark.

``python -m srs_lib synth --style shapes`` writes a corpus in the same release format
as the embedded one, but drawn by rules that have nothing to do with stickers, so that a
model's defaults can be checked on data nobody designed them for:

* A **set** is one big shape (circle, square, triangle, ring, star or diamond) in one
  colour, on a plain, two-tone or noisy background. How much the shape moves and the
  background changes from sticker to sticker is the set's own (its *self-similarity*).
* A sticker's **meaning** is one small **mark** (:data:`MARKS`): a coloured circle,
  square, diamond, triangle, ring or star, about a tenth to a fifth of the side, placed
  anywhere in the sticker, anew each time. A set uses a few marks, so several of its
  stickers carry the same mark in different places.
* The **label** is the mark's emoji, by a fixed mapping (🔴 is a red circle, 🟦 a blue
  square, ⭐ a yellow star, ...), except in noisy sets (random labels).
* The **dialogs** are written by :class:`~srs_lib.synth.dialogs.DialogWriter`, as for the
  embedded corpus, about the mark: its cue words are the words of the mark emoji's CLDR
  name (*red*, *circle*, *large*, *diamond*...), which overlap between marks.

Sizes, ids, small and noisy sets come from the same presets and rules
(:mod:`srs_lib.synth.presets`, :mod:`srs_lib.synth.sets`); ``synth_info.json`` records
each sticker's mark and its bounding box. Drawing is procedural (no artwork).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from srs_lib.synth.presets import Preset
from srs_lib.synth.sets import draw_set_traits, draw_sticker_ids, set_sizes

#: The colours of the marks (Twemoji's palette for these emojis, roughly).
COLOURS = {
    "red": (221, 46, 68), "orange": (244, 144, 12), "yellow": (253, 203, 88), "green": (120, 177, 89),
    "blue": (85, 172, 238), "purple": (170, 142, 214), "brown": (193, 105, 79), "black": (49, 55, 61),
    "white": (230, 231, 232),
}
#: Every mark: its emoji, by the fixed mapping, and ``(shape, colour, relative size)``.
MARKS: dict[str, tuple[str, str, float]] = {
    "🔴": ("circle", "red", 1.0), "🟠": ("circle", "orange", 1.0), "🟡": ("circle", "yellow", 1.0),
    "🟢": ("circle", "green", 1.0), "🔵": ("circle", "blue", 1.0), "🟣": ("circle", "purple", 1.0),
    "🟤": ("circle", "brown", 1.0), "⚫": ("circle", "black", 1.0), "⚪": ("circle", "white", 1.0),
    "🟥": ("square", "red", 1.0), "🟧": ("square", "orange", 1.0), "🟨": ("square", "yellow", 1.0),
    "🟩": ("square", "green", 1.0), "🟦": ("square", "blue", 1.0), "🟪": ("square", "purple", 1.0),
    "🟫": ("square", "brown", 1.0), "⬛": ("square", "black", 1.2), "⬜": ("square", "white", 1.2),
    "🔶": ("diamond", "orange", 1.2), "🔷": ("diamond", "blue", 1.2), "🔸": ("diamond", "orange", 0.75),
    "🔹": ("diamond", "blue", 0.75), "🔺": ("triangle_up", "red", 1.0), "🔻": ("triangle_down", "red", 1.0),
    "⭐": ("star", "yellow", 1.2), "⭕": ("ring", "red", 1.1),
}
BASE_SHAPES = ("circle", "square", "triangle_up", "ring", "star", "diamond")
BACKGROUNDS = ("plain", "two_tone", "noisy")
_SUPERSAMPLE = 3


@dataclass(frozen=True)
class ShapeStyle:
    """What the stickers of a shapes set share, and how much they vary."""

    self_similarity: float
    background: str
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    noise: float  # standard deviation of the background noise, 0-255
    color_jitter: float  # per-sticker background colour change
    shape: str
    shape_color: tuple[int, int, int]
    shape_size: float  # radius, fraction of the side
    shape_centre: tuple[float, float]  # fractions of the side
    shape_jitter: float  # per-sticker move, fraction of the side
    mark_size: float  # a mark's radius, fraction of the side

    def to_dict(self) -> dict:
        out = asdict(self)
        out["colors"] = [list(c) for c in self.colors]
        out["shape_color"] = list(self.shape_color)
        out["shape_centre"] = list(self.shape_centre)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "ShapeStyle":
        data = dict(data)
        data["colors"] = tuple(tuple(int(v) for v in c) for c in data["colors"])
        data["shape_color"] = tuple(int(v) for v in data["shape_color"])
        data["shape_centre"] = tuple(float(v) for v in data["shape_centre"])
        return cls(**data)


def sample_shape_style(rng: np.random.Generator, self_similarity: float) -> ShapeStyle:
    """A shapes set's look: the looser the set, the more its shape moves and its background
    changes, and the noisier it is."""
    s = float(np.clip(self_similarity, 0, 1))
    loose = 1 - s
    colors = tuple(tuple(int(v) for v in rng.integers(0, 256, 3)) for _ in range(2))
    background = str(rng.choice(BACKGROUNDS, p=[0.4, 0.3, 0.3]))
    return ShapeStyle(
        self_similarity=s, background=background, colors=colors,
        noise=float(rng.uniform(10, 45)) if background == "noisy" else 0.0,
        color_jitter=70.0 * loose,
        shape=str(rng.choice(BASE_SHAPES)), shape_color=tuple(int(v) for v in rng.integers(0, 256, 3)),
        shape_size=float(rng.uniform(0.22, 0.4)),
        shape_centre=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65))),
        shape_jitter=0.25 * loose, mark_size=float(rng.uniform(0.05, 0.1)),
    )


def _shape_points(shape: str, cx: float, cy: float, r: float, angle: float = 0.0):
    """Polygon of a shape (None for circles and rings, drawn as ellipses)."""
    if shape in ("circle", "ring"):
        return None
    if shape == "square":
        corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        points = [(x * r * 0.85, y * r * 0.85) for x, y in corners]
    elif shape == "diamond":
        points = [(0, -r), (r * 0.8, 0), (0, r), (-r * 0.8, 0)]
    elif shape in ("triangle_up", "triangle_down"):
        sign = 1 if shape == "triangle_up" else -1
        points = [(0, -r * sign), (r * 0.95, r * 0.7 * sign), (-r * 0.95, r * 0.7 * sign)]
    elif shape == "star":
        points = [((r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                   -(r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5)) for k in range(10)]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [(cx + c * x - s * y, cy + s * x + c * y) for x, y in points]


def shape_mask(shape: str, cx: float, cy: float, r: float, size: int, angle: float = 0.0) -> np.ndarray:
    """Antialiased coverage ``(size, size)`` in [0, 1] of a shape centred at ``(cx, cy)``."""
    k = _SUPERSAMPLE
    image = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(image)
    points = _shape_points(shape, cx * k, cy * k, r * k, angle)
    if points is None:
        box = [(cx - r) * k, (cy - r) * k, (cx + r) * k, (cy + r) * k]
        draw.ellipse(box, fill=255)
        if shape == "ring":
            w = r * 0.38
            draw.ellipse([(cx - r + w) * k, (cy - r + w) * k, (cx + r - w) * k, (cy + r - w) * k], fill=0)
    else:
        draw.polygon(points, fill=255)
    big = np.asarray(image, dtype=np.float32) / 255
    return big.reshape(size, k, size, k).mean(axis=(1, 3))


def render_shape_sticker(parts, style: ShapeStyle, rng: np.random.Generator, size: int = 128,
                         omit=()) -> tuple[np.ndarray, list[dict]]:
    """One sticker: background, the set's shape (moved), and the mark(s) of ``parts``
    (``("mark", emoji)`` pairs) anywhere. Returns ``(image, placed)`` as
    :func:`srs_lib.synth.art.render_sticker` does; ``omit=("mark",)`` leaves the marks out
    and changes nothing else."""
    omit = set(omit)
    shift = rng.uniform(-style.shape_jitter, style.shape_jitter, 2) * size
    angle = rng.uniform(-30, 30) * (1 - style.self_similarity)
    places = []
    for _, emoji_char in parts:
        r = style.mark_size * size * MARKS[emoji_char][2]
        places.append((rng.uniform(r + 1, size - r - 1), rng.uniform(r + 1, size - r - 1), r,
                       rng.uniform(-20, 20)))
    c0, c1 = (np.asarray(c, np.float32) for c in style.colors)
    if style.color_jitter:
        jitter = rng.normal(0, style.color_jitter, 3).astype(np.float32)
        c0, c1 = np.clip(c0 + jitter, 0, 255), np.clip(c1 - jitter, 0, 255)
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = c0
    if style.background == "two_tone":
        split = int(rng.integers(size // 4, 3 * size // 4))
        canvas[split:] = c1
    elif style.background == "noisy":
        canvas += rng.normal(0, style.noise, (size, size, 3)).astype(np.float32)
    cover = shape_mask(style.shape, size * style.shape_centre[0] + shift[0], size * style.shape_centre[1] + shift[1],
                       style.shape_size * size, size, angle)[..., None]
    canvas = cover * np.asarray(style.shape_color, np.float32) + (1 - cover) * canvas
    placed = []
    for (kind, emoji_char), (x, y, r, turn) in zip(parts, places):
        shape, colour, _ = MARKS[emoji_char]
        mark = shape_mask(shape, x, y, r, size, turn if shape != "circle" else 0.0)
        # a thin dark rim, so that a mark reads on a shape of its own colour
        rim = np.clip(shape_mask(shape, x, y, r + 1.2, size, turn if shape != "circle" else 0.0) - mark, 0, 1)
        drawn = np.maximum(mark, rim)
        rows, cols = np.flatnonzero(drawn.any(axis=1)), np.flatnonzero(drawn.any(axis=0))
        box = [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]
        if kind not in omit:
            canvas = rim[..., None] * 30 + (1 - rim[..., None]) * canvas
            canvas = mark[..., None] * np.asarray(COLOURS[colour], np.float32) + (1 - mark[..., None]) * canvas
        placed.append({"kind": kind, "emoji": emoji_char, "region": "anywhere", "box": box})
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), placed


@dataclass
class ShapeSet:
    """One set of the shapes corpus (the attributes the dialog writer and the writer use)."""

    index: int
    set_id: int
    sticker_ids: list[int]
    parts: list[tuple[tuple[str, str], ...]]
    labels: list[str]
    noisy: bool
    style: ShapeStyle
    vocabulary: dict[str, list[str]]
    popularity: float = 1.0
    theme: str = "shapes"
    character: None = None
    placed: list[list[dict]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sticker_ids)

    def emojis(self) -> list[str]:
        return list(self.vocabulary["mark"])

    def to_dict(self) -> dict:
        stickers = [{"sticker_id": sticker, "label": label,
                     "parts": self.placed[k] if k < len(self.placed) else
                     [{"kind": kind, "emoji": e} for kind, e in self.parts[k]]}
                    for k, (sticker, label) in enumerate(zip(self.sticker_ids, self.labels))]
        return {"set_id": self.set_id, "theme": self.theme, "n_stickers": len(self), "noisy_labels": self.noisy,
                "popularity": round(self.popularity, 6), "vocabulary": self.vocabulary,
                "style": self.style.to_dict(), "stickers": stickers}


def build_shape_sets(preset: Preset, rng: np.random.Generator, taken_ids: set[int] | None = None) -> list[ShapeSet]:
    """The preset's sets for the shapes corpus: sizes, ids, small and noisy sets by the same
    rules as :func:`srs_lib.synth.sets.build_sets`; each set uses a few marks, each at
    least once where the set is large enough."""
    taken = set() if taken_ids is None else taken_ids
    marks = list(MARKS)
    sizes = set_sizes(preset, rng)
    set_ids, noisy, popularity, similarity = draw_set_traits(rng, preset, sizes, taken)
    sets = []
    for index, size in enumerate(sizes):
        n_marks = int(np.clip(round(size * rng.uniform(0.15, 0.5)), 2, len(marks)))
        vocabulary = [marks[int(i)] for i in rng.choice(len(marks), size=n_marks, replace=False)]
        chosen = vocabulary[:size] + [vocabulary[int(i)] for i in rng.integers(n_marks, size=max(0, size - n_marks))]
        chosen = [chosen[int(i)] for i in rng.permutation(size)]
        parts = [(("mark", e),) for e in chosen]
        labels = [marks[int(i)] for i in rng.integers(len(marks), size=size)] if index in noisy else chosen
        sticker_ids = draw_sticker_ids(rng, set_ids[index], size, taken)
        sets.append(ShapeSet(index=index, set_id=set_ids[index], sticker_ids=sticker_ids, parts=parts,
                             labels=list(labels), noisy=index in noisy,
                             style=sample_shape_style(rng, float(similarity[index])),
                             vocabulary={"mark": vocabulary}, popularity=float(popularity[index])))
    return sets
