"""What ``khabar build`` imports: not ``datasets`` (its import, with the pandas it pulls in, was 0.3–0.5 s CPU of every build)."""

from __future__ import annotations

import shutil
from pathlib import Path

from khabar.foundation.paths import repo
from tests.cli_support import run_python


def test_the_build_does_not_import_datasets(tmp_path: Path) -> None:
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(repo().datasheet_file, datasheet)
    out = tmp_path / "build"
    code = (
        "import sys\n"
        "from khabar.cli import main\n"
        f"status = main(['build', '--out', {str(out)!r}, '--datasheet', {str(datasheet)!r}])\n"
        "print(status, 'datasets' in sys.modules)\n"
    )
    assert run_python(code).splitlines()[-1] == "0 False"
    assert sorted(p.name for p in (out / "data").iterdir()) == ["documents", "quotes", "tokens"]
