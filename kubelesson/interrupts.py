"""SIGINT, SIGTERM and SIGHUP: stop the kubectl processes, then stop at a safe point.

Raising an exception straight from a signal handler can leave a library holding a lock
(sh waits on its processes under one), and the cleanup that follows then hangs. So the
handler only records the signal and kills the kubectl processes that are running; the
main thread notices at the next safe point (:func:`check`) and raises
:class:`Interrupted`, and every ``finally`` — sandbox removal included — runs as usual.
Python only turns SIGINT into an exception by itself; a CI runner stops jobs with SIGTERM
and a closed terminal sends SIGHUP, and all three must clean up the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from kubelesson.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_lock = threading.Lock()
_received: list[int] = []
_children: set[int] = set()  # process-group leaders (each kubectl has a session of its own)
_shielded = 0  # >0 while cleanup runs: its kubectl processes must be left to finish


def _stop_children() -> None:
    with _lock:
        groups = list(_children)
    for pid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)


def _handle(signum: int, _frame: FrameType | None) -> None:
    _received.append(signum)
    if not _shielded:
        _stop_children()


def track(pid: int) -> None:
    with _lock:
        _children.add(pid)


def untrack(pid: int) -> None:
    with _lock:
        _children.discard(pid)


def check() -> None:
    """Raise :class:`Interrupted` if a signal came (except during cleanup)."""
    if _received and not _shielded:
        raise Interrupted(signal=signal.Signals(_received[0]).name)


def pending() -> bool:
    """Whether a signal came that :func:`check` would raise for (for loops that must not raise)."""
    return bool(_received) and not _shielded


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGNALS are recorded and stop the running kubectl processes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Cleanup: a signal now (a second Ctrl-C, say) must not cut it short."""
    global _shielded
    _shielded += 1
    try:
        yield
    finally:
        _shielded -= 1
