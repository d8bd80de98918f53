"""Smallest Label Studio exports for the validation tests, built from the real corpus.

Exports are built the way ``khabar studio pull`` writes them (pseudonym object
in ``completed_by``, ``data`` with text/doc_id/source/title, stable
formatting); :func:`ui_style` turns one into what the Label Studio UI exports
(int ``completed_by``, no ``doc_id``).
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from khabar.foundation import jsonl
from khabar.foundation.paths import repo

DOCUMENTS = [json.loads(line) for _, line in jsonl.lines(repo().documents_file)]
DOC = DOCUMENTS[1]  # c59ea302dcd9b174, RT Arabic: a short page full of quotes
TEXT = DOC["text"]
_ids = itertools.count(1)


def locate(surface: str, context: str | None = None, text: str = TEXT) -> tuple[int, int]:
    """Offsets of ``surface`` (inside the first occurrence of ``context`` when given)."""
    base = text.index(context) if context else 0
    start = text.index(surface, base)
    if context:
        assert start < base + len(context), f"{surface!r} not inside {context!r}"
    return start, start + len(surface)


def span(surface: str, label: str, layer: str = "entity", *, context: str | None = None, region_id: str | None = None, text: str = TEXT) -> dict[str, Any]:
    start, end = locate(surface, context, text)
    return {
        "from_name": layer,
        "id": region_id or f"r{next(_ids)}",
        "origin": "manual",
        "to_name": "text",
        "type": "labels",
        "value": {"end": end, "labels": [label], "start": start, "text": text[start:end]},
    }


def quote_type(region: dict[str, Any], choice: str = "direct") -> dict[str, Any]:
    value = {key: region["value"][key] for key in ("start", "end", "text")}
    return {"from_name": "quote_type", "id": region["id"], "to_name": "text", "type": "choices", "value": {**value, "choices": [choice]}}


def relation(source: dict[str, Any], target: dict[str, Any], label: str) -> dict[str, Any]:
    return {"direction": "right", "from_id": source["id"], "labels": [label], "to_id": target["id"], "type": "relation"}


def annotation(result: list[dict[str, Any]], annotation_id: int = 11, pseudonym: str = "annotator-1", **extra: Any) -> dict[str, Any]:
    return {
        "completed_by": {"pseudonym": pseudonym},
        "created_at": "2026-01-05T10:00:00.000000Z",
        "ground_truth": False,
        "id": annotation_id,
        "lead_time": 42.5,
        "result": result,
        "updated_at": "2026-01-05T10:05:00.000000Z",
        "was_cancelled": False,
        **extra,
    }


def task(annotations: list[dict[str, Any]], task_id: int = 1, doc: dict[str, Any] = DOC, **extra: Any) -> dict[str, Any]:
    return {
        "annotations": annotations,
        "data": {"doc_id": doc["doc_id"], "source": doc["source"], "text": doc["text"], "title": doc["title"]},
        "drafts": [],
        "id": task_id,
        "predictions": [],
        **extra,
    }


def valid_result() -> list[dict[str, Any]]:
    """One clean annotation: entities (one nested), a full attribution and a zone."""
    cue = span("قالت", "CUE", "attribution", context="وقالت رومانوفسكي", region_id="cue1")
    source = span("رومانوفسكي", "SOURCE", "attribution", context="وقالت رومانوفسكي", region_id="src1")
    content = span(
        "يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", region_id="cnt1"
    )
    return [
        span("ألينا رومانوفسكي", "PERS", region_id="per1"),
        span("السفيرة", "OCC", region_id="occ1"),
        span("بغداد", "GPE", region_id="gpe1"),
        span("تنظيم داعش", "ORG", region_id="org1", context="يقدر كلانا أن تنظيم داعش"),
        span("داعش", "ORG", region_id="org2", context="يقدر كلانا أن تنظيم داعش"),
        cue,
        source,
        content,
        quote_type(content, "direct"),
        relation(content, source, "source"),
        relation(content, cue, "cue"),
        span("إقرأ المزيد بغداد: نحتاج إلى تعاون لمواجهة الإرهاب", "RELATED", "zone", region_id="zone1"),
    ]


def valid_export() -> list[dict[str, Any]]:
    return [task([annotation(valid_result())])]


def ui_style(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """As exported from the Label Studio UI: int completed_by, data without doc_id."""
    tasks = copy.deepcopy(tasks)
    for item in tasks:
        item["data"] = {"text": item["data"]["text"]}
        for owner in item.get("annotations", []):
            owner["completed_by"] = 7
    return tasks


def write_export(directory: Path, tasks: Any, name: str = "project.json") -> Path:
    path = directory / name
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def region(tasks: list[dict[str, Any]], region_id: str, task_index: int = 0, annotation_index: int = 0) -> dict[str, Any]:
    """The span result with that id (for mutating a valid export)."""
    result = tasks[task_index]["annotations"][annotation_index]["result"]
    return next(r for r in result if r.get("id") == region_id and r.get("type") == "labels")
