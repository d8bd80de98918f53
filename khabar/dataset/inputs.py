"""What the builder reads, from its command's arguments: the inputs (:mod:`khabar.gold.load`) and the check of
the knowledge base that describes them."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.export_files import export_paths
from khabar.foundation.paths import repo
from khabar.gold.inputs import Inputs
from khabar.gold.load import load_ranged_inputs

if TYPE_CHECKING:
    from khabar.kb.check import BaseCheck

LOG = logging.getLogger(__name__)


def ranged_inputs_from_args(args: argparse.Namespace) -> Inputs:
    """The inputs the ``--exports`` and ``--documents`` arguments name (:func:`khabar.dataset.cli.add_input_arguments`),
    read a range of documents at a time where they were kept (:func:`load_ranged_inputs`): what ``khabar stats`` reads."""
    return load_ranged_inputs(_exports(args), args.documents or repo().documents_file)


def build_inputs_from_args(args: argparse.Namespace) -> tuple[Inputs, BaseCheck | None]:
    """What ``khabar build`` reads: the inputs the arguments name (as :func:`ranged_inputs_from_args`), and the check
    of the knowledge base against the gold the build makes of them, range by range (none when the base does not
    describe these inputs). The base may have changed since a ``khabar validate`` kept the tables, so a build checks
    it every time."""
    from khabar.kb.check import BaseCheck, knowledge_base_applies
    from khabar.kb.files import folder_of_base

    exports, documents_file = _exports(args), args.documents or repo().documents_file
    inputs = load_ranged_inputs(exports, documents_file)
    if knowledge_base_applies(exports, documents_file):
        return inputs, BaseCheck()
    if (base := folder_of_base()) is not None:  # its rows are still joined to the spans they name: said, not done silently
        LOG.info(f"{base} not checked: the knowledge base describes the committed exports and corpus, not these; "
                 "its links and clusters are joined to the spans of these that they name")
    return inputs, None


def _exports(args: argparse.Namespace) -> list[Path]:
    return export_paths(args.exports)  # no --exports: the committed ones; the flag alone: none
