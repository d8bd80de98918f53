"""The ``khabar`` command.

Each stage owns its commands in a ``cli.py`` of its own (``khabar/annotation/cli.py``,
``khabar/studio/cli.py``, ``khabar/validation/cli.py``, ``khabar/dataset/cli.py``,
``khabar/kb/cli.py``, ``khabar/model/cli.py``); :data:`COMMANDS` below is the one
place they are registered. For a command ``import-conll`` the stage module exposes
``configure_import_conll(parser)`` and ``run_import_conll(args) -> int``; no library
module holds a command. Heavy imports stay inside the ``run_`` functions so that
``khabar --help`` stays fast. A :class:`KhabarError` becomes a one-line message and
its exit status, never a traceback.

Results go to stdout; progress, logs and errors to stderr. Modules log through
``logging.getLogger(__name__)``; :func:`khabar.progress.configure_logging` sets the
``khabar`` logger up once per command.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from khabar import __version__
from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError
from khabar.foundation.memory import set_native_defaults, spare_the_exit_its_collections
from khabar.foundation.paths import ROOT_ENV, use_root
from khabar.progress import configure_logging


@dataclass(frozen=True)
class Command:
    """A subcommand: the stage's CLI module that holds ``configure_<name>``/``run_<name>``, and its one-line help."""

    module: str
    help: str


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


#: Why a write to standard output fails (``khabar stats > /dev/full``, a full disk under a redirect, a
#: quota): the commands' own files are written by ``foundation/files.py``, which names them, so an
#: ``OSError`` with one of these and no file name is standard output's.
OUTPUT_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


#: The shell's status for a process ended by SIGTERM (128 + 15).
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that its ``finally`` blocks remove its staging folders and
    temporary files (the default action ended the process there and then: ``khabar export`` left its
    ``.OUT.building-PID`` folder behind). A BaseException: no ``except Exception`` swallows it."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _quiet_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush does not fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    command = named_command(argv)
    set_native_defaults(command)  # before the command's modules import polars and numpy
    spare_the_exit_its_collections()
    args = build_parser(only=command).parse_args(argv)
    use_root(args.root)
    handler = configure_logging(args.command)
    # the handler is the command's only: a caller that runs main() (a test, in its own process) gets its own back
    in_main_thread = threading.current_thread() is threading.main_thread()  # the only thread signals can be set from
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        status = int(args.run(args))
        sys.stdout.flush()  # a closed pipe shows here, not as an unraisable error at exit
        return status
    except KhabarError as exc:
        handler.close()  # the status line goes before the error is printed
        print(f"khabar {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        handler.close()
        print(f"khabar {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        handler.close()
        print(f"khabar {args.command}: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        # the reader went away (`khabar stats | head`): stop quietly, as a Unix filter does
        _quiet_stdout()
        return 141
    except OSError as exc:
        if exc.filename is not None or exc.errno not in OUTPUT_FAILURES:
            raise
        handler.close()
        _quiet_stdout()
        print(f"khabar {args.command}: error: cannot write to standard output: {exc.strerror}", file=sys.stderr)
        return EXIT_UNUSABLE_INPUT
    finally:
        handler.close()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
