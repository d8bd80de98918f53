"""Which Label Studio a command talks to, and the SDK client for it.

Either the local server of ``khabar studio up`` (URL and token from the studio
folder) or a team's server given with ``--url`` (token from the environment
variable ``LABEL_STUDIO_API_KEY``, never from the command line or a file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from khabar.foundation.errors import KhabarError, mark_secret
from khabar.studio.server import StudioPaths, read_credentials, running_server

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

API_KEY_VARIABLE = "LABEL_STUDIO_API_KEY"
#: Snapshot exports of large projects take minutes; the SDK's default 60 s is too short.
CLIENT_TIMEOUT = 600.0


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str = field(repr=False)


def local_target(paths: StudioPaths) -> Target:
    server = running_server(paths)
    if server is None:
        raise KhabarError("Label Studio is not running here; start it with: khabar studio up (or pass --url URL)")
    credentials = read_credentials(paths)
    if credentials is None:
        raise KhabarError("no credentials for the local Label Studio", file=str(paths.credentials_file))
    return Target(url=server.url, api_key=credentials.token)


def remote_target(url: str) -> Target:
    api_key = mark_secret(os.environ.get(API_KEY_VARIABLE, "").strip())
    if not api_key:
        raise KhabarError(f"--url {url} needs the API key of that server in the environment variable {API_KEY_VARIABLE}")
    return Target(url=url.rstrip("/"), api_key=api_key)


def connect(target: Target) -> LabelStudio:
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=target.url, api_key=target.api_key, timeout=CLIENT_TIMEOUT)
