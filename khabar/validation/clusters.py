"""Where a span may begin and end: never inside a letter and its marks.

A character "extends" the letter before it when Unicode's grapheme cluster rules
(UAX #29) attach it there: every combining mark (category ``M*``: harakat,
shadda, tanween, superscript alef, variation selectors), ZWNJ and ZWJ (both kept
by the normaliser) and the emoji skin-tone modifiers. A span that starts on one,
or ends right before one, cuts a letter from its marks (rule
``span_whole_graphemes``). Regional-indicator pairs (flags) are not checked.
"""

from __future__ import annotations

import re
import unicodedata

#: what, besides the M* marks, extends the character before it
_EXTEND_OTHER = "\u200c\u200d\U0001f3fb-\U0001f3ff"
_EXTEND_OTHER_RE = re.compile(f"[{_EXTEND_OTHER}]")
#: the same set as a polars (Rust regex) character class, for the checks
CLUSTER_EXTEND = r"[\p{M}\x{200C}\x{200D}\x{1F3FB}-\x{1F3FF}]"


def extends_cluster(char: str) -> bool:
    """Whether ``char`` belongs to the letter before it."""
    return unicodedata.category(char).startswith("M") or _EXTEND_OTHER_RE.fullmatch(char) is not None


def widen_to_clusters(start: int, end: int, doc: str) -> tuple[int, int] | None:
    """``start``/``end`` moved out of any cluster they cut: start back to its letter, end past the marks.

    None when the start cannot move: only marks, or a line break, before it
    (a mark right after a line break belongs to no letter).
    """
    while 0 < start < len(doc) and extends_cluster(doc[start]):
        start -= 1
        if doc[start] == "\n":
            return None
    while end < len(doc) and extends_cluster(doc[end]):
        end += 1
    return start, end
