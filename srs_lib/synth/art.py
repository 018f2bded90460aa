"""Sticker art: a Twemoji drawn in the visual style of its sticker set.

Real sticker sets share a style (same character, same background, same drawing hand), and
sets differ in how alike their stickers are: the paper's Figure 2 shows the mean SSIM
between a ground truth and its same-set negatives spread over (0, 1] with mean 0.258.

Here every set gets a :class:`SetStyle`: a background (flat, gradient, stripes, dots,
checks or a painted texture), a palette shift (hue rotation and saturation applied to all
of the set's artwork), a sticker outline, optionally a frame and a caption band, and how
much each sticker may vary around that: pose (scale, rotation, offset, mirror),
background colour and pattern phase, film grain, small decorations, pseudo-text in the
caption band. One number, the set's *self-similarity* ``s`` in [0, 1], drives the
amount of per-sticker variation (and the size of the artwork, since a large emoji leaves
less shared background): :func:`sample_style` maps ``s`` to a style, and the generator
draws ``s`` per set from a Beta distribution so that most sets are dissimilar and a few
are near-uniform. The tests check that stickers of a set are more alike (SSIM) than
stickers of different sets.

Rendering is deterministic given the style and the sticker's random generator.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from srs_lib.synth.inventory import load_artwork

#: Side of a sticker, as in the release (``npy_stickers/*/*.npy`` are 128×128×3 uint8).
STICKER_SIZE = 128


@dataclass(frozen=True)
class SetStyle:
    """The visual style shared by the stickers of one set.

    Colours are RGB tuples in 0-255. Per-sticker amounts (``*_jitter``, ``rotation``,
    ``offset``, ``grain``, ``decorations``) are maxima or scales of what each sticker draws
    from its own generator.
    """

    self_similarity: float
    background: str
    colors: tuple[tuple[int, int, int], tuple[int, int, int]]
    color_jitter: float  # per-sticker background colour change, 0-255 scale
    pattern_period: int  # stripes/dots/checks period in pixels
    pattern_jitter: float  # per-sticker phase shift, fraction of the period
    scale: float  # emoji side as a fraction of the sticker side
    scale_jitter: float  # relative
    rotation: float  # maximum absolute rotation, degrees
    offset: float  # maximum absolute shift, fraction of the side
    mirror: bool  # stickers may be mirrored left-right
    hue_shift: float  # degrees, applied to the set's artwork
    saturation: float  # 1 keeps the artwork's saturation
    outline: int  # sticker outline width, pixels (0: none)
    outline_color: tuple[int, int, int]
    frame: int  # frame width, pixels (0: none)
    frame_color: tuple[int, int, int]
    band: int  # caption band height, pixels (0: none)
    band_color: tuple[int, int, int]
    grain: float  # standard deviation of per-sticker noise, 0-255 scale
    decorations: int  # maximum number of small random dots per sticker

    def to_dict(self) -> dict:
        """A JSON-ready description (for ``synth_info.json``)."""
        out = asdict(self)
        out["self_similarity"] = round(self.self_similarity, 4)
        for key in ("color_jitter", "pattern_jitter", "scale", "scale_jitter", "rotation",
                    "offset", "hue_shift", "saturation", "grain"):
            out[key] = round(float(out[key]), 3)
        return out


def _color(rng: np.random.Generator, light: bool | None = None) -> tuple[int, int, int]:
    """A random RGB colour; ``light`` biases it to pastel or to dark tones."""
    if light is None:
        light = bool(rng.random() < 0.6)
    low, high = (150, 256) if light else (0, 120)
    return tuple(int(v) for v in rng.integers(low, high, size=3))


def sample_style(rng: np.random.Generator, self_similarity: float) -> SetStyle:
    """A set style whose stickers are about as alike as ``self_similarity`` (0-1) says.

    Low values give large, loosely posed artwork over textured, per-sticker backgrounds
    with grain; high values give small artwork in a fixed pose on one flat background.
    """
    s = float(np.clip(self_similarity, 0.0, 1.0))
    loose = 1.0 - s
    if s > 0.75:
        background = str(rng.choice(["flat", "flat", "gradient", "stripes"]))
    elif s > 0.45:
        background = str(rng.choice(["flat", "gradient", "stripes", "dots", "checks"]))
    else:
        background = str(rng.choice(["gradient", "stripes", "dots", "checks", "texture", "texture"]))
    light = bool(rng.random() < 0.7)
    colors = (_color(rng, light), _color(rng, light if rng.random() < 0.5 else not light))
    return SetStyle(
        self_similarity=s,
        background=background,
        colors=colors,
        color_jitter=90.0 * loose**1.5,
        pattern_period=int(rng.integers(8, 28)),
        pattern_jitter=min(1.0, 1.2 * loose),
        scale=float(np.clip(0.32 + 0.7 * loose + rng.normal(0, 0.05), 0.3, 1.05)),
        scale_jitter=0.25 * loose,
        rotation=35.0 * loose**1.2,
        offset=0.18 * loose,
        mirror=bool(rng.random() < 0.5 * loose),
        hue_shift=float(rng.choice([0.0, rng.uniform(-180, 180)], p=[0.6, 0.4])),
        saturation=float(rng.choice([1.0, rng.uniform(0.3, 1.4)], p=[0.7, 0.3])),
        outline=int(rng.choice([0, 2, 3, 4, 5])),
        outline_color=(255, 255, 255) if rng.random() < 0.7 else (30, 30, 30),
        frame=int(rng.choice([0, 0, 0, 3, 6])),
        frame_color=_color(rng, not light),
        band=int(rng.choice([0, 0, 0, 18, 24])),
        band_color=_color(rng, light),
        grain=28.0 * loose**2,
        decorations=int(round(8 * loose)),
    )


# --------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------
def _hue_matrix(degrees: float, saturation: float) -> np.ndarray:
    """A 3×3 colour matrix rotating hue (CSS ``hue-rotate``) and scaling saturation."""
    a, b = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    hue = np.array([
        [0.213 + 0.787 * a - 0.213 * b, 0.715 - 0.715 * a - 0.715 * b, 0.072 - 0.072 * a + 0.928 * b],
        [0.213 - 0.213 * a + 0.143 * b, 0.715 + 0.285 * a + 0.140 * b, 0.072 - 0.072 * a - 0.283 * b],
        [0.213 - 0.213 * a - 0.787 * b, 0.715 - 0.715 * a + 0.715 * b, 0.072 + 0.928 * a + 0.072 * b],
    ])
    luma = np.array([0.213, 0.715, 0.072])
    sat = (1 - saturation) * np.outer(np.ones(3), luma) + saturation * np.eye(3)
    return sat @ hue


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


def _outlined(rgba: np.ndarray, width: int, color: tuple[int, int, int]) -> np.ndarray:
    """Put a solid outline of ``width`` pixels around the artwork's silhouette."""
    if width <= 0:
        return rgba
    from scipy.ndimage import grey_dilation

    pad = width + 1
    rgba = np.pad(rgba, ((pad, pad), (pad, pad), (0, 0)))
    alpha = rgba[..., 3].astype(np.float32) / 255
    yy, xx = np.mgrid[-width : width + 1, -width : width + 1]
    disk = (xx * xx + yy * yy) <= width * width
    grown = grey_dilation(alpha, footprint=disk)
    out = np.empty_like(rgba, dtype=np.float32)
    base = np.asarray(color, np.float32)
    a = alpha[..., None]
    out[..., :3] = a * rgba[..., :3] + (1 - a) * base
    out[..., 3] = np.maximum(grown, alpha) * 255
    return out.clip(0, 255).astype(np.uint8)


def render_sticker(
    emoji_char: str, style: SetStyle, rng: np.random.Generator, size: int = STICKER_SIZE
) -> np.ndarray:
    """Draw one sticker of a set: ``(size, size, 3)`` uint8.

    The emoji's Twemoji artwork is colour-shifted by the set's palette, outlined, posed
    (scale, rotation, offset, mirror drawn from ``rng`` within the style's ranges) and
    composited over the background; then the frame, the caption band, decorations and
    grain are added.
    """
    art = load_artwork(emoji_char).astype(np.float32)
    if style.hue_shift or style.saturation != 1.0:
        rgb = art[..., :3] @ _hue_matrix(style.hue_shift, style.saturation).T
        art = np.concatenate([rgb.clip(0, 255), art[..., 3:]], axis=-1)
    art = _outlined(art.astype(np.uint8), style.outline, style.outline_color)

    scale = style.scale * (1 + rng.uniform(-style.scale_jitter, style.scale_jitter))
    angle = rng.uniform(-style.rotation, style.rotation) if style.rotation > 0 else 0.0
    mirror = style.mirror and rng.random() < 0.5
    dx, dy = (rng.uniform(-style.offset, style.offset, 2) * size) if style.offset > 0 else (0.0, 0.0)

    image = Image.fromarray(art, "RGBA")
    if mirror:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    side = max(8, int(round(scale * size)))
    image = image.resize((side, side), Image.Resampling.BICUBIC)
    if angle:
        image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    sprite = np.asarray(image, dtype=np.float32)

    canvas = _background(style, rng, size)
    band = style.band
    centre_y = (size - band) / 2 + dy
    centre_x = size / 2 + dx
    _paste(canvas, sprite, centre_x, centre_y)

    if band:
        canvas[size - band :] = np.asarray(style.band_color, np.float32)
        _pseudo_text(canvas, rng, top=size - band, height=band, color=style.frame_color)
    if style.frame:
        f = style.frame
        frame = np.asarray(style.frame_color, np.float32)
        canvas[:f], canvas[-f:], canvas[:, :f], canvas[:, -f:] = frame, frame, frame, frame
    if style.decorations:
        _decorate(canvas, rng, int(rng.integers(0, style.decorations + 1)), style.colors[1])
    if style.grain > 0:
        canvas += rng.normal(0, style.grain, size=canvas.shape).astype(np.float32)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def _paste(canvas: np.ndarray, sprite: np.ndarray, centre_x: float, centre_y: float) -> None:
    """Alpha-composite ``sprite`` (RGBA float) onto ``canvas`` centred at the given point."""
    h, w = sprite.shape[:2]
    top, left = int(round(centre_y - h / 2)), int(round(centre_x - w / 2))
    size_y, size_x = canvas.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, size_y), min(left + w, size_x)
    if y1 <= y0 or x1 <= x0:
        return
    part = sprite[y0 - top : y1 - top, x0 - left : x1 - left]
    alpha = part[..., 3:4] / 255
    canvas[y0:y1, x0:x1] = alpha * part[..., :3] + (1 - alpha) * canvas[y0:y1, x0:x1]


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
