"""Small plotting and bookkeeping helpers shared by the chapters that take SRS apart.

The chapters on the sticker encoder, the utterance encoder, the deep interaction network and
the fusion network (book chapters 03-06) show the same few kinds of pictures: a sticker with
a p×p map laid over it (its feature grid, or the sticker-wise attention τ^s of the paper's
Figure 8), a heat map with words as tick labels (the attention α of equation 3, the
relation matrix M of equation 7, the utterance-wise attention τ^u of Figure 9), a row of
candidate stickers with their scores, and a table of parameter counts per component.
They live here so that a chapter shows what a layer does, not matplotlib boilerplate.

matplotlib is imported lazily: importing :mod:`srs_lib` never needs it.
"""
from __future__ import annotations

import numpy as np

GROUND_TRUTH_COLOUR = "tab:green"


def show_sticker(ax, image, title=None, *, frame=None, fontsize=9):
    """Draw one `(height, width, 3)` uint8 sticker on `ax`, without ticks.

    `frame` names a colour for a thick border (e.g. to mark the ground truth); None draws
    no border.
    """
    ax.imshow(np.asarray(image))
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(4)
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


def candidate_row(stickers, scores, positive, *, titles=None, figsize_per=1.5):
    """The candidates of one context in a row, each titled with its score, the ground
    truth framed in green; returns the figure.

    `stickers` `(candidates, height, width, 3)`, `scores` `(candidates,)`, `positive` the
    ground truth's slot. `titles` overrides the default "score" titles.
    """
    import matplotlib.pyplot as plt

    scores = np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    rank = {int(slot): r for r, slot in enumerate(order, start=1)}
    fig, axes = plt.subplots(1, len(stickers), figsize=(figsize_per * len(stickers), 2.1))
    for slot, ax in enumerate(np.atleast_1d(axes)):
        title = titles[slot] if titles is not None else (
            f"#{rank[slot]}  {scores[slot]:.4f}" + ("\nground truth" if slot == positive else ""))
        show_sticker(ax, stickers[slot], title,
                     frame=GROUND_TRUTH_COLOUR if slot == positive else None, fontsize=8)
    return fig


def _children(layer):
    """Direct sub-layers of `layer`, in the order they were assigned.

    Keras tracks them itself (on the torch backend they are also torch sub-modules, not
    plain attributes); `_flatten_layers` is how Keras' own summaries walk them.
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def parameter_counts(layer, depth=2):
    """Parameter counts of `layer` and its sub-layers, down to `depth` levels.

    Returns a list of `(depth, name, count)` rows: the layer itself first (depth 0), then
    each of its sub-layers (e.g. `model.sticker_encoder`, then `sticker_encoder.backbone`),
    depth first. Where the sub-layers do not hold all of a layer's weights (weights
    created directly on the layer, such as the trilinear vector w of the deep interaction
    network), a row "(own weights)" holds the rest, so the rows of one level always add up
    to their parent; sub-layers without weights (inputs, dropout) are left out. The layer
    must be built.
    """
    def walk(node, level, name):
        total = int(sum(np.prod(v.shape) for v in node.weights))
        rows = [(level, name, total)]
        if level < depth:
            children = _children(node)
            covered = 0
            for child in children:
                child_rows = walk(child, level + 1, child.name)
                covered += child_rows[0][2]
                if child_rows[0][2]:  # weightless layers (input, dropout) are left out
                    rows.extend(child_rows)
            if children and covered != total:
                rows.append((level + 1, "(own weights)", total - covered))
        return rows

    return walk(layer, 0, layer.name)


def format_counts(rows):
    """:func:`parameter_counts` rows as an indented text table (one line per row)."""
    width = max(len("  " * level + name) for level, name, _ in rows)
    lines = [f"{'component':<{width}}  {'parameters':>12}  {'share':>6}"]
    total = rows[0][2]
    for level, name, count in rows:
        lines.append(f"{'  ' * level + name:<{width}}  {count:>12,}  {count / total:>6.1%}")
    return "\n".join(lines)
