"""Reading a corpus in the StickerChat release format (Gao et al., WWW 2020): dialogs,
stickers, vocabularies, the sticker cache and the candidate lists of the task.

Backend-free (numpy only): nothing here imports Keras or PyTorch.

* :mod:`~srs_lib.data.dialogs`: the JSON-lines samples (exact integer ids);
* :mod:`~srs_lib.data.stickers`: the ``npy_stickers`` library;
* :mod:`~srs_lib.data.vocab`: word and emoji vocabularies, context encoding;
* :mod:`~srs_lib.data.entries`: which entries are read (regular files; links inside the corpus);
* :mod:`~srs_lib.data.cache`: the packed, memory-mapped sticker cache;
* :mod:`~srs_lib.data.encoded`: a split's encoded samples, memory-mapped beside it;
* :mod:`~srs_lib.data.corpus`: a corpus folder and the rules for usable samples;
* :mod:`~srs_lib.data.candidates`: the 10 candidates of a sample (random or first-9);
* :mod:`~srs_lib.data.validate`, :mod:`~srs_lib.data.stats`: the ``validate`` and
  ``stats`` commands.
"""
from srs_lib.data.cache import StickerCache
from srs_lib.data.corpus import (
    SKIP_REASONS,
    SPLITS,
    Corpus,
    CorpusError,
    SplitReport,
    load_split,
)
from srs_lib.data.dialogs import (
    Dialog,
    MalformedLine,
    Response,
    Utterance,
    iter_dialogs,
)
from srs_lib.data.stickers import STICKER_SHAPE, StickerError, StickerSet, StickerStore
from srs_lib.data.vocab import (
    PAD,
    START,
    STOP,
    UNK,
    EmojiVocab,
    Vocab,
    encode_context,
    encode_contexts,
    tokenize,
)

__all__ = [
    "PAD", "SKIP_REASONS", "SPLITS", "START", "STICKER_SHAPE", "STOP", "UNK",
    "Corpus", "CorpusError", "Dialog", "EmojiVocab", "MalformedLine", "Response", "SplitReport",
    "StickerCache", "StickerError", "StickerSet", "StickerStore", "Utterance", "Vocab",
    "encode_context", "encode_contexts", "iter_dialogs", "load_split", "tokenize",
]
