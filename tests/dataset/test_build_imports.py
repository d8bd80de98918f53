"""What ``khabar build`` imports: not ``datasets`` (its import, with the pandas it pulls in, was 0.3–0.5 s CPU of every build),
nor pandas, which pyarrow imports on its first conversion when it can (0.17–0.20 s CPU)."""

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
        "print(status, 'datasets' in sys.modules, 'pandas' in sys.modules)\n"
        # pandas is hidden from the build only: pyarrow imports it afterwards when asked for it
        "import pyarrow\n"
        "print(type(pyarrow.table({'a': [1]}).to_pandas()).__name__)\n"
    )
    assert run_python(code).splitlines()[-2:] == ["0 False False", "DataFrame"]
    assert sorted(p.name for p in (out / "data").iterdir()) == ["documents", "quotes", "tokens"]
