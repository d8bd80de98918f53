"""The one place that writes files and swaps folders.

A file is written beside its destination under a temporary name, flushed to
disk, given the mode of the file it replaces (0644 for a new one) and renamed
over the destination; the folder is then synced so the rename itself survives
a crash. A symbolic link is followed: its target is replaced and the link stays
a link. Until the rename, the destination is untouched, so a failure (a full
disk, a kill) leaves the old bytes and no temporary file.

A folder is replaced the same way: built under a temporary name beside it, then
two renames (the old one aside, the new one in) and the old one removed. A folder
that cannot be removed whole (one of its folders read-only) is refused before
anything moves, and SIGINT and SIGTERM wait while things are put in place
(:func:`khabar.foundation.signals.held`): a command stopped then stops with all
of them in place, never some.

Every ``OSError`` becomes a :class:`KhabarError` naming the file (exit 2). Nothing is put in
place once the command got SIGINT or SIGTERM, even if a library swallowed its exception
(:func:`khabar.foundation.signals.check`, before each rename that commits).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final, Literal, get_args

from khabar.foundation import signals
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import check_name, repo, what_is

NEW_FILE_MODE = 0o644


def os_reason(exc: OSError) -> str:
    """What went wrong, in one line: the system's words for it, else the first line of the error (pyarrow's I/O
    errors carry no ``strerror``), else its class's name."""
    return exc.strerror or (str(exc).splitlines() or [exc.__class__.__name__])[0]


def write_error(exc: OSError, path: Path) -> KhabarError:
    """A one-line error for an ``OSError`` met while writing ``path`` (a full disk, a read-only folder), naming the
    file the system names, but ``path`` for the hidden file :func:`stage_file` writes beside it (``--repair`` in a
    read-only folder named ``.x.json.1792-90ck1abf.tmp``, a file the user never saw)."""
    named = Path(exc.filename) if exc.filename else path
    if named.parent == path.parent and _staged_name(path).fullmatch(named.name):
        named = path
    return KhabarError(f"cannot write: {os_reason(exc)}; nothing was changed", file=str(named))


def check_folders_above(path: Path) -> None:
    """Refuse (exit 2) a ``path`` that cannot be made because what stands above it is not a folder: a write below
    ``/dev/null`` failed with "File exists" (``mkdir``'s word for a file where a folder was wanted) or "Not a
    directory", naming neither the file nor why."""
    for above in path.parents:
        if above.is_dir():
            return
        if os.path.lexists(above):  # else not there yet: a folder the write makes, unless what stands further up is no folder
            raise KhabarError(f"cannot write it: {above} is {what_is(above)}, not a folder", file=str(path))


def check_output(path: Path, option: str) -> None:
    """Refuse (exit 2), before any work, a command's output ``path`` (named by ``option``) that no write can make
    (:func:`check_folders_above`), or that lies in the repository's inputs when the command runs in one
    (:attr:`khabar.foundation.paths.Repo.inputs`), where later commands would read it as one of them: ``build --out
    annotation/exports/evil.json`` made a folder that every ``khabar validate`` then refused as an export."""
    check_folders_above(path)
    target = destination(path)  # a loop of links refused, which resolving it later was a RuntimeError traceback
    try:
        repository = repo()
    except KhabarError:  # outside a repository (an export of a downloaded build): no inputs to keep apart
        return
    if (inputs := repository.inputs_holding(target)) is not None:
        raise KhabarError(
            f"refusing to write {option} inside the repository's inputs ({inputs.relative_to(repository.root)}/), where later commands "
            f"would read it as one; name a path outside {' and '.join(f'{folder.name}/' for folder in repository.inputs)}, e.g. under dist/",
            file=str(path),
        )


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


class _Anything(Enum):
    ANYTHING = "anything"


#: What a staged file may be put in place over by default: whatever stands at its target (an output the command
#: made, a file of its own); else ``over`` is what the command found there, the sha256 of the bytes it read, or None
#: where it found no file, and nothing else is replaced.
ANYTHING: Final = _Anything.ANYTHING
Found = str | None | _Anything


@dataclass
class StagedFile:
    """New bytes for ``target``, written and synced under ``temporary`` beside it, not yet in place. One neither
    committed nor discarded (a signal's exception raised between the staging and the commit, before any ``finally`` of
    the caller's holds it) is discarded when it is collected, or at the latest when the process exits: ``link --write``
    stopped there left the whole new file beside its target."""

    target: Path
    temporary: Path
    #: what the caller found at the target (:data:`ANYTHING`): the commit is refused once the target is something else
    over: Found = ANYTHING
    made: tuple[Path, ...] = ()  # the folders made to hold it, innermost first: a discarded file leaves none of them
    #: a descriptor holding the temporary file's lock until it is renamed or discarded (see :func:`left_behind`)
    held: int | None = None
    #: renamed over the target: there is nothing left to discard
    placed: bool = False

    def __post_init__(self) -> None:
        self._dropped = weakref.finalize(self, _drop_staged, self.temporary, self.held, self.made)

    def commit(self) -> None:
        """Rename the new bytes over the target; refused (and discarded) if the target changed since it was read (or
        was made, when the caller found none), or the command got a signal, before or while it compares them."""
        try:
            signals.check()
            self.check()
            os.replace(self.temporary, self.target)
            self.placed = True
        except OSError as exc:
            self.discard()
            raise write_error(exc, self.target) from None
        except BaseException:
            self.discard()
            raise
        self._let_go()
        try:
            _sync_folder(self.target.parent)
        except OSError as exc:
            raise KhabarError(f"written, but the folder could not be flushed to disk: {exc.strerror}", file=str(self.target)) from None

    def check(self) -> None:
        """Refuse a target that is no longer what the caller found there (``over``)."""
        if self.over is ANYTHING:
            return
        try:  # any error but a missing file is the commit's: the new bytes are discarded
            current: str | None = _file_sha256(self.target)
        except FileNotFoundError:
            current = None
        if current != self.over:
            happened = "made on disk since the command found none there" if self.over is None else "changed on disk since it was read"
            raise KhabarError(f"{happened}; not written (run the command again)", file=str(self.target))

    def discard(self) -> None:
        """Remove the new bytes, and the folders made for them, unless they are in place."""
        if self.placed:
            return
        self.temporary.unlink(missing_ok=True)
        self._let_go()
        remove_made(self.made)

    def _let_go(self) -> None:
        self._dropped.detach()
        if self.held is not None:
            os.close(self.held)
            self.held = None


def _drop_staged(temporary: Path, held: int | None, made: tuple[Path, ...]) -> None:
    """Discard a staged file no one committed or discarded (see :class:`StagedFile`)."""
    temporary.unlink(missing_ok=True)
    if held is not None:
        os.close(held)
    remove_made(made)


#: The end of a file's name while it is written beside its target: ``.<target's name>.<pid>-<8 random>.tmp``.
STAGED_SUFFIX = ".tmp"


def _staged_name(target: Path) -> re.Pattern[str]:
    """The names :func:`stage_file` gives ``target``'s new bytes (a killed command's are removed by the next write)."""
    return re.compile(rf"\.{re.escape(target.name)}\.(\d+)-[a-z0-9_]{{8}}{re.escape(STAGED_SUFFIX)}")


def stage_file(
    path: Path, data: bytes | str | Iterable[str] | Iterable[bytes], *, over: Found = ANYTHING, mode: int | None = None,
    folder_mode: int = 0o777,
) -> StagedFile:
    """Write ``data`` beside ``path`` (the target of a link) and sync it; :meth:`StagedFile.commit` puts it in place.
    The new bytes are held (see :func:`left_behind`) until then; what a killed command left beside ``path`` (an
    export's whole size, for ``khabar studio pull``) the next write of ``path`` removes.

    ``data``: bytes, text (UTF-8), or either a piece at a time (a file written as it is made: whatever the pieces
    raise, nothing is left). ``over``: what the caller found at ``path``, the sha256 of the bytes it read, or None
    where it found no file; the commit is refused once the file is no longer that (an edit saved meanwhile, or a file
    made meanwhile, is someone's). ``mode``: for a file that must have it whatever it replaces (0600 for a secret);
    ``folder_mode``: for the folder made to hold it, if one is (0700 for a secret's).
    """
    target = destination(path)
    pieces = [data] if isinstance(data, (bytes, str)) else data
    check_folders_above(target)
    made = folders_to_make(target)
    try:
        target.parent.mkdir(mode=folder_mode, parents=True, exist_ok=True)
        if mode is None:
            mode = target.stat().st_mode & 0o7777 if target.exists() else NEW_FILE_MODE
        remove_left_behind(target.parent, _staged_name(target), files=True)
        while True:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}-", suffix=STAGED_SUFFIX)
            if _holds(fd, name):
                break
            os.close(fd)  # another command took it for a killed one's in the instant before the lock, and removes it
    except OSError as exc:
        raise write_error(exc, target) from None
    staged = StagedFile(target, Path(name), over, made, held=fd)
    try:
        with os.fdopen(os.dup(fd), "wb") as handle:
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


def write_atomic(
    path: Path, data: bytes | str | Iterable[str] | Iterable[bytes], *, over: Found = ANYTHING, mode: int | None = None,
) -> None:
    """Replace ``path`` (or the target of the link ``path``) by ``data`` (str: UTF-8) in one rename (``over``, ``mode``:
    as :func:`stage_file` takes them)."""
    stage_file(path, data, over=over, mode=mode).commit()


def commit_together(files: Sequence[StagedFile]) -> None:
    """Put ``files`` in place with SIGINT and SIGTERM held, each checked (:meth:`StagedFile.check`) before any is: one
    refused refuses them all, rather than leave those before it in place (a pull's sync state refused once its export
    was, the file and its state out of step). Those not in place are discarded whatever happens."""
    try:
        with signals.held():
            for file in files:
                try:
                    file.check()
                except OSError as exc:
                    raise write_error(exc, file.target) from None
            for file in files:
                file.commit()
    finally:
        for file in files:
            file.discard()


def write_new_files(files: Sequence[tuple[Path, Callable[[], bytes | str | Iterable[str]]]]) -> None:
    """Write files that do not exist yet (the caller checked; one made since is not replaced: ``stage_file``'s
    ``over=None``), all of them or none, whatever stops the command.

    Each is staged in turn (:func:`stage_file`; its data made only then, so that one can be made from what the one
    before it read), then all are renamed into place with SIGINT and SIGTERM held: a rename that fails, or one of
    those signals come meanwhile, removes those in place before the signal is let through. Whatever was not put in
    place is then discarded, with the folders made for it. One rename after another, with no signal held, left an
    interrupted ``khabar import-conll`` with its export and without its corpus records.
    """
    staged: list[StagedFile] = []
    try:
        for path, data in files:
            staged.append(stage_file(path, data(), over=None))
        with signals.held() as arrived:
            try:
                for file in staged:
                    file.commit()
            finally:
                if arrived() or not all(file.placed for file in staged):
                    for file in staged:
                        if file.placed:  # new: nothing else stood there
                            file.target.unlink(missing_ok=True)
                            file.placed = False
    finally:
        for file in reversed(staged):  # the folders a file was the first to need go with the last of them
            file.discard()


def folders_to_make(path: Path) -> tuple[Path, ...]:
    """The folders that do not exist yet above ``path``, innermost first: those a write of ``path`` makes."""
    return tuple(folder for folder in [path.parent, *path.parent.parents] if not folder.exists())


def remove_made(folders: tuple[Path, ...]) -> None:
    """Remove the folders a write made (innermost first: :func:`folders_to_make`) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # something else has since been put there: it is not ours alone
            break


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


# -- which folders and files a running command holds -------------------------------------
#
# A command holds an exclusive flock(2) on each folder it works in (a temporary folder, a staging folder, a folder it
# moved aside) and each file it writes beside its target, from the moment it makes it until it is done with it, and
# names it after its pid. The kernel lets the lock go when the process ends, however it ends. A folder or file is a
# killed command's when its lock can be taken and its pid is this process's or no running process's here. The lock
# alone tells a command in another pid namespace (a container sharing the folder, whose pid this process cannot
# see: its folder was removed under it). The pid alone did not tell a pid taken again: in a container every run is
# pid 1, and a killed build's folder aside named after it was never put back. The pid still keeps a folder whose pid
# another process has: a command of an earlier Khabar holds no lock. Such a folder waits for that process to end.


def _process_runs(pid: str) -> bool:
    """Whether a process with this pid runs here (signal 0 only asks)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _take(path: Path | str, *, own: bool) -> int | None:
    """A descriptor of the folder or file ``path`` holding its lock; None when a running process holds it, or ``path``
    is gone, is a symbolic link, or is no longer the one the lock was taken on (removed or replaced meanwhile).

    ``own``: a folder this command makes or moves aside. On a filesystem without locks it goes on without the lock
    (the descriptor is returned), while a folder judged for a killed command's gets None there: it is kept.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO put there does not stop it
    except FileNotFoundError:
        return None
    except OSError:
        if own:
            raise  # its own folder: a descriptor too many, say
        return None
    if _holds(descriptor, path, own=own):
        return descriptor
    os.close(descriptor)
    return None


def _holds(descriptor: int, path: Path | str, *, own: bool = True) -> bool:
    """Take the lock of the open ``descriptor`` of ``path``: whether it holds it now, and ``path`` is still that file
    or folder (``own``: see :func:`_take`)."""
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held, there = os.fstat(descriptor), os.stat(path, follow_symlinks=False)
        return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
    except BlockingIOError:
        return False  # a running process holds it
    except OSError as exc:
        return own and exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF)  # no locks here


@contextmanager
def left_behind(path: Path, pid: str) -> Iterator[bool]:
    """Whether the folder or file ``path``, named after the process ``pid``, was left by a command that ended (see
    above), its lock held meanwhile, so that two commands cleaning up at once do not both act on it."""
    descriptor = _take(path, own=False)
    try:
        yield descriptor is not None and (pid == str(os.getpid()) or not _process_runs(pid))
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _remove_held(name: str, descriptor: int) -> None:
    shutil.rmtree(name, ignore_errors=True)
    os.close(descriptor)


class HeldFolder:
    """A new private folder in ``parent`` whose name starts with ``prefix``, held (see above) until it is removed:
    by :meth:`cleanup`, at the end of a ``with`` block, or when it is collected, as ``tempfile.TemporaryDirectory``
    removes its own."""

    def __init__(self, prefix: str, parent: Path) -> None:
        while True:
            self.name = tempfile.mkdtemp(prefix=prefix, dir=parent)
            descriptor = _take(self.name, own=True)
            if descriptor is not None:
                break  # else another command took it for a killed one's in the instant before the lock, and removes it
        self._finalizer = weakref.finalize(self, _remove_held, self.name, descriptor)

    def cleanup(self) -> None:
        self._finalizer()

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()


#: What each command sets aside in the system's temporary folder (``TMPDIR``), as ``khabar-<kind>-<pid>-<8 random>``.
TemporaryKind = Literal["tables", "shards", "pull", "push", "diff", "export", "evaluate"]
#: Only a name a command made: a folder the user named like it (``khabar-notes-2024-x``) is never touched.
_TEMPORARY_NAME = re.compile(rf"khabar-(?:{'|'.join(get_args(TemporaryKind))})-(\d+)-[a-z0-9_]{{8}}")


def temporary_parent() -> Path:
    """The system's temporary folder (``TMPDIR``), its name checked: pyarrow writes there."""
    parent = Path(tempfile.gettempdir())
    check_name(parent, given_by="TMPDIR")
    return parent


def temporary_folder(kind: TemporaryKind) -> HeldFolder:
    """A private folder in the system's temporary folder, removed when it is let go; the next command removes it if
    this one is killed (a validation's tables of 3M span results: 132 MB), which ``TemporaryDirectory``'s removal on
    the way out does not survive."""
    parent = temporary_parent()
    remove_left_behind(parent, _TEMPORARY_NAME)
    return HeldFolder(f"khabar-{kind}-{os.getpid()}-", parent)


def remove_left_behind(parent: Path, name: re.Pattern[str], *, files: bool = False) -> list[str]:
    """Remove the folders (``files``: the regular files) in ``parent`` whose whole name matches ``name`` (its first
    group the pid of the process that made it), when they are this user's and were left by a command that ended
    (see :func:`left_behind`); the names of those removed."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed  # a folder that cannot be listed holds nothing to remove
    for entry in entries:
        made = name.fullmatch(entry.name)
        if made is None:
            continue
        try:
            kind = entry.is_file(follow_symlinks=False) if files else entry.is_dir(follow_symlinks=False)
            ours = kind and entry.stat(follow_symlinks=False).st_uid == os.getuid()
        except OSError:
            continue  # gone meanwhile
        if not ours:
            continue
        with left_behind(Path(entry.path), made[1]) as left:
            if not left:
                continue
            if files:
                with suppress(OSError):  # as rmtree's ignore_errors: what cannot be removed waits for the next command
                    os.unlink(entry.path)
            else:
                shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def remove_left_staging(target: Path) -> list[str]:
    """Remove the staging folders of ``target`` (:func:`staging_folder`) that killed commands left beside it: a
    build's, the store's, a model's or an export's alike (only the build swept its own: a validation killed while it
    saved left the kept tables, 132 MB at 3M span results, in the cache for good); the names of those removed."""
    return remove_left_behind(target.parent, _aside_names(target, "building"))


def aside_name(target: Path, role: str) -> Path:
    """The temporary sibling of ``target`` for ``role`` ("building", "previous"), named after this process: with the
    lock its maker holds, the pid lets a later run tell a folder left by a killed process from one still being
    written (see :func:`left_behind`)."""
    return target.with_name(f".{target.name}.{role}-{os.getpid()}")


def _aside_names(target: Path, role: str) -> re.Pattern[str]:
    """The names :func:`aside_name` gives ``target``'s siblings for ``role``, whatever process made them (the pid the
    first group)."""
    return re.compile(rf"\.{re.escape(target.name)}\.{re.escape(role)}-(\d+)")


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
    #: a descriptor holding the previous folder from before it is moved aside until it is put back or removed, so
    #: that no other command takes it for a killed command's and puts it back meanwhile
    held: int | None = None

    def swap(self) -> None:
        signals.check()  # nothing moved yet: the staging folder goes with the command's clean-up
        try:
            if self.target.is_dir() and not self.target.is_symlink():
                if read_only := _read_only_folder(self.target):
                    raise KhabarError(f"cannot replace it: {read_only} is read-only, so the previous folder could not be removed; nothing was changed",
                                      file=str(self.target))
                self.held = _take(self.target, own=True)
                if self.held is None:
                    raise KhabarError("another command is replacing this folder now: try again once it is done", file=str(self.target))
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
        self._let_go()

    def finish(self) -> None:
        """Remove the previous folder: the new one is in place for good (what could not be removed is said, in one line
        that says the new one is in place: :meth:`swap` refused a read-only one, so only a change since can fail it)."""
        previous, self.previous = self.previous, None
        try:
            if previous is not None:
                remove_folder(previous, last=self.last)
        except OSError as exc:
            raise KhabarError(f"the new folder is in place, but the previous one could not be removed ({os_reason(exc)}): it is left in {previous}",
                              file=str(self.target)) from None
        finally:
            self._let_go()

    def _let_go(self) -> None:
        if self.held is not None:
            os.close(self.held)
            self.held = None


def _read_only_folder(folder: Path) -> str | None:
    """The first folder in ``folder`` (itself included, as a path relative to its parent) whose entries this process
    may not remove (a folder made read-only, or immutable): a swap that removed the previous folder a file at a time
    stopped there, with the new folder in place and the previous one half removed."""
    for parent, _, _ in os.walk(folder):
        if not os.access(parent, os.W_OK | os.X_OK):
            return Path(parent).relative_to(folder.parent).as_posix()
    return None


@contextmanager
def staging_folder(target: Path) -> Iterator[Path]:
    """A fresh empty folder beside ``target``, removed on the way out whatever happens (unless renamed away), with
    the folders made to hold it when ``target`` is not in place then; the ones a killed command left beside
    ``target`` are removed first (:func:`remove_left_staging`)."""
    staging = aside_name(target, "building")
    check_folders_above(target)
    made = folders_to_make(staging)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_left_staging(target)  # this pid's too: a killed process had it before
        if staging.is_dir() and not staging.is_symlink():  # what the sweep kept: a running command holds it
            raise KhabarError("another command is writing this folder now (a process in another container?): try again once it is done", file=str(staging))
        staging.mkdir()  # anything else standing there: refused as it was
        held = _take(staging, own=True)
    except OSError as exc:
        remove_made(made)
        raise write_error(exc, staging) from None
    if held is None:  # another command took it for a killed one's in the instant before the lock
        remove_made(made)
        raise KhabarError("another command removed this folder as it was made: try again", file=str(staging))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(held)
        if not target.exists():  # an interrupted `khabar export --out a/b/out` left a/b
            remove_made(made)


def put_in_place(staging: Path, target: Path) -> None:
    """Rename the finished folder ``staging`` to ``target``, which the command found absent: unlike
    :func:`replace_folder`, a folder that appeared there meanwhile is not this command's to move aside (the rename
    fails, as it does over any folder that is not empty)."""
    signals.check()
    staging.rename(target)


def replace_folder(staging: Path, target: Path, *, last: str | None = None) -> None:
    """Swap ``staging`` in as ``target`` and remove the previous ``target`` (``last``: see :func:`remove_folder`),
    and any earlier one a killed command had moved aside (:func:`left_behind`): the new one supersedes it too."""
    with signals.held():
        swap = FolderSwap(staging, target, last)
        swap.swap()
        swap.finish()
        remove_left_behind(target.parent, _aside_names(target, "previous"))
