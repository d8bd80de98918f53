"""The shape of a task as msgspec structs, for decoding the common task without a dict per object.

The structure is typed (a task's lists of owners, an owner's list of results told
apart by their ``type``), and so is each result, exactly as Label Studio writes it: a
span has a non-empty string id, string ``from_name`` and ``to_name``, and a ``value``
with offsets that fit the Int64 columns, a string text and exactly one string label; a
region choice has the same id and names and exactly one string choice; a relation has
two non-empty string ends, exactly one string label and a ``direction`` of ``right`` or
``left`` (or none). An owner's and a task's own fields are ``Any``, left for the reader
to judge as before. A task of another shape (a result of another type, a result with a
field missing or mistyped, an owner that is only an id…) fails to decode and is decoded
as plain JSON instead, so the reader's messages are unchanged; a typed result is one
the reader keeps as it is, so it can take a whole owner's results into its columns at
once. :meth:`as_dict` gives the reader, wherever it leaves that way, the same dict that
plain decoding gives, with the fields it reads (unset ones absent).

Decoding 600 MB of export this way instead of into dicts: see benchmarks/README.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType


class _Fields(msgspec.Struct):
    def as_dict(self) -> dict[str, Any]:
        """The fields that were in the JSON, as plain decoding gives them (the tag, ``type``, included)."""
        fields: dict[str, Any] = {}
        tag = self.__struct_config__.tag
        if isinstance(tag, str):
            fields["type"] = tag
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if value is not UNSET:
                fields[name] = value.as_dict() if isinstance(value, _Fields) else value
        return fields


#: an offset as the Int64 columns hold it, and as a span needs it: never negative
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: a region id as the tables hold it, and the only one that needs no conversion
RegionId = Annotated[str, msgspec.Meta(min_length=1)]
#: exactly one string: a region's label, a relation's label, a region's choice
One = Annotated[list[str], msgspec.Meta(min_length=1, max_length=1)]


class SpanValue(_Fields):
    start: Offset
    end: Offset
    text: str
    labels: One


class SpanResult(_Fields, tag_field="type", tag="labels"):
    id: RegionId
    from_name: str
    to_name: str
    value: SpanValue


class ChoiceValue(_Fields):
    choices: One
    # what the reader reads of a choice on a layer's control, a region then
    start: Any = UNSET
    end: Any = UNSET
    text: Any = UNSET
    labels: Any = UNSET


class ChoiceResult(_Fields, tag_field="type", tag="choices"):
    id: RegionId
    from_name: str
    to_name: str
    value: ChoiceValue


class RelationResult(_Fields, tag_field="type", tag="relation"):
    from_id: RegionId
    to_id: RegionId
    labels: One
    direction: Literal["right", "left"] | UnsetType = UNSET


class Owner(_Fields):
    id: Any = UNSET
    completed_by: Any = UNSET
    user: Any = UNSET
    model_version: Any = UNSET
    created_at: Any = UNSET
    updated_at: Any = UNSET
    lead_time: Any = UNSET
    was_cancelled: Any = UNSET
    ground_truth: Any = UNSET
    result: list[SpanResult | ChoiceResult | RelationResult] | UnsetType = UNSET


class Task(_Fields):
    id: Any = UNSET
    data: Any = UNSET
    annotations: list[Owner] | None | UnsetType = UNSET
    drafts: list[Owner] | None | UnsetType = UNSET
    predictions: list[Owner] | None | UnsetType = UNSET


DECODER = msgspec.json.Decoder(Task)
