"""In-process stand-ins for the programs inside simulated containers.

A port-forward into a simulated pod ends at a `Backend`: it gets one side of a socket pair and
talks the container's protocol on it (HTTP for caddy and nginx, RESP for redis) until either
side closes. `backend_for(image, port)` picks one, or returns None when nothing in that image
would listen on the port (the port-forward then reports "connection refused" as kubelet does).

A Backend instance is the container's process: state such as redis keys lives on the instance,
so the caller keeps one instance per pod and port.
"""

from __future__ import annotations

import fnmatch
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

RECV_SIZE = 65536
# A request head or a RESP command bigger than this is not something a lesson sends.
MAX_REQUEST = 1024 * 1024


class Backend(ABC):
    """One listening program in a container. `serve` handles one accepted connection and
    returns when it is finished; the caller closes the socket afterwards."""

    @abstractmethod
    def serve(self, conn: socket.socket) -> None: ...


def image_name(image: str) -> str:
    """The bare repository name of an image reference: `docker.io/library/caddy:2.8@sha…`
    → `caddy`."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def backend_for(image: str, port: int) -> Backend | None:
    """A fresh backend for what `image` serves on `port`, or None if nothing listens there."""
    factory = _CATALOGUE.get((image_name(image), port))
    return factory() if factory else None


class _Buffered:
    """A socket with a read buffer, for line- and length-oriented protocols."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = bytearray()

    def fill(self) -> bool:
        """Read more; False at end of stream (or when the other side vanished)."""
        try:
            chunk = self.conn.recv(RECV_SIZE)
        except OSError:
            return False
        self.buffer += chunk
        return bool(chunk)

    def read_until(self, marker: bytes) -> bytes | None:
        """Everything up to and including `marker`, or None at end of stream or overflow."""
        while (index := self.buffer.find(marker)) < 0:
            if len(self.buffer) > MAX_REQUEST or not self.fill():
                return None
        end = index + len(marker)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    def read_exact(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if not self.fill():
                return None
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def send(self, data: bytes) -> bool:
        try:
            self.conn.sendall(data)
        except OSError:
            return False
        return True


# --- HTTP (caddy, nginx) ---------------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    def wants_close(self) -> bool:
        """HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes unless asked
        to keep it."""
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens


def parse_request_head(head: bytes) -> HttpRequest | None:
    """Parse a request line and headers; None if it is not HTTP/1.x."""
    try:
        text = head.decode("iso-8859-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return HttpRequest(parts[0], parts[1], parts[2], headers)


@dataclass(frozen=True)
class StaticSite:
    """What a web server image serves out of the box."""

    server_header: str
    index_html: str
    not_found_html: str


class HttpBackend(Backend):
    """A static web server: `/` and `/index.html` give the welcome page, anything else 404."""

    def __init__(self, site: StaticSite) -> None:
        self.site = site

    def serve(self, conn: socket.socket) -> None:
        reader = _Buffered(conn)
        while True:
            head = reader.read_until(b"\r\n\r\n")
            if head is None:
                return
            request = parse_request_head(head)
            if request is None:
                reader.send(self._response(400, "text/plain", b"Bad Request\n", close=True))
                return
            if not self._skip_body(reader, request):
                return
            close = request.wants_close()
            if not reader.send(self._answer(request, close=close)) or close:
                return

    def _skip_body(self, reader: _Buffered, request: HttpRequest) -> bool:
        """Drop a request body so the next request on the connection parses cleanly.
        Chunked bodies are not supported (no lesson sends one); the connection is closed."""
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            reader.send(self._response(411, "text/plain", b"Length Required\n", close=True))
            return False
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REQUEST:
            reader.send(self._response(400, "text/plain", b"Bad Request\n", close=True))
            return False
        return reader.read_exact(length) is not None if length else True

    def _answer(self, request: HttpRequest, *, close: bool) -> bytes:
        if request.method not in ("GET", "HEAD"):
            return self._response(405, "text/plain", b"Method Not Allowed\n", close=close)
        path = request.target.split("?", 1)[0]
        if path in ("/", "/index.html"):
            status, body = 200, self.site.index_html
        else:
            status, body = 404, self.site.not_found_html
        payload = body.encode("utf-8")
        response = self._response(status, "text/html; charset=utf-8", payload, close=close)
        if request.method == "HEAD":
            return response[: len(response) - len(payload)]
        return response

    def _response(self, status: int, content_type: str, body: bytes, *, close: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}",
            f"Server: {self.site.server_header}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
        ]
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
}


def _page(title: str, heading: str, paragraphs: list[str]) -> str:
    body = "\n".join(f"    <p>{text}</p>" for text in paragraphs)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "  <head>\n"
        '    <meta charset="utf-8">\n'
        f"    <title>{title}</title>\n"
        "  </head>\n"
        "  <body>\n"
        f"    <h1>{heading}</h1>\n"
        f"{body}\n"
        "  </body>\n"
        "</html>\n"
    )


CADDY_SITE = StaticSite(
    server_header="Caddy",
    index_html=_page(
        "Caddy works!",
        "Caddy works!",
        [
            "This is the default page of the caddy container image, served inside a pod of the"
            " kubelesson simulated cluster.",
            "If you can read this through <code>kubectl port-forward</code>, the forward from"
            " your machine into the pod is working.",
        ],
    ),
    not_found_html="",
)

NGINX_SITE = StaticSite(
    server_header="nginx/1.27.3",
    index_html=_page(
        "Welcome to nginx!",
        "Welcome to nginx!",
        [
            "The nginx web server in this container is up and answering requests.",
            "This page is served by the kubelesson simulated cluster; a real nginx image shows"
            " its own default page here.",
        ],
    ),
    not_found_html=_page("404 Not Found", "404 Not Found", ["nginx"]),
)


# --- redis -----------------------------------------------------------------------------------


class RedisBackend(Backend):
    """A tiny RESP server: PING, ECHO, SET, GET, DEL, EXISTS, KEYS, QUIT. Keys live on the
    instance (one per pod), shared by all connections and guarded by a lock."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self._commands: dict[str, Callable[[list[bytes]], bytes]] = {
            "PING": self._ping,
            "ECHO": self._echo,
            "SET": self._set,
            "GET": self._get,
            "DEL": self._del,
            "EXISTS": self._exists,
            "KEYS": self._keys,
        }

    def serve(self, conn: socket.socket) -> None:
        reader = _Buffered(conn)
        while True:
            command = _read_command(reader)
            if command is None:
                return
            if not command:
                continue
            name = command[0].decode("utf-8", "replace").upper()
            if name == "QUIT":
                reader.send(b"+OK\r\n")
                return
            if not reader.send(self.execute(name, command[1:])):
                return

    def execute(self, name: str, args: list[bytes]) -> bytes:
        handler = self._commands.get(name)
        if handler is None:
            shown = " ".join(f"'{a.decode('utf-8', 'replace')}'" for a in args)
            return (
                f"-ERR unknown command '{name.lower()}', with args beginning with: {shown}\r\n"
            ).encode()
        return handler(args)

    def _ping(self, args: list[bytes]) -> bytes:
        if len(args) > 1:
            return _wrong_args("ping")
        return _bulk(args[0]) if args else b"+PONG\r\n"

    def _echo(self, args: list[bytes]) -> bytes:
        return _bulk(args[0]) if len(args) == 1 else _wrong_args("echo")

    def _set(self, args: list[bytes]) -> bytes:
        if len(args) != 2:  # options such as EX/NX are not simulated
            return _wrong_args("set") if len(args) < 2 else b"-ERR syntax error\r\n"
        with self._lock:
            self._data[args[0]] = args[1]
        return b"+OK\r\n"

    def _get(self, args: list[bytes]) -> bytes:
        if len(args) != 1:
            return _wrong_args("get")
        with self._lock:
            value = self._data.get(args[0])
        return _bulk(value)

    def _del(self, args: list[bytes]) -> bytes:
        if not args:
            return _wrong_args("del")
        with self._lock:
            removed = sum(self._data.pop(key, None) is not None for key in args)
        return f":{removed}\r\n".encode()

    def _exists(self, args: list[bytes]) -> bytes:
        if not args:
            return _wrong_args("exists")
        with self._lock:
            found = sum(key in self._data for key in args)
        return f":{found}\r\n".encode()

    def _keys(self, args: list[bytes]) -> bytes:
        if len(args) != 1:
            return _wrong_args("keys")
        pattern = args[0].decode("latin-1")
        with self._lock:
            keys = sorted(
                k for k in self._data if fnmatch.fnmatchcase(k.decode("latin-1"), pattern)
            )
        return f"*{len(keys)}\r\n".encode() + b"".join(_bulk(k) for k in keys)


def _bulk(value: bytes | None) -> bytes:
    if value is None:
        return b"$-1\r\n"
    return f"${len(value)}\r\n".encode() + value + b"\r\n"


def _wrong_args(name: str) -> bytes:
    return f"-ERR wrong number of arguments for '{name}' command\r\n".encode()


def _read_command(reader: _Buffered) -> list[bytes] | None:
    """One command: a RESP array of bulk strings (what clients send) or an inline line (what
    a person typing into nc or telnet sends). None at end of stream or on garbage."""
    line = reader.read_until(b"\r\n")
    if line is None:
        return None
    line = line[:-2]
    if not line.startswith(b"*"):
        return line.split()
    try:
        count = int(line[1:])
    except ValueError:
        return None
    items: list[bytes] = []
    for _ in range(max(count, 0)):
        item = _read_bulk(reader)
        if item is None:
            return None
        items.append(item)
    return items


def _read_bulk(reader: _Buffered) -> bytes | None:
    header = reader.read_until(b"\r\n")
    if header is None or not header.startswith(b"$"):
        return None
    try:
        size = int(header[1:-2])
    except ValueError:
        return None
    if size < 0 or size > MAX_REQUEST:
        return None
    data = reader.read_exact(size + 2)
    return data[:-2] if data is not None else None


_CATALOGUE: dict[tuple[str, int], Callable[[], Backend]] = {
    ("caddy", 80): lambda: HttpBackend(CADDY_SITE),
    ("nginx", 80): lambda: HttpBackend(NGINX_SITE),
    ("redis", 6379): RedisBackend,
}
