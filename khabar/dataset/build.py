"""``khabar build``: validated annotations → a Hub-layout dataset folder under ``dist/``.

adjudicate → split → configs → parquet + charts + card + manifest, written in a
temporary folder beside the target, with the refreshed datasheet written beside
the datasheet; both are swapped in together by rename at the very end, so an
interrupted or failed build (a full disk) leaves the previous build and the
datasheet as they were. The same inputs give the same bytes.

A build replaces only what a build made: the output folder must be absent,
empty, or a Khabar build exactly as its ``MANIFEST.json`` describes it
(:func:`khabar.foundation.manifest.not_a_build`), and never the repository root or
the current directory or a folder holding them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.annotation.scheme import Scheme, load_scheme
from khabar.dataset.layout import data_file, split_of_file
from khabar.dataset.release import Release, load_release
from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.files import FolderSwap, StagedFile, remove_folder, stage_file, staging_folder, sync_tree
from khabar.foundation.memory import cycle_collector_paused
from khabar.foundation.paths import repo

if TYPE_CHECKING:  # the pipeline's modules load polars and datasketch: imported where used, so `khabar --help` stays fast
    import pyarrow as pa

    from khabar.dataset.agreement import Agreement, PredictionQuality
    from khabar.dataset.datasheet import Figures
    from khabar.dataset.splits import SplitPlan
    from khabar.gold.adjudicate import Gold
    from khabar.gold.inputs import BuildInputs

REPORT_NAME = "build_report.json"
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 9, "write_statistics": True}
ROW_GROUP_SIZE = 10_000


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exports", nargs="*", type=Path, metavar="JSON", help="Label Studio exports (default: every *.json in annotation/exports/; the flag alone: none, the corpus only)")
    parser.add_argument("--documents", type=Path, help="corpus records (default: annotation/corpus/documents.jsonl)")


def inputs_from_args(args: argparse.Namespace, **options) -> BuildInputs:
    """The inputs the ``--exports`` and ``--documents`` arguments name (``options``: of ``load_inputs``)."""
    from khabar.dataset.inputs import load_inputs
    from khabar.validation.cli import export_paths

    # named exports are found as validate finds them: folders expanded, non-regular files refused
    exports = export_paths(list(args.exports or [])) if args.exports != [] else []
    return load_inputs(exports, args.documents or repo().documents_file, **options)


@dataclass(frozen=True)
class Built:
    """Everything computed from the inputs, before anything is written."""

    release: Release
    scheme: Scheme
    inputs: BuildInputs
    gold: Gold
    plan: SplitPlan
    tables: dict[str, dict[str, pa.Table]]  # config → split → rows, as written
    figures: Figures
    report: dict


def _ordered_splits(release: Release, plan: SplitPlan) -> list[str]:
    present = set(plan.split_of.values())
    return [name for name, _ in release.splits if name in present]


def _by_split(table: pa.Table, doc_key: str, split_of: dict[str, str], splits: list[str]) -> dict[str, pa.Table]:
    """The rows of each split, in table order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def documents_of(split: str) -> pa.Array:
        return pa.array([doc_id for doc_id, name in split_of.items() if name == split], pa.string())

    return {name: table.filter(pc.is_in(table[doc_key], value_set=documents_of(name))) for name in splits}


@cycle_collector_paused()
def compute(inputs: BuildInputs, release: Release, scheme: Scheme, *, per_annotator: bool = False, log=print) -> Built:
    from khabar.dataset.agreement import agreement, prediction_quality
    from khabar.dataset.configs import annotator_document_table, document_table, quote_table, token_table
    from khabar.dataset.links import read_ambiguous_sources, read_clusters, read_links
    from khabar.dataset.splits import plan_splits
    from khabar.gold.adjudicate import Policy, adjudicate, committed_reasons

    docs = inputs.documents.sort("doc_id")
    log(f"read {docs.height} documents, {inputs.annotations.height} annotations, {inputs.spans.height} spans, {inputs.relations.height} relations")
    gold = adjudicate(inputs)
    policies = Counter(d.policy for d in gold.decisions)
    log("adjudicated: " + ", ".join(f"{policy} {n}" for policy, n in sorted(policies.items())) + f"; {len(gold.review)} for review")
    texts = dict(docs.select("doc_id", "text").iter_rows())
    stories = dict(docs.select("doc_id", "story").iter_rows())
    plan = plan_splits(texts, stories, release)
    splits = _ordered_splits(release, plan)
    split_of = plan.split_of
    log("splits: " + ", ".join(f"{s} {sum(1 for v in split_of.values() if v == s)}" for s in splits) + (f" ({plan.reason})" if plan.reason else ""))

    links, clusters = read_links(), read_clusters()
    if per_annotator:
        documents = annotator_document_table(docs, inputs.annotations, inputs.spans, inputs.relations, scheme, links)
    else:
        documents = document_table(docs, gold.spans, gold.relations, scheme, links)
    tokens, alignment = token_table(docs, gold.spans, scheme)
    log("entities on tokens: " + (", ".join(f"{how} {n}{_per_label(alignment, how)}" for how, n in _alignment_totals(alignment)) or "none"))
    quotes = quote_table(gold.spans, gold.relations, scheme, links, clusters, read_ambiguous_sources())
    tables = {
        "documents": _by_split(documents, "id", split_of, splits),
        "tokens": _by_split(tokens, "doc_id", split_of, splits),
        "quotes": _by_split(quotes, "doc_id", split_of, splits),
    }
    log(f"configs: documents {documents.num_rows}, tokens {tokens.num_rows} sentences, quotes {quotes.num_rows}")

    agree = agreement(inputs, scheme.layer_names, gold=gold, reasons=committed_reasons())
    annotated = [d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED]
    quality = prediction_quality(inputs.predictions_spans, gold.spans, annotated, scheme.layer_names)
    figures = _figures(release, scheme, inputs, gold, plan, splits, tokens, agree, quality, alignment)
    report = _report(release, inputs, gold, plan, agree, quality, tables, per_annotator=per_annotator)
    report["tokens_alignment"] = _alignment_report(alignment, scheme)
    return Built(release, scheme, inputs, gold, plan, tables, figures, report)


def _alignment_totals(alignment: Counter) -> list[tuple[str, int]]:
    """(how, entities) over all labels, in :data:`~khabar.dataset.iob.ALIGNMENTS` order, zeros left out."""
    from khabar.dataset.iob import ALIGNMENTS

    return [(how, n) for how in ALIGNMENTS if (n := sum(c for (_, h), c in alignment.items() if h == how))]


def _per_label(alignment: Counter, how: str) -> str:
    """`` (GPE 47, ORG 19)``: the labels of the entities aligned ``how``, most first; nothing for exact ones."""
    if how == "exact":
        return ""
    counts = Counter({label: n for (label, h), n in alignment.items() if h == how})
    return " (" + ", ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))) + ")"


def _alignment_report(alignment: Counter, scheme: Scheme) -> dict:
    """Per label (the scheme's order), how its gold entities came onto the tokens."""
    from khabar.dataset.iob import ALIGNMENTS

    return {label: {how: alignment[label, how] for how in ALIGNMENTS} for label in scheme.entity.labels if any(alignment[label, h] for h in ALIGNMENTS)}


def _figures(release: Release, scheme: Scheme, inputs: BuildInputs, gold: Gold, plan: SplitPlan, splits: list[str],
             tokens: pa.Table, agree: Agreement, quality: tuple[PredictionQuality, ...], alignment: Counter) -> Figures:
    """The numbers of the datasheet's generated block."""
    import polars as pl
    import pyarrow.compute as pc

    from khabar.dataset.datasheet import Figures, SourceFigures
    from khabar.dataset.stats import label_counts
    from khabar.gold.adjudicate import Policy

    docs = inputs.documents
    split_of = plan.split_of
    policies = Counter(d.policy for d in gold.decisions)
    counts = label_counts(gold.spans, scheme)
    tokens_per_doc = Counter()
    for doc_id, length in zip(tokens["doc_id"].to_pylist(), pc.list_value_length(tokens["tokens"]).to_pylist()):
        tokens_per_doc[doc_id] += length
    spans_per = Counter(zip(gold.spans["doc_id"].to_list(), gold.spans["layer"].to_list()))
    per_source = []
    for source in sorted(set(docs["source"].to_list())):
        ids = docs.filter(pl.col("source") == source)["doc_id"].to_list()
        per_source.append(
            SourceFigures(
                source,
                len(ids),
                sum(tokens_per_doc[i] for i in ids),
                tuple((layer, sum(spans_per[i, layer] for i in ids)) for layer in scheme.layer_names),
            )
        )
    choices = scheme.attribution.quote_type
    contents = gold.spans.filter((pl.col("layer") == choices.layer) & (pl.col("label") == choices.label))
    quote_counts = Counter(contents[choices.name].fill_null("unset").to_list())
    relation_counts = Counter(gold.relations["label"].to_list())
    return Figures(
        version=release.version,
        documents=docs.height,
        annotated_documents=sum(1 for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED),
        annotations=inputs.annotations.height,
        annotators=inputs.annotations["annotator"].n_unique(),
        sentences=tokens.num_rows,
        tokens=sum(tokens_per_doc.values()),
        per_source=tuple(per_source),
        labels=counts,
        relations=tuple((label, relation_counts[label]) for label in scheme.relation_labels),
        quotes=tuple((c, quote_counts[c]) for c in (*choices.choices, "unset") if quote_counts[c]),
        splits=tuple((s, sum(1 for v in split_of.values() if v == s)) for s in splits),
        split_reason=plan.reason,
        groups=len(plan.groups),
        near_duplicate_pairs=len(plan.near_duplicates),
        policies=tuple(sorted(policies.items())),
        review=tuple(d.doc_id for d in gold.review),
        agreement=agree,
        prediction=quality,
        model_versions=tuple(sorted(set(inputs.predictions_spans["model_version"].drop_nulls().to_list()))),
        alignment=tuple((label, tuple(counts.items())) for label, counts in _alignment_report(alignment, scheme).items()),
        zones=_zone_counts(gold.spans, scheme),
    )


def _zone_counts(spans, scheme: Scheme) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """Per layer but the zones, and for CONTENT alone, the gold spans in each zone (BODY first)."""
    import polars as pl

    from khabar.dataset.configs import with_zones
    from khabar.dataset.features import zone_names

    zoned = with_zones(spans, scheme)
    choices = scheme.attribution.quote_type
    groups = [(layer, pl.col("layer") == layer) for layer in scheme.layer_names if layer != scheme.zone.name]
    groups.append((choices.label, (pl.col("layer") == choices.layer) & (pl.col("label") == choices.label)))
    counted = []
    for name, where in groups:
        per_zone = Counter(zoned.filter(where)["zone"].to_list())
        counted.append((name, tuple((zone, per_zone[zone]) for zone in zone_names(scheme) if per_zone[zone])))
    return tuple(counted)


def _report(release: Release, inputs: BuildInputs, gold: Gold, plan: SplitPlan, agree: Agreement,
            quality: tuple[PredictionQuality, ...], tables: dict, *, per_annotator: bool) -> dict:
    """``build_report.json``: what was read, decided and measured."""
    from khabar.gold.adjudicate import POLICY

    return {
        "name": release.name,
        "version": release.version,
        "per_annotator": per_annotator,
        "inputs": {
            "documents": inputs.documents.height,
            "annotations": inputs.annotations.height,
            "spans": inputs.spans.height,
            "relations": inputs.relations.height,
            "predicted_spans": inputs.predictions_spans.height,
        },
        "gold": {"spans": gold.spans.height, "relations": gold.relations.height},
        "adjudication": {"policy": POLICY, "decisions": [asdict(d) for d in gold.decisions]},
        "splits": {
            "assignment": dict(plan.assignment),
            "groups": [list(g) for g in plan.groups],
            "near_duplicates": [list(p) for p in plan.near_duplicates],
            "reason": plan.reason,
        },
        "agreement": agree.report(),
        "pre_annotator": [asdict(p) | {"precision": p.precision, "recall": p.recall} for p in quality],
        "rows": {config: {split: table.num_rows for split, table in parts.items()} for config, parts in tables.items()},
    }


def write_parquet(table: pa.Table, path: Path) -> tuple[int, int]:
    """Write one shard; returns (arrow bytes, file bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # each column concatenated afresh into one array, which leaves out the validity bitmaps that
    # joins and filters add to arrays without nulls: the arrow bytes then depend on the rows alone
    table = pa.table([column.combine_chunks() for column in table.columns], schema=table.schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, table.schema, **PARQUET_OPTIONS) as writer:
        if table.num_rows:  # an empty split gets no row group: datasets cannot read an empty one
            writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
    return table.nbytes, path.stat().st_size


def written_split_of(folder: Path) -> dict[str, str]:
    """doc_id → split, read back from the written ``documents`` parquet files."""
    import pyarrow.parquet as pq

    split_of: dict[str, str] = {}
    for path in sorted((folder / "data" / "documents").glob("*.parquet")):
        for doc_id in pq.read_table(path, columns=["id"])["id"].to_pylist():
            split_of[doc_id] = split_of_file(path)
    return split_of


def write_build(built: Built, datasheet_text: str, folder: Path, *, per_annotator: bool = False, log=print) -> None:
    from khabar.dataset import card, charts
    from khabar.dataset.features import all_features
    from khabar.dataset.splits import leakage
    from khabar.foundation.manifest import write_manifest
    from khabar.kb.files import FILES, Entity

    release, scheme = built.release, built.scheme
    features = all_features(scheme, per_annotator=per_annotator)
    split_info: dict[str, list[tuple[str, int, int, int]]] = {}
    for config, parts in built.tables.items():
        split_info[config] = []
        for split, table in parts.items():
            if not table.num_rows:  # datasets cannot load an empty split: the card leaves it out and says so
                log(f"no rows for {config}/{split}: left out")
                continue
            relative = data_file(config, split)
            nbytes, size = write_parquet(table, folder / relative)
            split_info[config].append((split, table.num_rows, nbytes, size))
            log(f"wrote {relative.as_posix()} ({table.num_rows} rows)")

    problems = leakage(written_split_of(folder), dict(built.inputs.documents.select("doc_id", "story").iter_rows()), built.plan.near_duplicates)
    if problems:
        raise KhabarError("split leakage: " + "; ".join(problems), exit_status=EXIT_FAILED_CHECKS)
    log("leakage check: no story and no near-duplicate pair crosses splits")

    images = folder / "images"
    images.mkdir()
    title = f"{release.pretty_name.split(':')[0]} {release.version}"
    (folder / card.LABELS_CHART).write_bytes(charts.labels_per_layer(built.figures.labels, f"{title}: gold spans per label"))
    (folder / card.SOURCES_CHART).write_bytes(
        charts.spans_per_source([(s.source, dict(s.spans)) for s in built.figures.per_source], scheme.layer_names, f"{title}: gold spans per source")
    )
    present = {config: feats for config, feats in features.items() if split_info[config]}
    meta = card.metadata(release, present, {c: split_info[c] for c in present}, built.figures.documents)
    (folder / "README.md").write_text(card.render(meta, card.body(release, split_info, datasheet_text)), encoding="utf-8")
    shutil.copyfile(repo().labeling_config, folder / "labeling_config.xml")
    if release.license_text:
        (folder / card.LICENSE_FILE).write_text(release.license_text, encoding="utf-8")
    if repo().guidelines_file.exists():
        shutil.copyfile(repo().guidelines_file, folder / "GUIDELINES.md")
    if (kb := repo().kb_dir / FILES[Entity]).exists():  # the base the entity_ids name, released beside them
        (folder / "kb").mkdir()
        shutil.copyfile(kb, folder / "kb" / FILES[Entity])
    (folder / REPORT_NAME).write_text(json.dumps(built.report, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    inputs = {
        "exports": [{"file": name, "sha256": digest} for name, digest in built.inputs.export_hashes],
        "documents_sha256": built.inputs.documents_sha256,
        "scheme_sha256": scheme.sha256,
        "release_config_sha256": release.config_sha256,
    }
    write_manifest(folder, name=release.name, version_=release.version, inputs=inputs)


def _alive(pid_text: str) -> bool:
    """Whether the process that named a folder still runs (signal 0 only asks)."""
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def recover(out: Path, log=print) -> None:
    """Clean up after a build that was killed: drop its staging folder, and put back a previous
    build that was moved aside but not yet replaced (a folder that is not a build is left alone)."""
    from khabar.foundation.manifest import MANIFEST_NAME, not_a_build


    for staging in sorted(out.parent.glob(f".{out.name}.building-*")):
        if not _alive(staging.name.rsplit("-", 1)[1]):
            shutil.rmtree(staging, ignore_errors=True)
            log(f"removed {staging.name}, left by an interrupted build")
    for previous in sorted(out.parent.glob(f".{out.name}.previous-*")):
        if _alive(previous.name.rsplit("-", 1)[1]):
            continue
        if not out.exists():
            previous.rename(out)
            log(f"restored {out.name} from {previous.name}, left by an interrupted build")
        elif not_a_build(previous, partly_removed=True) is None:
            remove_folder(previous, last=MANIFEST_NAME)
        else:
            log(f"left {previous.name} alone: it looks like an interrupted build's, but it is not a build")


def check_out(out: Path) -> None:
    """Refuse (exit 2) an output folder the build may not replace; see the module docstring."""
    from khabar.foundation.manifest import MANIFEST_NAME, not_a_build

    resolved = out.resolve()
    for protected, what in ((repo().root, "the dataset repository"), (Path.cwd().resolve(), "the current directory")):
        if resolved == protected or resolved in protected.parents:
            held = "is" if resolved == protected else "holds"
            raise KhabarError(f"refusing to build here: the output folder {held} {what} ({protected}); name a folder of its own, e.g. dist/NAME", file=str(out))
    for parent in resolved.parents:
        if (parent / MANIFEST_NAME).is_file() and not_a_build(parent) is None:
            raise KhabarError(f"refusing to build inside another build ({parent}): it would no longer match its {MANIFEST_NAME}", file=str(out))
    if not out.exists() and not out.is_symlink():
        return
    try:
        if out.is_dir() and not out.is_symlink() and not any(out.iterdir()):
            return
    except OSError as exc:
        raise KhabarError(f"cannot look into the output folder: {exc.strerror}", file=str(out)) from None
    problem = not_a_build(out)
    if problem is not None:
        raise KhabarError(
            f"refusing to replace it: it {problem}, and a build only replaces an earlier build's folder; name another --out or move it away",
            file=str(out),
        )


def build(inputs: BuildInputs, out: Path, *, datasheet: Path | None = None, release: Release | None = None,
          per_annotator: bool = False, log=print) -> Built:
    """Build the dataset folder ``out`` and refresh the figures block of ``datasheet``.

    Any ``OSError`` (a full disk, a read-only folder) is a :class:`KhabarError` (exit 2), with nothing changed.
    """
    from khabar.dataset.datasheet import refresh, render

    release = release or load_release()
    datasheet = datasheet or repo().datasheet_file
    current = _read(datasheet)
    refresh(current, "", source=str(datasheet))  # refuse a datasheet without a figures block before any work
    built = compute(inputs, release, load_scheme(), per_annotator=per_annotator, log=log)
    datasheet_text = refresh(current, render(built.figures), source=str(datasheet))
    try:
        _write_and_swap(built, datasheet_text, datasheet if current != datasheet_text else None, out, per_annotator=per_annotator, log=log)
    except OSError as exc:
        reason = exc.strerror or (str(exc).splitlines() or [exc.__class__.__name__])[0]
        raise KhabarError(f"build failed: {reason}; the previous build and {datasheet.name} are unchanged", file=str(out)) from None
    if current != datasheet_text:
        log(f"refreshed the figures of {datasheet}")
    return built


def _write_and_swap(built: Built, datasheet_text: str, datasheet: Path | None, out: Path, *, per_annotator: bool, log) -> None:
    """Write the build (and ``datasheet``, when it changes) aside, then put both in place; on any failure, neither."""
    from khabar.foundation.manifest import MANIFEST_NAME

    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out, log)
    staged: StagedFile | None = None
    with staging_folder(out) as staging:
        try:
            write_build(built, datasheet_text, staging, per_annotator=per_annotator, log=log)
            sync_tree(staging)
            if datasheet is not None:
                staged = stage_file(datasheet, datasheet_text)
            check_out(out)  # again: the folder may have been changed while the build ran
            swap = FolderSwap(staging, out, last=MANIFEST_NAME)
            swap.swap()
            if staged is not None:
                try:
                    staged.commit()
                except BaseException:
                    swap.undo()
                    raise
            swap.finish()
        finally:
            if staged is not None:
                staged.discard()


def check_datasheet(inputs: BuildInputs, release: Release, *, datasheet: Path, log=print) -> bool:
    """True when the figures block of ``datasheet`` is what a build would write."""
    from khabar.dataset.datasheet import refresh, render

    built = compute(inputs, release, load_scheme(), log=log)
    current = _read(datasheet)
    return refresh(current, render(built.figures), source=str(datasheet)) == current


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KhabarError(f"cannot read the datasheet: {exc.strerror}", file=str(path)) from None


def configure(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser)
    parser.add_argument("--out", type=Path, help="output folder (default: dist/<name>-<version>, or dist/<name>-<version>-annotators)")
    parser.add_argument("--datasheet", type=Path, help="datasheet whose figures block the build refreshes (default: DATASHEET.md)")
    parser.add_argument("--release", type=Path, help="release config: name, licence, splits (default: dataset/release.toml)")
    parser.add_argument("--per-annotator", action="store_true", help="documents config with one row per document and annotator (`annotator` column) instead of gold")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the datasheet's figures are stale")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    log = logging.getLogger(__name__).info  # stderr: stdout takes only the result, the build's folder

    release = load_release(args.release)
    args.datasheet = args.datasheet or repo().datasheet_file
    out = args.out or repo().dist_dir / (release.dirname + ("-annotators" if args.per_annotator else ""))
    if not args.check:
        check_out(out)  # before the inputs are read: a refusal should not wait for validation
    inputs = inputs_from_args(args, log=log)
    if not inputs.annotated:
        log("no annotations in the inputs: building the documents with empty annotation lists")
    if args.check:
        if check_datasheet(inputs, release, datasheet=args.datasheet, log=log):
            log(f"{args.datasheet} is up to date")
            return 0
        print(f"khabar build: {args.datasheet} is stale: its figures differ from the build; run `khabar build` and commit it", file=sys.stderr)
        return EXIT_FAILED_CHECKS
    build(inputs, out, datasheet=args.datasheet, release=release, per_annotator=args.per_annotator, log=log)
    log(f"built {out} in {time.perf_counter() - started:.1f} s")
    print(out)
    return 0
