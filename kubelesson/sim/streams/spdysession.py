"""The server end of a SPDY/3.1 connection, as port-forward and exec/attach both use it.

After the HTTP upgrade the connection is a byte pipe (`Transport`): raw SPDY after
`Upgrade: SPDY/3.1`, or SPDY inside binary WebSocket messages (kubectl 1.31+ tunnels
port-forward that way). `ServerSession` reads frames off it and does what every kubelet
stream server does alike: only the client opens streams (odd ids, each higher than the one
before, each answered with SYN_REPLY), the client's pings are echoed, and frames are written
whole and in order from any thread. After the client's GOAWAY no new stream is accepted, but
the connection stays until the client closes it, as kubelet's spdystream keeps it: kubectl
sends GOAWAY first and still writes the last bytes of the streams it is finishing.

Subclasses say what a stream is for (`on_stream`) and what to do with its data (`on_data`,
`on_reset`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from kubelesson.sim.streams import spdy
from kubelesson.sim.streams.websocket import WebSocketStream

CHUNK = 32 * 1024  # bytes read at once; a pod's app is tiny, DATA frames this size are plenty


class Transport(Protocol):
    """The upgraded connection as a byte pipe: `recv` returns b"" at end of stream."""

    def recv(self) -> bytes: ...

    def send(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SocketTransport:
    """Raw SPDY after `Upgrade: SPDY/3.1`. Reads go through the handler's buffered reader,
    which may already hold bytes the client sent right behind its request."""

    def __init__(self, reader: Any, conn: socket.socket) -> None:
        self._reader = reader
        self._conn = conn

    def recv(self) -> bytes:
        try:
            data: bytes = self._reader.read1(CHUNK)
        except (OSError, ValueError):  # ValueError: the reader was closed under us
            return b""
        return data

    def send(self, data: bytes) -> None:
        self._conn.sendall(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.shutdown(socket.SHUT_RDWR)


class WebSocketTransport:
    """SPDY inside binary WebSocket messages (the tunnel of kubectl 1.31+)."""

    def __init__(self, reader: Any, conn: socket.socket) -> None:
        self._conn = conn
        self._ws = WebSocketStream(reader, conn.sendall)

    def recv(self) -> bytes:
        try:
            return self._ws.recv()
        except (OSError, ValueError):
            return b""

    def send(self, data: bytes) -> None:
        self._ws.send(data)

    def close(self) -> None:
        self._ws.close()
        with contextlib.suppress(OSError):
            self._conn.shutdown(socket.SHUT_RDWR)


class ServerSession:
    """Frames in, dispatched; frames out, serialized. `read_frames` runs on the handler's
    thread until the client closes (or `closed` is set); `send` may be called from any."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._codec = spdy.HeaderCodec()
        self._reader = spdy.FrameReader(self._codec)
        # Compressing headers and writing must happen under one lock: the zlib stream's
        # blocks have to reach the client in the order they were made.
        self._write_lock = threading.Lock()
        self._last_stream_id = 0
        self._going_away = False  # the client sent GOAWAY: no new streams
        self.closed = threading.Event()

    def read_frames(self) -> None:
        """Dispatch the client's frames until it closes the connection. Raises
        spdy.ProtocolError, WebSocketError or OSError for a broken connection."""
        while not self.closed.is_set():
            data = self._transport.recv()
            if not data:
                return
            self._reader.feed(data)
            for frame in self._reader.frames():
                self._dispatch(frame)

    def send(self, build: Callable[[], bytes]) -> bool:
        """Build and write a frame atomically; False (and the session is closed) if the
        connection is gone."""
        with self._write_lock:
            if self.closed.is_set():
                return False
            try:
                self._transport.send(build())
            except OSError:
                self.closed.set()
                return False
        return True

    def reset(self, stream_id: int, status: int) -> None:
        self.send(lambda: spdy.encode_rst_stream(stream_id, status))

    def _dispatch(self, frame: spdy.Frame) -> None:
        if isinstance(frame, spdy.SynStream):
            if self._accept(frame):
                self.on_stream(frame)
        elif isinstance(frame, spdy.DataFrame):
            self.on_data(frame)
        elif isinstance(frame, spdy.RstStream):
            self.on_reset(frame)
        elif isinstance(frame, spdy.Ping):
            # Odd ids are the client's pings; even ones would answer pings of ours (none).
            if frame.ping_id % 2 == 1:
                self.send(lambda: spdy.encode_ping(frame.ping_id))
        elif isinstance(frame, spdy.GoAway):
            self._going_away = True
        # SETTINGS, WINDOW_UPDATE, HEADERS, SYN_REPLY: nothing to do (no flow control here).

    def _accept(self, frame: spdy.SynStream) -> bool:
        stream_id = frame.stream_id
        if stream_id % 2 == 0 or stream_id <= self._last_stream_id:
            self.reset(stream_id, spdy.RST_PROTOCOL_ERROR)
            return False
        if self._going_away:
            self.reset(stream_id, spdy.RST_REFUSED_STREAM)
            return False
        self._last_stream_id = stream_id
        self.send(lambda: spdy.encode_syn_reply(self._codec, stream_id))
        return True

    # -- what a subclass serves --

    def on_stream(self, frame: spdy.SynStream) -> None:
        """A new stream, already answered with SYN_REPLY."""

    def on_data(self, frame: spdy.DataFrame) -> None:
        """DATA (and FIN) on a stream."""

    def on_reset(self, frame: spdy.RstStream) -> None:
        """The client reset a stream."""
