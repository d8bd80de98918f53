"""The ``khabar`` command.

Each stage owns its commands in a ``cli.py`` of its own (``khabar/annotation/cli.py``,
``khabar/studio/cli.py``, ``khabar/validation/cli.py``, ``khabar/dataset/cli.py``,
``khabar/kb/cli.py``, ``khabar/model/cli.py``); :data:`COMMANDS` below is the one
place they are registered. For a command ``import-conll`` the stage module exposes
``configure_import_conll(parser)`` and ``run_import_conll(args) -> int``; no library
module holds a command. Heavy imports stay inside the ``run_`` functions so that
``khabar --help`` stays fast. A :class:`KhabarError` becomes a one-line message and
its exit status, never a traceback; so does SIGINT or SIGTERM, whenever it comes
(:func:`main` handles them first of all, :mod:`khabar.foundation.signals`).

Results go to stdout; progress, logs and errors to stderr. Modules log through
``logging.getLogger(__name__)``; :func:`khabar.progress.configure_logging` sets the
``khabar`` logger up once per command.
"""

from __future__ import annotations

import codecs
import importlib
import io
import os
import signal
import sys
from contextlib import contextmanager

from khabar.foundation import signals

# Nothing else is imported with this module (the rest is, in the functions): until main() handles signals, a signal
# has Python's own effect, and importing this module is what comes before. With argparse, dataclasses, typing, tqdm
# and importlib.metadata (for khabar's version) it took 84 ms of `python -X importtime`, now 4.5 ms; of 40 Ctrl-C
# at random in a command's first 0.3 s on a loaded machine, 22 were a KeyboardInterrupt traceback from it, now 4.
#: typing.TYPE_CHECKING without importing typing: type checkers take it as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence

    from _typeshed import ReadableBuffer


class Command:
    """A subcommand: the stage's CLI module that holds ``configure_<name>``/``run_<name>``, and its one-line help."""

    __slots__ = ("module", "help")

    def __init__(self, module: str, help: str) -> None:
        self.module = module
        self.help = help


#: every subcommand, in the order ``khabar --help`` lists them
COMMANDS: dict[str, Command] = {
    "ingest": Command("khabar.annotation.cli", "normalise raw pages and write the corpus records"),
    "studio": Command("khabar.studio.cli", "run Label Studio locally: up, down, status, sync, preannotate, pull, push"),
    "import-conll": Command("khabar.annotation.cli", "CoNLL nested NER columns → corpus records + a Label Studio export"),
    "validate": Command("khabar.validation.cli", "check exports (or a built dataset) against every rule"),
    "build": Command("khabar.dataset.cli", "build the Hugging Face dataset folder under dist/"),
    "publish": Command("khabar.dataset.cli", "upload a build to the Hugging Face Hub and tag it"),
    "diff": Command("khabar.dataset.cli", "compare two builds"),
    "export": Command("khabar.dataset.cli", "write a build as CoNLL (nested columns), a spaCy DocBin or BRAT standoff"),
    "stats": Command("khabar.dataset.cli", "label counts and surface forms per layer"),
    "link": Command("khabar.kb.cli", "propose entity links and quote clusters for review (annotation/kb/)"),
    "train": Command("khabar.model.cli", "train the entity model (a CRF per nesting level) on the Wojood sample and the gold"),
    "predict": Command("khabar.model.cli", "write a Label Studio import file with the model's predictions for corpus records"),
    "evaluate": Command("khabar.model.cli", "precision, recall and F1 of the pre-annotator on held-out text"),
}


def handlers(name: str) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    """``configure_<name>`` and ``run_<name>`` of the command ``name`` (a dash in the name is an underscore)."""
    module = importlib.import_module(COMMANDS[name].module)
    suffix = name.replace("-", "_")
    return getattr(module, f"configure_{suffix}"), getattr(module, f"run_{suffix}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``khabar`` parser; with ``only``, that command alone is configured (the others are listed, for
    ``khabar --help``), so a command imports its own stage's CLI module and no other's: importing all six
    took 0.07 s of CPU, a cost every command paid."""
    import argparse
    from pathlib import Path

    from khabar import __version__
    from khabar.foundation.paths import ROOT_ENV

    parser = argparse.ArgumentParser(prog="khabar", description="Arabic news span annotations → a Hugging Face dataset.")
    parser.add_argument("--version", action="version", version=f"khabar {__version__}")
    parser.add_argument(
        "--root", type=Path, metavar="DIR",
        help=f"the dataset repository to act on (default: ${ROOT_ENV}, else the nearest folder at or above the current one "
        "holding annotation/labeling_config.xml and dataset/release.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        if only in (None, name):
            configure, run = handlers(name)
            configure(sub)
            sub.set_defaults(run=run)
    return parser


def named_command(argv: Sequence[str]) -> str | None:
    """The command ``argv`` runs, when it names one after nothing but ``--root DIR``; else None (``--help``,
    ``--version``, a typo: the whole parser answers those)."""
    rest = list(argv)
    while rest and (rest[0] == "--root" or rest[0].startswith("--root=")):
        rest = rest[2:] if rest[0] == "--root" else rest[1:]
    return rest[0] if rest and rest[0] in COMMANDS else None


class StandardOutputError(OSError):
    """A write to standard output that failed (``khabar stats > /dev/full``, a full disk under a redirect, a quota):
    an ``OSError`` of a write names no file, so standard output says that the failure is its own."""


class _StandardOutput(io.FileIO):
    """Standard output's descriptor, whose failed writes raise :class:`StandardOutputError` (a closed pipe stays a
    ``BrokenPipeError``: the reader went away)."""

    def write(self, data: ReadableBuffer, /) -> int:
        try:
            return super().write(data)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StandardOutputError(exc.errno, exc.strerror) from None


def _else_escaped(errors: str) -> str:
    """The name of an error handler that does what ``errors`` does and writes a backslash escape where it would raise,
    as Python writes standard error: Arabic text or a folder's name on a standard output whose encoding cannot hold
    it (``PYTHONIOENCODING=ascii``, a Latin-1 terminal) was a traceback once the command's work was done, and the
    rest of the report lost. ``surrogateescape`` still writes back the bytes of a name that is not UTF-8."""
    own = codecs.lookup_error(errors)

    def handle(error: UnicodeError) -> tuple[str | bytes, int]:
        if not isinstance(error, UnicodeEncodeError):
            raise error
        first = UnicodeEncodeError(error.encoding, error.object, error.start, error.start + 1, error.reason)  # each character its own way
        try:
            return own(first)
        except UnicodeEncodeError:
            return codecs.backslashreplace_errors(first)

    name = f"khabar-{errors}-else-backslashreplace"
    codecs.register_error(name, handle)
    return name


@contextmanager
def _named_standard_output() -> Iterator[None]:
    """``sys.stdout`` writing through :class:`_StandardOutput` while a command runs, so that a failed write to it is
    told from a failed write to a file no command named (both are an ``OSError`` without a file name), and writing
    what its encoding cannot hold as escapes (:func:`_else_escaped`). A standard output that is no file (a test
    capturing it) is left as it is."""
    original = sys.stdout
    try:
        descriptor = original.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    original.flush()
    named = io.TextIOWrapper(
        io.BufferedWriter(_StandardOutput(descriptor, "w", closefd=False)),
        encoding=original.encoding, errors=_else_escaped(original.errors or "strict"), line_buffering=bool(original.line_buffering),
    )
    sys.stdout = named
    try:
        yield
    finally:
        sys.stdout = original
        try:
            named.flush()  # what a failed command had printed goes out before its error
        except OSError:  # the error being reported, or one lost with the command that failed
            _quiet_stdout()
            named.flush()


#: What a command ended by a signal says, and its exit status: the shell's for a process a signal ended (128 + its number).
ENDINGS: dict[int, tuple[str, int]] = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    with signals.handled():  # first of all: from here on, whenever a signal comes, the command ends in the one line below
        name = "khabar"  # whose the line is: the command's, once it is known
        try:
            argv = sys.argv[1:] if argv is None else argv
            command = named_command(argv)
            if command is not None:
                name = f"khabar {command}"
            return run_command(argv, command)
        except BaseException as exc:
            signum = signals.ending(exc)
            if signum is None:
                raise
            word, status = ENDINGS[signum]
            print(f"{name}: {word}", file=sys.stderr)
            return status


def run_command(argv: list[str], command: str | None) -> int:
    """Run the command ``argv`` names (``command``, if :func:`named_command` found it): its result, or its failure as
    one line and an exit status; a signal's exception, whatever a library made of it, is left to :func:`main`. Everything
    a command needs is imported here, not with this module: until :func:`main` handles signals, a signal has Python's
    own effect (the traceback of a KeyboardInterrupt, a silent end by SIGTERM), and importing this module is all that
    comes before it."""
    from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError
    from khabar.foundation.memory import set_native_defaults, spare_the_exit_its_collections
    from khabar.foundation.paths import check_name, use_root
    from khabar.progress import configure_logging

    set_native_defaults(command)  # before the command's modules import polars and numpy
    spare_the_exit_its_collections()
    with _named_standard_output():  # --help and --version print there: escaped as a command's results are (`→` on an ASCII one was a traceback)
        args = build_parser(only=command).parse_args(argv)
    use_root(args.root)
    handler = configure_logging(args.command)
    try:
        for value in vars(args).values():  # every path (and name) given: text, or refused before the command starts
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str | os.PathLike):
                    check_name(item)
        with signals.checked(), _named_standard_output():
            status = int(args.run(args))
            sys.stdout.flush()  # a closed pipe shows here, not as an unraisable error at exit
        return status
    except KhabarError as exc:
        handler.close()  # the status line goes before the error is printed
        print(f"khabar {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except BrokenPipeError:
        # the reader went away (`khabar stats | head`): stop quietly, as a Unix filter does
        _quiet_stdout()
        return 141
    except StandardOutputError as exc:
        handler.close()
        _quiet_stdout()
        print(f"khabar {args.command}: error: cannot write to standard output: {exc.strerror}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    except OSError as exc:  # a read or write no command turned into its own message: still one line, naming what it can
        from khabar.foundation.files import os_reason  # here: every command's start-up (and --help) spares its import

        handler.close()
        problem = KhabarError(os_reason(exc), file=None if exc.filename is None else str(exc.filename))
        print(f"khabar {args.command}: error: {problem}", file=sys.stderr)
        return problem.exit_status
    finally:
        handler.close()  # before main() prints a signal's line: the status line goes first


if __name__ == "__main__":
    sys.exit(main())
