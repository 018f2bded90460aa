"""``python -m srs_lib experiments ACTION``: the chapters, the book and the experiment grids.

``notebooks``  the committed ``book/NN_topic.ipynb`` files, executed with the ``ci`` profile:
               the baseline that nbval compares against in ``make test``;
``book``       every chapter executed with a profile (``cpu`` by default) into
               ``_build/executed/<profile>/`` and the HTML book built from a staged copy of
               the sources, so that building the book changes no tracked file;
``build``      the HTML book built from the committed notebooks as they are;
``corpus``     make sure the corpus a profile runs on exists (generating it if needed);
``run GRID``   an experiment grid (:mod:`srs_lib.experiments.grids`): the training chapter
               once per entry, into ``results/<GRID>/<profile>/``; ``comparison`` (Tables 3
               and 4), ``utterances`` (Figure 7), ``hidden`` (Figure 11), ``seeds`` and
               ``emoji_speedup`` (section 7.2).

A chapter or grid entry that fails is reported and the others still run; the command then
exits non-zero.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from srs_lib.experiments.runner import (
    BOOK,
    BUILD,
    ROOT,
    build_html,
    chapters_from_toc,
    ensure_corpus,
    profile_parameters,
    run_chapters,
    stage_book,
)
from srs_lib.training.config import PROFILES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("notebooks", "book", "build", "corpus", "run"),
                        help="notebooks: re-execute the committed ci notebooks; book: execute "
                             "every chapter with a profile and build the HTML book; build: "
                             "build the HTML book from the committed notebooks; corpus: make "
                             "sure the profile's corpus exists; run GRID: run an experiment grid")
    parser.add_argument("grid", nargs="?", choices=("comparison", "utterances", "hidden", "seeds",
                                                    "emoji_speedup"),
                        help="with run: the grid (comparison: Tables 3 and 4; utterances: Figure 7; "
                             "hidden: Figure 11; seeds: SRS with seeds 0-2; emoji_speedup: section 7.2)")
    parser.add_argument("--profile", default="cpu", choices=tuple(PROFILES))
    parser.add_argument("--base_path", help="corpus to run on (required for --profile paper)")
    parser.add_argument("--chapters", nargs="*", help="only these chapters (default: all in _toc.yml)")
    parser.add_argument("--force", action="store_true",
                        help="re-run unchanged chapters (grid entries already done) too")
    parser.add_argument("--entries", nargs="*", help="with run: only these grid entries")
    parser.add_argument("--results_dir", help="with run: where the grid is written "
                                              "(default: results/GRID)")
    parser.add_argument("--comparison_dir", help="with run: the comparison grid, whose runs an "
                                                 "analysis grid reuses where it would train the same "
                                                 "(default: results/comparison)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="with run: runner processes side by side, each on its own entries "
                             "with cpu_count // jobs torch threads (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return build_html(ROOT)
    if not args.base_path:
        ensure_corpus(args.profile)
    if args.action == "corpus":
        return 0
    parameters = profile_parameters(args.profile, args.base_path)
    if args.action == "run":
        from srs_lib.experiments import grids

        if args.grid is None:
            raise SystemExit("run needs a grid: experiments run comparison (or utterances, hidden, "
                             "seeds, emoji_speedup)")
        results = (Path(args.results_dir) if args.results_dir
                   else grids.analyses.RESULTS_ROOT / args.grid).resolve()
        reused = (Path(args.comparison_dir) if args.comparison_dir else grids.RESULTS).resolve()
        if args.jobs > 1:
            return grids.run_grid_in_parallel(args.profile, args.jobs, grid=args.grid, results=results,
                                              comparison_results=reused, names=args.entries,
                                              force=args.force, base_path=args.base_path)
        return grids.run_grid(args.profile, parameters, grid=args.grid, results=results,
                              comparison_results=reused, names=args.entries, force=args.force)
    chapters = args.chapters or chapters_from_toc()
    if args.action == "notebooks":
        if args.profile != "ci":
            raise SystemExit("the committed notebooks hold the ci profile's outputs: use --profile ci")
        # One torch thread in the kernels, as `make nbval` uses: trained numbers depend on the
        # order of float reductions, so on the thread count.
        os.environ["OMP_NUM_THREADS"] = "1"
        runs = run_chapters(chapters, parameters, BOOK, stamp_dir=BUILD / "stamps" / "notebooks",
                            force=args.force)
        return 1 if any(r.status == "failed" for r in runs) else 0
    executed = BUILD / "executed" / args.profile
    runs = run_chapters(chapters, parameters, executed, stamp_dir=executed, force=args.force)
    stage_book(executed, BUILD / "stage" / args.profile)
    status = build_html(BUILD / "stage" / args.profile)
    if status == 0:
        print(f"[book] built {BUILD / 'html' / 'index.html'}", flush=True)
    return 1 if status or any(r.status == "failed" for r in runs) else 0
