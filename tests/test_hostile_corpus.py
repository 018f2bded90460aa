"""The standing check of issue #20: what a hostile or broken corpus, a crash and a rerun can do.

Every test starts from a copy of the ``tiny`` preset (generated once per module, in about a
second), mutates it the way a copied or damaged corpus would be, and asserts the promised
behaviour: refused and named, counted, or handled. The README's section "Reliability"
states the guarantees these tests hold the code to.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from srs_lib.data.cache import INDEX_FILE, StickerCache


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    from srs_lib.synth.writer import generate_corpus

    out = tmp_path_factory.mktemp("tiny") / "tiny"
    generate_corpus(str(out), "tiny", 0, progress=False)
    return out


@pytest.fixture
def corpus(tiny, tmp_path) -> Path:
    """A fresh copy of the ``tiny`` corpus that the test may damage."""
    copy = tmp_path / "corpus"
    shutil.copytree(tiny, copy, symlinks=True)
    return copy


def _open_cache(base, **kwargs) -> StickerCache:
    return StickerCache.open(base, progress=False, **kwargs)


@contextlib.contextmanager
def _deadline(seconds: float):
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``:
    SIGALRM interrupts a blocked ``open`` of a FIFO."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: blocked?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _lines(corpus, split="train") -> list[dict]:
    return [json.loads(line) for line in (corpus / f"release_{split}.json").read_text(encoding="utf-8").splitlines()]


def _sticker_path(corpus, set_id, sticker_id) -> Path:
    return corpus / "npy_stickers" / str(set_id) / f"{sticker_id}.npy"


def _first_sample_key(corpus) -> tuple[int, int]:
    current = _lines(corpus)[0]["current"]
    return current["sticker_set_id"], current["sticker_id"]


def _samples_with(corpus, predicate) -> dict[str, int]:
    return {split: sum(predicate(d["current"]) for d in _lines(corpus, split)) for split in ("train", "val", "test")}


def _validate_and_train_agree(corpus) -> dict:
    """``validate``'s report, after checking that the training data path (sticker cache and
    encoded splits) accepts exactly the samples it accepts, for the same reasons."""
    from srs_lib.data.corpus import Corpus
    from srs_lib.data.validate import validate_corpus
    from srs_lib.training.pipeline import encode_split

    report = validate_corpus(corpus)
    opened = Corpus(corpus)
    cache = opened.sticker_cache(progress=False)
    for split in ("train", "val", "test"):
        encoded = encode_split(opened, split, cache)
        assert encoded.report.to_dict()["skipped"] == report["splits"][split]["skipped"]
        assert len(encoded) == report["splits"][split]["usable"]
    return report


# -- 1. the sticker cache removes only files it created --------------------------------
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_a_crafted_cache_index_cannot_make_the_cache_delete_a_file(corpus, tmp_path, how):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = corpus / ".srs_cache"
    folder.mkdir()
    name = str(victim) if how == "absolute" else os.path.relpath(victim, folder)
    crafted = {"format": 1, "fingerprint": "0" * 64, "data_file": name, "shape": [1, 128, 128, 3],
               "rows": [], "excluded": [], "conversions": {}}
    (folder / INDEX_FILE).write_text(json.dumps(crafted), encoding="utf-8")
    cache = _open_cache(corpus)  # fingerprint mismatch: rebuilt
    assert cache.built and len(cache) == 160
    assert victim.read_text() == "precious"
    # ... and with the corpus's own fingerprint, the foreign file is not served either.
    index = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
    np.save(tmp_path / "foreign.npy", np.zeros((160, 128, 128, 3), np.uint8))
    index["data_file"] = str(tmp_path / "foreign.npy")
    (folder / INDEX_FILE).write_text(json.dumps(index), encoding="utf-8")
    again = _open_cache(corpus)
    assert again.built and (tmp_path / "foreign.npy").exists() and victim.exists()


def test_a_cache_folder_linking_out_of_the_corpus_is_refused(corpus, tmp_path):
    from srs_lib.data.cache import CacheError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (corpus / ".srs_cache").symlink_to(elsewhere)
    with pytest.raises(CacheError, match="outside the corpus.*cache_dir"):
        _open_cache(corpus)
    assert list(elsewhere.iterdir()) == []
    assert len(_open_cache(corpus, cache_dir=tmp_path / "mine")) == 160


# -- 4. only regular files are read; links inside the corpus followed, outside refused ---
def test_a_fifo_among_the_stickers_is_refused_without_blocking(corpus):
    from srs_lib.data.stats import corpus_stats
    from srs_lib.analysis.ssim import candidate_similarities

    set_id, sticker_id = _first_sample_key(corpus)
    fifo = _sticker_path(corpus, set_id, sticker_id)
    fifo.unlink()
    os.mkfifo(fifo)
    using = _samples_with(corpus, lambda c: (c["sticker_set_id"], c["sticker_id"]) == (set_id, sticker_id))
    with _deadline(300):  # generous: a shared machine is slow, a blocked open never returns
        report = _validate_and_train_agree(corpus)
        corpus_stats(corpus)
        similarity = candidate_similarities(corpus, "train", progress=False)
    assert any("a FIFO, not a regular file" in e["reason"] for e in report["stickers"]["refused_entries"])
    for split, count in using.items():
        assert report["splits"][split]["skipped"]["sticker unloadable"] == count
    assert similarity.skipped["sticker unloadable"] == using["train"]


def test_links_out_of_the_corpus_are_refused_and_links_inside_followed(corpus, tmp_path):
    train = _lines(corpus)
    (set_a, sticker_a), (set_b, sticker_b) = [(d["current"]["sticker_set_id"], d["current"]["sticker_id"]) for d in train[:2]]
    outside = tmp_path / "outside"
    outside.mkdir()
    # a sticker that is a link to a (valid) sticker file outside the corpus
    target = outside / "x.npy"
    shutil.copy(_sticker_path(corpus, set_a, sticker_a), target)
    _sticker_path(corpus, set_a, sticker_a).unlink()
    _sticker_path(corpus, set_a, sticker_a).symlink_to(target)
    # a whole set folder that is a link to a copy outside the corpus
    other = [s for s in (corpus / "npy_stickers").iterdir() if int(s.name) not in (set_a, set_b)][0]
    shutil.move(other, outside / other.name)
    other.symlink_to(outside / other.name)
    # a sticker that is a link to another sticker file of the corpus: followed, reported
    inner = _sticker_path(corpus, set_b, sticker_b)
    neighbour = sorted(p for p in inner.parent.glob("*.npy") if p != inner)[0]
    inner.unlink()
    inner.symlink_to(os.path.relpath(neighbour, inner.parent))
    report = _validate_and_train_agree(corpus)
    refused = {e["entry"]: e["reason"] for e in report["stickers"]["refused_entries"]}
    assert "outside the corpus" in refused[f"npy_stickers/{set_a}/{sticker_a}.npy"]
    assert "outside the corpus" in refused[f"npy_stickers/{other.name}"]
    assert {"entry": f"npy_stickers/{set_b}/{sticker_b}.npy",
            "target": str(neighbour.relative_to(corpus))} in report["stickers"]["link_examples"]
    link_a = _samples_with(corpus, lambda c: (c["sticker_set_id"], c["sticker_id"]) == (set_a, sticker_a))
    in_other = _samples_with(corpus, lambda c: c["sticker_set_id"] == int(other.name))
    for split in ("train", "val", "test"):
        skipped = report["splits"][split]["skipped"]
        assert skipped["sticker unloadable"] == link_a[split]
        assert skipped["sticker set missing"] == in_other[split]
    cache = _open_cache(corpus)
    assert (set_a, sticker_a) not in cache and (set_b, sticker_b) in cache
    np.testing.assert_array_equal(cache.load(set_b, sticker_b), np.load(neighbour))


def test_a_dangling_link_is_refused_alike_by_validate_and_training(corpus):
    set_id, sticker_id = _first_sample_key(corpus)
    path = _sticker_path(corpus, set_id, sticker_id)
    path.unlink()
    path.symlink_to("gone.npy")
    using = _samples_with(corpus, lambda c: (c["sticker_set_id"], c["sticker_id"]) == (set_id, sticker_id))
    report = _validate_and_train_agree(corpus)
    assert report["splits"]["train"]["skipped"]["sticker unloadable"] == using["train"] > 0
    assert any("dangling symbolic link" in e["reason"] for e in report["stickers"]["refused_entries"])


# -- 9. the cache sees content changes, and concurrent builds leave no orphan -----------
def _data_files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("stickers-"))


def _indexed_data_file(folder) -> str:
    return json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))["data_file"]


def test_a_same_size_change_with_the_file_time_restored_is_rebuilt(corpus):
    set_id, sticker_id = _first_sample_key(corpus)
    path = _sticker_path(corpus, set_id, sticker_id)
    before = _open_cache(corpus)
    info = os.stat(path)
    replacement = 255 - np.load(path)
    np.save(path, replacement)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert os.stat(path).st_size == info.st_size and os.stat(path).st_mtime_ns == info.st_mtime_ns
    after = _open_cache(corpus)
    assert after.built and after.fingerprint != before.fingerprint
    np.testing.assert_array_equal(after.load(set_id, sticker_id), replacement)


def test_bytes_corrupted_in_place_are_rebuilt_and_a_full_verification_sees_beneath(corpus, monkeypatch):
    set_id, sticker_id = _first_sample_key(corpus)
    path = _sticker_path(corpus, set_id, sticker_id)
    _open_cache(corpus)
    info = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(info.st_size // 2)
        handle.write(bytes(16))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = _open_cache(corpus)
    assert after.built
    np.testing.assert_array_equal(after.load(set_id, sticker_id), np.load(path))
    # Bytes changed beneath the file system (a failing disk) leave every file time as it
    # was: only a full verification sees them. Simulated by reporting the old times.
    settled = os.stat(path)
    with open(path, "r+b") as handle:
        handle.seek(info.st_size // 3)
        handle.write(b"\xff" * 16)
    real_stat = os.stat

    def stat_before_the_damage(target, *args, **kwargs):
        return settled if os.fspath(target) == os.fspath(path) else real_stat(target, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat_before_the_damage)
    assert not _open_cache(corpus).built  # the stated blind spot of the default
    full = _open_cache(corpus, verify="full")
    assert full.built
    np.testing.assert_array_equal(full.load(set_id, sticker_id), np.load(path))


def test_concurrent_builds_leave_one_data_file(corpus, monkeypatch):
    import threading

    from srs_lib.data import cache as cache_module

    _open_cache(corpus)
    mapping = next((corpus / "npy_stickers").glob("*/emoji_mapping.txt"))
    mapping.write_text("".join(mapping.read_text(encoding="utf-8").splitlines(True)[:-1]), encoding="utf-8")
    arrived, release = threading.Event(), threading.Event()
    write = cache_module.write_text_atomically

    def index_write_of_the_first_build_waits(path, text):
        if threading.current_thread().name == "first":
            arrived.set()
            release.wait(30)
        return write(path, text)

    monkeypatch.setattr(cache_module, "write_text_atomically", index_write_of_the_first_build_waits)
    opened = {}

    def open_in(name):
        thread = threading.Thread(target=lambda: opened.__setitem__(name, _open_cache(corpus)), name=name)
        thread.start()
        return thread

    first = open_in("first")
    assert arrived.wait(30)  # the first build has packed its data file, not yet its index
    second = open_in("second")
    second.join(2)
    release.set()
    first.join(30)
    second.join(30)
    folder = corpus / ".srs_cache"
    assert _data_files(folder) == [_indexed_data_file(folder)]
    assert opened["first"].built and not opened["second"].built  # it waited and used the build


# -- 5. emojis compared without variation selectors; undecodable lines reported --------
def test_emojis_differing_only_by_a_variation_selector_keep_their_label(corpus):
    from srs_lib.data.corpus import Corpus
    from srs_lib.training.pipeline import emoji_labels

    vocab = corpus / "emoji_vocab"
    text = vocab.read_text(encoding="utf-8")
    assert "\ufe0f" in text  # the tiny preset writes ☁️ and others with U+FE0F
    vocab.write_text(text.replace("\ufe0f", ""), encoding="utf-8")  # ❤ in the vocabulary, ❤️ elsewhere
    written = [line.split("\t", 1)[1].strip() for m in (corpus / "npy_stickers").glob("*/emoji_mapping.txt")
               for line in m.read_text(encoding="utf-8").splitlines() if line.strip()]
    alts = {split: sum("\ufe0f" in d["current"]["sticker_alt"] for d in _lines(corpus, split))
            for split in ("train", "val", "test")}
    assert sum("\ufe0f" in e for e in written) > 0 and alts["train"] > 0
    report = _validate_and_train_agree(corpus)
    for split in ("train", "val", "test"):
        assert report["splits"][split]["skipped"]["emoji outside vocab"] == 0
        assert report["splits"][split]["normalised_sticker_alts"] == alts[split]
    assert report["stickers"]["normalised_emojis"] == sum("\ufe0f" in e for e in written)
    opened = Corpus(corpus)
    labels = emoji_labels(opened.sticker_cache(progress=False), opened.emoji_vocab)
    assert (labels >= 0).all()  # no sticker lost its emoji label


def test_an_undecodable_mapping_line_is_reported_with_its_file_and_number(corpus):
    from srs_lib.data.stickers import StickerStore

    mapping = sorted((corpus / "npy_stickers").glob("*/emoji_mapping.txt"))[0]
    lines = mapping.read_bytes().splitlines(keepends=True)
    sticker_id = int(lines[1].split(b"\t")[0])
    lines[1] = lines[1].split(b"\t")[0] + b"\t\xf0\x9f\n"  # a truncated UTF-8 emoji
    mapping.write_bytes(b"".join(lines))
    store = StickerStore(corpus)
    set_id = int(mapping.parent.name)
    (issue,) = [i for i in store.mapping_issues if i.set_id == set_id]
    assert issue.line == 2 and issue.path == f"npy_stickers/{set_id}/emoji_mapping.txt"
    assert "invalid UTF-8" in issue.reason and issue.path in issue.reason
    assert sticker_id not in store.sets[set_id]
    assert not any("\ufffd" in e for s in store.sets.values() for e in s.emojis)


# -- 6. ids above 2**63 stay exact through training ------------------------------------
def _rename_set(corpus, old: int, new: int, sticker_offset: int = 0) -> None:
    """Give set ``old`` the id ``new`` (and its stickers ids shifted by ``sticker_offset``)
    in the sticker folder, its mapping and every split."""
    folder = corpus / "npy_stickers" / str(old)
    mapping = (folder / "emoji_mapping.txt").read_text(encoding="utf-8").splitlines()
    renamed = []
    for line in mapping:
        sticker, emoji = line.split("\t", 1)
        (folder / f"{sticker}.npy").rename(folder / f"{int(sticker) + sticker_offset}.npy")
        renamed.append(f"{int(sticker) + sticker_offset}\t{emoji}")
    (folder / "emoji_mapping.txt").write_text("\n".join(renamed) + "\n", encoding="utf-8")
    folder.rename(folder.parent / str(new))
    for split in ("train", "val", "test"):
        samples = _lines(corpus, split)
        for sample in samples:
            if sample["current"]["sticker_set_id"] == old:
                sample["current"]["sticker_set_id"] = new
                sample["current"]["sticker_id"] += sticker_offset
        (corpus / f"release_{split}.json").write_text(
            "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")


def test_set_and_sticker_ids_above_2_63_are_kept_exact_through_training(corpus):
    from srs_lib.data.corpus import Corpus
    from srs_lib.training.pipeline import RankingBatches, emoji_labels, encode_split

    old = _first_sample_key(corpus)[0]
    new, offset = 2**64 + 5, 2**64  # beyond int64 and uint64 alike
    _rename_set(corpus, old, new, offset)
    report = _validate_and_train_agree(corpus)
    assert report["usable"] and report["splits"]["train"]["skipped"]["sticker set missing"] == 0
    opened = Corpus(corpus)
    cache = opened.sticker_cache(progress=False)
    split = encode_split(opened, "train", cache)
    batches = RankingBatches(split, cache, emoji_labels(cache, opened.emoji_vocab), batch_size=400)
    inputs, targets = batches[0]
    rows, labels = batches.candidates(targets["index"])
    mine = np.flatnonzero(split.set_ids[targets["index"]] == new)
    assert len(mine) == sum(d["current"]["sticker_set_id"] == new for d in _lines(corpus))
    for i in mine:
        keys = [cache.keys[r] for r in rows[i] if r >= 0]
        assert all(set_id == new and sticker_id > offset for set_id, sticker_id in keys)


# -- training runs: a crash, a rerun, a second training ---------------------------------
def _ci_config():
    from srs_lib.training.config import profile_config

    return profile_config("ci", steps=8, auto_test_step=4, emoji_steps=2)


TRAIN_OPTIONS = ["--profile", "ci", "--steps", "8", "--auto_test_step", "4", "--emoji_steps", "2",
                 "--device", "cpu"]
"""The same run on the command line: the ``ci`` profile cut to 8 steps, evaluations and
checkpoints at steps 4 and 8."""


@pytest.fixture(scope="module")
def one_thread():
    """Runs compared bit for bit use one torch thread (the order of float reductions
    depends on the thread count), in this process and in the ones it starts."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def train_corpus(tiny, tmp_path_factory) -> Path:
    """One copy of ``tiny`` for every training test, its sticker cache built once."""
    copy = tmp_path_factory.mktemp("train") / "corpus"
    shutil.copytree(tiny, copy)
    _open_cache(copy)
    return copy


def _trainer(corpus, log_root, name, config=None):
    from srs_lib.training.trainer import Trainer

    return Trainer(config or _ci_config(), corpus, log_root, name, verbose=True)


def _state(trainer) -> list[np.ndarray]:
    """Every weight and optimiser variable of a trainer, in order."""
    variables = list(trainer.model.weights)
    for optimizer in {id(o): o for o in trainer.optimizers.values()}.values():
        variables += list(optimizer.variables)
    return [np.array(v.numpy()) for v in variables]


def _killed_in_a_child(corpus, log_root, name, moment: str) -> None:
    """Train in a forked child that stops hard at ``moment`` (``os._exit``, as ``kill -9``
    would: see ``srs_lib.training.trainer.CRASH_ENV``); a fork starts in milliseconds, with
    this process's imports and its one torch thread."""
    from srs_lib.training.trainer import CRASH_ENV, CRASH_STATUS

    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        status = 1
        try:
            os.environ[CRASH_ENV] = moment
            _trainer(corpus, log_root, name).fit()
            status = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == CRASH_STATUS, f"the child did not stop at {moment}"


@pytest.fixture(scope="module")
def straight(one_thread, train_corpus, tmp_path_factory):
    """An uninterrupted run, the reference for every interrupted one: (folder, state)."""
    logs = tmp_path_factory.mktemp("straight")
    trainer = _trainer(train_corpus, logs, "straight")
    trainer.fit()
    return logs / "straight", _state(trainer)


def _resume_and_compare(corpus, log_root, name, straight) -> str:
    """Resume the run in this process; assert it ends exactly as the uninterrupted one
    (weights, optimiser state, ``metric.txt``) with nothing of ours left; its output."""
    import contextlib as _contextlib
    import io

    reference, expected = straight
    out = io.StringIO()
    with _contextlib.redirect_stdout(out):
        trainer = _trainer(corpus, log_root, name)
        trainer.fit()
    got = _state(trainer)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert np.array_equal(a, b), f"variable {i} differs from the uninterrupted run"
    run = Path(log_root) / name
    assert (run / "metric.txt").read_text() == (reference / "metric.txt").read_text()
    leftovers = [p.name for folder in (run, run / "train") for p in folder.iterdir() if ".tmp-" in p.name]
    assert leftovers == []
    return out.getvalue()


@pytest.mark.parametrize("moment", [
    "step@6",                # between two checkpoints
    "eval_logged@8",         # metric.txt has the step-8 line, no checkpoint 8 yet
    "best_written@4",        # best.keras's temporary written, not renamed
    "checkpoint_written@4",  # the temporary checkpoint folder complete, not renamed
    "checkpoint_renamed@4",  # renamed, the pointer not yet updated
])
def test_a_run_killed_at_any_moment_resumes_to_the_same_weights(train_corpus, straight, tmp_path, moment):
    _killed_in_a_child(train_corpus, tmp_path, "run", moment)
    _resume_and_compare(train_corpus, tmp_path, "run", straight)


def test_the_crash_hook_works_through_the_command_line(train_corpus, straight, tmp_path):
    """``kill -9`` of ``python -m srs_lib train`` itself, between a checkpoint's rename and
    its pointer update; the run resumed here ends as the uninterrupted one."""
    import subprocess
    import sys

    from srs_lib.training.trainer import CRASH_ENV, CRASH_STATUS

    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "torch", CRASH_ENV: "checkpoint_renamed@4"}
    command = [sys.executable, "-m", "srs_lib", "train", "--exp_name", "run", "--log_root",
               str(tmp_path), "--base_path", str(train_corpus), *TRAIN_OPTIONS]
    killed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert killed.returncode == CRASH_STATUS, killed.stderr[-2000:]
    assert (tmp_path / "run/train/ckpt-4").is_dir() and not (tmp_path / "run/train/checkpoint").exists()
    output = _resume_and_compare(train_corpus, tmp_path, "run", straight)
    assert "(ckpt-4)" in output


# -- 2. a refused rerun changes nothing; 3. one training per run folder ---------------
def _files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_refused_rerun_changes_nothing_of_the_run(train_corpus, straight, tmp_path):
    shutil.copytree(straight[0], tmp_path / "run")
    before = _files_of(tmp_path / "run")
    with pytest.raises(ValueError) as refused:
        _trainer(train_corpus, tmp_path, "run", _ci_config().replace(learning_rate=0.01)).fit()
    assert _files_of(tmp_path / "run") == before  # config.json included: evaluate reads it
    assert "learning_rate: 0.001 there, 0.01 now" in str(refused.value)


def test_a_second_training_of_a_run_folder_is_refused_naming_the_holder(train_corpus, tmp_path,
                                                                         monkeypatch, one_thread):
    from srs_lib.training.trainer import Trainer

    second = {}
    step_of = Trainer.train_step

    def second_training_during_step_1(self, inputs, targets, step, *weight):
        if step == 1 and not second:
            second["started"] = True  # once: the second training's own steps go on
            try:
                _trainer(train_corpus, tmp_path, "run").fit()
                second["error"] = None
            except Exception as error:  # noqa: BLE001 - what the second one got
                second["error"] = error
        return step_of(self, inputs, targets, step, *weight)

    monkeypatch.setattr(Trainer, "train_step", second_training_during_step_1)
    _trainer(train_corpus, tmp_path, "run").fit()
    message = str(second["error"])
    assert "in use by another training" in message and f"pid {os.getpid()}" in message
    assert "--exp_name" in message
    steps = [line.split("\t")[0] for line in (tmp_path / "run/metric.txt").read_text().splitlines()]
    assert steps == ["step=4", "step=8"]  # only the holder's evaluations


# -- 7. a damaged checkpoint is skipped; checkpoints are synced to disk -----------------
def test_an_empty_weights_file_falls_back_to_the_previous_checkpoint(train_corpus, straight, tmp_path):
    shutil.copytree(straight[0], tmp_path / "run")
    (tmp_path / "run/train/ckpt-8/model.weights.h5").write_bytes(b"")  # a power loss
    output = _resume_and_compare(train_corpus, tmp_path, "run", straight)
    assert "skipped checkpoint ckpt-8" in output and "(ckpt-4)" in output


def test_checkpoints_are_synced_to_disk(train_corpus, tmp_path, monkeypatch, one_thread):
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name the synced files")
    trainer = _trainer(train_corpus, tmp_path, "run")
    synced = []
    fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    final = trainer.save_checkpoint()
    temporary = str(trainer.train_dir.resolve() / f".ckpt-0.tmp-{os.getpid()}")
    assert {str(Path(temporary) / p.name) for p in final.iterdir()} | {temporary} <= set(synced)
    assert str(trainer.train_dir.resolve()) in synced  # the rename itself


# -- 8. our leftovers are cleaned up, and only ours --------------------------------------
def test_a_full_disk_while_checkpointing_leaves_no_temporary_behind(train_corpus, tmp_path, monkeypatch,
                                                                    one_thread):
    import errno

    trainer = _trainer(train_corpus, tmp_path, "run")
    savez = np.savez

    def disk_full_at_the_seeds(file, *args, **kwargs):
        if str(file).endswith("seeds.npz"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return savez(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", disk_full_at_the_seeds)
    with pytest.raises(OSError, match="No space left"):
        trainer.save_checkpoint()
    assert [p.name for p in trainer.train_dir.iterdir()] == []


def test_a_training_removes_our_temporaries_and_nothing_else(tmp_path):
    from srs_lib.training.run_folder import RunFolder

    run = RunFolder(tmp_path / "run")
    run.train_dir.mkdir(parents=True)
    ours = [run.train_dir / ".ckpt-12.tmp-4242", run.train_dir / ".best.tmp-4242.keras",
            run.root / ".metric.txt.tmp-4242"]
    ours[0].mkdir()
    (ours[0] / "model.weights.h5").write_bytes(b"partial")
    for path in ours[1:]:
        path.write_bytes(b"partial")
    theirs = [run.root / "notes.txt", run.train_dir / "ckpt-12.tmp", run.root / "best.keras.tmp-1"]
    for path in theirs:
        path.write_text("not ours")
    assert sorted(run.remove_temporaries()) == sorted(str(p.relative_to(run.root)) for p in ours)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


# -- 10. a model file carries what its evaluation needs ---------------------------------
def test_a_model_copied_out_of_its_run_evaluates_as_in_its_run(train_corpus, straight, tmp_path, capsys):
    from srs_lib import cli

    model = tmp_path / "elsewhere" / "model.keras"
    model.parent.mkdir()
    shutil.copy(straight[0] / "train/best.keras", model)
    status = cli.main(["evaluate", "--checkpoint", str(model), "--base_path", str(train_corpus), "--json"])
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    config = _ci_config()
    assert result["data_config"] == {"vocab_size": config.vocab_size,
                                     "emoji_vocab_size": config.emoji_vocab_size,
                                     "max_utterances": 8, "max_words": 12,
                                     "n_candidates": 10, "protocol": "random", "eval_seed": 0, "batch_size": 8}
    in_run = json.loads((straight[0] / "metrics.json").read_text())
    assert result["metrics"] == pytest.approx(in_run["test"], abs=1e-12)


def test_a_model_without_its_data_options_is_refused_unless_they_are_given(train_corpus, straight, tmp_path,
                                                                           capsys):
    import keras

    from srs_lib import cli

    model = keras.saving.load_model(straight[0] / "train/best.keras", safe_mode=True)
    model.data_config = None  # as saved before models recorded theirs
    bare = tmp_path / "bare.keras"
    model.save(bare)
    command = ["evaluate", "--checkpoint", str(bare), "--base_path", str(train_corpus), "--json"]
    assert cli.main(command) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and str(bare) in error and "--config" in error
    assert cli.main([*command, "--config", str(straight[0] / "config.json")]) == 0
    in_run = json.loads((straight[0] / "metrics.json").read_text())
    assert json.loads(capsys.readouterr().out)["metrics"] == pytest.approx(in_run["test"], abs=1e-12)


# -- 11. encoded samples are memory-mapped, cached, and not held in memory ---------------
def _encode(corpus, split="train", **options):
    from srs_lib.data.corpus import Corpus
    from srs_lib.training.pipeline import encode_split

    opened = Corpus(corpus)
    return encode_split(opened, split, opened.sticker_cache(progress=False), **options)


_MEMORY_PROBE = """
import json, sys
from srs_lib.data.corpus import Corpus
from srs_lib.training.pipeline import encode_split

def peak():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status["VmHWM"].split()[0]) * 1024

corpus = Corpus(sys.argv[1])
cache = corpus.sticker_cache(progress=False)
before = peak()
split = encode_split(corpus, "train", cache, max_utterances=15, max_words=30)
print(json.dumps({"growth": peak() - before, "data": int(split.contexts.nbytes), "samples": len(split),
                  "kind": type(split.contexts).__name__}))
"""


def test_encoding_does_not_hold_the_samples_in_memory(corpus):
    import subprocess
    import sys

    if not Path("/proc/self/status").is_file():
        pytest.skip("needs /proc to read the peak memory")
    train = corpus / "release_train.json"
    train.write_text(train.read_text(encoding="utf-8") * 15, encoding="utf-8")  # 6,000 lines
    _open_cache(corpus)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERAS_BACKEND": "torch"}
    probe = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(corpus)], env=env, cwd=corpus.parent,
                           capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    measured = json.loads(probe.stdout.splitlines()[-1])
    assert measured["samples"] == 6000
    # The encoded contexts are 10.8 MB; parsing and encoding them all in memory grew the
    # peak by several times that. Streamed into a file, the peak grows by a block or two.
    assert measured["growth"] < measured["data"] / 2, measured
    assert measured["kind"] == "memmap"


def test_a_cached_encoding_is_reused_and_equals_one_in_memory(corpus):
    built = _encode(corpus, max_utterances=15, max_words=30)
    assert built.cached == "built" and isinstance(built.contexts, np.memmap)
    again = _encode(corpus, max_utterances=15, max_words=30)
    in_memory = _encode(corpus, max_utterances=15, max_words=30, cached=False)
    assert again.cached == "reused" and in_memory.cached is None
    for name in ("contexts", "n_utterances", "lines", "set_index", "positive_rows"):
        assert np.array_equal(getattr(again, name), getattr(in_memory, name)), name
    assert again.sets == in_memory.sets and again.report.to_dict() == in_memory.report.to_dict()


def test_a_changed_split_is_encoded_again_and_its_old_encoding_removed(corpus, tmp_path):
    first = _encode(corpus)
    folder = corpus / ".srs_cache"
    (index_file,) = folder.glob("encoded-*.json")
    train = corpus / "release_train.json"
    lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
    train.write_text("".join(lines[:-1]), encoding="utf-8")
    second = _encode(corpus)
    assert second.cached == "built" and len(second) == len(first) - 1
    index = json.loads(index_file.read_text(encoding="utf-8"))
    assert sorted(p.name for p in folder.glob(index_file.stem + "-*")) == sorted(
        [index["data_file"], index["arrays_file"]])
    # an index that names files outside its scheme is stale: rebuilt, the files untouched
    victim = tmp_path / "victim.i32"
    victim.write_bytes(bytes(4 * len(second) * 8 * 12))
    index["data_file"] = str(victim)
    index_file.write_text(json.dumps(index), encoding="utf-8")
    assert _encode(corpus).cached == "built" and victim.exists()


# -- 12. a user error gets one line naming the file and the fix; --debug the traceback ---
def _fails_with_one_line(capsys, argv, *needles) -> str:
    from srs_lib import cli

    status = cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status != 0 and len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and lines[0].startswith(f"srs_lib {argv[0]}: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _train_argv(corpus, log_root, *extra) -> list[str]:
    return ["train", "--exp_name", "run", "--log_root", str(log_root), "--base_path", str(corpus),
            *TRAIN_OPTIONS, *extra]


def test_a_missing_corpus_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    from srs_lib import cli
    from srs_lib.data.corpus import CorpusError

    missing = tmp_path / "no-such-corpus"
    _fails_with_one_line(capsys, _train_argv(missing, tmp_path / "logs"), str(missing), "--base_path")
    _fails_with_one_line(capsys, ["evaluate", "--checkpoint", str(tmp_path / "x.keras"), "--base_path",
                                  str(missing)], "x.keras", "--checkpoint")
    assert not (tmp_path / "logs").exists()  # nothing written for a run that cannot start
    with pytest.raises(CorpusError):
        cli.main([*_train_argv(missing, tmp_path / "logs"), "--debug"])


def test_a_read_only_corpus_asks_for_a_cache_folder(corpus, tmp_path, capsys, monkeypatch):
    import errno

    mkdir = Path.mkdir

    def read_only_corpus(self, *args, **kwargs):
        if Path(self).is_relative_to(corpus):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only_corpus)  # as a read-only mount would (root ignores chmod)
    _fails_with_one_line(capsys, _train_argv(corpus, tmp_path / "logs"), str(corpus / ".srs_cache"),
                         "--cache_dir")


def test_a_read_only_log_root_is_one_line(corpus, tmp_path, capsys, monkeypatch):
    logs = tmp_path / "logs"
    logs.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == logs else access(path, mode, **kw))
    _fails_with_one_line(capsys, _train_argv(corpus, logs), str(logs), "--log_root")


def test_an_undecodable_vocabulary_is_one_line(corpus, tmp_path, capsys):
    vocab = corpus / "vocab"
    lines = vocab.read_bytes().splitlines(keepends=True)
    vocab.write_bytes(b"".join(lines[:2] + [b"caf\xe9 12\n"] + lines[2:]))  # Latin-1, not UTF-8
    for argv in (_train_argv(corpus, tmp_path / "logs"), ["validate", "--base_path", str(corpus)]):
        _fails_with_one_line(capsys, argv, str(vocab), "line 3", "UTF-8")


def test_a_nan_option_is_refused_naming_it(corpus, tmp_path, capsys):
    _fails_with_one_line(capsys, _train_argv(corpus, tmp_path / "logs", "--clipnorm", "nan"), "--clipnorm", "nan")
    _fails_with_one_line(capsys, _train_argv(corpus, tmp_path / "logs", "--learning_rate", "inf"), "--learning_rate")
    assert not (tmp_path / "logs").exists()


def test_a_rerun_with_other_options_is_one_line_and_changes_nothing(train_corpus, straight, tmp_path, capsys):
    shutil.copytree(straight[0], tmp_path / "run")
    before = _files_of(tmp_path / "run")
    _fails_with_one_line(capsys, _train_argv(train_corpus, tmp_path, "--learning_rate", "0.01"),
                         str(tmp_path / "run"), "learning_rate", "--exp_name")
    assert _files_of(tmp_path / "run") == before
