"""The built folder: loads with ``datasets`` offline, keeps label names and offsets, is byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from khabar.annotation.scheme import load_scheme
from khabar.dataset import shards as shards_module
from khabar.dataset.build import build
from khabar.dataset.datasheet import BEGIN, END
from khabar.dataset.features import column_of
from khabar.dataset.iob import Span, decode_nested
from khabar.foundation.paths import repo
from khabar.gold.inputs import from_tables
from tests.dataset import khabar_fixtures as fx
from tests.reliability.reliability_support import held_by_another_process

KHABAR = str(Path(sys.executable).with_name("khabar"))
ROOT = repo().root


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def load(folder: Path, config: str, cache: Path):
    return datasets.load_dataset(str(folder), config, cache_dir=str(cache))


def test_all_three_configs_load_with_label_names_and_true_offsets(built_v1, tmp_path):
    scheme = load_scheme()
    documents = load(built_v1, "documents", tmp_path)["test"]
    assert documents.num_rows == 4
    entity_label = documents.features["entities"].feature["label"]
    assert entity_label.names == list(scheme.labels("entity"))
    assert documents.features["zones"].feature["label"].names == list(scheme.labels("zone"))
    assert documents.features["relations"].feature["label"].names == list(scheme.relation_labels)
    spans = 0
    for row in documents:
        for layer in scheme.layer_names:
            for span in row[column_of(layer)]:
                assert span["text"] == row["text"][span["start"] : span["end"]]
                spans += 1
    assert spans == 9 + 3 + 3  # majority on Asharq, ground truth on RT, single on Alhurra

    tokens = load(built_v1, "tokens", tmp_path)["test"]
    tags = tokens.features["ner_tags"].feature
    assert tags.names[:3] == ["O", "B-PERS", "I-PERS"]
    texts = {row["id"]: row["text"] for row in documents}
    gold = {
        row["id"]: sorted(Span(e["start"], e["end"], entity_label.int2str(e["label"])) for e in row["entities"]) for row in documents
    }
    decoded: dict[str, list[Span]] = {doc_id: [] for doc_id in texts}
    for row in tokens:
        offsets = [(s, s + len(t)) for s, t in zip(row["token_starts"], row["tokens"])]
        assert all(texts[row["doc_id"]][s:e] == t for (s, e), t in zip(offsets, row["tokens"]))
        nested = [[tags.int2str(t) for t in column] for column in row["nested_ner_tags"]]
        assert [column[0] for column in row["nested_ner_tags"]] == row["ner_tags"]
        decoded[row["doc_id"]] += decode_nested(offsets, nested)
    assert {d: sorted(s) for d, s in decoded.items()} == gold

    quotes = load(built_v1, "quotes", tmp_path)["test"]
    assert quotes.num_rows == 1
    quote = quotes[0]
    assert quotes.features["quote_type"].names == ["direct", "indirect", "mixed"]
    assert quote["text"] == fx.QUOTE and quotes.features["quote_type"].int2str(quote["quote_type"]) == "direct"
    assert [s["text"] for s in quote["sources"]] == [fx.SPEAKER] and [c["text"] for c in quote["cues"]] == ["قالت"]
    assert quotes.features["sources"].feature["entity_label"].int2str(quote["sources"][0]["entity_label"]) == "OCC"


def test_card_yaml_carries_what_the_hub_needs(built_v1):
    text = (built_v1 / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---\n")[1])
    for key in ("configs", "dataset_info", "license", "task_categories", "task_ids", "annotations_creators", "pretty_name", "size_categories", "source_datasets"):
        assert meta[key], key
    assert meta["language"] == ["ar"]
    assert meta["license"] == "other" and (built_v1 / meta["license_link"]).read_text().startswith("# Licence")
    assert [c["config_name"] for c in meta["configs"]] == ["documents", "tokens", "quotes"]
    assert meta["configs"][0]["default"] is True
    assert {i["config_name"]: i["splits"][0]["num_examples"] for i in meta["dataset_info"]}["documents"] == 4
    body = text.split("---\n", 2)[2]
    assert "images/labels_per_layer.png" in body and "images/spans_per_source.png" in body
    assert BEGIN in body and END in body and "Krippendorff" in body
    for chart in ("labels_per_layer.png", "spans_per_source.png"):
        assert (built_v1 / "images" / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((built_v1 / "MANIFEST.json").read_text())
    listed = {f["path"]: f for f in manifest["files"]}
    assert listed["data/tokens/test-00000-of-00001.parquet"]["rows"] > 100
    assert all(listed[p]["sha256"] == h for p, h in hashes(built_v1).items() if p != "MANIFEST.json")
    assert manifest["inputs"]["scheme_sha256"] == load_scheme().sha256
    assert manifest["libraries"]["pyarrow"] == "24.0.0"


def test_build_report_lists_review_and_agreement(built_v1):
    report = json.loads((built_v1 / "build_report.json").read_text())
    review = [d["doc_id"] for d in report["adjudication"]["decisions"] if d["review"]]
    assert review == [fx.ASHARQ]
    assert report["agreement"]["documents"] == 1  # RT's second annotation is the ground truth: no independent pair
    exact = {(f["layer"], f["label"]): f for f in report["agreement"]["span_f1"] if f["match"] == "exact"}
    assert exact["attribution", "*"]["f1"] == 1.0
    assert exact["entity", "NORP"]["f1"] == 0.0
    entity = report["pre_annotator"][0]
    assert (entity["predicted"], entity["gold"], entity["correct"]) == (4, 5, 3)


#: run with the checkout on PYTHONPATH, so that ``tests`` is importable
FIXTURE_BUILD = """
import sys
from pathlib import Path
from tests.dataset import khabar_fixtures
from khabar.dataset.build import build
from khabar.gold.inputs import from_tables
build(from_tables(khabar_fixtures.tables("v1")), Path(sys.argv[1]), datasheet=Path(sys.argv[2]))
"""


def test_builds_in_separate_processes_are_byte_identical(tmp_path, datasheet_copy):
    """The README's command twice, and a build of annotated fixtures twice, each in its own process."""
    commands = []
    for name in ("a", "b"):
        for kind in ("main", "fixture"):
            sheet = tmp_path / f"sheet-{kind}-{name}.md"
            sheet.write_bytes(datasheet_copy.read_bytes())
            out = str(tmp_path / kind / name)
            commands.append(
                [KHABAR, "--root", str(ROOT), "build", "--out", out, "--datasheet", str(sheet)] if kind == "main" else [sys.executable, "-c", FIXTURE_BUILD, out, str(sheet)]
            )
    for pair in (commands[:2], commands[2:]):  # two processes at a time
        running = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path, env={**os.environ, "KHABAR_ROOT": str(ROOT), "PYTHONPATH": str(ROOT)}) for c in pair]
        for process in running:
            assert process.wait() == 0, process.stderr.read().decode()
    for kind in ("main", "fixture"):
        first, second = hashes(tmp_path / kind / "a"), hashes(tmp_path / kind / "b")
        assert first == second
        assert any(p.endswith(".parquet") for p in first) and "images/labels_per_layer.png" in first


#: settings a user's matplotlibrc may hold, each of which changed the charts drawn over it
HOSTILE_MATPLOTLIBRC = """\
backend: pdf
axes.facecolor: red
figure.facecolor: yellow
savefig.facecolor: blue
savefig.transparent: True
font.size: 20
font.family: serif
figure.dpi: 300
savefig.dpi: 50
axes.prop_cycle: cycler('color', ['k'])
axes.grid: True
axes.formatter.use_locale: True
patch.force_edgecolor: True
text.antialiased: False
text.hinting: none
xtick.labelsize: 30
figure.constrained_layout.use: True
"""


def test_a_users_matplotlibrc_changes_no_byte_of_the_build(tmp_path, datasheet_copy):
    """The README's command with a matplotlibrc in the current folder, one named by MATPLOTLIBRC and one in
    MPLCONFIGDIR writes the bytes (build and datasheet) of the command without one."""
    rc_folder = tmp_path / "rc"
    rc_folder.mkdir()
    (rc_folder / "matplotlibrc").write_text(HOSTILE_MATPLOTLIBRC, encoding="utf-8")
    ways = {"none": ({}, tmp_path), "cwd": ({}, rc_folder), "MATPLOTLIBRC": ({"MATPLOTLIBRC": str(rc_folder / "matplotlibrc")}, tmp_path),
            "MPLCONFIGDIR": ({"MPLCONFIGDIR": str(rc_folder)}, tmp_path)}
    plain = {**os.environ, "PYTHONPATH": str(ROOT), "MPLCONFIGDIR": str(tmp_path / "no-rc")}
    plain.pop("MATPLOTLIBRC", None)
    names = list(ways)
    for pair in (names[:2], names[2:]):  # two processes at a time
        running = []
        for name in pair:
            env, cwd = ways[name]
            sheet = tmp_path / f"sheet-{name}.md"
            sheet.write_bytes(datasheet_copy.read_bytes())
            command = [KHABAR, "--root", str(ROOT), "build", "--out", str(tmp_path / name), "--datasheet", str(sheet)]
            running.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=plain | env))
        for process in running:
            assert process.wait() == 0, process.stderr.read().decode()
    expected = hashes(tmp_path / "none")
    assert "images/labels_per_layer.png" in expected and "images/spans_per_source.png" in expected
    for name in names[1:]:
        assert hashes(tmp_path / name) == expected, f"a matplotlibrc ({name}) changed the build"
        assert (tmp_path / f"sheet-{name}.md").read_bytes() == (tmp_path / "sheet-none.md").read_bytes()


GIT = ["git", "-c", "user.name=khabar", "-c", "user.email=khabar@example.invalid", "-c", "commit.gpgsign=false"]


def test_a_clone_made_with_core_autocrlf_holds_the_committed_bytes_and_builds_the_same(tmp_path):
    """This repository committed as it is (its .gitattributes too), cloned with core.autocrlf=true (Git for
    Windows' default) and with it false: every file the same bytes, and the README's command the same build and
    datasheet (without .gitattributes the CRLF clone's GUIDELINES.md, labeling config, base and manifest differed)."""
    from tests.foundation.test_install import clone_of_the_working_tree

    committed = clone_of_the_working_tree(tmp_path / "committed")
    subprocess.run([*GIT, "init", "-q"], cwd=committed, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=committed, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "the repository"], cwd=committed, check=True)
    clones = {autocrlf: tmp_path / f"autocrlf-{autocrlf}" for autocrlf in ("false", "true")}
    for autocrlf, clone in clones.items():
        subprocess.run(["git", "clone", "-q", "-c", f"core.autocrlf={autocrlf}", str(committed), str(clone)], check=True)
    files = {autocrlf: {name: digest for name, digest in hashes(clone).items() if not name.startswith(".git/")} for autocrlf, clone in clones.items()}
    assert "annotation/exports/khabar.json" in files["false"] and files["true"] == files["false"]
    running = [
        subprocess.Popen([KHABAR, "--root", str(clone), "build", "--out", str(clone / "out")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
        for clone in clones.values()
    ]
    for process in running:
        assert process.wait() == 0, process.stderr.read().decode()
    lf, crlf = clones["false"], clones["true"]
    assert hashes(crlf / "out") == hashes(lf / "out") and "GUIDELINES.md" in hashes(lf / "out")
    assert (crlf / "DATASHEET.md").read_bytes() == (lf / "DATASHEET.md").read_bytes()


def test_main_command_without_exports_builds_every_document_and_loads_offline(tmp_path, datasheet_copy, hf_offline):
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    out = tmp_path / "khabar"
    result = subprocess.run([KHABAR, "--root", str(ROOT), "build", "--exports", "--out", str(out), "--datasheet", str(sheet)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no annotations" in result.stderr and "built" in result.stderr and result.stdout == f"{out}\n"  # logs on stderr, the folder on stdout
    assert "No annotations yet" in (out / "README.md").read_text(encoding="utf-8")
    check = """
import sys, datasets
docs = datasets.load_dataset(sys.argv[1], "documents")["test"]
tokens = datasets.load_dataset(sys.argv[1], "tokens")["test"]
assert docs.num_rows == 5 and all(r["entities"] == [] and r["relations"] == [] for r in docs), docs
assert tokens.num_rows > 100 and all(set(t) == {0} for t in tokens["ner_tags"])
print("ok", docs.num_rows, tokens.num_rows)
"""
    loaded = subprocess.run([sys.executable, "-c", check, str(out)], capture_output=True, text=True, env=os.environ | hf_offline, cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.startswith("ok 5")


def test_interrupted_build_leaves_the_previous_build_intact(tmp_path, datasheet_copy, monkeypatch):
    out = tmp_path / "dist" / "khabar"
    inputs = from_tables(fx.tables("v1"))
    build(inputs, out, datasheet=datasheet_copy)
    before = hashes(out)
    calls = []

    def interrupted(writer, group):
        calls.append(group.num_rows)
        if len(calls) == 2:  # the second row group the build writes: one shard done, the next begun
            raise KeyboardInterrupt
        return real(writer, group)

    real = shards_module.write_row_group
    monkeypatch.setattr(shards_module, "write_row_group", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(inputs, out, datasheet=datasheet_copy)
    assert len(calls) == 2
    assert hashes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["khabar"]  # no staging folder left behind


def test_per_annotator_build_keeps_every_annotators_version(tmp_path, datasheet_copy):
    out = tmp_path / "khabar-annotators"
    build(from_tables(fx.tables("v1")), out, datasheet=datasheet_copy, per_annotator=True)
    documents = load(out, "documents", tmp_path / "cache")["test"]
    pairs = sorted(zip(documents["id"], documents["annotator"]))
    # the latest annotation of each annotator on each document
    assert pairs == sorted([(fx.ASHARQ, "annotator-1"), (fx.ASHARQ, "annotator-2"), (fx.RT, "annotator-1"), (fx.RT, "annotator-2"), (fx.ALHURRA, "annotator-2")])
    norp = [r for r in documents if r["id"] == fx.ASHARQ and any(e["label"] == 1 for e in r["entities"])]
    assert [r["annotator"] for r in norp] == ["annotator-1"]  # only annotator 1 drew the NORP


def test_check_fails_on_a_stale_datasheet_and_passes_after_a_build(tmp_path, datasheet_copy, khabar, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sheet = tmp_path / "DATASHEET.md"
    text = datasheet_copy.read_text(encoding="utf-8")
    sheet.write_text(text.replace("Figures of release", "Figures of the release"), encoding="utf-8")
    args = ["--exports", "--datasheet", str(sheet)]
    stale = khabar("--root", ROOT, "build", "--check", *args)
    assert stale.status == 1 and "stale" in stale.err and "Traceback" not in stale.err
    assert not (tmp_path / "dist").exists()
    assert khabar("--root", ROOT, "build", "--out", tmp_path / "out", *args).status == 0
    fresh = khabar("--root", ROOT, "build", "--check", *args)
    assert fresh.status == 0, fresh.err
    prose = text.split(BEGIN)[0]
    assert sheet.read_text(encoding="utf-8").startswith(prose)  # the hand-written prose is kept


def test_datasheet_without_markers_is_refused_with_one_line(tmp_path, khabar):
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_text("# A datasheet with no figures block\n", encoding="utf-8")
    result = khabar("build", "--exports", "--out", tmp_path / "o", "--datasheet", sheet)
    assert result.status == 2
    assert "no figures block" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "o").exists()


def test_labels_are_written_as_the_ids_of_the_features_class_labels(built_v1):
    from khabar.dataset.features import documents_features
    from khabar.gold.adjudicate import adjudicate

    scheme = load_scheme()
    rows = pa.concat_tables(pq.read_table(p) for p in sorted((built_v1 / "data" / "documents").glob("*.parquet"))).to_pylist()
    gold = adjudicate(from_tables(fx.tables("v1"))).spans
    features = documents_features(scheme)
    for layer in scheme.layer_names:
        names = features[column_of(layer)].feature["label"].names
        written = sorted((row["id"], s["start"], s["end"], names[s["label"]]) for row in rows for s in row[column_of(layer)])
        assert written == sorted(gold.filter(pl.col("layer") == layer).select("doc_id", "start", "end", "label").rows())
    assert sum(len(row[column_of(layer)]) for row in rows for layer in scheme.layer_names) == gold.height > 0


def test_a_label_outside_the_scheme_is_refused_by_name():
    from khabar.dataset.configs import document_table, quote_table, token_table
    from khabar.dataset.features import label_ids
    from khabar.foundation.errors import KhabarError
    from khabar.gold.adjudicate import adjudicate

    assert label_ids(pl.Series(["NORP", None, "PERS"]), ["PERS", "NORP"]).to_list() == [1, None, 0]
    with pytest.raises(KhabarError, match="label 'CITY' is not one of PERS, NORP"):
        label_ids(pl.Series(["PERS", "CITY"]), ["PERS", "NORP"])
    inputs = from_tables(fx.tables("v1"))
    gold = adjudicate(inputs)
    spans = gold.spans.with_columns(label=pl.when(pl.col("label") == "OCC").then(pl.lit("CITY")).otherwise("label"))
    scheme = load_scheme()
    with pytest.raises(KhabarError, match="label 'CITY' is not one of PERS, NORP"):
        document_table(inputs.documents, spans, gold.relations, scheme)
    with pytest.raises(KhabarError, match="label 'B-CITY' is not one of O, B-PERS"):
        token_table(inputs.documents, spans, scheme)
    with pytest.raises(KhabarError, match="label 'CITY' is not one of PERS, NORP"):
        quote_table(spans, gold.relations, scheme)


def test_entities_that_cannot_be_tagged_are_counted_or_name_their_document():
    from khabar.dataset.configs import sentence_rows
    from khabar.foundation.errors import KhabarError

    text = "قال أحمد. ثم ذهب علي إلى بغداد"
    ali, baghdad = text.index("علي"), text.index("بغداد")
    ahmad = Span(text.index("أحمد"), text.index("."), "PERS")
    # the PERS, widened to the whole of بغداد, still crosses the GPE: the first in text order stays
    crossing = [Span(ali, baghdad + 2, "PERS"), Span(text.index("ذهب"), ali + 3, "GPE")]
    rows, aligned = sentence_rows("d1", text, [ahmad, *crossing], ["PERS", "GPE"])
    assert [(r.number, r.nested_tags) for r in rows] == [(0, [["O"], ["B-PERS"], ["O"]]), (1, [["O"], ["B-GPE"], ["I-GPE"], ["O"], ["O"]])]
    assert [a.how for a in aligned] == ["exact", "crossing", "exact"]

    on_white_space = Span(len(text), len(text) + 1, "GPE")  # past the last token
    with pytest.raises(KhabarError, match=r"document d1: cannot tag the entities: span Span\(.*\) covers no token"):
        sentence_rows("d1", text + " ", [ahmad, on_white_space], ["PERS", "GPE"])


def test_unreadable_inputs_are_one_line_errors(tmp_path, khabar, datasheet_copy):
    missing = khabar("build", "--exports", "--documents", tmp_path / "none.jsonl", "--out", tmp_path / "o", "--datasheet", datasheet_copy)
    assert missing.status == 2 and "none.jsonl: cannot read" in missing.err
    no_export = khabar("build", "--exports", tmp_path / "none.json", "--out", tmp_path / "o", "--datasheet", datasheet_copy)
    assert no_export.status == 2 and "none.json" in no_export.err
    assert not (tmp_path / "o").exists()


def test_release_config_with_an_unknown_split_is_refused(tmp_path, khabar, datasheet_copy):

    release = tmp_path / "release.toml"
    release.write_text(repo().release_file.read_text(encoding="utf-8").replace("validation = 0.1", "dev = 0.1"), encoding="utf-8")
    result = khabar("build", "--exports", "--release", release, "--out", tmp_path / "o", "--datasheet", datasheet_copy)
    assert result.status == 2 and "release.toml" in result.err and "'dev'" in result.err
    assert not (tmp_path / "o").exists()


def test_release_option_is_used_and_hashed_in_the_manifest(tmp_path, khabar, datasheet_copy):

    release = tmp_path / "release.toml"
    release.write_text(repo().release_file.read_text(encoding="utf-8").replace('name = "khabar"', 'name = "khabar-test"'), encoding="utf-8")
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    assert khabar("build", "--exports", "--release", release, "--out", tmp_path / "o", "--datasheet", sheet).status == 0
    manifest = json.loads((tmp_path / "o" / "MANIFEST.json").read_text())
    assert manifest["name"] == "khabar-test"
    assert manifest["inputs"]["release_config_sha256"] == hashlib.sha256(release.read_bytes()).hexdigest()


def test_a_killed_build_is_cleaned_up_by_the_next_one(tmp_path, datasheet_copy):
    """A build killed mid-write leaves its staging folder; one killed between the two renames leaves
    only the previous build moved aside. The next build removes the first and restores the second."""
    out = tmp_path / "dist" / "khabar"
    inputs = from_tables(fx.tables("v1"))
    build(inputs, out, datasheet=datasheet_copy)
    before = hashes(out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    (out.parent / f".khabar.building-{dead}").mkdir()
    out.rename(out.parent / f".khabar.previous-{dead}")
    from khabar.dataset.write import recover

    recover(out)
    assert hashes(out) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["khabar"]


def test_a_folder_is_a_killed_builds_when_no_running_process_holds_it_and_its_pid_is_no_other_process(tmp_path, datasheet_copy):
    """A build holds (a lock) its staging folder and the previous build it moves aside. The next build judges a
    leftover by that lock as well as by the pid in its name: a killed build's previous build is put back though its
    pid is the one this build runs as (in a container every run is pid 1: it was never put back), and a running
    build's folders are left alone though their pid is none this process can see (a build in another container
    sharing the folder); so are the output folder a running build is replacing and the staging folder it writes
    in, refused in one line with nothing changed."""
    from khabar.dataset.write import recover
    from khabar.foundation.errors import KhabarError

    out = tmp_path / "dist" / "khabar"
    inputs = from_tables(fx.tables("v1"))
    build(inputs, out, datasheet=datasheet_copy)
    before = hashes(out)
    out.rename(out.parent / f".khabar.previous-{os.getpid()}")  # killed between the renames; its pid taken again
    (out.parent / f".khabar.building-{os.getpid()}").mkdir()
    recover(out)
    assert hashes(out) == before and sorted(p.name for p in out.parent.iterdir()) == ["khabar"]

    unseen = 4_194_305  # above Linux's largest pid: a pid of another namespace, none here
    aside, staging = out.parent / f".khabar.previous-{unseen}", out.parent / f".khabar.building-{unseen}"
    out.rename(aside)
    staging.mkdir()
    with held_by_another_process(aside, staging):
        recover(out)
        assert not out.exists() and hashes(aside) == before and staging.is_dir()
    aside.rename(out)
    staging.rmdir()

    own_staging = out.parent / f".khabar.building-{os.getpid()}"
    own_staging.mkdir()
    datasheet_before = datasheet_copy.read_bytes()
    for held, says in ((own_staging, "another command is writing this folder now"), (out, "another command is replacing this folder now")):
        with held_by_another_process(held):
            with pytest.raises(KhabarError, match=says) as refused:
                build(from_tables(fx.tables("v2")), out, datasheet=datasheet_copy)
            assert refused.value.file == str(held)
            assert hashes(out) == before and datasheet_copy.read_bytes() == datasheet_before
    assert sorted(p.name for p in out.parent.iterdir()) == ["khabar"]


def test_an_export_with_errors_names_file_task_and_region(tmp_path, khabar, datasheet_copy):
    tables_export = tmp_path / "export.json"
    doc = fx.tables("v1").documents.filter(pl.col("doc_id") == fx.RT).row(0, named=True)
    result = [{"from_name": "entity", "id": "e4", "to_name": "text", "type": "labels",
               "value": {"start": len(doc["text"]) - 2, "end": len(doc["text"]) + 5, "labels": ["GPE"], "text": "xx"}}]
    tables_export.write_text(json.dumps([{
        "annotations": [{"completed_by": {"pseudonym": "annotator-1"}, "created_at": "2026-01-05T10:00:00Z", "ground_truth": False,
                         "id": 11, "lead_time": 1.0, "result": result, "updated_at": "2026-01-05T10:00:00Z", "was_cancelled": False}],
        "data": {"doc_id": doc["doc_id"], "source": doc["source"], "text": doc["text"], "title": doc["title"]},
        "drafts": [], "id": 1, "predictions": [],
    }], ensure_ascii=False), encoding="utf-8")
    run = khabar("build", "--exports", tables_export, "--out", tmp_path / "o", "--datasheet", datasheet_copy)
    assert run.status == 1
    assert "export.json" in run.err and "task 1" in run.err and "region e4" in run.err


def test_a_build_made_range_by_range_is_the_build_made_at_once(tmp_path, datasheet_copy, small_ranges):
    """The configs, adjudication and shards are made one range of documents at a time: ranges of two
    documents give the same bytes (every file, the datasheet) as one range holding every document."""
    from khabar.gold.load import load_inputs

    main = load_inputs(sorted(repo().exports_dir.glob("*.json")), repo().documents_file)
    for name, inputs in (("main", main), ("fixture", from_tables(fx.tables("v1")))):
        folders = {}
        for size in (2, 10_000):
            adjudicated = small_ranges(size)
            ranges = inputs.ranges(documents=size, spans=10**9)
            assert len(ranges) > 1 if size == 2 else len(ranges) == 1
            sheet = tmp_path / f"sheet-{name}-{size}.md"
            sheet.write_bytes(datasheet_copy.read_bytes())
            folders[size] = tmp_path / name / str(size)
            build(inputs, folders[size], datasheet=sheet)
            assert len(adjudicated) == len(ranges) and max(adjudicated) <= size, "the build went range by range"
        assert hashes(folders[2]) == hashes(folders[10_000]), name
        assert (tmp_path / f"sheet-{name}-2.md").read_bytes() == (tmp_path / f"sheet-{name}-10000.md").read_bytes()
