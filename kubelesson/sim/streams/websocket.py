"""The server side of RFC 6455, as far as kubectl's port-forward tunnel needs it.

kubectl (1.31+) first tries to carry the SPDY/3.1 port-forward stream inside a WebSocket. The
WebSocket is only a pipe here: message boundaries mean nothing (the client writes one frame per
field it serializes), so this module exposes the connection as a plain byte stream.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import struct
import threading
from collections.abc import Callable
from typing import Protocol

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TOO_BIG = 1009

# Generous: the client chunks its writes small; a huge frame is garbage or abuse.
MAX_PAYLOAD = 16 * 1024 * 1024


class WebSocketError(Exception):
    """The client broke the protocol; the connection must be closed."""


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def accept_value(key: str) -> str:
    """Sec-WebSocket-Accept for a client's Sec-WebSocket-Key."""
    digest = hashlib.sha1((key.strip() + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def handshake_response(key: str, protocol: str) -> bytes:
    """The complete 101 answer that accepts the upgrade with one subprotocol."""
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_value(key)}",
        f"Sec-WebSocket-Protocol: {protocol}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A server frame: never masked (RFC 6455 §5.1)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack(">BB", first, size)
    elif size < 1 << 16:
        head = struct.pack(">BBH", first, 126, size)
    else:
        head = struct.pack(">BBQ", first, 127, size)
    return head + payload


def encode_close(code: int) -> bytes:
    """A server close frame with its status code."""
    return encode_frame(OP_CLOSE, struct.pack(">H", code))


def encode_client_frame(opcode: int, payload: bytes, mask: bytes, *, fin: bool = True) -> bytes:
    """A masked frame as a client sends it; used by tests to play kubectl's part."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = struct.pack(">BB", first, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack(">BBH", first, 0x80 | 126, size)
    else:
        head = struct.pack(">BBQ", first, 0x80 | 127, size)
    return head + mask + apply_mask(payload, mask)


def apply_mask(data: bytes, mask: bytes) -> bytes:
    # XOR with the repeated 4-byte key, done as one big-integer operation for speed.
    if not data:
        return b""
    repeated = (mask * (len(data) // 4 + 1))[: len(data)]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(data), "big")


def read_exact(source: Readable, size: int) -> bytes | None:
    """Read exactly `size` bytes; None if the stream ends first."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = source.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(source: Readable) -> tuple[bool, int, bytes] | None:
    """The next client frame: (fin, opcode, unmasked payload); None at end of stream.
    Raises WebSocketError on frames a client must not send (RFC 6455 §5.1-5.5)."""
    head = read_exact(source, 2)
    if head is None:
        return None
    fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
    if head[0] & 0x70:
        raise WebSocketError("reserved bits set (no extension was negotiated)")
    if not head[1] & 0x80:
        raise WebSocketError("client frame is not masked")
    size = head[1] & 0x7F
    if opcode >= 0x8 and (size > 125 or not fin):
        raise WebSocketError("bad control frame")
    if size >= 126:
        raw = read_exact(source, 2 if size == 126 else 8)
        if raw is None:
            return None
        size = int.from_bytes(raw, "big")
    if size > MAX_PAYLOAD:
        raise WebSocketError("frame too large")
    mask = read_exact(source, 4)
    payload = read_exact(source, size) if size else b""
    if mask is None or payload is None:
        return None
    return fin, opcode, apply_mask(payload, mask)


class WebSocketStream:
    """Byte-stream view of a server-side WebSocket connection.

    `recv` returns the payload of the next data frame (b"" once the peer closed or went away)
    and answers pings and closes by itself; `send` writes one binary frame. `send` may be
    called from several threads; `recv` from one.
    """

    def __init__(self, source: Readable, write: Callable[[bytes], None]) -> None:
        self._source = source
        self._write = write
        self._lock = threading.Lock()
        self._closed = False

    def recv(self) -> bytes:
        while True:
            frame = read_frame(self._source)
            if frame is None:
                return b""
            _, opcode, payload = frame
            if opcode in (OP_BINARY, OP_CONTINUATION):
                if payload:
                    return payload
            elif opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self.close(CLOSE_NORMAL)
                return b""
            elif opcode == OP_TEXT:
                self.close(CLOSE_UNSUPPORTED_DATA)
                return b""
            # OP_PONG and reserved opcodes are ignored.

    def send(self, data: bytes) -> None:
        self._send_frame(OP_BINARY, data)

    def close(self, code: int = CLOSE_NORMAL) -> None:
        """Send a close frame once; errors are ignored because the peer may be gone."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                self._write(encode_close(code))

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        with self._lock:
            if self._closed:
                raise BrokenPipeError("websocket closed")
            self._write(encode_frame(opcode, payload))
