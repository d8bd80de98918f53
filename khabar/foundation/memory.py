"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles (what the work
kept counted as old afterwards); handing the C heap's free pages back between the parts of work done a part at
a time; the settings native libraries read once, when they are loaded (how long polars' allocator keeps the
pages it freed and in how many arenas, OpenBLAS's threads, polars' engine), made by the ``khabar`` command
before anything loads them."""

from __future__ import annotations

import atexit
import ctypes
import gc
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache

#: jemalloc's options that polars adds to its own when it is first imported (polars documents the variable
#: in its ``__init__``: its default, ``dirty_decay_ms:500``, returns a freed page to the system after 0.5 s)
POLARS_ALLOCATOR_ENV = "_RJEM_MALLOC_CONF"
#: validate and build free and make again a batch's frames every second or so: kept 2 s, a freed page serves the
#: next batch instead of being faulted in again. At 1M span results, back to back: ``khabar validate`` 440,000 →
#: 350,000 page faults, 1.86 → 1.36–1.47 s of system CPU, peak 637 → 645–654 MB (never purging: 1.41 s, but 725 MB);
#: ``khabar build`` 810,000 → 590,000–690,000 faults, 2.7–2.9 → 2.0–2.3 s, peak unchanged (0.74–0.77 GB).
#: One arena for all threads: jemalloc gave each thread (the Python thread, polars' workers) an arena of its own, and
#: a page freed in one thread's arena served no other thread's allocations. Shared, at 1M news (interleaved runs):
#: validate 162,000–190,000 → 135,000–155,000 page faults, system CPU 0.82–0.96 → 0.75–0.85 s, peak 477–484 →
#: 450–459 MB; build 379,000–400,000 → 320,000–342,000 faults, CPU 9.1–10.0 → 9.0–9.7 s, peak unchanged (0.69–0.74 GB);
#: at 3M: validate 415,000 → 315,000–327,000 faults, peak 814–824 → 798–812 MB; build 1.12–1.20M → 0.99–1.01M faults,
#: peak unchanged (0.92–0.94 → 0.90–0.94 GB); the arena's lock costs no CPU that these runs show
POLARS_ALLOCATOR = "dirty_decay_ms:2000,narenas:1"
#: how many threads numpy's OpenBLAS starts when numpy is imported
BLAS_THREADS_ENV = "OPENBLAS_NUM_THREADS"
#: one: Khabar's only matrix products are the split planner's, on a few hundred numbers, and the pool's other
#: thread spun waiting for work (perf: 1.3% of ``khabar build``'s samples at 1M span results, 0.8% of validate's);
#: its CPU time read from /proc at the end of the command on a busy machine: 0.02-0.07 s in the build, 0.05 s in validate
BLAS_THREADS = "1"
#: the engine polars runs a query on when the query names none: its default is the streaming engine
POLARS_ENGINE_ENV = "POLARS_ENGINE_AFFINITY"
#: the variables :func:`set_native_defaults` sets for every command, and their values
NATIVE_DEFAULTS = {POLARS_ALLOCATOR_ENV: POLARS_ALLOCATOR, BLAS_THREADS_ENV: BLAS_THREADS}
#: and for one command. ``khabar validate`` runs a few queries on each batch of about 32 MB of tasks: the
#: streaming engine's set-up and hand-offs cost more there than they save (1M news, ``perf stat`` task-clock,
#: four interleaved pairs, streamed → in memory: 12.67 → 12.39, 12.84 → 12.11, 12.26 → 11.98, 12.09 → 12.08 s;
#: report and kept tables identical); the build's queries, over whole ranges of documents, are faster streamed
#: (12.16, 12.03 s against 12.38, 12.40 s in memory)
COMMAND_DEFAULTS: dict[str, dict[str, str]] = {"validate": {POLARS_ENGINE_ENV: "in-memory"}}


def set_native_defaults(command: str | None = None) -> None:
    """Have polars' allocator keep freed pages 2 s, in one arena for all threads (:data:`POLARS_ALLOCATOR`),
    OpenBLAS start one thread (:data:`BLAS_THREADS`), and ``command``'s own settings (:data:`COMMAND_DEFAULTS`);
    a setting in the environment wins.

    Called by the ``khabar`` command before anything imports polars or numpy: they read the variables then, once.
    """
    for name, value in (NATIVE_DEFAULTS | COMMAND_DEFAULTS.get(command or "", {})).items():
        os.environ.setdefault(name, value)


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (or, as ``@cycle_collector_paused()``, the function).

    Parsing an export and building the configs make millions of dicts, lists and
    tuples and no reference cycles, so every collection their allocations trigger
    searches for nothing: with the collector on, ``json.loads`` of a 600 MB export
    took 9.6 s instead of 3.8 s. Memory is still freed as usual (reference
    counting), and the collector runs again afterwards, the block's survivors counted as old objects
    (:func:`_age_survivors`).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            _age_survivors()
            gc.enable()


def _age_survivors() -> None:
    """Move every object the collector tracks into its oldest generation, and zero the count of allocations
    that starts a young collection.

    A paused collector still counts allocations, and the objects a block made and kept stay young: the first
    allocation after the block started a young collection over all of them, the most expensive of the run and
    one that finds next to nothing (``khabar build``, at 1M span results, as the command ended: 226,000 objects,
    0.29-0.64 s of CPU, 17,700 freed). :func:`gc.freeze` moves every tracked object aside and zeroes that count;
    :func:`gc.unfreeze` puts them back in the oldest generation, which full collections still search, so a cycle
    the block left is freed by the next one, as an object that survived its young collections would have been.
    What was frozen before is unfrozen with them: Khabar freezes only at exit (:func:`spare_the_exit_its_collections`).
    """
    gc.freeze()
    gc.unfreeze()


@cache
def spare_the_exit_its_collections() -> None:
    """Have the interpreter's exit leave the objects still alive to the system, not search them for cycles.

    Python's exit clears the modules one by one and runs the cyclic collector as it goes, each time over every
    object the imports made (polars, pyarrow, pandera; for a build datasets, pandas and matplotlib too): 0.22-0.24 s
    of CPU after ``khabar validate``, 0.47-0.51 s after ``khabar build`` (1M news, the process's CPU time at the end
    of the command against at its exit). :func:`gc.freeze`, run at exit before that teardown, puts them out of the
    collector's reach; the system takes the process's memory back as always. Registered once per process.
    """
    atexit.register(gc.freeze)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the process's own C library, or None where it has none (macOS, musl);
    looked up on first use, not at import."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def hand_back_freed_memory() -> None:
    """Give the C heap's free pages back to the system, where the C library can (glibc; elsewhere nothing).

    Work done one part at a time (a build's ranges of documents) frees each part's buffers before the
    next: glibc keeps those pages for reuse, and the pieces it cannot reuse add up, so a process's
    memory grows with the number of parts. Trimming after each part keeps it flat: 3M span results,
    21 ranges, the build's resident memory after the last range 0.83 → 0.62 GB, for 0.16 s.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def arrow_on_the_system_allocator() -> None:
    """Have Arrow's buffers come from the C library's allocator, not Arrow's default pool (mimalloc), which keeps
    what one part of work done a part at a time freed for the next: the system's allocator hands it back (and
    :func:`hand_back_freed_memory` trims what it keeps), for the same CPU. 1M span results, ``khabar build``'s peak
    0.79 → 0.72 GB; two 3M span results builds, ``khabar diff``'s 457 → 415 MB; ``khabar validate`` of a committed
    3M-span export with a knowledge base covering it (its ranges cut for the base's checks), 925 → 769 MB."""
    import pyarrow

    pyarrow.set_memory_pool(pyarrow.system_memory_pool())

