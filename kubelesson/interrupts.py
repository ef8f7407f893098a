"""Turning SIGINT, SIGTERM and SIGHUP into an exception, so every ``finally`` runs.

Python only raises KeyboardInterrupt for SIGINT; a CI runner stops jobs with SIGTERM and
a closed terminal sends SIGHUP. All three must clean up the sandbox the same way.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from kubelesson.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _raise(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal=signal.Signals(signum).name)


@contextmanager
def raising() -> Iterator[None]:
    """Within the block, any of SIGNALS raises :class:`Interrupted` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def deferred() -> Iterator[list[int]]:
    """Within the block (cleanup), signals are remembered instead of raised, so a second
    Ctrl-C cannot cut the cleanup short. A Python-level handler, unlike SIG_IGN, is not
    inherited by the kubectl processes the cleanup starts."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def remember(signum: int, _frame: FrameType | None) -> None:
        seen.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in SIGNALS}
    try:
        yield seen
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
