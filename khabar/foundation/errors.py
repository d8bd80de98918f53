"""The one error type every stage raises for bad input.

The CLI turns it into a one-line message and an exit status; a traceback
is a bug.
"""

from __future__ import annotations

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_UNUSABLE_INPUT = 2

#: the characters of a text a message shows before it elides the middle
QUOTED_CHARACTERS = 60
#: line breaks and tabs as a one-line message writes them
_ESCAPES = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def quoted(text: str | None, limit: int = QUOTED_CHARACTERS) -> str:
    """A text as a one-line message shows it: «…», line breaks escaped, the middle elided past ``limit`` characters.

    Both edges are kept: a span's problem is mostly at an edge (white space, a
    proclitic, punctuation), and a zone span of 3,000 characters quoted whole made
    one warning sixty lines long.
    """
    if text is None:
        return "nothing"
    if len(text) > limit:
        head = (limit - 1) // 2
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return "«" + text.translate(_ESCAPES) + "»"


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
        return f"{': '.join(where)}: {self.message}" if where else self.message
