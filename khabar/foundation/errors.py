"""The one error type every stage raises for bad input.

The CLI turns it into a one-line message and an exit status; a traceback
is a bug.
"""

from __future__ import annotations

import re

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_UNUSABLE_INPUT = 2

#: What ``str.splitlines`` breaks a line at: a file name, doc_id, label or region id holding one
#: (JSON and most file systems allow them) would otherwise split a one-line message.
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
#: the characters of a text a message shows before it elides the middle
QUOTED_CHARACTERS = 60


def one_line(text: str) -> str:
    """``text`` with each line break written as its Python escape (``\\n``, ``\\u2028``): one line, and the break still seen."""
    return LINE_BREAK.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def not_utf8(exc: UnicodeDecodeError, offset: int = 0) -> str:
    """What a UTF-8 decoding error found, in one phrase: the byte and where it is (``offset``: of the decoded bytes'
    first byte in the file)."""
    return f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {offset + exc.start})"


def quoted(text: str | None, limit: int = QUOTED_CHARACTERS) -> str:
    """A text as a one-line message shows it: «…», line breaks escaped (:func:`one_line`), the middle elided past ``limit`` characters.

    Both edges are kept: a span's problem is mostly at an edge (white space, a
    proclitic, punctuation), and a zone span of 3,000 characters quoted whole made
    one warning sixty lines long.
    """
    if text is None:
        return "nothing"
    if len(text) > limit:
        head = (limit - 1) // 2
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return "«" + one_line(text) + "»"


class KhabarError(Exception):
    """Bad input, described well enough for a person to fix it.

    ``file``, ``task`` (a Label Studio task id, or ``#N`` for its position),
    ``document`` (a corpus doc_id) and ``region`` say where; the message says what.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        task: int | str | None = None,
        document: str | None = None,
        region: str | None = None,
        exit_status: int = EXIT_UNUSABLE_INPUT,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.task = task
        self.document = document
        self.region = region
        self.exit_status = exit_status

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.task is not None:
            where.append(f"task {self.task}")
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.region is not None:
            where.append(f"region {self.region}")
        return one_line(f"{': '.join(where)}: {self.message}" if where else self.message)
