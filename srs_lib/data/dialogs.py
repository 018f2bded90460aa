"""Dialog samples of the StickerChat release format, read line by line.

Each line of ``release_{train,val,test}.json`` is one JSON object::

    {"context": [{"text": "我 正在 用 ...", "reply_to_msg_id": null, "id": 52000,
                  "from_id": 284336329}, ...],
     "current": {"from_id": 271484871, "reply_to_msg_id": null,
                 "sticker_set_id": 556029562811580420,
                 "sticker_id": 556029562811581404, "sticker_alt": "😀"}}

``text`` is already word-segmented: words are separated by whitespace.

Ids are kept as exact Python ints. Some exceed 2**53 (set 556029562811580420), so any
path through a float (pandas, JavaScript) silently changes them and breaks the lookup of
the sticker's folder. The reader accepts ids written as JSON integers or as strings of
decimal digits, and refuses floats (``5.56e17`` or ``52000.0``) rather than guess.

:func:`iter_dialogs` never stops on a bad line: it yields a :class:`MalformedLine` with the
line number and the reason, and goes on with the next line.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from srs_lib.data.entries import open_regular

_INT_STRING = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class Utterance:
    """One message of the context.

    ``text`` is the pre-segmented message (words separated by whitespace, possibly empty);
    ``id`` the message id, ``from_id`` its author, ``reply_to_msg_id`` the message it
    answers (``None`` when it answers none).
    """

    text: str
    id: int
    from_id: int
    reply_to_msg_id: int | None

    @property
    def tokens(self) -> list[str]:
        """The words of the message (``text.split()``); empty for an empty message."""
        return self.text.split()


@dataclass(frozen=True, slots=True)
class Response:
    """The sticker sent in reply to the context: the ground truth of the sample.

    ``sticker_alt`` is the emoji its set's author attached to the sticker (noisy: some
    authors pick emojis at random).
    """

    from_id: int
    reply_to_msg_id: int | None
    sticker_set_id: int
    sticker_id: int
    sticker_alt: str


@dataclass(frozen=True, slots=True)
class Dialog:
    """One sample: the context (chronological) and the sticker response.

    ``line`` is the 1-based line number of the sample in its file (blank lines count
    towards line numbers, so they match an editor's).
    """

    context: tuple[Utterance, ...]
    current: Response
    line: int

    @property
    def utterances(self) -> tuple[Utterance, ...]:
        """The context utterances that have at least one word, in chronological order."""
        return tuple(u for u in self.context if u.tokens)

    @property
    def sticker_key(self) -> tuple[int, int]:
        """``(sticker_set_id, sticker_id)`` of the ground-truth sticker."""
        return self.current.sticker_set_id, self.current.sticker_id


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line that is not a valid sample: its 1-based number and why."""

    line: int
    reason: str


class _Malformed(ValueError):
    """Internal: raised by the field parsers with a reason for :class:`MalformedLine`."""


def _id(obj: dict, key: str, where: str, *, nullable: bool = False) -> int | None:
    if key not in obj:
        raise _Malformed(f"{where}: missing field {key!r}")
    value = obj[key]
    if value is None:
        if nullable:
            return None
        raise _Malformed(f"{where}.{key} is null")
    if isinstance(value, bool):
        raise _Malformed(f"{where}.{key} is a boolean ({value!r}), not an id")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        raise _Malformed(
            f"{where}.{key} is a float ({value!r}); ids must be exact integers "
            f"(a float cannot hold ids above 2**53)"
        )
    if isinstance(value, str) and _INT_STRING.fullmatch(value):
        return int(value)
    raise _Malformed(f"{where}.{key} is not an integer id: {value!r}")


def _str(obj: dict, key: str, where: str) -> str:
    if key not in obj:
        raise _Malformed(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, str):
        raise _Malformed(f"{where}.{key} is {type(value).__name__}, not a string")
    return value


def _object(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is {type(value).__name__}, not an object")
    return value


def parse_dialog(text: str, line: int) -> Dialog | MalformedLine:
    """Parse one JSON line into a :class:`Dialog`, or say why it is a :class:`MalformedLine`."""
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        return MalformedLine(line, f"invalid JSON: {error.msg} (column {error.colno})")
    try:
        record = _object(record, "the line")
        if "context" not in record:
            raise _Malformed("missing field 'context'")
        if "current" not in record:
            raise _Malformed("missing field 'current'")
        if not isinstance(record["context"], list):
            raise _Malformed(f"context is {type(record['context']).__name__}, not a list")
        context = []
        for i, raw in enumerate(record["context"]):
            where = f"context[{i}]"
            item = _object(raw, where)
            context.append(
                Utterance(
                    text=_str(item, "text", where),
                    id=_id(item, "id", where),
                    from_id=_id(item, "from_id", where),
                    reply_to_msg_id=_id(item, "reply_to_msg_id", where, nullable=True),
                )
            )
        current = _object(record["current"], "current")
        response = Response(
            from_id=_id(current, "from_id", "current"),
            reply_to_msg_id=_id(current, "reply_to_msg_id", "current", nullable=True),
            sticker_set_id=_id(current, "sticker_set_id", "current"),
            sticker_id=_id(current, "sticker_id", "current"),
            sticker_alt=_str(current, "sticker_alt", "current"),
        )
    except _Malformed as error:
        return MalformedLine(line, str(error))
    return Dialog(context=tuple(context), current=response, line=line)


def iter_dialogs(path: str | os.PathLike) -> Iterator[Dialog | MalformedLine]:
    """Stream the samples of a release file, one per non-blank line.

    Yields a :class:`Dialog` for every valid line and a :class:`MalformedLine` for every
    other non-blank line (invalid UTF-8 or JSON, a missing field, a value of the wrong
    type, a float id). Blank lines are skipped and yield nothing. Line numbers are 1-based
    physical line numbers. The file is read lazily, so memory does not grow with its size.
    Only a regular file is read (a FIFO raises :class:`~srs_lib.data.entries.RefusedEntry`).
    """
    with open_regular(os.path.realpath(path)) as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield MalformedLine(number, f"invalid UTF-8 at byte {error.start}")
                continue
            if not text.strip():
                continue
            yield parse_dialog(text.rstrip("\r\n"), number)
