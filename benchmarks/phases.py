"""Where the time of ``khabar validate`` and ``khabar build`` goes: wall seconds per phase, on one export.

    python benchmarks/phases.py EXPORT.json DOCUMENTS.jsonl [--work DIR]

Runs validation as ``khabar validate`` does (read, check, render the JSON report,
keep the tables), then ``khabar build`` on the kept tables, each phase timed by
wrapping the function that does it. Phases nest (``compute`` holds ``token_table``),
so the figures do not add up to the total. A profiler answers finer questions:
``py-spy record -f raw -o OUT.raw -- khabar build ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

VALIDATE_PHASES = (
    ("khabar.validation.reader", "read_documents"),
    ("khabar.validation.api", "check_exports"),  # reading and checking, batch by batch: read = this - check_raw
    ("khabar.validation.api", "check_raw"),
    ("khabar.validation.checks", "prepare"),
    ("khabar.validation.api", "_failing_rows"),
    ("khabar.validation.api", "_account"),
    ("khabar.validation.report", "render"),
    ("khabar.validation.store", "save_files"),
)
BUILD_PHASES = (
    ("khabar.gold.load", "_load"),  # validating, or taking the kept tables
    ("khabar.dataset.compute", "compute"),
    ("khabar.gold.adjudicate", "adjudicate"),
    ("khabar.dataset.splits", "plan_splits"),
    ("khabar.dataset.configs", "document_table"),
    ("khabar.dataset.configs", "token_table"),
    ("khabar.dataset.configs", "quote_table"),
    ("khabar.dataset.agreement", "agreement_sums"),
    ("khabar.dataset.agreement", "prediction_sums"),
    ("khabar.dataset.figures", "datasheet_figures"),
    ("khabar.dataset.write", "write_build"),
    ("khabar.dataset.shards", "write_row_group"),
    ("khabar.dataset.charts", "labels_per_layer"),
    ("khabar.dataset.charts", "spans_per_source"),
)


def timing(phases: tuple[tuple[str, str], ...], seconds: dict[str, float], calls: dict[str, int]) -> None:
    """Wrap each ``module.function`` so that its calls add their wall seconds to ``seconds`` and count in ``calls``.

    Every loaded Khabar module that imported the function by name gets the wrapper too.
    """
    for module_name in {"khabar.cli", *(module_name for module_name, _ in phases)}:
        importlib.import_module(module_name)
    khabar_modules = [m for n, m in sys.modules.items() if n == "khabar" or n.startswith("khabar.")]
    for module_name, name in phases:
        function = getattr(sys.modules[module_name], name)

        def timed(*args, _function: Callable = function, _key: str = f"{module_name}.{name}", **kwargs):
            started = time.perf_counter()
            try:
                return _function(*args, **kwargs)
            finally:
                seconds[_key] += time.perf_counter() - started
                calls[_key] += 1

        wrapper = functools.wraps(function)(timed)
        for module in khabar_modules:
            if getattr(module, name, None) is function:
                setattr(module, name, wrapper)


def run_command(argv: list[str]) -> float:
    """``khabar ARGV`` in this process, its output swallowed; its wall seconds."""
    from khabar.cli import main

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main(argv)
    if status not in (0, None):
        raise SystemExit(f"phases: khabar {argv[0]} exited with {status}")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("documents", type=Path)
    parser.add_argument("--work", type=Path, help="folder for the kept tables and the build (default: a temporary one)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="khabar-phases-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["KHABAR_CACHE_DIR"] = str(work / "cache")
    shutil.rmtree(work / "cache", ignore_errors=True)
    datasheet = work / "DATASHEET.md"
    shutil.copyfile(REPO_ROOT / "DATASHEET.md", datasheet)

    started = time.perf_counter()
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)  # a phase of a few milliseconds prints 0.00 s: its calls say it ran
    timing(VALIDATE_PHASES + BUILD_PHASES, seconds, calls)
    imports = time.perf_counter() - started
    validate = run_command(["validate", str(args.export), "--documents", str(args.documents), "--format", "json"])
    build = run_command(["build", "--exports", str(args.export), "--documents", str(args.documents), "--out", str(work / "build"), "--datasheet", str(datasheet)])

    print(f"{'phase':<40} {'wall s':>7} {'calls':>6}")
    print(f"{'imports of both commands (before they run)':<40} {imports:7.2f} {1:6d}")
    for title, total, phases in (("khabar validate", validate, VALIDATE_PHASES), ("khabar build", build, BUILD_PHASES)):
        print(f"{title:<40} {total:7.2f} {1:6d}")
        for module_name, name in phases:
            key = f"{module_name}.{name}"
            print(f"  {key:<38} {seconds[key]:7.2f} {calls[key]:6d}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
