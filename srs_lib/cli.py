"""Command line: ``python -m srs_lib COMMAND [options]``.

Each command lives in its own module, which defines ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Modules are imported only when their command runs,
so that ``validate`` does not pay for importing Keras.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

# name: (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("srs_lib.data.validate", "check a corpus in the StickerChat release format"),
    "stats": ("srs_lib.data.stats", "Table 1 and section 3.2 statistics of a corpus"),
    "synth": ("srs_lib.synth.cli", "generate the embedded corpus (StickerChat format, open emoji art)"),
    "ssim": ("srs_lib.analysis.ssim", "mean SSIM between each ground truth and its negatives (Figure 2)"),
    "train": ("srs_lib.training.train_command", "train a ranking model (the released code's command line)"),
    "evaluate": ("srs_lib.training.evaluate_command", "evaluate a saved model on a split"),
    "pretrain": ("srs_lib.training.pretrain", "pretrain the small CNN backbone on OpenMoji art the corpus never uses"),
    "bench": ("srs_lib.training.bench", "training, evaluation and loader throughput and peak memory"),
    "diagnose": ("srs_lib.analysis.diagnose", "short SRS runs, one change each: what SRS needs to learn"),
    "reference": ("srs_lib.analysis.reference", "reference scorers of a corpus: chance, popularity, oracles, cue words"),
    "experiments": ("srs_lib.experiments.command", "execute the chapters with papermill, run the grids, build the book"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m srs_lib COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "python -m srs_lib COMMAND --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"srs_lib: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, help_ = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"python -m srs_lib {name}", description=help_)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
