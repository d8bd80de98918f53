"""The generated figures block of DATASHEET.md.

The datasheet's prose is written by hand; the figures between the two markers
are written by ``khabar build`` from the build itself, and ``khabar build
--check`` fails when the committed block differs from what the build gives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from khabar.dataset.agreement import Agreement, PredictionQuality
from khabar.dataset.stats import LabelCount
from khabar.foundation.errors import KhabarError

BEGIN = "<!-- khabar:figures:begin (written by `khabar build`; edit the prose around it, not this block) -->"
END = "<!-- khabar:figures:end -->"
#: the adjudication log is listed decision by decision up to this many; beyond, counted
LOG_ROWS = 40


@dataclass(frozen=True)
class SourceFigures:
    source: str
    documents: int
    tokens: int
    spans: tuple[tuple[str, int], ...]  # (layer, spans)


@dataclass(frozen=True)
class Figures:
    version: str
    documents: int
    annotated_documents: int
    annotations: int
    annotators: int
    sentences: int
    tokens: int
    per_source: tuple[SourceFigures, ...]
    labels: tuple[LabelCount, ...]
    relations: tuple[tuple[str, int], ...]
    quotes: tuple[tuple[str, int], ...]  # (quote_type, CONTENT spans)
    splits: tuple[tuple[str, int], ...]  # (split, documents)
    split_reason: str
    groups: int
    near_duplicate_pairs: int
    policies: tuple[tuple[str, int], ...]
    review: tuple[str, ...]
    agreement: Agreement
    prediction: tuple[PredictionQuality, ...]
    model_versions: tuple[str, ...]
    alignment: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()  # (label, ((how, entities), ...))
    zones: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()  # (layer or CONTENT, ((zone, spans), ...))


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def _beyond_spans(agreement: Agreement) -> list[str]:
    """Relations, quote types and nesting between the passes; each pass against the gold; the adjudication log."""
    out = ["", "Relations (exact: same label, both ends identical), quote types and entity nesting levels:", ""]
    out.append("- relation F1: " + (", ".join(f"{f.label} {_number(f.f1)}" for f in agreement.relations) or "no relations"))
    quotes = agreement.quote_types
    out.append(f"- quote type on the {quotes.shared} CONTENT span(s) both sides drew identically: {quotes.agreed} agree "
               f"({_number(quotes.agreement)}), α {_number(quotes.alpha)}")
    out.append("- entity F1 by nesting level (exact): " + (", ".join(f"{f.label} {_number(f.f1)} ({f.left}/{f.right})" for f in agreement.nesting if f.label != "*") or "no entities"))
    out.append("- entity Krippendorff's α (tokens) by nesting level: " + (", ".join(f"{level} {_number(alpha)}" for level, alpha in agreement.nesting_alpha.items()) or "n/a"))
    if agreement.passes:
        out += ["", "Each annotator's independent passes against the gold (exact span F1, summed over the documents whose gold is "
                "another annotation; per document in `build_report.json`):", ""]
        totals: dict[tuple[str, str], list[int]] = {}
        for p in agreement.passes:
            row = totals.setdefault((p.annotator, p.layer), [0, 0, 0, 0])
            row[0], row[1], row[2], row[3] = row[0] + 1, row[1] + p.matched, row[2] + p.drawn, row[3] + p.gold
        out += _table(["annotator", "layer", "documents", "matched", "pass", "gold", "F1"],
                      [(annotator, layer, n, matched, drawn, gold, _number(2 * matched / (drawn + gold) if drawn + gold else None))
                       for (annotator, layer), (n, matched, drawn, gold) in sorted(totals.items())])
    out += ["", "#### Adjudication log", ""]
    if not agreement.log:
        out.append("No gold decision departs from what the independent passes agreed on.")
        return out
    out.append(f"{len(agreement.log)} gold decision(s) depart from what all independent passes of a document agreed on"
               + (":" if len(agreement.log) <= LOG_ROWS else "; by change and label (each one, with its guideline, in `build_report.json`):"))
    out.append("")
    if len(agreement.log) > LOG_ROWS:
        counts = Counter((o.change, o.layer, o.label, bool(o.guideline)) for o in agreement.log)
        return out + _table(["change", "layer", "label", "guideline recorded", "decisions"],
                            [(change, layer, label, "yes" if recorded else "no", n) for (change, layer, label, recorded), n in sorted(counts.items())])
    return out + _table(["document", "change", "layer", "label", "offsets", "text", "guideline"],
                        [(o.doc_id, o.change + (f" {o.passes} → {o.gold}" if o.change == "quote_type" else ""), o.layer, o.label, f"{o.start}–{o.end}",
                          o.text.replace("|", "\\|").replace("\n", " "), (o.guideline or "(none recorded)").replace("|", "\\|")) for o in agreement.log])


def render(fig: Figures) -> str:
    """The figures block of DATASHEET.md, section by section."""
    layers = list(dict.fromkeys(c.layer for c in fig.labels))
    out = [BEGIN, "", f"Figures of release {fig.version}.", "", *_overview(fig)]
    out += ["", "#### Per source", ""]
    out += _table(
        ["source", "documents", "tokens", *(f"{layer} spans" for layer in layers)],
        [(s.source, s.documents, s.tokens, *(dict(s.spans).get(layer, 0) for layer in layers)) for s in fig.per_source],
    )
    out += ["", "#### Spans per layer and label", "", *_label_lines(fig, layers)]
    if fig.zones:
        out += ["", "#### Spans per zone", ""]
        out += [f"- **{name}**: " + (", ".join(f"{zone} {n}" for zone, n in counts) or "none") for name, counts in fig.zones]
    out += ["", "#### Entities on tokens", ""]
    out += _alignment_lines(fig.alignment)
    out += ["", "#### Adjudication", ""]
    out.append("- Gold by policy: " + ", ".join(f"{policy} {n}" for policy, n in fig.policies) + ".")
    out.append("- Listed for review: " + (", ".join(fig.review) if fig.review else "none") + ".")
    out += ["", "#### Agreement", "", *_agreement_lines(fig, layers)]
    out += ["", "#### Pre-annotator", "", *_prediction_lines(fig)]
    out += ["", END]
    return "\n".join(out)


def _overview(fig: Figures) -> list[str]:
    out = [
        f"- Documents: {fig.documents} ({fig.annotated_documents} annotated), {fig.sentences} sentences, {fig.tokens} tokens.",
        f"- Annotations used: {fig.annotations} by {fig.annotators} annotator(s); gold spans: {sum(c.spans for c in fig.labels)}; "
        f"relations: {sum(n for _, n in fig.relations)}.",
        "- Splits: " + ", ".join(f"{name} {n} document(s)" for name, n in fig.splits) + f" ({fig.groups} leakage group(s), "
        f"{fig.near_duplicate_pairs} near-duplicate pair(s)).",
    ]
    if fig.split_reason:
        out.append(f"- Single split: {fig.split_reason}.")
    if fig.annotated_documents == 0:
        out.append("- No annotations yet: every document is released with empty span and relation lists.")
    return out


def _label_lines(fig: Figures, layers: list[str]) -> list[str]:
    out = []
    for layer in layers:
        counts = [c for c in fig.labels if c.layer == layer]
        used = [f"{c.label} {c.spans}" for c in counts if c.spans]
        unused = [c.label for c in counts if not c.spans]
        line = f"- **{layer}** ({sum(c.spans for c in counts)}): " + (", ".join(used) if used else "none")
        out.append(line + (f"; no spans yet: {', '.join(unused)}" if unused and used else ""))
    out.append("- **relations**: " + ", ".join(f"{label} {n}" for label, n in fig.relations))
    out.append("- **quote types** of CONTENT: " + (", ".join(f"{label} {n}" for label, n in fig.quotes) or "none"))
    return out


def _agreement_lines(fig: Figures, layers: list[str]) -> list[str]:
    agreement = fig.agreement
    if agreement.documents == 0:
        return ["No document has been labeled by two or more annotators yet, so there is no agreement to report."]
    out = [f"{agreement.documents} document(s) with two or more annotators, {agreement.pairs} annotator pair(s).", ""]
    layer_rows = []
    for layer in layers:
        exact = next((f for f in agreement.f1 if (f.layer, f.label, f.match) == (layer, "*", "exact")), None)
        overlap = next((f for f in agreement.f1 if (f.layer, f.label, f.match) == (layer, "*", "overlap")), None)
        alpha = agreement.alpha.get(layer)
        layer_rows.append((layer, _number(exact.f1 if exact else None), _number(overlap.f1 if overlap else None), _number(alpha)))
    out += _table(["layer", "span F1 (exact)", "span F1 (overlap)", "Krippendorff's α (tokens)"], layer_rows)
    out += ["", "Per label (exact / overlap F1):", ""]
    for layer in layers:
        drawn = {f.label for f in agreement.f1 if f.layer == layer}
        labels = [c.label for c in fig.labels if c.layer == layer and c.label in drawn]
        cells = []
        for label in labels:
            exact = next(f for f in agreement.f1 if (f.layer, f.label, f.match) == (layer, label, "exact"))
            overlap = next(f for f in agreement.f1 if (f.layer, f.label, f.match) == (layer, label, "overlap"))
            cells.append(f"{label} {_number(exact.f1)} / {_number(overlap.f1)}")
        out.append(f"- {layer}: " + (", ".join(cells) or "no spans"))
    return out + _beyond_spans(agreement)


def _prediction_lines(fig: Figures) -> list[str]:
    if not any(p.predicted for p in fig.prediction):
        return ["No stored pre-annotations on annotated documents yet."]
    out = ["Model version(s): " + ", ".join(fig.model_versions) + ". Exact match against gold, on documents with both:", ""]
    out += _table(
        ["layer", "predicted", "gold", "correct", "precision", "recall"],
        [(p.layer, p.predicted, p.gold, p.correct, _number(p.precision), _number(p.recall)) for p in fig.prediction if p.predicted],
    )
    unpredicted = [p.layer for p in fig.prediction if not p.predicted]
    if unpredicted:
        out += ["", "Layers it does not pre-annotate: " + ", ".join(unpredicted) + "."]
    return out


def _alignment_lines(alignment: Sequence[tuple[str, Sequence[tuple[str, int]]]]) -> list[str]:
    """How the gold entities came onto the ``tokens`` config's tokens, per label."""
    if not alignment:
        return ["No gold entities."]
    hows = [how for how, _ in alignment[0][1]]
    lines = [
        "Tokens and sentences are cut from the text alone; an entity that starts or ends inside a token "
        "tags the whole token (`widened`). Entities left out of the tags: `across_sentences` (over a sentence "
        "break), `merged` (same label and tokens as another), `crossing` (crosses another once widened).",
        "",
    ]
    rows = [(label, *(dict(counts)[how] for how in hows)) for label, counts in alignment]
    totals = ("all", *(sum(dict(counts)[how] for _, counts in alignment) for how in hows))
    return lines + _table(["label", *hows], [*rows, totals])


def refresh(text: str, block: str, *, source: str = "DATASHEET.md") -> str:
    """``text`` with its figures block replaced by ``block``, written with the line ends of the text's first line."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < begin:
        raise KhabarError(f"no figures block: the file must hold the line {BEGIN!r} and, after it, {END!r}", file=source)
    first_end = text.find("\n")
    if first_end > 0 and text[first_end - 1] == "\r":  # a datasheet checked out with CRLF keeps them (and `build --check` passes)
        block = block.replace("\n", "\r\n")
    return text[:begin] + block + text[end + len(END) :]
