"""`khabar studio pull` and `push` against a real Label Studio, at one size.

Generates the news export of ``benchmarks/synth.py``, starts a throw-away Label Studio (the pinned
one, on 127.0.0.1, in the work folder; or, with ``--url``, uses a running one, its token from
``LABEL_STUDIO_API_KEY``, as a team's server), makes a project (``--project``, a title no project of the
server has) with the repository's labeling config and
imports the export's tasks with their annotations into it (Label Studio's own import, 200 tasks a
request; each pseudonym becomes a placeholder user, as ``khabar studio push`` makes them). Then it
runs, each in its own process (``bench_pipeline.measure``: CPU seconds and peak resident memory from
the process's own rusage): a first ``khabar studio pull`` into a new file, a second one into the
file the first wrote (the server unchanged: the whole three-way comparison, nothing to write), and
a ``khabar studio push`` of that file back into the project (its checks, ``khabar validate``'s
among them, and the comparison: every annotation is already there, nothing is sent).

Every run reconciles: the pulled file holds every task, annotation and span result imported, each
annotation under its annotator's pseudonym, the second pull leaves the file byte-identical, and the
push finds every annotation present.

    python benchmarks/studio_sync.py --spans 300000 --work /tmp/khabar-studio
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_pipeline import Measure, StageFailed, commands_table, khabar_command, measure, one_size_main  # noqa: E402
from synth import generate  # noqa: E402

from khabar.foundation.paths import repo  # noqa: E402
from khabar.studio.connection import API_KEY_VARIABLE, Target, connect  # noqa: E402
from khabar.studio.export import ensure_user, placeholder_email  # noqa: E402
from khabar.studio.server import StudioPaths, free_port, read_credentials, start_server, stop_server  # noqa: E402

PROJECT = "bench-studio"
#: tasks per import request (a request of every task at 300k span results took Label Studio minutes to refuse)
IMPORT_BATCH = 200
_ANNOTATION_FIELDS = ("result", "lead_time", "was_cancelled", "ground_truth")


def tasks_of(export: Path) -> list[dict]:
    return json.loads(export.read_text(encoding="utf-8"))


def span_results(tasks: list[dict]) -> Counter[str]:
    """Span results by annotator pseudonym."""
    return Counter(
        annotation["completed_by"]["pseudonym"]
        for task in tasks
        for annotation in task["annotations"]
        for item in annotation["result"]
        if item.get("type") == "labels"
    )


def load_project(url: str, token: str, title: str, tasks: list[dict]) -> None:
    """The project, its tasks with their annotations by placeholder users of their pseudonyms."""
    from label_studio_sdk.types import ImportApiRequest

    client = connect(Target(url=url, api_key=token))
    project = client.projects.create(title=title, label_config=repo().labeling_config.read_text(encoding="utf-8"))
    assert project.id is not None
    users: dict[str, int] = {}
    pseudonyms = sorted({a["completed_by"]["pseudonym"] for t in tasks for a in t["annotations"]})
    ids = {p: ensure_user(client, placeholder_email(p), username=p, known=users) for p in pseudonyms}
    for start in range(0, len(tasks), IMPORT_BATCH):
        batch = [
            ImportApiRequest(
                data=task["data"],
                annotations=[{**{k: a[k] for k in _ANNOTATION_FIELDS}, "completed_by": ids[a["completed_by"]["pseudonym"]]} for a in task["annotations"]],
            )
            for task in tasks[start : start + IMPORT_BATCH]
        ]
        client.projects.import_tasks(id=project.id, request=batch)


@contextmanager
def label_studio(work: Path, url: str | None) -> Iterator[tuple[str, str]]:
    """The URL and API token of the Label Studio to measure against: the running one at ``url`` (its token from the
    environment), or one started in ``work`` and stopped afterwards."""
    if url is not None:
        token = os.environ.get(API_KEY_VARIABLE)
        if not token:
            raise StageFailed(f"--url needs the server's API token in {API_KEY_VARIABLE}")
        yield url, token
        return
    paths = StudioPaths(work / "studio")
    server = start_server(paths, free_port(), progress=lambda _line: None)
    try:
        credentials = read_credentials(paths)
        assert credentials is not None
        yield server.url, credentials.token
    finally:
        stop_server(paths, progress=lambda _line: None)


def run(spans: int, seed: int, work: Path, url: str | None = None, project: str = PROJECT) -> tuple[int, dict[str, Measure]]:
    work.mkdir(parents=True, exist_ok=True)
    export, documents, pulled = work / "export.json", work / "documents.jsonl", work / "pulled.json"
    spans = generate(export, documents, spans, seed=seed).span_results
    tasks = tasks_of(export)
    with label_studio(work, url) as (server, token):
        load_project(server, token, project, tasks)
        os.environ[API_KEY_VARIABLE] = token
        command = [*khabar_command(), "studio", "pull", "--url", server, "--project", project, "--out", str(pulled), "--studio-dir", str(work / "local")]
        measures = {"studio pull (new file)": measure("pull-new", command, work)}
        first = hashlib.sha256(pulled.read_bytes()).hexdigest()
        measures["studio pull (into it)"] = measure("pull-again", command, work)
        problems = reconcile(tasks, tasks_of(pulled))
        if hashlib.sha256(pulled.read_bytes()).hexdigest() != first:
            problems.append("the second pull, with nothing new on the server, changed the file")
        push = [*khabar_command(), "studio", "push", "--url", server, "--project", project, "--file", str(pulled), "--documents", str(documents), "--studio-dir", str(work / "local")]
        measures["studio push (nothing to send)"] = measure("push", push, work)
        annotations = sum(len(t["annotations"]) for t in tasks)
        if f"0 annotation(s) created, 0 updated, 0 deleted, {annotations} already the same" not in measures["studio push (nothing to send)"].stderr:
            problems.append(f"the push of the pulled file did not find its {annotations} annotation(s) present")
    if problems:
        raise StageFailed("outputs do not reconcile:\n  " + "\n  ".join(problems))
    return spans, measures


def reconcile(imported: list[dict], pulled: list[dict]) -> list[str]:
    problems = []
    if len(pulled) != len(imported):
        problems.append(f"{len(pulled)} task(s) pulled of {len(imported)} imported")
    count = sum(len(t["annotations"]) for t in imported)
    if (got := sum(len(t["annotations"]) for t in pulled)) != count:
        problems.append(f"{got} annotation(s) pulled of {count} imported")
    if (mine := span_results(pulled)) != (theirs := span_results(imported)):
        problems.append(f"span results by annotator differ: pulled {sum(mine.values())}, imported {sum(theirs.values())}")
    return problems


def table(spans: int, measures: dict[str, Measure]) -> str:
    return commands_table(f"khabar studio pull and push with a Label Studio project of {spans:,} span results (news)", measures)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help=f"a running Label Studio to use (its API token in {API_KEY_VARIABLE}) instead of starting one")
    parser.add_argument("--project", default=PROJECT, help="the title of the project the benchmark makes (default: %(default)s)")


def main(argv: list[str] | None = None) -> int:
    return one_size_main(argv, __doc__ or "", "studio-sync", run, table, options)


if __name__ == "__main__":
    sys.exit(main())
