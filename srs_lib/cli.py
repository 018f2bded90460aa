"""Command line: ``python -m srs_lib COMMAND [options]``.

Each command lives in its own module, which defines ``add_arguments(parser)`` and
``run(args) -> int`` (the exit status). Modules are imported only when their command runs,
so that ``validate`` does not pay for importing Keras.

A command that fails exits with status 1 (or its own) and one line on stderr:
``srs_lib COMMAND: what went wrong, naming the file, and what to do``. ``--debug``
(anywhere on the command line) shows the traceback instead.
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

DEBUG_FLAG = "--debug"

_OS_HINTS = {
    errno.EACCES: "not writable (or readable) by this user",
    errno.EPERM: "not permitted",
    errno.EROFS: "on a read-only file system",
    errno.ENOSPC: "the disk is full: free some space and run the command again (a run resumes)",
    errno.EDQUOT: "the disk quota is exhausted: free some space and run the command again",
    errno.ENOENT: "not found",
    errno.ENOTDIR: "a path component is not a folder",
    errno.EISDIR: "a folder, not a file",
}


def describe_error(error: BaseException) -> str:
    """One line for a failed command: the message of our own errors (they name the file and
    the fix), the file and the cause of an ``OSError``, else the exception's type and text."""
    from srs_lib.data.cache import CacheError
    from srs_lib.data.corpus import CorpusError
    from srs_lib.data.stickers import StickerError
    from srs_lib.data.vocab import VocabularyError

    ours = (CorpusError, CacheError, StickerError, VocabularyError)
    try:  # the training package imports Keras: only when a training command ran
        from srs_lib.training.config import ConfigError
        from srs_lib.training.run_folder import RunError

        ours += (ConfigError, RunError)
        if "srs_lib.training.trainer" in sys.modules:
            from srs_lib.training.trainer import EvaluationError, TrainingDiverged

            ours += (EvaluationError, TrainingDiverged)
    except ImportError:
        pass
    if isinstance(error, ours):
        text = str(error)
    elif isinstance(error, OSError) and error.filename is not None:
        cause = _OS_HINTS.get(error.errno, error.strerror or str(error))
        text = f"{error.filename}: {cause}" + (f" ({error.strerror})" if error.errno in _OS_HINTS else "")
    elif isinstance(error, (OSError, ValueError)):
        text = str(error)
    else:
        text = f"unexpected {type(error).__name__}: {error}"
    text = " ".join(text.split()) or type(error).__name__
    return f"{text} (--debug shows the traceback)"

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
    "protocol": ("srs_lib.analysis.protocol", "the released first9 candidate protocol audited: what a score needs no dialog for"),
    "attention": ("srs_lib.analysis.attention", "where a trained SRS looks: the share of τ^s on each kind of sticker part (Figure 8)"),
    "psac": ("srs_lib.analysis.psac_checks", "PSAC's three structural checks on a model: frame attention, a sticker-only term, dead units"),
    "rank": ("srs_lib.recommend.rank_command", "the library's top stickers for a typed dialog (retriever + SRS)"),
    "library": ("srs_lib.recommend.evaluation", "Recall@k and MRR over the whole library: retriever, retriever + SRS"),
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
    debug = DEBUG_FLAG in argv
    argv = [arg for arg in argv if arg != DEBUG_FLAG]
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
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show the traceback of a failure")
    args = parser.parse_args(rest)
    try:
        return int(module.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"srs_lib {name}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - every failure gets one line
        if debug:
            raise
        print(f"srs_lib {name}: {describe_error(error)}", file=sys.stderr)
        return 1
