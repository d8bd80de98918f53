"""The shape of a task as msgspec structs, for decoding the common task without a dict per object.

The structure is typed (a task's lists of owners, an owner's list of results told
apart by their ``type``), and so is each result, exactly as Label Studio writes it
for one labeling config (:func:`shapes`): a span has a non-empty string id, a
``from_name`` that is one of the config's layers, a ``to_name`` that is its text, and
a ``value`` with offsets that fit the Int64 columns, a string text and exactly one
label, one of the config's; a region choice has the same id, a ``from_name`` that is one of the
config's region-choice controls, the same ``to_name``, and exactly one string choice;
a relation has two non-empty string ends, exactly one string label and a
``direction`` of ``right`` or ``left`` (or none). An owner's and a task's own fields
are ``Any``, left for the reader to judge as before. A task of another shape (a
result of another type or control, a result with a field missing or mistyped, an
owner that is only an id…) fails to decode and is decoded as plain JSON instead, so
the reader's messages are unchanged; a typed result is one the reader keeps where it
stands, so it takes a whole owner's results into its columns at once, without
looking at them again. :meth:`_Fields.as_dict` gives the reader a task's and an
owner's own fields as plain decoding gives them (unset ones absent).

Results are ``gc=False`` structs: decoded JSON holds no cycle, and the cycle
collector then never tracks the million of them of a large export. Decoding 600 MB
of export this way instead of into dicts: see benchmarks/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, cast

import msgspec
from msgspec import UNSET, UnsetType


class _Fields(msgspec.Struct):
    def as_dict(self) -> dict[str, Any]:
        """The fields that were in the JSON, as plain decoding gives them."""
        return {name: value for name in self.__struct_fields__ if (value := getattr(self, name)) is not UNSET}


#: an offset as the Int64 columns hold it, and as a span needs it: never negative
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
#: a region id as the tables hold it, and the only one that needs no conversion
RegionId = Annotated[str, msgspec.Meta(min_length=1)]
#: exactly one string: a region's label, a relation's label, a region's choice
One = Annotated[list[str], msgspec.Meta(min_length=1, max_length=1)]


class SpanValue(msgspec.Struct, gc=False):
    start: Offset
    end: Offset
    text: str
    labels: One


class SpanResult(msgspec.Struct, tag_field="type", tag="labels", gc=False):
    id: RegionId
    from_name: str  # one of the config's layers (shapes)
    to_name: str  # the config's text (shapes)
    value: SpanValue


class ChoiceValue(msgspec.Struct, gc=False):
    choices: One


class ChoiceResult(msgspec.Struct, tag_field="type", tag="choices", gc=False):
    id: RegionId
    from_name: str  # one of the config's region-choice controls (shapes)
    to_name: str  # the config's text (shapes)
    value: ChoiceValue


class RelationResult(msgspec.Struct, tag_field="type", tag="relation", gc=False):
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


@dataclass(frozen=True)
class Shapes:
    """The typed structs of one labeling config's tasks, and their decoder."""

    task: type[Task]
    owner: type[Owner]
    span: type[SpanResult]
    choice: type[ChoiceResult]
    relation: type[RelationResult]
    decoder: msgspec.json.Decoder[Task]


def _one_of(values: tuple[str, ...]) -> Any:
    """``Literal[values]``, built from values known at run time."""
    return Literal.__getitem__(values)


@cache
def shapes(text_name: str, layers: tuple[str, ...], controls: tuple[str, ...], labels: tuple[str, ...]) -> Shapes:
    """The structs of tasks whose spans are of ``layers`` with one of ``labels``, whose region choices are of ``controls``, all on ``text_name``.

    The names and labels are checked while decoding (a literal's lookup, no string
    made), so the reader never looks at the names (at 1M spans, with the results
    ``gc=False``: the reading 6.0 → 4.6 s CPU). A label of another config leaves its
    task to plain decoding, where the reader finds it as before.
    """
    text = _one_of((text_name,))
    value = msgspec.defstruct("SpanValue", [("labels", tuple[_one_of(labels)])], bases=(SpanValue,), gc=False)  # type: ignore[misc]
    span = cast(type[SpanResult], msgspec.defstruct(
        "SpanResult", [("from_name", _one_of(layers)), ("to_name", text), ("value", value)], bases=(SpanResult,), gc=False,
    ))
    choice = cast(type[ChoiceResult], msgspec.defstruct(
        "ChoiceResult", [("from_name", _one_of(controls)), ("to_name", text)], bases=(ChoiceResult,), gc=False,
    )) if controls else ChoiceResult  # no control: never decoded, the union leaves it out
    result: Any = span | choice | RelationResult if controls else span | RelationResult
    owner = cast(type[Owner], msgspec.defstruct("Owner", [("result", list[result] | UnsetType, UNSET)], bases=(Owner,)))
    owners: Any = list[owner] | None | UnsetType  # type: ignore[valid-type]
    task = cast(type[Task], msgspec.defstruct(
        "Task", [("annotations", owners, UNSET), ("drafts", owners, UNSET), ("predictions", owners, UNSET)], bases=(Task,),
    ))
    return Shapes(task=task, owner=owner, span=span, choice=choice, relation=RelationResult, decoder=msgspec.json.Decoder(task))
