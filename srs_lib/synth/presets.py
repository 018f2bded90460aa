"""Corpus sizes: ``tiny`` (unit tests), ``small`` (the CPU book), ``medium`` (a short GPU
run) and ``paper`` (the sizes of the StickerChat release).

The paper's numbers (section 3, Table 1): 320,168 / 10,000 / 10,000 context-sticker pairs,
3,516 sticker sets, 174,695 stickers (49.64 per set), 15.5 utterances per context,
7.5 words per utterance, 5.8 users per dialog, from 20 public groups.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Preset:
    """The size of a synthetic corpus.

    ``per_theme`` keeps the first k emojis of each theme (None: all); ``themes`` names the
    themes used (None: all, in :data:`srs_lib.synth.inventory.THEMES` order).
    ``n_stickers`` is the exact total number of stickers (set sizes are drawn around a
    mean of ``n_stickers / n_sets`` and then adjusted to hit it). ``n_small_sets`` sets get
    fewer than 10 stickers and ``n_noisy_sets`` sets get random emoji labels.
    """

    name: str
    n_train: int
    n_val: int
    n_test: int
    n_sets: int
    n_stickers: int
    n_small_sets: int
    n_noisy_sets: int
    per_theme: int | None = None
    themes: tuple[str, ...] | None = None
    n_groups: int = 20
    max_set_size: int = 120

    @property
    def splits(self) -> dict[str, int]:
        """``{"train": n_train, "val": n_val, "test": n_test}``."""
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}

    def to_dict(self) -> dict:
        """JSON-ready fields (for ``synth_info.json``)."""
        out = asdict(self)
        out["themes"] = list(self.themes) if self.themes else None
        return out


_SMALL_THEMES = ("faces", "cats", "hearts", "hands", "animals", "food", "weather", "party",
                 "tech", "reactions")

PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        name="tiny", n_train=400, n_val=100, n_test=100, n_sets=8, n_stickers=160,
        n_small_sets=2, n_noisy_sets=1, per_theme=10,
        themes=("faces", "hearts", "hands", "animals", "food", "weather"),
        n_groups=4, max_set_size=40,
    ),
    "small": Preset(
        name="small", n_train=40_000, n_val=2_000, n_test=2_000, n_sets=80, n_stickers=3_970,
        n_small_sets=5, n_noisy_sets=4, per_theme=12, themes=_SMALL_THEMES,
    ),
    "medium": Preset(
        name="medium", n_train=400_000, n_val=10_000, n_test=10_000, n_sets=800,
        n_stickers=39_700, n_small_sets=45, n_noisy_sets=40, per_theme=30,
    ),
    "paper": Preset(
        name="paper", n_train=320_168, n_val=10_000, n_test=10_000, n_sets=3_516,
        n_stickers=174_695, n_small_sets=200, n_noisy_sets=176,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
