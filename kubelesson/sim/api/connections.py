"""The simulator's connections: how many it holds, and how long one may wait for a request.

kube-apiserver gives a new connection 32 s to send its request header (ReadHeaderTimeout)
and a kept-alive one 90 s to start the next request (IdleTimeout); a request that is being
answered — a watch, a followed log, a port-forward — has no such limit. The server here
runs one thread per connection, so without the same limits every half-open connection
would hold a thread forever. The deadlines are absolute (a client sending one byte at a
time cannot stretch them) and are enforced by `reap()`, which the accept loop calls a few
times a second: it shuts an expired socket down, which wakes the thread blocked reading it.

Past `max_connections`, a new connection is answered at once with what the apiserver's
max-in-flight filter sends, 429 with `Retry-After: 1`, which client-go (kubectl) retries.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass

TOO_MANY_BODY = b"Too many requests, please try again later.\n"
TOO_MANY = (
    b"HTTP/1.1 429 Too Many Requests\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b"Retry-After: 1\r\n"
    b"Content-Length: %d\r\n"
    b"Connection: close\r\n\r\n%s" % (len(TOO_MANY_BODY), TOO_MANY_BODY)
)
LINGER_SECONDS = 1.0  # a refused socket is closed once its client has read the 429
MAX_LINGERING = 1024  # beyond this, refused sockets are closed at once


@dataclass
class _Conn:
    deadline: float | None  # time.monotonic() by which a request must have come in
    answered: int = 0  # requests begun on this connection
    expired: bool = False


class ConnectionTable:
    """Every open connection with its deadline; thread-safe."""

    def __init__(self, *, max_connections: int, header_timeout: float,
                 idle_timeout: float) -> None:
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._conns: dict[socket.socket, _Conn] = {}
        self._lingering: list[tuple[float, socket.socket]] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._conns)

    def sockets(self) -> list[socket.socket]:
        with self._lock:
            return list(self._conns)

    # -- the accept thread ---------------------------------------------------------------
    def admit(self, sock: socket.socket) -> bool:
        """Take a new connection, or refuse it with a 429 when the table is full."""
        with self._lock:
            if len(self._conns) < self.max_connections:
                self._conns[sock] = _Conn(time.monotonic() + self.header_timeout)
                return True
        self.refuse(sock)
        return False

    def refuse(self, sock: socket.socket) -> None:
        """Answer 429 without a thread. The socket is half-closed and kept a moment, so the
        client reads the answer rather than a reset for the request it may still send."""
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.recv(65536)
            sock.send(TOO_MANY)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        with self._lock:
            if len(self._lingering) < MAX_LINGERING:
                self._lingering.append((time.monotonic() + LINGER_SECONDS, sock))
                return
        sock.close()

    def reap(self) -> None:
        """Shut down connections past their deadline; close refused ones that are done."""
        now = time.monotonic()
        expired: list[socket.socket] = []
        with self._lock:
            for sock, conn in self._conns.items():
                if conn.deadline is not None and conn.deadline <= now:
                    conn.deadline, conn.expired = None, True
                    expired.append(sock)
            lingering, self._lingering = self._lingering, []
        for sock in expired:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        keep = [(until, sock) for until, sock in lingering if not _finished(sock, until, now)]
        with self._lock:
            self._lingering.extend(keep)

    # -- a connection's own thread -------------------------------------------------------
    def waiting(self, sock: socket.socket) -> None:
        """The connection waits for its next request (its first one keeps the deadline it
        got when accepted)."""
        with self._lock:
            conn = self._conns.get(sock)
            if conn is not None and conn.answered and not conn.expired:
                conn.deadline = time.monotonic() + self.idle_timeout

    def started(self, sock: socket.socket) -> None:
        """A request line came in: on a kept-alive connection, its header has
        header_timeout from now."""
        with self._lock:
            conn = self._conns.get(sock)
            if conn is not None and conn.answered and not conn.expired:
                conn.deadline = time.monotonic() + self.header_timeout

    def answering(self, sock: socket.socket) -> bool:
        """The request is complete: no deadline while it is answered. False if it came too
        late: the connection was already cut and the request must not run."""
        with self._lock:
            conn = self._conns.get(sock)
            if conn is None or conn.expired:
                return False
            conn.deadline = None
            conn.answered += 1
            return True

    def forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.pop(sock, None)

    def close_all(self) -> None:
        for sock in self.sockets():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            lingering, self._lingering = self._lingering, []
        for _, sock in lingering:
            sock.close()


def _finished(sock: socket.socket, until: float, now: float) -> bool:
    """Close a refused socket once its client closed, or its time is up."""
    done = now >= until
    if not done:
        try:
            done = sock.recv(65536) == b""
        except BlockingIOError:
            done = False
        except OSError:
            done = True
    if done:
        sock.close()
    return done
