"""The standard streams of a simulated process: a stdin pipe fed by whoever is attached
(an exec or attach session), and output sinks that may be several at once (the container
log and the attached sessions of a container's main process)."""

from __future__ import annotations

import threading
from collections.abc import Callable

Sink = Callable[[bytes], None]


class Killed(Exception):
    """The process was killed (its session went away, or its container stopped)."""


class Stdin:
    """A pipe: `feed` appends bytes, `close` is end of file. Reads block until data or
    EOF, and raise Killed once `kill` was called."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._eof = False
        self._killed = False
        self._cond = threading.Condition()

    def feed(self, data: bytes) -> None:
        with self._cond:
            if not self._eof:
                self._buffer += data
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def kill(self) -> None:
        with self._cond:
            self._killed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._eof

    def _wait(self, ready: Callable[[], bool]) -> None:
        self._cond.wait_for(lambda: ready() or self._eof or self._killed)
        if self._killed:
            raise Killed

    def read(self) -> bytes:
        """What is there (waiting for something), b"" at end of file."""
        with self._cond:
            self._wait(lambda: bool(self._buffer))
            data = bytes(self._buffer)
            self._buffer.clear()
            return data

    def readline(self) -> bytes:
        """One line with its newline; the last unterminated line; b"" at end of file."""
        with self._cond:
            self._wait(lambda: b"\n" in self._buffer)
            end = self._buffer.find(b"\n")
            end = len(self._buffer) if end < 0 else end + 1
            line = bytes(self._buffer[:end])
            del self._buffer[:end]
            return line

    def read_all(self) -> bytes:
        chunks = []
        while chunk := self.read():
            chunks.append(chunk)
        return b"".join(chunks)


def closed_stdin() -> Stdin:
    """What a process started without stdin reads: end of file at once."""
    stdin = Stdin()
    stdin.close()
    return stdin


class Tee:
    """An output stream written to every sink attached at the time of the write."""

    def __init__(self, *sinks: Sink) -> None:
        self._sinks: list[Sink] = list(sinks)
        self._lock = threading.Lock()

    def add(self, sink: Sink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def remove(self, sink: Sink) -> None:
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def __call__(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            sink(data)
