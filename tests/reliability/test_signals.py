"""SIGINT or SIGTERM at any moment of a command ends it in one line, ``khabar CMD: interrupted`` (130) or
``khabar CMD: terminated`` (143), and nothing else; nothing is committed once it came.

Real processes and real signals: each command runs in an interpreter of its own, which sends the signal to itself
at a moment a hook makes certain instead of a delay: the first import of a module named here. The hook stands in
for what runs at that moment: the command importing its modules, or a library that swallows the signal's
exception, turns it into an error of its own (pyarrow raised ``TypeError: Got unexpected argument type <class
'int'>``) or meets it in a finaliser (``Exception ignored in …``, and the command went on).

Before ``khabar.cli.main`` runs, a signal has Python's own effect; what comes before it is the interpreter's start-up
and the import of ``khabar.cli``, which loads only what main needs to handle signals (the last test).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reliability.reliability_support import SHARED, tree
from tests.reliability.test_files import build_args

#: what a command ended by each signal says, and its exit status
ENDINGS = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}

#: What runs when the module is first imported, in a finaliser or not. The loop after the signal is where its exception
#: comes: Python raises it at the next bytecode that checks for signals (a jump back among them); bounded, so that a
#: signal that raises nothing lets the command go on.
SIGNAL = "os.kill(os.getpid(), {signum})\nfor _ in range(1_000_000):\n    pass\n"
LIBRARIES = {
    "raises it": SIGNAL,
    "swallows it": f"try:\n{textwrap.indent(SIGNAL, '    ')}except BaseException:\n    pass\n",
    "turns it into its own error": f"try:\n{textwrap.indent(SIGNAL, '    ')}except BaseException:\n    raise TypeError(\"Got unexpected argument type <class 'int'>\") from None\n",
    "meets it in a finaliser": f"class Finalised:\n    def __del__(self):\n{textwrap.indent(SIGNAL, '        ')}\nFinalised()\n",
}
SCRIPT = """\
import os, sys

class SignalAtImport:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
{library}
        return None

sys.meta_path.insert(0, SignalAtImport())
from khabar.cli import main
sys.exit(main({argv!r}))
"""


def signalled(argv: list[str | Path], module: str, signum: int, library: str, temporary: Path) -> subprocess.CompletedProcess[str]:
    """``khabar ARGV`` in a fresh interpreter that gets ``signum`` when it first imports ``module``, from code that
    does as ``library`` says (a key of :data:`LIBRARIES`)."""
    code = textwrap.indent(LIBRARIES[library].format(signum=int(signum)), " " * 12)
    script = SCRIPT.format(module=module, library=code, argv=[str(arg) for arg in argv])
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(temporary)})


@pytest.fixture
def temporary(tmp_path: Path) -> Path:
    """The command's temporary folder (TMPDIR): whatever it left there is seen."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("signum", list(ENDINGS), ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(("argv", "module", "name"), [
    (["--version"], "argparse", "khabar"),  # the command is not known yet: the program's name alone
    (["validate", "--dataset", "BUILD"], "khabar.validation.cli", "khabar validate"),  # while the parser is built
    (["validate", "--dataset", "BUILD"], "pyarrow.parquet", "khabar validate"),  # while the command runs
], ids=["parsing", "the-stage-module", "the-command"])
def test_a_signal_while_the_command_imports_is_one_line_and_its_status(argv, module, name, signum, good_build, temporary):
    argv = [good_build if arg == "BUILD" else arg for arg in argv]
    done = signalled(argv, module, signum, "raises it", temporary)
    word, status = ENDINGS[signum]
    assert (done.returncode, done.stderr, done.stdout) == (status, f"{name}: {word}\n", ""), done.stderr
    assert list(temporary.iterdir()) == []


@pytest.mark.parametrize("signum", list(ENDINGS), ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("library", ["swallows it", "turns it into its own error", "meets it in a finaliser"])
@pytest.mark.parametrize(("command", "module"), [("export", "polars"), ("build", "pandas")])  # both imported with the staging folder made
def test_a_signal_a_library_swallows_still_ends_the_command_and_nothing_is_committed(command, module, library, signum, good_build, datasheet_template, tmp_path, temporary):
    """Export writes a new folder; build replaces an earlier build and refreshes the datasheet's figures: neither
    happens, and what they staged is removed."""
    work = tmp_path / "work"
    work.mkdir()
    if command == "export":
        argv = ["export", good_build, "--format", "conll", "--out", work / "conll"]
    else:
        out = work / "dist" / good_build.name
        shutil.copytree(good_build, out)
        datasheet = work / "DATASHEET.md"
        shutil.copyfile(datasheet_template, datasheet)  # the repository's figures, not this export's
        export = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))
        export[1]["annotations"][0]["result"] = []  # a build that differs from the earlier one: one entity fewer
        changed = tmp_path / "export.json"
        changed.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
        argv = build_args(out, datasheet, changed)
    before = tree(work)
    done = signalled(argv, module, signum, library, temporary)
    word, status = ENDINGS[signum]
    lines = done.stderr.splitlines()  # the command's progress, then the one line: no traceback, no "Exception ignored"
    assert done.returncode == status and lines[-1] == f"khabar {command}: {word}", done.stderr
    assert all(line.startswith(f"khabar {command}: ") and ": error:" not in line for line in lines), done.stderr
    assert tree(work) == before, "a commit went through after the signal, or a staging folder was left"
    assert list(temporary.iterdir()) == []


def test_importing_the_command_loads_only_what_main_needs_to_handle_signals():
    """The console script imports ``khabar.cli`` before it calls ``main()``: a signal during that import was a
    KeyboardInterrupt traceback (it imported argparse, dataclasses, tqdm and importlib.metadata: 84 ms of
    ``python -X importtime``, 4.5 ms now)."""
    script = "import sys\nbefore = set(sys.modules)\nimport khabar.cli\nprint(*sorted(set(sys.modules) - before))\n"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert set(loaded) <= {"khabar", "khabar.cli", "khabar.foundation", "khabar.foundation.signals", "signal", "collections.abc"}, loaded
