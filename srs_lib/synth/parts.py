"""The parts a sticker of the embedded corpus is made of, and where they go.

Real sticker sets share one character, and their stickers differ in what is added to it:
an expression, a gesture or a symbol beside it, a prop in its hands. Here a sticker is
its set's character (:mod:`srs_lib.synth.character`) plus **parts**, each one emoji of the
inventory, of one of three kinds:

``expression``  the eyes, mouth, tears, hearts... of a Twemoji face, drawn on the
                character's face. :func:`face_features` takes them from the artwork by
                removing the face disc (its yellows, and its own colour for faces such
                as 😡 or 🥶), so 😂 gives two tear-filled eyes and an open mouth.
``accent``      a small symbol or gesture (❓ 💤 💢 ❤️ 👍 ✨ ...), about a fifth to a
                third of the sticker's side, in one of the :data:`REGIONS` (a corner,
                the left or right edge, the top), placed anew in every sticker.
``prop``        an object the character holds or shows (☕ 🍕 🎁 🐶 ...), below its face.

Which kind an emoji is follows its theme (:data:`ACCENT_THEMES`, the rest are props),
except for faces, which are expressions (:data:`EXPRESSION_EMOJIS`). Every sticker has
one expression; accents and props are optional.
"""
from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from srs_lib.synth.inventory import THEMES, load_artwork

PART_KINDS = ("expression", "accent", "prop")

#: The cat faces of the ``cats`` theme (its other emojis are whole animals: props).
CAT_FACES = "😺 😸 😹 😻 😼 😽 🙀 😿 😾"
#: Emojis whose features make an expression: every face, the cat faces, and 🥰 of the
#: hearts.
EXPRESSION_EMOJIS = frozenset(THEMES["faces"].split() + CAT_FACES.split() + ["🥰"])
#: Themes whose emojis are accents (symbols and gestures beside the character).
ACCENT_THEMES = ("hearts", "hands", "reactions", "weather")

#: Where an accent may be drawn: the range of its centre, as fractions of the sticker's
#: width (x) and of the height above the caption band (y).
REGIONS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "top_left": ((0.13, 0.24), (0.13, 0.24)),
    "top_right": ((0.76, 0.87), (0.13, 0.24)),
    "bottom_left": ((0.13, 0.24), (0.76, 0.87)),
    "bottom_right": ((0.76, 0.87), (0.76, 0.87)),
    "left": ((0.12, 0.2), (0.4, 0.6)),
    "right": ((0.8, 0.88), (0.4, 0.6)),
    "top": ((0.4, 0.6), (0.11, 0.19)),
}
#: Gestures sit at the character's sides or below; other accents anywhere.
GESTURE_REGIONS = ("left", "right", "bottom_left", "bottom_right")

#: Colours of Twemoji's face discs (the base yellow and its shades).
_DISC_COLOURS = np.array([
    [255, 204, 77], [255, 203, 76], [245, 196, 72], [255, 172, 51], [255, 180, 57],
    [254, 209, 99], [255, 211, 105],
], dtype=np.float32)


def part_kind(emoji_char: str, theme: str) -> str:
    """The kind of part an emoji of ``theme`` makes: expression, accent or prop."""
    if emoji_char in EXPRESSION_EMOJIS:
        return "expression"
    return "accent" if theme in ACCENT_THEMES else "prop"


def regions_for(emoji_char: str) -> tuple[str, ...]:
    """The regions an accent may take: a hand gesture at the sides or below, any other
    accent anywhere in :data:`REGIONS`."""
    return GESTURE_REGIONS if emoji_char in THEMES["hands"].split() else tuple(REGIONS)


@functools.lru_cache(maxsize=None)
def face_features(emoji_char: str) -> np.ndarray:
    """The features of a Twemoji face without its disc: read-only ``(72, 72, 4)`` float32 RGBA.

    A pixel belongs to the disc when its colour is within a small distance of one of
    Twemoji's face yellows or of the face's own most common colour (the red of 😡, the
    blue of 🥶); its opacity ramps from 0 (disc colour) to 1 (far from it), so the
    anti-aliased rims of eyes and mouths fade out smoothly.
    """
    art = load_artwork(emoji_char).astype(np.float32)
    rgb, alpha = art[..., :3], art[..., 3] / 255
    opaque = art[..., 3] > 250
    own = Counter(map(tuple, art[opaque][:, :3].astype(int))).most_common(1)[0][0]
    discs = np.concatenate([_DISC_COLOURS, np.asarray([own], np.float32)])
    distance = np.sqrt(((rgb[:, :, None, :] - discs[None, None]) ** 2).sum(-1)).min(-1)
    keep = np.clip((distance - 35.0) / 45.0, 0, 1) * alpha
    out = np.concatenate([rgb, (keep * 255)[..., None]], axis=-1).astype(np.float32)
    out.setflags(write=False)
    return out


#: Accents strong enough that an author may label the sticker with them rather than with
#: its expression (❤️ 👍 ❓ ...): every heart and hand, and the loudest symbols.
STRONG_ACCENTS = frozenset(
    THEMES["hearts"].split() + THEMES["hands"].split()
    + "❓ ❗ ‼️ ⁉️ 💯 ✅ ❌ 💤 💢 💥 🔥 ✨ ⭐ 🌟 ⚡".split()
)
