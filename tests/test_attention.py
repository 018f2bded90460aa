"""Where SRS looks (Figures 8 and 9): the share of τ^s on a sticker's parts against their area."""
from __future__ import annotations

import json

import numpy as np
import pytest

from srs_lib.analysis import attention


def test_cell_coverage_and_box_share_by_hand():
    # a 2×2 grid over 128 px: cells of 64×64; the box covers the top-left cell and half of
    # the top-right one
    coverage = attention.cell_coverage([0, 0, 96, 64], grid=2)
    np.testing.assert_allclose(coverage, [[1.0, 0.5], [0.0, 0.0]])
    assert attention.box_share([0, 0, 96, 64]) == pytest.approx(96 * 64 / 128**2)
    assert attention.box_share([-10, 120, 20, 200]) == pytest.approx(20 * 8 / 128**2)  # clipped
    uniform = np.full((2, 2), 0.25)
    # uniform attention puts on a box exactly the box's share of the area
    assert attention.attention_on(uniform, [0, 0, 96, 64]) == pytest.approx(
        attention.box_share([0, 0, 96, 64]))
    focused = np.array([[1.0, 0.0], [0.0, 0.0]])
    assert attention.attention_on(focused, [0, 0, 96, 64]) == 1.0
    assert attention.attention_on(focused, [64, 64, 128, 128]) == 0.0


def test_sticker_parts_are_read_with_exact_ids(tmp_path):
    big = 2**60 + 7
    (tmp_path / "synth_info.json").write_text(json.dumps({"sets": [{"set_id": big, "stickers": [
        {"sticker_id": big + 1, "parts": [{"kind": "accent", "emoji": "❓", "region": "top",
                                           "box": [1, 2, 30, 40]}]}]}]}))
    assert attention.sticker_parts(tmp_path) == {
        (big, big + 1): [{"kind": "accent", "emoji": "❓", "box": (1, 2, 30, 40)}]}
    assert attention.sticker_parts(tmp_path / "nothing") == {}


def test_lift_is_attention_over_area():
    part = attention.PartAttention("accent", contexts=3, attention=0.3, area=0.1, above_area=1.0)
    assert part.lift == pytest.approx(3.0)


def test_attention_on_parts_of_a_real_model(clean_corpus):
    """On a corpus whose stickers carry parts, every ground truth contributes its parts once,
    and an untrained model's τ^s sums to one over each sticker."""
    import srs_lib  # noqa: F401
    from srs_lib.models.registry import build_model
    from srs_lib.synth import generate_corpus
    from srs_lib.training.config import profile_config
    from srs_lib.training.pipeline import evaluation_batches

    corpus = clean_corpus.parent / "tiny"
    generate_corpus(str(corpus), "tiny", seed=0, progress=False)
    config = profile_config("ci", sticker_code="features", pretrained=False)
    data, batches = evaluation_batches(corpus, config, "test")
    model = build_model(config, vocab_size=len(data.vocab), n_emoji=len(data.emoji_vocab))
    parts = attention.sticker_parts(corpus)
    found = {p.kind: p for p in attention.attention_on_parts(model, batches, parts, limit=20)}
    assert found["expression"].contexts == 20  # every sticker has an expression
    for part in found.values():
        assert 0 < part.area < 1 and 0 <= part.attention <= 1 and 0 <= part.above_area <= 1


def test_the_attention_command_records_a_trained_srs_and_refuses_what_it_cannot_read(
        clean_corpus, tmp_path, capsys):
    """`attention --checkpoint` on a generated corpus: one row per kind of part, the
    record's sticker side that of the model (the ci profile's 4×4 map), the limit kept;
    a corpus without parts and a model without the deep interaction are refused, naming
    why."""
    import srs_lib  # noqa: F401
    from srs_lib.cli import main
    from srs_lib.synth import generate_corpus
    from srs_lib.training.config import profile_config
    from srs_lib.training.trainer import train

    corpus = tmp_path / "tiny"
    generate_corpus(str(corpus), "tiny", seed=0, progress=False)
    for name, options in (("srs", {}), ("srs_wo_din", {"model_options": {"use_din": False}})):
        train(profile_config("ci", steps=3, emoji_steps=1, auto_test_step=3, **options),
              corpus, tmp_path / "runs", name, verbose=False)
    checkpoint = tmp_path / "runs" / "srs" / "train" / "best.keras"
    out = tmp_path / "attention.json"
    assert main(["attention", "--checkpoint", str(checkpoint), "--base_path", str(corpus),
                 "--limit", "12", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert (record["sticker_code"], record["grid"], record["contexts"]) == ("features", 4, 12)
    kinds = {row["kind"]: row for row in record["parts"]}
    assert kinds["expression"]["contexts"] == 12  # every sticker has an expression
    for row in kinds.values():
        assert row["lift"] == pytest.approx(row["attention"] / row["area"])
    assert "share of τ^s on it" in capsys.readouterr().out
    assert main(["attention", "--checkpoint", str(checkpoint), "--base_path", str(clean_corpus)]) == 1
    assert "no synth_info.json" in capsys.readouterr().err
    pooled = tmp_path / "runs" / "srs_wo_din" / "train" / "best.keras"
    assert main(["attention", "--checkpoint", str(pooled), "--base_path", str(corpus)]) == 1
    assert "without its deep interaction network" in capsys.readouterr().err
