"""PSAC's structural checks (srs_lib.analysis.psac_checks): the decomposition they read is
the model's own forward pass, and each measurement says what it claims."""
from __future__ import annotations

import numpy as np
import pytest

import srs_lib  # noqa: F401  (selects the torch backend before keras is imported)
import keras
from ranker_checks import SMALL, make_inputs, scores_of

from srs_lib.analysis.psac_checks import TERMS, _forward, psac_checks
from srs_lib.models.psac import PSAC
from srs_lib.training.scoring import _to_tensors


def _model(**options):
    keras.utils.set_random_seed(0)
    model = PSAC(**SMALL, **options)
    model(make_inputs(batch=3), training=False)
    return model


class _Batches(list):
    """Two batches of three contexts with four candidates, the last one a padding slot."""

    def __init__(self):
        super().__init__()
        for seed in (0, 1):
            mask = np.ones((3, 4), bool)
            mask[:, -1] = False
            self.append((make_inputs(seed=seed, batch=3, candidates=4),
                         {"label": np.zeros(3, "int32"), "candidate_mask": mask}))


def test_the_four_terms_and_the_classifier_are_the_models_forward_pass():
    model = _model()
    inputs = make_inputs(batch=3, candidates=4)
    out = _forward(model, _to_tensors(inputs))
    np.testing.assert_allclose(out["scores"], scores_of(model, inputs), rtol=1e-4, atol=1e-5)
    assert [t.shape for t in out["terms"]] == [(3, 4, SMALL["hidden"])] * len(TERMS)
    # V' depends on the sticker alone: another context leaves it exactly as it was.
    np.testing.assert_array_equal(out["terms"][0], out["other_terms"][0])
    assert not np.allclose(out["terms"][1], out["other_terms"][1])
    # S2 is a softmax over the frames (the p² map units).
    frames = model.sticker_encoder.grid_size ** 2
    assert out["s2"].shape[2] == frames
    np.testing.assert_allclose(out["s2"].sum(axis=2), 1.0, rtol=1e-5)


def test_the_record_counts_real_candidates_and_measures_the_word_scale():
    checks = psac_checks(_model(), _Batches())
    assert checks["contexts"] == 6 and checks["pairs"] == 6 * 3
    assert checks["frames"] == _model().sticker_encoder.grid_size ** 2
    assert checks["frame_attention"]["uniform"] == pytest.approx(1 / checks["frames"])
    assert checks["frame_attention"]["uniform"] <= checks["frame_attention"]["mean_max"] <= 1
    terms = {t["term"]: t for t in checks["terms"]}
    assert terms["V'"]["dialog_moves"] == 0.0
    assert checks["largest_term"] in TERMS and 0 < checks["largest_term_share"] <= 1
    assert checks["timing_rms"] == pytest.approx(np.sqrt(0.5), rel=0.05)
    # Keras' default word table starts far below the timing signal; word_std=1 near it.
    default = psac_checks(_model(word_std=None), _Batches())["word_rms"]
    assert default < 0.1 * checks["timing_rms"] < checks["word_rms"]


def test_only_a_psac_is_checked():
    from srs_lib.models.srs import SRS

    keras.utils.set_random_seed(0)
    with pytest.raises(ValueError, match="not PSAC"):
        psac_checks(SRS(**SMALL), _Batches())
