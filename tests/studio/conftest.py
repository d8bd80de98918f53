"""The real ``khabar`` command, in this process, for the studio tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from khabar.annotation.paths import use_root


@dataclass(frozen=True)
class CliRun:
    status: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def khabar(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., CliRun]]:
    """``khabar ARGS`` through ``khabar.cli.main``; an exception escaping it fails the test with its traceback."""
    from khabar.cli import main

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: usage errors exit 2
            status = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return CliRun(status, captured.out, captured.err)

    yield run
    use_root(None)  # --root is process-wide: later tests find the repository again
