"""``python -m srs_lib pretrain``: a backbone pretrained on other art, our ImageNet.

The paper starts its sticker encoder from Inception-v3 trained on ImageNet. Here the
``small_cnn`` backbone of the ``cpu`` and ``ci`` profiles learns to classify OpenMoji
glyphs of emojis that the corpus never shows (:mod:`srs_lib.training.pretrain_data`): new
augmented renderings every step, then top-1 and top-5 accuracy on images rendered from a
generator that training never uses. The classifier is the backbone, a global average of
its top feature map and one dense layer; only the backbone is kept.

Writes ``OUT/<backbone>.weights.h5`` (loadable by
:func:`~srs_lib.layers.sticker_encoder.build_backbone` with ``weights=path``, at any image
size, since the backbone is all convolutions) and ``OUT/provenance.json``: the command,
commit, art and licence, classes, images, settings, held-out accuracy, wall time, machine.
The committed result is ``srs_lib/weights/small_cnn_openmoji/`` (name ``"openmoji"``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path

import numpy as np

from srs_lib.files import write_json_atomically
from srs_lib.provenance import current_commit, machine_description

#: Generator streams: training batches and held-out images never share one.
TRAIN_STREAM, HELD_OUT_STREAM = 0, 1
DEFAULTS = {
    "backbone": "small_cnn", "image_size": 48, "classes": 0, "steps": 3000,
    "batch_size": 128, "learning_rate": 2e-3, "warmup_steps": 100, "held_out": 8,
    "seed": 0, "log_every": 100, "eval_every": 0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for the weights and provenance.json")
    parser.add_argument("--backbone", default=DEFAULTS["backbone"], choices=("small_cnn",),
                        help="the backbone to pretrain (default: %(default)s)")
    parser.add_argument("--image_size", type=int, default=DEFAULTS["image_size"],
                        help="side of the rendered images (default: %(default)s, the cpu profile's)")
    parser.add_argument("--classes", type=int, default=DEFAULTS["classes"],
                        help="number of glyph classes, spread over the eligible ones "
                             "(0: all eligible; default: %(default)s)")
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"],
                        help="optimisation steps (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=DEFAULTS["batch_size"],
                        help="images per step, each rendered fresh (default: %(default)s)")
    parser.add_argument("--learning_rate", type=float, default=DEFAULTS["learning_rate"],
                        help="Adam's peak learning rate, reached after --warmup_steps and "
                             "cosine-decayed to 0 at the last step (default: %(default)s)")
    parser.add_argument("--warmup_steps", type=int, default=DEFAULTS["warmup_steps"],
                        help="linear warm-up steps, at most a tenth of --steps "
                             "(default: %(default)s)")
    parser.add_argument("--held_out", type=_count_or_fraction, default=DEFAULTS["held_out"],
                        help="held-out images per class (a number ≥ 1), or a fraction of the "
                             "training images (below 1), spread evenly over the classes "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"],
                        help="seeds the initial weights and every rendering (default: %(default)s)")
    parser.add_argument("--log_every", type=int, default=DEFAULTS["log_every"],
                        help="print a progress line every this many steps (default: %(default)s)")
    parser.add_argument("--eval_every", type=int, default=DEFAULTS["eval_every"],
                        help="also measure held-out accuracy every this many steps "
                             "(0: only at the end; default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace weights already in --out")


def _count_or_fraction(text: str) -> int | float:
    """``--held_out``: a whole number of images per class, or a fraction below 1."""
    value = float(text)
    if value >= 1 and value == int(value):
        return int(value)
    if 0 < value < 1:
        return value
    raise argparse.ArgumentTypeError(f"{text!r} is neither a whole number ≥ 1 nor a fraction in (0, 1)")


def command_line(args: argparse.Namespace) -> str:
    """The command that repeats this run, every option spelled out."""
    words = ["python", "-m", "srs_lib", "pretrain", "--out", str(args.out)]
    for key in DEFAULTS:
        words += [f"--{key}", str(getattr(args, key))]
    return shlex.join(words)


def held_out_per_class(held_out: float, steps: int, batch_size: int, n_classes: int) -> int:
    """Held-out images per class: ``held_out`` itself (≥ 1), or that fraction of the
    training images, shared evenly by the classes (at least one each)."""
    if held_out <= 0:
        raise ValueError("--held_out must be positive")
    if held_out >= 1:
        if held_out != int(held_out):
            raise ValueError("--held_out of 1 or more is a whole number of images per class")
        return int(held_out)
    return max(1, round(held_out * steps * batch_size / n_classes))


def classifier(backbone, image_size: int, n_classes: int):
    """The pretraining model: 0-255 images → [-1, 1] (as :class:`StickerEncoder` scales
    them) → backbone → global average of the top map → class logits."""
    import keras

    from srs_lib.layers.sticker_encoder import build_backbone

    base = build_backbone(backbone, image_size, None)
    inputs = keras.Input((image_size, image_size, 3), name="images")
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit_range")(inputs)
    _, top = base(scaled)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(top)
    logits = keras.layers.Dense(n_classes, name="classes")(pooled)
    return keras.Model(inputs, logits, name=f"{backbone}_pretraining"), base


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per image: whether its label is among the ``k`` highest logits (ties: lower index first)."""
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    """Top-1 and top-5 accuracy and the mean loss of ``model`` on fixed images."""
    logits = np.concatenate([np.asarray(model.predict_on_batch(images[i:i + batch_size]))
                             for i in range(0, len(images), batch_size)]).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    top1 = top_k_accuracy(logits, labels, 1)
    return {"top1": float(top1.mean()), "top5": float(top_k_accuracy(logits, labels, 5).mean()),
            "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
            "correct": top1}


def _save_weights(model, path: Path) -> None:
    """``model.save_weights`` through a temporary file and a rename (never half a file)."""
    tmp = path.with_name(f".{path.name[:-len('.weights.h5')]}.tmp-{os.getpid()}.weights.h5")
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def pretrain(args: argparse.Namespace, *, verbose: bool = True) -> dict:
    """Train, evaluate and write the weights and provenance; returns the provenance."""
    import keras
    import torch

    from srs_lib.training.pretrain_data import (
        Augmentation,
        GlyphRenderer,
        choose_classes,
        corpus_emojis,
        eligible_classes,
        source_description,
    )

    started = time.time()
    out = Path(args.out)
    weights_path = out / f"{args.backbone}.weights.h5"
    if weights_path.exists() and not args.overwrite:
        raise SystemExit(f"{weights_path} exists; pass --overwrite to replace it")
    for name in ("steps", "batch_size", "image_size", "log_every"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be at least 1")
    if args.image_size < 16:
        raise SystemExit("--image_size must be at least 16 (four stride-2 convolutions)")
    say = print if verbose else (lambda *a, **k: None)

    classes = choose_classes(args.classes)
    n_classes = len(classes)
    augmentation = Augmentation()
    renderer = GlyphRenderer(classes, args.image_size, augmentation)
    per_class = held_out_per_class(args.held_out, args.steps, args.batch_size, n_classes)
    held_out_labels = np.repeat(np.arange(n_classes), per_class)
    held_out_images = renderer.render(
        held_out_labels, np.random.default_rng([args.seed, HELD_OUT_STREAM]))
    say(f"pretrain: {n_classes} OpenMoji classes (of {len(eligible_classes())} eligible), "
        f"{args.image_size}px, {args.steps} steps × {args.batch_size} images, "
        f"{len(held_out_labels)} held-out images; torch threads {torch.get_num_threads()}",
        flush=True)

    keras.utils.set_random_seed(args.seed)
    model, backbone = classifier(args.backbone, args.image_size, n_classes)
    warmup = min(args.warmup_steps, args.steps // 10)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else args.learning_rate, max(1, args.steps - warmup),
        warmup_target=args.learning_rate if warmup else None, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    initial = evaluate(model, held_out_images, held_out_labels, args.batch_size)

    history, evaluations = [], [{"step": 0, **_public(initial)}]
    window = {"loss": 0.0, "correct": 0.0, "images": 0, "render_s": 0.0}
    window_start = train_start = time.time()
    for step in range(1, args.steps + 1):
        tick = time.time()
        images, labels = renderer.sample(
            args.batch_size, np.random.default_rng([args.seed, TRAIN_STREAM, step]))
        window["render_s"] += time.time() - tick
        logs = model.train_on_batch(images, labels, return_dict=True)
        # Keras averages metrics since the last reset: reset them to read this batch alone.
        model.reset_metrics()
        window["loss"] += float(logs["loss"]) * len(labels)
        window["correct"] += float(logs["accuracy"]) * len(labels)
        window["images"] += len(labels)
        if not np.isfinite(logs["loss"]):
            raise SystemExit(f"pretraining diverged at step {step} (loss {logs['loss']})")
        if step % args.log_every == 0 or step == args.steps:
            seconds = time.time() - window_start
            entry = {"step": step, "loss": window["loss"] / window["images"],
                     "accuracy": window["correct"] / window["images"],
                     "images_per_s": window["images"] / max(seconds, 1e-9),
                     "render_share": window["render_s"] / max(seconds, 1e-9)}
            history.append({k: round(v, 4) if isinstance(v, float) else v
                            for k, v in entry.items()})
            say(f"step {step}/{args.steps}  loss {entry['loss']:.3f}  "
                f"accuracy {entry['accuracy']:.3f}  {entry['images_per_s']:.0f} images/s "
                f"({100 * entry['render_share']:.0f}% rendering)", flush=True)
            window = {"loss": 0.0, "correct": 0.0, "images": 0, "render_s": 0.0}
            window_start = time.time()
        if args.eval_every and step % args.eval_every == 0 and step != args.steps:
            result = evaluate(model, held_out_images, held_out_labels, args.batch_size)
            evaluations.append({"step": step, **_public(result)})
            say(f"held-out at step {step}: top-1 {result['top1']:.3f}  "
                f"top-5 {result['top5']:.3f}", flush=True)
            window_start = time.time()
    train_seconds = time.time() - train_start
    final = evaluate(model, held_out_images, held_out_labels, args.batch_size)
    evaluations.append({"step": args.steps, **_public(final)})
    say(f"held-out: top-1 {final['top1']:.4f}  top-5 {final['top5']:.4f} "
        f"(chance {1 / n_classes:.4f}; at initialisation {initial['top1']:.4f})", flush=True)

    per_class_accuracy = final["correct"].reshape(n_classes, per_class).mean(axis=1)
    worst = np.argsort(per_class_accuracy, kind="stable")[:10]
    out.mkdir(parents=True, exist_ok=True)
    _save_weights(backbone, weights_path)
    corpus = corpus_emojis()
    provenance = {
        "command": command_line(args),
        "commit": current_commit(),
        "date": time.strftime("%Y-%m-%d"),
        "weights": weights_path.name,
        "backbone": args.backbone,
        "parameters": int(sum(np.prod(w.shape) for w in backbone.weights)),
        "data": {
            **source_description(),
            "task": "classify the glyph an augmented image shows (one glyph per class)",
            "class_rule": (
                "single-code-point emojis drawn by the font, not components or regional "
                "indicators, visible, none nearly identical to another or a size variant of "
                "another, and none of the corpus's emojis (srs_lib.synth.inventory.THEMES, "
                "compared without U+FE0F)"),
            "corpus_emojis_excluded": len(corpus),
            "eligible_classes": len(eligible_classes()),
        },
        "classes": {"count": n_classes, "emojis": [c.to_dict() for c in classes],
                    "mirroring_off": [c.emoji for c, ok in zip(classes, renderer.mirrorable)
                                      if not ok]},
        "images": {"train": args.steps * args.batch_size, "held_out": len(held_out_labels),
                   "held_out_per_class": per_class, "image_size": args.image_size,
                   "rendering": ("every training image rendered fresh from generator "
                                 f"[seed, {TRAIN_STREAM}, step]; held-out images from "
                                 f"[seed, {HELD_OUT_STREAM}], a stream training never uses")},
        "augmentation": augmentation.to_dict(),
        "training": {"steps": args.steps, "batch_size": args.batch_size,
                     "optimizer": "Adam", "learning_rate": args.learning_rate,
                     "schedule": f"linear warm-up over {warmup} steps, then cosine to 0",
                     "seed": args.seed, "head": "global average pool of the top map, dense "
                     "(not saved)", "history": history},
        "held_out_accuracy": {"top1": round(final["top1"], 4), "top5": round(final["top5"], 4),
                              "loss": round(final["loss"], 4), "chance": round(1 / n_classes, 5),
                              "at_initialisation": {"top1": round(initial["top1"], 4),
                                                    "top5": round(initial["top5"], 4)},
                              "during_training": evaluations,
                              "worst_classes": [{"emoji": classes[i].emoji,
                                                 "top1": round(float(per_class_accuracy[i]), 3)}
                                                for i in worst]},
        "wall_time_s": round(time.time() - started, 1),
        "training_time_s": round(train_seconds, 1),
        "machine": machine_description(),
        "torch_threads": torch.get_num_threads(),
    }
    write_json_atomically(out / "provenance.json", provenance)
    say(f"wrote {weights_path} and {out / 'provenance.json'} "
        f"({provenance['wall_time_s']:.0f} s)", flush=True)
    return provenance


def _public(result: dict) -> dict:
    """An evaluation without its per-image array, rounded for the provenance file."""
    return {k: round(v, 4) for k, v in result.items() if k != "correct"}


def run(args: argparse.Namespace) -> int:
    pretrain(args)
    return 0
