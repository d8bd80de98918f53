"""A rule-based pre-annotator: document text → Label Studio prediction results.

:func:`preannotate` is pure (text + gazetteer in, results out) so the builder
can score it against gold. Offsets are Python ``str`` indices into the text and
every ``value.text`` is exactly ``text[start:end]``.

Rules:

- **direct quotes**: text between «…», "…" or “…“/“…” on one line, of at
  least :data:`MIN_QUOTE_WORDS` words, with a reporting cue on the same line
  before it (nearest first) or just after it → ``CONTENT`` (quote_type direct),
  its ``CUE`` and the relations ``cue`` and ``source``;
- **indirect speech**: a cue followed closely by إن/أن/بأن (with no nearer cue
  between them: نقلت … عن مصادر قولها إن) and a clause without quotation marks →
  ``CONTENT`` (quote_type indirect) up to the sentence end, or up to a comma
  followed by another cue (", وفقاً لـ …", ", مضيفة …");
- **cues** keep the preposition that belongs to them (أشار إلى, مشدداً على);
- **sources**: the words right after the cue (Arabic is mostly verb–subject)
  up to punctuation, a preposition or إن/أن; a cue with no subject after it
  (وأضافت «…») links to the nearest ``SOURCE`` before it;
- **entities**: gazetteer surface forms, longest first, at word boundaries,
  with the proclitics و ف ب ل ك allowed before the span but kept outside it;
  nested matches are kept, crossing ones dropped;
- **zones**: the first line that is not page furniture, if short and without a
  full stop → ``TITLE``, with the short line right after it (a sub-headline) and
  every repetition of either; a short line between two paragraphs (a crosshead)
  → ``TITLE``; a line repeated right after itself → ``CAPTION`` (each copy);
  "المصدر:", "تاريخ النشر:", "كلمات دلالية" lines, short date lines, a short
  line ending in ":" and a one-word line → ``META``, and so is the place of a
  dateline ("بغداد - …"); "إقرأ المزيد …" teaser lines → ``RELATED``; a
  "مقالات ذات صلة", "مقالات مشابهة" or "إقرأ أيضاً" heading starts a
  ``RELATED`` zone that runs to the end (other zones inside it go). Zones are
  cut at the edges as the guidelines say (a final ")" goes too).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.results import choices_result, labels_result, relation_result
from khabar.annotation.scheme import Attribution, AttributionRole, Scheme, load_scheme
from khabar.foundation.errors import KhabarError

RULES_VERSION = "1"
MODEL_VERSION = f"khabar-rules-{RULES_VERSION}"

MIN_QUOTE_WORDS = 3
CUE_BEFORE_WINDOW = 160  # characters before the opening mark searched for a cue
CUE_AFTER_WINDOW = 40  # characters after the closing mark
INDIRECT_GAP = 60  # characters allowed between a cue and إن/أن
SOURCE_MAX_WORDS = 6
SOURCE_APPOSITION_WORDS = 6  # words after a comma still naming the source
PREVIOUS_SOURCE_WINDOW = 800
TITLE_MAX_CHARS = 140
META_STAMP_MAX_CHARS = 40  # a line this short holding a date is a date line, not a sentence
META_WORD_MAX_CHARS = 20  # a one-word line this short is a label (section, agency marker)
CROSSHEAD_WORDS = (3, 8)
CROSSHEAD_PARAGRAPH_CHARS = 80  # the lines around a crosshead are paragraphs at least this long

# The zone labels the rules produce; checked against the scheme's zone layer when the rules first run.
ZONE_LABELS = ("TITLE", "CAPTION", "META", "RELATED")

_ARABIC_MARKS = "\u064b-\u065f\u0670"
_WORD_CHAR = rf"[\w{_ARABIC_MARKS}]"
_NOT_AFTER_WORD = rf"(?<![\w{_ARABIC_MARKS}])"
_NOT_BEFORE_WORD = rf"(?![\w{_ARABIC_MARKS}])"

_CUE_VERBS = """
قال قالت قالوا يقول تقول
أضاف أضافت أضافوا يضيف تضيف مضيفا مضيفاً مضيفة
أكد أكدت أكدوا يؤكد تؤكد مؤكدا مؤكداً مؤكدة
أوضح أوضحت أوضحوا يوضح توضح موضحا موضحاً موضحة
أشار أشارت أشاروا يشير تشير مشيرا مشيراً مشيرة
تابع تابعت
ذكر ذكرت ذكروا يذكر تذكر
أفاد أفادت أفادوا يفيد تفيد
اعتبر اعتبرت اعتبروا يعتبر تعتبر معتبرا معتبراً
شدد شددت شددوا يشدد تشدد مشددا مشدداً مشددة
نقل نقلت نقلوا
صرح صرحت صرحوا يصرح
أعلن أعلنت أعلنوا
لفت لفتت
نوه نوهت
زاد
بحسب حسب وفق وفقا وفقاً
قوله قولها قولهم
""".split()


def _cue_forms() -> list[str]:
    forms = set(_CUE_VERBS)
    forms |= {form.replace("أ", "ا") for form in _CUE_VERBS if "أ" in form}  # written without hamza
    return sorted(forms, key=lambda form: (-len(form), form))


# Verbs whose preposition belongs to the cue (أشار إلى, مشدداً على), as the gold draws them.
_CUE_PREPOSITION = r"(?:\s+(?:إلى|الى|على)(?=\s))?"
# A cue word, optionally after the conjunctions و / ف, which stay outside the span.
_CUE = re.compile(
    rf"{_NOT_AFTER_WORD}(?:[وف])?((?:{'|'.join(map(re.escape, _cue_forms()))}){_NOT_BEFORE_WORD}{_CUE_PREPOSITION})"
)
_QUOTES = (
    re.compile(r"«([^«»\n]+)»"),
    re.compile(r'"([^"\n]+)"'),
    re.compile(r"“([^“”\n]+)[“”]"),
)
_INDIRECT = re.compile(rf"{_NOT_AFTER_WORD}(?:إن|أن|بأن|إنه|أنه|بأنه|ان|انه){_NOT_BEFORE_WORD}")
_SENTENCE_END = re.compile(r"[.!؟?\n]")
_SOURCE_STOP_WORDS = frozenset(
    "في من إلى الى على عن مع بعد قبل خلال لدى حول عبر أمام أثناء إن أن بأن إنه أنه بأنه ان انه "
    "بالقول قائلا قائلاً قائلة أيضا أيضاً اليوم أمس مراراً مرارا".split()
)
_SOURCE_STOP_CHARS = "،,:؛;.«»\"“”()\n!؟?"
_EDGE_PUNCTUATION = ".,،؛;:!؟?-–—«»\"“”()'"
_PAIRS = {"(": ")", "«": "»", "“": "”"}
_CLOSERS = {")": "(", "»": "«", "”": "“"}

_META_LINE = re.compile(r"^(?:المصدر\s*:|تاريخ النشر\s*:|كلمات دلالية)")
_RELATED_TEASER = re.compile(r"^[إا]قرأ المزيد\s+\S")
_RELATED_HEADING = re.compile(r"^(?:مقالات ذات صلة|مقالات مشابهة|[إا]قرأ أيضا[ًً]?)\s*:?\s*$")
_PROCLITICS = "وفبلك"
_DATE_STAMP = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
# A dateline: one or two words, then a dash, then the first sentence of the body.
_DATELINE = re.compile(r"^(\S+(?: \S+)?) [-–—] \S")


@dataclass(frozen=True)
class Span:
    layer: str
    label: str
    start: int
    end: int

    @property
    def region_id(self) -> str:
        key = f"{self.layer}/{self.label}/{self.start}/{self.end}"
        return "k" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:9]


def _check_scheme(scheme: Scheme) -> None:
    for label in ZONE_LABELS:
        if label not in scheme.zone.labels:
            raise KhabarError(f"the pre-annotator needs label {label!r} in layer {scheme.zone.name!r} of the labeling config")


@cache
def _scheme() -> Scheme:
    """The repository's scheme, checked once for the labels the rules emit."""
    scheme = load_scheme()
    _check_scheme(scheme)
    return scheme


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past white space and punctuation, keeping balanced brackets and quotes."""
    while start < end:
        char = text[start]
        if char in _PAIRS and _PAIRS[char] in text[start + 1 : end]:
            break
        if not (char in _EDGE_PUNCTUATION or char.isspace()):
            break
        start += 1
    while end > start:
        char = text[end - 1]
        if char in _CLOSERS and _CLOSERS[char] in text[start : end - 1]:
            break
        if not (char in _EDGE_PUNCTUATION or char.isspace()):
            break
        end -= 1
    return start, end


def _line_bounds(text: str, position: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, position) + 1
    end = text.find("\n", position)
    return start, len(text) if end == -1 else end


def _words_until_stop(text: str, begin: int, limit: int) -> tuple[list[tuple[int, int]], str]:
    """Words from ``begin`` up to punctuation, a stop word, a cue or a line end; and the stop character met ("" if none)."""
    position = begin
    words: list[tuple[int, int]] = []
    for match in re.finditer(r"\S+", text[begin : begin + 300]):
        word_start, word_end = begin + match.start(), begin + match.end()
        if "\n" in text[position:word_start]:
            return words, "\n"
        word = text[word_start:word_end]
        cut = next((i for i, char in enumerate(word) if char in _SOURCE_STOP_CHARS), None)
        core = word if cut is None else word[:cut]
        if not core or core in _SOURCE_STOP_WORDS or _CUE.fullmatch(core):
            return words, ""
        words.append((word_start, word_start + len(core)))
        if cut is not None:
            return words, word[cut]
        if len(words) == limit:
            return words, ""
        position = word_end
    return words, ""


def _source_after(text: str, cue_end: int) -> tuple[int, int] | None:
    """The subject right after a cue: words up to punctuation or a stop word.

    A comma followed by a short apposition that itself ends at punctuation or a stop word
    (``المتحدث باسم الحكومة، باسم العوادي، إن``; ``مارك كيميت، وهو مساعد … السابق``) belongs to it.
    """
    words, stop = _words_until_stop(text, cue_end, SOURCE_MAX_WORDS)
    if not words:
        return None
    if stop in "،," and stop:
        comma = text.index(stop, words[-1][1])
        more, more_stop = _words_until_stop(text, comma + 1, SOURCE_APPOSITION_WORDS + 1)
        if more and len(more) <= SOURCE_APPOSITION_WORDS and more_stop != "\n" and len(words) + len(more) <= SOURCE_MAX_WORDS + SOURCE_APPOSITION_WORDS:
            words += more
    start, end = _trim(text, words[0][0], words[-1][1])
    return (start, end) if end > start else None


def _cue_for_quote(text: str, open_at: int, close_at: int) -> re.Match[str] | None:
    line_start, line_end = _line_bounds(text, open_at)
    before = [m for m in _CUE.finditer(text, max(line_start, open_at - CUE_BEFORE_WINDOW), open_at)]
    if before:
        return before[-1]
    return _CUE.search(text, close_at, min(line_end, close_at + CUE_AFTER_WINDOW))


def _overlaps(span: Span, others: list[Span]) -> bool:
    return any(span.start < other.end and other.start < span.end for other in others)


def _attributions(text: str) -> tuple[list[Span], list[tuple[Span, Span, str]], dict[Span, str]]:
    """Quotes and reported clauses with their cues and sources: spans, relations and each content's quote type."""
    roles = _scheme().attribution
    contents: list[tuple[Span, str, re.Match[str]]] = []
    _direct_contents(text, roles, contents)
    _indirect_contents(text, roles, contents)
    return _linked(text, roles, contents)


def _direct_contents(text: str, roles: Attribution, contents: list[tuple[Span, str, re.Match[str]]]) -> None:
    """Quoted speech with a cue on its line, appended to ``contents`` unless it overlaps one already there."""
    for pattern in _QUOTES:
        for quote in pattern.finditer(text):
            start, end = _trim(text, quote.start(1), quote.end(1))
            if len(text[start:end].split()) < MIN_QUOTE_WORDS:
                continue
            cue = _cue_for_quote(text, quote.start(), quote.end())
            if cue is None:
                continue
            span = Span(roles.layer.name, roles.content, start, end)
            if not _overlaps(span, [c for c, _, _ in contents]):
                contents.append((span, "direct", cue))


def _indirect_contents(text: str, roles: Attribution, contents: list[tuple[Span, str, re.Match[str]]]) -> None:
    """Reported clauses (a cue, then a particle such as أن), appended to ``contents`` unless they overlap one."""
    for cue in _CUE.finditer(text):
        particle = _INDIRECT.search(text, cue.end(), cue.end() + INDIRECT_GAP)
        if particle is None or _SENTENCE_END.search(text, cue.end(), particle.start()):
            continue
        if _CUE.search(text, cue.end(), particle.start()):
            continue  # a nearer cue introduces the clause (نقلت … عن مصادر قولها إن)
        end_mark = _SENTENCE_END.search(text, particle.end())
        stop = end_mark.start() if end_mark else len(text)
        for comma in re.finditer(r"[،,]\s*", text[particle.end() : stop]):
            if _CUE.match(text, particle.end() + comma.end()):
                stop = particle.end() + comma.start()  # ", وفقاً لـ …", ", مضيفة …": the clause ends at the comma
                break
        start, end = _trim(text, particle.end(), stop)
        clause = text[start:end]
        if len(clause.split()) < MIN_QUOTE_WORDS or any(mark in clause for mark in "«»\"“”"):
            continue
        span = Span(roles.layer.name, roles.content, start, end)
        if not _overlaps(span, [c for c, _, _ in contents]):
            contents.append((span, "indirect", cue))


def _linked(
    text: str, roles: Attribution, contents: list[tuple[Span, str, re.Match[str]]]
) -> tuple[list[Span], list[tuple[Span, Span, str]], dict[Span, str]]:
    """Each content in text order with its cue and source (the one after the cue, or a recent earlier one)."""
    spans: list[Span] = []
    relations: list[tuple[Span, Span, str]] = []
    quote_types: dict[Span, str] = {}
    sources: list[Span] = []
    for content, quote_type, cue in sorted(contents, key=lambda item: item[0].start):
        cue_span = Span(roles.layer.name, roles.cue, cue.start(1), cue.end(1))
        if _overlaps(cue_span, [c for c, _, _ in contents]):
            continue
        spans += [content] if cue_span in spans else [content, cue_span]
        quote_types[content] = quote_type
        relations.append((content, cue_span, roles.cue_relation.label))
        found = _source_after(text, cue.end())
        source: Span | None = None
        if found is not None:
            source = Span(roles.layer.name, roles.source, *found)
            if _overlaps(source, [c for c, _, _ in contents]):
                source = None
        if source is None:
            earlier = [s for s in sources if s.end <= cue.start() and cue.start() - s.end <= PREVIOUS_SOURCE_WINDOW]
            source = earlier[-1] if earlier else None
        elif source not in sources:
            sources.append(source)
            spans.append(source)
        if source is not None:
            relations.append((content, source, roles.source_relation.label))
        sources.sort(key=lambda s: s.start)
    return spans, relations, quote_types


def _proclitic_start(text: str, start: int) -> bool:
    """A match may start at a word start, or after up to two proclitics that begin the word."""
    word_start = start
    while word_start > 0 and re.match(_WORD_CHAR, text[word_start - 1]):
        word_start -= 1
    prefix = text[word_start:start]
    return len(prefix) <= 2 and all(char in _PROCLITICS for char in prefix)


def _entities(text: str, gazetteer: Gazetteer) -> list[Span]:
    if not gazetteer.entries:
        return []
    forms = sorted(gazetteer.entries, key=lambda form: (-len(form), form))
    candidates: list[Span] = []
    for form in forms:
        for match in re.finditer(re.escape(form) + _NOT_BEFORE_WORD, text):
            if _proclitic_start(text, match.start()):
                candidates.append(Span(_scheme().entity.name, gazetteer.entries[form], match.start(), match.end()))
    accepted: list[Span] = []
    for span in sorted(candidates, key=lambda s: (-(s.end - s.start), s.start)):
        crossing = any(
            span.start < other.end and other.start < span.end and not (other.start <= span.start and span.end <= other.end)
            for other in accepted
        )
        if not crossing and all((other.start, other.end) != (span.start, span.end) for other in accepted):
            accepted.append(span)
    return accepted


def _trim_zone(text: str, start: int, end: int) -> tuple[int, int]:
    """A zone drops white space and punctuation at both edges, a closing bracket too (the guidelines' B1)."""
    while start < end and (text[start] in _EDGE_PUNCTUATION or text[start].isspace()):
        start += 1
    while end > start and (text[end - 1] in _EDGE_PUNCTUATION or text[end - 1].isspace()):
        end -= 1
    return start, end


def _is_meta(line: str) -> bool:
    words = line.split()
    return bool(
        _META_LINE.match(line)
        or (len(line) <= META_STAMP_MAX_CHARS and _DATE_STAMP.search(line))
        or (len(words) <= 3 and line.endswith(":"))
        or (len(words) == 1 and len(line) <= META_WORD_MAX_CHARS and not line.endswith("."))
    )


def _is_crosshead(line: str, before: str, after: str) -> bool:
    """A short heading line between two body paragraphs."""
    words = len(line.split())
    return (
        CROSSHEAD_WORDS[0] <= words <= CROSSHEAD_WORDS[1]
        and not line.endswith(tuple(".:،,؛"))
        and not _CUE.match(line)
        and min(len(before), len(after)) >= CROSSHEAD_PARAGRAPH_CHARS
    )


def _zones(text: str) -> list[Span]:
    layer = _scheme().zone.name
    lines: list[tuple[int, int]] = []
    position = 0
    for line in text.split("\n"):
        lines.append((position, position + len(line)))
        position += len(line) + 1
    non_empty = [(s, e) for s, e in lines if text[s:e].strip()]
    end_of_body = next((s for s, e in non_empty if _RELATED_HEADING.match(text[s:e].strip())), len(text))
    body = [(s, e) for s, e in non_empty if s < end_of_body]
    zones: list[Span] = []
    titles: set[str] = set()
    # The headline: the first line that is not page furniture; the line right after it is a sub-headline
    # when it is short and neither furniture nor a caption.
    head = next((i for i, (s, e) in enumerate(body) if not _is_meta(text[s:e].strip())), None)
    if head is not None:
        first = text[body[head][0] : body[head][1]].strip()
        if len(first) <= TITLE_MAX_CHARS and not first.endswith((".", "。")) and not _CUE.match(first):
            titles.add(first)
            if head + 1 < len(body):
                second = text[body[head + 1][0] : body[head + 1][1]].strip()
                following = text[body[head + 2][0] : body[head + 2][1]].strip() if head + 2 < len(body) else ""
                if len(second) <= TITLE_MAX_CHARS and not _is_meta(second) and second != following and second != first:
                    titles.add(second)
    for index, (s, e) in enumerate(body):
        line = text[s:e].strip()
        before = text[body[index - 1][0] : body[index - 1][1]].strip() if index else ""
        after = text[body[index + 1][0] : body[index + 1][1]].strip() if index + 1 < len(body) else ""
        if _RELATED_TEASER.match(line):
            zones.append(Span(layer, "RELATED", *_trim_zone(text, s, e)))
        elif line in titles or _is_crosshead(line, before, after):
            zones.append(Span(layer, "TITLE", *_trim_zone(text, s, e)))
        elif _is_meta(line):
            zones.append(Span(layer, "META", *_trim_zone(text, s, e)))
        elif line in (before, after):
            zones.append(Span(layer, "CAPTION", *_trim_zone(text, s, e)))
        elif (dateline := _DATELINE.match(line)) is not None:
            offset = s + len(text[s:e]) - len(text[s:e].lstrip())
            zones.append(Span(layer, "META", offset, offset + len(dateline.group(1))))
    if end_of_body < len(text):
        zones.append(Span(layer, "RELATED", *_trim_zone(text, end_of_body, len(text))))
    kept: list[Span] = []
    for zone in sorted(zones, key=lambda z: (z.start, -(z.end - z.start))):
        if zone.end > zone.start and not _overlaps(zone, kept):
            kept.append(zone)
    return kept


def _labels_result(text: str, span: Span) -> dict:
    return labels_result(
        text, region_id=span.region_id, from_name=span.layer, to_name=_scheme().text_name, start=span.start, end=span.end, label=span.label
    )


def preannotate(text: str, gazetteer: Gazetteer) -> list[dict]:
    """Label Studio prediction results for one document text."""
    attribution_spans, relations, quote_types = _attributions(text)
    spans = _entities(text, gazetteer) + attribution_spans + _zones(text)
    results = [_labels_result(text, span) for span in sorted(spans, key=lambda s: (s.start, s.end, s.layer, s.label))]
    quote_control = _scheme().attribution.quote_type.name
    for content, quote_type in sorted(quote_types.items(), key=lambda item: item[0].start):
        results.append(
            choices_result(
                text, region_id=content.region_id, from_name=quote_control, to_name=_scheme().text_name,
                start=content.start, end=content.end, choice=quote_type,
            )
        )
    results += [relation_result(content.region_id, target.region_id, label) for content, target, label in relations]
    return results


def rule_score(exact: int, predicted: int) -> float:
    """A rule's precision on the gold, smoothed as (exact + 1) / (predicted + 2): a handful of pages is no proof of 1.0."""
    return round((exact + 1) / (predicted + 2), 3)


#: Each rule's exact matches and predictions over the committed gold (5 pages), as printed by
#: ``khabar evaluate --setting loo`` (the rules learn nothing from the gold, so every page is held out for them):
#: the attribution rules by the role of the label they emit, the zone rules by their label.
#: tests/model/test_rules.py measures them again and fails when the rules or the gold drift from them.
ATTRIBUTION_RULE_COUNTS: dict[AttributionRole, tuple[int, int]] = {
    AttributionRole.CONTENT: (49, 59),
    AttributionRole.CUE: (54, 58),
    AttributionRole.SOURCE: (19, 29),
}
ZONE_RULE_COUNTS: dict[str, tuple[int, int]] = {
    "CAPTION": (4, 4),
    "META": (12, 12),
    "RELATED": (4, 4),
    "TITLE": (9, 9),
}


def rule_counts() -> dict[str, tuple[int, int]]:
    """Label → (exact, predicted) of the rule that emits it, the attribution labels named by the scheme."""
    roles = _scheme().attribution
    return {roles.label(role): counts for role, counts in ATTRIBUTION_RULE_COUNTS.items()} | ZONE_RULE_COUNTS


def scored_rule_results(text: str) -> list[dict]:
    """The rules' attribution and zone results (no entities), each region scored with its rule's precision."""
    results = preannotate(text, Gazetteer())
    counts = rule_counts()
    for result in results:
        if result.get("type") == "labels":
            result["score"] = rule_score(*counts[result["value"]["labels"][0]])
    return results
