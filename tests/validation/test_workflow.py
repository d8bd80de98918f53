"""The shipped GitHub workflow: its validation step, run here with bash as GitHub runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from khabar.foundation.paths import repo

WORKFLOW = repo().root / ".github" / "workflows" / "validate.yml"


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_runs_on_pull_requests_touching_exports():
    workflow = load()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "annotation/exports/**" in triggers["pull_request"]["paths"]
    install = next(step for step in workflow["jobs"]["validate"]["steps"] if step.get("name") == "Install khabar")
    assert "--constraint .ci/constraints.txt" in install["run"]


def test_validation_step_writes_the_summary(tmp_path):
    step = next(step for step in load()["jobs"]["validate"]["steps"] if step.get("name") == "Validate the exports")
    summary = tmp_path / "summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo().root, env=env, capture_output=True, text=True, timeout=300)
    committed = sorted(repo().exports_dir.glob("*.json"))
    assert done.returncode == 0, done.stdout + done.stderr  # the committed exports validate clean
    assert summary.read_text(encoding="utf-8").startswith("## Khabar validation\n")
    assert done.stdout.splitlines()[-1].startswith("::notice title=khabar validate::")
    if not committed:
        assert "no exports to validate" in done.stdout
