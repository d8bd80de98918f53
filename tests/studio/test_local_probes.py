"""Khabar's own probes of the local servers, made without the SDK: Label Studio's ``/api/version`` while it starts and
``/api/current-user/whoami`` for its token (:mod:`khabar.studio.server`), the ML backend's ``/health``
(:mod:`khabar.studio.ml_backend`), against a port answering what Khabar cannot use: another program listening
there (no HTTP at all), an HTTP answer of another shape, one without end. A probe gives its verdict, or one line
naming the URL and what came; never a traceback, never a wait without end.

The servers are stand-ins (:mod:`tests.studio.stand_in_studio`, :func:`tests.http_support.answering_raw`), because
neither server can be made to answer badly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError
from khabar.studio.ml_backend import health
from khabar.studio.server import PROBE_ANSWER_AT_MOST, _api_answers, token_accepted
from tests.http_support import QuietHandler, answering_raw, serving
from tests.studio.stand_in_studio import Answer, stand_in_studio

VERSION, WHOAMI, HEALTH = ("GET", "/api/version"), ("GET", "/api/current-user/whoami"), ("GET", "/health")
TOKEN = "0123456789abcdef0123456789abcdef01234567"
NOT_HTTP = b"SSH-2.0-OpenSSH_9.6\r\n"

# what a port answers that is no server's answer Khabar can use, and what the one line says of it
UNUSABLE = {
    "another program: no HTTP": (None, "not an HTTP answer"),
    "a status line without a status": (b"HTTP/1.1 OK\r\n\r\n", "not an HTTP answer"),
    "a header line of 100 KB": (b"HTTP/1.1 200 OK\r\nX: " + b"x" * 100_000 + b"\r\n\r\n", "not an HTTP answer"),
    "a body cut short of its Content-Length": (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"status": "UP"', "cut short"),
    "an HTML page": (Answer(200, b"<html><body>Sign in</body></html>", "text/html"), "JSON is malformed"),
    "a JSON list": (Answer.json([{"status": "UP"}]), "Expected `object`, got `array`"),
    "a JSON text": (Answer.json("UP"), "Expected `object`, got `str`"),
    "a body that is not UTF-8": (Answer(200, b'{"status": "\xff\xfe"}'), "can't decode byte 0xff"),
    "an integer of 5,000 digits": (Answer(200, b'{"status": "UP", "n": ' + b"9" * 5000 + b"}"), "Integer value out of range"),
    "JSON nested 10,000 deep": (Answer(200, b'{"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"), "nested too deeply"),
    "a body over the bound": (Answer.json({"status": "UP", "pad": "x" * PROBE_ANSWER_AT_MOST}), f"more than {PROBE_ANSWER_AT_MOST} bytes"),
    "a server error": (Answer.json({"detail": "database is locked"}, 500), "answered 500"),
}


@contextmanager
def answering(route: tuple[str, str], answer: Answer | bytes | None) -> Iterator[str]:
    """A port answering ``route`` (and anything else) with ``answer``: an HTTP answer of the stand-in, raw bytes (a
    server's answer as sent), or None: a program that is no HTTP server."""
    if isinstance(answer, Answer):
        with stand_in_studio({route: lambda query: answer}) as (url, _):
            yield url
    else:
        with answering_raw(NOT_HTTP if answer is None else answer) as url:
            yield url


@pytest.mark.parametrize(("answer", "problem"), list(UNUSABLE.values()), ids=list(UNUSABLE))
def test_a_port_answering_what_is_not_the_ml_backends_health_is_no_backend_up(answer, problem):
    with answering(HEALTH, answer) as url:
        assert health(url, timeout=2) is None


def test_the_ml_backends_health_is_its_json_object():
    with stand_in_studio({HEALTH: lambda query: Answer.json({"status": "UP", "model_version": "m1"})}) as (url, _):
        assert health(url) == {"status": "UP", "model_version": "m1"}


NOT_LABEL_STUDIO_WHILE_IT_STARTS = {case: unusable for case, unusable in UNUSABLE.items() if case != "a server error"}


@pytest.mark.parametrize(("answer", "problem"), list(NOT_LABEL_STUDIO_WHILE_IT_STARTS.values()), ids=list(NOT_LABEL_STUDIO_WHILE_IT_STARTS))
def test_a_port_answering_what_is_not_label_studio_while_it_starts_is_one_line_naming_the_url(answer, problem):
    with answering(VERSION, answer) as url:
        with pytest.raises(KhabarError) as raised:
            _api_answers(url)
    message = str(raised.value)
    assert raised.value.exit_status == EXIT_UNUSABLE_INPUT and "\n" not in message, message
    assert message.startswith(f"the server at {url}/api/version is not Label Studio: ") and problem in message, message


def test_label_studio_answering_its_version_is_up_and_a_port_nothing_listens_on_is_not_yet():
    with stand_in_studio({VERSION: lambda query: Answer.json({"release": "1.23.2"})}) as (url, _):
        assert _api_answers(url)
    assert not _api_answers(url)


def test_a_server_error_while_label_studio_starts_is_not_yet_and_a_refusal_is_not_label_studio():
    with stand_in_studio({VERSION: lambda query: Answer.json({"detail": "database is locked"}, 503)}) as (url, _):
        assert not _api_answers(url)
    with stand_in_studio({VERSION: lambda query: Answer.json({"detail": "Not found."}, 404)}) as (url, _):
        with pytest.raises(KhabarError, match="is not Label Studio: answered 404"):
            _api_answers(url)


@pytest.mark.parametrize(("answer", "problem"), list(UNUSABLE.values()), ids=list(UNUSABLE))
def test_a_token_is_not_judged_refused_on_an_answer_that_is_not_label_studios(answer, problem):
    with answering(WHOAMI, answer) as url:
        with pytest.raises(KhabarError) as raised:
            token_accepted(url, TOKEN)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"the server at {url}/api/current-user/whoami is not Label Studio: ") and problem in message, message
    assert TOKEN not in message


@pytest.mark.parametrize(("answer", "accepted"), [(Answer.json({"id": 1, "email": "admin@khabar.local"}), True), (Answer.json({"detail": "Invalid token."}, 401), False)])
def test_a_token_is_accepted_or_refused_as_label_studio_answers(answer, accepted):
    with stand_in_studio({WHOAMI: lambda query: answer}) as (url, requests):
        assert token_accepted(url, TOKEN) is accepted
    assert requests == ["GET /api/current-user/whoami"]


class Endless(QuietHandler):
    """A 200 whose body never ends (no Content-Length: the connection's end would end it), sent as fast as it is read;
    ``sent`` counts its bytes. It stops at 64 MiB, so that a probe reading it whole fails this test instead of
    waiting for ever."""

    sent = 0

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        chunk = b" " * 65536
        while Endless.sent < 64 * 2**20:
            try:
                self.wfile.write(chunk)
            except OSError:  # the probe stopped reading
                return
            Endless.sent += len(chunk)


class Trickling(QuietHandler):
    """A 200 whose body comes one byte at a time, each well within the probe's timeout, for a minute; ``done`` is set
    once the probe stops reading."""

    done = threading.Event()

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.wfile.write(b" ")
                self.wfile.flush()
            except OSError:
                break
            time.sleep(0.05)
        Trickling.done.set()


def test_a_probe_reads_no_more_of_an_answer_without_end_than_its_bound():
    Endless.sent = 0
    with serving(Endless) as url:
        assert health(url) is None
        with pytest.raises(KhabarError, match=f"more than {PROBE_ANSWER_AT_MOST} bytes"):
            token_accepted(url, TOKEN)
    # sent but never read: what the socket buffers of both ends hold on the loopback (6.5 MB measured for two probes)
    assert Endless.sent < 32 * 2**20, f"{Endless.sent} bytes sent: the probe read on past its bound"


def test_a_probe_gives_up_on_an_answer_that_keeps_coming_slowly_after_its_timeout():
    Trickling.done.clear()
    with serving(Trickling) as url:
        started = time.monotonic()
        assert health(url, timeout=1) is None
        assert time.monotonic() - started < 10, "the probe waited on a body that never ends"
        assert Trickling.done.wait(10)

