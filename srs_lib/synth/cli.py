"""``python -m srs_lib synth --out DIR --preset {tiny,small,medium,paper} --seed N [--style shapes]``.

Writes a synthetic corpus in the StickerChat release format (see
:mod:`srs_lib.synth.writer`). Nothing is downloaded. The same preset, seed and language
give the same bytes; ``--workers`` only changes the speed.
"""
from __future__ import annotations

import argparse
import os
import sys

from srs_lib.synth.language import LANGUAGES
from srs_lib.synth.presets import PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m srs_lib synth``."""
    parser.add_argument("--out", required=True, help="folder to write the corpus to")
    parser.add_argument("--preset", choices=list(PRESETS), default="small",
                        help="corpus size (default small): " + "; ".join(
                            f"{p.name} {p.n_train}/{p.n_val}/{p.n_test} pairs, {p.n_sets} sets"
                            for p in PRESETS.values()))
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--language", choices=LANGUAGES, default="en", help="dialog language (default en)")
    parser.add_argument("--workers", type=int, default=1, help="processes rendering stickers (default 1)")
    parser.add_argument("--style", choices=("characters", "shapes"), default="characters",
                        help="characters (the embedded corpus: one character per set, parts in "
                             "regions; default) or shapes (a simple generator: one shape per set, "
                             "a small moving mark)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _size(path: str) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
    return total


def run(args: argparse.Namespace) -> int:
    """Generate the corpus and print what was written."""
    from srs_lib.synth.writer import generate_corpus

    if args.seed < 0:
        print("synth: --seed must be non-negative", file=sys.stderr)
        return 2
    try:
        info = generate_corpus(args.out, args.preset, args.seed, language=args.language,
                               workers=max(1, args.workers), overwrite=args.overwrite,
                               progress=not args.quiet, style=args.style)
    except FileExistsError as error:
        print(f"synth: {error}", file=sys.stderr)
        return 1
    pairs = info["pairs"]
    print(f"wrote {os.path.abspath(args.out)}: preset {info['preset']}, seed {info['seed']}, "
          f"language {info['language']}, style {info['style']}")
    print(f"  pairs train/val/test {pairs['train']:,}/{pairs['val']:,}/{pairs['test']:,}; "
          f"{info['n_sets']:,} sets, {info['n_stickers']:,} stickers "
          f"({info['n_small_sets']} sets under 10, {info['n_noisy_sets']} with noisy labels), "
          f"{info['n_emojis']} emojis")
    print(f"  {_size(args.out) / 2**20:,.1f} MiB in {info['seconds']:.1f} s")
    return 0
