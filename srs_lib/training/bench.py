"""``python -m srs_lib bench``: training, evaluation and loader throughput, and peak memory.

    python -m srs_lib bench --base_path data/small [--profile cpu|paper] [--json OUT]

Everything is measured in one run on the current device, so the figures can be compared
with each other (ratios), not across machines: these machines are shared and noisy.

* ``pipeline_contexts_per_s``: batches assembled from the packed cache by the loader alone
  (worker threads as in training), no model;
* ``train_contexts_per_s``: optimisation steps of the joint stage on batches already in
  memory (the loader excluded), after warm-up steps;
* ``eval_contexts_per_s``: scoring batches without gradients (loading included), after
  one warm-up batch;
* ``loader_headroom``: pipeline / training throughput (above 1: the loader keeps up);
* ``peak_rss_mib`` (the process) and, on a GPU, ``peak_gpu_mib`` (allocated by torch);
* ``flops_per_context`` (:func:`flop_counts`): floating-point operations of one joint
  training step per context, counted by ``torch.utils.flop_counter``, forward and
  backward, the sticker side and the text side apart; ``achieved_tflops``: those times
  the measured training throughput, and ``peak_fraction`` against the device's dense
  bf16/fp32 peak where :data:`PEAK_TFLOPS` knows it.

``--evaluation`` measures evaluation alone (:func:`run_evaluation_benchmark`): the same
model scores the same split (by default the whole ``release_test.json``) encoding every
candidate where it appears ("before", ``eval_contexts_per_s_before``) and encoding each
distinct sticker of the pass once (:mod:`srs_lib.training.scoring`, "after"), in
alternating rounds, the best round of each; ``eval_speedup`` is their ratio and
``max_abs_score_difference`` the largest difference of their scores.

``--candidate_repeats`` measures how often candidates repeat within a training batch
(:func:`run_repeats_benchmark`, :mod:`srs_lib.training.repeats`), to tell whether encoding
each distinct sticker of a training batch once would pay.

Mixed precision is the training option ``--mixed_precision on|off|auto`` (bf16 autocast
through Keras's ``mixed_bfloat16`` policy; auto: on a GPU). A separate ``channels_last``
option would measure nothing: Keras 3's torch convolution already hands its inputs and
kernels to torch in the ``channels_last`` memory format.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
from keras import ops

from srs_lib.files import write_json_atomically
from srs_lib.provenance import machine_description
from srs_lib.training.config import PROFILES


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


#: Dense peak TFLOP/s of devices we may meet, by a substring of torch's device name:
#: (bf16, fp32), from the vendors' data sheets (without sparsity).
PEAK_TFLOPS = {"H100": (989.0, 67.0), "H200": (989.0, 67.0), "A100": (312.0, 19.5),
               "L4": (121.0, 30.3), "A10": (125.0, 31.2), "T4": (65.0, 8.1)}


def flop_counts(model, inputs) -> dict:
    """Floating-point operations of one training step on ``inputs`` (one batch), by
    ``torch.utils.flop_counter``: ``forward``, ``train`` (forward and backward), and
    ``train`` split into ``sticker`` (the sticker encoder's forward and backward) and
    ``text`` (the rest: utterance encoder, interaction and fusion, or a baseline's own
    parts). Counted once, outside the timed steps."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from srs_lib.training.trainer import _to_tensors

    tensors = _to_tensors(inputs)

    def count(step) -> int:
        for variable in model.trainable_variables:
            variable.value.grad = None
        with FlopCounterMode(display=False) as counter:
            step()
        return int(counter.get_total_flops())

    def forward():
        with torch.no_grad():
            model(tensors, training=True)

    def train():
        out = model(tensors, training=True)
        (ops.sum(ops.cast(out["scores"], "float32"))
         + ops.sum(ops.cast(out["emoji_logits"], "float32"))).backward()

    def sticker():
        outputs = model.sticker_encoder(tensors["stickers"], training=True)
        sum(ops.sum(ops.cast(o, "float32")) for o in outputs).backward()

    counts = {"forward": count(forward), "train": count(train), "sticker": count(sticker)}
    counts["text"] = counts["train"] - counts["sticker"]
    for variable in model.trainable_variables:
        variable.value.grad = None
    return counts


def peak_tflops(device_name: str | None, mixed_precision: bool) -> float | None:
    """The device's dense peak from :data:`PEAK_TFLOPS`, or None (a CPU, an unknown GPU)."""
    for key, (bf16, fp32) in PEAK_TFLOPS.items():
        if device_name and key in device_name:
            return bf16 if mixed_precision else fp32
    return None


def run_benchmark(base_path, profile: str = "cpu", *, steps: int = 20, warmup: int = 3,
                  batches: int = 40, cache_dir=None, **changes) -> dict:
    """Measure one configuration; ``changes`` override the profile's training options."""
    from srs_lib.training.config import profile_config
    from srs_lib.training.trainer import Trainer, score_batches

    config = profile_config(profile, steps=warmup + steps, **changes)
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(config, base_path, logs, "bench", cache_dir=cache_dir, verbose=False)
        data = trainer.train_batches
        n = min(batches, len(data))

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=max(1, config.workers)) as pool:
            loaded = list(pool.map(data.__getitem__, range(n)))
        pipeline_seconds = time.monotonic() - start
        pipeline_contexts = sum(len(t["label"]) for _, t in loaded)

        joint = config.emoji_steps  # the first step of the joint stage
        for i in range(warmup):
            trainer.train_step(*loaded[i % n], joint + i)
        _sync(trainer.device)
        start = time.monotonic()
        contexts = 0
        for i in range(steps):
            inputs, targets = loaded[(warmup + i) % n]
            trainer.train_step(inputs, targets, joint + warmup + i)
            contexts += len(targets["label"])
        _sync(trainer.device)
        train_seconds = time.monotonic() - start

        score_batches(trainer.model, trainer.eval_batches, limit=config.batch_size)  # warm-up
        _sync(trainer.device)
        start = time.monotonic()
        scores, _, _ = score_batches(trainer.model, trainer.eval_batches,
                                     limit=n * config.batch_size)
        _sync(trainer.device)
        eval_seconds = time.monotonic() - start

    result = {
        "profile": profile,
        "config": config.to_dict(),
        "device": trainer.device,
        "batch_size": config.batch_size,
        "candidates": config.n_candidates,
        "pipeline_contexts_per_s": pipeline_contexts / pipeline_seconds,
        "train_contexts_per_s": contexts / train_seconds,
        "train_seconds_per_step": train_seconds / steps,
        "eval_contexts_per_s": len(scores) / eval_seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
    }
    result["loader_headroom"] = result["pipeline_contexts_per_s"] / result["train_contexts_per_s"]
    flops = flop_counts(trainer.model, loaded[0][0])
    per_context = {key: value / len(loaded[0][1]["label"]) for key, value in flops.items()}
    result["flops_per_context"] = per_context
    result["achieved_tflops"] = per_context["train"] * result["train_contexts_per_s"] / 1e12
    mixed = keras.config.dtype_policy().name == "mixed_bfloat16"
    peak = peak_tflops(result["machine"].get("gpu"), mixed)
    result["peak_tflops"] = peak
    result["peak_fraction"] = result["achieved_tflops"] / peak if peak else None
    result["mixed_precision"] = mixed
    if trainer.device == "cuda":
        import torch

        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def run_evaluation_benchmark(base_path, profile: str = "cpu", *, split: str = "release_test.json",
                             contexts: int | None = None, repeats: int = 2, cache_dir=None,
                             **changes) -> dict:
    """Evaluation throughput before and after encoding each distinct sticker once, in one
    run: the profile's model (untrained: the timing and the equality do not depend on
    training) scores ``contexts`` contexts of ``split`` (None: all) both ways, ``repeats``
    alternating rounds each, the fastest round of each kept."""
    import numpy as np

    from srs_lib.layers.masking import MASK_VALUE
    from srs_lib.training.config import profile_config
    from srs_lib.training.pipeline import evaluation_batches
    from srs_lib.training.scoring import score_batches
    from srs_lib.training.trainer import Trainer

    config = profile_config(profile, **changes)
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(config, base_path, logs, "bench", cache_dir=cache_dir, verbose=False)
    model = trainer.model
    _, batches = evaluation_batches(base_path, config, split, cache_dir=cache_dir)
    for encode_once in (False, True):  # warm-up
        score_batches(model, batches, limit=config.batch_size, encode_once=encode_once)
    seconds = {False: [], True: []}
    scores = {}
    for _ in range(repeats):
        for encode_once in (False, True):
            _sync(trainer.device)
            start = time.monotonic()
            scores[encode_once] = score_batches(model, batches, limit=contexts,
                                                encode_once=encode_once)
            _sync(trainer.device)
            seconds[encode_once].append(time.monotonic() - start)
    n = len(scores[True][1])
    rows = np.concatenate([batches.plan(b)[1].reshape(-1) for b in range(-(-n // batches.batch_size))])
    real = rows[rows >= 0]
    before, after = n / min(seconds[False]), n / min(seconds[True])
    mask = scores[False][0] > MASK_VALUE
    return {
        "profile": profile,
        "config": config.to_dict(),
        "device": trainer.device,
        "split": split,
        "contexts": int(n),
        "candidates": int(real.size),
        "distinct_stickers": int(len(np.unique(real))),
        "eval_contexts_per_s_before": before,
        "eval_contexts_per_s_after": after,
        "eval_speedup": after / before,
        "seconds_before": seconds[False],
        "seconds_after": seconds[True],
        "max_abs_score_difference": float(np.max(np.abs(scores[True][0] - scores[False][0])[mask])),
        "same_rankings": bool(np.array_equal(np.argsort(-scores[True][0], axis=1, kind="stable"),
                                             np.argsort(-scores[False][0], axis=1, kind="stable"))),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
    }


def run_repeats_benchmark(base_path, profile: str = "cpu", *, n_batches: int = 200,
                          cache_dir=None) -> dict:
    """How much of a training step encoding each distinct candidate of a batch once could
    save (:mod:`srs_lib.training.repeats`): the share of repeated candidates under
    ``random`` and ``first9`` in the corpus's own training batches and in batches drawn
    from the ``small`` and ``paper`` presets' statistics, and, with the sticker side's
    share of a training step's FLOPs (:func:`flop_counts`, the profile's SRS), the most
    that would save of a step's work."""
    from srs_lib.training.config import profile_config
    from srs_lib.training.repeats import corpus_repeats, preset_repeats
    from srs_lib.training.trainer import Trainer

    config = profile_config(profile, steps=1)
    sizes = dict(batch_size=config.batch_size, n_candidates=config.n_candidates,
                 n_batches=n_batches)
    rows = []
    for protocol in ("random", "first9"):
        rows.append(corpus_repeats(base_path, protocol, **sizes))
        rows += [preset_repeats(preset, protocol, **sizes) for preset in ("small", "paper")]
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(config, base_path, logs, "bench", cache_dir=cache_dir, verbose=False)
        flops = flop_counts(trainer.model, trainer.train_batches[0][0])
    share = flops["sticker"] / flops["train"]
    for row in rows:
        row["step_flops_saved_at_most"] = row["encodings_saved"] * share
    return {"profile": profile, "corpus": str(base_path), "sticker_flop_share": share,
            "rows": rows, "machine": machine_description(), "date": time.strftime("%Y-%m-%d")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base_path", default=None,
                        help="corpus in the StickerChat release format (required, except with "
                             "--serving: default data/tiny)")
    parser.add_argument("--profile", default="cpu", choices=tuple(PROFILES))
    parser.add_argument("--steps", type=int, default=20, help="timed training steps (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=40, help="batches the loader assembles (default: %(default)s)")
    parser.add_argument("--model", help="the ranking model (default: the profile's, SRS); e.g. dam")
    parser.add_argument("--batch_size", type=int, help="override the profile's batch size")
    parser.add_argument("--workers", type=int, help="override the profile's loader threads")
    parser.add_argument("--mixed_precision", choices=("auto", "on", "off"),
                        help="override the profile's mixed precision (on: bf16 autocast)")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    evaluation = parser.add_argument_group("evaluation only")
    evaluation.add_argument("--evaluation", action="store_true",
                            help="measure evaluation alone, every candidate encoded where it "
                                 "appears against each distinct sticker encoded once, on the "
                                 "same split in one run (nothing else is measured)")
    evaluation.add_argument("--split", default="release_test.json",
                            help="the split --evaluation scores (default: %(default)s)")
    evaluation.add_argument("--contexts", type=int,
                            help="contexts --evaluation scores (default: the whole split)")
    evaluation.add_argument("--repeats", type=int, default=2,
                            help="alternating rounds of --evaluation, the best kept (default: %(default)s)")


    parser.add_argument("--approximate", action="store_true",
                        help="exact retrieval against faiss HNSW over a library of the paper's size "
                             "(174,695 random unit vectors of width 100): latency and recall of "
                             "the exact top 50 (nothing else is measured)")
    parser.add_argument("--candidate_repeats", action="store_true",
                        help="how often candidates repeat within a training batch under random "
                             "and first9 (the corpus, the small and paper presets' statistics) "
                             "and the most encoding each once would save (nothing else is measured)")

    serving = parser.add_argument_group("serving only")
    serving.add_argument("--serving", action="store_true",
                         help="latency per recommendation request: context encoding, retrieval "
                              "over the small library and a paper-size one, SRS re-ranking "
                              "(see srs_lib.recommend.serving_bench; nothing else is measured)")
    serving.add_argument("--library", default=None,
                         help="the --serving library corpus (default: data/small)")
    serving.add_argument("--checkpoint", default=None,
                         help="--serving: the SRS .keras file (default: trained with ci first)")
    serving.add_argument("--retriever", default=None,
                         help="--serving: the dual encoder .keras file (default: trained with ci first)")
    serving.add_argument("--compile", action="store_true",
                         help="--serving: also time the cpu-shaped re-ranker under torch.compile "
                              "(minutes of compilation first)")
    serving.add_argument("--requests", type=int, default=200,
                         help="--serving: timed requests per stage (default: %(default)s)")


def _run_serving(args: argparse.Namespace) -> int:
    from srs_lib.provenance import ROOT
    from srs_lib.recommend.serving_bench import run_serving_benchmark

    base_path = args.base_path or ROOT / "data" / "tiny"
    library = args.library or ROOT / "data" / "small"
    result = run_serving_benchmark(base_path, library, checkpoint=args.checkpoint,
                                   retriever=args.retriever, repeats=args.requests,
                                   compile=args.compile)
    print(f"{'stage':<40} {'p50 ms':>8} {'p95 ms':>8}")
    for name, value in result["stages"].items():
        print(f"{name:<40} {value['p50_ms']:>8.2f} {value['p95_ms']:>8.2f}")
    for goal, reached in result["goals"].items():
        print(f"{goal}: {reached}")
    if args.json_out:
        write_json_atomically(args.json_out, result)
    return 0


def _run_approximate(args: argparse.Namespace) -> int:
    from srs_lib.provenance import machine_description
    from srs_lib.recommend.approximate import compare_search
    from srs_lib.recommend.serving_bench import PAPER_LIBRARY, PAPER_WIDTH, _random_unit

    vectors = _random_unit(PAPER_LIBRARY, PAPER_WIDTH, seed=1)
    queries = _random_unit(args.requests, PAPER_WIDTH, seed=2)
    result = compare_search(vectors, queries, k=50)
    result.update(vectors="random unit vectors (seed 1), the paper's library size and width",
                  machine=machine_description(), date=time.strftime("%Y-%m-%d %H:%M"))
    print(f"exact over {result['rows']} × {result['dim']}: p50 {result['exact']['p50_ms']:.2f} ms, "
          f"p95 {result['exact']['p95_ms']:.2f} ms; HNSW built in {result['hnsw_build_seconds']} s")
    for row in result["hnsw"]:
        print(f"  HNSW ef_search {row['ef_search']:>4}: p50 {row['p50_ms']:.3f} ms, p95 "
              f"{row['p95_ms']:.3f} ms, recall of the exact top 50 {row['recall_at_k']:.3f}")
    if args.json_out:
        write_json_atomically(args.json_out, result)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.serving:
        return _run_serving(args)
    if args.approximate:
        return _run_approximate(args)
    if args.base_path is None:
        raise ValueError("bench needs --base_path (a corpus in the StickerChat release format)")
    changes = {k: v for k, v in (("batch_size", args.batch_size), ("workers", args.workers),
                                 ("mixed_precision", args.mixed_precision),
                                 ("model", args.model)) if v}
    if args.candidate_repeats:
        result = run_repeats_benchmark(args.base_path, args.profile, cache_dir=args.cache_dir)
        print(f"sticker side: {result['sticker_flop_share']:.0%} of a {args.profile} training "
              "step's FLOPs")
        print(f"{'batches of':<16} {'protocol':<9} {'distinct':>9} {'encodings saved':>16} "
              f"{'step FLOPs saved ≤':>19}")
        for row in result["rows"]:
            print(f"{row['source']:<16} {row['protocol']:<9} {row['distinct_share']:>9.3f} "
                  f"{row['encodings_saved']:>16.3f} {row['step_flops_saved_at_most']:>19.3f}")
        keys = ()
    elif args.evaluation:
        result = run_evaluation_benchmark(args.base_path, args.profile, split=args.split,
                                          contexts=args.contexts, repeats=args.repeats,
                                          cache_dir=args.cache_dir, **changes)
        keys = ("device", "contexts", "candidates", "distinct_stickers",
                "eval_contexts_per_s_before", "eval_contexts_per_s_after", "eval_speedup",
                "max_abs_score_difference", "same_rankings", "peak_rss_mib")
    else:
        result = run_benchmark(args.base_path, args.profile, steps=args.steps, warmup=args.warmup,
                               batches=args.batches, cache_dir=args.cache_dir, **changes)
        keys = ("device", "pipeline_contexts_per_s", "train_contexts_per_s", "eval_contexts_per_s",
                "loader_headroom", "peak_rss_mib", "peak_gpu_mib", "achieved_tflops",
                "peak_fraction")
    for key in keys:
        if key in result:
            value = result[key]
            shown = (f"{value:.2e}" if key == "max_abs_score_difference" else f"{value:.1f}"
                     if isinstance(value, float) else value)
            print(f"{key:<26} {shown}")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0
