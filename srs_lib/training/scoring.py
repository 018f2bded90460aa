"""Scoring a split's candidates, each distinct sticker encoded once per pass.

Under the ``random`` protocol the ``small`` test split ranks 20,000 candidates drawn from
about 4,000 stickers, so a scorer that encodes every candidate where it appears runs the
sticker encoder (the costly part: Inception-v3 in the paper) about five times per sticker.
:func:`score_batches` instead plans the whole pass first (which contexts, which candidate
rows: :meth:`~srs_lib.training.pipeline.RankingBatches.plan`, no image loaded), runs the
sticker encoder once on every distinct cache row of the pass (in chunks of
``batch_size × candidates`` stickers, the old path's size), keeps its outputs ``(O, O_flat,
emoji logits)`` for the pass in memory on the model's device, keyed by cache row (one row
per ``(set id, sticker id)``), and then runs the rest of the model (the text side, the
interaction and the fusion) per batch of contexts on the gathered encodings
(:meth:`~srs_lib.models.base.StickerRanker.encode_candidates`). A padding slot gets the
encoding of the all-zero image, as it did, so a model that compares candidates with each
other (the Synergistic network's re-ranking) sees the same inputs.

The scores equal those of encoding per candidate up to floating-point reordering: the
encoder runs the same images in other batch compositions (``tests/test_encode_once.py``
allows 1e-5 absolute on float32 CPU runs). Held for a pass: the distinct stickers' O
(``p² × hidden`` floats each: 14 KB for Inception-v3's 6×6 at hidden 100, 400 B with the
``cpu`` profile's emoji code), e.g. about 0.7 GB for 50,000 stickers of the paper's
configuration.

A model that is no :class:`~srs_lib.models.base.StickerRanker` (the random scorer of the
grids) or that does not read its candidates apart (``encodes_stickers_apart`` false) is
scored from the images, batch by batch, as before; ``encode_once=False`` asks for that
path (the benchmark's "before").
"""
from __future__ import annotations

import numpy as np
from keras import ops

from srs_lib.layers.masking import MASK_VALUE
from srs_lib.models.base import ENCODED_STICKERS, StickerRanker


def _to_tensors(inputs: dict) -> dict:
    return {name: ops.convert_to_tensor(value) for name, value in inputs.items()}


def _batches_of_pass(batches, limit: int | None) -> int:
    if limit is None:
        return len(batches)
    return min(len(batches), -(-limit // batches.batch_size))


def encodes_once(model) -> bool:
    """Whether :func:`score_batches` can encode each distinct sticker of a pass once."""
    return isinstance(model, StickerRanker) and model.encodes_stickers_apart


class StickerCodes:
    """The sticker encoder's outputs for the cache ``rows`` of one pass, and the padding.

    ``take(rows)`` gathers them for a batch's candidate rows (any shape, -1 = padding):
    a dict under the names of :data:`~srs_lib.models.base.ENCODED_STICKERS`. Rows outside
    ``rows`` are an error, not a silent re-encoding.
    """

    def __init__(self, model, images, rows: np.ndarray, *, chunk: int):
        import torch

        self.rows = np.unique(np.asarray(rows, dtype=np.int64))
        if len(self.rows) and self.rows[0] < 0:
            raise ValueError("padding (-1) is not a cache row")
        pad = np.zeros((1, *images.shape[1:]), dtype=images.dtype)
        parts = []
        with torch.no_grad():
            for start in range(0, len(self.rows) + 1, chunk):
                block = self.rows[start:start + chunk]
                pixels = np.asarray(images[block]) if len(block) else pad[:0]
                if start + chunk > len(self.rows):  # the last chunk: the padding image too
                    pixels = np.concatenate([pixels, pad])
                parts.append(model.sticker_encoder(ops.convert_to_tensor(pixels), training=False))
        self.tables = [ops.concatenate([part[i] for part in parts], axis=0)
                       for i in range(len(ENCODED_STICKERS))]
        self.padding = len(self.rows)  # the zero image's position in the tables

    def __len__(self) -> int:
        return len(self.rows)

    def positions(self, rows: np.ndarray) -> np.ndarray:
        """Positions in the tables of cache ``rows`` (-1: the padding image's)."""
        rows = np.asarray(rows, dtype=np.int64)
        real = rows >= 0
        if len(self.rows) == 0:
            found = np.zeros(rows.shape, dtype=np.int64)
            missing = real.any()
        else:
            found = np.minimum(np.searchsorted(self.rows, rows), len(self.rows) - 1)
            missing = (real & (self.rows[found] != rows)).any()
        if missing:
            raise KeyError("a batch holds a sticker this pass did not encode")
        return np.where(real, found, self.padding)

    def take(self, rows: np.ndarray) -> dict:
        where = ops.convert_to_tensor(self.positions(rows))
        return {name: ops.take(table, where, axis=0)
                for name, table in zip(ENCODED_STICKERS, self.tables)}


def _collect(batch_scores, targets, scores, labels, index):
    batch_scores = ops.convert_to_numpy(ops.cast(batch_scores, "float32"))
    scores.append(np.where(targets["candidate_mask"], batch_scores, MASK_VALUE))
    labels.append(targets["label"])
    index.append(targets["index"])


def _finish(scores, labels, index, candidates: int):
    if not scores:
        return (np.zeros((0, candidates), np.float32), np.zeros(0, np.int32),
                np.zeros(0, np.int64))
    return tuple(np.concatenate(x) for x in (scores, labels, index))


def score_batches(model, batches, limit: int | None = None, *, encode_once: bool = True,
                  chunk: int | None = None, world=None):
    """Scores of every context of ``batches`` (in split order, at most ``limit``).

    Returns ``(scores, labels, index)``: scores (contexts, candidates) float32 with
    :data:`MASK_VALUE` on padding slots, the positive's slot, and the samples' positions
    in the split. With ``encode_once`` (default) and a model that allows it
    (:func:`encodes_once`), each distinct sticker of the pass is encoded once (see the
    module docstring; ``chunk``: stickers per encoder call, default
    ``batch_size × candidates``); otherwise every candidate is encoded where it appears.
    With a data-parallel ``world`` (:class:`~srs_lib.training.distributed.World`) each
    process scores every ``world.size``-th batch and every process gets all the scores.
    """
    numbers = list(range(_batches_of_pass(batches, limit)))
    if world is not None and world.parallel:
        numbers = numbers[world.rank::world.size]
    if encode_once and encodes_once(model):
        found = _score_encoded_once(model, batches, numbers, chunk)
    else:
        found = _score_per_candidate(model, batches, numbers)
    if world is not None and world.parallel:
        parts = [part for part in world.gather(found) if len(part[0])]
        found = tuple(np.concatenate([part[i] for part in parts]) for i in range(3))
        order = np.argsort(found[2], kind="stable")  # evaluation batches keep the split's order
        found = tuple(x[order] for x in found)
    scores, labels, index = found
    if limit is not None:
        scores, labels, index = scores[:limit], labels[:limit], index[:limit]
    return scores, labels, index


def _score_per_candidate(model, batches, numbers):
    import torch

    scores, labels, index = [], [], []
    for batch in numbers:
        inputs, targets = batches[batch]
        with torch.no_grad():  # Keras on torch records gradients unless told not to
            out = model(_to_tensors(inputs), training=False)
        _collect(out["scores"], targets, scores, labels, index)
    return _finish(scores, labels, index, batches.n_candidates)


def _score_encoded_once(model, batches, numbers, chunk):
    import torch

    plans = [batches.plan(batch) for batch in numbers]
    if not plans:
        return _finish([], [], [], batches.n_candidates)
    if not model.built:  # built on the images once: the encodings cannot give its shapes
        index, rows, _ = plans[0]
        with torch.no_grad():
            model(_to_tensors({"contexts": batches.split.contexts[index[:1]],
                               "stickers": batches.gather(rows[:1])}), training=False)
    rows = np.concatenate([rows.reshape(-1) for _, rows, _ in plans])
    codes = StickerCodes(model, batches.cache.images, rows[rows >= 0],
                         chunk=chunk or batches.batch_size * batches.n_candidates)
    scores, labels, index = [], [], []
    for batch_index, batch_rows, batch_labels in plans:
        inputs = {"contexts": ops.convert_to_tensor(batches.split.contexts[batch_index]),
                  **codes.take(batch_rows)}
        with torch.no_grad():
            out = model(inputs, training=False)
        _collect(out["scores"], batches.targets(batch_index, batch_rows, batch_labels),
                 scores, labels, index)
    return _finish(scores, labels, index, batches.n_candidates)
