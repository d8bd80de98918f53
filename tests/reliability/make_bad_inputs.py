"""Write the bad-input corpus under ``bad_inputs/`` (run once; the files are committed).

    .venv/bin/python tests/reliability/make_bad_inputs.py

Each case is a folder ``bad_inputs/<entry>-<name>/`` holding its input files and
``case.toml``:

- ``argv``: the khabar command line; ``{case}`` is the case folder, ``{shared}``
  the shared corpus ``bad_inputs/_shared``, ``{datasheet}`` a copy of DATASHEET.md,
  ``{build}`` a copy of a good build, ``{studio_url}``/``{studio_token}``/``{project}``
  the session Label Studio and a project synced from the shared corpus;
- ``exit``: the documented exit status; ``expect``: substrings the output must
  hold (file, task, region, problem);
- optional: ``env``; ``studio`` (needs the session Label Studio); ``build`` (a
  copy of a good build, with ``overlay/`` copied over it, ``remove`` deleted and
  ``tamper`` applied); ``hub_endpoint`` (the Hub URL huggingface_hub uses);
  ``derive`` (a file made at test time from a repository file with ``replace`` =
  [old, new], so it follows that file); ``generate`` (an export written at test
  time: ``huge``); ``untouched`` (files that must be byte-identical afterwards);
  ``absent_path`` (must not be written); ``absent_text`` (characters no
  ``text`` of a written JSON-lines file may hold); ``fifos`` (FIFOs made at test
  time) and ``symlinks`` ([link, target] pairs made at test time: git and copytree
  cannot carry a loop); ``absent_output`` (strings the output must not hold).
"""

from __future__ import annotations

import copy
import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from khabar.annotation.ingest import doc_id_for
from khabar.annotation.normalize import normalize_text
from khabar.foundation import jsonl

HERE = Path(__file__).resolve().parent

ROOT = HERE / "bad_inputs"
SHARED = ROOT / "_shared"
LS_FIXTURES = HERE.parent / "data" / "labelstudio-fixtures"

# 🇮🇶 is two code points outside the Basic Multilingual Plane (4 UTF-16 units).
TEXT_1 = normalize_text(
    "🇮🇶 بغداد: قالت السفيرة ألينا رومانوفسكي إن «عمل التحالف لم ينته بعد».\n"
    "وأضاف مسؤول عراقي أن داعش لم يعد يشكل تهديدا."
)
TEXT_2 = normalize_text("أكد رئيس الوزراء العراقي أن الحكومة قادرة على حماية البلاد.")


def record(text: str, file: str, title: str) -> dict[str, Any]:
    return {
        "doc_id": doc_id_for(text), "file": file, "language": "ar", "published": "2024-03-24",
        "published_evidence": "", "source": "asharq-al-awsat", "story": "us-coalition-iraq-2024",
        "superseded_by": None, "text": text, "title": title, "url": None,
    }


DOCS = [record(TEXT_1, "000_emoji.txt", "السفيرة"), record(TEXT_2, "001_plain.txt", "رئيس الوزراء")]


def span(rid: str, layer: str, label: str, surface: str, text: str = TEXT_1, nth: int = 0) -> dict[str, Any]:
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return {
        "from_name": layer, "id": rid, "origin": "manual", "to_name": "text", "type": "labels",
        "value": {"start": start, "end": start + len(surface), "labels": [label], "text": surface},
    }


def choice(region: dict[str, Any], value: str = "direct") -> dict[str, Any]:
    v = region["value"]
    return {"from_name": "quote_type", "id": region["id"], "to_name": "text", "type": "choices",
            "value": {"start": v["start"], "end": v["end"], "text": v["text"], "choices": [value]}}


def relation(a: str, b: str, label: str) -> dict[str, Any]:
    return {"direction": "right", "from_id": a, "to_id": b, "labels": [label], "type": "relation"}


def good_result() -> list[dict[str, Any]]:
    content = span("c1", "attribution", "CONTENT", "عمل التحالف لم ينته بعد")
    return [
        span("e1", "entity", "GPE", "بغداد"),
        span("e2", "entity", "OCC", "السفيرة"),
        span("e3", "entity", "PERS", "ألينا رومانوفسكي"),
        span("e4", "entity", "ORG", "داعش"),
        span("a1", "attribution", "CUE", "قالت"),
        span("a2", "attribution", "SOURCE", "السفيرة ألينا رومانوفسكي"),
        content,
        choice(content),
        relation("c1", "a2", "source"),
        relation("c1", "a1", "cue"),
    ]


def annotation(result: list[dict[str, Any]], annotation_id: int = 11, pseudonym: str = "annotator-1") -> dict[str, Any]:
    return {
        "completed_by": {"pseudonym": pseudonym}, "created_at": "2026-01-05T10:00:00.000000Z", "ground_truth": False,
        "id": annotation_id, "lead_time": 42.5, "result": result, "updated_at": "2026-01-05T10:05:00.000000Z",
        "was_cancelled": False,
    }


def task(annotations: list[dict[str, Any]], task_id: int = 1, doc: dict[str, Any] = DOCS[0]) -> dict[str, Any]:
    return {
        "annotations": annotations, "data": {k: doc[k] for k in ("doc_id", "source", "text", "title")},
        "drafts": [], "id": task_id, "predictions": [],
    }


def good_export() -> list[dict[str, Any]]:
    return [task([annotation(good_result())]), task([annotation([span("e9", "entity", "OCC", "رئيس الوزراء", TEXT_2)], 12)], 2, DOCS[1])]


def mutated(region_id: str, **value: Any) -> list[dict[str, Any]]:
    """The good export with one region's value changed."""
    tasks = good_export()
    for item in tasks[0]["annotations"][0]["result"]:
        if item.get("id") == region_id and item["type"] == "labels":
            item["value"].update(value)
    return tasks


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):  # invisible and control characters as escapes, the rest (Arabic) as is
        return json.dumps(value, ensure_ascii=any(unicodedata.category(c) in ("Cc", "Cf") for c in value))
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def case(name: str, description: str, files: dict[str, str | bytes], *, argv: list[str], exit: int, expect: list[str], **extra: Any) -> None:
    folder = ROOT / name
    folder.mkdir(parents=True)
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    lines = [f"description = {toml_value(description)}", f"argv = {toml_value(argv)}", f"exit = {exit}", f"expect = {toml_value(expect)}"]
    lines += [f"{key} = {toml_value(value)}" for key, value in extra.items()]
    (folder / "case.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def validate(name: str, description: str, export: str | bytes, *, exit: int, expect: list[str], **extra: Any) -> None:
    files = {} if "generate" in extra else {"export.json": export}  # a generated export is written by the test
    case(f"validate-{name}", description, files,
         argv=["validate", "{case}/export.json", "--documents", "{shared}/documents.jsonl"], exit=exit,
         expect=["export.json", *expect] if exit else expect, untouched=["export.json"], **extra)


PAGES_HEADER = "file,source,title,published,published_evidence,url,story\n"
SOURCES = "id,name_ar,name_en,site,country\nasharq-al-awsat,الشرق الأوسط,Asharq Al-Awsat,aawsat.com,GB\n"
PAGE = "بغداد: قالت السفيرة إن عمل التحالف لم ينته بعد.\n"


def ingest(name: str, description: str, pages: dict[str, bytes | str], pages_csv: str | bytes | None = None, *,
           exit: int, expect: list[str], sources: str = SOURCES, extra_files: dict[str, str] | None = None, exports: str | None = None,
           **extra: Any) -> None:
    """``exports``: what ``--exports`` names in the case folder (the exports that protect annotated documents); by
    default the flag alone, none."""
    if pages_csv is None:
        pages_csv = PAGES_HEADER + "".join(f"{p},asharq-al-awsat,عنوان,2024-03-24,,,story-1\n" for p in pages)
    files: dict[str, str | bytes] = {f"corpus/pages/{p}": c for p, c in pages.items()}
    files |= {"corpus/pages.csv": pages_csv, "corpus/sources.csv": sources, **(extra_files or {})}
    case(f"ingest-{name}", description, files, argv=["ingest", "--corpus", "{case}/corpus", "--exports", *([f"{{case}}/{exports}"] if exports else [])],
         exit=exit, expect=expect, **extra)


def main() -> None:
    """Write every case. Long on purpose: it is the catalogue, one call per case grouped by command and read
    top to bottom; cut into functions it would only scatter the list a reader checks for a missing case."""
    if ROOT.exists():
        shutil.rmtree(ROOT)
    SHARED.mkdir(parents=True)
    (SHARED / "documents.jsonl").write_text(jsonl.dumps(DOCS), encoding="utf-8")
    (SHARED / "good_export.json").write_text(dumps(good_export()), encoding="utf-8")

    # ---- validate: not an export at all (exit 2) ----
    good = dumps(good_export())
    validate("truncated-json", "an export cut off in the middle of a task", good[: len(good) // 2], exit=2, expect=["not JSON"])
    validate("invalid-json", "a trailing comma, as hand edits leave", good.replace('"drafts": []', '"drafts": [],', 1).rstrip() + "\n", exit=2, expect=["not JSON", "line"])
    validate("top-level-object", "a single task object instead of a list of tasks", dumps(good_export()[0]), exit=2, expect=["top level is a JSON dict", "list of tasks"])
    validate("top-level-string", "a JSON string", '"[]"\n', exit=2, expect=["top level is a JSON str"])
    validate("list-of-numbers", "a list whose tasks are numbers", "[1, 2, 3]\n", exit=2, expect=["task #0", "not a Label Studio task"])
    no_text = good_export()
    del no_text[0]["data"]["text"]
    validate("task-without-text", "a task whose data has no text", dumps(no_text), exit=2, expect=["task 1", "no data.text"])
    image = good_export()
    image[1]["data"] = {"image": "https://example.org/1.jpg"}
    validate("image-task", "an image task among text tasks", dumps(image), exit=2, expect=["task 2", "no data.text"])
    validate("empty-file", "a zero-byte file", "", exit=2, expect=["empty file"])
    validate("not-utf8", "an export saved in Windows-1256", good.encode("cp1256", errors="replace"), exit=2, expect=["not UTF-8", "byte"])
    validate("deep-nesting", "200,000 nested brackets (a hostile file)", "[" * 100_000 + "]" * 100_000 + "\n", exit=2, expect=["nested too deeply"])
    other = json.loads((LS_FIXTURES / "lsf-examples/named_entity/annotations/1.json").read_text(encoding="utf-8"))
    other["id"] = 1
    validate("other-project", "Label Studio's own NER template export (control 'ner', Apache-2.0, label-studio-frontend examples/named_entity)", dumps([other]),
             exit=2, expect=["task 1", "region beFiQTT1cU", "'ner'", "another project"])
    no_id = good_export()
    for t in no_id:
        del t["id"]
    validate("import-file", "a file of tasks to import (no task ids), not an export", dumps(no_id), exit=2, expect=["task #0", "no id"])

    # ---- validate: checks fail (exit 1), rows named ----
    validate("empty-export", "an empty export: valid, nothing in it", "[]\n", exit=0, expect=["0 error(s)", "0 task(s)"])
    unknown_type = good_export()
    unknown_type[0]["annotations"][0]["result"][0]["type"] = "rectanglelabels"
    validate("result-unknown-type", "a result of type rectanglelabels on a text layer", dumps(unknown_type), exit=1, expect=["task 1", "region e1", "rectanglelabels"])
    validate("offsets-as-strings", "offsets written as strings", dumps(mutated("e1", start="3", end="8")), exit=1, expect=["task 1", "region e1", '"3"'])
    validate("negative-offset", "a negative start", dumps(mutated("e2", start=-4)), exit=1, expect=["task 1", "region e2", "-4"])
    validate("float-offsets", "offsets as floats", dumps(mutated("e3", start=22.0, end=38.5)), exit=1, expect=["task 1", "region e3", "22.0"])
    validate("start-after-end", "start > end", dumps(mutated("e4", start=90, end=85)), exit=1, expect=["task 1", "region e4", "[90:85]"])
    validate("span-past-end", "a span past the end of the text", dumps(mutated("e4", start=len(TEXT_1) - 2, end=len(TEXT_1) + 5)), exit=1,
             expect=["task 1", "region e4", f"{len(TEXT_1) + 5}"])
    utf16 = good_export()
    for item in utf16[0]["annotations"][0]["result"]:
        if item["type"] in ("labels", "choices"):
            item["value"]["start"] += 2  # the flag emoji is 2 code points but 4 UTF-16 units
            item["value"]["end"] += 2
    validate("emoji-utf16-offsets", "offsets counted in UTF-16 units after an emoji (as JavaScript counts)", dumps(utf16), exit=1,
             expect=["task 1", "region e1", "region c1"])
    validate("emoji-code-point-offsets", "offsets in code points after an emoji: valid", good, exit=0, expect=["0 error(s)"])
    crlf = good_export()
    crlf[0]["data"]["text"] = TEXT_1.replace("\n", "\r\n")
    validate("crlf-task-text", "the task text has \\r\\n where the corpus has \\n", dumps(crlf), exit=1, expect=["task 1", "differs from the corpus"])
    mixed = mutated("c1", text="عمل التحالف\r\nلم ينته بعد")
    validate("crlf-in-span-text", "a span's text holds \\r\\n where the document has a space", dumps(mixed), exit=1, expect=["task 1", "region c1"])
    bidi = mutated("e3", text="ألينا\u200f رومانوفسكي")
    validate("bidi-in-span", "a right-to-left mark inside a span's text", dumps(bidi), exit=1, expect=["task 1", "region e3"])
    twice = good_export()
    twice.append(copy.deepcopy(twice[0]))
    validate("same-task-twice", "the same task (id, annotation id) twice in one export", dumps(twice), exit=1, expect=["task 1", "annotation 11"])
    missing = good_export()
    missing[0]["annotations"][0]["result"].append(relation("c1", "ghost", "source"))
    validate("relation-missing-region", "a relation to a region that does not exist", dumps(missing), exit=1, expect=["task 1", "region c1", "ghost"])
    circular = good_export()
    circular[0]["annotations"][0]["result"].append(relation("a2", "c1", "source"))
    validate("circular-relations", "CONTENT → SOURCE and SOURCE → CONTENT", dumps(circular), exit=1, expect=["task 1", "region a2"])
    self_loop = good_export()
    self_loop[0]["annotations"][0]["result"].append(relation("c1", "c1", "cue"))
    validate("self-relation", "a relation from a region to itself", dumps(self_loop), exit=1, expect=["task 1", "region c1"])
    label = mutated("e1")
    label[0]["annotations"][0]["result"][0]["value"]["labels"] = ["CITY"]
    validate("unknown-label", "a label the scheme does not have", dumps(label), exit=1, expect=["task 1", "region e1", "CITY"])
    unknown_doc = good_export()
    unknown_doc[1]["data"]["doc_id"] = "0000000000000000"
    validate("unknown-document", "a task whose doc_id is not in the corpus", dumps(unknown_doc), exit=1, expect=["task 2", "0000000000000000"])
    result_dict = good_export()
    result_dict[1]["annotations"][0]["result"] = {"from_name": "entity"}
    validate("result-not-a-list", "an annotation whose result is an object", dumps(result_dict), exit=1, expect=["task 2", "annotation 12", "not a list"])
    validate("huge", "a 2,000-task export with one broken span in the last task", b"", exit=1, expect=["task 2000", "region e1"],
             generate="huge", tasks=2000)

    # ---- ingest ----
    ingest("page-not-utf8", "a page saved in Windows-1256", {"a.txt": PAGE.encode("cp1256")}, exit=2, expect=["a.txt", "not UTF-8", "byte 0x"])
    ingest("page-binary", "a binary file among the pages", {"a.txt": b"\x89PNG\r\n\x1a\n\x00\x00"}, exit=2, expect=["a.txt", "binary"])
    ingest("page-empty", "an empty page", {"a.txt": " \n"}, exit=2, expect=["a.txt", "empty page"])
    ingest("page-without-metadata", "a page with no row in pages.csv", {"a.txt": PAGE}, PAGES_HEADER, exit=2, expect=["a.txt", "missing metadata"])
    ingest("metadata-without-page", "pages.csv lists a page that is not there", {}, PAGES_HEADER + "gone.txt,asharq-al-awsat,t,2024-03-24,,,s\n",
           exit=2, expect=["pages.csv", "gone.txt"])
    ingest("unknown-source", "a page from a source not in sources.csv", {"a.txt": PAGE}, PAGES_HEADER + "a.txt,bbc,t,2024-03-24,,,s\n",
           exit=2, expect=["pages.csv:2", "unknown source 'bbc'"])
    ingest("missing-column", "pages.csv without its story column", {"a.txt": PAGE}, "file,source,title,published,published_evidence,url\n",
           exit=2, expect=["pages.csv", "story"])
    ingest("page-listed-twice", "the same page twice in pages.csv", {"a.txt": PAGE},
           PAGES_HEADER + "a.txt,asharq-al-awsat,t,2024-03-24,,,s\n" * 2, exit=2, expect=["pages.csv:3", "listed twice"])
    ingest("pages-csv-not-utf8", "pages.csv saved in Windows-1256", {"a.txt": PAGE},
           (PAGES_HEADER + "a.txt,asharq-al-awsat,عنوان,2024-03-24,,,s\n").encode("cp1256"), exit=2, expect=["pages.csv", "not UTF-8"])
    ingest("truncated-documents", "a documents.jsonl cut off mid-record", {"a.txt": PAGE}, exit=2, expect=["documents.jsonl", "line 1"],
           extra_files={"corpus/documents.jsonl": json.dumps(DOCS[1], ensure_ascii=False)[:80]}, untouched=["corpus/documents.jsonl"])
    ingest("mixed-crlf-and-bidi", "a page with mixed \\r\\n and \\n and bidi controls: ingested normalised",
           {"a.txt": "\ufeffبغداد:\r\nقالت \u200fالسفيرة\n\u202bإن العمل\u202c لم ينته.\r\n"}, exit=0, expect=["added", "1 page(s) ingested"],
           absent_text={"file": "corpus/documents.jsonl", "strings": ["\r", "\u200f", "\u202b", "\ufeff"]})

    # ---- build ----
    build_argv = ["build", "--documents", "{shared}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}"]
    case("build-export-with-errors", "an export with a span past the end of its text", {"export.json": dumps(mutated("e4", end=len(TEXT_1) + 5))},
         argv=[*build_argv, "--exports", "{case}/export.json"], exit=1, expect=["export.json", "task 1", "region e4"], absent_path="dist/khabar")
    case("build-export-not-json", "a truncated export", {"export.json": good[:100]},
         argv=[*build_argv, "--exports", "{case}/export.json"], exit=2, expect=["export.json", "not JSON"], absent_path="dist/khabar")
    case("build-missing-documents", "a documents file that does not exist", {},
         argv=["build", "--documents", "{case}/nowhere.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports"],
         exit=2, expect=["nowhere.jsonl"], absent_path="dist/khabar")
    case("build-truncated-documents", "a documents.jsonl cut off mid-record", {"documents.jsonl": json.dumps(DOCS[1], ensure_ascii=False)[:80]},
         argv=["build", "--documents", "{case}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports"],
         exit=2, expect=["documents.jsonl", "line 1"], absent_path="dist/khabar")
    case("build-release-unknown-split", "a release config with a split 'dev' the card and loaders do not know", {},
         argv=[*build_argv, "--exports", "--release", "{case}/release.toml"], exit=2, expect=["release.toml", "'dev'"], absent_path="dist/khabar",
         derive={"path": "release.toml", "from": "dataset/release.toml", "replace": ["validation = 0.1", "dev = 0.1"]})

    # ---- publish (against a copy of a good build) ----
    publish_argv = ["publish", "--repo-id", "khabar-test/khabar", "--build", "{build}", "--dry-run"]
    case("publish-no-manifest", "a build folder without MANIFEST.json", {}, argv=publish_argv, exit=2, expect=["not a khabar build", "MANIFEST.json"],
         build=True, remove=["MANIFEST.json"])
    case("publish-changed-file", "a card edited after the build", {"overlay/README.md": "---\nlicense: mit\n---\nedited\n"}, argv=publish_argv,
         exit=1, expect=["README.md", "sha256"], build=True)
    case("publish-extra-file", "a file added after the build", {"overlay/data/documents/extra.parquet": "not parquet\n"}, argv=publish_argv,
         exit=1, expect=["data/documents/extra.parquet"], build=True)
    case("publish-missing-file", "a parquet file deleted after the build", {}, argv=publish_argv, exit=1, expect=["missing", "data/tokens/test-00000-of-00001.parquet"],
         build=True, remove=["data/tokens/test-00000-of-00001.parquet"])
    case("publish-manifest-not-json", "a truncated MANIFEST.json", {"overlay/MANIFEST.json": '{"files": [{"path": "README.md",'}, argv=publish_argv,
         exit=2, expect=["MANIFEST.json"], build=True)
    case("publish-bad-repo-id", "a repository id without an organisation", {}, argv=["publish", "--repo-id", "khabar", "--build", "{build}", "--dry-run"],
         exit=2, expect=["--repo-id", "ORG/NAME", "'khabar'"], build=True)
    case("publish-no-token", "no HF_TOKEN in the environment", {}, argv=["publish", "--repo-id", "khabar-test/khabar", "--build", "{build}"],
         exit=2, expect=["HF_TOKEN"], build=True, env={"HF_TOKEN": ""})
    case("publish-hub-unreachable", "HF_ENDPOINT where nothing listens", {}, argv=["publish", "--repo-id", "khabar-test/khabar", "--build", "{build}"],
         exit=2, expect=["127.0.0.1:9"], build=True, env={"HF_TOKEN": "hf_test"}, hub_endpoint="http://127.0.0.1:9")
    case("publish-relabelled-card", "the card's label names reordered and MANIFEST.json re-hashed to match", {}, argv=publish_argv,
         exit=1, expect=["label names", "the card says"], build=True, tamper="relabel-card")

    # ---- studio pull ----
    pull = ["studio", "pull", "--studio-dir", "{case}/studio", "--out", "{case}/out.json"]
    case("pull-no-server", "pull with no local Label Studio running (a stale server.json of a crashed one)",
         {"studio/server.json": '{"pid": 999999, "port": 8080}\n'}, argv=pull, exit=2, expect=["not running", "khabar studio up"])
    case("pull-no-api-key", "pull --url without LABEL_STUDIO_API_KEY", {}, argv=[*pull, "--url", "http://127.0.0.1:9"], exit=2,
         expect=["LABEL_STUDIO_API_KEY"], env={"LABEL_STUDIO_API_KEY": ""})
    case("pull-unreachable", "pull --url to a port where nothing listens", {}, argv=[*pull, "--url", "http://127.0.0.1:9"], exit=2,
         expect=["cannot reach Label Studio", "127.0.0.1:9"], env={"LABEL_STUDIO_API_KEY": "not-a-real-key"})
    case("pull-wrong-key", "pull with a wrong API key", {}, argv=[*pull, "--url", "{studio_url}", "--project", "{project}"], exit=2,
         expect=["refused the API key", "401"], env={"LABEL_STUDIO_API_KEY": "0" * 40}, studio=True)
    case("pull-unknown-project", "pull of a project the server does not have", {}, argv=[*pull, "--url", "{studio_url}", "--project", "no-such-project"],
         exit=2, expect=["no-such-project"], env={"LABEL_STUDIO_API_KEY": "{studio_token}"}, studio=True)
    case("pull-previous-not-json", "the previous export on disk is broken", {"out.json": good[:200]},
         argv=[*pull, "--url", "{studio_url}", "--project", "{project}"], exit=2, expect=["out.json", "not a JSON export"],
         env={"LABEL_STUDIO_API_KEY": "{studio_token}"}, studio=True, untouched=["out.json"])
    case("pull-previous-not-a-task-list", "the previous export on disk is a JSON list, but of numbers", {"out.json": "[\n  1\n]\n"},
         argv=[*pull, "--url", "{studio_url}", "--project", "{project}"], exit=2, expect=["out.json", "list of task objects", "item 0 is a JSON int"],
         env={"LABEL_STUDIO_API_KEY": "{studio_token}"}, studio=True, untouched=["out.json"])
    case("pull-broken-pseudonym-book", "the local pseudonym book is broken", {"studio/pseudonyms.json": "{not json"},
         argv=[*pull, "--url", "{studio_url}", "--project", "{project}"], exit=2, expect=["pseudonyms.json", "unreadable pseudonym book"],
         env={"LABEL_STUDIO_API_KEY": "{studio_token}"}, studio=True, absent_path="out.json")

    # files, folders and builds (13a)
    build_into = ["build", "--documents", "{shared}/documents.jsonl", "--exports", "--datasheet", "{datasheet}", "--out"]
    someone = {"victim/important.csv": "id,value\n1,2\n", "victim/notes/plan.md": "# not a build\n"}
    case("build-out-not-a-build", "--out names a folder of someone's files (no MANIFEST.json): once deleted", someone,
         argv=[*build_into, "{case}/victim"], exit=2, expect=["victim", "no MANIFEST.json", "refusing to replace"], untouched=list(someone))
    case("build-out-a-file", "--out names a file", {"out.txt": "a file\n"}, argv=[*build_into, "{case}/out.txt"], exit=2,
         expect=["out.txt", "is not a folder"], untouched=["out.txt"])
    case("build-out-holds-the-repository", "--out names a folder holding the dataset repository (as `--out .` at its root would)",
         {"repo/annotation/labeling_config.xml": "<View/>\n", "repo/dataset/VERSION": "1.0.0\n"},
         argv=["--root", "{case}/repo", *build_into, "{case}"], exit=2, expect=["refusing to build here", "holds the dataset repository"],
         untouched=["repo/annotation/labeling_config.xml", "repo/dataset/VERSION", "repo/dataset/release.toml"],
         derive={"path": "repo/dataset/release.toml", "from": "dataset/release.toml", "replace": ['name = "khabar"', 'name = "khabar"']})
    case("build-out-edited-build", "--out names a build someone added a file to", {"overlay/notes.txt": "my notes\n"},
         argv=[*build_into, "{build}"], exit=2, expect=["'notes.txt'", "did not write"], build=True)
    for name, bad in (("traversal", "../../victim"), ("separator", "dist/x"), ("dot-dot", "..")):
        case(f"build-release-name-{name}", f"a release name {bad!r} would build outside dist/", {},
             argv=[*build_argv, "--exports", "--release", "{case}/release.toml"], exit=2, expect=["release.toml", repr(bad), "not a folder name"],
             absent_path="dist/khabar", derive={"path": "release.toml", "from": "dataset/release.toml", "replace": ['name = "khabar"', f'name = "{bad}"']})
    separators = "قال الوزير\u2028إن بغداد آمنة.\u2029وأضاف\u0085أن الوضع مستقر.\n"
    ingest("unicode-line-separators", "a page holding U+2028, U+2029 and U+0085: its record is one line (read back with splitlines here)",
           {"a.txt": separators}, exit=0, expect=["added", "1 page(s) ingested"], absent_text={"file": "corpus/documents.jsonl", "strings": ["\r"]})
    separated = record(normalize_text(separators), "a.txt", "عنوان") | {"story": "story-1", "title": "عنوان"}
    ingest("corpus-with-line-separators", "a corpus whose record holds U+2028, U+2029 and U+0085 is read back unchanged",
           {"a.txt": separators}, exit=0, expect=["unchanged", "1 page(s) ingested"],
           extra_files={"corpus/documents.jsonl": jsonl.dumps([separated])}, untouched=["corpus/documents.jsonl"])
    separated_task = task([], 1, separated)
    case("validate-documents-with-line-separators", "corpus records holding U+2028, U+2029 and U+0085, and a task on one",
         {"export.json": dumps([separated_task]), "documents.jsonl": jsonl.dumps([separated])},
         argv=["validate", "{case}/export.json", "--documents", "{case}/documents.jsonl"], exit=0, expect=["0 error(s)"],
         untouched=["export.json", "documents.jsonl"])
    # studio (12)
    team = {"env": {"LABEL_STUDIO_API_KEY": "{studio_token}"}, "studio": True}
    case("pull-out-is-a-directory", "pull --out naming an existing folder", {"outdir/keep.txt": "not an export\n"},
         argv=["studio", "pull", "--studio-dir", "{case}/studio", "--out", "{case}/outdir", "--url", "{studio_url}", "--project", "{project}"],
         exit=2, expect=["outdir", "is a directory"], untouched=["outdir/keep.txt"], **team)
    push = ["studio", "push", "--studio-dir", "{case}/studio", "--file", "{case}/export.json", "--url", "{studio_url}", "--project", "{project}"]
    user_id = good_export()
    user_id[0]["annotations"][0]["completed_by"] = 3
    case("push-completed-by-int", "push of another project's export whose completed_by is a Label Studio user id",
         {"export.json": dumps(user_id)}, argv=push, exit=2, expect=["export.json", "task 1", "completed_by 3", "not a pseudonym"],
         untouched=["export.json"], absent_path="export.sync", **team)
    surrogate = good_export()
    surrogate[1]["annotations"][0]["result"][0]["value"]["text"] = "\ud800"
    case("push-lone-surrogate", "push of an export whose result holds a lone surrogate (as a \\ud800 escape)",
         {"export.json": json.dumps(surrogate, indent=2) + "\n"}, argv=push, exit=2,
         expect=["export.json", "task 2", "not valid Unicode", "surrogates not allowed"], untouched=["export.json"], absent_path="export.sync", **team)
    # validation and ingest input (13b)
    unusable_text_and_records()


def ascii_dumps(value: Any) -> str:
    """JSON with every non-ASCII character escaped: the only way a file can carry a lone surrogate."""
    return json.dumps(value, ensure_ascii=True, indent=2, sort_keys=True) + "\n"


def owner_field(name: str, value: Any) -> list[dict[str, Any]]:
    tasks = good_export()
    tasks[0]["annotations"][0][name] = value
    return tasks


def own_documents(name: str, description: str, records: list[dict[str, Any]] | str, export: list[dict[str, Any]], **spec: Any) -> None:
    """A validate case with its own corpus records instead of the shared ones."""
    body = records if isinstance(records, str) else "".join(json.dumps(r, ensure_ascii=True, sort_keys=True) + "\n" for r in records)
    files = {"export.json": dumps(export), "documents.jsonl": body}
    case(f"validate-{name}", description, files, argv=["validate", "{case}/export.json", "--documents", "{case}/documents.jsonl"],
         untouched=["export.json", "documents.jsonl"], **spec)


def unusable_text_and_records() -> None:
    """Cases of text JSON holds and UTF-8 cannot, integers past 64 bits and corpus records of the wrong type or
    form. Long on purpose, like :func:`main`: a catalogue, one call per case."""
    # lone surrogates: JSON accepts "\ud800", UTF-8 cannot hold it
    surrogate = "\ud800"
    with_text = mutated("e1", text="بغد" + surrogate)
    validate("surrogate-in-span-text", "a lone surrogate in a span's value.text", ascii_dumps(with_text), exit=2,
             expect=["task 1", "region e1", "value.text", "lone surrogate"])
    region_id = good_export()
    region_id[0]["annotations"][0]["result"][0]["id"] = "e" + surrogate
    validate("surrogate-in-region-id", "a lone surrogate in a region id", ascii_dumps(region_id), exit=2,
             expect=["task 1", "result[0].id", "lone surrogate"])
    label = mutated("e2", labels=["OCC" + surrogate])
    validate("surrogate-in-label", "a lone surrogate in a label", ascii_dumps(label), exit=2,
             expect=["task 1", "region e2", "labels[0]", "lone surrogate"])
    validate("surrogate-in-pseudonym", "a lone surrogate in completed_by.pseudonym",
             ascii_dumps(owner_field("completed_by", {"pseudonym": "annotator-" + surrogate})), exit=2,
             expect=["task 1", "completed_by.pseudonym", "lone surrogate"])
    validate("surrogate-in-created-at", "a low surrogate alone in created_at", ascii_dumps(owner_field("created_at", "2026-01-05\udc00")), exit=2,
             expect=["task 1", "created_at", "lone surrogate"])
    validate("surrogate-pairs-escaped", "an ASCII-escaped export whose flag emoji is written as \\ud83c\\uddee… pairs: valid",
             ascii_dumps(good_export()), exit=0,
             expect=["0 error(s)"])

    # integers beyond the 64-bit columns
    big_task = good_export()
    big_task[0]["id"] = 2**63
    validate("task-id-2-63", "a task id of 2^63", dumps(big_task), exit=2, expect=["task #0", "9223372036854775808", "64-bit"])
    validate("annotation-id-2-64", "an annotation id of 2^64", dumps(owner_field("id", 2**64)), exit=1,
             expect=["task 1", "18446744073709551616", "64-bit"])
    validate("offset-2-63", "a span start of 2^63", dumps(mutated("e1", start=2**63)), exit=1,
             expect=["task 1", "region e1", "9223372036854775808", "64-bit"])
    validate("offset-below-minus-2-63", "a span end of -2^63 - 1", dumps(mutated("e2", end=-(2**63) - 1)), exit=1,
             expect=["task 1", "region e2", "-9223372036854775809", "64-bit"])
    validate("lead-time-10-400", "a lead_time no float can hold", dumps(owner_field("lead_time", 10**400)), exit=1,
             expect=["task 1", "annotation 11", "lead_time"])
    validate("integer-5000-digits", "an id of 5,000 digits (Python refuses to parse it)", dumps(good_export()).replace('"id": 11', '"id": ' + "9" * 5000, 1),
             exit=2, expect=["4300 digits"])

    # corpus records of the wrong type, read by validate, ingest and build alike
    good = good_export()
    for name, field_name, value, wanted in (
        ("documents-text-int", "text", 5, "a JSON number, expected a string"),
        ("documents-text-list", "text", ["بغداد"], "a JSON list, expected a string"),
        ("documents-published-int", "published", 2024, "a JSON number, expected a string or null"),
        ("documents-doc-id-null", "doc_id", None, "a JSON null, expected a string"),
        ("documents-text-surrogate", "text", "بغداد" + surrogate, "lone surrogate"),
    ):
        bad = dict(DOCS[1], **{field_name: value})
        own_documents(name, f"documents.jsonl with {field_name} = {value!r}", [DOCS[0], bad], good, exit=2,
                      expect=["documents.jsonl", "line 2", repr(field_name), wanted])
    own_documents("documents-unknown-field", "a corpus record with a field it does not have", [DOCS[0], dict(DOCS[1], author="x")], good,
                  exit=2, expect=["documents.jsonl", "line 2", "unknown field(s) 'author'"])
    own_documents("documents-record-is-list", "a corpus record that is a JSON list", json.dumps(DOCS[0], sort_keys=True) + "\n[1, 2]\n", good,
                  exit=2, expect=["documents.jsonl", "line 2", "a JSON list, expected an object"])
    ingest("documents-text-int", "documents.jsonl whose text is a number", {"a.txt": PAGE}, exit=2,
           expect=["documents.jsonl", "line 1", "'text'", "a JSON number"],
           extra_files={"corpus/documents.jsonl": json.dumps(dict(DOCS[1], text=5), ensure_ascii=False) + "\n"}, untouched=["corpus/documents.jsonl"])
    case("build-documents-published-int", "documents.jsonl whose published is a number",
         {"documents.jsonl": json.dumps(dict(DOCS[1], published=2024), ensure_ascii=False) + "\n"},
         argv=["build", "--documents", "{case}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports"],
         exit=2, expect=["documents.jsonl", "line 1", "'published'", "a JSON number"], absent_path="dist/khabar")

    # what a folder of exports may hold
    named_folder = ["validate", "{case}/exports", "--documents", "{shared}/documents.jsonl"]
    case("validate-symlink-loop", "a folder of exports holding a.json -> b.json -> a.json", {"exports/good.json": dumps(good_export())},
         argv=named_folder, exit=2, expect=["a.json", "symlink loop"], symlinks=[["exports/a.json", "b.json"], ["exports/b.json", "a.json"]])
    case("validate-dangling-symlink", "a folder of exports holding a symlink to nothing", {"exports/good.json": dumps(good_export())},
         argv=named_folder, exit=2, expect=["gone.json", "dangling symlink"], symlinks=[["exports/gone.json", "nowhere.json"]])
    case("validate-fifo-named", "a FIFO named x.json given as the export (it must not hang)", {},
         argv=["validate", "{case}/x.json", "--documents", "{shared}/documents.jsonl"], exit=2, expect=["x.json", "FIFO"], fifos=["x.json"])
    case("validate-fifo-in-folder", "a FIFO named x.json in a folder of exports", {"exports/good.json": dumps(good_export())},
         argv=named_folder, exit=2, expect=["x.json", "FIFO"], fifos=["exports/x.json"])
    case("validate-folder-named-json", "a folder named y.json in a folder of exports", {"exports/good.json": dumps(good_export()), "exports/y.json/z.txt": "x\n"},
         argv=named_folder, exit=2, expect=["y.json", "a folder, not a regular file"])
    case("validate-folder-without-exports", "a folder named as exports that holds none", {"exports/notes.txt": "exports go here\n", "exports/old.json.bak": "[]\n"},
         argv=named_folder, exit=2, expect=["exports", "holds no *.json", "'notes.txt'", "'old.json.bak'"])
    case("validate-upper-case-suffix", "an export named X.JSON in a folder: found and checked", {"exports/X.JSON": dumps(mutated("e4", end=len(TEXT_1) + 5))},
         argv=named_folder, exit=1, expect=["X.JSON", "task 1", "region e4"], untouched=["exports/X.JSON"])
    ingest("exports-fifo", "the exports folder that protects annotated documents holds a FIFO", {"a.txt": PAGE}, exit=2,
           expect=["x.json", "FIFO"], fifos=["exports/x.json"], exports="exports",
           extra_files={"corpus/documents.jsonl": json.dumps(dict(DOCS[1], file="a.txt"), ensure_ascii=False) + "\n"}, untouched=["corpus/documents.jsonl"])
    # exports that cannot be read are refused, never taken for exports without annotations: the record of a.txt,
    # whose page changed, would be dropped
    changed = {"corpus/documents.jsonl": json.dumps(dict(DOCS[1], file="a.txt"), ensure_ascii=False) + "\n"}
    annotated = [{"id": 1, "data": {"text": DOCS[1]["text"]}, "annotations": [{"id": 1, "result": []}]}]
    for name, description, exports, files, expect in [
        ("exports-missing", "--exports naming nothing", "nope.json", {}, ["nope.json", "no such export file or folder"]),
        ("exports-folder-without-json", "--exports naming a folder without an export", "exports", {"exports/notes.txt": "x\n"},
         ["exports", "holds no *.json", "'notes.txt'"]),
        ("exports-not-json", "--exports naming a file that is not JSON", "notes.txt", {"notes.txt": "x\n"}, ["notes.txt", "not JSON"]),
        ("exports-top-level-object", "an export that is one JSON object, not a list of tasks", "x.json", {"x.json": "{}\n"},
         ["x.json", "top level is a JSON object"]),
        ("exports-task-without-document", "annotations of a task with neither data.doc_id nor data.text", "x.json",
         {"x.json": dumps([{"id": 1, "data": {}, "annotations": [{"id": 1, "result": []}]}])}, ["x.json", "task 1", "cannot tell which document"]),
    ]:
        ingest(name, description, {"a.txt": PAGE}, exit=2, expect=expect, exports=exports, extra_files=changed | files, untouched=["corpus/documents.jsonl"])
    ingest("exports-task-matched-by-text", "annotations of a task without data.doc_id keep the record of the document whose text it holds",
           {"a.txt": PAGE}, exit=0, expect=["is kept because annotations refer to it"], exports="x.json",
           extra_files=changed | {"x.json": dumps(annotated)})

    case("build-exports-fifo", "build --exports naming a FIFO (it must not hang while hashing it)", {},
         argv=["build", "--documents", "{shared}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports", "{case}/x.json"],
         exit=2, expect=["x.json", "FIFO"], fifos=["x.json"], absent_path="dist/khabar")
    case("build-documents-fifo", "build --documents naming a FIFO", {},
         argv=["build", "--documents", "{case}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports"],
         exit=2, expect=["documents.jsonl", "FIFO"], fifos=["documents.jsonl"], absent_path="dist/khabar")
    case("build-empty-corpus", "a build of an empty documents.jsonl", {"documents.jsonl": ""},
         argv=["build", "--documents", "{case}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports"],
         exit=2, expect=["documents.jsonl", "no current document"], absent_path="dist/khabar", untouched=["documents.jsonl"])
    ingest("documents-fifo", "the corpus's documents.jsonl is a FIFO", {"a.txt": PAGE}, exit=2, expect=["documents.jsonl", "FIFO"],
           fifos=["corpus/documents.jsonl"])

    case("validate-documents-fifo", "validate --documents naming a FIFO", {"export.json": dumps(good_export())},
         argv=["validate", "{case}/export.json", "--documents", "{case}/documents.jsonl"], exit=2, expect=["documents.jsonl", "FIFO"],
         fifos=["documents.jsonl"], untouched=["export.json"])
    case("ingest-pages-csv-fifo", "pages.csv is a FIFO", {"corpus/pages/a.txt": PAGE, "corpus/sources.csv": SOURCES},
         argv=["ingest", "--corpus", "{case}/corpus", "--exports"], exit=2, expect=["pages.csv", "FIFO"], fifos=["corpus/pages.csv"])

    # another project's export: one refusal, not a failure per row
    other = json.loads((LS_FIXTURES / "lsf-examples/named_entity/annotations/1.json").read_text(encoding="utf-8"))
    other["id"] = 1
    for item in other["annotations"][0]["result"]:
        item["from_name"] = "entity"  # the control happens to be named like Khabar's layer; its labels are not
    validate("other-project-labels", "Label Studio's NER template export with its control renamed 'entity' (labels Person, Date…)", dumps([other]),
             exit=2, expect=["another project's labeling config", "entity/Date"])
    per_quote = good_export()
    for item in per_quote[0]["annotations"][0]["result"] + per_quote[1]["annotations"][0]["result"]:
        if item["type"] == "labels":
            item["value"]["labels"] = ["PER" if item["from_name"] == "entity" else "QUOTE"]
    validate("other-project-per-quote", "an export whose every span is PER or QUOTE", dumps(per_quote), exit=2,
             expect=["another project's labeling config", "entity/PER", "attribution/QUOTE"])

    # pseudonyms are annotator-N, nothing else
    real_name = owner_field("completed_by", {"pseudonym": "Huda Karim, 14 Rashid Street, Baghdad"})
    validate("pseudonym-real-name", "a pseudonym holding a real name and address", dumps(real_name), exit=1,
             expect=["task 1", "annotation 11", "annotator-N"], absent_output=["Huda", "Rashid"])
    case("build-pseudonym-real-name", "a build of an export whose pseudonym is a real name", {"export.json": dumps(real_name)},
         argv=["build", "--documents", "{shared}/documents.jsonl", "--out", "{case}/dist/khabar", "--datasheet", "{datasheet}", "--exports", "{case}/export.json"],
         exit=1, expect=["task 1", "annotator-N"], absent_path="dist/khabar", absent_output=["Huda", "Rashid"])

    # a span boundary inside a letter and its marks
    text = normalize_text("قال محمّدٌ إن الوضع آمنٌ.")
    doc = record(text, "002_marks.txt", "محمد")
    name_at = text.index("محمّدٌ")
    for name, description, start, end, wanted in (
        ("span-starts-on-shadda", "a span starting on the shadda of محمّدٌ", name_at + 3, name_at + 6, "U+0651 ARABIC SHADDA"),
        ("span-ends-before-tanween", "a span ending before the tanween of محمّدٌ", name_at, name_at + 5, "U+064C ARABIC DAMMATAN"),
    ):
        result = [span("x1", "entity", "PERS", text[start:end], text)]
        result[0]["value"].update(start=start, end=end)
        own_documents(name, description, [doc], [task([annotation(result)], 1, doc)], exit=1,
                      expect=["export.json", "task 1", "region x1", "span_whole_graphemes", wanted])


if __name__ == "__main__":
    main()
