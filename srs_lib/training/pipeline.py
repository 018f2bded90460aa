"""Batches of contexts with their candidate stickers, assembled from the packed sticker cache.

A split is read once through the corpus's usability rules (:mod:`srs_lib.data.corpus`, so
every skip is counted in the split's report) and encoded into a memory-mapped array cached
beside the sticker cache (:class:`~srs_lib.data.encoded.EncodedSplit`, see
:mod:`srs_lib.data.encoded`). :class:`RankingBatches` then assembles batches with numpy only:
word ids are sliced, candidate stickers are gathered from the memory-mapped cache with one
fancy-indexing read per batch. No sticker file is opened while training.

Candidate protocols (:data:`PROTOCOLS`):

``random``  the paper: the ground truth plus ``n - 1`` distinct random stickers of its set
            (:func:`srs_lib.data.candidates.draw_candidates`). For evaluation the draw of a
            context depends only on the evaluation seed and the context's line number, so
            every model sees the same candidates (and the SSIM analysis the same pairs).
            For training it is redrawn every epoch from ``(seed, epoch, line)``.
``first9``  the released code: the ground truth plus the first ``n - 1`` other stickers of
            its set in ``emoji_mapping.txt`` order (deterministic).

Candidates are drawn among the set's *cached* stickers (unloadable ones are excluded and
counted by the cache). Sets with fewer than ``n`` stickers — one rule, counted in
:attr:`RankingBatches.short_lists` — give every other sticker of the set, and the empty
slots are padding: an all-zero image whose ``candidate_mask`` is false, which the losses
and the metrics ignore (the released code instead scored blank images as negatives).
The positive's slot is shuffled with the same generator, so no model can learn a position.
"""
from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from srs_lib.data import encoded
from srs_lib.data.cache import StickerCache
from srs_lib.data.candidates import (
    context_rng,
    draw_candidates,
    first_in_set_candidates,
)
from srs_lib.data.corpus import Corpus, require_file
from srs_lib.data.encoded import EncodedSplit
from srs_lib.training.config import PROTOCOLS

__all__ = ["PROTOCOLS", "EncodedSplit", "RankingBatches", "emoji_labels", "encode_split",
           "evaluation_batches"]


def encode_split(corpus: Corpus, split_or_path: str | Path, cache: StickerCache, *,
                 max_utterances: int = 15, max_words: int = 30, progress: bool = False,
                 cached: bool = True, verify: str = "stat") -> EncodedSplit:
    """Read a split (``train``/``val``/``test`` or a file name under the corpus, such as
    ``release_test.json``) through the corpus rules and encode it, memory-mapped and cached
    beside the sticker cache (see :mod:`srs_lib.data.encoded`; ``cached=False``: in memory).

    The cache leaves out exactly the stickers the corpus rules refuse, so every usable
    sample's sticker is cached; a cache built from other files is an error, not a skip.
    """
    name = str(split_or_path)
    path = corpus.split_path(name) if name in ("train", "val", "test") else corpus.base_path / name
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"no such split file: {path}")
    require_file(path, f"split file {name}", corpus.base_path)
    return encoded.encode_split(corpus, name, path, cache, max_utterances=max_utterances,
                                max_words=max_words, progress=progress, cached=cached, verify=verify)


def emoji_labels(cache: StickerCache, emoji_vocab) -> np.ndarray:
    """Emoji class of every cached sticker, int32 (rows,); -1 where outside the vocabulary."""
    return np.asarray([emoji_vocab.index(e) if e in emoji_vocab else -1 for e in cache.emojis],
                      dtype=np.int32)


class RankingBatches(keras.utils.PyDataset):
    """Batches ``(inputs, targets)`` of one split for training or evaluation.

    ``inputs``: ``contexts`` (batch, utterances, words) int32 and ``stickers``
    (batch, candidates, 128, 128, 3) uint8. ``targets``: ``label`` (batch,) int32 the
    positive's slot, ``candidate_mask`` (batch, candidates) bool (false on padding slots),
    ``emoji`` (batch, candidates) int32 emoji classes (-1 unknown or padding), ``index``
    (batch,) int64 positions of the samples in the split, ``rows`` (batch, candidates)
    int64 the candidates' sticker-cache rows (-1 padding).

    ``train=True`` shuffles the samples every epoch and redraws random candidates from
    ``(seed, epoch, line)``; call :meth:`set_epoch`. ``train=False`` keeps the file order
    and fixes each context's candidates by ``(seed, line)``. The order and the draws depend
    on nothing else, so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, split: EncodedSplit, cache: StickerCache, row_emoji: np.ndarray, *,
                 batch_size: int = 32, n_candidates: int = 10, protocol: str = "random",
                 seed: int = 0, train: bool = False, workers: int = 1, **kwargs):
        super().__init__(workers=workers, use_multiprocessing=False, **kwargs)
        if protocol not in PROTOCOLS:
            raise ValueError(f"unknown candidate protocol {protocol!r}; choose from {PROTOCOLS}")
        if n_candidates < 2:
            raise ValueError(f"need at least 2 candidates, got {n_candidates}")
        if len(split) == 0:
            raise ValueError(f"split {split.name!r} has no usable samples")
        self.split, self.cache, self.row_emoji = split, cache, row_emoji
        self.batch_size, self.n_candidates = batch_size, n_candidates
        self.protocol, self.seed, self.train = protocol, seed, train
        self._set_rows = [cache.set_rows(set_id) for set_id in split.sets]  # by set_index
        sizes = np.asarray([len(rows) for rows in self._set_rows], dtype=np.int64)
        self.short_lists = int((sizes[split.set_index] < n_candidates).sum()) if len(sizes) else 0
        """Samples whose set has fewer cached stickers than ``n_candidates`` (padded)."""
        self.epoch = 0
        self._order = np.arange(len(split))
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the sample order (training) and the candidate draws for ``epoch``."""
        self.epoch = epoch
        if self.train:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(len(self.split))

    def on_epoch_end(self):
        if self.train:
            self.set_epoch(self.epoch + 1)

    def __len__(self) -> int:
        return math.ceil(len(self.split) / self.batch_size)

    def _rng(self, line: int) -> np.random.Generator:
        if self.train:
            return np.random.default_rng([self.seed, self.epoch, int(line)])
        return context_rng(self.seed, int(line))

    def candidates(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cache rows (samples, candidates) int64 (-1 = padding) and the positive's slot."""
        rows = np.full((len(index), self.n_candidates), -1, dtype=np.int64)
        labels = np.zeros(len(index), dtype=np.int32)
        for i, sample in enumerate(index):
            set_rows = self._set_rows[self.split.set_index[sample]]
            positive = int(self.split.positive_rows[sample])
            rng = self._rng(self.split.lines[sample])
            if self.protocol == "random":
                drawn = draw_candidates(set_rows, positive, self.n_candidates, rng)
            else:
                drawn = first_in_set_candidates(set_rows, positive, self.n_candidates)
            slots = rng.permutation(len(drawn))
            rows[i, slots] = drawn
            labels[i] = slots[0]
        return rows, labels

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """Stickers of cache ``rows`` (any shape, -1 = padding) as uint8 (*rows.shape, 128, 128, 3)."""
        flat = rows.reshape(-1)
        used = flat >= 0
        unique, inverse = np.unique(flat[used], return_inverse=True)
        images = np.zeros((flat.size, *self.cache.images.shape[1:]), dtype=np.uint8)
        images[used] = np.asarray(self.cache.images[unique])[inverse]
        return images.reshape(*rows.shape, *self.cache.images.shape[1:])

    def plan(self, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What batch ``batch`` holds, without loading a sticker: the samples' positions
        in the split, their candidates' cache rows (samples, candidates) int64 (-1 =
        padding) and the positive's slot."""
        if not 0 <= batch < len(self):
            raise IndexError(f"batch {batch} out of range (0..{len(self) - 1})")
        index = self._order[batch * self.batch_size:(batch + 1) * self.batch_size]
        rows, labels = self.candidates(index)
        return index, rows, labels

    def targets(self, index: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> dict:
        """The ``targets`` of a batch of :meth:`plan`."""
        mask = rows >= 0
        emoji = np.where(mask, self.row_emoji[np.maximum(rows, 0)], -1).astype(np.int32)
        return {"label": labels, "candidate_mask": mask, "emoji": emoji,
                "index": index.astype(np.int64), "rows": rows}

    def batch_length(self, batch: int) -> int:
        """The contexts of batch ``batch`` (``batch_size``, fewer in the last one)."""
        return max(0, min(self.batch_size, len(self.split) - batch * self.batch_size))

    def load(self, batch: int, part: slice | None = None):
        """``(inputs, targets)`` of batch ``batch``, or of the contexts ``part`` of it (a
        data-parallel process's shard: only its stickers are read)."""
        index, rows, labels = self.plan(batch)
        if part is not None:
            index, rows, labels = index[part], rows[part], labels[part]
        inputs = {"contexts": self.split.contexts[index], "stickers": self.gather(rows)}
        return inputs, self.targets(index, rows, labels)

    def __getitem__(self, batch: int):
        return self.load(batch)


def evaluation_batches(base_path, config, split: str | Path = "test", *,
                       batch_size: int | None = None, cache_dir=None,
                       verify_cache: str = "stat") -> tuple[Corpus, RankingBatches]:
    """The corpus at ``base_path`` and the fixed evaluation batches of one of its splits.

    The data options (vocabulary size, utterances, words, candidates, protocol, evaluation
    seed, batch size) come from ``config`` (a :class:`~srs_lib.training.config.TrainConfig`),
    so a chapter or an evaluation sees exactly the candidates a training run evaluates on.
    """
    corpus = Corpus(base_path, vocab_size=config.vocab_size,
                    emoji_vocab_size=config.emoji_vocab_size)
    cache = corpus.sticker_cache(cache_dir, progress=False, verify=verify_cache)
    samples = encode_split(corpus, split, cache, max_utterances=config.max_utterances,
                           max_words=config.max_words, verify=verify_cache)
    batches = RankingBatches(samples, cache, emoji_labels(cache, corpus.emoji_vocab),
                             batch_size=batch_size or config.batch_size,
                             n_candidates=config.n_candidates, protocol=config.protocol,
                             seed=config.eval_seed, train=False)
    return corpus, batches

