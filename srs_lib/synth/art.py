"""Sticker art: a set's character, posed, with the parts of one sticker, in the set's style.

Real sticker sets share one character and one style, and sets differ in how alike their
stickers are: the paper's Figure 2 shows the mean SSIM between a ground truth and its
same-set negatives spread over (0, 1] with mean 0.258.

A sticker here is drawn in layers, back to front:

1. the set's **background** (flat, gradient, stripes, dots, checks or a painted texture),
   its colour and pattern phase varying per sticker;
2. the set's **character** (:mod:`srs_lib.synth.character`), **posed**: scaled,
   stretched, tilted, moved and mirrored within the set's ranges;
3. the sticker's **expression**, the features of a Twemoji face
   (:func:`srs_lib.synth.parts.face_features`), redrawn in the character's ink on its
   face, moving and tilting with it;
4. a **prop** below the face, and **accents** in regions of the sticker
   (:data:`srs_lib.synth.parts.REGIONS`), each in a place drawn anew per sticker;
5. the set's caption band of pseudo-text and frame, small decorations and grain.

:class:`SetStyle` holds a set's style, and one number, the set's *self-similarity* ``s``
in [0, 1], sets how much each sticker varies around it: :func:`sample_style` maps ``s``
to a style. :func:`render_sticker` returns the image and where each part was drawn (its
bounding box in pixels, the hidden truth of ``synth_info.json``); every random number is
drawn before anything is drawn, so leaving a part out (``omit``) changes the pixels of
that part's box only.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from srs_lib.synth.character import Character, draw_character
from srs_lib.synth.inventory import load_artwork
from srs_lib.synth.parts import REGIONS, face_features, regions_for

#: Side of a sticker, as in the release (``npy_stickers/*/*.npy`` are 128×128×3 uint8).
STICKER_SIZE = 128
#: A part's box holds every pixel it covers with at least this opacity (0-255): all the
#: pixels that drawing the part changes.
BOX_ALPHA = 1


@dataclass(frozen=True)
class SetStyle:
    """The visual style shared by the stickers of one set.

    Colours are RGB tuples in 0-255. Per-sticker amounts (``*_jitter``, ``rotation``,
    ``offset``, ``squash``, ``grain``, ``decorations``) are maxima or scales of what each
    sticker draws from its own generator.
    """

    self_similarity: float
    background: str
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    color_jitter: float  # per-sticker background colour change, 0-255 scale
    pattern_period: int  # stripes/dots/checks period in pixels
    pattern_jitter: float  # per-sticker phase shift, fraction of the period
    scale: float  # the character's size, relative to how it is drawn
    scale_jitter: float  # relative
    squash: float  # relative stretch of width against height
    rotation: float  # maximum absolute tilt, degrees
    offset: float  # maximum absolute shift, fraction of the side
    mirror: bool  # stickers may be mirrored left-right
    face_jitter: float  # shift of the expression on the face, fraction of the face
    accent_scale: float  # an accent's side, fraction of the sticker's side
    accent_jitter: float  # relative
    accent_regions: tuple[str, ...]  # where this set's author puts accents
    part_outline: int  # outline around accents and props, pixels (0: none)
    part_outline_color: tuple[int, int, int]
    frame: int  # frame width, pixels (0: none)
    frame_color: tuple[int, int, int]
    band: int  # caption band height, pixels (0: none)
    band_color: tuple[int, int, int]
    grain: float  # standard deviation of per-sticker noise, 0-255 scale
    decorations: int  # maximum number of small random dots per sticker

    def to_dict(self) -> dict:
        """A JSON-ready description (for ``synth_info.json``), exact: :meth:`from_dict`
        gives back the same style, so a sticker can be drawn again from the file."""
        out = asdict(self)
        out["colors"] = [list(c) for c in self.colors]
        for key in ("part_outline_color", "frame_color", "band_color"):
            out[key] = list(out[key])
        out["accent_regions"] = list(self.accent_regions)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "SetStyle":
        """The style that :meth:`to_dict` describes (as read from ``synth_info.json``)."""
        data = dict(data)
        data["colors"] = tuple(tuple(int(v) for v in c) for c in data["colors"])
        for key in ("part_outline_color", "frame_color", "band_color"):
            data[key] = tuple(int(v) for v in data[key])
        data["accent_regions"] = tuple(data["accent_regions"])
        return cls(**data)


def _color(rng: np.random.Generator, light: bool | None = None) -> tuple[int, int, int]:
    """A random RGB colour; ``light`` biases it to pastel or to dark tones."""
    if light is None:
        light = bool(rng.random() < 0.6)
    low, high = (150, 256) if light else (0, 120)
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def sample_style(rng: np.random.Generator, self_similarity: float) -> SetStyle:
    """A set style whose stickers are about as alike as ``self_similarity`` (0-1) says.

    Low values give a loosely posed character over textured, per-sticker backgrounds with
    grain and accents anywhere; high values a fixed pose on one flat background, accents
    always in the same corner.
    """
    s = float(np.clip(self_similarity, 0.0, 1.0))
    loose = 1.0 - s
    if s > 0.85:
        background = str(rng.choice(["flat", "flat", "gradient"]))
    elif s > 0.7:
        background = str(rng.choice(["flat", "flat", "gradient", "stripes", "dots"]))
    elif s > 0.45:
        background = str(rng.choice(["flat", "gradient", "stripes", "dots", "checks"]))
    else:
        background = str(rng.choice(["gradient", "stripes", "dots", "checks", "texture", "texture"]))
    light = bool(rng.random() < 0.7)
    colors = (_color(rng, light), _color(rng, light if rng.random() < 0.5 else not light))
    n_regions = int(np.clip(round(1 + 6 * loose * rng.uniform(0.6, 1.3)), 1, len(REGIONS)))
    regions = tuple(sorted(str(r) for r in rng.choice(list(REGIONS), size=n_regions, replace=False)))
    return SetStyle(
        self_similarity=s,
        background=background,
        colors=colors,
        color_jitter=90.0 * loose**1.5,
        pattern_period=int(rng.integers(8, 28)),
        pattern_jitter=min(1.0, 1.6 * loose**1.5),
        scale=float(np.clip(0.7 + 0.4 * loose + rng.normal(0, 0.05), 0.62, 1.15)),
        scale_jitter=0.3 * loose**1.3,
        squash=0.15 * loose**1.3,
        rotation=30.0 * loose**1.4,
        offset=0.16 * loose**1.4,
        mirror=bool(rng.random() < 0.6 * loose),
        face_jitter=0.08 * loose,
        accent_scale=float(rng.uniform(0.2, 0.24) + 0.06 * loose),
        accent_jitter=0.25 * loose,
        accent_regions=regions,
        part_outline=int(rng.choice([0, 2, 2, 3])),
        part_outline_color=(255, 255, 255) if rng.random() < 0.7 else (30, 30, 30),
        frame=int(rng.choice([0, 0, 0, 3, 6])),
        frame_color=_color(rng, not light),
        band=int(rng.choice([0, 0, 0, 18, 24])),
        band_color=_color(rng, light),
        grain=28.0 * loose**2,
        decorations=int(round(8 * loose**1.5)),
    )


# --------------------------------------------------------------------------------------
# Sprites: the pieces that are warped onto the sticker (premultiplied RGBA)
# --------------------------------------------------------------------------------------
def _premultiplied(rgba: np.ndarray) -> Image.Image:
    """A float or uint8 RGBA array as a PIL image in premultiplied ``RGBa`` mode."""
    rgba = np.asarray(rgba, dtype=np.float32)
    pre = np.concatenate([rgba[..., :3] * rgba[..., 3:] / 255, rgba[..., 3:]], axis=-1)
    return Image.fromarray(np.clip(np.rint(pre), 0, 255).astype(np.uint8), "RGBa")


@functools.lru_cache(maxsize=8)
def _character_sprite(character: Character, size: int) -> tuple[Image.Image, object]:
    layer = draw_character(character, size)
    return _premultiplied(layer.rgba), layer


@functools.lru_cache(maxsize=512)
def _expression_sprite(emoji_char: str, ink: tuple[int, int, int]) -> Image.Image:
    """A face's features with their dark strokes redrawn in the character's ink."""
    features = np.array(face_features(emoji_char))
    luma = features[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    t = np.clip((95.0 - luma) / 30.0, 0, 1)[..., None]  # browns and blacks, not reds or blues
    features[..., :3] = t * np.asarray(ink, np.float32) + (1 - t) * features[..., :3]
    return _premultiplied(features)


@functools.lru_cache(maxsize=1024)
def _glyph_sprite(emoji_char: str, outline: int, color: tuple[int, int, int]) -> Image.Image:
    """An accent's or a prop's Twemoji, outlined like a sticker."""
    return _premultiplied(_outlined(np.asarray(load_artwork(emoji_char)), outline, color))


def _outlined(rgba: np.ndarray, width: int, color: tuple[int, int, int]) -> np.ndarray:
    """Put a solid outline of ``width`` pixels around the artwork's silhouette."""
    if width <= 0:
        return rgba
    from scipy.ndimage import distance_transform_edt

    pad = width + 1
    rgba = np.pad(rgba, ((pad, pad), (pad, pad), (0, 0))).astype(np.float32)
    alpha = rgba[..., 3] / 255
    grown = (distance_transform_edt(alpha < 0.5) <= width).astype(np.float32)
    out = np.empty_like(rgba)
    a = alpha[..., None]
    out[..., :3] = a * rgba[..., :3] + (1 - a) * np.asarray(color, np.float32)
    out[..., 3] = np.maximum(grown, alpha) * 255
    return out


def _matrix(scale_x: float, scale_y: float, angle: float, mirror: bool,
            source: tuple[float, float], target: tuple[float, float]) -> np.ndarray:
    """3×3 map from sprite pixels to sticker pixels: ``source`` goes to ``target``, scaled,
    mirrored and turned by ``angle`` degrees about it."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    to_origin = np.array([[1, 0, -source[0]], [0, 1, -source[1]], [0, 0, 1]], dtype=np.float64)
    scale = np.diag([scale_x * (-1 if mirror else 1), scale_y, 1.0])
    turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)
    to_target = np.array([[1, 0, target[0]], [0, 1, target[1]], [0, 0, 1]], dtype=np.float64)
    return to_target @ turn @ scale @ to_origin


def _warp(sprite: Image.Image, matrix: np.ndarray, size: int) -> np.ndarray:
    """The sprite drawn through ``matrix`` onto a ``size``² canvas: premultiplied float32 RGBA."""
    inverse = np.linalg.inv(matrix)
    data = tuple(float(v) for v in inverse[:2].ravel())
    warped = sprite.transform((size, size), Image.Transform.AFFINE, data,
                              resample=Image.Resampling.BICUBIC)
    out = np.asarray(warped, dtype=np.float32).copy()
    # bicubic ringing can leave colour where there is no opacity: premultiplied colour
    # never exceeds its alpha
    np.minimum(out[..., :3], out[..., 3:], out=out[..., :3])
    return out


def _over(canvas: np.ndarray, layer: np.ndarray) -> None:
    """Composite a premultiplied layer over the canvas, in place."""
    canvas *= 1 - layer[..., 3:] / 255
    canvas += layer[..., :3]


def _box(layer: np.ndarray, visible: tuple[int, int, int, int]) -> list[int] | None:
    """``[x0, y0, x1, y1]`` (x1, y1 exclusive) of the layer's pixels in the visible area."""
    x0, y0, x1, y1 = visible
    mask = np.zeros(layer.shape[:2], bool)
    mask[y0:y1, x0:x1] = layer[y0:y1, x0:x1, 3] >= BOX_ALPHA
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return [int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1]


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------
def _background(style: SetStyle, rng: np.random.Generator, size: int) -> np.ndarray:
    """The sticker's background, float32 ``(size, size, 3)`` in 0-255."""
    c0 = np.asarray(style.colors[0], dtype=np.float32)
    c1 = np.asarray(style.colors[1], dtype=np.float32)
    if style.color_jitter > 0:
        shift = rng.normal(0, style.color_jitter, size=3).astype(np.float32)
        c0 = np.clip(c0 + shift, 0, 255)
        c1 = np.clip(c1 + shift[::-1], 0, 255)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    period = style.pattern_period
    phase = rng.uniform(0, style.pattern_jitter * period) if style.pattern_jitter > 0 else 0.0
    kind = style.background
    if kind == "flat":
        t = np.zeros((size, size), np.float32)
    elif kind == "gradient":
        t = (y + 0.3 * x + phase) / (1.3 * size)
    elif kind == "stripes":
        t = ((x + y + phase) // (period / 2) % 2).astype(np.float32)
    elif kind == "dots":
        cx = (x + phase) % period - period / 2
        cy = (y + phase) % period - period / 2
        t = (cx * cx + cy * cy < (period / 4) ** 2).astype(np.float32)
    elif kind == "checks":
        t = (((x + phase) // period + (y + phase) // period) % 2).astype(np.float32)
    elif kind == "texture":
        # a few random soft blobs: each sticker gets its own painted background
        t = np.zeros((size, size), np.float32)
        for _ in range(6):
            bx, by = rng.uniform(0, size, 2)
            r = rng.uniform(size / 8, size / 3)
            t += np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * r * r)).astype(np.float32)
        t = np.clip(t / max(float(t.max()), 1e-6), 0, 1)
    else:
        raise ValueError(f"unknown background {kind!r}")
    t = np.clip(t, 0, 1)[..., None]
    return (1 - t) * c0 + t * c1


def render_sticker(
    parts: Sequence[tuple[str, str]],
    character: Character,
    style: SetStyle,
    rng: np.random.Generator,
    size: int = STICKER_SIZE,
    omit: Iterable[str] = (),
) -> tuple[np.ndarray, list[dict]]:
    """Draw one sticker of a set: ``(image, placed)``.

    ``parts``: ``(kind, emoji)`` pairs, one ``expression`` and optionally ``accent`` and
    ``prop`` parts. Returns the ``(size, size, 3)`` uint8 image and, per part in order,
    ``{"kind", "emoji", "region", "box"}``: the region an accent was placed in (``face``
    for the expression, ``held`` for a prop) and the bounding box ``[x0, y0, x1, y1]``
    (pixels, end exclusive) of its visible pixels. ``omit`` names kinds to leave out: the
    same sticker without them, every other pixel unchanged.
    """
    omit = set(omit)
    sprite, layer = _character_sprite(character, size)
    band, frame = style.band, style.frame
    visible = (frame, frame, size - frame, size - max(band, frame))
    area_h = visible[3]

    # 1. every random number of the layout, before anything is drawn
    scale = style.scale * (1 + rng.uniform(-style.scale_jitter, style.scale_jitter))
    squash = 1 + rng.uniform(-style.squash, style.squash) if style.squash > 0 else 1.0
    angle = rng.uniform(-style.rotation, style.rotation) if style.rotation > 0 else 0.0
    mirror = style.mirror and bool(rng.random() < 0.5)
    shift = rng.uniform(-style.offset, style.offset, 2) * size if style.offset > 0 else np.zeros(2)
    face_shift = rng.uniform(-style.face_jitter, style.face_jitter, 2) * layer.face_side
    placements = []
    for kind, emoji_char in parts:
        if kind == "accent":
            allowed = [r for r in style.accent_regions if r in regions_for(emoji_char)]
            allowed = allowed or list(regions_for(emoji_char))
            region = allowed[int(rng.integers(len(allowed)))]
            (xa, xb), (ya, yb) = REGIONS[region]
            centre = (rng.uniform(xa, xb) * size, rng.uniform(ya, yb) * area_h)
            side = style.accent_scale * size * (1 + rng.uniform(-style.accent_jitter, style.accent_jitter))
            tilt = rng.uniform(-20, 20) * (1 - style.self_similarity)
            placements.append((region, centre, side, tilt))
        elif kind == "prop":
            placements.append(("held", (rng.uniform(-0.05, 0.05) * size, rng.uniform(-0.03, 0.03) * size),
                               layer.prop_side * (1 + rng.uniform(-0.1, 0.1)), rng.uniform(-12, 12)))
        elif kind == "expression":
            placements.append(("face", None, None, None))
        else:
            raise ValueError(f"unknown part kind {kind!r}")

    # the pose: the character's frame centre goes to the sticker's centre, shifted, and
    # the shift is clamped so that the face stays inside the visible area
    centre_in = (layer.offset + size / 2, layer.offset + size / 2)
    sx, sy = scale * squash, scale / squash
    pose = _matrix(sx, sy, angle, mirror, centre_in, (size / 2, area_h / 2))
    face = pose @ np.array([layer.face[0] + face_shift[0], layer.face[1] + face_shift[1], 1.0])
    half = layer.face_side * max(sx, sy) / 2 * 1.05
    low = np.array([visible[0] + half, visible[1] + half]) - face[:2]
    high = np.array([visible[2] - half, visible[3] - half]) - face[:2]
    shift = np.clip(shift, low, np.maximum(high, low))
    pose = _matrix(sx, sy, angle, mirror, centre_in, (size / 2 + shift[0], area_h / 2 + shift[1]))

    # 2. background and character
    canvas = _background(style, rng, size)
    _over(canvas, _warp(sprite, pose, size))

    # 3-4. the parts
    placed = []
    for (kind, emoji_char), (region, centre, side, tilt) in zip(parts, placements):
        if kind == "expression":
            glyph = _expression_sprite(emoji_char, character.ink)
            k = layer.face_side / glyph.width
            at = (layer.face[0] + face_shift[0], layer.face[1] + face_shift[1])
            matrix = pose @ _matrix(k, k, 0.0, False, (glyph.width / 2, glyph.height / 2), at)
        else:
            glyph = _glyph_sprite(emoji_char, style.part_outline, style.part_outline_color)
            art_side = glyph.width - 2 * (style.part_outline + 1) if style.part_outline else glyph.width
            if kind == "prop":
                k = side * scale / art_side
                anchor = pose @ np.array([layer.prop[0], layer.prop[1], 1.0])
                half_side = side * scale / 2
                x = float(np.clip(anchor[0] + centre[0], visible[0] + half_side, visible[2] - half_side))
                y = float(np.clip(anchor[1] + centre[1], visible[1] + half_side, visible[3] - half_side))
                matrix = _matrix(k, k, angle + tilt, False, (glyph.width / 2, glyph.height / 2), (x, y))
            else:
                k = side / art_side
                matrix = _matrix(k, k, tilt, False, (glyph.width / 2, glyph.height / 2), centre)
        drawn = _warp(glyph, matrix, size)
        box = _box(drawn, visible)
        if kind not in omit:
            _over(canvas, drawn)
        placed.append({"kind": kind, "emoji": emoji_char, "region": region, "box": box})

    # 5. band, frame, decorations, grain
    if band:
        canvas[size - band :] = np.asarray(style.band_color, np.float32)
        _pseudo_text(canvas, rng, top=size - band, height=band, color=style.frame_color)
    if frame:
        colour = np.asarray(style.frame_color, np.float32)
        canvas[:frame], canvas[-frame:], canvas[:, :frame], canvas[:, -frame:] = colour, colour, colour, colour
    if style.decorations:
        _decorate(canvas, rng, int(rng.integers(0, style.decorations + 1)), style.colors[1])
    if style.grain > 0:
        canvas += rng.normal(0, style.grain, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), placed


def _pseudo_text(canvas: np.ndarray, rng: np.random.Generator, top: int, height: int, color) -> None:
    """Word-like blocks in the caption band (a caption without a font)."""
    size = canvas.shape[1]
    x = int(rng.integers(6, 20))
    y0 = top + height // 3
    y1 = top + height - height // 3
    c = np.asarray(color, np.float32)
    while x < size - 10:
        width = int(rng.integers(6, 22))
        canvas[y0:y1, x : min(x + width, size - 6)] = c
        x += width + int(rng.integers(4, 8))
        if rng.random() < 0.25:
            break


def _decorate(canvas: np.ndarray, rng: np.random.Generator, count: int, color) -> None:
    """Small filled circles at random places (sparkles, confetti)."""
    size = canvas.shape[0]
    y, x = np.mgrid[0:size, 0:size]
    c = np.asarray(color, np.float32)
    for _ in range(count):
        cx, cy = rng.uniform(0, size, 2)
        r = rng.uniform(2, 7)
        canvas[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = c
