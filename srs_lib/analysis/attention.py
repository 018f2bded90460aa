"""Where SRS looks: its sticker-wise attention τ^s over the parts of a sticker, and its
utterance-wise attention τ^u over the words (the paper's Figures 8 and 9).

The paper shows τ^s as a heat map over a sticker: "the lighter the area, the higher the
attention weight", and reads it as SRS finding the part of the sticker that answers the
dialog (a winking eye, a thumbs-up, two question marks top right). On a generated corpus
that can be measured: ``synth_info.json`` records, for every sticker, the box of each of its
parts (an expression, an accent, a prop). :func:`attention_on_parts` asks, over a split,
how much of the ground truth's τ^s falls on each kind of part, against the share of the
sticker's area the part covers: a model that looks nowhere in particular puts as much of
its attention on a part as the part has area (a lift of 1).

τ^s is one weight per unit of the p×p grid of O; each unit is given the square of the
sticker it sits on (its receptive field is larger), and a unit's weight counts for a part in
proportion to the share of that square the part's box covers.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srs_lib.data.stickers import STICKER_SHAPE

#: The kinds of part the embedded generator draws (see :mod:`srs_lib.synth.art`).
PART_KINDS = ("expression", "accent", "prop")


def sticker_parts(base_path) -> dict[tuple[int, int], list[dict]]:
    """``{(set_id, sticker_id): [{"kind", "emoji", "box"}, ...]}`` from a generated corpus's
    ``synth_info.json`` (boxes ``[x0, y0, x1, y1]`` in the sticker's pixels); ``{}`` for a
    corpus without one (the real release records no parts)."""
    info = Path(base_path) / "synth_info.json"
    if not info.exists():
        return {}
    meta = json.loads(info.read_text(encoding="utf-8"))
    parts = {}
    for sticker_set in meta.get("sets", []):
        for sticker in sticker_set.get("stickers", []):
            parts[(int(sticker_set["set_id"]), int(sticker["sticker_id"]))] = [
                {"kind": p["kind"], "emoji": p["emoji"], "box": tuple(p["box"])}
                for p in sticker.get("parts", [])]
    return parts


def cell_coverage(box, grid: int, size: int = STICKER_SHAPE[0]) -> np.ndarray:
    """`(grid, grid)`: the share of each unit's square of the sticker that ``box`` covers.

    The sticker (``size`` pixels a side) is cut into ``grid``×``grid`` equal squares, row
    by row as O's units are; ``box`` is ``[x0, y0, x1, y1]`` with x1, y1 exclusive."""
    x0, y0, x1, y1 = (float(v) for v in box)
    edges = np.linspace(0.0, float(size), grid + 1)
    overlap_x = np.clip(np.minimum(edges[1:], x1) - np.maximum(edges[:-1], x0), 0, None)
    overlap_y = np.clip(np.minimum(edges[1:], y1) - np.maximum(edges[:-1], y0), 0, None)
    cell = (size / grid) ** 2
    return np.outer(overlap_y, overlap_x) / cell


def box_share(box, size: int = STICKER_SHAPE[0]) -> float:
    """The share of the sticker's area that ``box`` covers."""
    x0, y0, x1, y1 = (float(v) for v in box)
    inside = max(0.0, min(x1, size) - max(x0, 0.0)) * max(0.0, min(y1, size) - max(y0, 0.0))
    return inside / size**2


def attention_on(tau: np.ndarray, box) -> float:
    """The share of a `(p, p)` attention map (summing to 1) on ``box``."""
    return float(np.sum(tau * cell_coverage(box, tau.shape[0])))


@dataclass(frozen=True)
class PartAttention:
    """:func:`attention_on_parts` over a split: per kind of part, the ground truths that
    have one (``contexts``), the mean share of τ^s on it (``attention``), the mean share of
    the sticker it covers (``area``), their ratio (``lift``) and how often τ^s puts more on
    the part than its area (``above_area``)."""

    kind: str
    contexts: int
    attention: float
    area: float
    above_area: float

    @property
    def lift(self) -> float:
        return self.attention / self.area if self.area else float("nan")


def attention_on_parts(model, batches, parts: dict, limit: int | None = None) -> list[PartAttention]:
    """How much of the ground truth's sticker-wise attention falls on each kind of its parts.

    ``model`` is an SRS with the deep interaction network (:meth:`SRS.explain`); ``batches``
    a :class:`~srs_lib.training.pipeline.RankingBatches` of a split (its candidates, the
    ground truth's slot and the samples' cache rows); ``parts`` from :func:`sticker_parts`.
    τ^s of each real utterance of the context is averaged into one map per context (each
    sums to 1). At most ``limit`` contexts.
    """
    from keras import ops

    from srs_lib.training.trainer import _to_tensors

    keys = batches.cache.keys
    split = batches.split
    found = {kind: {"attention": [], "area": []} for kind in PART_KINDS}
    seen = 0
    for number in range(len(batches)):
        inputs, targets = batches[number]
        explained = model.explain(_to_tensors(inputs))
        tau_s = ops.convert_to_numpy(explained["sticker_attention"])  # (b, c, u, p, p)
        real = np.any(inputs["contexts"] != 0, axis=-1)  # (b, u)
        for row, (slot, sample) in enumerate(zip(targets["label"], targets["index"])):
            if limit is not None and seen >= limit:
                break
            seen += 1
            key = keys[int(split.positive_rows[sample])]
            maps = tau_s[row, int(slot)][real[row]]
            if not len(maps) or key not in parts:
                continue
            tau = maps.mean(axis=0)
            for part in parts[key]:
                found[part["kind"]]["attention"].append(attention_on(tau, part["box"]))
                found[part["kind"]]["area"].append(box_share(part["box"]))
        if limit is not None and seen >= limit:
            break
    result = []
    for kind, values in found.items():
        if not values["area"]:
            continue
        attention, area = np.asarray(values["attention"]), np.asarray(values["area"])
        result.append(PartAttention(kind, len(area), float(attention.mean()), float(area.mean()),
                                    float(np.mean(attention > area))))
    return result


def part_attention_record(model, batches, parts: dict, limit: int | None = None) -> dict:
    """:func:`attention_on_parts` of ``model`` (an SRS with its deep interaction network)
    over ``batches`` as a record: one row per kind of part, with the model's sticker side
    (code, backbone, image size, grid p) and the contexts measured."""
    import dataclasses

    from srs_lib.models.srs import SRS

    if not isinstance(model, SRS) or not model.use_din:
        raise ValueError(f"the model is {type(model).__name__}"
                         f"{' without its deep interaction network' if isinstance(model, SRS) else ''}"
                         ": the sticker-wise attention is SRS's deep interaction network's")
    found = attention_on_parts(model, batches, parts, limit=limit)
    encoder = model.sticker_encoder
    contexts = len(batches.split)
    return {
        "parts": [{**dataclasses.asdict(part), "lift": part.lift} for part in found],
        "contexts": min(contexts, limit) if limit is not None else contexts,
        "sticker_code": encoder.code, "backbone": encoder.backbone,
        "image_size": encoder.image_size, "grid": encoder.grid_size,
    }


def parts_frame(record: dict):
    """The record's rows as a table, one per kind of part."""
    import pandas as pd

    frame = pd.DataFrame(record["parts"]).set_index("kind")
    frame = frame[["contexts", "attention", "area", "lift", "above_area"]]
    return frame.rename(columns={"attention": "share of τ^s on it", "area": "share of the area",
                                 "above_area": "contexts with τ^s above the area"})


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True, help="a saved SRS (.keras)")
    parser.add_argument("--base_path", required=True,
                        help="a generated corpus (it records its stickers' parts)")
    parser.add_argument("--test_path", default="release_test.json", help="(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many contexts")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--json", dest="json_out", help="write the record here")


def run(args) -> int:
    from srs_lib.files import write_json_atomically
    from srs_lib.provenance import corpus_description, current_commit, machine_description

    from srs_lib.training.trainer import load_for_evaluation

    parts = sticker_parts(args.base_path)
    if not parts:
        raise ValueError(f"{args.base_path} has no synth_info.json: only a generated corpus "
                         "records where its stickers' parts are (the real release does not)")
    model, _, _, batches = load_for_evaluation(args.checkpoint, args.base_path, args.test_path,
                                               cache_dir=args.cache_dir)
    record = part_attention_record(model, batches, parts, limit=args.limit)
    record.update(test_path=args.test_path, checkpoint=Path(args.checkpoint).name,
                  corpus=corpus_description(args.base_path), commit=current_commit(),
                  machine=machine_description(), date=time.strftime("%Y-%m-%d %H:%M"))
    print(f"{record['contexts']} contexts of {args.test_path}; O is "
          f"{record['grid']}×{record['grid']} ({record['sticker_code']}, {record['backbone']} at "
          f"{record['image_size']}×{record['image_size']})")
    print(parts_frame(record).round(3).to_string())
    if args.json_out:
        write_json_atomically(Path(args.json_out), record)
    return 0
