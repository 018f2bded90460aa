"""srs_lib.data.vocab: both file formats, reserved ids, context encoding."""
from __future__ import annotations

import numpy as np
import pytest
from corpus_fixtures import EMOJIS, OOV_WORDS, WORDS

from srs_lib.data.dialogs import Dialog, iter_dialogs
from srs_lib.data.vocab import (
    PAD, RESERVED_TOKENS, START, STOP, UNK, EmojiVocab, Vocab, encode_context, encode_contexts, tokenize,
)


def _write(tmp_path, text: str):
    path = tmp_path / "vocab"
    path.write_text(text, encoding="utf-8")
    return path


def test_reserved_ids():
    vocab = Vocab(["我", "你"])
    assert (PAD, UNK, START, STOP) == (0, 1, 2, 3)
    assert [vocab.token(i) for i in range(4)] == ["[PAD]", "[UNK]", "[START]", "[STOP]"]
    assert vocab.encode(["我", "你", "他"]) == [4, 5, UNK]
    assert vocab.decode([4, 0, 5, 0]) == ["我", "你"]
    assert vocab.decode([4, 0], skip_pad=False) == ["我", "[PAD]"]


@pytest.mark.parametrize("fixture_format", ["plain", "counts"])
def test_fixture_vocab_in_both_formats(make_corpus, fixture_format):
    base = make_corpus(vocab_format=fixture_format, emoji_vocab_format=fixture_format)
    vocab = Vocab.from_file(base / "vocab")
    words = [w for w in WORDS if w not in OOV_WORDS]
    assert len(vocab) == 4 + len(words) and list(vocab)[4:] == words
    assert vocab.id("我") == 4 and vocab.id("TG") == UNK and vocab.skipped_lines == 0
    emoji_vocab = EmojiVocab.from_file(base / "emoji_vocab")
    assert list(emoji_vocab) == list(EMOJIS) and emoji_vocab.index("👍") == 3
    assert "🦄" not in emoji_vocab
    with pytest.raises(KeyError):
        emoji_vocab.index("🦄")


def test_line_rule_reserved_tokens_duplicates_and_ambiguous_lines(tmp_path):
    path = _write(
        tmp_path,
        "[UNK] 0\n[PAD]\n我 120\n2020\n2021 7\n\n你 好 3\n他 many\n我 5\n[STOP] 1\n你 9\n",
    )
    vocab = Vocab.from_file(path)
    assert list(vocab) == [*RESERVED_TOKENS, "我", "2020", "2021", "你"]
    assert vocab.skipped_lines == 2  # "你 好 3" and "他 many"
    assert vocab.duplicates == 1  # the second "我"


def test_max_size_counts_reserved_tokens(tmp_path):
    path = _write(tmp_path, "a 9\nb 8\na 7\nc 6\nd 5\n")
    assert list(Vocab.from_file(path, max_size=6)) == [*RESERVED_TOKENS, "a", "b"]
    assert len(Vocab.from_file(path, max_size=4)) == 4
    with pytest.raises(ValueError, match="reserved"):
        Vocab.from_file(path, max_size=3)


def test_emoji_vocab_has_no_reserved_ids(tmp_path):
    path = _write(tmp_path, "😀 10\n😂\n❤️ 3\n😀 1\n")
    vocab = EmojiVocab.from_file(path)
    assert list(vocab) == ["😀", "😂", "❤️"] and vocab.index("😀") == 0 and vocab.duplicates == 1


def test_emoji_vocab_cap_counts_the_released_codes_reserved_entries(tmp_path):
    path = _write(tmp_path, "😀 10\n😂 9\n❤️ 3\n👍 1\n")
    assert list(EmojiVocab.from_file(path, max_size=6)) == ["😀", "😂"]  # 6 = 4 reserved + 2
    assert len(EmojiVocab.from_file(path, max_size=300)) == 4
    with pytest.raises(ValueError, match="holds no emoji"):
        EmojiVocab.from_file(path, max_size=4)


def test_a_capped_emoji_vocabulary_skips_and_counts_the_rarer_labels(make_corpus):
    from srs_lib.data.corpus import EMOJI_OUTSIDE_VOCAB, Corpus

    base = make_corpus(quirks=False)
    full, capped = Corpus(base), Corpus(base, emoji_vocab_size=4 + 2)
    assert list(capped.emoji_vocab) == list(full.emoji_vocab)[:2]
    _, full_report = full.load_split("train")
    _, capped_report = capped.load_split("train")
    dropped = capped_report.skipped[EMOJI_OUTSIDE_VOCAB] - full_report.skipped[EMOJI_OUTSIDE_VOCAB]
    assert dropped > 0 and capped_report.usable == full_report.usable - dropped


def test_tokenize_splits_on_any_whitespace():
    assert tokenize(" 我  正在\t用\u3000大 ") == ["我", "正在", "用", "大"]
    assert tokenize("   ") == []


def test_encode_context_keeps_last_utterances_and_first_words():
    vocab = Vocab([f"w{i}" for i in range(40)])  # w{i} has id i + 4
    texts = [" ".join(f"w{j}" for j in range(i, i + 35 if i == 19 else i + 2)) for i in range(20)]
    texts.insert(10, "   ")  # empty: dropped before counting
    ids, n = encode_context(texts, vocab, max_utterances=15, max_words=30)
    assert ids.shape == (15, 30) and ids.dtype == np.int32 and n == 15
    # the last 15 of the 20 non-empty utterances: those starting with w5 .. w19, in order
    assert ids[:, 0].tolist() == [i + 4 for i in range(5, 20)]
    assert ids[0, :3].tolist() == [9, 10, PAD]
    # first 30 of its 35 words, w19 .. w48; w40 and above are outside the vocabulary
    assert ids[14].tolist() == [i + 4 for i in range(19, 40)] + [UNK] * 9


def test_encode_context_pads_rows_at_the_end(corpus):
    vocab = Vocab.from_file(corpus / "vocab")
    dialog = next(d for d in iter_dialogs(corpus / "release_train.json") if isinstance(d, Dialog) and d.line == 1)
    ids, n = encode_context(dialog, vocab, max_utterances=5, max_words=4)
    assert n == 3
    assert ids.tolist() == [
        vocab.encode(["我", "正在", "用", "大"]),
        vocab.encode(["没", "想到", "还", "能"]),
        vocab.encode(["哈哈", "哈哈"]) + [PAD, PAD],
        [PAD] * 4,
        [PAD] * 4,
    ]
    assert ids[1].tolist() == vocab.encode("没 想到 还 能".split())
    empty, n_empty = encode_context([], vocab)
    assert n_empty == 0 and empty.shape == (15, 30) and not empty.any()


def test_encode_contexts_batches():
    vocab = Vocab(["a", "b"])
    ids, counts = encode_contexts([["a b", "b"], ["", "a"]], vocab, max_utterances=3, max_words=2)
    assert ids.shape == (2, 3, 2) and counts.tolist() == [2, 1]
    assert ids[1].tolist() == [[4, PAD], [PAD, PAD], [PAD, PAD]]
    with pytest.raises(ValueError):
        encode_context(["a"], vocab, max_utterances=0)
