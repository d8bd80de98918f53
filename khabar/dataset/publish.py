"""``khabar publish``: one Hub commit of a build, then the tag ``v<version>``, in the dataset
repository ``repo_id`` of ``dataset/release.toml`` (or ``--repo-id ORG/NAME``).

Order: check the build (``khabar.validation.dataset_check``: files against MANIFEST.json,
features against the card, offsets against the text) → create the dataset repository if
needed → refuse when the tag already exists (a published tag is never moved) →
one commit that uploads every file of the build and deletes the files of the
repository the build no longer has → tag that commit. The token comes from
``HF_TOKEN`` only; ``--dry-run`` prints the plan and contacts nobody. The Hub's address
(``HF_ENDPOINT``) is printed without any user or password it carries, and what the Hub answers without
the token (``khabar.foundation.errors.redact``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.foundation.errors import EXIT_FAILED_CHECKS, KhabarError
from khabar.foundation.manifest import HUB_MANAGED

if TYPE_CHECKING:
    from huggingface_hub import HfApi

LOG = logging.getLogger(__name__)


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
    from khabar.foundation.manifest import read_manifest
    from khabar.validation.dataset_check import refuse_failing_build

    manifest = read_manifest(folder)
    refuse_failing_build(folder, exit_status=EXIT_FAILED_CHECKS)  # files against the manifest, features against the card, offsets against the text
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return BuiltRelease(folder, manifest["version"], tuple(sorted(files)))


@contextlib.contextmanager
def lfs_uploads() -> Iterator[None]:
    """Upload parquet and PNG through Git LFS, not Xet, while inside.

    With ``hf_xet`` installed (a dependency of huggingface_hub 2.4) the client sends
    binary files through Xet; it keeps Git LFS, which the Hub serves too, as its other
    path. Khabar takes the LFS path on purpose: it is the one its tests check byte for
    byte against a stand-in Hub (tests/dataset/fake_hub.py), so released data never
    travels a path nothing here has exercised. ``HF_HUB_DISABLE_XET`` is the switch
    huggingface_hub documents for this; it is read at each upload, and restored after.
    """
    from huggingface_hub import constants

    before = constants.HF_HUB_DISABLE_XET
    constants.HF_HUB_DISABLE_XET = True
    try:
        yield
    finally:
        constants.HF_HUB_DISABLE_XET = before


@contextlib.contextmanager
def hub_answers(repo_id: str, endpoint: str, request: str) -> Iterator[None]:
    """huggingface_hub's failures while it does ``request`` (what Khabar asked for: "create the repository",
    "download revision 'v1.0.0'") with the Hub at ``endpoint``, as one line: the Hub's refusal, a Hub that cannot be
    reached, a local file the client cannot read or write, and an answer the client cannot read (a 409 without the
    repository's ``url`` was a KeyError inside ``create_repo``; a field missing or of another type, a body that is no
    JSON: KeyError, TypeError, ValueError, AttributeError). Only around the client's calls: the same errors in Khabar's
    own code are bugs."""
    import httpx2  # huggingface_hub's HTTP client: its transport errors are not HfHubHTTPError
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as exc:
        why = f"the Hub refused: {exc}"
    except httpx2.HTTPError as exc:
        why = f"cannot reach the Hub at {endpoint}: {exc.__class__.__name__}: {exc}"
    except OSError as exc:  # a file of the build or of the download folder, or no connection (LocalEntryNotFoundError)
        why = str(exc)
    except (LookupError, TypeError, ValueError, AttributeError) as exc:
        why = f"the Hub at {endpoint} gave an answer huggingface_hub cannot read ({exc.__class__.__name__}: {exc})"
    else:
        return
    raise KhabarError(f"dataset repository {repo_id}: cannot {request}: {why}".splitlines()[0]) from None


def publish(release: BuiltRelease, repo_id: str, api: HfApi) -> str:
    """Publish ``release`` to ``repo_id`` through ``api`` (an ``HfApi``); returns the tagged commit."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    with hub_answers(repo_id, api.endpoint, "create the repository"):
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    LOG.info(f"repository {repo_id} is ready")
    with hub_answers(repo_id, api.endpoint, "list its tags and branches"):
        refs = api.list_repo_refs(repo_id, repo_type="dataset")
        existing = {ref.name: ref.target_commit for ref in refs.tags}
        main = next((ref.target_commit for ref in refs.branches if ref.name == "main"), None)
    if release.tag in existing:
        raise KhabarError(
            f"tag {release.tag} already exists on {repo_id} (commit {existing[release.tag]}); a published tag is never "
            "moved: bump dataset/VERSION and build again",
            exit_status=EXIT_FAILED_CHECKS,
        )
    with hub_answers(repo_id, api.endpoint, "list its files"):
        remote = set(api.list_repo_files(repo_id, repo_type="dataset")) if main else set()
    stale = sorted(remote - set(release.files) - HUB_MANAGED)
    operations: list[CommitOperationAdd | CommitOperationDelete] = [CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(release.folder / path)) for path in release.files]
    operations += [CommitOperationDelete(path_in_repo=path) for path in stale]
    LOG.info(f"committing {len(release.files)} file(s), deleting {len(stale)} stale file(s)")
    with hub_answers(repo_id, api.endpoint, "commit"), lfs_uploads():
        commit = api.create_commit(repo_id, operations, commit_message=f"Release {release.version}", repo_type="dataset", parent_commit=main)
    with hub_answers(repo_id, api.endpoint, "tag the commit"):
        api.create_tag(repo_id, tag=release.tag, revision=commit.oid, repo_type="dataset", tag_message=f"Khabar {release.version}")
    LOG.info(f"tagged {release.tag} at {commit.oid}")
    return commit.oid
