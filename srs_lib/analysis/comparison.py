"""Tables 3 and 4: the comparison grid's entries, and its results read back.

The grid is every model and ablation of the paper's Tables 3 and 4 trained through one
pipeline (:mod:`srs_lib.experiments.grids` runs it into
``results/comparison/<profile>/<entry>/``). This module only reads: :data:`GRID` says what
each entry is, :func:`load_results` reads a profile's finished entries, and
:func:`grid_overview`, :func:`comparison_frame`, :func:`cost_frame`, :func:`ordering_checks`,
:func:`interval`, :func:`chance_at_1`, :func:`protocol_frame` and :func:`to_html` are what
chapters 07, 08, 11 and the reproduction report show, through one code path.
:func:`load_results` also reads the analysis grids (:mod:`srs_lib.analysis.analyses`), whose
entries may reuse a run of this grid (:func:`reused_from`, :func:`entry_done`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from srs_lib import paper
from srs_lib.analysis import metrics
from srs_lib.analysis.metrics import paired_significance, per_context_metrics
from srs_lib.provenance import ROOT, corpus_description
from srs_lib.training.config import DEFAULT_CORPUS, profile_config

#: Where the grids write their results, one folder per profile.
RESULTS = ROOT / "results" / "comparison"
#: Every entry of every grid trains with this seed (and evaluates on the same candidates).
GRID_SEED = 0


@dataclass(frozen=True)
class Entry:
    """One row of the comparison: ``name`` is its folder, ``label`` the paper's row name."""

    name: str
    label: str
    table: str  # "table3", "table4", "sanity", "variant" (ours, shown with Table 4) or
    # "protocol" (the audit of the released candidates, chapter 08's last section)
    model: str | None  # None: the random scorer, nothing trained
    ablation: tuple[str, ...] = ()
    parameters: tuple[tuple[str, object], ...] = ()  # more parameters of the chapter
    protocol: str = "random"  # candidates trained and tested on (srs_lib.training.pipeline)


GRID: tuple[Entry, ...] = (
    Entry("synergistic", "Synergistic", "table3", "synergistic"),
    Entry("psac", "PSAC", "table3", "psac"),
    Entry("smn", "SMN", "table3", "smn"),
    Entry("dam", "DAM", "table3", "dam"),
    Entry("mrfn", "MRFN", "table3", "mrfn"),
    Entry("srs", "SRS", "table3", "srs"),
    Entry("srs_wo_pretrain", "SRS w/o pretrain", "table4", "srs", ("pretrain",)),
    Entry("srs_wo_classify", "SRS w/o Classify", "table4", "srs", ("classify",)),
    Entry("srs_wo_din", "SRS w/o DIN", "table4", "srs", ("din",)),
    Entry("srs_wo_fr", "SRS w/o FR", "table4", "srs", ("fr",)),
    # a modern baseline the paper lacks: the retriever of the two-stage recommender
    # (srs_lib.models.dual_encoder, chapter 09), trained with an in-batch contrastive loss
    Entry("dual_encoder", "dual encoder (ours, not in the paper)", "variant", "dual_encoder"),
    Entry("context_blind", "context-blind", "sanity", "context_blind"),
    Entry("random", "random", "sanity", None),
    # the released code's candidates (first 9 of the set), trained and tested on them
    Entry("context_blind_first9", "context-blind, first9", "protocol", "context_blind",
          protocol="first9"),
    Entry("srs_first9", "SRS, first9", "protocol", "srs", protocol="first9"),
)
ENTRIES = {entry.name: entry for entry in GRID}


def label(model: str, ablation=(), parameters=None, protocol: str = "random") -> str:
    """The paper's name of a model with ablations ("SRS w/o DIN"), further chapter
    ``parameters`` and candidate ``protocol`` (a grid entry's), or the model's own name."""
    for entry in GRID:
        if (entry.model == model and set(entry.ablation) == set(ablation)
                and dict(entry.parameters) == (parameters or {}) and entry.protocol == protocol):
            return entry.label
    return "+".join([model, *(f"w/o {a}" for a in ablation),
                     *(f"{k}={v}" for k, v in (parameters or {}).items()),
                     *([f"protocol={protocol}"] if protocol != "random" else [])])


def grid_entries(profile: str, names=None) -> tuple[list[Entry], dict[str, str]]:
    """The entries a profile's grid runs, and ``{name: why}`` for those it leaves out.

    "w/o pretrain" is left out where a profile's backbone starts from random weights anyway
    (none does: ``paper`` starts from ImageNet, ``cpu`` and ``ci`` from the OpenMoji
    pretraining): there it would be the SRS run again.
    """
    unknown = set(names or ()) - set(ENTRIES)
    if unknown:
        raise SystemExit(f"unknown grid entries: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(ENTRIES)}")
    chosen = [ENTRIES[n] for n in names] if names else list(GRID)
    left_out = {}
    if not profile_config(profile).pretrained:
        left_out["srs_wo_pretrain"] = (f"the {profile} profile's backbone is not pretrained: "
                                       "SRS itself is already 'w/o pretrain'")
    return [e for e in chosen if e.name not in left_out], left_out



# -- reading a grid back -------------------------------------------------------------------
@dataclass
class EntryResult:
    """A finished entry: its metrics report, per-context values and training cost."""

    entry: Entry
    metrics: dict
    per_context: dict  # from srs_lib.analysis.metrics.per_context_metrics
    lines: np.ndarray
    seconds_per_step: float | None
    run: dict
    candidates: np.ndarray | None = None  # real (unpadded) candidates of each test context
    labels: np.ndarray | None = None  # the positive's slot in each test context
    history: dict | None = None  # history.json: losses and validation metrics during training
    reused: str | None = None  # "GRID/ENTRY" when the entry is another grid's run (run.json says)


def _seconds_per_step(history: dict, batch_size: int) -> float | None:
    rates = [r["contexts_per_s"] for r in history.get("train", []) if r.get("stage") == "joint"]
    return float(batch_size / np.median(rates)) if rates else None


def reused_from(folder: Path) -> Path | None:
    """The folder of the run an entry reuses, or None when it is a run of its own.

    An analysis grid's entry that would train exactly what another grid's entry trained
    (the comparison grid's SRS, say) is not trained again: the runner leaves in its folder
    only a ``run.json`` with ``"status": "reused"``, ``reused_from`` ("comparison/srs") and
    ``reused_folder`` (that entry's folder, relative to this one)."""
    run = Path(folder) / "run.json"
    if not run.exists():
        return None
    recorded = json.loads(run.read_text())
    if recorded.get("status") != "reused":
        return None
    return (Path(folder) / recorded["reused_folder"]).resolve()


def entry_done(folder: Path) -> bool:
    """Whether a grid entry's folder holds a finished run, its own or the one it reuses."""
    source = reused_from(folder) or Path(folder)
    return (source / "metrics.json").exists()


def load_results(profile: str, results: Path = RESULTS, entries=GRID) -> dict[str, EntryResult]:
    """Every finished entry of a profile's grid (``entries``: the comparison grid's by
    default), in grid order, missing ones left out. An entry that reuses another grid's run
    (:func:`reused_from`) is read from that run, its ``reused`` naming it."""
    found = {}
    for entry in entries:
        own = results / profile / entry.name
        folder = reused_from(own) or own
        if not (folder / "metrics.json").exists():
            continue
        metrics = json.loads((folder / "metrics.json").read_text())
        saved = np.load(folder / "test_scores.npz", allow_pickle=False)
        history = (json.loads((folder / "history.json").read_text())
                   if (folder / "history.json").exists() else {})
        found[entry.name] = EntryResult(
            entry, metrics, per_context_metrics(saved["scores"], saved["labels"]),
            saved["lines"], _seconds_per_step(history, metrics["config"]["batch_size"]),
            json.loads((folder / "run.json").read_text()),
            saved["mask"].sum(axis=1) if "mask" in saved.files else None, saved["labels"],
            history or None,
            json.loads((own / "run.json").read_text())["reused_from"] if folder != own else None)
    return found


#: Per-context values behind each metric of the tables.
PER_CONTEXT = {"MAP": "reciprocal_rank", "R10@1": "hits@1", "R10@2": "hits@2", "R10@5": "hits@5"}


def significance_markers(results: dict[str, EntryResult], against: str, metric: str,
                         alpha: float = 0.01) -> dict[str, str]:
    """``{entry: "▲" | "▼" | ""}``: a two-tailed paired t-test of each entry's per-context
    ``metric`` against entry ``against`` on the same test contexts ("" for ``against``
    itself, and for every entry when ``against`` has no result)."""
    if against not in results:
        return {name: "" for name in results}
    base = results[against]
    key = PER_CONTEXT[metric]
    markers = {}
    for name, result in results.items():
        if name == against:
            markers[name] = ""
            continue
        if not np.array_equal(result.lines, base.lines):
            raise ValueError(f"{name} and {against} were not tested on the same contexts")
        markers[name] = paired_significance(result.per_context[key], base.per_context[key],
                                            alpha).marker
    return markers


# -- the comparison as the chapters show it ------------------------------------------------
#: The paper's ordering of Table 3's main models, best first (each ahead of the next).
PAPER_ORDER = ("srs", "mrfn", "dam", "smn")
#: Which grid tables each displayed table holds (Table 4 also holds the full SRS).
TABLE_ROWS = {"table3": ("table3", "sanity"), "table4": ("table4", "variant")}
#: Profiles from the most important result to the least.
PROFILE_ORDER = ("paper", "cpu", "ci")
PAPER_SOURCE = "paper (StickerChat)"


def load_profiles(profiles=PROFILE_ORDER, results: Path = RESULTS,
                  entries=GRID) -> dict[str, dict[str, EntryResult]]:
    """``{profile: load_results(profile)}`` for the profiles (in the given order) that have
    at least one finished entry."""
    loaded = {profile: load_results(profile, Path(results), entries) for profile in profiles}
    return {profile: found for profile, found in loaded.items() if found}


def base_path_of(results: dict[str, EntryResult]) -> str:
    """The corpus folder a grid ran on, as its runs name it (relative to ``book/``)."""
    return next(iter(results.values())).run["parameters"]["base_path"]


def corpus_of(results: dict[str, EntryResult]) -> str:
    """The corpus a grid ran on, named as :func:`srs_lib.experiments.report.corpus_description` does."""
    run = next(iter(results.values())).run
    if run.get("corpus"):
        return run["corpus"]
    base = Path(base_path_of(results))
    base = base if base.is_absolute() else ROOT / "book" / base
    return corpus_description(base) if base.exists() else f"the corpus at {base_path_of(results)}"


def profile_corpus(profile: str) -> str | None:
    """The corpus a profile runs on today, as :func:`srs_lib.provenance.corpus_description`
    names it, or None when it has none (the real corpus, whose folder the user names).

    That is its default preset and seed under the current generator version, whether or
    not data/ holds it yet: a run of the profile generates it (or regenerates one written
    by another version) first (:func:`srs_lib.experiments.runner.ensure_corpus`), so the
    answer does not depend on what this machine happens to have generated."""
    from srs_lib.synth.writer import SYNTH_VERSION

    spec = DEFAULT_CORPUS.get(profile)
    if spec is None:
        return None
    preset, seed = spec
    return f"embedded {preset} (seed {seed}, generator {SYNTH_VERSION})"


def stale_corpus_note(profile: str, results: dict[str, EntryResult]) -> str | None:
    """A sentence saying that a grid ran on another corpus than the one its profile runs
    on today (:func:`profile_corpus`), or None when they agree or there is nothing to
    compare with."""
    now = profile_corpus(profile)
    if now is None or now == corpus_of(results):
        return None
    return (f"the {profile} profile's corpus is now {now}; this grid ran on an earlier one, "
            f"so its numbers are not those of today's corpus and code")


def grid_overview(profile: str, results: dict[str, EntryResult] | None, *, grid: str = "comparison",
                  entries=None) -> list[str]:
    """What a profile's grid is, in printable lines: its entries, corpus, test contexts,
    wall time, machine and commits; the entries it has not run yet; and
    :func:`stale_corpus_note` where it ran on an earlier corpus. With no results (None or
    empty), one line saying how to run the grid. ``grid`` and ``entries`` name another
    grid than the comparison and its entries (an analysis grid's reused entries count
    with the run they reuse)."""
    if not results:
        return [f"{profile}: no results (run `python -m srs_lib experiments run {grid} "
                f"--profile {profile}`)"]
    runs = [r.run for r in results.values()]
    minutes = sum(run["wall_seconds"] for run in runs) / 60
    commits = sorted({str(run.get("commit", "?")) for run in runs})
    lines = [f"{profile}: {len(results)} entries on {corpus_of(results)}, "
             f"{results[next(iter(results))].metrics['test_contexts']} test contexts, "
             f"its entries ran {minutes:.0f} min in all on {runs[0].get('machine', '?')} "
             f"(commit{'s' if len(commits) > 1 else ''} {', '.join(commits)})"]
    expected = grid_entries(profile)[0] if entries is None else entries
    missing = [e.label for e in expected if e.name not in results]
    if missing:
        lines.append(f"  not run yet in this grid: {', '.join(missing)}")
    note = stale_corpus_note(profile, results)
    if note is not None:
        lines.append(f"  NOTE: {note}")
    return lines


def comparison_frame(results: dict[str, EntryResult], table: str = "table3", corpus: str | None = None):
    """Table 3 (with the sanity rows) or Table 4 (with SRS) as a pandas DataFrame.

    One row per finished entry, indexed by the paper's label; columns ``(source, metric)``
    with sources ``ours (<corpus>)``, ``▲/▼ vs MRFN``, ``▲/▼ vs SRS`` (the paired t-tests
    of :func:`significance_markers` at α = 0.01; "ref" on the reference's own row, "n/a"
    when the reference has no result) and ``paper (StickerChat)`` (NaN where the paper
    has no row). :func:`to_html` renders it.
    """
    import pandas as pd
    if table not in TABLE_ROWS:
        raise ValueError(f"unknown table {table!r}; choose from {', '.join(TABLE_ROWS)}")
    names = [name for name, result in results.items()
             if result.entry.table in TABLE_ROWS[table] or (table == "table4" and name == "srs")]
    reported = {**paper.TABLE3, **paper.TABLE4}
    nan = (float("nan"),) * len(paper.METRICS)
    markers = {(reference, m): significance_markers(results, reference, m)
               for reference in ("mrfn", "srs") for m in paper.METRICS}
    data = []
    for name in names:
        values = [results[name].metrics["test"][m] for m in paper.METRICS]
        for reference in ("mrfn", "srs"):
            values += ["ref" if name == reference else markers[reference, m][name]
                       if reference in results else "n/a" for m in paper.METRICS]
        values += list(reported.get(results[name].entry.label, nan))
        data.append(values)
    ours = f"ours ({corpus or corpus_of(results)})"
    columns = pd.MultiIndex.from_product(
        [[ours, "▲/▼ vs MRFN", "▲/▼ vs SRS", PAPER_SOURCE], list(paper.METRICS)],
        names=["", "metric"])
    labels = [results[name].entry.label for name in names]
    return pd.DataFrame(data, columns=columns, index=pd.Index(labels, name="model"))


def cost_frame(results: dict[str, EntryResult]):
    """Training cost per finished entry as a pandas DataFrame: trainable parameters and
    median seconds per joint training step (read from the run's history), each also
    relative to SRS, and the steps trained. NaN where a value does not apply (the random
    scorer trains nothing) or SRS did not run."""
    import pandas as pd

    srs = results.get("srs")
    srs_parameters = srs.metrics.get("parameters") if srs else None
    srs_seconds = srs.seconds_per_step if srs else None
    rows = []
    for result in results.values():
        parameters = result.metrics.get("parameters")
        seconds = result.seconds_per_step
        rows.append({
            "parameters": parameters,
            "parameters / SRS": parameters / srs_parameters if parameters is not None and srs_parameters else None,
            "s per step": seconds,
            "time / SRS": seconds / srs_seconds if seconds is not None and srs_seconds else None,
            "steps": result.metrics.get("steps"),
        })
    return pd.DataFrame(rows, index=pd.Index([r.entry.label for r in results.values()], name="model"),
                        dtype=object)


def to_html(frame, digits: int = 3) -> str:
    """A frame of :func:`comparison_frame` or :func:`cost_frame` as an HTML table: floats
    to ``digits`` decimals, integers with thousands separators, missing values as "–"."""
    def cell(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "–"
        if isinstance(value, (bool, np.bool_)) or isinstance(value, str):
            return str(value)
        if isinstance(value, (int, np.integer)):
            return f"{value:,}"
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        return str(value)

    return frame.map(cell).to_html(border=0)


def interval(result: EntryResult, metric: str = "R10@1", z: float = 1.96) -> tuple[float, float]:
    """Mean of a metric over the test contexts and the half-width of its normal-approximation
    interval (z = 1.96: 95%); for R10@k this is the binomial ``z·sqrt(p(1-p)/n)``."""
    values = np.asarray(result.per_context[PER_CONTEXT[metric]], dtype=np.float64)
    return float(values.mean()), float(z * values.std() / np.sqrt(len(values)))


def chance_at_1(results: dict[str, EntryResult]) -> float | None:
    """Chance R10@1 on a grid's test candidates (:func:`srs_lib.analysis.metrics.chance_at_1`
    of their real candidates). None when no entry saved its mask."""
    for result in results.values():
        if result.candidates is not None:
            return metrics.chance_at_1(result.candidates)
    return None


def above_chance(results: dict[str, EntryResult], metric: str = "R10@1") -> list[str]:
    """The entries whose 95% interval on ``metric`` lies wholly above chance."""
    chance = chance_at_1(results)
    if chance is None:
        return []
    above = []
    for name, result in results.items():
        mean, half_width = interval(result, metric)
        if mean - half_width > chance:
            above.append(name)
    return above


def ordering_summary(checks: list[dict]) -> dict:
    """How many of :func:`ordering_checks`' pairs ran, held, and held significantly."""
    ran = [c for c in checks if c["ours"] is not None]
    held = [c for c in ran if c["verdict"] == "holds"]
    return {"ran": len(ran), "held": len(held),
            "significant": sum(c["marker"] == metrics.BETTER for c in held)}


def check_line(check: dict) -> str:
    """One of :func:`ordering_checks`' pairs in words, for a printed list."""
    if check["ours"] is None:
        return f"{check['claim']:<24} {check['verdict']}" + (
            f" ({check['why']})" if "why" in check else "")
    significance = {metrics.BETTER: "significantly", metrics.WORSE: "significantly reversed",
                    "": "not significant"}[check["marker"]]
    return (f"{check['claim']:<24} paper {check['paper'][0]:.3f} > {check['paper'][1]:.3f}; "
            f"ours {check['ours'][0]:.3f} vs {check['ours'][1]:.3f}: {check['verdict']} "
            f"({significance} at α = 0.01)")


def ordering_checks(results: dict[str, EntryResult], metric: str = "R10@1",
                    alpha: float = 0.01, profile: str | None = None) -> list[dict]:
    """The paper's orderings, checked on a grid: each model of :data:`PAPER_ORDER` ahead of
    the next, and SRS ahead of each of its ablations.

    One dict per pair: ``ahead``/``behind`` (entry names), ``claim`` ("SRS > MRFN"),
    ``paper`` and ``ours`` (the two values), ``verdict`` ("holds", "reversed", "tied",
    "left out" when ``profile``'s grid leaves an entry out by design, with the reason as
    ``why``, or "not run" when either entry has no result), and ``marker`` (▲/▼/"" of a
    paired t-test of ``ahead`` against ``behind`` at ``alpha``; "" when not run).
    """
    reported = {**paper.TABLE3, **paper.TABLE4}
    index = paper.METRICS.index(metric)
    pairs = list(zip(PAPER_ORDER, PAPER_ORDER[1:]))
    pairs += [("srs", e.name) for e in GRID if e.table == "table4"]
    left_out = grid_entries(profile)[1] if profile else {}
    checks = []
    for ahead, behind in pairs:
        a, b = ENTRIES[ahead], ENTRIES[behind]
        check = {"ahead": ahead, "behind": behind, "claim": f"{a.label} > {b.label}",
                 "paper": (reported[a.label][index], reported[b.label][index]),
                 "ours": None, "verdict": "not run", "marker": ""}
        why = [left_out[name] for name in (ahead, behind) if name in left_out]
        if why:
            check.update(verdict="left out", why=why[0])
        elif ahead in results and behind in results:
            ra, rb = results[ahead], results[behind]
            if not np.array_equal(ra.lines, rb.lines):
                raise ValueError(f"{ahead} and {behind} were not tested on the same contexts")
            ours = (ra.metrics["test"][metric], rb.metrics["test"][metric])
            key = PER_CONTEXT[metric]
            check.update(ours=ours, verdict=("holds" if ours[0] > ours[1] else
                                             "reversed" if ours[0] < ours[1] else "tied"),
                         marker=paired_significance(ra.per_context[key], rb.per_context[key],
                                                    alpha).marker)
        checks.append(check)
    return checks


# -- the candidate protocols side by side --------------------------------------------------
def under_protocol(results: dict[str, EntryResult], protocol: str = "random") -> dict[str, EntryResult]:
    """The entries of a grid trained and tested under ``protocol`` (the paper's ``random``
    by default: every row of Tables 3 and 4)."""
    return {name: r for name, r in results.items() if r.entry.protocol == protocol}


def protocol_twins(results: dict[str, EntryResult]) -> list[tuple[str, str]]:
    """``(random entry, first9 entry)`` for each finished ``first9`` entry of a grid whose
    twin (same model, ablation and parameters under ``random``) finished too, grid order."""
    twins = []
    for name, result in results.items():
        entry = result.entry
        if entry.protocol != "first9":
            continue
        for other, candidate in results.items():
            e = candidate.entry
            if (e.protocol == "random" and e.model == entry.model and e.ablation == entry.ablation
                    and e.parameters == entry.parameters):
                twins.append((other, name))
                break
    return twins


def protocol_frame(results: dict[str, EntryResult], metrics_shown=("R10@1", "MAP")):
    """Each model trained and tested under both protocols (:func:`protocol_twins`), as a
    pandas DataFrame indexed by the random entry's label, columns ``(protocol, metric)``
    for ``random`` and ``first9`` and ``first9 − random``. Empty when no pair finished."""
    import pandas as pd

    rows, labels = [], []
    for random_name, first9_name in protocol_twins(results):
        a, b = results[random_name].metrics["test"], results[first9_name].metrics["test"]
        rows.append([a[m] for m in metrics_shown] + [b[m] for m in metrics_shown]
                    + [b[m] - a[m] for m in metrics_shown])
        labels.append(results[random_name].entry.label)
    columns = pd.MultiIndex.from_product([["random", "first9", "first9 − random"], list(metrics_shown)],
                                         names=["protocol", "metric"])
    return pd.DataFrame(rows, columns=columns, index=pd.Index(labels, name="model"))
