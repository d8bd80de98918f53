"""Agreement measures against known values, and the adjudication policy."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import asdict, astuple, replace
from functools import reduce
from itertools import combinations
from operator import add
from unittest.mock import patch

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.dataset import agreement as agreement_module
from khabar.dataset.agreement import (
    AgreementSums,
    PredictionSums,
    agreement,
    agreement_sums,
    capped_levels,
    krippendorff_alpha_nominal,
    nesting_levels,
    prediction_quality,
    prediction_sums,
)
from khabar.dataset.segment import tokenize
from khabar.foundation.tables import ANNOTATIONS, RELATIONS, SPANS, empty
from khabar.gold.adjudicate import Gold, Policy, Reason, adjudicate, committed_reasons, latest_per_annotator
from khabar.gold.inputs import BUILDER_PREDICTION_SPANS, BuildInputs, from_tables
from tests.dataset import khabar_fixtures as fx

LAYERS = ("entity", "attribution", "zone")


def committed_inputs_and_gold() -> tuple[BuildInputs, Gold]:
    """The committed exports' inputs, whole, and their gold."""
    from khabar.foundation.paths import repo
    from khabar.gold.load import load_inputs

    inputs = load_inputs(sorted(repo().exports_dir.glob("*.json")), repo().documents_file)
    return inputs, adjudicate(inputs)


def test_alpha_matches_krippendorffs_textbook_example():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal data with missing values: α = 0.743."""
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [list(unit) for unit in zip(*coders)]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=0.0005)


def test_alpha_is_one_for_perfect_agreement_and_undefined_without_variation():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"], ["a", "a"]]) == 1.0
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None


def test_span_f1_exact_and_overlap_on_the_two_annotators():
    inputs = from_tables(fx.tables("v1"))
    result = agreement(inputs, ("entity", "attribution", "zone"))
    # Asharq has two independent annotations; on RT one of the two is the ground truth, which is no independent pass
    assert (result.documents, result.pairs) == (1, 1)
    f1 = {(f.layer, f.label, f.match): f for f in result.f1}
    # Asharq: annotator 1 has ORG داعش twice (title, quote), annotator 2 has the title one and "(داعش)":
    # exact matches 1, overlap matches 2.
    assert (f1["entity", "ORG", "exact"].matched, f1["entity", "ORG", "overlap"].matched) == (1, 2)
    assert f1["entity", "ORG", "exact"].f1 == pytest.approx(2 * 1 / (2 + 2))
    assert f1["zone", "TITLE", "exact"].f1 == 1.0
    alpha = dict(result.alpha)
    assert alpha["attribution"] == 1.0
    assert 0 < alpha["entity"] < 1


@st.composite
def annotated_documents(draw) -> BuildInputs:
    """A few short texts, each labeled by up to five annotators (some twice, some as ground truth), with
    spans that may nest, cross, repeat or lie in a layer outside ``LAYERS``."""
    pieces = st.sampled_from(["قال", "داعش", "abc", "12", "،", ".", "«", "»", " ", "  ", "\n", "؟"])
    labels = {"entity": ["PERS", "ORG"], "attribution": ["CUE", "SOURCE", "CONTENT"], "zone": ["TITLE"], "other": ["X"]}
    documents, annotations, spans = [], [], []
    for d in range(draw(st.integers(1, 4))):
        text = "".join(draw(st.lists(pieces, max_size=25)))
        documents.append({"doc_id": f"d{d}", "text": text})
        for annotator in range(draw(st.integers(0, 5))):
            for day in range(draw(st.integers(1, 2))):
                aid = len(annotations) + 1
                annotations.append({"annotation_id": aid, "task_id": d, "doc_id": f"d{d}", "annotator": f"a{annotator}", "created_at": "",
                                    "updated_at": f"2026-01-0{day + 1}", "lead_time": 1.0, "was_cancelled": False, "ground_truth": draw(st.booleans()) and day == 0})
                for _ in range(draw(st.integers(0, 10)) if text else 0):
                    layer = draw(st.sampled_from(list(labels)))
                    start = draw(st.integers(0, len(text) - 1))
                    end = min(len(text), start + draw(st.sampled_from([1, 2, 3, 5, 8, 30])))
                    span = {"annotation_id": aid, "doc_id": f"d{d}", "region_id": f"r{len(spans)}", "layer": layer,
                            "label": draw(st.sampled_from(labels[layer])), "start": start, "end": end, "text": text[start:end], "quote_type": None}
                    spans += [span] * draw(st.sampled_from([1, 1, 1, 2]))
    return BuildInputs(pl.DataFrame(documents), pl.DataFrame(annotations, schema=ANNOTATIONS), pl.DataFrame(spans, schema=SPANS), pl.DataFrame(), pl.DataFrame())


def _outermost_label(spans: list[tuple[int, int, str]], token: tuple[int, int]) -> str:
    """The label of the longest span covering the token (between equally long ones, the later start, then the greater label), or O."""
    covering = [s for s in spans if s[0] <= token[0] < s[1]]
    return max(covering, key=lambda s: (s[1] - s[0], s[0], s[2]))[2] if covering else "O"


def plain_agreement(inputs: BuildInputs, layers: tuple[str, ...]) -> tuple:
    """The module docstring's definitions computed the plain way: pair by pair, token by token."""
    latest = latest_per_annotator(inputs.annotations.filter(~pl.col("ground_truth")))
    versions = {doc_id: sorted(ids) for doc_id, ids in latest.group_by("doc_id").agg("annotation_id").iter_rows() if len(ids) >= 2}
    texts = dict(inputs.documents.select("doc_id", "text").iter_rows())
    spans = inputs.spans.select("annotation_id", "layer", "start", "end", "label").rows()
    counts: dict[tuple[str, str, str], list[int]] = {}
    units: dict[str, list[tuple[str, ...]]] = {layer: [] for layer in layers}
    for doc_id in sorted(versions):
        for layer in layers:
            drawn = {a: [s[2:] for s in spans if s[:2] == (a, layer)] for a in versions[doc_id]}
            for a, b in combinations(versions[doc_id], 2):
                for label in {s[2] for s in drawn[a] + drawn[b]}:
                    left, right = sorted(s for s in drawn[a] if s[2] == label), sorted(s for s in drawn[b] if s[2] == label)
                    free = list(right)
                    overlap = 0
                    for start, end, _ in left:
                        match = next((r for r in free if r[0] < end and start < r[1]), None)
                        if match:
                            free.remove(match)
                            overlap += 1
                    for key in ((layer, label), (layer, "*")):
                        for match, matched in (("exact", len(set(left) & set(right))), ("overlap", overlap)):
                            total = counts.setdefault((*key, match), [0, 0, 0])
                            total[0], total[1], total[2] = total[0] + matched, total[1] + len(left), total[2] + len(right)
            tokens = tokenize(texts[doc_id], {b for version in drawn.values() for s in version for b in s[:2]})
            units[layer] += [tuple(_outermost_label(drawn[a], token) for a in versions[doc_id]) for token in tokens]
    f1 = sorted((*key, *values) for key, values in counts.items())
    return len(versions), sum(len(v) * (len(v) - 1) // 2 for v in versions.values()), f1, [(layer, krippendorff_alpha_nominal(units[layer])) for layer in layers]


@pytest.mark.parametrize("batch_rows", [agreement_module.OVERLAP_BATCH_ROWS, 1], ids=["one batch", "a batch per document"])
@settings(max_examples=150, deadline=None)
@given(annotated_documents())
def test_agreement_equals_the_plain_computation(batch_rows, inputs):
    with patch.object(agreement_module, "OVERLAP_BATCH_ROWS", batch_rows):  # the overlap matching, batched by documents
        result = agreement(inputs, LAYERS)
    assert (result.documents, result.pairs, [astuple(f) for f in result.f1], list(result.alpha.items())) == plain_agreement(inputs, LAYERS)


def test_prediction_quality_counts_exact_matches_on_documents_with_both():
    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    entity = prediction_quality(inputs.predictions_spans, gold.spans, [fx.ASHARQ, fx.RT, fx.ALHURRA], ("entity",))[0]
    # the Asharq gold (majority) has GPE واشنطن, GPE بغداد, PERS ألينا رومانوفسكي, ORG داعش (title), OCC
    assert (entity.predicted, entity.gold, entity.correct) == (4, 5, 3)
    assert (entity.precision, entity.recall) == (0.75, 0.6)


def test_adjudication_policy():
    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    decisions = {d.doc_id: d for d in gold.decisions}
    assert decisions[fx.RT].policy == "ground_truth" and decisions[fx.RT].annotation_ids == (3,)
    assert decisions[fx.ALHURRA].policy == "single"
    assert decisions[fx.ALARAB].policy == "not_annotated"
    assert decisions[fx.ASHARQ].policy == "majority" and decisions[fx.ASHARQ].review
    asharq = gold.spans.filter(pl.col("doc_id") == fx.ASHARQ)
    labels = sorted(asharq["label"].to_list())
    # the disputed العراق (GPE vs LOC), the NORP and both forms of the second داعش are dropped
    assert labels == sorted(["TITLE", "GPE", "ORG", "CUE", "SOURCE", "CONTENT", "OCC", "GPE", "PERS"])
    assert set(asharq["region_id"]) <= {s for s in inputs.spans.filter(pl.col("annotation_id") == 1)["region_id"]}
    relations = gold.relations.filter(pl.col("doc_id") == fx.ASHARQ)
    assert sorted(relations["label"]) == ["cue", "source"] and set(relations["from_region"]) == {"q1"}
    rt = gold.spans.filter(pl.col("doc_id") == fx.RT)
    assert rt.height == 3 and "LOC" not in rt["label"].to_list()


def test_majority_of_three_keeps_what_two_agree_on():
    documents = fx.tables("v1").documents
    annotations = pl.DataFrame(
        [
            {"annotation_id": i, "task_id": 1, "doc_id": fx.ALARAB, "annotator": f"annotator-{i}", "created_at": "", "updated_at": "",
             "lead_time": 1.0, "was_cancelled": False, "ground_truth": False}
            for i in (1, 2, 3)
        ],
        schema=ANNOTATIONS,
    )
    text = dict(documents.select("doc_id", "text").iter_rows())[fx.ALARAB]
    start, end = fx.find(text, "بغداد")
    spans = pl.DataFrame(
        [
            {"annotation_id": i, "doc_id": fx.ALARAB, "region_id": f"r{i}", "layer": "entity", "label": label, "start": start, "end": end,
             "text": "بغداد", "quote_type": None}
            for i, label in ((1, "GPE"), (2, "GPE"), (3, "LOC"))
        ],
        schema=SPANS,
    )
    tables = fx.tables("v1")
    inputs = from_tables(
        fx.Tables(documents, annotations, spans, tables.relations.clear(), tables.predictions_spans.clear(), tables.predictions_relations)
    )
    gold = adjudicate(inputs)
    kept = gold.spans.filter(pl.col("doc_id") == fx.ALARAB)
    assert kept.select("label", "region_id").rows() == [("GPE", "r1")]


# --- relations, quote types, nesting, passes against the gold, the adjudication log; alpha against `krippendorff`

@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=2, max_size=4), min_size=1, max_size=30))
def test_alpha_equals_the_krippendorff_package(units):
    import krippendorff
    import numpy as np

    ours = krippendorff_alpha_nominal(units)
    width = max(len(u) for u in units)
    codes = {"a": 0.0, "b": 1.0, "c": 2.0}
    matrix = np.array([[codes[u[c]] if c < len(u) and u[c] is not None else np.nan for u in units] for c in range(width)])
    pairable = [u for u in units if sum(v is not None for v in u) >= 2]
    values = {v for u in pairable for v in u if v is not None}
    if len(values) < 2:
        assert ours is None  # no variation: alpha is undefined, and the package refuses such data
        return
    assert ours == pytest.approx(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal", value_domain=[0.0, 1.0, 2.0]), abs=1e-9)


def _package_alpha(versions: dict[str, list[int]], texts: dict[str, str], drawn_of) -> float:
    """The `krippendorff` package's nominal alpha over plain per-token units; ``drawn_of(annotation_id)`` gives
    that version's (start, end, label) spans, and tokens are cut at their boundaries."""
    import krippendorff
    import numpy as np

    labels: dict[str, float] = {}
    columns = []  # one column per token, one row per coder slot (documents have 2 or 3 independent passes)
    for doc_id in sorted(versions):
        drawn = {a: drawn_of(a) for a in versions[doc_id]}
        for token in tokenize(texts[doc_id], {b for version in drawn.values() for s in version for b in s[:2]}):
            column = [labels.setdefault(_outermost_label(drawn[a], token), float(len(labels))) for a in versions[doc_id]]
            columns.append(column + [np.nan] * (3 - len(column)))
    return krippendorff.alpha(reliability_data=np.array(columns).T, level_of_measurement="nominal")


def test_token_alpha_of_the_committed_export_equals_the_krippendorff_package():
    """The polars computation (stretches between span boundaries) against the package on plain per-token units,
    per layer and, for entities, per nesting level."""
    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.agreement import LEVELS
    inputs, _ = committed_inputs_and_gold()
    layers = load_scheme().layer_names
    result = agreement(inputs, layers)
    latest = latest_per_annotator(inputs.annotations.filter(~pl.col("ground_truth")))
    versions = {d: sorted(ids) for d, ids in latest.group_by("doc_id").agg("annotation_id").iter_rows() if len(ids) >= 2}
    texts = dict(inputs.documents.select("doc_id", "text").iter_rows())
    spans = inputs.spans.select("annotation_id", "layer", "start", "end", "label").rows()
    for layer in layers:
        package = _package_alpha(versions, texts, lambda a, layer=layer: [s[2:] for s in spans if s[:2] == (a, layer)])
        assert dict(result.alpha)[layer] == pytest.approx(package, abs=1e-9), layer
    assert 0.8 < dict(result.alpha)["entity"] < 1

    def at_level(a: int, level: int) -> list[tuple[int, int, str]]:
        drawn = sorted({s[2:] for s in spans if s[:2] == (a, "entity")})
        depth = nesting_levels([(start, end) for start, end, _ in drawn])
        return [s for s, d in zip(drawn, depth) if min(d, len(LEVELS) - 1) == level]

    for level, name in enumerate(LEVELS):
        package = _package_alpha(versions, texts, lambda a, level=level: at_level(a, level))
        assert dict(result.nesting_alpha)[name] == pytest.approx(package, abs=1e-9), name


def test_nesting_levels_count_the_extents_that_strictly_contain():
    extents = [(0, 10), (0, 5), (2, 4), (6, 8), (0, 10), (12, 13), (2, 4)]
    assert nesting_levels(extents) == [0, 1, 2, 1, 0, 0, 2]


def _inputs(passes: dict[int, list[tuple]], relations: list[tuple], ground_truth: int | None = None) -> BuildInputs:
    """One document, ``passes``: annotation_id → spans (region, layer, label, start, end, quote_type)."""
    text = "قالت السفيرة ألينا رومانوفسكي إن داعش لا يزال يشكل تهديدا في العراق"
    annotations = [
        {"annotation_id": aid, "task_id": 1, "doc_id": "d", "annotator": f"annotator-{aid}", "created_at": "", "updated_at": f"2026-01-0{aid}",
         "lead_time": 1.0, "was_cancelled": False, "ground_truth": aid == ground_truth}
        for aid in passes
    ]
    spans = [
        {"annotation_id": aid, "doc_id": "d", "region_id": region, "layer": layer, "label": label, "start": start, "end": end,
         "text": text[start:end], "quote_type": quote_type}
        for aid, rows in passes.items() for region, layer, label, start, end, quote_type in rows
    ]
    rels = [{"annotation_id": aid, "doc_id": "d", "from_region": a, "to_region": b, "label": label} for aid, a, b, label in relations]
    return BuildInputs(pl.DataFrame([{"doc_id": "d", "text": text}]), pl.DataFrame(annotations, schema=ANNOTATIONS),
                       pl.DataFrame(spans, schema=SPANS), pl.DataFrame(rels, schema=RELATIONS), pl.DataFrame())


CONTENT, SOURCE, CUE = ("c", "attribution", "CONTENT", 33, 67), ("s", "attribution", "SOURCE", 5, 29), ("q", "attribution", "CUE", 0, 4)
OCC, PERS, ORG, GPE = ("o", "entity", "OCC", 5, 29), ("p", "entity", "PERS", 13, 29), ("i", "entity", "ORG", 33, 37), ("g", "entity", "GPE", 61, 67)


def test_relations_quote_types_and_nesting_levels_between_two_passes():
    inputs = _inputs(
        {
            1: [(*CONTENT, "indirect"), (*SOURCE, None), (*CUE, None), (*OCC, None), (*PERS, None), (*ORG, None), (*GPE, None)],
            2: [(*CONTENT, "direct"), ("s", "attribution", "SOURCE", 13, 29, None), (*CUE, None), (*PERS, None), (*ORG, None), (*GPE, None)],
        },
        [(1, "c", "s", "source"), (1, "c", "q", "cue"), (2, "c", "s", "source"), (2, "c", "q", "cue")],
    )
    result = agreement(inputs, LAYERS)
    relations = {f.label: astuple(f)[3:] for f in result.relations}
    # the cue relation has identical ends; the source relation's SOURCE differs (the OCC's extent against the name's)
    assert relations == {"cue": (1, 1, 1), "source": (0, 1, 1), "*": (1, 2, 2)}
    assert (result.quote_types.shared, result.quote_types.agreed, result.quote_types.agreement) == (1, 0, 0.0)
    nesting = {f.label: astuple(f)[3:] for f in result.nesting}
    # pass 1 nests PERS inside OCC (level 1); pass 2 has no OCC, so its PERS is at level 0 and matches nothing
    assert nesting == {"level 0": (2, 3, 3), "level 1": (0, 1, 0), "*": (2, 4, 3)}


def test_passes_against_gold_and_the_adjudication_log():
    agreed = [(*CONTENT, "indirect"), (*SOURCE, None), (*CUE, None), (*OCC, None), (*ORG, None)]
    inputs = _inputs(
        {
            1: [*agreed, (*PERS, None)],
            2: agreed,
            3: [(*CONTENT, "direct"), (*SOURCE, None), (*CUE, None), (*OCC, None), (*PERS, None), (*GPE, None)],  # the adjudication
        },
        [],
        ground_truth=3,
    )
    gold = adjudicate(inputs)
    reasons = [Reason("d", "entity", "ORG", 33, 37, "removed", "D27"), Reason("d", "entity", "GPE", 61, 67, "added", "GPE rule")]
    result = agreement(inputs, LAYERS, gold=gold, reasons=reasons)
    scores = {(p.annotator, p.layer): (p.matched, p.drawn, p.gold) for p in result.passes}
    assert scores["annotator-1", "entity"] == (2, 3, 3) and scores["annotator-2", "entity"] == (1, 2, 3)
    assert scores["annotator-1", "attribution"] == (3, 3, 3)
    assert "annotator-3" not in {p.annotator for p in result.passes}  # the gold is not scored against itself
    log = {(o.change, o.label): (o.passes, o.gold, o.guideline) for o in result.log}
    # the ORG both passes drew was dropped, the GPE no pass drew was added, the agreed quote type was changed;
    # the PERS only one pass drew is no departure from an agreement
    assert log == {("removed", "ORG"): ("", "", "D27"), ("added", "GPE"): ("", "", "GPE rule"), ("quote_type", "CONTENT"): ("indirect", "direct", "")}


def test_the_reports_rows_are_their_fields_in_order():
    """The report's rows are read from each row's ``__dict__``: they must be ``asdict``'s, key for key and in order."""
    inputs = _inputs({1: [(*CONTENT, "indirect"), (*PERS, None)], 2: [(*CONTENT, "indirect"), (*OCC, None)], 3: [(*CONTENT, "direct")]}, [], ground_truth=3)
    gold = adjudicate(inputs)
    result = agreement(inputs, LAYERS, gold=gold, reasons=[Reason("d", "attribution", "CONTENT", CONTENT[3], CONTENT[4], "quote_type", "D1")])
    report = result.report()
    assert result.passes and result.log and result.f1  # every kind of row is there to compare
    expected = {
        "span_f1": [asdict(f) | {"f1": f.f1} for f in result.f1],
        "passes_against_gold": [asdict(p) | {"f1": p.f1} for p in result.passes],
        "adjudication_log": [asdict(o) for o in result.log],
        "quote_type": asdict(result.quote_types) | {"agreement": result.quote_types.agreement},
    }
    for key, rows in expected.items():
        got = report[key]
        assert [list(row.items()) for row in got] == [list(row.items()) for row in rows] if isinstance(rows, list) else list(got.items()) == list(rows.items())


def test_the_committed_adjudication_log_has_a_guideline_for_every_departure():
    from khabar.annotation.scheme import load_scheme
    inputs, gold = committed_inputs_and_gold()
    log = agreement(inputs, load_scheme().layer_names, gold=gold, reasons=committed_reasons()).log
    # the six spans both passes agreed on that the adjudicator overrode, and the NORP the audit correction removed (D44)
    assert sum(o.change == "removed" for o in log) == 7
    assert log and all(o.guideline for o in log)


def test_a_reason_that_names_no_departure_is_named_by_the_build(repo_copy, khabar, tmp_path):
    """A reason whose offsets are mistyped explained nothing: the build left it out without a word, and its departure
    read "(none recorded)". The build names it, file and line, and what it names."""
    reasons = repo_copy / "annotation" / "exports" / "khabar.adjudication.csv"
    lines = reasons.read_text(encoding="utf-8").splitlines(keepends=True)
    doc_id, layer, label, start, *rest = lines[3].split(",")
    lines[3] = ",".join([doc_id, layer, label, str(int(start) + 1), *rest])
    reasons.write_text("".join(lines), encoding="utf-8")
    datasheet = tmp_path / "DATASHEET.md"
    datasheet.write_bytes((repo_copy / "DATASHEET.md").read_bytes())
    run = khabar("--root", repo_copy, "build", "--out", tmp_path / "out", "--datasheet", datasheet)
    assert run.status == 0, run.output
    named = f"adjudication log: 1 reason(s) name no departure of the gold from its passes, so are not used: {reasons}:4 ({doc_id} {layer} {label} [{int(start) + 1}:"
    assert named in run.err, run.err
    assert "(none recorded)" in datasheet.read_text(encoding="utf-8")


def test_the_datasheet_lists_a_short_log_and_counts_a_long_one():
    from khabar.dataset.agreement import Agreement, Override
    from khabar.dataset.datasheet import LOG_ROWS, _beyond_spans

    def log(n: int) -> tuple[Override, ...]:
        return tuple(Override("d", "entity", "ORG", i, i + 3, "a|b", "removed", "", "", "D27" if i % 2 else "") for i in range(n))

    short = "\n".join(_beyond_spans(Agreement(1, 1, (), (), log=log(3))))
    assert "| d | removed | entity | ORG | 1–4 | a\\|b | D27 |" in short and "(none recorded)" in short
    long = _beyond_spans(Agreement(1, 1, (), (), log=log(LOG_ROWS + 1)))
    assert "| removed | entity | ORG | no | 21 |" in long and "| removed | entity | ORG | yes | 20 |" in long
    assert not any("(none recorded)" in line for line in long)


@pytest.mark.parametrize(
    ("row", "problem"),
    [("d,entity,ORG,1,4,dropped,D27", "change «dropped» is not one of"), ("d,entity,ORG,1,4,removed,", "no guideline"),
     ("d,entity,ORG,one,4,removed,D27", "start «one» is not a whole number")],
)
def test_a_malformed_reasons_file_is_refused_by_file_and_line(tmp_path, row: str, problem: str):
    from khabar.foundation.errors import KhabarError
    from khabar.gold.adjudicate import read_reasons

    path = tmp_path / "khabar.adjudication.csv"
    path.write_text("doc_id,layer,label,start,end,change,guideline\n" + row + "\n", encoding="utf-8")
    with pytest.raises(KhabarError, match=problem) as raised:
        read_reasons(path)
    assert f"{path}:2: " in str(raised.value)
    assert read_reasons(tmp_path / "absent.csv") == ()


# --- the sums over batches of whole documents (what a build made a batch at a time adds up) against one batch

def _restricted(inputs: BuildInputs, keep: pl.Expr) -> BuildInputs:
    """The five tables' rows of the documents ``keep`` selects."""
    return replace(inputs, documents=inputs.documents.filter(keep), annotations=inputs.annotations.filter(keep), spans=inputs.spans.filter(keep),
                   relations=inputs.relations.filter(keep), predictions_spans=inputs.predictions_spans.filter(keep))


def _batches(inputs: BuildInputs, gold: Gold, n: int, seed: int) -> list[tuple[BuildInputs, Gold]]:
    """``inputs`` and ``gold`` cut into ``n`` batches of contiguous doc_id ranges, of uneven sizes, in doc_id order."""
    doc_ids = sorted(inputs.documents["doc_id"])
    cuts = sorted(random.Random(seed).sample(range(1, len(doc_ids)), n - 1))
    batches = []
    for lo, hi in zip([0, *cuts], [*cuts, len(doc_ids)]):
        ids = set(doc_ids[lo:hi])
        keep = pl.col("doc_id").is_in(ids)
        batches.append((_restricted(inputs, keep), Gold(gold.spans.filter(keep), gold.relations.filter(keep), tuple(d for d in gold.decisions if d.doc_id in ids))))
    return batches


def _annotated(gold: Gold) -> list[str]:
    return [d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED]


def _assert_batches_add_up(inputs: BuildInputs, gold: Gold, layers: tuple[str, ...], reasons, partitions=(1, 3, 7), seed: int = 0) -> None:
    whole = agreement(inputs, layers, gold=gold, reasons=reasons)
    quality = prediction_quality(inputs.predictions_spans, gold.spans, _annotated(gold), layers)
    for n in partitions:
        batches = _batches(inputs, gold, n, seed=seed + n)
        assert sum(b.documents.height for b, _ in batches) == inputs.documents.height and all(b.documents.height for b, _ in batches)
        sums = reduce(add, (agreement_sums(b, layers, gold=g, reasons=reasons) for b, g in batches), AgreementSums.empty(layers))
        assert sums.result() == whole, n
        assert sums.result().report() == whole.report(), n
        predicted = reduce(add, (prediction_sums(b.predictions_spans, g.spans, _annotated(g), layers) for b, g in batches), PredictionSums.empty(layers))
        assert predicted.result() == quality, n


def test_the_committed_export_in_batches_adds_up_to_the_whole():
    from khabar.annotation.scheme import load_scheme
    inputs, gold = committed_inputs_and_gold()
    layers = tuple(load_scheme().layer_names)
    whole = agreement(inputs, layers, gold=gold, reasons=committed_reasons())
    # every measure has something to add up: passes, the log with its guidelines, quote types, each alpha
    assert whole.passes and whole.log and whole.quote_types.shared and whole.relations and whole.nesting
    assert all(alpha is not None for alpha in whole.alpha.values())
    _assert_batches_add_up(inputs, gold, layers, committed_reasons(), partitions=(1, 2, 3, inputs.documents.height))


@pytest.fixture(scope="module", params=[["--spans", "3000"], ["--spans", "2500", "--team", "6"]], ids=["news", "team of 6"])
def synthetic(request, tmp_path_factory) -> BuildInputs:
    """A synthetic export (``benchmarks/synth.py``), validated."""
    from khabar.foundation.paths import repo
    from khabar.validation.api import validate_exports

    out = tmp_path_factory.mktemp("synth")
    subprocess.run([sys.executable, str(repo().root / "benchmarks" / "synth.py"), *request.param, "--seed", "3", "--out", str(out)],
                   capture_output=True, check=True)
    result = validate_exports([out / "export.json"], out / "documents.jsonl")
    assert result.errors == 0
    return from_tables(result.tables)


def test_a_synthetic_export_in_batches_adds_up_to_the_whole(synthetic: BuildInputs):
    from khabar.annotation.scheme import load_scheme

    layers = tuple(load_scheme().layer_names)
    gold = adjudicate(synthetic)
    whole = agreement(synthetic, layers, gold=gold)
    assert whole.documents > 7 and whole.passes and whole.quote_types.shared and all(alpha is not None for alpha in whole.alpha.values())
    # alpha's floats come from many patterns of many coders: their sums depend on the order they are added in
    assert len(agreement_sums(synthetic, layers).alpha["entity"]) > 20
    _assert_batches_add_up(synthetic, gold, layers, ())


@settings(max_examples=60, deadline=None)
@given(annotated_documents(), st.integers(1, 4), st.integers(0, 100))
def test_random_documents_in_batches_add_up_to_the_whole(inputs, n, seed):
    # the spans of the odd annotations stand for the pre-annotator's
    predicted = inputs.spans.filter(pl.col("annotation_id") % 2 == 1).with_columns(model_version=pl.lit("m"))
    inputs = replace(inputs, relations=empty(RELATIONS), predictions_spans=predicted.select(BUILDER_PREDICTION_SPANS.names()))
    _assert_batches_add_up(inputs, adjudicate(inputs), LAYERS, (), partitions=(min(n, inputs.documents.height),), seed=seed)


def test_the_sums_of_no_document_are_the_agreement_of_none():
    inputs = from_tables(fx.tables("v1"))
    none = _restricted(inputs, pl.col("doc_id").is_in([]))
    gold = adjudicate(none)
    assert AgreementSums.empty(LAYERS).result() == agreement(none, LAYERS, gold=gold)
    assert PredictionSums.empty(LAYERS).result() == prediction_quality(none.predictions_spans, gold.spans, [], LAYERS)


@pytest.mark.parametrize("cap", [1, 2])
def test_capped_levels_are_nesting_levels_capped(cap: int):
    """The vectorized levels of many annotations at once against nesting_levels, one annotation at a time."""
    rng = np.random.default_rng(7)
    extents = []
    for owner in range(300):
        starts = rng.integers(0, 40, rng.integers(1, 25))
        extents += {(owner, int(s), int(s + rng.integers(1, 15))) for s in starts}
    extents.sort(key=lambda e: (e[0], e[1], -e[2]))
    owners, ends = np.array([e[0] for e in extents]), np.array([e[2] for e in extents])
    expected = []
    for owner in range(300):
        expected += nesting_levels([(s, e) for o, s, e in extents if o == owner])
    assert (capped_levels(owners, ends, cap) == np.minimum(expected, cap)).all()
    assert max(expected) > cap  # the cap is met


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=60), st.lists(st.integers(0, 5), max_size=60))
def test_distinct_values_and_their_index_are_numpys(values: list[int], repeats: list[int]):
    """The cuts' distinct values and each one's index, by a stable sort, as np.unique gives them, repeats and runs included."""
    array = np.array(values + sorted(values) + repeats, dtype=np.int64)
    distinct, index = agreement_module._distinct(array)
    expected, expected_index = np.unique(array, return_inverse=True)
    assert distinct.tolist() == expected.tolist()
    assert index.tolist() == expected_index.ravel().tolist()
    assert (distinct[index] == array).all()


def test_the_tokens_the_build_made_already_give_the_same_sums():
    """The build hands agreement the tokens its ``tokens`` config made of the range's texts: the sums are those
    agreement makes from its own tokenizing."""
    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.configs import token_table

    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    words = token_table(inputs.documents, gold.spans, load_scheme()).words
    shared = agreement_sums(inputs, LAYERS, gold=gold, words=words)
    assert shared == agreement_sums(inputs, LAYERS, gold=gold)
    assert shared.documents > 0 and any(shared.alpha.values()) and any(shared.nesting_alpha.values())
