"""Which Label Studio a command talks to, the SDK client for it, and what its answers may be.

Either the local server of ``khabar studio up`` (URL and token from the studio
folder) or a team's server given with ``--url`` (token from the environment
variable ``LABEL_STUDIO_API_KEY``, never from the command line or a file).

Every call Khabar makes through the SDK is made inside :func:`studio_answers`, which
turns what the server answers that Khabar cannot use into one line naming the server,
the call and the problem: a refusal, no answer, and an answer the SDK cannot read (it
builds its objects from whatever JSON comes, unchecked, and fails on the first thing it
cannot build: a TypeError, an AttributeError). What the SDK builds without complaint
from a wrong answer (an id that is no number, a listing whose pages never end) is
checked where Khabar reads it (:func:`whole_number`, :func:`listed`, and the checks of
the modules reading tasks).
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from khabar.foundation.errors import KhabarError, mark_secret, quoted
from khabar.foundation.jsonl import is_whole_number
from khabar.studio.server import StudioPaths, read_credentials, running_server

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.core.api_error import ApiError
    from label_studio_sdk.core.pagination import SyncPager

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


class UnusableAnswer(Exception):
    """An answer that lacks what Khabar reads of it, found where Khabar reads it; :func:`studio_answers` names the
    server and the call."""


def address(client: LabelStudio) -> str:
    """The URL of the server ``client`` talks to (the SDK keeps it only in its client wrapper)."""
    return client._client_wrapper.get_base_url()


@contextmanager
def studio_answers(client: LabelStudio, call: str) -> Iterator[None]:
    """The SDK's calls to the server while ``call`` (what Khabar asks for: "listing the tasks of project 3"), and the
    reading of their answers: what the server answers that Khabar cannot use becomes a one-line :class:`KhabarError`
    (exit 2). Only around the SDK's calls and the reading of what they return: the same errors in Khabar's own code
    are bugs."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError
    from label_studio_sdk.core.parse_error import ParsingError

    url = address(client)
    try:
        with warnings.catch_warnings():
            # The SDK dumps some answers through pydantic, which warns on stderr of each value of another type than
            # the SDK's schema says (an int label_config: three lines); what Khabar reads is checked, and named, here.
            warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning)
            yield
    except ApiError as exc:
        raise KhabarError(_refusal(exc, url, call)) from None
    except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
        raise KhabarError(f"Label Studio at {url} gave an answer cut short or garbled when {call} ({exc})") from None
    except httpx.HTTPError as exc:
        raise KhabarError(f"cannot reach Label Studio at {url} when {call}: {exc}") from None
    except UnusableAnswer as exc:
        raise _unusable(url, call, str(exc)) from None
    except (ParsingError, LookupError, TypeError, ValueError, AttributeError) as exc:
        raise _unusable(url, call, f"{exc.__class__.__name__}: {exc}".splitlines()[0]) from None


def _unusable(url: str, call: str, problem: str) -> KhabarError:
    return KhabarError(f"Label Studio at {url} gave an answer khabar cannot use when {call}: {problem}")


def _refusal(exc: ApiError, url: str, call: str) -> str:
    """What an :class:`ApiError` says: the SDK raises it for a status other than 2xx, and for a 2xx whose body is no JSON."""
    if exc.status_code == 401:
        return f"Label Studio at {url} refused the API key (401) when {call}; check ${API_KEY_VARIABLE} or .studio/credentials.json"
    if exc.status_code is not None and 200 <= exc.status_code < 300:
        kind = (exc.headers or {}).get("content-type", "no content type")
        return f"Label Studio at {url} gave an answer that is not JSON when {call} ({kind}: {quoted(str(exc.body))})"
    detail = exc.body.get("detail") if isinstance(exc.body, dict) and "detail" in exc.body else quoted(str(exc.body))
    return f"Label Studio at {url} answered {exc.status_code} when {call}: {detail}"


def whole_number(value: object, what: str) -> int:
    """An id (or a count) read from an answer; :class:`UnusableAnswer` when it is not a whole number."""
    if not is_whole_number(value):
        raise UnusableAnswer(f"{what} is {shown(value)}, not a whole number")
    return value


def shown(value: object) -> str:
    """A value of an answer as a message shows it."""
    return "missing" if value is None else quoted(repr(value))


def listed(pager: SyncPager[Any, Any], *, things: str, total: str) -> Iterator[Any]:
    """The items of a paginated listing, page after page, each once; ``things`` names them ("projects"), ``total``
    is the field of a page saying how many there are.

    The SDK asks for the next page as long as the last one held items (Label Studio ends a listing with a 404),
    so a server that always has a next page would be listed for ever. The listing stops with
    :class:`UnusableAnswer` at a page that holds only items listed already (the same page again), or once it
    holds more items than that page says there are. Things added while the listing runs (a task imported during a
    pull) may come on its later pages, with a total counting them, so a total may grow: up to twice the first page's,
    past which the listing is taken for one without end (a project doubling while it is listed, or a total growing
    at every page). Each page's items are given before the next is asked for.
    """
    from label_studio_sdk.core.api_error import ApiError

    pages = pager.iter_pages()
    seen: set[int] = set()
    first: int | None = None
    for number in itertools.count(1):
        try:
            page = next(pages)
        except StopIteration:
            return
        except ApiError as exc:
            if exc.status_code == 404 and number > 1:  # the page past the last, as the SDK's own pager takes it
                return
            raise
        says = whole_number(getattr(page.response, total, None), f"the {total} of {things} on page {number}")
        first = says if first is None else first
        items = list(page.items or [])
        ids = [whole_number(getattr(item, "id", None), f"the id of one of the {things}") for item in items]
        if ids and seen.issuperset(ids):
            raise UnusableAnswer(f"page {number} repeats {things} of earlier pages (ids {quoted(str(ids))}): the listing would never end")
        yield from (item for item, item_id in zip(items, ids, strict=True) if item_id not in seen)
        seen.update(ids)
        if len(seen) > says:
            raise UnusableAnswer(f"it lists more {things} than the {says} it says there are: the listing would never end")
        if len(seen) > 2 * first:
            raise UnusableAnswer(f"its {things} keep coming past twice the {first} its first page said there were: the listing would never end")
