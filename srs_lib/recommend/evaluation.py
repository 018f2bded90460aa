"""Library-level metrics: Recall@k and MRR of the ground truth among the whole library.

    python -m srs_lib library --checkpoint SRS.keras --retriever DUAL.keras --base_path DIR \
        [--split release_test.json] [--ns 10 50 200] [--limit N] [--json OUT]

The paper's metrics rank the ground truth among 10 candidates of its own set. A product
ranks it among every sticker a user could be shown: here each test context's ground truth
is ranked among all stickers of the corpus ("library"), or, when the set the reply comes
from is known (the user opened that set), among that set's stickers ("set"). Systems:

* ``retriever``: the dual encoder's cosine alone;
* ``retriever + SRS@N``: SRS re-ranks the retriever's top N (a ground truth outside the top
  N keeps its retrieval rank, which is above N);
* ``SRS alone`` over the set (set known): SRS scores every sticker of the set.

Ties are broken by the lower library row, as :meth:`StickerIndex.search
<srs_lib.recommend.index.StickerIndex.search>` and :meth:`Recommender.recommend
<srs_lib.recommend.recommender.Recommender.recommend>` do, so a constant scorer gets no
credit from ties.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from srs_lib.data.corpus import Corpus
from srs_lib.recommend.index import top_k
from srs_lib.training.pipeline import encode_split

KS = (1, 5, 10, 50)
NS = (10, 50, 200)


def ranks_of(scores: np.ndarray, positive: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """1-based rank of each context's positive among its row of ``scores`` `(q, n)`:
    ``positive`` `(q,)` is its column; ties go to the lower ``rows`` value (default: the
    column). Columns scored ``-inf`` are not candidates."""
    q = np.arange(len(scores))
    rows = np.broadcast_to(np.arange(scores.shape[1]) if rows is None else rows, scores.shape)
    own = scores[q, positive][:, None]
    own_row = rows[q, positive][:, None]
    better = (scores > own) | ((scores == own) & (rows < own_row))
    return 1 + better.sum(axis=1)


def summary(ranks: np.ndarray, ks=KS) -> dict:
    """``{"R@k": share of ranks ≤ k for each k, "MRR": mean reciprocal rank, "contexts"}``."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {f"R@{k}": float(np.mean(ranks <= k)) for k in ks}
    out["MRR"] = float(np.mean(1.0 / ranks))
    out["contexts"] = int(len(ranks))
    return out


def _encoded(recommender, side, split: str, limit: int | None):
    corpus = recommender.corpus
    size = side.ranker.data_config.get("vocab_size")
    if len(side.vocab) != len(corpus.vocab):
        corpus = Corpus(corpus.base_path, vocab_size=size,
                        emoji_vocab_size=side.ranker.data_config.get("emoji_vocab_size"))
    encoded = encode_split(corpus, split, recommender.cache, max_utterances=side.max_utterances,
                           max_words=side.max_words)
    count = len(encoded) if limit is None else min(limit, len(encoded))
    return encoded, count


def library_metrics(recommender, split: str = "release_test.json", *, ns=NS, ks=KS,
                    limit: int | None = None, chunk: int = 16) -> dict:
    """The rows of the module docstring for the ``split`` of the recommender's corpus.

    Returns ``{"rows": [{"system", "scope", "N", "R@1", ..., "MRR", "contexts"}, ...],
    "library": stickers, "contexts": n, "emoji_labels": distinct labels in the library,
    "stickers_per_emoji_label"}`` (under the emoji sticker code, stickers of one predicted
    emoji are tied for both models, so this bounds what a library-level rank can tell apart); ``limit`` takes the first contexts only;
    ``chunk``: contexts per re-ranker call.
    """
    index = recommender.index
    if index.keys != list(recommender.cache.keys):
        raise ValueError("the index's rows are not the sticker cache's: rebuild the index")
    reranker_split, count = _encoded(recommender, recommender.reranker, split, limit)
    positives = np.asarray(reranker_split.positive_rows[:count], dtype=np.int64)
    set_ids = reranker_split.set_ids[:count]
    library = len(index)
    in_set = np.zeros((count, library), dtype=bool)
    for i, set_id in enumerate(set_ids):
        in_set[i, index.set_rows(set_id)] = True
    rerank_ids = np.asarray(reranker_split.contexts[:count])
    rows_out = []

    def rerank(candidates: np.ndarray, valid: np.ndarray) -> np.ndarray:
        scores = np.full(candidates.shape, -np.inf, dtype=np.float64)
        for start in range(0, count, chunk):
            block = slice(start, start + chunk)
            scores[block] = recommender.rerank_scores(rerank_ids[block], candidates[block])
        return np.where(valid, scores, -np.inf)

    # SRS alone over the set: every sticker of the set re-ranked
    largest = int(in_set.sum(axis=1).max())
    set_rows = np.zeros((count, largest), dtype=np.int64)
    set_valid = np.zeros((count, largest), dtype=bool)
    for i, set_id in enumerate(set_ids):
        members = index.set_rows(set_id)
        set_rows[i, :len(members)], set_valid[i, :len(members)] = members, True
    position = np.argmax(set_rows == positives[:, None], axis=1)
    ranks = ranks_of(rerank(set_rows, set_valid), position, np.where(set_valid, set_rows, library))
    rows_out.append({"system": "SRS alone", "scope": "set", "N": None, **summary(ranks, ks)})

    if recommender.retriever is not None:
        retriever_split, _ = _encoded(recommender, recommender.retriever, split, limit)
        vectors = np.concatenate([
            recommender.context_vector(np.asarray(retriever_split.contexts[s:s + 256][:count - s]))
            for s in range(0, count, 256)])
        cosine = vectors @ np.asarray(recommender.retriever_index.vectors).T
        for scope in ("library", "set"):
            scores = cosine if scope == "library" else np.where(in_set, cosine, -np.inf)
            retrieval_ranks = ranks_of(scores, positives)
            rows_out.append({"system": "retriever", "scope": scope, "N": None,
                             **summary(retrieval_ranks, ks)})
            pool = library if scope == "library" else largest
            for n in ns:
                n_used = min(n, pool)
                candidates, best = top_k(scores, n_used)
                valid = np.isfinite(best)
                srs = rerank(candidates, valid)
                found = (candidates == positives[:, None]) & valid
                inside = found.any(axis=1)
                reranked = ranks_of(srs, np.argmax(found, axis=1), candidates)
                ranks = np.where(inside, reranked, retrieval_ranks)
                rows_out.append({"system": f"retriever + SRS@{n}", "scope": scope, "N": n_used,
                                 **summary(ranks, ks)})
    labels = len(set(index.emojis))
    return {"rows": rows_out, "library": library, "contexts": count, "split": split,
            "emoji_labels": labels, "stickers_per_emoji_label": library / max(labels, 1)}


def metrics_frame(result: dict):
    """:func:`library_metrics`'s rows as a pandas frame (one row per system and scope)."""
    import pandas as pd

    frame = pd.DataFrame(result["rows"]).set_index(["scope", "system"])
    return frame.drop(columns=["N", "contexts"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the re-ranker's .keras file (SRS)")
    parser.add_argument("--retriever", default=None, help="a dual encoder's .keras file")
    parser.add_argument("--base_path", required=True, help="the corpus: its stickers are the library")
    parser.add_argument("--split", default="release_test.json", help="the split whose contexts are ranked")
    parser.add_argument("--ns", type=int, nargs="+", default=list(NS),
                        help="the retriever's top N that SRS re-ranks (default: 10 50 200)")
    parser.add_argument("--limit", type=int, default=None, help="only the split's first contexts")
    parser.add_argument("--json", dest="json_out", default=None,
                        help="also write the rows, the 10-candidate metrics and the provenance here")


def run(args: argparse.Namespace) -> int:
    from srs_lib.files import write_json_atomically
    from srs_lib.provenance import corpus_description, current_commit, machine_description
    from srs_lib.recommend.recommender import Recommender
    from srs_lib.training.trainer import evaluate_checkpoint

    start = time.monotonic()
    recommender = Recommender(args.checkpoint, args.retriever, args.base_path)
    result = library_metrics(recommender, args.split, ns=tuple(args.ns), limit=args.limit)
    print(metrics_frame(result).to_string(float_format="{:.3f}".format))
    ten = {}
    for role, path in (("reranker", args.checkpoint), ("retriever", args.retriever)):
        if path is not None:
            ten[role] = evaluate_checkpoint(path, args.base_path, args.split)["metrics"]
            print(f"{role}: 10 candidates of the set, R10@1 {ten[role]['R10@1']:.3f}, "
                  f"MAP {ten[role]['MAP']:.3f}")
    if args.json_out:
        write_json_atomically(args.json_out, {
            **result, "ten_candidates": ten, "checkpoint": str(args.checkpoint),
            "retriever": args.retriever and str(args.retriever),
            "corpus": corpus_description(args.base_path), "commit": current_commit(),
            "machine": machine_description(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "wall_seconds": round(time.monotonic() - start, 1)})
    return 0
