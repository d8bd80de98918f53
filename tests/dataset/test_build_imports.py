"""What ``khabar build`` imports: neither ``datasets`` nor pandas (0.6 s CPU of every build), and pandas still usable after."""

from __future__ import annotations

import shutil
from pathlib import Path

from khabar.foundation.paths import repo
from tests.cli_support import run_python


def test_the_build_imports_neither_datasets_nor_pandas(tmp_path: Path) -> None:
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(repo().datasheet_file, datasheet)
    out = tmp_path / "build"
    code = (
        "import sys\n"
        "from khabar.cli import main\n"
        f"status = main(['build', '--out', {str(out)!r}, '--datasheet', {str(datasheet)!r}])\n"
        "print(status, sorted(m for m in ('datasets', 'pandas') if m in sys.modules))\n"
        "import pandas\n"
        "print(pandas.DataFrame({'a': [1, 2]})['a'].sum())\n"
    )
    assert run_python(code).splitlines()[-2:] == ["0 []", "3"]
    assert sorted(p.name for p in (out / "data").iterdir()) == ["documents", "quotes", "tokens"]
