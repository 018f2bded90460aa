"""Training and evaluation of a ranking model, the way the paper and its released code do it.

* **Schedule** (released code): for the first ``emoji_steps`` steps only the sticker
  encoder is trained, on the emoji-classification loss; then the hinge loss of equation 17
  plus the emoji loss train every weight. ``classify=False`` (the "w/o Classify" ablation)
  skips the first stage and drops the emoji loss. A model with a ranking objective of its
  own defines ``ranking_loss(outputs, targets) -> (loss, name)``, which the joint stage
  then uses in place of the hinge loss (the dual encoder's in-batch contrastive loss,
  logged as ``contrastive``); SRS and the baselines define none.
* **Optimiser**: Adam, learning rate decayed polynomially from ``learning_rate`` to
  ``end_learning_rate`` over ``decay_epochs`` epochs, global gradient-norm clipping. Each
  stage has an Adam of its own (its step count, moments and schedule start at the stage).
* **Evaluation** every ``auto_test_step`` steps on ``test_path`` (default
  ``release_val.json``, as in the released code), appended as one line to
  ``LOG_ROOT/NAME/metric.txt``; the checkpoint with the best MAP there is kept as
  ``train/best.keras``. At the end, the best checkpoint is evaluated on the test split:
  per-context scores go to ``test_scores.npz`` (for significance tests), metrics to
  ``metrics.json``. Every evaluation encodes each distinct sticker of its pass once
  and scores the (context, candidate) pairs on those encodings
  (:func:`~srs_lib.training.scoring.score_batches`).
* **Checkpoints** (``train/ckpt-<step>/``: weights, optimiser state, trainer state) are
  written to a temporary folder, synced to disk (files and folders, ``fsync``) and renamed
  into place, then the ``train/checkpoint`` pointer is replaced atomically, so a killed run
  (or a power loss) never leaves a half-written checkpoint; the two newest are kept. A run
  restarted with the same ``LOG_ROOT/NAME`` resumes from the newest checkpoint that loads
  (a damaged one, such as an empty ``model.weights.h5``, is skipped and named) with the
  same data order and schedule (the order depends only on the seed and the epoch), so it
  ends with exactly the weights of an uninterrupted run.
* **The run folder** (:mod:`srs_lib.training.run_folder`): a rerun's options are checked
  against the folder's ``config.json`` before anything is written; a training holds the
  folder's lock for its lifetime (a second one is refused, naming the holder); on start it
  removes the temporaries a killed run of ours left, and rewrites ``metric.txt`` from the
  resumed checkpoint's history, so that the file holds each evaluation once.
* A loss that is not finite stops the run with :class:`TrainingDiverged`, keeping the last
  good checkpoint.
* **Keras callbacks** (``callbacks=``, any ``keras.callbacks.Callback``: ``CSVLogger``,
  ``EarlyStopping``, ``TensorBoard``, one's own) are driven from the loop through
  ``keras.callbacks.CallbackList``; :meth:`Trainer.fit` says which hook is called when and
  with which logs. A callback that sets ``model.stop_training`` ends the run at that step.

The optimisation step uses PyTorch autograd (the backend srs_lib runs on); the models
themselves are backend-agnostic Keras.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import platform
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import keras
import numpy as np
from keras import ops

from srs_lib.analysis.metrics import ranking_metrics
from srs_lib.data.corpus import Corpus
from srs_lib.files import (
    fsync_path,
    fsync_tree,
    replace_atomically,
    write_bytes_atomically,
    write_text_atomically,
)
from srs_lib.layers.masking import MASK_VALUE
from srs_lib.models.registry import build_model
from srs_lib.training.config import DATA_OPTIONS, TrainConfig, data_config
from srs_lib.training.losses import emoji_loss, hinge_loss
from srs_lib.training.pipeline import (
    RankingBatches,
    emoji_labels,
    encode_split,
    evaluation_batches,
)
from srs_lib.training.run_folder import CONFIG_FILE, RunConfigMismatch, RunFolder
from srs_lib.training.distributed import World, shard_slice
from srs_lib.training.scoring import _to_tensors, score_batches  # noqa: F401 (also imported from here)

#: The step losses the logs and the history keep: the total, the hinge loss (or a model's
#: own ranking loss, "contrastive" for the dual encoder) and the emoji loss.
LOSS_KEYS = ("loss", "hinge", "contrastive", "emoji")

CRASH_ENV = "SRS_LIB_CRASH_AT"
"""For tests only: ``MOMENT`` or ``MOMENT@STEP`` makes the trainer stop hard there
(``os._exit(CRASH_STATUS)``, like ``kill -9``: no cleanup, no flush). The moments, in the
order a step meets them: ``step`` (after an optimisation step), ``eval_logged`` (the line
appended to ``metric.txt``), ``best_written`` (``best.keras``'s temporary written, not yet
renamed), ``checkpoint_written`` (the temporary checkpoint folder complete, not yet
renamed), ``checkpoint_renamed`` (renamed, the pointer not yet updated),
``checkpoint_done`` (pointer updated). Unset, it costs one dictionary look-up per moment."""
CRASH_STATUS = 86
_CHECKPOINT = re.compile(r"ckpt-([0-9]+)")


def _crash_point(moment: str, step: int) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if wanted is not None and wanted in (moment, f"{moment}@{step}"):
        os._exit(CRASH_STATUS)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() and os.environ.get("KERAS_TORCH_DEVICE", "") != "cpu" else "cpu"


def _seed_states(model) -> list:
    """The state variables of the model's seeded random generators.

    Keras keeps them out of ``model.weights``, but a resumed run must continue their
    sequences to reproduce an uninterrupted one. (Unseeded dropout draws from torch's
    global generator instead, saved by :func:`_torch_rng_state`.)
    """
    states, seen = [], set()
    for layer in model._flatten_layers():
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator) and id(value) not in seen:
                seen.add(id(value))
                states.append(value.state)
    return states


def _torch_rng_state() -> dict:
    import torch

    state = {"cpu": torch.get_rng_state().numpy()}
    if torch.cuda.is_available():
        state.update({f"cuda{i}": s.numpy() for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def _set_torch_rng_state(saved) -> None:
    import torch

    torch.set_rng_state(torch.from_numpy(saved["cpu"]))
    cuda = [torch.from_numpy(saved[k]) for k in sorted(saved) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def _assign(variable, value: np.ndarray) -> None:
    if tuple(variable.shape) != tuple(value.shape):
        raise ValueError(f"{variable.path}: shape {tuple(value.shape)} in the checkpoint, "
                         f"{tuple(variable.shape)} in the model")
    variable.assign(value)


def _float_variables(variables) -> list:
    """The floating-point ones of ``variables`` (weights and moving averages, not the
    seed generators' integer states)."""
    return [v for v in variables if "float" in str(v.dtype)]


@keras.saving.register_keras_serializable(package="srs_lib")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule``'s rate multiplied by min(1, (step + 1) / ``steps``): a linear ramp from
    about 0 over the first ``steps`` steps of an optimizer (its own step count)."""

    def __init__(self, schedule, steps: int):
        self.schedule, self.steps = schedule, int(steps)

    def __call__(self, step):
        ramp = ops.minimum(1.0, (ops.cast(step, "float32") + 1.0) / float(self.steps))
        return self.schedule(step) * ramp

    def get_config(self):
        return {"schedule": keras.saving.serialize_keras_object(self.schedule),
                "steps": self.steps}

    @classmethod
    def from_config(cls, config):
        return cls(keras.saving.deserialize_keras_object(config["schedule"]), config["steps"])


def stage_optimizers(config: TrainConfig) -> dict[str, list[str]]:
    """The optimizers each training stage steps: the emoji stage its own Adam; the joint
    stage one Adam for every weight, or, with ``backbone_lr_scale`` other than 1, one for
    the backbone at that fraction of the learning rate and one for the rest (no backbone
    optimizer at 0: the backbone stays as the emoji stage left it)."""
    joint = ["joint"]
    if config.backbone_lr_scale != 1.0 and config.backbone_lr_scale > 0:
        joint.append("joint_backbone")
    return {"emoji": ["emoji"], "joint": joint}


def optimizer_variables(model, config: TrainConfig) -> dict[str, list]:
    """The variables each optimizer of :func:`stage_optimizers` updates."""
    backbone = model.sticker_encoder.backbone_model.trainable_variables
    variables = {"emoji": model.sticker_encoder.trainable_variables}
    if config.backbone_lr_scale == 1.0:
        variables["joint"] = model.trainable_variables
    else:
        if config.shared_adam:
            raise ValueError("shared_adam uses one Adam for everything: it cannot give the "
                             "backbone a learning rate of its own (backbone_lr_scale)")
        own = {id(v) for v in backbone}
        variables["joint"] = [v for v in model.trainable_variables if id(v) not in own]
        if config.backbone_lr_scale > 0:
            variables["joint_backbone"] = backbone
    return variables


class Trainer:
    """One training run of ``config`` on the corpus at ``base_path``, logged under
    ``log_root/exp_name`` (``train/`` checkpoints, ``metric.txt``, ``history.json``,
    ``metrics.json``, ``test_scores.npz``)."""

    def __init__(self, config: TrainConfig, base_path, log_root, exp_name: str, *,
                 test_path: str = "release_val.json", final_test_path: str = "release_test.json",
                 cache_dir=None, verify_cache: str = "stat", verbose: bool = True,
                 callbacks=None, world: World | None = None):
        self.config = config
        self.world = world or World()
        """The processes of a data-parallel run (:mod:`srs_lib.training.distributed`)."""
        self.verbose = verbose and self.world.main
        self.callbacks = list(callbacks or []) if self.world.main else []
        """Keras callbacks driven by :meth:`fit` (see there; rank 0's only)."""
        self.run = RunFolder(Path(log_root) / exp_name)
        self.root, self.train_dir = self.run.root, self.run.train_dir
        self.test_path, self.final_test_path = test_path, final_test_path
        self.verify_cache = verify_cache
        if not self.world.main:
            self.world.barrier()  # rank 0 builds the caches first; the others then read them
        # Nothing is written before the checks: the corpus, then a rerun's options.
        self.corpus = Corpus(base_path, vocab_size=config.vocab_size,
                             emoji_vocab_size=config.emoji_vocab_size)
        self.run.check_config(config.to_dict())
        self.run.check_writable()
        self.cache = self.corpus.sticker_cache(cache_dir, progress=verbose, verify=verify_cache)
        self.row_emoji = emoji_labels(self.cache, self.corpus.emoji_vocab)
        # Stickers held out from the emoji loss: their label is hidden in training batches.
        held = (np.random.default_rng([config.seed, 7]).random(len(self.row_emoji))
                < config.emoji_held_out)
        self.emoji_held_out_rows = np.flatnonzero(held)
        train_emoji = np.where(held, -1, self.row_emoji).astype(np.int32)
        limits = dict(max_utterances=config.max_utterances, max_words=config.max_words,
                      verify=verify_cache)
        self.train_split = encode_split(self.corpus, "train", self.cache, **limits)
        self.eval_split = encode_split(self.corpus, test_path, self.cache, **limits)
        self.train_batches = RankingBatches(
            self.train_split, self.cache, train_emoji, batch_size=config.batch_size,
            n_candidates=config.n_candidates, protocol=config.protocol, seed=config.seed,
            train=True)
        self.eval_batches = self._eval_batches(self.eval_split)
        if self.world.main:
            self.world.barrier()
        self.steps_per_epoch = len(self.train_batches)
        self.total_steps = config.steps or math.ceil(config.epochs * self.steps_per_epoch)
        self.device = _device()
        use_mixed = config.mixed_precision == "on" or (
            config.mixed_precision == "auto" and self.device == "cuda")
        keras.config.set_dtype_policy("mixed_bfloat16" if use_mixed else "float32")
        keras.utils.set_random_seed(config.seed)
        self.model = build_model(config, vocab_size=len(self.corpus.vocab),
                                 n_emoji=len(self.corpus.emoji_vocab),
                                 data_config=data_config(config))
        inputs, _ = self.train_batches[0]
        self.model(_to_tensors({k: v[:1] for k, v in inputs.items()}), training=False)
        self.world.broadcast_variables(_float_variables(self.model.weights))
        # Each stage has its own Adam, with its own step count and moments: one Adam for
        # both would enter the joint stage with a step count of `emoji_steps` but zero
        # moments for every weight outside the sticker encoder, so its bias correction would
        # make their first joint updates up to about 3× the learning rate. On the `small`
        # corpus that alone keeps SRS at chance: `shared_adam` restores that set-up, and the
        # row "shared_adam" of `python -m srs_lib diagnose` measures it (chapter 07).
        decay_steps = max(1, int(config.decay_epochs * self.steps_per_epoch))
        self.stage_optimizers = stage_optimizers(config)
        self.optimizer_variables = optimizer_variables(self.model, config)
        self.optimizers = {}
        for name, variables in self.optimizer_variables.items():
            if config.shared_adam and name == "emoji":
                continue
            scale = ((config.backbone_lr_scale if name == "joint_backbone" else 1.0)
                     * (config.joint_lr_scale if name.startswith("joint") else 1.0))
            schedule = keras.optimizers.schedules.PolynomialDecay(
                config.learning_rate * scale, decay_steps, config.end_learning_rate * scale)
            if name.startswith("joint") and config.joint_warmup_steps:
                schedule = LinearWarmup(schedule, config.joint_warmup_steps)
            self.optimizers[name] = keras.optimizers.Adam(
                learning_rate=schedule, global_clipnorm=config.clipnorm, name=f"{name}_adam")
            self.optimizers[name].build(variables)
        if config.shared_adam:
            self.optimizers["emoji"] = self.optimizers["joint"]
        self.step = 0
        self.resumed_from: str | None = None
        self.skipped_checkpoints: list[tuple[str, str]] = []
        """``(checkpoint, why)`` of the newer checkpoints :meth:`restore` could not load."""
        self.best = {"step": None, "MAP": -1.0}
        self.history: dict[str, list] = {"train": [], "eval": []}

    # -- data -------------------------------------------------------------------------
    def _eval_batches(self, split) -> RankingBatches:
        return RankingBatches(split, self.cache, self.row_emoji, batch_size=self.config.batch_size,
                              n_candidates=self.config.n_candidates, protocol=self.config.protocol,
                              seed=self.config.eval_seed, train=False)

    def _train_batch_stream(self, start_step: int):
        """Batches for steps ``start_step..total_steps-1``, prefetched by worker threads.

        The epoch (sample order and candidate draws) is switched here, in step order, with
        no batch of the previous epoch still in flight.
        """
        workers = max(1, self.config.workers)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = []
            step = start_step
            while step < self.total_steps or pending:
                while step < self.total_steps and len(pending) < 2 * workers:
                    epoch, batch = divmod(step, self.steps_per_epoch)
                    if epoch != self.train_batches.epoch:
                        if pending:
                            break  # drain the old epoch before reshuffling
                        self.train_batches.set_epoch(epoch)
                    pending.append(pool.submit(self._load_shard, batch))
                    step += 1
                yield pending.pop(0).result()

    def _load_shard(self, batch: int):
        """``(inputs, targets, weight)``: this process's shard of training batch ``batch``
        (:func:`~srs_lib.training.distributed.shard_slice`) and its share of the global
        batch. A process whose shard is empty (a last batch smaller than the world) gets the
        batch's first context with weight 0."""
        n = self.train_batches.batch_length(batch)
        part = shard_slice(n, self.world)
        if not self.world.parallel:
            part = None
        elif part.stop == part.start:
            inputs, targets = self.train_batches.load(batch, slice(0, 1))
            return inputs, targets, 0.0
        inputs, targets = self.train_batches.load(batch, part)
        return inputs, targets, len(targets["label"]) / n

    def _sync_buffers(self) -> None:
        """Rank 0's batch-norm moving averages in every process (before an evaluation or a
        checkpoint; each shard's own in training)."""
        trainable = {id(v) for v in self.model.trainable_variables}
        self.world.broadcast_variables(_float_variables(
            [v for v in self.model.weights if id(v) not in trainable]))

    # -- one step ---------------------------------------------------------------------
    def stage(self, step: int) -> str:
        """"emoji" (first stage: sticker encoder on the emoji loss) or "joint"."""
        return "emoji" if self.config.classify and step < self.config.emoji_steps else "joint"

    def _losses(self, inputs, targets, stage: str, training: bool):
        emoji_targets = ops.convert_to_tensor(targets["emoji"])
        if stage == "emoji":
            _, _, logits = self.model.sticker_encoder(inputs["stickers"], training=training)
            emoji = ops.mean(emoji_loss(emoji_targets, logits))
            return emoji, {"emoji": emoji}
        out = self.model(inputs, training=training)
        own_loss = getattr(self.model, "ranking_loss", None)
        if own_loss is not None:  # a model with its own ranking objective (the dual encoder)
            ranking, name = own_loss(out, {k: ops.convert_to_tensor(v) for k, v in targets.items()})
            if not self.config.classify:
                return ranking, {name: ranking}
            emoji = ops.mean(emoji_loss(emoji_targets, out["emoji_logits"]))
            return ranking + emoji, {name: ranking, "emoji": emoji}
        mask = ops.convert_to_tensor(targets["candidate_mask"])
        scores = ops.where(mask, ops.cast(out["scores"], "float32"), MASK_VALUE)
        hinge = ops.mean(hinge_loss(ops.convert_to_tensor(targets["label"]), scores,
                                    self.config.margin, mask=mask,
                                    reduction=self.config.hinge_reduction))
        if not self.config.classify:
            return hinge, {"hinge": hinge}
        emoji = ops.mean(emoji_loss(emoji_targets, out["emoji_logits"]))
        return hinge + emoji, {"hinge": hinge, "emoji": emoji}

    def train_step(self, inputs, targets, step: int, weight: float = 1.0) -> dict:
        """One optimisation step; returns the losses as floats. In a data-parallel run
        ``inputs`` and ``targets`` are this process's shard and ``weight`` its share of the
        global batch: the losses returned are the global batch's, and every process applies
        the global batch's gradient (see :mod:`srs_lib.training.distributed`)."""
        import torch

        stage = self.stage(step)
        for variable in self.model.trainable_variables:
            variable.value.grad = None
        loss, parts = self._losses(_to_tensors(inputs), targets, stage, training=True)
        values = self.world.weighted_sum(
            {"loss": float(ops.convert_to_numpy(loss)),
             **{k: float(ops.convert_to_numpy(v)) for k, v in parts.items()}}, weight)
        value = values["loss"]
        if not math.isfinite(value):
            latest = self._latest_checkpoint()
            kept = f"the last good checkpoint is {latest.name}" if latest else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"the {stage} loss became {value} at step {step}; training stopped and {kept} "
                f"(in {self.train_dir}). Lower the learning rate or check the data.")
        loss.backward()
        grads = {name: [v.value.grad if v.value.grad is not None else torch.zeros_like(v.value)
                        for v in self.optimizer_variables[name]]
                 for name in self.stage_optimizers[stage]}
        with torch.no_grad():
            self.world.average_gradients([g for gs in grads.values() for g in gs], weight)
            for name, stage_grads in grads.items():
                self.optimizers[name].apply(stage_grads, self.optimizer_variables[name])
        return {"loss": value, **{k: values[k] for k in parts}}

    # -- checkpoints ------------------------------------------------------------------
    def _checkpoints(self) -> list[Path]:
        """The complete checkpoints (``train/ckpt-<step>``), newest first."""
        if not self.train_dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.train_dir.iterdir()
                 if (m := _CHECKPOINT.fullmatch(p.name)) and p.is_dir() and not p.is_symlink()]
        return [p for _, p in sorted(found, reverse=True)]

    def _latest_checkpoint(self) -> Path | None:
        checkpoints = self._checkpoints()
        return checkpoints[0] if checkpoints else None

    def save_checkpoint(self) -> Path:
        """Write ``train/ckpt-<step>`` atomically and durably, point ``train/checkpoint`` at
        it, and keep the two newest checkpoints."""
        self.train_dir.mkdir(parents=True, exist_ok=True)
        final = self.train_dir / f"ckpt-{self.step}"
        tmp = self.train_dir / f".ckpt-{self.step}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            self.model.save_weights(tmp / "model.weights.h5")
            np.savez(tmp / "optimizer.npz",
                     **{f"{stage}{i}": ops.convert_to_numpy(v)
                        for stage, optimizer in self._distinct_optimizers()
                        for i, v in enumerate(optimizer.variables)})
            np.savez(tmp / "seeds.npz",
                     **{f"s{i}": ops.convert_to_numpy(v) for i, v in enumerate(_seed_states(self.model))})
            np.savez(tmp / "torch_rng.npz", **_torch_rng_state())
            state = {"step": self.step, "best": self.best, "history": self.history,
                     "config": self.config.to_dict()}
            (tmp / "state.json").write_text(json.dumps(state))
            fsync_tree(tmp)
            _crash_point("checkpoint_written", self.step)
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
            fsync_path(self.train_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves no partial copy behind
            raise
        _crash_point("checkpoint_renamed", self.step)
        write_text_atomically(self.train_dir / "checkpoint", json.dumps({"latest": final.name}))
        _crash_point("checkpoint_done", self.step)
        for old in self._checkpoints()[2:]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def _distinct_optimizers(self) -> list:
        """``(stage, optimizer)`` pairs, a shared optimizer once (under "joint")."""
        return [(stage, optimizer) for stage, optimizer in self.optimizers.items()
                if not (stage == "emoji" and optimizer is self.optimizers["joint"])]

    def _state_variables(self) -> list:
        """Every variable a checkpoint restores: weights, optimisers' state, seeds."""
        variables = list(self.model.weights)
        for _, optimizer in self._distinct_optimizers():
            variables += list(optimizer.variables)
        return variables + _seed_states(self.model)

    def _load_checkpoint(self, path: Path) -> dict:
        """Load one checkpoint into the model, optimisers and generators; its trainer state.

        Raises on any damage (a missing, empty or truncated file, a wrong shape), possibly
        after assigning part of it: :meth:`restore` then puts the previous values back.
        """
        state = json.loads((path / "state.json").read_text())
        if state["config"] != self.config.to_dict():
            raise RunConfigMismatch(f"{path} was written with another configuration; use a new "
                                    f"experiment name or the same options")
        with np.load(path / "optimizer.npz", allow_pickle=False) as saved:
            optimizer_state = {k: saved[k] for k in saved.files}
        with np.load(path / "seeds.npz", allow_pickle=False) as saved:
            seeds = {k: saved[k] for k in saved.files}
        with np.load(path / "torch_rng.npz", allow_pickle=False) as saved:
            rng = {k: saved[k] for k in saved.files}
        self.model.load_weights(path / "model.weights.h5")
        for stage, optimizer in self._distinct_optimizers():
            for i, variable in enumerate(optimizer.variables):
                _assign(variable, optimizer_state[f"{stage}{i}"])
        for i, variable in enumerate(_seed_states(self.model)):
            _assign(variable, seeds[f"s{i}"])
        _set_torch_rng_state(rng)
        return state

    def restore(self) -> bool:
        """Resume from the newest checkpoint that loads, if any; returns whether one did.

        Newer checkpoints that fail to load are skipped (:attr:`skipped_checkpoints`, and
        said when ``verbose``); the model, optimisers and generators are left as they were
        before a failed attempt. A checkpoint of other options raises
        :class:`~srs_lib.training.run_folder.RunConfigMismatch`.
        """
        checkpoints = self._checkpoints()
        if not checkpoints:
            return False
        variables = self._state_variables()
        before = [np.array(ops.convert_to_numpy(v)) for v in variables]
        rng_before = _torch_rng_state()
        self.skipped_checkpoints = []
        for path in checkpoints:
            try:
                state = self._load_checkpoint(path)
            except RunConfigMismatch:
                raise
            except Exception as error:  # damaged: fall back to the previous checkpoint
                for variable, value in zip(variables, before):
                    variable.assign(value)
                _set_torch_rng_state(rng_before)
                reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
                self.skipped_checkpoints.append((path.name, reason))
                if self.verbose:
                    print(f"skipped checkpoint {path.name}: it does not load ({reason})", flush=True)
                continue
            self.step, self.best, self.history = state["step"], state["best"], state["history"]
            self.resumed_from = path.name
            return True
        if self.verbose:
            print(f"no checkpoint of {self.train_dir} loads: starting from step 0", flush=True)
        return False

    # -- evaluation -------------------------------------------------------------------
    def evaluate(self, batches: RankingBatches | None = None, limit: int | None = None) -> dict:
        """Ranking metrics of the current model (on ``test_path`` by default)."""
        batches = batches or self.eval_batches
        self._sync_buffers()
        start = time.monotonic()
        scores, labels, _ = score_batches(self.model, batches, limit, world=self.world)
        seconds = time.monotonic() - start
        metrics = ranking_metrics(scores, labels)
        return {**metrics, "contexts": len(labels), "contexts_per_s": len(labels) / max(seconds, 1e-9)}

    def _metric_line(self, entry: dict) -> str:
        """The ``metric.txt`` line of one evaluation (an entry of ``history["eval"]``)."""
        fields = [f"step={entry['step']}", f"split={self.test_path}", f"contexts={entry['contexts']}"]
        fields += [f"{k}={v:.4f}" for k, v in entry.items() if k not in ("step", "contexts", "contexts_per_s")]
        return "\t".join(fields) + "\n"

    def _rewrite_metric_file(self) -> None:
        """``metric.txt`` as the history says: each evaluation up to the current step once
        (what a killed run appended after its last checkpoint is evaluated again)."""
        write_text_atomically(self.root / "metric.txt",
                              "".join(self._metric_line(e) for e in self.history["eval"]))

    def _log_eval(self, metrics: dict) -> None:
        entry = {"step": self.step, **metrics}
        if self.world.main:
            with open(self.root / "metric.txt", "a") as handle:
                handle.write(self._metric_line(entry))
            _crash_point("eval_logged", self.step)
        self.history["eval"].append(entry)
        improved = metrics["MAP"] > self.best["MAP"]
        if improved:
            self.best = {"step": self.step, "MAP": metrics["MAP"]}
        if improved and self.world.main:
            self.train_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.train_dir / f".best.tmp-{os.getpid()}.keras"
            try:
                self.model.save(tmp)
                _crash_point("best_written", self.step)
                replace_atomically(tmp, self.train_dir / "best.keras")
            finally:
                tmp.unlink(missing_ok=True)
        if self.verbose:
            print(f"  eval step {self.step}: MAP {metrics['MAP']:.4f}  R10@1 "
                  f"{metrics.get(f'R{self.config.n_candidates}@1', float('nan')):.4f}  "
                  f"({metrics['contexts']} contexts, {metrics['contexts_per_s']:.0f} contexts/s)",
                  flush=True)

    # -- the run ----------------------------------------------------------------------
    def fit(self, resume: bool = True) -> dict:
        """Train to ``total_steps`` (resuming if allowed), then report on the test split.

        Holds the run folder's lock throughout (a second training of the same folder gets
        :class:`~srs_lib.training.run_folder.RunLocked`); refuses, before writing anything,
        a folder whose run has other options or (without ``resume``) any checkpoint.

        The Keras callbacks of :attr:`callbacks` see the run through a
        ``keras.callbacks.CallbackList`` (``model`` is the ranking model; ``params`` holds
        ``steps``, the run's total steps, and ``epochs``, its number of evaluations).
        An evaluation plays the part of Keras's end of an epoch:

        * ``on_train_begin()`` once the run is resumed, before its first step;
        * ``on_epoch_begin(epoch)`` then and after every evaluation that is not the last,
          ``epoch`` being the index of the next evaluation of the run (resumed evaluations
          counted, so it is the same in a resumed run as in an uninterrupted one);
        * ``on_train_batch_begin(step)`` and ``on_train_batch_end(step, logs)`` around
          every optimisation step, ``step`` the run's step index (0-based, not reset per
          epoch); ``logs``: the step's losses (``loss``, and ``hinge`` and/or ``emoji`` as
          the stage has them), ``learning_rate`` of the stage's optimizer and
          ``contexts_per_s``, the step's throughput (since the previous step ended, the
          wait for its batch included);
        * ``on_epoch_end(epoch, logs)`` after each evaluation (every ``auto_test_step``
          steps, and at the last step): ``logs`` holds every evaluation metric with the
          prefix ``val_`` (``val_MAP``, ``val_R10@1``, ``val_contexts``, ...; so
          ``EarlyStopping(monitor="val_MAP", mode="max")``), the mean training losses of the
          steps this process ran since the previous evaluation, and ``step``;
        * ``on_train_end(logs)`` after the last step (the last ``on_epoch_end``'s logs),
          before the test report. A run that raises (a kill, :class:`TrainingDiverged`)
          calls no further hook.

        When a callback sets ``model.stop_training`` (in ``on_train_batch_end`` or
        ``on_epoch_end``), that step becomes the run's last: it is evaluated (unless it
        just was) and checkpointed like the last step, the test report is written with
        ``stopped_early`` true and ``steps`` the step reached, and ``on_train_end`` is
        called. The folder is then an ordinary interrupted run: the same command without
        the stopping callback resumes it from that checkpoint to ``total_steps``, with the
        weights of an uninterrupted run.
        """
        with self.run.lock() if self.world.main else contextlib.nullcontext():
            failure = None
            if self.world.main:  # the others wait for rank 0's checks
                try:
                    self._prepare_folder(resume)
                except BaseException as error:  # noqa: BLE001 - re-raised below, in order
                    failure = error
            if self.world.any(failure is not None):
                raise failure or RuntimeError("rank 0 could not prepare the run folder (its "
                                              "output says why)")
            if resume and self.restore() and self.verbose:
                print(f"resumed from step {self.step} of {self.total_steps} ({self.resumed_from})",
                      flush=True)
            if self.world.main:
                self._rewrite_metric_file()
            return self._fit()

    def _prepare_folder(self, resume: bool) -> None:
        """Under the lock, before the first step: the options checked again, a checkpoint
        refused without ``resume``, a killed run's temporaries removed, ``config.json``."""
        self.run.check_config(self.config.to_dict())  # again: under the lock
        if self._latest_checkpoint() is not None and not resume:
            raise FileExistsError(f"{self.root} already holds a run; resume it or choose "
                                  f"another --exp_name")
        removed = self.run.remove_temporaries()
        if removed and self.verbose:
            print(f"removed what a killed run left: {', '.join(removed)}", flush=True)
        write_text_atomically(self.root / CONFIG_FILE, json.dumps(self.config.to_dict(), indent=2))

    def _fit(self) -> dict:
        cfg = self.config
        if self.verbose:
            print(f"training {cfg.model} on {self.train_split.report.usable} contexts "
                  f"({self.steps_per_epoch} steps per epoch, {self.total_steps} steps, "
                  f"device {self.device}); evaluating on {self.test_path} every "
                  f"{cfg.auto_test_step} steps", flush=True)
        checkpoint_step = cfg.checkpoint_step or cfg.auto_test_step
        callbacks = self._callback_list()
        self.model.stop_training = False
        callbacks.on_train_begin()
        epoch_logs: dict = {}
        if self.step < self.total_steps:
            callbacks.on_epoch_begin(len(self.history["eval"]))
        window = {"start": time.monotonic(), "contexts": 0, "losses": []}
        since_eval: list[dict] = []  # the step losses since the previous evaluation
        stream = self._train_batch_stream(self.step)
        try:
            step_start = time.monotonic()
            for inputs, targets, weight in stream:
                callbacks.on_train_batch_begin(self.step)
                contexts = self.train_batches.batch_length(self.step % self.steps_per_epoch)
                losses = self.train_step(inputs, targets, self.step, weight)
                self.step += 1
                _crash_point("step", self.step)
                window["contexts"] += contexts
                window["losses"].append(losses)
                since_eval.append(losses)
                now = time.monotonic()
                callbacks.on_train_batch_end(self.step - 1, self._batch_logs(
                    losses, contexts / max(now - step_start, 1e-9)))
                self.model.stop_training = self.world.from_main(self.model.stop_training)
                last = self.step == self.total_steps or self.model.stop_training
                if self.step % cfg.log_step == 0 or last:
                    self._log_train(window)
                    window = {"start": time.monotonic(), "contexts": 0, "losses": []}
                evaluated = self.step % cfg.auto_test_step == 0 or last
                if evaluated:
                    metrics = self.evaluate(limit=cfg.eval_limit)
                    self._log_eval(metrics)
                    epoch_logs = self._epoch_logs(metrics, since_eval)
                    since_eval = []
                    callbacks.on_epoch_end(len(self.history["eval"]) - 1, epoch_logs)
                    self.model.stop_training = self.world.from_main(self.model.stop_training)
                    last = last or self.model.stop_training
                if self.step % checkpoint_step == 0 or last:
                    self._sync_buffers()
                    if self.world.main:
                        self.save_checkpoint()
                if last:
                    break
                if evaluated:
                    callbacks.on_epoch_begin(len(self.history["eval"]))
                step_start = time.monotonic()  # the hooks and evaluation are not the step's
        finally:
            stream.close()  # stops the prefetching threads of a stopped run
        if self.step < self.total_steps and self.verbose:
            print(f"stopped by a callback at step {self.step} of {self.total_steps}; rerun "
                  f"without it to resume from ckpt-{self.step}", flush=True)
        callbacks.on_train_end(epoch_logs)
        return self.final_report()

    def _callback_list(self):
        evaluations = math.ceil(self.total_steps / self.config.auto_test_step)
        return keras.callbacks.CallbackList(self.callbacks, model=self.model, verbose=0,
                                            steps=self.total_steps, epochs=evaluations)

    def _batch_logs(self, losses: dict, contexts_per_s: float) -> dict:
        """What ``on_train_batch_end`` receives for the step just taken (see :meth:`fit`)."""
        stage = self.stage(self.step - 1)
        optimizer = self.optimizers[self.stage_optimizers[stage][0]]
        return {**losses, "learning_rate": float(ops.convert_to_numpy(optimizer.learning_rate)),
                "contexts_per_s": contexts_per_s}

    def _epoch_logs(self, metrics: dict, since_eval: list[dict]) -> dict:
        """What ``on_epoch_end`` receives after an evaluation (see :meth:`fit`)."""
        logs = {f"val_{name}": float(value) for name, value in metrics.items()}
        for key in LOSS_KEYS:
            values = [losses[key] for losses in since_eval if key in losses]
            if values:
                logs[key] = float(np.mean(values))
        logs["step"] = self.step
        return logs

    def _log_train(self, window: dict) -> None:
        seconds = time.monotonic() - window["start"]
        record = {"step": self.step, "stage": self.stage(self.step - 1),
                  "learning_rate": float(ops.convert_to_numpy(
                      self.optimizers[self.stage_optimizers[self.stage(self.step - 1)][0]].learning_rate)),
                  "contexts_per_s": window["contexts"] / max(seconds, 1e-9)}
        for key in LOSS_KEYS:
            values = [l[key] for l in window["losses"] if key in l]
            if values:
                record[key] = float(np.mean(values))
        self.history["train"].append(record)
        if self.verbose:
            parts = "  ".join(f"{k} {record[k]:.4f}" for k in LOSS_KEYS if k in record)
            print(f"step {self.step}/{self.total_steps} [{record['stage']}]  {parts}  "
                  f"lr {record['learning_rate']:.2e}  {record['contexts_per_s']:.0f} contexts/s",
                  flush=True)

    def final_report(self) -> dict:
        """Evaluate the best checkpoint on the test split; write metrics.json and scores
        (rank 0; every process scores its shard of the split)."""
        self.world.barrier()  # rank 0 has written best.keras
        best = keras.saving.load_model(self.train_dir / "best.keras", safe_mode=True)
        limits = dict(max_utterances=self.config.max_utterances, max_words=self.config.max_words,
                      verify=self.verify_cache)
        test_split = encode_split(self.corpus, self.final_test_path, self.cache, **limits)
        batches = self._eval_batches(test_split)
        start = time.monotonic()
        scores, labels, index = score_batches(best, batches, world=self.world)
        seconds = time.monotonic() - start
        metrics = ranking_metrics(scores, labels)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, scores=scores, labels=labels, lines=test_split.lines[index],
                            mask=scores > MASK_VALUE)
        report = {
            "model": self.config.model,
            "test": metrics,
            "test_contexts": int(len(labels)),
            "train_contexts": len(self.train_split),
            "test_path": self.final_test_path,
            "best_step": self.best["step"],
            "best_eval_MAP": self.best["MAP"],
            "eval_path": self.test_path,
            "steps": self.step,
            "stopped_early": self.step < self.total_steps,
            "config": self.config.to_dict(),
            "parameters": int(sum(np.prod(v.shape) for v in best.trainable_variables)),
            "skipped": {s.name: s.report.to_dict()["skipped"]
                        for s in (self.train_split, self.eval_split, test_split)},
            "short_candidate_lists": {"train": self.train_batches.short_lists,
                                      "test": batches.short_lists},
            "eval_contexts_per_s": len(labels) / max(seconds, 1e-9),
            "device": self.device,
            "processes": self.world.size,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        }
        if self.world.main:
            write_bytes_atomically(self.root / "test_scores.npz", buffer.getvalue())
            write_text_atomically(self.root / "metrics.json", json.dumps(report, indent=2))
            write_text_atomically(self.root / "history.json", json.dumps(self.history))
        return report


class EvaluationError(Exception):
    """A model cannot be evaluated as asked; the message says what to pass."""


def evaluation_config(model, checkpoint, config: TrainConfig | None = None,
                      options: dict | None = None) -> TrainConfig:
    """The configuration a saved model is evaluated with.

    ``config`` when given; else the data options saved in the model (``data_config``, see
    :data:`~srs_lib.training.config.DATA_OPTIONS`). ``options`` (data options by name)
    override either. A model that saved none, without ``config`` or every data option in
    ``options``, is refused with :class:`EvaluationError`: guessing (the paper's defaults)
    would silently rank other candidates with other context lengths.
    """
    options = dict(options or {})
    unknown = set(options) - set(DATA_OPTIONS)
    if unknown:
        raise EvaluationError(f"not data options: {', '.join(sorted(unknown))}; "
                              f"choose from {', '.join(DATA_OPTIONS)}")
    if config is None:
        saved = getattr(model, "data_config", None)
        if not saved and set(options) == set(DATA_OPTIONS):
            saved = options
        if not saved:
            beside = Path(checkpoint).resolve().parent.parent / CONFIG_FILE
            hint = f" (its run's is probably {beside})" if beside.is_file() else ""
            raise EvaluationError(
                f"{checkpoint} carries no data configuration (it was saved before models "
                f"recorded theirs); pass --config with the config.json of the run that trained "
                f"it{hint}, or --profile with the options it was trained with, or every one of "
                f"{', '.join('--' + name for name in DATA_OPTIONS)}")
        unknown = set(saved) - set(DATA_OPTIONS)
        if unknown:
            raise EvaluationError(f"{checkpoint}: unknown data options {', '.join(sorted(unknown))}")
        config = TrainConfig().replace(**saved)
    return config.replace(**options) if options else config


def load_for_evaluation(checkpoint, base_path, test_path: str = "release_test.json", *,
                        config: TrainConfig | None = None, options: dict | None = None,
                        cache_dir=None, verify_cache: str = "stat"):
    """A saved model (``.keras``, loaded in safe mode), the configuration it is evaluated
    with (:func:`evaluation_config`), the corpus and the fixed evaluation batches of
    ``test_path``."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise EvaluationError(f"no model file {checkpoint}; pass --checkpoint a .keras file "
                              f"(a run's is LOG_ROOT/NAME/train/best.keras)")
    model = keras.saving.load_model(checkpoint, safe_mode=True)
    config = evaluation_config(model, checkpoint, config, options)
    corpus, batches = evaluation_batches(base_path, config, test_path, cache_dir=cache_dir,
                                         verify_cache=verify_cache)
    return model, config, corpus, batches


def evaluate_checkpoint(checkpoint, base_path, test_path: str = "release_test.json", *,
                        config: TrainConfig | None = None, options: dict | None = None,
                        cache_dir=None, verify_cache: str = "stat") -> dict:
    """Metrics and per-context scores of a saved model (``.keras``, loaded in safe mode).

    The data options (vocabulary size, utterances, words, candidates, protocol, evaluation
    seed, batch size) are the ones saved in the model, unless ``config`` or ``options``
    say otherwise (see :func:`evaluation_config`); the result's ``data_config`` says which
    were used.
    """
    model, config, _, batches = load_for_evaluation(
        checkpoint, base_path, test_path, config=config, options=options, cache_dir=cache_dir,
        verify_cache=verify_cache)
    split = batches.split
    scores, labels, index = score_batches(model, batches)
    return {"metrics": ranking_metrics(scores, labels), "scores": scores, "labels": labels,
            "lines": split.lines[index], "skipped": split.report.to_dict()["skipped"],
            "short_candidate_lists": batches.short_lists, "data_config": data_config(config)}


def train(config: TrainConfig, base_path, log_root, exp_name: str, *, resume: bool = True,
          **kwargs) -> dict:
    """Train ``config`` and return the final report (see :meth:`Trainer.final_report`)."""
    return Trainer(config, base_path, log_root, exp_name, **kwargs).fit(resume=resume)
