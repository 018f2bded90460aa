"""srs_lib.data.dialogs: the JSON-lines reader, exact ids, malformed lines."""
from __future__ import annotations

import dataclasses
import json

import pytest
from corpus_fixtures import BIG_SET, BIG_STICKERS, USER_2_53, USER_A, USER_BIG, USER_C

from srs_lib.data.dialogs import Dialog, MalformedLine, Utterance, iter_dialogs, parse_dialog


def _sample(**current_overrides) -> dict:
    current = {"from_id": 1, "reply_to_msg_id": None, "sticker_set_id": 2, "sticker_id": 3, "sticker_alt": "😀"}
    current.update(current_overrides)
    return {"context": [{"text": "你好 世界", "reply_to_msg_id": None, "id": 10, "from_id": 1}], "current": current}


def test_fixture_train_split_line_by_line(corpus):
    items = list(iter_dialogs(corpus / "release_train.json"))
    assert [item.line for item in items] == [1, 2] + list(range(4, 16))  # line 3 is blank
    malformed = {item.line: item.reason for item in items if isinstance(item, MalformedLine)}
    assert sorted(malformed) == [2, 4, 15]
    assert "invalid JSON" in malformed[2]
    assert "float" in malformed[4] and "sticker_id" in malformed[4]
    assert malformed[15] == "missing field 'current'"


def test_ids_above_2_53_are_exact(corpus):
    dialogs = {d.line: d for d in iter_dialogs(corpus / "release_train.json") if isinstance(d, Dialog)}
    first = dialogs[1]
    assert first.context[2].from_id == USER_BIG and type(first.context[2].from_id) is int
    assert first.context[2].id == 9007199254740995
    assert first.current.sticker_set_id == BIG_SET == 556029562811580420
    assert first.current.sticker_id == BIG_STICKERS[0] == 556029562811581404
    assert first.current.reply_to_msg_id == 9007199254740995
    assert first.sticker_key == (BIG_SET, BIG_STICKERS[0])
    # 2**53 and 2**53 + 1 stay distinct (a float would merge them).
    assert {u.from_id for u in dialogs[14].context} == {USER_A, USER_C, USER_2_53, USER_BIG}


def test_ids_written_as_digit_strings_become_ints(corpus):
    dialog = next(d for d in iter_dialogs(corpus / "release_train.json") if d.line == 12)
    assert dialog.current.sticker_set_id == BIG_SET
    assert dialog.current.sticker_id == BIG_STICKERS[2]
    assert dialog.current.from_id == USER_BIG
    assert dialog.context[1] == Utterance(text="你好", id=52011, from_id=USER_C, reply_to_msg_id=52010)


def test_chinese_text_is_split_on_whitespace_and_empty_utterances_dropped(corpus):
    dialogs = {d.line: d for d in iter_dialogs(corpus / "release_train.json") if isinstance(d, Dialog)}
    assert dialogs[1].context[0].tokens == ["我", "正在", "用", "大", "套子", "，", "好久", "没用", "了"]
    assert dialogs[1].context[0].reply_to_msg_id is None
    assert [u.text for u in dialogs[12].utterances] == ["你好"]  # the empty one is dropped
    assert dialogs[6].utterances == () and len(dialogs[6].context) == 2


@pytest.mark.parametrize(
    "value, reason",
    [
        (52000.0, "float"),
        (5.56e17, "float"),
        (float("nan"), "float"),
        (True, "boolean"),
        ("12a", "not an integer id"),
        ("", "not an integer id"),
        ([3], "not an integer id"),
        (None, "is null"),
    ],
)
def test_bad_ids_make_the_line_malformed(value, reason):
    result = parse_dialog(json.dumps(_sample(sticker_id=value)), 7)
    assert isinstance(result, MalformedLine) and result.line == 7
    assert "current.sticker_id" in result.reason and reason in result.reason


def test_negative_and_string_ids_and_null_reply():
    result = parse_dialog(json.dumps(_sample(from_id="-1001", reply_to_msg_id=None)), 1)
    assert result.current.from_id == -1001 and result.current.reply_to_msg_id is None


@pytest.mark.parametrize(
    "record, reason",
    [
        ([1, 2], "the line is list, not an object"),
        ({"current": {}}, "missing field 'context'"),
        ({"context": "hi", "current": {}}, "context is str, not a list"),
        ({"context": ["hi"], "current": {}}, "context[0] is str, not an object"),
        ({"context": [{"id": 1, "from_id": 1, "reply_to_msg_id": None}], "current": {}},
         "context[0]: missing field 'text'"),
        ({"context": [{"text": 5, "id": 1, "from_id": 1, "reply_to_msg_id": None}], "current": {}},
         "context[0].text is int, not a string"),
        ({"context": [], "current": {"from_id": 1}}, "current: missing field 'reply_to_msg_id'"),
    ],
)
def test_structural_errors_are_named(record, reason):
    result = parse_dialog(json.dumps(record), 3)
    assert result == MalformedLine(3, reason)


def test_reader_survives_bad_bytes_bom_and_crlf(tmp_path):
    good = json.dumps(_sample(), ensure_ascii=False).encode()
    path = tmp_path / "release_test.json"
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\r\n" + b"\xff\xfe broken\n" + b"   \n" + good + b"\r\n")
    items = list(iter_dialogs(path))
    assert [type(item).__name__ for item in items] == ["Dialog", "MalformedLine", "Dialog"]
    assert items[1] == MalformedLine(2, "invalid UTF-8 at byte 0")
    assert items[2].line == 4 and items[2].context[0].text == "你好 世界"


def test_records_are_frozen():
    dialog = parse_dialog(json.dumps(_sample()), 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dialog.current.sticker_id = 4
