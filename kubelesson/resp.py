"""Just enough of the Redis protocol (RESP2) for a lesson's Redis session, and the way
``redis-cli`` shows the replies on a terminal, so the transcript reads like the chapter (pure,
apart from reading one reply from a stream)."""

from __future__ import annotations

from typing import BinaryIO, TypeAlias


class RespError(str):
    """An error reply (``-ERR ...``)."""


Reply: TypeAlias = "str | int | bytes | None | list[Reply]"  # an error is a RespError (a str)


class ProtocolError(ValueError):
    """The peer does not speak RESP (it may be another program on the port)."""


def encode(words: list[str]) -> bytes:
    """A command as the array of bulk strings every Redis client sends."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _line(stream: BinaryIO) -> bytes:
    line = stream.readline(1 << 16)
    if not line.endswith(b"\r\n"):
        raise ProtocolError(f"incomplete reply line {line[:40]!r}")
    return line[:-2]


def read(stream: BinaryIO, depth: int = 0) -> Reply:
    """One reply from the stream."""
    if depth > 32:
        raise ProtocolError("reply nested too deeply")
    line = _line(stream)
    kind, rest = line[:1], line[1:].decode("utf-8", "replace")
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest)
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise ProtocolError("bulk string cut short")
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [read(stream, depth + 1) for _ in range(count)]
    raise ProtocolError(f"not a Redis reply: {line[:40]!r}")


def render(reply: Reply, indent: str = "") -> list[str]:
    """The reply as redis-cli prints it on a terminal: quoted strings, numbered arrays."""
    if isinstance(reply, RespError):
        return [f"(error) {reply}"]
    if isinstance(reply, str):
        return [reply]
    if isinstance(reply, int):
        return [f"(integer) {reply}"]
    if reply is None:
        return ["(nil)"]
    if isinstance(reply, bytes):
        return ['"' + reply.decode("utf-8", "backslashreplace").replace('"', '\\"') + '"']
    if not reply:
        return ["(empty array)"]
    lines: list[str] = []
    width = len(str(len(reply)))
    for number, item in enumerate(reply, 1):
        label = f"{number:>{width}}) "
        inner = render(item, indent + " " * len(label))
        lines.append(f"{indent if number > 1 else ''}{label}{inner[0]}")
        lines += inner[1:]
    return lines
