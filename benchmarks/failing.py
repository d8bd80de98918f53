"""Validate's memory when every span fails: each report format against the same export validated clean.

The news export of ``benchmarks/synth.py`` is validated twice over: against its own
corpus (clean: its failures are a few warnings) and against a corpus whose every text
starts one character later (``documents-failing.jsonl``: every task's text differs
from its corpus text, so every region's offsets fail; at 1M span results about 1.4
million failures, most of them errors). The failing export is validated once per
report format, each in its own process (``bench_pipeline.measure``: CPU seconds and
peak resident memory from the process's own rusage). The target (issue 18): each
command's peak within 1 GB, as the clean one's, however many failures the export holds.

Every run reconciles: the clean one exits 0, each failing one exits 1 and reports
every failure the JSON report counts (the text report a line each, the GitHub
annotations a command each, the markdown table its first rows).

    python benchmarks/failing.py --spans 1000000 --work /tmp/khabar-failing
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_pipeline import CACHE, MEMORY_TARGET_MB, Measure, StageFailed, khabar_command, measure, one_size_main  # noqa: E402
from synth import generate  # noqa: E402

from khabar.validation.report import MARKDOWN_MAX_ROWS  # noqa: E402

FORMATS = ("json", "text", "markdown", "github")
#: What makes a corpus text differ from the task's: one character before it (every offset then misses its text).
SHIFT = "x"


def failing_corpus(documents: Path, failing: Path) -> None:
    """``documents`` with every text one character longer at its start."""
    with documents.open(encoding="utf-8") as records, failing.open("w", encoding="utf-8") as out:
        for line in records:
            record = json.loads(line)
            record["text"] = SHIFT + record["text"]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def _count(path: Path, starts: tuple[str, ...]) -> int:
    """Lines of the file at ``path`` that start with one of ``starts``, read a line at a time (a report can be 1 GB)."""
    with path.open(encoding="utf-8") as lines:
        return sum(line.startswith(starts) for line in lines)


def _totals(report: Path) -> tuple[int, int]:
    """The errors and warnings the JSON report counts (its first lines, before the failures)."""
    with report.open(encoding="utf-8") as lines:
        head = "".join(itertools.islice(lines, 10))
    return tuple(int(re.search(rf'^  "{name}": (\d+),$', head, re.MULTILINE).group(1)) for name in ("errors", "warnings"))  # type: ignore[union-attr, return-value]


def reconcile(work: Path) -> tuple[int, list[str]]:
    """The failures of the failing export, and what its reports disagree on (nothing when they reconcile)."""
    errors, warnings = _totals(work / "failing-json.stdout")
    failures = errors + warnings
    listed = {  # the JSON report's failures are its only objects at an indent of four
        "json": _count(work / "failing-json.stdout", ("    {\n",)),
        "text": _count(work / "failing-text.stdout", ("  error ", "  warning ")),
        "github": _count(work / "failing-github.stdout", ("::error ", "::warning ")),
        "markdown": _count(work / "failing-markdown.stdout", ("| error |", "| warning |")),
    }
    expected = {"json": failures, "text": failures, "github": failures, "markdown": min(failures, MARKDOWN_MAX_ROWS)}
    problems = [f"{fmt}: {listed[fmt]} failures reported, {expected[fmt]} expected" for fmt in listed if listed[fmt] != expected[fmt]]
    if errors == 0:
        problems.append("the failing export has no error")
    if _totals(work / "clean-json.stdout")[0] != 0:
        problems.append("the clean export has errors")
    return failures, problems


def run(spans: int, seed: int, work: Path) -> tuple[int, int, Measure, dict[str, Measure]]:
    """The export's span results and failures, and the clean run's and each failing run's measures."""
    work.mkdir(parents=True, exist_ok=True)
    export, documents, failing = work / "export.json", work / "documents.jsonl", work / "documents-failing.jsonl"
    spans = generate(export, documents, spans, seed=seed).span_results
    failing_corpus(documents, failing)
    validate = [*khabar_command(), "validate", str(export), "--format"]
    clean = measure("clean-json", [*validate, "json", "--documents", str(documents)], work, output=False)
    shutil.rmtree(work / CACHE, ignore_errors=True)  # the tables it kept for a build: not this benchmark's
    measured = {fmt: measure(f"failing-{fmt}", [*validate, fmt, "--documents", str(failing)], work, expect=1, output=False) for fmt in FORMATS}
    failures, problems = reconcile(work)
    if problems:
        raise StageFailed("reports do not reconcile:\n  " + "\n  ".join(problems))
    return spans, failures, clean, measured


def table(spans: int, failures: int, clean: Measure, failing: dict[str, Measure]) -> str:
    rows = [
        f"validating {spans:,} span results (news), every span failing against the shifted corpus: {failures:,} failures",
        "",
        "| corpus | format | wall s | CPU s | peak MB | peak / clean peak |",
        "|---|---|---:|---:|---:|---:|",
        f"| own (clean) | json | {clean.seconds:.2f} | {clean.cpu_seconds:.2f} | {clean.peak_mb:,.0f} | 1.00× |",
    ]
    for fmt, m in failing.items():
        rows.append(f"| shifted (failing) | {fmt} | {m.seconds:.2f} | {m.cpu_seconds:.2f} | {m.peak_mb:,.0f} | {m.peak_mb / clean.peak_mb:.2f}× |")
    highest = max(m.peak_mb for m in failing.values())
    rows += ["", f"target: each command's peak within {MEMORY_TARGET_MB:,} MB however many failures: {'met' if highest <= MEMORY_TARGET_MB else 'missed'} (highest {highest:,.0f} MB)"]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    return one_size_main(argv, __doc__ or "", "failing", run, table)


if __name__ == "__main__":
    sys.exit(main())
