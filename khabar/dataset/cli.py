"""The dataset stage's commands: ``khabar build``, ``publish``, ``diff``, ``export`` and ``stats``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path

from khabar.dataset.export import FORMATS
from khabar.dataset.release import load_release
from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.memory import arrow_on_the_system_allocator, cycle_collector_paused
from khabar.foundation.paths import repo

LOG = logging.getLogger(__name__)  # stderr: stdout takes only the results


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exports", nargs="*", type=Path, metavar="JSON", help="Label Studio exports (default: every *.json in annotation/exports/; the flag alone: none, the corpus only)")
    parser.add_argument("--documents", type=Path, help="corpus records (default: annotation/corpus/documents.jsonl)")


def configure_build(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: dist/<name>-<version>, or dist/<name>-<version>-annotators)")
    parser.add_argument("--datasheet", type=Path, help="datasheet whose figures block the build refreshes (default: DATASHEET.md)")
    parser.add_argument("--release", type=Path, help="release config: name, licence, splits (default: dataset/release.toml)")
    parser.add_argument("--per-annotator", action="store_true", help="documents config with one row per document and annotator (`annotator` column) instead of gold")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the datasheet's figures are stale")


# importing the build's modules (matplotlib, polars, pyarrow) makes some 170,000 objects and no garbage, and
# the collections they triggered walked them again and again: 0.20 s of CPU (the computing is paused already)
@cycle_collector_paused()
def run_build(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from khabar.dataset.build import build, check_datasheet  # polars, pyarrow: not for `khabar --help`
    from khabar.dataset.inputs import build_inputs_from_args
    from khabar.dataset.write import check_out

    arrow_on_the_system_allocator()
    release = load_release(args.release)
    args.datasheet = args.datasheet or repo().datasheet_file
    out = args.out or repo().dist_dir / (release.dirname + ("-annotators" if args.per_annotator else ""))
    if not args.check:
        check_out(out)  # before the inputs are read: a refusal should not wait for validation
    inputs, base = build_inputs_from_args(args)  # the base checked on the gold the build makes, range by range
    if inputs.annotations.height == 0:
        LOG.info("no annotations in the inputs: building the documents with empty annotation lists")
    if args.check:
        if check_datasheet(inputs, release, datasheet=args.datasheet, base=base):
            LOG.info(f"{args.datasheet} is up to date")
            return 0
        print(f"khabar build: {args.datasheet} is stale: its figures differ from the build; run `khabar build` and commit it", file=sys.stderr)
        return EXIT_FAILED_CHECKS
    build(inputs, out, datasheet=args.datasheet, release=release, per_annotator=args.per_annotator, base=base)
    LOG.info(f"built {out} in {time.perf_counter() - started:.1f} s")
    print(out)
    return 0


def configure_publish(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-id", help="Hub dataset repository, ORG/NAME (default: repo_id in dataset/release.toml)")
    parser.add_argument("--build", type=Path, help="build folder (default: dist/<name>-<version>)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; contact nobody")


def run_publish(args: argparse.Namespace) -> int:
    import os

    from khabar.dataset.publish import publish, read_release
    from khabar.dataset.release import check_repo_id, load_release
    from khabar.foundation.errors import mark_secret, redact
    from khabar.foundation.paths import repo

    if args.repo_id is None:
        repo_id = load_release().repo_id
    else:
        try:
            repo_id = check_repo_id(args.repo_id)
        except KhabarError as exc:
            raise KhabarError(f"--repo-id: {exc}") from None
    release = read_release(args.build or repo().dist_dir / load_release().dirname)
    endpoint = redact(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if args.dry_run:  # the plan is this command's result: stdout
        print(f"would create the dataset repository {repo_id} at {endpoint} if it does not exist")
        print(f"would refuse if tag {release.tag} exists already")
        print(f"would commit these {len(release.files)} file(s) in one commit, deleting files the build no longer has:")
        for path in release.files:
            print(f"  {path}")
        print(f"would tag the commit {release.tag}")
        return 0
    token = mark_secret(os.environ.get("HF_TOKEN") or "")
    if not token:
        raise KhabarError("HF_TOKEN is not set; the token is read from the environment only")
    from huggingface_hub import HfApi

    LOG.info(f"publishing {release.folder} to the dataset repository {repo_id} at {endpoint}")
    commit = publish(release, repo_id, HfApi(token=token))
    print(f"{repo_id} {release.tag} {commit}")
    return 0


def configure_diff(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="the earlier build folder")
    parser.add_argument("new", type=Path, help="the later build folder")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run_diff(args: argparse.Namespace) -> int:
    from khabar.dataset.diff import diff_builds, read_build

    arrow_on_the_system_allocator()
    result = diff_builds(read_build(args.old), read_build(args.new))
    if args.json:
        print(json.dumps(asdict(result), ensure_ascii=False, indent=2))
    else:
        print("\n".join(result.lines()))
    return 0


def configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("build", metavar="BUILD", help="a build folder (as `khabar build` writes it), or with --revision a Hub dataset repository id")
    parser.add_argument("--revision", metavar="REV", help="download this revision (e.g. v2.0.0) of the Hub repository BUILD first")
    parser.add_argument("--format", required=True, choices=FORMATS, help="conll (Wojood's nested columns), conll-wojood (the same, mapped to Wojood's conventions), spacy (DocBin), brat (standoff)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new folder for the files")


def run_export(args: argparse.Namespace) -> int:
    from khabar.dataset.export import download, export
    from khabar.foundation.files import temporary_folder

    if args.revision is None:
        written = export(Path(args.build), args.out, args.format)
    else:
        with temporary_folder("export") as folder:
            written = export(download(args.build, args.revision, Path(folder)), args.out, args.format)
    source = f"{args.build}@{args.revision}" if args.revision else args.build
    print(f"khabar export: wrote {args.format} of {source} to {args.out}: {', '.join(written)}")
    return 0


def configure_stats(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run_stats(args: argparse.Namespace) -> int:
    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.inputs import ranged_inputs_from_args
    from khabar.dataset.stats import SpanTally
    from khabar.gold.adjudicate import adjudicated_ranges

    scheme = load_scheme()
    tally = SpanTally()
    for _, gold in adjudicated_ranges(ranged_inputs_from_args(args)):  # as the build does
        tally.add(gold.spans)
    counts, conflicts = tally.label_counts(scheme), tally.surface_conflicts()
    if args.json:
        print(json.dumps({"labels": [asdict(c) for c in counts], "surface_conflicts": [asdict(c) for c in conflicts]}, ensure_ascii=False, indent=2))
        return 0
    print(f"gold spans: {tally.spans} in {tally.documents} document(s)")
    for layer in scheme.layers:
        row = [f"{c.label} {c.spans}" for c in counts if c.layer == layer.name and c.spans]
        print(f"{layer.name:<12} {sum(c.spans for c in counts if c.layer == layer.name):>6}  {', '.join(row) or '-'}")
    print(f"surface forms with more than one label: {len(conflicts)}")
    for conflict in conflicts:
        print(f"  {conflict.layer:<12} {conflict.text}  " + ", ".join(f"{label}×{n}" for label, n in conflict.labels))
    return 0
