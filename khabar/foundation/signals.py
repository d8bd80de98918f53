"""SIGINT and SIGTERM while a ``khabar`` command runs (:func:`handled`, the first thing ``khabar.cli.main`` does).

The first of them raises where the command is (KeyboardInterrupt for SIGINT, :class:`Terminated` for SIGTERM), so
that the command's ``finally`` blocks remove what it staged, and is recorded. A library can swallow that exception or
turn it into one of its own, since it is raised wherever Python is when the signal comes: in a finaliser (Python
prints ``Exception ignored in …`` and goes on), in a callback pyarrow's C code runs (pyarrow raised a ``TypeError``
in its place), under an ``except BaseException``. The record is what decides: nothing is put in place once a signal
came (:func:`check`, before each commit of :mod:`khabar.foundation.files`), and the command ends interrupted or
terminated whatever became of the exception (:func:`checked`, :func:`ending`). While several things are put in
place together, a signal waits until they all are (:func:`held`). A later signal is recorded only:
raised, it would cut short the clean-up the first one started, or the line that reports it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM, raised where the command is, so that its ``finally`` blocks remove its staging folders and
    temporary files (the default action ended the process there and then: ``khabar export`` left its
    ``.OUT.building-PID`` folder behind). A BaseException: no ``except Exception`` swallows it."""


#: the signals a command ends on, and the exception each raises where the command is
EXCEPTIONS: dict[int, type[BaseException]] = {signal.SIGINT: KeyboardInterrupt, signal.SIGTERM: Terminated}

#: the first signal received since :func:`handled` began, if one was
_received: int | None = None


def _record(signum: int, frame: object) -> None:
    global _received
    if _received is None:
        _received = signum
        raise EXCEPTIONS[signum]


def check() -> None:
    """Raise the exception of the signal received, if one was: before anything is put in place for good, so that a
    command whose signal a library swallowed commits nothing."""
    if _received is not None:
        raise EXCEPTIONS[_received]


@contextmanager
def checked() -> Iterator[None]:
    """The block ends with the received signal's exception if a signal came while it ran: in place of whatever else it
    raised (a library's error made of it), and when it ends without one (a library swallowed it)."""
    try:
        yield
    except BaseException:
        check()
        raise
    check()


def ending(exc: BaseException) -> int | None:
    """The signal a command that raised ``exc`` ends on: the one received, else the one ``exc`` is the exception of
    (a KeyboardInterrupt raised by no signal), else None."""
    if _received is not None:
        return _received
    return next((signum for signum, exception in EXCEPTIONS.items() if isinstance(exc, exception)), None)


@contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM handled as above while inside; the handlers and the hook of unraisable exceptions are given
    back after (a caller that runs ``main()`` in its own process, a test, gets its own). In the main thread only: the
    only one whose handlers can be set, and the only one a signal's exception is raised in."""
    global _received
    _received = None
    try:
        previous = {signum: signal.signal(signum, _record) for signum in EXCEPTIONS}
    except ValueError:  # not the main thread
        yield
        return
    unraisable_hook = sys.unraisablehook

    def unraisable(unraisable: sys.UnraisableHookArgs) -> None:
        """The signal's exception raised in a finaliser, where Python only prints it, is not printed: it is recorded,
        and the command ends on it."""
        if _received is None or unraisable.exc_type not in EXCEPTIONS.values():
            unraisable_hook(unraisable)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        sys.unraisablehook = unraisable_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        _received = None


@contextmanager
def held() -> Iterator[Callable[[], bool]]:
    """SIGINT and SIGTERM wait until the block ends, then stop the command as they would have; the block is given a
    function telling whether one has come meanwhile. What a block puts in place is so all in place or (taken back)
    none of it: a build stopped between its renames had its output folder moved aside and the new one not yet in, or
    its datasheet refreshed and the previous build put back.

    Their handlers are swapped, not the signals blocked: a mask holds a signal in the threads that set it only, and
    one that a native library's thread (polars', arrow's) takes runs Python's handler all the same. Handlers are
    only the main thread's to set; in another thread, no handler stops the block anyway.
    """
    arrived: list[int] = []

    def hold(number: int, frame: object) -> None:
        arrived.append(number)

    previous = {number: signal.getsignal(number) for number in EXCEPTIONS}
    holding = [number for number, handler in previous.items() if handler is not None]  # None: a handler set outside Python, left alone
    try:
        for number in holding:
            signal.signal(number, hold)
    except ValueError:  # not the main thread
        holding = []
    try:
        yield lambda: bool(arrived)
    finally:
        for number in holding:
            signal.signal(number, previous[number])
        if arrived:  # as it came: its handler now runs (or, with none, its default action ends the process)
            signal.raise_signal(arrived[0])
