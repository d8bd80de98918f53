"""The card names the real Hub repository (``repo_id`` of the release config) and says how to cite
the release; CITATION.cff at the root is valid Citation File Format 1.2.0."""

from __future__ import annotations

import hashlib
import json
import re

import jsonschema
import pytest
import yaml

from khabar.dataset.build import build
from khabar.dataset.release import load_release
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.gold.inputs import from_tables
from tests.dataset import khabar_fixtures as fx


def release_with(tmp_path, old: str, new: str):
    path = tmp_path / "release.toml"
    text = repo().release_file.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_the_card_loads_and_cites_the_configured_repository(built_v1, tmp_path, datasheet_copy):
    committed = load_release()
    card = (built_v1 / "README.md").read_text(encoding="utf-8")
    assert "REPO_ID" not in card
    assert f'documents = load_dataset("{committed.repo_id}", "documents", revision="v{committed.version}")' in card
    assert re.search(r"```bibtex\n@misc\{khabar_\d+_\d+_\d+,\n(  \w+ += \{.+\},?\n)+\}\n```", card), card[-1500:]

    # another repository id: the card follows, and the manifest's hash of the release config changes with it
    path = release_with(tmp_path, f'repo_id = "{committed.repo_id}"', 'repo_id = "another-org/khabar-fork"')
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    out = tmp_path / "fork"
    build(from_tables(fx.tables("v1")), out, datasheet=sheet, release=load_release(path))
    fork_card = (out / "README.md").read_text(encoding="utf-8")
    assert 'load_dataset("another-org/khabar-fork", "tokens"' in fork_card and f'load_dataset("{committed.repo_id}", "' not in fork_card
    assert "url          = {https://huggingface.co/datasets/another-org/khabar-fork/tree/v" in fork_card
    manifest, original = (json.loads((folder / "MANIFEST.json").read_text()) for folder in (out, built_v1))
    assert manifest["inputs"]["release_config_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert manifest["inputs"]["release_config_sha256"] != original["inputs"]["release_config_sha256"]


@pytest.mark.parametrize("bad", ["khabar", "org/na me", "org/name/extra", "-org/name"])
def test_a_repo_id_that_is_not_org_name_is_refused_naming_the_file(tmp_path, bad):
    path = release_with(tmp_path, f'repo_id = "{load_release().repo_id}"', f'repo_id = "{bad}"')
    with pytest.raises(KhabarError, match=rf"repo_id: repository id '{re.escape(bad)}' is not ORG/NAME") as refused:
        load_release(path)
    assert str(path) in str(refused.value) and refused.value.exit_status == 2


def test_citation_cff_is_valid_cff_1_2_0_and_matches_the_release():
    """Validated against the CFF 1.2.0 JSON schema (tests/data/citation-file-format, with its source and licence)."""
    schema = json.loads((repo().root / "tests" / "data" / "citation-file-format" / "schema.json").read_text(encoding="utf-8"))
    citation = yaml.safe_load((repo().root / "CITATION.cff").read_text(encoding="utf-8"))
    citation["date-released"] = str(citation["date-released"])  # YAML reads an unquoted date as a date; the schema wants its text
    jsonschema.validate(citation, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    release = load_release()
    assert citation["cff-version"] == "1.2.0"
    assert (citation["title"], str(citation["version"])) == (release.pretty_name, release.version)
    assert citation["url"] == f"https://huggingface.co/datasets/{release.repo_id}"
    with pytest.raises(jsonschema.ValidationError):  # the schema does catch a broken file
        jsonschema.validate({k: v for k, v in citation.items() if k != "authors"}, schema)


def test_the_code_has_the_licence_pyproject_declares():
    licence = (repo().root / "LICENSE").read_text(encoding="utf-8")
    declared = re.search(r'^license = "(.+)"$', (repo().root / "pyproject.toml").read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert declared and declared.group(1) == "MIT" and licence.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge" in licence
