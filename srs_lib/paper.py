"""The figures the paper reports, in one place, so that every table and plot of the book
can put them beside ours, labelled as the paper's (Gao et al., WWW 2020)."""
from __future__ import annotations

TABLE1 = {
    "train": {"pairs": 320_168, "avg_words_per_utterance": 7.54, "avg_users": 5.81},
    "val": {"pairs": 10_000, "avg_words_per_utterance": 7.50, "avg_users": 5.81},
    "test": {"pairs": 10_000, "avg_words_per_utterance": 7.42, "avg_users": 5.79},
    "library": {"sticker_sets": 3_516, "stickers": 174_695, "avg_stickers_per_set": 49.64},
    "avg_utterances": 15.5,
}
"""Table 1 and section 3.2; ``avg_utterances`` is over all splits."""

FIGURE2_MEAN_SSIM = 0.258
"""Section 3.3 / Figure 2: mean SSIM between a ground truth and its negatives."""

METRICS = ("MAP", "R10@1", "R10@2", "R10@5")

TABLE3 = {
    "Synergistic": (0.593, 0.438, 0.569, 0.798),
    "PSAC": (0.662, 0.533, 0.641, 0.836),
    "SMN": (0.524, 0.357, 0.488, 0.737),
    "DAM": (0.620, 0.474, 0.601, 0.813),
    "MRFN": (0.684, 0.557, 0.672, 0.853),
    "SRS": (0.709, 0.590, 0.703, 0.872),
}
"""Table 3: test-set results with 10 candidates, in :data:`METRICS` order."""

TABLE4 = {
    "SRS w/o pretrain": (0.650, 0.510, 0.641, 0.833),
    "SRS w/o Classify": (0.707, 0.588, 0.700, 0.871),
    "SRS w/o DIN": (0.680, 0.552, 0.669, 0.854),
    "SRS w/o FR": (0.677, 0.551, 0.663, 0.863),
    "SRS": TABLE3["SRS"],
}
"""Table 4: ablations, in :data:`METRICS` order."""


def row(table: dict, name: str) -> dict:
    """One row of Table 3 or 4 as ``{metric: value}``."""
    return dict(zip(METRICS, table[name]))


FIGURE10 = {
    "groups": 5,
    "grouping": "mean SSIM among all candidates of a test sample",
    "all_groups_above": 0.42,
    "best": 0.59,
    "trend": "best when the candidates are least alike, dropping as their similarity rises",
}
"""Section 7.5 / Figure 10: SRS's R10@1 per group of test samples by candidate similarity.
The paper gives no table, only "R10@1 scores of all five groups are above 0.42, and the
highest score reaches 0.59", and that "SRS gains the best performance when the average
similarity of the candidate group is low and its performance drops as similarity
increases"."""


FIGURE7 = {
    "utterances": (3, 20),
    "peak": 15,
    "reading": ("MAP, R10@1 and R10@2 \"first increase until the utterance number reaches 15, and "
                "then fluctuate as the utterance number continues to increase\""),
    "r10_5": ("R10@5 \"fluctuate[s] when the utterance number is below 15, and drop[s] when the "
              "utterance number increases\""),
}
"""Section 7.3 / Figure 7 (RQ3): SRS reading the last 3 to 20 utterances. The paper gives no
values, only the shape: a rise until 15 utterances, then a level (R10@5 flat, then lower)."""

FIGURE11 = {
    "hidden": (50, 100, 150, 200, 250),
    "best": 100,
    "from_50_to_100": {"MAP": 0.4, "R10@1": 1.0},
    "from_100_to_250": {"MAP": -2.2, "R10@1": -3.9},
    "reading": ("\"As the hidden size grows larger from 50 to 100, the performance rises too. [...] "
                "When the hidden size continuously goes larger from 100 to 250, the performance is "
                "declined slightly. [...] each metric maintained at a stable interval\""),
}
"""Section 7.6 / Figure 11 (RQ6): SRS with hidden sizes 50 to 250, best at 100. The changes
are the paper's, in per cent ("improves the MAP and R10@1 scores by 0.4% and 1.0%", "a 2.2%
and 3.9% drop"; it does not say whether relative or in points); its figure has no labels
per point."""

SECTION72_HOURS = {"SRS": 19, "SRS w/o Classify": 30}
"""Section 7.2: hours to train to convergence on a P100, with and without the emoji
classification task ("this additional task can speed up the training process")."""
