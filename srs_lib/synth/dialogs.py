"""Group-chat dialogs that end in a sticker, in the StickerChat release format.

A sample is the context (up to 20 messages of a public group chat, oldest first) and the
sticker that a participant sent next. How a context is written:

* **Length and people.** 20 messages collected, some filtered out (links, files) as in the
  paper, a few dialogs start near the beginning of a chat: about 15.5 utterances on
  average. The dialog has a few participants (about 5.8 with the responder) drawn from the
  group's members by activity; some messages reply to an earlier one
  (``reply_to_msg_id``), and so does the sticker now and then.
* **What the sticker depends on.** The ground truth is drawn uniformly among the stickers
  of its set (so popularity says nothing), and the dialog is written about the *parts*
  its picture shows (:mod:`srs_lib.synth.parts`): cue phrases of its expression, of its
  accent and of its prop (see :mod:`srs_lib.synth.language`), each part with its own
  number of cues (sometimes none, so a dialog may speak of one part only), mostly in the
  last utterances (the distance from the end is geometric); some dialogs have no cue at
  all. Earlier in the dialog, *distractor* cues talk about other parts of the same set
  (another expression, another accent), now and then also near the end. Filler chat,
  rare words, topic words of the set's theme and stray cues of unrelated emojis fill the
  rest.

So the signal is in the dialog, spread over turns, weighted to the recent ones, and no
single word decides; and since stickers of a set share parts, telling the candidates
apart takes the cues of every part of the answer, and a look at the right place of each
sticker. :class:`DialogSettings` holds every knob with its default.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from srs_lib.synth.language import Lexicon
from srs_lib.synth.sets import StickerSet, unique_ids

MAX_UTTERANCES = 20


@dataclass(frozen=True)
class DialogSettings:
    """The distributions a dialog is drawn from (defaults calibrated to the paper's Table 1)."""

    p_short_context: float = 0.12  # a dialog near the start of a chat: 1..19 utterances
    p_filtered: float = 0.18  # each of the 20 collected messages is filtered out with this
    mean_extra_users: float = 3.9  # participants = 2 + Poisson(this), capped
    p_same_speaker: float = 0.3  # a speaker goes on with another message
    p_responder_spoke: float = 0.7  # the sticker's sender is also in the context
    p_short_utterance: float = 0.3  # utterance of 1-3 filler words
    filler_poisson: float = 7.85  # other utterances: 1 + Poisson(this) filler words
    p_no_target: float = 0.08  # the dialog has no cue of the answer at all
    expression_cues: tuple[float, ...] = (0.15, 0.45, 0.30, 0.10)  # P(0, 1, 2, 3 cue phrases)
    accent_cues: tuple[float, ...] = (0.25, 0.50, 0.20, 0.05)  # ... of the accent
    prop_cues: tuple[float, ...] = (0.25, 0.50, 0.20, 0.05)  # ... of the prop
    target_recency: float = 0.45  # distance from the end ~ Geometric(this) - 1
    distractors: tuple[float, ...] = (0.15, 0.35, 0.30, 0.20)  # P(0..3 other parts of the set)
    p_recent_distractor: float = 0.2  # a distractor cue in the last two utterances
    p_topic: float = 0.5  # the dialog mentions its set's topic
    p_stray_cue: float = 0.06  # per utterance: a cue of an unrelated emoji
    p_reply: float = 0.15  # a context message replies to an earlier one
    p_reply_outside: float = 0.03  # ... to one before the context window
    p_sticker_reply: float = 0.25  # the sticker replies to a context message

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass
class ChatGroup:
    """A public group: its members' ids, their activity, and its message counter."""

    index: int
    user_ids: list[int]
    activity: np.ndarray
    next_message_id: int


def make_groups(n_groups: int, rng: np.random.Generator, taken_ids: set[int]) -> list[ChatGroup]:
    """``n_groups`` groups of 40-400 members with Zipf-like activity; ids above 2**53."""
    groups = []
    for index in range(n_groups):
        n_members = int(rng.integers(40, 401))
        users = unique_ids(rng, n_members, taken_ids)
        activity = 1.0 / np.arange(1, n_members + 1) ** 0.9
        activity = activity[rng.permutation(n_members)]
        start = unique_ids(rng, 1, taken_ids)[0]
        groups.append(ChatGroup(index, users, activity / activity.sum(), start))
    return groups


def _choice(p: tuple[float, ...], rng: np.random.Generator) -> int:
    return int(rng.choice(len(p), p=np.asarray(p) / sum(p)))


class DialogWriter:
    """Writes samples for one corpus: ``sample(rng, group, sticker_set, k)`` → JSON record."""

    def __init__(self, lexicon: Lexicon, settings: DialogSettings | None = None) -> None:
        self.lexicon = lexicon
        self.settings = settings or DialogSettings()
        self._stray = list(lexicon.emojis)

    # -- structure ---------------------------------------------------------------------
    def _n_utterances(self, rng: np.random.Generator) -> int:
        s = self.settings
        if rng.random() < s.p_short_context:
            return int(rng.integers(1, MAX_UTTERANCES))
        return max(1, MAX_UTTERANCES - int(rng.binomial(MAX_UTTERANCES, s.p_filtered)))

    def _speakers(self, rng: np.random.Generator, group: ChatGroup, n: int) -> tuple[list[int], int]:
        """Who wrote each of the ``n`` messages, and who sends the sticker."""
        s = self.settings
        k = 2 + int(rng.poisson(s.mean_extra_users))
        k = min(k, n + 1, len(group.user_ids))
        picked = rng.choice(len(group.user_ids), size=k, replace=False, p=group.activity)
        people = [group.user_ids[int(i)] for i in picked]
        responder = people[int(rng.integers(k))]
        speaks = [p for p in people if p != responder]
        if len(speaks) < n and rng.random() < s.p_responder_spoke:
            speaks.append(responder)
        speaks = speaks[:n]
        # everyone who speaks gets at least one message; the rest go to the same or a new speaker
        slots = sorted(int(i) for i in rng.choice(n, size=len(speaks), replace=False))
        order = [speaks[int(i)] for i in rng.permutation(len(speaks))]
        speakers: list[int | None] = [None] * n
        for slot, person in zip(slots, order):
            speakers[slot] = person
        same = rng.random(n) < s.p_same_speaker
        anyone = rng.integers(len(speaks), size=n)
        for i in range(n):
            if speakers[i] is None:
                speakers[i] = speakers[i - 1] if (i > 0 and same[i]) else speaks[int(anyone[i])]
        return [int(x) for x in speakers], responder

    def _filler_length(self, rng: np.random.Generator) -> int:
        s = self.settings
        if rng.random() < s.p_short_utterance:
            return int(rng.integers(1, 4))
        return 1 + int(rng.poisson(s.filler_poisson))

    # -- content -----------------------------------------------------------------------
    def _cue_plan(
        self, rng: np.random.Generator, n: int, sticker_set: StickerSet, k: int
    ) -> tuple[list[tuple[int, list[str]]], int | None]:
        """``(utterance index, phrase)`` insertions and the index of the last target cue.

        Each part of sticker ``k`` gets its own number of cue phrases (``*_cues``), each at
        a geometric distance from the end; distractors are other parts of the set.
        """
        s = self.settings
        lex = self.lexicon
        plan: list[tuple[int, list[str]]] = []
        last_target = None
        parts = sticker_set.parts[k]
        # any other kind (the shapes corpus's mark) is cued like an expression
        counts = {"accent": s.accent_cues, "prop": s.prop_cues}
        no_target = rng.random() < s.p_no_target
        for kind, emoji_char in parts:
            n_cues = _choice(counts.get(kind, s.expression_cues), rng)
            if no_target:
                continue
            for _ in range(n_cues):
                distance = min(int(rng.geometric(s.target_recency)) - 1, n - 1)
                index = n - 1 - distance
                plan.append((index, lex.sample_cue(emoji_char, rng)))
                last_target = index if last_target is None else max(last_target, index)
        shown = {e for _, e in parts}
        others = [e for e in sticker_set.emojis() if e not in shown]
        n_distract = min(_choice(s.distractors, rng), len(others))
        if n_distract:
            for i in rng.choice(len(others), size=n_distract, replace=False):
                emoji = others[int(i)]
                for _ in range(int(rng.integers(1, 3))):
                    if n > 2 and rng.random() >= s.p_recent_distractor:
                        index = int(rng.integers(0, n - 2))
                    else:
                        index = n - 1 - int(rng.integers(0, min(2, n)))
                    plan.append((index, lex.sample_cue(emoji, rng)))
        if rng.random() < s.p_topic:
            words = lex.topic_words(sticker_set.theme)
            if words:
                for _ in range(int(rng.integers(1, 3))):
                    plan.append((int(rng.integers(n)), [words[int(rng.integers(len(words)))]]))
        for index in range(n):
            if rng.random() < s.p_stray_cue:
                stray = self._stray[int(rng.integers(len(self._stray)))]
                plan.append((index, lex.sample_cue(stray, rng)))
        return plan, last_target

    def sample(
        self, rng: np.random.Generator, group: ChatGroup, sticker_set: StickerSet, k: int
    ) -> dict:
        """One sample whose ground truth is sticker ``k`` of ``sticker_set``."""
        s = self.settings
        n = self._n_utterances(rng)
        speakers, responder = self._speakers(rng, group, n)
        texts = [self.lexicon.filler_words(self._filler_length(rng), rng) for _ in range(n)]
        plan, last_target = self._cue_plan(rng, n, sticker_set, k)
        for index, phrase in plan:
            words = texts[index]
            at = int(rng.integers(len(words) + 1))
            texts[index] = words[:at] + phrase + words[at:]

        ids = []
        message_id = group.next_message_id + int(rng.integers(1, 500))
        for _ in range(n):
            ids.append(message_id)
            message_id += int(rng.geometric(0.7))  # gaps: filtered messages
        group.next_message_id = message_id

        context = []
        for i in range(n):
            reply = None
            if i > 0 and rng.random() < s.p_reply:
                back = min(i, int(rng.geometric(0.4)))
                reply = ids[i - back]
            elif rng.random() < s.p_reply_outside:
                reply = ids[0] - int(rng.integers(1, 300))
            context.append({
                "text": " ".join(texts[i]),
                "reply_to_msg_id": reply,
                "id": ids[i],
                "from_id": speakers[i],
            })
        sticker_reply = None
        if rng.random() < s.p_sticker_reply:
            target = last_target if last_target is not None else n - 1 - int(rng.integers(0, min(3, n)))
            sticker_reply = ids[target]
        return {
            "context": context,
            "current": {
                "from_id": responder,
                "reply_to_msg_id": sticker_reply,
                "sticker_set_id": sticker_set.set_id,
                "sticker_id": sticker_set.sticker_ids[k],
                "sticker_alt": sticker_set.labels[k],
            },
        }
