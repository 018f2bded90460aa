"""``python -m srs_lib diagnose``: short training runs that measure what SRS needs to learn.

    python -m srs_lib diagnose --base_path data/small [--runs NAME ...] [--joint_steps 600]
                               [--json results/diagnostics/cpu.json]

Each run is SRS on a profile (``cpu`` by default) as the diagnosis began with it
(:data:`~srs_lib.analysis.fixed_codes.DIAGNOSIS_BASE`: the emoji code) with one change
from :data:`VARIANTS`:
the printed forms of the equations where SRS follows the released code, one Adam shared by
both training stages, the small CNN's own sticker features. A run trains the emoji stage
and then ``joint_steps`` joint steps, and is evaluated once on ``eval_limit`` validation
contexts (the same candidates for every run). Runs are seeded alike, so the only
difference between two rows is the change.

``--representations`` instead trains the emoji stage alone and records, beside the runs,
what the ranker would read at the hand-over (:func:`representation_shares`): how the
sticker representations vary between sets and, within a set, by meaning, and the emoji
head's accuracy on stickers held out from that stage.

``--fixed_codes [CODE ...]`` trains SRS without its sticker encoder against fixed sticker
codes derived from the emoji stage (:mod:`srs_lib.analysis.fixed_codes`), into the same
record under ``"fixed_codes"``.

With ``--json`` the rows are written after each run, and runs already in the file are
skipped (``--force`` re-runs them), so an interrupted diagnosis resumes. Chapter 07 shows
the committed ``results/diagnostics/cpu.json``; chapters 04-06 and the docstrings of
:class:`~srs_lib.models.srs.SRS`, :class:`~srs_lib.layers.StickerEncoder`,
:class:`~srs_lib.layers.AttentiveModule` and the trainer cite it in words, and a test
checks those words against it.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from srs_lib.analysis.fixed_codes import diagnosis_config, emoji_stage_library, label_means
from srs_lib.files import write_json_atomically
from srs_lib.provenance import corpus_description, current_commit, machine_description
from srs_lib.training.config import PROFILES
from srs_lib.training.trainer import Trainer

#: Validation every this many steps of a run (its last step always), for the run's curve.
EVAL_EVERY = 300
#: name: (what the run changes, the training-configuration changes; "joint_steps" changes
#: the run's length).
VARIANTS: dict[str, tuple[str, dict]] = {
    "defaults": ("the profile as the diagnosis began with it (the emoji code)", {}),
    "sigmoid_score": ('score_activation="sigmoid" (eq. 17 as printed)',
                      {"model_options": {"score_activation": "sigmoid"}}),
    "words_not_integrated": ("integrate_words=False (Q2 = FC([Q1; l]) as printed)",
                             {"model_options": {"integrate_words": False}}),
    "paper_submult": ('submult="paper" (eq. 14 as printed)',
                      {"model_options": {"submult": "paper"}}),
    "paper_attention": ('attention_form="paper" (eqs. 3 and 6 as printed)',
                        {"model_options": {"attention_form": "paper"}}),
    "raw_attention": ("softmax_attention=False (τ of eqs. 8-9 raw, as printed)",
                      {"model_options": {"softmax_attention": False}}),
    "all_printed_forms": ("all four of the above",
                          {"model_options": {"score_activation": "sigmoid",
                                             "integrate_words": False, "submult": "paper",
                                             "attention_form": "paper"}}),
    "shared_adam": ("one Adam for both training stages", {"shared_adam": True}),
    "features": ('sticker_code="features" (the small CNN\'s own O and O_flat)',
                      {"sticker_code": "features"}),
    "features_hinge_mean": ("the CNN's own features, the hinge averaged over the negatives "
                            "(the released code)",
                            {"sticker_code": "features", "hinge_reduction": "mean"}),
    "features_backbone_frozen": ("the CNN's own features, the backbone frozen after the "
                                 "emoji stage",
                                 {"sticker_code": "features", "backbone_lr_scale": 0.0}),
    "features_pooled": ('sticker_code="pooled" (the CNN\'s O_flat as the single unit of O)',
                        {"sticker_code": "pooled"}),
    "features_lr_3e-4": ("the CNN's own features, the learning rate 3e-4 → 3e-5 instead of "
                         "1e-3 → 1e-4",
                         {"sticker_code": "features", "learning_rate": 3e-4,
                          "end_learning_rate": 3e-5}),
    "features_last_map": ("the CNN's own features, O from its last map (the one O_flat "
                          "pools and the emoji loss trains) instead of the third",
                          {"sticker_code": "features", "feature_map": "last"}),
    "features_pooled_stopped": ('sticker_code="pooled" with the ranking loss stopped before '
                                "the sticker encoder (O_flat as the emoji stage and the emoji "
                                "loss make it, never moved by the ranking loss)",
                                {"sticker_code": "pooled", "ranking_stop": "encoder"}),
    "emoji_code_soft": ("the emoji code weighted by a posterior at temperature 4 (the codes "
                        "of several emojis blended)",
                        {"code_temperature": 4.0}),
    "features_without_fr": ("the CNN's own features, without the fusion RNN and SUBMULT "
                            "(the prediction GRU reads the fusion Transformer's output: the "
                            "\"w/o FR\" ablation)",
                            {"sticker_code": "features",
                             "model_options": {"use_fusion_rnn": False}}),
    "features_pooled_without_fr": ('sticker_code="pooled" without the fusion RNN and SUBMULT '
                                   "(the fixed-code measurement's learning case, with the CNN "
                                   "trained on)",
                                   {"sticker_code": "pooled",
                                    "model_options": {"use_fusion_rnn": False}}),
    "features_pooled_stopped_without_fr": ('sticker_code="pooled", the ranking loss stopped '
                                           "before the sticker encoder, without the fusion RNN "
                                           "and SUBMULT (O_flat moved by the emoji loss alone)",
                                           {"sticker_code": "pooled", "ranking_stop": "encoder",
                                            "model_options": {"use_fusion_rnn": False}}),
    "features_submult_norm": ("the CNN's own features, SUBMULT's output layer-normalised "
                              "before the prediction GRU (submult_norm)",
                              {"sticker_code": "features",
                               "model_options": {"submult_norm": True}}),
    "features_long": ("the CNN's own features, 1,500 joint steps instead of 600",
                      {"sticker_code": "features", "joint_steps": 1500}),
    "features_joint_lr_0.3": ("the CNN's own features, the joint stage's learning rate 3e-4 → "
                              "3e-5 (the emoji stage's kept), for the cpu profile's 2,500 "
                              "steps (2,300 joint)",
                              {"sticker_code": "features", "joint_lr_scale": 0.3,
                               "joint_steps": 2300}),
    "features_joint_lr_0.1": ("the CNN's own features, the joint stage's learning rate 1e-4 → "
                              "1e-5 (the paper's; the emoji stage's kept), for the cpu "
                              "profile's 2,500 steps (2,300 joint)",
                              {"sticker_code": "features", "joint_lr_scale": 0.1,
                               "joint_steps": 2300}),
    "features_q2_norm": ("the CNN's own features, Q2 layer-normalised where the fusion "
                         "network reads it (q2_norm), for the cpu profile's 2,500 steps "
                         "(2,300 joint)",
                         {"sticker_code": "features", "model_options": {"q2_norm": True},
                          "joint_steps": 2300}),
    "features_q2_norm_joint_lr_0.3": ("the CNN's own features, Q2 layer-normalised (q2_norm) "
                                      "and the joint stage's learning rate 3e-4 → 3e-5, for "
                                      "the cpu profile's 2,500 steps (2,300 joint)",
                                      {"sticker_code": "features", "joint_lr_scale": 0.3,
                                       "model_options": {"q2_norm": True},
                                       "joint_steps": 2300}),
    "features_q2_norm_warmup_300": ("the CNN's own features, Q2 layer-normalised (q2_norm), "
                                    "the joint stage's learning rate warmed up linearly over "
                                    "its first 300 steps, for the cpu profile's 2,500 steps "
                                    "(2,300 joint)",
                                    {"sticker_code": "features", "joint_warmup_steps": 300,
                                     "model_options": {"q2_norm": True},
                                     "joint_steps": 2300}),
}


def run_variant(name: str, base_path, profile: str = "cpu", *, joint_steps: int = 600,
                eval_limit: int | None = 600, cache_dir=None, verbose: bool = True) -> dict:
    """Train one variant and return its row (validation metrics, steps, wall time)."""
    what, changes = VARIANTS[name]
    training = {k: v for k, v in changes.items() if k != "joint_steps"}
    joint_steps = changes.get("joint_steps", joint_steps)
    config = diagnosis_config(profile, **training)
    steps = (config.emoji_steps if config.classify else 0) + joint_steps
    config = config.replace(steps=steps, auto_test_step=min(EVAL_EVERY, steps),
                            eval_limit=eval_limit)
    start = time.monotonic()
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(config, base_path, logs, name, cache_dir=cache_dir, verbose=verbose)
        trainer.fit(resume=False)
        evaluations = trainer.history["eval"]
    return {"run": name, "changes": what, "config": changes, "steps": steps,
            "joint_steps": joint_steps,
            "validation": {k: v for k, v in evaluations[-1].items()
                           if k not in ("step", "contexts_per_s")},
            "curve": [{"step": e["step"], "MAP": e["MAP"], "R10@1": e["R10@1"]}
                      for e in evaluations],
            "wall_seconds": round(time.monotonic() - start, 1),
            "threads": os.environ.get("OMP_NUM_THREADS", "default")}


#: The meanings :func:`representation_shares` groups stickers by, within their set.
MEANINGS = {
    "label": "the sticker's emoji label (sticker_alt)",
    "expression": "its expression part (generated corpora)",
    "accent": "its accent part, or none (generated corpora)",
}


def variance_shares(vectors: np.ndarray, sets: np.ndarray, meanings: dict, *, seed: int = 0) -> dict:
    """How ``vectors`` (n, k) vary: the share of the variance between ``sets`` (n,), and
    for each grouping in ``meanings`` (name → keys (n,)) the share of the variance
    *within* sets that the grouping explains (stickers of one set and one key against
    their set's mean), beside the same share for the keys shuffled within each set (what
    groups of those sizes explain by chance). Ranking the candidates of one set needs the
    within-set part: the rest is the same for all of them."""
    x = np.asarray(vectors, dtype=np.float64)
    sets = np.asarray(sets)
    total = float(((x - x.mean(axis=0)) ** 2).sum())
    set_means = label_means(x, sets.astype(str))
    within = float(((x - set_means) ** 2).sum())
    rng = np.random.default_rng(seed)

    def explained(keys):
        means = label_means(x, np.char.add(np.char.add(sets.astype(str), "|"),
                                           np.asarray(keys, dtype=str)))
        return float(((means - set_means) ** 2).sum()) / within if within else 0.0

    shares = {"across_sets": 1.0 - within / total if total else 0.0}
    for name, keys in meanings.items():
        keys = np.asarray(keys, dtype=str)
        shuffled = keys.copy()
        for set_id in np.unique(sets):
            rows = np.flatnonzero(sets == set_id)
            shuffled[rows] = keys[rng.permutation(rows)]
        shares[name] = {"explained": explained(keys), "shuffled": explained(shuffled)}
    return shares


def sticker_meanings(base_path, keys, emojis) -> dict[str, list[str]]:
    """Each cached sticker's meanings (see :data:`MEANINGS`): its label, and on a generated
    corpus (``synth_info.json``) its expression and accent parts."""
    meanings = {"label": list(emojis)}
    info = Path(base_path) / "synth_info.json"
    if not info.exists():
        return meanings
    parts = {}
    for sticker_set in json.loads(info.read_text(encoding="utf-8"))["sets"]:
        for sticker in sticker_set["stickers"]:
            kinds = {p["kind"]: p["emoji"] for p in sticker.get("parts", [])}
            parts[(int(sticker_set["set_id"]), int(sticker["sticker_id"]))] = kinds
    for kind in ("expression", "accent"):
        meanings[kind] = [parts.get((int(s), int(k)), {}).get(kind, "none") for s, k in keys]
    return meanings


#: Share of the stickers held out from the emoji stage of :func:`representation_shares`.
EMOJI_HELD_OUT = 0.1


def representation_shares(base_path, profile: str = "cpu", *, codes=("emoji", "features"),
                          cache_dir=None, batch: int = 256, verbose: bool = True) -> dict:
    """What the ranker reads at the hand-over to the joint stage: train each sticker code's
    emoji stage alone (:func:`emoji_stage_library`), and measure :func:`variance_shares`
    of O_flat and of O (its units side by side), by set and by meaning; and the emoji
    head's accuracy on the :data:`EMOJI_HELD_OUT` share of stickers whose emoji the stage
    never saw, beside its accuracy on the others and the most frequent label's share."""
    result = {}
    for code in codes:
        library = emoji_stage_library(base_path, profile, code=code,
                                      emoji_held_out=EMOJI_HELD_OUT, cache_dir=cache_dir,
                                      batch=batch, verbose=verbose)
        sets = np.array([s for s, _ in library["keys"]], dtype=np.int64)
        meanings = sticker_meanings(base_path, library["keys"], library["emojis"])
        result[code] = {"O_flat": variance_shares(library["vectors"], sets, meanings),
                        "O": variance_shares(library["maps"], sets, meanings),
                        "emoji_accuracy": emoji_accuracy(library["predicted"], library["labels"],
                                                         library["held_out"]),
                        "emoji_steps": library["emoji_steps"], "stickers": len(sets)}
    return result


def run_diagnosis(base_path, names=None, *, profile: str = "cpu", json_out=None,
                  force: bool = False, **options) -> dict:
    """Run the named variants (all by default); returns (and writes) the whole record.

    A run already in ``json_out`` is skipped when it ran on the same corpus; one from
    another corpus (an older generator, another seed) runs again and replaces it. Each
    finished run is merged into the file under a lock, so two diagnoses given different
    runs may share one record.
    """
    names = list(names or VARIANTS)
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown runs: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(VARIANTS)}")
    path = Path(json_out) if json_out else None
    corpus = corpus_description(base_path)
    commit = current_commit()  # the code this process runs, whatever is committed later
    record = _read_record(path, profile, corpus)
    for i, name in enumerate(names, 1):
        tag = f"[diagnose {i}/{len(names)}] {name}"
        done = _read_record(path, profile, corpus)["runs"].get(name) if path else None
        if done and done["corpus"] == corpus and not force:
            print(f"{tag}: done before, skipped", flush=True)
            record["runs"][name] = done
            continue
        print(f"{tag}: {VARIANTS[name][0]} ...", flush=True)
        started = {"commit": commit, "date": time.strftime("%Y-%m-%d %H:%M")}
        row = {**run_variant(name, base_path, profile, **options), **started,
               "corpus": corpus, "machine": machine_description()}
        print(f"{tag}: validation R10@1 {row['validation']['R10@1']:.3f} "
              f"({row['wall_seconds']:.0f} s)", flush=True)
        record = _add_row(path, profile, corpus, row) if path else record
        record["runs"][name] = row
    return record


def _read_record(path, profile: str, corpus: str) -> dict:
    """The record at ``path`` (empty if none), each row tagged with the corpus it ran on."""
    if not path or not path.exists():
        return {"profile": profile, "corpus": corpus, "runs": {}}
    record = json.loads(path.read_text())
    if record.get("profile") != profile:
        raise SystemExit(f"{path} holds runs of the {record.get('profile')} profile, not {profile}")
    for row in record.get("runs", {}).values():
        row.setdefault("corpus", record.get("corpus"))
    record.setdefault("runs", {})
    return record


def _add_row(path: Path, profile: str, corpus: str, row: dict) -> dict:
    """Merge ``row`` into the record at ``path`` (see :func:`_update_record`)."""
    return _update_record(path, profile, corpus, lambda record: record["runs"].update({row["run"]: row}))


def _update_record(path: Path, profile: str, corpus: str, update) -> dict:
    """Apply ``update`` to the record at ``path`` under an exclusive lock and write it back;
    runs (and representations) measured on another corpus than ``corpus`` are dropped
    first (they no longer describe it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = _read_record(path, profile, corpus)
        record["runs"] = {name: r for name, r in record["runs"].items()
                          if r["corpus"] == corpus}
        for section in ("representations", "fixed_codes"):
            if record.get(section, {}).get("corpus") != corpus:
                record.pop(section, None)
        record.update(corpus=corpus)
        update(record)
        write_json_atomically(path, record)
    return record


def emoji_accuracy(predicted: np.ndarray, labels: np.ndarray, held_out_rows) -> dict:
    """The emoji head's top-1 accuracy on the held-out stickers and on the others (stickers
    with a label in the vocabulary only), with the held-out stickers' count and the share
    of their most frequent label (what always guessing it would score)."""
    known = labels >= 0
    held = np.zeros(len(labels), dtype=bool)
    held[np.asarray(held_out_rows, dtype=np.int64)] = True
    held_known, seen_known = held & known, ~held & known
    majority = (np.bincount(labels[held_known]).max() / held_known.sum()) if held_known.any() else 0.0

    def accuracy(rows):
        return float((predicted[rows] == labels[rows]).mean()) if rows.any() else 0.0

    return {"held_out": accuracy(held_known), "seen": accuracy(seen_known),
            "held_out_stickers": int(held_known.sum()), "majority_label": float(majority)}


def record_representations(base_path, json_out, *, profile: str = "cpu", **options) -> dict:
    """:func:`representation_shares` written into the record ``json_out`` under
    ``"representations"`` (with the corpus, commit, date and machine)."""
    corpus = corpus_description(base_path)
    started = {"commit": current_commit(), "date": time.strftime("%Y-%m-%d %H:%M")}
    shares = {**representation_shares(base_path, profile, **options), **started,
              "corpus": corpus, "machine": machine_description()}
    return _update_record(Path(json_out), profile, corpus,
                          lambda record: record.update(representations=shares))


def representation_frame(record: dict):
    """The record's representations as a table: one row per (sticker code, output), the
    share across sets, then per meaning the within-set share explained and, in brackets,
    the share its keys explain shuffled within each set."""
    import pandas as pd

    shares = record["representations"]
    rows = []
    for code, outputs in shares.items():
        if not (isinstance(outputs, dict) and "O_flat" in outputs):
            continue
        for output in ("O_flat", "O"):
            found = outputs[output]
            row = {"sticker code": code, "output": output,
                   "across sets": round(found["across_sets"], 3)}
            for name in MEANINGS:
                if name in found:
                    row[f"within sets: {name}"] = (f"{found[name]['explained']:.3f} "
                                                   f"({found[name]['shuffled']:.3f})")
            rows.append(row)
    return pd.DataFrame(rows).set_index(["sticker code", "output"])


def diagnosis_frame(record: dict):
    """The record as a table: one row per run, in :data:`VARIANTS` order, then any runs
    that an earlier version of this command named otherwise. What a run changes is told
    as :data:`VARIANTS` tells it today (the record's own words otherwise)."""
    import pandas as pd

    names = [n for n in VARIANTS if n in record["runs"]]
    rows = [record["runs"][n] for n in names + sorted(set(record["runs"]) - set(names))]
    return pd.DataFrame({
        "run": [r["run"] for r in rows],
        "what changes": [VARIANTS.get(r["run"], (r["changes"],))[0] for r in rows],
        "joint steps": [r["joint_steps"] for r in rows],
        "validation contexts": [r["validation"]["contexts"] for r in rows],
        "validation R10@1": [round(r["validation"]["R10@1"], 3) for r in rows],
        "validation MAP": [round(r["validation"]["MAP"], 3) for r in rows],
    }).set_index("run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base_path", required=True, help="corpus in the StickerChat release format")
    parser.add_argument("--profile", default="cpu", choices=tuple(PROFILES))
    parser.add_argument("--runs", nargs="*", choices=list(VARIANTS), default=None,
                        help="which variants (default: all)")
    parser.add_argument("--joint_steps", type=int, default=600,
                        help="joint steps after the emoji stage (default: %(default)s)")
    parser.add_argument("--eval_limit", type=int, default=600,
                        help="validation contexts (default: %(default)s)")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--json", dest="json_out",
                        help="write the runs here (runs already in it are skipped)")
    parser.add_argument("--force", action="store_true", help="re-run runs already in --json")
    parser.add_argument("--representations", action="store_true",
                        help="instead of the runs: train the emoji stage alone for the emoji "
                             "code and for the CNN's own features, and record how the sticker "
                             "representations vary between sets and, within a set, by meaning "
                             "(needs --json)")
    parser.add_argument("--fixed_codes", nargs="*", default=None, metavar="CODE",
                        help="instead of the runs: train SRS without its sticker encoder "
                             "against fixed sticker codes (all of them if none is named; "
                             "see srs_lib.analysis.fixed_codes) for --joint_steps steps "
                             "(needs --json; codes already in it at that many steps are "
                             "skipped; rows of other than 600 steps are keyed NAME@STEPS)")


def record_fixed_codes(base_path, json_out, names=None, *, profile: str = "cpu",
                       force: bool = False, **options) -> dict:
    """:func:`srs_lib.analysis.fixed_codes.fixed_code_rows` written into the record
    ``json_out`` under ``"fixed_codes"`` (each row with its corpus, commit, date and
    machine), one row at a time; rows already there for this corpus are skipped unless
    ``force``."""
    from srs_lib.analysis.fixed_codes import FIXED_CODES, fixed_code_rows

    unknown = set(names or ()) - set(FIXED_CODES)
    if unknown:
        raise SystemExit(f"unknown fixed codes: {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(FIXED_CODES)}")
    path, corpus = Path(json_out), corpus_description(base_path)
    started = {"commit": current_commit(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "corpus": corpus, "machine": machine_description()}
    kept = _read_record(path, profile, corpus).get("fixed_codes", {})
    done = {} if force or kept.get("corpus") != corpus else kept.get("rows", {})

    def add(name, row):
        def update(record):
            section = record.setdefault("fixed_codes", {"corpus": corpus, "rows": {}})
            section["rows"][name] = {**row, **started}
        _update_record(path, profile, corpus, update)

    fixed_code_rows(base_path, names, profile=profile, done=done, on_row=add, **options)
    return _read_record(path, profile, corpus)


def run(args: argparse.Namespace) -> int:
    if args.fixed_codes is not None:
        if not args.json_out:
            raise SystemExit("--fixed_codes writes into a record: give --json")
        from srs_lib.analysis.fixed_codes import fixed_codes_frame

        record = record_fixed_codes(args.base_path, args.json_out, args.fixed_codes or None,
                                    profile=args.profile, force=args.force,
                                    steps=args.joint_steps, eval_limit=args.eval_limit,
                                    cache_dir=args.cache_dir)
        print(fixed_codes_frame(record).to_string())
        return 0
    if args.representations:
        if not args.json_out:
            raise SystemExit("--representations writes into a record: give --json")
        record = record_representations(args.base_path, args.json_out, profile=args.profile,
                                        cache_dir=args.cache_dir)
        print(representation_frame(record).to_string())
        return 0
    record = run_diagnosis(args.base_path, args.runs, profile=args.profile,
                           json_out=args.json_out, force=args.force,
                           joint_steps=args.joint_steps, eval_limit=args.eval_limit,
                           cache_dir=args.cache_dir)
    print(diagnosis_frame(record).to_string())
    return 0
