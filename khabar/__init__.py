"""Khabar: span annotations of Arabic news, from Label Studio to a validated Hugging Face dataset.

Stages, each a subpackage whose imports run one way: :mod:`khabar.annotation`
(the scheme, the corpus, Label Studio) → :mod:`khabar.validation` (exports →
tables → checks → report) → :mod:`khabar.dataset` (adjudication, configs,
card, manifest, publishing). :mod:`khabar.cli` is the ``khabar`` command.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("khabar")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
