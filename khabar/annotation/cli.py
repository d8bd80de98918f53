"""The annotation stage's commands: ``khabar ingest`` and ``khabar import-conll``.

``khabar studio`` has its own module (:mod:`khabar.studio.cli`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from khabar.foundation.errors import KhabarError, quoted
from khabar.foundation.paths import repo

#: the two files ``khabar import-conll`` writes into its --out folder
CONLL_DOCUMENTS_NAME = "documents.jsonl"
CONLL_EXPORT_NAME = "export.json"


def configure_ingest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, help="corpus folder (pages/, pages.csv, sources.csv; default: annotation/corpus)")
    parser.add_argument(
        "--exports", nargs="*", type=Path, metavar="JSON",
        help="exports whose annotations keep the documents they refer to, files or folders as build reads them (default: every *.json in annotation/exports/; the flag alone: none)",
    )


def run_ingest(args: argparse.Namespace) -> int:
    from khabar.annotation.ingest import ingest
    from khabar.foundation.export_files import export_paths

    corpus = args.corpus or repo().corpus_dir
    report = ingest(corpus, export_paths(args.exports))  # found before any page is read: a wrong path is refused
    for line in report.lines():
        print(line)
    print(f"{report.pages} page(s) ingested into {corpus / 'documents.jsonl'}")
    return 0


def configure_import_conll(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="CoNLL file: TOKEN TAG [TAG ...] per line (nested IOB2 columns, outermost first)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help=f"folder for {CONLL_DOCUMENTS_NAME} and {CONLL_EXPORT_NAME} (refused if either exists)")
    parser.add_argument("--tag-map", type=Path, metavar="MAP.json", help="JSON object: the file's entity type → the scheme's type, or null to drop it")
    parser.add_argument("--source", default="conll", help="the records' source name (default: conll)")
    parser.add_argument("--sentences-per-document", type=int, default=10, metavar="N", help="sentences per document (default: 10)")


def run_import_conll(args: argparse.Namespace) -> int:
    from khabar.annotation.conll_import import ConllImport, imported_documents, read_tag_map, write_import
    from khabar.annotation.ingest import DocumentRecord
    from khabar.annotation.scheme import load_scheme
    from khabar.foundation.files import check_output

    if args.sentences_per_document < 1:
        raise KhabarError(f"--sentences-per-document must be at least 1, got {args.sentences_per_document}")
    if not args.source.strip():  # every record's source and the start of its story: records of either empty are refused by every reader
        raise KhabarError(f"--source is {quoted(args.source)}: it names the records' source, which a corpus record needs")
    documents, export = args.out / CONLL_DOCUMENTS_NAME, args.out / CONLL_EXPORT_NAME
    check_output(args.out, "--out")
    if (args.out.exists() or args.out.is_symlink()) and not args.out.is_dir():
        raise KhabarError("--out names something that is not a folder", file=str(args.out))
    present = [str(p) for p in (documents, export) if p.exists() or p.is_symlink()]
    if present:
        raise KhabarError(f"refusing to overwrite {', '.join(present)}: choose a new --out folder", file=str(args.out))
    tag_map = read_tag_map(args.tag_map, load_scheme().entity.labels) if args.tag_map else None
    imported = ConllImport()
    records: list[DocumentRecord] = []  # the texts, for the corpus file written after the export
    recorded: set[str] = set()
    repeated = 0  # documents whose text an earlier one has: its record is theirs (a doc_id names one record)

    def tasks() -> Iterator[dict]:
        """Each document's task as it is made: the export is written as the file is read (a 31 MB CoNLL file's
        import held whole took 2.16 GB)."""
        nonlocal repeated
        for document, task in imported_documents(args.file, into=imported, source=args.source, sentences_per_document=args.sentences_per_document, tag_map=tag_map):
            if document.record.doc_id in recorded:
                repeated += 1
            else:
                recorded.add(document.record.doc_id)
                records.append(document.record)
            yield task
        if not records:  # raised before the export is committed: nothing is written
            raise KhabarError("no tokens: nothing to import", file=str(args.file))

    write_import(documents, export, tasks(), records)  # a bad line, a full disk, an interrupt: no file, no new folder

    def say(message: str) -> None:
        print(f"khabar import-conll: {message}")

    cleaning = imported.cleaning
    say(f"read {imported.tokens_read} tokens in {imported.sentences_read} sentences; kept {imported.tokens_kept} tokens, "
        f"{imported.entities} entities in {imported.documents_made} documents")
    say(f"cleaned: byte-order mark {'1' if cleaning.byte_order_mark else '0'}, CRLF line ends {cleaning.crlf_lines}, bidi marks {cleaning.bidi_marks}")
    if imported.dropped:
        say("dropped tokens (not text): " + ", ".join(f"{t} {n}" for t, n in sorted(imported.dropped.items())))
    if imported.mapped_entities:
        say("entity types mapped: " + ", ".join(f"{a} → {b} {n}" for (a, b), n in sorted(imported.mapped_entities.items())))
    if imported.dropped_entities:
        say("entities dropped by the tag map: " + ", ".join(f"{t} {n}" for t, n in sorted(imported.dropped_entities.items())))
    if repeated:
        say(f"{repeated} document(s) repeat an earlier one's text: their tasks share its corpus record")
    for repair in imported.repairs:
        say(f"{repair.file}:{repair.line}: {repair.written} read as {repair.read_as} ({repair.reason})")
    for tie in imported.ties:
        say(f"{tie.file}:{tie.line}: entities over the same tokens: {', '.join(tie.labels)} (their column order is not kept)")
    say(f"wrote {documents} and {export}")
    return 0
