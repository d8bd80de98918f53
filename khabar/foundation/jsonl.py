"""JSON and JSON Lines, the one way the project renders and writes them.

A JSON file (an export, a model's description, a state file) is
:func:`dumps_document`: keys sorted, indented by two, text as UTF-8 rather than
``\\u`` escapes, a final newline, so that the same value is always the same bytes
and a diff of two versions shows what changed.

A JSON Lines file is split on ``"\\n"`` and nothing else. ``json.dumps`` with
``ensure_ascii=False`` escapes the ASCII control characters but leaves U+0085,
U+2028 and U+2029 raw, and ``str.splitlines()`` (and editors, and some
readers) break a line there: a page holding one was written fine and then
read back as two broken records. So every line separator ``str.splitlines()``
knows is written escaped (``\\u2028``) and the reader splits on ``"\\n"`` only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, AnyStr, TypeGuard, TypeVar

import msgspec

from khabar.foundation.export_files import read_regular_text
from khabar.foundation.files import ANYTHING, Found, write_atomic

#: The characters ``str.splitlines()`` splits on that ``json.dumps`` leaves raw (the others are control characters it escapes).
RAW_LINE_SEPARATORS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPES = str.maketrans(RAW_LINE_SEPARATORS)

T = TypeVar("T")


def json_problem(exc: json.JSONDecodeError, *, line: bool = True) -> str:
    """``json``'s message and where it stopped, as one phrase: ``Expecting value at line 1 column 5``.

    Its message for a string cut short already ends in "at" ("Unterminated string starting at"),
    which would otherwise read "at at line".
    """
    if exc.msg.startswith("Unexpected UTF-8 BOM"):  # json says "(decode using utf-8-sig)": advice for a programmer
        return "it starts with a UTF-8 byte order mark (BOM), which JSON does not allow: save it without one"
    where = f"line {exc.lineno} column {exc.colno}" if line else f"column {exc.colno}"
    return f"{exc.msg.removesuffix(' at')} at {where}"


def is_whole_number(value: object) -> TypeGuard[int]:
    """Whether a parsed JSON value is an integer (an id, an offset, a count): JSON's true and false are Python ints too."""
    return isinstance(value, int) and not isinstance(value, bool)


def decode_as(data: bytes | str, kind: type[T]) -> T:
    """One JSON value of the type ``kind`` (a dataclass, a typing form), its every field's type checked; a
    :class:`ValueError` saying in one line what is wrong and where (msgspec's ``Expected `str`, got `int` - at
    `$.version```) for one that is not UTF-8 JSON, nests too deeply, or is not of that type: read as ``json`` reads,
    a file of the project's own cut short or edited was a ``TypeError`` or ``UnicodeDecodeError`` traceback."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.MsgspecError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def dumps_document(value: Any) -> str:
    """``value`` as a whole JSON file: sorted keys, indent 2, UTF-8 text, a final newline.

    The bytes of ``json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)``, made faster: with an
    indent ``json`` renders in Python, without one in C, and msgspec's ``format`` then only lays out the
    tokens, copying numbers and strings as ``json`` wrote them (the 14 MB build_report.json of 1M spans:
    0.45 → 0.11 s CPU). Its parser refuses the ``NaN`` and ``Infinity`` that ``json`` writes, and a lone
    surrogate cannot be made UTF-8 for it: those values take the slow path, for the same text.
    """
    compact = json.dumps(value, ensure_ascii=False, sort_keys=True)
    try:
        return msgspec.json.format(compact, indent=2) + "\n"
    except (msgspec.DecodeError, UnicodeEncodeError):
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def dumps_document_items(values: Iterable[Any]) -> Iterator[str]:
    """:func:`dumps_document` of the list of ``values``, a value at a time, for a file too big to hold: the same
    text (an item of an indented list is its own document indented two more: no JSON string holds a raw newline)."""
    empty = True
    for value in values:
        yield ("[\n  " if empty else ",\n  ") + dumps_document(value)[:-1].replace("\n", "\n  ")
        empty = False
    yield "[]\n" if empty else "\n]\n"


def write_document(path: Path, value: Any, *, over: Found = ANYTHING, mode: int | None = None) -> None:
    """Write ``value`` as :func:`dumps_document` renders it, atomically (``over``, ``mode``: as
    :func:`khabar.foundation.files.write_atomic` takes them)."""
    write_atomic(path, dumps_document(value), over=over, mode=mode)


def dumps_line(value: Any) -> str:
    """One JSON value on one line (sorted keys, UTF-8 text), with its newline."""
    # outside strings JSON has no such characters, so escaping them everywhere only touches string contents
    return json.dumps(value, ensure_ascii=False, sort_keys=True).translate(_ESCAPES) + "\n"


def dumps(values: Iterable[Any]) -> str:
    return "".join(dumps_line(value) for value in values)


def split(text: AnyStr) -> Iterator[tuple[int, AnyStr]]:
    """(line number from 1, line) of a JSON Lines text, or of its UTF-8 bytes, split on ``"\\n"`` only; the final newline ends the last line."""
    lines = text.split("\n" if isinstance(text, str) else b"\n")
    if lines and not lines[-1]:
        lines.pop()
    yield from enumerate(lines, start=1)


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of a JSON Lines file; a file that cannot be read, is not a regular file or is not UTF-8 is a :class:`KhabarError`."""
    return split(read_regular_text(path))  # a FIFO named *.jsonl is refused, never read
