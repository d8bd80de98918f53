"""The ``khabar`` command.

Each subcommand lives in the module that does its job; that module exposes
``configure(parser)`` and ``run(args) -> int`` and keeps heavy imports inside
``run`` so that ``khabar --help`` stays fast. A :class:`KhabarError` becomes a
one-line message and its exit status, never a traceback.

Results go to stdout; progress, logs and errors to stderr. Modules log through
``logging.getLogger(__name__)``; :func:`khabar.progress.configure_logging` sets the
``khabar`` logger up once per command.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from khabar import __version__
from khabar.annotation.errors import KhabarError
from khabar.annotation.paths import ROOT_ENV, use_root
from khabar.progress import configure_logging

#: subcommand → (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("khabar.annotation.ingest", "normalise raw pages and write the corpus records"),
    "studio": ("khabar.annotation.studio.cli", "run Label Studio locally: up, down, status, sync, preannotate, pull, push"),
    "import-conll": ("khabar.annotation.conll_import", "CoNLL nested NER columns → corpus records + a Label Studio export"),
    "validate": ("khabar.validation.cli", "check exports (or a built dataset) against every rule"),
    "build": ("khabar.dataset.cli", "build the Hugging Face dataset folder under dist/"),
    "publish": ("khabar.dataset.publish", "upload a build to the Hugging Face Hub and tag it"),
    "diff": ("khabar.dataset.diff", "compare two builds"),
    "export": ("khabar.dataset.export", "write a build as CoNLL (nested columns), a spaCy DocBin or BRAT standoff"),
    "stats": ("khabar.dataset.stats", "label counts and surface forms per layer"),
    "link": ("khabar.kb.cli", "propose entity links and quote clusters for review (annotation/kb/)"),
    "train": ("khabar.model.train", "train the entity model (a CRF per nesting level) on the Wojood sample and the gold"),
    "predict": ("khabar.model.predict", "write a Label Studio import file with the model's predictions for corpus records"),
    "evaluate": ("khabar.model.evaluate", "precision, recall and F1 of the pre-annotator on held-out text"),
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
