"""Label Studio result dicts, built in one place for every writer of them.

The pre-annotator, the model's predictions, the CoNLL importer and the benchmark
generator all emit the three forms a Khabar annotation holds: a labelled region,
the per-region choice on a region (same ``id``, same offsets) and a relation
between two regions. ``value.text`` is always ``text[start:end]``.
"""

from __future__ import annotations

from typing import Any


def labels_result(text: str, *, region_id: str, from_name: str, to_name: str, start: int, end: int, label: str) -> dict[str, Any]:
    """A region of ``from_name`` (a span layer) carrying one label."""
    return {
        "id": region_id,
        "from_name": from_name,
        "to_name": to_name,
        "type": "labels",
        "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]},
    }


def choices_result(text: str, *, region_id: str, from_name: str, to_name: str, start: int, end: int, choice: str) -> dict[str, Any]:
    """A per-region choice of ``from_name`` (a ``Choices`` control) on the region ``region_id``."""
    return {
        "id": region_id,
        "from_name": from_name,
        "to_name": to_name,
        "type": "choices",
        "value": {"start": start, "end": end, "text": text[start:end], "choices": [choice]},
    }


def relation_result(from_id: str, to_id: str, label: str) -> dict[str, Any]:
    """A relation ``label`` drawn from region ``from_id`` to region ``to_id``."""
    return {"from_id": from_id, "to_id": to_id, "type": "relation", "direction": "right", "labels": [label]}
