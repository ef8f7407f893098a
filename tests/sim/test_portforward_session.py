"""Port-forward sessions driven by a pure-Python SPDY client, over raw SPDY and over the
WebSocket tunnel, against a tiny HTTP server that hands the request to `serve_portforward`
the way the simulator does."""

from __future__ import annotations

import http.server
import json
import os
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kubelesson.sim.streams import spdy, websocket
from kubelesson.sim.streams.portforward import gone_message, refused_message, serve_portforward

RUNNING_POD: dict[str, Any] = {
    "metadata": {"name": "caddy", "namespace": "default", "uid": "uid-caddy"},
    "spec": {
        "nodeName": "k3d-sim-agent-0",
        "containers": [{"name": "caddy", "image": "caddy:2"}],
    },
    "status": {"phase": "Running"},
}


def _pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = json.loads(json.dumps(RUNNING_POD))
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = pod
        for name in path:
            target = target[name]
        target[last] = value
    return pod


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pods: dict[str, Mapping[str, Any]] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        name = self.path.split("/")[-2]
        pods = self.pods
        serve_portforward(self, pods[name], current_pod=lambda: pods.get(name))
        self.close_connection = True

    do_POST = do_GET


@pytest.fixture
def server() -> Iterator[tuple[int, dict[str, Mapping[str, Any]]]]:
    pods: dict[str, Mapping[str, Any]] = {}
    handler = type("Handler", (_Handler,), {"pods": pods})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], pods
    finally:
        httpd.shutdown()
        httpd.server_close()


class Client:
    """Plays kubectl's part: upgrade, then SPDY frames (inside WebSocket messages if asked)."""

    def __init__(self, port: int, pod: str, *, ws: bool) -> None:
        self.ws = ws
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader(self.codec)
        self.raw = b""
        self.frames: list[spdy.Frame] = []
        path = f"/api/v1/namespaces/default/pods/{pod}/portforward"
        if ws:
            request = (
                f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n\r\n"
            )
        else:
            request = (
                f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
            )
        self.sock.sendall(request.encode())
        self.status, self.head, self.body = self._read_response()

    def _read_response(self) -> tuple[int, str, bytes]:
        while b"\r\n\r\n" not in self.raw:
            chunk = self.sock.recv(65536)
            assert chunk, self.raw
            self.raw += chunk
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        text = head.decode()
        status = int(text.split(" ")[1])
        body = b""
        if status != 101:
            fields = dict(line.lower().split(": ", 1) for line in text.split("\r\n")[1:])
            length = int(fields["content-length"])
            while len(self.raw) < length:
                self.raw += self.sock.recv(65536)
            body, self.raw = self.raw[:length], self.raw[length:]
        return status, text, body

    def send(self, wire: bytes) -> None:
        if not self.ws:
            self.sock.sendall(wire)
            return
        # Like kubectl: many tiny WebSocket messages; boundaries must not matter.
        for start in range(0, len(wire), 3):
            piece = wire[start : start + 3]
            self.sock.sendall(
                websocket.encode_client_frame(websocket.OP_BINARY, piece, os.urandom(4))
            )

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.raw += chunk
        if not self.ws:
            self.reader.feed(self.raw)
            self.raw = b""
            return True
        while len(self.raw) >= 2:
            size, offset = self.raw[1] & 0x7F, 2
            if size == 126:
                size, offset = struct.unpack(">H", self.raw[2:4])[0], 4
            elif size == 127:
                size, offset = struct.unpack(">Q", self.raw[2:10])[0], 10
            if len(self.raw) < offset + size:
                break
            opcode, payload = self.raw[0] & 0x0F, self.raw[offset : offset + size]
            self.raw = self.raw[offset + size :]
            if opcode == websocket.OP_BINARY:
                self.reader.feed(payload)
        return True

    def next_frame(self) -> spdy.Frame | None:
        """The next frame from the server; None if the server closed the connection."""
        while not self.frames:
            self.frames += self.reader.frames()
            if not self.frames and not self._fill():
                return None
        return self.frames.pop(0)

    def open_pair(self, request_id: int, port: int) -> tuple[int, int]:
        error_id, data_id = 4 * request_id + 1, 4 * request_id + 3
        headers = [("streamtype", "error"), ("port", str(port)), ("requestid", str(request_id))]
        self.send(spdy.encode_syn_stream(self.codec, error_id, headers))
        self.send(spdy.encode_data(error_id, b"", fin=True))
        headers[0] = ("streamtype", "data")
        self.send(spdy.encode_syn_stream(self.codec, data_id, headers))
        return error_id, data_id

    def collect(self, *, until_fin: set[int]) -> tuple[dict[int, bytes], list[spdy.Frame]]:
        """Read frames until every stream in `until_fin` has ended; data per stream, and the
        control frames seen."""
        data: dict[int, bytes] = {}
        control: list[spdy.Frame] = []
        open_ids = set(until_fin)
        while open_ids:
            frame = self.next_frame()
            assert frame is not None, f"connection closed; still open: {open_ids}"
            if isinstance(frame, spdy.DataFrame):
                data[frame.stream_id] = data.get(frame.stream_id, b"") + frame.data
                if frame.fin:
                    open_ids.discard(frame.stream_id)
            else:
                control.append(frame)
        return data, control

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["spdy", "websocket"])
def client_factory(
    request: pytest.FixtureRequest, server: tuple[int, dict[str, Mapping[str, Any]]]
) -> Iterator[Any]:
    port, pods = server
    clients: list[Client] = []

    def make(pod: Mapping[str, Any] = RUNNING_POD, name: str = "caddy") -> Client:
        pods[name] = pod
        client = Client(port, name, ws=request.param == "websocket")
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


GET_CLOSE = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def test_upgrade_headers(client_factory: Any) -> None:
    client: Client = client_factory()
    assert client.status == 101
    if client.ws:
        assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in client.head
        assert "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io" in client.head
    else:
        assert "Upgrade: SPDY/3.1" in client.head
        assert "X-Stream-Protocol-Version: portforward.k8s.io" in client.head


def test_http_fetch_through_a_pair(client_factory: Any) -> None:
    client: Client = client_factory()
    error_id, data_id = client.open_pair(0, 80)
    client.send(spdy.encode_data(data_id, GET_CLOSE))
    data, control = client.collect(until_fin={error_id, data_id})
    replies = [f.stream_id for f in control if isinstance(f, spdy.SynReply)]
    assert replies == [error_id, data_id]
    assert data.get(error_id, b"") == b""  # success: the error stream ends empty
    assert data[data_id].startswith(b"HTTP/1.1 200 OK")
    assert b"<title>Caddy works!</title>" in data[data_id]


def test_concurrent_pairs_and_client_half_close(client_factory: Any) -> None:
    client: Client = client_factory()
    pairs = [client.open_pair(n, 80) for n in range(5)]
    for _, data_id in pairs:
        # Keep-alive request, then the client closes its side, as when curl exits.
        client.send(spdy.encode_data(data_id, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        client.send(spdy.encode_data(data_id, b"", fin=True))
    wanted = {stream for pair in pairs for stream in pair}
    data, _ = client.collect(until_fin=wanted)
    for _, data_id in pairs:
        assert data[data_id].count(b"Caddy works!") == 2  # <title> and <h1>


def test_late_fin_on_a_finished_stream_is_ignored(client_factory: Any) -> None:
    client: Client = client_factory()
    error_id, data_id = client.open_pair(0, 80)
    client.send(spdy.encode_data(data_id, GET_CLOSE))
    client.collect(until_fin={error_id, data_id})  # the app closed first
    client.send(spdy.encode_data(data_id, b"", fin=True))  # kubectl's FIN crossing ours
    client.send(spdy.encode_rst_stream(data_id, spdy.RST_CANCEL))
    client.send(spdy.encode_ping(3))
    assert client.next_frame() == spdy.Ping(3)  # and no RST_STREAM before it


def test_rst_from_client_still_ends_the_error_stream(client_factory: Any) -> None:
    client: Client = client_factory()
    error_id, data_id = client.open_pair(0, 80)
    client.send(spdy.encode_rst_stream(data_id, spdy.RST_CANCEL))
    data, _ = client.collect(until_fin={error_id})
    assert data.get(error_id, b"") == b""


def test_port_without_listener_reports_on_error_stream(client_factory: Any) -> None:
    client: Client = client_factory()
    error_id, data_id = client.open_pair(0, 81)
    data, _ = client.collect(until_fin={error_id, data_id})
    message = data[error_id].decode()
    assert message == refused_message(RUNNING_POD, 81)
    assert message.startswith("error forwarding port 81 to pod ")
    assert ", uid : failed to execute portforward in network namespace" in message
    assert "dial tcp4 127.0.0.1:81: connect: connection refused" in message


def test_pod_not_running_yet_refuses_every_port(client_factory: Any) -> None:
    client: Client = client_factory(_pod(status__phase="Pending"))
    error_id, data_id = client.open_pair(0, 80)
    data, _ = client.collect(until_fin={error_id, data_id})
    assert b"connect: connection refused" in data[error_id]


def _fetch_status(client: Client, request_id: int) -> tuple[bytes, bytes]:
    """Open a pair, send a GET; the error stream's text and the data stream's bytes."""
    error_id, data_id = client.open_pair(request_id, 80)
    client.send(spdy.encode_data(data_id, GET_CLOSE))
    data, _ = client.collect(until_fin={error_id, data_id})
    return data.get(error_id, b""), data.get(data_id, b"")


def test_each_connection_sees_the_pod_as_it_is_now(
    client_factory: Any, server: tuple[int, dict[str, Mapping[str, Any]]]
) -> None:
    _, pods = server
    client: Client = client_factory(_pod(status__phase="Pending"))
    error, _ = _fetch_status(client, 0)
    assert b"connection refused" in error  # still ContainerCreating
    pods["caddy"] = RUNNING_POD  # the container started
    error, page = _fetch_status(client, 1)
    assert error == b"" and b"Caddy works!" in page
    pods["caddy"] = _pod(metadata__uid="uid-new")  # deleted and re-created: another sandbox
    error, page = _fetch_status(client, 2)
    assert error.decode() == gone_message(RUNNING_POD, 80) and page == b""
    del pods["caddy"]
    error, _ = _fetch_status(client, 3)
    assert b"failed to find sandbox" in error


def test_ping_is_echoed(client_factory: Any) -> None:
    client: Client = client_factory()
    client.send(spdy.encode_ping(1))
    assert client.next_frame() == spdy.Ping(1)


def test_goaway_refuses_new_streams_but_finishes_the_ones_in_flight(client_factory: Any) -> None:
    """kubectl sends GOAWAY when it is stopped and still writes the last bytes of the
    connections it forwards; the connection stays until kubectl closes it, as a real
    apiserver keeps it (closing at once made kubectl print "broken pipe")."""
    client: Client = client_factory()
    error_id, data_id = client.open_pair(0, 80)
    half = len(GET_CLOSE) // 2
    client.send(spdy.encode_data(data_id, GET_CLOSE[:half]))
    client.send(spdy.encode_goaway(0))
    client.send(spdy.encode_data(data_id, GET_CLOSE[half:]))
    data, _ = client.collect(until_fin={error_id, data_id})
    assert b"Caddy works!" in data[data_id]
    late_error, _ = client.open_pair(1, 80)
    frame = client.next_frame()
    assert frame == spdy.RstStream(late_error, spdy.RST_REFUSED_STREAM)
    client.sock.shutdown(socket.SHUT_WR)  # kubectl closes the connection: so does the server
    while (frame := client.next_frame()) is not None:
        assert isinstance(frame, spdy.RstStream)  # the late data stream is refused too


def test_redis_state_lives_as_long_as_the_pod(client_factory: Any) -> None:
    pod = _pod(metadata__uid="uid-redis", spec__containers=[{"name": "r", "image": "redis:7"}])
    first: Client = client_factory(pod, "redis")
    error_id, data_id = first.open_pair(0, 6379)
    first.send(spdy.encode_data(data_id, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"))
    first.send(spdy.encode_data(data_id, b"", fin=True))
    data, _ = first.collect(until_fin={error_id, data_id})
    assert data[data_id] == b"+OK\r\n"
    second: Client = client_factory(pod, "redis")  # a new kubectl port-forward later on
    error_id, data_id = second.open_pair(0, 6379)
    second.send(spdy.encode_data(data_id, b"GET k\r\n"))
    second.send(spdy.encode_data(data_id, b"", fin=True))
    data, _ = second.collect(until_fin={error_id, data_id})
    assert data[data_id] == b"$1\r\nv\r\n"


def test_malformed_frame_closes_only_that_session(client_factory: Any) -> None:
    bad: Client = client_factory()
    bad.send(struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, 14) + b"\x00" * 10 + b"junk")
    frame = bad.next_frame()
    if frame is not None:  # raw SPDY says goodbye first
        assert isinstance(frame, spdy.GoAway) and frame.status == spdy.GOAWAY_PROTOCOL_ERROR
        assert bad.next_frame() is None
    good: Client = client_factory()
    error_id, data_id = good.open_pair(0, 80)
    good.send(spdy.encode_data(data_id, GET_CLOSE))
    data, _ = good.collect(until_fin={error_id, data_id})
    assert b"Caddy works!" in data[data_id]


def test_bad_stream_ids_and_types_are_reset(client_factory: Any) -> None:
    client: Client = client_factory()
    client.send(spdy.encode_syn_stream(client.codec, 2, [("streamtype", "data")]))
    assert client.next_frame() == spdy.RstStream(2, spdy.RST_PROTOCOL_ERROR)
    client.send(spdy.encode_syn_stream(client.codec, 5, [("streamtype", "stdin")]))
    assert client.next_frame() == spdy.SynReply(5, 0, {})
    assert client.next_frame() == spdy.RstStream(5, spdy.RST_PROTOCOL_ERROR)
    client.send(spdy.encode_data(99, b"x"))
    assert client.next_frame() == spdy.RstStream(99, spdy.RST_INVALID_STREAM)


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"spec__nodeName": ""}, 400, "pod caddy does not have a host assigned"),
        ({"status__phase": "Succeeded"}, 500, "sandbox container is not running"),
    ],
)
def test_pods_that_cannot_be_forwarded_to(
    client_factory: Any, changes: dict[str, Any], code: int, message: str
) -> None:
    client: Client = client_factory(_pod(**changes))
    assert client.status == code
    status = json.loads(client.body)
    assert (status["kind"], status["code"], status["message"]) == ("Status", code, message)


def test_wrong_upgrade_requests_get_a_status(
    server: tuple[int, dict[str, Mapping[str, Any]]],
) -> None:
    port, pods = server
    pods["caddy"] = RUNNING_POD
    path = "/api/v1/namespaces/default/pods/caddy/portforward"
    cases = {
        f"GET {path} HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Key: a2V5\r\n"
        "Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n": 400,
        f"POST {path} HTTP/1.1\r\nContent-Length: 0\r\nUpgrade: SPDY/3.1\r\n\r\n": 403,
        f"POST {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n": 400,
    }
    for request, code in cases.items():
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(request.encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(f"HTTP/1.1 {code} ".encode()), answer
        assert b'"kind": "Status"' in answer
