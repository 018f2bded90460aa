"""``python -m srs_lib train``: the released code's command line, plus every training option.

    python -m srs_lib train --exp_name NAME --log_root DIR --base_path DIR \\
        [--test_path release_val.json] [--auto_test_step 800] [--profile cpu|paper|ci] \\
        [--model srs] [--ablation pretrain|classify|din|fr ...] [--steps N] [...]

Writes checkpoints under ``LOG_ROOT/NAME/train``, one metrics line per evaluation to
``LOG_ROOT/NAME/metric.txt``, and the final test report to ``LOG_ROOT/NAME/metrics.json``.
A run whose folder already holds a checkpoint resumes from it (``--no_resume`` refuses
instead). Every field of :class:`~srs_lib.training.config.TrainConfig` is an option; the
profile gives the defaults.

``--tensorboard DIR`` adds ``keras.callbacks.TensorBoard(DIR)`` to the trainer's callbacks
(see :meth:`~srs_lib.training.trainer.Trainer.fit`): the step losses and throughput every
``log_step`` steps, each evaluation's metrics as ``val_*``. Keras writes TensorBoard files
through ``tf.summary``, so this needs TensorFlow installed (it is not one of our
requirements); without it the command stops before training, saying so.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import sys
import typing

from srs_lib.training.config import ABLATIONS, PROFILES, ablation_changes


def _field_type(field: dataclasses.Field):
    hint = typing.get_type_hints(_config_class())[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _config_class():
    from srs_lib.training.config import TrainConfig

    return TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exp_name", required=True, help="name of the run (a folder under --log_root)")
    parser.add_argument("--log_root", required=True, help="where runs are written")
    parser.add_argument("--base_path", required=True, help="corpus in the StickerChat release format")
    parser.add_argument("--test_path", default="release_val.json",
                        help="file evaluated every --auto_test_step steps (default: %(default)s)")
    parser.add_argument("--final_test_path", default="release_test.json",
                        help="file the best checkpoint is finally evaluated on (default: %(default)s)")
    parser.add_argument("--profile", default="cpu", choices=tuple(PROFILES),
                        help="defaults for every option below (default: %(default)s)")
    parser.add_argument("--ablation", nargs="*", default=[], choices=sorted(ABLATIONS),
                        help="the paper's Table 4 ablations: SRS w/o pretrain, Classify, DIN, FR")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--verify_cache", choices=("stat", "full"), default="stat",
                        help="how the sticker cache is checked against the sticker files: file "
                             "times (stat, default) or a hash of every byte (full)")
    parser.add_argument("--device", choices=("auto", "cpu"), default="auto",
                        help="auto: a CUDA GPU when there is one; cpu: force the CPU")
    parser.add_argument("--no_resume", action="store_true",
                        help="refuse to continue a run whose folder already holds a checkpoint")
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="also log to TensorBoard files in DIR (keras.callbacks.TensorBoard: "
                             "step losses every --log_step steps, evaluations as val_*). Needs "
                             "TensorFlow installed, which srs_lib does not require: Keras writes "
                             "these files through tf.summary")
    options = parser.add_argument_group("training options (defaults from --profile)")
    for field in dataclasses.fields(_config_class()):
        if field.name in ("model_options",):
            continue
        kind = _field_type(field)
        if kind is bool:
            options.add_argument(f"--{field.name}", action=argparse.BooleanOptionalAction, default=None)
        else:
            options.add_argument(f"--{field.name}", type=kind, default=None)
    options.add_argument("--model_options", type=json.loads, default=None,
                         help='JSON keyword arguments of the model, e.g. \'{"heads": 2}\'')


def config_from_args(args: argparse.Namespace):
    """The profile's configuration with the ablations and explicit options applied."""
    from srs_lib.training.config import profile_config

    changes = ablation_changes(args.ablation)
    model_options = changes.pop("model_options", {})
    for field in dataclasses.fields(_config_class()):
        value = getattr(args, field.name, None)
        if value is not None and field.name != "model_options":
            changes[field.name] = value
    if args.model_options:
        model_options.update(args.model_options)
    if model_options:
        changes["model_options"] = model_options
    return profile_config(args.profile, **changes)


TENSORBOARD_NEEDS_TENSORFLOW = (
    "--tensorboard needs TensorFlow: keras.callbacks.TensorBoard writes its files through "
    "tf.summary, and TensorFlow is not installed (srs_lib runs on PyTorch and does not "
    "require it). Install it (pip install tensorflow-cpu) or leave out --tensorboard; "
    "Trainer(callbacks=[keras.callbacks.CSVLogger(...)]) logs the same values to a CSV file.")


def tensorboard_callback(log_dir, config):
    """``keras.callbacks.TensorBoard`` for the trainer, or :class:`RuntimeError` (with
    :data:`TENSORBOARD_NEEDS_TENSORFLOW`) when TensorFlow is not installed."""
    if importlib.util.find_spec("tensorflow") is None:
        raise RuntimeError(TENSORBOARD_NEEDS_TENSORFLOW)
    import keras

    # No graph: the trainer's step is PyTorch autograd, not a traced train function.
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq=config.log_step,
                                       write_graph=False)


def run(args: argparse.Namespace) -> int:
    if args.device == "cpu":
        os.environ["KERAS_TORCH_DEVICE"] = "cpu"
    from srs_lib.training.distributed import from_environment
    from srs_lib.training.trainer import TrainingDiverged, train

    config = config_from_args(args)
    world = from_environment()  # one process, or the N that torchrun started
    callbacks = []
    if args.tensorboard and world.main:
        try:
            callbacks.append(tensorboard_callback(args.tensorboard, config))
        except RuntimeError as error:
            print(f"srs_lib train: {error}", file=sys.stderr)
            return 2
    try:
        report = train(config, args.base_path, args.log_root, args.exp_name,
                       resume=not args.no_resume, test_path=args.test_path,
                       final_test_path=args.final_test_path, cache_dir=args.cache_dir,
                       verify_cache=args.verify_cache, callbacks=callbacks, world=world)
    except TrainingDiverged as err:
        if world.main:
            print(f"srs_lib train: {err}", flush=True)
        return 3
    metrics = report["test"]
    if world.main:
        print("test: " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
    return 0
