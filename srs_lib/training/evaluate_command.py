"""``python -m srs_lib evaluate``: rank the candidates of a split with any saved model.

    python -m srs_lib evaluate --checkpoint LOG_ROOT/NAME/train/best.keras \\
        --base_path DIR [--test_path release_test.json] [--out scores.npz] [--json]

A model trained by ``train`` carries the data options it was evaluated with (utterances,
words, candidates, protocol, evaluation seed, batch size, vocabulary size), so a copy of
``best.keras`` evaluates the same anywhere. ``--config RUN/config.json`` or ``--profile``
give other ones, and each data option can be set on its own; a model that carries none
(saved before models recorded theirs) is refused unless ``--config`` or ``--profile`` is
given.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from srs_lib.training.config import DATA_OPTIONS, PROFILES

_TYPES = {"protocol": str}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a saved model (.keras)")
    parser.add_argument("--base_path", required=True, help="corpus in the StickerChat release format")
    parser.add_argument("--test_path", default="release_test.json", help="(default: %(default)s)")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--verify_cache", choices=("stat", "full"), default="stat",
                        help="how the sticker cache is checked against the sticker files: file "
                             "times (stat, default) or a hash of every byte (full)")
    parser.add_argument("--out", help="write per-context scores to this .npz")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    data = parser.add_argument_group("data options (default: the ones saved in the model)")
    source = data.add_mutually_exclusive_group()
    source.add_argument("--config", help="a run's config.json: its data options")
    source.add_argument("--profile", choices=sorted(PROFILES), help="a profile's data options")
    for name in DATA_OPTIONS:
        data.add_argument(f"--{name}", type=_TYPES.get(name, int), default=None)


def _evaluation_config(args):
    """The configuration given on the command line (``None``: the model's own) and the
    data options set one by one."""
    from srs_lib.training.config import TrainConfig, profile_config

    options = {name: getattr(args, name) for name in DATA_OPTIONS if getattr(args, name) is not None}
    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            return TrainConfig(**json.load(handle)), options
    if args.profile:
        return profile_config(args.profile), options
    return None, options


def run(args: argparse.Namespace) -> int:
    from srs_lib.training.trainer import EvaluationError, evaluate_checkpoint

    config, options = _evaluation_config(args)
    try:
        result = evaluate_checkpoint(args.checkpoint, args.base_path, args.test_path, config=config,
                                     options=options, cache_dir=args.cache_dir,
                                     verify_cache=args.verify_cache)
    except EvaluationError as error:
        print(f"srs_lib evaluate: {error}", file=sys.stderr)
        return 1
    if args.out:
        np.savez_compressed(args.out, scores=result["scores"], labels=result["labels"],
                            lines=result["lines"])
    metrics = result["metrics"]
    if args.json:
        print(json.dumps({"metrics": metrics, "contexts": int(len(result["labels"])),
                          "skipped": result["skipped"], "data_config": result["data_config"],
                          "short_candidate_lists": result["short_candidate_lists"]}, indent=2))
    else:
        print(f"{len(result['labels'])} contexts of {args.test_path} "
              f"(data options: {', '.join(f'{k} {v}' for k, v in result['data_config'].items())})")
        for name, value in metrics.items():
            print(f"  {name:<6} {value:.4f}")
    return 0
