"""A Wojood-compatible view of the entities: the mechanical part of "Differences from Wojood".

Khabar follows Wojood's types and nesting but departs from two of its conventions in ways a
program can undo (annotation/GUIDELINES.md, "Differences from Wojood"):

- **forces as ORG**: a definite force named by its country (``القوات العراقية``, ``الجيش
  الأمريكي``, ``القوات المسلحة العراقية``, ``قوات الأمن العراقية``) carries only a NORP on the
  adjective in Khabar (D15, D30); Wojood tags the phrase ORG. Each NORP that starts with the
  article and follows one of :data:`FORCE` directly gains an ORG from the force noun to the
  NORP's end, unless that ORG would cross another entity or one of that extent is there already.
- **no NORP inside ORG or OCC**: Khabar nests the nationality adjective inside ORG and OCC
  (D3: ``السفارة الأميركية``, ``وزير الخارجية العراقي``); Wojood does not. Every NORP lying
  within an ORG or OCC span (the new ORGs included) is dropped.

Everything else is left as it is, because no rule can recover it from the text: an indefinite
force (``قوات أميركية``) or a bare ``الجيش`` (no NORP to anchor on), class nouns kept out of
names (D27: ``حلف الناتو`` → ``الناتو``), and any other Wojood convention the guidelines do not
list. Each change is reported, so a user sees exactly what the view differs in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from khabar.dataset.iob import Span
from khabar.foundation.errors import KhabarError

NORP, ORG, OCC = "NORP", "ORG", "OCC"
#: the Wojood types the view is written in terms of; a scheme without them cannot have this view
NEEDED = (NORP, ORG, OCC)
#: a definite force noun phrase right before a NORP; proclitics and an opening mark stay outside and,
#: as rule B4 has it, ``للقوات`` gives ``لقوات``
FORCE = re.compile(r"(?:^|[^\w])[وفبكل]{0,2}[\"«(]?(?P<force>(?:ال|(?<=ل)ل)(?:جيش|قوات|بحرية)(?:\s+المسلحة)?|(?:قوات|جيش)\s+الأمن)\s+$")
#: how far back a force phrase may start (the longest, ``القوات المسلحة`` plus proclitics and a mark)
LOOKBEHIND = 24

Change = Literal["added ORG", "dropped NORP"]


@dataclass(frozen=True)
class Changed:
    """One entity the view adds or drops, with the reason as GUIDELINES.md gives it."""

    doc_id: str
    span: Span
    text: str
    change: Change

    @property
    def reason(self) -> str:
        return "a force named by its country is ORG in Wojood (D15, D30)" if self.change == "added ORG" else "Wojood does not nest NORP inside ORG or OCC (D3)"

    def row(self) -> str:
        return "\t".join([self.doc_id, str(self.span.start), str(self.span.end), self.span.label, self.change, self.text, self.reason])


HEADER = "\t".join(["doc_id", "start", "end", "label", "change", "text", "reason"])


def check_labels(labels: Sequence[str]) -> None:
    missing = [label for label in NEEDED if label not in labels]
    if missing:
        raise KhabarError(f"the scheme lacks {', '.join(missing)}: a Wojood-compatible view maps Khabar's {', '.join(NEEDED)}")


def _crosses(a: Span, b: Span) -> bool:
    return a.start < b.start < a.end < b.end or b.start < a.start < b.end < a.end


def _within(inner: Span, outer: Span) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end and inner != outer


def wojood_spans(doc_id: str, text: str, entities: Sequence[Span]) -> tuple[list[Span], list[Changed]]:
    """``entities`` of one document as Wojood would tag them, and what changed."""
    spans = list(entities)
    changes: list[Changed] = []
    for norp in [s for s in entities if s.label == NORP and text.startswith("ال", s.start)]:
        match = FORCE.search(text, max(0, norp.start - LOOKBEHIND), norp.start)
        if match is None:
            continue
        org = Span(match.start("force"), norp.end, ORG)
        if any(_crosses(org, s) or (s.start, s.end) == (org.start, org.end) for s in spans):
            continue
        spans.append(org)
        changes.append(Changed(doc_id, org, text[org.start : org.end], "added ORG"))
    hosts = [s for s in spans if s.label in (ORG, OCC)]
    dropped = [s for s in spans if s.label == NORP and any(_within(s, host) for host in hosts)]
    changes += [Changed(doc_id, s, text[s.start : s.end], "dropped NORP") for s in dropped]
    return [s for s in spans if s not in dropped], sorted(changes, key=lambda c: (c.span.start, -c.span.end, c.change))
