"""Sticker sets: their ids, sizes, characters, the parts of each sticker and its label.

A set is **one character** (:mod:`srs_lib.synth.character`) in **one style**
(:mod:`srs_lib.synth.art`), and its stickers differ in their **parts**
(:mod:`srs_lib.synth.parts`): an expression on the character's face, and optionally an
accent (a symbol or gesture in a corner or at an edge) and a prop. A set draws a small
vocabulary of each kind; its stickers are combinations of them, distinct where the
vocabulary allows, so that several stickers share an expression and differ only in the
accent (😂 with ❓, 😂 with 💦, 😂 alone), and others share an accent.

A set has a theme, which says where its vocabulary comes from: a ``faces`` or ``cats``
set is about expressions (a cat set's character has cat ears, and its expressions are
mostly cat faces); a set of an accent theme (hearts, hands, reactions, weather) uses
that theme's accents on most stickers; a set of another theme (food, party, animals, ...)
has its character hold that theme's props. So the negatives of a sample are related to
its ground truth.

Each sticker has a label, its ``sticker_alt``: the one emoji its author would pick. That
is its expression, except for authors who label by symbol (``label_by_accent``): they
pick a strong accent (❤️, 👍, ❓, ...; :data:`~srs_lib.synth.parts.STRONG_ACCENTS`) or
the prop when there is one. *Noisy* sets are labelled at random, as some real authors
did (the dataset README); their dialogs still follow what the stickers show.

Ids are 64-bit integers above 2**53, like the release's (set ``556029562811580420``,
sticker ``556029562811581404``): a sticker id is its set id plus an increasing offset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srs_lib.synth.art import SetStyle, sample_style
from srs_lib.synth.character import Character, sample_character
from srs_lib.synth.parts import ACCENT_THEMES, PART_KINDS, STRONG_ACCENTS, part_kind
from srs_lib.synth.presets import Preset

#: Ids are drawn in [ID_LOW, ID_HIGH): above 2**53 (float64 cannot hold them), below 2**63.
ID_LOW = 2**58
ID_HIGH = 2**62
#: Self-similarity of a set's style is drawn from Beta(a, b) (see :mod:`srs_lib.synth.art`),
#: calibrated so that the mean SSIM of a ground truth with its negatives is near the
#: paper's 0.258 (``data/README.md``).
SELF_SIMILARITY_BETA = (1.1, 1.5)

#: Parts of a sticker: ``(kind, emoji)`` pairs, the expression first.
Parts = tuple[tuple[str, str], ...]


@dataclass
class StickerSet:
    """One sticker set of the synthetic corpus."""

    index: int
    set_id: int
    theme: str
    sticker_ids: list[int]
    parts: list[Parts]
    labels: list[str]
    noisy: bool
    style: SetStyle
    character: Character
    vocabulary: dict[str, list[str]]
    label_by_accent: bool = False
    popularity: float = 1.0
    placed: list[list[dict]] = field(default_factory=list)  # filled in when drawn

    def __len__(self) -> int:
        return len(self.sticker_ids)

    def emojis(self) -> list[str]:
        """Every emoji of the set's vocabulary, expressions first."""
        return [e for kind in PART_KINDS for e in self.vocabulary.get(kind, [])]

    def to_dict(self) -> dict:
        """JSON-ready description (for ``synth_info.json``)."""
        stickers = []
        for k, (sticker, label) in enumerate(zip(self.sticker_ids, self.labels)):
            placed = self.placed[k] if k < len(self.placed) else [
                {"kind": kind, "emoji": e} for kind, e in self.parts[k]]
            stickers.append({"sticker_id": sticker, "label": label, "parts": placed})
        return {
            "set_id": self.set_id,
            "theme": self.theme,
            "n_stickers": len(self),
            "noisy_labels": self.noisy,
            "label_by_accent": self.label_by_accent,
            "popularity": round(self.popularity, 6),
            "vocabulary": self.vocabulary,
            "character": self.character.to_dict(),
            "style": self.style.to_dict(),
            "stickers": stickers,
        }


def set_sizes(preset: Preset, rng: np.random.Generator) -> list[int]:
    """Sizes of the preset's sets: ``n_small_sets`` under 10, the others 10..max, summing
    exactly to ``n_stickers``; in random order."""
    n_small, n_big = preset.n_small_sets, preset.n_sets - preset.n_small_sets
    small = rng.integers(3, 10, size=n_small)
    remaining = preset.n_stickers - int(small.sum())
    if n_big <= 0 or remaining < 10 * n_big or remaining > preset.max_set_size * n_big:
        raise ValueError(f"preset {preset.name}: cannot split {preset.n_stickers} stickers into these sets")
    mean = remaining / n_big
    # lognormal around the mean, clipped to [10, max], then nudged to the exact total
    big = np.clip(np.rint(mean * rng.lognormal(0.0, 0.45, size=n_big) / np.exp(0.45**2 / 2)),
                  10, preset.max_set_size).astype(int)
    diff = remaining - int(big.sum())
    while diff != 0:
        step = 1 if diff > 0 else -1
        room = (big < preset.max_set_size) if step > 0 else (big > 10)
        candidates = np.flatnonzero(room)
        k = int(candidates[rng.integers(len(candidates))])
        big[k] += step
        diff -= step
    sizes = np.concatenate([small, big])
    return [int(s) for s in sizes[rng.permutation(len(sizes))]]


def stratified_beta(rng: np.random.Generator, n: int, a: float, b: float) -> np.ndarray:
    """``n`` draws from Beta(a, b), one per n-quantile bin, in random order.

    Stratified sampling: with 80 sets, independent draws would let the corpus's mean SSIM
    wander by several hundredths from seed to seed; one draw per quantile bin keeps the
    empirical distribution close to the intended one.
    """
    from scipy.special import betaincinv

    quantiles = (rng.permutation(n) + rng.random(n)) / n
    return betaincinv(a, b, quantiles)


def unique_ids(rng: np.random.Generator, n: int, taken: set[int]) -> list[int]:
    """``n`` distinct random ids in [ID_LOW, ID_HIGH), none in ``taken`` (updated)."""
    out = []
    while len(out) < n:
        value = int(rng.integers(ID_LOW, ID_HIGH))
        if value not in taken:
            taken.add(value)
            out.append(value)
    return out


def part_pools(themes: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
    """``{kind: {theme: emojis}}``: the inventory split by the kind of part each emoji makes
    (an emoji in two themes counts in the first)."""
    pools: dict[str, dict[str, list[str]]] = {kind: {} for kind in PART_KINDS}
    seen: set[str] = set()
    for theme, members in themes.items():
        for e in members:
            if e not in seen:
                seen.add(e)
                pools[part_kind(e, theme)].setdefault(theme, []).append(e)
    return pools


def _pick(rng: np.random.Generator, pool: list[str], n: int, exclude=()) -> list[str]:
    """``n`` distinct emojis of ``pool`` (minus ``exclude``), its common (first) ones favoured."""
    pool = [e for e in pool if e not in exclude]
    n = min(n, len(pool))
    if n <= 0:
        return []
    weights = 1.0 / (1.0 + np.arange(len(pool)) / 6.0)
    return [pool[int(i)] for i in rng.choice(len(pool), size=n, replace=False, p=weights / weights.sum())]


def _flat(pools: dict[str, list[str]], skip: str | None = None) -> list[str]:
    return [e for theme, members in pools.items() if theme != skip for e in members]


def set_vocabulary(rng: np.random.Generator, theme: str, size: int,
                   pools: dict[str, dict[str, list[str]]]) -> tuple[dict[str, list[str]], float, float]:
    """The expressions, accents and props one set uses, and how often its stickers have an
    accent and a prop: ``(vocabulary, p_accent, p_prop)``."""
    expressions, accents, props = pools["expression"], pools["accent"], pools["prop"]
    n_expr = int(np.clip(round(size * rng.uniform(0.15, 0.4)), 2, 40))
    if theme in expressions:  # a faces or cats set: mostly its own theme's faces
        share = 0.7 if theme == "cats" else 1.0
        chosen = _pick(rng, expressions[theme], int(round(n_expr * share)))
        chosen += _pick(rng, _flat(expressions), n_expr - len(chosen), exclude=chosen)
    else:
        chosen = _pick(rng, _flat(expressions), n_expr)
    vocabulary = {"expression": chosen}

    n_accent = int(np.clip(round(size * rng.uniform(0.08, 0.25)), 1, 20))
    if theme in accents:
        own = _pick(rng, accents[theme], int(round(n_accent * 0.75)) or 1)
        vocabulary["accent"] = own + _pick(rng, _flat(accents, theme), n_accent - len(own), exclude=own)
        p_accent = rng.uniform(0.75, 0.95)
    else:
        vocabulary["accent"] = _pick(rng, _flat(accents), n_accent)
        p_accent = rng.uniform(0.4, 0.85)

    if theme in props:
        n_prop = int(np.clip(round(size * rng.uniform(0.1, 0.3)), 2, 20))
        vocabulary["prop"] = _pick(rng, props[theme], n_prop)
        p_prop = rng.uniform(0.55, 0.9)
    elif props and rng.random() < 0.2:
        vocabulary["prop"] = _pick(rng, _flat(props), int(rng.integers(1, 4)))
        p_prop = rng.uniform(0.2, 0.5)
    else:
        vocabulary["prop"] = []
        p_prop = 0.0
    return {kind: v for kind, v in vocabulary.items() if v}, float(p_accent), float(p_prop)


def compose_stickers(rng: np.random.Generator, size: int, vocabulary: dict[str, list[str]],
                     p_accent: float, p_prop: float) -> list[Parts]:
    """``size`` stickers as combinations of the vocabulary: one expression each (the
    vocabulary's first ones more often), an accent with probability ``p_accent``, a prop
    with ``p_prop``; no two alike while the vocabulary has unused combinations."""
    expressions = vocabulary["expression"]
    accents, props = vocabulary.get("accent", []), vocabulary.get("prop", [])
    weights = 1.0 / (1.0 + np.arange(len(expressions)) / 3.0)
    weights = weights / weights.sum()
    capacity = len(expressions) * (len(accents) + 1) * (len(props) + 1)
    out: list[Parts] = []
    used: set[Parts] = set()
    for _ in range(size):
        for attempt in range(200):
            parts = [("expression", expressions[int(rng.choice(len(expressions), p=weights))])]
            if accents and rng.random() < p_accent:
                parts.append(("accent", accents[int(rng.integers(len(accents)))]))
            if props and rng.random() < p_prop:
                parts.append(("prop", props[int(rng.integers(len(props)))]))
            combination = tuple(parts)
            if combination not in used or len(used) >= capacity:
                break
        used.add(combination)
        out.append(combination)
    return out


def sticker_label(rng: np.random.Generator, parts: Parts, by_accent: bool) -> str:
    """The emoji an author picks for a sticker: its expression, or, for an author who
    labels by symbol, a strong accent (most of the time) or the prop (half of the time)."""
    kinds = dict(parts)
    if by_accent:
        if kinds.get("accent") in STRONG_ACCENTS and rng.random() < 0.8:
            return kinds["accent"]
        if "prop" in kinds and rng.random() < 0.5:
            return kinds["prop"]
    return kinds["expression"]


def draw_set_traits(rng: np.random.Generator, preset: Preset, sizes, taken: set):
    """What every generator draws per set, after the sizes: ids (unique, above 2**53, not
    in ``taken``), the noisy sets (never the small ones, when avoidable), each set's
    popularity (log-normal, summing to 1) and self-similarity (stratified Beta draws)."""
    set_ids = unique_ids(rng, preset.n_sets, taken)
    big = [i for i, s in enumerate(sizes) if s >= 10]
    pool = big if len(big) >= preset.n_noisy_sets else list(range(preset.n_sets))
    noisy = set(int(i) for i in rng.choice(pool, size=preset.n_noisy_sets, replace=False))
    popularity = rng.lognormal(0.0, 0.8, size=preset.n_sets)
    popularity = popularity / popularity.sum()
    return set_ids, noisy, popularity, stratified_beta(rng, preset.n_sets, *SELF_SIMILARITY_BETA)


def draw_sticker_ids(rng: np.random.Generator, set_id: int, size: int, taken: set) -> list[int]:
    """``size`` sticker ids rising from ``set_id`` in random steps of 1-39, added to ``taken``
    (an id already there is an error: astronomically unlikely with ids above 2**53)."""
    sticker_ids = [set_id + int(o) for o in np.cumsum(rng.integers(1, 40, size=size))]
    for sticker in sticker_ids:
        if sticker in taken:
            raise RuntimeError("sticker id collision (astronomically unlikely); change the seed")
        taken.add(sticker)
    return sticker_ids


def build_sets(
    preset: Preset,
    themes: dict[str, list[str]],
    rng: np.random.Generator,
    taken_ids: set[int] | None = None,
) -> list[StickerSet]:
    """Draw the preset's sticker sets over ``themes`` (``{theme: emojis}``).

    Themes are assigned round-robin in a shuffled order, so every theme has sets.
    ``n_noisy_sets`` sets (never the small ones, when avoidable) get random labels from
    the whole inventory.
    """
    taken = set() if taken_ids is None else taken_ids
    names = list(themes)
    pools = part_pools(themes)
    if not pools["expression"]:
        raise ValueError("the inventory has no faces: a sticker needs an expression")
    all_emojis = list(dict.fromkeys(e for name in names for e in themes[name]))
    sizes = set_sizes(preset, rng)
    order = [names[i % len(names)] for i in range(preset.n_sets)]
    order = [order[int(i)] for i in rng.permutation(len(order))]
    set_ids, noisy, popularity, self_similarity = draw_set_traits(rng, preset, sizes, taken)

    sets = []
    for index, (size, theme) in enumerate(zip(sizes, order)):
        character = sample_character(rng, theme)
        style = sample_style(rng, float(self_similarity[index]))
        vocabulary, p_accent, p_prop = set_vocabulary(rng, theme, size, pools)
        parts = compose_stickers(rng, size, vocabulary, p_accent, p_prop)
        by_accent = bool(rng.random() < (0.6 if theme in ACCENT_THEMES else 0.2))
        is_noisy = index in noisy
        if is_noisy:
            labels = [all_emojis[int(i)] for i in rng.integers(len(all_emojis), size=size)]
        else:
            labels = [sticker_label(rng, p, by_accent) for p in parts]
        sticker_ids = draw_sticker_ids(rng, set_ids[index], size, taken)
        sets.append(StickerSet(
            index=index, set_id=set_ids[index], theme=theme, sticker_ids=sticker_ids, parts=parts,
            labels=labels, noisy=is_noisy, style=style, character=character, vocabulary=vocabulary,
            label_by_accent=by_accent, popularity=float(popularity[index]),
        ))
    return sets


def describe_sets(info: dict) -> dict:
    """What the sets of a generated corpus are made of, from its ``synth_info.json``.

    Returns ``sets``, ``stickers``; ``vocabulary`` (mean number of emojis of each kind per
    set, over the sets that use that kind) and ``sets_with`` (how many sets use it);
    ``with_part`` (share of stickers with an accent, with a prop); ``accent_twins`` (share
    of stickers that have a twin in their set with the same expression and prop and
    another accent or none: they differ only in the accent); ``label_kind`` (share of the
    labels of sets that are not noisy that name the expression, the accent, the prop);
    ``characters`` (sets per head family, ears and framing).
    """
    from collections import Counter

    sets = info["sets"]
    kinds = PART_KINDS
    vocabulary = {k: [len(s["vocabulary"][k]) for s in sets if s["vocabulary"].get(k)] for k in kinds}
    stickers = [t for s in sets for t in s["stickers"]]
    twins = 0
    for s in sets:
        keys = []
        for t in s["stickers"]:
            parts = {p["kind"]: p["emoji"] for p in t["parts"]}
            keys.append(((parts["expression"], parts.get("prop")), parts.get("accent")))
        for key, accent in keys:
            twins += any(other == key and other_accent != accent for other, other_accent in keys)
    labels: Counter = Counter()
    for s in sets:
        if s["noisy_labels"]:
            continue
        for t in s["stickers"]:
            labels[next(p["kind"] for p in t["parts"] if p["emoji"] == t["label"])] += 1
    n_labels = max(sum(labels.values()), 1)
    return {
        "sets": len(sets),
        "stickers": len(stickers),
        "vocabulary": {k: float(np.mean(v)) if v else 0.0 for k, v in vocabulary.items()},
        "sets_with": {k: len(v) for k, v in vocabulary.items()},
        "with_part": {k: float(np.mean([any(p["kind"] == k for p in t["parts"]) for t in stickers]))
                      for k in ("accent", "prop")},
        "accent_twins": twins / max(len(stickers), 1),
        "label_kind": {k: labels[k] / n_labels for k in kinds},
        "characters": {key: dict(Counter(s["character"][key] for s in sets))
                       for key in ("family", "ears", "framing")},
    }
