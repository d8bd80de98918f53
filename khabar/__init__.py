"""Khabar: span annotations of Arabic news, from Label Studio to a validated Hugging Face dataset.

Stages, each a subpackage whose imports run one way: :mod:`khabar.annotation`
(the scheme, the corpus, Label Studio) → :mod:`khabar.validation` (exports →
tables → checks → report) → :mod:`khabar.dataset` (adjudication, configs,
card, manifest, publishing). :mod:`khabar.cli` is the ``khabar`` command.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed package's metadata when it is asked for: not when the package is
    imported, because every ``khabar`` command imports it before it can handle signals (``khabar.cli``), and
    importlib.metadata was most of that import (43 of 50 ms, ``python -X importtime``)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("khabar")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"
