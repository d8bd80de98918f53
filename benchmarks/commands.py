"""The other commands' memory: every command that reads a build, an export or a CoNLL file, at one size.

``bench_pipeline.py`` measures validate and build; issue 18's memory target is for each command. This
generates the news export of ``benchmarks/synth.py``, builds it, and runs each of these in its own
process (``bench_pipeline.measure``: CPU seconds and peak resident memory from the process's own rusage):
``validate --dataset`` of the build, ``diff`` of the build against itself (every span and token
compared), ``export`` in every format, ``stats`` of the export, and ``import-conll`` of the CoNLL
export's largest split (the train split). ``khabar predict`` is not run: it needs a trained model in the repository.

Every run reconciles: each command exits 0; the build checks clean; the diff finds no difference;
``stats`` counts every span of the build's ``documents`` config; ``import-conll`` keeps every token
of the CoNLL file.

    python benchmarks/commands.py --spans 1000000 --work /tmp/khabar-commands
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_pipeline import DATASHEET, Measure, StageFailed, commands_table, khabar_command, measure, one_size_main  # noqa: E402
from synth import generate  # noqa: E402

from khabar.annotation.scheme import load_scheme  # noqa: E402
from khabar.dataset.export import FORMATS  # noqa: E402
from khabar.dataset.features import column_of  # noqa: E402


def build_spans(build: Path) -> int:
    """The spans of every layer in the build's ``documents`` config."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = [column_of(layer) for layer in load_scheme().layer_names]
    return sum(
        int(pc.sum(pc.list_value_length(table.column(column))).as_py() or 0)  # type: ignore[attr-defined]
        for path in sorted((build / "data" / "documents").glob("*.parquet"))
        for table in [pq.read_table(path, columns=columns)]
        for column in columns
    )


def largest_split(folder: Path) -> Path:
    """The CoNLL export's largest file (the train split, but at a tiny size)."""
    return max(sorted(folder.glob("*.txt")), key=lambda path: path.stat().st_size)


def conll_tokens(path: Path) -> int:
    """The token lines of a CoNLL file (a blank line ends a sentence)."""
    with path.open(encoding="utf-8") as lines:
        return sum(1 for line in lines if line.strip())


def run(spans: int, seed: int, work: Path) -> tuple[int, dict[str, Measure]]:
    """The export's span results, and each command's measure (by the command's name)."""
    work.mkdir(parents=True, exist_ok=True)
    export, documents, build, datasheet = work / "export.json", work / "documents.jsonl", work / "build", work / "DATASHEET.md"
    spans = generate(export, documents, spans, seed=seed).span_results
    shutil.copyfile(DATASHEET, datasheet)  # the repository's datasheet is never touched
    khabar = khabar_command()
    commands = {
        "build": ["build", "--exports", str(export), "--documents", str(documents), "--out", str(build), "--datasheet", str(datasheet)],
        "validate --dataset": ["validate", "--dataset", str(build)],
        "diff": ["diff", str(build), str(build), "--json"],
        **{f"export {fmt}": ["export", str(build), "--format", fmt, "--out", str(work / f"export-{fmt}")] for fmt in FORMATS},
        "stats": ["stats", "--exports", str(export), "--documents", str(documents), "--json"],
    }
    # each command's output files are named after it, with no space or dash in front
    measures = {name: measure(re.sub(r"\W+", "-", name).strip("-"), [*khabar, *arguments], work) for name, arguments in commands.items()}
    conll = largest_split(work / "export-conll")
    measures["import-conll"] = measure("import-conll", [*khabar, "import-conll", str(conll), "--out", str(work / "imported")], work)
    problems = reconcile(build, conll, measures)
    if problems:
        raise StageFailed("outputs do not reconcile:\n  " + "\n  ".join(problems))
    return spans, measures


def reconcile(build: Path, conll: Path, measured: dict[str, Measure]) -> list[str]:
    """What the commands' outputs disagree on (nothing when they reconcile)."""
    problems = []
    diff = json.loads(measured["diff"].stdout)
    if any(diff[key] for key in ("documents_added", "documents_removed", "spans_added", "spans_removed", "spans_relabeled", "splits_changed", "tokens_changed")):
        problems.append("the build differs from itself")
    counted = sum(label["spans"] for label in json.loads(measured["stats"].stdout)["labels"])
    if counted != (held := build_spans(build)):
        problems.append(f"stats counts {counted} gold spans, the build holds {held}")
    kept = re.search(r"kept (\d+) tokens", measured["import-conll"].stdout)
    if kept is None or int(kept.group(1)) != (tokens := conll_tokens(conll)):
        problems.append(f"import-conll kept {kept and kept.group(1)} tokens of the CoNLL file's {tokens}")
    return problems


def table(spans: int, measures: dict[str, Measure]) -> str:
    return commands_table(f"every command that reads a build, an export or a CoNLL file, on {spans:,} span results (news)", measures)


def main(argv: list[str] | None = None) -> int:
    return one_size_main(argv, __doc__ or "", "commands", run, table)


if __name__ == "__main__":
    sys.exit(main())
