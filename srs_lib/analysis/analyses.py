"""The paper's analyses as experiment grids: their entries, and their results read back.

Four grids train SRS through chapter 07 like the comparison grid does
(:mod:`srs_lib.experiments.grids` runs them into ``results/<grid>/<profile>/<entry>/``),
each changing one thing:

``utterances``     the last k utterances read (section 7.3, Figure 7, RQ3);
``hidden``         the hidden size (section 7.6, Figure 11, RQ6);
``seeds``          the training seed (the evaluation candidates stay those of ``eval_seed``):
                   how far runs differ by chance alone;
``emoji_speedup``  SRS and SRS w/o Classify validated often (section 7.2: the emoji task
                   "can speed up the training process").

An entry that would train exactly what an entry of the comparison grid trained (k = 15 or
hidden 100 in the paper's profile, seed 0) reuses that run (:func:`comparison.reused_from`).
This module only reads: the curves with their intervals (:func:`curve_frame`), the share
of the answer's cue words within the last k utterances of a generated corpus
(:func:`cue_distances`, :func:`cue_shares`), the spread over seeds (:func:`spread_frame`)
beside Table 3's differences (:func:`table3_differences`), and the steps a validation curve
needs to reach a level (:func:`steps_to_reach`, :func:`steps_to_fraction`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from srs_lib import paper
from srs_lib.analysis import comparison
from srs_lib.analysis.comparison import Entry, EntryResult
from srs_lib.provenance import ROOT

#: Where every grid writes its results: ``RESULTS_ROOT / <grid> / <profile> / <entry>``.
RESULTS_ROOT = ROOT / "results"

UTTERANCE_COUNTS = (3, 5, 8, 10, 15, 20)
"""Figure 7's numbers of utterances read (the paper's axis runs from 3 to 20)."""
HIDDEN_SIZES = (50, 100, 150, 200, 250)
"""Figure 11's hidden sizes."""
SEEDS = (0, 1, 2)
"""Training seeds of the ``seeds`` grid."""

GRIDS: dict[str, tuple[Entry, ...]] = {
    "utterances": tuple(Entry(f"k{k}", f"SRS, last {k} utterances", "utterances", "srs",
                              parameters=(("max_utterances", k),)) for k in UTTERANCE_COUNTS),
    "hidden": tuple(Entry(f"hidden{h}", f"SRS, hidden {h}", "hidden", "srs",
                          parameters=(("hidden", h),)) for h in HIDDEN_SIZES),
    "seeds": tuple(Entry(f"seed{s}", f"SRS, seed {s}", "seeds", "srs", parameters=(("seed", s),))
                   for s in SEEDS),
    "emoji_speedup": (Entry("srs", "SRS", "emoji_speedup", "srs"),
                      Entry("srs_wo_classify", "SRS w/o Classify", "emoji_speedup", "srs",
                            ("classify",))),
}
"""Every analysis grid's entries, by grid name."""

#: The chapter parameter each grid varies (its value is the x axis of the grid's figure).
VARIED = {"utterances": "max_utterances", "hidden": "hidden", "seeds": "seed"}


def value_of(entry: Entry, grid: str):
    """The value of the parameter a grid varies in one of its entries (k, hidden, seed)."""
    return dict(entry.parameters)[VARIED[grid]]


def load_grid(grid: str, profiles=comparison.PROFILE_ORDER,
              results: Path = RESULTS_ROOT) -> dict[str, dict[str, EntryResult]]:
    """``{profile: {entry: result}}`` of an analysis grid, for the profiles (in the given
    order) with at least one finished entry; reused entries read the run they reuse."""
    return comparison.load_profiles(profiles, Path(results) / grid, GRIDS[grid])


def overview(grid: str, profiles, loaded: dict[str, dict[str, EntryResult]]) -> list[str]:
    """:func:`comparison.grid_overview` of an analysis grid for each profile (one line
    saying how to run it where it has no results), each with a line naming the entries
    that reuse another grid's run."""
    lines = []
    for profile in profiles:
        results = loaded.get(profile)
        lines += comparison.grid_overview(profile, results, grid=grid, entries=GRIDS[grid])
        reused = [f"{r.entry.label} is {r.reused}" for r in (results or {}).values() if r.reused]
        if reused:
            lines.append(f"  reused, the same run (same training configuration): {'; '.join(reused)}")
    return lines


def heading(profile: str, results: dict[str, EntryResult]) -> str:
    """A Markdown line naming a grid's profile, corpus and training budget (the steps per
    entry and the budget parameters its runs were given: epochs, steps, validation
    interval; "the profile's schedule" when none)."""
    first = next(iter(results.values()))
    given = {k: first.run["parameters"][k] for k in ("epochs", "steps", "auto_test_step")
             if first.run["parameters"].get(k) is not None}
    budget = ", ".join(f"{k} {v}" for k, v in given.items()) or "the profile's schedule"
    return (f"**Profile `{profile}`** ({comparison.corpus_of(results)}; {first.metrics['steps']} "
            f"training steps per entry: {budget})")


# -- curves over a grid's values -----------------------------------------------------------
def curve_frame(grid: str, results: dict[str, EntryResult]):
    """One row per finished entry of a grid, in the order of its values: the value, each
    metric of :data:`srs_lib.paper.METRICS` and the half-width of its 95% interval over the
    test contexts (:func:`comparison.interval`), trainable parameters, median seconds per
    joint step, test contexts and what the entry reuses ("" for its own run)."""
    import pandas as pd

    rows = []
    for entry in GRIDS[grid]:
        if entry.name not in results:
            continue
        result = results[entry.name]
        row = {"entry": entry.name, VARIED[grid]: value_of(entry, grid)}
        for metric in paper.METRICS:
            row[metric], row[f"{metric} ±"] = comparison.interval(result, metric)
        row.update(parameters=result.metrics.get("parameters"),
                   seconds_per_step=result.seconds_per_step,
                   test_contexts=result.metrics.get("test_contexts"), reused=result.reused or "")
        rows.append(row)
    return pd.DataFrame(rows)


def best_and_level(frame, variable: str, metric: str) -> dict:
    """Where a curve peaks and from which value on it is level with its peak.

    ``best``: the value with the highest mean (the first on a tie); ``level_from``: the
    smallest value from which every later point's interval overlaps the best point's
    interval (so no later point can be told from the best); ``rise``: the best minus the
    first point; ``overlaps_first``: whether the first point's interval overlaps the best's
    (then the rise itself is within the noise)."""
    values = frame[variable].tolist()
    means = frame[metric].to_numpy(dtype=float)
    widths = frame[f"{metric} ±"].to_numpy(dtype=float)
    b = int(np.argmax(means))

    def overlaps(i):
        return means[i] + widths[i] >= means[b] - widths[b]

    level = len(values) - 1
    while level > 0 and overlaps(level - 1):
        level -= 1
    return {"best": values[b], "best_value": float(means[b]), "level_from": values[level],
            "rise": float(means[b] - means[0]), "overlaps_first": bool(overlaps(0))}


def utterances_verdict(frame, metric: str = "MAP") -> dict:
    """Figure 7's shape (a rise until about 15 utterances, then level) checked on an
    ``utterances`` curve: :func:`best_and_level` with ``holds`` and a ``verdict`` in words.
    It holds when the best lies beyond the first point's interval and the curve is level
    from k = 10 or 15 on (the paper's grid has no point between); ``holds`` is None (cannot
    tell) when the first point's interval overlaps the best's."""
    found = best_and_level(frame, "max_utterances", metric)
    if found["overlaps_first"]:
        verdict, holds = "cannot tell: no rise beyond the 95% intervals", None
    elif found["level_from"] < 10:
        verdict, holds = f"rises, but is level from k = {found['level_from']} on, before 15", False
    elif found["level_from"] > 15:
        verdict, holds = f"still rising past 15 (level only from k = {found['level_from']})", False
    else:
        verdict, holds = f"holds: rises, level from k = {found['level_from']} on", True
    return {**found, "holds": holds, "verdict": verdict}


def all_hold(verdicts) -> bool | None:
    """Several parts of one claim together: False when any fails, True when every part
    holds, None (cannot tell) otherwise."""
    found = [v["holds"] for v in verdicts]
    return False if False in found else True if all(h is True for h in found) else None


def flat_verdict(frame, variable: str, metric: str) -> dict:
    """Whether a curve is flat within its intervals: every point's 95% interval overlaps
    the best point's (:func:`best_and_level` level from the first value)."""
    found = best_and_level(frame, variable, metric)
    flat = found["level_from"] == frame[variable].iloc[0]
    return {**found, "flat": bool(flat)}


def hidden_verdict(frame, metric: str = "MAP") -> dict:
    """Figure 11's reading (best at hidden 100, every size within a stable interval)
    checked on a ``hidden`` curve, with ``holds`` and a ``verdict`` in words: True when
    the best is at 100, False when it is elsewhere and some size is clearly below it, None
    (cannot tell where the best is) when it is elsewhere but every size lies within its
    interval."""
    found = flat_verdict(frame, "hidden", metric)
    if found["best"] == paper.FIGURE11["best"]:
        holds = True
        verdict = "holds: best at 100" + (", every size within its interval" if found["flat"]
                                          else ", some sizes clearly below it")
    elif found["flat"]:
        holds = None
        verdict = f"cannot tell: best at {found['best']}, but every size within its 95% interval"
    else:
        holds, verdict = False, f"best at {found['best']}, some sizes clearly below it"
    return {**found, "holds": holds, "verdict": verdict}


def speedup_verdict(rows: list[dict], *, floor: float | None = None, noise: float | None = None) -> dict:
    """Section 7.2's claim (the emoji task speeds training up: 19 h against 30 h) checked on
    :func:`speedup_rows`: the steps SRS and SRS w/o Classify need to reach the common
    target, their ratio beside the paper's 19/30, and ``holds`` when SRS needs fewer (a run
    that never reaches it needs more than any that does).

    With ``floor`` (chance) and ``noise`` (the half-width of a 95% interval of one
    evaluation's metric), ``holds`` is None (cannot tell) unless the better run's best
    lies more than twice ``noise`` above the floor: the best of several noisy evaluations
    is biased upwards, so a smaller gain may be noise alone."""
    steps = {row["entry"]: row["common"] for row in rows}
    srs, without = steps.get("srs"), steps.get("srs_wo_classify")
    if "srs" not in steps or "srs_wo_classify" not in steps:
        return {"holds": None, "ratio": None, "verdict": "not run"}
    if floor is not None and noise is not None and max(r["best"] for r in rows) - floor <= 2 * noise:
        return {"holds": None, "ratio": srs / without if srs and without else None,
                "verdict": "cannot tell: the better run's best validation MAP is within the noise of chance"}
    if srs is None and without is None:
        return {"holds": False, "ratio": None, "verdict": "neither run reaches the target"}
    if srs is None or without is None:
        holds = without is None
        return {"holds": holds, "ratio": None,
                "verdict": ("holds: only SRS reaches the target" if holds else
                            "reversed: only SRS w/o Classify reaches the target")}
    ratio = srs / without
    verdict = (f"holds: SRS needs {ratio:.2f} of the steps" if srs < without else
               f"not seen: SRS needs {ratio:.2f} of the steps")
    return {"holds": srs < without, "ratio": ratio, "verdict": verdict}


# -- where the answer's cues are (a generated corpus) --------------------------------------
def cue_distances_of(utterances, answer_emojis, cue_table, max_words: int | None = None,
                     specific: bool = False) -> list[int]:
    """The distance from the end (0: the last utterance) of every cue word of the answer in
    one context: words of ``cue_table[e]`` for the emojis ``e`` of the answer's parts.
    With ``specific``, only the answer's words that are no other emoji's cue word (mood
    words such as "happy" cue several emojis, so a distractor cue of another part of the
    set can use them). Empty utterances are dropped first, as the encoder drops them; with
    ``max_words`` only an utterance's first ``max_words`` words count (what the model is
    given)."""
    cues = frozenset().union(*(cue_table.get(e, frozenset()) for e in answer_emojis))
    if specific:
        cues -= frozenset().union(*(words for e, words in cue_table.items() if e not in answer_emojis))
    kept = [list(u) for u in utterances if len(u)]
    n = len(kept)
    distances = []
    for i, words in enumerate(kept):
        words = words[:max_words] if max_words else words
        distances += [n - 1 - i] * sum(word in cues for word in words)
    return distances


def cue_distances(base_path, split: str = "test", max_words: int | None = None,
                  specific: bool = False) -> list[list[int]]:
    """:func:`cue_distances_of` for every usable sample of a generated corpus's split, the
    answer's parts and the cue lexicon read from its ``synth_info.json``."""
    from srs_lib.analysis import reference

    samples, _ = reference.read_samples(str(base_path), split)
    cue_table = reference.read_cue_table(str(base_path))
    parts = reference.read_parts_table(str(base_path))
    found = []
    for sample in samples:
        shown = [e for _, e in parts[(sample.set_id, sample.sticker_id)]] if parts else [sample.label]
        found.append(cue_distances_of(sample.utterances, shown, cue_table, max_words, specific))
    return found


def cue_shares(distances: list[list[int]], ks) -> dict[int, dict]:
    """For each k: ``cues``, the share of all cue words (of every context together) that lie
    in the last k utterances; ``contexts``, the share of the contexts with a cue that have
    at least one within the last k; ``all_cues``, the share of those whose every cue does."""
    flat = np.array([d for row in distances for d in row], dtype=np.int64)
    cued = [np.asarray(row) for row in distances if row]
    shares = {}
    for k in ks:
        shares[k] = {
            "cues": float(np.mean(flat < k)) if flat.size else float("nan"),
            "contexts": float(np.mean([(row < k).any() for row in cued])) if cued else float("nan"),
            "all_cues": float(np.mean([(row < k).all() for row in cued])) if cued else float("nan"),
        }
    return shares


def geometric_share(recency: float, k: int) -> float:
    """The share of cues a generator draws within the last k utterances when a cue's
    distance from the end is Geometric(``recency``) − 1 (before short contexts cap it):
    ``1 − (1 − recency)^k``."""
    return float(1.0 - (1.0 - recency) ** k)


def covering_k(shares: dict[int, dict], level: float = 0.95, key: str = "cues") -> int | None:
    """The smallest k of :func:`cue_shares` whose share (``key``) reaches ``level``."""
    for k in sorted(shares):
        if shares[k][key] >= level:
            return k
    return None


def target_recency(base_path) -> float | None:
    """The generator's ``target_recency`` from a corpus's ``synth_info.json`` (None for a
    corpus without one, such as the real StickerChat)."""
    info = Path(base_path) / "synth_info.json"
    if not info.exists():
        return None
    return json.loads(info.read_text()).get("dialog_settings", {}).get("target_recency")


# -- seeds ---------------------------------------------------------------------------------
def spread_frame(results: dict[str, EntryResult]):
    """The spread of each test metric over runs that differ only by chance (the ``seeds``
    grid): one row per metric with min, max, range (max − min), the mean and the sample
    standard deviation (ddof 1; NaN with one run) over the runs."""
    import pandas as pd

    rows = []
    for metric in paper.METRICS:
        values = np.array([r.metrics["test"][metric] for r in results.values()], dtype=np.float64)
        rows.append({"metric": metric, "runs": len(values), "min": values.min(), "max": values.max(),
                     "range": values.max() - values.min(), "mean": values.mean(),
                     "std": values.std(ddof=1) if len(values) > 1 else float("nan")})
    return pd.DataFrame(rows).set_index("metric")


def table3_differences(results: dict[str, EntryResult], spread=None):
    """The paper's orderings of Tables 3 and 4 (:func:`comparison.ordering_checks`) as
    differences in a comparison grid, one row per pair and metric: ours (ahead − behind),
    the paper's, and, with ``spread`` (a :func:`spread_frame`), whether our difference is
    larger than the range the seeds alone give."""
    import pandas as pd

    rows = []
    for metric in paper.METRICS:
        for check in comparison.ordering_checks(results, metric):
            if check["ours"] is None:
                continue
            ours = check["ours"][0] - check["ours"][1]
            row = {"pair": check["claim"], "metric": metric, "ours": ours,
                   "paper": check["paper"][0] - check["paper"][1]}
            if spread is not None:
                row["beyond the seeds' range"] = bool(abs(ours) > spread.loc[metric, "range"])
            rows.append(row)
    return pd.DataFrame(rows)


# -- how fast a validation curve rises -----------------------------------------------------
def steps_to_reach(points, target: float, metric: str = "MAP") -> int | None:
    """The first step at which a validation curve (``history["eval"]``: dicts with ``step``
    and ``metric``, in any order) reaches ``target`` (≥), or None when it never does."""
    for point in sorted(points, key=lambda p: p["step"]):
        if point[metric] >= target:
            return int(point["step"])
    return None


def steps_to_fraction(points, fraction: float = 0.9, metric: str = "MAP", *, best: float | None = None,
                      floor: float = 0.0) -> int | None:
    """The first step at which a validation curve has gone ``fraction`` of the way from
    ``floor`` to ``best`` (its own best by default): :func:`steps_to_reach` of
    ``floor + fraction·(best − floor)``. With ``floor = 0`` that is ``fraction`` of the
    best; with chance as the floor, ``fraction`` of the gain over chance. A ``best`` the
    curve never comes near (another run's) may give None."""
    if not points:
        return None
    best = max(p[metric] for p in points) if best is None else best
    return steps_to_reach(points, floor + fraction * (best - floor), metric)


def speedup_rows(results: dict[str, EntryResult], fraction: float = 0.9, metric: str = "MAP",
                 floor: float = 0.0) -> list[dict]:
    """For each run of the ``emoji_speedup`` grid: its best validation ``metric`` and the
    step of it, and the steps to reach ``fraction`` of the way from ``floor`` to its own
    best (``own``) and to the better run's best (``common``), None when never."""
    curves = {name: r.history.get("eval", []) if r.history else [] for name, r in results.items()}
    common = max((p[metric] for c in curves.values() for p in c), default=None)
    rows = []
    for name, points in curves.items():
        if not points:
            continue
        top = max(points, key=lambda p: (p[metric], -p["step"]))
        rows.append({"entry": name, "label": results[name].entry.label, "evaluations": len(points),
                     "best": top[metric], "best_step": top["step"],
                     "own": steps_to_fraction(points, fraction, metric, floor=floor),
                     "common": steps_to_fraction(points, fraction, metric, best=common, floor=floor),
                     "steps": results[name].metrics.get("steps")})
    return rows
