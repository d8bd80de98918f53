"""pandera's polars API, imported without pandera's pandas API: every module of Khabar takes pandera from here.

``import pandera`` (which any ``pandera.*`` import runs first) imports pandas and
pandera's pandas engine whenever pandas is installed, and pandas is (``datasets``
needs it), though Khabar checks polars frames only. pandera documents a polars-only
install: when ``import pandas`` fails with "No module named 'pandas'" it loads its
polars parts alone. This module lets pandera's first import see exactly that, and
nothing else: pandas stays importable by everyone afterwards (a module that imported
pandas before this one simply gets pandera whole). It also hides hypothesis, which
pandera imports for data synthesis Khabar never asks of it. Importing the checks and
running a first validation took 1.0 s of CPU with them and takes 0.6 s without.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# polars notes which optional modules are installed when it is first imported: before pandas is hidden
import polars  # noqa: F401

#: the modules pandera imports only for its pandas API and data synthesis
HIDDEN = ("pandas", "hypothesis")


class _Hidden(importlib.abc.MetaPathFinder):
    """A finder that reports the :data:`HIDDEN` packages missing, as an install without them would."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        top = fullname.partition(".")[0]
        if top in HIDDEN:
            raise ModuleNotFoundError(f"No module named {top!r}", name=top)
        return None


def _import_pandera() -> None:
    if "pandera" in sys.modules:
        return
    hidden = _Hidden()
    sys.meta_path.insert(0, hidden)
    try:
        # the backend is imported by the first validation otherwise, and brings pandera's data synthesis
        import pandera.backends.polars.builtin_checks  # noqa: F401
        import pandera.polars  # noqa: F401
        from pandera.backends.register_checks import _load_get_backend_types_from_mro

        # a first column check asks, once (the answer is cached), for pandas' backend types, importing pandas:
        # asked now, it is told pandas is missing, as in a polars-only install, and checks polars frames as
        # such (khabar validate imported pandas in its first batch: 0.14-0.16 s of CPU)
        _load_get_backend_types_from_mro()
    finally:
        sys.meta_path.remove(hidden)


_import_pandera()

import pandera.polars as pa  # noqa: E402
from pandera.errors import SchemaError, SchemaErrors  # noqa: E402

__all__ = ["SchemaError", "SchemaErrors", "pa"]
