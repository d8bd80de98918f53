"""A :class:`~khabar.validation.api.ValidationResult` as text, markdown, JSON or GitHub annotations.

Every format carries, per failure: check, severity, export file, task, doc_id,
annotator pseudonym, region, label, offsets, the text found and expected, the
message and a hint; and, at the end, the reconciliation of what was read.
Annotators appear only as pseudonyms (the reader never keeps an email or id).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from itertools import groupby
from typing import Any

import msgspec

from khabar.foundation.errors import one_line, quoted
from khabar.validation.api import ValidationResult
from khabar.validation.failures import CHUNK, Failure

#: a pull-request comment or job summary has a size limit; the JSON format is never cut
MARKDOWN_MAX_ROWS = 500


def _snippet(text: str | None) -> str:
    return "—" if text is None else quoted(text)


def _owner(f: Failure) -> str:
    if f.kind == "prediction":
        return f"prediction {f.annotation_id} (model {f.annotator or '?'})"
    return f"annotation {f.annotation_id} by {f.annotator or 'unknown annotator'}"


def _offset(value: int | None) -> str:
    return "?" if value is None else str(value)


def _where(f: Failure) -> str:
    if f.kind == "knowledge_base":  # a row of annotation/kb/: no task, annotation or region, but a document and a span
        parts = [str(f.file), *([f"document {f.doc_id}"] if f.doc_id else [])]
    else:
        parts = [f"{f.file} task {f.task_id}", _owner(f)]
    if f.region_id is not None or f.label is not None:
        region = f"region {f.region_id or '?'}" if f.kind != "knowledge_base" else "span"
        if f.label:
            region += f" {f.label}"
        if f.start is not None or f.end is not None:
            region += f" [{_offset(f.start)}:{_offset(f.end)}]"
        parts.append(region)
    return " · ".join(parts)


def _texts(f: Failure) -> str:
    if f.found is None and f.expected is None:
        return ""
    if f.found == f.expected:
        return f" · text {_snippet(f.found)}"
    if f.expected is None:
        return f" · found {_snippet(f.found)}"
    if f.found is None:
        return f" · expected {_snippet(f.expected)}"
    return f" · found {_snippet(f.found)} expected {_snippet(f.expected)}"


def _totals(result: ValidationResult) -> str:
    strict = " (strict: warnings count as errors)" if result.strict else ""
    return f"{result.errors} error(s), {result.warnings} warning(s){strict}"


def _heading(result: ValidationResult) -> str:
    if not result.files:
        return "no exports to validate"
    return f"{len(result.files)} export file(s): {_totals(result)}"


def text_chunks(result: ValidationResult) -> Iterator[str]:
    """Human text, grouped by document, a document at a time."""
    yield f"khabar validate: {_heading(result)}\n"
    for doc_id, group in groupby(result.failures.by_document(), key=lambda f: f.doc_id):
        failures = list(group)
        errors = sum(f.severity == "error" for f in failures)
        lines = ["", one_line(f"document {doc_id or '(unknown)'}: {errors} error(s), {len(failures) - errors} warning(s)")]
        for f in failures:  # one line a failure, whatever line breaks its doc_id, label or region id hold
            lines.append(one_line(f"  {f.severity:<7} {f.check}: {_where(f)}{_texts(f)} · {f.message} (hint: {f.hint})"))
        yield "".join(line + "\n" for line in lines)
    lines = ["", "reconciliation:"] + [f"  {line}" for line in result.accounting.lines()]
    if result.files and not result.failures:
        lines += ["", "clean: every rule passed"]
    yield "".join(line + "\n" for line in lines)


def _cell(value: object) -> str:
    return one_line(str(value).replace("|", "\\|")) if value is not None else ""


def markdown_chunks(result: ValidationResult) -> Iterator[str]:
    """A pull-request comment or job summary (its first :data:`MARKDOWN_MAX_ROWS` failures: one chunk)."""
    mark = "❌" if result.errors else ("⚠️" if result.warnings else "✅")
    lines = ["## Khabar validation", "", f"{mark} {_heading(result)}", ""]
    if result.failures:
        lines += [
            "| severity | check | file | task | document | annotator | region | label | offsets | found | expected | problem | hint |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for f in result.failures[:MARKDOWN_MAX_ROWS]:
            offsets = f"{f.start}–{f.end}" if f.start is not None or f.end is not None else ""
            owner = f.annotator if f.kind != "prediction" else f"prediction ({f.annotator})"
            cells = [
                f.severity, f"`{f.check}`", f.file, f.task_id, f.doc_id, owner, f.region_id, f.label, offsets,
                _snippet(f.found) if f.found is not None else "", _snippet(f.expected) if f.expected is not None else "",
                f.message, f.hint,
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        if len(result.failures) > MARKDOWN_MAX_ROWS:
            lines += ["", f"… and {len(result.failures) - MARKDOWN_MAX_ROWS} more (run `khabar validate --format json` for all)."]
        lines.append("")
    lines += ["### Reconciliation", "", "| unit | read | used | excluded | reasons |", "|---|---|---|---|---|"]
    for count in result.accounting.counts:
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(count.excluded.items()))
        lines.append(f"| {count.unit} | {count.read} | {count.used} | {sum(count.excluded.values())} | {_cell(reasons)} |")
    lines.append("")
    lines.append(f"{result.accounting.files} export file(s), {result.accounting.tasks} task(s).")
    yield "\n".join(lines) + "\n"


def json_chunks(result: ValidationResult) -> Iterator[str]:
    """The JSON report a failure at a time: the text of ``json.dumps(body, indent=2)``, without
    holding it, or a dict per failure, all at once (83 MB of text for 110,000 failures)."""
    body = {
        "files": [str(path) for path in result.files],
        "strict": result.strict,
        "errors": result.errors,
        "warnings": result.warnings,
        "exit_status": result.exit_status,
        "failures": [],
        "accounting": result.accounting.to_dict(),
    }
    # a JSON string escapes its quotes, so the empty list's key occurs once, where the failures go
    head, tail = json.dumps(body, ensure_ascii=False, indent=2).split('"failures": []', 1)
    if not result.failures:
        yield head + '"failures": []' + tail + "\n"
        return
    yield head + '"failures": ['
    for start in range(0, len(result.failures), CHUNK):  # a record batch of the failures' file each
        yield ("," if start else "") + _failures_json(result.failures[start : start + CHUNK])
    yield "\n  ]" + tail + "\n"


def _failures_json(failures: list[Failure]) -> str:
    """Failures as the JSON report lists them (each on its own lines, nested two levels down), comma-separated.

    msgspec writes them without an indent (its strings are json's with ``ensure_ascii=False``, byte for byte:
    a test holds the two to it) and lays the tokens out, already UTF-8 for the writer: the 36,296 failures of
    1M span results 0.45 → 0.26 s of CPU rendered and written, against a failure at a time in Python (json's
    C encoder without an indent is no faster). A lone surrogate cannot be made UTF-8: those failures take the
    slow path, for the same text.
    """
    try:
        laid_out = msgspec.json.format(msgspec.json.encode(failures), indent=2).decode("utf-8")
    except UnicodeEncodeError:
        return ",".join("\n    " + _failure_json(failure) for failure in failures)
    # "[\n  {...}\n]" without its brackets, two spaces deeper (a JSON string holds no raw newline)
    return laid_out[1:-2].replace("\n", "\n  ")


#: a JSON string as ``json.dumps(..., ensure_ascii=False)`` writes it (the C encoder's)
_STRING = json.encoder.encode_basestring


def _scalar(value: object) -> str:
    """A flat value as ``json.dumps`` writes it; ``indent`` would make ``json`` encode it in Python, far slower."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _STRING(value)
    if type(value) is int:
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _failure_json(failure: Failure) -> str:
    """A failure as ``json.dumps(failure.to_dict(), ensure_ascii=False, indent=2)``, nested two levels down.

    Its fields are flat values (strings, integers, nulls), so the indented object is its
    ``"key": value`` lines (the path of a failure msgspec cannot write).
    """
    fields = ",\n      ".join(f"{_STRING(key)}: {_scalar(value)}" for key, value in failure.to_dict().items())
    return "{\n      " + fields + "\n    }"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


_LIST = re.compile(r'^ {4}"(annotations|drafts|predictions)": \[')
_OWNER_ID = re.compile(r"^ {8}\"id\": (-?\d+),?$")
_REGION_ID = re.compile(r'^ {12}"id": ("(?:[^"\\]|\\.)*"|-?\d+),?$')
_LISTS = {"annotation": "annotations", "prediction": "predictions"}


def export_lines(path: str) -> dict[tuple[str, int | None, str | None], int]:
    """(list, owner id, region id or None) → line number, for files in the layout of ``studio pull``.

    Other layouts (one long line from the Label Studio UI) give no lines; the
    annotation then points at the file.
    """
    found: dict[tuple[str, int | None, str | None], int] = {}
    try:
        handle = open(path, encoding="utf-8")
    except OSError:
        return found
    current_list, owner = "", None
    with handle:
        for number, line in enumerate(handle, start=1):
            if match := _LIST.match(line):
                current_list, owner = match.group(1), None
            elif match := _OWNER_ID.match(line):
                owner = _written_id(match.group(1))
                if owner is not None:
                    found.setdefault((current_list, owner, None), number)
            elif owner is not None and (match := _REGION_ID.match(line)) and (region := _written_id(match.group(1))) is not None:
                found.setdefault((current_list, owner, str(region)), number)
    return found


def _written_id(text: str) -> Any:
    """The id a line writes (a JSON string or integer); None for one ``json`` refuses (an integer of more than 4,300
    digits): the file is read again here, and may have changed since it was checked."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def github_chunks(result: ValidationResult) -> Iterator[str]:
    """GitHub Actions workflow commands: one annotation per failure, on the line of its region, :data:`CHUNK` at a time.

    The report holds a file's failures together, so only the lines of the file at hand are known at a time.
    """
    file, places = None, {}
    lines = []
    for f in result.failures:
        if f.file != file:
            file, places = f.file, export_lines(f.file) if f.file else {}
        command = "error" if f.severity == "error" else "warning"
        properties = f"file={_escape_property(f.file or '')}"
        owner = (_LISTS.get(f.kind, ""), f.annotation_id)
        line = places.get((*owner, f.region_id)) or places.get((*owner, None))
        if line:
            properties += f",line={line}"
        properties += f",title={_escape_property('khabar ' + f.check)}"
        message = f"{_where(f)}{_texts(f)} · {f.message} (hint: {f.hint})"
        lines.append(f"::{command} {properties}::{_escape_data(message)}\n")
        if len(lines) == CHUNK:
            yield "".join(lines)
            lines = []
    lines.append(f"::notice title=khabar validate::{_escape_data(_heading(result))}\n")
    yield "".join(lines)


#: each format's report, a chunk at a time (``khabar validate`` writes them as they come)
REPORTS: dict[str, Callable[[ValidationResult], Iterator[str]]] = {
    "text": text_chunks,
    "markdown": markdown_chunks,
    "json": json_chunks,
    "github": github_chunks,
}


def render(result: ValidationResult, fmt: str) -> str:
    """The whole report in format ``fmt``."""
    return "".join(REPORTS[fmt](result))
