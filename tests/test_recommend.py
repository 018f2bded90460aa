"""The two-stage recommender: the sticker index (rebuilt on change, never half-written,
exact search), ``recommend`` on the tiny corpus, its context report, the library metrics.

``recommend`` finding the ground truth first from its cue words is checked with a scoring
stand-in (the cue words of each sticker's parts, from the corpus's ``synth_info.json``), not
with trained models: the ``ci`` models train for seconds and stay near chance, and their
emoji code gives stickers of one emoji identical vectors, so no trained tiny model can put
one exact sticker first. The trained models are checked for the plumbing instead: SRS
re-ranking from the index's cached encodings gives the scores it gives from the images.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import srs_lib
from keras import ops

from srs_lib.analysis.reference import read_cue_table, read_parts_table
from srs_lib.data.corpus import Corpus
from srs_lib.recommend import index as index_module
from srs_lib.recommend.evaluation import library_metrics, ranks_of, summary
from srs_lib.recommend.index import StickerIndex, top_k
from srs_lib.recommend.recommender import KerasRanker, RecommendError, Recommender
from srs_lib.synth import generate_corpus
from srs_lib.training.config import data_config, profile_config
from srs_lib.training.trainer import train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate_corpus(str(out), "tiny", seed=0, progress=False)
    return out


@pytest.fixture(scope="module")
def models(tiny, tmp_path_factory):
    """An SRS and a dual encoder trained for a few steps of the ``ci`` profile."""
    root = tmp_path_factory.mktemp("runs")
    paths = {}
    for name in ("srs", "dual_encoder"):
        config = profile_config("ci", model=name, steps=4, emoji_steps=2, auto_test_step=4)
        train(config, tiny, root, name, verbose=False)
        paths[name] = root / name / "train" / "best.keras"
    return paths


def _load(path):
    import keras

    from srs_lib.models import registry  # noqa: F401

    return keras.saving.load_model(path, safe_mode=True)


# -- exact search -------------------------------------------------------------------------
def test_top_k_equals_a_full_sort_ties_by_position():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, size=(7, 40)).astype("float32")  # many ties
    for k in (1, 3, 10, 40, 50):
        found, values = top_k(scores, k)
        expected = np.stack([np.lexsort((np.arange(40), -row))[:k] for row in scores])
        np.testing.assert_array_equal(found, expected)
        np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


class _FixedSide:
    """A sticker side with given vectors (the index's contract, no model)."""

    array_names = ("vectors",)

    def __init__(self, vectors, name="fixed"):
        self.vectors, self.name = vectors, name

    def fingerprint(self):
        return self.name

    def library_arrays(self, cache, chunk=256):
        return {"vectors": self.vectors}


def test_search_equals_brute_force_over_the_library_and_a_subset(clean_corpus, tmp_path):
    cache = Corpus(clean_corpus).sticker_cache(progress=False)
    vectors = np.random.default_rng(1).normal(size=(len(cache), 6)).astype("float32")
    index = StickerIndex.open(_FixedSide(vectors), cache, tmp_path / "index")
    query = np.random.default_rng(2).normal(size=6).astype("float32")
    rows, scores = index.search(query, 5)
    brute = vectors @ query
    np.testing.assert_array_equal(rows, np.argsort(-brute, kind="stable")[:5])
    np.testing.assert_allclose(scores, np.sort(brute)[::-1][:5], rtol=1e-6)
    set_id = index.sets[0]
    members = index.set_rows(set_id)
    rows, _ = index.search(query, 3, members)
    np.testing.assert_array_equal(rows, members[np.argsort(-brute[members], kind="stable")[:3]])
    assert all(index.keys[r][0] == set_id for r in rows)
    with pytest.raises(LookupError, match="sticker set 12345 is not in the library"):
        index.set_rows(12345)


# -- rebuilt on change, never half-written ------------------------------------------------
def test_index_is_rebuilt_when_the_model_or_the_corpus_changes(clean_corpus, tmp_path):
    corpus = Corpus(clean_corpus)
    cache = corpus.sticker_cache(progress=False)
    vectors = np.ones((len(cache), 3), dtype="float32")
    folder = tmp_path / "index"
    assert StickerIndex.open(_FixedSide(vectors), cache, folder).built
    again = StickerIndex.open(_FixedSide(vectors), cache, folder)
    assert not again.built and isinstance(again.vectors, np.memmap)
    other = StickerIndex.open(_FixedSide(2 * vectors, "other weights"), cache, folder)
    assert other.built and float(other.vectors[0, 0]) == 2.0
    # a sticker file rewritten: the cache's fingerprint moves, so does the index's
    set_id, sticker_id = cache.keys[0]
    path = clean_corpus / "npy_stickers" / str(set_id) / f"{sticker_id}.npy"
    np.save(path, np.zeros((128, 128, 3), dtype=np.uint8))
    changed = corpus.sticker_cache(progress=False)
    assert changed.fingerprint != cache.fingerprint
    assert StickerIndex.open(_FixedSide(2 * vectors, "other weights"), changed, folder).built
    files = sorted(p.name for p in folder.iterdir() if p.suffix == ".npy")
    assert len(files) == 1  # the replaced arrays were removed


def test_a_real_model_change_rebuilds(tiny, models, tmp_path):
    cache = Corpus(tiny).sticker_cache(progress=False)
    model = _load(models["dual_encoder"])
    assert StickerIndex.open(model, cache, tmp_path / "i").built
    assert not StickerIndex.open(model, cache, tmp_path / "i").built
    model.sticker_projection.kernel.assign(2 * ops.convert_to_numpy(model.sticker_projection.kernel))
    assert StickerIndex.open(model, cache, tmp_path / "i").built


def test_a_crash_mid_write_leaves_the_previous_index_whole(clean_corpus, tmp_path, monkeypatch):
    cache = Corpus(clean_corpus).sticker_cache(progress=False)
    folder = tmp_path / "index"

    class TwoArrays(_FixedSide):
        array_names = ("vectors", "extra")

        def library_arrays(self, cache, chunk=256):
            return {"vectors": self.vectors, "extra": self.vectors + 1}

    old = np.zeros((len(cache), 2), dtype="float32")
    StickerIndex.open(TwoArrays(old, "old"), cache, folder)
    manifest = (folder / "manifest.json").read_text()
    real_write, calls = index_module._write_array, []

    def crash_on_the_second(directory, name, array):
        calls.append(name)
        if len(calls) == 2:  # the first new array is in place, the second half-written
            (directory / f".{name}-0badc0de.npy.tmp-{os.getpid()}").write_bytes(b"\x93NUMPY")
            raise OSError("killed")
        return real_write(directory, name, array)

    monkeypatch.setattr(index_module, "_write_array", crash_on_the_second)
    with pytest.raises(OSError, match="killed"):
        StickerIndex.open(TwoArrays(old + 5, "new"), cache, folder)
    monkeypatch.setattr(index_module, "_write_array", real_write)
    assert (folder / "manifest.json").read_text() == manifest
    reopened = StickerIndex.open(TwoArrays(old, "old"), cache, folder)
    assert not reopened.built
    np.testing.assert_array_equal(reopened.arrays["extra"], old + 1)
    rebuilt = StickerIndex.open(TwoArrays(old + 5, "new"), cache, folder)
    assert rebuilt.built and float(rebuilt.vectors[0, 0]) == 5.0
    left = sorted(p.name for p in folder.iterdir() if p.name not in (".lock", "manifest.json"))
    assert len(left) == 2 and all(not name.startswith(".") for name in left)


# -- recommend ----------------------------------------------------------------------------
class CueStandIn:
    """A scoring stand-in for both stages: a sticker's bag is the vocabulary ids of its
    parts' cue words; the retriever scores the cosine of the bags of the context and the
    sticker, the re-ranker their Jaccard similarity."""

    def __init__(self, base_path, retriever: bool):
        corpus = Corpus(base_path)
        self.vocab = corpus.vocab
        self.parts, self.cues = read_parts_table(str(base_path)), read_cue_table(str(base_path))
        self.data_config = data_config(profile_config("ci"))
        self.vocab_size = len(self.vocab)
        self.checkpoint = "cue stand-in"
        self.is_retriever = retriever
        self.array_names = ("vectors",) if retriever else ("bags",)

    def fingerprint(self):
        return f"cue stand-in {self.array_names}"

    def bag(self, key):
        words = set().union(*(self.cues.get(e, frozenset()) for _, e in self.parts[key]))
        return {self.vocab.id(w) for w in words if w in self.vocab}

    def library_arrays(self, cache, chunk=256):
        bags = np.zeros((len(cache), self.vocab_size), dtype="float32")
        for row, key in enumerate(cache.keys):
            bags[row, sorted(self.bag(key))] = 1.0
        if self.is_retriever:
            return {"vectors": bags / np.maximum(np.linalg.norm(bags, axis=1, keepdims=True), 1e-9)}
        return {"bags": bags}

    def _context_bags(self, ids):
        bags = np.zeros((len(ids), self.vocab_size), dtype="float32")
        for i, context in enumerate(ids):
            bags[i, np.unique(context[context > 3])] = 1.0
        return bags

    def context_vectors(self, ids):
        bags = self._context_bags(ids)
        return bags / np.maximum(np.linalg.norm(bags, axis=1, keepdims=True), 1e-9)

    def scores(self, ids, encoded):
        context = self._context_bags(ids)[:, None, :]
        bags = encoded["bags"]
        inter = (bags * context).sum(-1)
        return inter / np.maximum(((bags + context) > 0).sum(-1), 1)


def _cue_recommender(tiny, tmp_path):
    return Recommender.from_rankers(CueStandIn(tiny, False), CueStandIn(tiny, True), tiny,
                                    index_dir=tmp_path / "index")


def test_recommend_puts_the_ground_truth_first_from_its_cue_words(tiny, tmp_path):
    recommender = _cue_recommender(tiny, tmp_path)
    stand_in = recommender.reranker.ranker
    bags = {key: frozenset(stand_in.bag(key)) for key in recommender.index.keys}
    distinct = {key for key, bag in bags.items() if list(bags.values()).count(bag) == 1}
    samples = [json.loads(line) for line in (tiny / "release_test.json").read_text().splitlines()]
    tried = 0
    for sample in samples:
        current = sample["current"]
        key = (current["sticker_set_id"], current["sticker_id"])
        if key not in distinct:
            continue
        words = sorted(stand_in.vocab.token(i) for i in bags[key])
        typed = [" ".join(words[i:i + 6]) for i in range(0, len(words), 6)]  # ci: 12 words kept
        sample_dict = {"context": [{"text": t, "id": i} for i, t in enumerate(typed)],
                       "current": current}
        for context in (typed, sample_dict):
            top = recommender.recommend(context, k=3, n=20).stickers[0]
            assert (top["set_id"], top["sticker_id"]) == key
            assert top["score"] == pytest.approx(1.0)  # the Jaccard of equal bags
        in_set = recommender.recommend(typed, k=2, set_id=key[0]).stickers
        assert (in_set[0]["set_id"], in_set[0]["sticker_id"]) == key
        assert all(s["set_id"] == key[0] for s in in_set)
        tried += 1
    assert tried >= 20


def test_unknown_words_are_counted_not_dropped(tiny, tmp_path):
    recommender = _cue_recommender(tiny, tmp_path)
    known = recommender.reranker.vocab.token(10)
    answer = recommender.recommend([f"{known} qwertyuiop", "", "zxcvb qwertyuiop"], k=2)
    assert answer.context.unknown_words == ["qwertyuiop", "zxcvb", "qwertyuiop"]
    assert answer.context.to_dict()["unknown"] == 3
    assert answer.context.utterances == 2 and answer.context.words == 4
    long = recommender.recommend([" ".join([known] * 20)], k=1)
    assert long.context.words == 12 and long.context.truncated_words == 8  # ci: 12 words


def test_bad_requests_are_refused(tiny, tmp_path):
    recommender = _cue_recommender(tiny, tmp_path)
    with pytest.raises(RecommendError, match="no words"):
        recommender.recommend(["", "   "])
    with pytest.raises(LookupError, match="is not in the library"):
        recommender.recommend(["hi"], set_id=1)
    with pytest.raises(RecommendError, match="no model file"):
        Recommender(tmp_path / "missing.keras", base_path=tiny)


def test_srs_reranks_from_cached_encodings_as_from_the_images(tiny, models, tmp_path):
    recommender = Recommender(models["srs"], models["dual_encoder"], tiny, index_dir=tmp_path / "i")
    answer = recommender.recommend(["haha lol so funny", "great"], k=5, n=12)
    assert [s["rank"] for s in answer.stickers] == [1, 2, 3, 4, 5]
    scores = [s["score"] for s in answer.stickers]
    assert scores == sorted(scores, reverse=True)
    rows = np.array([s["row"] for s in answer.stickers])
    ids, _ = recommender.reranker.encode(["haha lol so funny", "great"])
    model = recommender.reranker.ranker.model
    images = np.asarray(recommender.cache.images[rows])[None]
    direct = ops.convert_to_numpy(model({"contexts": ids, "stickers": images}, training=False)["scores"])
    np.testing.assert_allclose(direct[0], scores, rtol=1e-4, atol=1e-5)
    # the retriever's scores are the index search's
    retrieved, cosines = recommender.retriever_index.search(
        recommender.context_vector(recommender.retriever.encode(["haha lol so funny", "great"])[0])[0], 12)
    by_row = dict(zip(retrieved.tolist(), cosines.tolist()))
    assert all(s["row"] in by_row and s["retrieval_score"] == pytest.approx(by_row[s["row"]])
               for s in answer.stickers)
    assert srs_lib.recommend(["haha"], checkpoint=models["srs"], base_path=tiny,
                             index_dir=tmp_path / "i", k=1).stickers[0]["rank"] == 1


def test_a_ranker_is_not_a_retriever(tiny, models):
    with pytest.raises(RecommendError, match="not a retriever"):
        Recommender(models["srs"], models["srs"], tiny)
    assert KerasRanker(_load(models["dual_encoder"])).is_retriever


# -- library metrics ----------------------------------------------------------------------
def test_ranks_and_summary_by_hand():
    scores = np.array([[0.1, 0.9, 0.5], [0.3, 0.3, -np.inf]])
    np.testing.assert_array_equal(ranks_of(scores, np.array([2, 1])), [2, 2])  # tie: lower row first
    result = summary(np.array([1, 2, 4, 60]), ks=(1, 5, 50))
    assert result == {"R@1": 0.25, "R@5": 0.75, "R@50": 0.75,
                      "MRR": pytest.approx((1 + 0.5 + 0.25 + 1 / 60) / 4), "contexts": 4}


def test_library_metrics_with_the_cue_stand_in(tiny, tmp_path):
    result = library_metrics(_cue_recommender(tiny, tmp_path), ns=(10, 50))
    rows = {(r["scope"], r["system"]): r for r in result["rows"]}
    assert result["library"] == 160 and result["contexts"] > 50
    assert set(rows) == {("set", "SRS alone"), ("library", "retriever"), ("set", "retriever"),
                         ("library", "retriever + SRS@10"), ("library", "retriever + SRS@50"),
                         ("set", "retriever + SRS@10"), ("set", "retriever + SRS@50")}
    # knowing the set can only help; the cue words beat chance (1/160 over the library)
    assert rows[("set", "retriever")]["MRR"] >= rows[("library", "retriever")]["MRR"] > 0.05
    # re-ranking the top N leaves ranks beyond N alone
    assert rows[("library", "retriever + SRS@10")]["R@50"] == rows[("library", "retriever")]["R@50"]


# -- the rank command ---------------------------------------------------------------------
def test_rank_json_schema(tiny, models, tmp_path, capsys):
    from srs_lib import cli

    strip = tmp_path / "strip.png"
    status = cli.main(["rank", "--checkpoint", str(models["srs"]), "--retriever",
                       str(models["dual_encoder"]), "--base_path", str(tiny), "--text", "haha lol",
                       "--text", "so funny qqqzzz", "--k", "4", "--n", "9", "--json",
                       "--strip", str(strip), "--index_dir", str(tmp_path / "i")])
    assert status == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["schema"] == "srs_lib.rank/1"
    assert set(answer) == {"schema", "checkpoint", "retriever", "base_path", "k", "n", "set_id",
                           "stickers", "context", "pool", "reranked", "timing_ms"}
    assert (answer["k"], answer["n"], answer["pool"], answer["reranked"]) == (4, 9, 160, 9)
    assert [s["rank"] for s in answer["stickers"]] == [1, 2, 3, 4]
    for sticker in answer["stickers"]:
        assert set(sticker) == {"rank", "row", "set_id", "sticker_id", "emoji", "score",
                                "retrieval_score"}
        assert type(sticker["set_id"]) is int and type(sticker["sticker_id"]) is int
        assert isinstance(sticker["score"], float) and isinstance(sticker["retrieval_score"], float)
    assert answer["context"] == {"utterances": 2, "words": 5, "unknown": 1,
                                 "unknown_words": ["qqqzzz"], "truncated_words": 0}
    assert set(answer["timing_ms"]) == {"encode_context", "retrieve", "rerank"}
    assert strip.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("arguments, message", [
    (["--checkpoint", "missing.keras", "--text", "hi"], "no model file"),
    (["--text", " "], "the context has no words"),
    (["--text", "hi", "--set", "3"], "sticker set 3 is not in the library"),
    (["--text", "hi", "--sticker", "12"], "write SET_ID:STICKER_ID"),
])
def test_rank_refuses_bad_input_in_one_line(tiny, models, tmp_path, capsys, arguments, message):
    from srs_lib import cli

    base = ["rank", "--base_path", str(tiny), "--index_dir", str(tmp_path / "i")]
    if "--checkpoint" not in arguments:
        base += ["--checkpoint", str(models["srs"])]
    assert cli.main(base + arguments) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("srs_lib rank: ") and message in err and "\n" not in err


def test_the_index_refuses_a_linked_folder_and_a_manifest_of_other_stickers(clean_corpus, tmp_path):
    cache = Corpus(clean_corpus).sticker_cache(progress=False)
    vectors = np.ones((len(cache), 3), dtype="float32")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere)
    with pytest.raises(LookupError, match="is a symbolic link"):
        StickerIndex.open(_FixedSide(vectors), cache, tmp_path / "linked")
    assert not any(elsewhere.iterdir())
    folder = tmp_path / "index"
    StickerIndex.open(_FixedSide(vectors), cache, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["rows"][0][2] = "🦄"  # rows that do not describe the cache's stickers
    (folder / "manifest.json").write_text(json.dumps(manifest))
    reopened = StickerIndex.open(_FixedSide(vectors), cache, folder)
    assert reopened.built and reopened.emojis[0] == cache.emojis[0]


def test_a_collection_restricts_the_answer(tiny, tmp_path):
    recommender = _cue_recommender(tiny, tmp_path)
    keys = recommender.index.keys
    collection = [keys[3], keys[40], keys[100]]
    answer = recommender.recommend(["haha lol"], k=5, n=50, stickers=collection)
    assert answer.pool == 3 and len(answer.stickers) == 3
    assert {(s["set_id"], s["sticker_id"]) for s in answer.stickers} == set(collection)
    in_set = recommender.recommend(["haha lol"], k=5, stickers=collection, set_id=keys[3][0])
    assert [(s["set_id"], s["sticker_id"]) for s in in_set.stickers] == [keys[3]]
    with pytest.raises(LookupError, match="is not in the library"):
        recommender.recommend(["haha"], stickers=[(keys[0][0], 1)])


def test_library_command_writes_its_record(tiny, models, tmp_path, capsys):
    from srs_lib import cli

    out = tmp_path / "record.json"
    assert cli.main(["library", "--checkpoint", str(models["srs"]), "--retriever",
                     str(models["dual_encoder"]), "--base_path", str(tiny), "--ns", "10",
                     "--limit", "20", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["contexts"] == 20 and record["library"] == 160
    assert {r["system"] for r in record["rows"]} == {"SRS alone", "retriever", "retriever + SRS@10"}
    assert set(record["ten_candidates"]) == {"reranker", "retriever"}
    assert record["stickers_per_emoji_label"] == pytest.approx(160 / record["emoji_labels"])
    assert "retriever + SRS@10" in capsys.readouterr().out
