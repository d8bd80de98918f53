"""``khabar studio``: up, down, status, sync, preannotate, pull, push."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

    from khabar.studio.server import StudioPaths

LS_VERSION_HINT = "Label Studio 1.23.2"
#: the project title when --project is not given; the export is then khabar.json
DEFAULT_PROJECT = "khabar"


def _add_studio_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--studio-dir", type=Path, help="local state: data, credentials, log (default: .studio in the repository)"
    )


def _add_target(parser: argparse.ArgumentParser) -> None:
    _add_studio_dir(parser)
    parser.add_argument(
        "--url", help="a team's Label Studio instead of the local one (API key from $LABEL_STUDIO_API_KEY)"
    )
    parser.add_argument("--project", default=DEFAULT_PROJECT, help=f"project title (default {DEFAULT_PROJECT}); the export is <project>.json")


def configure_studio(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    up = actions.add_parser("up", help=f"start the local {LS_VERSION_HINT} and wait until it answers")
    _add_studio_dir(up)
    up.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    up.add_argument("--ml-port", type=int, default=9090, help="port of the ML backend on 127.0.0.1 (default 9090)")

    down = actions.add_parser("down", help="stop the local Label Studio")
    _add_studio_dir(down)

    status = actions.add_parser("status", help="say whether the local Label Studio runs and where")
    _add_studio_dir(status)

    sync = actions.add_parser(
        "sync", help="create/update the project, import the corpus documents it lacks, load the committed export into it"
    )
    _add_target(sync)
    sync.add_argument("--documents", type=Path, help="corpus records (default: annotation/corpus/documents.jsonl)")

    pre = actions.add_parser(
        "preannotate", help="add predictions to every task: the trained entity model's (khabar train), else the rules' with the gazetteer"
    )
    _add_target(pre)
    pre.add_argument("--exports", type=Path, help="an export or folder of them the gazetteer learns from (default: annotation/exports)")

    pull = actions.add_parser("pull", help="merge the project's work into annotation/exports/<project>.json")
    _add_target(pull)
    pull.add_argument("--out", type=Path, help="the export file to merge into (default annotation/exports/<project>.json)")
    _add_sync_choices(pull, deleted_on="the server")

    push = actions.add_parser("push", help="send the export's annotations to the project (all or nothing)")
    _add_target(push)
    push.add_argument("--file", type=Path, help="export to push (default annotation/exports/<project>.json)")
    push.add_argument("--documents", type=Path, help="corpus records it is checked against (default: annotation/corpus/documents.jsonl)")
    _add_sync_choices(push, deleted_on="the file")


def _add_sync_choices(parser: argparse.ArgumentParser, *, deleted_on: str) -> None:
    parser.add_argument(
        "--accept-deletions", action="store_true",
        help=f"apply annotations (or regions) deleted in {deleted_on} since the last sync instead of refusing",
    )  # fmt: skip
    parser.add_argument(
        "--keep", choices=("file", "server"),
        help="settle conflicts (an annotation changed on both sides) by keeping this side's version",
    )  # fmt: skip


def _client(args: argparse.Namespace):
    from khabar.studio.connection import connect, local_target, remote_target
    from khabar.studio.server import StudioPaths

    target = remote_target(args.url) if args.url else local_target(StudioPaths(args.studio_dir))
    return connect(target)


def _check_config(client: LabelStudio, project_id: int) -> None:
    """Pull and push stop (exit 2) when the project's labeling config is not the repository's."""
    from khabar.annotation.scheme import read_config
    from khabar.studio.drift import check_config

    config = repo().labeling_config
    check_config(client, project_id, read_config(config), source=str(config))


def _load_the_record(client: LabelStudio, args: argparse.Namespace, project_id: int, paths: StudioPaths, documents: Path) -> None:
    """Sync ends by pushing the committed export, so nobody starts labelling a project that lacks it."""
    from khabar.studio.push import push_file

    committed = repo().exports_dir / f"{args.project}.json"
    if not committed.is_file():
        print(f"no committed export {committed}: the project starts from the corpus alone")
        return
    print(f"loading the committed export {committed} into the project")
    push_file(client, project_id, committed, paths.pseudonyms_file, documents_file=documents)


#: progress goes to stderr through this logger; what to do next, status and summaries go to stdout
_log = logging.getLogger(__name__)


def run_studio(args: argparse.Namespace) -> int:
    """Run one ``khabar studio`` action: the local server's own, else one on a project of the target."""
    from khabar.foundation.memory import arrow_on_the_system_allocator
    from khabar.studio import server

    if args.studio_dir is None:
        args.studio_dir = repo().studio_dir
    paths = server.StudioPaths(args.studio_dir)
    local = _SERVER_ACTIONS.get(args.action)
    if local is not None:
        return local(args, paths)
    arrow_on_the_system_allocator()  # every action on a project reads or validates an export
    client = _client(args)
    if args.action == "sync":
        return _sync(client, args, paths)
    from khabar.studio.project import require_project

    project_id = require_project(client, args.project)
    on_project = _PROJECT_ACTIONS.get(args.action)
    if on_project is None:
        raise KhabarError(f"unknown action {args.action!r}")
    return on_project(client, args, project_id, paths)


def _up(args: argparse.Namespace, paths: StudioPaths) -> int:
    """Start the local Label Studio and its ML backend, then say how to log in and what to do next."""
    from khabar.studio import ml_backend, server

    running = server.start_server(paths, args.port, progress=_log.info)
    credentials = server.read_credentials(paths)
    assert credentials is not None
    print(f"open {running.url}/ and log in as {credentials.username}")
    print(f"the password is the \"password\" field of {paths.credentials_file} (readable only by you)")
    print(f"sign-up is closed: invite annotators from {running.url}/organization/ (Add People → invite link)")
    print(ml_backend.up(repo().root, paths.root, args.ml_port))
    print("next: khabar studio sync && khabar studio preannotate; when done: khabar studio pull; stop: khabar studio down")
    return 0


def _down(args: argparse.Namespace, paths: StudioPaths) -> int:
    """Stop the ML backend, then the local Label Studio."""
    from khabar.studio import server
    from khabar.studio.ml_backend import stop_backend

    if stop_backend(paths.root) is not None:
        print("ML backend stopped")
    stopped = server.stop_server(paths, progress=_log.info)
    print("Label Studio stopped" if stopped else "Label Studio was not running")
    return 0


def _status(args: argparse.Namespace, paths: StudioPaths) -> int:
    """Say where the local Label Studio runs; exit 1 when it does not."""
    from khabar.studio import server

    current = server.running_server(paths)
    if current is None:
        print("Label Studio is not running (start it with: khabar studio up)")
        return 1
    print(f"Label Studio is running at {current.url} (pid {current.pid}, data in {paths.data_dir})")
    return 0


def _sync(client: LabelStudio, args: argparse.Namespace, paths: StudioPaths) -> int:
    """Create or update the project, import the documents it lacks, load the committed export, connect the ML backend."""
    from khabar.annotation.ingest import load_records
    from khabar.annotation.scheme import read_config
    from khabar.studio.ml_backend import connect_if_running
    from khabar.studio.project import sync_project

    documents = args.documents or repo().documents_file
    records = load_records(documents)
    if not records:
        raise KhabarError("no corpus records; run: khabar ingest", file=str(documents))
    config = read_config(repo().labeling_config)
    report = sync_project(client, args.project, config, records, progress=_log.info)
    print(
        f"project {args.project!r} (id {report.project_id}): {len(report.imported)} document(s) imported, "
        f"{report.already_present} already there"
    )
    _load_the_record(client, args, report.project_id, paths, documents)
    connected = None if args.url else connect_if_running(client, report.project_id, paths.root)
    if connected:
        print(connected)
    return 0


def _preannotate(client: LabelStudio, args: argparse.Namespace, project_id: int, paths: StudioPaths) -> int:
    """Pre-annotate with the trained entity model when there is one, else with the rules and the gazetteer."""
    from khabar.model.train import current_file, current_model_dir

    if current_file(repo().root).exists():  # the trained model replaces the gazetteer, which knows only the gold's pages
        from khabar.studio.ml_backend import import_model_predictions

        version, added, present = import_model_predictions(client, project_id, current_model_dir(repo().root))
        print(f"{version}: {added} task(s) pre-annotated, {present} already had them")
        return 0
    return _preannotate_by_rules(client, args, project_id)


def _preannotate_by_rules(client: LabelStudio, args: argparse.Namespace, project_id: int) -> int:
    """Pre-annotate with the rules and the gazetteer learnt from the committed exports."""
    from khabar.annotation.preannotate import MODEL_VERSION
    from khabar.foundation.export_files import export_paths
    from khabar.studio.export import load_gazetteer
    from khabar.studio.project import import_preannotations

    exports = export_paths(None if args.exports is None else [args.exports])
    gazetteer = load_gazetteer(exports)
    _log.info(f"gazetteer: {len(gazetteer)} surface form(s) from {len(exports)} export file(s)")
    report = import_preannotations(client, project_id, gazetteer, progress=_log.info)
    print(
        f"{MODEL_VERSION}: {report.added} task(s) pre-annotated ({report.results} result(s)), "
        f"{report.already_present} already had them"
    )
    return 0


def _pull(client: LabelStudio, args: argparse.Namespace, project_id: int, paths: StudioPaths) -> int:
    """Merge the project's work into the export file, once its labeling config is the repository's."""
    from khabar.studio.export import pull

    out = args.out or repo().exports_dir / f"{args.project}.json"
    if out.is_dir():
        raise KhabarError("is a directory; --out takes the export file to write (e.g. annotation/exports/khabar.json)", file=str(out))
    _check_config(client, project_id)
    pull(client, project_id, out, paths.pseudonyms_file, accept_deletions=args.accept_deletions, keep=args.keep, progress=_log.info)
    print(out)
    return 0


def _push(client: LabelStudio, args: argparse.Namespace, project_id: int, paths: StudioPaths) -> int:
    """Send the export's annotations to the project, once its labeling config is the repository's."""
    from khabar.studio.push import push_file

    source = args.file or repo().exports_dir / f"{args.project}.json"
    _check_config(client, project_id)
    push_file(
        client, project_id, source, paths.pseudonyms_file,
        documents_file=args.documents, accept_deletions=args.accept_deletions, keep=args.keep, progress=_log.info,
    )  # fmt: skip
    return 0


#: the actions on the local server alone, which need no client
_SERVER_ACTIONS: dict[str, Callable[[argparse.Namespace, StudioPaths], int]] = {"up": _up, "down": _down, "status": _status}
#: the actions on an existing project (sync creates its project, so it is not here)
_PROJECT_ACTIONS: dict[str, Callable[[LabelStudio, argparse.Namespace, int, StudioPaths], int]] = {
    "preannotate": _preannotate, "pull": _pull, "push": _push,
}
