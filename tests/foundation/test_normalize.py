import unicodedata

import pytest

from khabar.annotation.normalize import INVISIBLE_CONTROLS, normalize_text


@pytest.mark.parametrize("control", list(INVISIBLE_CONTROLS))
def test_each_invisible_control_is_removed(control):
    assert normalize_text(f"قالت{control} السفيرة") == "قالت السفيرة"


def test_the_listed_controls_are_exactly_the_issue_s():
    expected = {0xFEFF, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    assert {ord(c) for c in INVISIBLE_CONTROLS} == expected


def test_crlf_and_lone_cr_become_lf():
    assert normalize_text("سطر\r\nسطر\rسطر\n") == "سطر\nسطر\nسطر\n"


def test_bom_at_start_is_removed():
    assert normalize_text("\ufeffالعراق") == "العراق"


def test_nfc_composes():
    decomposed = "e\u0301 \u0627\u0653"  # e + acute, alef + madda above
    assert normalize_text(decomposed) == unicodedata.normalize("NFC", decomposed)
    assert normalize_text(decomposed) != decomposed


def test_nothing_else_changes():
    text = "  «داعش» \t\u200d ZWJ, tatweel ـ, emoji 🙂, diacritics ينتهِ\n\n"
    assert normalize_text(text) == text


def test_idempotent():
    text = "\ufeff\u200fقال\r\n"
    assert normalize_text(normalize_text(text)) == normalize_text(text)
