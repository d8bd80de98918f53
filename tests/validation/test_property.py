"""Property: whatever happens to a valid export, the validator never crashes and lets nothing bad through.

Hypothesis mutates the valid export of ``validation_exports`` (drops keys, changes
types, shifts offsets, corrupts the JSON text). For every mutant, validation
either refuses the file with a :class:`KhabarError` or returns a result whose
counts reconcile and whose usable tables are correct: every span's text is the
document's text at its offsets, every label is in its layer, every relation
joins existing regions with the right labels, and every CONTENT has a
quote_type. So a mutant either passes because it is still valid, or the
validator names a failure. The CLI gives exit status 0, 1 or 2 and no traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khabar.annotation.scheme import load_scheme
from khabar.foundation.errors import KhabarError
from khabar.validation.api import ValidationResult, validate_exports
from tests.cli_support import run_khabar
from tests.validation.validation_exports import DOCUMENTS, annotation, task, valid_result

SCHEME = load_scheme()
TEXTS = {doc["doc_id"]: doc["text"] for doc in DOCUMENTS}


def base_export() -> list[dict[str, Any]]:
    prediction = {"id": 3, "model_version": "rules-1", "result": valid_result()}
    second = annotation(valid_result(), annotation_id=12, pseudonym="annotator-2")
    return [task([annotation(valid_result()), second], predictions=[prediction])]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, prefix + (index,))
    return found


def parent_of(tree: Any, path: tuple) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


REPLACEMENTS = st.sampled_from([None, 0, -1, 7.5, "", "x", True, [], {}, ["PERS", "ORG"], "12"])


@st.composite
def mutants(draw: st.DrawFn) -> str:
    tree = base_export()
    all_paths = paths(tree)
    kind = draw(st.sampled_from(["drop", "retype", "shift", "corrupt", "several"]))
    for _ in range(draw(st.integers(2, 4)) if kind == "several" else 1):
        step = kind if kind != "several" else draw(st.sampled_from(["drop", "retype", "shift"]))
        all_paths = paths(tree)
        if step == "shift":
            offsets = [p for p in all_paths if p[-1] in ("start", "end") and type(parent_of(tree, p)[p[-1]]) is int]
            if offsets:
                path = draw(st.sampled_from(offsets))
                parent_of(tree, path)[path[-1]] += draw(st.integers(-8, 8).filter(bool))
        elif step in ("drop", "retype") and all_paths:
            path = draw(st.sampled_from(all_paths))
            parent = parent_of(tree, path)
            if step == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(draw(REPLACEMENTS))
    text = json.dumps(tree, ensure_ascii=False, indent=2, sort_keys=True)
    if kind == "corrupt":
        at = draw(st.integers(0, len(text) - 1))
        how = draw(st.sampled_from(["truncate", "delete", "insert"]))
        if how == "truncate":
            text = text[:at]
        elif how == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(['"', "{", "]", ",", "\x00", "é"])) + text[at:]
    return text


def assert_usable_tables_are_correct(result: ValidationResult) -> None:
    assert result.accounting.reconciles, result.accounting.lines()
    spans = result.tables.spans
    for row in spans.iter_rows(named=True):
        assert TEXTS[row["doc_id"]][row["start"] : row["end"]] == row["text"]
        assert row["label"] in SCHEME.labels(row["layer"])
        assert (row["quote_type"] is not None) == (row["label"] == "CONTENT")
    ends = spans.select("annotation_id", "region_id", "label")
    for row in result.tables.relations.iter_rows(named=True):
        rule = SCHEME.relation(row["label"])
        for end, wanted in (("from_region", rule.from_label), ("to_region", rule.to_label)):
            match = ends.filter((pl.col("annotation_id") == row["annotation_id"]) & (pl.col("region_id") == row[end]))
            assert match["label"].to_list() == [wanted]
    for failure in result.failures:
        assert failure.check and failure.severity in ("error", "warning") and failure.message


def test_the_base_export_is_valid():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(json.dumps(base_export(), ensure_ascii=False), encoding="utf-8")
        result = validate_exports([path], strict=True)
    assert result.failures == []
    assert result.tables.spans.height == 18 and result.tables.predictions_spans.height == 9


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutants())
def test_mutated_exports_never_crash_and_never_pass_bad_rows(text: str):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(text, encoding="utf-8")
        try:
            result = validate_exports([path])
        except KhabarError as error:
            assert str(path) in str(error)
            status = 2
        else:
            assert_usable_tables_are_correct(result)
            status = result.exit_status
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert run_khabar("validate", str(path), "--format", "json") == status
        if status == 2:
            assert out.getvalue() == "" and "error:" in err.getvalue()
        else:
            assert json.loads(out.getvalue())["exit_status"] == status
