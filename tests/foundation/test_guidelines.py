"""Every label of the config has exactly one guidelines entry, and no entry names a label that does not exist."""

import re

from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo


def entries() -> list[str]:
    text = repo().guidelines_file.read_text(encoding="utf-8")
    return re.findall(r"^### (\S+)\s*$", text, flags=re.MULTILINE)


def test_every_label_has_exactly_one_entry():
    found = entries()
    for layer in load_scheme().layers:
        for label in layer.labels:
            assert found.count(label) == 1, f"GUIDELINES.md needs exactly one '### {label}' entry"


def test_no_entry_names_an_unknown_label():
    known = {label for layer in load_scheme().layers for label in layer.labels}
    unknown = [name for name in entries() if name not in known]
    assert not unknown, f"GUIDELINES.md has entries for labels not in the config: {unknown}"
