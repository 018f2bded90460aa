"""Sticker sets: their ids, sizes, themes, what each sticker shows and how it is labelled.

A set has a theme (faces, cats, food, ...) and draws the emojis its stickers show mostly
from that theme, so the negatives of a sample are semantically related to its ground
truth. A set has fewer distinct emojis than stickers, so stickers of a set share emojis
(the same emoji in another pose), as in real sets. Some sets borrow a few emojis from a
second theme.

Each sticker has two emojis:

* ``art``: the Twemoji it shows; the dialogs are written about this one;
* ``label``: its ``sticker_alt``. Equal to ``art``, except in *noisy* sets, whose author
  labelled the stickers at random (as some real authors did, says the dataset README).

Ids are 64-bit integers above 2**53, like the release's (set ``556029562811580420``,
sticker ``556029562811581404``): a sticker id is its set id plus an increasing offset.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from srs_lib.synth.art import SetStyle, sample_style
from srs_lib.synth.presets import Preset

#: Ids are drawn in [ID_LOW, ID_HIGH): above 2**53 (float64 cannot hold them), below 2**63.
ID_LOW = 2**58
ID_HIGH = 2**62
#: Self-similarity of a set's style is drawn from Beta(a, b) (see :mod:`srs_lib.synth.art`),
#: calibrated so that the expected mean SSIM of a ground truth with its negatives is near
#: the paper's 0.258.
SELF_SIMILARITY_BETA = (1.25, 1.8)


@dataclass
class StickerSet:
    """One sticker set of the synthetic corpus."""

    index: int
    set_id: int
    theme: str
    sticker_ids: list[int]
    art: list[str]
    labels: list[str]
    noisy: bool
    style: SetStyle
    popularity: float = 1.0
    art_groups: dict[str, list[int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sticker_ids)

    def to_dict(self) -> dict:
        """JSON-ready description (for ``synth_info.json``)."""
        return {
            "set_id": self.set_id,
            "theme": self.theme,
            "n_stickers": len(self),
            "noisy_labels": self.noisy,
            "popularity": round(self.popularity, 6),
            "art": self.art,
            "style": self.style.to_dict(),
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


def build_sets(
    preset: Preset,
    themes: dict[str, list[str]],
    rng: np.random.Generator,
    taken_ids: set[int] | None = None,
) -> list[StickerSet]:
    """Draw the preset's sticker sets over ``themes`` (``{theme: emojis}``).

    Themes are assigned round-robin in a shuffled order, so every theme has sets. Each set
    shows ``d`` distinct emojis, 40-80% of its size (at most what the themes offer), each
    at least once; the remaining stickers repeat them. ``n_noisy_sets`` sets (never the
    small ones, when avoidable) get random labels from the whole inventory.
    """
    taken = set() if taken_ids is None else taken_ids
    names = list(themes)
    all_emojis = [e for name in names for e in themes[name]]
    all_emojis = list(dict.fromkeys(all_emojis))
    sizes = set_sizes(preset, rng)
    order = [names[i % len(names)] for i in range(preset.n_sets)]
    order = [order[int(i)] for i in rng.permutation(len(order))]
    set_ids = unique_ids(rng, preset.n_sets, taken)
    big = [i for i, s in enumerate(sizes) if s >= 10]
    pool = big if len(big) >= preset.n_noisy_sets else list(range(preset.n_sets))
    noisy = set(int(i) for i in rng.choice(pool, size=preset.n_noisy_sets, replace=False))
    popularity = rng.lognormal(0.0, 0.8, size=preset.n_sets)
    popularity = popularity / popularity.sum()
    self_similarity = stratified_beta(rng, preset.n_sets, *SELF_SIMILARITY_BETA)

    sets = []
    for index, (size, theme) in enumerate(zip(sizes, order)):
        main = list(themes[theme])
        extra: list[str] = []
        if rng.random() < 0.3 and len(names) > 1:
            other = names[int(rng.integers(len(names)))]
            extra = [e for e in themes[other] if e not in main]
        want = int(np.clip(round(size * rng.uniform(0.4, 0.8)), 1, size))
        n_extra = min(len(extra), int(round(want * rng.uniform(0.1, 0.3)))) if extra else 0
        n_main = min(len(main), want - n_extra)
        # favour a theme's common emojis: weights decay with the theme's order
        weights = 1.0 / (1.0 + np.arange(len(main)) / 6.0)
        chosen = [main[int(i)] for i in rng.choice(len(main), size=n_main, replace=False, p=weights / weights.sum())]
        if n_extra:
            chosen += [extra[int(i)] for i in rng.choice(len(extra), size=n_extra, replace=False)]
        art = chosen + [chosen[int(i)] for i in rng.integers(len(chosen), size=size - len(chosen))]
        art = [art[int(i)] for i in rng.permutation(len(art))]
        is_noisy = index in noisy
        labels = [all_emojis[int(i)] for i in rng.integers(len(all_emojis), size=size)] if is_noisy else list(art)
        offsets = np.cumsum(rng.integers(1, 40, size=size))
        sticker_ids = [set_ids[index] + int(o) for o in offsets]
        for sticker in sticker_ids:
            if sticker in taken:
                raise RuntimeError("sticker id collision (astronomically unlikely); change the seed")
            taken.add(sticker)
        style = sample_style(rng, float(self_similarity[index]))
        groups: dict[str, list[int]] = {}
        for k, e in enumerate(art):
            groups.setdefault(e, []).append(k)
        sets.append(StickerSet(
            index=index, set_id=set_ids[index], theme=theme, sticker_ids=sticker_ids, art=art,
            labels=labels, noisy=is_noisy, style=style, popularity=float(popularity[index]),
            art_groups=groups,
        ))
    return sets
