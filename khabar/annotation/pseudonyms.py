"""How annotators are named: only ever a pseudonym ``annotator-N`` (N from 1), never a name or an address.

The studio writes them, the validation reader checks them; both take the pattern from here.
"""

from __future__ import annotations

import re

PSEUDONYM_PATTERN = re.compile(r"annotator-([1-9][0-9]*)")


def pseudonym_number(pseudonym: object) -> int | None:
    """N of a pseudonym ``annotator-N``, or None for anything else."""
    match = PSEUDONYM_PATTERN.fullmatch(pseudonym) if isinstance(pseudonym, str) else None
    return int(match.group(1)) if match else None
