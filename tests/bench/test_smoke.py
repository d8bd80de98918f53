"""The benchmark runs end to end at a tiny size (no timing is asserted: speed lives in benchmarks/README.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.foundation import jsonl
from khabar.foundation.paths import repo

BENCH = repo().root / "benchmarks" / "bench_pipeline.py"
SYNTH = repo().root / "benchmarks" / "synth.py"


def test_generator_is_deterministic_and_shaped_like_a_pull(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = subprocess.run([sys.executable, str(SYNTH), "--spans", "1500", "--seed", "7", "--out", str(out)], capture_output=True, text=True, check=True)
        runs.append((json.loads(done.stdout), (out / "export.json").read_bytes(), (out / "documents.jsonl").read_bytes()))
    assert runs[0] == runs[1]
    counts, export, documents = runs[0]
    tasks = json.loads(export)
    assert export.decode("utf-8") == json.dumps(tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    records = [json.loads(line) for _, line in jsonl.split(documents.decode("utf-8"))]
    assert [r["doc_id"] for r in records] == [t["data"]["doc_id"] for t in tasks]
    assert {r["text"] for r in records} == {t["data"]["text"] for t in tasks}
    spans = [r for t in tasks for a in t["annotations"] for r in a["result"] if r["type"] == "labels"]
    assert len(spans) == counts["span_results"] >= 1500
    assert {s["from_name"] for s in spans} == {"entity", "attribution", "zone"}
    assert 0.15 <= counts["nested_entities"] / counts["entities"] <= 0.25
    assert {len(t["annotations"]) for t in tasks} == {1, 2, 3}
    assert counts["cancelled"] > 0 and counts["drafts"] > 0 and counts["prediction_span_results"] > 0
    assert all(set(a["completed_by"]) == {"pseudonym"} for t in tasks for a in t["annotations"])
    for task in tasks:
        text = task["data"]["text"]
        for annotation in task["annotations"]:
            for result in annotation["result"]:
                if result["type"] != "relation":
                    value = result["value"]
                    assert text[value["start"] : value["end"]] == value["text"]


def test_generator_writes_the_same_tasks_on_one_line_as_label_studio_does(tmp_path: Path) -> None:
    """--minified: the layout of Label Studio's UI export (ujson's: no spaces, ``/`` escaped), the same tasks."""
    for name, extra in (("indented", []), ("minified", ["--minified"])):
        subprocess.run([sys.executable, str(SYNTH), "--spans", "600", "--out", str(tmp_path / name), *extra], capture_output=True, check=True)
    tasks = json.loads((tmp_path / "indented" / "export.json").read_bytes())
    minified = (tmp_path / "minified" / "export.json").read_text(encoding="utf-8")
    assert json.loads(minified) == tasks
    assert minified == json.dumps(tasks, ensure_ascii=False, sort_keys=True, separators=(",", ":")).replace("/", "\\/")
    assert (tmp_path / "minified" / "documents.jsonl").read_bytes() == (tmp_path / "indented" / "documents.jsonl").read_bytes()


def test_benchmark_prints_the_table_and_outputs_reconcile(tmp_path: Path) -> None:
    datasheet = (repo().root / "DATASHEET.md").read_bytes()
    done = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "600,1200", "--minified", "600", "--team", "3", "--team-spans", "600", "--work", str(tmp_path), "--json", str(tmp_path / "bench.json")],
        capture_output=True,
        text=True,
        cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "outputs reconcile" in done.stderr
    assert "| shape | span results | tasks | export MB | stage | wall s | CPU s | peak MB |" in done.stdout
    for stage in (
        "floor (msgspec, streamed)", "floor (json)", "khabar validate", "khabar build", "**khabar validate + build**", "**khabar build alone** (validating)",
        "converter (CoNLL 2003)",
    ):
        assert f"| {stage} |" in done.stdout
    assert "khabar/fastest floor CPU (wall)" in done.stdout and "converter/khabar CPU (wall)" in done.stdout and "build alone/fastest floor CPU" in done.stdout
    assert "validate + build in one command (build alone) within 3×" in done.stdout and "build_alone peak memory within" in done.stdout
    assert "targets at 1,2" in done.stdout and "(team-3):" in done.stdout and "news: CPU time growth" in done.stdout
    measures = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert [(m["shape"], m["counts"]["span_results"] >= m["target"]) for m in measures] == [("news", True), ("news", True), ("news-minified", True), ("team-3", True)]
    # the minified run: the 600 news export's tasks, on one line
    assert measures[2]["counts"] == measures[0]["counts"] and "(news-minified):" in done.stdout
    assert b"\n" not in (tmp_path / "size-600-minified" / "export.json").read_bytes()
    # the team shape: the same number of annotations on every task
    assert measures[3]["counts"]["annotations"] == 3 * measures[3]["counts"]["tasks"]
    for measure in measures:
        for stage in ("stream_floor", "floor", "build_alone", "validate", "build", "converter"):
            assert measure[stage]["seconds"] > 0 and measure[stage]["cpu_seconds"] > 0 and measure[stage]["peak_mb"] > 0
            assert "stdout" not in measure[stage]  # the outputs stay in the work folder, as <stage>.stdout
    # the build ran on a copy of the datasheet: the repository's is untouched
    assert (repo().root / "DATASHEET.md").read_bytes() == datasheet


def test_repeat_runs_every_stage_in_turn_and_reports_the_median_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--sizes", "600", "--repeat", "3", "--work", str(tmp_path), "--json", str(tmp_path / "bench.json")],
        capture_output=True, text=True, cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # each round starts clean and is reconciled on its own
    assert [f"outputs reconcile (round {n} of 3)" in done.stderr for n in (1, 2, 3)] == [True, True, True]
    assert done.stderr.count("build (round") == 3 and "each stage run 3 times in turn" in done.stdout
    [measure] = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    for stage in ("stream_floor", "floor", "build_alone", "validate", "build", "converter"):
        runs = measure[stage]["cpu_runs"]
        assert len(runs) == 3 and min(runs) > 0
        assert measure[stage]["cpu_seconds"] == sorted(runs)[1], stage
    refused = subprocess.run([sys.executable, str(BENCH), "--repeat", "0"], capture_output=True, text=True, cwd=repo().root)
    assert refused.returncode == 2 and "must be 1 or more, not 0" in refused.stderr


def test_the_build_alone_is_reconciled_byte_for_byte_with_the_two_commands(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH.parent))
    from bench_pipeline import _differing_files

    for name in ("two", "one"):
        (tmp_path / name / "data").mkdir(parents=True)
        (tmp_path / name / "data" / "a.parquet").write_bytes(b"rows")
        (tmp_path / name / "README.md").write_text("card", encoding="utf-8")
    assert _differing_files(tmp_path / "two", tmp_path / "one") == []
    (tmp_path / "one" / "data" / "a.parquet").write_bytes(b"rowz")
    (tmp_path / "one" / "extra.json").write_text("{}", encoding="utf-8")
    assert _differing_files(tmp_path / "two", tmp_path / "one") == ["data/a.parquet", "extra.json"]


def test_phases_times_every_phase_it_names(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SYNTH), "--spans", "800", "--out", str(tmp_path)], capture_output=True, check=True)
    done = subprocess.run(
        [sys.executable, str(repo().root / "benchmarks" / "phases.py"), str(tmp_path / "export.json"), str(tmp_path / "documents.jsonl"), "--work", str(tmp_path / "work")],
        capture_output=True, text=True, cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {name.strip(): (float(seconds), int(calls)) for name, seconds, calls in (line.rsplit(None, 2) for line in done.stdout.splitlines()[1:])}
    assert rows["khabar validate"][0] > 0 and rows["khabar build"][0] > 0
    for phase in ("khabar.validation.api.check_exports", "khabar.validation.api.check_raw", "khabar.dataset.compute.compute", "khabar.dataset.configs.token_table"):
        assert rows[phase][1] > 0, phase  # the wrapper was called: the phase still exists under that name
    assert (tmp_path / "work" / "build" / "MANIFEST.json").is_file()


def test_compression_levels_rewrite_a_build_as_the_build_writes_it(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SYNTH), "--spans", "800", "--out", str(tmp_path)], capture_output=True, check=True)
    build = tmp_path / "build"
    shutil.copyfile(repo().root / "DATASHEET.md", tmp_path / "DATASHEET.md")  # the build refreshes a copy, never the repository's
    subprocess.run(
        [str(Path(sys.executable).with_name("khabar")), "build", "--exports", str(tmp_path / "export.json"), "--documents", str(tmp_path / "documents.jsonl"),
         "--out", str(build), "--datasheet", str(tmp_path / "DATASHEET.md")],
        capture_output=True, check=True, cwd=repo().root, env={**os.environ, "KHABAR_CACHE_DIR": str(tmp_path / "cache")},
    )
    done = subprocess.run([sys.executable, str(repo().root / "benchmarks" / "compression.py"), str(build), "--levels", "3,9", "--repeat", "1"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    built = int(done.stdout.split(" bytes as built")[0].rsplit(", ", 1)[1].replace(",", ""))
    sizes = {int(row.split("|")[1]): int(row.split("|")[2].replace(",", "")) for row in done.stdout.splitlines() if row.startswith("| ") and row.split("|")[1].strip().isdigit()}
    # at the build's own level the rewrite is byte for byte the size the build wrote: it measures the build's writer
    assert sizes[9] == built and sizes[3] > 0


def test_a_stages_peak_is_its_own_not_the_benchmarks(tmp_path: Path) -> None:
    """Linux gives a child the memory of the process it was forked from as its starting peak; the benchmark,
    holding 300 MB here (a team's generated export, in a run), must not lend it to the stage it measures."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(BENCH.parent)!r})\n"
        "from pathlib import Path\n"
        "import bench_pipeline\n"
        "held = bytearray(300 * 2**20)\n"
        "held[::4096] = b'x' * len(held[::4096])\n"
        f"small = bench_pipeline.measure('small', [sys.executable, '-c', 'pass'], Path({str(tmp_path)!r}))\n"
        f"large = bench_pipeline.measure('large', [sys.executable, '-c', 'b = bytearray(200 * 2**20); b[::4096] = b\"x\" * len(b[::4096])'], Path({str(tmp_path)!r}))\n"
        "print(round(small.peak_mb), round(large.peak_mb), small.cpu_seconds > 0)\n"
    )
    small, large, timed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert int(small) < 100 and 200 <= int(large) < 300 and timed == "True"


def test_the_failing_benchmark_reconciles_every_report_format(tmp_path: Path) -> None:
    """benchmarks/failing.py at a tiny size: every format's report lists every failure the JSON report counts."""
    done = subprocess.run(
        [sys.executable, str(BENCH.with_name("failing.py")), "--spans", "1500", "--work", str(tmp_path)], capture_output=True, text=True, cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| corpus | format | wall s | CPU s | peak MB | peak / clean peak |" in done.stdout
    for fmt in ("json", "text", "markdown", "github"):
        assert f"| shifted (failing) | {fmt} |" in done.stdout
    failures = int(re.search(r"every span failing against the shifted corpus: ([\d,]+) failures", done.stdout).group(1).replace(",", ""))
    report = json.loads((tmp_path / "failing-json.stdout").read_text(encoding="utf-8"))
    assert failures == len(report["failures"]) == report["errors"] + report["warnings"] and report["errors"] > 0
    assert "target: each command's peak within 1,024 MB however many failures:" in done.stdout


def test_the_commands_benchmark_runs_every_command_and_its_outputs_reconcile(tmp_path: Path) -> None:
    """benchmarks/commands.py at a tiny size: every command that reads a build, an export or a CoNLL file runs and
    is measured, and what they write reconciles (the build against itself, stats against the build, import-conll
    against the CoNLL file)."""
    from khabar.dataset.export import FORMATS

    done = subprocess.run(
        [sys.executable, str(BENCH.with_name("commands.py")), "--spans", "1500", "--work", str(tmp_path)], capture_output=True, text=True, cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| command | wall s | CPU s | peak MB |" in done.stdout
    for command in ("build", "validate --dataset", "diff", *(f"export {fmt}" for fmt in FORMATS), "stats", "import-conll"):
        assert f"| {command} |" in done.stdout
    assert json.loads((tmp_path / "diff.stdout").read_text(encoding="utf-8"))["spans_added"] == {}
    assert sum(label["spans"] for label in json.loads((tmp_path / "stats.stdout").read_text(encoding="utf-8"))["labels"]) > 0
    assert "target: each command's peak within 1,024 MB:" in done.stdout


def test_the_knowledge_base_benchmark_checks_a_repository_of_its_own_and_reconciles(tmp_path: Path) -> None:
    """benchmarks/knowledge_base.py at a tiny size: a dataset repository whose committed export is synthetic, with a
    base written to cover its gold; build, validate, the build from the kept tables, both link commands and train run
    and are measured, and reconcile (the two builds the same files, every link reviewed, every CONTENT clustered, the
    model's sentences, tokens and entities what train said). Train's budget is 5,000 tokens (its own took 40 of
    the test's 48 s), so it learns from a sample, as it does past its budget at 1M span results."""
    done = subprocess.run(
        [sys.executable, str(BENCH.with_name("knowledge_base.py")), "--spans", "1500", "--work", str(tmp_path), "--train-tokens", "5000"],
        capture_output=True, text=True, cwd=repo().root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for command in ("build", "validate", "build after validate", "link propose", "link clusters", "train"):
        assert f"| {command} |" in done.stdout
    links = (tmp_path / "repo" / "annotation" / "kb" / "links.csv").read_text(encoding="utf-8").splitlines()
    assert len(links) > 1 and all(line.endswith(",-") for line in links[1:]), "every linkable mention linked to '-'"
    assert (tmp_path / "build" / "MANIFEST.json").read_bytes() == (tmp_path / "build-kept" / "MANIFEST.json").read_bytes()
    assert not (tmp_path / "repo" / "annotation" / "exports" / "khabar.sync").exists(), "the copy's own export files removed"
    assert "target: each command's peak within 1,024 MB:" in done.stdout
    from khabar.model.train import current_model_dir, read_info

    model = read_info(current_model_dir(tmp_path / "repo"))
    assert model.config.max_tokens == 5000 and 0 < model.tokens <= 5000 and sum(model.learnt.values()) < sum(model.sources.values())


@pytest.mark.studio
def test_the_studio_benchmark_pulls_every_imported_annotation_and_pushes_them_back(tmp_path: Path, studio_server, studio_project_title) -> None:
    """benchmarks/studio_sync.py at a tiny size, against the tests' Label Studio as a team's server (``--url``: a
    second server started for it took 25 of the test's 45 s): both pulls and the push run and are measured, the
    pulled file holds every task, annotation and span result imported, the second pull leaves it as it was, and the
    push finds every annotation present."""
    done = subprocess.run(
        [sys.executable, str(BENCH.with_name("studio_sync.py")), "--spans", "600", "--work", str(tmp_path), "--url", studio_server.url, "--project", studio_project_title],
        capture_output=True, text=True, cwd=repo().root, env=os.environ | {"LABEL_STUDIO_API_KEY": studio_server.credentials.token},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in ("studio pull (new file)", "studio pull (into it)", "studio push (nothing to send)"):
        assert f"| {stage} |" in done.stdout
    pulled = json.loads((tmp_path / "pulled.json").read_text(encoding="utf-8"))
    imported = json.loads((tmp_path / "export.json").read_text(encoding="utf-8"))
    assert [t["data"]["doc_id"] for t in pulled] == [t["data"]["doc_id"] for t in imported]
    assert "target: each command's peak within 1,024 MB:" in done.stdout
