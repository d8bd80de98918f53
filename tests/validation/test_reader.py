"""Reading the shapes Label Studio really writes, and refusing what is not ours."""

from __future__ import annotations

import json

import polars as pl
import pytest

from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.validation.api import validate_exports
from khabar.validation.projection import read_exports
from tests.validation.validation_exports import DOC, annotation, span, task, ui_style, valid_export, valid_result, write_export


def test_ui_export_matches_documents_by_text_and_hides_user_ids(tmp_path, khabar):
    tasks = ui_style(valid_export())
    tasks[0]["annotations"][0]["completed_by"] = {"id": 4242, "email": "rana@example.org", "first_name": "Rana", "last_name": "X"}
    tasks[0]["annotations"].append({**annotation(valid_result(), annotation_id=12), "completed_by": 4242})
    path = write_export(tmp_path, tasks)
    result = validate_exports([path])
    assert result.errors == 0 and result.accounting.reconciles
    assert result.tables.annotations["doc_id"].to_list() == [DOC["doc_id"]] * 2
    annotators = result.tables.annotations["annotator"].to_list()
    assert annotators[0] == "ls-user-1" and annotators[1] == "ls-user-2"
    for fmt in ("text", "markdown", "json", "github"):
        run = khabar("validate", path, "--format", fmt, "--strict")
        assert "rana@example.org" not in run.out and "4242" not in run.out and "Rana" not in run.out


def test_a_task_without_doc_id_whose_text_no_corpus_record_has_is_named(tmp_path, khabar):
    """A task without a doc_id finds its document by its text's digest: one character more and it finds none."""
    tasks = ui_style(valid_export())
    tasks[0]["data"]["text"] += " "
    run = khabar("validate", write_export(tmp_path, tasks))
    assert run.status == 1 and "the task has no data.doc_id and its text matches no corpus document" in run.out, run.output


@pytest.mark.parametrize("given", ["rana@example.org", "Rana Haddad, 3 Karrada St", "annotator-01", "annotator-7 "])
def test_a_pseudonym_not_of_the_form_annotator_n_is_an_error_and_never_shown(tmp_path, khabar, given):
    tasks = valid_export()
    tasks[0]["annotations"][0]["completed_by"] = {"pseudonym": given}
    path = write_export(tmp_path, tasks)
    result = validate_exports([path])
    assert [(f.check, f.annotator) for f in result.failures] == [("well_formed", None)]
    assert "annotator-N" in result.failures[0].message
    assert result.tables.annotations.height == 0
    for fmt in ("text", "markdown", "json", "github"):
        run = khabar("validate", path, "--format", fmt)
        assert run.status == 1 and str(given).strip() not in run.out + run.err


def test_pulled_pseudonym_is_kept(tmp_path):
    tasks = valid_export()
    tasks[0]["annotations"][0]["completed_by"] = {"pseudonym": "annotator-7"}
    result = validate_exports([write_export(tmp_path, tasks)])
    assert result.tables.annotations["annotator"].to_list() == ["annotator-7"]


def test_editor_newlines_are_accepted_and_the_table_holds_the_real_text(tmp_path):
    surface = "بشكل كامل لم ينته بعد.\n\nإقرأ المزيد"
    zone = span(surface, "META", "zone", region_id="nl")
    zone["value"]["text"] = surface.replace("\n", "\\n")
    result = validate_exports([write_export(tmp_path, [task([annotation([zone])])])])
    assert result.failures == [] or all(f.check == "span_boundary_clean" for f in result.failures)
    assert result.tables.spans["text"].to_list() == [surface]


def test_an_escaped_newline_where_the_text_has_none_is_not_the_editor_s(tmp_path):
    surface = "بشكل كامل لم ينته بعد.\n\nإقرأ المزيد"
    editor = span(surface, "META", "zone", region_id="nl")
    editor["value"]["text"] = surface.replace("\n", "\\n")
    spaced = span("لم ينته بعد", "GPE", region_id="spaced")
    spaced["value"]["text"] = "لم\\nينته بعد"  # the two characters \n where the document has a space
    result = validate_exports([write_export(tmp_path, [task([annotation([editor, spaced])])])])
    assert [(f.check, f.region_id) for f in result.failures if f.check == "span_text_matches"] == [("span_text_matches", "spaced")]


def test_cancelled_drafts_and_predictions_are_counted_apart(tmp_path, khabar):
    prediction = {"id": 3, "model_version": "rules-1", "result": valid_result(), "score": 0.5}
    draft = {"id": 8, "completed_by": {"pseudonym": "annotator-2"}, "lead_time": 3.0, "result": [span("بغداد", "GPE")]}
    cancelled = annotation([], annotation_id=12, was_cancelled=True)
    tasks = [task([annotation(valid_result()), cancelled], drafts=[draft], predictions=[prediction])]
    path = write_export(tmp_path, tasks)
    result = validate_exports([path])
    assert result.errors == 0, result.failures
    assert result.accounting.count("annotations").excluded == {"cancelled": 1, "draft": 1}
    assert result.accounting.count("regions").excluded == {"draft": 1}
    assert result.accounting.count("predictions").used == 1
    assert result.accounting.count("prediction regions").used == 9
    assert result.tables.annotations["annotation_id"].to_list() == [11]
    assert result.tables.predictions_spans["model_version"].unique().to_list() == ["rules-1"]
    assert result.tables.predictions_relations.height == 2
    run = khabar("validate", path)
    assert "annotations            read 3 = used 1 + excluded 2 (cancelled 1, draft 1)" in run.out


def test_broken_prediction_is_a_warning_and_excluded(tmp_path):
    broken = span("بغداد", "GPE", region_id="pred-bad")
    broken["value"]["end"] += 3
    prediction = {"id": 3, "model_version": "rules-1", "result": [broken, span("بغداد", "GPE", region_id="pred-ok", context="لدى بغداد")]}
    result = validate_exports([write_export(tmp_path, [task([], predictions=[prediction])])])
    assert [(f.check, f.severity, f.region_id, f.kind) for f in result.failures] == [("span_text_matches", "warning", "pred-bad", "prediction")]
    assert result.exit_status == 0
    assert result.tables.predictions_spans["region_id"].to_list() == ["pred-ok"]
    assert result.accounting.count("prediction regions").excluded == {"failed check": 1}


def _hygiene_breaking_results() -> list[dict]:
    """A white-space edge, an entity with its proclitic inside, and one text with two labels."""
    return [
        span("بغداد ", "GPE", region_id="edgy"),
        span("وبغداد", "GPE", region_id="procl"),
        span("بغداد", "GPE", region_id="as-gpe", context="لدى بغداد"),
        span("بغداد", "ORG", region_id="as-org", context="لدى بغداد"),
    ]


@pytest.mark.parametrize("strict", [False, True])
def test_a_prediction_gets_no_hygiene_warning_an_annotation_gets_them(tmp_path, strict):
    prediction = {"id": 3, "model_version": "rules-1", "result": _hygiene_breaking_results()}
    tasks = [task([annotation(_hygiene_breaking_results())], predictions=[prediction])]
    result = validate_exports([write_export(tmp_path, tasks)], strict=strict)
    found = {(f.kind, f.check, f.region_id) for f in result.failures}
    assert {("annotation", "span_boundary_clean", "edgy"), ("annotation", "entity_proclitic", "procl")} <= found
    assert {("annotation", "consistent_label", "as-gpe"), ("annotation", "consistent_label", "as-org")} <= found
    assert [f for f in result.failures if f.kind == "prediction"] == []
    assert result.accounting.count("prediction regions").used == 4


def test_relation_drawn_leftwards_is_read_as_its_arrow(tmp_path):
    results = valid_result()
    for item in results:
        if item.get("type") == "relation":
            item["from_id"], item["to_id"], item["direction"] = item["to_id"], item["from_id"], "left"
    result = validate_exports([write_export(tmp_path, [task([annotation(results)])])])
    assert result.errors == 0, result.failures
    assert set(result.tables.relations["from_region"].to_list()) == {"cnt1"}


def test_quote_type_reaches_the_spans_table(tmp_path):
    result = validate_exports([write_export(tmp_path, valid_export())])
    contents = result.tables.spans.filter(result.tables.spans["label"] == "CONTENT")
    assert contents["quote_type"].to_list() == ["direct"]
    assert result.tables.spans.filter(result.tables.spans["label"] != "CONTENT")["quote_type"].null_count() == 8


def test_read_exports_gives_every_annotation_without_checking(tmp_path):
    cancelled = annotation([], annotation_id=12, was_cancelled=True)
    tables = read_exports([write_export(tmp_path, [task([annotation(valid_result()), cancelled])])], repo().documents_file)
    assert tables.annotations["was_cancelled"].to_list() == [False, True]
    assert tables.spans.height == 9 and tables.relations.height == 2


def test_read_exports_refuses_malformed_results(tmp_path):
    with pytest.raises(KhabarError, match="malformed region"):
        read_exports([write_export(tmp_path, [task([annotation(["oops"])])])], repo().documents_file)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ('{"tasks": []}', "top level is a JSON dict"),
        ("[1, 2]", "not a Label Studio task"),
        ('[{"id": 1, "data": {"image": "x.png"}}]', "has no data.text"),
        ('[{"id": "one", "data": {"text": "x"}}]', "not an integer"),
        ('[{"data": {"text": "x"}}]', "a file of tasks to import"),
    ],
)
def test_not_a_label_studio_export(tmp_path, khabar, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    run = khabar("validate", path)
    assert run.status == 2
    assert message in run.err and str(path) in run.err
    assert len(run.err.strip().splitlines()) == 2  # progress + the one error line


def test_another_projects_config_is_refused(tmp_path, khabar):
    foreign = span("بغداد", "GPE")
    foreign["from_name"] = "ner"
    run = khabar("validate", write_export(tmp_path, [task([annotation([foreign])])]))
    assert run.status == 2
    assert "'ner'" in run.err and "another project" in run.err and "task 1" in run.err


def test_other_object_name_is_refused(tmp_path, khabar):
    foreign = span("بغداد", "GPE")
    foreign["to_name"] = "dialogue"
    run = khabar("validate", write_export(tmp_path, [task([annotation([foreign])])]))
    assert run.status == 2 and "'dialogue'" in run.err


def test_no_exports_is_clean_and_says_so(tmp_path, khabar):
    """A repository without exports yet is valid; CI runs before the first pull."""
    root = tmp_path / "repo"
    for relative in ("annotation/labeling_config.xml", "dataset/release.toml", "annotation/corpus/documents.jsonl"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes((repo().root / relative).read_bytes())
    (root / "annotation" / "exports").mkdir()
    run = khabar("--root", root, "validate")
    assert run.status == 0, run.out + run.err
    assert "no exports to validate" in run.out
    assert "annotations            read 0 = used 0 + excluded 0" in run.out


def test_a_named_folder_without_exports_is_refused(tmp_path, khabar):
    (tmp_path / "notes.txt").write_text("x\n", encoding="utf-8")
    run = khabar("validate", tmp_path)
    assert run.status == 2
    assert f"{tmp_path}: folder named as exports holds no *.json file: it holds 1 other entry ('notes.txt')" in run.err


def test_missing_export_file(tmp_path, khabar):
    run = khabar("validate", tmp_path / "nope.json")
    assert run.status == 2 and "no such export file" in run.err


def test_empty_export_list(tmp_path, khabar):
    run = khabar("validate", write_export(tmp_path, []))
    assert run.status == 0 and "0 task(s)" in run.out


def test_unannotated_task(tmp_path):
    result = validate_exports([write_export(tmp_path, [task([])])])
    assert result.exit_status == 0 and result.accounting.tasks == 1 and result.tables.annotations.height == 0


def test_integer_region_ids_are_read_as_strings(tmp_path):
    # ints as region ids (an import by hand) are read as strings everywhere
    results = valid_result()
    for item in results:
        for key in ("id", "from_id", "to_id"):
            if item.get(key) == "cnt1":
                item[key] = 501
    result = validate_exports([write_export(tmp_path, [task([annotation(results)])])])
    assert result.errors == 0, result.failures
    assert "501" in result.tables.relations["from_region"].to_list()


def test_documents_file_must_exist(tmp_path, khabar):
    run = khabar("validate", write_export(tmp_path, valid_export()), "--documents", tmp_path / "none.jsonl")
    assert run.status == 2 and "corpus records not found" in run.err


def test_broken_corpus_records_are_unusable_input(tmp_path, khabar):
    line = repo().documents_file.read_text(encoding="utf-8").splitlines()[0]
    twice = tmp_path / "documents.jsonl"
    twice.write_text(line + "\n" + line + "\n", encoding="utf-8")
    run = khabar("validate", write_export(tmp_path, valid_export()), "--documents", twice)
    doc_id = json.loads(line)["doc_id"]
    assert run.status == 2
    assert f"{twice}: document {doc_id}: line 2: field 'doc_id' is «{doc_id}», which an earlier record has too" in run.err


def test_offsets_are_code_points_past_emoji_and_combining_marks(tmp_path, khabar):
    from khabar.annotation.ingest import doc_id_for

    text = "😀🇮🇶 قالَ السفيرُ في\n بغداد 𝔸 اليوم"
    doc = {**DOC, "doc_id": doc_id_for(text), "text": text, "file": "emoji.txt"}
    documents = tmp_path / "documents.jsonl"
    documents.write_text(json.dumps(doc, ensure_ascii=False) + "\n", encoding="utf-8")
    regions = [span("بغداد", "GPE", region_id="g", text=text), span("اليوم", "DATE", region_id="d", text=text)]
    path = write_export(tmp_path, [task([annotation(regions)], doc=doc)])
    run = khabar("validate", path, "--documents", documents, "--strict")
    assert run.status == 0, run.out
    shifted = [dict(r, value={**r["value"], "start": r["value"]["start"] + 1, "end": r["value"]["end"] + 1}) for r in regions]
    run = khabar("validate", write_export(tmp_path, [task([annotation(shifted)], doc=doc)]), "--documents", documents)
    assert run.status == 1
    assert [" region g " in line for line in run.lines_of("span_text_matches")] == [True]
    assert [" region d " in line for line in run.lines_of("offsets_in_range")] == [True]  # "اليوم" ends the text


def _owners_of_every_shape() -> list[dict]:
    """Annotations the typed read takes whole, and ones it leaves (in part or all) to the one-by-one read."""
    def edited(change) -> list[dict]:
        results = valid_result()
        for item in results:
            change(item)
        return results

    def leftwards(item: dict) -> None:
        if item["type"] == "relation":
            item["from_id"], item["to_id"], item["direction"] = item["to_id"], item["from_id"], "left"

    def layer_choice(item: dict) -> None:  # a choice of a layer's control: a region row among the spans
        if item["type"] == "choices":
            item["from_name"] = "entity"

    def int_id(item: dict) -> None:  # not the typed shape: the task is decoded as plain JSON
        if item.get("id") == "gpe1":
            item["id"] = 77

    results = [
        valid_result(),
        edited(leftwards),
        edited(lambda item: item.pop("direction", None)),
        edited(layer_choice),
        edited(int_id),
        [item for item in valid_result() if item["type"] == "labels"],
        [item for item in valid_result() if item["type"] != "labels"],
        [span("بغداد", "GPE", "attribution"), span("بغداد", "CONTENT", "entity")],  # a Khabar label in the wrong layer
        [],
    ]
    return [task([annotation(result, annotation_id=100 + n)], task_id=n) for n, result in enumerate(results)]


def test_the_typed_read_gives_the_rows_of_the_plain_read(tmp_path, monkeypatch):
    from khabar.validation import reader
    from khabar.validation.export_json import ExportFile
    from khabar.validation.reader import Reader, read_raw
    from tests.validation.test_rules import BROKEN

    tasks = _owners_of_every_shape() + [broken for build, _ in BROKEN.values() for broken in build()]
    ways: list[str] = []
    add_typed, read_result = Reader._add_typed_results, Reader.read_result

    def typed_owner(self, *args):
        ways.append("typed owner")
        return add_typed(self, *args)

    def plain_result(self, *args):
        ways.append("plain result")
        return read_result(self, *args)

    monkeypatch.setattr(Reader, "_add_typed_results", typed_owner)
    monkeypatch.setattr(Reader, "read_result", plain_result)
    path = write_export(tmp_path, tasks)  # indented: streamed, each task decoded typed when it has the shape
    typed = read_raw([path], repo().documents_file)
    assert "typed owner" in ways and "plain result" in ways  # both ways ran
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")  # one line, read whole (as a file whose top level is not a list is): typed too
    ways.clear()
    with monkeypatch.context() as whole:
        whole.setattr(reader, "ExportFile", lambda *args, streamed, **kwargs: ExportFile(*args, streamed=False, **kwargs))
        typed_whole = read_raw([path], repo().documents_file)
    assert "typed owner" in ways and "plain result" in ways
    # the same file read with no typed decoder: every task as plain JSON
    monkeypatch.setattr(reader, "ExportFile", lambda *args, typed=None, **kwargs: ExportFile(*args, **kwargs))
    ways.clear()
    plain = read_raw([path], repo().documents_file)
    assert "typed owner" not in ways
    for frame in ("tasks", "owners", "regions", "choices", "relations"):
        rows = {name: getattr(read, frame).drop("byte_start", "byte_end", strict=False) for name, read in (("typed", typed), ("typed_whole", typed_whole), ("plain", plain))}
        assert rows["typed"].equals(rows["plain"]), frame  # where a task's bytes are is the file's layout's
        assert rows["typed_whole"].equals(rows["plain"]), frame
    assert plain.regions["problem"].is_not_null().any() and plain.relations["direction"].to_list().count("left") == 2



#: JSON json reads its own way, written into one span result (or its task) of the clean annotation: the old bytes
#: of the result's JSON (one line, sorted keys) and the new
JSON_OF_ITS_OWN = {
    "a key given twice (json keeps the last)": ('"id": "gpe1"', '"id": "gpe0", "id": "gpe1"'),
    "a label given twice": ('"labels": ["GPE"]', '"labels": ["PERS"], "labels": ["GPE"]'),
    "a value given twice": ('"value": {', '"value": {"start": 0}, "value": {'),
    "an escaped key": ('"start": ', '"\\u0073tart": '),
    "an escaped type": ('"type": "labels"', '"\\u0074ype": "l\\u0061bels"'),
    "the type last": ('"type": "labels", ', ""),
    "NaN as a lead_time": ('"lead_time": 42.5', '"lead_time": NaN'),
    "1e400 as a start": ('"start": ', '"start": 1e400, "x": '),
    "-0 as a start, 1E1 as an end": ('"start": ', '"start": -0, "end": 1E1, "x": '),
    "1e400 and -Infinity where typed decoding skips them": ('"origin": "manual"', '"origin": [1e400, -Infinity]'),
    "a list of owners given twice, the first of another shape": ('"annotations": [', '"annotations": 7, "annotations": ['),
}


@pytest.mark.parametrize("case", list(JSON_OF_ITS_OWN))
def test_the_typed_read_gives_the_rows_of_the_plain_read_whatever_json_reads_its_own_way(tmp_path, monkeypatch, case):
    """What msgspec's typed decoding and json could read apart (a key given twice, an escaped key, NaN, 1e400,
    Infinity, -0, 1E1): the typed read gives the rows the plain read gives, which are json's."""
    from khabar.validation import reader
    from khabar.validation.export_json import ExportFile
    from khabar.validation.reader import read_raw

    old, new = JSON_OF_ITS_OWN[case]
    results = valid_result()
    gpe = next(item for item in results if item.get("id") == "gpe1")
    text = json.dumps([task([annotation(results)])], ensure_ascii=False, sort_keys=True)
    gpe_json = json.dumps(gpe, ensure_ascii=False, sort_keys=True)
    if case == "the type last":
        edited = gpe_json.replace(old, new, 1)[:-1] + ', "type": "labels"}'
    else:
        edited = gpe_json.replace(old, new, 1)
    text = text.replace(gpe_json, edited, 1) if old in gpe_json else text.replace(old, new, 1)
    assert text.count(new or '"type": "labels"}') >= 1
    path = tmp_path / "export.json"
    path.write_text(text, encoding="utf-8")
    typed = read_raw([path], repo().documents_file)
    monkeypatch.setattr(reader, "ExportFile", lambda *args, typed=None, **kwargs: ExportFile(*args, **kwargs))
    plain = read_raw([path], repo().documents_file)
    for frame in ("tasks", "owners", "regions", "choices", "relations"):
        assert getattr(typed, frame).equals(getattr(plain, frame)), frame
    parsed = json.loads(text)[0]["annotations"][0]
    read = typed.regions.filter(pl.col("result_pos") == results.index(gpe)).row(0, named=True)
    found = next(item for item in parsed["result"] if item.get("value", {}).get("text") == "بغداد")
    assert (read["region_id"], read["label"], read["text"]) == (found["id"], found["value"]["labels"][0], found["value"]["text"])
    assert (read["start"], read["end"]) == tuple(
        value if type(value) is int else None for value in (found["value"]["start"], found["value"]["end"])
    )
    assert json.dumps(typed.owners["lead_time"][0]) == json.dumps(parsed["lead_time"])

@pytest.mark.parametrize("indent", [2, None], ids=["indented", "one line"])
def test_the_tasks_frame_says_where_each_tasks_json_is_in_its_file(tmp_path, indent):
    """``byte_start`` and ``byte_end`` hold the task's JSON (``--repair`` rewrites a task there, and only there)."""
    from khabar.validation.reader import read_raw

    tasks = _owners_of_every_shape()
    tasks[1]["lead_time"] = float("nan")  # a task json parses, msgspec does not: found by json's reading
    path = tmp_path / "export.json"
    path.write_bytes(json.dumps(tasks, ensure_ascii=False, indent=indent).encode("utf-8"))
    data = path.read_bytes()
    read = read_raw([path], repo().documents_file).tasks
    assert read["task_pos"].to_list() == list(range(len(tasks)))
    found = [json.dumps(json.loads(data[start:end])) for start, end in read.select("byte_start", "byte_end").iter_rows()]
    assert found == [json.dumps(task) for task in tasks]  # NaN equals itself there


def test_corpus_texts_read_from_the_frame_are_the_dict_of_its_rows(monkeypatch):
    """The readers look texts up by doc_id from the documents frame, not from a dict of every text made up front:
    the lookups, the order and the pairs (a slice of rows at a time) are those of that dict."""
    from khabar.validation import reader

    documents = reader.read_documents(repo().documents_file)
    expected = dict(zip(documents["doc_id"].to_list(), documents["text"].to_list()))
    monkeypatch.setattr(reader, "PAIRS_SLICE", 2)
    texts = reader.CorpusTexts(documents)
    assert len(expected) > 3 and texts == expected and list(texts) == list(expected)
    assert list(texts.pairs()) == list(expected.items())
    assert texts.get("no-such-document") is None and "no-such-document" not in texts
