"""How often a candidate sticker repeats within a training batch (issue 19, section 1).

Training encodes every candidate of a batch (``batch × candidates`` stickers through the
CNN). Where the same sticker appears twice in a batch it could be encoded once and its
output gathered; this module measures how much of the sticker side that would save, before
anyone builds it: the share of a batch's real candidates that are distinct stickers.

Two sources: a corpus's own training batches (:func:`corpus_repeats`, the trainer's draws
exactly) and a preset's statistics without generating its images (:func:`preset_repeats`:
the set sizes and set popularities the generator draws, the ground truth uniform in its
set, the candidates by the same rules), so that the ``paper`` preset's 3,516 sets and
174,695 stickers can be measured on a laptop. Under ``random`` two contexts share a
candidate only when their sets coincide and their draws overlap; under ``first9`` every
context of a set brings the same first stickers.
"""
from __future__ import annotations

import numpy as np

from srs_lib.data.candidates import draw_candidates, first_in_set_candidates


def distinct_share(rows: np.ndarray) -> tuple[int, int]:
    """``(distinct, real)`` candidates of one batch's cache ``rows`` (-1 = padding)."""
    real = rows[rows >= 0]
    return int(np.unique(real).size), int(real.size)


def summarise(batches_rows) -> dict:
    """Over batches of cache rows: the mean share of distinct candidates per batch, its
    smallest value, and the share of sticker encodings that encoding each distinct sticker
    once would save (1 − distinct / real, over all batches together)."""
    shares, distinct_total, real_total = [], 0, 0
    for rows in batches_rows:
        distinct, real = distinct_share(np.asarray(rows))
        if real:
            shares.append(distinct / real)
            distinct_total += distinct
            real_total += real
    if not shares:
        raise ValueError("no batch with a real candidate")
    return {"batches": len(shares), "distinct_share": float(np.mean(shares)),
            "lowest_distinct_share": float(np.min(shares)),
            "encodings_saved": 1.0 - distinct_total / real_total}


def corpus_repeats(base_path, protocol: str, *, batch_size: int = 32, n_candidates: int = 10,
                   n_batches: int = 200, seed: int = 0) -> dict:
    """:func:`summarise` over the first ``n_batches`` training batches of epoch 0 of the
    corpus at ``base_path`` as the trainer draws them (no image is read)."""
    from srs_lib.data.corpus import Corpus
    from srs_lib.training.pipeline import RankingBatches, emoji_labels, encode_split

    corpus = Corpus(base_path)
    cache = corpus.sticker_cache(progress=False)
    split = encode_split(corpus, "train", cache)
    batches = RankingBatches(split, cache, emoji_labels(cache, corpus.emoji_vocab),
                             batch_size=batch_size, n_candidates=n_candidates, protocol=protocol,
                             seed=seed, train=True)
    batches.set_epoch(0)
    count = min(n_batches, len(batches))
    return {**summarise(batches.plan(i)[1] for i in range(count)), "source": "corpus",
            "protocol": protocol, "batch_size": batch_size, "candidates": n_candidates,
            "sets": len(split.sets)}


def preset_repeats(preset_name: str, protocol: str, *, batch_size: int = 32,
                   n_candidates: int = 10, n_batches: int = 200, seed: int = 0) -> dict:
    """:func:`summarise` over ``n_batches`` batches drawn from a preset's statistics: set
    sizes by :func:`srs_lib.synth.sets.set_sizes`, set popularity log-normal(0, 0.8) as
    :func:`srs_lib.synth.sets.draw_set_traits` draws it, each context's set by popularity
    and its ground truth uniform in the set (as the generator writes them), candidates by
    ``protocol``."""
    from srs_lib.synth.presets import get_preset
    from srs_lib.synth.sets import set_sizes

    if protocol not in ("random", "first9"):
        raise ValueError(f"unknown candidate protocol {protocol!r}; choose random or first9")
    preset = get_preset(preset_name)
    rng = np.random.default_rng(seed)
    sizes = np.asarray(set_sizes(preset, rng))
    popularity = rng.lognormal(0.0, 0.8, size=len(sizes))
    popularity /= popularity.sum()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def batch_rows():
        rows = np.full((batch_size, n_candidates), -1, dtype=np.int64)
        for i, s in enumerate(rng.choice(len(sizes), size=batch_size, p=popularity)):
            members = list(range(int(starts[s]), int(starts[s] + sizes[s])))
            positive = members[int(rng.integers(len(members)))]
            drawn = (draw_candidates(members, positive, n_candidates, rng) if protocol == "random"
                     else first_in_set_candidates(members, positive, n_candidates))
            rows[i, :len(drawn)] = drawn
        return rows

    return {**summarise(batch_rows() for _ in range(n_batches)), "source": f"preset {preset.name}",
            "protocol": protocol, "batch_size": batch_size, "candidates": n_candidates,
            "sets": int(len(sizes))}
