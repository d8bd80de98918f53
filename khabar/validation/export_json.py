"""An export's bytes → its tasks, one at a time, with the sha256 of the bytes read.

Two ways, one result:

- **streamed** (any file whose top level is a list of objects, whatever its white
  space: what ``khabar studio pull`` writes, indented, and what Label Studio's own
  JSON export writes, on one line): the file is read :data:`READ_CHUNK` bytes at a
  time and msgspec finds where each task ends (a decoding of the buffer from the
  task's ``{`` stops after that value and says at which byte more follows, or that
  the bytes end inside it: then the next chunk is read). Between two tasks only
  white space and ``,`` may stand, after the last one ``]`` and white space. Each
  task is decoded by msgspec on its own (one with a lone surrogate escape, which
  msgspec refuses wherever it stands, does not decode). If every task decodes, the
  file is the JSON list of those tasks (JSON has one parse), so the tasks are
  exactly those of a whole-file parse; memory holds one chunk and one task,
  whatever the file's size.
- **whole** (anything else: an empty list, a list holding something other than an
  object, and any file msgspec refuses): the file read whole, its list split by
  msgspec and each task parsed when reached (by the typed structs first, as a
  streamed one is); a file msgspec refuses is parsed by ``json``, so every message
  is what ``json`` says.

A streamed read that meets what it cannot cut or decode raises :class:`NotStreamable`;
the caller reads the file again the whole way. The file's bytes are read once:
hashed, checked to be UTF-8 (and not blank) and parsed as they come. A whole read
checks them all before its first task; a streamed read checks each chunk before it
decodes a task of it, so a bad byte stops it at the chunk that holds it. Its
callers drain the tasks when one of them is refused (and a task refused sends the
file to a whole read, which checks first), so the file's own problem is still the
one reported, as when the whole file was checked before its first task (the
second read of 600 MB cost 0.15 s CPU, its first chunk's decoding to str more).
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import os
import re
from array import array
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, cast

import msgspec
import pyarrow as pa

from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.jsonl import json_problem

#: a ``\\uD800``–``\\uDFFF`` escape that is not half of a pair: JSON accepts it, UTF-8 cannot hold it
LONE_SURROGATE_ESCAPE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
LONE_SURROGATE_ESCAPE_BYTES = re.compile(LONE_SURROGATE_ESCAPE.pattern.encode("ascii"))  # ASCII: the same matches in UTF-8 bytes
SURROGATE = re.compile("[\ud800-\udfff]")
#: Bytes read (and decoded to check UTF-8) at a time: 16 MB, a few ms of work each.
READ_CHUNK = 1 << 24
#: A byte that is not JSON's white space (``json`` and msgspec allow no other between values).
NOT_WHITE_SPACE = re.compile(rb"[^ \t\n\r]")
#: The start of a top-level list whose first item is an object.
STREAM_HEAD = re.compile(rb"\A[ \t\n\r]*\[[ \t\n\r]*\{")
#: The start of a list laid out by ``json.dumps(..., indent=N)``: ``[``, a newline and the indent of its items.
INDENTED_HEAD = re.compile(rb"\A[ \t\n\r]*\[\n([ \t]*)\{")
#: Bytes at each end of a file in which its start and end are looked for.
HEAD_BYTES = 4096
#: The end of a top-level list whose last item is an object.
STREAM_TAIL = re.compile(rb"\}[ \t\n\r]*\][ \t\n\r]*\Z")
#: msgspec's message when a decoded value is followed by more than white space: ``byte N`` counts
#: the bytes up to and including the first byte that follows (msgspec 0.22, pinned by a test).
TRAILING = re.compile(r"JSON is malformed: trailing characters \(byte (\d+)\)")
#: msgspec's message when the bytes end inside a value (or inside a literal or a string).
TRUNCATED = "Input data was truncated"
#: The end of msgspec's other messages: the byte it stopped at (at the end of the bytes when they
#: end inside a number: ``1e``, ``-``, ``1.`` are refused as such, not as truncated).
AT_BYTE = re.compile(r"JSON is malformed: .* \(byte (\d+)\)")
_DECODER = msgspec.json.Decoder()


class NotStreamable(Exception):
    """A streamed export that cannot be cut into tasks, or a task of it msgspec refuses: read the file the whole way instead."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


@dataclass(frozen=True)
class Task:
    """One task as parsed, and how many bytes of the export it took (0 when read whole)."""

    value: Any
    size: int


class ExportFile:
    """One export, opened once and read once: its tasks, the checks of the whole file, and its sha256."""

    def __init__(self, path: Path, *, streamed: bool, owner_lists: Collection[str], typed: msgspec.json.Decoder[Any] | None = None) -> None:
        """``typed``: a decoder of typed structs tried first on each task; a task it refuses is decoded as plain JSON."""
        self.path = path
        self.owner_lists = owner_lists
        self.typed = typed
        self.handle: BinaryIO = export_files.open_regular(path)
        self.stamp = self._stamp()
        #: the sha256 of the bytes read, known once :meth:`tasks` has read them all
        self.sha256: str | None = None
        self.streamed = streamed and self._streamable()
        # the streamed read's window on the file: its bytes in use, how many of them are checked UTF-8, the file's end reached
        self.buffer = bytearray()
        self.filled = self.checked = 0
        self.at_end = False
        self.digest = hashlib.sha256()
        #: in a file laid out by json.dumps(..., indent=N), the end of a task and the start of the next (from the file's head)
        self.separator: re.Pattern[bytes] | None = None

    def close(self) -> None:
        self.handle.close()
        self.buffer = bytearray()

    def tasks(self) -> Iterator[Task]:
        """Every task, in order (streamed or whole, see the module docstring).

        The bytes are read once: hashed, checked and parsed as they come (a streamed
        read checks each chunk before it decodes a task of it, so a problem of the
        file's bytes stops the read at the chunk that holds it, and a caller that
        stops at a task's problem reads on to that file's first). A file changed
        while it was read is refused, so the sha256 kept is that of the bytes parsed.
        """
        if self.streamed:
            yield from self._streamed()
        else:
            yield from (Task(task, 0) for task in self._whole())
        if self._stamp() != self.stamp:
            raise KhabarError("the export changed while it was read: run the command again", file=str(self.path))

    def _stamp(self) -> tuple[int, int]:
        status = os.fstat(self.handle.fileno())
        return status.st_size, status.st_mtime_ns

    # -- the whole file -------------------------------------------------------------

    def _read(self, size: int = -1) -> bytes:
        try:
            return self.handle.read(size)
        except OSError as exc:
            raise KhabarError(f"cannot read export: {exc.strerror}", file=str(self.path)) from None

    def _check_utf8(self, buffer: bytes | memoryview, checked: int, *, at_end: bool) -> int:
        """Check that ``buffer[checked:]`` is UTF-8, but for a character cut by its end (none at the file's end); the new ``checked``.

        Arrow validates the bytes in place (0.1 s for 600 MB, no str made); a refusal
        sends the file through Python's decoder again, for the offset of the bad byte.
        """
        view = memoryview(buffer)[checked:]
        whole = len(view) if at_end else _complete(view)
        if not _is_utf8(view[:whole]):
            self._refuse_non_utf8()
        return checked + whole

    def _refuse_non_utf8(self) -> NoReturn:
        """Name the first byte that is not UTF-8 (the file decoded again from its start)."""
        self.handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        while True:
            chunk = self._read(READ_CHUNK)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the previous chunk
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # the decoder reads its pending bytes and the chunk as one: exc.start counts from the first
                raise KhabarError(
                    f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {offset - pending + exc.start})", file=str(self.path)
                ) from None
            if not chunk:
                raise KhabarError("not UTF-8", file=str(self.path))  # Arrow refused what Python decodes: not seen
            offset += len(chunk)

    def _streamable(self) -> bool:
        """Whether the file starts as a list whose first item is an object and ends as one whose last is (a file
        cut short or followed by more is read whole at once, not streamed to its end first)."""
        self.handle.seek(0)
        head = STREAM_HEAD.match(self._read(HEAD_BYTES))
        self.handle.seek(max(0, self.stamp[0] - HEAD_BYTES))
        tail = STREAM_TAIL.search(self._read())
        self.handle.seek(0)
        return head is not None and tail is not None

    def _whole(self) -> list[Any] | Iterator[Any]:
        """The tasks of the file read whole, once it is hashed, UTF-8 and not blank."""
        self.handle.seek(0)
        data = self._read()
        view, checked = memoryview(data), 0
        while checked < len(data):  # a chunk at a time: Arrow's string offsets are 32-bit
            end = min(checked + max(READ_CHUNK, 4), len(data))  # 4: a whole character, so each round checks some
            checked = self._check_utf8(view[:end], checked, at_end=end == len(data))
        if _blank(data):
            raise KhabarError("empty file, not a Label Studio export (an empty export is [])", file=str(self.path))
        self.sha256 = hashlib.sha256(data).hexdigest()
        if b"\\u" not in data or LONE_SURROGATE_ESCAPE_BYTES.search(data) is None:  # the search only where an escape is
            try:
                slices = msgspec.json.decode(data, type=list[msgspec.Raw])
            except (msgspec.MsgspecError, RecursionError):
                pass
            else:
                return self._tasks_of(data, slices)
        return _parsed(self.path, data, self.owner_lists)

    def _tasks_of(self, data: bytes, slices: list[msgspec.Raw]) -> Iterator[Any]:
        """Each task of the list split by msgspec: as typed structs when ``typed`` decodes it (as a streamed one is), else plain."""
        for raw in slices:
            try:
                yield self._decode(raw)
            except (msgspec.MsgspecError, RecursionError):  # not seen: the split checked the syntax; json decides, as before
                try:
                    yield json.loads(bytes(raw))
                except (ValueError, RecursionError):
                    yield from _parsed(self.path, data, self.owner_lists)  # raises the whole file's error, as before
                    return

    # -- streamed -------------------------------------------------------------------

    def _streamed(self) -> Iterator[Task]:
        """The tasks of the list, decoded one by one as msgspec finds their ends; each chunk hashed and checked as it is read."""
        self.handle.seek(0)
        self.buffer = bytearray(max(READ_CHUNK, HEAD_BYTES))
        self.filled = self._read_into(self.buffer, 0, len(self.buffer))
        self.at_end = self.filled == 0
        self.digest.update(memoryview(self.buffer)[: self.filled])
        self.checked = self._check_utf8(memoryview(self.buffer)[: self.filled], 0, at_end=self.at_end)
        indented = INDENTED_HEAD.match(self.buffer, 0, self.filled)
        if indented is not None:  # "},\n" and the items' indent before "{": a deeper object is indented further
            self.separator = re.compile(re.escape(b"},\n" + indented.group(1) + b"{"))
        pos = self._skip_space(0)
        if self.buffer[pos : pos + 1] != b"[":
            raise NotStreamable(self.path)
        pos = self._skip_space(pos + 1)
        while True:
            if self.buffer[pos : pos + 1] != b"{":  # a list holding something else: the whole read says what
                raise NotStreamable(self.path)
            task, end = self._task(pos)
            yield task
            pos = self._skip_space(end)
            follows = self.buffer[pos : pos + 1]
            if follows == b"]":
                break
            if follows != b",":
                raise NotStreamable(self.path)
            pos = self._skip_space(pos + 1)
        if self._skip_space(pos + 1) != self.filled or not self.at_end:  # more than white space after the list
            raise NotStreamable(self.path)
        self.sha256 = self.digest.hexdigest()
        self.buffer = bytearray()  # its 16 MB freed before the caller checks the last batch

    def _task(self, pos: int) -> tuple[Task, int]:
        """The task starting at ``buffer[pos]``, decoded, and where it ends (a position in the buffer as it is then).

        In an indented file the separator after a task says where it ends, a guess its
        decoding checks (bytes that decode whole are the one JSON value that starts
        where they start): finding the separators costs 0.24 s CPU for 600 MB, msgspec's
        scan 0.47 s (cutting the 1M news export, read, hashed and checked: 0.83 s
        against 1.08 s). A piece that does not decode (a file pretty-printed by another
        writer, whose separator stands inside a task) leaves the rest of the file to msgspec.
        """
        if self.separator is not None:
            found = self.separator.search(self.buffer, pos, self.checked)  # ASCII: the bytes before it are checked
            if found is not None:
                end = found.start() + 1  # after the "}"
                try:
                    return self._decoded(pos, end), end
                except NotStreamable:
                    self.separator = None
        start, end = self._task_at(pos)
        return self._decoded(start, end), end

    def _task_at(self, pos: int) -> tuple[int, int]:
        """Where the value starting at ``buffer[pos]`` starts and ends, reading on while the buffer ends inside it.

        msgspec decodes the checked bytes from ``pos`` to a raw slice: it stops after
        the first value and refuses what follows, saying where (0.47 s CPU for the
        12,966 tasks of a 600 MB export, none of them parsed into objects).
        """
        while True:
            with memoryview(self.buffer)[pos : self.checked] as view:
                try:
                    return pos, pos + len(msgspec.json.decode(view, type=msgspec.Raw))  # the bytes end with the value
                except msgspec.DecodeError as exc:
                    follows = _follows_at(str(exc), len(view), self.path)
                except RecursionError:
                    raise NotStreamable(self.path) from None
            if follows is not None:
                end = pos + follows
                while self.buffer[end - 1] in b" \t\n\r":  # the white space before what follows is no part of the value
                    end -= 1
                return pos, end
            if self.at_end:  # the file ends inside the value
                raise NotStreamable(self.path)
            self._read_on(pos)
            pos = 0

    def _skip_space(self, pos: int) -> int:
        """The position of the first byte from ``pos`` that is not white space (``filled`` at the file's end), reading on as needed."""
        while True:
            found = NOT_WHITE_SPACE.search(self.buffer, pos, self.filled)
            if found is not None:
                return found.start()
            if self.at_end:
                return self.filled
            self._read_on(self.filled)
            pos = 0

    def _read_on(self, keep: int) -> None:
        """Drop the bytes before ``buffer[keep]``, move the rest to the buffer's front and read the next chunk after them.

        The chunks are read into one buffer (no new 16 MB of memory a chunk), grown only
        for a task that fills most of it: it holds at most a chunk and the largest task.
        """
        kept = self.filled - keep
        if len(self.buffer) - kept < (READ_CHUNK + 1) // 2:  # a task that fills most of the buffer: room for it and a chunk
            grown = bytearray(kept + READ_CHUNK)
            grown[:kept] = self.buffer[keep : self.filled]
            self.buffer = grown
        else:
            self.buffer[:kept] = self.buffer[keep : self.filled]
        self.filled = kept + self._read_into(self.buffer, kept, min(READ_CHUNK, len(self.buffer) - kept))
        self.at_end = self.filled == kept
        self.digest.update(memoryview(self.buffer)[kept : self.filled])
        self.checked = self._check_utf8(memoryview(self.buffer)[: self.filled], self.checked - keep, at_end=self.at_end)

    def _read_into(self, buffer: bytearray, offset: int, size: int) -> int:
        """Read the file's next ``size`` bytes into ``buffer`` at ``offset``; how many were read (fewer at its end)."""
        try:
            return cast(io.BufferedReader, self.handle).readinto(memoryview(buffer)[offset : offset + size])  # open_regular's is one
        except OSError as exc:
            raise KhabarError(f"cannot read export: {exc.strerror}", file=str(self.path)) from None

    def _decoded(self, start: int, end: int) -> Task:
        """The task ``buffer[start:end]``, decoded in place.

        A lone surrogate escape needs no search of its own (``bytes.find`` of ``\\u`` in
        every task: 0.5 s CPU of 600 MB): msgspec refuses one wherever it stands, in a
        string it decodes, in a key and in a field it skips, so such a task fails both
        decodings and sends the file to a whole read, which names it.
        """
        try:
            return Task(self._decode(memoryview(self.buffer)[start:end]), end - start)
        except (msgspec.MsgspecError, RecursionError):
            raise NotStreamable(self.path) from None

    def _decode(self, data: bytes | memoryview) -> Any:
        """One task's JSON: as the typed structs when it has their shape, else plain; msgspec's error when not JSON."""
        if self.typed is not None:
            try:
                return self.typed.decode(data)
            except (msgspec.MsgspecError, RecursionError):
                pass  # another shape, or not JSON: plain decoding says which
        return _DECODER.decode(data)


def _follows_at(message: str, size: int, path: Path) -> int | None:
    """Where msgspec's ``message``, refusing ``size`` bytes that start with a value, says more follows that value:
    the offset of the first byte after it that is not white space; None when the bytes end inside the value.

    Any other message (a value msgspec refuses) raises :class:`NotStreamable`: the whole read names the problem.
    """
    trailing = TRAILING.fullmatch(message)
    if trailing is not None and 0 < int(trailing.group(1)) <= size:
        return int(trailing.group(1)) - 1
    at_byte = AT_BYTE.fullmatch(message)
    if message == TRUNCATED or (at_byte is not None and int(at_byte.group(1)) == size):
        return None
    raise NotStreamable(path)


def _blank(data: bytes) -> bool:
    """Whether the UTF-8 ``data`` is only white space, as ``str.isspace`` sees it (most files: one look at a byte)."""
    rest = data.lstrip()
    if not rest or 0x20 < rest[0] < 0x7F:  # printable ASCII is never white space
        return not rest
    decoder = codecs.getincrementaldecoder("utf-8")()
    for pos in range(0, len(rest), HEAD_BYTES):
        if decoder.decode(rest[pos : pos + HEAD_BYTES]).strip():
            return False
    return True


def _complete(data: bytes | memoryview) -> int:
    """The length of ``data`` without a UTF-8 character cut at its end (Arrow judges the rest)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for its lead
            continue
        need = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        return len(data) - back if need > back else len(data)
    return len(data)


def _is_utf8(data: bytes | memoryview) -> bool:
    """Whether ``data`` is UTF-8, checked by Arrow on the bytes in place (one string of them)."""
    offsets = pa.py_buffer(array("i", [0, len(data)]))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _parsed(path: Path, data: bytes, owner_lists: Collection[str]) -> list[Any]:
    """The whole export parsed by ``json``; its errors, a lone surrogate and a top level other than a list refused."""
    text = data.decode("utf-8")
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KhabarError(f"not JSON: {json_problem(exc)}", file=str(path)) from None
    except RecursionError:
        raise KhabarError("not a Label Studio export: JSON nested too deeply", file=str(path)) from None
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise KhabarError(f"not a Label Studio export: {str(exc).split(';')[0]}", file=str(path)) from None
    suspect = "\\u" in text and LONE_SURROGATE_ESCAPE.search(text) is not None  # the search only where an escape is
    del text
    if suspect and isinstance(tasks, list):
        _refuse_surrogates(path, tasks, owner_lists)
    if not isinstance(tasks, list):
        raise KhabarError(
            f"not a Label Studio JSON export: the top level is a JSON {type(tasks).__name__}, "
            "a full export is a list of tasks",
            file=str(path),
        )
    return tasks


def _surrogate_field(value: Any) -> list[str | int] | None:
    """The path (keys and list positions) to the first string holding a lone surrogate, if any."""
    stack: list[tuple[list[str | int], Any]] = [([], value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if SURROGATE.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if SURROGATE.search(key):
                    return [*where, "(a key)"]
                stack.append(([*where, key], child))
        elif isinstance(item, list):
            stack.extend(([*where, pos], child) for pos, child in reversed(list(enumerate(item))))
    return None


def _refuse_surrogates(path: Path, tasks: list[Any], owner_lists: Collection[str]) -> None:
    """Name the task, region and field of the first lone surrogate in an export."""
    for task_pos, task in enumerate(tasks):
        where = _surrogate_field(task)
        if where is None:
            continue
        task_id = task.get("id") if isinstance(task, dict) else None
        region = None
        if len(where) > 3 and where[0] in owner_lists and where[2] == "result":
            result = task[where[0]][where[1]]["result"][where[3]]
            region = region_id(result.get("id")) if isinstance(result, dict) else None
            if region is not None and SURROGATE.search(region):
                region = None  # the id itself is the bad field: named in the message instead
        field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")
        raise KhabarError(
            f"{field or 'the task'} holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode text",
            file=str(path), task=task_id if type(task_id) is int else f"#{task_pos}", region=region,
        )


def region_id(value: Any) -> str | None:
    """A region id as the tables hold it: an int id as its digits, an empty or mistyped one as None."""
    if type(value) is int:
        return str(value)
    return value if isinstance(value, str) and value else None
