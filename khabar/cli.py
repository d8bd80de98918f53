"""The ``khabar`` command.

Each subcommand lives in the module that does its job; that module exposes
``configure(parser)`` and ``run(args) -> int`` and keeps heavy imports inside
``run`` so that ``khabar --help`` stays fast. A :class:`KhabarError` becomes a
one-line message and its exit status, never a traceback.

Results go to stdout; progress, logs and errors to stderr. Modules log through
``logging.getLogger(__name__)``; :func:`configure_logging` sets the ``khabar``
logger up once per command: plain ``khabar COMMAND: message`` lines, and on a
terminal a tqdm status line below them with the steps done and the time spent.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import threading
from pathlib import Path

from khabar import __version__
from khabar.annotation.errors import KhabarError
from khabar.annotation.paths import ROOT_ENV, use_root

#: subcommand → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("khabar.annotation.ingest", "normalise raw pages and write the corpus records"),
    "studio": ("khabar.annotation.studio.cli", "run Label Studio locally: up, down, status, sync, preannotate, pull, push"),
    "validate": ("khabar.validation.cli", "check exports (or a built dataset) against every rule"),
    "build": ("khabar.dataset.build", "build the Hugging Face dataset folder under dist/"),
    "publish": ("khabar.dataset.publish", "upload a build to the Hugging Face Hub and tag it"),
    "diff": ("khabar.dataset.diff", "compare two builds"),
    "stats": ("khabar.dataset.stats", "label counts and surface forms per layer"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="khabar", description="Arabic news span annotations → a Hugging Face dataset.")
    parser.add_argument("--version", action="version", version=f"khabar {__version__}")
    parser.add_argument(
        "--root", type=Path, metavar="DIR",
        help=f"the dataset repository to act on (default: ${ROOT_ENV}, else the nearest folder at or above the current one "
        "holding annotation/labeling_config.xml and dataset/release.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.configure(sub)
        sub.set_defaults(module=module)
    return parser


class TerminalProgress(logging.Handler):
    """Each record as a line above a tqdm status line (steps done, time spent, the last step),
    refreshed twice a second so that a long step still shows its time moving."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.bar = None
        self.command = command
        self.stopped = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        line = self.format(record)
        if self.bar is None:
            self.bar = tqdm(desc=f"khabar {self.command}", unit=" step", file=sys.stderr, leave=False, bar_format="{desc}: {n} step(s), {elapsed} {postfix}")
            threading.Thread(target=self._tick, daemon=True).start()
        self.bar.write(line, file=sys.stderr)
        self.bar.set_postfix_str(record.getMessage()[:60], refresh=False)
        self.bar.update(1)

    def _tick(self) -> None:
        while not self.stopped.wait(0.5):
            self.acquire()
            try:
                if self.bar is not None:
                    self.bar.refresh()
            finally:
                self.release()

    def close(self) -> None:
        self.stopped.set()
        if self.bar is not None:
            self.bar.close()
        super().close()


def configure_logging(command: str) -> logging.Handler:
    """The ``khabar`` logger for this command: INFO and above to stderr, as described above."""
    handler: logging.Handler = TerminalProgress(command) if sys.stderr.isatty() else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"khabar {command}: %(message)s"))
    logger = logging.getLogger("khabar")
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a host application's root handlers do not print these twice
    return handler


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    use_root(args.root)
    handler = configure_logging(args.command)
    try:
        status = int(args.module.run(args))
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
    except BrokenPipeError:
        # the reader went away (`khabar stats | head`): stop quietly, as a Unix filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    finally:
        handler.close()


if __name__ == "__main__":
    sys.exit(main())
