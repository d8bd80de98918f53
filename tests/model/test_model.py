"""The entity model: deterministic training, nested scored predictions, khabar predict, the scores of evaluate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.annotation.ingest import TASK_DATA_KEYS, load_records
from khabar.annotation.scheme import load_scheme
from khabar.model.corpus import submitted_file, wojood_dir, wojood_documents
from khabar.model.evaluate import Labelled, Scores
from khabar.model.predict import EntityModel
from khabar.model.train import MODEL_PREFIX, current_model_dir, read_info
from tests.model.model_support import SOURCE, small_repo
from tests.reliability.reliability_support import fill, small_filesystem, tree


def test_training_twice_gives_the_same_model_and_predictions(trained_repo, tmp_path, khabar):
    again = small_repo(tmp_path / "again")
    assert khabar("--root", str(again), "train").status == 0
    first, second = current_model_dir(trained_repo), current_model_dir(again)
    assert first.name == second.name  # the version is a hash of the inputs
    for level in range(read_info(first).levels):
        assert (first / f"level-{level}.crfsuite").read_bytes() == (second / f"level-{level}.crfsuite").read_bytes()
    text = wojood_documents(wojood_dir(trained_repo) / "test.txt")[0].text
    assert EntityModel(first).predict(text) == EntityModel(second).predict(text)


def test_predictions_are_nested_and_scored(trained_repo):
    model = EntityModel(current_model_dir(trained_repo))
    assert model.info.levels >= 2
    documents = wojood_documents(wojood_dir(trained_repo) / "train.txt")
    predicted = [p for d in documents for p in model.predict(d.text)]
    labels = set(load_scheme().labels("entity"))
    assert predicted and all(p.label in labels and 0.0 < p.score <= 1.0 for p in predicted)
    inner = [p for p in predicted if p.level == 1]
    assert inner, "no entity predicted inside another"
    by_text = {d.text: model.predict(d.text) for d in documents}
    assert any(
        o.start <= i.start and i.end <= o.end and (o.start, o.end) != (i.start, i.end)
        for found in by_text.values() for i in found if i.level == 1 for o in found if o.level == 0
    )


def test_a_new_model_version_when_the_training_data_changes(trained_repo, tmp_path, khabar):
    changed = small_repo(tmp_path / "changed")
    sample = wojood_dir(changed) / "train.txt"
    first_blank = sample.read_text(encoding="utf-8").index("\n\n")
    sample.write_text(sample.read_text(encoding="utf-8")[first_blank + 2 :], encoding="utf-8")  # one sentence fewer
    assert khabar("--root", str(changed), "train").status == 0
    assert current_model_dir(changed).name != current_model_dir(trained_repo).name


def test_khabar_predict_writes_tasks_as_sync_makes_them_with_scored_predictions(trained_repo, tmp_path, khabar):
    out = tmp_path / "predictions.json"
    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    assert khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out)).status == 0
    tasks = json.loads(out.read_text(encoding="utf-8"))
    records = [r for r in load_records(documents) if r.superseded_by is None]
    assert [t["data"]["doc_id"] for t in tasks] == [r.doc_id for r in records]
    version = current_model_dir(trained_repo).name
    for task, record in zip(tasks, records):
        assert set(task["data"]) == set(TASK_DATA_KEYS) and task["data"]["text"] == record.text
        [prediction] = task["predictions"]
        assert prediction["model_version"] == version and 0.0 < prediction["score"] <= 1.0
        regions = [r for r in prediction["result"] if r["type"] == "labels"]
        assert any(r["from_name"] == "entity" for r in regions)
        for region in regions:
            value = region["value"]
            assert record.text[value["start"] : value["end"]] == value["text"]
            assert 0.0 < region["score"] <= 1.0
    assert khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out)).status == 0, "its own output"


@pytest.mark.parametrize("there", [True, False], ids=["its own", "none"])
def test_a_file_saved_where_predict_writes_while_it_predicts_is_kept(trained_repo, tmp_path, khabar, monkeypatch, there):
    """``khabar predict`` checked ``--out`` (none, or its own earlier output), predicted for minutes, then wrote: a
    file saved there meanwhile (an export, say) was replaced unchecked. It is kept and the write refused."""
    from khabar.model import predict

    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    out = tmp_path / "predictions.json"
    if there:
        assert khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out)).status == 0
    theirs = '[{"data": {"text": "mine"}, "annotations": []}]\n'
    predicting = predict.prediction

    def saved_meanwhile(*args):
        out.write_text(theirs, encoding="utf-8")
        return predicting(*args)

    monkeypatch.setattr(predict, "prediction", saved_meanwhile)
    run = khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out))
    happened = "changed on disk since it was read" if there else "made on disk since the command found none there"
    assert run.status == 2 and run.err.splitlines()[-1] == f"khabar predict: error: {out}: {happened}; not written (run the command again)", run.output
    assert out.read_text(encoding="utf-8") == theirs and sorted(p.name for p in tmp_path.iterdir()) == ["predictions.json"]


def test_khabar_predict_on_a_missing_file_is_a_one_line_error(trained_repo, tmp_path, khabar):
    status, _, err = khabar("--root", str(trained_repo), "predict", "--documents", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o.json"))
    assert status == 2 and "none.jsonl" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.json").exists()


def test_khabar_predict_stopped_by_a_bad_record_after_good_ones_leaves_the_previous_file(trained_repo, tmp_path, khabar, monkeypatch):
    """Tasks are predicted and written one at a time: a record that cannot be read after some were predicted is a
    one-line error, and the import file of an earlier run stays byte for byte."""
    from khabar.annotation import ingest
    from khabar.model import predict

    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    out = tmp_path / "predictions.json"
    assert khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out)).status == 0
    before = out.read_bytes()
    broken = tmp_path / "documents.jsonl"
    lines = documents.read_bytes().splitlines(keepends=True)
    broken.write_bytes(b"".join(lines[:-1]) + b'{"doc_id": "cut short\n')
    predicted = []
    monkeypatch.setattr(ingest, "BLOCK_BYTES", 256)  # a block a record: the good ones are predicted before the bad one is read
    monkeypatch.setattr(predict, "prediction", lambda text, model, made=predict.prediction: predicted.append(text) or made(text, model))
    status, _, err = khabar("--root", str(trained_repo), "predict", "--documents", str(broken), "--out", str(out))
    assert len(predicted) > 1
    assert status == 2 and str(broken) in err and f"line {len(lines)}" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_khabar_predict_without_a_trained_model_says_how_to_train(tmp_path, khabar):
    root = small_repo(tmp_path / "untrained")
    status, _, err = khabar("--root", str(root), "predict", "--documents", str(root / "annotation/corpus/documents.jsonl"), "--out", str(tmp_path / "o.json"))
    assert status == 2 and "khabar train" in err


def test_a_broken_model_file_is_a_one_line_error(trained_repo, tmp_path, khabar):
    broken = tmp_path / "broken"
    shutil.copytree(current_model_dir(trained_repo), broken)
    (broken / "level-0.crfsuite").write_bytes(b"not a model")
    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    status, _, err = khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(tmp_path / "o.json"), "--model", str(broken))
    assert status == 2 and "level-0.crfsuite" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("cut", ["one byte short", "1,000 bytes", "half", "no header"])
def test_a_model_file_cut_short_is_a_one_line_error_not_a_crash(cut, trained_repo, tmp_path):
    """CRFsuite opened a model file one byte short, and crashed the process (SIGSEGV) on one cut at 1,000 bytes or
    half its length: the command runs in a process of its own, so a crash fails the test instead of the session."""
    broken = tmp_path / "broken"
    shutil.copytree(current_model_dir(trained_repo), broken)
    level = broken / "level-0.crfsuite"
    whole = level.read_bytes()
    cuts = {"one byte short": whole[:-1], "1,000 bytes": whole[:1000], "half": whole[: len(whole) // 2], "no header": bytes(8) + whole[8:]}
    level.write_bytes(cuts[cut])
    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from khabar.cli import main; sys.exit(main())", "--root", str(trained_repo), "predict",
         "--documents", str(documents), "--out", str(tmp_path / "o.json"), "--model", str(broken)],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2, (run.returncode, run.stderr[-2000:])
    assert "cannot open the model" in run.stderr and "level-0.crfsuite" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("full_at", ["level-0.crfsuite", "model.json"])
def test_a_full_disk_while_training_is_one_line_naming_the_file_and_leaves_the_served_model(full_at, trained_repo, tmp_path, khabar):
    """On a real full tmpfs holding the models, with room for none of the model, or for its levels and not for
    model.json. CRFsuite's trainer returns as usual when it could not write its file: the file is checked against
    its header. model.json's failed write named no file, and was reported as a failure of standard output."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root, ignore=shutil.ignore_patterns(".khabar"))
    train = wojood_dir(root) / "train.txt"
    train.write_text(train.read_text(encoding="utf-8").split("\n\n", 1)[1], encoding="utf-8")  # one sentence less: a new version
    room = 64 * 1024  # less than a level's file (the first is about 520 KB)
    if full_at == "model.json":  # the pages of the level files, as the same training writes them elsewhere
        probe = tmp_path / "probe"
        shutil.copytree(root, probe)
        assert khabar("--root", str(probe), "train").status == 0
        room = sum(-(-level.stat().st_size // 4096) * 4096 for level in current_model_dir(probe).glob("level-*.crfsuite"))
    with small_filesystem(root / ".khabar" / "models", size="2m") as models:
        shutil.copytree(trained_repo / ".khabar" / "models", models, dirs_exist_ok=True)
        filler = fill(models)
        os.truncate(filler, filler.stat().st_size - room)
        before = tree(models)
        run = khabar("--root", str(root), "train")
        error = run.err.strip().splitlines()[-1]
        assert run.status == 2 and error.startswith("khabar train: error:") and full_at in error, run.err
        assert ("CRFsuite could not write the model" if full_at.endswith(".crfsuite") else "No space left on device") in error
        assert "Traceback" not in run.err and "standard output" not in run.err
        assert tree(models) == before, "the served model changed or a half-written one was left"


def test_scores_count_exact_and_overlapping_spans():
    scores = Scores()
    gold = [Labelled("entity", "GPE", 0, 6), Labelled("entity", "GPE", 10, 16), Labelled("entity", "ORG", 20, 30)]
    predicted = [Labelled("entity", "GPE", 0, 6), Labelled("entity", "GPE", 10, 14), Labelled("entity", "PERS", 20, 30)]
    scores.add_document(predicted, gold)
    rows = {(r["layer"], r["label"]): r for r in scores.rows()}
    gpe, every = rows[("entity", "GPE")], rows[("entity", "(all)")]
    assert (gpe["p"], gpe["r"], gpe["p_overlap"], gpe["r_overlap"]) == (0.5, 0.5, 1.0, 1.0)
    assert (every["predicted"], every["gold"], every["p"], every["r"]) == (3, 3, 0.333, 0.333)
    assert rows[("entity", "PERS")]["p_overlap"] == 0.0  # another label never overlaps


@pytest.mark.parametrize("bad", ["--setting", "nonsense"])
def test_evaluate_rejects_an_unknown_setting(bad, khabar):
    run = khabar("evaluate", "--setting", bad)
    assert run.status == 2 and "--setting" in run.err


def test_evaluate_held_out_scores_every_gold_page_once_in_its_folds(tmp_path, khabar, monkeypatch):
    """``khabar evaluate --setting loo`` on a repository with gold pages, in two folds: a model for each fold, and
    every gold span of every page counted once, whatever its layer."""
    from khabar.gold.adjudicate import adjudicate
    from khabar.gold.load import load_inputs
    from khabar.model import evaluate as evaluate_module

    root = small_repo(tmp_path / "repo")
    exports = sorted((SOURCE / "annotation" / "exports").glob("*.json"))
    for export in exports:
        shutil.copyfile(export, root / "annotation" / "exports" / export.name)
    gold = adjudicate(load_inputs(exports, SOURCE / "annotation" / "corpus" / "documents.jsonl")).spans
    monkeypatch.setattr(evaluate_module, "FOLDS", 2)
    figures = tmp_path / "figures.json"
    run = khabar("--root", str(root), "evaluate", "--setting", "loo", "--json", str(figures))
    assert run.status == 0, run.err
    assert "fold 1 of 2: leaving out 3 gold page(s), training on the Wojood sample and the other 2" in run.out and "fold 2 of 2" in run.out
    counted = {row["layer"]: row["gold"] for row in json.loads(figures.read_text(encoding="utf-8"))["loo"] if row["label"] == "(all)"}
    assert {layer: counted[layer] for layer in gold["layer"].unique()} == dict(gold.group_by("layer").len().iter_rows())


def test_levels_are_scored_apart():
    from khabar.model.evaluate import by_level

    gold = [Labelled("entity", "OCC", 0, 10), Labelled("entity", "GPE", 5, 10)]
    predicted = [Labelled("entity", "OCC", 0, 10), Labelled("entity", "ORG", 5, 10)]
    scores = Scores()
    scores.add_document(by_level(predicted), by_level(gold))
    rows = {(r["layer"], r["label"]): r for r in scores.rows()}
    assert rows[("entity level 0", "(all)")]["f1"] == 1.0
    assert rows[("entity level 1+", "(all)")]["f1"] == 0.0 and rows[("entity level 1+", "(all)")]["f1_overlap"] == 0.0


def test_a_failed_training_leaves_the_served_model_and_no_half_written_one(trained_repo, tmp_path, khabar):
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    served = (root / ".khabar" / "models" / "current.json").read_bytes()
    before = sorted(p.name for p in (root / ".khabar" / "models").iterdir())
    for split in ("train", "val", "test"):  # the same tokens, every tag O: nothing to learn
        path = wojood_dir(root) / f"{split}.txt"
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(f"{line.split(' ')[0]} O" if line.strip() else "" for line in lines) + "\n", encoding="utf-8")
    failed = khabar("--root", str(root), "train")
    assert failed.status == 2 and "no entities to learn from" in failed.err
    assert (root / ".khabar" / "models" / "current.json").read_bytes() == served
    assert sorted(p.name for p in (root / ".khabar" / "models").iterdir()) == before


def _with_changed_training_data(trained_repo, folder):
    """A copy of the trained repository whose training data lost a sentence: the next ``train`` makes a new version."""
    root = folder / "repo"
    shutil.copytree(trained_repo, root)
    sample = wojood_dir(root) / "train.txt"
    text = sample.read_text(encoding="utf-8")
    sample.write_text(text[text.index("\n\n") + 2 :], encoding="utf-8")
    return root


#: where a signal comes while a training puts its model in place: after the rename of its folder, after current.json's
TRAIN_MOMENTS = {
    "model folder in": lambda target, models: target.parent == models and target.name.startswith(MODEL_PREFIX),
    "current.json in": lambda target, models: target == models / "current.json",
}


@pytest.mark.parametrize("moment", TRAIN_MOMENTS)
@pytest.mark.parametrize(("signum", "status", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_as_a_training_puts_its_model_in_place_leaves_the_model_served(
    moment, signum, status, said, trained_repo, tmp_path, khabar, monkeypatch, sigterm_restored
):
    """A real signal right after one of the renames that put a model in place: the command stops as the signal says,
    with the new model's folder and current.json naming it both in place, and nothing beside them. It stopped between
    them: a whole model that was not served, which the next ``train`` made current as "already trained"."""
    root = _with_changed_training_data(trained_repo, tmp_path)
    models = root / ".khabar" / "models"
    before = set(os.listdir(models))
    signalled = []
    rename, replace = Path.rename, os.replace

    def then_signal(target):
        if not signalled and TRAIN_MOMENTS[moment](Path(target), models):
            signalled.append(target)
            os.kill(os.getpid(), signum)  # handled at the next instruction, as when it comes from outside just then

    monkeypatch.setattr(Path, "rename", lambda self, target: (rename(self, target), then_signal(target))[0])
    monkeypatch.setattr(os, "replace", lambda source, target, **kwargs: (replace(source, target, **kwargs), then_signal(target))[0])
    run = khabar("--root", str(root), "train")
    assert signalled, f"no rename matched {moment!r}"
    assert run.status == status and run.err.splitlines()[-1] == f"khabar train: {said}", run.output
    [new] = set(os.listdir(models)) - before
    assert current_model_dir(root) == models / new and read_info(models / new).version == new
    assert set(os.listdir(models)) == before | {new}


def test_a_training_whose_current_json_cannot_be_replaced_leaves_no_model_it_does_not_serve(trained_repo, tmp_path, khabar):
    """current.json refused (a folder of someone's stands there): the new model is taken back with it, and nothing of
    theirs is touched. The model stayed, whole and not served."""
    root = _with_changed_training_data(trained_repo, tmp_path)
    models = root / ".khabar" / "models"
    (models / "current.json").unlink()
    (models / "current.json").mkdir()
    (models / "current.json" / "notes.txt").write_text("mine", encoding="utf-8")
    before = tree(models)
    run = khabar("--root", str(root), "train")
    assert run.status == 2 and run.err.splitlines()[-1].startswith(f"khabar train: error: {models / 'current.json'}: "), run.output
    assert tree(models) == before


def test_a_model_another_training_served_meanwhile_stays_served(trained_repo, tmp_path, khabar, monkeypatch):
    """``khabar train`` read its data, learnt, then wrote current.json: a model another training (the backend's, from
    newer submissions) made current while it learnt stopped being served. That current.json is kept, this training
    refused and its model not kept; run again, it trains and serves its model."""
    from khabar.model import train as train_module

    root = _with_changed_training_data(trained_repo, tmp_path)
    models = root / ".khabar" / "models"
    before = set(os.listdir(models))
    theirs = train_module.current_text(f"{MODEL_PREFIX}-0123456789")
    fitting = train_module.fit_level

    def another_training_serves_meanwhile(*args):
        (models / "current.json").write_text(theirs, encoding="utf-8")
        return fitting(*args)

    monkeypatch.setattr(train_module, "fit_level", another_training_serves_meanwhile)
    run = khabar("--root", str(root), "train")
    assert run.status == 2 and run.err.splitlines()[-1] == (
        f"khabar train: error: {models / 'current.json'}: changed on disk since it was read; not written (run the command again)"), run.output
    assert (models / "current.json").read_text(encoding="utf-8") == theirs
    assert set(os.listdir(models)) == before, "the model it did not serve is not kept, nothing staged is left"
    monkeypatch.undo()
    assert khabar("--root", str(root), "train").status == 0
    [new] = set(os.listdir(models)) - before
    assert current_model_dir(root) == models / new


#: name → a line of submitted.jsonl after a good one, and the words of the one-line error
BROKEN_SUBMISSIONS = {
    "a line cut short": ('{"doc_id": "d", "text": "abc", "entities": [[0, 2, "PERS"]]', "line 2: not a submitted page"),
    "not an object": ("[1]", "line 2: not a submitted page (Expected `object`, got `array`)"),
    "a doc_id that is a number": ('{"doc_id": 5, "text": "abc"}', "line 2: not a submitted page (Expected `str`, got `int` - at `$.doc_id`)"),
    "no text": ('{"doc_id": "d"}', "line 2: not a submitted page (Object missing required field `text`)"),
    "an entity without its label": ('{"doc_id": "d", "text": "abc", "entities": [[0, 2]]}', "line 2: not a submitted page (Expected `array` of length 3"),
    "an offset that is a boolean": ('{"doc_id": "d", "text": "abc", "entities": [[true, 2, "PERS"]]}', "at `$.entities[0][0]`"),
    "offsets outside the text": ('{"doc_id": "d", "text": "abc", "entities": [[0, 99, "PERS"]]}', "document d: line 2: offsets 0-99 are not inside the text"),
    "a label the scheme lacks": ('{"doc_id": "d", "text": "abc", "entities": [[0, 2, "NOPE"]]}', "document d: line 2: label «NOPE» is not one of the scheme's entity labels"),
}


@pytest.mark.parametrize("case", BROKEN_SUBMISSIONS)
def test_khabar_train_refuses_a_submitted_file_it_cannot_learn_from_in_one_line(case, trained_repo, tmp_path, khabar):
    """``.khabar/training/submitted.jsonl`` read trusting its shape: a line cut short or of another shape stopped
    ``khabar train`` (and every retraining of the ML backend) with a traceback; offsets outside the text and labels
    the scheme lacks were learnt from, or silently dropped."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    line, words = BROKEN_SUBMISSIONS[case]
    submitted = submitted_file(root)
    submitted.parent.mkdir(parents=True)
    submitted.write_text('{"doc_id": "fine", "entities": [[0, 3, "PERS"]], "text": "قال وزير"}\n' + line + "\n", encoding="utf-8")
    before = tree(root / ".khabar" / "models")
    run = khabar("--root", str(root), "train")
    assert run.status == 2 and words in run.err and str(submitted) in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert tree(root / ".khabar" / "models") == before


#: name → a change to a model's model.json, and the words of the one-line error
BROKEN_DESCRIPTIONS = {
    "levels as a text": (lambda info: {**info, "levels": "2"}, "not a trained model (Expected `int`, got `str` - at `$.levels`)"),
    "no level": (lambda info: {**info, "levels": 0}, "0 level(s) (at most 3)"),
    "a version that is a number": (lambda info: {**info, "version": 5}, "not a trained model (Expected `str`, got `int` - at `$.version`)"),
    "a version of another shape": (lambda info: {**info, "version": "mine"}, "not a trained model: version «mine»"),
    "settings of another type": (lambda info: {**info, "config": {**info["config"], "split_proclitics": "no"}}, "at `$.config.split_proclitics`"),
}


@pytest.mark.parametrize("case", BROKEN_DESCRIPTIONS)
def test_a_model_description_of_another_shape_is_a_one_line_error(case, trained_repo, tmp_path, khabar):
    """model.json read trusting its fields: levels as a text was a traceback, a version that is a number stamped
    every prediction, a model of no level predicted no entity at all, without a word."""
    broken = tmp_path / "broken"
    shutil.copytree(current_model_dir(trained_repo), broken)
    change, words = BROKEN_DESCRIPTIONS[case]
    (broken / "model.json").write_text(json.dumps(change(json.loads((broken / "model.json").read_text(encoding="utf-8")))), encoding="utf-8")
    documents = trained_repo / "annotation" / "corpus" / "documents.jsonl"
    run = khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(tmp_path / "o.json"), "--model", str(broken))
    assert run.status == 2 and words in run.err and str(broken / "model.json") in run.err and len(run.err.strip().splitlines()) == 1, run.err
    assert not (tmp_path / "o.json").exists()


#: name → how the served model's folder is broken
CUT_MODELS = {
    "a level file cut short": lambda model: (model / "level-0.crfsuite").write_bytes((model / "level-0.crfsuite").read_bytes()[:1000]),
    "model.json cut short": lambda model: (model / "model.json").write_bytes((model / "model.json").read_bytes()[:100]),
    "model.json not UTF-8": lambda model: (model / "model.json").write_bytes(b"\xff\xfe"),
}


@pytest.mark.parametrize("case", CUT_MODELS)
def test_train_after_the_served_model_was_cut_short_trains_it_again_and_serves_it_whole(case, trained_repo, tmp_path, khabar):
    """The same data again, and the model of that version broken on disk: ``khabar train`` said "already trained" and
    went on serving the broken model (or stopped on a traceback), so nothing but deleting it by hand recovered."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    served = current_model_dir(root)
    levels = {path.name: path.read_bytes() for path in served.glob("*.crfsuite")}
    CUT_MODELS[case](served)
    documents = root / "annotation" / "corpus" / "documents.jsonl"
    assert khabar("--root", str(root), "predict", "--documents", str(documents), "--out", str(tmp_path / "o.json")).status == 2
    run = khabar("--root", str(root), "train")
    assert run.status == 0 and "already trained" not in run.out, run.output
    assert current_model_dir(root) == served and {path.name: path.read_bytes() for path in served.glob("*.crfsuite")} == levels
    assert EntityModel(served).version == served.name
    assert sorted(os.listdir(served.parent)) == sorted(["current.json", served.name])
    assert khabar("--root", str(root), "predict", "--documents", str(documents), "--out", str(tmp_path / "o.json")).status == 0
