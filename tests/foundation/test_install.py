"""Khabar as a user gets it: a wheel built from the repository, installed into a fresh venv, acting
on a dataset repository somewhere else and never on the place it is installed."""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from khabar import __version__
from khabar.foundation.paths import repo

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def clone_of_the_working_tree(dest: Path) -> Path:
    """The repository's files as git sees them (committed or not, ignored ones left out): what a clone would hold."""
    root = repo().root
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (root / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, dest / name)
    return dest


def tree_state(folder: Path, *, contents: bool) -> dict[str, tuple]:
    """Every file under ``folder``: its sha256 (or, for a large tree, its size and modification time)."""
    state = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            state[path.relative_to(folder).as_posix()] = (hashlib.sha256(path.read_bytes()).hexdigest(),) if contents else (stat.st_size, stat.st_mtime_ns)
    return state


def test_a_wheel_installs_only_khabar_and_builds_a_clone_from_elsewhere(tmp_path):
    """The wheel's RECORD holds one import package, ``khabar``; installed into a fresh venv and run
    from an unrelated folder, ``khabar --root CLONE build`` writes into CLONE/dist/ and nowhere else.

    Speed: installing the dependencies into the fresh venv from the pip cache took 86 s here; instead
    the fresh venv (no pip, no khabar) reaches the project venv's dependencies through a ``.pth``
    line placed after its own site-packages, and takes khabar from the wheel alone (7 s). A line of
    a ``.pth`` file adds a folder to the path without running the ``.pth`` files inside it, so the
    project's editable install of khabar is not active in the fresh venv: the test asserts that
    khabar is imported from the wheel's install.
    """
    clone = clone_of_the_working_tree(tmp_path / "clone")
    wheels = tmp_path / "wheels"
    subprocess.run([*PIP, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(clone)], check=True, capture_output=True, cwd=tmp_path, timeout=300)
    [wheel] = wheels.glob("*.whl")
    assert wheel.name == f"khabar-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        entries = [row[0] for row in csv.reader(archive.read(record).decode().splitlines())]
        top_level = {entry.split("/")[0] for entry in entries}
    assert top_level == {"khabar", f"khabar-{__version__}.dist-info"}, top_level
    assert "khabar/cli.py" in entries and "khabar/dataset/build.py" in entries

    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    fresh_python = fresh / "bin" / "python"
    fresh_site = Path(subprocess.run([fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True).stdout.strip())
    project_site = Path(sysconfig.get_paths()["purelib"])
    (fresh_site / "zz-project-dependencies.pth").write_text(f"{project_site}\n", encoding="utf-8")
    before_install = set(os.listdir(fresh_site))
    subprocess.run([*PIP, "--python", str(fresh_python), "install", "-q", "--no-index", "--no-deps", str(wheel)], check=True, capture_output=True, timeout=300)
    assert set(os.listdir(fresh_site)) - before_install == {"khabar", f"khabar-{__version__}.dist-info"}

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KHABAR_ROOT", "PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "KHABAR_CACHE_DIR": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "hf")}
    where = subprocess.run([fresh_python, "-c", "import khabar; print(khabar.__file__)"], capture_output=True, text=True, check=True, env=env, cwd=elsewhere)
    assert Path(where.stdout.strip()).is_relative_to(fresh_site), where.stdout
    for name in ("annotation", "validation", "dataset"):
        assert not (fresh_site / name).exists() and not (fresh_site / f"{name}.py").exists()

    installed = {"fresh": tree_state(fresh, contents=True), "project": tree_state(project_site, contents=False)}
    khabar = str(fresh / "bin" / "khabar")
    outside = subprocess.run([khabar, "build"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300)
    assert outside.returncode == 2 and "not inside a Khabar dataset repository" in outside.stderr and "Traceback" not in outside.stderr
    built = subprocess.run([khabar, "--root", str(clone), "build"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    release = clone / "dist" / f"khabar-{__version__}"
    assert (release / "MANIFEST.json").is_file() and sorted(release.glob("data/*/*.parquet"))
    checked = subprocess.run([khabar, "--root", str(clone), "validate", "--dataset", str(release)], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=300)
    assert checked.returncode == 0 and "clean" in checked.stdout, checked.stdout + checked.stderr
    assert os.listdir(elsewhere) == []
    assert {"fresh": tree_state(fresh, contents=True), "project": tree_state(project_site, contents=False)} == installed
