"""Checks of the knowledge base (``annotation/kb/``) against the gold of the committed exports.

Every linkable gold mention (:func:`khabar.kb.mentions.linkable_mentions`) has exactly one
row in ``links.csv``, pointing to an entry of its own type or to ``-``; every gold CONTENT
has exactly one well-formed quote cluster; no row points at a span the gold does not have;
every entry has a well-formed id, a linkable type, a name and at most a well-formed Wikidata id.
They run only when the repository has ``annotation/kb/`` and the validation reads the
committed exports with the repository's corpus: the base describes that gold and no other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo
from khabar.gold.inputs import Inputs
from khabar.gold.stored_inputs import StoredInputs
from khabar.kb import files
from khabar.kb.files import CLUSTER_ID, ENTITY_ID, NOT_IN_BASE, WIKIDATA_ID, AmbiguousSource, Cluster, Entity, Link
from khabar.kb.mentions import LINKABLE, Roles, export_paths_are_committed, gold_frames
from khabar.validation.api import ValidationResult, validate_exports
from khabar.validation.checks import ERROR, list_line
from khabar.validation.failures import Failure, FailureKind

#: check name → what it requires, for ``khabar validate --list-checks`` (all are errors)
CHECKS: dict[str, str] = {
    "kb_entity": "an entry of entities.csv has a unique lowercase id, a linkable type, a name and at most a Wikidata Q-id",
    "link_missing": "every linkable gold mention outside RELATED zones has a row in links.csv",
    "link_duplicate": "a gold mention has at most one row in links.csv",
    "link_stale": "a row of links.csv names a linkable gold mention (offsets and label)",
    "link_unknown_entity": "a link names an entry of entities.csv or '-'",
    "link_type": "a link names an entry of the mention's own type",
    "cluster_missing": "every gold CONTENT has a row in quote_clusters.csv",
    "cluster_duplicate": "a gold CONTENT has at most one row in quote_clusters.csv",
    "cluster_stale": "a row of quote_clusters.csv names a gold CONTENT",
    "cluster_id": "a cluster id is qc- and three or more digits",
    "ambiguous_source": "a row of ambiguous_sources.csv names a gold CONTENT with a source, once, and two or more readings",
}
#: the ``Failure.kind`` of these checks: a row of a file of the base, not an annotation of a task
KIND: FailureKind = "knowledge_base"
AMBIGUOUS_HINT = "edit the row by hand: a gold CONTENT's doc_id,start,end and its readings, the linked one first, '|'-separated"
HINT = "run `khabar link propose` (or `khabar link clusters`), review, and fix annotation/kb/"


def check_lines() -> list[str]:
    """The lines of these checks in ``khabar validate --list-checks``."""
    return [list_line(name, ERROR, f"{summary} (annotation/kb/)") for name, summary in CHECKS.items()]


def _failure(check: str, path: Path, message: str, *, doc_id: str | None = None, label: str | None = None,
             start: int | None = None, end: int | None = None, found: str | None = None, expected: str | None = None,
             hint: str = HINT) -> Failure:
    return Failure(
        check=check, severity=ERROR, message=message, hint=hint, file=str(path), task_id=None, doc_id=doc_id,
        kind=KIND, annotation_id=None, annotator=None, region_id=None, label=label, start=start, end=end,
        found=found, expected=expected,
    )


def check_entities(entities: list[Entity], path: Path) -> list[Failure]:
    failures = []
    repeated = {entity_id for entity_id, n in Counter(e.entity_id for e in entities).items() if n > 1}
    for e in entities:
        problems: list[str] = []
        if not ENTITY_ID.fullmatch(e.entity_id) or e.entity_id in repeated:
            problems.append("its id is not lowercase words joined by '-'" if e.entity_id not in repeated else "its id is used by another entry")
        if e.type not in LINKABLE:
            problems.append(f"its type {e.type!r} is not one of {', '.join(LINKABLE)}")
        if not e.canonical_name.strip():
            problems.append("it has no canonical name")
        if e.wikidata and not WIKIDATA_ID.fullmatch(e.wikidata):
            problems.append(f"its wikidata {e.wikidata!r} is not a Q-id")
        failures += [_failure("kb_entity", path, f"entry {e.entity_id!r}: {problem}", found=e.entity_id) for problem in problems]
    return failures


def check_links(mentions: Iterable[tuple[str, int, int, str, str]], links: list[Link], entities: list[Entity], path: Path) -> list[Failure]:
    """``mentions``: doc_id, start, end, label, text of each linkable gold mention, read once (a frame's rows as they come)."""
    types = {e.entity_id: e.type for e in entities}
    rows = Counter((k.doc_id, k.start, k.end, k.label) for k in links)
    failures = []
    gold = set()
    for doc_id, start, end, label, text in mentions:
        gold.add((doc_id, start, end, label))
        n = rows[doc_id, start, end, label]
        if n != 1:
            check, message = ("link_missing", "this gold mention has no link (an entry id, or '-' for not in the base)") if n == 0 else (
                "link_duplicate", f"this gold mention has {n} link rows")
            failures.append(_failure(check, path, message, doc_id=doc_id, label=label, start=start, end=end, found=text))
    for link in links:
        def failure(check: str, message: str, found: str, expected: str | None = None, link: Link = link) -> Failure:
            return _failure(check, path, message, doc_id=link.doc_id, label=link.label, start=link.start, end=link.end, found=found, expected=expected)

        if (link.doc_id, link.start, link.end, link.label) not in gold:
            failures.append(failure("link_stale", "no linkable gold mention has these offsets and label", link.entity_id))
        elif link.entity_id == NOT_IN_BASE:
            continue
        elif link.entity_id not in types:
            failures.append(failure("link_unknown_entity", f"links to {link.entity_id!r}, which is not in entities.csv", link.entity_id))
        elif types[link.entity_id] != link.label:
            failures.append(failure("link_type", f"a {link.label} mention links to {link.entity_id!r}, a {types[link.entity_id]}",
                                    types[link.entity_id], link.label))
    return failures


def check_clusters(gold_contents: list[tuple[str, int, int, str]], clusters: list[Cluster], path: Path, label: str) -> list[Failure]:
    """``label`` is the scheme's content label (its attribution role): it names the spans in the failures (with their offsets)."""
    rows = Counter((c.doc_id, c.start, c.end) for c in clusters)
    failures = []
    for doc_id, start, end, text in gold_contents:
        n = rows[doc_id, start, end]
        if n != 1:
            message = "this gold CONTENT has no quote cluster" if n == 0 else f"this gold CONTENT has {n} quote clusters"
            failures.append(_failure("cluster_missing" if n == 0 else "cluster_duplicate", path, message, doc_id=doc_id, label=label, start=start, end=end, found=text))
    spans = {(doc_id, start, end) for doc_id, start, end, _ in gold_contents}
    for c in clusters:
        if (c.doc_id, c.start, c.end) not in spans:
            failures.append(_failure("cluster_stale", path, "no gold CONTENT has these offsets", doc_id=c.doc_id, label=label, start=c.start, end=c.end, found=c.cluster_id))
        if not CLUSTER_ID.fullmatch(c.cluster_id):
            failures.append(_failure("cluster_id", path, f"cluster id {c.cluster_id!r} is not qc- and three or more digits", doc_id=c.doc_id,
                                     label=label, start=c.start, end=c.end, found=c.cluster_id, expected="qc-001"))
    return failures


def check_ambiguous_sources(gold_contents: list[tuple[str, int, int, str]], with_source: set[tuple[str, int, int]],
                            rows: list[AmbiguousSource], path: Path, label: str) -> list[Failure]:
    """Each row flags a gold CONTENT that has a source, once, and lists at least two readings."""
    spans = {(doc_id, start, end) for doc_id, start, end, _ in gold_contents}
    seen = Counter((r.doc_id, r.start, r.end) for r in rows)
    failures = []
    for r in rows:
        key = (r.doc_id, r.start, r.end)
        problem = (
            "no gold CONTENT has these offsets" if key not in spans
            else "this CONTENT has no source to be ambiguous" if key not in with_source
            else f"this CONTENT is flagged {seen[key]} times" if seen[key] > 1
            else f"it lists {len(r.reading_list)} reading(s); an ambiguous source has two or more, '|'-separated" if len(r.reading_list) < 2
            else None
        )
        if problem:
            failures.append(_failure("ambiguous_source", path, problem, doc_id=r.doc_id, label=label, start=r.start, end=r.end, found=r.readings,
                                     hint=AMBIGUOUS_HINT))
    return failures


def validate_with_knowledge_base(paths: list[Path], documents_file: Path | None = None, *, strict: bool = False) -> ValidationResult:
    """:func:`~khabar.validation.api.validate_exports`, then the knowledge base against the gold of the
    exports when their tables are clean (only clean tables give a gold): what ``khabar validate`` reports."""
    result = validate_exports(paths, documents_file, strict=strict)
    documents_file = documents_file or repo().documents_file
    if result.errors == 0 and knowledge_base_applies(paths, documents_file):
        inputs = StoredInputs.of_spool(result.spool, export_hashes=(), documents_sha256="")  # read in place, a range at a time
        result.failures += check_knowledge_base(inputs, paths, documents_file)
    return result


def knowledge_base_applies(paths: list[Path], documents_file: Path) -> bool:
    """Whether the repository's knowledge base describes these inputs (else it is not checked against them)."""
    return repo().kb_dir.is_dir() and export_paths_are_committed(paths, documents_file)


def check_knowledge_base(inputs: Inputs, paths: list[Path], documents_file: Path) -> list[Failure]:
    """The base's failures against the gold of ``inputs``; none when the base does not describe these inputs."""
    folder = repo().kb_dir
    if not knowledge_base_applies(paths, documents_file):
        return []
    entities, links, clusters = files.read(Entity), files.read(Link), files.read(Cluster)
    roles = Roles.of(load_scheme())
    mentions, gold_frame = gold_frames(inputs, roles)
    gold_contents = gold_frame.select("doc_id", "start", "end", "text").rows()
    with_source = set(gold_frame.filter(pl.col("source_start").list.len() > 0).select("doc_id", "start", "end").rows())
    return [
        *check_entities(entities, folder / files.FILES[Entity]),
        *check_links(mentions.iter_rows(), links, entities, folder / files.FILES[Link]),
        *check_clusters(gold_contents, clusters, folder / files.FILES[Cluster], roles.content),
        *check_ambiguous_sources(gold_contents, with_source, files.read(AmbiguousSource), folder / files.FILES[AmbiguousSource], roles.content),
    ]
