"""The two-stage sticker recommender: a retriever's top N from the whole library, re-ranked
by SRS.

:class:`Recommender` loads two saved models (``.keras``, safe mode): the re-ranker (SRS, or
any ranker of the registry) and, optionally, a retriever (the
:class:`~srs_lib.models.dual_encoder.DualEncoder`). Both sticker sides are encoded once into
:class:`~srs_lib.recommend.index.StickerIndex` folders; a request then costs

1. the context tokenised exactly as training tokenised it (:func:`srs_lib.data.vocab.
   encode_context`, with the corpus vocabulary capped at the model's ``vocab_size`` and the
   model's ``max_utterances`` and ``max_words``), unknown words counted and returned;
2. the retriever's context vector and one matrix product with the library's (or a
   subset's: one set, a user's collection) sticker vectors, top N;
3. SRS on those N candidates from their cached sticker encodings
   (:data:`~srs_lib.models.base.ENCODED_STICKERS`), so its CNN does not run;

and returns the top k by SRS's score. Without a retriever, SRS scores every sticker of the
subset (or of the library) itself.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from srs_lib.data.corpus import Corpus, open_vocab
from srs_lib.data.vocab import UNK, encode_context, tokenize
from srs_lib.recommend.index import ModelStickerSide, StickerIndex


class RecommendError(ValueError):
    """A request or a model the recommender cannot serve; the message says what to pass."""


@dataclass
class ContextReport:
    """What the models saw of a context: the utterances and words kept (the last
    ``max_utterances`` non-empty utterances, the first ``max_words`` words of each), the
    words outside the vocabulary among them (read as ``[UNK]``), and the words cut off."""

    utterances: int
    words: int
    unknown_words: list[str]
    truncated_words: int

    def to_dict(self) -> dict:
        return {"utterances": self.utterances, "words": self.words,
                "unknown": len(self.unknown_words), "unknown_words": self.unknown_words,
                "truncated_words": self.truncated_words}


@dataclass
class Recommendation:
    """The answer to one request: ``stickers`` best first, each ``{"rank", "row",
    "set_id", "sticker_id", "emoji", "score", "retrieval_score"}`` (``score`` is the
    re-ranker's, ``retrieval_score`` the retriever's cosine, None without one); the
    ``context`` report; ``pool`` stickers searched, ``reranked`` scored by the re-ranker;
    ``timing_ms`` per stage."""

    stickers: list[dict]
    context: ContextReport
    pool: int
    reranked: int
    timing_ms: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"stickers": self.stickers, "context": self.context.to_dict(),
                "pool": self.pool, "reranked": self.reranked, "timing_ms": self.timing_ms}


def context_texts(context) -> list[str]:
    """The utterance texts of a context: a list of strings (as a user types them, oldest
    first), or a release-format sample ``{"context": [{"text": ...}, ...], ...}``."""
    if isinstance(context, dict):
        if not isinstance(context.get("context"), list):
            raise RecommendError("a sample dict needs a 'context' list of {'text': ...} messages")
        texts = [m.get("text", "") if isinstance(m, dict) else None for m in context["context"]]
    elif isinstance(context, str):
        texts = [context]
    else:
        texts = list(context)
    if any(not isinstance(t, str) for t in texts):
        raise RecommendError("every utterance must be a string (a message's text)")
    if not any(tokenize(t) for t in texts):
        raise RecommendError("the context has no words: give at least one non-empty utterance")
    return texts


def _data_options(model, checkpoint) -> dict:
    options = getattr(model, "data_config", None)
    if not options:
        raise RecommendError(f"{checkpoint} carries no data configuration (saved before models "
                             f"recorded theirs): retrain it, or evaluate it with --config")
    return options


def load_model(path):
    """A saved ranking model, loaded in safe mode; a clear error for a missing file."""
    import keras

    from srs_lib.models import registry  # noqa: F401  (registers every model class)

    path = Path(path)
    if not path.is_file():
        raise RecommendError(f"no model file {path}; pass a .keras file (a training run's is "
                             f"LOG_ROOT/NAME/train/best.keras)")
    return keras.saving.load_model(path, safe_mode=True)


class KerasRanker(ModelStickerSide):
    """A saved ranking model as the recommender uses it: its sticker side for the index
    (:class:`~srs_lib.recommend.index.ModelStickerSide`), its data options, and

    * :meth:`scores` of contexts against candidates given by their cached encodings;
    * :meth:`context_vectors`, for a retriever (a model with ``encode_context``).

    A stand-in (a test's scorer) provides the same attributes and methods."""

    def __init__(self, model, checkpoint="(in memory)"):
        super().__init__(model)
        self.checkpoint = checkpoint
        self.data_config = _data_options(model, checkpoint)
        self.vocab_size = model.vocab_size
        self.is_retriever = hasattr(model, "encode_context")

    def context_vectors(self, ids: np.ndarray) -> np.ndarray:
        """Unit context vectors `(batch, hidden)` of token ids `(batch, utterances, words)`."""
        import torch
        from keras import ops

        with torch.inference_mode():  # no autograd bookkeeping at all (about 1 ms a call)
            return np.asarray(ops.convert_to_numpy(
                self.model.encode_context(ops.convert_to_tensor(ids), training=False)))

    def scores(self, ids: np.ndarray, encoded: dict[str, np.ndarray]) -> np.ndarray:
        """Scores `(batch, candidates)` of contexts ``ids`` against candidates given by the
        index's arrays, each `(batch, candidates, ...)`: the model runs on the encodings in
        place of the images (:data:`~srs_lib.models.base.ENCODED_STICKERS`)."""
        import torch
        from keras import ops

        inputs = {"contexts": ops.convert_to_tensor(np.asarray(ids, dtype=np.int32)),
                  **{name: ops.convert_to_tensor(array) for name, array in encoded.items()}}
        with torch.inference_mode():
            scores = self.model(inputs, training=False)["scores"]
        return np.asarray(ops.convert_to_numpy(ops.cast(scores, "float32")))


class _Side:
    """One ranker of the recommender with the vocabulary and limits it was trained with."""

    def __init__(self, ranker, base_path, corpus: Corpus, corpus_vocab_size):
        self.ranker = ranker
        options = ranker.data_config
        self.max_utterances, self.max_words = options["max_utterances"], options["max_words"]
        size = options.get("vocab_size")
        self.vocab = corpus.vocab if size == corpus_vocab_size else open_vocab(base_path, size)
        if len(self.vocab) != ranker.vocab_size:
            raise RecommendError(f"{ranker.checkpoint} was trained with {ranker.vocab_size} word "
                                 f"ids, the corpus vocabulary gives {len(self.vocab)}: is it the "
                                 f"corpus the model was trained on?")

    def encode(self, texts: list[str]) -> tuple[np.ndarray, ContextReport]:
        ids, n = encode_context(texts, self.vocab, self.max_utterances, self.max_words)
        kept = [w for w in map(tokenize, texts) if w][-self.max_utterances:]
        seen = [word for words in kept for word in words[:self.max_words]]
        unknown = [w for w in seen if self.vocab.id(w) == UNK and w != "[UNK]"]
        truncated = sum(len(w) for w in map(tokenize, texts)) - len(seen)
        return ids[None], ContextReport(n, len(seen), unknown, truncated)


class Recommender:
    """The two-stage recommender over the corpus at ``base_path`` (see the module docstring).

    Args:
        checkpoint: the re-ranker's ``.keras`` file (SRS).
        retriever: the retriever's ``.keras`` file (a dual encoder), or None.
        base_path: the corpus whose stickers form the library (the models' corpus: its
            vocabulary tokenises the context).
        cache_dir: the sticker cache's folder (default ``BASE/.srs_cache``).
        index_dir: where the sticker indexes live (default ``CACHE/index``), one folder per
            role (``reranker``, ``retriever``), each rebuilt when its model or the corpus
            changes.
    """

    def __init__(self, checkpoint, retriever=None, base_path=None, *, cache_dir=None,
                 index_dir=None, verify_cache: str = "stat"):
        if base_path is None:
            raise RecommendError("pass base_path, the corpus whose stickers are the library")
        reranker = KerasRanker(load_model(checkpoint), checkpoint)
        if retriever is not None:
            retriever = KerasRanker(load_model(retriever), retriever)
            if not retriever.is_retriever:
                raise RecommendError(f"{retriever.checkpoint} is a {type(retriever.model).__name__}, "
                                     f"not a retriever (train one with --model dual_encoder)")
        self._open(reranker, retriever, base_path, cache_dir, index_dir, verify_cache)

    @classmethod
    def from_rankers(cls, reranker, retriever=None, base_path=None, *, cache_dir=None,
                     index_dir=None, verify_cache: str = "stat") -> "Recommender":
        """A recommender of rankers already loaded (:class:`KerasRanker`, or stand-ins
        with the same attributes and methods)."""
        recommender = cls.__new__(cls)
        recommender._open(reranker, retriever, base_path, cache_dir, index_dir, verify_cache)
        return recommender

    def _open(self, reranker, retriever, base_path, cache_dir, index_dir, verify_cache):
        options = reranker.data_config
        self.corpus = Corpus(base_path, vocab_size=options.get("vocab_size"),
                             emoji_vocab_size=options.get("emoji_vocab_size"))
        self.cache = self.corpus.sticker_cache(cache_dir, progress=False, verify=verify_cache)
        index_dir = Path(index_dir) if index_dir else Path(self.cache.directory) / "index"
        self.reranker = _Side(reranker, base_path, self.corpus, options.get("vocab_size"))
        self.reranker_index = StickerIndex.open(reranker, self.cache, index_dir / "reranker")
        self.retriever = self.retriever_index = None
        if retriever is not None:
            self.retriever = _Side(retriever, base_path, self.corpus, options.get("vocab_size"))
            self.retriever_index = StickerIndex.open(retriever, self.cache, index_dir / "retriever")
        self.index = self.reranker_index  # row → (set, sticker, emoji), shared by both

    def __len__(self) -> int:
        return len(self.index)

    # -- the stages -------------------------------------------------------------------
    def pool(self, set_id=None, stickers=None) -> np.ndarray | None:
        """Rows searched: None (the whole library), one set's, or a collection's
        ``(set_id, sticker_id)`` pairs (restricted to ``set_id`` when both are given)."""
        if set_id is None and stickers is None:
            return None
        rows = self.index.set_rows(set_id) if set_id is not None else None
        if stickers is not None:
            chosen = self.index.rows_of(stickers)
            rows = chosen if rows is None else chosen[np.isin(chosen, rows)]
        return rows

    def context_vector(self, ids: np.ndarray) -> np.ndarray:
        """The retriever's unit context vector(s) `(batch, hidden)` for token ids."""
        return self.retriever.ranker.context_vectors(ids)

    def rerank_scores(self, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The re-ranker's scores `(batch, candidates)` of contexts ``ids`` `(batch,
        utterances, words)` against candidate ``rows`` `(batch, candidates)` (or `(candidates,)`
        for all), from the index's cached sticker encodings."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim == 1:
            rows = np.broadcast_to(rows, (len(ids), len(rows)))
        encoded = {name: np.asarray(table[rows.reshape(-1)]).reshape(*rows.shape, *table.shape[1:])
                   for name, table in self.reranker_index.arrays.items()}
        return self.reranker.ranker.scores(ids, encoded)

    # -- one request ------------------------------------------------------------------
    def recommend(self, context, k: int = 10, n: int = 50, set_id=None, stickers=None,
                  chunk: int = 512) -> Recommendation:
        """The top ``k`` stickers for ``context`` (see :func:`context_texts`): the
        retriever's top ``n`` of the pool (:meth:`pool`), re-ranked by the re-ranker;
        without a retriever the re-ranker scores the whole pool (``chunk`` candidates a
        call)."""
        if k < 1 or n < 1:
            raise RecommendError("k and n must be at least 1")
        texts = context_texts(context)
        timing = {}
        start = time.perf_counter()
        ids, report = self.reranker.encode(texts)
        rows = self.pool(set_id, stickers)
        pool_size = len(self.index) if rows is None else len(rows)
        if pool_size == 0:
            raise RecommendError("no sticker to recommend from: the collection is empty")
        retrieval = None
        if self.retriever is not None:
            retrieval_ids, retriever_report = self.retriever.encode(texts)
            vector = self.context_vector(retrieval_ids)[0]
            timing["encode_context"] = 1e3 * (time.perf_counter() - start)
            start = time.perf_counter()
            candidates, retrieval = self.retriever_index.search(vector, n, rows)
            timing["retrieve"] = 1e3 * (time.perf_counter() - start)
            if retriever_report.unknown_words != report.unknown_words:
                report.unknown_words = sorted(set(report.unknown_words) | set(retriever_report.unknown_words))
        else:
            candidates = np.arange(len(self.index)) if rows is None else rows
        start = time.perf_counter()
        scores = np.concatenate([self.rerank_scores(ids, candidates[i:i + chunk])[0]
                                 for i in range(0, len(candidates), chunk)])
        timing["rerank"] = 1e3 * (time.perf_counter() - start)
        order = np.lexsort((candidates, -scores))[:k]
        stickers_out = []
        for rank, position in enumerate(order, start=1):
            entry = {"rank": rank, **self.index.describe(candidates[position]),
                     "score": float(scores[position]),
                     "retrieval_score": None if retrieval is None else float(retrieval[position])}
            stickers_out.append(entry)
        return Recommendation(stickers_out, report, pool_size, len(candidates), timing)

    def explain(self, context, rows) -> dict:
        """SRS's :meth:`~srs_lib.models.srs.SRS.explain` of a context against sticker
        ``rows``, from the cached encodings: "scores" `(candidates,)`, "sticker_attention"
        τ^s `(candidates, utterances, p, p)`, "utterance_attention" τ^u `(candidates,
        utterances, words)`, and the context's token ids `(utterances, words)`."""
        from keras import ops

        ids, _ = self.reranker.encode(context_texts(context))
        rows = np.asarray(rows, dtype=np.int64)
        inputs = {"contexts": ops.convert_to_tensor(ids)}
        for name, table in self.reranker_index.arrays.items():
            inputs[name] = ops.convert_to_tensor(np.asarray(table[rows])[None])
        out = self.reranker.ranker.model.explain(inputs)
        return {"scores": ops.convert_to_numpy(out["scores"])[0],
                "sticker_attention": ops.convert_to_numpy(out["sticker_attention"])[0],
                "utterance_attention": ops.convert_to_numpy(out["utterance_attention"])[0],
                "contexts": ids[0]}


_OPEN: dict[tuple, Recommender] = {}


def recommend(context, *, checkpoint, base_path, retriever=None, k: int = 10, n: int = 50,
              set_id=None, stickers=None, cache_dir=None, index_dir=None) -> Recommendation:
    """The top ``k`` stickers of the library at ``base_path`` for ``context`` (a list of
    utterance strings, oldest first, or a release-format sample dict), after the
    re-ranker ``checkpoint`` (SRS) re-ranks the ``retriever``'s top ``n``; ``set_id`` or
    ``stickers`` (``(set_id, sticker_id)`` pairs) restrict the search. The models and
    indexes are loaded once per process and argument set (see :class:`Recommender`)."""
    key = tuple(str(Path(p).resolve()) if p is not None else None
                for p in (checkpoint, retriever, base_path, cache_dir, index_dir))
    key += tuple(Path(p).stat().st_mtime_ns if p is not None and Path(p).is_file() else None
                 for p in (checkpoint, retriever))
    if key not in _OPEN:
        _OPEN[key] = Recommender(checkpoint, retriever, base_path, cache_dir=cache_dir,
                                 index_dir=index_dir)
    return _OPEN[key].recommend(context, k=k, n=n, set_id=set_id, stickers=stickers)
