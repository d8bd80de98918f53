"""The rule-based pre-annotator on real sentences of the corpus."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import load_records
from khabar.annotation.preannotate import MODEL_VERSION, preannotate
from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo

RECORDS = [r for r in load_records(repo().documents_file) if r.superseded_by is None]


def corpus_line(fragment: str) -> str:
    """The corpus line that holds ``fragment`` (so every test sentence is real)."""
    for record in RECORDS:
        for line in record.text.split("\n"):
            if fragment in line:
                return line
    raise AssertionError(f"not in the corpus: {fragment}")


def spans(results: list[dict], label: str | None = None) -> list[tuple[str, str, str]]:
    return [
        (r["from_name"], r["value"]["labels"][0], r["value"]["text"])
        for r in results
        if r["type"] == "labels" and (label is None or r["value"]["labels"][0] == label)
    ]


def by_id(results: list[dict]) -> dict[str, dict]:
    return {r["id"]: r for r in results if r["type"] == "labels"}


def relations(results: list[dict]) -> list[tuple[str, str, str]]:
    regions = by_id(results)
    return [
        (regions[r["from_id"]]["value"]["text"], r["labels"][0], regions[r["to_id"]]["value"]["text"])
        for r in results
        if r["type"] == "relation"
    ]


def quote_types(results: list[dict]) -> dict[str, str]:
    return {r["value"]["text"]: r["value"]["choices"][0] for r in results if r["type"] == "choices"}


@pytest.mark.parametrize("record", RECORDS, ids=[r.doc_id for r in RECORDS])
def test_every_result_is_consistent_with_the_text_and_the_scheme(record):
    scheme = load_scheme()
    results = preannotate(record.text, Gazetteer())
    assert results, "every corpus page has quotes and zones"
    regions = by_id(results)
    for result in results:
        if result["type"] == "relation":
            assert result["from_id"] in regions and result["to_id"] in regions
            assert result["labels"][0] in scheme.relation_labels
            rule = scheme.relation(result["labels"][0])
            assert regions[result["from_id"]]["value"]["labels"] == [rule.from_label]
            assert regions[result["to_id"]]["value"]["labels"] == [rule.to_label]
            continue
        value = result["value"]
        assert 0 <= value["start"] < value["end"] <= len(record.text)
        assert value["text"] == record.text[value["start"] : value["end"]]
        assert value["text"] == value["text"].strip()
        assert result["from_name"] in scheme.control_names
        if result["type"] == "labels":
            assert value["labels"][0] in scheme.labels(result["from_name"])
        else:
            assert result["id"] in regions, "a per-region choice reuses its region's id"
            assert regions[result["id"]]["value"]["labels"] == ["CONTENT"]
    zones = sorted((r["value"]["start"], r["value"]["end"]) for r in results if r.get("from_name") == "zone")
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(zones, zones[1:])), "zones never overlap"


def test_it_is_deterministic_and_keeps_no_state_between_texts():
    """The same text gives the same results whatever was pre-annotated before it: the version a
    prediction carries (the rules' version) then stands for one output per text."""
    first, second = RECORDS[0].text, RECORDS[1].text
    alone = preannotate(first, Gazetteer())
    preannotate(second, Gazetteer())
    assert preannotate(first, Gazetteer()) == alone
    assert preannotate(second, Gazetteer()) != alone


def test_guillemet_quote_with_verb_subject_cue():
    line = corpus_line("قالت السفيرة الأميركية في بغداد ألينا رومانوفسكي إن «تنظيم (داعش)")
    results = preannotate(line, Gazetteer())
    content = "تنظيم (داعش) لا يزال يشكل تهديدا في العراق"
    assert ("attribution", "CONTENT", content) in spans(results)
    assert (content, "cue", "قالت") in relations(results)
    # The subject runs from the cue to the first preposition.
    assert (content, "source", "السفيرة الأميركية") in relations(results)
    assert quote_types(results)[content] == "direct"


def test_prefixed_cue_without_subject_links_to_the_nearest_earlier_source():
    first = corpus_line("وقالت السفيرة في تعليق إضافي بعد المقابلة")
    second = corpus_line("وأضافت «لهذا السبب تشترك الولايات المتحدة")
    text = first + "\n\n" + second
    results = preannotate(text, Gazetteer())
    cues = spans(results, "CUE")
    assert ("attribution", "CUE", "قالت") in cues and ("attribution", "CUE", "أضافت") in cues, "و stays outside the cue"
    added = [c for c, label, target in relations(results) if label == "cue" and target == "أضافت"]
    assert len(added) == 1 and added[0].startswith("لهذا السبب")
    assert (added[0], "source", "السفيرة") in relations(results)


def test_ascii_double_quotes():
    line = corpus_line('وقالت رومانوفسكي "يقدر كلانا')
    results = preannotate(line, Gazetteer())
    contents = [text for _, _, text in spans(results, "CONTENT")]
    assert any(text.startswith("يقدر كلانا أن تنظيم داعش") for text in contents)
    assert "داعش عدو إرهابي مشترك يجب هزيمته في كل مكان" in contents, "second quote of the line, cue مضيفة"
    assert ("attribution", "SOURCE", "رومانوفسكي") in spans(results)


def test_curly_quotes_closed_by_an_opening_mark():
    line = corpus_line("وذكرت السفارة في تدوينة على منصة “إكس”")
    results = preannotate(line, Gazetteer())
    contents = [text for _, _, text in spans(results, "CONTENT")]
    assert len(contents) == 1 and contents[0].startswith("الولايات المتحدة تواصل إعطاء الأولوية")
    assert contents[0].endswith("لتنظيمي داعش والقاعدة"), "the closing “ and the full stop stay outside"
    assert "إكس" not in contents, "a quoted one-word name is not a quote"
    assert (contents[0], "source", "السفارة") in relations(results)


def test_indirect_speech_after_cue_and_particle():
    line = corpus_line("أفاد المتحدث باسم الحكومة العراقية، باسم العوادي")
    results = preannotate(line, Gazetteer())
    content = next(text for _, _, text in spans(results, "CONTENT"))
    assert content.startswith("أجندة زيارة السوداني إلى واشنطن") and content.endswith("جو بايدن")
    assert quote_types(results)[content] == "indirect"
    # the name in apposition after the comma is part of the source, as the gold has it
    assert (content, "source", "المتحدث باسم الحكومة العراقية، باسم العوادي") in relations(results)


def test_sentence_without_cue_or_quote_gets_no_attribution():
    line = corpus_line("وجاءت تصريحات السفيرة بعد إعلان فرع")
    assert [s for s in spans(preannotate(line, Gazetteer())) if s[0] == "attribution"] == []


def test_zones_from_page_patterns():
    record = next(r for r in RECORDS if r.doc_id == "c59ea302dcd9b174")
    zones = [(label, text) for _, label, text in spans(preannotate(record.text, Gazetteer())) if _ == "zone"]
    assert ("META", "المصدر: RT Arabic") in zones
    assert any(label == "META" and text.startswith("كلمات دلالية") for label, text in zones)
    assert ("RELATED", "إقرأ المزيد بغداد: نحتاج إلى تعاون لمواجهة الإرهاب") in zones
    tail = [text for label, text in zones if label == "RELATED" and text.startswith("إقرأ أيضاً")]
    assert len(tail) == 1 and record.text.rstrip().endswith(tail[0][-30:]), "a teaser heading runs to the end"


def test_duplicated_caption_lines_and_related_heading():
    record = next(r for r in RECORDS if r.doc_id == "81ec20757aeac4d6")
    results = preannotate(record.text, Gazetteer())
    captions = [r["value"] for r in results if r["type"] == "labels" and r["value"]["labels"] == ["CAPTION"]]
    # the closing parenthesis is the last character, cut as the guidelines' CAPTION section says
    caption = "الرئيس العراقي عبد اللطيف رشيد يستقبل (الأحد) السفيرة الأميركية في بغداد ألينا رومانوفسكي (إكس"
    assert [c["text"] for c in captions] == [caption] * 4
    related = [r["value"] for r in results if r["type"] == "labels" and r["value"]["labels"] == ["RELATED"]]
    assert len(related) == 1 and related[0]["text"].startswith("مقالات ذات صلة")
    assert all(c["end"] <= related[0]["start"] for c in captions), "captions of the teaser tail are inside RELATED"
    assert ("zone", "TITLE", "سفيرة واشنطن: التحالف ضد «داعش» لم ينتهِ عمله بالعراق") in spans(results)


def test_gazetteer_entities_longest_first_nested_and_outside_proclitics():
    gazetteer = Gazetteer(
        {"السفارة الأميركية": "ORG", "بغداد": "GPE", "رومانوفسكي": "PERS", "السفارة الأميركية ببغداد": "FAC"}
    )
    line = corpus_line("وقالت رومانوفسكي من مقر السفارة الأميركية ببغداد")
    entities = [(label, text) for layer, label, text in spans(preannotate(line, gazetteer)) if layer == "entity"]
    assert ("PERS", "رومانوفسكي") in entities
    assert ("FAC", "السفارة الأميركية ببغداد") in entities
    assert ("ORG", "السفارة الأميركية") in entities, "nested inside the longer match"
    assert ("GPE", "بغداد") in entities, "ببغداد: the proclitic ب stays outside"
    assert not any(text == "بغداد" and label != "GPE" for label, text in entities)


def test_gazetteer_needs_a_word_boundary():
    line = corpus_line("كثفت فصائل عراقية مسلحة")
    entities = spans(preannotate(line, Gazetteer({"عراق": "GPE"})))
    assert not [s for s in entities if s[0] == "entity"], "عراقية is not عراق"


def test_empty_gazetteer_gives_no_entities():
    for record in RECORDS:
        assert not [r for r in preannotate(record.text, Gazetteer()) if r.get("from_name") == "entity"]


def test_the_rules_read_the_scheme_when_they_run_not_when_imported(tmp_path):
    """Importing the pre-annotator (as ``khabar --help`` and the model do) needs no dataset repository."""
    code = (
        "import khabar.annotation.preannotate as p\n"
        "from khabar.foundation.errors import KhabarError\n"
        "from khabar.annotation.gazetteer import Gazetteer\n"
        "print(p.MODEL_VERSION)\n"
        "try:\n    p.preannotate('x', Gazetteer())\nexcept KhabarError as exc:\n    print('refused:', exc)\n"
    )
    env = {**os.environ, "KHABAR_ROOT": str(tmp_path)}  # a folder that is no dataset repository
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    version, refused = run.stdout.splitlines()
    assert version == MODEL_VERSION
    assert refused.startswith("refused: ") and "not a Khabar dataset repository" in refused  # the scheme is read on the first run


def test_renamed_layers_and_labels_in_the_config_are_what_the_rules_emit(tmp_path):
    """The rules find the attribution and zone layers, the content/source/cue labels and the relations
    through the scheme's roles: renamed in the config, they come out renamed, each region still scored."""
    renames = {"attribution": "speech", "zone": "region", "CONTENT": "SAID", "SOURCE": "WHO", "CUE": "VERB",
               "source": "said_by", "cue": "said_with", "quote_type": "style"}
    xml = repo().labeling_config.read_text(encoding="utf-8")
    for old, new in renames.items():
        xml = re.sub(f'(?<!role=)"{old}"', f'"{new}"', xml)
    (tmp_path / "annotation").mkdir()
    (tmp_path / "annotation" / "labeling_config.xml").write_text(xml, encoding="utf-8")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "release.toml").write_bytes(repo().release_file.read_bytes())
    line = corpus_line("قالت السفيرة الأميركية في بغداد ألينا رومانوفسكي إن «تنظيم (داعش)")
    code = "import json, sys\nfrom khabar.annotation.preannotate import scored_rule_results\nprint(json.dumps(scored_rule_results(sys.argv[1])))\n"
    env = {**os.environ, "KHABAR_ROOT": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", code, line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    regions = {(r["from_name"], r["value"]["labels"][0]) for r in results if r["type"] == "labels"}
    assert {("speech", "SAID"), ("speech", "WHO"), ("speech", "VERB")} <= regions
    assert not {layer for layer, _ in regions} - {"speech", "region"}
    assert all("score" in r for r in results if r["type"] == "labels")
    assert {r["from_name"] for r in results if r["type"] == "choices"} == {"style"}
    assert {r["labels"][0] for r in results if r["type"] == "relation"} == {"said_by", "said_with"}
