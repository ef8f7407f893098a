"""Remote-command streams over a WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`):
what kube-apiserver's stream translator (1.30+) answers kubectl with.

Every binary message is one channel byte plus data. kubectl writes stdin on channel 0,
terminal sizes on 4, and with v5 a [255, 0] CLOSE message when its stdin ends; the server
writes stdout on 1, stderr on 2, and at the end the Status on 3, then closes the
connection with a normal close frame, which tells kubectl that every stream is done.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from kubelesson.sim.shell.io import Stdin
from kubelesson.sim.streams import protocol
from kubelesson.sim.streams.websocket import (
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WebSocketError,
    encode_close,
    encode_frame,
    read_frame,
)

log = logging.getLogger(__name__)
LINGER_SECONDS = 5.0  # how long a finished session waits for the client's close frame
MAX_MESSAGE = 16 * 1024 * 1024


class WebSocketChannels:
    """One exec or attach connection after the 101; `run` reads on the calling thread."""

    def __init__(self, reader: Any, conn: socket.socket, subprotocol: str,
                 stdin: Stdin | None) -> None:
        self._reader = reader
        self._conn = conn
        self.subprotocol = subprotocol
        self.stdin = stdin
        self.closed = threading.Event()  # the client went away (or the session ended)
        self._lock = threading.Lock()
        self._close_sent = False

    # -- writing (any thread) --
    def _write(self, frame: bytes) -> bool:
        with self._lock:
            if self._close_sent:
                return False
            try:
                self._conn.sendall(frame)
            except OSError:
                self.closed.set()
                return False
        return True

    def send(self, channel: int, data: bytes) -> None:
        if data:
            self._write(encode_frame(OP_BINARY, bytes([channel]) + data))

    def stdout(self, data: bytes) -> None:
        self.send(protocol.STDOUT, data)

    def stderr(self, data: bytes) -> None:
        self.send(protocol.STDERR, data)

    def finish(self, status: protocol.Obj) -> None:
        """The Status on the error channel, then a normal close."""
        self.send(protocol.ERROR, protocol.encode_status(status))
        self._close(CLOSE_NORMAL)
        with contextlib.suppress(OSError):
            self._conn.settimeout(LINGER_SECONDS)

    def _close(self, code: int) -> None:
        with self._lock:
            if self._close_sent:
                return
            self._close_sent = True
            with contextlib.suppress(OSError):
                self._conn.sendall(encode_close(code))

    # -- reading (the handler's thread) --
    def run(self, start: Callable[[], None]) -> None:
        start()
        try:
            while (message := self._message()) is not None:
                self._dispatch(message)
        except (OSError, ValueError, WebSocketError) as exc:
            log.debug("exec/attach websocket ended: %s", exc)
        finally:
            self.closed.set()
            if self.stdin is not None:
                self.stdin.close()

    def _dispatch(self, message: bytes) -> None:
        if not message:
            return
        channel, data = message[0], message[1:]
        if self.stdin is None:
            return
        if channel == protocol.STDIN:
            self.stdin.feed(data)
        elif channel == protocol.CLOSE and data[:1] == bytes([protocol.STDIN]):
            self.stdin.close()
        # RESIZE: the simulated programs do not care about the terminal's size.

    def _message(self) -> bytes | None:
        """The next complete data message (fragments joined); None at the end."""
        parts: list[bytes] = []
        while True:
            frame = read_frame(self._reader)
            if frame is None:
                return None
            fin, opcode, payload = frame
            if opcode == OP_PING:
                self._write(encode_frame(OP_PONG, payload))
            elif opcode == OP_CLOSE:
                self._close(CLOSE_NORMAL)
                return None
            elif opcode == OP_PONG:
                continue
            elif opcode in (OP_BINARY, OP_TEXT, OP_CONTINUATION):
                parts.append(payload)
                if sum(len(p) for p in parts) > MAX_MESSAGE:
                    raise WebSocketError("message too large")
                if fin:
                    return b"".join(parts)
