"""An export's bytes → its tasks, one at a time, with the sha256 of the bytes read.

Two ways, one result:

- **streamed** (any file whose top level is a list, whatever its white space and
  whatever follows its ``[``: what ``khabar studio pull`` writes, indented, what Label
  Studio's own JSON export writes, on one line, and any such file broken anywhere):
  the file is read :data:`READ_CHUNK` bytes at a time and msgspec finds where each
  task ends (a decoding of the buffer from the task's ``{`` stops after that value and
  says at which byte more follows, or that the bytes end inside it: then the next
  chunk is read), and decodes it. Between two tasks only white space and ``,`` may
  stand, after the last one ``]`` and white space. What msgspec refuses there — a
  task holding what ``json`` accepts and msgspec does not (``NaN``, ``1e400``, a
  lone surrogate escape), an item that is not an object, a syntax error — is
  handed to ``json``, a window of the file from that item's start (``json`` parses
  an item of a list as it parses that value alone, and what stands between items is
  judged by ``json`` on ``[0`` followed by it): a value it parses is the task, its
  refusal is the file's, with the line and column of the whole file (the file read
  again up to that byte, for them). So every task and every message is that of one
  ``json`` parse of the whole file, and memory holds one chunk and the largest task
  (or the text ``json`` needed to refuse one), whatever the file's size.
- **whole** (a file whose top level is not a list from its first bytes: an object,
  a byte order mark, anything else; a blank file): one that ``json`` refuses within
  its first :data:`HEAD_BYTES` (a byte order mark, a page that is no JSON) is refused
  as a streamed read refuses, its bytes checked a chunk at a time. Any other is read
  whole, split by msgspec when it can, else parsed by ``json``, so every message is
  what ``json`` says. Its memory is then the file's (``json``'s objects of it: 3.45 GB
  for 600 MB): the message for a top level that is no list needs ``json``'s verdict
  on the whole value, and such a file is refused whatever it holds (Label Studio
  writes none).

The order of the problems is the whole read's: bytes that are not UTF-8 anywhere,
then ``json``'s refusal of the file (its first syntax error, a value nested too deeply,
an integer too long: what it meets first), then the first task holding a lone
surrogate. So a streamed read that meets a refusal reads on to the file's end, checking
its bytes, before it raises it; one that meets a lone surrogate stops yielding tasks
and reads on parsing, raising it at the end when nothing else is wrong.

A file that parses is read once: hashed, checked to be UTF-8 (and not blank) and parsed
as it comes. A whole read checks all its bytes before its first task; a streamed read
checks each chunk before it decodes a task of it, so a bad byte stops it at the chunk
that holds it. Its callers drain the tasks when the reader refuses one of them, so the
file's own problem is still the one reported, as when the whole file was checked before
its first task.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import itertools
import json
import os
import re
import sys
from array import array
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NoReturn, cast

import msgspec
import pyarrow as pa

from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError, not_utf8
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
#: The start of a top-level list (read streamed, whatever follows).
STREAM_HEAD = re.compile(rb"\A[ \t\n\r]*\[")
#: The start of a list laid out by ``json.dumps(..., indent=N)``: ``[``, a newline and the indent of its items.
INDENTED_HEAD = re.compile(rb"\A[ \t\n\r]*\[\n([ \t]*)\{")
#: Bytes at each end of a file in which its start and end are looked for.
HEAD_BYTES = 4096
#: The bytes that continue a UTF-8 character: a line's other bytes are its characters (``json`` counts columns in characters).
CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
#: How far past the position of a ``json`` error the text it saw may matter: its lookahead (``-Infinity``,
#: a ``\\uXXXX`` escape, a number's ``e+``). An error closer to the end of a window cut from the file, or
#: a string it saw unterminated, may be the cut's: the window is made longer and parsed again.
JSON_LOOKAHEAD = 64
#: msgspec's message when a decoded value is followed by more than white space: ``byte N`` counts
#: the bytes up to and including the first byte that follows (msgspec 0.22, pinned by a test).
TRAILING = re.compile(r"JSON is malformed: trailing characters \(byte (\d+)\)")
#: msgspec's message when the bytes end inside a value (or inside a literal or a string).
TRUNCATED = "Input data was truncated"
#: The end of msgspec's other messages: the byte it stopped at (at the end of the bytes when they
#: end inside a number: ``1e``, ``-``, ``1.`` are refused as such, not as truncated).
AT_BYTE = re.compile(r"JSON is malformed: .* \(byte (\d+)\)")
_DECODER = msgspec.json.Decoder()
_JSON = json.JSONDecoder()
#: each byte of a text made 1 if it is a digit, else 0 (``bytes.translate``): a run of digits is then a run of 1s
DIGIT_MARKS = bytes(int(byte in b"0123456789") for byte in range(256))


@dataclass(frozen=True)
class Task:
    """One task as parsed, how many bytes of the export it took and the file's offset of the first (both 0 when read
    whole), and whether ``json`` parsed it (msgspec refused it) and from text holding a lone surrogate escape (only
    json lets one through)."""

    value: Any
    size: int
    offset: int = 0
    by_json: bool = False
    escapes_surrogate: bool = False


class ExportFile:
    """One export, opened once and read once: its tasks, the checks of the whole file, and its sha256."""

    def __init__(
        self, path: Path, *, streamed: bool, owner_lists: Collection[str], typed: msgspec.json.Decoder[Any] | None = None,
        surrogates: Literal["refuse", "keep"] = "refuse",
    ) -> None:
        """``typed``: a decoder of typed structs tried first on each task; a task it refuses is decoded as plain JSON.
        ``surrogates``: a lone surrogate escape refused as the file's problem (naming the task, and the region of an
        owner list among ``owner_lists``), or kept in the task's strings for the caller to judge (``khabar studio push``
        names it as it names every string Label Studio cannot store)."""
        self.path = path
        self.owner_lists = owner_lists
        self.surrogates = surrogates
        self.typed = typed
        self.handle: BinaryIO = export_files.open_regular(path)
        self.stamp = self._stamp()
        #: the sha256 of the bytes read, known once :meth:`tasks` has read them all
        self.sha256: str | None = None
        self.streamed = streamed and self._streamable()
        # the streamed read's window on the file: its bytes in use, how many of them are checked UTF-8, the file's end reached
        self.buffer = bytearray()
        self.filled = self.checked = 0
        #: the file's offset of ``buffer[0]``
        self.base = 0
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
                    not_utf8(exc, offset - pending), file=str(self.path)
                ) from None
            if not chunk:
                raise KhabarError("not UTF-8", file=str(self.path))  # Arrow refused what Python decodes: not seen
            offset += len(chunk)

    def _streamable(self) -> bool:
        """Whether the file's top level is a list, from its first bytes (what follows the ``[`` is judged as it is read)."""
        self.handle.seek(0)
        head = STREAM_HEAD.match(self._read(HEAD_BYTES))
        self.handle.seek(0)
        return head is not None

    def _whole(self) -> list[Any] | Iterator[Any]:
        """The tasks of the file read whole, once it is hashed, UTF-8 and not blank (a file ``json`` refuses at its
        first bytes is refused without being read whole)."""
        self._refuse_by_head()
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
        return _parsed(self.path, data, self.owner_lists if self.surrogates == "refuse" else None)

    def _refuse_by_head(self) -> None:
        """Raise ``json``'s refusal of a file it refuses within its first :data:`HEAD_BYTES` (a byte order mark, a page
        that is no JSON), once its bytes are checked to be UTF-8 a chunk at a time, as a streamed read does."""
        self._fill()
        window = memoryview(self.buffer)[: min(HEAD_BYTES, self.checked)]
        text = str(window[: _complete(window)], "utf-8")
        window.release()
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            if text.strip() and _decided(exc, text):  # not blank: that comes first
                self._refuse_json(exc, len(text[: exc.pos].encode("utf-8")))
        except (ValueError, RecursionError):
            pass  # the whole read judges them: they may be the cut's
        self.buffer = bytearray()

    def _tasks_of(self, data: bytes, slices: list[msgspec.Raw]) -> Iterator[Any]:
        """Each task of the list split by msgspec: as typed structs when ``typed`` decodes it (as a streamed one is), else plain."""
        for raw in slices:
            try:
                yield self._decode(raw)
            except (msgspec.MsgspecError, RecursionError):  # not seen: the split checked the syntax; json decides, as before
                try:
                    yield json.loads(bytes(raw))
                except (ValueError, RecursionError):
                    yield from _parsed(self.path, data, self.owner_lists if self.surrogates == "refuse" else None)  # raises the whole file's error, as before
                    return

    # -- streamed -------------------------------------------------------------------

    def _streamed(self) -> Iterator[Task]:
        """The items of the list, decoded one by one as msgspec finds their ends; each chunk hashed and checked as it is read.

        What msgspec refuses, ``json`` judges (see the module docstring): an item it parses
        is yielded, a lone surrogate is the file's problem once the rest of the file is
        found to be JSON (the whole read names the first task holding one, and only when
        the file parses), and ``json``'s refusal of the file is raised once the rest of
        the file is found to be UTF-8.
        """
        self._fill()
        indented = INDENTED_HEAD.match(self.buffer, 0, self.filled)
        if indented is not None:  # "},\n" and the items' indent before "{": a deeper object is indented further
            self.separator = re.compile(re.escape(b"},\n" + indented.group(1) + b"{"))
        surrogate: KhabarError | None = None
        pos = self._skip_space(self._skip_space(0) + 1)  # after the "[" the head matched
        if self._byte(pos) != b"]":
            for task_pos in itertools.count():
                task, end = self._task(pos) if self._byte(pos) == b"{" else self._parsed_by_json(pos, HEAD_BYTES)
                if surrogate is None and task.escapes_surrogate and self.surrogates == "refuse":
                    surrogate = _surrogate_problem(self.path, task_pos, task.value, self.owner_lists)
                if surrogate is None:
                    yield task
                pos = self._skip_space(end)
                follows = self._byte(pos)
                if follows == b"]":
                    break
                if follows != b",":
                    self._refuse_gap("[0", pos)  # what json says of a list whose item is followed by this
                comma = self.base + pos
                pos = self._skip_space(pos + 1)
                if self._byte(pos) in (b"]", b""):  # a comma before the end of the list, or of the file
                    self._refuse_gap("[0,", pos, comma)
        pos = self._skip_space(pos + 1)
        if pos != self.filled:  # more than white space after the list
            self._refuse_gap("[0] ", pos)
        if surrogate is not None:
            raise surrogate
        self.sha256 = self.digest.hexdigest()
        self.buffer = bytearray()  # its 16 MB freed before the caller checks the last batch

    def _fill(self) -> None:
        """Read the file's first chunk into a new buffer (hashed and checked)."""
        self.handle.seek(0)
        self.buffer = bytearray(max(READ_CHUNK, HEAD_BYTES))
        self.filled = self._read_into(self.buffer, 0, len(self.buffer))
        self.base = 0
        self.at_end = self.filled == 0
        self.digest.update(memoryview(self.buffer)[: self.filled])
        self.checked = self._check_utf8(memoryview(self.buffer)[: self.filled], 0, at_end=self.at_end)

    def _task(self, pos: int) -> tuple[Task, int]:
        """The task starting at ``buffer[pos]``, decoded, and where it ends (a position in the buffer as it is then).

        In an indented file the separator after a task says where it ends, a guess its
        decoding checks (bytes that decode whole are the one JSON value that starts
        where they start): finding the separators costs 0.24 s CPU for 600 MB, msgspec's
        scan 0.47 s (cutting the 1M news export, read, hashed and checked: 0.83 s
        against 1.08 s). A piece that does not decode is cut by msgspec (a file
        pretty-printed by another writer, whose separator stands inside a task, leaves
        the rest of the file to msgspec); a task msgspec refuses goes to ``json``.
        """
        guess = None  # the file's offset of the task's end, as the separator says
        if self.separator is not None:
            found = self.separator.search(self.buffer, pos, self.checked)  # ASCII: the bytes before it are checked
            if found is not None:
                end = found.start() + 1  # after the "}"
                task = self._decoded(pos, end)
                if task is not None:
                    return task, end
                guess = self.base + end
        try:
            pos, end = self._task_at(pos)  # reading on moves the buffer: offsets in the file compare
        except _Refused as refused:  # json's window: to the separator and a byte, the task's end when it guessed right
            return self._parsed_by_json(refused.pos, HEAD_BYTES if guess is None else guess - self.base - refused.pos + 1)
        if guess is not None and self.base + end != guess:
            self.separator = None
        task = None if self.base + end == guess else self._decoded(pos, end)  # the guess was right: msgspec refused the task
        return (task, end) if task is not None else self._parsed_by_json(pos, end - pos + 1)

    def _task_at(self, pos: int) -> tuple[int, int]:
        """Where the value starting at ``buffer[pos]`` starts and ends, reading on while the buffer ends inside it.

        msgspec decodes the checked bytes from ``pos`` to a raw slice: it stops after
        the first value and refuses what follows, saying where (0.47 s CPU for the
        12,966 tasks of a 600 MB export, none of them parsed into objects). Raises
        :class:`_Refused` when msgspec refuses the value, or the file ends inside it.
        """
        while True:
            with memoryview(self.buffer)[pos : self.checked] as view:
                try:
                    return pos, pos + len(msgspec.json.decode(view, type=msgspec.Raw))  # the bytes end with the value
                except msgspec.DecodeError as exc:
                    follows = _follows_at(str(exc), len(view), pos)
                except RecursionError:
                    raise _Refused(pos) from None
            if follows is not None:
                end = pos + follows
                while self.buffer[end - 1] in b" \t\n\r":  # the white space before what follows is no part of the value
                    end -= 1
                return pos, end
            if self.at_end:  # the file ends inside the value
                raise _Refused(pos)
            self._read_on(pos)
            pos = 0

    def _parsed_by_json(self, pos: int, size: int) -> tuple[Task, int]:
        """The value starting at ``buffer[pos]`` as ``json`` parses it, and where it ends; ``json``'s refusal raised.

        ``json`` parses a window of the file from ``pos``, ``size`` bytes at first, as
        it parses that value inside the whole file (its scanner parses an item of a
        list as it parses a value alone). While its verdict may be the window's end's
        (the value ends there, or its error stands within :data:`JSON_LOOKAHEAD` of it,
        or a string runs to it), the window is doubled: it grows to the value's length
        at most, as msgspec's reading does, or to the text an error needs.
        """
        too_long = None
        while True:
            stop = min(pos + size, self.checked)
            window = memoryview(self.buffer)[pos:stop]
            text = str(window[: _complete(window)], "utf-8")
            window.release()
            final = self.at_end and stop == self.filled  # the window holds the rest of the file
            try:
                value, end = _JSON.raw_decode(text)
            except json.JSONDecodeError as exc:
                if final or _decided(exc, text):
                    self._refuse_json(exc, self.base + pos + len(text[: exc.pos].encode("utf-8")))
            except RecursionError as exc:  # nested too deeply, wherever the window ends
                self._refuse_json(exc)
            except ValueError as exc:  # an integer too long: its message counts its digits, those in the window when it cuts them
                if final or str(exc) == too_long:  # the same count in a longer window: the integer ends in the shorter
                    self._refuse_json(exc)
                too_long = str(exc)
            else:
                if end < len(text) or final:  # a number at the window's end may go on after it
                    size = len(text[:end].encode("utf-8"))
                    # the value's strings walked for a lone surrogate only when its text holds such an escape (news, NaN in
                    # every task: 0.35 → 0.15 s CPU for 17 MB)
                    escapes = text.find("\\u", 0, end) >= 0 and LONE_SURROGATE_ESCAPE.search(text, 0, end) is not None
                    return Task(value, size, self.base + pos, by_json=True, escapes_surrogate=escapes), pos + size
            size *= 2
            if stop == self.checked:
                self._read_on(pos)
                pos = 0

    def _refuse_gap(self, before: str, pos: int, comma: int | None = None) -> NoReturn:
        """Raise what ``json`` says of the list's text from ``buffer[pos]`` when ``before`` stands before it
        (``comma``: the file's offset of the comma that ends ``before``, which json may name)."""
        if self.filled - pos < 4 and not self.at_end:  # a whole character for json to see
            self._read_on(pos)
            pos = 0
        window = memoryview(self.buffer)[pos : min(pos + 4, self.checked)]
        text = before + str(window[: _complete(window)], "utf-8")
        window.release()
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            offset = comma if comma is not None and exc.pos < len(before) else self.base + pos + len(text[len(before) : exc.pos].encode("utf-8"))
            self._refuse_json(exc, offset)
        raise AssertionError(f"json parses {text!r}")  # not seen: each caller's text is no JSON

    def _refuse_json(self, exc: ValueError | RecursionError, offset: int = 0) -> NoReturn:
        """Raise ``json``'s refusal of the file, met at byte ``offset``, once the rest of the file is checked to be UTF-8
        (a bad byte anywhere is the problem reported, as in a whole read, which checks every byte first)."""
        while not self.at_end:
            self._read_on(self.checked)
        if isinstance(exc, json.JSONDecodeError):  # its line and column are those of the window it parsed: the file's instead
            exc.lineno, exc.colno = self._line_column(offset)
        raise _json_refusal(self.path, exc)

    def _line_column(self, offset: int) -> tuple[int, int]:
        """``json``'s line and column of the character at byte ``offset`` (1 + the newlines before it, 1 + the characters
        after the last one), the file read again up to it: only a file refused pays for it."""
        self.handle.seek(0)
        line = column = 1
        while offset > 0:
            chunk = self._read(min(READ_CHUNK, offset))
            if not chunk:
                break
            offset -= len(chunk)
            newlines = chunk.count(b"\n")
            if newlines:
                line += newlines
                chunk, column = chunk[chunk.rindex(b"\n") + 1 :], 1
            column += len(chunk.translate(None, CONTINUATION_BYTES))
        return line, column

    def _byte(self, pos: int) -> bytes:
        """The byte at ``buffer[pos]``, empty at the file's end (the buffer's bytes after ``filled`` are a previous chunk's)."""
        return bytes(self.buffer[pos : min(pos + 1, self.filled)])

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
        self.base += keep
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

    def _decoded(self, start: int, end: int) -> Task | None:
        """The task ``buffer[start:end]``, decoded in place; None when msgspec refuses it.

        A lone surrogate escape needs no search of its own (``bytes.find`` of ``\\u`` in
        every task: 0.5 s CPU of 600 MB): msgspec refuses one wherever it stands, in a
        string it decodes, in a key and in a field it skips, so such a task goes to ``json``.
        """
        try:
            return Task(self._decode(memoryview(self.buffer)[start:end]), end - start, self.base + start)
        except (msgspec.MsgspecError, RecursionError):
            return None

    def _decode(self, data: bytes | memoryview) -> Any:
        """One task's JSON: as the typed structs when it has their shape, else plain; msgspec's error when not JSON.

        Typed decoding skips the fields the structs do not declare without reading their numbers, so it would take
        an integer there that ``json`` refuses (more digits than ``sys.get_int_max_str_digits()``: the file is then
        not JSON): a task that may hold one is decoded plain, which refuses it as ``json`` does, and takes the digits
        of a string or a float as ``json`` does.
        """
        if self.typed is not None and not _may_hold_a_long_integer(data):
            try:
                return self.typed.decode(data)
            except (msgspec.MsgspecError, RecursionError):
                pass  # another shape, or not JSON: plain decoding says which
        return _DECODER.decode(data)


def _may_hold_a_long_integer(data: bytes | memoryview) -> bool:
    """Whether ``data`` holds a run of more digits than an integer ``json`` parses (in a string or not).

    A run of ``limit + 1`` digits covers two neighbouring bytes of those every ``(limit + 1) // 2``, so those few
    are looked at first: 0.02 s for 100 MB of export, against 0.14 s to look at every byte (and 1–2 s for ``re``).
    """
    limit = sys.get_int_max_str_digits()
    if limit == 0 or len(data) <= limit:  # 0: no limit
        return False
    if b"\x01\x01" not in memoryview(data)[:: (limit + 1) // 2].tobytes().translate(DIGIT_MARKS):
        return False
    return b"\x01" * (limit + 1) in bytes(data).translate(DIGIT_MARKS)


class _Refused(Exception):
    """msgspec refuses the value at ``buffer[pos]`` (or the file ends inside it): ``json`` judges it."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


def _follows_at(message: str, size: int, pos: int) -> int | None:
    """Where msgspec's ``message``, refusing ``size`` bytes that start with a value, says more follows that value:
    the offset of the first byte after it that is not white space; None when the bytes end inside the value.

    Any other message (a value msgspec refuses) raises :class:`_Refused` of ``pos``, where the value starts.
    """
    trailing = TRAILING.fullmatch(message)
    if trailing is not None and 0 < int(trailing.group(1)) <= size:
        return int(trailing.group(1)) - 1
    at_byte = AT_BYTE.fullmatch(message)
    if message == TRUNCATED or (at_byte is not None and int(at_byte.group(1)) == size):
        return None
    raise _Refused(pos)


def _decided(exc: json.JSONDecodeError, text: str) -> bool:
    """Whether ``json``'s refusal of ``text``, a window cut from a file, is its refusal of the file: it stands more than
    :data:`JSON_LOOKAHEAD` before the cut and is no string running to it."""
    return exc.pos < len(text) - JSON_LOOKAHEAD and not exc.msg.startswith("Unterminated string")


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


def _parsed(path: Path, data: bytes, owner_lists: Collection[str] | None) -> list[Any]:
    """The whole export parsed by ``json``; its errors, a lone surrogate (unless ``owner_lists`` is None: kept) and a
    top level other than a list refused."""
    text = data.decode("utf-8")
    try:
        tasks = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _json_refusal(path, exc) from None
    suspect = "\\u" in text and LONE_SURROGATE_ESCAPE.search(text) is not None  # the search only where an escape is
    del text
    if suspect and isinstance(tasks, list) and owner_lists is not None:
        _refuse_surrogates(path, tasks, owner_lists)
    if not isinstance(tasks, list):
        raise KhabarError(
            f"not a Label Studio JSON export: the top level is a JSON {type(tasks).__name__}, "
            "a full export is a list of tasks",
            file=str(path),
        )
    return tasks


def _json_refusal(path: Path, exc: ValueError | RecursionError) -> KhabarError:
    """The error for ``json``'s refusal of an export: not JSON, nested too deeply, or an integer too long."""
    if isinstance(exc, json.JSONDecodeError):
        return KhabarError(f"not JSON: {json_problem(exc)}", file=str(path))
    if isinstance(exc, RecursionError):
        return KhabarError("not a Label Studio export: JSON nested too deeply", file=str(path))
    return KhabarError(f"not a Label Studio export: {str(exc).split(';')[0]}", file=str(path))  # an integer of more than 4,300 digits


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
        problem = _surrogate_problem(path, task_pos, task, owner_lists)
        if problem is not None:
            raise problem


def _surrogate_problem(path: Path, task_pos: int, task: Any, owner_lists: Collection[str]) -> KhabarError | None:
    """The error naming the task, region and field of the first lone surrogate in the export's task ``task_pos``, if any."""
    where = _surrogate_field(task)
    if where is None:
        return None
    task_id = task.get("id") if isinstance(task, dict) else None
    region = None
    if len(where) > 3 and where[0] in owner_lists and where[2] == "result":
        result = task[where[0]][where[1]]["result"][where[3]]
        region = region_id(result.get("id")) if isinstance(result, dict) else None
        if region is not None and SURROGATE.search(region):
            region = None  # the id itself is the bad field: named in the message instead
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")
    return KhabarError(
        f"{field or 'the task'} holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode text",
        file=str(path), task=task_id if type(task_id) is int else f"#{task_pos}", region=region,
    )


def region_id(value: Any) -> str | None:
    """A region id as the tables hold it: an int id as its digits, an empty or mistyped one as None."""
    if type(value) is int:
        return str(value)
    return value if isinstance(value, str) and value else None
