"""Where things live in a dataset repository, and what a path may name.

Khabar's commands act on a dataset repository (a clone of this one: the
labeling config, the corpus, the exports, the release config), never on the
place Khabar is installed. The root is, in order: ``khabar --root DIR``, the
``KHABAR_ROOT`` environment variable, or the nearest folder at or above the
current directory that holds the marker files below. Outside one, a command
that needs it stops with a one-line error (exit 2); so does a root whose marker
is there but is not a regular file.

Every path Khabar takes is text (:func:`check_name`): what the command line
names, the root, the temporary and cache folders, every file read. A name that
is not UTF-8 (a byte 0xE9 of Latin-1) is held by Python as a lone surrogate,
which pyarrow, polars and JSON refuse, deep inside the work, as a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from khabar.foundation.errors import KhabarError, not_utf8

#: Files whose presence makes a folder a dataset repository's root.
MARKERS = (Path("annotation") / "labeling_config.xml", Path("dataset") / "release.toml")
ROOT_ENV = "KHABAR_ROOT"


@dataclass(frozen=True)
class Repo:
    """The paths of one dataset repository, all below :attr:`root`."""

    root: Path

    @property
    def labeling_config(self) -> Path:
        return self.root / MARKERS[0]

    @property
    def release_file(self) -> Path:
        return self.root / MARKERS[1]

    @property
    def version_file(self) -> Path:
        return self.root / "dataset" / "VERSION"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "annotation" / "corpus"

    @property
    def documents_file(self) -> Path:
        return self.corpus_dir / "documents.jsonl"

    @property
    def exports_dir(self) -> Path:
        return self.root / "annotation" / "exports"

    @property
    def guidelines_file(self) -> Path:
        return self.root / "annotation" / "GUIDELINES.md"

    @property
    def kb_dir(self) -> Path:
        """The knowledge base, entity links and quote clusters (read by :mod:`khabar.kb.files`)."""
        return self.root / "annotation" / "kb"

    @property
    def wojood_dir(self) -> Path:
        """The Wojood sample (MIT, with its SOURCE.md and LICENSE) that ``khabar train`` learns from."""
        return self.root / "annotation" / "external" / "wojood-sample"

    @property
    def datasheet_file(self) -> Path:
        return self.root / "DATASHEET.md"

    @property
    def studio_dir(self) -> Path:
        return self.root / ".studio"

    @property
    def dist_dir(self) -> Path:
        return self.root / "dist"

    @property
    def inputs(self) -> tuple[Path, ...]:
        """The folders of what the commands read (the annotations and the release's config): no command writes its
        output there, where a later command would read it as an input."""
        return self.root / "annotation", self.root / "dataset"

    def inputs_holding(self, path: Path) -> Path | None:
        """The folder of :attr:`inputs` that ``path`` is, or is inside of (links resolved), if any."""
        resolved = path.resolve()
        return next((folder for folder in self.inputs if resolved == folder or folder in resolved.parents), None)


_chosen: Path | None = None


def use_root(root: Path | None) -> None:
    """Set the root for this process (``khabar --root DIR``); None goes back to the default search."""
    global _chosen
    _chosen = root


def is_root(folder: Path) -> bool:
    """Whether ``folder`` holds both markers, whatever they are (:func:`repo` refuses one that is not a regular file)."""
    return all(os.path.lexists(folder / marker) for marker in MARKERS)


def repo() -> Repo:
    """The dataset repository this command acts on; a :class:`KhabarError` (exit 2) outside one, or in one whose root
    is not text or whose marker is not a regular file (a FIFO or a folder named ``labeling_config.xml`` was said to
    be missing)."""
    named = _chosen or (Path(os.environ[ROOT_ENV]) if os.environ.get(ROOT_ENV) else None)
    if named is not None:
        if not is_root(named):
            missing = ", ".join(str(m) for m in MARKERS if not os.path.lexists(named / m))
            raise KhabarError(f"not a Khabar dataset repository (missing {missing})", file=str(named))
        root = named.resolve()
    else:
        root = _found_root()
    check_name(root)
    for marker in MARKERS:
        check_regular(root / marker)
    return Repo(root)


def _found_root() -> Path:
    """The nearest folder at or above the current directory that holds the markers."""
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:
        raise KhabarError(f"the current directory was deleted: run from a clone, or pass --root DIR or set {ROOT_ENV}") from None
    for folder in (here, *here.parents):
        if is_root(folder):
            return folder
    markers = " and ".join(str(m) for m in MARKERS)
    raise KhabarError(
        f"not inside a Khabar dataset repository (no folder at or above it holds {markers}); "
        f"run from a clone, or pass --root DIR or set {ROOT_ENV}",
        file=str(here),
    )


def check_name(path: str | os.PathLike[str], *, given_by: str | None = None) -> None:
    """Refuse (exit 2) a path that is not text: its bytes not UTF-8, or not ASCII where the file system encoding
    is ASCII (``LC_ALL=C`` with ``PYTHONUTF8=0``). Python holds each byte it cannot decode as a lone surrogate,
    which pyarrow and polars cannot encode (a traceback from inside the build, validation or the report). The
    message shows the name with such a byte as ``\\xe9`` (:meth:`KhabarError.__str__`); ``given_by``: the
    environment variable the path came from (``TMPDIR``), if any."""
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        source = f" (from {given_by})" if given_by else ""
        elsewhere = f" or point {given_by} at another folder" if given_by else ""
        raise KhabarError(f"the name{source} {_not_text(name)}{elsewhere}", file=name) from None


def _not_text(name: str) -> str:
    """Why the name ``name``, which UTF-8 cannot encode, is not text, and what to do."""
    try:
        name.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"is {not_utf8(exc)}: Khabar takes names that are UTF-8 text; rename it"
    except UnicodeEncodeError:  # a lone surrogate no file system gives, from a file's contents (a manifest's path)
        return "holds a lone surrogate, which is not text: rename it"
    return (f"is not ASCII and the file system encoding is {sys.getfilesystemencoding()} (a C or POSIX locale with PYTHONUTF8=0): "
            "run Khabar in a UTF-8 locale (LC_ALL=C.UTF-8) or with PYTHONUTF8=1")


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISREG, "a regular file"),
)


def kind(mode: int) -> str:
    """What a file of ``mode`` (``st_mode``) is, as a message says it."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def what_is(path: Path) -> str | None:
    """What stands at ``path``, as a message says it (``a FIFO (named pipe)``, ``a dangling symlink``); None when
    nothing does."""
    try:
        return kind(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return "a dangling symlink" if path.is_symlink() else None
    except OSError as exc:
        return "a symlink loop" if exc.errno == errno.ELOOP else f"a path that cannot be looked at ({exc.strerror})"


def unreadable(path: Path, exc: OSError) -> KhabarError:
    """The one-line error for ``path`` that could not be opened or looked at (``exc``)."""
    if exc.errno == errno.ELOOP:
        return KhabarError("a symlink loop, not a regular file", file=str(path))
    if exc.errno == errno.ENOENT and path.is_symlink():
        return KhabarError("a dangling symlink, not a regular file", file=str(path))
    return KhabarError(f"cannot read: {exc.strerror}", file=str(path))


def check_regular(path: Path) -> None:
    """Refuse (exit 2) anything at ``path`` that is not a regular file, following symlinks, or whose name is not
    text (:func:`check_name`).

    For corpus records too: a FIFO named documents.jsonl would hang ingest and build.
    """
    check_name(path)
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise unreadable(path, exc) from None
    if not stat.S_ISREG(mode):
        raise KhabarError(f"{kind(mode)}, not a regular file", file=str(path))
