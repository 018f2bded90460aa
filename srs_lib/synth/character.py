"""The character of a sticker set: one figure that every sticker of the set shows.

A real sticker set is one character (a cat, a bean, a bunny) drawn in one hand, and its
stickers differ in the expression and in what is added around it. Here each set draws a
:class:`Character`: a head shape from a few families (round, rounded square, blob, oval),
ears of a family (cat triangles, bear circles, bunny ovals) or horns, an antenna, a hat or
none, a framing (a big head, a small figure with a body, a head peeking from the bottom
edge), its palette (body colour, a second colour for inner ears, horns, hat and belly,
an outline colour and width, cheek blush or not, a lighter muzzle or not) and its
proportions. :func:`draw_character` draws it once per set, procedurally (no artwork);
the stickers then pose it (:mod:`srs_lib.synth.art`) and draw the expression on its face.

The ink of the features (the dark strokes of eyes and mouths) is dark on a light body and
light on a dark one, so an expression reads on every character.
"""
from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageDraw

FAMILIES = ("round", "squircle", "blob", "oval")
EARS = ("cat", "bear", "bunny", "horns", "antenna", "hat", "none")
FRAMINGS = ("head", "figure", "peek")
#: The character is drawn on a canvas larger than the sticker (its frame is the middle
#: ``size`` pixels), so that a pose that shrinks or moves it never shows a cut edge.
MARGIN = 0.25
_SUPERSAMPLE = 3

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Character:
    """What every sticker of a set shares. Lengths are fractions of the sticker's side."""

    family: str
    ears: str
    framing: str
    body: RGB
    second: RGB  # inner ears, horns, hat, belly
    outline: RGB
    outline_width: int  # pixels at 128×128
    ink: RGB  # the features' dark strokes are drawn in this colour
    blush: bool
    muzzle: bool
    radius: float  # head radius
    aspect: float  # head width / height
    ear_size: float  # relative to the head radius
    ear_angle: float  # degrees from the top of the head
    wobble: tuple[float, ...]  # blob outline: amplitude and phase of harmonics 2 and 3

    def to_dict(self) -> dict:
        """A JSON-ready description (for ``synth_info.json``), exact: :meth:`from_dict`
        gives back the same character."""
        out = asdict(self)
        out["wobble"] = list(self.wobble)
        for key in ("body", "second", "outline", "ink"):
            out[key] = list(out[key])
        return out

    def describe(self) -> str:
        """A few words on the character, e.g. ``"a round head with bear ears, a small figure"``."""
        head = {"round": "a round head", "squircle": "a rounded square head", "blob": "a blob of a head",
                "oval": "an oval head"}[self.family]
        ears = {"cat": " with cat ears", "bear": " with bear ears", "bunny": " with bunny ears",
                "horns": " with horns", "antenna": " with an antenna", "hat": " with a hat", "none": ""}[self.ears]
        framing = {"head": "big", "figure": "a small figure", "peek": "peeking from below"}[self.framing]
        return f"{head}{ears}, {framing}"

    @classmethod
    def from_dict(cls, data: dict) -> "Character":
        """The character that :meth:`to_dict` describes (as read from ``synth_info.json``)."""
        data = dict(data)
        for key in ("body", "second", "outline", "ink"):
            data[key] = tuple(int(v) for v in data[key])
        data["wobble"] = tuple(float(v) for v in data["wobble"])
        return cls(**data)


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1)))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def sample_character(rng: np.random.Generator, theme: str | None = None) -> Character:
    """A random character; cat sets get cat ears, animal sets mostly animal ears."""
    family = str(rng.choice(FAMILIES, p=[0.35, 0.25, 0.2, 0.2]))
    if theme == "cats":
        ears = "cat"
    elif theme == "animals":
        ears = str(rng.choice(["cat", "bear", "bunny", "none"], p=[0.3, 0.35, 0.3, 0.05]))
    else:
        ears = str(rng.choice(EARS, p=[0.17, 0.17, 0.14, 0.1, 0.08, 0.1, 0.24]))
    framing = str(rng.choice(FRAMINGS, p=[0.55, 0.3, 0.15]))
    hue = rng.random()
    dark = bool(rng.random() < 0.15)
    if dark:
        body = _hsv(hue, rng.uniform(0.1, 0.6), rng.uniform(0.22, 0.42))
        ink = _hsv(hue, 0.05, rng.uniform(0.93, 1.0))
        outline = (245, 245, 245) if rng.random() < 0.5 else _hsv(hue, 0.3, 0.1)
    else:
        body = _hsv(hue, rng.uniform(0.0, 0.7) ** 1.3, rng.uniform(0.72, 1.0))
        ink = _hsv(hue, 0.5, rng.uniform(0.12, 0.3))
        outline = _hsv(hue, rng.uniform(0.3, 0.8), rng.uniform(0.12, 0.45))
    second = _hsv(hue + rng.choice([0.0, 0.5, rng.uniform(-0.2, 0.2)]), rng.uniform(0.2, 0.7),
                  rng.uniform(0.55, 1.0))
    radius = {"head": rng.uniform(0.27, 0.34), "figure": rng.uniform(0.2, 0.25),
              "peek": rng.uniform(0.3, 0.36)}[framing]
    return Character(
        family=family, ears=ears, framing=framing, body=body, second=second, outline=outline,
        outline_width=int(rng.choice([0, 2, 3, 3, 4])), ink=ink,
        blush=bool(rng.random() < 0.45), muzzle=bool(rng.random() < 0.3),
        radius=float(radius),
        aspect=float(rng.uniform(1.0, 1.25) if family == "oval" else rng.uniform(0.95, 1.08)),
        ear_size=float(rng.uniform(0.32, 0.5)), ear_angle=float(rng.uniform(28, 50)),
        wobble=tuple(float(v) for v in (rng.uniform(0.02, 0.06), rng.uniform(0, 2 * math.pi),
                                         rng.uniform(0.01, 0.04), rng.uniform(0, 2 * math.pi))),
    )


@dataclass(frozen=True)
class CharacterLayer:
    """A drawn character: ``rgba`` float32 ``(side, side, 4)`` on a canvas of
    ``side = size * (1 + 2 * MARGIN)`` pixels whose middle ``size`` pixels are the
    sticker; points are in that canvas's pixels."""

    rgba: np.ndarray
    offset: float  # where the sticker's frame starts in the canvas
    face: tuple[float, float]  # centre of the face
    face_side: float  # side of the square the expression is drawn in
    prop: tuple[float, float]  # where a held prop is centred
    prop_side: float


def _ellipse(cx, cy, rx, ry, angle=0.0, n=72):
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x, y = rx * np.cos(t), ry * np.sin(t)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return [(cx + c * a - s * b, cy + s * a + c * b) for a, b in zip(x, y)]


def _head_polygon(ch: Character, cx, cy, r, n=120):
    rx, ry = r * ch.aspect, r
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    if ch.family == "squircle":
        p = 4.0  # superellipse |x|^p + |y|^p = 1
        x = np.sign(np.cos(t)) * np.abs(np.cos(t)) ** (2 / p)
        y = np.sign(np.sin(t)) * np.abs(np.sin(t)) ** (2 / p)
        return [(cx + rx * a, cy + ry * b) for a, b in zip(x, y)]
    scale = np.ones_like(t)
    if ch.family == "blob":
        a2, p2, a3, p3 = ch.wobble
        scale = 1 + a2 * np.cos(2 * t + p2) + a3 * np.cos(3 * t + p3)
    return [(cx + rx * k * math.cos(a), cy + ry * k * math.sin(a)) for a, k in zip(t, scale)]


@functools.lru_cache(maxsize=16)
def draw_character(character: Character, size: int = 128) -> CharacterLayer:
    """Draw a character once (cached): the body, ears and the rest, outlined, antialiased."""
    from scipy.ndimage import distance_transform_edt

    ch = character
    side = int(round(size * (1 + 2 * MARGIN)))
    k = _SUPERSAMPLE
    big = side * k
    offset = size * MARGIN
    r = ch.radius * size
    cx = offset + size / 2
    cy = offset + {"head": 0.5, "figure": 0.36, "peek": 0.64}[ch.framing] * size
    names = ("back", "back_second", "head", "front_second", "light", "blush")
    masks: dict[str, Image.Image] = {name: Image.new("L", (big, big), 0) for name in names}
    draw = {name: ImageDraw.Draw(mask) for name, mask in masks.items()}

    def poly(name, points):
        draw[name].polygon([(x * k, y * k) for x, y in points], fill=255)

    # behind the head: ears (their inner part in the second colour), horns, antenna, body
    top = cy - r
    for sign in (-1, 1):
        angle = math.radians(ch.ear_angle) * sign
        ex, ey = cx + math.sin(angle) * r * ch.aspect * 0.95, cy - math.cos(angle) * r * 0.95
        e = ch.ear_size * r
        if ch.ears == "cat":
            tip = (ex + math.sin(angle) * e * 1.3, ey - math.cos(angle) * e * 1.3)
            base = [(ex - math.cos(angle) * e, ey - math.sin(angle) * e),
                    (ex + math.cos(angle) * e, ey + math.sin(angle) * e)]
            poly("back", [base[0], tip, base[1]])
            inner = [((2 * px + ex) / 3, (2 * py + ey) / 3) for px, py in base]
            poly("back_second", [inner[0], ((tip[0] * 3 + ex) / 4, (tip[1] * 3 + ey) / 4), inner[1]])
        elif ch.ears == "bear":
            poly("back", _ellipse(ex, ey, e, e))
            poly("back_second", _ellipse(ex, ey, e * 0.55, e * 0.55))
        elif ch.ears == "bunny":
            length = e * 2.6
            tilt = angle * 0.6
            mx, my = ex + math.sin(tilt) * length * 0.8, ey - math.cos(tilt) * length * 0.8
            poly("back", _ellipse(mx, my, e * 0.55, length, math.degrees(tilt)))
            poly("back_second", _ellipse(mx, my, e * 0.28, length * 0.75, math.degrees(tilt)))
        elif ch.ears == "horns":
            tip = (ex + math.sin(angle) * e * 1.4, ey - math.cos(angle) * e * 1.6)
            poly("back_second", [(ex - e * 0.45, ey + e * 0.2), tip, (ex + e * 0.45, ey + e * 0.2)])
    if ch.ears == "antenna":
        poly("back_second", [(cx - 1.2, top + 2), (cx - 1.2, top - r * 0.55),
                             (cx + 1.2, top - r * 0.55), (cx + 1.2, top + 2)])
        poly("back_second", _ellipse(cx, top - r * 0.6, r * 0.13, r * 0.13))
    elif ch.ears == "hat":
        w = r * 0.65
        poly("front_second", [(cx - w, top + r * 0.2), (cx - w * 0.8, top - r * 0.55),
                              (cx + w * 0.8, top - r * 0.55), (cx + w, top + r * 0.2)])
        poly("front_second", _ellipse(cx, top + r * 0.18, w * 1.45, r * 0.12))
    if ch.framing == "figure":  # a small head on a body with feet, a lighter belly
        by = cy + r * 1.55
        poly("back", _ellipse(cx, by, r * 0.95, r * 0.9))
        for sign in (-1, 1):
            poly("back", _ellipse(cx + sign * r * 0.55, by + r * 0.85, r * 0.32, r * 0.22))
        poly("light", _ellipse(cx, by + r * 0.1, r * 0.55, r * 0.55))
    elif ch.framing == "peek":  # shoulders down to the bottom of the canvas
        poly("back", _ellipse(cx, cy + r * 1.9, r * 1.25, r * 1.5))
    poly("head", _head_polygon(ch, cx, cy, r))
    if ch.muzzle:
        poly("light", _ellipse(cx, cy + r * 0.38, r * 0.55 * ch.aspect, r * 0.38))
    if ch.blush:
        for sign in (-1, 1):
            poly("blush", _ellipse(cx + sign * r * 0.58 * ch.aspect, cy + r * 0.3, r * 0.17, r * 0.1))

    # compose inside the silhouette's box only (grown by the outline), on a k-aligned grid
    full = {name: np.asarray(mask, dtype=np.uint8) for name, mask in masks.items()}
    any_part = full["back"] | full["back_second"] | full["head"] | full["front_second"]
    rows, cols = np.flatnonzero(any_part.any(axis=1)), np.flatnonzero(any_part.any(axis=0))
    grow = (ch.outline_width + 2) * k
    y0, y1 = max(0, (rows[0] - grow) // k * k), min(big, -(-(rows[-1] + grow) // k) * k)
    x0, x1 = max(0, (cols[0] - grow) // k * k), min(big, -(-(cols[-1] + grow) // k) * k)
    m = {name: mask[y0:y1, x0:x1, None].astype(np.float32) / 255 for name, mask in full.items()}
    silhouette = np.maximum.reduce([m["back"], m["back_second"], m["head"], m["front_second"]])
    rgba = np.zeros(silhouette.shape[:2] + (4,), np.float32)
    if ch.outline_width:
        grown = distance_transform_edt(silhouette[..., 0] < 0.5) <= ch.outline_width * k
        rgba[grown] = (*ch.outline, 255)
    body, second = np.asarray(ch.body, np.float32), np.asarray(ch.second, np.float32)
    layers = [(m["back"], body), (m["back_second"], second), (m["head"], body),
              (m["light"] * np.maximum(m["head"], m["back"]), body + 0.55 * (255 - body)),
              (0.55 * m["blush"], np.asarray((240, 110, 130), np.float32)),
              (m["front_second"], second)]
    for cover, colour in layers:
        if cover.any():
            rgba[..., :3] = cover * colour + (1 - cover) * rgba[..., :3]
    rgba[..., 3:] = np.maximum(rgba[..., 3:], silhouette * 255)

    # antialias: average k×k blocks of premultiplied colour
    h, w = (y1 - y0) // k, (x1 - x0) // k
    pre = np.concatenate([rgba[..., :3] * rgba[..., 3:] / 255, rgba[..., 3:]], axis=-1)
    block = pre.reshape(h, k, w, k, 4).mean(axis=(1, 3))
    a = block[..., 3:]
    block[..., :3] = np.where(a > 0, block[..., :3] * 255 / np.maximum(a, 1e-6), 0)
    small = np.zeros((side, side, 4), np.float32)
    small[y0 // k : y0 // k + h, x0 // k : x0 // k + w] = block
    small.setflags(write=False)
    face_side = 2 * r * min(ch.aspect, 1.1) * 0.92
    if ch.framing == "figure":
        prop, prop_side = (cx, cy + r * 1.45), r * 1.25
    else:
        prop, prop_side = (cx, cy + r * 0.95), r * 0.85
    return CharacterLayer(rgba=small, offset=offset, face=(cx, cy + r * 0.06), face_side=face_side,
                          prop=prop, prop_side=prop_side)
