"""Keras callbacks driven by the trainer's own loop: the hooks, their logs, CSVLogger,
``model.stop_training`` (a clean stop that resumes), and ``train --tensorboard``."""
from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras

from srs_lib import cli
from srs_lib.training.config import profile_config
from srs_lib.training.trainer import Trainer

# 8 steps: the emoji stage for steps 0-2, evaluations after steps 4 and 8.
CONFIG = profile_config("ci", steps=8, emoji_steps=3, auto_test_step=4, log_step=4, batch_size=8,
                        hidden=8, dropout=0.1)
METRICS = {"MAP", "MRR", "R10@1", "R10@2", "R10@5", "R2@1", "P@1", "contexts", "contexts_per_s"}


@pytest.fixture
def corpus_path(make_corpus):
    return make_corpus(extra_samples=30)


class Recorder(keras.callbacks.Callback):
    """Every hook call, in order, with its argument and a copy of its logs."""

    def __init__(self, stop_at_batch=None, stop_at_epoch=None):
        super().__init__()
        self.calls = []
        self.stop_at_batch, self.stop_at_epoch = stop_at_batch, stop_at_epoch

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", None, logs))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", None, dict(logs or {})))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch, logs))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))
        if epoch == self.stop_at_epoch:
            self.model.stop_training = True

    def on_train_batch_begin(self, batch, logs=None):
        self.calls.append(("batch_begin", batch, logs))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))
        if batch == self.stop_at_batch:
            self.model.stop_training = True

    def sequence(self):
        return [(name, arg) for name, arg, _ in self.calls]

    def logs(self, name):
        return {arg: logs for hook, arg, logs in self.calls if hook == name}


def _weights(model):
    return [np.array(v.numpy()) for v in model.weights]


def _metric_steps(root):
    return [line.split("\t")[0] for line in (root / "metric.txt").read_text().splitlines()]


def test_the_hooks_come_in_order_with_the_logged_values(corpus_path, tmp_path):
    recorder = Recorder()
    trainer = Trainer(CONFIG, corpus_path, tmp_path, "hooks", verbose=False, callbacks=[recorder])
    report = trainer.fit()
    steps = lambda first, last: [call for s in range(first, last)  # noqa: E731
                                 for call in (("batch_begin", s), ("batch_end", s))]
    assert recorder.sequence() == ([("train_begin", None), ("epoch_begin", 0)] + steps(0, 4)
                                   + [("epoch_end", 0), ("epoch_begin", 1)] + steps(4, 8)
                                   + [("epoch_end", 1), ("train_end", None)])
    assert recorder.model is trainer.model
    assert recorder.params["steps"] == 8 and recorder.params["epochs"] == 2
    assert report["stopped_early"] is False

    batches = recorder.logs("batch_end")
    for step, logs in batches.items():
        losses = {"loss", "emoji"} if step < 3 else {"loss", "hinge", "emoji"}
        assert set(logs) == losses | {"learning_rate", "contexts_per_s"}, step
        assert logs["contexts_per_s"] > 0 and logs["learning_rate"] > 0
    # The batch logs are the values the trainer logs: history["train"] holds their means.
    for record, window in zip(trainer.history["train"], (range(0, 4), range(4, 8))):
        assert record["loss"] == pytest.approx(np.mean([batches[s]["loss"] for s in window]))
    assert trainer.history["train"][1]["hinge"] == pytest.approx(
        np.mean([batches[s]["hinge"] for s in range(4, 8)]))

    epochs = recorder.logs("epoch_end")
    for epoch, entry in zip((0, 1), trainer.history["eval"]):
        logs = epochs[epoch]
        assert set(logs) == {f"val_{m}" for m in METRICS} | {"loss", "hinge", "emoji", "step"}
        assert logs["step"] == entry["step"] == 4 * (epoch + 1)
        assert logs["val_MAP"] == pytest.approx(entry["MAP"])
        assert logs["val_contexts"] == entry["contexts"]
    assert epochs[1]["loss"] == pytest.approx(np.mean([batches[s]["loss"] for s in range(4, 8)]))
    assert recorder.calls[-1][2] == epochs[1]  # on_train_end gets the last evaluation's logs


def test_csv_logger_writes_a_row_per_evaluation(corpus_path, tmp_path):
    path = tmp_path / "log.csv"
    Trainer(CONFIG, corpus_path, tmp_path, "csv", verbose=False,
            callbacks=[keras.callbacks.CSVLogger(str(path))]).fit()
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert [float(row["step"]) for row in rows] == [4, 8]  # CSVLogger writes numbers as floats
    metric_lines = (tmp_path / "csv/metric.txt").read_text().splitlines()
    for row, line in zip(rows, metric_lines):
        fields = dict(item.split("=", 1) for item in line.split("\t"))
        assert float(row["val_MAP"]) == pytest.approx(float(fields["MAP"]), abs=5e-5)
        assert float(row["val_R10@1"]) == pytest.approx(float(fields["R10@1"]), abs=5e-5)
        assert float(row["loss"]) > 0


def test_stop_training_ends_the_run_at_that_step_and_it_resumes(corpus_path, tmp_path):
    straight = Trainer(CONFIG, corpus_path, tmp_path, "straight", verbose=False)
    straight.fit()

    recorder = Recorder(stop_at_batch=4)  # set after step index 4: the run ends at step 5
    stopped = Trainer(CONFIG, corpus_path, tmp_path, "stopped", verbose=False, callbacks=[recorder])
    report = stopped.fit()
    assert report["steps"] == 5 and report["stopped_early"] is True
    assert max(arg for name, arg in recorder.sequence() if name == "batch_end") == 4
    assert recorder.sequence()[-3:] == [("batch_end", 4), ("epoch_end", 1), ("train_end", None)]
    root = tmp_path / "stopped"
    # Stopped like a last step: evaluated, checkpointed, reported.
    assert json.loads((root / "train/checkpoint").read_text())["latest"] == "ckpt-5"
    assert _metric_steps(root) == ["step=4", "step=5"]
    assert json.loads((root / "metrics.json").read_text())["steps"] == 5
    assert not list((root / "train").glob(".*tmp*"))

    resumed = Trainer(CONFIG, corpus_path, tmp_path, "stopped", verbose=False)
    report = resumed.fit()
    assert resumed.resumed_from == "ckpt-5"
    assert report["steps"] == 8 and report["stopped_early"] is False
    for a, b in zip(_weights(straight.model), _weights(resumed.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert _metric_steps(root) == ["step=4", "step=5", "step=8"]


def test_stop_training_at_an_evaluation_needs_no_extra_one(corpus_path, tmp_path):
    recorder = Recorder(stop_at_epoch=0)
    report = Trainer(CONFIG, corpus_path, tmp_path, "early", verbose=False,
                     callbacks=[recorder]).fit()
    assert report["steps"] == 4 and report["stopped_early"] is True
    assert recorder.sequence()[-3:] == [("batch_end", 3), ("epoch_end", 0), ("train_end", None)]
    assert _metric_steps(tmp_path / "early") == ["step=4"]
    assert json.loads((tmp_path / "early/train/checkpoint").read_text())["latest"] == "ckpt-4"


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None,
                    reason="TensorFlow is installed here: the TensorBoard callback works")
def test_tensorboard_without_tensorflow_is_refused_before_training(corpus_path, tmp_path, capsys):
    status = cli.main(["train", "--profile", "ci", "--exp_name", "tb", "--log_root", str(tmp_path),
                       "--base_path", str(corpus_path), "--steps", "2", "--hidden", "8",
                       "--device", "cpu", "--tensorboard", str(tmp_path / "tensorboard")])
    assert status == 2
    error = capsys.readouterr().err
    assert "--tensorboard needs TensorFlow" in error and "tf.summary" in error
    assert not (tmp_path / "tb").exists() and not (tmp_path / "tensorboard").exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                    reason="keras.callbacks.TensorBoard writes through tf.summary: no TensorFlow here")
def test_tensorboard_writes_event_files(corpus_path, tmp_path):
    status = cli.main(["train", "--profile", "ci", "--exp_name", "tb", "--log_root", str(tmp_path),
                       "--base_path", str(corpus_path), "--steps", "4", "--auto_test_step", "2",
                       "--emoji_steps", "1", "--hidden", "8", "--device", "cpu",
                       "--tensorboard", str(tmp_path / "tensorboard")])
    assert status == 0
    assert list((tmp_path / "tensorboard/train").glob("events.out.tfevents.*"))
    assert list((tmp_path / "tensorboard/validation").glob("events.out.tfevents.*"))


def test_keras_early_stopping_monitors_the_validation_logs(corpus_path, tmp_path):
    # No improvement after the first evaluation can reach min_delta (MAP is at most 1), so
    # Keras's EarlyStopping stops at the first epoch it may (1), whatever the model learns.
    stopper = keras.callbacks.EarlyStopping(monitor="val_MAP", mode="max", min_delta=10.0,
                                            patience=0)
    report = Trainer(CONFIG.replace(steps=12), corpus_path, tmp_path, "es", verbose=False,
                     callbacks=[stopper]).fit()
    assert stopper.stopped_epoch == 1
    assert report["steps"] == 8 and report["stopped_early"] is True
    assert _metric_steps(tmp_path / "es") == ["step=4", "step=8"]
