"""Figure 10's grouping (srs_lib.analysis.similarity): both similarities of a context from
its candidates, equal-count groups, R10@1 per group with sizes, chance and intervals, a
grid's candidates rebuilt and checked, and the figure."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from srs_lib import figures, paper  # noqa: E402
from srs_lib.analysis import comparison, similarity  # noqa: E402
from srs_lib.analysis.metrics import binomial_half_width, ranking_metrics  # noqa: E402
from srs_lib.analysis.ssim import structural_similarity_batch, to_gray  # noqa: E402
from srs_lib.provenance import corpus_description  # noqa: E402

IMAGES = np.random.default_rng(0).integers(0, 256, (7, 16, 16, 3), dtype=np.uint8)


def ssim(a, b):
    return float(structural_similarity_batch(to_gray(IMAGES[a]), to_gray(IMAGES[b]))[0])


# -- the two similarities ------------------------------------------------------------------
def test_among_all_candidates_and_truth_against_negatives_by_hand():
    rows = np.array([[2, 0, 1, -1],    # positive 0 in slot 1, three real candidates
                     [4, 3, -1, -1],   # positive 4 in slot 0, two
                     [6, 5, 4, 3]])    # positive 3 in slot 3, four
    labels = np.array([1, 0, 3])
    found = similarity.candidate_similarity(IMAGES, rows, labels, lines=np.array([7, 8, 9]))
    assert found.among[0] == pytest.approx(np.mean([ssim(0, 1), ssim(0, 2), ssim(1, 2)]))
    assert found.truth[0] == pytest.approx(np.mean([ssim(0, 2), ssim(0, 1)]))
    assert found.among[1] == pytest.approx(ssim(3, 4)) and found.truth[1] == pytest.approx(ssim(3, 4))
    pairs = [(6, 5), (6, 4), (6, 3), (5, 4), (5, 3), (4, 3)]
    assert found.among[2] == pytest.approx(np.mean([ssim(a, b) for a, b in pairs]))
    assert found.truth[2] == pytest.approx(np.mean([ssim(3, 6), ssim(3, 5), ssim(3, 4)]))
    assert found.n_candidates.tolist() == [3, 2, 4]
    assert found.lines.tolist() == [7, 8, 9]
    # Blocks only bound what is in memory at once: the values do not change.
    blocked = similarity.candidate_similarity(IMAGES, rows, labels, blocks=[0, 1, 1])
    np.testing.assert_allclose(blocked.among, found.among)
    np.testing.assert_allclose(blocked.truth, found.truth)


def test_a_single_candidate_has_no_pair_and_padding_is_no_positive():
    found = similarity.candidate_similarity(IMAGES, [[1, -1], [2, 3]], [0, 1])
    assert np.isnan(found.among[0]) and np.isnan(found.truth[0])
    assert found.among[1] == pytest.approx(ssim(2, 3))
    with pytest.raises(ValueError, match="padding slot"):
        similarity.candidate_similarity(IMAGES, [[1, -1]], [1])
    with pytest.raises(ValueError, match="unknown grouping"):
        found.values("nope")


# -- the groups ----------------------------------------------------------------------------
def test_equal_count_groups_cut_the_sorted_values():
    values = [0.9, 0.1, 0.5, 0.3, np.nan, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]
    groups = similarity.equal_count_groups(values, 5)
    # Ten values in five groups of two, smallest first; NaN left out.
    assert groups.tolist() == [4, 0, 2, 1, -1, 3, 1, 4, 2, 3, 0]
    # Eleven: sizes differ by at most one, the larger first.
    groups = similarity.equal_count_groups(np.arange(11.0), 5)
    assert np.bincount(groups).tolist() == [3, 2, 2, 2, 2]
    # Ties keep the given order.
    assert similarity.equal_count_groups([0.5, 0.5, 0.5, 0.5], 2).tolist() == [0, 0, 1, 1]
    # Fewer contexts than groups: the last groups are empty.
    assert similarity.equal_count_groups([0.3, 0.1], 5).tolist() == [1, 0]
    with pytest.raises(ValueError):
        similarity.equal_count_groups([0.1], 0)


def test_r10_at_1_per_group_with_sizes_chance_and_intervals_by_hand():
    values = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0])
    # groups (by value): {0.0, 0.1} {0.2, 0.3} {0.4, 0.5} {0.6, 0.7} {0.8, 0.9}
    hits = {"A": np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 1]),
            "B": np.zeros(10)}
    n_candidates = np.array([10, 10, 10, 10, 10, 10, 10, 10, 5, 10])
    frame = similarity.group_frame(hits, values, n_candidates, 5)
    a = frame[frame["model"] == "A"].set_index("group")
    assert a["contexts"].tolist() == [2, 2, 2, 2, 2]
    assert a["contexts"].sum() == len(values)
    assert a["R10@1"].tolist() == [1.0, 0.5, 1.0, 0.5, 0.5]
    assert a["low"].tolist() == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert a["high"].tolist() == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert a.loc[2, "half_width"] == pytest.approx(binomial_half_width(0.5, 2))
    assert a.loc[1, "half_width"] == 0.0
    assert a.loc[4, "chance"] == pytest.approx((1 / 5 + 1 / 10) / 2)  # 0.6 has 5 candidates
    assert frame[frame["model"] == "B"]["R10@1"].tolist() == [0.0] * 5
    table = similarity.group_table(frame)
    assert table.loc[2, "A"] == f"0.500 ± {binomial_half_width(0.5, 2):.3f}"
    assert table.loc[1, "similarity"] == "0.000–0.100"
    trend = similarity.trend(frame, "A")
    assert trend == {"least_alike": 1.0, "most_alike": 0.5, "lowest": 0.5, "highest": 1.0,
                     "best_group": 1, "groups": 5}


def test_empty_groups_have_no_rate():
    frame = similarity.group_frame({"A": np.array([1, 0, 1])}, [0.2, 0.1, 0.3], [10, 10, 10])
    assert frame["contexts"].tolist() == [1, 1, 1, 0, 0]
    assert frame["R10@1"].tolist()[:3] == [0.0, 1.0, 1.0]
    assert frame["R10@1"].iloc[3:].isna().all() and frame["half_width"].iloc[3:].isna().all()
    assert similarity.group_table(frame).loc[5, "A"] == "–"
    assert similarity.trend(frame, "A")["groups"] == 3


def test_agreement_of_the_two_groupings():
    among = np.arange(10.0) / 10
    same = similarity.CandidateSimilarity(np.arange(10), np.full(10, 10), among, among * 0.5)
    found = similarity.agreement(same)
    assert found["same_group"] == 1.0 and found["two_or_more_apart"] == 0.0
    assert found["pearson"] == pytest.approx(1.0) and found["mean_truth"] == pytest.approx(0.225)
    reversed_ = similarity.CandidateSimilarity(np.arange(10), np.full(10, 10), among, 1 - among)
    found = similarity.agreement(reversed_)
    assert found["spearman"] == pytest.approx(-1.0)
    assert found["same_group"] == pytest.approx(0.2)  # only the middle group agrees
    assert found["two_or_more_apart"] == pytest.approx(0.8)


# -- a grid's candidates -------------------------------------------------------------------
def _grid(results, corpus, labels, *, entries=("srs", "mrfn"), corpus_name=None):
    """Entries as the grid leaves them, tested on the candidates the pipeline draws."""
    from srs_lib.training.config import PROFILES
    from srs_lib.training.pipeline import evaluation_batches

    config = PROFILES["ci"]
    _, batches = evaluation_batches(corpus, config, "test")
    rows, slots = batches.candidates(np.arange(len(batches.split)))
    labels = slots if labels is None else labels
    for name in entries:
        folder = results / "paper" / name
        folder.mkdir(parents=True, exist_ok=True)
        scores = np.random.default_rng(0).random(rows.shape).astype("float32")
        scores[rows < 0] = -1e9
        np.savez_compressed(folder / "test_scores.npz", scores=scores, labels=labels,
                            lines=batches.split.lines, mask=rows >= 0)
        (folder / "metrics.json").write_text(json.dumps({
            "test": ranking_metrics(scores, labels), "test_contexts": len(labels),
            "test_path": "release_test.json", "config": config.to_dict()}))
        (folder / "run.json").write_text(json.dumps({
            "parameters": {"base_path": str(corpus)}, "wall_seconds": 1.0,
            "corpus": corpus_name or corpus_description(corpus)}))
    return comparison.load_results("paper", results), batches, rows, slots


def test_a_grids_candidates_are_rebuilt_and_grouped(tmp_path, clean_corpus):
    grid, batches, rows, slots = _grid(tmp_path, clean_corpus, None)
    found = similarity.grid_similarity("paper", grid)
    expected = similarity.candidate_similarity(batches.cache.images, rows, slots)
    np.testing.assert_array_equal(found.lines, batches.split.lines)
    np.testing.assert_allclose(found.among, expected.among)
    np.testing.assert_allclose(found.truth, expected.truth)
    grouped, refused = similarity.profiles_grouped({"paper": grid})
    assert not refused and set(grouped["paper"].results) == {"srs", "mrfn"}
    frame = similarity.grid_frame(grouped["paper"], similarity.AMONG)
    kept = int((~np.isnan(found.among)).sum())
    assert frame[frame["model"] == "SRS"]["contexts"].sum() == kept


def test_section_3_3s_measure_is_chapter_02s_on_the_same_candidates(tmp_path, clean_corpus):
    """The grid's evaluation candidates are chapter 02's (the same draw of the same seed per
    line), so the ground truth against its negatives is Figure 2's value, context by context."""
    from srs_lib.analysis.ssim import candidate_similarities

    grid, *_ = _grid(tmp_path, clean_corpus, None)
    found = similarity.grid_similarity("paper", grid)
    figure2 = {s.line: s.mean_ssim for s in candidate_similarities(
        str(clean_corpus), "test", seed=0, progress=False).samples}
    kept = ~np.isnan(found.truth)
    assert sorted(figure2) == sorted(found.lines[kept].tolist())
    np.testing.assert_allclose(found.truth[kept], [figure2[int(line)] for line in found.lines[kept]],
                               rtol=1e-12)


def test_a_grid_whose_candidates_differ_or_whose_corpus_changed_is_refused(tmp_path, clean_corpus):
    _, _, _, slots = _grid(tmp_path / "a", clean_corpus, None)
    moved = (slots + 1) % 2  # the positive in another slot
    grid, *_ = _grid(tmp_path / "b", clean_corpus, moved.astype(slots.dtype))
    with pytest.raises(similarity.GridUnavailable, match="not those it was tested on"):
        similarity.grid_similarity("paper", grid)
    grid, *_ = _grid(tmp_path / "c", clean_corpus, None, corpus_name="embedded old (seed 0)")
    with pytest.raises(similarity.GridUnavailable, match="ran on embedded old"):
        similarity.grid_similarity("paper", grid)
    # A profile whose corpus is now another: chapter 08's note, and no grouping.
    grouped, refused = similarity.profiles_grouped({"ci": grid})
    assert not grouped and refused["ci"].startswith("the ci profile's corpus is now")


def test_first9_entries_are_left_out_of_the_grouping(tmp_path, clean_corpus):
    """An entry tested on the released first9 candidates has other candidates than the
    grid's random ones: the grid is grouped from its random entries, not refused."""
    _, _, _, slots = _grid(tmp_path, clean_corpus, None)
    moved = ((slots + 1) % 2).astype(slots.dtype)
    grid, *_ = _grid(tmp_path, clean_corpus, moved, entries=("srs_first9",))
    assert set(grid) == {"srs", "mrfn", "srs_first9"}
    grouped, refused = similarity.profiles_grouped({"paper": grid})
    assert not refused and set(grouped["paper"].results) == {"srs", "mrfn"}


# -- the figure ----------------------------------------------------------------------------
def test_the_figure_has_a_panel_per_grouping_and_the_papers_reading():
    values = np.linspace(0.1, 0.9, 10)
    hits = {"SRS": np.ones(10), "MRFN": np.zeros(10)}
    frame = similarity.group_frame(hits, values, np.full(10, 10))
    fig = figures.similarity_groups({"among": frame, "truth": frame.copy()},
                                    paper_reading=paper.FIGURE10, title="t")
    axes = fig.axes
    assert len(axes) == 2
    labels = fig.legends[0].get_texts()
    assert {"SRS", "MRFN", "chance (mean of 1/k)"} <= {t.get_text() for t in labels}
    assert any("0.42" in t.get_text() for t in labels) and any("0.59" in t.get_text() for t in labels)
    assert axes[0].get_xlabel() == "among" and axes[1].get_xlabel() == "truth"
    ticks = [t.get_text() for t in axes[0].get_xticklabels()]
    assert ticks[0] == "1\n0.10–0.19\nn=2" and len(ticks) == 5
    # The paper's lines only on its own grouping's panel.
    assert {line.get_ydata()[0] for line in axes[0].get_lines()} >= {0.42, 0.59}
    assert 0.42 not in {line.get_ydata()[0] for line in axes[1].get_lines()}
    plt.close(fig)
