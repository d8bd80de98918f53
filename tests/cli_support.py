"""The one way tests run the real ``khabar`` command in this process, and Python code in a fresh one.

:func:`run_khabar` is for session fixtures (no output captured); the ``khabar``
fixture of ``tests/conftest.py`` wraps it and returns a :class:`CliRun`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple


class CliRun(NamedTuple):
    """What one ``khabar`` command returned and printed (``status, out, err = khabar(...)`` also works)."""

    status: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)

    def lines_of(self, check: str) -> list[str]:
        return [line for line in self.out.splitlines() if f" {check}:" in line]


def run_khabar(*args: str | Path) -> int:
    """``khabar ARGS`` through the real entry point (``khabar.cli.main``); argparse's own exit is its status.

    ``--root`` is process-wide and stays set: the caller resets it (``use_root(None)``) when it is done.
    """
    from khabar.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as exc:  # argparse: usage errors exit 2, --help and --version 0
        return exc.code if isinstance(exc.code, int) else 2


def run_python(code: str, env: Mapping[str, str] | None = None) -> str:
    """``python -c CODE`` in a fresh interpreter (what a native library or an import reads once, at load, starts
    clean there); its stdout, stripped, once it exited 0, else the test fails with its stderr."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
