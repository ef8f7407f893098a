"""Unit tests for the simulated container apps behind port-forward."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from kubelesson.sim.kubelet.backends import (
    Backend,
    HttpBackend,
    RedisBackend,
    backend_for,
    image_name,
    parse_request_head,
)


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("caddy", "caddy"),
        ("caddy:2.8", "caddy"),
        ("docker.io/library/caddy:2@sha256:abc", "caddy"),
        ("registry.local:5000/team/nginx:1.27-alpine", "nginx"),
        ("REDIS:7", "redis"),
    ],
)
def test_image_name(image: str, name: str) -> None:
    assert image_name(image) == name


def test_catalogue() -> None:
    assert isinstance(backend_for("caddy:2", 80), HttpBackend)
    assert isinstance(backend_for("nginx:latest", 80), HttpBackend)
    assert isinstance(backend_for("redis:7", 6379), RedisBackend)
    assert backend_for("caddy:2", 81) is None
    assert backend_for("cadddy:2", 80) is None
    assert backend_for("busybox", 80) is None
    # Every call is a new "process": state is not shared between pods.
    assert backend_for("redis", 6379) is not backend_for("redis", 6379)


class Conn:
    """The client end of a socket pair whose other end a backend serves in a thread."""

    def __init__(self, backend: Backend) -> None:
        self.sock, theirs = socket.socketpair()
        self.sock.settimeout(5)

        def run() -> None:
            try:
                backend.serve(theirs)
            finally:
                theirs.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        self.pending = b""  # received but not yet consumed by a read_* call

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_all(self) -> bytes:
        chunks = [self.pending]
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        self.pending = b""
        return b"".join(chunks)

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.pending:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before {marker!r}: {self.pending!r}"
            self.pending += chunk
        end = self.pending.index(marker) + len(marker)
        data, self.pending = self.pending[:end], self.pending[end:]
        return data

    def read_exact(self, size: int) -> bytes:
        while len(self.pending) < size:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed early"
            self.pending += chunk
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def caddy() -> Iterator[Backend]:
    backend = backend_for("caddy:2", 80)
    assert backend is not None
    yield backend


def _http_response(conn: Conn) -> tuple[bytes, bytes]:
    head = conn.read_until(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head, conn.read_exact(length)


def test_caddy_welcome_page_with_close(caddy: Backend) -> None:
    conn = Conn(caddy)
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data = conn.read_all()  # the server closes after answering
    conn.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nServer: Caddy\r\n" in data
    assert b"Connection: close" in data
    assert b"<title>Caddy works!</title>" in data


def test_caddy_keep_alive_serves_several_requests(caddy: Backend) -> None:
    conn = Conn(caddy)
    # Two pipelined requests, then a third after the answers.
    conn.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /missing HTTP/1.1\r\nHost: a\r\n\r\n")
    head1, body1 = _http_response(conn)
    head2, body2 = _http_response(conn)
    assert head1.startswith(b"HTTP/1.1 200") and b"Caddy works!" in body1
    assert head2.startswith(b"HTTP/1.1 404") and body2 == b""
    conn.send(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcHEAD / HTTP/1.1\r\n\r\n")
    head3, _ = _http_response(conn)
    assert head3.startswith(b"HTTP/1.1 405")
    head4 = conn.read_until(b"\r\n\r\n")
    assert head4.startswith(b"HTTP/1.1 200") and head4.endswith(b"\r\n\r\n")
    conn.close()


def test_a_chunked_body_is_read_whole_and_the_connection_kept(caddy: Backend) -> None:
    """Every simulated web server shares one connection loop; a chunked body (what curl
    sends for `-T -`) is read to its end, so the next request on the connection parses."""
    conn = Conn(caddy)
    conn.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
    head1, _ = _http_response(conn)
    head2, body2 = _http_response(conn)
    assert head1.startswith(b"HTTP/1.1 405")
    assert head2.startswith(b"HTTP/1.1 200") and b"Caddy works!" in body2
    conn.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert conn.read_all().startswith(b"HTTP/1.1 400 Bad Request")  # not a chunk size
    conn.close()
    negative = Conn(caddy)
    negative.send(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nabc\r\n")
    assert negative.read_all().startswith(b"HTTP/1.1 400 Bad Request")
    negative.close()


def test_http10_closes_by_default(caddy: Backend) -> None:
    conn = Conn(caddy)
    conn.send(b"GET / HTTP/1.0\r\n\r\n")
    assert b"Caddy works!" in conn.read_all()
    conn.close()


def test_garbage_gets_400_and_close(caddy: Backend) -> None:
    conn = Conn(caddy)
    conn.send(b"\x16\x03\x01 tls hello?\r\n\r\n")
    assert conn.read_all().startswith(b"HTTP/1.1 400 Bad Request")
    conn.close()


def test_nginx_page() -> None:
    backend = backend_for("nginx", 80)
    assert backend is not None
    conn = Conn(backend)
    conn.send(b"GET /index.html HTTP/1.1\r\nConnection: close\r\n\r\n")
    data = conn.read_all()
    conn.close()
    assert b"<title>Welcome to nginx!</title>" in data
    assert b"Server: nginx/" in data


def test_parse_request_head() -> None:
    request = parse_request_head(b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n")
    assert request is not None
    assert (request.method, request.target, request.headers["host"]) == ("GET", "/x", "h")
    assert request.wants_close()
    assert parse_request_head(b"hello\r\n\r\n") is None


def _resp(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def test_redis_commands_and_state_shared_across_connections() -> None:
    redis = RedisBackend()
    conn = Conn(redis)
    conn.send(_resp(b"PING"))
    assert conn.read_until(b"\r\n") == b"+PONG\r\n"
    conn.send(_resp(b"SET", b"lesson", b"three") + _resp(b"SET", b"k2", b"v\r\n2"))
    assert conn.read_until(b"+OK\r\n+OK\r\n") == b"+OK\r\n+OK\r\n"
    conn.send(_resp(b"GET", b"lesson"))
    assert conn.read_until(b"three\r\n") == b"$5\r\nthree\r\n"
    conn.close()

    second = Conn(redis)  # another connection to the same pod sees the keys
    second.send(_resp(b"KEYS", b"*"))
    assert second.read_until(b"lesson\r\n") == b"*2\r\n$2\r\nk2\r\n$6\r\nlesson\r\n"
    second.send(_resp(b"DEL", b"lesson", b"nope") + _resp(b"GET", b"lesson"))
    assert second.read_until(b"$-1\r\n") == b":1\r\n$-1\r\n"
    second.send(b"PING hello\r\n")  # inline form, as typed into nc
    assert second.read_until(b"hello\r\n") == b"$5\r\nhello\r\n"
    second.send(_resp(b"FLUSHALL"))
    assert second.read_until(b"\r\n").startswith(b"-ERR unknown command 'flushall'")
    second.send(_resp(b"GET"))
    assert b"wrong number of arguments" in second.read_until(b"\r\n")
    second.send(_resp(b"QUIT"))
    assert second.read_all() == b"+OK\r\n"
    second.close()


def test_redis_garbage_closes_the_connection() -> None:
    conn = Conn(RedisBackend())
    conn.send(b"*2\r\n$x\r\n")
    assert conn.read_all() == b""
    conn.close()
