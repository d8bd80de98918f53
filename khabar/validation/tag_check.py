"""The IOB2 tag columns of a released config (``khabar validate --dataset``), a batch of rows at a time.

A config with ``tokens`` has tag columns: flat (a tag per token: ``ner_tags``) or nested (the tags of every entity
covering a token, outermost first: ``nested_ner_tags``). Each is checked for what a reader takes from it:

- its ClassLabel names are the tags of the scheme the build ships (:func:`khabar.annotation.tags.tag_names` of the
  entity labels of ``labeling_config.xml``): ``khabar export`` decodes the ids with those;
- a row has a tag, or a list of tags, per token; a token's list is ``[O]`` or the tags of entities;
- at each level, ``I-X`` continues ``B-X`` or ``I-X`` of the token before at that level, and the entity around it
  (the level above) continues too: an inner entity never begins before its outer one;
- a flat column is the outermost level of the nested one (the card: "``ner_tags`` (outermost entities)").

numpy checks a batch's tags at once; a row with a problem is named with its first problem in each column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from khabar.annotation.tags import BEGIN, INSIDE, OUTSIDE, tag_names

#: the column of a config's tokens: a config with it has tag columns
TOKENS = "tokens"
#: what a tag says: outside every entity, begins one, continues one; or nothing (a name of no tag, an id of no name)
_OUTSIDE, _BEGIN, _INSIDE, _NOTHING = range(4)
#: what is wrong with a token's tags, in the order a token's problems are reported
_NO_TAG, _BESIDE, _CONTINUES_NOTHING, _BEGINS_WITH_ITS_OUTER = range(4)


@dataclass(frozen=True)
class TagColumn:
    name: str
    nested: bool
    names: tuple[str, ...]  # of its ClassLabel


def names_problem(column: TagColumn, labels: Sequence[str]) -> str | None:
    """Why the column's names are not the IOB2 tags of the scheme's entity ``labels`` in their order (None when they are)."""
    expected = tag_names(labels)
    if list(column.names) == expected:
        return None
    at = next((i for i, (ours, theirs) in enumerate(zip(column.names, expected)) if ours != theirs), min(len(column.names), len(expected)))
    found = repr(column.names[at]) if at < len(column.names) else "no more names"
    wanted = repr(expected[at]) if at < len(expected) else "no more"
    return f"the ClassLabel names of {column.name} are not the IOB2 tags of the scheme's entity labels: {found} at {at}, where the scheme has {wanted}"


def _offsets(array: Any) -> tuple[np.ndarray, Any]:
    """Where each list of a list array starts (and the end of the last), and its items: a null list as an empty one
    (the check of nulls names it)."""
    import pyarrow.compute as pc

    lengths = pc.list_value_length(array).fill_null(0).to_numpy(zero_copy_only=False)  # type: ignore[attr-defined]
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]), pc.list_flatten(array)  # type: ignore[attr-defined]


class Tags(NamedTuple):
    """A tag column of a batch as tokens' tags: where each row's tokens start, where each token's tags start (each
    followed by the end of the last), and the tags' ids, a null or an id outside the names as ``len(names)``."""

    tokens: np.ndarray
    tags: np.ndarray
    ids: np.ndarray

    @classmethod
    def of(cls, array: Any, column: TagColumn) -> Tags:
        tokens, items = _offsets(array)
        tags, items = _offsets(items) if column.nested else (np.arange(len(items) + 1, dtype=np.int64), items)
        ids = items.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return cls(tokens, tags, np.where((ids >= 0) & (ids < len(column.names)), ids, len(column.names)))

    def row_of(self, tokens: np.ndarray) -> np.ndarray:
        """The row of each of ``tokens`` (the last of rows starting there: those before it are empty)."""
        return np.searchsorted(self.tokens, tokens, side="right") - 1


def _kinds(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per id, and for ``len(names)``, what its tag says and a number for the label it says it of."""
    kinds, labels = [], []
    for name in names:
        prefix, label = name[: len(BEGIN)], name[len(BEGIN) :]
        kinds.append(_OUTSIDE if name == OUTSIDE else _BEGIN if prefix == BEGIN and label else _INSIDE if prefix == INSIDE and label else _NOTHING)
        labels.append(label)
    number = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    return np.array([*kinds, _NOTHING]), np.array([*(number[label] for label in labels), -1])


def ill_formed(tags: Tags, names: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(row, its first problem) of each row, in order, with a token that has no tag, ``O`` beside other tags, or ``I-X``
    that continues no ``B-X`` or ``I-X`` at its level in the token before, or whose entity begins with its outer one."""
    kinds, labels = _kinds(names)
    counts = np.diff(tags.tags)
    first = np.zeros(len(counts), dtype=bool)  # a row's first token
    first[tags.tokens[:-1][np.diff(tags.tokens) > 0]] = True
    token = np.repeat(np.arange(len(counts)), counts)  # each tag's
    level = np.arange(len(tags.ids)) - tags.tags[token]
    kind, label = kinds[tags.ids], labels[tags.ids]
    before = token - 1  # looked at for a token that is not its row's first only
    has_before = ~first[token] & (level < counts[before])
    previous = np.where(has_before, tags.tags[before] + level, 0)  # the tag at the same level of the token before
    continues = has_before & np.isin(kinds[tags.ids[previous]], (_BEGIN, _INSIDE)) & (labels[tags.ids[previous]] == label)
    outer = np.maximum(np.arange(len(tags.ids)) - 1, 0)  # the tag at the level above, for a tag below the first
    found = {
        _BESIDE: (kind == _OUTSIDE) & (counts[token] > 1),
        _CONTINUES_NOTHING: (kind == _INSIDE) & ~continues,
        _BEGINS_WITH_ITS_OUTER: (kind == _INSIDE) & (level > 0) & (kinds[tags.ids[outer]] != _INSIDE),
    }
    empty = np.flatnonzero(counts == 0)
    at = np.concatenate([empty, *(np.flatnonzero(bad) for bad in found.values())])  # a token with no tag, else a tag
    problem = np.concatenate([np.full(len(empty), _NO_TAG), *(np.full(np.count_nonzero(bad), code) for code, bad in found.items())])
    bad_token = np.concatenate([empty, *(token[bad] for bad in found.values())])
    order = np.lexsort((problem, at, bad_token))
    rows, firsts = np.unique(tags.row_of(bad_token[order]), return_index=True)
    shown = [*names, "(a null or an id of no name)"]
    for row, index in zip(rows.tolist(), order[firsts].tolist()):
        position, tag = int(bad_token[index] - tags.tokens[row]), int(at[index])
        if problem[index] == _NO_TAG:
            yield row, f"token {position} has no tag"
            continue
        t = token[tag]
        listed = [shown[i] for i in tags.ids[tags.tags[t] : tags.tags[t + 1]]]
        this = f"token {position}: {shown[tags.ids[tag]]}" + (f" at level {level[tag]}" if len(listed) > 1 else "")
        if problem[index] == _BESIDE:
            yield row, f"token {position}: O beside other tags ({' '.join(listed)})"
        elif problem[index] == _BEGINS_WITH_ITS_OUTER:
            yield row, f"{this} continues an entity inside {shown[tags.ids[tag - 1]]}, which begins at this token"
        elif first[t]:
            yield row, f"{this} begins its sentence"
        elif level[tag] >= counts[t - 1]:
            yield row, f"{this} follows a token with no tag at level {level[tag]}"
        else:
            yield row, f"{this} follows {shown[tags.ids[previous[tag]]]}"


def not_outermost(flat: Tags, nested: Tags) -> Iterator[tuple[int, int]]:
    """(row, token) of the first token of each row whose flat tag is not the first of its nested tags (a row whose
    columns have different numbers of tokens is named by the check of lengths)."""
    same = np.diff(flat.tokens) == np.diff(nested.tokens)
    has_tag = np.diff(nested.tags) > 0
    outermost = np.full(len(has_tag), -1)
    outermost[has_tag] = nested.ids[nested.tags[:-1][has_tag]]
    compared = np.flatnonzero(np.repeat(same, np.diff(flat.tokens)))
    differs = compared[flat.ids[compared] != outermost[np.repeat(same, np.diff(nested.tokens))]]
    rows, firsts = np.unique(flat.row_of(differs), return_index=True)
    for row, index in zip(rows.tolist(), firsts.tolist()):
        yield row, int(differs[index] - flat.tokens[row])


def batch_problems(batch: Any, columns: Sequence[TagColumn]) -> Iterator[tuple[int, str]]:
    """(row of the batch, problem) of each problem of the batch's tag ``columns`` (what the module says), column by column."""
    tokens_valid = batch.column(TOKENS).is_valid().to_numpy(zero_copy_only=False)
    tokens = np.diff(_offsets(batch.column(TOKENS))[0])
    tags = {column.name: Tags.of(batch.column(column.name), column) for column in columns}
    for column in columns:
        counted = np.diff(tags[column.name].tokens)
        valid = tokens_valid & batch.column(column.name).is_valid().to_numpy(zero_copy_only=False)
        for row in np.flatnonzero(valid & (counted != tokens)).tolist():
            yield row, f"{tokens[row]} tokens but {counted[row]} {'tag lists' if column.nested else 'tags'} in {column.name}"
        for row, message in ill_formed(tags[column.name], column.names):
            yield row, f"{column.name}: {message}"
    for flat in (c for c in columns if not c.nested):
        for nested in (c for c in columns if c.nested and c.names == flat.names):
            for row, position in not_outermost(tags[flat.name], tags[nested.name]):
                yield row, f"{flat.name}: token {position}'s tag is not the outermost of its {nested.name}"
