"""``khabar build``: validated annotations → a Hub-layout dataset folder under ``dist/``.

adjudicate → split → configs → parquet + charts + card + manifest
(:mod:`~khabar.dataset.compute`, then :mod:`~khabar.dataset.write`), written in a
temporary folder beside the target, with the refreshed datasheet written beside
the datasheet; both are swapped in together by rename at the very end, so an
interrupted or failed build (a full disk) leaves the previous build and the
datasheet as they were. The same inputs give the same bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.annotation.scheme import load_scheme
from khabar.dataset.compute import Built, compute
from khabar.dataset.datasheet import refresh, render
from khabar.dataset.release import Release, load_release
from khabar.dataset.write import write_and_swap
from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError, not_utf8
from khabar.foundation.files import os_reason
from khabar.foundation.paths import repo
from khabar.gold.inputs import Inputs

if TYPE_CHECKING:
    from khabar.kb.check import BaseCheck

LOG = logging.getLogger(__name__)


def build(inputs: Inputs, out: Path, *, datasheet: Path | None = None, release: Release | None = None,
          per_annotator: bool = False, base: BaseCheck | None = None) -> Built:
    """Build the dataset folder ``out`` and refresh the figures block of ``datasheet``; refused, with nothing
    written, when the knowledge base has errors against the gold (``base``: :func:`~khabar.dataset.compute.compute`).

    Any ``OSError`` (a full disk, a read-only folder) is a :class:`KhabarError` (exit 2), with nothing changed.
    """
    release = release or load_release()
    datasheet = datasheet or repo().datasheet_file
    current = _read(datasheet)  # first: what is not a regular file (a loop of links) is refused before it is resolved
    if out.resolve() in datasheet.resolve().parents:
        raise KhabarError(f"the datasheet is inside the output folder ({out}), which the build replaces: name a datasheet outside it", file=str(datasheet))
    refresh(current, "", source=str(datasheet))  # refuse a datasheet without a figures block before any work
    scheme = load_scheme()

    def make(folder: Path) -> tuple[Built, str]:
        built = compute(inputs, release, scheme, per_annotator=per_annotator, folder=folder, base=base)
        return built, refresh(current, render(built.figures), source=str(datasheet))

    try:
        built, datasheet_text = write_and_swap(make, datasheet, current, out, per_annotator=per_annotator)
    except OSError as exc:
        raise KhabarError(f"build failed: {os_reason(exc)}; the previous build and {datasheet.name} are unchanged", file=str(out)) from None
    if datasheet_text != current:
        LOG.info(f"refreshed the figures of {datasheet}")
    return built


def check_datasheet(inputs: Inputs, release: Release, *, datasheet: Path, base: BaseCheck | None = None) -> bool:
    """True when the figures block of ``datasheet`` is what a build would write (refused as the build is)."""
    built = compute(inputs, release, load_scheme(), base=base)
    current = _read(datasheet)
    return refresh(current, render(built.figures), source=str(datasheet)) == current


def _read(path: Path) -> str:
    """The datasheet's text as its bytes hold it: no line end translated (the build rewrites only its figures
    block, and refuses to write over a datasheet changed since this read); a FIFO refused without blocking."""
    data = export_files.read_regular(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KhabarError(f"the datasheet is {not_utf8(exc)}", file=str(path)) from None

