"""How long polars' allocator keeps freed pages in a ``khabar`` command (khabar.foundation.memory)."""

from __future__ import annotations

import os
import subprocess
import sys

from khabar.foundation.memory import POLARS_ALLOCATOR, POLARS_ALLOCATOR_ENV

# the command runs in its own process: polars reads the variable once, when it is first imported
COMMAND = (
    "import contextlib, io, os, sys\n"
    "from khabar.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    status = main(['validate', '--list-checks'])\n"
    "print(status, 'polars' in sys.modules, os.environ[" + repr(POLARS_ALLOCATOR_ENV) + "])\n"
)


def _command(env: dict[str, str]) -> list[str]:
    done = subprocess.run([sys.executable, "-c", COMMAND], capture_output=True, text=True, env=env, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_the_command_gives_polars_the_longer_decay_after_its_own() -> None:
    env = {k: v for k, v in os.environ.items() if k != POLARS_ALLOCATOR_ENV}
    status, imported, conf = _command(env)
    assert (status, imported) == ("0", "True")
    # polars puts its defaults first and ours after them: jemalloc takes the last value of an option
    assert conf.split(",")[-1] == POLARS_ALLOCATOR, conf
    assert "dirty_decay_ms:500" in conf


def test_a_setting_in_the_environment_wins() -> None:
    status, imported, conf = _command({**os.environ, POLARS_ALLOCATOR_ENV: "dirty_decay_ms:0"})
    assert (status, imported) == ("0", "True")
    assert conf.split(",")[-1] == "dirty_decay_ms:0"
    assert POLARS_ALLOCATOR not in conf
