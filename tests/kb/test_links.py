"""The knowledge base against the committed gold: its checks, the proposals, and the CLI on a copy of the repository."""

from __future__ import annotations

import csv
import os
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.foundation.errors import KhabarError
from khabar.kb import files
from khabar.kb.check import check_clusters, check_entities, check_links
from khabar.kb.files import AmbiguousSource, Cluster, Entity, Link
from khabar.kb.mentions import LINKABLE, Roles, committed_gold, contents, linkable_mentions
from khabar.kb.propose import Status, propose_clusters, propose_links, statements

#: the audit's pages (file prefix → doc_id)
ASHARQ, RT, ALHURRA, ALARAB = "81ec20757aeac4d6", "c59ea302dcd9b174", "bdd1f7aa27f45812", "e652f16ef741cb5b"


@pytest.fixture(scope="module")
def committed():
    """The committed gold's texts (by doc_id), linkable mentions and CONTENT spans, and the base's three files."""
    texts, mentions, gold_contents = committed_gold()
    return dict(texts), mentions, gold_contents, files.read(Entity), files.read(Link), files.read(Cluster)


def test_the_gold_read_a_range_at_a_time_gives_the_frames_of_the_whole(committed, small_ranges):
    """The base is checked against the gold made a range of documents at a time (as the build makes it): the same
    mentions and CONTENT spans, in the same order, as the gold of all documents at once."""
    from khabar.foundation.paths import repo
    from khabar.gold.adjudicate import adjudicate
    from khabar.gold.load import load_inputs
    from khabar.kb import mentions as mentions_module

    whole = load_inputs(sorted(repo().exports_dir.glob("*.json")), repo().documents_file)
    gold, roles = adjudicate(whole), Roles.of(load_scheme())
    adjudicated = small_ranges(2)
    mentions, gold_contents = mentions_module.gold_frames(whole, roles)
    assert len(adjudicated) == len(whole.ranges(documents=2, spans=10**9)) > 2 and max(adjudicated) <= 2
    assert mentions.equals(linkable_mentions(gold))
    assert gold_contents.equals(contents(gold, roles).select(gold_contents.columns))
    _, committed_mentions, committed_contents, *_ = committed
    assert committed_mentions.equals(mentions) and committed_contents.equals(gold_contents), "khabar link reads the same"


def test_every_linkable_gold_mention_outside_related_zones_has_one_valid_link(committed):
    _, mentions, _, entities, links, _ = committed
    assert mentions.height == len(links) > 400
    assert check_entities(entities, Path("entities.csv")) == []
    assert check_links(mentions, files.frame_of(Link, links), entities, Path("links.csv")) == []
    assert set(mentions["label"]) == set(LINKABLE)


def test_the_audits_people_are_one_entity_each(committed):
    _, mentions, _, _, links, _ = committed
    by_text = {}
    texts = {(m[0], m[1], m[2]): m[4] for m in mentions.rows()}
    for link in links:
        by_text.setdefault(link.entity_id, set()).add(texts[link.doc_id, link.start, link.end])
    assert {"ألينا رومانوفسكي", "آلينا رومانسكي", "رومانوفسكي"} <= by_text["alina-romanowski"]
    assert {"عبد اللطيف رشيد", "عبد اللطيف جمال رشيد", "رشيد"} <= by_text["abdul-latif-rashid"]
    assert {"التحالف", "لتحالف", "التحالف الدولي"} <= by_text["global-coalition-against-isis"]


def test_every_gold_content_has_one_cluster_and_the_audits_reprint_shares_it(committed):
    _, _, gold_contents, _, _, clusters = committed
    assert check_clusters(gold_contents, files.frame_of(Cluster, clusters), Path("c.csv"), load_scheme().attribution.content) == []
    cluster_of = {(c.doc_id, c.start, c.end): c.cluster_id for c in clusters}
    assert cluster_of[ASHARQ, 1544, 1706] == cluster_of[RT, 250, 418]
    # "still a threat" and "no longer a threat" share many words but are not one statement
    assert cluster_of[RT, 55, 90] != cluster_of[RT, 930, 992]


def test_proposals_reproduce_the_reviewed_links_from_aliases_alone(committed):
    texts, mentions, _, entities, links, _ = committed
    proposals = list(propose_links(mentions, texts, entities, files.frame_of(Link, [])))
    proposed = {p.link() for p in proposals if p.status is Status.PROPOSED}
    assert proposed == set(links)  # the review confirmed every proposal and found no mention the aliases miss


def test_an_alias_of_two_entries_is_ambiguous_and_an_unknown_name_unlinked(committed):
    texts, mentions, _, entities, _, _ = committed
    other = Entity("another-coalition", "ORG", "التحالف الداعم للشرعية", "التحالف", "")
    without_iraq = [e for e in entities if e.entity_id != "iraq"] + [other]
    proposals = list(propose_links(mentions, texts, without_iraq, files.frame_of(Link, [])))
    status = {(p.text, p.status) for p in proposals}
    assert ("التحالف", Status.AMBIGUOUS) in status and ("العراق", Status.UNLINKED) in status
    ambiguous = next(p for p in proposals if p.text == "التحالف")
    assert ambiguous.candidates == ("another-coalition", "global-coalition-against-isis")


def test_link_checks_name_each_problem(committed):
    _, mentions, _, entities, links, _ = committed
    first, second, third, fourth = links[:4]
    broken = [
        Link(second.doc_id, second.start, second.end, second.label, "no-such-entity"),
        Link(third.doc_id, third.start, third.end, third.label, "iraq" if third.label != "GPE" else "isis"),
        Link(fourth.doc_id, fourth.start, fourth.end, fourth.label, files.NOT_IN_BASE),
        Link(first.doc_id, 999_999, 1_000_000, "GPE", "iraq"),
        *links[4:],
    ]  # the first mention lost its row
    failures = {(f.check, f.start) for f in check_links(mentions, files.frame_of(Link, broken), entities, Path("links.csv"))}
    assert failures == {("link_missing", first.start), ("link_unknown_entity", second.start), ("link_type", third.start), ("link_stale", 999_999)}
    doubled = [*links, Link(fourth.doc_id, fourth.start, fourth.end, fourth.label, files.NOT_IN_BASE)]
    assert [(f.check, f.start) for f in check_links(mentions, files.frame_of(Link, doubled), entities, Path("links.csv"))] == [("link_duplicate", fourth.start)]


def test_entity_and_cluster_checks_name_each_problem():
    entities = [Entity("Bad Id", "GPE", "x", "", ""), Entity("ok", "DATE", "x", "", "Q0"), Entity("dup", "GPE", "x", "", ""), Entity("dup", "ORG", "", "", "")]
    failures = check_entities(entities, Path("entities.csv"))
    assert len(failures) == 6 and {f.check for f in failures} == {"kb_entity"}, failures
    contents_ = pl.DataFrame([("d", 0, 5, "قال"), ("d", 10, 20, "قالت"), ("d", 30, 40, "قالوا")], schema=["doc_id", "start", "end", "text"], orient="row")
    clusters = [Cluster("d", 0, 5, "qc-001"), Cluster("d", 0, 5, "qc-002"), Cluster("d", 10, 20, "cluster 7"), Cluster("d", 50, 60, "qc-003")]
    checks = sorted((f.check, f.start) for f in check_clusters(contents_, files.frame_of(Cluster, clusters), Path("c.csv"), "CONTENT"))
    assert checks == [("cluster_duplicate", 0), ("cluster_id", 10), ("cluster_missing", 30), ("cluster_stale", 50)]


def test_cluster_proposals_keep_reviewed_rows_and_join_new_reprints(committed):
    _, _, gold_contents, _, links, clusters = committed
    items = statements(gold_contents, files.frame_of(Link, links))
    fresh = propose_clusters(items, [])
    cluster_of = {(c.doc_id, c.start, c.end): c.cluster_id for c in fresh}
    assert cluster_of[ASHARQ, 1544, 1706] == cluster_of[RT, 250, 418]
    assert len(fresh) == len(items) and all(files.CLUSTER_ID.fullmatch(c.cluster_id) for c in fresh)
    # the reprint's partner is gone from the file: it comes back into the reviewed cluster, nothing else changes
    kept = [c for c in clusters if (c.doc_id, c.start) != (RT, 250)]
    again = propose_clusters(items, kept)
    assert set(kept) <= set(again) and len(again) == len(clusters)
    assert {(c.doc_id, c.start): c.cluster_id for c in again}[RT, 250] == {(c.doc_id, c.start): c.cluster_id for c in clusters}[ASHARQ, 1544]


def test_link_propose_writes_the_reviewed_file_again_and_validate_catches_a_missing_link(repo_copy: Path, khabar):
    kb = repo_copy / "annotation" / "kb"
    committed_links = (kb / "links.csv").read_bytes()
    (kb / "links.csv").unlink()
    run = khabar("--root", repo_copy, "link", "propose")
    assert run.status == 1 and "proposed" in run.out and not (kb / "links.csv").exists()
    run = khabar("--root", repo_copy, "link", "propose", "--write")
    assert run.status == 0, run.out
    assert (kb / "links.csv").read_bytes() == committed_links

    rows = list(csv.reader((kb / "links.csv").open(encoding="utf-8")))
    dropped = rows.pop(7)
    (kb / "links.csv").write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    before = (kb / "links.csv").read_bytes()
    run = khabar("--root", repo_copy, "validate")
    assert run.status == 1
    missing = [line for line in run.out.splitlines() if "link_missing" in line]
    assert len(missing) == 1 and dropped[1] in missing[0] and dropped[2] in missing[0], run.out
    assert (kb / "links.csv").read_bytes() == before  # validation writes nothing


def test_link_clusters_lists_a_content_without_cluster(repo_copy: Path, khabar):
    kb = repo_copy / "annotation" / "kb"
    lines = (kb / "quote_clusters.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    dropped = next(line for line in lines if line.startswith(f"{RT},250,418,"))
    (kb / "quote_clusters.csv").write_text("".join(line for line in lines if line != dropped), encoding="utf-8")
    validated = khabar("--root", repo_copy, "validate")
    missing = [line for line in validated.out.splitlines() if "cluster_missing" in line]
    assert validated.status == 1 and len(missing) == 1 and "CONTENT [250:418]" in missing[0], validated.out
    run = khabar("--root", repo_copy, "link", "clusters")
    listed = [line for line in run.out.splitlines() if f"{RT} [250:418] with" in line]
    assert run.status == 1 and len(listed) == 1 and f"{ASHARQ} [1544:1706]" in listed[0], run.out
    run = khabar("--root", repo_copy, "link", "clusters", "--write")
    assert run.status == 0
    assert (kb / "quote_clusters.csv").read_text(encoding="utf-8").splitlines(keepends=True) == lines


@pytest.mark.parametrize("command, name", [("propose", "links.csv"), ("clusters", "quote_clusters.csv")])
def test_a_base_file_saved_with_crlf_keeps_them_when_rows_are_added(repo_copy: Path, khabar, command: str, name: str):
    """The rows already there stay byte for byte: the added row ends as they do (a rewrite in LF changed them all)."""
    path = repo_copy / "annotation" / "kb" / name
    crlf = path.read_bytes().replace(b"\n", b"\r\n")
    lines = crlf.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:7] + lines[8:]))
    assert khabar("--root", repo_copy, "link", command, "--write").status == 0
    assert path.read_bytes() == crlf


@pytest.mark.parametrize("layout", ["a byte order mark", "CR line ends", "a value holding a CR"])
@pytest.mark.parametrize("command, name", [("propose", "links.csv"), ("clusters", "quote_clusters.csv")])
def test_a_base_file_keeps_its_byte_order_mark_line_ends_and_values_when_rows_are_added(repo_copy: Path, khabar, command: str, name: str,
                                                                                        layout: str):
    """As a file saved with CRLF keeps them: Excel's byte order mark (the file was refused), CR line ends (rewritten
    with LF, every line changed) and a reviewer's value holding a CR (csv left it bare in a file ending its lines with
    LF: the row was cut in two, and the file no longer read)."""
    path = repo_copy / "annotation" / "kb" / name
    saved = path.read_bytes()
    if layout == "a byte order mark":
        saved = b"\xef\xbb\xbf" + saved
    elif layout == "CR line ends":
        saved = saved.replace(b"\n", b"\r")
    else:  # a row of no gold mention or CONTENT, reported and kept
        saved += b'ffffffffffffffff,1,2,GPE,"a\rb"\n' if command == "propose" else b'ffffffffffffffff,1,2,"qc-\r1"\n'
    lines = saved.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:7] + lines[8:]))
    assert khabar("--root", repo_copy, "link", command, "--write").status == 0
    assert path.read_bytes() == saved


@pytest.mark.parametrize("there", [True, False], ids=["edited", "made"])
@pytest.mark.parametrize("command, name, step", [("propose", "links.csv", "propose_links"), ("clusters", "quote_clusters.csv", "propose_clusters")])
def test_a_reviewers_edit_saved_while_link_writes_is_kept_and_the_write_refused(repo_copy: Path, khabar, monkeypatch, command: str, name: str,
                                                                               step: str, there: bool):
    """``link … --write`` read the file, proposed, and wrote the rows it read and its own over the file: a reviewer's
    edit saved meanwhile (or a file made where it found none) was lost. The write is put in place only over the bytes
    read, as ``validate --repair`` does."""
    from khabar.kb import propose as propose_module

    path = repo_copy / "annotation" / "kb" / name
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if there:
        path.write_text("".join(lines[:7] + lines[8:]), encoding="utf-8")  # a row to propose again
    else:
        path.unlink()
    reviewed = "".join(lines[:3]) + lines[3].replace(lines[3].rsplit(",", 1)[1], "reviewer-s-choice\n")
    proposing = getattr(propose_module, step)

    def reviewer_saves_meanwhile(*args):
        proposed = proposing(*args)
        path.write_text(reviewed, encoding="utf-8")
        return proposed

    monkeypatch.setattr(propose_module, step, reviewer_saves_meanwhile)
    run = khabar("--root", repo_copy, "link", command, "--write")
    happened = "changed on disk since it was read" if there else "made on disk since the command found none there"
    assert run.status == 2 and f"khabar link: error: {path}: {happened}; not written" in run.err, run.output
    assert path.read_text(encoding="utf-8") == reviewed
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(["README.md", *files.FILES.values()]), "something staged was left"


def test_link_never_writes_a_cell_a_spreadsheet_runs_as_a_formula(repo_copy: Path, khabar):
    """A reviewer opens the files ``link --write`` writes in a spreadsheet, which runs a cell such as
    ``=cmd|' /C calc'!A0`` as a formula (CSV injection). No id, offset or label starts so: an entry whose id does (from
    a pull request, say) is refused before links.csv is written, and validation names it; so is a name of entities.csv,
    a file the build releases."""
    kb = repo_copy / "annotation" / "kb"
    formula = "=cmd|' /C calc'!A0"
    entities = (kb / "entities.csv").read_text(encoding="utf-8")
    (kb / "entities.csv").write_text(entities.replace("\niraq,GPE,العراق,", f"\n\"{formula}\",GPE,العراق,", 1).replace(
        "\nisis,ORG,داعش,", "\nisis,ORG,داعش,@SUM(1)|", 1), encoding="utf-8")
    links = kb / "links.csv"
    links.write_text("".join(line for line in links.read_text(encoding="utf-8").splitlines(keepends=True) if not line.endswith(",iraq\n")),
                     encoding="utf-8")
    before = links.read_bytes()
    run = khabar("--root", repo_copy, "link", "propose", "--write")
    assert run.status == 2 and f"khabar link: error: {links}: not written: the row «" in run.err and f"holds «{formula}», which a spreadsheet" in run.err, run.output
    assert links.read_bytes() == before and sorted(p.name for p in kb.iterdir()) == sorted(["README.md", *files.FILES.values()])
    entries = [line for line in khabar("--root", repo_copy, "validate").out.splitlines() if " kb_entity: " in line]
    assert any("not lowercase words" in line and "=cmd" in line for line in entries), entries
    assert any("its name '@SUM(1)' starts as a spreadsheet formula does" in line for line in entries), entries


@pytest.mark.parametrize("standing", ["a regular file", "a dangling symlink"])
def test_a_knowledge_base_that_is_not_a_folder_is_refused_not_read_as_none(repo_copy: Path, khabar, tmp_path: Path, standing: str):
    """Read as no base, it was not checked (validate: clean) and the build released every entity without its id."""
    kb = repo_copy / "annotation" / "kb"
    shutil.rmtree(kb)
    if standing == "a regular file":
        kb.write_text("entity_id,type\n", encoding="utf-8")
    else:
        kb.symlink_to(tmp_path / "nowhere")
    for command in (("validate",), ("link", "propose"), ("build", "--out", tmp_path / "build")):
        run = khabar("--root", repo_copy, *command)
        assert run.status == 2 and f"{kb}: {standing}, not a folder" in run.err, (command, run.output)
    assert not (tmp_path / "build").exists()


def test_a_build_of_other_exports_says_the_base_is_not_checked_against_them(repo_copy: Path, khabar, tmp_path: Path):
    """The base describes the committed exports: a build of others joins its rows to the spans they name, unchecked, as
    before, but no longer without a word."""
    other = tmp_path / "other.json"
    shutil.copyfile(repo_copy / "annotation" / "exports" / "khabar.json", other)
    run = khabar("--root", repo_copy, "build", "--exports", other, "--out", tmp_path / "out")
    assert run.status == 0, run.output
    assert f"{repo_copy / 'annotation' / 'kb'} not checked: the knowledge base describes the committed exports and corpus, not these" in run.err


@pytest.mark.parametrize("validated_first", [True, False], ids=["tables-kept-by-validate", "validating-the-exports-itself"])
def test_build_refuses_a_broken_base(validated_first: bool, repo_copy: Path, khabar, tmp_path: Path, monkeypatch):
    """With the tables validate kept, or validating the exports itself (an empty cache), the build checks the base
    against the gold of the ranges it builds from, and refuses a broken one with the same line."""
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    if validated_first:
        assert khabar("--root", repo_copy, "validate").status == 0  # keeps the tables for the build
    links = repo_copy / "annotation" / "kb" / "links.csv"
    lines = links.read_text(encoding="utf-8").splitlines(keepends=True)
    links.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    out = tmp_path / "build"
    run = khabar("--root", repo_copy, "build", "--out", out)
    assert run.status == 1, run.out + run.err
    assert ("not checked again" in run.out + run.err) is validated_first and ("validating 1 export(s)" in run.err) is not validated_first
    assert "knowledge base has 1 error(s)" in run.err and lines[3].split(",")[0] in run.err and "has no link" in run.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [("doc,start,end,label,entity\n", "links.csv:1: the header «doc,start,end,label,entity» lacks 'doc_id', 'entity_id' and has 'doc', 'entity' besides"),
     ("doc_id,start,end,label,entity_id\nx,1,2,GPE\n", "links.csv:2: 4 values where the header has 5 columns: no value for 'entity_id'"),
     ("doc_id,start,end,label,entity_id\nx,one,2,GPE,iraq\n", "links.csv:2: start «one» is not a whole number"),
     ("doc_id,start,end,label,entity_id\nx,1,2,GPE," + "a" * 200_000 + "\n", "links.csv:2: not CSV: field larger than field limit (131072)")],
    ids=["header", "values", "offset", "past-csv-s-limit"],
)
def test_a_malformed_links_file_is_unusable_input_named_by_file_and_line(repo_copy: Path, khabar, content: str, problem: str):
    links = repo_copy / "annotation" / "kb" / "links.csv"
    links.write_text(content, encoding="utf-8")
    for command in (("validate",), ("link", "propose")):
        run = khabar("--root", repo_copy, *command)
        assert run.status == 2 and str(links) in run.err and problem in run.err, run.err
    assert links.read_text(encoding="utf-8") == content


def test_the_two_ambiguous_source_links_of_the_audit_are_flagged_and_checked(committed, repo_copy: Path, khabar):
    _, _, frame, _, _, _ = committed
    rows = files.read(files.AmbiguousSource)
    assert {(r.doc_id, r.start, r.end) for r in rows} == {(ALHURRA, 3782, 3930), (ALHURRA, 1624, 1711)}  # GUIDELINES D50
    assert all(len(r.reading_list) == 2 for r in rows)
    roles = Roles.of(load_scheme())
    from khabar.kb.check import check_ambiguous_sources

    assert check_ambiguous_sources(frame, rows, Path("a.csv"), roles.content) == []

    kb = repo_copy / "annotation" / "kb"
    path = kb / "ambiguous_sources.csv"
    path.write_text(path.read_text(encoding="utf-8") + f"{ALHURRA},3782,3931,الوكالة|التقرير\n{ASHARQ},0,5,الوكالة\n", encoding="utf-8")
    before = path.read_bytes()
    run = khabar("--root", repo_copy, "validate")
    flagged = [line for line in run.out.splitlines() if " ambiguous_source: " in line]
    assert run.status == 1 and len(flagged) == 2, run.out
    stale = next(line for line in flagged if "[3782:3931]" in line)
    assert str(path) in stale and f"document {ALHURRA}" in stale and "CONTENT" in stale and "no gold CONTENT" in stale
    assert "edit the row by hand" in stale and "khabar link propose" not in stale  # no command writes this file
    assert all("task None" not in line and "unknown annotator" not in line for line in flagged)
    assert path.read_bytes() == before


def test_knowledge_base_checks_are_listed_and_their_failures_name_file_document_span_and_text(repo_copy: Path, khabar):
    listed = khabar("validate", "--list-checks")
    from khabar.kb.check import CHECKS

    names = {line.split()[0] for line in listed.out.splitlines()}
    assert set(CHECKS) <= names and {"link_missing", "cluster_missing", "ambiguous_source"} <= names
    kb = repo_copy / "annotation" / "kb"
    rows = list(csv.reader((kb / "links.csv").open(encoding="utf-8")))
    dropped = rows.pop(3)
    (kb / "links.csv").write_text("".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    run = khabar("--root", repo_copy, "validate")
    line = next(line for line in run.out.splitlines() if " link_missing: " in line)
    assert f"{kb / 'links.csv'} · document {dropped[0]} · span {dropped[3]} [{dropped[1]}:{dropped[2]}]" in line, line
    assert "· text " in line or "· found " in line
    assert "task None" not in line and "annotation None" not in line and "unknown annotator" not in line


def test_a_base_file_not_utf8_or_not_a_regular_file_is_a_one_line_error(tmp_path):
    """The one reader of annotation/kb/ refuses what it cannot read as a table, naming the file; a FIFO never blocks it."""

    (tmp_path / files.FILES[Link]).write_bytes("doc_id,start,end,label,entity_id\nd1,0,5,GPE,بغداد\n".encode("cp1256"))
    with pytest.raises(KhabarError, match=r"links\.csv:2: not UTF-8 \(byte 0x") as not_utf8:
        files.read(Link, tmp_path)
    assert not_utf8.value.exit_status == 2
    os.mkfifo(tmp_path / files.FILES[Cluster])
    with pytest.raises(KhabarError, match=r"quote_clusters\.csv: a FIFO \(named pipe\), not a regular file"):
        files.read(Cluster, tmp_path)
    # a link to nothing, or a loop of links, is no missing file: it was read as a base without rows
    (tmp_path / files.FILES[Entity]).symlink_to(tmp_path / "nowhere")
    with pytest.raises(KhabarError, match=r"entities\.csv: a dangling symlink, not a regular file"):
        files.read(Entity, tmp_path)
    (tmp_path / files.FILES[AmbiguousSource]).symlink_to(tmp_path / files.FILES[AmbiguousSource])
    with pytest.raises(KhabarError, match=r"ambiguous_sources\.csv: a symlink loop, not a regular file"):
        files.read(AmbiguousSource, tmp_path)


def test_a_base_file_is_read_a_chunk_of_rows_at_a_time_as_one_frame_in_its_order(tmp_path, monkeypatch):
    """read_frame holds a chunk of rows as Python values, never the file's: across the chunks' seams the rows keep
    the file's order and values, and a malformed row is still named by its line."""
    monkeypatch.setattr(files, "CHUNK_ROWS", 2)
    rows = [Link(f"d{i % 3}", i, i + 4, "GPE", "-" if i % 2 else "baghdad") for i in range(7)]
    path = tmp_path / files.FILES[Link]
    path.write_text("".join(files.render(Link, rows[::-1])), encoding="utf-8")  # render sorts them
    assert files.read(Link, tmp_path) == sorted(rows)
    assert files.read_frame(Link, tmp_path).schema == files.schema(Link) and files.read_frame(Link, tmp_path).height == 7
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for bad, problem in (("d1,5,6,GPE\n", ":7: 4 values where the header has 5 columns"),
                         ("d1,5,99999999999999999999,GPE,x\n", ":7: end 99999999999999999999 is out of range")):
        path.write_text("".join([*lines[:6], bad, *lines[6:]]), encoding="utf-8")
        with pytest.raises(KhabarError, match=re.escape(f"links.csv{problem}")) as raised:
            files.read_frame(Link, tmp_path)
        assert raised.value.exit_status == 2


def test_cluster_candidates_hold_every_pair_whose_overlap_reaches_the_threshold():
    """Prefix filtering (propose.candidate_pairs) against every pair compared: on word sets drawn from small and
    large vocabularies, sizes 0 to 13, half of them fresh, no pair with a fresh member at or above a threshold is
    left out, at the two the proposals use and at others, including rounding-prone ones; none comes twice."""
    import random

    from khabar.kb.propose import PARAPHRASE, REPRINT, candidate_pairs, overlap

    for seed in range(60):
        rnd = random.Random(seed)
        vocabulary = [f"w{i}" for i in range(rnd.choice([5, 12, 40]))]
        sets = [frozenset(rnd.sample(vocabulary, min(rnd.choice([0, 1, 2, 3, 5, 8, 13]), len(vocabulary)))) for _ in range(rnd.randint(2, 50))]
        fresh = [rnd.random() < 0.5 for _ in sets]
        for threshold in (PARAPHRASE, REPRINT, 1 / 3, 0.7, 1.0):
            every = {(i, j) for i in range(len(sets)) for j in range(i + 1, len(sets))
                     if overlap(sets[i], sets[j]) >= threshold and (fresh[i] or fresh[j])}
            found = [(min(pair), max(pair)) for pair in candidate_pairs(sets, threshold, fresh)]
            assert every <= set(found), (seed, threshold, every - set(found))
            assert len(found) == len(set(found)) and all(fresh[i] or fresh[j] for i, j in found), "each pair once, a fresh member in each"


def test_the_base_checked_range_by_range_fails_as_on_the_whole_gold(repo_copy: Path, monkeypatch, small_ranges):
    """A build checks the base on the gold it makes a range of documents at a time (``BaseCheck.add``): on a broken
    base (rows lost, repeated and moved; rows of no document, before every document and between two; a malformed
    cluster id; a stale ambiguous source) the failures of ranges of two documents, joined three gold rows at a
    time, are those of the whole gold at once, in the same order."""
    from khabar.foundation.paths import repo, use_root
    from khabar.gold.adjudicate import adjudicate
    from khabar.gold.load import load_inputs
    from khabar.kb import check as check_module
    from khabar.kb import mentions as mentions_module

    use_root(repo_copy)
    kb = repo().kb_dir
    links = (kb / "links.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    moved = links[5].replace(",", ",1", 1)  # its start gains a leading 1: a span of no mention
    doc_ids = sorted({line.split(",")[0] for line in links[1:]})
    nowhere = [f"{doc_ids[0][:-1]},1,2,GPE,iraq\n", f"{doc_ids[0]}0,1,2,GPE,iraq\n"]  # before every document; between two
    # out of the documents' order: rows of no document first, a row of the first document last
    links = [links[0], nowhere[0], *links[2:4], links[4], moved, nowhere[1], *links[6:], links[4], links[1].replace(",", ",1", 1)]
    (kb / "links.csv").write_text("".join(links), encoding="utf-8")
    clusters = (kb / "quote_clusters.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    clusters[2] = clusters[2].rsplit(",", 1)[0] + ",cluster 7\n"
    (kb / "quote_clusters.csv").write_text("".join(clusters[:5] + clusters[6:]), encoding="utf-8")
    with (kb / "ambiguous_sources.csv").open("a", encoding="utf-8") as file:
        file.write(f"{doc_ids[-1]}9,1,2,a|b\n")

    whole = load_inputs(sorted(repo().exports_dir.glob("*.json")), repo().documents_file)
    at_once = check_module.BaseCheck()
    at_once.add(adjudicate(whole))
    expected = [(f.check, f.doc_id, f.start, f.end, f.label, f.found, f.message) for f in at_once.failures()]
    assert {check for check, *_ in expected} >= {"link_missing", "link_duplicate", "link_stale", "cluster_missing", "cluster_id", "ambiguous_source"}

    adjudicated = small_ranges(2)
    monkeypatch.setattr(mentions_module, "SLICE_ROWS", 3)
    failures = check_module.check_knowledge_base(whole, sorted(repo().exports_dir.glob("*.json")), repo().documents_file)
    assert len(adjudicated) == len(whole.ranges(documents=2, spans=10**9)) > 2 and max(adjudicated) <= 2
    assert [(f.check, f.doc_id, f.start, f.end, f.label, f.found, f.message) for f in failures] == expected
    stale = [(f.doc_id, f.start) for f in failures if f.check == "link_stale"]
    assert stale == [(nowhere[0].split(",")[0], 1), (moved.split(",")[0], int(moved.split(",")[1])), (nowhere[1].split(",")[0], 1),
                     (links[-1].split(",")[0], int(links[-1].split(",")[1]))]  # in the file's order


def test_link_takes_the_tables_validate_kept(repo_copy: Path, khabar, tmp_path: Path, monkeypatch):
    """``khabar link`` reads the committed exports as the build does: the tables ``khabar validate`` kept for them,
    not validated again, with the same proposals as from its own validation."""
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    for command in ("propose", "clusters"):
        first = khabar("--root", repo_copy, "link", command)
        assert "validating 1 export(s)" in first.err and "not checked again" not in first.err, first.err
        assert khabar("--root", repo_copy, "validate").status == 0  # keeps its tables
        again = khabar("--root", repo_copy, "link", command)
        assert "not checked again" in again.err and "validating" not in again.err, again.err
        assert (again.status, again.out) == (first.status, first.out)
        shutil.rmtree(tmp_path / "cache")
