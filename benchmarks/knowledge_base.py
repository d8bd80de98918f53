"""The commands on a repository's own exports, whose knowledge base is checked: memory at one size.

Every other benchmark reads exports outside the repository, where the knowledge base (``annotation/kb/``)
does not describe them and is not checked. This makes a dataset repository in ``--work`` (a copy of this
one's ``annotation/``, ``dataset/`` and DATASHEET.md) whose committed export and corpus are the news export
of ``benchmarks/synth.py``, writes it a base covering its gold (every linkable mention linked to ``-``, every
CONTENT its own quote cluster; the copy's entries kept), and runs, each in its own process with ``--root``
(``bench_pipeline.measure``): ``build`` on an empty cache (validating the exports itself), ``validate``,
``build`` again (from the tables validate kept), ``link propose``, ``link clusters`` and ``train`` (the entity
model, on the Wojood sample and the gold: past its budget of tokens, a sample of them).

Every run reconciles: each command exits 0 (the base is complete, so a check that lost a row fails the
run); the two builds are the same files; ``link propose`` finds every linkable mention reviewed and
``link clusters`` every CONTENT clustered, as many as the base holds; ``train``'s model says it read every
sentence it names, learnt from as many as it says and no more tokens than its budget, and counts every entity
as usable or lost. ``--train-tokens N`` gives ``train`` a budget of N tokens instead of its own (the tests' small
run: CRFsuite on the whole budget is most of its time).

    python benchmarks/knowledge_base.py --spans 1000000 --work /tmp/khabar-kb
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_pipeline import REPO_ROOT, Measure, StageFailed, commands_table, khabar_command, measure, one_size_main  # noqa: E402
from synth import generate  # noqa: E402

#: what a dataset repository holds for validate, build and link (as the tests' `repo_copy` copies it)
REPOSITORY_PARTS = ("annotation", "dataset", "DATASHEET.md")


def dataset_repository(work: Path, spans: int, seed: int) -> tuple[Path, int]:
    """A copy of the repository's dataset files in ``work/repo`` whose committed export and corpus are a
    synthetic news export of ``spans`` span results (the copy's own export files removed); its span results."""
    root = work / "repo"
    for part in REPOSITORY_PARTS:
        if (REPO_ROOT / part).is_dir():
            shutil.copytree(REPO_ROOT / part, root / part)
        else:
            shutil.copyfile(REPO_ROOT / part, root / part)
    exports = root / "annotation" / "exports"
    shutil.rmtree(exports)
    exports.mkdir()
    made = generate(exports / "khabar.json", root / "annotation" / "corpus" / "documents.jsonl", spans, seed=seed)
    return root, made.span_results


def write_covering_base(root: Path) -> tuple[int, int]:
    """A base that covers the gold of ``root``'s committed exports: a ``-`` link for every linkable mention,
    a cluster of its own for every CONTENT, no ambiguous source; the entries left as they are. The number of
    links and of clusters written."""
    import polars as pl

    from khabar.foundation.paths import use_root
    from khabar.kb import files
    from khabar.kb.files import NOT_IN_BASE, AmbiguousSource, Cluster, Link
    from khabar.kb.mentions import LINK_KEY, SPAN_KEY, committed_gold

    use_root(root)
    try:
        _, mentions, contents = committed_gold()
        files.write(Link, mentions.select(*LINK_KEY, entity_id=pl.lit(NOT_IN_BASE)), files.read_to_replace(Link)[1])  # the copy's, replaced
        numbers = pl.int_range(1, contents.height + 1, eager=True).cast(pl.String).str.zfill(6)
        files.write(Cluster, contents.select(*SPAN_KEY).with_columns(cluster_id="qc-" + numbers), files.read_to_replace(Cluster)[1])
        files.write(AmbiguousSource, [], files.read_to_replace(AmbiguousSource)[1])
    finally:
        use_root(None)
    return mentions.height, contents.height


def run(spans: int, seed: int, work: Path, train_tokens: int | None = None) -> tuple[int, dict[str, Measure]]:
    """The export's span results, and each command's measure (by the command's name); ``train_tokens``: train's
    budget, when not its own."""
    work.mkdir(parents=True, exist_ok=True)
    root, spans = dataset_repository(work, spans, seed)
    links, clusters = write_covering_base(root)
    khabar = [*khabar_command(), "--root", str(root)]
    commands = {
        "build": ["build", "--out", str(work / "build")],
        "validate": ["validate", "--format", "json"],
        "build after validate": ["build", "--out", str(work / "build-kept")],
        "link propose": ["link", "propose"],
        "link clusters": ["link", "clusters"],
        "train": ["train", *(["--max-tokens", str(train_tokens)] if train_tokens is not None else [])],
    }
    measures = {name: measure(re.sub(r"\W+", "-", name).strip("-"), [*khabar, *arguments], work) for name, arguments in commands.items()}
    problems = reconcile(work, measures, links, clusters) + reconcile_model(root, measures["train"].stdout)
    if problems:
        raise StageFailed("outputs do not reconcile:\n  " + "\n  ".join(problems))
    return spans, measures


def reconcile(work: Path, measured: dict[str, Measure], links: int, clusters: int) -> list[str]:
    """What the commands' outputs disagree on (nothing when they reconcile)."""
    problems = []
    built, kept = ({path.relative_to(folder): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()} for folder in (work / "build", work / "build-kept"))
    if built != kept:
        problems.append(f"the build from the kept tables differs in {sorted(str(p) for p in built.keys() | kept.keys() if built.get(p) != kept.get(p))}")
    if f"{links} linkable mention(s): reviewed {links}," not in measured["link propose"].stdout:
        problems.append(f"link propose does not find the base's {links} links reviewed: {measured['link propose'].stdout.splitlines()[:1]}")
    if f"{clusters} CONTENT span(s), {clusters} clustered, 0 new row(s)" not in measured["link clusters"].stdout:
        problems.append(f"link clusters does not find the base's {clusters} clusters: {measured['link clusters'].stdout.splitlines()[:1]}")
    return problems


def reconcile_model(root: Path, stdout: str) -> list[str]:
    """What ``khabar train``'s model and its output disagree on."""
    from khabar.model.train import current_model_dir, read_info

    info = read_info(current_model_dir(root))
    said = re.search(r"training on (\d+) of (\d+) sentences, (\d+) tokens", stdout)
    problems = []
    if said is None or tuple(map(int, said.groups())) != (sum(info.learnt.values()), sum(info.sources.values()), info.tokens):
        problems.append(f"train's model ({sum(info.learnt.values())} of {sum(info.sources.values())} sentences, {info.tokens} tokens) is not what it said: {stdout.splitlines()[:1]}")
    if info.tokens > info.config.max_tokens:
        problems.append(f"train learnt from {info.tokens} tokens, more than its budget of {info.config.max_tokens}")
    if info.entities != info.kept + sum(info.lost.values()):
        problems.append(f"train's entities do not add up: {info.entities} read, {info.kept} usable, {info.lost} lost")
    return problems


def table(spans: int, measures: dict[str, Measure]) -> str:
    return commands_table(f"the commands on a repository's own export of {spans:,} span results (news), its knowledge base checked", measures)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-tokens", type=int, metavar="N", help="train's budget of tokens (default: its own, khabar train --max-tokens)")


def main(argv: list[str] | None = None) -> int:
    return one_size_main(argv, __doc__ or "", "knowledge-base", run, table, options)


if __name__ == "__main__":
    sys.exit(main())
