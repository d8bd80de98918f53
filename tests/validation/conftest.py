"""Fixtures of the validation tests: exports written to temporary folders, the real CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from khabar.cli import main  # noqa: E402


@dataclass(frozen=True)
class CliRun:
    status: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.out)

    def lines_of(self, check: str) -> list[str]:
        return [line for line in self.out.splitlines() if f" {check}:" in line]


@pytest.fixture
def khabar(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """Run ``khabar ARGS`` through the real entry point and capture what it prints."""

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        status = main([str(arg) for arg in args])
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return CliRun(status, captured.out, captured.err)

    return run


@pytest.fixture(autouse=True)
def every_result_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every validation run in these tests (API or CLI) must account for all it read."""
    from khabar.validation import api

    check_raw = api.check_raw

    def reconciled(*args: Any, **kwargs: Any) -> api.ValidationResult:
        result = check_raw(*args, **kwargs)
        accounting, tables = result.accounting, result.tables
        assert accounting.reconciles, accounting.lines()
        assert accounting.count("annotations").used == tables.annotations.height
        assert accounting.count("regions").used == tables.spans.height
        assert accounting.count("relations").used == tables.relations.height
        assert accounting.count("prediction regions").used == tables.predictions_spans.height
        assert accounting.count("prediction relations").used == tables.predictions_relations.height
        return result

    monkeypatch.setattr(api, "check_raw", reconciled)
