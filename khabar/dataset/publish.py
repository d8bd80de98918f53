"""``khabar publish --repo-id ORG/NAME``: one Hub commit of a build, then the tag ``v<version>``.

Order: check the build (``khabar.validation.dataset_check``: files against MANIFEST.json,
features against the card, offsets against the text) → create the dataset repository if
needed → refuse when the tag already exists (a published tag is never moved) →
one commit that uploads every file of the build and deletes the files of the
repository the build no longer has → tag that commit. The token comes from
``HF_TOKEN`` only; ``--dry-run`` prints the plan and contacts nobody.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from khabar.annotation.errors import EXIT_FAILED_CHECKS, KhabarError

#: Files the Hub manages itself; never deleted as stale.
HUB_MANAGED = frozenset({".gitattributes"})


@dataclass(frozen=True)
class BuiltRelease:
    folder: Path
    version: str
    files: tuple[str, ...]  # paths in the repository, sorted

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def read_release(folder: Path) -> BuiltRelease:
    """The build in ``folder``, refused unless it passes every check of ``khabar validate --dataset``."""
    from khabar.dataset.manifest import MANIFEST_NAME, read_manifest
    from khabar.validation.dataset_check import check_dataset

    if not (folder / MANIFEST_NAME).is_file():
        raise KhabarError("not a khabar build: no MANIFEST.json (run `khabar build`)", file=str(folder))
    manifest = read_manifest(folder)
    report = check_dataset(folder)  # files against the manifest, features against the card, offsets against the text
    if report.problems:
        shown = "; ".join(f"{p.path}: {p.message}" for p in report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise KhabarError(f"the build fails its checks, not publishing: {shown}{more}", file=str(folder), exit_status=EXIT_FAILED_CHECKS)
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return BuiltRelease(folder, manifest["version"], tuple(sorted(files)))


def publish(release: BuiltRelease, repo_id: str, api, *, log=print) -> str:
    """Publish ``release`` to ``repo_id`` through ``api`` (an ``HfApi``); returns the tagged commit."""
    import httpx2  # huggingface_hub's HTTP client: its transport errors are not HfHubHTTPError
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        log(f"repository {repo_id} is ready")
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        existing = {ref.name: ref.target_commit for ref in refs.tags}
        if release.tag in existing:
            raise KhabarError(
                f"tag {release.tag} already exists on {repo_id} (commit {existing[release.tag]}); a published tag is never "
                "moved: bump dataset/VERSION and build again",
                exit_status=EXIT_FAILED_CHECKS,
            )
        main = next((ref.target_commit for ref in refs.branches if ref.name == "main"), None)
        remote = set(api.list_repo_files(repo_id, repo_type="dataset")) if main else set()
        stale = sorted(remote - set(release.files) - HUB_MANAGED)
        operations = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(release.folder / path)) for path in release.files]
        operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
        log(f"committing {len(release.files)} file(s), deleting {len(stale)} stale file(s)")
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=f"Release {release.version}",
            repo_type="dataset",
            parent_commit=main,
        )
        api.create_tag(repo_id, tag=release.tag, revision=commit.oid, repo_type="dataset", tag_message=f"Khabar {release.version}")
    except HfHubHTTPError as exc:
        raise KhabarError(f"the Hub refused: {exc}".splitlines()[0], task=repo_id) from None
    except httpx2.HTTPError as exc:
        raise KhabarError(f"cannot reach the Hub at {api.endpoint}: {exc.__class__.__name__}: {exc}".splitlines()[0], task=repo_id) from None
    log(f"tagged {release.tag} at {commit.oid}")
    return commit.oid


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo-id", required=True, help="Hub dataset repository, ORG/NAME")
    parser.add_argument("--build", type=Path, help="build folder (default: dist/<name>-<version>)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be done; contact nobody")


def run(args: argparse.Namespace) -> int:
    from khabar.annotation.paths import repo
    from khabar.dataset.release import load_release

    def log(message: str) -> None:
        print(f"khabar publish: {message}", flush=True)

    if args.repo_id.count("/") != 1 or not all(args.repo_id.split("/")):
        raise KhabarError(f"--repo-id must be ORG/NAME, got {args.repo_id!r}")
    release = read_release(args.build or repo().dist_dir / load_release().dirname)
    if args.dry_run:
        log(f"would create the dataset repository {args.repo_id} if it does not exist")
        log(f"would refuse if tag {release.tag} exists already")
        log(f"would commit these {len(release.files)} file(s) in one commit, deleting files the build no longer has:")
        for path in release.files:
            log(f"  {path}")
        log(f"would tag the commit {release.tag}")
        return 0
    token = os.environ.get("HF_TOKEN")
    if not token:
        raise KhabarError("HF_TOKEN is not set; the token is read from the environment only")
    from huggingface_hub import HfApi

    publish(release, args.repo_id, HfApi(token=token), log=log)
    return 0
