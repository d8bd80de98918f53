"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (or, as ``@cycle_collector_paused()``, the function).

    Parsing an export and building the configs make millions of dicts, lists and
    tuples and no reference cycles, so every collection their allocations trigger
    searches for nothing: with the collector on, ``json.loads`` of a 600 MB export
    took 9.6 s instead of 3.8 s. Memory is still freed as usual (reference
    counting), and the collector runs again afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
