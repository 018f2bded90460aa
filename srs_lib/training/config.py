"""Training configurations: the paper's, a CPU-sized one, and a CI-sized one.

Every field is a parameter of the command line (``python -m srs_lib train --help``) and of
the training chapter. ``paper`` restates section 6.4 of the paper and the released code's
flags (see the paper notes); ``cpu`` learns the embedded ``small`` corpus on a laptop CPU in
minutes; ``ci`` checks the whole loop on the ``tiny`` corpus in seconds.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

PROTOCOLS = ("random", "first9")
"""Candidate protocols (see :mod:`srs_lib.training.pipeline`)."""


class ConfigError(ValueError):
    """A training option with a value no run can use; the message names the option."""


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(name: str, value, *, low=None, above=None, below=None, none: bool = False,
           integer: bool = False, choices=None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is acceptable for option ``name``."""
    if value is None and none:
        return
    if choices is not None:
        if value not in choices:
            raise ConfigError(f"--{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return
    kind = "an integer" if integer else "a finite number"
    ok = _number(value) and (not integer or isinstance(value, int)) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low
    if ok and above is not None:
        ok = value > above
    if ok and below is not None:
        ok = value < below
    if not ok:
        bounds = [f">= {low}" if low is not None else "", f"> {above}" if above is not None else "",
                  f"< {below}" if below is not None else ""]
        bounds = " and ".join(b for b in bounds if b)
        allowed = f"{kind}{' ' + bounds if bounds else ''}{' (or omitted)' if none else ''}"
        raise ConfigError(f"--{name} must be {allowed}, got {value!r}")


#: The values a few options take, checked here without importing the layers (a test keeps
#: them equal to :data:`srs_lib.layers.sticker_encoder.CODES`, ``RANKING_STOPS`` and
#: :data:`srs_lib.training.losses.HINGE_REDUCTIONS`).
STICKER_CODES = ("features", "pooled", "emoji")
RANKING_STOPS = ("none", "backbone", "encoder")
FEATURE_MAPS = ("middle", "last")
HINGE_REDUCTIONS = ("sum", "mean")


@dataclass
class TrainConfig:
    """What a training run does. Defaults are the paper's configuration."""

    model: str = "srs"
    """Which ranking model (see :data:`srs_lib.models.registry.MODELS`)."""
    model_options: dict = field(default_factory=dict)
    """Extra keyword arguments of the model (e.g. ablation switches: ``use_din=False``)."""
    backbone: str = "inception_v3"
    image_size: int | None = None
    backbone_weights: str | None = "imagenet"
    """Pretrained backbone weights: "imagenet" (Inception-v3), "openmoji" (the small CNN
    pretrained by ``python -m srs_lib pretrain``, shipped in :mod:`srs_lib.weights`), a
    weights file, or None. Used only when ``pretrained``."""
    pretrained: bool = True
    sticker_code: str = "features"
    """What the sticker encoder passes on: "features" (the paper's O and O_flat, every
    profile's), or the diagnostics "pooled" (O_flat as O's single unit) and "emoji" (a
    fixed code of its predicted emoji; see :class:`StickerEncoder`)."""
    hidden: int = 100
    dropout: float = 0.1
    max_utterances: int = 15
    max_words: int = 30
    vocab_size: int | None = 50_000
    emoji_vocab_size: int | None = 300
    """The released code's cap on the emoji vocabulary, its 4 reserved entries included: the
    first 296 emojis of ``emoji_vocab`` are kept, and a sample whose label is rarer is
    skipped and counted ("emoji outside vocab"). None keeps every emoji."""
    batch_size: int = 32
    n_candidates: int = 10
    protocol: str = "random"
    learning_rate: float = 1e-4
    end_learning_rate: float = 1e-5
    decay_epochs: float = 5.0
    clipnorm: float | None = 2.0
    margin: float = 1.0
    hinge_reduction: str = "sum"
    """Equation 17's hinge terms of a context: "sum" over the negatives (as printed) or
    "mean" over them (the released code; see :func:`srs_lib.training.losses.hinge_loss`)."""
    joint_lr_scale: float = 1.0
    """The joint stage's learning rate (schedule and end), as a fraction of
    ``learning_rate``; the emoji stage keeps ``learning_rate`` (``diagnose`` row
    ``features_joint_lr_0.3``)."""
    joint_warmup_steps: int = 0
    """The joint stage's learning rate rises linearly from about 0 to its schedule over
    this many of its first steps (0: no warm-up; ``diagnose`` row
    ``features_q2_norm_warmup_300``)."""
    backbone_lr_scale: float = 1.0
    """The backbone's learning rate in the joint stage, as a fraction of ``learning_rate``
    (0: it stays as the emoji stage left it)."""
    ranking_stop: str = "none"
    """Where the ranking loss's gradient stops in the sticker encoder: "none" (the paper),
    "backbone" or "encoder" (see :class:`~srs_lib.layers.StickerEncoder`)."""
    feature_map: str = "middle"
    """Which backbone map O comes from: "middle" (the paper's mixed7) or "last" (the map
    O_flat pools; see :class:`~srs_lib.layers.StickerEncoder`)."""
    code_temperature: float = 1.0
    """With ``sticker_code="emoji"``: the temperature of the posterior that weights the
    codes (see :class:`~srs_lib.layers.StickerEncoder`)."""
    emoji_held_out: float = 0.0
    """Share of the library's stickers whose emoji the emoji loss never sees (drawn from
    ``seed``), so that the emoji head can be measured on stickers it did not learn from
    (``Trainer.emoji_held_out_rows``; ``diagnose --representations``). 0: none."""
    classify: bool = True
    """Emoji-classification loss on (False: the "w/o Classify" ablation, no warm-up stage)."""
    emoji_steps: int = 1000
    """Steps of the first stage: only the sticker encoder, on the emoji loss."""
    shared_adam: bool = False
    """One Adam for both stages instead of one per stage (kept to measure why not: see
    :class:`~srs_lib.training.trainer.Trainer`)."""
    epochs: float = 5.0
    steps: int | None = None
    """Total optimisation steps; ``None`` means ``epochs`` × steps per epoch."""
    auto_test_step: int = 800
    """Evaluate on ``test_path`` (and checkpoint) every this many steps."""
    checkpoint_step: int | None = None
    """Save a resumable checkpoint every this many steps (default: ``auto_test_step``)."""
    eval_limit: int | None = None
    """Evaluate periodic checkpoints on at most this many contexts (None: all)."""
    log_step: int = 50
    seed: int = 0
    eval_seed: int = 0
    """Seed of the fixed evaluation candidates (the same for every model)."""
    workers: int = 2
    mixed_precision: str = "auto"
    """"auto": bfloat16 mixed precision on a GPU, float32 on a CPU; "on"; "off"."""

    def __post_init__(self) -> None:
        """Refuse values no run can use (``nan`` and ``inf`` among them), naming the option."""
        for name in ("learning_rate", "end_learning_rate", "decay_epochs", "epochs", "code_temperature",
                     "joint_lr_scale"):
            _check(name, getattr(self, name), above=0)
        _check("clipnorm", self.clipnorm, above=0, none=True)
        _check("margin", self.margin, low=0)
        _check("dropout", self.dropout, low=0, below=1)
        for name in ("hidden", "max_utterances", "max_words", "batch_size", "auto_test_step", "log_step"):
            _check(name, getattr(self, name), low=1, integer=True)
        for name in ("steps", "checkpoint_step", "eval_limit", "image_size"):
            _check(name, getattr(self, name), low=1, integer=True, none=True)
        _check("vocab_size", self.vocab_size, low=4, integer=True, none=True)
        _check("emoji_vocab_size", self.emoji_vocab_size, low=5, integer=True, none=True)
        _check("n_candidates", self.n_candidates, low=2, integer=True)
        for name in ("emoji_steps", "seed", "eval_seed", "workers", "joint_warmup_steps"):
            _check(name, getattr(self, name), low=0, integer=True)
        _check("protocol", self.protocol, choices=PROTOCOLS)
        _check("sticker_code", self.sticker_code, choices=STICKER_CODES)
        _check("ranking_stop", self.ranking_stop, choices=RANKING_STOPS)
        _check("feature_map", self.feature_map, choices=FEATURE_MAPS)
        _check("hinge_reduction", self.hinge_reduction, choices=HINGE_REDUCTIONS)
        _check("backbone_lr_scale", self.backbone_lr_scale, low=0)
        _check("joint_lr_scale", self.joint_lr_scale, low=0)
        _check("emoji_held_out", self.emoji_held_out, low=0, below=1)
        _check("mixed_precision", self.mixed_precision, choices=("auto", "on", "off"))
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"--model_options must be a JSON object, got {self.model_options!r}")

    def replace(self, **changes) -> "TrainConfig":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PROFILES: dict[str, TrainConfig] = {
    # Section 6.4 and the released code: Inception-v3 at 128×128, hidden 100, 15 utterances
    # × 30 words, batch 32, Adam 1e-4 → 1e-5 over 5 epochs, 1,000 emoji warm-up steps.
    "paper": TrainConfig(),
    # A laptop CPU on the `small` corpus: a small CNN at 48×48 (its map O is 6×6, the
    # paper's grid) pretrained on OpenMoji art the corpus never shows (`pretrain`: our
    # stand-in for ImageNet), its own O and O_flat as in the paper, 20 words per utterance
    # (the corpus averages 7.5), a larger learning rate and a shorter schedule; everything
    # else as in the paper. SRS itself layer-normalises Q2 where the fusion network reads
    # it (`q2_norm`, chapter 07: without it these features stay at chance at this rate).
    "cpu": TrainConfig(
        backbone="small_cnn", image_size=48, max_words=20,
        backbone_weights="openmoji", pretrained=True,
        learning_rate=1e-3, end_learning_rate=1e-4, decay_epochs=2.0, epochs=2.0,
        emoji_steps=200, auto_test_step=300, eval_limit=1000, log_step=50,
    ),
    # Seconds on the `tiny` corpus: the whole loop, not a useful model.
    "ci": TrainConfig(
        backbone="small_cnn", image_size=32, backbone_weights="openmoji",
        pretrained=True,
        hidden=16, max_utterances=8, max_words=12, batch_size=8, learning_rate=1e-3,
        end_learning_rate=1e-4, decay_epochs=1.0, steps=24, emoji_steps=6,
        auto_test_step=12, log_step=6, workers=1,
    ),
}

#: The corpus each profile runs on out of the box: an embedded preset and its seed (generated
#: into ``data/<preset>`` when missing), or None for the real StickerChat, whose folder the
#: user names with ``--base_path``.
DEFAULT_CORPUS: dict[str, tuple[str, int] | None] = {"paper": None, "cpu": ("small", 0),
                                                     "ci": ("tiny", 0)}


DATA_OPTIONS = ("vocab_size", "emoji_vocab_size", "max_utterances", "max_words",
                "n_candidates", "protocol", "eval_seed", "batch_size")
"""The options that decide what a model is evaluated on (besides its own settings, such as
the image size, which it saves itself): the trainer stores them in the model
(``data_config``), so a ``.keras`` file evaluates the same anywhere."""


def data_config(config: TrainConfig) -> dict:
    """The :data:`DATA_OPTIONS` of a configuration, as saved in a model."""
    return {name: getattr(config, name) for name in DATA_OPTIONS}


# "w/o X" ablations of the paper's Table 4, as configuration changes.
ABLATIONS: dict[str, dict] = {
    "pretrain": {"pretrained": False},
    "classify": {"classify": False},
    "din": {"model_options": {"use_din": False}},
    "fr": {"model_options": {"use_fusion_rnn": False}},
}


def ablation_changes(names) -> dict:
    """The configuration changes of the named ablations, combined (``model_options`` merged)."""
    changes: dict = {}
    for name in names:
        if name not in ABLATIONS:
            raise ValueError(f"unknown ablation {name!r}; choose from {', '.join(ABLATIONS)}")
        for key, value in ABLATIONS[name].items():
            if key == "model_options":
                changes.setdefault("model_options", {}).update(value)
            else:
                changes[key] = value
    return changes


def profile_config(profile: str, **changes) -> TrainConfig:
    """The named profile's configuration with ``changes`` applied."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose from {', '.join(PROFILES)}")
    return PROFILES[profile].replace(**changes)


#: Chapter 07's parameters that set one training option each; None there means the
#: profile's value.
CHAPTER_OPTIONS = ("steps", "epochs", "sticker_code", "max_utterances", "hidden", "auto_test_step")


def chapter_config(profile: str, *, model: str = "srs", ablation=(), candidate_protocol: str = "random",
                   seed: int = 0, **options) -> TrainConfig:
    """The configuration chapter 07 (``book/07_training``) trains with its parameters:
    the profile's, with the named ablations, model, candidate protocol and seed, and every
    option of :data:`CHAPTER_OPTIONS` that is not None. The experiment grids compare two
    entries' configurations through it to tell whether they are the same run."""
    unknown = set(options) - set(CHAPTER_OPTIONS)
    if unknown:
        raise ValueError(f"unknown chapter option(s): {', '.join(sorted(unknown))}")
    changes = {**ablation_changes(ablation), "model": model, "protocol": candidate_protocol,
               "seed": seed}
    for name, value in options.items():
        if value is not None:
            changes[name] = float(value) if name == "epochs" else int(value) if name == "steps" else value
    return profile_config(profile, **changes)
