"""SPDY/3 frame codec, just enough for the Kubernetes port-forward protocol.

Pure functions and small classes with no I/O: `FrameReader` turns bytes into frames, the
`encode_*` helpers turn frames into bytes. Header (name/value) blocks are zlib-compressed with a
preset dictionary and one compression context per direction for the whole connection, so
`HeaderCodec` instances must live as long as the connection and be used in wire order.

kubectl sends version 3 frames even though the upgrade token says SPDY/3.1 (3.1 only adds
session flow control, which kubectl's SPDY library does not implement).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

VERSION = 3

# Control frame types.
SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

# Flags.
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

# RST_STREAM status codes.
RST_PROTOCOL_ERROR = 1
RST_INVALID_STREAM = 2
RST_REFUSED_STREAM = 3
RST_CANCEL = 5
RST_INTERNAL_ERROR = 6

# GOAWAY status codes.
GOAWAY_OK = 0
GOAWAY_PROTOCOL_ERROR = 1

# 24-bit length field; nothing kubectl sends comes near it, so anything larger is garbage.
MAX_FRAME_PAYLOAD = (1 << 24) - 1
# A decompressed header block bigger than this is an attack or a bug, not port-forward.
MAX_HEADER_BLOCK = 64 * 1024

# The 65 words come first, each after its length as a 4-byte big-endian integer.
# fmt: off
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
# fmt: on

_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _build_dictionary() -> bytes:
    """The SPDY/3 header-compression dictionary: length-prefixed words, then a fixed tail."""
    parts = [struct.pack(">I", len(word)) + word.encode("ascii") for word in _DICTIONARY_WORDS]
    return b"".join(parts) + _DICTIONARY_TAIL.encode("ascii")


DICTIONARY = _build_dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not valid SPDY/3; the session must end."""


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    flags: int
    data: bytes

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    associated_id: int
    priority: int
    flags: int
    headers: dict[str, str]

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    flags: int
    headers: dict[str, str]


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    ping_id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int


@dataclass(frozen=True)
class Headers:
    stream_id: int
    flags: int
    headers: dict[str, str]


@dataclass(frozen=True)
class OtherControl:
    """SETTINGS, WINDOW_UPDATE or an unknown type: parsed far enough to skip it."""

    frame_type: int
    flags: int
    payload: bytes


Frame = DataFrame | SynStream | SynReply | RstStream | Ping | GoAway | Headers | OtherControl


# --- header blocks ---------------------------------------------------------------------------


def pack_nv(headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialize name/value pairs (uncompressed). Names are lower-cased as SPDY requires."""
    pairs = list(headers)
    out = [struct.pack(">I", len(pairs))]
    for name, value in pairs:
        raw_name = name.lower().encode("utf-8")
        raw_value = value.encode("utf-8")
        out.append(struct.pack(">I", len(raw_name)) + raw_name)
        out.append(struct.pack(">I", len(raw_value)) + raw_value)
    return b"".join(out)


def unpack_nv(block: bytes) -> dict[str, str]:
    """Parse an uncompressed name/value block. Names are lower-cased (match case-insensitively);
    a repeated name keeps its first value, multi-values (NUL-separated) are kept as they are."""
    count, offset = _read_u32(block, 0)
    result: dict[str, str] = {}
    for _ in range(count):
        name, offset = _read_string(block, offset)
        value, offset = _read_string(block, offset)
        result.setdefault(name.lower(), value)
    if offset != len(block):
        raise ProtocolError("trailing bytes after header block")
    return result


def _read_u32(block: bytes, offset: int) -> tuple[int, int]:
    if offset + 4 > len(block):
        raise ProtocolError("truncated header block")
    return struct.unpack_from(">I", block, offset)[0], offset + 4


def _read_string(block: bytes, offset: int) -> tuple[str, int]:
    length, offset = _read_u32(block, offset)
    end = offset + length
    if end > len(block):
        raise ProtocolError("truncated header block")
    try:
        return block[offset:end].decode("utf-8"), end
    except UnicodeDecodeError as exc:
        raise ProtocolError("header is not UTF-8") from exc


class HeaderCodec:
    """One connection end's zlib contexts: a compressor for the blocks it sends and a
    decompressor for the blocks it receives. Both live as long as the connection, because every
    block continues the same zlib stream (only the first one carries a zlib header)."""

    def __init__(self) -> None:
        # Level 9, as Go's SPDY writer uses: the block then starts `78 f9` like kubectl's own.
        self._compressor = zlib.compressobj(level=9, zdict=DICTIONARY)
        self._decompressor = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: Iterable[tuple[str, str]]) -> bytes:
        raw = pack_nv(headers)
        return self._compressor.compress(raw) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, block: bytes) -> dict[str, str]:
        try:
            raw = self._decompressor.decompress(block, MAX_HEADER_BLOCK)
        except zlib.error as exc:
            raise ProtocolError(f"bad header compression: {exc}") from exc
        if self._decompressor.unconsumed_tail:
            raise ProtocolError("header block too large")
        return unpack_nv(raw)


# --- encoding --------------------------------------------------------------------------------


def _control(frame_type: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_PAYLOAD:
        raise ValueError("control frame payload too large")
    head = struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload))
    return head + payload


def encode_data(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    if len(data) > MAX_FRAME_PAYLOAD:
        raise ValueError("data frame payload too large")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(data)) + data


def encode_syn_stream(
    codec: HeaderCodec,
    stream_id: int,
    headers: Sequence[tuple[str, str]],
    *,
    associated_id: int = 0,
    priority: int = 0,
    fin: bool = False,
) -> bytes:
    fixed = struct.pack(">IIBB", stream_id, associated_id, (priority & 0x7) << 5, 0)
    flags = FLAG_FIN if fin else 0
    return _control(SYN_STREAM, flags, fixed + codec.compress(headers))


def encode_syn_reply(
    codec: HeaderCodec,
    stream_id: int,
    headers: Sequence[tuple[str, str]] = (),
    *,
    fin: bool = False,
) -> bytes:
    flags = FLAG_FIN if fin else 0
    return _control(SYN_REPLY, flags, struct.pack(">I", stream_id) + codec.compress(headers))


def encode_rst_stream(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def encode_ping(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def encode_goaway(last_good_stream_id: int, status: int = GOAWAY_OK) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))


# --- decoding --------------------------------------------------------------------------------


class FrameReader:
    """Incremental decoder: `feed` bytes as they arrive, then take complete frames from
    `frames()`. Keeps its own receive-direction zlib context."""

    def __init__(self, codec: HeaderCodec | None = None) -> None:
        self._codec = codec or HeaderCodec()
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def frames(self) -> list[Frame]:
        out: list[Frame] = []
        while (frame := self._next()) is not None:
            out.append(frame)
        return out

    def _next(self) -> Frame | None:
        if len(self._buffer) < 8:
            return None
        first, second = struct.unpack_from(">II", self._buffer, 0)
        length = second & 0xFFFFFF
        if len(self._buffer) < 8 + length:
            return None
        payload = bytes(self._buffer[8 : 8 + length])
        del self._buffer[: 8 + length]
        flags = second >> 24
        if first & 0x80000000:
            return self._decode_control(first, flags, payload)
        return DataFrame(first & 0x7FFFFFFF, flags, payload)

    def _decode_control(self, first: int, flags: int, payload: bytes) -> Frame:
        version = (first >> 16) & 0x7FFF
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        frame_type = first & 0xFFFF
        decoder = _CONTROL_DECODERS.get(frame_type)
        if decoder is None:
            return OtherControl(frame_type, flags, payload)
        return decoder(self._codec, flags, payload)


def _need(payload: bytes, size: int, what: str) -> None:
    if len(payload) < size:
        raise ProtocolError(f"{what} frame too short")


def _decode_syn_stream(codec: HeaderCodec, flags: int, payload: bytes) -> Frame:
    _need(payload, 10, "SYN_STREAM")
    stream_id, associated, prio, _slot = struct.unpack_from(">IIBB", payload, 0)
    headers = codec.decompress(payload[10:])
    return SynStream(stream_id & 0x7FFFFFFF, associated & 0x7FFFFFFF, prio >> 5, flags, headers)


def _decode_syn_reply(codec: HeaderCodec, flags: int, payload: bytes) -> Frame:
    _need(payload, 4, "SYN_REPLY")
    stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
    return SynReply(stream_id, flags, codec.decompress(payload[4:]))


def _decode_headers(codec: HeaderCodec, flags: int, payload: bytes) -> Frame:
    _need(payload, 4, "HEADERS")
    stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
    return Headers(stream_id, flags, codec.decompress(payload[4:]))


def _decode_rst(_codec: HeaderCodec, _flags: int, payload: bytes) -> Frame:
    _need(payload, 8, "RST_STREAM")
    stream_id, status = struct.unpack_from(">II", payload, 0)
    return RstStream(stream_id & 0x7FFFFFFF, status)


def _decode_ping(_codec: HeaderCodec, _flags: int, payload: bytes) -> Frame:
    _need(payload, 4, "PING")
    return Ping(struct.unpack_from(">I", payload, 0)[0])


def _decode_goaway(_codec: HeaderCodec, _flags: int, payload: bytes) -> Frame:
    _need(payload, 4, "GOAWAY")
    last_good = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
    # Draft 2 GOAWAY had no status word; accept its absence.
    status = struct.unpack_from(">I", payload, 4)[0] if len(payload) >= 8 else GOAWAY_OK
    return GoAway(last_good, status)


_CONTROL_DECODERS = {
    SYN_STREAM: _decode_syn_stream,
    SYN_REPLY: _decode_syn_reply,
    HEADERS: _decode_headers,
    RST_STREAM: _decode_rst,
    PING: _decode_ping,
    GOAWAY: _decode_goaway,
}
