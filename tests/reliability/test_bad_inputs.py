"""Every case of ``bad_inputs/`` through the real ``khabar`` command.

Each case (see ``make_bad_inputs.py`` for how they were written) must give its
documented exit status, a message naming the file, task, region and problem,
never a traceback, reconciliation lines that add up where the command prints
them, and must leave the files it was given untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest

from khabar.foundation.paths import repo
from tests.reliability.reliability_support import BAD_INPUTS, SHARED, relabel_card

RECONCILIATION = re.compile(r"read (\d+) = used (\d+) \+ excluded (\d+)")
ENTRY_POINTS = ("ingest", "validate", "build", "publish", "pull", "push")


def load_cases() -> list[tuple[str, dict]]:
    return [(folder.name, tomllib.loads((folder / "case.toml").read_text(encoding="utf-8")))
            for folder in sorted(BAD_INPUTS.iterdir()) if (folder / "case.toml").is_file()]


CASES = load_cases()


def params():
    for name, spec in CASES:
        marks = []
        if spec.get("studio"):
            marks.append(pytest.mark.studio)
        yield pytest.param(name, spec, id=name, marks=marks)


def test_the_corpus_covers_every_entry_point_with_30_inputs_or_more():
    assert len(CASES) >= 30
    entries = {name.split("-")[0] for name, _ in CASES}
    assert entries == set(ENTRY_POINTS), entries
    for name, spec in CASES:
        assert spec["exit"] in (0, 1, 2) and spec["expect"], name


def generate_huge(path: Path, tasks: int) -> None:
    """``tasks`` copies of the good export's second task; the last is the first task with e1 past the text's end."""
    good = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))
    items = []
    for number in range(1, tasks):
        task = json.loads(json.dumps(good[1]))
        task["id"] = number
        task["annotations"][0]["id"] = 10_000 + number
        items.append(task)
    last = json.loads(json.dumps(good[0]))
    last["id"] = tasks
    last["annotations"][0]["id"] = 10_000 + tasks
    e1 = next(r for r in last["annotations"][0]["result"] if r.get("id") == "e1")
    e1["value"]["end"] = len(last["data"]["text"]) + 10
    items.append(last)
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@pytest.mark.parametrize(("name", "spec"), list(params()))
def test_bad_input(name: str, spec: dict, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, khabar, datasheet_template):
    """One case through the real CLI: its exit status, its one-line message, its outputs, its inputs left
    byte-identical and its reconciliation. One flow on purpose: each check reads what the run before it did."""
    work = tmp_path / "case"
    shutil.copytree(BAD_INPUTS / name, work)
    shared = tmp_path / "shared"
    shutil.copytree(SHARED, shared)
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    values = {"case": str(work), "shared": str(shared), "datasheet": str(datasheet)}
    if spec.get("build"):
        build = request.getfixturevalue("build_copy")
        overlay = work / "overlay"
        if overlay.is_dir():
            shutil.copytree(overlay, build, dirs_exist_ok=True)
        for relative in spec.get("remove", []):
            (build / relative).unlink()
        if spec.get("tamper") == "relabel-card":
            relabel_card(build)
        values["build"] = str(build)
    if spec.get("studio"):
        server = request.getfixturevalue("studio_server")
        values |= {"studio_url": server.url, "studio_token": server.credentials.token, "project": request.getfixturevalue("pull_project")}
    if "derive" in spec:
        derive = spec["derive"]
        text = (repo().root / derive["from"]).read_text(encoding="utf-8")
        old, new = derive["replace"]
        assert old in text, f"{derive['from']} no longer holds {old!r}"
        (work / derive["path"]).write_text(text.replace(old, new), encoding="utf-8")
    if spec.get("generate") == "huge":
        generate_huge(work / "export.json", spec["tasks"])
    for key, value in spec.get("env", {}).items():
        if value:
            monkeypatch.setenv(key, value.format(**values))
        else:
            monkeypatch.delenv(key, raising=False)
    if "hub_endpoint" in spec:
        import huggingface_hub.constants

        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", spec["hub_endpoint"])
    for relative in spec.get("fifos", []):
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(work / relative)
    for link, target in spec.get("symlinks", []):
        (work / link).parent.mkdir(parents=True, exist_ok=True)
        (work / link).symlink_to(target)
    before = {relative: (work / relative).read_bytes() for relative in spec.get("untouched", [])}

    run = khabar(*[arg.format(**values) for arg in spec["argv"]])

    output = run.output
    assert "Traceback" not in output
    assert run.status == spec["exit"], f"{spec['description']}: exit {run.status}, expected {spec['exit']}\n{output}"
    for expected in spec["expect"]:
        assert expected in output, f"{spec['description']}: {expected!r} not in\n{output}"
    if spec["exit"] == 2:
        assert run.err.strip(), "an unusable input is explained on stderr"
    for hidden in spec.get("absent_output", []):
        assert hidden not in output, f"{spec['description']}: {hidden!r} was printed"
    counts = RECONCILIATION.findall(output)
    if name.startswith("validate-") and spec["exit"] != 2:
        assert counts, f"validate prints its reconciliation\n{output}"
    for read, used, excluded in counts:
        assert int(read) == int(used) + int(excluded), output
    for relative, content in before.items():
        assert (work / relative).read_bytes() == content, f"{relative} was changed"
    if "absent_path" in spec:
        assert not (work / spec["absent_path"]).exists(), f"{spec['absent_path']} was written despite the error"
    if "absent_text" in spec:
        lines = (work / spec["absent_text"]["file"]).read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines]
        assert texts
        for character in spec["absent_text"]["strings"]:
            assert not any(character in text for text in texts), f"{character!r} survived in a written text"
