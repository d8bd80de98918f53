"""Time and measure the pipeline against the floor and against Label Studio's converter.

For each size (span results in the export's annotations), and for each team
shape asked for (N annotators on every task, ``synth.team``), and for each size
asked for on one line (``--minified``: the news shape as Label Studio's own JSON
export lays it out), it generates a seeded synthetic export
(``benchmarks/synth.py``), then runs, each in its own process:

- stream floor: decode the export with msgspec 200 tasks at a time, append its spans to a
             parquet writer (``benchmarks/floor_stream.py``): the fastest floor;
- floor:     parse the export with ``json``, write its spans to one parquet (``benchmarks/floor.py``);
- build alone: ``khabar build`` on an export validate has not seen (a store of its own, empty):
             validate and build in one command, as the README's first command runs them on a
             fresh clone; its folder must be byte for byte the one of the two commands below;
- validate:  ``khabar validate`` on the export, which keeps its tables for the build;
- build:     ``khabar build`` on the export (into the work folder, never ``dist/``), which
             takes the tables validate kept instead of checking the export again (the run
             fails if it does not);
- converter: ``label_studio_sdk.converter`` to CoNLL 2003 (``benchmarks/peer.py``).

With ``--repeat N`` the six stages run N times in turn (floors, build alone, validate, build,
converter, then again), each round from a clean slate (no kept tables, no build) and reconciled
on its own; a stage's figure is its run of median CPU time, with the highest peak of its runs.

Wall time is measured around each process; CPU seconds (user + system) and
peak memory (maximum resident set size) come from the process's own rusage
(``os.wait4``), started from a small launcher so that its peak is its own (see ``LAUNCHER``). Khabar is validate + build: as two
commands their times add up and the peak is the larger of the two; as one, it is the build alone. Ratios are taken against the fastest floor (by CPU time). The outputs are reconciled
with what the generator wrote (span rows of the floor, spans read by
validation, documents built), so a fast stage that dropped data fails the run.

    python benchmarks/bench_pipeline.py                      # 10k, 100k, 1M
    python benchmarks/bench_pipeline.py --sizes 1000000,3000000 --team 20,40   # and the team shape at 1M
    python benchmarks/bench_pipeline.py --sizes 1000000 --minified 1000000     # and the news shape on one line
    python benchmarks/bench_pipeline.py --sizes 1000000 --repeat 3                # each stage's median of three runs
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from synth import NEWS, Counts, Shape, generate, team  # noqa: E402

from khabar.progress import configure_logging  # noqa: E402

LABELING_CONFIG = REPO_ROOT / "annotation" / "labeling_config.xml"
DATASHEET = REPO_ROOT / "DATASHEET.md"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
#: Span results of the team-shaped exports (2,000 tasks × 20 annotations × 25 results ≈ 1M).
DEFAULT_TEAM_SPANS = 1_000_000
#: Targets of issue 18, at 1M span results and above.
TARGET_FROM = 1_000_000
TIME_TARGET = 3.0  # validate + build, × the fastest floor's CPU seconds
CONVERTER_TARGET = 2.0  # the converter's CPU seconds, × validate + build's
MEMORY_TARGET_MB = 1024  # peak RSS of each command
GROWTH_TARGET = 1.05  # exponent of the CPU time from one size to the next
#: What ``khabar build`` logs when it takes the tables ``khabar validate`` kept (khabar.validation.store).
KEPT_TABLES_USED = "not checked again"
#: Khabar's store (``KHABAR_CACHE_DIR``) in a run's folder: validate keeps its tables there for build; the build alone
#: has one of its own, always empty, so that it validates
CACHE, ALONE_CACHE = "cache", "cache-alone"


@dataclass(frozen=True)
class Measure:
    stage: str
    seconds: float
    cpu_seconds: float  # user + system: less sensitive than wall time to other work on the machine
    peak_mb: float
    stdout: str
    stderr: str
    cpu_runs: tuple[float, ...] = ()  # with --repeat: every run's CPU seconds, in the order they ran


class StageFailed(RuntimeError):
    pass


def khabar_command() -> list[str]:
    script = Path(sys.executable).with_name("khabar")
    return [str(script)] if script.exists() else [sys.executable, "-m", "khabar.cli"]


#: Runs a stage from a small process and writes its wall seconds, exit status and rusage as JSON.
#: Linux counts in a child's ru_maxrss the memory of the process it was forked from, as it stood
#: when the child called exec (exec keeps the larger of the two): forked from this benchmark, which
#: had just generated a team's export in memory, every stage of that shape "peaked" at 668 MB, the
#: converter (137 MB on its own) included. Forked from this launcher, a stage carries ~10 MB of it.
LAUNCHER = """
import json, os, sys, time
report, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as out:
    json.dump({"seconds": time.perf_counter() - started, "status": os.waitstatus_to_exitcode(status),
               "cpu": usage.ru_utime + usage.ru_stime, "peak_kib": usage.ru_maxrss}, out)
"""


def measure(stage: str, command: list[str], work: Path, *, cache: str = CACHE, expect: int = 0, output: bool = True) -> Measure:
    """Run ``command`` in its own process (started by :data:`LAUNCHER`); wall seconds, CPU seconds and its peak RSS.
    ``cache``: the folder (in ``work``) of Khabar's store (:data:`CACHE`); ``expect``: its exit status (any other
    fails the stage); ``output``: whether its stdout and stderr are read back into the measure (else they stay in
    ``work``, as ``<stage>.stdout`` and ``<stage>.stderr``)."""
    out_path, err_path, usage_path = work / f"{stage}.stdout", work / f"{stage}.stderr", work / f"{stage}.usage.json"
    env = {**os.environ, "KHABAR_CACHE_DIR": str(work / cache)}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(usage_path), *command], stdout=out, stderr=err, cwd=REPO_ROOT, env=env, check=True)
    usage = json.loads(usage_path.read_text(encoding="utf-8"))
    if usage["status"] != expect:
        tail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise StageFailed(f"{stage} exited with {usage['status']}: {' '.join(command)}\n{tail}")
    stdout, stderr = (out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")) if output else ("", "")
    # ru_maxrss is in KiB on Linux.
    return Measure(stage, usage["seconds"], usage["cpu"], usage["peak_kib"] / 1024, stdout, stderr)


def typical(runs: list[Measure]) -> Measure:
    """One figure for a stage run several times: the run of median CPU time (the lower of the middle two
    for an even count), with the highest peak of all runs, since a memory target must hold every time."""
    median = sorted(runs, key=lambda m: m.cpu_seconds)[(len(runs) - 1) // 2]
    return replace(median, peak_mb=max(m.peak_mb for m in runs), cpu_runs=tuple(m.cpu_seconds for m in runs))


def one_size_main(
    argv: list[str] | None, doc: str, name: str, run: Callable[..., tuple], table: Callable[..., str],
    options: Callable[[argparse.ArgumentParser], object] | None = None,
) -> int:
    """The command line of a benchmark at one size (``failing.py``, ``commands.py``): ``--spans``, ``--seed`` and
    ``--work`` (a temporary folder, removed afterwards, when none is named), and what ``options`` adds to the parser;
    ``table`` prints what ``run(spans, seed, work, **options)`` measured; a stage that fails or does not reconcile is
    a line on stderr, exit 1."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="span results of the export (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the export and everything made of it (default: a temporary folder, removed afterwards)")
    if options is not None:
        options(parser)
    args = vars(parser.parse_args(argv))
    spans, seed, given_work = args.pop("spans"), args.pop("seed"), args.pop("work")
    temporary = None if given_work else tempfile.TemporaryDirectory(prefix=f"khabar-{name}-")
    work = given_work or Path(temporary.name)
    try:
        measured = run(spans, seed, work, **args)
    except StageFailed as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    finally:
        if temporary is not None:
            temporary.cleanup()
    print(table(*measured))
    return 0


def commands_table(title: str, measures: dict[str, Measure]) -> str:
    """Each command's wall and CPU seconds and peak, and whether the highest peak is within the memory target
    (``commands.py``, ``studio_sync.py``)."""
    rows = [
        title,
        "",
        "| command | wall s | CPU s | peak MB |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {m.seconds:.2f} | {m.cpu_seconds:.2f} | {m.peak_mb:,.0f} |" for name, m in measures.items()),
    ]
    name, highest = max(measures.items(), key=lambda item: item[1].peak_mb)
    rows += ["", f"target: each command's peak within {MEMORY_TARGET_MB:,} MB: {'met' if highest.peak_mb <= MEMORY_TARGET_MB else 'missed'} (highest: {name}, {highest.peak_mb:,.0f} MB)"]
    return "\n".join(rows)


def last_json(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise StageFailed(f"no JSON summary in the output:\n{stdout[-2000:]}")


@dataclass(frozen=True)
class SizeResult:
    target: int
    shape: str  # "news" (one to three annotators per task), "news-minified" (the same on one line) or "team-N"
    counts: Counts
    export_mb: float
    stream_floor: Measure
    floor: Measure
    build_alone: Measure  # khabar build validating the export itself: validate + build in one command
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

    @property
    def fastest_floor(self) -> Measure:
        return min(self.stream_floor, self.floor, key=lambda m: m.cpu_seconds)


def reconcile(result: SizeResult, build: tuple[Path, Path], alone: tuple[Path, Path]) -> list[str]:
    """What each stage wrote, checked against what the generator put in the export; the build alone's folder and
    datasheet (``alone``) against the build's (``build``: its folder and datasheet)."""
    import pyarrow.parquet as pq

    build_dir, datasheet = build
    counts = result.counts
    usable_annotations = counts.annotations - counts.cancelled
    problems = []
    for floor in (result.stream_floor, result.floor):
        floor_rows = last_json(floor.stdout)["span_rows"]
        if floor_rows != counts.span_results:
            problems.append(f"{floor.stage} wrote {floor_rows} span rows, the export holds {counts.span_results}")
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
    if KEPT_TABLES_USED in result.build_alone.stdout + result.build_alone.stderr:
        problems.append("build alone took kept tables instead of validating the export")
    differing = _differing_files(build_dir, alone[0])
    if datasheet.read_bytes() != alone[1].read_bytes():
        differing.append("the datasheet")
    if differing:
        problems.append(f"build alone wrote other bytes than validate, then build: {', '.join(differing[:5])}")
    documents_rows = sum(pq.read_metadata(path).num_rows for path in (build_dir / "data" / "documents").glob("*.parquet"))
    if documents_rows != counts.tasks:
        problems.append(f"build wrote {documents_rows} documents, the export holds {counts.tasks} tasks")
    converted = last_json(result.converter.stdout)["conll_sentences"]
    if converted != usable_annotations:
        problems.append(f"converter wrote {converted} sentences, the export holds {usable_annotations} usable annotations")
    return problems


def _differing_files(one: Path, other: Path) -> list[str]:
    """The files (relative paths) that are in only one of the folders or differ in bytes."""
    def files(folder: Path) -> dict[str, Path]:
        return {path.relative_to(folder).as_posix(): path for path in folder.rglob("*") if path.is_file()}

    mine, theirs = files(one), files(other)
    return sorted(name for name in mine.keys() | theirs.keys() if name not in mine or name not in theirs or mine[name].read_bytes() != theirs[name].read_bytes())


def run_size(target: int, seed: int, work: Path, shape: Shape = NEWS, *, minify: bool = False, repeat: int = 1) -> SizeResult:
    shape_name = ("news" if shape.annotators is None else f"team-{shape.annotators}") + ("-minified" if minify else "")

    def progress(message: str) -> None:  # stderr: plain lines, or a status line on a terminal (khabar.cli)
        logging.getLogger("khabar.bench").info(f"[{shape_name} {target:,}] {message}")

    work.mkdir(parents=True, exist_ok=True)
    export, documents = work / "export.json", work / "documents.jsonl"
    progress("generating the export")
    counts = generate(export, documents, target, seed=seed, shape=shape, minify=minify)
    export_mb = export.stat().st_size / 2**20
    progress(f"{counts.span_results:,} span results in {counts.tasks:,} tasks, {export_mb:,.0f} MB")
    datasheet, build_dir = work / "DATASHEET.md", work / "build"
    alone_datasheet, alone_dir = work / "DATASHEET-alone.md", work / "build-alone"
    python, khabar = sys.executable, khabar_command()
    stages = {
        "stream_floor": [python, str(BENCH_DIR / "floor_stream.py"), str(export), str(work / "floor_stream.parquet")],
        "floor": [python, str(BENCH_DIR / "floor.py"), str(export), str(work / "floor.parquet")],
        "build_alone": [*khabar, "build", "--exports", str(export), "--documents", str(documents), "--out", str(alone_dir), "--datasheet", str(alone_datasheet)],
        "validate": [*khabar, "validate", str(export), "--documents", str(documents), "--format", "json"],
        "build": [*khabar, "build", "--exports", str(export), "--documents", str(documents), "--out", str(build_dir), "--datasheet", str(datasheet)],
        "converter": [python, str(BENCH_DIR / "peer.py"), str(export), str(LABELING_CONFIG), str(work / "conll")],
    }
    rounds: dict[str, list[Measure]] = {stage: [] for stage in stages}
    for round_number in range(1, repeat + 1):
        # every round from the same clean slate: validate keeps its tables anew, build writes a new folder
        for sheet in (datasheet, alone_datasheet):
            shutil.copyfile(DATASHEET, sheet)
        for made in (build_dir, alone_dir, work / "conll", work / CACHE, work / ALONE_CACHE):
            shutil.rmtree(made, ignore_errors=True)
        label = f" (round {round_number} of {repeat})" if repeat > 1 else ""
        measured = {}
        for stage, command in stages.items():
            progress(f"{stage}{label} ...")
            measured[stage] = measure(stage, command, work, cache=ALONE_CACHE if stage == "build_alone" else CACHE)
            rounds[stage].append(measured[stage])
            progress(f"{stage}: {measured[stage].seconds:.1f} s, {measured[stage].peak_mb:,.0f} MB")
        problems = reconcile(SizeResult(target, shape_name, counts, export_mb, **measured), (build_dir, datasheet), (alone_dir, alone_datasheet))
        if problems:
            raise StageFailed("outputs do not reconcile:\n  " + "\n  ".join(problems))
        progress(f"outputs reconcile{label}")
    return SizeResult(target, shape_name, counts, export_mb, **{stage: typical(runs) for stage, runs in rounds.items()})


def table(results: list[SizeResult]) -> str:
    """Two markdown tables: per run and stage, then the ratios to the fastest floor and the growth."""
    lines = [
        "| shape | span results | tasks | export MB | stage | wall s | CPU s | peak MB |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        rows = [
            ("floor (msgspec, streamed)", r.stream_floor),
            ("floor (json)", r.floor),
            ("khabar validate", r.validate),
            ("khabar build", r.build),
            ("**khabar validate + build**", Measure("khabar", r.khabar_seconds, r.khabar_cpu_seconds, r.khabar_peak_mb, "", "")),
            ("**khabar build alone** (validating)", r.build_alone),
            ("converter (CoNLL 2003)", r.converter),
        ]
        for i, (stage, m) in enumerate(rows):
            head = f"| {r.shape} | {r.counts.span_results:,} | {r.counts.tasks:,} | {r.export_mb:,.0f} |" if i == 0 else "| | | | |"
            lines.append(f"{head} {stage} | {m.seconds:.2f} | {m.cpu_seconds:.2f} | {m.peak_mb:,.0f} |")
    lines += [
        "",
        "| shape | span results | khabar/fastest floor CPU (wall) | khabar/fastest floor peak | converter/khabar CPU (wall) | khabar CPU growth | fastest floor CPU growth "
        "| build alone/fastest floor CPU | converter/build alone CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: dict[str, SizeResult] = {}
    for r in results:
        before = previous.get(r.shape)
        if before is None:
            growth = floor_growth = "–"
        else:
            size_ratio = r.counts.span_results / before.counts.span_results
            growth = _growth(r.khabar_cpu_seconds / before.khabar_cpu_seconds, size_ratio)
            floor_growth = _growth(r.fastest_floor.cpu_seconds / before.fastest_floor.cpu_seconds, size_ratio)
        fastest = r.fastest_floor
        lines.append(
            f"| {r.shape} | {r.counts.span_results:,} "
            f"| {r.khabar_cpu_seconds / fastest.cpu_seconds:.2f}× ({r.khabar_seconds / fastest.seconds:.2f}×) "
            f"| {r.khabar_peak_mb / fastest.peak_mb:.2f}× "
            f"| {r.converter.cpu_seconds / r.khabar_cpu_seconds:.2f}× ({r.converter.seconds / r.khabar_seconds:.2f}×) | {growth} | {floor_growth} "
            f"| {r.build_alone.cpu_seconds / fastest.cpu_seconds:.2f}× | {r.converter.cpu_seconds / r.build_alone.cpu_seconds:.2f}× |"
        )
        previous[r.shape] = r
    return "\n".join(lines)


def _growth(time_ratio: float, size_ratio: float) -> str:
    """Time ratio between sizes and its exponent: 1.0 is linear, below 1 is better than linear."""
    return f"{time_ratio:.1f}× (n^{math.log(time_ratio) / math.log(size_ratio):.2f})"


def verdict(results: list[SizeResult]) -> list[str]:
    """The issue's targets, on every run of at least TARGET_FROM span results (else the largest run of its shape)."""
    largest = {shape: max(r.counts.span_results for r in results if r.shape == shape) for shape in {r.shape for r in results}}
    lines = []
    for r in results:
        if r.counts.span_results < min(TARGET_FROM, largest[r.shape]):
            continue
        fastest = r.fastest_floor
        lines += [
            f"targets at {r.counts.span_results:,} span results ({r.shape}):",
            # the time targets for Khabar as two commands, then as one
            *(
                line
                for name, than, cpu in (
                    ("validate + build", "validate + build", r.khabar_cpu_seconds),
                    ("validate + build in one command (build alone)", "the build alone", r.build_alone.cpu_seconds),
                )
                for line in (
                    _target(f"{name} within {TIME_TARGET:g}× the fastest floor's CPU time", cpu <= TIME_TARGET * fastest.cpu_seconds,
                            f"{cpu:.1f} s vs {TIME_TARGET * fastest.cpu_seconds:.1f} s ({fastest.stage})"),
                    _target(f"the converter at least {CONVERTER_TARGET:g}× slower than {than} (CPU)", r.converter.cpu_seconds >= CONVERTER_TARGET * cpu,
                            f"{r.converter.cpu_seconds / cpu:.2f}×"),
                )
            ),
            *(
                _target(f"{m.stage} peak memory within {MEMORY_TARGET_MB:,} MB", m.peak_mb <= MEMORY_TARGET_MB, f"{m.peak_mb:,.0f} MB")
                for m in (r.build_alone, r.validate, r.build)
            ),
        ]
    for shape in dict.fromkeys(r.shape for r in results):
        ordered = sorted((r for r in results if r.shape == shape), key=lambda x: x.counts.span_results)
        for small, large in zip(ordered, ordered[1:]):
            exponent = math.log(large.khabar_cpu_seconds / small.khabar_cpu_seconds) / math.log(large.counts.span_results / small.counts.span_results)
            lines.append(_target(f"{shape}: CPU time growth {small.counts.span_results:,} → {large.counts.span_results:,} within n^{GROWTH_TARGET}", exponent <= GROWTH_TARGET, f"n^{exponent:.2f}"))
    return lines


def _target(name: str, met: bool, detail: str) -> str:
    return f"  {'met   ' if met else 'MISSED'}  {name}: {detail}"


def environment(repeat: int) -> str:
    """What the figures depend on: code version, machine, how busy it was, and how many runs each figure summarises."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "khabar", "annotation", "dataset"], capture_output=True, text=True, cwd=REPO_ROOT).stdout
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"commit {commit}{' (with uncommitted changes)' if dirty.strip() else ''}; Python {sys.version.split()[0]}; "
        f"{os.cpu_count()} CPUs; load average {load} when the run ended"
        + (f"; each stage run {repeat} times in turn: its run of median CPU time, the highest peak of its runs" if repeat > 1 else "")
    )


def raw_measures(result: SizeResult) -> dict:
    """A run's measures for ``--json``, without the stages' outputs: those stay in the work folder
    (``<stage>.stdout``): validate's JSON reports (26 MB at 1M news) made the file of round 26's six runs 395 MB."""
    raw = asdict(result)
    for value in raw.values():
        if isinstance(value, dict):
            value.pop("stdout", None)
            value.pop("stderr", None)
    return raw


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES), help="comma-separated span-result counts (default: %(default)s)")
    parser.add_argument("--team", default="", help="comma-separated annotators per task: also run the team shape with each (e.g. 20,40)")
    parser.add_argument("--team-spans", type=int, default=DEFAULT_TEAM_SPANS, help="span results of the team-shaped exports (default: %(default)s)")
    parser.add_argument("--minified", default="", help="comma-separated span-result counts: also run the news shape at each, its export on one line as Label Studio's JSON export writes it")
    parser.add_argument("--repeat", type=_positive, default=1, help="run every stage this many times in turn and report each stage's run of median CPU time (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="folder for the exports and outputs (default: a temporary folder, removed afterwards)")
    parser.add_argument("--json", type=Path, help="also write the measures as JSON to this file")
    args = parser.parse_args(argv)
    sizes = [int(size.replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    teams = [int(n) for n in args.team.split(",") if n.strip()]
    minified = [int(size.replace("_", "")) for size in args.minified.split(",") if size.strip()]
    runs = (
        [(size, NEWS, f"size-{size}", False) for size in sizes]
        + [(size, NEWS, f"size-{size}-minified", True) for size in minified]
        + [(args.team_spans, team(n), f"team-{n}-{args.team_spans}", False) for n in teams]
    )
    temporary = None if args.work else tempfile.TemporaryDirectory(prefix="khabar-bench-")
    work = args.work or Path(temporary.name)
    handler = configure_logging("bench")
    try:
        results = [run_size(size, args.seed, work / folder, shape, minify=minify, repeat=args.repeat) for size, shape, folder, minify in runs]
    except StageFailed as exc:
        handler.close()
        print(f"bench_pipeline: {exc}", file=sys.stderr)
        return 1
    finally:
        handler.close()
        if temporary is not None:
            temporary.cleanup()
    print(environment(args.repeat))
    print()
    print(table(results))
    print()
    print("\n".join(verdict(results)))
    if args.json:
        args.json.write_text(json.dumps([raw_measures(r) for r in results], indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
