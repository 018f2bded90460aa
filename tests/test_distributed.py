"""Data-parallel training with torchrun and gloo (srs_lib.training.distributed): two
processes on one global batch compute what one process computes from the same two shards,
and a killed two-process run resumes.

The reference is computed here, in one process, from the definition: each shard's
gradient weighted by its share of the global batch, summed, applied by the stage's
optimizers. It is not one process on the whole batch, because batch normalisation uses each
shard's own statistics in training (as ``DistributedDataParallel`` does without
``SyncBatchNorm``); dropout is off so that no draw differs. The global batch of 5 splits
into unequal shards (3 and 2), so that a wrong weighting of the shards changes the update's
direction (Adam would hide a uniform scale)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
from keras import ops

from srs_lib.training.distributed import World, shard_slice
from srs_lib.training.scoring import _to_tensors
from srs_lib.training.train_command import add_arguments, config_from_args
from srs_lib.training.trainer import CRASH_ENV, Trainer

STEPS = 4
#: float32 on a CPU, the sums of two shards' gradients taken in another order.
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def test_shards_are_contiguous_and_cover_the_batch():
    for n in (0, 1, 5, 8):
        parts = [shard_slice(n, World(r, 3)) for r in range(3)]
        assert [i for p in parts for i in range(n)[p]] == list(range(n))
        assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


def _options(corpus, log_root, exp_name):
    return ["--profile", "ci", "--base_path", str(corpus), "--log_root", str(log_root),
            "--exp_name", exp_name, "--steps", str(STEPS), "--emoji_steps", "1",
            "--batch_size", "5", "--hidden", "8", "--dropout", "0", "--checkpoint_step", "2",
            "--auto_test_step", "2", "--workers", "1"]


def _config(options):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(options))


def _torchrun(options, **env):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "srs_lib", "train", *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def _reference_weights(config, corpus, log_root):
    """Four steps of the data-parallel rule in one process: two shards per global batch."""
    import torch

    trainer = Trainer(config, corpus, log_root, "reference", verbose=False)
    data = trainer.train_batches
    for step in range(STEPS):
        epoch, batch = divmod(step, trainer.steps_per_epoch)
        data.set_epoch(epoch)
        n, stage = data.batch_length(batch), trainer.stage(step)
        names = trainer.stage_optimizers[stage]
        total = None
        for rank in range(2):
            part = shard_slice(n, World(rank, 2))
            inputs, targets = data.load(batch, part)
            for variable in trainer.model.trainable_variables:
                variable.value.grad = None
            loss, _ = trainer._losses(_to_tensors(inputs), targets, stage, training=True)
            loss.backward()
            share = (part.stop - part.start) / n
            grads = [(v.value.grad if v.value.grad is not None else torch.zeros_like(v.value)) * share
                     for name in names for v in trainer.optimizer_variables[name]]
            total = grads if total is None else [a + b for a, b in zip(total, grads)]
        with torch.no_grad():
            offset = 0
            for name in names:
                variables = trainer.optimizer_variables[name]
                trainer.optimizers[name].apply(total[offset:offset + len(variables)], variables)
                offset += len(variables)
    return trainer


def test_two_gloo_processes_train_as_the_rule_says_and_a_killed_run_resumes(make_corpus, tmp_path):
    corpus = make_corpus(extra_samples=30)
    options = _options(corpus, tmp_path, "parallel")
    # Killed (both processes) right after step 3: ckpt-2 is the newest checkpoint.
    killed = _torchrun(options, **{CRASH_ENV: "step@3"})
    assert killed.returncode != 0
    assert (tmp_path / "parallel/train/ckpt-2").is_dir()
    assert not (tmp_path / "parallel/train/ckpt-4").exists()
    resumed = _torchrun(options)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("resumed from step 2") == 1  # rank 0 speaks, once
    assert (tmp_path / "parallel/metrics.json").is_file()

    config = _config(options)
    reference = _reference_weights(config, corpus, tmp_path)
    reference._sync_buffers()
    trained = Trainer(config, corpus, tmp_path, "loaded", verbose=False)
    trained.model.load_weights(tmp_path / "parallel/train/ckpt-4/model.weights.h5")
    trainable = {id(v) for v in reference.model.trainable_variables}
    for mine, theirs in zip(reference.model.weights, trained.model.weights):
        if id(mine) in trainable:
            np.testing.assert_allclose(ops.convert_to_numpy(theirs), ops.convert_to_numpy(mine),
                                       err_msg=mine.path, **TOLERANCE)
    # The sharded, gathered test evaluation is the one-process evaluation of the same model.
    import json

    from srs_lib.training.trainer import evaluate_checkpoint

    report = json.loads((tmp_path / "parallel/metrics.json").read_text())
    alone = evaluate_checkpoint(tmp_path / "parallel/train/best.keras", corpus)
    assert report["processes"] == 2 and report["test_contexts"] == len(alone["labels"])
    for name, value in alone["metrics"].items():
        assert report["test"][name] == pytest.approx(value, abs=1e-6), name
    # One evaluation line per evaluation (rank 0 writes), the resumed ones not doubled.
    steps = [line.split("\t")[0] for line in (tmp_path / "parallel/metric.txt").read_text().splitlines()]
    assert steps == ["step=2", "step=4"]
