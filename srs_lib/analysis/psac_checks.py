"""PSAC's three structural checks, measured on a model (issue 16, section 3).

PSAC stayed at chance on the `cpu` grid when a sticker was one unit. A reading found three
structural reasons; this module measures each of them on a PSAC over a split, so that the
book says with numbers whether they still hold when a sticker is its p×p map:

1. **The co-attention over frames.** S2 is a softmax over the frames (the map units). With
   one frame it is ≡ 1, and B = S1·S2ᵀ·V' is V' itself: V' and V'⊙B then depend on the
   sticker alone. Measured: the frames, the mean largest weight of S2 against the uniform
   1/frames, and its mean entropy as a share of log(frames).
2. **A sticker-only term that swamps the dialog.** The co-attention's output is a linear map
   of [V'; A; V'⊙A; V'⊙B] mean-pooled over the frames, so it is the sum of four terms, one
   per block. Measured per term: its spread over the candidates of a context (the variance
   that ranks them) and how much of it the dialog moves (the term recomputed with another
   context of the batch, the candidates kept). The V' term cannot depend on the dialog.
   Then the same for the score itself: how far another context moves a candidate's score
   against the score's spread over the candidates.
3. **Dead classifier units, words drowned by positions.** The share of the classifier's
   ReLU units that are zero on every pair measured, the share of pairs whose score is the
   most common value exactly (ties that no ranking can break), and the RMS of the words'
   embeddings against the RMS of QANet's timing signal that is added to them.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else float("nan")


def _coattention_terms(model, video, question, mask):
    """The four terms of PSAC's co-attention output (``(batch, candidates, dim)`` each, in
    the order V', A, V'⊙A, V'⊙B; their sum is the output) and S2, without dropout."""
    from keras import ops

    from srs_lib.layers.masking import masked_softmax

    co = model.coattention
    v = co.transform(video)
    logits = (ops.einsum("bcpd,d->bcp", v, co.w_video)[..., None]
              + ops.einsum("bld,d->bl", question, co.w_question)[:, None, None, :]
              + ops.einsum("bcpd,bld->bcpl", v * co.w_product, question) + co.bias)
    s1 = masked_softmax(logits, mask[:, None, None, :], axis=-1)
    s2 = ops.softmax(logits, axis=2)
    a = ops.einsum("bcpl,bld->bcpd", s1, question)
    b = ops.einsum("bcpl,bcld->bcpd", s1, ops.einsum("bcpl,bcpd->bcld", s2, v))
    kernel = ops.convert_to_tensor(co.resizer.kernel)
    dim = ops.shape(v)[-1]
    terms = [ops.matmul(ops.mean(block, axis=2), kernel[i * dim:(i + 1) * dim])
             for i, block in enumerate((v, a, v * a, v * b))]
    return [ops.convert_to_numpy(t) for t in terms], ops.convert_to_numpy(s2)


def _forward(model, inputs):
    """Everything the checks read, for one batch ``inputs`` (tensors), in inference mode."""
    from keras import ops

    from srs_lib.models.psac import flatten_context, timing_signal

    contexts = inputs["contexts"]
    words = flatten_context(contexts, model.max_question_words)
    mask = ops.not_equal(words, 0)
    embedded = model.question_embedding(words, training=False)
    question = model.question_encoder(embedded, mask=mask, training=False)
    tokens, _, _ = model.encode_candidate_tokens(inputs, training=False)
    batch, candidates, frames, dim = ops.shape(tokens)
    video = ops.reshape(tokens, (batch * candidates, frames, dim))
    video = ops.reshape(video + model.video_encoder(video, training=False),
                        (batch, candidates, frames, dim))
    terms, s2 = _coattention_terms(model, video, question, mask)
    # Another context of the batch for every candidate list (the batch rolled by one).
    rolled = ops.roll(question, 1, axis=0), ops.roll(mask, 1, axis=0)
    other_terms, _ = _coattention_terms(model, video, *rolled)

    def scores_of(fused):
        hidden = model.classifier_hidden(ops.convert_to_tensor(fused))
        return ops.convert_to_numpy(hidden), ops.convert_to_numpy(
            ops.squeeze(model.classifier_out(hidden), -1))

    hidden, scores = scores_of(sum(terms))
    _, other_scores = scores_of(sum(other_terms))
    mask_np = ops.convert_to_numpy(mask)
    return {"terms": terms, "other_terms": other_terms, "s2": s2, "mask": mask_np,
            "hidden": hidden, "scores": scores, "other_scores": other_scores,
            "words": ops.convert_to_numpy(embedded)[mask_np],
            "timing": timing_signal(int(ops.shape(words)[1]), int(dim))}


TERMS = ("V'", "A", "V'⊙A", "V'⊙B")


def psac_checks(model, batches, limit: int | None = None) -> dict:
    """The three checks (see the module's text) of a PSAC over ``batches`` (a split's
    :class:`~srs_lib.training.pipeline.RankingBatches`), on at most ``limit`` contexts
    (whole batches, at least two contexts each so that the batch can be rolled).
    Only real candidates (``candidate_mask``) and real words count."""
    from srs_lib.models.psac import PSAC
    from srs_lib.training.scoring import _to_tensors

    if not isinstance(model, PSAC):
        raise ValueError(f"the model is {type(model).__name__}, not PSAC")
    spread = {name: [] for name in TERMS}
    moved = {name: [] for name in TERMS}
    score_spread, score_moved, scores, hidden = [], [], [], []
    s2_max, s2_entropy, word_values = [], [], []
    timing, frames, contexts = None, None, 0
    for number in range(len(batches)):
        if limit is not None and contexts >= limit:
            break
        inputs, targets = batches[number]
        if len(targets["label"]) < 2:
            continue
        out = _forward(model, _to_tensors(inputs))
        real = np.asarray(targets["candidate_mask"], bool)  # (b, c)
        contexts += len(real)
        for name, term, other in zip(TERMS, out["terms"], out["other_terms"]):
            for row in range(len(real)):
                values = term[row][real[row]]
                spread[name].append(float(np.sum(np.var(values, axis=0))))
                moved[name].append(float(np.mean(np.sum(
                    np.square(values - other[row][real[row]]), axis=-1))))
        for row in range(len(real)):
            s = out["scores"][row][real[row]]
            score_spread.append(float(np.std(s)))
            score_moved.append(float(np.mean(np.abs(s - out["other_scores"][row][real[row]]))))
            scores.append(s)
            hidden.append(out["hidden"][row][real[row]])
        # S2 over the frames, for each real word and real candidate.
        s2 = np.moveaxis(out["s2"], 2, -1)  # (b, c, words, frames)
        chosen = s2[real[:, :, None] & out["mask"][:, None, :]]
        frames = s2.shape[-1]
        s2_max.append(chosen.max(axis=-1))
        entropy = -np.sum(chosen * np.log(np.clip(chosen, 1e-12, None)), axis=-1)
        s2_entropy.append(entropy / np.log(frames) if frames > 1 else np.zeros_like(entropy))
        word_values.append(out["words"])
        timing = out["timing"]
    if not contexts:
        raise ValueError("no batch of at least two contexts to measure")
    scores_all = np.concatenate(scores)
    hidden_all = np.concatenate(hidden)
    values, counts = np.unique(scores_all, return_counts=True)
    mean_spread = {name: float(np.mean(v)) for name, v in spread.items()}
    return {
        "contexts": contexts, "pairs": int(scores_all.size), "frames": int(frames),
        "frame_attention": {"mean_max": float(np.mean(np.concatenate(s2_max))),
                            "uniform": 1.0 / frames,
                            "entropy_share": float(np.mean(np.concatenate(s2_entropy)))},
        "terms": [{"term": name, "spread": mean_spread[name],
                   "dialog_moves": float(np.mean(moved[name])),
                   "dialog_share": (float(np.mean(moved[name])) / (2 * mean_spread[name])
                                    if mean_spread[name] else float("nan"))}
                  for name in TERMS],
        "largest_term": max(TERMS, key=mean_spread.get),
        "largest_term_share": max(mean_spread.values()) / sum(mean_spread.values()),
        "score_spread": float(np.mean(score_spread)),
        "score_dialog_moves": float(np.mean(score_moved)),
        "dead_units": float(np.mean(np.all(hidden_all <= 0.0, axis=0))),
        "tied_scores": float(counts.max() / scores_all.size),
        "tied_value": float(values[counts.argmax()]),
        "word_rms": _rms(np.concatenate(word_values)),
        "timing_rms": _rms(timing),
    }


def checks_frame(record: dict):
    """The per-term rows of a record as a table."""
    import pandas as pd

    frame = pd.DataFrame(record["terms"]).set_index("term")
    return frame.rename(columns={
        "spread": "variance over a context's candidates",
        "dialog_moves": "mean squared change, another context",
        "dialog_share": "change / (2 · variance)"})


def summary_lines(record: dict) -> list[str]:
    """The record in a few sentences, every number from it."""
    attention = record["frame_attention"]
    largest = next(t for t in record["terms"] if t["term"] == record["largest_term"])
    return [
        f"{record['contexts']} contexts, {record['pairs']} (context, sticker) pairs; "
        f"{record['frames']} frames (map units) per sticker",
        f"1. S2 over the frames: largest weight {attention['mean_max']:.3f} on average "
        f"(uniform {attention['uniform']:.3f}), entropy {attention['entropy_share']:.2f} of "
        f"log(frames)",
        f"2. {record['largest_term']} carries {record['largest_term_share']:.0%} of the spread of the "
        f"co-attention's output over a context's candidates, and another context moves it by "
        f"{largest['dialog_share']:.1%} of that; another context moves a score by "
        f"{record['score_dialog_moves']:.3f} on average, against a spread (std) of "
        f"{record['score_spread']:.3f} over a context's candidates",
        f"3. dead classifier units {record['dead_units']:.1%}; pairs tied at the most common "
        f"score {record['tied_scores']:.1%}; word RMS {record['word_rms']:.3f} against the "
        f"timing signal's {record['timing_rms']:.3f}",
    ]


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", help="a saved PSAC (.keras); without it, a fresh PSAC "
                        "of --profile at initialisation")
    parser.add_argument("--profile", default="cpu", help="with no --checkpoint: the profile "
                        "whose PSAC is built (default: %(default)s)")
    parser.add_argument("--base_path", required=True, help="the corpus")
    parser.add_argument("--test_path", default="release_test.json", help="(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=320, help="contexts (default: %(default)s)")
    parser.add_argument("--cache_dir", help="sticker cache folder (default: BASE_PATH/.srs_cache)")
    parser.add_argument("--json", dest="json_out", help="write the record here")


def run(args) -> int:
    from srs_lib.files import write_json_atomically
    from srs_lib.provenance import corpus_description, current_commit, machine_description

    if args.checkpoint:
        from srs_lib.training.trainer import load_for_evaluation

        model, *_, batches = load_for_evaluation(args.checkpoint, args.base_path, args.test_path,
                                                 cache_dir=args.cache_dir)
        source = Path(args.checkpoint).name
    else:
        model, batches = fresh_psac(args.profile, args.base_path, args.test_path, args.cache_dir)
        source = f"a fresh PSAC of the {args.profile} profile (seed 0), at initialisation"
    record = psac_checks(model, batches, limit=args.limit)
    record.update(model=source, test_path=args.test_path,
                  corpus=corpus_description(args.base_path), commit=current_commit(),
                  machine=machine_description(), date=time.strftime("%Y-%m-%d %H:%M"))
    print("\n".join(summary_lines(record)))
    print(checks_frame(record).round(4).to_string())
    if args.json_out:
        write_json_atomically(Path(args.json_out), record)
    return 0


def fresh_psac(profile: str, base_path, test_path: str, cache_dir=None):
    """A PSAC of ``profile`` as the trainer builds it, at initialisation (seed 0), and the
    evaluation batches of ``test_path``."""
    import keras

    from srs_lib.models.registry import build_model
    from srs_lib.training.config import chapter_config
    from srs_lib.training.pipeline import evaluation_batches

    config = chapter_config(profile, model="psac")
    corpus, batches = evaluation_batches(base_path, config, test_path, cache_dir=cache_dir)
    keras.utils.set_random_seed(0)
    model = build_model(config, vocab_size=len(corpus.vocab), n_emoji=len(corpus.emoji_vocab))
    inputs, _ = batches[0]
    model({name: value[:2] for name, value in inputs.items()})
    return model, batches
