"""``python -m srs_lib evaluate``: rank the candidates of a split with any saved model.

    python -m srs_lib evaluate --checkpoint LOG_ROOT/NAME/train/best.keras \\
        --base_path DIR [--test_path release_test.json] [--out scores.npz] [--json]
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a saved model (.keras)")
    parser.add_argument("--base_path", required=True, help="corpus in the StickerChat release format")
    parser.add_argument("--test_path", default="release_test.json", help="(default: %(default)s)")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--out", help="write per-context scores to this .npz")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    from srs_lib.training.trainer import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.base_path, args.test_path,
                                 cache_dir=args.cache_dir)
    if args.out:
        np.savez_compressed(args.out, scores=result["scores"], labels=result["labels"],
                            lines=result["lines"])
    metrics = result["metrics"]
    if args.json:
        print(json.dumps({"metrics": metrics, "contexts": int(len(result["labels"])),
                          "skipped": result["skipped"],
                          "short_candidate_lists": result["short_candidate_lists"]}, indent=2))
    else:
        print(f"{len(result['labels'])} contexts of {args.test_path}")
        for name, value in metrics.items():
            print(f"  {name:<6} {value:.4f}")
    return 0
