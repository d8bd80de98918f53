"""The native libraries' settings a ``khabar`` command makes before loading them (khabar.foundation.memory):
how long polars' allocator keeps freed pages, how many threads OpenBLAS starts."""

from __future__ import annotations

import gc
import os
import weakref

from khabar.foundation.memory import BLAS_THREADS, BLAS_THREADS_ENV, POLARS_ALLOCATOR, POLARS_ALLOCATOR_ENV, POLARS_ENGINE_ENV, cycle_collector_paused
from tests.cli_support import run_python

# the command runs in its own process: polars and OpenBLAS read the variables once, when first loaded.
# It prints the status, whether polars was imported, polars' allocator settings, then the process's threads
# once numpy is loaded (before any polars work starts polars' own pool), then the OpenBLAS setting.
COMMAND = (
    "import contextlib, io, os, sys\n"
    "from khabar.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    status = main(['validate', '--list-checks'])\n"
    "import numpy\n"
    "print(status, 'polars' in sys.modules, os.environ[" + repr(POLARS_ALLOCATOR_ENV) + "], len(os.listdir('/proc/self/task')),"
    " os.environ[" + repr(BLAS_THREADS_ENV) + "])\n"
)


def _command(env: dict[str, str]) -> list[str]:
    return run_python(COMMAND, env).split()


def _without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def test_the_command_gives_polars_the_longer_decay_after_its_own() -> None:
    status, imported, conf, _, _ = _command(_without(POLARS_ALLOCATOR_ENV))
    assert (status, imported) == ("0", "True")
    # polars puts its defaults first and ours after them: jemalloc takes the last value of an option
    assert conf.endswith("," + POLARS_ALLOCATOR), conf
    assert "dirty_decay_ms:500" in conf


def test_a_setting_in_the_environment_wins() -> None:
    status, imported, conf, _, _ = _command({**os.environ, POLARS_ALLOCATOR_ENV: "dirty_decay_ms:0"})
    assert (status, imported) == ("0", "True")
    assert conf.split(",")[-1] == "dirty_decay_ms:0"
    assert POLARS_ALLOCATOR not in conf


def test_openblas_starts_no_thread_of_its_own_unless_the_environment_asks() -> None:
    *_, threads, setting = _command(_without(BLAS_THREADS_ENV))
    assert setting == BLAS_THREADS
    *_, asked, asked_setting = _command({**os.environ, BLAS_THREADS_ENV: "2"})
    assert asked_setting == "2"
    # OpenBLAS runs its first thread on the caller's: a pool of n threads starts n - 1 of its own
    assert int(asked) == int(threads) + 1, (threads, asked)


def test_the_exit_finds_what_the_command_left_frozen_out_of_the_collectors_reach() -> None:
    script = (
        "import atexit, contextlib, gc, io\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0))  # registered first, run last\n"
        "from khabar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['validate', '--list-checks'])\n"
        "    handlers = atexit._ncallbacks()\n"
        "    main(['validate', '--list-checks'])\n"
        "print('during', gc.get_freeze_count() > 0, atexit._ncallbacks() == handlers)\n"
    )
    # nothing is frozen while commands run (a process may run several); once registered, at exit all is
    assert run_python(script).splitlines() == ["during False True", "at exit True"]


def _engine_after(argv: list[str], env: dict[str, str]) -> str:
    script = (
        "import contextlib, io, os\n"
        "from khabar.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    main({argv!r})\n"
        "import polars\n"
        f"print(os.environ.get({POLARS_ENGINE_ENV!r}, 'unset'), polars.Config.state(if_set=True).get({POLARS_ENGINE_ENV!r}))\n"
    )
    return run_python(script, env)


def test_validate_runs_polars_in_memory_and_other_commands_keep_its_default(tmp_path) -> None:
    env = _without(POLARS_ENGINE_ENV)
    assert _engine_after(["validate", "--list-checks"], env) == "in-memory in-memory"
    assert _engine_after(["diff", str(tmp_path / "a"), str(tmp_path / "b")], env) == "unset None"
    assert _engine_after(["validate", "--list-checks"], {**env, POLARS_ENGINE_ENV: "streaming"}) == "streaming streaming"


class _Node:
    """A container the collector tracks, that a weak reference can watch."""

    def __init__(self) -> None:
        self.peer: _Node | None = None


def test_what_a_paused_block_kept_is_old_after_it_and_its_cycles_still_collected() -> None:
    assert gc.isenabled()
    with cycle_collector_paused():
        assert not gc.isenabled()
        kept = [_Node() for _ in range(1_000)]
        cycle = _Node()
        cycle.peer = _Node()
        cycle.peer.peer = cycle
        freed = weakref.ref(cycle)
        del cycle
    assert gc.isenabled()
    # no young collection is left to walk what the block kept: it is in the oldest generation already
    young = {id(o) for o in gc.get_objects(generation=0)} | {id(o) for o in gc.get_objects(generation=1)}
    assert not any(id(node) in young for node in kept)
    assert {id(node) for node in kept} <= {id(o) for o in gc.get_objects(generation=2)}
    assert gc.get_freeze_count() == 0
    # and a full collection still searches it: the cycle the block dropped is freed
    assert freed() is not None
    gc.collect()
    assert freed() is None
