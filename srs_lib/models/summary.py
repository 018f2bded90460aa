"""Parameter counts of a model and of its components, as the chapters tabulate them."""
from __future__ import annotations

import numpy as np


def _children(layer):
    """Direct sub-layers of `layer`, in the order they were assigned.

    Keras tracks them itself (on the torch backend they are also torch sub-modules, not
    plain attributes); `_flatten_layers` is how Keras' own summaries walk them.
    """
    return list(layer._flatten_layers(include_self=False, recursive=False))


def parameter_counts(layer, depth=2):
    """Parameter counts of `layer` and its sub-layers, down to `depth` levels.

    Returns a list of `(depth, name, count)` rows: the layer itself first (depth 0), then
    each of its sub-layers (e.g. `model.sticker_encoder`, then `sticker_encoder.backbone_model`),
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
