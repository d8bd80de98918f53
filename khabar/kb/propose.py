"""Proposals for review: a link for every linkable mention, a quote cluster for every CONTENT.

Links come from the normalised aliases of the base (:func:`~khabar.kb.normalise.alias_key`):
a mention whose key is an alias key of exactly one entry of its type is proposed; several
entries make it ambiguous, none leaves it unlinked. Both kinds are listed for a person,
who writes the link (or ``-``) into ``links.csv``; rows already there are never changed.

Quote clusters come from near-duplicate matching: two CONTENTs are proposed as the same
statement when their normalised words overlap enough (:data:`REPRINT` alone, or
:data:`PARAPHRASE` when they also have a linked source in common). Clusters are the
connected groups; a CONTENT already clustered keeps its cluster, and new ones join it.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

import polars as pl

from khabar.kb.files import CLUSTER_ID, NOT_IN_BASE, Cluster, Entity, Link
from khabar.kb.mentions import LINK_KEY, MENTIONS, document_slices, in_frame_order
from khabar.kb.normalise import alias_key, standalone_form

#: share of the smaller CONTENT's word pairs found in the other: the same statement whatever its source.
#: Measured on the committed gold (96 CONTENTs): the 12 pairs at or above 0.6 are all the same statement
#: (reprints across 000/001, repeated titles and teasers, a paraphrase at 0.67).
REPRINT = 0.6
#: the same, for two CONTENTs whose sources link to a common entity. Between 0.4 and 0.6 the 3 pairs with a
#: common source are the same statement; of the 8 without one, 7 are not ("still a threat" / "no longer a threat").
PARAPHRASE = 0.4
#: function words that carry no statement: dropped before comparing
STOP_WORDS = frozenset(alias_key(w) for w in "في من على الى إلى عن ان أن إن مع هذا هذه التي الذي لا لم ما و او أو قد كان كانت بعد حتى كل".split())


class Status(Enum):
    REVIEWED = "reviewed"
    PROPOSED = "proposed"
    AMBIGUOUS = "ambiguous"
    UNLINKED = "unlinked"


@dataclass(frozen=True)
class LinkProposal:
    doc_id: str
    start: int
    end: int
    label: str
    text: str
    status: Status
    candidates: tuple[str, ...]  # entity ids of the mention's type whose aliases match

    def link(self) -> Link:
        return Link(self.doc_id, self.start, self.end, self.label, self.candidates[0])


def alias_index(entities: Iterable[Entity]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(type, alias key) → the ids of the entries with that alias."""
    index: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entity in entities:
        for name in entity.names:
            index[entity.type, alias_key(name)].add(entity.entity_id)
    return {key: tuple(sorted(ids)) for key, ids in index.items()}


def propose_links(mentions: pl.DataFrame, texts: Mapping[str, str], entities: Sequence[Entity], links: pl.DataFrame) -> Iterator[LinkProposal]:
    """One proposal per mention (MENTIONS rows, sorted by document as :func:`~khabar.kb.mentions.gold_frames` gives
    them), in their order; a mention with a row in ``links`` (links.csv's rows as a frame: the last, if several)
    is REVIEWED. Looked up a slice of documents at a time (:func:`~khabar.kb.mentions.document_slices`): a
    dictionary of every row took 1.52 GB for the 778,544 links of a 3M-span export."""
    index = alias_index(entities)
    for these, their_links in document_slices(mentions, links):
        reviewed = their_links.unique(LINK_KEY, keep="last", maintain_order=True).select(*LINK_KEY, reviewed="entity_id")
        joined = these.join(reviewed, on=LINK_KEY, how="left", maintain_order="left")
        for doc_id, start, end, label, text, entity_id in joined.select(*MENTIONS.names(), "reviewed").iter_rows():
            if entity_id is not None:
                yield LinkProposal(doc_id, start, end, label, text, Status.REVIEWED, (entity_id,))
                continue
            form = standalone_form(text, texts[doc_id][max(0, start - 1):start])
            candidates = index.get((label, alias_key(form)), ())
            status = Status.PROPOSED if len(candidates) == 1 else Status.AMBIGUOUS if candidates else Status.UNLINKED
            yield LinkProposal(doc_id, start, end, label, text, status, candidates)


def unmatched(gold: pl.DataFrame, rows: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The file's ``rows`` whose ``key`` no row of ``gold`` has, in the file's order (a slice of documents at a time)."""
    found = [rows.clear().with_row_index("place")]
    found += [their_rows.join(these.select(key), on=key, how="anti") for these, their_rows in document_slices(gold, rows)]
    return in_frame_order(found)


def content_words(text: str) -> frozenset[str]:
    """The pairs of consecutive normalised words of a statement, function words left out (a lone word
    stands for itself): word order is what tells a reprint from another statement on the same subject."""
    words = [word for word in alias_key(text).split() if word not in STOP_WORDS]
    if len(words) < 2:
        return frozenset(map(sys.intern, words))
    # interned: a pair of words that many statements share is one string (84,747 CONTENTs of a 3M-span export:
    # their word pairs 250 → 123 MB)
    return frozenset(sys.intern(f"{a} {b}") for a, b in zip(words, words[1:]))


def overlap(left: frozenset[str], right: frozenset[str]) -> float:
    """Share of the smaller word set found in the other (0 when either is empty)."""
    smaller = min(len(left), len(right))
    return len(left & right) / smaller if smaller else 0.0


@dataclass(frozen=True)
class Statement:
    doc_id: str
    start: int
    end: int
    words: frozenset[str]
    sources: frozenset[str]  # entity ids linked inside its SOURCE spans


def statements(contents: pl.DataFrame, links: pl.DataFrame) -> list[Statement]:
    """The CONTENTs (rows of :func:`khabar.kb.mentions.contents`) with their words and the entities linked inside
    their SOURCE spans (``links``: links.csv's rows as a frame), found a slice of documents at a time."""
    extents = (
        contents.select("doc_id", "source_start", "source_end")
        .with_row_index("item")
        .explode("source_start", "source_end")
        .drop_nulls("source_start")
    )
    linked = links.filter(pl.col("entity_id") != NOT_IN_BASE).select("doc_id", "entity_id", link_start="start", link_end="end")
    inside = [
        these.join(their_links.drop("place"), on="doc_id")
        .filter(pl.col("source_start") <= pl.col("link_start"), pl.col("link_end") <= pl.col("source_end"))
        .select("item", "entity_id")
        for these, their_links in document_slices(extents, linked)
    ]
    sources: dict[int, set[str]] = defaultdict(set)
    for item, entity_id in pl.concat([pl.DataFrame(schema={"item": pl.UInt32, "entity_id": pl.String}), *inside]).iter_rows():
        sources[item].add(entity_id)
    return [
        Statement(doc_id, start, end, content_words(text), frozenset(sources.get(item, ())))
        for item, (doc_id, start, end, text) in enumerate(contents.select("doc_id", "start", "end", "text").iter_rows())
    ]


def same_statement(left: Statement, right: Statement) -> bool:
    share = overlap(left.words, right.words)
    return share >= REPRINT or (share >= PARAPHRASE and bool(left.sources & right.sources))


def candidate_pairs(word_sets: Sequence[frozenset[str]], threshold: float, fresh: Sequence[bool]) -> Iterator[tuple[int, int]]:
    """Each pair of ``word_sets`` with a ``fresh`` member whose :func:`overlap` may reach ``threshold`` (> 0), once:
    every other pair's is below it, or both its members are not fresh. Each set is probed by its prefix in the
    words' order from the rarest: a pair at or above the threshold shares at least ``needed`` words of its smaller
    set, so one of them lies among that set's first ``len - needed + 1`` (prefix filtering), and the pair is
    found from its smaller set (from the first, when both are as large). A set that is not fresh looks only for
    fresh partners. Comparing every pair instead grows as the square of the CONTENTs: the 84,747 of a 3M-span
    export did not end in ten minutes; the candidates gathered as one set took 5.1 GB."""
    frequency = Counter(word for words in word_sets for word in words)
    holders: dict[str, list[int]] = defaultdict(list)
    fresh_holders: dict[str, list[int]] = defaultdict(list)
    for i, words in enumerate(word_sets):
        for word in words:
            holders[word].append(i)
            if fresh[i]:
                fresh_holders[word].append(i)
    for i, words in enumerate(word_sets):
        needed = _least_shared(len(words), threshold)
        prefix = sorted(words, key=lambda word: (frequency[word], word))[: len(words) - needed + 1]
        partners: set[int] = set()
        for word in prefix:
            for j in (holders if fresh[i] else fresh_holders)[word]:
                size = len(word_sets[j])
                if size > len(words) or (size == len(words) and j > i):
                    partners.add(j)
        yield from ((i, j) for j in sorted(partners))


def _least_shared(size: int, threshold: float) -> int:
    """The fewest words a set of ``size`` words shares with a larger one when their :func:`overlap` reaches
    ``threshold``: found by overlap's own division, so the two never disagree by a rounding."""
    shared = 1
    while shared < size and shared / size < threshold:
        shared += 1
    return shared


def propose_clusters(items: Sequence[Statement], existing: Sequence[Cluster]) -> list[Cluster]:
    """A cluster row for every statement: existing rows kept as they are, new statements joined to a
    matching cluster or given a new id (``qc-`` and the next free number)."""
    kept = {(c.doc_id, c.start, c.end): c.cluster_id for c in existing}
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # reviewed pairs stay as the reviewer left them: only a pair with a new statement is compared
    fresh = [(item.doc_id, item.start, item.end) not in kept for item in items]
    for i, j in candidate_pairs([item.words for item in items], PARAPHRASE, fresh):
        if same_statement(items[i], items[j]):
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        groups[find(i)].append(i)
    used = [int(c.cluster_id.removeprefix("qc-")) for c in existing if CLUSTER_ID.fullmatch(c.cluster_id)]  # validation reports the others
    next_number = max(used, default=0) + 1
    rows = list(existing)
    for members in sorted(groups.values()):
        new = [items[i] for i in members if (items[i].doc_id, items[i].start, items[i].end) not in kept]
        if not new:
            continue
        ids = sorted({kept[items[i].doc_id, items[i].start, items[i].end] for i in members if (items[i].doc_id, items[i].start, items[i].end) in kept})
        if ids:
            cluster_id = ids[0]
        else:
            cluster_id, next_number = f"qc-{next_number:03d}", next_number + 1
        rows.extend(Cluster(s.doc_id, s.start, s.end, cluster_id) for s in new)
    return sorted(rows)
