"""Word and emoji vocabularies, and the encoding of a dialog context into word ids.

Vocabulary files come in two formats, and both are accepted, line by line:

* one token per line (what the dataset README describes);
* ``token count`` (what the released reader requires).

Rule: a line with exactly two whitespace-separated fields whose second field is an integer
is ``token count``; a line with one field is a token. Words never contain whitespace (the
corpus text is split on it), so any other line (three or more fields, or two fields whose
second is not an integer) cannot be a token of either format: it is ambiguous and is
skipped, and counted in ``skipped_lines``. Blank lines are ignored; a token listed twice
keeps its first id (the repeat is counted in ``duplicates``).

Word ids: ``[PAD]`` = 0, ``[UNK]`` = 1, ``[START]`` = 2, ``[STOP]`` = 3, then the file's
tokens in file order (the released code puts ``[UNK]`` first; we put ``[PAD]`` at 0 so that
a zero id means padding everywhere). A file that lists the reserved tokens itself does not
get them twice.
"""
from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from srs_lib.data.dialogs import Dialog, Utterance
from srs_lib.data.entries import open_regular

PAD, UNK, START, STOP = 0, 1, 2, 3
RESERVED_TOKENS = ("[PAD]", "[UNK]", "[START]", "[STOP]")

MAX_UTTERANCES = 15
"""Utterances kept per context by the released code (the paper says 20)."""
MAX_WORDS = 30
"""Words kept per utterance (paper and released code)."""


VARIATION_SELECTORS = ("\ufe0e", "\ufe0f")
"""U+FE0E (text presentation) and U+FE0F (emoji presentation): they choose how a character
is drawn, not which emoji it is, and Telegram data writes ❤ and ❤️ for the same emoji."""


def normalize_emoji(text: str) -> str:
    """The form under which emojis are compared (vocabulary, mappings, ``sticker_alt``).

    Unicode NFC, then every variation selector (:data:`VARIATION_SELECTORS`) removed: "❤️"
    (U+2764 U+FE0F) and "❤" (U+2764) are one emoji. Nothing else changes: a skin-tone
    modifier (U+1F3FB-U+1F3FF) makes another emoji ("👍🏽" is not "👍", as in the released
    vocabulary, where both can be labels), and zero-width-joiner sequences are kept whole.
    The files are never rewritten; readers count what the normalisation changed.
    """
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if ch not in VARIATION_SELECTORS)


def tokenize(text: str) -> list[str]:
    """The words of a pre-segmented text: a split on whitespace."""
    return text.split()


class VocabularyError(ValueError):
    """A vocabulary file that cannot be read as text; the message names the file and line."""


def _read_tokens(path: str | os.PathLike) -> tuple[list[str], int]:
    """Tokens of a vocabulary file in file order (with repeats) and the count of skipped lines.

    A line that is not valid UTF-8 raises :class:`VocabularyError` (naming the file, the
    line and the byte): skipping it would shift the id of every later token.
    """
    tokens: list[str] = []
    skipped = 0
    with open_regular(os.path.realpath(path)) as handle:
        for number, data in enumerate(handle, start=1):
            if number == 1 and data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]  # a UTF-8 byte-order mark
            try:
                raw = data.decode("utf-8")
            except UnicodeDecodeError as error:
                raise VocabularyError(f"{path} line {number}: invalid UTF-8 at byte {error.start}; "
                                      f"save the file as UTF-8") from None
            fields = raw.split()
            if not fields:
                continue
            if len(fields) == 1:
                tokens.append(fields[0])
            elif len(fields) == 2 and _is_int(fields[1]):
                tokens.append(fields[0])
            else:
                skipped += 1
    return tokens, skipped


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


class _TokenIndex:
    """Shared part of :class:`Vocab` and :class:`EmojiVocab`: an ordered token → id map."""

    def __init__(self, tokens: Iterable[str], max_size: int | None = None):
        self._ids: dict[str, int] = {}
        self._tokens: list[str] = []
        self.duplicates = 0
        self.skipped_lines = 0
        for token in tokens:
            if token in self._ids:
                self.duplicates += 1
            elif max_size is not None and len(self._tokens) >= max_size:
                break
            else:
                self._ids[token] = len(self._tokens)
                self._tokens.append(token)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def token(self, index: int) -> str:
        """The token with this id."""
        return self._tokens[index]


class Vocab(_TokenIndex):
    """Word vocabulary: ``[PAD] [UNK] [START] [STOP]`` at ids 0-3, then the words.

    ``words`` in order (reserved tokens among them are skipped, repeats keep their first
    id); ``max_size`` caps the size *including* the 4 reserved tokens, keeping the first
    words (vocabulary files are sorted by frequency), as the released code does.
    """

    def __init__(self, words: Iterable[str] = (), max_size: int | None = None):
        if max_size is not None and max_size < len(RESERVED_TOKENS):
            raise ValueError(f"max_size {max_size} is smaller than the {len(RESERVED_TOKENS)} reserved tokens")
        words = (w for w in words if w not in RESERVED_TOKENS)
        super().__init__([*RESERVED_TOKENS, *words], max_size)

    @classmethod
    def from_file(cls, path: str | os.PathLike, max_size: int | None = None) -> "Vocab":
        """Read a vocabulary file (either format, see the module docstring); ``max_size`` as above."""
        words, skipped = _read_tokens(path)
        vocab = cls(words, max_size)
        vocab.skipped_lines = skipped
        return vocab

    def id(self, token: str) -> int:
        """The id of a word, ``UNK`` for a word outside the vocabulary."""
        return self._ids.get(token, UNK)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of a sequence of words (unknown words → ``UNK``)."""
        get = self._ids.get
        return [get(token, UNK) for token in tokens]

    def decode(self, ids: Iterable[int], *, skip_pad: bool = True) -> list[str]:
        """Words of a sequence of ids (``PAD`` dropped unless ``skip_pad=False``)."""
        return [self._tokens[int(i)] for i in ids if not (skip_pad and int(i) == PAD)]


class EmojiVocab(_TokenIndex):
    """Emoji label vocabulary: emoji → class index 0..n-1, in file order (no reserved ids).

    Emojis are compared under :func:`normalize_emoji` (membership and :meth:`index` accept
    either spelling); entries equal under it are one emoji (the first keeps the id, the
    repeat counts in ``duplicates``); ``normalised`` counts entries written with a variation
    selector; :meth:`respelled` tells an emoji that matches only under the normalisation;
    :meth:`token` and iteration give the file's first spelling.
    """

    def __init__(self, emojis: Iterable[str] = ()):
        emojis = list(emojis)
        normal = [normalize_emoji(e) for e in emojis]
        super().__init__(normal)
        self.normalised = sum(n != e for n, e in zip(normal, emojis))
        self._spellings: dict[str, str] = {}
        for n, e in zip(normal, emojis):
            self._spellings.setdefault(n, e)
        self._written = frozenset(emojis)

    def respelled(self, emoji: str) -> bool:
        """Whether ``emoji`` is in the vocabulary only under :func:`normalize_emoji`: the file
        spells it otherwise (❤️ against ❤), so a plain comparison would have lost it."""
        return emoji not in self._written and emoji in self

    def __contains__(self, emoji: object) -> bool:
        return isinstance(emoji, str) and normalize_emoji(emoji) in self._ids

    def __iter__(self) -> Iterator[str]:
        return (self._spellings[t] for t in self._tokens)

    def token(self, index: int) -> str:
        """The emoji with this class index, as the file first spells it."""
        return self._spellings[self._tokens[index]]

    @classmethod
    def from_file(cls, path: str | os.PathLike, max_size: int | None = None) -> "EmojiVocab":
        """Read an emoji vocabulary file (either format, see the module docstring).

        ``max_size`` caps it as the released code does: its emoji vocabulary of 300 entries
        counts 4 reserved ones, so the first ``max_size - 4`` emojis of the file (the most
        frequent first) are kept; a sample whose emoji is left out is skipped as "emoji
        outside vocab" and counted. None keeps every emoji.
        """
        emojis, skipped = _read_tokens(path)
        if max_size is not None:
            if max_size <= len(RESERVED_TOKENS):
                raise VocabularyError(f"an emoji vocabulary of {max_size} entries holds no emoji "
                                      f"beside the {len(RESERVED_TOKENS)} reserved ones")
            emojis = emojis[:max_size - len(RESERVED_TOKENS)]
        vocab = cls(emojis)
        vocab.skipped_lines = skipped
        return vocab

    def index(self, emoji: str) -> int:
        """The class index of an emoji (either spelling); ``KeyError`` if it is not in the
        vocabulary."""
        return self._ids[normalize_emoji(emoji)]


def _texts(context: Dialog | Iterable[Utterance | str]) -> list[str]:
    items = context.context if isinstance(context, Dialog) else context
    return [item.text if isinstance(item, Utterance) else item for item in items]


def encode_context(
    context: Dialog | Sequence[Utterance | str],
    vocab: Vocab,
    max_utterances: int = MAX_UTTERANCES,
    max_words: int = MAX_WORDS,
) -> tuple[np.ndarray, int]:
    """Word ids of a context, ``(max_utterances, max_words)`` int32, and its utterance count.

    ``context`` is a :class:`Dialog`, or its utterances (as :class:`Utterance` or text) in
    chronological order. Empty utterances are dropped; the **last** ``max_utterances`` of
    the others are kept in chronological order in rows ``0..n-1``; each row holds the
    **first** ``max_words`` words of its utterance, right-padded with ``PAD``; rows ``n..``
    are all ``PAD``. Returns the array and ``n``, the number of real utterances.
    """
    if max_utterances < 1 or max_words < 1:
        raise ValueError("max_utterances and max_words must be positive")
    utterances = [words for words in map(tokenize, _texts(context)) if words]
    kept = utterances[-max_utterances:]
    ids = np.full((max_utterances, max_words), PAD, dtype=np.int32)
    for row, words in enumerate(kept):
        encoded = vocab.encode(words[:max_words])
        ids[row, : len(encoded)] = encoded
    return ids, len(kept)


def encode_contexts(
    contexts: Iterable[Dialog | Sequence[Utterance | str]],
    vocab: Vocab,
    max_utterances: int = MAX_UTTERANCES,
    max_words: int = MAX_WORDS,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_context` for a batch: ``(batch, max_utterances, max_words)`` int32 ids
    and ``(batch,)`` int32 utterance counts."""
    encoded = [encode_context(c, vocab, max_utterances, max_words) for c in contexts]
    ids = np.zeros((len(encoded), max_utterances, max_words), dtype=np.int32)
    counts = np.zeros(len(encoded), dtype=np.int32)
    for i, (row, n) in enumerate(encoded):
        ids[i], counts[i] = row, n
    return ids, counts
