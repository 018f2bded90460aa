"""``python -m srs_lib bench --serving``: the latency of one recommendation request on this CPU.

Each stage is timed per request (``time.perf_counter``, after warm-up calls), and reported
as p50 and p95 in milliseconds:

* ``encode_context``: the dialog tokenised with the corpus vocabulary and the retriever's
  context vector computed (one context);
* ``retrieve_small`` / ``retrieve_paper_size``: exact top ``n`` by one matrix product over
  the library's unit vectors: the ``small`` corpus's stickers encoded by the retriever, and
  174,695 random unit vectors (the paper's library, section 3.2) of the retriever's width
  and of the paper's width (100);
* ``rerank_10`` / ``rerank_50``: SRS on 10 or 50 candidates from cached sticker encodings
  (their rows gathered from the index's memory map included), split into the utterance
  encoder alone (``encode_utterances``) and the whole forward;
* ``paper_size_pipeline``: retrieval over 174,695 vectors then re-ranking its top 50, one
  request at a time;
* ``cpu_shapes_rerank_50_compiled`` (with ``compile=True``, ``bench --serving --compile``):
  the ``cpu``-shaped SRS on 50 candidates under ``torch.compile`` (inductor, static
  shapes), beside the same call eager in the same run (``cpu_shapes_rerank_50_eager``,
  the model call alone, without the gather), with the compile time;
* ``recommend``: :meth:`Recommender.recommend <srs_lib.recommend.recommender.Recommender.
  recommend>` end to end on the models' own corpus (retriever top 50, SRS, top 10).

Re-ranking is timed twice: with the trained models (``ci`` profile, the ``tiny`` corpus: hidden
16, 8 utterances × 12 words) and with an SRS of the ``cpu`` profile's shapes (hidden 100, 15
utterances × 20 words, the profile's sticker side: the small CNN's map and vector), untrained (its weights do not change its
cost). Without ``--checkpoint`` and ``--retriever``, both models are first trained with the
``ci`` profile on ``--base_path`` (seconds), so the command needs nothing but the corpora.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

PAPER_LIBRARY = 174_695
"""Stickers in StickerChat (section 3.2 of the paper)."""
PAPER_WIDTH = 100


def _percentiles(samples: list[float]) -> dict:
    values = 1e3 * np.asarray(samples)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3),
            "p95_ms": round(float(np.percentile(values, 95)), 3), "calls": len(samples)}


def timed(function, repeats: int, warmup: int) -> dict:
    """p50/p95 of ``function()``'s wall time over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return _percentiles(samples)


def _random_unit(rows: int, width: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, width), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _search(vectors: np.ndarray, query: np.ndarray, n: int):
    from srs_lib.recommend.index import top_k

    return top_k((query @ vectors.T)[None], n)


def train_ci_models(base_path, root) -> tuple[Path, Path]:
    """SRS and a dual encoder trained with the ``ci`` profile on ``base_path`` under ``root``."""
    from srs_lib.training.config import profile_config
    from srs_lib.training.trainer import train

    paths = []
    for model in ("srs", "dual_encoder"):
        train(profile_config("ci", model=model), base_path, root, model, verbose=False)
        paths.append(Path(root) / model / "train" / "best.keras")
    return paths[0], paths[1]


def _rerank_timings(ranker, encoded: dict, ids: np.ndarray, repeats: int, warmup: int) -> dict:
    """``rerank_N`` for N = 10 and 50: SRS from cached encodings, gather included, and its
    utterance encoder alone."""
    import torch
    from keras import ops

    out = {}
    model = ranker.model
    for n in (10, 50):
        rows = np.arange(n) % len(next(iter(encoded.values())))

        def rerank(rows=rows):
            ranker.scores(ids, {name: np.asarray(table[rows])[None] for name, table in encoded.items()})

        def utterances():
            with torch.no_grad():
                model.encode_utterances(ops.convert_to_tensor(ids), training=False)

        out[f"rerank_{n}"] = timed(rerank, repeats, warmup)
    if hasattr(model, "encode_utterances"):
        out["encode_utterances"] = timed(utterances, repeats, warmup)
    return out


def compiled_timings(model, inputs: dict, repeats: int, warmup: int) -> dict:
    """The model's scores on fixed ``inputs`` (tensors), eager under ``inference_mode`` and
    under ``torch.compile`` (static shapes), timed alternately in one run, with the compile
    time (the first call) and the largest score difference."""
    import torch
    from keras import ops

    def eager():
        with torch.inference_mode():
            return model(inputs, training=False)["scores"]

    compiled_call = torch.compile(lambda x: model(x, training=False)["scores"], dynamic=False)

    def compiled():
        with torch.no_grad():
            return compiled_call(inputs)

    start = time.perf_counter()
    first = compiled()
    compile_seconds = time.perf_counter() - start
    difference = float(ops.max(ops.abs(ops.cast(first, "float32") - ops.cast(eager(), "float32"))))
    return {"cpu_shapes_rerank_50_eager": timed(eager, repeats, warmup),
            "cpu_shapes_rerank_50_compiled": {**timed(compiled, repeats, warmup),
                                              "compile_seconds": round(compile_seconds, 1),
                                              "max_abs_score_difference": difference}}


def run_serving_benchmark(base_path, library_path, *, checkpoint=None, retriever=None,
                          repeats: int = 200, warmup: int = 20, n: int = 50,
                          compile: bool = False) -> dict:
    """The measurements of the module docstring, as a dict (written by ``bench --json``)."""
    import torch

    from srs_lib.data.corpus import Corpus
    from srs_lib.data.vocab import encode_context
    from srs_lib.models.registry import build_model
    from srs_lib.provenance import corpus_description, machine_description
    from srs_lib.recommend.index import StickerIndex, encode_library
    from srs_lib.recommend.recommender import KerasRanker, Recommender
    from srs_lib.training.config import data_config, profile_config

    texts = ["haha that was so funny", "lol i can not stop laughing", "you are hilarious"]
    with tempfile.TemporaryDirectory() as scratch:
        trained = checkpoint is None and retriever is None
        if trained:
            checkpoint, retriever = train_ci_models(base_path, Path(scratch) / "runs")
        elif checkpoint is None or retriever is None:
            raise ValueError("pass both --checkpoint and --retriever, or neither (then both are "
                             "trained with the ci profile first)")
        recommender = Recommender(checkpoint, retriever, base_path, index_dir=Path(scratch) / "index")
        ids, _ = recommender.retriever.encode(texts)
        rerank_ids, _ = recommender.reranker.encode(texts)
        width = recommender.retriever_index.vectors.shape[1]
        results: dict = {"stages": {}}
        stages = results["stages"]
        stages["encode_context"] = timed(
            lambda: recommender.context_vector(recommender.retriever.encode(texts)[0]), repeats, warmup)
        query = recommender.context_vector(ids)[0]
        library_cache = Corpus(library_path).sticker_cache(progress=False)
        small = StickerIndex.open(recommender.retriever.ranker, library_cache,
                                  Path(scratch) / "small_index")
        small_vectors = np.asarray(small.vectors)
        stages["retrieve_small"] = timed(lambda: _search(small_vectors, query, n), repeats, warmup)
        paper = _random_unit(PAPER_LIBRARY, width)
        stages["retrieve_paper_size"] = timed(lambda: _search(paper, query, n), repeats, warmup)
        paper_wide = _random_unit(PAPER_LIBRARY, PAPER_WIDTH, seed=1)
        wide_query = _random_unit(1, PAPER_WIDTH, seed=2)[0]
        stages["retrieve_paper_size_width100"] = timed(
            lambda: _search(paper_wide, wide_query, n), repeats, warmup)
        encoded = recommender.reranker_index.arrays
        for name, value in _rerank_timings(recommender.reranker.ranker, encoded, rerank_ids,
                                           repeats, warmup).items():
            stages[f"ci_{name}"] = value

        def pipeline():
            rows, _ = _search(paper, query, n)
            rows = rows[0] % len(recommender.index)  # the random library's rows → real encodings
            recommender.reranker.ranker.scores(
                rerank_ids, {k: np.asarray(t[rows])[None] for k, t in encoded.items()})

        stages["paper_size_pipeline_ci"] = timed(pipeline, repeats, warmup)
        stages["recommend_ci"] = timed(lambda: recommender.recommend(texts, k=10, n=n), repeats, warmup)

        # An SRS of the cpu profile's shapes, untrained, on the small corpus's stickers.
        cpu = profile_config("cpu")
        corpus = Corpus(library_path, vocab_size=cpu.vocab_size, emoji_vocab_size=cpu.emoji_vocab_size)
        model = build_model(cpu, vocab_size=len(corpus.vocab), n_emoji=len(corpus.emoji_vocab),
                            data_config=data_config(cpu), pretrained=False)
        cpu_ids = encode_context(texts, corpus.vocab, cpu.max_utterances, cpu.max_words)[0][None]
        images = np.asarray(library_cache.images[:64])
        with torch.no_grad():
            model({"contexts": cpu_ids, "stickers": images[None, :2]}, training=False)
        cpu_encoded = encode_library(model, images)
        cpu_ranker = KerasRanker(model)
        for name, value in _rerank_timings(cpu_ranker, cpu_encoded, cpu_ids, repeats, warmup).items():
            stages[f"cpu_shapes_{name}"] = value
        cpu_rows = np.arange(n) % len(images)

        def cpu_pipeline():
            _search(paper_wide, wide_query, n)
            cpu_ranker.scores(cpu_ids, {k: t[cpu_rows][None] for k, t in cpu_encoded.items()})

        stages["paper_size_pipeline_cpu_shapes"] = timed(cpu_pipeline, repeats, warmup)
        if compile:
            from keras import ops

            inputs = {"contexts": ops.convert_to_tensor(np.asarray(cpu_ids, dtype=np.int32)),
                      **{k: ops.convert_to_tensor(t[cpu_rows][None]) for k, t in cpu_encoded.items()}}
            stages.update(compiled_timings(model, inputs, repeats, warmup))

        results.update({
            "models": "trained by this command: ci profile on " + corpus_description(base_path)
                      if trained else {"checkpoint": str(checkpoint), "retriever": str(retriever)},
            "ci_shapes": {"hidden": recommender.reranker.ranker.model.hidden,
                          "max_utterances": recommender.reranker.max_utterances,
                          "max_words": recommender.reranker.max_words},
            "cpu_shapes": {"hidden": cpu.hidden, "max_utterances": cpu.max_utterances,
                           "max_words": cpu.max_words, "sticker_code": cpu.sticker_code},
            "retriever_width": int(width), "n": n, "request": texts,
            "libraries": {"models_corpus": len(recommender.index),
                          "small": len(small), "paper_size": PAPER_LIBRARY,
                          "small_corpus": corpus_description(library_path)},
            "torch_threads": torch.get_num_threads(),
            "machine": machine_description(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "repeats": repeats, "warmup": warmup,
        })
    results["goals"] = {
        "rerank_50_p50_at_most_10_ms": {
            "ci": stages["ci_rerank_50"]["p50_ms"] <= 10.0,
            "cpu_shapes": stages["cpu_shapes_rerank_50"]["p50_ms"] <= 10.0},
        "paper_size_retrieval_plus_rerank_p50_at_most_50_ms": {
            "ci": stages["paper_size_pipeline_ci"]["p50_ms"] <= 50.0,
            "cpu_shapes": stages["paper_size_pipeline_cpu_shapes"]["p50_ms"] <= 50.0},
    }
    return results
