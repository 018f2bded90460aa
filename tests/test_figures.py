"""The book's figures: one colour scheme, the candidate strip, maps over stickers, heat maps
with words, emoji labels and dialogs as Markdown."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from srs_lib import figures  # noqa: E402
from srs_lib.data.dialogs import parse_dialog  # noqa: E402

STICKERS = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)


def _frame(ax):
    spines = list(ax.spines.values())
    if not spines[0].get_visible():
        return None
    return mcolors.to_hex(spines[0].get_edgecolor()), spines[0].get_linestyle()


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_sticker_sets_outline_each_part_in_its_colour_and_name_it():
    parts = [[{"kind": "expression", "emoji": "😂", "box": [2, 3, 10, 12]},
              {"kind": "accent", "emoji": "❓", "box": [0, 0, 4, 4]}],
             [{"kind": "expression", "emoji": "😭", "box": [1, 1, 8, 8]}]]
    fig = figures.sticker_sets([("set A", STICKERS[:2], parts), ("set B", STICKERS[2:3], parts[1:])])
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].axison  # two columns, row B has one sticker
    boxes = [(p.get_x(), p.get_y(), p.get_width(), mcolors.to_hex(p.get_edgecolor())) for p in axes[0].patches]
    assert boxes == [(1.5, 2.5, 8, figures.PART_COLOURS["expression"]), (-0.5, -0.5, 4, figures.PART_COLOURS["accent"])]
    assert axes[0].get_xlabel() == "joy\nquestion"
    titles = {t.get_text(): t.get_position()[1] for t in fig.texts}
    assert titles["set A"] > titles["set B"], "each row is titled, top to bottom"


def test_candidate_strip_frames_the_truth_and_same_label_negatives():
    fig = figures.candidate_strip(STICKERS, positive=2, labels=["😂", "😭", "😂", "😂"])
    frames = [_frame(ax) for ax in fig.axes]
    assert frames[2] == (figures.GROUND_TRUTH_COLOUR, "-")
    assert frames[0] == frames[3] == (figures.SAME_EMOJI_COLOUR, "--")
    assert frames[1] is None
    assert fig.axes[2].get_xlabel().startswith("ground truth\n")
    assert fig.axes[1].get_xlabel() == figures.emoji_label("😭") == "sob"


def test_candidate_strip_captions_ranks_and_scores_and_fills_a_grid():
    fig = figures.candidate_strip(STICKERS, positive=0, scores=[0.1, 0.9, 0.5, -1.0], columns=3)
    assert len(fig.axes) == 6 and not fig.axes[5].axison  # 4 stickers in a 2×3 grid
    captions = [ax.get_xlabel() for ax in fig.axes[:4]]
    assert captions == ["ground truth\n#3  0.1000", "#1  0.9000", "#2  0.5000", "#4  -1.0000"]


def test_overlay_grid_stretches_the_map_over_the_sticker():
    fig, ax = plt.subplots()
    shown = figures.overlay_grid(ax, STICKERS[0], np.arange(9.0).reshape(3, 3), lines=True)
    assert shown.get_extent() == [0, 16, 16, 0]
    assert len(ax.lines) == 4  # two inner borders each way


def test_word_heatmap_labels_columns_with_words():
    fig, ax = plt.subplots()
    figures.word_heatmap(ax, np.array([0.2, 0.8]), ["hello", "world"], title="τ")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["hello", "world"]
    assert ax.get_yticks().size == 0 and ax.get_title() == "τ"


def test_emoji_labels_are_short_ascii_names():
    assert figures.emoji_label("👎") == "thumbsdown"  # not "-1"
    assert figures.emoji_label("\U000fffff") == "U+FFFFF"  # no name: its code points


def test_emoji_ticks_draw_artwork_or_a_name():
    fig, ax = plt.subplots()
    figures.emoji_ticks(ax, ["😂", "\U000fffff"])
    assert len(ax.artists) == 1 and ax.texts[0].get_text() == "U+FFFFF"


def test_dialog_markdown_letters_speakers_escapes_and_highlights():
    line = ('{"context": [{"text": "so *sad* today", "id": 1, "from_id": 9, "reply_to_msg_id": null},'
            ' {"text": "lol", "id": 2, "from_id": 7, "reply_to_msg_id": null},'
            ' {"text": "", "id": 3, "from_id": 9, "reply_to_msg_id": null}],'
            ' "current": {"from_id": 5, "reply_to_msg_id": null, "sticker_set_id": 1,'
            ' "sticker_id": 2, "sticker_alt": "😂"}}')
    dialog = parse_dialog(line, 0)
    assert figures.speaker_letters(dialog) == {9: "A", 7: "B", 5: "C"}
    text = figures.dialog_markdown(dialog, last=2, highlight={"lol"})
    assert text.splitlines() == ["- *… 1 earlier utterances*", "- **B**: **lol**",
                                 "- **A**: *(empty)*",
                                 "- **C** replies with a sticker labelled 😂 (`joy`)"]
    assert r"\*sad\*" in figures.dialog_markdown(dialog)


def test_validation_curves_draw_one_line_per_run_and_the_chance_line():
    fig, ax = plt.subplots()
    figures.validation_curves(ax, {"a": [{"step": 300, "R10@1": 0.1}, {"step": 600, "R10@1": 0.3}],
                                   "b": [{"step": 600, "R10@1": 0.2}]}, chance=0.11)
    lines = ax.get_lines()
    assert [list(line.get_xdata()) for line in lines[:2]] == [[300, 600], [600]]
    assert list(lines[0].get_ydata()) == [0.1, 0.3]
    assert list(lines[2].get_ydata()) == [0.11, 0.11] and lines[2].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "chance"]
