"""``khabar validate``: check exports against every rule and report.

    khabar validate [PATHS...] [--format text|markdown|json|github] [--strict] [--repair] [--documents FILE]
    khabar validate --list-checks
    khabar validate --dataset dist/<name>-<version>

PATHS are export files or folders of them (default: ``annotation/exports/*.json``).
With no export at all the command says "no exports to validate", prints zero
counts and exits 0: an empty repository is valid, and CI runs before the first
pull. Exit status: 0 clean (warnings allowed unless --strict), 1 failed checks,
2 unusable input (not JSON, another project's export, missing corpus…) or a
repair refused (a rule it would make fail; nothing written).
With ``--dataset`` it re-checks a built (or downloaded) dataset folder instead
(:mod:`khabar.validation.dataset_check`: hashes and row counts against MANIFEST.json,
features against the card, span and token offsets against the text).
The report goes to stdout; progress and repairs go to stderr, so
``--format json`` output stays machine-readable. A clean run (no error, not
``--strict``) keeps its tables for ``khabar build`` (:mod:`khabar.validation.store`).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import os_reason
from khabar.foundation.memory import cycle_collector_paused
from khabar.foundation.paths import repo

if TYPE_CHECKING:
    from khabar.validation.api import ValidationResult

FORMATS = ("text", "markdown", "json", "github")


def configure_validate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", type=Path, metavar="PATHS",
        help="export files or folders of *.json, any case (default: annotation/exports/*.json)",
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format (default: text, grouped by document)")
    parser.add_argument("--strict", action="store_true", help="count warnings (guideline hygiene) as errors")
    parser.add_argument("--repair", action="store_true", help="fix drifted offsets, editor \\n text and white space in place, then validate")
    parser.add_argument("--list-checks", action="store_true", help="print every check with its severity and exit")
    parser.add_argument("--dataset", type=Path, metavar="FOLDER", help="re-check a built dataset folder (hashes, rows, features, offsets) instead of exports")
    parser.add_argument("--documents", type=Path, metavar="FILE", help="corpus records (default: annotation/corpus/documents.jsonl)")


def run_validate(args: argparse.Namespace) -> int:
    if args.dataset is not None:
        from khabar.validation.dataset_check import run_dataset_check

        if args.paths:
            raise KhabarError("give export PATHS or --dataset FOLDER, not both")
        if args.repair:  # nothing of a build is repaired: saying so, not checking it and exiting 0 as if repaired
            raise KhabarError("--repair fixes exports, --dataset checks a build: give one of them")
        return run_dataset_check(args.dataset)
    # importing the checks, reading the corpus and writing the report make many objects and no garbage
    # cycles, and the batches run with the collector paused already: 0.6 s of 14 s of CPU at 1M span results
    with cycle_collector_paused():
        return _validate_exports(args)


def _validate_exports(args: argparse.Namespace) -> int:
    from khabar.foundation.memory import arrow_on_the_system_allocator
    from khabar.kb.check import validate_with_knowledge_base
    from khabar.validation.checks import check_table
    from khabar.validation.repair import repair_exports
    from khabar.validation.report import REPORTS

    if args.list_checks:
        from khabar.kb.check import check_lines

        print("\n".join([*check_table(), *check_lines()]))
        return 0
    arrow_on_the_system_allocator()
    paths = export_files.export_paths(args.paths or None)  # no PATHS: the committed exports
    if args.documents is None:
        args.documents = repo().documents_file
    if paths:
        print(f"khabar validate: checking {len(paths)} export file(s)…", file=sys.stderr)
    if args.repair and paths:
        applied = left = 0
        for change in repair_exports(paths, args.documents):
            print(change.line(), file=sys.stderr)
            applied, left = applied + change.applied, left + (not change.applied)
        print(f"khabar validate: {applied} repair(s) applied, {left} left for a person", file=sys.stderr)
    started_ns = time.time_ns()  # before the files are read: which of them had settled (khabar.validation.store)
    result = validate_with_knowledge_base(paths, args.documents, strict=args.strict)
    if paths and not args.strict and result.errors == 0:
        _keep_for_build(result, args.documents, started_ns)
    sys.stdout.writelines(REPORTS[args.format](result))
    return result.exit_status


def _keep_for_build(result: ValidationResult, documents: Path, started_ns: int) -> None:
    from khabar.validation import store

    documents_sha256 = store.sha256_file(documents)
    key = store.tables_key(result.sha256s, documents_sha256)
    known = store.known_sha256s([*zip(result.files, result.sha256s), (documents, documents_sha256)], started_ns=started_ns)
    try:
        folder = store.save_files(result.spool.paths, key, known=known)
    except (OSError, KhabarError) as exc:  # a read-only home must not fail a clean validation
        reason = exc.message if isinstance(exc, KhabarError) else os_reason(exc)
        print(f"khabar validate: could not keep the tables for khabar build ({reason}); it will validate again", file=sys.stderr)
        return
    print(f"khabar validate: tables kept for khabar build in {folder}", file=sys.stderr)
