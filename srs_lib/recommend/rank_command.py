"""``python -m srs_lib rank``: the library's top stickers for a dialog typed on the command line.

    python -m srs_lib rank --checkpoint SRS.keras [--retriever DUAL.keras] --base_path DIR \\
        --text "utterance one" --text "utterance two" [--k 10] [--n 50] [--set ID] \\
        [--sticker SET_ID:STICKER_ID ...] [--json] [--strip out.png]

Each ``--text`` is one utterance, oldest first, words separated by spaces (as the corpus
is). Without ``--retriever`` SRS scores every sticker of the pool itself; with one, SRS
re-ranks the retriever's top ``--n``. ``--set`` restricts the pool to one sticker set,
``--sticker`` (repeated) to a collection. Plain output is one line per sticker (rank, set
id, sticker id, emoji, score), then what the models saw of the context (unknown words
named). ``--strip`` also draws the stickers in a strip (PNG).

``--json`` prints one object (schema ``srs_lib.rank/1``), ids as exact JSON integers::

    {"schema": "srs_lib.rank/1",
     "checkpoint": str, "retriever": str | null, "base_path": str,
     "k": int, "n": int, "set_id": int | null,
     "stickers": [{"rank": int, "row": int, "set_id": int, "sticker_id": int,
                   "emoji": str, "score": float, "retrieval_score": float | null}, ...],
     "context": {"utterances": int, "words": int, "unknown": int,
                 "unknown_words": [str, ...], "truncated_words": int},
     "pool": int, "reranked": int,
     "timing_ms": {"encode_context": float, "retrieve": float, "rerank": float}}

``timing_ms`` holds ``encode_context`` and ``retrieve`` only with a retriever. A missing
checkpoint, an empty dialog or an unknown set exits with status 1 and one line saying so.
"""
from __future__ import annotations

import argparse
import json

SCHEMA = "srs_lib.rank/1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="the re-ranker's .keras file (SRS)")
    parser.add_argument("--retriever", default=None, help="a dual encoder's .keras file (optional)")
    parser.add_argument("--base_path", required=True, help="the corpus whose stickers are the library")
    parser.add_argument("--text", action="append", required=True,
                        help="one utterance (repeat, oldest first)")
    parser.add_argument("--k", type=int, default=10, help="stickers to show (default 10)")
    parser.add_argument("--n", type=int, default=50,
                        help="the retriever's candidates SRS re-ranks (default 50)")
    parser.add_argument("--set", dest="set_id", type=int, default=None,
                        help="only this sticker set's stickers")
    parser.add_argument("--sticker", action="append", default=None, metavar="SET_ID:STICKER_ID",
                        help="only these stickers (repeat: a user's collection)")
    parser.add_argument("--json", action="store_true", help=f"print one JSON object ({SCHEMA})")
    parser.add_argument("--strip", default=None, metavar="PNG", help="draw the stickers into this PNG")
    parser.add_argument("--cache_dir", default=None, help="the sticker cache's folder")
    parser.add_argument("--index_dir", default=None, help="the sticker indexes' folder")


def _collection(values) -> list[tuple[int, int]] | None:
    if values is None:
        return None
    pairs = []
    for value in values:
        set_id, sep, sticker_id = value.partition(":")
        if not sep or not set_id.strip().isdigit() or not sticker_id.strip().isdigit():
            raise ValueError(f"--sticker {value!r}: write SET_ID:STICKER_ID (two integers)")
        pairs.append((int(set_id), int(sticker_id)))
    return pairs


def draw_strip(recommender, stickers: list[dict], path) -> None:
    """The stickers of an answer in one strip, captioned with rank, emoji and score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from srs_lib.figures import candidate_strip, emoji_label

    images = np.asarray(recommender.cache.images[[s["row"] for s in stickers]])
    captions = [f"#{s['rank']} {emoji_label(s['emoji'])}\n{s['score']:.3f}" for s in stickers]
    fig = candidate_strip(images, positive=-1, captions=captions)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from srs_lib.recommend.recommender import Recommender, context_texts

    context_texts(args.text)  # an empty dialog is refused before any model loads
    collection = _collection(args.sticker)
    if args.k < 1 or args.n < 1:
        raise ValueError("--k and --n must be at least 1")
    recommender = Recommender(args.checkpoint, args.retriever, args.base_path,
                              cache_dir=args.cache_dir, index_dir=args.index_dir)
    answer = recommender.recommend(args.text, k=args.k, n=args.n, set_id=args.set_id,
                                   stickers=collection)
    if args.strip:
        draw_strip(recommender, answer.stickers, args.strip)
    if args.json:
        print(json.dumps({"schema": SCHEMA, "checkpoint": str(args.checkpoint),
                          "retriever": args.retriever and str(args.retriever),
                          "base_path": str(args.base_path), "k": args.k, "n": args.n,
                          "set_id": args.set_id, **answer.to_dict()}, ensure_ascii=False))
        return 0
    print(f"{'rank':>4}  {'set_id':>20}  {'sticker_id':>20}  emoji  {'score':>8}")
    for s in answer.stickers:
        print(f"{s['rank']:>4}  {s['set_id']:>20}  {s['sticker_id']:>20}  {s['emoji']:<5}  "
              f"{s['score']:>8.4f}")
    report = answer.context
    how = (f"SRS re-ranked the retriever's top {answer.reranked} of {answer.pool} stickers"
           if recommender.retriever is not None else f"SRS scored all {answer.pool} stickers")
    unknown = (f"; {len(report.unknown_words)} unknown (read as [UNK]): "
               f"{' '.join(report.unknown_words)}" if report.unknown_words else "; no unknown word")
    cut = f"; {report.truncated_words} words cut off" if report.truncated_words else ""
    print(f"{how}; the models read {report.utterances} utterances, {report.words} words{unknown}{cut}")
    if args.strip:
        print(f"strip written to {args.strip}")
    return 0
