"""Writing a build: parquet shards, charts, card, report and manifest in a staging folder, then swapped in.

A build replaces only what a build made: the output folder must be absent,
empty, or a Khabar build exactly as its ``MANIFEST.json`` describes it
(:func:`khabar.foundation.manifest.not_a_build`), and never the repository root or
the current directory or a folder holding them. A killed build is cleaned up by
the next one (:func:`recover`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from khabar.dataset import card, charts
from khabar.dataset.card import Shard
from khabar.dataset.compute import Built
from khabar.dataset.features import all_features
from khabar.dataset.layout import ConfigName, data_file, split_of_file
from khabar.dataset.splits import leakage
from khabar.foundation import export_files, jsonl, signals
from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.files import FolderSwap, StagedFile, check_output, left_behind, remove_folder, remove_left_staging, sha256_bytes, stage_file, staging_folder, sync_tree
from khabar.foundation.manifest import CARD_NAME, MANIFEST_NAME, SCHEME_NAME, build_holding, not_a_build, write_manifest
from khabar.foundation.paths import repo
from khabar.kb.files import FILES, Entity

LOG = logging.getLogger(__name__)
REPORT_NAME = "build_report.json"
def written_split_of(folder: Path) -> dict[str, str]:
    """doc_id → split, read back from the written ``documents`` parquet files."""
    split_of: dict[str, str] = {}
    for path in sorted((folder / "data" / "documents").glob("*.parquet")):
        for doc_id in pq.read_table(path, columns=["id"])["id"].to_pylist():
            split_of[doc_id] = split_of_file(path)
    return split_of


def write_build(built: Built, datasheet_text: str, folder: Path, *, per_annotator: bool = False) -> None:
    """Everything of a build but its shards (which :func:`~khabar.dataset.compute.compute` wrote into ``folder``)."""
    release, scheme = built.release, built.scheme
    features = all_features(scheme, per_annotator=per_annotator)
    split_info: dict[ConfigName, list[Shard]] = {}
    for config, parts in built.shards.items():
        split_info[config] = []
        for shard in parts:
            if not shard.rows:  # datasets cannot load an empty split: the card leaves it out and says so
                LOG.info(f"no rows for {config}/{shard.split}: left out")
                continue
            split_info[config].append(shard)
            LOG.info(f"wrote {data_file(config, shard.split).as_posix()} ({shard.rows} rows)")

    problems = leakage(written_split_of(folder), dict(built.inputs.documents.select("doc_id", "story").iter_rows()), built.plan.near_duplicates)
    if problems:
        raise KhabarError("split leakage: " + "; ".join(problems), exit_status=EXIT_FAILED_CHECKS)
    LOG.info("leakage check: no story and no near-duplicate pair crosses splits")

    images = folder / "images"
    images.mkdir()
    title = f"{release.pretty_name.split(':')[0]} {release.version}"
    (folder / card.LABELS_CHART).write_bytes(charts.labels_per_layer(built.figures.labels, f"{title}: gold spans per label"))
    (folder / card.SOURCES_CHART).write_bytes(
        charts.spans_per_source([(s.source, dict(s.spans)) for s in built.figures.per_source], scheme.layer_names, f"{title}: gold spans per source")
    )
    present = {config: feats for config, feats in features.items() if split_info[config]}
    meta = card.metadata(release, present, {c: split_info[c] for c in present}, built.figures.documents)
    (folder / CARD_NAME).write_text(card.render(meta, card.body(release, split_info, datasheet_text)), encoding="utf-8")
    _copy_in(repo().labeling_config, folder / SCHEME_NAME)
    if release.license_text:
        (folder / card.LICENSE_FILE).write_text(release.license_text, encoding="utf-8")
    if repo().guidelines_file.exists() or repo().guidelines_file.is_symlink():
        _copy_in(repo().guidelines_file, folder / "GUIDELINES.md")
    kb = repo().kb_dir / FILES[Entity]
    if kb.exists() or kb.is_symlink():  # the base the entity_ids name, released beside them
        (folder / "kb").mkdir()
        _copy_in(kb, folder / "kb" / FILES[Entity])
    (folder / REPORT_NAME).write_text(jsonl.dumps_document(built.report), encoding="utf-8")
    inputs = {
        "exports": [{"file": name, "sha256": digest} for name, digest in built.inputs.export_hashes],
        "documents_sha256": built.inputs.documents_sha256,
        "scheme_sha256": scheme.sha256,
        "release_config_sha256": release.config_sha256,
    }
    write_manifest(folder, name=release.name, version_=release.version, inputs=inputs)


def _copy_in(source: Path, target: Path) -> None:
    """A text file of the repository into the build, read as every input is (a regular UTF-8 file, else one line
    naming it: a folder named GUIDELINES.md was reported as the output folder's "Is a directory"), and released with
    LF line ends and no byte order mark, as the card takes the datasheet's text: one saved or checked out with CRLF,
    or saved with a BOM, makes the same build (the manifest's scheme sha256 is that of the labeling config's text read
    the same way)."""
    target.write_bytes(export_files.read_regular_text(source, repository_text=True).encode("utf-8"))


def recover(out: Path) -> None:
    """Clean up after a build that was killed: drop its staging folder, and put back a previous
    build that was moved aside but not yet replaced (a folder that is not a build is left alone). A folder a
    running build holds is not touched (:func:`khabar.foundation.files.left_behind`)."""
    for name in sorted(remove_left_staging(out)):
        LOG.info(f"removed {name}, left by an interrupted build")
    for previous in sorted(out.parent.glob(f".{out.name}.previous-*")):
        with left_behind(previous, previous.name.rsplit("-", 1)[1]) as left:
            if not left:
                continue
            if not out.exists():
                previous.rename(out)
                LOG.info(f"restored {out.name} from {previous.name}, left by an interrupted build")
            elif not_a_build(previous, partly_removed=True) is None:
                remove_folder(previous, last=MANIFEST_NAME)
            else:
                LOG.info(f"left {previous.name} alone: it looks like an interrupted build's, but it is not a build")


def check_out(out: Path) -> None:
    """Refuse (exit 2) an output folder the build may not replace; see the module docstring."""
    check_output(out, "--out")
    resolved = out.resolve()
    for protected, what in ((repo().root, "the dataset repository"), (_current_directory(), "the current directory")):
        if protected is not None and (resolved == protected or resolved in protected.parents):
            held = "is" if resolved == protected else "holds"
            raise KhabarError(f"refusing to build here: the output folder {held} {what} ({protected}); name a folder of its own, e.g. dist/NAME", file=str(out))
    holder = build_holding(out)
    if holder is not None:
        raise KhabarError(f"refusing to build inside another build ({holder}): it would no longer match its {MANIFEST_NAME}", file=str(out))
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


def _current_directory() -> Path | None:
    """The current directory, resolved; None when it was deleted (it holds no output folder then)."""
    try:
        return Path.cwd().resolve()
    except FileNotFoundError:
        return None


def write_and_swap(make: Callable[[Path], tuple[Built, str]], datasheet: Path, current: str, out: Path, *, per_annotator: bool) -> tuple[Built, str]:
    """Make the build in a staging folder (``make(folder)`` computes it, writing its shards there, and returns
    it with the refreshed datasheet's text), write the rest beside them, then put the folder and the datasheet
    (when its text is no longer ``current``, the text of its bytes as read) in place; on any failure, neither.
    Returns what ``make`` did."""
    recover(out)
    staged: StagedFile | None = None
    with staging_folder(out) as staging:
        try:
            built, datasheet_text = make(staging)
            write_build(built, datasheet_text, staging, per_annotator=per_annotator)
            sync_tree(staging)
            if datasheet_text != current:
                # refused at the commit if the datasheet was edited while the build ran: those edits are kept
                staged = stage_file(datasheet, datasheet_text, over=sha256_bytes(current.encode("utf-8")))
            with signals.held():  # the folder and the datasheet in place together, or neither: Ctrl-C waits for them
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
    return built, datasheet_text

