"""Real Label Studio files from HumanSignal's repositories: a clear error, never a traceback.

Each file of tests/data/labelstudio-fixtures/ (other labeling configs,
HTML and image tasks, cancelled annotations, single tasks, label configs) goes
through the real ``khabar validate`` entry point. None of them is an export of
Khabar's labeling config, so each must be refused with exit status 2 and one
line naming the file (and task/region where there is one) and the problem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: Real Label Studio files (Apache-2.0), copied into the repository with their SOURCE.md and licence.
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "labelstudio-fixtures"
FILES = sorted(path for path in FIXTURES.rglob("*") if path.is_file() and path.suffix in (".json", ".xml"))

#: The phrase of the error each fixture must give (all of them are other projects' files).
IMPORT_FILE = "a file of tasks to import, not an export"
SINGLE_TASK = "top level is a JSON dict"
NOT_TEXT = "has no data.text: not a text task"
EXPECTED = {
    "ls-examples/ls_data.json": NOT_TEXT,
    "sdk-converter-tests/test_export_csv/csv_test.json": "control 'label' (type 'rectanglelabels')",
    "sdk-converter-tests/test_export_csv/csv_test_colliding_keys_mixed.json": "control 'text' (type 'choices')",
    "sdk-converter-tests/test_export_csv/csv_test_history.json": "control 'sentiment'",
    "sdk-converter-tests/test_export_doclang/data.json": NOT_TEXT,
    "sdk-converter-tests/test_export_json_min/chat_data.json": NOT_TEXT,
    "sdk-converter-tests/test_export_json_min/data_repeater.json": NOT_TEXT,
    "sdk-converter-tests/test_export_json_min/label_config_repeater.json": SINGLE_TASK,
    "sdk-converter-tests/test_export_yolo/data_keypoints.json": NOT_TEXT,
}


def expected_phrase(name: str) -> str:
    if name.endswith(".xml"):
        return "not JSON"
    if name.endswith("/tasks.json"):
        return IMPORT_FILE
    if name.endswith("annotations/1.json"):
        return SINGLE_TASK
    return EXPECTED[name]


def test_fixtures_are_present():
    assert len(FILES) >= 20, f"expected the Label Studio fixtures in {FIXTURES}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_gives_a_clear_error_or_a_clean_read(path: Path, khabar):
    run = khabar("validate", path, "--format", "text")
    name = str(path.relative_to(FIXTURES))
    assert run.status == 2, run.out
    errors = [line for line in run.err.splitlines() if line.startswith("khabar validate: error:")]
    assert len(errors) == 1, run.err
    assert str(path) in errors[0]
    assert expected_phrase(name) in errors[0]
    assert run.out == ""
