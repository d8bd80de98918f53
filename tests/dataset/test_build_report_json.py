"""build_report.json, rendered by khabar.foundation.jsonl.dumps_document: the bytes json.dumps with indent 2 makes."""

from __future__ import annotations

import json

from khabar.foundation import jsonl


def test_the_build_report_is_rendered_as_json_dumps_renders_it(built_v1):
    """A real build's report, read back and rendered again: the file's bytes, and json.dumps's."""
    written = (built_v1 / "build_report.json").read_text(encoding="utf-8")
    value = json.loads(written)
    assert len(written) > 10_000 and value["adjudication"]["decisions"]
    assert jsonl.dumps_document(value) == json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n" == written
