"""In-process stand-ins for the programs inside simulated containers.

A port-forward into a simulated pod ends at a `Backend`: it gets one side of a socket pair and
talks the container's protocol on it (HTTP for caddy and nginx, RESP for redis) until either
side closes. The web servers serve files from their image's web root, over which the pod's
volumes are mounted (podfs.py). `backend_for(image, port)` picks one, or returns None when nothing in that image
would listen on the port (the port-forward then reports "connection refused" as kubelet does).

A Backend instance is the container's process: state such as redis keys lives on the instance,
so the caller keeps one instance per pod and port.
"""

from __future__ import annotations

import fnmatch
import html
import mimetypes
import posixpath
import socket
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import unquote

from kubelesson.sim.kubelet.podfs import Filesystem, Kind, Mount, clean_path

RECV_SIZE = 65536
# A request head or a RESP command bigger than this is not something a lesson sends.
MAX_REQUEST = 1024 * 1024
# Nor is a request body bigger than this (kube-apiserver's own limit on a request).
MAX_BODY = 8 * 1024 * 1024


class Backend(ABC):
    """One listening program in a container. `serve` handles one accepted connection and
    returns when it is finished; the caller closes the socket afterwards."""

    @abstractmethod
    def serve(self, conn: socket.socket) -> None: ...


def serve_client(backend: Backend, conn: socket.socket, client_ip: str) -> None:
    """Serve one connection from a client in the cluster: a program that wants the client's
    address (traQ logs it) gets it through `serve_from`."""
    serve_from = getattr(backend, "serve_from", None)
    if serve_from is not None:
        serve_from(conn, client_ip)
    else:
        backend.serve(conn)


def image_name(image: str) -> str:
    """The bare repository name of an image reference: `docker.io/library/caddy:2.8@sha…`
    → `caddy`."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def backend_for(image: str, port: int, mounts: Sequence[Mount] = ()) -> Backend | None:
    """A fresh backend for what `image` serves on `port`, or None if nothing listens there.
    `mounts` are the pod's volumes in that container (podfs.mounts_for), laid over the
    image's own files."""
    factory = _CATALOGUE.get((image_name(image), port))
    return factory(mounts) if factory else None


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


def read_body(reader: _Buffered, request: HttpRequest) -> bytes | None:
    """A request's body, by Content-Length or chunked; None when it is malformed, too big,
    or the connection ends first."""
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return _read_chunked(reader)
    try:
        length = int(request.headers.get("content-length", "0") or 0)
    except ValueError:
        return None
    if length < 0 or length > MAX_BODY:
        return None
    return reader.read_exact(length) if length else b""


def _read_chunked(reader: _Buffered) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    while True:
        line = reader.read_until(b"\r\n")
        if line is None:
            return None
        try:
            size = int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            return None
        if size < 0:
            return None
        if size == 0:  # the last chunk; then trailers up to an empty line
            while reader.read_until(b"\r\n") not in (None, b"\r\n"):
                pass
            return b"".join(chunks)
        total += size
        data = reader.read_exact(size + 2)
        if data is None or total > MAX_BODY:
            return None
        chunks.append(data[:-2])


class HttpServer(Backend):
    """The connection loop every simulated web server shares: requests one after another on
    a kept-alive connection, each with its whole body. A request that cannot be parsed gets
    the server's own 400 and the connection is closed."""

    def serve(self, conn: socket.socket) -> None:
        reader = _Buffered(conn)
        while True:
            head = reader.read_until(b"\r\n\r\n")
            if head is None:
                return
            request = parse_request_head(head)
            body = read_body(reader, request) if request is not None else None
            if request is None or body is None:
                reader.send(self.bad_request())
                return
            close = request.wants_close()
            if not reader.send(self.respond(request, body, conn, close=close)) or close:
                return

    @abstractmethod
    def respond(self, request: HttpRequest, body: bytes, conn: socket.socket, *,
                close: bool) -> bytes:
        """The whole response to one request (for HEAD, without its body)."""

    @abstractmethod
    def bad_request(self) -> bytes:
        """What this server answers to a request it cannot parse."""


class HttpBackend(HttpServer):
    """A static web server: files under the image's web root, read from the container's
    `Filesystem` on every request (so a ConfigMap mounted there and then changed shows in
    the next answer). Subclasses give each server's rules for directories and errors."""

    server_header = ""
    web_root = "/"
    index_names: tuple[str, ...] = ("index.html",)

    def __init__(self, files: Filesystem) -> None:
        self.files = files

    def bad_request(self) -> bytes:
        return self._response(Reply(400, b"Bad Request\n", "text/plain"), close=True)

    def respond(self, request: HttpRequest, body: bytes, conn: socket.socket, *,
                close: bool) -> bytes:
        return self._answer(request, close=close)

    def _answer(self, request: HttpRequest, *, close: bool) -> bytes:
        if request.method not in ("GET", "HEAD"):
            reply = Reply(405, b"Method Not Allowed\n", "text/plain")
        else:
            path, _, query = request.target.partition("?")
            reply = self.route(unquote(path) or "/", query, request)
        response = self._response(reply, close=close)
        if request.method == "HEAD":
            return response[: len(response) - len(reply.body)]
        return response

    @abstractmethod
    def route(self, path: str, query: str, request: HttpRequest) -> Reply:
        """The answer for a GET of `path` (percent-decoded, as the client sent it)."""

    def _in_root(self, path: str) -> str:
        """The file a request path names: cleaned first, so `..` never leaves the root."""
        return posixpath.join(self.web_root, clean_path(path).lstrip("/"))

    def _file(self, path: str) -> bytes | None:
        return self.files.read(self._in_root(path))

    def _stat(self, path: str) -> Kind | None:
        return self.files.stat(self._in_root(path))

    def _index(self, directory: str) -> str | None:
        """The first index file present in a directory of the web root."""
        for name in self.index_names:
            candidate = posixpath.join(directory, name)
            if self._stat(candidate) == "file":
                return candidate
        return None

    def _response(self, reply: Reply, *, close: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Unknown')}",
            f"Server: {self.server_header}",
            f"Date: {formatdate(usegmt=True)}",
        ]
        if reply.content_type:
            lines.append(f"Content-Type: {reply.content_type}")
        lines += [f"{name}: {value}" for name, value in reply.headers]
        lines.append(f"Content-Length: {len(reply.body)}")
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = ""
    headers: tuple[tuple[str, str], ...] = ()


class CaddyBackend(HttpBackend):
    """caddy's default configuration: `root * /usr/share/caddy` and `file_server`.

    As its file server does: a directory is served through its index file, and only then
    is the URL made canonical (a 308 adds the missing trailing slash); a file asked for with
    a trailing slash gets a 308 to the name without it; a directory without an index file,
    and anything missing, is a 404 with an empty body."""

    server_header = "Caddy"
    web_root = "/usr/share/caddy"
    index_names = ("index.html", "index.txt")

    def route(self, path: str, query: str, request: HttpRequest) -> Reply:
        kind = self._stat(path)
        if kind == "dir":
            index = self._index(path)
            if index is None:
                return Reply(404)
            if not path.endswith("/"):
                return self._redirect(path + "/", query)
            return self._serve(index)
        if kind == "file":
            if path.endswith("/"):
                return self._redirect(path.rstrip("/"), query)
            return self._serve(path)
        return Reply(404)

    def _serve(self, path: str) -> Reply:
        body = self._file(path)
        if body is None:
            return Reply(404)
        return Reply(200, body, _caddy_content_type(path, body))

    @staticmethod
    def _redirect(to: str, query: str) -> Reply:
        location = "/" + to.lstrip("/") + ("?" + query if query else "")
        body = f'<a href="{html.escape(location)}">Permanent Redirect</a>.\n\n'.encode()
        return Reply(308, body, "text/html; charset=utf-8", (("Location", location),))


class NginxBackend(HttpBackend):
    """The nginx image's default server: `root /usr/share/nginx/html; index index.html
    index.htm;`. A directory without the trailing slash gets a 301 to an absolute URL built
    from the Host header and nginx's own port (80, so left out: through a port-forward the
    redirect points at port 80, as with a real nginx); a directory without an index file is
    403; anything missing is 404; errors come as nginx's small HTML pages."""

    server_header = "nginx/1.27.3"
    web_root = "/usr/share/nginx/html"
    index_names = ("index.html", "index.htm")

    def route(self, path: str, query: str, request: HttpRequest) -> Reply:
        kind = self._stat(path)
        if kind == "dir":
            if not path.endswith("/"):
                host = request.headers.get("host", "localhost").rsplit(":", 1)[0] or "localhost"
                location = f"http://{host}{path}/" + ("?" + query if query else "")
                return self._error(301, (("Location", location),))
            index = self._index(path)
            if index is None:
                return self._error(403)
            return self._serve(index)
        if kind == "file" and not path.endswith("/"):
            return self._serve(path)
        return self._error(404)

    def _serve(self, path: str) -> Reply:
        body = self._file(path)
        if body is None:
            return self._error(404)
        guessed, _ = mimetypes.guess_type(path, strict=False)
        return Reply(200, body, guessed or "application/octet-stream")

    def _error(self, status: int, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
        title = f"{status} {_REASONS[status]}"
        page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n"
                f"<hr><center>{self.server_header}</center>\r\n</body>\r\n</html>\r\n")
        return Reply(status, page.encode(), "text/html", headers)


def _caddy_content_type(path: str, body: bytes) -> str:
    """By extension as Go's mime package (with the image's /etc/mime.types) says, text types
    with `charset=utf-8`; else sniffed from the content as Go's net/http does."""
    guessed, _ = mimetypes.guess_type(path, strict=False)
    if guessed:
        return guessed + "; charset=utf-8" if guessed.startswith("text/") else guessed
    start = body.lstrip()[:14].lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "text/html; charset=utf-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    if any(ord(c) < 32 and c not in "\t\n\r\x0c\x1b" for c in text):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    308: "Permanent Redirect",
    400: "Bad Request",
    403: "Forbidden",
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


# The files each image brings (absolute paths). The welcome pages are written for the
# simulator; the real images ship their own.
CADDY_FILES: dict[str, bytes] = {
    "/usr/share/caddy/index.html": _page(
        "Caddy works!",
        "Caddy works!",
        [
            "This is the default page of the caddy container image, served inside a pod of the"
            " kubelesson simulated cluster.",
            "If you can read this through <code>kubectl port-forward</code>, the forward from"
            " your machine into the pod is working.",
        ],
    ).encode(),
    "/etc/caddy/Caddyfile": b":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n",
}

NGINX_FILES: dict[str, bytes] = {
    "/usr/share/nginx/html/index.html": _page(
        "Welcome to nginx!",
        "Welcome to nginx!",
        [
            "The nginx web server in this container is up and answering requests.",
            "This page is served by the kubelesson simulated cluster; a real nginx image shows"
            " its own default page here.",
        ],
    ).encode(),
    "/usr/share/nginx/html/50x.html": _page(
        "Error", "An error occurred.", ["The page you are looking for is unavailable."]
    ).encode(),
}


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


_CATALOGUE: dict[tuple[str, int], Callable[[Sequence[Mount]], Backend]] = {
    ("caddy", 80): lambda mounts: CaddyBackend(Filesystem(CADDY_FILES, mounts)),
    ("nginx", 80): lambda mounts: NginxBackend(Filesystem(NGINX_FILES, mounts)),
    ("redis", 6379): lambda mounts: RedisBackend(),
}
