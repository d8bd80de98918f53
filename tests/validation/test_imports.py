"""What ``khabar validate`` imports: pandera's polars API without pandas, and pandas still usable after."""

from __future__ import annotations

from khabar.foundation import pandera_polars
from tests.cli_support import run_python


def test_the_checks_import_no_pandas_and_pandas_stays_importable() -> None:
    code = (
        "import sys\n"
        "import khabar.kb.check, khabar.validation.api\n"
        f"print(sorted(m for m in {pandera_polars.HIDDEN!r} if m in sys.modules))\n"
        "import pandas\n"
        "print(pandas.DataFrame({'a': [1, 2]})['a'].sum())\n"
    )
    assert run_python(code).splitlines() == ["[]", "3"]


def test_pandera_still_checks_polars_frames_without_pandas() -> None:
    code = (
        "import sys, polars as pl\n"
        "from khabar.foundation.tables import AnnotationsTable\n"
        "from khabar.foundation.pandera_polars import SchemaErrors\n"
        "try:\n"
        "    AnnotationsTable.validate(pl.DataFrame({'annotation_id': ['x']}), lazy=True)\n"
        "except SchemaErrors as exc:\n"
        "    print('refused', sorted(m for m in ('pandas', 'hypothesis') if m in sys.modules))\n"
    )
    assert run_python(code) == "refused []"


def test_column_checks_on_polars_frames_import_no_pandas() -> None:
    """A first column check registers pandera's check backends, which asked for pandas' own once."""
    code = (
        "import sys, polars as pl\n"
        "from khabar.foundation.pandera_polars import SchemaErrors, pa\n"
        "class Model(pa.DataFrameModel):\n"
        "    x: int = pa.Field(ge=0)\n"
        "print(Model.validate(pl.DataFrame({'x': [1, 2]})).height)\n"
        "try:\n"
        "    Model.validate(pl.DataFrame({'x': [1, -1]}), lazy=True)\n"
        "except SchemaErrors as exc:\n"
        "    print(exc.failure_cases['failure_case'].to_list(), 'pandas' in sys.modules)\n"
    )
    assert run_python(code).splitlines() == ["2", "['-1'] False"]


def test_pandas_imported_first_gives_pandera_whole() -> None:
    code = (
        "import sys, pandas\n"
        "import khabar.foundation.pandera_polars as pp\n"
        "print(hasattr(pp.pa, 'DataFrameModel'), 'pandera.engines.pandas_engine' in sys.modules)\n"
    )
    assert run_python(code) == "True True"
