"""One test per rule, each with the smallest export that trips it.

Most tests run ``khabar validate`` through the real entry point and assert the
rule's name and the offending region (or annotation) on one line of the report,
the exit status, and that the reconciliation adds up. ``BROKEN`` holds an export
for every declared (frame, rule): each must fire there, with its declared hint and
severity, so a new rule without an input that breaks it fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from pandera.errors import SchemaErrors

from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo
from khabar.validation.api import _failing_rows, validate_exports
from khabar.validation.checks import RULES, Frame, Severity, _all_distinct, clean_edges, prepare, rule
from khabar.validation.reader import read_raw
from khabar.validation.schemas import FRAME_MODELS, failing_rows
from tests.validation.validation_exports import (
    DOCUMENTS,
    TEXT,
    annotation,
    quote_type,
    relation,
    span,
    task,
    valid_export,
    valid_result,
    write_export,
)


def checked(tmp_path: Path, khabar, tasks, *, status: int = 1, strict: bool = False):
    path = write_export(tmp_path, tasks)
    run = khabar("validate", path, *(["--strict"] if strict else []))
    assert run.status == status, run.out + run.err
    result = validate_exports([path], strict=strict)
    assert result.accounting.reconciles, result.accounting.lines()
    assert result.exit_status == status
    return run, result


def one(run, check: str, *needles: str) -> str:
    """The single report line of ``check`` that names every needle."""
    lines = [line for line in run.lines_of(check) if all(needle in line for needle in needles)]
    assert len(lines) == 1, f"{check} {needles} in:\n{run.out}"
    return lines[0]


def test_valid_export_is_clean(tmp_path, khabar):
    run, result = checked(tmp_path, khabar, valid_export(), status=0, strict=True)
    assert "clean: every rule passed" in run.out
    assert result.failures == []
    assert result.accounting.count("regions").used == 9
    assert result.accounting.count("relations").used == 2


def test_offsets_in_range(tmp_path, khabar):
    bad = span("بغداد", "GPE", region_id="past-end")
    bad["value"].update(start=len(TEXT) - 2, end=len(TEXT) + 5)
    run, result = checked(tmp_path, khabar, [task([annotation([bad])])])
    assert "past the end of the text" in one(run, "offsets_in_range", "region past-end")
    assert result.accounting.count("regions").excluded == {"failed check": 1}


def test_offsets_start_not_before_end(tmp_path, khabar):
    bad = span("بغداد", "GPE", region_id="backwards")
    bad["value"].update(start=30, end=27)
    run, _ = checked(tmp_path, khabar, [task([annotation([bad])])])
    assert "not before end" in one(run, "offsets_in_range", "region backwards")


def test_span_text_matches(tmp_path, khabar):
    bad = span("بغداد", "GPE", region_id="moved")
    bad["value"]["text"] = "واشنطن"
    run, _ = checked(tmp_path, khabar, [task([annotation([bad])])])
    line = one(run, "span_text_matches", "region moved")
    assert "found «واشنطن» expected «بغداد»" in line


def test_label_in_layer(tmp_path, khabar):
    bad = span("بغداد", "CONTENT", "entity", region_id="wrong-layer")
    run, _ = checked(tmp_path, khabar, [task([annotation([bad])])])
    assert "'CONTENT' is not in layer 'entity'" in one(run, "label_in_layer", "region wrong-layer")


def test_relation_ends_wrong_labels(tmp_path, khabar):
    content = span("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", region_id="c1")
    person = span("رومانوفسكي", "PERS", region_id="p1", context="وقالت رومانوفسكي")
    run, result = checked(tmp_path, khabar, [task([annotation([content, quote_type(content), person, relation(content, person, "source")])])])
    assert "found CONTENT → PERS" in one(run, "relation_ends", "region c1")
    assert result.accounting.count("relations").excluded == {"failed check": 1}


def test_relation_ends_missing_region(tmp_path, khabar):
    content = span("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", region_id="c1")
    dangling = relation(content, {"id": "nowhere"}, "source")
    run, _ = checked(tmp_path, khabar, [task([annotation([content, quote_type(content), dangling])])])
    assert "nowhere is not a region of this annotation" in one(run, "relation_ends", "region c1")


def test_quote_type_missing_on_content(tmp_path, khabar):
    content = span("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", region_id="bare")
    run, _ = checked(tmp_path, khabar, [task([annotation([content])])])
    assert "CONTENT has no quote_type" in one(run, "quote_type_on_content", "region bare")


def test_quote_type_on_other_label(tmp_path, khabar):
    source = span("رومانوفسكي", "SOURCE", "attribution", region_id="s1", context="وقالت رومانوفسكي")
    run, _ = checked(tmp_path, khabar, [task([annotation([source, quote_type(source, "indirect")])])])
    assert "on a SOURCE region" in one(run, "quote_type_on_content", "region s1")


def test_quote_type_for_missing_region(tmp_path, khabar):
    ghost = span("بغداد", "GPE", region_id="ghost")
    run, result = checked(tmp_path, khabar, [task([annotation([quote_type(ghost)])])])
    assert "does not have" in one(run, "quote_type_on_content", "region ghost")
    assert result.accounting.count("quote_type choices").excluded == {"failed check": 1}


def test_entity_no_crossing(tmp_path, khabar):
    left = span("الأمريكية لدى", "NORP", region_id="left")
    right = span("لدى بغداد", "GPE", region_id="right")
    run, result = checked(tmp_path, khabar, [task([annotation([left, right])])])
    assert "crosses entity right" in one(run, "entity_no_crossing", "region left")
    assert "crosses entity left" in one(run, "entity_no_crossing", "region right")
    assert result.tables.spans.height == 0


def test_nested_entities_are_fine(tmp_path, khabar):
    outer = span("السفيرة الأمريكية لدى بغداد", "OCC", region_id="outer")
    inner = span("بغداد", "GPE", region_id="inner")
    run, _ = checked(tmp_path, khabar, [task([annotation([outer, inner])])], status=0)
    assert run.lines_of("entity_no_crossing") == []


def test_zone_no_overlap(tmp_path, khabar):
    first = span("إقرأ المزيد بغداد", "RELATED", "zone", region_id="z1")
    second = span("بغداد: نحتاج", "META", "zone", region_id="z2", context="إقرأ المزيد بغداد: نحتاج")
    run, _ = checked(tmp_path, khabar, [task([annotation([first, second])])])
    assert "overlaps zone z2" in one(run, "zone_no_overlap", "region z1")


def test_no_duplicate_region(tmp_path, khabar):
    first = span("بغداد", "GPE", region_id="first")
    second = span("بغداد", "GPE", region_id="second")
    run, result = checked(tmp_path, khabar, [task([annotation([first, second])])])
    assert "as region first" in one(run, "no_duplicate_region", "region second")
    assert run.lines_of("no_duplicate_region") == [one(run, "no_duplicate_region", "region second")]
    assert result.tables.spans["region_id"].to_list() == ["first"]


def test_no_duplicate_relation(tmp_path, khabar):
    result_list = valid_result()
    result_list.append(dict(result_list[-3]))  # the source relation again
    run, _ = checked(tmp_path, khabar, [task([annotation(result_list)])])
    assert "given twice" in one(run, "no_duplicate_region", "region cnt1")


def test_unique_region_ids(tmp_path, khabar):
    first = span("بغداد", "GPE", region_id="same")
    second = span("ألينا رومانوفسكي", "PERS", region_id="same")
    run, _ = checked(tmp_path, khabar, [task([annotation([first, second])])])
    assert len(run.lines_of("unique_ids")) == 2
    assert "used by 2 span results" in one(run, "unique_ids", "region same GPE")


def test_unique_annotation_ids(tmp_path, khabar):
    tasks = [task([annotation(valid_result(), annotation_id=5)], task_id=1), task([annotation(valid_result(), annotation_id=5)], task_id=2)]
    run, result = checked(tmp_path, khabar, tasks)
    assert "annotation id 5 appears more than once" in one(run, "unique_ids", "task 1")
    assert result.accounting.count("annotations").excluded == {"failed check": 2}
    assert result.accounting.count("regions").excluded == {"its annotation failed a check": 18}


def test_unique_task_ids(tmp_path, khabar):
    tasks = [task([annotation(valid_result(), annotation_id=5)], task_id=1), task([annotation(valid_result(), annotation_id=6)], task_id=1)]
    run, _ = checked(tmp_path, khabar, tasks)
    assert "task 1 appears more than once" in one(run, "unique_ids", "annotation 6")


def test_annotation_document_known_and_span_document_exists(tmp_path, khabar):
    stranger = task([annotation([span("بغداد", "GPE", region_id="orphan")])])
    stranger["data"]["doc_id"] = "0123456789abcdef"
    run, result = checked(tmp_path, khabar, [stranger])
    assert "0123456789abcdef is not in the corpus" in one(run, "annotation_document_known", "annotation 11")
    one(run, "span_document_exists", "region orphan")
    assert result.accounting.count("annotations").excluded == {"unknown document": 1}
    assert result.accounting.count("regions").excluded == {"unknown document": 1}


def test_task_text_differs_from_corpus(tmp_path, khabar):
    edited = task([annotation([span("بغداد", "GPE", region_id="g")])])
    edited["data"]["text"] = TEXT + " تحديث"
    run, _ = checked(tmp_path, khabar, [edited])
    assert "differs from the corpus text" in one(run, "annotation_document_known", "annotation 11")


def test_well_formed(tmp_path, khabar):
    broken = span("بغداد", "GPE", region_id="no-value")
    broken["value"] = "بغداد"
    run, result = checked(tmp_path, khabar, [task([annotation([broken, "not a result"])])])
    assert "value is" in one(run, "well_formed", "region no-value")
    assert len(run.lines_of("well_formed")) == 2
    assert run.lines_of("label_in_layer") == []  # one cause, one failure
    assert result.accounting.count("regions").excluded == {"failed check": 2}


@pytest.mark.parametrize(
    ("surface", "context"),
    [("بغداد ", None), ("، إن", "رومانوفسكي، إن"), ('"داعش"', None)],
)
def test_span_boundary_clean(tmp_path, khabar, surface, context):
    edge = span(surface, "GPE", region_id="edgy", context=context)
    run, result = checked(tmp_path, khabar, [task([annotation([edge])])], status=0)
    assert one(run, "span_boundary_clean", "region edgy").lstrip().startswith("warning")
    assert result.tables.spans["region_id"].to_list() == ["edgy"]  # a warning excludes nothing…
    run, result = checked(tmp_path, khabar, [task([annotation([edge])])], status=1, strict=True)
    assert one(run, "span_boundary_clean", "region edgy").lstrip().startswith("error")
    assert result.tables.spans.height == 0  # …unless --strict


@pytest.mark.parametrize("surface", ['إن "داعش"', 'بـ"قوات سوريا الديمقراطية"'])
def test_span_boundary_allows_a_closing_mark_whose_partner_is_inside(tmp_path, khabar, surface):
    run, _ = checked(tmp_path, khabar, [task([annotation([span(surface, "ORG", region_id="ok-edge")])])], status=0)
    assert run.lines_of("span_boundary_clean") == []


def test_span_boundary_rule_on_texts_the_corpus_lacks():
    texts = ["20%", "٪15", "(إكس)", "الرئيس (إكس)", "«داعش»", "داعش»", "“داعش“", "قال:"]
    clean = pl.DataFrame({"text": texts}).select(clean_edges(pl.col("text")))["text"].to_list()
    assert clean == [True, True, False, True, False, False, False, False]


@pytest.mark.parametrize(
    ("surface", "context", "reason"),
    [
        ("وبغداد", None, "«بغداد» is a separate word"),
        ("وسوريا", None, "«سوريا» is a separate word"),
        ("بالقول", None, "article ال"),
    ],
)
def test_entity_proclitic(tmp_path, khabar, surface, context, reason):
    entity = span(surface, "GPE", region_id="procl", context=context)
    run, _ = checked(tmp_path, khabar, [task([annotation([entity])])], status=0)
    assert reason in one(run, "entity_proclitic", "region procl")


def test_entity_proclitic_annotated_elsewhere(tmp_path, khabar):
    other = next(doc for doc in DOCUMENTS if "ببغداد" in doc["text"])
    entities = [span("ببغداد", "GPE", region_id="with", text=other["text"]), span("بغداد", "GPE", region_id="bare", text=other["text"])]
    run, _ = checked(tmp_path, khabar, [task([annotation(entities)], doc=other)], status=0)
    assert one(run, "entity_proclitic", "region with")


@pytest.mark.parametrize("name", ["بغداد", "واشنطن", "كردستان", "ألينا رومانوفسكي"])
def test_names_starting_with_proclitic_letters_are_not_flagged(tmp_path, khabar, name):
    run, _ = checked(tmp_path, khabar, [task([annotation([span(name, "GPE", region_id="name")])])], status=0)
    assert run.lines_of("entity_proclitic") == []


def test_article_lam_after_the_proclitic_is_not_flagged(tmp_path, khabar):
    """Rule B4: in «للتحالف» the span «لتحالف» keeps the article's ل; the proclitic ل is already outside."""
    entities = [span("لتحالف", "ORG", region_id="b4", context="للتحالف"), span("التحالف", "ORG", region_id="full")]
    run, _ = checked(tmp_path, khabar, [task([annotation(entities)])], status=0)
    assert run.lines_of("entity_proclitic") == []


def test_content_has_source(tmp_path, khabar):
    content = span("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", region_id="lonely")
    run, _ = checked(tmp_path, khabar, [task([annotation([content, quote_type(content)])])], status=0)
    one(run, "content_has_source", "region lonely")


def test_cue_linked(tmp_path, khabar):
    cue = span("قالت", "CUE", "attribution", region_id="cue-alone", context="وقالت رومانوفسكي")
    run, _ = checked(tmp_path, khabar, [task([annotation([cue])])], status=0)
    one(run, "cue_linked", "region cue-alone")


def test_consistent_label(tmp_path, khabar):
    first = span("داعش", "ORG", region_id="as-org")
    second = span("داعش", "PERS", region_id="as-pers", context="هزيمة داعش")
    run, _ = checked(tmp_path, khabar, [task([annotation([first, second])])], status=0)
    assert "also labelled PERS" in one(run, "consistent_label", "region as-org")
    assert "also labelled ORG" in one(run, "consistent_label", "region as-pers")


def _broken(results: list[dict], **extra) -> list[dict]:
    return [task([annotation(results, **extra)])]


def _unknown_document() -> list[dict]:
    stranger = task([annotation([span("بغداد", "GPE", region_id="orphan")])])
    stranger["data"]["doc_id"] = "0123456789abcdef"
    return [stranger]


def _past_end() -> list[dict]:
    bad = span("بغداد", "GPE")
    bad["value"].update(start=len(TEXT) - 2, end=len(TEXT) + 5)
    return _broken([bad])


def _moved() -> list[dict]:
    bad = span("بغداد", "GPE")
    bad["value"]["text"] = "واشنطن"
    return _broken([bad])


def _malformed(part: str) -> list[dict]:
    """A valid annotation whose one ``part`` has a field of the wrong type."""
    result = valid_result()
    if part == "span":
        result[0]["value"] = "بغداد"
    elif part == "relation":
        next(r for r in result if r["type"] == "relation")["direction"] = "up"
    else:
        next(r for r in result if r["type"] == "choices")["type"] = "labels"
    return _broken(result)


def _content(**extra) -> dict:
    return span("يقدر كلانا أن تنظيم داعش لا يزال يمثل تهديدا هنا", "CONTENT", "attribution", **extra)


def _duplicate_relation() -> list[dict]:
    result = valid_result()
    result.append(dict(result[-3]))  # the source relation again
    return _broken(result)


def _wrong_relation() -> list[dict]:
    content, person = _content(), span("رومانوفسكي", "PERS", context="وقالت رومانوفسكي")
    return _broken([content, quote_type(content), person, relation(content, person, "source")])


#: (frame, rule) → an export built to break that rule, and words of the failure's message
BROKEN: dict[tuple[Frame, str], tuple[Callable[[], list[dict]], str]] = {
    (Frame.OWNERS, "well_formed"): (lambda: _broken(valid_result(), ground_truth="yes"), "ground_truth is \"yes\", not true or false"),
    (Frame.SPANS, "well_formed"): (lambda: _malformed("span"), "value is"),
    (Frame.RELATIONS, "well_formed"): (lambda: _malformed("relation"), "direction is"),
    (Frame.CHOICES, "well_formed"): (lambda: _malformed("choice"), "expected 'choices'"),
    (Frame.OWNERS, "unique_ids"): (
        lambda: [task([annotation(valid_result(), annotation_id=5)], task_id=n) for n in (1, 2)], "appears more than once",
    ),
    (Frame.OWNERS, "annotation_document_known"): (_unknown_document, "is not in the corpus"),
    (Frame.SPANS, "unique_ids"): (
        lambda: _broken([span("بغداد", "GPE", region_id="same"), span("السفيرة", "OCC", region_id="same")]), "used by 2 span results",
    ),
    (Frame.SPANS, "span_document_exists"): (_unknown_document, "of this span is not in the corpus"),
    (Frame.SPANS, "offsets_in_range"): (_past_end, "past the end of the text"),
    (Frame.SPANS, "span_text_matches"): (_moved, "differs from the document text"),
    (Frame.SPANS, "span_whole_graphemes"): (lambda: _broken([span("أيضا", "OCC", context="أيضاً")]), "ends before U+064B"),
    (Frame.SPANS, "label_in_layer"): (lambda: _broken([span("بغداد", "CONTENT", "entity")]), "is not in layer 'entity'"),
    (Frame.SPANS, "quote_type_on_content"): (lambda: _broken([_content()]), "CONTENT has no quote_type"),
    (Frame.CHOICES, "quote_type_on_content"): (lambda: _broken([quote_type(span("بغداد", "GPE"))]), "which this annotation does not have"),
    (Frame.SPANS, "entity_no_crossing"): (
        lambda: _broken([span("الأمريكية لدى", "NORP"), span("لدى بغداد", "GPE")]), "entities may nest but not cross",
    ),
    (Frame.SPANS, "zone_no_overlap"): (
        lambda: _broken([span("إقرأ المزيد بغداد", "RELATED", "zone"), span("بغداد: نحتاج", "META", "zone", context="إقرأ المزيد بغداد: نحتاج")]),
        "zones never overlap",
    ),
    (Frame.SPANS, "no_duplicate_region"): (lambda: _broken([span("بغداد", "GPE"), span("بغداد", "GPE")]), "same entity/GPE"),
    (Frame.RELATIONS, "no_duplicate_region"): (_duplicate_relation, "is given twice"),
    (Frame.RELATIONS, "relation_ends"): (_wrong_relation, "found CONTENT → PERS"),
    (Frame.SPANS, "span_boundary_clean"): (lambda: _broken([span("بغداد ", "GPE")]), "white space or punctuation"),
    (Frame.SPANS, "entity_proclitic"): (lambda: _broken([span("وبغداد", "GPE")]), "starts with the proclitic"),
    (Frame.SPANS, "content_has_source"): (lambda: _broken([(content := _content()), quote_type(content)]), "CONTENT without a source"),
    (Frame.SPANS, "cue_linked"): (lambda: _broken([span("قالت", "CUE", "attribution", context="وقالت رومانوفسكي")]), "CUE that no CONTENT"),
    (Frame.SPANS, "consistent_label"): (
        lambda: _broken([span("داعش", "ORG"), span("داعش", "PERS", context="هزيمة داعش")]), "is also labelled",
    ),
}


def test_every_declared_rule_has_an_input_that_breaks_it():
    assert sorted(BROKEN) == sorted((r.frame, r.name) for r in RULES)


def test_the_rules_fast_path_and_pandera_find_the_same_rows_on_frames_that_break_every_rule(tmp_path):
    # every broken input in one export: each frame then breaks each of its rules, on rows among valid ones
    tasks = [broken for build, _ in BROKEN.values() for broken in build()]
    frames = prepare(read_raw([write_export(tmp_path, tasks)], repo().documents_file), load_scheme())
    for frame in Frame:
        data = frames.get(frame)
        with pytest.raises(SchemaErrors) as caught:
            FRAME_MODELS[frame].validate(data, lazy=True)
        cases = caught.value.failure_cases
        by_pandera = {str(check): sorted(group["index"].to_list()) for (check,), group in cases.group_by("check")}
        assert set(by_pandera) == {r.name for r in RULES if r.frame == frame}
        assert failing_rows(frame, data) == by_pandera
        assert all(len(rows) < data.height for rows in by_pandera.values())  # the valid rows pass on both sides


def test_a_frame_that_breaks_its_columns_schema_is_a_bug_not_a_failure(tmp_path):
    frames = prepare(read_raw([write_export(tmp_path, valid_export())], repo().documents_file), load_scheme())
    frames.spans = frames.spans.with_columns(row=pl.lit(0, pl.Int64))  # row numbers must be unique
    with pytest.raises(RuntimeError, match="spans frame does not match its schema"):
        _failing_rows(frames)


@pytest.mark.parametrize(("frame", "name"), list(BROKEN), ids=[f"{frame}-{name}" for frame, name in BROKEN])
def test_each_rule_fires_on_its_broken_input(tmp_path, frame, name):
    build, words = BROKEN[(frame, name)]
    declared = rule(frame, name)
    failures = validate_exports([write_export(tmp_path, build())]).failures
    fired = [f for f in failures if f.check == name and f.hint == declared.hint and words in f.message]
    assert fired, f"{frame}/{name} did not fire: {[(f.check, f.message) for f in failures]}"
    assert {f.severity for f in fired} == {declared.severity}


def test_no_error_rule_fires_on_the_committed_exports():
    committed = sorted(repo().exports_dir.glob("*.json"))
    assert committed, "the committed exports are the test's input"
    result = validate_exports(committed)
    assert result.accounting.count("regions").used > 1000  # the rules really ran over the corpus
    assert [f for f in result.failures if f.severity == Severity.ERROR] == []


def test_list_checks_lists_exactly_the_declared_rules(khabar):
    from khabar.kb.check import CHECKS as KB_CHECKS  # the knowledge base's checks, tripped in tests/kb

    run = khabar("validate", "--list-checks")
    assert run.status == 0
    listed = {line.split()[0]: line for line in run.out.splitlines()}
    assert list(listed) == [*dict.fromkeys(r.name for r in RULES), *KB_CHECKS]
    for r in RULES:
        name, severity, summaries = listed[r.name].split(maxsplit=2)
        assert severity == r.severity
        assert r.summary in summaries


def test_span_whole_graphemes(tmp_path, khabar):
    # «أيضاً» ends with a tanween; «تُجريها» has a damma on its first letter
    before_tanween = span("أيضا", "OCC", region_id="cut-end", context="أيضاً")
    on_damma = span("ُجريها", "OCC", region_id="cut-start", context="تُجريها")
    run, result = checked(tmp_path, khabar, [task([annotation([before_tanween, on_damma])])])
    assert "ends before U+064B ARABIC FATHATAN" in one(run, "span_whole_graphemes", "region cut-end")
    assert "starts on U+064F ARABIC DAMMA" in one(run, "span_whole_graphemes", "region cut-start")
    assert result.accounting.count("regions").excluded == {"failed check": 2}


def test_a_rule_declared_twice_or_with_two_severities_is_refused():
    from dataclasses import replace

    from khabar.validation.checks import _by_frame_and_name

    first = RULES[0]
    with pytest.raises(ValueError, match=f"rule '{first.name}' is declared twice on the {first.frame} frame"):
        _by_frame_and_name((first, first))
    elsewhere = replace(first, frame=next(f for f in Frame if f != first.frame), severity=Severity.WARNING)
    with pytest.raises(ValueError, match=f"rule '{first.name}' is declared both error and warning"):
        _by_frame_and_name((first, elsewhere))


def test_a_relation_or_choice_on_an_excluded_region_is_excluded_with_it(tmp_path, khabar):
    result = valid_result()
    content = next(item for item in result if item.get("id") == "cnt1" and item["type"] == "labels")
    content["value"]["text"] = "نص آخر"  # span_text_matches, an error: the CONTENT is excluded
    _, checked_result = checked(tmp_path, khabar, [task([annotation(result)])])
    accounting = checked_result.accounting
    assert accounting.count("regions").excluded == {"failed check": 1}
    assert accounting.count("relations").excluded == {"an end region was excluded": 2}
    assert accounting.count("quote_type choices").excluded == {"its region was excluded": 1}
    assert checked_result.tables.relations.height == 0


def test_a_clean_export_keeps_every_relation_and_choice(tmp_path, khabar):
    _, checked_result = checked(tmp_path, khabar, valid_export(), status=0)
    accounting = checked_result.accounting
    assert (accounting.count("relations").used, accounting.count("quote_type choices").used) == (2, 1)
    assert checked_result.tables.spans.filter(pl.col("region_id") == "cnt1")["quote_type"].to_list() == ["direct"]


def test_all_distinct_is_true_only_when_no_two_rows_are_equal():
    frame = pl.DataFrame({"key": [1, 1, 2, 2], "region_id": ["a", "b", "a", None]})
    assert _all_distinct(frame, ["key", "region_id"])
    assert not _all_distinct(frame, ["region_id"])  # "a" twice
    assert not _all_distinct(pl.concat([frame, frame.tail(1)]), ["key", "region_id"])  # (2, null) twice
    assert _all_distinct(frame.clear(), ["key", "region_id"])
