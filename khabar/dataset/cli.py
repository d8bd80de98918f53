"""The dataset stage's command line: ``khabar build`` (its progress goes to the ``khabar`` logger, on stderr)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from khabar.annotation.errors import EXIT_FAILED_CHECKS
from khabar.annotation.paths import repo
from khabar.dataset.release import load_release

LOG = logging.getLogger(__name__)  # stderr: stdout takes only the result, the build's folder


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exports", nargs="*", type=Path, metavar="JSON", help="Label Studio exports (default: every *.json in annotation/exports/; the flag alone: none, the corpus only)")
    parser.add_argument("--documents", type=Path, help="corpus records (default: annotation/corpus/documents.jsonl)")

def configure(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: dist/<name>-<version>, or dist/<name>-<version>-annotators)")
    parser.add_argument("--datasheet", type=Path, help="datasheet whose figures block the build refreshes (default: DATASHEET.md)")
    parser.add_argument("--release", type=Path, help="release config: name, licence, splits (default: dataset/release.toml)")
    parser.add_argument("--per-annotator", action="store_true", help="documents config with one row per document and annotator (`annotator` column) instead of gold")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the datasheet's figures are stale")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from khabar.dataset.build import build, check_datasheet  # polars, pyarrow, datasketch: not for `khabar --help`
    from khabar.dataset.inputs import inputs_from_args
    from khabar.dataset.write import check_out


    release = load_release(args.release)
    args.datasheet = args.datasheet or repo().datasheet_file
    out = args.out or repo().dist_dir / (release.dirname + ("-annotators" if args.per_annotator else ""))
    if not args.check:
        check_out(out)  # before the inputs are read: a refusal should not wait for validation
    inputs = inputs_from_args(args)
    if not inputs.annotated:
        LOG.info("no annotations in the inputs: building the documents with empty annotation lists")
    if args.check:
        if check_datasheet(inputs, release, datasheet=args.datasheet):
            LOG.info(f"{args.datasheet} is up to date")
            return 0
        print(f"khabar build: {args.datasheet} is stale: its figures differ from the build; run `khabar build` and commit it", file=sys.stderr)
        return EXIT_FAILED_CHECKS
    build(inputs, out, datasheet=args.datasheet, release=release, per_annotator=args.per_annotator)
    LOG.info(f"built {out} in {time.perf_counter() - started:.1f} s")
    print(out)
    return 0

