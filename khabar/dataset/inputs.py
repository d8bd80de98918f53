"""What the builder reads: the validated tables of the exports, or the corpus alone.

With committed exports, the builder takes the tables that the last clean
``khabar validate`` kept for exactly these inputs (:mod:`khabar.validation.store`);
failing that, the validation stage (``khabar.validation.api``) reads and checks them
here, and the builder refuses to go on when it finds errors, or reads the tables it
spooled a range of documents at a time, as it reads the kept ones. With no exports
at all, the documents of the corpus are built with empty annotations.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.export_files import check_regular
from khabar.foundation.paths import repo
from khabar.foundation.tables import ANNOTATIONS, RELATIONS, SPANS, empty
from khabar.gold.inputs import BUILDER_PREDICTION_SPANS, BuildInputs, Inputs, documents_table, from_tables
from khabar.gold.stored_inputs import StoredInputs
from khabar.validation import store
from khabar.validation.cli import export_paths

if TYPE_CHECKING:
    from khabar.kb.check import BaseCheck
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
    if documents_file.exists():
        check_regular(documents_file)  # before hashing it: a FIFO would block the read
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


def knowledge_base_check(exports: list[Path], documents_file: Path) -> BaseCheck | None:
    """The check of the knowledge base against the gold a build of these inputs makes, range by range (it refuses a
    base with errors before anything is written); none when the base does not describe these inputs. The base may
    have changed since a ``khabar validate`` kept the tables, so a build checks it every time."""
    from khabar.kb.check import BaseCheck, knowledge_base_applies

    return BaseCheck() if knowledge_base_applies(exports, documents_file) else None


def ranged_inputs_from_args(args: argparse.Namespace) -> Inputs:
    """The inputs the ``--exports`` and ``--documents`` arguments name (:func:`khabar.dataset.cli.add_input_arguments`),
    read a range of documents at a time where they were kept (:func:`load_ranged_inputs`)."""
    return load_ranged_inputs(_exports(args), args.documents or repo().documents_file)


def knowledge_base_check_from_args(args: argparse.Namespace) -> BaseCheck | None:
    """:func:`knowledge_base_check` of the inputs the arguments name."""
    return knowledge_base_check(_exports(args), args.documents or repo().documents_file)


def _exports(args: argparse.Namespace) -> list[Path]:
    # named exports are found as validate finds them: folders expanded, non-regular files refused
    return export_paths(list(args.exports or [])) if args.exports != [] else []
