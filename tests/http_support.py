"""A local HTTP server for the tests' stand-ins of servers that cannot run here or cannot be made to misbehave."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the server's log off the test's output."""

    def log_message(self, *args: object) -> None:
        pass


#: How often a stand-in's ``serve_forever`` looks whether it is shut down: ``shutdown()`` waits for it, and the default
#: 0.5 s was most of every stand-in test's time (the 42 tests of tests/studio/test_local_probes.py: 18.6 → 2.8 s)
POLL_INTERVAL = 0.01


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` answering on a free port of 127.0.0.1, in a thread; yields the server's URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def answering_raw(payload: bytes) -> Iterator[str]:
    """A program that is no HTTP server on a free port of 127.0.0.1 (an SSH server, a database): to each connection it
    sends ``payload`` and closes, whatever it was sent; yields the URL an HTTP client would take it for."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            with connection:
                connection.recv(65536)  # the request, read so that closing does not reset the connection
                connection.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting in the thread
        listener.close()
