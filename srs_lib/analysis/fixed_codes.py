"""``python -m srs_lib diagnose --fixed_codes``: SRS's text side against fixed sticker codes.

Why does SRS learn from the emoji code and not from the small CNN's own features? Both are
a vector per sticker of the same width and scale, and a linear read-out of the features
finds the emoji nearly as often as the code does (``diagnose --representations``). This
measurement takes the sticker encoder out of the question: it trains the emoji stage once
per sticker code, encodes every sticker of the library, derives from those encodings the
fixed codes of :data:`FIXED_CODES`, and trains the rest of SRS (utterance encoder, deep
interaction, fusion network) against each code with the profile's optimiser and hinge loss,
the code as O_flat and as the single unit of O (p = 1, as the emoji code is). Nothing but
the code differs between two rows, so the rows separate what a code must be like for SRS
to learn from it in the budget:

* the emoji code against the features: the profile's contrast, reproduced without the CNN;
* each label's mean feature vector, as is and centred on the library's mean: the features'
  own geometry without the variation among stickers of one label;
* a random code per label, clean and with noise added so that the label explains the same
  share of its variance as it does of the features' (:func:`label_share`): the code's
  categorical form with the features' share of variation that no dialog speaks of.

The labels are the release's ``sticker_alt`` emojis, which the emoji loss trains on; no
row reads a generator's parts. Records go under ``"fixed_codes"`` of the diagnosis record
(chapter 07 shows them).
"""
from __future__ import annotations

import tempfile
import time

import numpy as np
from keras import ops

from srs_lib.training.config import data_config, profile_config
from srs_lib.training.trainer import Trainer

#: The profile as every diagnosis run was made against, before issue 16 changed the
#: defaults (to the CNN's own features and Q2 layer-normalised): the emoji code, Q2 as it
#: is, the joint stage at the profile's rate. A row's changes are relative to this, so
#: that re-running a row reproduces its record.
DIAGNOSIS_BASE = {"sticker_code": "emoji", "joint_lr_scale": 1.0,
                  "model_options": {"q2_norm": False}}


def diagnosis_config(profile: str, **changes):
    """The ``profile``'s configuration with :data:`DIAGNOSIS_BASE` and then ``changes``
    applied (``model_options`` merged)."""
    options = {**DIAGNOSIS_BASE["model_options"], **changes.get("model_options", {})}
    return profile_config(profile, **{**DIAGNOSIS_BASE, **changes, "model_options": options})


#: name: (what the fixed code is, the code it derives, SRS's model options); see the module
#: docstring.
WITHOUT_FR = {"use_fusion_rnn": False}
FIXED_CODES: dict[str, tuple[str, str, dict]] = {
    "emoji_code": ("the cpu profile's emoji code (the predicted emoji's random code)",
                   "emoji_code", {}),
    "features": ("the CNN's O_flat after the emoji stage", "features", {}),
    "features_centred": ("the CNN's O_flat minus the library's mean", "features_centred", {}),
    "label_means": ("each sticker's O_flat replaced by the mean O_flat of its label",
                    "label_means", {}),
    "label_means_centred": ("the label means minus the library's mean",
                            "label_means_centred", {}),
    "label_codes": ("a random code per label (no variation within a label)", "label_codes", {}),
    "label_codes_noisy": ("a random code per label plus noise: the label explains the same "
                          "share of its variance as of the features'", "label_codes_noisy", {}),
    "features_without_fr": ("the CNN's O_flat, SRS without the fusion RNN and SUBMULT "
                            "(\"w/o FR\")", "features", WITHOUT_FR),
    "features_submult_norm": ("the CNN's O_flat, SUBMULT's output layer-normalised before the "
                              "prediction GRU", "features", {"submult_norm": True}),
    "features_q2_norm": ("the CNN's O_flat, Q2 layer-normalised where the fusion network "
                         "reads it", "features", {"q2_norm": True}),
    "label_codes_noisy_without_fr": ("the noisy label codes, SRS without the fusion RNN and "
                                     "SUBMULT", "label_codes_noisy", WITHOUT_FR),
    "features_lr_3e-4": ("the CNN's O_flat, the learning rate 3e-4 → 3e-5 instead of the "
                         "profile's 1e-3 → 1e-4", "features", {}),
    "features_emoji_1000": ("the CNN's O_flat after an emoji stage of 1,000 steps instead of "
                            "200", "features", {}),
}
#: Rows that also change the profile (``TrainConfig`` fields) in the training against their
#: code; a changed ``emoji_steps`` also makes the code with an emoji stage of that length.
PROFILE_CHANGES: dict[str, dict] = {
    "features_lr_3e-4": {"learning_rate": 3e-4, "end_learning_rate": 3e-5},
    "features_emoji_1000": {"emoji_steps": 1000},
}
#: The joint steps of a row whose key is the code's name alone; a row of another length is
#: keyed ``NAME@STEPS`` (:func:`row_key`), so a longer run sits beside the short one.
DEFAULT_STEPS = 600


def leaves_chance(curve, level: float = 0.15):
    """The first step of a validation ``curve`` (points with "step" and "R10@1") whose
    R10@1 exceeds ``level`` (chance is about 0.1), or None if none does."""
    return next((point["step"] for point in curve if point["R10@1"] > level), None)


def row_key(name: str, steps: int) -> str:
    """The record key of fixed code ``name`` trained ``steps`` joint steps."""
    return name if steps == DEFAULT_STEPS else f"{name}@{steps}"


def parse_key(key: str) -> tuple[str, int]:
    """``(name, steps)`` of a record key (the inverse of :func:`row_key`)."""
    name, _, steps = key.partition("@")
    return name, int(steps) if steps else DEFAULT_STEPS


#: The codes :func:`derive_code` makes.
CODES = ("emoji_code", "features", "features_centred", "label_means", "label_means_centred",
         "label_codes", "label_codes_noisy")


def emoji_stage_library(base_path, profile: str = "cpu", *, code: str = "features",
                        emoji_held_out: float = 0.0, cache_dir=None, batch: int = 256,
                        verbose: bool = True, changes=None) -> dict:
    """Train the emoji stage alone with sticker ``code`` and encode every cached sticker.

    Returns a dict: "maps" O `(stickers, p²·hidden)` and "vectors" O_flat `(stickers,
    hidden)` (float32), "predicted" the emoji head's top class, "labels" the emoji classes
    (-1 outside the vocabulary), "held_out" the rows held out from the stage, "keys" the
    cache's ``(set id, sticker id)`` and "emojis" its labels, in cache order; and
    "emoji_steps". ``changes`` change the profile (``TrainConfig`` fields)."""
    config = diagnosis_config(profile, **{**(changes or {}), "sticker_code": code,
                                          "emoji_held_out": emoji_held_out})
    config = config.replace(steps=config.emoji_steps, auto_test_step=config.emoji_steps,
                            eval_limit=100)
    with tempfile.TemporaryDirectory() as logs:
        trainer = Trainer(config, base_path, logs, f"emoji-stage-{code}",
                          cache_dir=cache_dir, verbose=verbose)
        trainer.fit(resume=False)
        cache = trainer.cache
        maps, vectors, predicted = [], [], []
        for start in range(0, len(cache), batch):
            images = np.asarray(cache.images[start:start + batch])
            sticker_map, vector, logits = trainer.model.encode_stickers(images, training=False)
            maps.append(ops.convert_to_numpy(sticker_map).reshape(len(images), -1))
            vectors.append(ops.convert_to_numpy(vector))
            predicted.append(ops.convert_to_numpy(ops.argmax(logits, axis=-1)))
    return {"maps": np.concatenate(maps), "vectors": np.concatenate(vectors),
            "predicted": np.concatenate(predicted), "labels": trainer.row_emoji,
            "held_out": trainer.emoji_held_out_rows, "keys": list(cache.keys),
            "emojis": list(cache.emojis), "emoji_steps": config.emoji_steps}


def rms_normalised(x: np.ndarray) -> np.ndarray:
    """Each row scaled to a root mean square of 1 (as the emoji code is), float32."""
    x = np.asarray(x, dtype=np.float64)
    return (x / np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-12)).astype(np.float32)


def label_means(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row of ``x`` replaced by the mean of the rows with its label (any hashable keys)."""
    _, inverse = np.unique(np.asarray(labels), return_inverse=True)
    sums = np.zeros((inverse.max() + 1, x.shape[1]))
    np.add.at(sums, inverse, np.asarray(x, dtype=np.float64))
    return (sums / np.bincount(inverse)[:, None])[inverse]


def label_share(x: np.ndarray, labels: np.ndarray) -> float:
    """The share of the variance of ``x`` (rows) between the label means, over the library."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=0)
    total = float((x * x).sum())
    between = label_means(x, labels)
    return float((between * between).sum()) / total if total else 0.0


def derive_code(name: str, library: dict, *, seed: int = 0) -> np.ndarray:
    """The fixed code ``name`` of every sticker `(stickers, hidden)`, RMS-normalised.

    ``library`` holds "emoji_code" and "features" (O_flat of the two emoji stages, in
    cache order) and "labels" (each sticker's label)."""
    if name not in CODES:
        raise ValueError(f"unknown fixed code {name!r}; choose from {', '.join(CODES)}")
    features, labels = np.asarray(library["features"], np.float64), np.asarray(library["labels"])
    rng = np.random.default_rng(seed)
    if name == "emoji_code":
        code = library["emoji_code"]
    elif name == "features":
        code = features
    elif name == "features_centred":
        code = features - features.mean(axis=0)
    elif name == "label_means":
        code = label_means(features, labels)
    elif name == "label_means_centred":
        means = label_means(features, labels)
        code = means - means.mean(axis=0)
    else:
        _, inverse = np.unique(labels, return_inverse=True)
        code = rng.normal(size=(inverse.max() + 1, features.shape[1]))[inverse]
        if name == "label_codes_noisy":
            # the noise's scale found by bisection so that the label's share of the code's
            # variance equals its share of the features' (noise also moves the label means)
            target, noise = label_share(features, labels), rng.normal(size=code.shape)
            low, high = 0.0, 100.0
            for _ in range(50):
                sigma = (low + high) / 2
                share = label_share(rms_normalised(code + sigma * noise), labels)
                low, high = (sigma, high) if share > target else (low, sigma)
            code = code + (low + high) / 2 * noise
    return rms_normalised(code)


def candidate_share(x, mask=None) -> float:
    """The share of the variance of ``x`` `(contexts, candidates, ...)` that lies between
    the candidates of one context (the part a ranking can use), summed over the trailing
    axes; ``mask`` `(contexts, candidates, ...)` (a prefix of x's axes) keeps entries."""
    x = np.asarray(x, dtype=np.float64)
    if mask is None:
        mask = np.ones(x.shape[:2], bool)
    mask = np.asarray(mask, bool)
    weights = mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)).astype(np.float64)
    weights = np.broadcast_to(weights, x.shape)
    count = weights.sum()
    if not count:
        return 0.0
    total_mean = (x * weights).sum(axis=(0, 1), keepdims=True) / np.maximum(
        weights.sum(axis=(0, 1), keepdims=True), 1)
    total = float((((x - total_mean) ** 2) * weights).sum())
    context_mean = (x * weights).sum(axis=1, keepdims=True) / np.maximum(
        weights.sum(axis=1, keepdims=True), 1)
    within = float((((x - context_mean) ** 2) * weights).sum())
    return within / total if total > 0 else 0.0


def stage_statistics(model, inputs, real_candidates) -> dict:
    """How the candidates' differences travel through SRS's text side and fusion network,
    for one batch ``inputs`` (as :func:`train_on_code` makes them; `(contexts, candidates)`
    ``real_candidates`` marks the real ones): for each stage, the share of its variance
    between the candidates of one context (:func:`candidate_share`, over real utterances)
    and its root mean square; for the fusion RNN's states g the mean |g| (1 is saturated),
    for SUBMULT's output ḡ the share of exact zeros (ReLU units off)."""
    import torch

    from srs_lib.layers.masking import context_masks

    with torch.no_grad():
        parts = model.interaction_inputs(inputs, training=False)
        q2 = model.interaction(parts["pair_inputs"], mask=parts["word_mask"], training=False)
        batch, candidates, utterances, hidden = ops.shape(q2)
        fusion = model.fusion_network
        flat = ops.reshape(q2, (batch * candidates, utterances, hidden))
        utterance_mask = ops.convert_to_numpy(context_masks(inputs["contexts"])[1])
        mask = np.broadcast_to(utterance_mask[:, None, :], (batch, candidates, utterances))
        step_mask = ops.convert_to_tensor(mask.reshape(batch * candidates, utterances))
        stages = {"Q2": q2, **fusion.stages(flat, mask=step_mask, training=False)}
    keep = np.asarray(real_candidates, bool)
    out = {}
    for name, tensor in stages.items():
        x = ops.convert_to_numpy(tensor).astype(np.float64)
        if name != "Q2":  # (contexts · candidates, ...) → (contexts, candidates, ...)
            x = x.reshape(batch, candidates, *x.shape[1:])
        stage_mask = (keep[:, :, None] & mask) if x.ndim == 4 else keep
        picked = x[stage_mask]
        out[name] = {"candidate_share": round(candidate_share(x, stage_mask), 4),
                     "rms": round(float(np.sqrt((picked ** 2).mean())), 4)}
        if name == "g":
            out[name]["mean_abs"] = round(float(np.abs(picked).mean()), 4)
        if name == "g_bar":
            out[name]["zeros"] = round(float((picked == 0).mean()), 4)
    return out


def train_on_code(code: np.ndarray, base_path, profile: str = "cpu", *, steps: int = 600,
                  eval_limit: int = 600, eval_every: int = 300, cache_dir=None,
                  seed: int = 0, model_options=None, stages: bool = True,
                  changes=None) -> dict:
    """Train SRS without its sticker encoder against the fixed ``code`` (one row per cached
    sticker, in cache order): the profile's optimiser (Adam, its learning-rate schedule and
    clipping) and hinge loss on the training split's batches, the code as O_flat and as
    the single unit of O. Returns the validation R10@1 and MAP on ``eval_limit`` contexts
    every ``eval_every`` steps and at the end, and the mean hinge loss before each.
    ``model_options`` change SRS (e.g. :data:`WITHOUT_FR`), ``changes`` the profile
    (``TrainConfig`` fields). With ``stages`` (default), each point of the curve (and one at
    step 0) also holds :func:`stage_statistics` of the first validation batch."""
    import keras
    import torch

    from srs_lib.analysis.metrics import ranking_metrics
    from srs_lib.data.corpus import Corpus
    from srs_lib.layers.masking import MASK_VALUE
    from srs_lib.models.registry import build_model
    from srs_lib.training.losses import hinge_loss
    from srs_lib.training.pipeline import RankingBatches, emoji_labels, encode_split

    config = diagnosis_config(profile, **{**(changes or {}), "sticker_code": "pooled",
                                          "seed": seed, "model_options": model_options or {}})
    corpus = Corpus(base_path, vocab_size=config.vocab_size,
                    emoji_vocab_size=config.emoji_vocab_size)
    cache = corpus.sticker_cache(cache_dir, progress=False)
    if len(code) != len(cache):
        raise ValueError(f"the code has {len(code)} rows, the sticker cache {len(cache)}")
    limits = dict(max_utterances=config.max_utterances, max_words=config.max_words)
    row_emoji = emoji_labels(cache, corpus.emoji_vocab)
    train = RankingBatches(encode_split(corpus, "train", cache, **limits), cache, row_emoji,
                           batch_size=config.batch_size, n_candidates=config.n_candidates,
                           protocol=config.protocol, seed=seed, train=True)
    val = RankingBatches(encode_split(corpus, "release_val.json", cache, **limits), cache,
                         row_emoji, batch_size=config.batch_size,
                         n_candidates=config.n_candidates, protocol=config.protocol,
                         seed=config.eval_seed, train=False)
    keras.utils.set_random_seed(seed)
    model = build_model(config, vocab_size=len(corpus.vocab), n_emoji=len(corpus.emoji_vocab),
                        data_config=data_config(config))
    inputs, _ = train[0]
    model({k: ops.convert_to_tensor(v[:1]) for k, v in inputs.items()}, training=False)
    table = torch.as_tensor(np.concatenate([code, np.zeros((1, code.shape[1]), np.float32)]))
    no_logits = torch.zeros(1, len(corpus.emoji_vocab))

    def model_inputs(split, index, rows):
        vectors = table[torch.as_tensor(np.where(rows >= 0, rows, len(code)))]
        return {"contexts": ops.convert_to_tensor(split.contexts[index]),
                "sticker_map": vectors[:, :, None, None, :], "sticker_vector": vectors,
                "emoji_logits": no_logits.expand(*rows.shape, -1)}

    variables = [v for v in model.trainable_variables
                 if not v.path.startswith("sticker_encoder")]
    schedule = keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, max(1, int(config.decay_epochs * len(train))),
        config.end_learning_rate)
    optimizer = keras.optimizers.Adam(learning_rate=schedule, global_clipnorm=config.clipnorm)
    optimizer.build(variables)

    def validate():
        scores, labels = [], []
        for batch in range(min(len(val), -(-eval_limit // val.batch_size))):
            index, rows, label = val.plan(batch)
            with torch.no_grad():
                out = model(model_inputs(val.split, index, rows), training=False)
            scores.append(np.where(rows >= 0, ops.convert_to_numpy(out["scores"]), MASK_VALUE))
            labels.append(label)
        found = ranking_metrics(np.concatenate(scores)[:eval_limit],
                                np.concatenate(labels)[:eval_limit])
        return {"MAP": found["MAP"], "R10@1": found["R10@1"]}

    def stage_point():
        if not stages:
            return {}
        index, rows, _ = val.plan(0)
        return {"stages": stage_statistics(model, model_inputs(val.split, index, rows),
                                           rows >= 0)}

    curve, losses, start = [], [], time.monotonic()
    if stages:
        curve.append({"step": 0, **validate(), **stage_point()})
    for step in range(1, steps + 1):
        epoch, batch = divmod(step - 1, len(train))
        if epoch != train.epoch:
            train.set_epoch(epoch)
        index, rows, label = train.plan(batch)
        for variable in variables:
            variable.value.grad = None
        out = model(model_inputs(train.split, index, rows), training=True)
        mask = torch.as_tensor(rows >= 0)
        scores = torch.where(mask, out["scores"].float(), torch.tensor(MASK_VALUE))
        loss = ops.mean(hinge_loss(torch.as_tensor(label), scores, config.margin, mask=mask,
                                   reduction=config.hinge_reduction))
        loss.backward()
        losses.append(float(ops.convert_to_numpy(loss)))
        grads = [v.value.grad if v.value.grad is not None else torch.zeros_like(v.value)
                 for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        if step % eval_every == 0 or step == steps:
            curve.append({"step": step, "hinge": round(float(np.mean(losses)), 4), **validate(),
                          **stage_point()})
            losses = []
    return {"steps": steps, "validation": {**curve[-1], "contexts": eval_limit},
            "curve": curve, "wall_seconds": round(time.monotonic() - start, 1)}


def fixed_code_rows(base_path, names=None, *, profile: str = "cpu", steps: int = DEFAULT_STEPS,
                    eval_limit: int = 600, cache_dir=None, done=None, on_row=None,
                    verbose: bool = True) -> dict:
    """Train against each named fixed code (all of :data:`FIXED_CODES` by default) for
    ``steps`` joint steps; rows in ``done`` (keyed by :func:`row_key`) are kept.
    ``on_row(key, row)`` is called after each new row."""
    names = list(names or FIXED_CODES)
    rows = dict(done or {})
    todo = [n for n in names if row_key(n, steps) not in rows]
    if not todo:
        return rows
    # One library per emoji-stage length: the features' emoji stage always runs (every
    # code but the emoji code derives from it, and the noisy codes' noise from its label
    # share); the emoji code's only when a row of that length asks for it.
    def emoji_steps_of(name):
        return PROFILE_CHANGES.get(name, {}).get("emoji_steps")

    libraries = {}
    for emoji_steps in dict.fromkeys(map(emoji_steps_of, todo)):
        wanted = [n for n in todo if emoji_steps_of(n) == emoji_steps]
        codes = ["features"] + ["emoji"] * any(FIXED_CODES[n][1] == "emoji_code" for n in wanted)
        changes = {} if emoji_steps is None else {"emoji_steps": emoji_steps}
        stages = {code: emoji_stage_library(base_path, profile, code=code, cache_dir=cache_dir,
                                            verbose=verbose, changes=changes)
                  for code in codes}
        libraries[emoji_steps] = {"features": stages["features"]["vectors"],
                                  "labels": np.asarray(stages["features"]["emojis"]),
                                  "emoji_steps": stages["features"]["emoji_steps"],
                                  **({"emoji_code": stages["emoji"]["vectors"]}
                                     if "emoji" in stages else {})}

    for i, name in enumerate(todo, 1):
        what, code_name, options = FIXED_CODES[name]
        library = libraries[emoji_steps_of(name)]
        code = derive_code(code_name, library)
        share = label_share(code, library["labels"])
        if verbose:
            print(f"[fixed codes {i}/{len(todo)}] {name} (label share {share:.3f}) ...", flush=True)
        changes = PROFILE_CHANGES.get(name, {})
        row = {"code": code_name, "model_options": options, "what": what,
               **({"profile_changes": changes} if changes else {}),
               "label_share": round(share, 4), "emoji_steps": library["emoji_steps"],
               **train_on_code(code, base_path, profile, steps=steps, eval_limit=eval_limit,
                               cache_dir=cache_dir, model_options=options, changes=changes)}
        if verbose:
            print(f"[fixed codes {i}/{len(todo)}] {name}: validation R10@1 "
                  f"{row['validation']['R10@1']:.3f} ({row['wall_seconds']:.0f} s)", flush=True)
        rows[row_key(name, steps)] = row
        if on_row:
            on_row(row_key(name, steps), row)
    return rows


def fixed_codes_frame(record: dict):
    """The record's fixed-code rows as a table, in :data:`FIXED_CODES` order, each code's
    rows by their number of steps."""
    import pandas as pd

    rows = record.get("fixed_codes", {}).get("rows", {})
    order = list(FIXED_CODES)
    names = sorted((k for k in rows if parse_key(k)[0] in FIXED_CODES),
                   key=lambda k: (order.index(parse_key(k)[0]), parse_key(k)[1]))
    return pd.DataFrame({
        "fixed code": names,
        "what it is": [rows[n]["what"] for n in names],
        "joint steps": [rows[n]["steps"] for n in names],
        "label's share of its variance": [round(rows[n]["label_share"], 3) for n in names],
        "validation R10@1": [round(rows[n]["validation"]["R10@1"], 3) for n in names],
        "validation MAP": [round(rows[n]["validation"]["MAP"], 3) for n in names],
    }).set_index("fixed code")


def stage_share_frame(record: dict, stage: str = "g_tilde", keys=None):
    """The between-candidate share (:func:`candidate_share`) of fusion ``stage`` along the
    training curve of each fixed-code row that recorded stage statistics (or of ``keys``):
    a table, one column per row, indexed by the step."""
    import pandas as pd

    rows = record.get("fixed_codes", {}).get("rows", {})
    keys = keys or [k for k, row in rows.items()
                    if any("stages" in point for point in row.get("curve", []))]
    columns = {}
    for key in keys:
        columns[key] = pd.Series({point["step"]: point["stages"][stage]["candidate_share"]
                                  for point in rows[key]["curve"]
                                  if stage in point.get("stages", {})}, dtype=float)
    return pd.DataFrame(columns).rename_axis("step")
