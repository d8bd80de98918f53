"""Fixtures of the validation tests: exports written to temporary folders, the real CLI."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def every_result_reconciles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every validation run in these tests (API or CLI) must account for all it read."""
    from khabar.validation import api

    check_exports = api.check_exports

    def reconciled(*args: Any, **kwargs: Any) -> api.ValidationResult:
        result = check_exports(*args, **kwargs)
        accounting, tables = result.accounting, result.tables
        assert accounting.reconciles, accounting.lines()
        assert accounting.count("annotations").used == tables.annotations.height
        assert accounting.count("regions").used == tables.spans.height
        assert accounting.count("relations").used == tables.relations.height
        assert accounting.count("prediction regions").used == tables.predictions_spans.height
        assert accounting.count("prediction relations").used == tables.predictions_relations.height
        return result

    monkeypatch.setattr(api, "check_exports", reconciled)
