"""``khabar link``: propose entity links and quote clusters for review.

    khabar link propose [--write]    links of the gold's linkable mentions to annotation/kb/entities.csv
    khabar link clusters [--write]   quote clusters of the gold's CONTENT spans

Without ``--write`` nothing is written: the command prints what it would propose and
lists the ambiguous and unlinked mentions with their context. With ``--write`` it adds
the unambiguous proposals (links) or the new clusters to the CSV; rows already there
are never changed or removed, and a row that no longer matches a gold span is only
reported. Exit status: 0 when nothing is left for a person, 1 when something is.
"""

from __future__ import annotations

import argparse

from khabar.foundation.errors import EXIT_FAILED_CHECKS, EXIT_OK

CONTEXT = 40


def configure_link(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("propose", "clusters"), help="propose: entity links; clusters: quote clusters")
    parser.add_argument("--write", action="store_true", help="add the proposals to annotation/kb/ (existing rows are kept)")


def _context(text: str, start: int, end: int) -> str:
    before = text[max(0, start - CONTEXT):start].replace("\n", " ")
    after = text[end:end + CONTEXT].replace("\n", " ")
    return f"…{before}[{text[start:end]}]{after}…"


def run_link(args: argparse.Namespace) -> int:
    import polars as pl

    from khabar.foundation.memory import arrow_on_the_system_allocator
    from khabar.kb import files
    from khabar.kb.files import Cluster, Entity, Link
    from khabar.kb.mentions import LINK_KEY, committed_gold
    from khabar.kb.propose import LinkProposal, Status, propose_clusters, propose_links, statements, unmatched

    arrow_on_the_system_allocator()  # the committed exports validated and adjudicated, as khabar validate does
    texts, mentions, gold_contents = committed_gold()
    entities, (links, links_read) = files.read(Entity), files.read_to_replace(Link)
    if args.what == "propose":
        counts = dict.fromkeys(Status, 0)
        listed: list[LinkProposal] = []  # for a person, after the counts
        additions: list[Link] = []  # the rows a --write adds
        for p in propose_links(mentions, texts, entities, links):
            counts[p.status] += 1
            if p.status is Status.PROPOSED:
                additions.append(p.link())
            elif p.status in (Status.AMBIGUOUS, Status.UNLINKED):
                listed.append(p)
        print(f"khabar link: {sum(counts.values())} linkable mention(s): " + ", ".join(f"{s.value} {n}" for s, n in counts.items()))
        for p in listed:
            candidates = " or ".join(p.candidates) if p.candidates else "no entry"
            print(f"  {p.status.value:<9} {p.doc_id} [{p.start}:{p.end}] {p.label} {candidates}: {_context(texts[p.doc_id], p.start, p.end)}")
        for doc_id, start, end, label, entity_id in unmatched(mentions, links, LINK_KEY).iter_rows():
            print(f"  stale     {doc_id} [{start}:{end}] {label} → {entity_id}: no such gold mention (left in the file)")
        if args.write and additions:
            path = files.write(Link, pl.concat([links, files.frame_of(Link, additions)]), links_read)
            print(f"khabar link: {len(additions)} proposal(s) added to {path}")
        left = counts[Status.AMBIGUOUS] + counts[Status.UNLINKED] + (0 if args.write else counts[Status.PROPOSED])
        return EXIT_FAILED_CHECKS if left else EXIT_OK
    existing_rows, clusters_read = files.read_to_replace(Cluster)
    existing = files.rows_of(Cluster, existing_rows)
    items = statements(gold_contents, links)
    proposed = propose_clusters(items, existing)
    reviewed = set(existing)
    new = [row for row in proposed if row not in reviewed]
    shared = {c.cluster_id for c in proposed}
    print(f"khabar link: {len(items)} CONTENT span(s), {len(existing)} clustered, {len(new)} new row(s); {len(shared)} cluster(s) in all")
    members: dict[str, list[Cluster]] = {}
    for row in proposed:
        members.setdefault(row.cluster_id, []).append(row)
    for row in new:
        others = [m for m in members[row.cluster_id] if m != row]
        joined = f" with {', '.join(f'{m.doc_id} [{m.start}:{m.end}]' for m in others)}" if others else " alone"
        print(f"  {row.cluster_id} {row.doc_id} [{row.start}:{row.end}]{joined}: {_context(texts[row.doc_id], row.start, row.end)}")
    if args.write and new:
        path = files.write(Cluster, proposed, clusters_read)
        print(f"khabar link: {len(new)} row(s) added to {path}")
    return EXIT_FAILED_CHECKS if new and not args.write else EXIT_OK
