"""Time and measure the pipeline against the floor and against Label Studio's converter.

For each size (span results in the export's annotations) it generates a seeded
synthetic export (``benchmarks/synth.py``), then runs, each in its own process:

- floor:     parse the export with ``json``, write its spans to one parquet (``benchmarks/floor.py``);
- validate:  ``khabar validate`` on the export, which keeps its tables for the build;
- build:     ``khabar build`` on the export (into the work folder, never ``dist/``), which
             takes the tables validate kept instead of checking the export again (the run
             fails if it does not);
- converter: ``label_studio_sdk.converter`` to CoNLL 2003 (``benchmarks/peer.py``).

Wall time is measured around each process and peak memory is the process's
maximum resident set size (``os.wait4``'s rusage). Khabar is validate + build:
times add up and its peak is the larger of the two. The outputs are reconciled
with what the generator wrote (span rows of the floor, spans read by
validation, documents built), so a fast stage that dropped data fails the run.

    python benchmarks/bench_pipeline.py                      # 10k, 100k, 1M
    python benchmarks/bench_pipeline.py --sizes 2000 --work /tmp/khabar-bench
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from synth import Counts, generate  # noqa: E402

from khabar.progress import configure_logging  # noqa: E402

LABELING_CONFIG = REPO_ROOT / "annotation" / "labeling_config.xml"
DATASHEET = REPO_ROOT / "DATASHEET.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Targets of issue 7 for validate + build at the largest size.
TIME_TARGET = 3.0  # × the floor's wall time
MEMORY_TARGET = 1.5  # × the floor's peak RSS
#: What ``khabar build`` logs when it takes the tables ``khabar validate`` kept (khabar.validation.store).
KEPT_TABLES_USED = "not checked again"


@dataclass(frozen=True)
class Measure:
    stage: str
    seconds: float
    cpu_seconds: float  # user + system: less sensitive than wall time to other work on the machine
    peak_mb: float
    stdout: str
    stderr: str


class StageFailed(RuntimeError):
    pass


def khabar_command() -> list[str]:
    script = Path(sys.executable).with_name("khabar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "khabar.cli"]


def measure(stage: str, command: list[str], work: Path) -> Measure:
    """Run ``command`` in its own process; wall seconds and its peak RSS."""
    out_path, err_path = work / f"{stage}.stdout", work / f"{stage}.stderr"
    env = {**os.environ, "KHABAR_CACHE_DIR": str(work / "cache")}  # validate keeps its tables here for build
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO_ROOT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise StageFailed(f"{stage} exited with {process.returncode}: {' '.join(command)}\n{tail}")
    # ru_maxrss is in KiB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return Measure(stage, seconds, cpu, usage.ru_maxrss / 1024, out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8"))


def last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise StageFailed(f"no JSON summary in the output:\n{stdout[-2000:]}")


@dataclass(frozen=True)
class SizeResult:
    target: int
    counts: Counts
    export_mb: float
    floor: Measure
    validate: Measure
    build: Measure
    converter: Measure

    @property
    def khabar_seconds(self) -> float:
        return self.validate.seconds + self.build.seconds

    @property
    def khabar_cpu_seconds(self) -> float:
        return self.validate.cpu_seconds + self.build.cpu_seconds

    @property
    def khabar_peak_mb(self) -> float:
        return max(self.validate.peak_mb, self.build.peak_mb)


def reconcile(result: SizeResult, build_dir: Path) -> list[str]:
    """What each stage wrote, checked against what the generator put in the export."""
    import pyarrow.parquet as pq

    counts = result.counts
    usable_annotations = counts.annotations - counts.cancelled
    problems = []
    floor_rows = last_json(result.floor.stdout)["span_rows"]
    if floor_rows != counts.span_results:
        problems.append(f"floor wrote {floor_rows} span rows, the export holds {counts.span_results}")
    report = json.loads(result.validate.stdout)
    units = {count["unit"]: count for count in report["accounting"]["counts"]}
    if report["errors"] or not report["accounting"]["reconciles"]:
        problems.append(f"validate: {report['errors']} error(s), accounting reconciles: {report['accounting']['reconciles']}")
    if units["regions"]["used"] != counts.span_results or units["regions"]["read"] != counts.span_results + counts.draft_span_results:
        problems.append(f"validate read/used {units['regions']['read']}/{units['regions']['used']} regions, the export holds {counts.span_results} (+{counts.draft_span_results} in drafts)")
    if units["annotations"]["used"] != usable_annotations:
        problems.append(f"validate used {units['annotations']['used']} annotations, the export holds {usable_annotations} usable ones")
    built = re.search(r"read (\d+) documents, (\d+) annotations, (\d+) spans", result.build.stderr)  # the build logs on stderr
    if built is None or (int(built[2]), int(built[3])) != (usable_annotations, counts.span_results):
        problems.append(f"build read {built[0] if built else 'nothing'}; the export holds {usable_annotations} usable annotations, {counts.span_results} spans")
    if KEPT_TABLES_USED not in result.build.stdout + result.build.stderr:
        problems.append("build validated the export again instead of taking the tables khabar validate kept")
    documents_rows = sum(pq.read_metadata(path).num_rows for path in (build_dir / "data" / "documents").glob("*.parquet"))
    if documents_rows != counts.tasks:
        problems.append(f"build wrote {documents_rows} documents, the export holds {counts.tasks} tasks")
    converted = last_json(result.converter.stdout)["conll_sentences"]
    if converted != usable_annotations:
        problems.append(f"converter wrote {converted} sentences, the export holds {usable_annotations} usable annotations")
    return problems


def run_size(target: int, seed: int, work: Path) -> SizeResult:
    def progress(message: str) -> None:  # stderr: plain lines, or a status line on a terminal (khabar.cli)
        logging.getLogger("khabar.bench").info(f"[{target:,}] {message}")

    work.mkdir(parents=True, exist_ok=True)
    export, documents = work / "export.json", work / "documents.jsonl"
    progress("generating the export")
    counts = generate(export, documents, target, seed=seed)
    export_mb = export.stat().st_size / 2**20
    progress(f"{counts.span_results:,} span results in {counts.tasks:,} tasks, {export_mb:,.0f} MB")
    datasheet = work / "DATASHEET.md"
    shutil.copyfile(DATASHEET, datasheet)
    build_dir = work / "build"
    shutil.rmtree(build_dir, ignore_errors=True)
    shutil.rmtree(work / "conll", ignore_errors=True)
    shutil.rmtree(work / "cache", ignore_errors=True)
    python, khabar = sys.executable, khabar_command()
    stages = {
        "floor": [python, str(BENCH_DIR / "floor.py"), str(export), str(work / "floor.parquet")],
        "validate": [*khabar, "validate", str(export), "--documents", str(documents), "--format", "json"],
        "build": [*khabar, "build", "--exports", str(export), "--documents", str(documents), "--out", str(build_dir), "--datasheet", str(datasheet)],
        "converter": [python, str(BENCH_DIR / "peer.py"), str(export), str(LABELING_CONFIG), str(work / "conll")],
    }
    measured = {}
    for stage, command in stages.items():
        progress(f"{stage} ...")
        measured[stage] = measure(stage, command, work)
        progress(f"{stage}: {measured[stage].seconds:.1f} s, {measured[stage].peak_mb:,.0f} MB")
    result = SizeResult(target, counts, export_mb, **measured)
    problems = reconcile(result, build_dir)
    if problems:
        raise StageFailed("outputs do not reconcile:\n  " + "\n  ".join(problems))
    progress("outputs reconcile")
    return result


def table(results: list[SizeResult]) -> str:
    """One markdown table: per size and stage, then the ratios and the growth."""
    lines = [
        "| span results | tasks | export MB | stage | wall s | CPU s | peak MB |",
        "|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        rows = [
            ("floor", r.floor.seconds, r.floor.cpu_seconds, r.floor.peak_mb),
            ("khabar validate", r.validate.seconds, r.validate.cpu_seconds, r.validate.peak_mb),
            ("khabar build", r.build.seconds, r.build.cpu_seconds, r.build.peak_mb),
            ("**khabar validate + build**", r.khabar_seconds, r.khabar_cpu_seconds, r.khabar_peak_mb),
            ("converter (CoNLL 2003)", r.converter.seconds, r.converter.cpu_seconds, r.converter.peak_mb),
        ]
        for i, (stage, seconds, cpu, peak) in enumerate(rows):
            head = f"| {r.counts.span_results:,} | {r.counts.tasks:,} | {r.export_mb:,.0f} |" if i == 0 else "| | | |"
            lines.append(f"{head} {stage} | {seconds:.2f} | {cpu:.2f} | {peak:,.0f} |")
    lines += [
        "",
        "| span results | khabar/floor time (CPU) | khabar/floor peak | converter/khabar time (CPU) | khabar time growth | floor time growth |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    previous = None
    for r in results:
        if previous is None:
            growth = floor_growth = "–"
        else:
            size_ratio = r.counts.span_results / previous.counts.span_results
            growth = _growth(r.khabar_seconds / previous.khabar_seconds, size_ratio)
            floor_growth = _growth(r.floor.seconds / previous.floor.seconds, size_ratio)
        lines.append(
            f"| {r.counts.span_results:,} | {r.khabar_seconds / r.floor.seconds:.2f}× ({r.khabar_cpu_seconds / r.floor.cpu_seconds:.2f}×) "
            f"| {r.khabar_peak_mb / r.floor.peak_mb:.2f}× "
            f"| {r.converter.seconds / r.khabar_seconds:.2f}× ({r.converter.cpu_seconds / r.khabar_cpu_seconds:.2f}×) | {growth} | {floor_growth} |"
        )
        previous = r
    return "\n".join(lines)


def _growth(time_ratio: float, size_ratio: float) -> str:
    """Time ratio between sizes and its exponent: 1.0 is linear, below 1 is better than linear."""
    return f"{time_ratio:.1f}× (n^{math.log(time_ratio) / math.log(size_ratio):.2f})"


def verdict(results: list[SizeResult]) -> list[str]:
    """The issue's targets, checked at the largest size."""
    r = max(results, key=lambda x: x.counts.span_results)
    lines = [
        f"targets at {r.counts.span_results:,} span results:",
        _target("validate + build within 3× the floor's time", r.khabar_seconds <= TIME_TARGET * r.floor.seconds,
                f"{r.khabar_seconds:.1f} s vs {TIME_TARGET * r.floor.seconds:.1f} s"),
        _target("validate + build within 1.5× the floor's peak memory", r.khabar_peak_mb <= MEMORY_TARGET * r.floor.peak_mb,
                f"{r.khabar_peak_mb:,.0f} MB vs {MEMORY_TARGET * r.floor.peak_mb:,.0f} MB"),
        _target("validate + build faster than the converter", r.khabar_seconds < r.converter.seconds,
                f"{r.khabar_seconds:.1f} s vs {r.converter.seconds:.1f} s"),
    ]
    ordered = sorted(results, key=lambda x: x.counts.span_results)
    for small, large in zip(ordered, ordered[1:]):
        exponent = math.log(large.khabar_seconds / small.khabar_seconds) / math.log(large.counts.span_results / small.counts.span_results)
        lines.append(_target(f"growth {small.counts.span_results:,} → {large.counts.span_results:,} no worse than linear", exponent <= 1.05, f"n^{exponent:.2f}"))
    return lines


def _target(name: str, met: bool, detail: str) -> str:
    return f"  {'met   ' if met else 'MISSED'}  {name}: {detail}"


def environment() -> str:
    """What the figures depend on: code version, machine, and how busy it was."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "khabar", "annotation", "dataset"], capture_output=True, text=True, cwd=REPO_ROOT).stdout
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"commit {commit}{' (with uncommitted changes)' if dirty.strip() else ''}; Python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs; load average {load} when the run ended"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="comma-separated span-result counts (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the exports and outputs (default: a temporary folder, removed afterwards)")
    parser.add_argument("--json", type=Path, help="also write the measures as JSON to this file")
    args = parser.parse_args(argv)
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    temporary = None if args.work else tempfile.TemporaryDirectory(prefix="khabar-bench-")
    work = args.work or Path(temporary.name)
    handler = configure_logging("bench")
    try:
        results = [run_size(size, args.seed, work / f"size-{size}") for size in sizes]
    except StageFailed as exc:
        handler.close()
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    finally:
        handler.close()
        if temporary is not None:
            temporary.cleanup()
    print(environment())
    print()
    print(table(results))
    print()
    print("\n".join(verdict(results)))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "counts": asdict(r.counts)} for r in results], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
