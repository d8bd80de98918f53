"""The README's commands, as written: CI runs its test command, and its set-up and usage commands
run in a fresh shell in a fresh clone."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from khabar.foundation.paths import repo
from tests.foundation.test_install import clone_of_the_working_tree

README = repo().root / "README.md"
#: Sections whose fenced ``bash`` and ``python`` blocks the fresh-clone test runs, in README order.
RUN = ("Set-up: two commands", "Loading the dataset", "Other formats", "Validating annotations", "Linking entities and statements across outlets", "Releasing", "The corpus")
#: Sections with commands the test does not run, and why.
NOT_RUN = {
    "Annotators: labeling in Label Studio": "needs a Label Studio up and a person at the browser; tests/studio runs each command against a real one",
}
#: Parts of a command line left out, and why. The rest of the line runs.
LEFT_OUT = {
    "python3 -m venv .venv": "the set-up: the clone's .venv is this venv, made by these commands (.ci/run and test_install.py install for real)",
    ".venv/bin/pip install": "the set-up, as above",
    ".venv/bin/python -m pytest": "the test suite this test is part of",
    ".venv/bin/mypy": "the test command's type check: .ci/run runs that very line before this suite (17 s a run from a fresh clone)",
    "HF_TOKEN=": "uploads to the Hub; `publish --dry-run` runs, and tests/dataset/test_olah.py publishes to a stand-in Hub",
}
#: Exit statuses other than 0 that a README line documents.
STATUS = {".venv/bin/khabar validate --strict": 1}


def sections() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.+?)\n```", markdown, flags=re.DOTALL | re.MULTILINE)


def readme_commands() -> list[str]:
    return blocks(README.read_text(encoding="utf-8"), "bash")


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in readme_commands() if "pytest" in c)
    ci_lines = (repo().root / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_lines[-1] == test_command
    assert "ruff check ." in test_command
    assert ".venv/bin/mypy" in test_command  # the configuration, files included, is pyproject.toml's [tool.mypy]


def test_ci_runs_in_a_fresh_clone_and_the_workflow_runs_ci_on_code_changes():
    ci = (repo().root / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r'^git clone .*"\$work/khabar"$', ci, flags=re.MULTILINE) and 'cd "$work/khabar"' in ci
    workflow = yaml.safe_load((repo().root / ".github" / "workflows" / "tests.yml").read_text(encoding="utf-8"))
    for trigger in ("push", "pull_request"):
        assert {"khabar/**", "tests/**", "pyproject.toml"} <= set(workflow[True][trigger]["paths"])
    steps = workflow["jobs"]["tests"]["steps"]
    assert steps[-1]["run"] == ".ci/run"
    for name in ("tests.yml", "validate.yml"):
        text = (repo().root / ".github" / "workflows" / name).read_text(encoding="utf-8")
        majors = {action: int(major) for action, major in re.findall(r"uses: (actions/[\w-]+)@v(\d+)", text)}
        assert majors == {"actions/checkout": 7, "actions/setup-python": 7}, (name, majors)


def test_build_command_needs_no_studio_extra():
    build_command = next(c for c in readme_commands() if "khabar build" in c)
    assert "[studio" not in build_command and "label-studio" not in build_command


def test_every_test_the_readme_cites_exists():
    """Each guarantee names its proof as path::test; the path and the test function must exist."""
    readme = README.read_text(encoding="utf-8")
    cited = re.findall(r"`(tests/[\w/]+\.py)::(\w+)", readme)
    assert len(cited) >= 10
    for path, name in cited:
        source = (repo().root / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, flags=re.MULTILINE), f"README cites {path}::{name}, which does not exist"


def test_no_readme_command_needs_khabar_on_path():
    """After the set-up commands, `khabar` is not on PATH: every command calls .venv/bin/khabar."""
    for block in readme_commands():
        for line in block.splitlines():
            assert not re.search(r"(^|&& |\| |=\S+ )khabar ", line), line


def runnable(line: str) -> str:
    """``line`` without the parts LEFT_OUT says are not run here."""
    kept = [part for part in line.split(" && ") if not part.startswith(tuple(LEFT_OUT))]
    return " && ".join(kept)


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file() and ".venv" not in p.parts and "dist" not in p.parts}


@pytest.mark.slow
def test_readme_commands_run_as_written_in_a_fresh_clone(tmp_path):
    """Every line of every ``bash`` block (and every ``python`` block) of the sections in RUN, in
    order, each in a fresh ``bash`` with only the system PATH (no venv activated, no KHABAR_ROOT), in
    a copy of the working tree whose ``.venv`` is this test's venv. What is not run, and why: NOT_RUN
    and LEFT_OUT. Each line exits 0 (or the status STATUS documents), without a traceback, and the
    committed files of the clone are byte-identical afterwards (the commands write only dist/)."""
    found = sections()
    with_commands = {name for name, text in found.items() if blocks(text, "bash") or blocks(text, "python")}
    assert with_commands == set(RUN) | set(NOT_RUN), "a README section with commands is neither run nor explained"

    clone = clone_of_the_working_tree(tmp_path / "clone")
    (clone / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    committed = file_hashes(clone)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8",
        "KHABAR_CACHE_DIR": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
    }
    ran = []
    for name in RUN:
        for block in blocks(found[name], "bash"):
            for line in block.splitlines():
                command = runnable(line)
                if command:
                    done = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
                    ran.append(command)
                    expected = STATUS.get(command.split("#")[0].strip(), 0)
                    assert done.returncode == expected, f"README line `{line}` exited {done.returncode}:\n{done.stderr[-3000:]}"
                    assert "Traceback" not in done.stderr, line
        for block in blocks(found[name], "python"):
            done = subprocess.run([".venv/bin/python", "-c", block], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
            ran.append(block)
            assert done.returncode == 0, f"README python block in {name!r} failed:\n{done.stderr[-3000:]}"
    assert sum(".venv/bin/khabar" in command for command in ran) >= 15
    assert {c.split()[1] for c in ran if c.startswith(".venv/bin/khabar ")} >= {"validate", "build", "diff", "stats", "publish", "ingest"}
    after = file_hashes(clone)
    assert {path: after.get(path) for path in committed} == committed  # no committed file changed or went
    assert {path.split("/")[0] for path in set(after) - set(committed)} <= {".ruff_cache", ".mypy_cache"}  # besides dist/, only the linters' own caches
    assert (clone / "dist" / f"khabar-{repo().version_file.read_text(encoding='utf-8').strip()}" / "MANIFEST.json").is_file() and os.listdir(clone / "dist")
