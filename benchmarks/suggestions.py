"""How long a task waits for its suggestions: the ML backend's /predict, and Label Studio opening a task.

    python benchmarks/suggestions.py [--with-studio]

Uses the repository's current model (``khabar train`` first). Starts the ML backend on a free
port and times ``POST /predict`` for every current corpus page, once cold (the first request
loads the model) and then warm. With ``--with-studio`` it also starts a throw-away Label Studio,
connects the backend to a project of these pages and times ``GET /api/tasks/<id>`` (what the
labeling screen asks when a task opens) for each page, which includes Label Studio's own
/health and /setup calls to the backend before /predict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from khabar.annotation.ingest import load_records
from khabar.foundation.paths import repo
from khabar.studio.ml_backend import connect_project, start_backend, stop_backend
from khabar.studio.server import StudioPaths, free_port, start_server, stop_server


def _predict(url: str, text: str) -> float:
    body = json.dumps({"tasks": [{"id": 1, "data": {"text": text}}]}).encode()
    request = urllib.request.Request(f"{url}/predict", data=body, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--with-studio", action="store_true")
    args = parser.parse_args()
    records = [r for r in load_records(repo().documents_file) if r.superseded_by is None]
    with tempfile.TemporaryDirectory(prefix="khabar-bench-") as work:
        studio_dir = Path(work) / "studio"
        backend = start_backend(repo().root, studio_dir, free_port())
        try:
            cold = _predict(backend.url, records[0].text)
            warm = [_predict(backend.url, r.text) for r in records]
            chars = [len(r.text) for r in records]
            print(f"/predict cold (loads the model): {cold:.2f} s")
            print(f"/predict warm: median {statistics.median(warm):.2f} s, max {max(warm):.2f} s over {len(records)} pages of {min(chars)}-{max(chars)} characters")
            if args.with_studio:
                paths = StudioPaths(Path(work) / "ls")
                server = start_server(paths, free_port(), progress=lambda _line: None)
                try:
                    from khabar.studio.connection import Target, connect
                    from khabar.studio.project import project_tasks, sync_project
                    from khabar.studio.server import read_credentials

                    client = connect(Target(url=server.url, api_key=read_credentials(paths).token))
                    config = repo().labeling_config.read_text(encoding="utf-8")
                    project_id = sync_project(client, "bench", config, records, progress=lambda _line: None).project_id
                    connect_project(client, project_id, backend.url)
                    opened, regions = [], []
                    for task in project_tasks(client, project_id):
                        started = time.perf_counter()
                        predictions = client.tasks.get(id=task.id).predictions or []
                        opened.append(time.perf_counter() - started)
                        regions.append(sum(len(p["result"] if isinstance(p, dict) else p.result) for p in predictions))
                    print(f"task opened with suggestions (GET /api/tasks/<id>): median {statistics.median(opened):.2f} s, max {max(opened):.2f} s; "
                          f"suggested regions per task: {regions}")
                finally:
                    stop_server(paths, progress=lambda _line: None)
        finally:
            stop_backend(studio_dir)


if __name__ == "__main__":
    main()
