"""The one error type every stage raises for bad input.

The CLI turns it into a one-line message and an exit status; a traceback
is a bug.
"""

from __future__ import annotations

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_UNUSABLE_INPUT = 2


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
