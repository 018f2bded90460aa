"""Evaluation encodes each distinct sticker of a pass once: the same scores as encoding
every candidate where it appears, for SRS and every baseline, with fewer encoder calls."""
from __future__ import annotations

import numpy as np
import pytest

from srs_lib.layers.masking import MASK_VALUE
from srs_lib.layers.sticker_encoder import StickerEncoder
from srs_lib.training.config import profile_config
from srs_lib.training.scoring import StickerCodes, score_batches
from srs_lib.training.trainer import Trainer

CONFIG = profile_config("ci", steps=2, emoji_steps=1, batch_size=8, hidden=8)
#: float32 on a CPU: the encoder sees the same images in other batch compositions.
TOLERANCE = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture
def corpus_path(make_corpus):
    return make_corpus(extra_samples=30)


def _trainer(corpus_path, tmp_path, **changes):
    return Trainer(CONFIG.replace(**changes), corpus_path, tmp_path, "run", verbose=False)


@pytest.fixture
def encoded(monkeypatch):
    """Stickers passed through the sticker encoder, counted per call."""
    sizes = []
    original = StickerEncoder.call

    def counting(self, inputs, training=None):
        sizes.append(int(np.prod(inputs.shape[:-3])))
        return original(self, inputs, training=training)

    monkeypatch.setattr(StickerEncoder, "call", counting)
    return sizes


@pytest.mark.parametrize("model, options", [
    ("srs", {}),
    ("srs", {"sticker_code": "features"}),  # O a 4×4 grid, gathered whole
    ("synergistic", {}),  # re-ranks the candidates among themselves
    ("smn", {}), ("dam", {}), ("mrfn", {}), ("psac", {}), ("context_blind", {}),
])
def test_scores_equal_those_of_encoding_every_candidate(corpus_path, tmp_path, model, options):
    trainer = _trainer(corpus_path, tmp_path, model=model, **options)
    trainer.train_step(*trainer.train_batches[0], 1)  # a joint step: weights off their start
    batches = trainer.eval_batches
    before = score_batches(trainer.model, batches, encode_once=False)
    after = score_batches(trainer.model, batches)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_array_equal(before[2], after[2])
    padding = before[0] == MASK_VALUE
    assert padding.any(), "the tiny corpus has short candidate lists: padding is exercised"
    np.testing.assert_array_equal(padding, after[0] == MASK_VALUE)
    real = before[0][~padding]
    assert np.ptp(real) > 1e-4, "scores that do not vary would make the comparison empty"
    np.testing.assert_allclose(after[0], before[0], **TOLERANCE)


def test_each_distinct_sticker_is_encoded_once(corpus_path, tmp_path, encoded):
    trainer = _trainer(corpus_path, tmp_path)
    batches = trainer.eval_batches
    rows = np.concatenate([batches.plan(b)[1].reshape(-1) for b in range(len(batches))])
    distinct = len(np.unique(rows[rows >= 0]))
    assert distinct < (rows >= 0).sum(), "candidates repeat across the split"

    encoded.clear()
    score_batches(trainer.model, batches, encode_once=False)
    assert sum(encoded) == rows.size  # every slot, padding included, batch by batch

    encoded.clear()
    score_batches(trainer.model, batches)
    assert sum(encoded) == distinct + 1  # each distinct sticker, and the padding image once

    encoded.clear()
    trainer.model.encodes_stickers_apart = False  # a model that cannot: the images, as before
    score_batches(trainer.model, batches)
    assert sum(encoded) == rows.size


def test_a_limited_pass_encodes_only_its_own_stickers(corpus_path, tmp_path, encoded):
    trainer = _trainer(corpus_path, tmp_path)
    batches = trainer.eval_batches
    first = batches.plan(0)[1]
    encoded.clear()
    scores, labels, index = score_batches(trainer.model, batches, limit=5, chunk=4)
    assert scores.shape == (5, CONFIG.n_candidates) and list(index) == [0, 1, 2, 3, 4]
    assert sum(encoded) == len(np.unique(first[first >= 0])) + 1
    assert max(encoded) <= 4  # in chunks of `chunk` stickers
    before = score_batches(trainer.model, batches, limit=5, encode_once=False)
    np.testing.assert_allclose(scores, before[0], **TOLERANCE)


def test_codes_refuse_a_sticker_the_pass_did_not_encode(corpus_path, tmp_path):
    trainer = _trainer(corpus_path, tmp_path)
    codes = StickerCodes(trainer.model, trainer.cache.images, np.array([3, 1, 3]), chunk=8)
    assert list(codes.rows) == [1, 3]
    assert list(codes.positions(np.array([[3, -1, 1]]))[0]) == [1, 2, 0]
    with pytest.raises(KeyError, match="did not encode"):
        codes.take(np.array([[2]]))


def test_an_unbuilt_model_is_built_on_the_images_first(corpus_path, tmp_path):
    from srs_lib.models.registry import build_model

    trainer = _trainer(corpus_path, tmp_path)
    fresh = build_model(CONFIG, vocab_size=len(trainer.corpus.vocab),
                        n_emoji=len(trainer.corpus.emoji_vocab))
    assert not fresh.built
    after = score_batches(fresh, trainer.eval_batches)  # the encodings alone give no shapes
    assert fresh.built
    before = score_batches(fresh, trainer.eval_batches, encode_once=False)
    np.testing.assert_allclose(after[0], before[0], **TOLERANCE)
