"""Which files are Label Studio exports, and reading one without hanging on it.

Every command that reads exports (validate, build, ingest's check of annotated
documents, train, evaluate, link propose, preannotate's gazetteer) finds them
here (:func:`export_paths`): a folder gives its ``*.json`` files, the suffix in
any case (``X.JSON`` too); a named folder that holds none is refused, with what
it does hold. Anything that is not a regular file (a FIFO, a socket, a device,
a folder named ``x.json``, a dangling symlink or a symlink loop), or whose name
is not text, is refused rather than skipped or opened
(:func:`khabar.foundation.paths.check_regular`): opening a FIFO would block until
a writer came.
Every other file a command reads (the repository's own: the release config, the
labeling config, the adjudication reasons, ...) is read the same way, by
:func:`read_regular` or, for a text, :func:`read_regular_text`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from khabar.foundation.errors import KhabarError, not_utf8
from khabar.foundation.paths import check_name, check_regular, kind, repo, unreadable

SUFFIX = ".json"


def open_regular(path: Path) -> BinaryIO:
    """A regular file opened for reading in binary; anything else is refused without blocking.

    Opened non-blocking and checked on the open descriptor, so a file swapped
    for a FIFO after a check still cannot hang the read. A name that is not text
    is refused too (:func:`khabar.foundation.paths.check_name`).
    """
    check_name(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise unreadable(path, exc) from None
    mode = os.fstat(fd).st_mode  # before fdopen, which refuses a folder with an IsADirectoryError of its own
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise KhabarError(f"{kind(mode)}, not a regular file", file=str(path))
    return os.fdopen(fd, "rb")


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file; anything else is refused without blocking (see :func:`open_regular`)."""
    with open_regular(path) as handle:
        return handle.read()


def read_regular_text(path: Path, *, repository_text: bool = False) -> str:
    """The text of a regular UTF-8 file as its bytes hold it; a file that is not regular (see :func:`open_regular`)
    or not UTF-8 is refused in one line naming it (exit 2). With ``repository_text``, the text whatever editor or
    checkout saved it: CRLF and CR read as LF, as ``read_text`` reads them (a file checked out with ``core.autocrlf``),
    and a byte order mark at its start (Windows Notepad's "UTF-8 with BOM") is no part of it (a build released it at
    the start of ``kb/entities.csv``, whose first column a reader then took for ``\ufeffentity_id``)."""
    text = utf8_text(read_regular(path), path)
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n") if repository_text else text


def utf8_text(data: bytes, path: Path) -> str:
    """``data``, read from ``path``, as UTF-8 text; else one line naming the file (exit 2). For a reader that keeps
    the bytes too (their hash, for a rewrite refused once the file is no longer them)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KhabarError(not_utf8(exc), file=str(path)) from None


def is_export_name(path: Path) -> bool:
    return path.suffix.lower() == SUFFIX


def in_folder(folder: Path) -> list[Path]:
    """The export files of one folder, sorted by name; each checked to be a regular file."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise KhabarError(f"cannot list the folder: {exc.strerror}", file=str(folder)) from None
    found = [path for path in entries if is_export_name(path)]
    for path in found:
        check_regular(path)
    return found


def _describe(entries: list[Path]) -> str:
    if not entries:
        return "it is empty"
    shown = ", ".join(repr(p.name) for p in entries[:5])
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    return f"it holds {len(entries)} other entr{'y' if len(entries) == 1 else 'ies'} ({shown}{more})"


def named(given: list[Path]) -> list[Path]:
    """The export files that the paths a person named give, each file once.

    A folder gives its ``*.json``; a named folder without one, or a named path
    that is not a regular file, is refused (exit 2): a named input that yields
    nothing is a mistake, not an empty dataset.
    """
    paths: list[Path] = []
    for path in given:
        if path.is_dir():
            found = in_folder(path)
            if not found:
                raise KhabarError(f"folder named as exports holds no *{SUFFIX} file: {_describe(sorted(path.iterdir()))}", file=str(path))
            paths.extend(found)
        elif path.exists() or path.is_symlink():
            check_regular(path)
            paths.append(path)
        else:
            raise KhabarError("no such export file or folder", file=str(path))
    unique: dict[Path, Path] = {}
    for path in paths:  # the same file named twice is read once
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def export_paths(given: list[Path] | None) -> list[Path]:
    """The exports a command reads, found one way for every command that reads them.

    ``None`` (nothing named) gives the committed ones, every export in ``annotation/exports/``
    (none before the first pull: no such folder); ``[]`` (``--exports`` alone) gives none;
    anything else is what :func:`named` makes of the paths, refusing what it refuses.
    """
    if given is None:
        folder = repo().exports_dir
        return in_folder(folder) if folder.is_dir() else []
    return named(given)
