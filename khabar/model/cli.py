"""The entity model's commands: ``khabar train``, ``predict`` and ``evaluate``."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

from khabar.foundation.errors import KhabarError
from khabar.model.evaluate import ROW_KEYS, SETTINGS
from khabar.model.train import MAX_TOKENS, MODEL_VERSION

PROCLITIC_HELP = "keep و/ف/ب/ك/ل before ال in one token with the word"
#: What a task of ``khabar predict``'s import file holds: a task with annotations is someone's work.
PREDICTED_TASK_KEYS = frozenset({"data", "predictions"})


def refuse_to_replace(path: Path, *, ours: Callable[[Any], bool], what: str) -> str | None:
    """Refuse (exit 2) an existing ``path`` unless it holds what this command writes (its own earlier output):
    an export of annotations or any other file named by mistake is never written over. The sha256 of the bytes
    checked, None when there is no file: the output is put in place only over them (a file saved there during the
    command's minutes of work was replaced unchecked)."""
    import msgspec

    from khabar.foundation import export_files
    from khabar.foundation.files import sha256_bytes

    if not path.exists() and not path.is_symlink():
        return None
    data = export_files.read_regular(path)
    try:
        ok = ours(msgspec.json.decode(data))
    except (msgspec.MsgspecError, RecursionError):
        ok = False
    if not ok:
        raise KhabarError(f"refusing to replace it: it is not {what}, the only file this command replaces; choose another file or move it away", file=str(path))
    return sha256_bytes(data)


def is_predicted_tasks(value: Any) -> bool:
    """Whether ``value`` is what ``khabar predict`` writes, told by the stamp it puts on each task: the one
    prediction of a Khabar model (its ``model_version``), beside the task's data and nothing else. It never writes
    an empty list (no records is refused); a list of tasks of the right keys alone was any import file."""
    return isinstance(value, list) and bool(value) and all(_is_predicted_task(task) for task in value)


def _is_predicted_task(task: Any) -> bool:
    predictions = task["predictions"] if isinstance(task, dict) and set(task) == PREDICTED_TASK_KEYS else None
    return (
        isinstance(predictions, list) and len(predictions) == 1 and isinstance(predictions[0], dict)
        and MODEL_VERSION.fullmatch(str(predictions[0].get("model_version"))) is not None
    )


def is_evaluation(value: Any) -> bool:
    """Whether ``value`` is what ``khabar evaluate --json`` writes, told by its rows: each holds the keys of its
    figures (``p_overlap``, ``r_overlap``, ``f1_overlap`` among them, which no other tool writes) and no other,
    and there is at least one. An empty object, which it never writes, was taken for one."""
    return (
        isinstance(value, dict)
        and set(value) <= set(SETTINGS)
        and all(isinstance(rows, list) and all(isinstance(row, dict) and set(row) == ROW_KEYS for row in rows) for rows in value.values())
        and any(value.values())
    )


def configure_train(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--exports", nargs="*", type=Path, metavar="JSON", help="gold exports, files or folders (default: every *.json in annotation/exports/; the flag alone: none)")
    parser.add_argument("--documents", type=Path, help="corpus records (default: annotation/corpus/documents.jsonl)")
    parser.add_argument("--no-proclitic-split", action="store_true", help=PROCLITIC_HELP)
    parser.add_argument(
        "--max-tokens", type=int, default=MAX_TOKENS, metavar="N",
        help=f"the most tokens the model learns from; past it, a fixed sample of the sentences, pages annotators submitted first (default {MAX_TOKENS:,})",
    )


def run_train(args: argparse.Namespace) -> int:
    from khabar.foundation.export_files import export_paths
    from khabar.foundation.paths import repo
    from khabar.model.train import TrainConfig, models_dir, repository_data, train_model

    root = repo().root
    exports = export_paths(args.exports)
    if args.max_tokens < 1:
        raise KhabarError(f"--max-tokens must be at least 1, not {args.max_tokens}")
    config = TrainConfig(split_proclitics=not args.no_proclitic_split, max_tokens=args.max_tokens)
    data = repository_data(root, config, exports, args.documents or repo().documents_file)
    learnt = data.learnt()
    read = ", ".join(f"{name} {learnt[name]}" + (f" of {count}" if learnt[name] != count else "") for name, count in data.sources.items())
    pages = ", ".join(f"{count} {name} page(s)" for name, count in data.pages.items())
    sample = f" (a sample: the sources hold more than --max-tokens {config.max_tokens:,} tokens)" if data.read > sum(learnt.values()) else ""
    print(f"training on {sum(learnt.values())} of {data.read} sentences, {data.tokens} tokens{sample}: {read}; {pages}")
    info = train_model(data, models_dir(root), serve=True)
    lost = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in info.lost.items() if count)
    print(f"{info.version}: {info.levels} level(s), {info.kept} of {info.entities} entities usable" + (f" (not usable: {lost})" if lost else ""))
    print(f"model in {models_dir(root) / info.version}; served from now on (.khabar/models/current.json)")
    return 0


def configure_predict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--documents", type=Path, required=True, help="corpus records (JSON lines, as khabar ingest writes them)")
    parser.add_argument("--out", type=Path, required=True, help="the Label Studio import file to write (JSON)")
    parser.add_argument("--model", type=Path, help="a model folder (default: the current one in .khabar/models)")


def run_predict(args: argparse.Namespace) -> int:
    from khabar.annotation.ingest import iter_records
    from khabar.foundation import jsonl
    from khabar.foundation.files import check_output, write_atomic
    from khabar.foundation.paths import repo
    from khabar.model.predict import EntityModel, prediction
    from khabar.model.train import current_model_dir

    records = (record for record in iter_records(args.documents) if record.superseded_by is None)
    first = next(records, None)  # the input's problems before the model's, as when the records were read whole
    if first is None:
        raise KhabarError("no current corpus records to predict", file=str(args.documents))
    check_output(args.out, "--out")
    if args.out.resolve() == args.documents.resolve():
        raise KhabarError("--out is the documents file; choose another file", file=str(args.out))
    replaced = refuse_to_replace(args.out, ours=is_predicted_tasks, what="an import file of predictions (khabar predict's)")
    model = EntityModel(args.model or current_model_dir(repo().root))
    written = Counter[str]()

    def tasks() -> Iterator[dict[str, Any]]:
        """A task a record, predicted and written one at a time (all held, then written: 2.33 GB for the 12,966
        records of the 1M span results corpus)."""
        for record in chain([first], records):
            task: dict[str, Any] = {"data": record.task_data(), "predictions": [prediction(record.text, model)]}
            written.update(tasks=1, results=len(task["predictions"][0]["result"]))
            yield task

    write_atomic(args.out, jsonl.dumps_document_items(tasks()), over=replaced)
    print(f"{model.version}: {written['tasks']} task(s), {written['results']} result(s) → {args.out}")
    return 0


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--setting", choices=SETTINGS, action="append", help="which held-out setting (default: both)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument("--no-proclitic-split", action="store_true", help=PROCLITIC_HELP)


def run_evaluate(args: argparse.Namespace) -> int:
    import time

    from khabar.foundation import jsonl
    from khabar.foundation.export_files import export_paths
    from khabar.foundation.files import check_output, temporary_folder
    from khabar.foundation.paths import repo
    from khabar.model.evaluate import evaluate_loo, evaluate_wojood, format_rows
    from khabar.model.train import TrainConfig

    replaced = None
    if args.json:  # before the evaluation's minutes
        check_output(args.json, "--json")
        replaced = refuse_to_replace(args.json, ours=is_evaluation, what="a report of khabar evaluate")
    root = repo().root
    config = TrainConfig(split_proclitics=not args.no_proclitic_split)
    report: dict[str, list[dict]] = {}
    with temporary_folder("evaluate") as work:
        for setting in args.setting or SETTINGS:
            started = time.monotonic()
            if setting == "wojood":
                scores = evaluate_wojood(root, config, Path(work), print)
            else:
                scores = evaluate_loo(root, export_paths(None), repo().documents_file, config, Path(work), print)
            report[setting] = scores.rows()
            print(format_rows(setting, report[setting]))
            print(f"({setting}: {time.monotonic() - started:.0f} s)\n")
    if args.json:
        jsonl.write_document(args.json, report, over=replaced)
    return 0
