"""Training: candidate protocols, the two-stage schedule, checkpoints and resume, NaN, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from corpus_fixtures import SMALL_SET

from srs_lib import cli
from srs_lib.data.corpus import Corpus
from srs_lib.training import trainer as trainer_module
from srs_lib.training.config import profile_config
from srs_lib.training.pipeline import RankingBatches, emoji_labels, encode_split
from srs_lib.training.trainer import Trainer, TrainingDiverged

CONFIG = profile_config("ci", steps=8, emoji_steps=3, auto_test_step=4, log_step=4, batch_size=8,
                        hidden=8, dropout=0.1)


@pytest.fixture
def corpus_path(make_corpus):
    return make_corpus(extra_samples=30)


def _batches(corpus_path, protocol="random", seed=0, train=False, split="test"):
    corpus = Corpus(corpus_path)
    cache = corpus.sticker_cache(progress=False)
    encoded = encode_split(corpus, split, cache)
    return RankingBatches(encoded, cache, emoji_labels(cache, corpus.emoji_vocab), batch_size=8,
                          protocol=protocol, seed=seed, train=train), cache


def test_random_candidates_same_set_distinct_positive_once(corpus_path):
    batches, cache = _batches(corpus_path)
    index = np.arange(len(batches.split))
    rows, labels = batches.candidates(index)
    for i, sample in enumerate(index):
        real = rows[i][rows[i] >= 0]
        assert len(set(real)) == len(real), "candidates must be distinct"
        sets = {cache.keys[r][0] for r in real}
        assert sets == {int(batches.split.set_ids[sample])}, "candidates come from the positive's set"
        assert rows[i, labels[i]] == batches.split.positive_rows[sample]
        assert list(real).count(batches.split.positive_rows[sample]) == 1
        expected = min(10, len(cache.set_rows(int(batches.split.set_ids[sample]))))
        assert len(real) == expected


def test_evaluation_candidates_fixed_by_seed(corpus_path):
    a, _ = _batches(corpus_path, seed=3)
    b, _ = _batches(corpus_path, seed=3)
    c, _ = _batches(corpus_path, seed=4)
    index = np.arange(len(a.split))
    assert np.array_equal(a.candidates(index)[0], b.candidates(index)[0])
    assert not np.array_equal(a.candidates(index)[0], c.candidates(index)[0])
    # A context's draw does not depend on which other contexts share its batch.
    assert np.array_equal(a.candidates(index[::-1])[0][::-1], a.candidates(index)[0])


def test_training_candidates_change_with_the_epoch(corpus_path):
    batches, _ = _batches(corpus_path, train=True, split="train")
    first = batches[0][1]["index"].copy()
    batches.set_epoch(1)
    assert not np.array_equal(first, batches[0][1]["index"])
    batches.set_epoch(0)
    assert np.array_equal(first, batches[0][1]["index"])


def test_first9_protocol_takes_the_set_order(corpus_path):
    batches, cache = _batches(corpus_path, protocol="first9")
    index = np.arange(len(batches.split))
    rows, labels = batches.candidates(index)
    for i, sample in enumerate(index):
        set_rows = list(cache.set_rows(int(batches.split.set_ids[sample])))
        positive = int(batches.split.positive_rows[sample])
        expected = {positive} | set([r for r in set_rows if r != positive][:9])
        assert set(rows[i][rows[i] >= 0]) == expected


def test_small_sets_are_padded_masked_and_counted(corpus_path):
    batches, cache = _batches(corpus_path)
    small = np.flatnonzero(batches.split.set_ids == SMALL_SET)
    assert len(small) > 0
    assert batches.short_lists >= len(small)
    inputs, targets = batches[0]
    mask = targets["candidate_mask"]
    assert mask.shape == (len(targets["label"]), 10)
    padded = ~mask
    assert (inputs["stickers"][padded] == 0).all()
    assert (targets["emoji"][padded] == -1).all()
    assert mask[np.arange(len(mask)), targets["label"]].all()


def test_unknown_protocol_is_refused(corpus_path):
    with pytest.raises(ValueError, match="unknown candidate protocol"):
        _batches(corpus_path, protocol="all")


def _weights(model):
    return [np.array(v.numpy()) for v in model.weights]


def test_first_stage_updates_only_the_sticker_encoder(corpus_path, tmp_path):
    trainer = Trainer(CONFIG, corpus_path, tmp_path, "stage", verbose=False)
    encoder = {id(v) for v in trainer.model.sticker_encoder.trainable_variables}
    before = {id(v): np.array(v.numpy()) for v in trainer.model.trainable_variables}
    inputs, targets = trainer.train_batches[0]
    assert trainer.stage(0) == "emoji"
    trainer.train_step(inputs, targets, 0)
    for v in trainer.model.trainable_variables:
        changed = not np.array_equal(before[id(v)], v.numpy())
        if id(v) in encoder:
            continue
        assert not changed, f"{v.path} changed in the emoji stage"
    assert any(not np.array_equal(before[id(v)], v.numpy())
               for v in trainer.model.sticker_encoder.trainable_variables)
    assert trainer.stage(CONFIG.emoji_steps) == "joint"
    trainer.train_step(inputs, targets, CONFIG.emoji_steps)
    utterance = trainer.model.utterance_encoder.trainable_variables
    assert any(not np.array_equal(before[id(v)], v.numpy()) for v in utterance)


def test_the_joint_stage_starts_with_a_fresh_adam(corpus_path, tmp_path):
    """Adam's first step moves every weight by the learning rate (m̂ = g, v̂ = g²), also
    after an emoji stage: the joint stage does not inherit the first stage's step count."""
    trainer = Trainer(CONFIG, corpus_path, tmp_path, "fresh", verbose=False)
    inputs, targets = trainer.train_batches[0]
    for step in range(CONFIG.emoji_steps):
        trainer.train_step(inputs, targets, step)
    assert int(trainer.optimizers["emoji"].iterations.numpy()) == CONFIG.emoji_steps
    assert int(trainer.optimizers["joint"].iterations.numpy()) == 0
    words = trainer.model.utterance_encoder.trainable_variables
    before = [np.array(v.numpy()) for v in words]
    trainer.train_step(inputs, targets, CONFIG.emoji_steps)
    moved = np.concatenate([np.abs(v.numpy() - b).ravel() for v, b in zip(words, before)])
    np.testing.assert_allclose(moved.max(), CONFIG.learning_rate, rtol=1e-3)


@pytest.mark.parametrize("scale", [0.0, 0.1])
def test_the_backbone_learning_rate_scale_is_applied_in_the_joint_stage(corpus_path, tmp_path, scale):
    """On the first joint step Adam moves each weight by its learning rate: the backbone's
    by ``backbone_lr_scale`` × that of the others, and not at all at 0."""
    config = CONFIG.replace(backbone_lr_scale=scale)
    trainer = Trainer(config, corpus_path, tmp_path, f"scale{scale}", verbose=False)
    inputs, targets = trainer.train_batches[0]
    for step in range(config.emoji_steps):
        trainer.train_step(inputs, targets, step)
    backbone = trainer.model.sticker_encoder.backbone_model.trainable_variables
    words = trainer.model.utterance_encoder.trainable_variables
    before = {id(v): np.array(v.numpy()) for v in backbone + words}
    trainer.train_step(inputs, targets, config.emoji_steps)

    def moved(variables):
        return max(np.abs(v.numpy() - before[id(v)]).max() for v in variables)

    np.testing.assert_allclose(moved(words), config.learning_rate, rtol=1e-3)
    np.testing.assert_allclose(moved(backbone), scale * config.learning_rate, rtol=1e-3, atol=0)
    assert ("joint_backbone" in trainer.optimizers) == (scale > 0)
    trainer.save_checkpoint()
    again = Trainer(config, corpus_path, tmp_path, f"scale{scale}", verbose=False)
    assert again.restore()
    assert int(again.optimizers["joint"].iterations.numpy()) == 1


def test_the_joint_learning_rate_scale_leaves_the_emoji_stage_alone(corpus_path, tmp_path):
    """``joint_lr_scale``: the first emoji step moves the encoder by the learning rate, the
    first joint step every weight by that fraction of it (the backbone's scale on top)."""
    config = CONFIG.replace(joint_lr_scale=0.3, backbone_lr_scale=0.5)
    first, joint = _first_moves(Trainer(config, corpus_path, tmp_path, "joint_scale", verbose=False))
    # the emoji stage's first step: its own rate, the text side still
    np.testing.assert_allclose(first["backbone"], config.learning_rate, rtol=1e-3)
    assert first["words"] == 0
    np.testing.assert_allclose(joint["words"], 0.3 * config.learning_rate, rtol=1e-3)
    np.testing.assert_allclose(joint["backbone"], 0.15 * config.learning_rate, rtol=1e-3)


def _first_moves(trainer) -> tuple[dict, dict]:
    """The largest change of a backbone weight and of an utterance-encoder weight made by
    the first step of the emoji stage and by the first joint step (Adam's first step
    moves a weight by its learning rate)."""
    inputs, targets = trainer.train_batches[0]
    parts = {"backbone": trainer.model.sticker_encoder.backbone_model.trainable_variables,
             "words": trainer.model.utterance_encoder.trainable_variables}
    moves = []
    for step in range(trainer.config.emoji_steps + 1):
        before = {name: [np.array(v.numpy()) for v in variables] for name, variables in parts.items()}
        trainer.train_step(inputs, targets, step)
        moves.append({name: max(np.abs(v.numpy() - old).max() for v, old in zip(variables, before[name]))
                      for name, variables in parts.items()})
    return moves[0], moves[-1]


def test_the_joint_warm_up_ramps_the_joint_stage_only(corpus_path, tmp_path):
    """``joint_warmup_steps``: the schedule is the decay times (step + 1) / N for the first
    N steps of the joint optimizers and the decay itself after; the first joint step moves
    the text side by 1/N of the rate, while the emoji stage keeps its own."""
    import keras

    from srs_lib.training.config import ConfigError
    from srs_lib.training.trainer import LinearWarmup

    base = keras.optimizers.schedules.PolynomialDecay(1e-3, 100, 1e-4)
    ramp = LinearWarmup(base, 4)
    for step, factor in ((0, 0.25), (2, 0.75), (3, 1.0), (50, 1.0)):
        assert float(ramp(step)) == pytest.approx(factor * float(base(step)), rel=1e-6)
    again = LinearWarmup.from_config(ramp.get_config())
    assert again.steps == 4 and float(again(1)) == pytest.approx(float(ramp(1)), rel=1e-6)

    config = CONFIG.replace(joint_warmup_steps=4)
    trainer = Trainer(config, corpus_path, tmp_path, "warmup", verbose=False)
    assert {n: isinstance(o._learning_rate, LinearWarmup) for n, o in trainer.optimizers.items()} == {
        n: n.startswith("joint") for n in trainer.optimizers}
    first, joint = _first_moves(trainer)
    np.testing.assert_allclose(first["backbone"], config.learning_rate, rtol=1e-3)
    np.testing.assert_allclose(joint["words"], config.learning_rate / 4, rtol=1e-3)
    with pytest.raises(ConfigError, match="joint_warmup_steps"):
        CONFIG.replace(joint_warmup_steps=-1)


def test_the_hinge_reduction_reaches_the_loss(corpus_path, tmp_path):
    """The mean over the (real) negatives is the sum divided by their number."""
    losses = {}
    for reduction in ("sum", "mean"):
        config = CONFIG.replace(hinge_reduction=reduction, emoji_steps=0)
        trainer = Trainer(config, corpus_path, tmp_path, reduction, verbose=False)
        inputs, targets = trainer.train_batches[0]
        losses[reduction] = trainer._losses(trainer_module._to_tensors(inputs), targets, "joint",
                                            training=False)[1]["hinge"]
    negatives = targets["candidate_mask"].sum(axis=1) - 1
    assert (negatives == negatives[0]).all()  # a batch of full candidate lists
    np.testing.assert_allclose(float(losses["mean"].detach()), float(losses["sum"].detach()) / negatives[0],
                               rtol=1e-5)


def test_a_shared_adam_carries_the_emoji_stage_step_count(corpus_path, tmp_path):
    """With ``shared_adam`` (kept to measure it) the joint stage's first update of a weight
    outside the sticker encoder is lr·(1-β1)/(1-β1^t)·√(1-β2^t)/√(1-β2), t = emoji_steps + 1:
    the bias correction of a step count that its zero moments never saw."""
    config = CONFIG.replace(shared_adam=True)
    trainer = Trainer(config, corpus_path, tmp_path, "shared", verbose=False)
    assert trainer.optimizers["emoji"] is trainer.optimizers["joint"]
    inputs, targets = trainer.train_batches[0]
    for step in range(config.emoji_steps):
        trainer.train_step(inputs, targets, step)
    words = trainer.model.utterance_encoder.trainable_variables
    before = [np.array(v.numpy()) for v in words]
    rate = float(trainer.optimizers["joint"].learning_rate.numpy())  # decayed for 3 steps
    trainer.train_step(inputs, targets, config.emoji_steps)
    moved = np.concatenate([np.abs(v.numpy() - b).ravel() for v, b in zip(words, before)])
    t, b1, b2 = config.emoji_steps + 1, 0.9, 0.999
    factor = (1 - b1) / (1 - b1 ** t) * np.sqrt(1 - b2 ** t) / np.sqrt(1 - b2)
    np.testing.assert_allclose(moved.max(), rate * factor, rtol=1e-3)
    trainer.save_checkpoint()  # the shared optimizer is saved once, and restored
    again = Trainer(config, corpus_path, tmp_path, "shared", verbose=False)
    assert again.restore() and int(again.optimizers["emoji"].iterations.numpy()) == t


def test_without_classify_there_is_no_emoji_stage(corpus_path, tmp_path):
    trainer = Trainer(CONFIG.replace(classify=False), corpus_path, tmp_path, "noclass", verbose=False)
    assert trainer.stage(0) == "joint"
    inputs, targets = trainer.train_batches[0]
    assert set(trainer.train_step(inputs, targets, 0)) == {"loss", "hinge"}


def test_resume_after_a_kill_matches_an_uninterrupted_run(corpus_path, tmp_path, monkeypatch):
    straight = Trainer(CONFIG, corpus_path, tmp_path, "straight", verbose=False)
    straight.fit()
    expected = _weights(straight.model)

    killed = Trainer(CONFIG, corpus_path, tmp_path, "killed", verbose=False)
    original = Trainer.train_step

    def dies_at_step_6(self, inputs, targets, step, *weight):
        if step == 6:
            raise KeyboardInterrupt("simulated kill")
        return original(self, inputs, targets, step, *weight)

    monkeypatch.setattr(Trainer, "train_step", dies_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        killed.fit()
    monkeypatch.setattr(Trainer, "train_step", original)
    assert json.loads((tmp_path / "killed/train/checkpoint").read_text())["latest"] == "ckpt-4"
    resumed = Trainer(CONFIG, corpus_path, tmp_path, "killed", verbose=False)
    report = resumed.fit()
    assert report["steps"] == CONFIG.steps
    for a, b in zip(expected, _weights(resumed.model)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    metric_lines = (tmp_path / "killed/metric.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in metric_lines] == ["step=4", "step=8"]


def test_refuses_to_overwrite_without_resume(corpus_path, tmp_path):
    Trainer(CONFIG.replace(steps=4), corpus_path, tmp_path, "once", verbose=False).fit()
    with pytest.raises(FileExistsError, match="already holds a run"):
        Trainer(CONFIG.replace(steps=4), corpus_path, tmp_path, "once", verbose=False).fit(resume=False)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(corpus_path, tmp_path, monkeypatch):
    trainer = Trainer(CONFIG, corpus_path, tmp_path, "nan", verbose=False)
    original = trainer_module.Trainer._losses

    def nan_after_step_5(self, inputs, targets, stage, training):
        loss, parts = original(self, inputs, targets, stage, training)
        return (loss * float("nan"), parts) if self.step >= 5 else (loss, parts)

    monkeypatch.setattr(trainer_module.Trainer, "_losses", nan_after_step_5)
    with pytest.raises(TrainingDiverged, match=r"became nan at step 5.*ckpt-4"):
        trainer.fit()
    latest = json.loads((tmp_path / "nan/train/checkpoint").read_text())["latest"]
    assert latest == "ckpt-4" and (tmp_path / "nan/train/ckpt-4/model.weights.h5").exists()


def test_metric_file_and_reports(corpus_path, tmp_path):
    report = Trainer(CONFIG, corpus_path, tmp_path, "files", verbose=False).fit()
    lines = (tmp_path / "files/metric.txt").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        fields = dict(item.split("=", 1) for item in line.split("\t"))
        assert set(fields) == {"step", "split", "contexts", "MAP", "MRR", "R10@1", "R10@2",
                               "R10@5", "R2@1", "P@1"}
        assert fields["split"] == "release_val.json"
        assert 0.0 <= float(fields["MAP"]) <= 1.0
    saved = json.loads((tmp_path / "files/metrics.json").read_text())
    assert saved["test"] == pytest.approx(report["test"])
    scores = np.load(tmp_path / "files/test_scores.npz", allow_pickle=False)
    assert scores["scores"].shape == (report["test_contexts"], 10)
    assert scores["lines"].dtype == np.int64


def test_command_line_train_then_evaluate(corpus_path, tmp_path, capsys):
    status = cli.main(["train", "--profile", "ci", "--exp_name", "cli", "--log_root", str(tmp_path),
                       "--base_path", str(corpus_path), "--steps", "4", "--auto_test_step", "2",
                       "--emoji_steps", "1", "--hidden", "8", "--ablation", "din", "--device", "cpu"])
    assert status == 0
    assert "test: MAP" in capsys.readouterr().out
    config = json.loads((tmp_path / "cli/config.json").read_text())
    assert config["model_options"] == {"use_din": False} and config["steps"] == 4
    status = cli.main(["evaluate", "--checkpoint", str(tmp_path / "cli/train/best.keras"),
                       "--base_path", str(corpus_path), "--json", "--out", str(tmp_path / "s.npz")])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "cli/metrics.json").read_text())
    assert result["metrics"]["MAP"] == pytest.approx(saved["test"]["MAP"])
    assert result["contexts"] == saved["test_contexts"]
