"""Text normalisation, applied once at ingest and never again.

Offsets index the normalised text, so this must stay small and exact: NFC,
``\\r\\n`` and lone ``\\r`` to ``\\n``, and the byte-order mark and invisible
bidi controls removed. Nothing else is changed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from khabar.foundation.errors import KhabarError

#: U+FEFF (BOM), U+200E/U+200F (LRM/RLM), U+202A–U+202E (embeddings and
#: overrides), U+2066–U+2069 (isolates).
INVISIBLE_CONTROLS = "\ufeff\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_INVISIBLE = re.compile(f"[{INVISIBLE_CONTROLS}]")
_LINE_BREAK = re.compile(r"\r\n?")


def normalize_text(text: str) -> str:
    """Return ``text`` in the form every offset in Khabar refers to."""
    text = _INVISIBLE.sub("", text)
    text = _LINE_BREAK.sub("\n", text)
    return unicodedata.normalize("NFC", text)


def departure(text: str) -> str | None:
    """What first keeps ``text`` from the form :func:`normalize_text` gives, with its position; None when it is in it."""
    if match := _INVISIBLE.search(text):
        return f"U+{ord(match.group()):04X} (a byte-order mark or bidi control) at {match.start()}"
    if (position := text.find("\r")) >= 0:
        return f"a carriage return (CR) at {position}"
    if not unicodedata.is_normalized("NFC", text):
        nfc = unicodedata.normalize("NFC", text)
        position = next((i for i, (a, b) in enumerate(zip(text, nfc)) if a != b), min(len(text), len(nfc)))
        return f"characters not in Unicode NFC at {position}"
    return None


def refuse_unnormalised(texts: Iterable[tuple[str, str]], file: Path) -> None:
    """Raise (exit 2) on the first (doc_id, text) of corpus records ``file`` whose text is not normalised:
    offsets index the normalised text, so annotations on another text cannot be trusted."""
    for doc_id, text in texts:
        if isinstance(text, str) and (problem := departure(text)):
            raise KhabarError(f"corpus record {doc_id}: text is not in the normal form of ingest ({problem}); run khabar ingest", file=str(file))
