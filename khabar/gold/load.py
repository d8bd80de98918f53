"""The validated tables of exports, whole or a range of documents at a time: what the build, ``khabar stats``,
``khabar train``/``evaluate`` and ``khabar link`` read.

The tables that the last clean ``khabar validate`` kept for exactly these inputs
(:mod:`khabar.validation.store`) are taken as they are; failing that, the validation stage
(``khabar.validation.api``) reads and checks the exports here, and the reading is refused when it finds
errors, or the tables it spooled are read a range of documents at a time, as the kept ones are. With no
exports at all, the documents of the corpus come with empty annotations. The knowledge base is not checked
here: the build checks it on the gold it makes (``khabar.kb.check.BaseCheck``), and ``khabar link`` is what
makes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.paths import check_regular
from khabar.foundation.tables import ANNOTATIONS, RELATIONS, SPANS, empty
from khabar.gold.inputs import BUILDER_PREDICTION_SPANS, BuildInputs, Inputs, documents_table, from_tables
from khabar.gold.stored_inputs import StoredInputs
from khabar.validation import store

if TYPE_CHECKING:
    from khabar.validation.failures import Failure
    from khabar.validation.table_spool import TableSpool


def _log(message: str) -> None:
    logging.getLogger(__name__).info(message)  # the command's log: stderr, configured by khabar.cli


def load_inputs(exports: list[Path], documents_file: Path, *, log: Callable[[str], None] = _log) -> BuildInputs:
    """Validated tables of ``exports`` (or only the corpus when there are none), whole; progress goes to ``log``."""
    inputs = _load(exports, documents_file, log, ranged=False)
    assert isinstance(inputs, BuildInputs)
    return inputs


def load_ranged_inputs(exports: list[Path], documents_file: Path, *, log: Callable[[str], None] = _log) -> Inputs:
    """As :func:`load_inputs`, but the tables validate kept are read a range of documents at a time
    (:class:`StoredInputs`), never whole: what ``khabar build`` reads."""
    return _load(exports, documents_file, log, ranged=True)


def _load(exports: list[Path], documents_file: Path, log: Callable[[str], None], *, ranged: bool) -> Inputs:
    if documents_file.exists() or documents_file.is_symlink():
        check_regular(documents_file)  # before hashing it: a FIFO would block the read; a loop of links is named so
    recorded = store.recorded_sha256s()  # what validate hashed, by file identity: not hashed again if unchanged since
    documents_sha256 = store.file_sha256(documents_file, recorded)
    if not exports:
        documents = documents_table(documents_file)
        if documents.height == 0:
            raise KhabarError("the corpus records hold no current document: nothing to build (run khabar ingest)", file=str(documents_file))
        return BuildInputs(
            documents=documents,
            annotations=empty(ANNOTATIONS),
            spans=empty(SPANS),
            relations=empty(RELATIONS),
            predictions_spans=empty(BUILDER_PREDICTION_SPANS),
            documents_sha256=documents_sha256,
        )
    # an empty store (a fresh clone) cannot hold these exports' tables: they are not hashed to find out,
    # validation hashes them as it reads them (1M news: 0.34 s of CPU)
    if store.holds_tables():
        export_sha256s = [store.file_sha256(path, recorded) for path in exports]
        hashes = _hashes(exports, export_sha256s)
        key = store.tables_key(export_sha256s, documents_sha256)
        kept = StoredInputs.open(key, export_hashes=hashes, documents_sha256=documents_sha256) if ranged else store.load(key)
        if kept is not None:
            log(f"tables: the ones khabar validate kept for these exports ({store.store_dir()}), not checked again")
            return kept if isinstance(kept, StoredInputs) else from_tables(kept, export_hashes=hashes, documents_sha256=documents_sha256)
    log(f"validating {len(exports)} export(s)…")
    spool, sha256s = _validated(exports, documents_file)
    hashes = _hashes(exports, sha256s)  # the digests of the bytes validated
    if not ranged:
        return from_tables(spool.load(), export_hashes=hashes, documents_sha256=documents_sha256)
    return StoredInputs.of_spool(spool, export_hashes=hashes, documents_sha256=documents_sha256)


def _validated(exports: list[Path], documents_file: Path) -> tuple[TableSpool, list[str]]:
    """The tables validation spooled and the sha256 of each export's bytes, or the refusal of the errors it found
    (the report's failures, 108,647 warnings at 3M news, are not kept)."""
    from khabar.validation.api import validate_exports  # pandera: imported only when there are exports
    from khabar.validation.checks import ERROR

    result = validate_exports(list(exports), documents_file)
    if result.errors > 0:
        first = "; ".join(_where(f) + f.message for f in result.failures.first(ERROR, 3))
        raise KhabarError(
            f"validation found {result.errors} error(s) in {len(exports)} export(s), first: {first}; "
            "run `khabar validate` for all of them and fix them first",
            exit_status=EXIT_FAILED_CHECKS,
        )
    return result.spool, result.sha256s


def _hashes(exports: list[Path], sha256s: list[str]) -> tuple[tuple[str, str], ...]:
    """(file name, sha256) of each export, as the datasheet lists them."""
    return tuple(sorted((path.name, sha256) for path, sha256 in zip(exports, sha256s, strict=True)))


def _where(f: Failure) -> str:
    """file: task: region: of a failure in an export."""
    return f"{f.file}: task {f.task_id}: region {f.region_id}: "
