"""Cluster-wide things a namespace does not isolate (a LoadBalancer's host port, an Ingress
host name): two runs on one machine that use the same one take turns, through a lock file
per thing and cluster. The kernel lets go of a lock when its process dies."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from kubelesson import interrupts

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there do not take turns
    fcntl = None  # type: ignore[assignment]


def _folder() -> Path:
    folder = Path(tempfile.gettempdir()) / f"kubelesson-shared-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextlib.contextmanager
def taking_turns(context: str, things: Iterable[str], *, poll: float = 0.2) -> Iterator[None]:
    """Hold every thing's lock for the block, waiting for other runs that hold one. The
    locks are taken in one fixed order, so two runs never wait for each other in a circle."""
    names = sorted(set(things))
    if fcntl is None or not names:
        yield
        return
    held: list[int] = []
    try:
        for name in names:
            key = hashlib.sha256(f"{context}\0{name}".encode()).hexdigest()[:20]
            fd = os.open(_folder() / f"{key}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            held.append(fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    interrupts.check()  # Ctrl-C while waiting for another run
                    time.sleep(poll)
        yield
    finally:
        for fd in held:
            os.close(fd)  # closing the descriptor releases its lock
