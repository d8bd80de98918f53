"""The one place that writes files and swaps folders.

A file is written beside its destination under a temporary name, flushed to
disk, given the mode of the file it replaces (0644 for a new one) and renamed
over the destination; the folder is then synced so the rename itself survives
a crash. A symbolic link is followed: its target is replaced and the link stays
a link. Until the rename, the destination is untouched, so a failure (a full
disk, a kill) leaves the old bytes and no temporary file.

A folder is replaced the same way: built under a temporary name beside it, then
two renames (the old one aside, the new one in) and the old one removed.

Every ``OSError`` becomes a :class:`KhabarError` naming the file (exit 2).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from khabar.foundation.errors import KhabarError

NEW_FILE_MODE = 0o644


def os_reason(exc: OSError) -> str:
    """What went wrong, in one line: the system's words for it, else the first line of the error (pyarrow's I/O
    errors carry no ``strerror``), else its class's name."""
    return exc.strerror or (str(exc).splitlines() or [exc.__class__.__name__])[0]


def write_error(exc: OSError, path: Path) -> KhabarError:
    """A one-line error for an ``OSError`` met while writing ``path`` (a full disk, a read-only folder)."""
    return KhabarError(f"cannot write: {os_reason(exc)}; nothing was changed", file=str(exc.filename or path))


def destination(path: Path) -> Path:
    """Where a write to ``path`` lands: the final target of a symbolic link, else ``path`` itself."""
    if not path.is_symlink():
        return path
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links: RuntimeError before Python 3.13, OSError after
        raise KhabarError("cannot write: a loop of symbolic links", file=str(path)) from None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    """The file's sha256, read a block at a time (never the whole file in memory: a 3M-span export is 1.7 GB)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sha256_file(path: Path) -> str:
    """:func:`_file_sha256`, a file that cannot be read one line naming it."""
    try:
        return _file_sha256(path)
    except OSError as exc:
        raise KhabarError(f"cannot read: {os_reason(exc)}", file=str(path)) from None


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class StagedFile:
    """New bytes for ``target``, written and synced under ``temporary`` beside it, not yet in place."""

    target: Path
    temporary: Path
    expected_sha256: str | None = None
    made: tuple[Path, ...] = ()  # the folders made to hold it, innermost first: a discarded file leaves none of them

    def commit(self) -> None:
        """Rename the new bytes over the target; refused (and discarded) if the target changed since it was read."""
        try:
            if self.expected_sha256 is not None:
                try:  # any error but a missing file is the commit's (below): the new bytes are discarded
                    current: str | None = _file_sha256(self.target)
                except FileNotFoundError:
                    current = None
                if current != self.expected_sha256:
                    self.discard()
                    raise KhabarError("changed on disk since it was read; not written (run the command again)", file=str(self.target))
            os.replace(self.temporary, self.target)
        except OSError as exc:
            self.discard()
            raise write_error(exc, self.target) from None
        try:
            _sync_folder(self.target.parent)
        except OSError as exc:
            raise KhabarError(f"written, but the folder could not be flushed to disk: {exc.strerror}", file=str(self.target)) from None

    def discard(self) -> None:
        self.temporary.unlink(missing_ok=True)
        for folder in self.made:
            try:
                folder.rmdir()
            except OSError:  # something else has since been put there: it is not ours alone
                break


def stage_file(
    path: Path, data: bytes | str | Iterable[str], *, expected_sha256: str | None = None, mode: int | None = None,
) -> StagedFile:
    """Write ``data`` beside ``path`` (the target of a link) and sync it; :meth:`StagedFile.commit` puts it in place.

    ``data``: bytes, text (UTF-8), or text a piece at a time (a file written as it is made: whatever the pieces
    raise, nothing is left). ``expected_sha256``: the hash of the bytes the caller read; the commit is refused if
    the file no longer has it. ``mode``: for a file that must have it whatever it replaces (0600 for a secret).
    """
    target = destination(path)
    pieces = [data] if isinstance(data, (bytes, str)) else data
    made = tuple(folder for folder in [target.parent, *target.parent.parents] if not folder.exists())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode is None:
            mode = target.stat().st_mode & 0o7777 if target.exists() else NEW_FILE_MODE
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(exc, target) from None
    staged = StagedFile(target, Path(name), expected_sha256, made)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece.encode("utf-8") if isinstance(piece, str) else piece)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except OSError as exc:
        staged.discard()
        raise write_error(exc, target) from None
    except BaseException:
        staged.discard()
        raise
    return staged


def write_atomic(path: Path, data: bytes | str | Iterable[str], *, expected_sha256: str | None = None, mode: int | None = None) -> None:
    """Replace ``path`` (or the target of the link ``path``) by ``data`` (str: UTF-8) in one rename."""
    stage_file(path, data, expected_sha256=expected_sha256, mode=mode).commit()


def sync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` to disk, so a folder about to be swapped in is whole after a crash."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif path.is_dir() and not path.is_symlink():
            _sync_folder(path)
    _sync_folder(folder)


def process_alive(pid_text: str) -> bool:
    """Whether the process whose pid names a folder still runs (signal 0 only asks)."""
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


#: What each command sets aside in the system's temporary folder (``TMPDIR``), as ``khabar-<kind>-<pid>-<8 random>``.
TemporaryKind = Literal["tables", "shards", "pull", "push", "diff", "export", "evaluate"]
#: Only a name a command made: a folder the user named like it (``khabar-notes-2024-x``) is never touched.
_TEMPORARY_NAME = re.compile(rf"khabar-(?:{'|'.join(get_args(TemporaryKind))})-(\d+)-[a-z0-9_]{{8}}")


def temporary_folder(kind: TemporaryKind) -> tempfile.TemporaryDirectory[str]:
    """A private folder in the system's temporary folder, removed when it is let go, and named after this process,
    so that the next command removes it if this one is killed: ``TemporaryDirectory`` removes its folder on the way
    out, which SIGKILL skips (a validation's tables of 3M span results: 132 MB)."""
    parent = Path(tempfile.gettempdir())
    remove_left_behind(parent, _TEMPORARY_NAME)
    return tempfile.TemporaryDirectory(prefix=f"khabar-{kind}-{os.getpid()}-", dir=parent)


def remove_left_behind(parent: Path, name: re.Pattern[str]) -> None:
    """Remove the folders in ``parent`` whose whole name matches ``name`` (its first group the pid of the process
    that made it) when that process is gone and the folder is this user's."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return  # a folder that cannot be listed holds nothing to remove
    for entry in entries:
        made = name.fullmatch(entry.name)
        try:
            ours = entry.is_dir(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue  # gone meanwhile
        if made is not None and ours and not process_alive(made[1]):
            shutil.rmtree(entry.path, ignore_errors=True)


def aside_name(target: Path, role: str) -> Path:
    """The temporary sibling of ``target`` for ``role`` ("building", "previous"), named after this process.

    The pid in the name lets a later run tell a folder left by a killed process from one still being written.
    """
    return target.with_name(f".{target.name}.{role}-{os.getpid()}")


def remove_folder(folder: Path, *, last: str | None = None) -> None:
    """Remove ``folder``; the file ``last`` (the one that says what the folder is) goes after everything else,
    so a removal cut short leaves a folder that can still be recognised, and finished, later."""
    if last is not None:
        for child in folder.iterdir():
            if child.name == last:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


@dataclass
class FolderSwap:
    """``staging`` renamed into ``target``, with the previous ``target`` kept aside until :meth:`finish`.

    ``last``: the file removed last from the previous folder (see :func:`remove_folder`).
    """

    staging: Path
    target: Path
    last: str | None = None
    previous: Path | None = None
    swapped: bool = False

    def swap(self) -> None:
        try:
            if self.target.exists():
                previous = aside_name(self.target, "previous")
                self.target.rename(previous)
                self.previous = previous
            self.staging.rename(self.target)
            self.swapped = True
            _sync_folder(self.target.parent)
        except OSError as exc:
            self.undo()
            raise write_error(exc, self.target) from None

    def undo(self) -> None:
        """Put the previous folder back (and the new one back to its staging name)."""
        if self.swapped:
            self.target.rename(self.staging)
            self.swapped = False
        if self.previous is not None:
            self.previous.rename(self.target)
            self.previous = None

    def finish(self) -> None:
        """Remove the previous folder: the new one is in place for good."""
        if self.previous is not None:
            remove_folder(self.previous, last=self.last)
            self.previous = None


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A fresh empty folder beside ``target``, removed on the way out whatever happens (unless renamed away)."""
    staging = aside_name(target, "building")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if staging.exists():  # a folder of a dead process that had this pid
            shutil.rmtree(staging)
        staging.mkdir()
    except OSError as exc:
        raise write_error(exc, staging) from None
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(staging: Path, target: Path, *, last: str | None = None) -> None:
    """Swap ``staging`` in as ``target`` and remove the previous ``target`` (``last``: see :func:`remove_folder`)."""
    swap = FolderSwap(staging, target, last)
    swap.swap()
    swap.finish()
