"""Logs and progress of a ``khabar`` command, on stderr.

Every record is a plain ``khabar COMMAND: message`` line. When stderr is a
terminal, a tqdm status line sits below them with the steps done, the time
spent and the last step, so that a long step (a Label Studio export snapshot,
validating a large export, a benchmark stage) visibly moves; elsewhere (a pipe,
a file, CI) there are only the plain lines.

No record shows a secret the command holds, whoever logs it
(:class:`RedactedRecord`).
"""

from __future__ import annotations

import logging
import sys
import threading

from tqdm import tqdm

from khabar.foundation.errors import redact


class RedactedRecord(logging.LogRecord):
    """A log record whose message is shown through :func:`khabar.foundation.errors.redact`: the process's record
    factory once a command has set its logging up, so Khabar's records and a library's alike (huggingface_hub logs
    the ``X-HF-Warning`` header of a Hub's answer as it came)."""

    def getMessage(self) -> str:
        return redact(super().getMessage())


class TerminalProgress(logging.Handler):
    """Each record as a line above a tqdm status line (steps done, time spent, the last step),
    refreshed twice a second so that a long step still shows its time moving."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.bar: tqdm | None = None
        self.command = command
        self.stopped = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        if self.bar is None:
            self.bar = tqdm(desc=f"khabar {self.command}", unit=" step", file=sys.stderr, leave=False, bar_format="{desc}: {n} step(s), {elapsed} {postfix}")
            threading.Thread(target=self._tick, daemon=True).start()
        self.bar.write(line, file=sys.stderr)
        self.bar.set_postfix_str(record.getMessage()[:60], refresh=False)
        self.bar.update(1)

    def _tick(self) -> None:
        while not self.stopped.wait(0.5):
            self.acquire()
            try:
                if self.bar is not None:
                    self.bar.refresh()
            finally:
                self.release()

    def close(self) -> None:
        self.stopped.set()
        self.acquire()
        try:
            if self.bar is not None:
                self.bar.close()  # leave=False: the status line is erased, the log lines stay
        finally:
            self.release()
        super().close()


def configure_logging(command: str) -> logging.Handler:
    """The ``khabar`` logger for this command: INFO and above to stderr, as described above."""
    handler: logging.Handler = TerminalProgress(command) if sys.stderr.isatty() else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"khabar {command}: %(message)s"))
    logger = logging.getLogger("khabar")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a host application's root handlers do not print these twice
    logging.setLogRecordFactory(RedactedRecord)
    return handler
