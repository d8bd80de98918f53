"""Messages stay one line and failed writes stay errors, whatever the names and values in the input hold.

A file name, a doc_id, a label or a region id may hold a line break (JSON and
most file systems allow every one ``str.splitlines`` knows); a message or a
finding that printed it raw would become two lines, which a person, ``grep`` or
a CI log reads as two. Standard output may be a full disk or ``/dev/full``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.foundation.paths import repo
from tests.reliability.make_bad_inputs import DOCS, dumps, good_export
from tests.reliability.reliability_support import BAD_INPUTS, SHARED
from tests.reliability.test_files import build_args

KHABAR = Path(sys.executable).with_name("khabar")
LINE_BREAKS = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1]


def only_one_error_line(run, command: str, *expected: str) -> str:
    """Every line of stderr is one of the command's own (its progress or its error), and one is the error."""
    assert "Traceback" not in run.output
    assert run.status == 2, run.output
    lines = run.err.splitlines()
    assert all(line.startswith(f"khabar {command}: ") for line in lines), run.err
    errors = [line for line in lines if line.startswith(f"khabar {command}: error: ")]
    assert len(errors) == 1, run.err
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    return errors[0]


@pytest.mark.parametrize("brk", LINE_BREAKS, ids=[f"U+{ord(c):04X}" for c in LINE_BREAKS])
def test_a_line_break_in_a_file_name_or_a_doc_id_keeps_the_error_on_one_line(brk, tmp_path, khabar):
    escaped = brk.encode("unicode_escape").decode("ascii")
    export = tmp_path / f"cut{brk}short.json"
    export.write_text("[", encoding="utf-8")
    run = khabar("validate", export, "--documents", SHARED / "documents.jsonl")
    only_one_error_line(run, "validate", f"cut{escaped}short.json", "not JSON")

    records = tmp_path / "documents.jsonl"
    records.write_text(json.dumps({**DOCS[0], "doc_id": f"a{brk}b", "published": 5}) + "\n", encoding="utf-8")
    run = khabar("validate", SHARED / "good_export.json", "--documents", records)
    only_one_error_line(run, "validate", f"document a{escaped}b", "published")


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_a_line_break_in_a_doc_id_or_a_label_keeps_each_finding_on_one_line(fmt, tmp_path, khabar):
    tasks = good_export()
    tasks[0]["data"]["doc_id"] = "nowhere\r\nto be found"
    tasks[1]["annotations"][0]["result"][0]["value"]["labels"] = ["OCC\u2028GPE"]
    export = tmp_path / "export.json"
    export.write_text(dumps(tasks), encoding="utf-8")
    run = khabar("validate", export, "--documents", SHARED / "documents.jsonl", "--format", fmt)
    assert run.status == 1, run.output
    lines = run.out.splitlines()
    check = "{}:" if fmt == "text" else "`{}`"
    unknown = [line for line in lines if check.format("annotation_document_known") in line]
    assert len(unknown) == 1 and "nowhere\\r\\nto be found" in unknown[0], run.out
    label = [line for line in lines if check.format("label_in_layer") in line]
    assert len(label) == 1 and "OCC\\u2028GPE" in label[0], run.out
    if fmt == "text":
        assert "document nowhere\\r\\nto be found: " in run.out
        assert all(not line.startswith(("to be found", "GPE")) for line in lines), run.out
    else:  # every line of the table is a row: no row cut in two
        table = [line for line in lines if line.startswith("|")]
        assert all(line.endswith("|") for line in table), run.out


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl"],
        ["validate", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl", "--format", "json"],
        ["validate", "--list-checks"],
        ["stats", "--exports", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl", "--json"],
    ],
    ids=["validate", "validate-json", "list-checks", "stats"],
)
def test_standard_output_that_cannot_be_written_is_one_line_and_exit_2(argv, tmp_path):
    export_before = (SHARED / "good_export.json").read_bytes()
    with open("/dev/full", "w") as full:  # every write: ENOSPC from the kernel
        done = subprocess.run([KHABAR, *map(str, argv)], stdout=full, stderr=subprocess.PIPE, text=True, timeout=300)
    command = argv[0]
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith(f"khabar {command}: ") for line in lines), done.stderr
    assert lines[-1] == f"khabar {command}: error: cannot write to standard output: No space left on device"
    assert (SHARED / "good_export.json").read_bytes() == export_before


@pytest.mark.parametrize(
    ("command", "encoding"), [("build", "ascii"), ("validate", "ascii"), ("validate", "latin-1"), ("validate", "ascii:surrogateescape"), ("help", "ascii")]
)
def test_what_standard_outputs_encoding_cannot_hold_is_escaped_not_a_traceback(command, encoding, tmp_path, datasheet_template):
    """With ``PYTHONIOENCODING`` an encoding without Arabic letters, standard output is the whole of what the command
    prints, each character it cannot hold as a backslash escape (as standard error writes them), with the command's
    status. Before, the folder a build wrote, a report quoting Arabic text and ``--help``'s arrow were a
    UnicodeEncodeError traceback, the build's after its work was done."""
    folder = tmp_path / "مجلد"  # the build prints the folder it wrote, here under a name in Arabic
    folder.mkdir()
    datasheet = folder / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    argv = {
        "build": ["--root", repo().root, *build_args(folder / "out", datasheet)],
        "validate": ["--root", repo().root, "validate", BAD_INPUTS / "validate-bidi-in-span" / "export.json", "--documents", SHARED / "documents.jsonl"],
        "help": ["--help"],
    }[command]

    def run(io_encoding: str) -> subprocess.CompletedProcess:
        return subprocess.run([KHABAR, *map(str, argv)], capture_output=True, cwd=folder, env=os.environ | {"PYTHONIOENCODING": io_encoding}, timeout=300)

    done = run(encoding)
    assert b"Traceback" not in done.stderr and done.returncode == (1 if command == "validate" else 0), done.stderr.decode("ascii", "replace")
    whole = f"{folder / 'out'}\n" if command == "build" else run("utf-8").stdout.decode("utf-8")
    assert any(ord(c) > 0xFF for c in whole)
    assert done.stdout == whole.encode(encoding.split(":")[0], "backslashreplace")


def test_a_standard_output_that_writes_back_undecoded_bytes_still_does_and_escapes_the_rest():
    """``surrogateescape`` (Python's own in a C locale without UTF-8 mode) writes a file name's bytes that were not
    UTF-8 back as they were; an Arabic letter it cannot write, in the same run of characters too, is escaped."""
    code = "from khabar.cli import _named_standard_output\nwith _named_standard_output():\n    print('caf\\udce9 \\u0639\\udce9')\n"
    env = os.environ | {"PYTHONIOENCODING": "ascii:surrogateescape"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode("ascii", "replace")
    assert done.stdout == b"caf\xe9 \\u0639\xe9\n"


#: ``khabar stats`` whose work prints a line, then meets an ``OSError`` no command turned into its own message.
_FAILING_STATS = """
import errno, sys
import khabar.dataset.cli as stats_cli
from khabar.cli import main

def failing(args):
    print("a line printed before the failure")
    raise OSError(*FAILURE)

FAILURE = {failure}
stats_cli.run_stats = failing
sys.exit(main(["stats"]))
"""


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ((28, "No space left on device"), "khabar stats: error: No space left on device"),
        ((5, "Input/output error"), "khabar stats: error: Input/output error"),
        ((13, "Permission denied", "/data/x.parquet"), "khabar stats: error: /data/x.parquet: Permission denied"),
    ],
    ids=["no-space", "io-error", "named-file"],
)
def test_a_failed_write_naming_no_file_is_not_called_standard_outputs(failure, expected, tmp_path):
    """Only a failed write to standard output is reported as one (``khabar stats > /dev/full``: the test above). An
    ``OSError`` from anywhere else that reaches the command's end, with standard output a file that takes every
    write, is one line with the system's words and the file when it names one, exit 2, and what was printed before
    it is in the file. Before, a full disk or an I/O error naming no file was called standard output's (it was a
    write elsewhere), and any other ``OSError`` was a traceback."""
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        done = subprocess.run([sys.executable, "-c", _FAILING_STATS.format(failure=failure)], stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [expected], done.stderr
    assert out.read_text(encoding="utf-8") == "a line printed before the failure\n"


def test_a_string_cut_short_is_named_once(tmp_path, khabar):
    export = tmp_path / "cut.json"
    export.write_text('[{"data": {"text": "بغد', encoding="utf-8")
    run = khabar("validate", export, "--documents", SHARED / "documents.jsonl")
    line = only_one_error_line(run, "validate", str(export), "not JSON: Unterminated string starting at line 1 column 20")
    assert "at at" not in line
    records = tmp_path / "documents.jsonl"
    records.write_text('{"doc_id": "ab\n', encoding="utf-8")
    run = khabar("validate", SHARED / "good_export.json", "--documents", records)
    assert "Unterminated string starting at column 12)" in only_one_error_line(run, "validate", str(records), "line 1")


def test_a_byte_order_mark_is_named_as_such(tmp_path, khabar):
    export = tmp_path / "bom.json"
    export.write_bytes(b"\xef\xbb\xbf" + (SHARED / "good_export.json").read_bytes().replace(b"\n", b""))  # minified, as Label Studio writes
    records = tmp_path / "documents.jsonl"
    records.write_bytes(b"\xef\xbb\xbf" + (SHARED / "documents.jsonl").read_bytes())
    for argv, named in (((export, "--documents", SHARED / "documents.jsonl"), export), ((SHARED / "good_export.json", "--documents", records), records)):
        before = named.read_bytes()
        line = only_one_error_line(khabar("validate", *argv), "validate", str(named), "starts with a UTF-8 byte order mark (BOM)")
        assert "utf-8-sig" not in line
        assert named.read_bytes() == before
