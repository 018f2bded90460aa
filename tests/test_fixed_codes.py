"""diagnose --fixed_codes: the derived codes, their label shares and the record."""
from __future__ import annotations

import json

import numpy as np
import pytest

from srs_lib.analysis import fixed_codes
from srs_lib.cli import main


def test_label_share_by_hand():
    # two labels, means -1 and +1 on one unit, each point ±0.5 around its mean
    x = np.array([[-1.5], [-0.5], [0.5], [1.5]])
    labels = np.array(["a", "a", "b", "b"])
    # total variance (sum of squares about the mean): 2.25+0.25+0.25+2.25 = 5; between: 4·1 = 4
    assert fixed_codes.label_share(x, labels) == pytest.approx(0.8)
    np.testing.assert_allclose(fixed_codes.label_means(x, labels), [[-1], [-1], [1], [1]])
    assert fixed_codes.label_share(np.ones((4, 3)), labels) == 0.0  # no variance at all


def _library(n=120, k=16, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.array([f"e{i % 6}" for i in range(n)])
    _, inverse = np.unique(labels, return_inverse=True)
    features = rng.normal(size=(6, k))[inverse] * 0.7 + rng.normal(size=(n, k)) + 3.0
    return {"features": features, "emoji_code": rng.normal(size=(n, k)), "labels": labels}


def test_every_code_is_one_rms_normalised_row_per_sticker():
    library = _library()
    for name in fixed_codes.CODES:
        code = fixed_codes.derive_code(name, library)
        assert code.shape == (120, 16) and code.dtype == np.float32
        np.testing.assert_allclose(np.sqrt((code.astype(np.float64) ** 2).mean(axis=1)), 1.0,
                                   rtol=1e-5)
    with pytest.raises(ValueError, match="unknown fixed code"):
        fixed_codes.derive_code("pixels", library)


def test_the_codes_are_what_their_names_say():
    library = _library()
    labels = library["labels"]
    features = fixed_codes.rms_normalised(library["features"])
    np.testing.assert_allclose(fixed_codes.derive_code("features", library), features, rtol=1e-5)
    # label means and label codes do not vary within a label
    for name in ("label_means", "label_means_centred", "label_codes"):
        code = fixed_codes.derive_code(name, library)
        assert fixed_codes.label_share(code, labels) == pytest.approx(1.0), name
    # centring removes the common offset (+3 on every unit) that the plain means keep
    plain = fixed_codes.derive_code("label_means", library).mean(axis=0)
    centred = fixed_codes.derive_code("label_means_centred", library).mean(axis=0)
    assert np.abs(centred).max() < 0.2 < np.abs(plain).min()
    # the noisy label codes: the label explains the features' share of their variance
    noisy = fixed_codes.derive_code("label_codes_noisy", library)
    target = fixed_codes.label_share(library["features"], labels)
    assert target < 0.9
    assert fixed_codes.label_share(noisy, labels) == pytest.approx(target, abs=0.01)


def test_candidate_share_by_hand():
    x = np.zeros((2, 3, 1))
    x[0, :, 0], x[1, :, 0] = [1, 2, 3], [11, 12, 13]
    # around the mean 7 the squares sum to 154; around each context's mean, to 2 + 2
    assert fixed_codes.candidate_share(x) == pytest.approx(4 / 154)
    assert fixed_codes.candidate_share(x[:, :, None, :].repeat(2, axis=2)) == pytest.approx(4 / 154)
    mask = np.array([[True, True, False], [True, True, False]])  # 1, 2, 11, 12: 101 and 1
    assert fixed_codes.candidate_share(x, mask) == pytest.approx(1 / 101)
    assert fixed_codes.candidate_share(np.ones((2, 3, 4))) == 0.0


def test_fixed_codes_are_recorded_and_resume(make_corpus, tmp_path, capsys):
    corpus = make_corpus(extra_samples=30)
    out = tmp_path / "ci.json"
    argv = ["diagnose", "--base_path", str(corpus), "--profile", "ci", "--json", str(out),
            "--joint_steps", "3", "--eval_limit", "8"]
    assert main([*argv, "--fixed_codes", "label_codes", "features", "features_without_fr"]) == 0
    record = json.loads(out.read_text())
    rows = record["fixed_codes"]["rows"]
    # not the default 600 steps: keyed NAME@STEPS
    assert set(rows) == {"label_codes@3", "features@3", "features_without_fr@3"}
    assert rows["features_without_fr@3"]["model_options"] == {"use_fusion_rnn": False}
    assert rows["features_without_fr@3"]["code"] == "features"
    # the same code, so the same share; another model, so other scores
    assert rows["features_without_fr@3"]["label_share"] == rows["features@3"]["label_share"]
    assert rows["features_without_fr@3"]["curve"] != rows["features@3"]["curve"]
    assert record["fixed_codes"]["corpus"] == record["corpus"]
    for key, row in rows.items():
        assert row["steps"] == 3 and row["curve"][-1]["step"] == 3
        assert row["curve"][0]["step"] == 0  # the stages at initialisation, then at each evaluation
        stages = row["curve"][0]["stages"]
        fusion_rnn = {"g", "g_bar"} if key != "features_without_fr@3" else set()
        assert set(stages) == {"Q2", "g_hat", "g_tilde", "score"} | fusion_rnn
        for stage in stages.values():
            assert 0.0 <= stage["candidate_share"] <= 1.0 and stage["rms"] >= 0.0
        assert 0.0 <= row["validation"]["R10@1"] <= 1.0 and row["validation"]["contexts"] == 8
        assert row["corpus"] == record["corpus"] and "commit" in row
    assert rows["label_codes@3"]["label_share"] == pytest.approx(1.0)
    capsys.readouterr()
    assert main([*argv, "--fixed_codes", "label_codes"]) == 0  # done: nothing trained
    assert "[fixed codes" not in capsys.readouterr().out
    assert json.loads(out.read_text())["fixed_codes"]["rows"] == rows
    longer = [a if a != "3" else "4" for a in argv]
    assert main([*longer, "--fixed_codes", "label_codes"]) == 0  # another length: a new row
    rows = json.loads(out.read_text())["fixed_codes"]["rows"]
    assert set(rows) == {"label_codes@3", "label_codes@4", "features@3", "features_without_fr@3"}
    frame = fixed_codes.fixed_codes_frame({"fixed_codes": {"rows": rows}})
    # FIXED_CODES order, then by steps
    assert list(frame.index) == ["features@3", "label_codes@3", "label_codes@4",
                                 "features_without_fr@3"]
    assert list(frame["joint steps"]) == [3, 3, 4, 3]
    assert fixed_codes.parse_key("features") == ("features", 600)
    assert fixed_codes.parse_key(fixed_codes.row_key("features", 2500)) == ("features", 2500)
    shares = fixed_codes.stage_share_frame({"fixed_codes": {"rows": rows}})
    assert list(shares.index) == [0, 3, 4] and set(shares.columns) == set(rows)  # label_codes@4
    assert shares.loc[3, "features@3"] == rows["features@3"]["curve"][-1]["stages"][
        "g_tilde"]["candidate_share"]
    g = fixed_codes.stage_share_frame({"fixed_codes": {"rows": rows}}, "g")
    assert g["features_without_fr@3"].isna().all() and g["features@3"][[0, 3]].notna().all()  # no FR, no g
    with pytest.raises(SystemExit, match="unknown fixed codes"):
        main([*argv, "--fixed_codes", "pixels"])
    with pytest.raises(SystemExit, match="give --json"):
        main(["diagnose", "--base_path", str(corpus), "--fixed_codes"])


def test_a_code_of_the_wrong_length_is_refused(make_corpus):
    corpus = make_corpus()
    with pytest.raises(ValueError, match="rows, the sticker cache"):
        fixed_codes.train_on_code(np.zeros((3, 16), np.float32), corpus, "ci", steps=1)


def test_rows_that_change_the_profile(make_corpus, tmp_path, monkeypatch):
    """A row of PROFILE_CHANGES trains with its changes, and a changed emoji_steps makes
    its code from an emoji stage of that length (the other rows share the profile's)."""
    corpus = make_corpus(extra_samples=30)
    monkeypatch.setitem(fixed_codes.PROFILE_CHANGES, "features_emoji_1000", {"emoji_steps": 2})
    out = tmp_path / "ci.json"
    assert main(["diagnose", "--base_path", str(corpus), "--profile", "ci", "--json", str(out),
                 "--joint_steps", "2", "--eval_limit", "8", "--fixed_codes", "features",
                 "features_lr_3e-4", "features_emoji_1000"]) == 0
    rows = json.loads(out.read_text())["fixed_codes"]["rows"]
    plain, lr, short = rows["features@2"], rows["features_lr_3e-4@2"], rows["features_emoji_1000@2"]
    assert "profile_changes" not in plain
    assert lr["profile_changes"] == {"learning_rate": 3e-4, "end_learning_rate": 3e-5}
    assert lr["label_share"] == plain["label_share"]  # the same code, the same emoji stage
    assert lr["curve"][-1] != plain["curve"][-1]  # another learning rate, other scores
    assert plain["emoji_steps"] == 6 and lr["emoji_steps"] == 6  # the ci profile's
    assert short["emoji_steps"] == 2 and short["label_share"] != plain["label_share"]


def test_leaves_chance_is_the_first_evaluation_above_the_level():
    from srs_lib.analysis.fixed_codes import leaves_chance

    curve = [{"step": 0, "R10@1": 0.10}, {"step": 300, "R10@1": 0.15},
             {"step": 600, "R10@1": 0.21}, {"step": 900, "R10@1": 0.12}]
    assert leaves_chance(curve) == 600  # strictly above 0.15; a later dip does not matter
    assert leaves_chance(curve, level=0.05) == 0
    assert leaves_chance(curve, level=0.3) is None
    assert leaves_chance([]) is None
