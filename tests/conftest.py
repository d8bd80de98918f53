"""Session-wide fixtures shared by every test folder.

``khabar`` runs the real command in this process (:func:`khabar.cli.main`) and
returns a :class:`tests.cli_support.CliRun`; it is the one such fixture of the suite
(a session fixture, which cannot take it, calls :func:`tests.cli_support.run_khabar`).

``studio_server`` starts ONE real Label Studio for the whole pytest session
with the same code as ``khabar studio up`` (:func:`khabar.studio.server.start_server`):
a temporary studio folder, 127.0.0.1, a free port, legacy token enabled and
sign-up closed. It is started the first time a test asks for it and stopped
with SIGTERM at the end. Tests that use it are marked ``studio``; each test
works in its own project (:func:`studio_project_title`) so the order of tests
does not matter.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from khabar.foundation.paths import use_root
from khabar.studio.server import Credentials, StudioPaths, free_port, read_credentials, start_server, stop_server
from tests.browser_support import CHROMIUM
from tests.cli_support import CliRun, run_khabar

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


@dataclass(frozen=True)
class StudioServer:
    paths: StudioPaths
    url: str
    credentials: Credentials = field(repr=False)
    #: what start_server printed while starting, and how long it took
    startup_output: tuple[str, ...]
    startup_seconds: float

    def client(self) -> LabelStudio:
        from khabar.studio.connection import Target, connect

        return connect(Target(url=self.url, api_key=self.credentials.token))


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioServer]:
    paths = StudioPaths(tmp_path_factory.mktemp("studio"))
    output: list[str] = []
    started = time.monotonic()
    running = start_server(paths, free_port(), progress=output.append)
    elapsed = time.monotonic() - started
    credentials = read_credentials(paths)
    assert credentials is not None
    try:
        yield StudioServer(
            paths=paths, url=running.url, credentials=credentials, startup_output=tuple(output), startup_seconds=elapsed
        )
    finally:
        stop_server(paths, progress=lambda _line: None)


@pytest.fixture(scope="session", autouse=True)
def khabar_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where ``khabar validate`` keeps its tables for the build (:mod:`khabar.validation.store`):
    a folder of this session, never the user's own cache. Subprocesses inherit it."""
    folder = tmp_path_factory.mktemp("khabar-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("KHABAR_CACHE_DIR", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium for the browser tests, installed with apt-get when missing (about 30 s)."""
    if not CHROMIUM.exists():
        if shutil.which("apt-get") is None or os.geteuid() != 0:
            pytest.fail(f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, env=env, capture_output=True)
    assert CHROMIUM.exists()
    return CHROMIUM


_project_numbers = itertools.count(1)


@pytest.fixture
def studio_project_title(request: pytest.FixtureRequest) -> str:
    """A project title no other test uses in this session."""
    return f"{request.node.name[:40]}-{next(_project_numbers)}"


@pytest.fixture
def khabar(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., CliRun]]:
    """``khabar ARGS`` through the real entry point, in this process (:func:`tests.cli_support.run_khabar`).

    An exception escaping ``main`` is what a user would see as a traceback, so it
    fails the test with that traceback, and so does a traceback printed. ``--root``
    is process-wide: it is reset after the test, so later tests find the repository again.
    """

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        status = run_khabar(*args)
        captured = capsys.readouterr()
        assert "Traceback" not in captured.out + captured.err
        return CliRun(status, captured.out, captured.err)

    yield run
    use_root(None)


#: what a dataset repository needs for link, validate and build
REPOSITORY_PARTS = ("annotation", "dataset", "DATASHEET.md")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of this repository's dataset files, to change without touching the committed ones."""
    from khabar.foundation.paths import repo

    source = repo().root
    copy = tmp_path / "repo"
    for part in REPOSITORY_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, copy / part)
        else:
            copy.mkdir(exist_ok=True)
            shutil.copyfile(source / part, copy / part)
    yield copy
    use_root(None)  # main() chose the copy for this process; later tests act on the repository again


@pytest.fixture
def sigterm_restored() -> Iterator[None]:
    """main() makes SIGTERM an exception; the test process gets its own handler back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[int]]:
    """``small_ranges(n)``: from then on the gold is adjudicated a range of at most ``n`` documents at a time
    (``khabar.gold.adjudicate.adjudicated_ranges``, which every reader of the gold goes through). The list it returns
    fills with the number of documents of each range adjudicated, so that a test also sees the ranges were used."""
    from khabar.gold import adjudicate as adjudicate_module

    adjudicated: list[int] = []
    at_once = adjudicate_module.adjudicate

    def counted(part):
        adjudicated.append(part.documents.height)
        return at_once(part)

    monkeypatch.setattr(adjudicate_module, "adjudicate", counted)

    def use(documents: int) -> list[int]:
        monkeypatch.setattr(adjudicate_module, "RANGE_DOCUMENTS", documents)
        adjudicated.clear()
        return adjudicated

    return use
