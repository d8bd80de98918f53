"""The IOB2 tags of the entity layer: their names, in the order whose positions a release stores as ids.

A token has the tags of every entity covering it, outermost first (``[O]`` when none); each level is one IOB2
column: ``B-X`` begins an entity of label X, ``I-X`` continues one. The builder writes them
(:mod:`khabar.dataset.iob`), the CoNLL importer reads them, ``khabar validate --dataset`` checks a release's.
"""

from __future__ import annotations

from collections.abc import Sequence

#: the tag of a token outside every entity
OUTSIDE = "O"
#: the prefixes of a tag that begins an entity and of one that continues it
BEGIN, INSIDE = "B-", "I-"


def tag_names(labels: Sequence[str]) -> list[str]:
    """The IOB2 tag vocabulary, in a fixed order: O, then B-/I- per label."""
    return [OUTSIDE] + [f"{prefix}{label}" for label in labels for prefix in (BEGIN, INSIDE)]
