"""`kubectl port-forward` into a simulated pod.

The simulator's request handler calls `serve_portforward` for
`/api/v1/namespaces/{ns}/pods/{name}/portforward` once it knows the pod exists. This module
answers the upgrade itself (a WebSocket carrying SPDY, which newer kubectl tries first, or a
raw SPDY/3.1 upgrade), then runs the port-forward session on the connection until the client
goes away:

* kubectl opens two streams per local TCP connection, an *error* stream and a *data* stream,
  tied together by the `requestid` header; every SYN_STREAM gets a SYN_REPLY.
* Each complete pair is connected to the pod's app on the requested port (an in-process
  `Backend` on one end of a socket pair, run in its own thread); bytes flow as DATA frames.
* A port nothing listens on gets kubelet's error text on the error stream, which makes kubectl
  print it and exit with "lost connection to pod".
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelesson.sim.kubelet.backends import Backend
from kubelesson.sim.kubelet.listeners import app_for
from kubelesson.sim.kubelet.listeners import nested as _get
from kubelesson.sim.streams import spdy
from kubelesson.sim.streams.spdysession import (
    CHUNK,
    ServerSession,
    SocketTransport,
    Transport,
    WebSocketTransport,
)
from kubelesson.sim.streams.websocket import WebSocketError, handshake_response

log = logging.getLogger(__name__)

PORTFORWARD_PROTOCOL = "portforward.k8s.io"
WEBSOCKET_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
SPDY_UPGRADE = "SPDY/3.1"

# One session serving more local connections than this at once is a runaway client.
MAX_FORWARDS = 512
# How long the end of a session waits for its threads (they exit within milliseconds).
JOIN_SECONDS = 2.0


PodLookup = Callable[[], Mapping[str, Any] | None]


def sandbox_id(pod: Mapping[str, Any]) -> str:
    """A stable 64-hex id standing in for the pod sandbox id containerd puts in its errors."""
    seed = str(_get(pod, "metadata", "uid") or _get(pod, "metadata", "name"))
    return hashlib.sha256(f"sandbox:{seed}".encode()).hexdigest()


def _netns(pod: Mapping[str, Any]) -> str:
    raw = hashlib.sha256(f"netns:{sandbox_id(pod)}".encode()).hexdigest()
    return f"/var/run/netns/cni-{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:32]}"


def refused_message(pod: Mapping[str, Any], port: int) -> str:
    """What kubelet (with containerd) writes on the error stream when nothing listens on the
    port. The text, trailing space included, is what real clusters print."""
    sandbox = sandbox_id(pod)
    return (
        f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward"
        f' in network namespace "{_netns(pod)}": failed to connect to localhost:{port} inside'
        f' namespace "{sandbox}", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused'
        " IPv6 dial tcp6: address localhost: no suitable address found "
    )


def gone_message(pod: Mapping[str, Any], port: int) -> str:
    """The error for a connection made after the pod was deleted: its sandbox is gone.
    (containerd's wording as far as known; not captured from a real cluster.)"""
    sandbox = sandbox_id(pod)
    return (
        f"error forwarding port {port} to pod {sandbox}, uid : failed to find sandbox"
        f' "{sandbox}" in store: not found'
    )


# --- the session -----------------------------------------------------------------------------


@dataclass
class _Stream:
    stream_id: int
    kind: str  # "error" or "data"
    request_id: str
    port_header: str
    reset: bool = False  # the client reset it: send nothing more on it
    fin_sent: bool = False
    forward: _Forward | None = None


@dataclass(eq=False)  # identity semantics: kept in a set of active forwards
class _Forward:
    """One forwarded TCP connection: an error stream, a data stream and the pod-side socket."""

    error: _Stream | None = None
    data: _Stream | None = None
    sock: socket.socket | None = None
    # DATA (and a FIN) that arrived before the pod side was connected.
    early: list[bytes] = field(default_factory=list)
    early_fin: bool = False


class Session(ServerSession):
    """Runs one port-forward connection. `run` reads frames on the calling thread; each
    forwarded connection gets a pump thread (pod → client) and an app thread."""

    def __init__(
        self,
        transport: Transport,
        pod: Mapping[str, Any],
        current_pod: PodLookup | None = None,
    ) -> None:
        super().__init__(transport)
        self._pod = pod
        self._current_pod = current_pod
        self._state_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._pending: dict[str, _Forward] = {}
        self._active: set[_Forward] = set()
        self._threads: list[threading.Thread] = []

    def run(self) -> None:
        try:
            self.read_frames()
        except spdy.ProtocolError as exc:
            log.info("port-forward: closing session on protocol error: %s", exc)
            self.send(lambda: spdy.encode_goaway(self._last_stream_id, spdy.GOAWAY_PROTOCOL_ERROR))
        except WebSocketError as exc:
            log.info("port-forward: closing session on WebSocket error: %s", exc)
        except OSError as exc:
            log.debug("port-forward: connection lost: %s", exc)
        except Exception:
            # A bug here must end this session only; the connection is no longer HTTP, so
            # the server could not report it to the client anyway.
            log.exception("port-forward: session failed")
        finally:
            self._shutdown()

    # -- writing --

    def _send_on(self, stream: _Stream, data: bytes, *, fin: bool = False) -> bool:
        """DATA on a stream unless the client reset it or we already finished it."""
        with self._state_lock:
            if stream.reset or stream.fin_sent:
                return False
            if fin:
                stream.fin_sent = True
        return self.send(lambda: spdy.encode_data(stream.stream_id, data, fin=fin))

    # -- streams --

    def on_stream(self, frame: spdy.SynStream) -> None:
        stream_id = frame.stream_id
        kind = frame.headers.get("streamtype", "")
        if kind not in ("error", "data"):
            self.reset(stream_id, spdy.RST_PROTOCOL_ERROR)
            return
        request_id = frame.headers.get("requestid") or _legacy_request_id(stream_id, kind)
        stream = _Stream(stream_id, kind, request_id, frame.headers.get("port", ""))
        with self._state_lock:
            self._streams[stream_id] = stream
        self._attach(stream)
        if frame.fin:
            self.on_data(spdy.DataFrame(stream_id, spdy.FLAG_FIN, b""))

    def _attach(self, stream: _Stream) -> None:
        """Put the stream into its pair; start forwarding once both halves are there."""
        pair = self._pending.setdefault(stream.request_id, _Forward())
        if getattr(pair, stream.kind) is not None:
            # A second stream of the same kind for one request: kubelet rejects it too.
            self.reset(stream.stream_id, spdy.RST_PROTOCOL_ERROR)
            self._forget(stream)
            return
        setattr(pair, stream.kind, stream)
        stream.forward = pair
        if pair.error is not None and pair.data is not None:
            del self._pending[stream.request_id]
            self._start(pair)

    def _start(self, pair: _Forward) -> None:
        assert pair.error is not None and pair.data is not None
        port = _parse_port(pair.data.port_header)
        if port is None:
            self._fail(pair, f"unable to parse {pair.data.port_header!r} as a port")
            return
        pod = self._latest_pod()
        if pod is None:
            self._fail(pair, gone_message(self._pod, port))
            return
        # Before Running (ContainerCreating, ErrImagePull) the sandbox exists but no app
        # listens yet, so the connection is refused like on a real node.
        running = _get(pod, "status", "phase") == "Running"
        app = app_for(pod, port) if running else None
        if app is None:
            self._fail(pair, refused_message(pod, port))
            return
        if len(self._active) >= MAX_FORWARDS:
            self._fail(pair, "too many forwarded connections in this session")
            return
        ours, theirs = socket.socketpair()
        with self._state_lock:
            pair.sock = ours
            self._active.add(pair)
        self._spawn(f"pf-app-{port}", lambda: _run_app(app, theirs))
        for chunk in pair.early:
            self._to_pod(pair, chunk)
        pair.early.clear()
        if pair.early_fin:
            _half_close(ours)
        self._spawn(f"pf-pump-{port}", lambda: self._pump(pair, ours))

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        with self._state_lock:
            # Keep only live ones, so a long session does not accumulate finished threads.
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _latest_pod(self) -> Mapping[str, Any] | None:
        """The pod as it is now (None once it is gone), if the server lets us look it up;
        else the snapshot taken at the upgrade. A pod re-created under the same name is a
        different pod: the session belonged to the old one's sandbox."""
        if self._current_pod is None:
            return self._pod
        pod = self._current_pod()
        if pod is None or _get(pod, "metadata", "uid") != _get(self._pod, "metadata", "uid"):
            return None
        return pod

    def _fail(self, pair: _Forward, message: str) -> None:
        """Report a failure the way kubelet does: the text on the error stream, then both
        streams finished."""
        assert pair.error is not None and pair.data is not None
        self._send_on(pair.error, message.encode("utf-8"))
        self._send_on(pair.error, b"", fin=True)
        self._send_on(pair.data, b"", fin=True)
        self._forget(pair.error, pair.data)

    def _forget(self, *streams: _Stream) -> None:
        """Drop finished streams, so a long session does not pile them up; late frames from
        the client on them are then answered as for any closed stream."""
        with self._state_lock:
            for stream in streams:
                self._streams.pop(stream.stream_id, None)

    def _pump(self, pair: _Forward, sock: socket.socket) -> None:
        """Pod → client. When the pod side ends, finish the data stream, then the error stream
        (kubectl waits for the error stream to end before it forgets the connection)."""
        assert pair.error is not None and pair.data is not None
        try:
            while True:
                try:
                    chunk = sock.recv(CHUNK)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                if not self._send_on(pair.data, chunk) and self.closed.is_set():
                    break
            self._send_on(pair.data, b"", fin=True)
            self._send_on(pair.error, b"", fin=True)
        finally:
            with self._state_lock:
                self._active.discard(pair)
            self._forget(pair.error, pair.data)
            sock.close()

    # -- client frames on streams --

    def on_data(self, frame: spdy.DataFrame) -> None:
        with self._state_lock:
            stream = self._streams.get(frame.stream_id)
        if stream is None:
            # Late frames on a stream that has finished (a FIN racing ours) are dropped
            # quietly; a reset could cut off data kubectl is still delivering.
            if frame.stream_id > self._last_stream_id:
                self.reset(frame.stream_id, spdy.RST_INVALID_STREAM)
            return
        if stream.kind != "data" or stream.forward is None:
            return  # the client only ever closes its side of the error stream
        pair = stream.forward
        if pair.sock is None:
            if frame.data:
                pair.early.append(frame.data)
            pair.early_fin = pair.early_fin or frame.fin
            return
        if frame.data:
            self._to_pod(pair, frame.data)
        if frame.fin:
            _half_close(pair.sock)

    def _to_pod(self, pair: _Forward, data: bytes) -> None:
        assert pair.sock is not None
        # If the app already closed, its pump thread finishes the streams.
        with contextlib.suppress(OSError):
            pair.sock.sendall(data)

    def on_reset(self, frame: spdy.RstStream) -> None:
        with self._state_lock:
            stream = self._streams.pop(frame.stream_id, None)
        if stream is None:
            return
        with self._state_lock:
            stream.reset = True
        pair = stream.forward
        if stream.kind == "data" and pair is not None and pair.sock is not None:
            # Stop the app: its pump then sees the end and finishes the error stream.
            with contextlib.suppress(OSError):
                pair.sock.shutdown(socket.SHUT_RDWR)

    def _shutdown(self) -> None:
        self.closed.set()
        with self._state_lock:
            socks = [pair.sock for pair in self._active if pair.sock is not None]
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._transport.close()
        # Every socket is shut down now, so the threads end at once; joining them means a
        # stopped simulator leaves nothing running behind.
        with self._state_lock:
            threads = list(self._threads)
        deadline = time.monotonic() + JOIN_SECONDS
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))


def _legacy_request_id(stream_id: int, kind: str) -> str:
    # Clients older than the requestid header opened the error stream right before the data
    # stream, so kubelet pairs data stream N with error stream N-2; do the same.
    return str(stream_id if kind == "error" else stream_id - 2)


def _parse_port(value: str) -> int | None:
    if not value.isdigit():
        return None
    port = int(value)
    return port if 0 < port < 65536 else None


def _half_close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _run_app(app: Backend, sock: socket.socket) -> None:
    try:
        app.serve(sock)
    except Exception:  # an app bug must not take the session down
        log.exception("port-forward: simulated app failed")
    finally:
        sock.close()


# --- the HTTP side ---------------------------------------------------------------------------


def serve_portforward(
    handler: http.server.BaseHTTPRequestHandler,
    pod: Mapping[str, Any],
    *,
    current_pod: PodLookup | None = None,
) -> None:
    """Answer a port-forward request for an existing pod and run the session to its end.

    GET with `Upgrade: websocket` → the WebSocket tunnel; POST with `Upgrade: SPDY/3.1` → raw
    SPDY. Anything else, or a pod that cannot be forwarded to, gets a Kubernetes Status error,
    which is what kubectl prints. The caller closes the connection afterwards.

    `current_pod`, if given, returns the pod as stored now (None once deleted). Each new
    forwarded connection consults it, so a pod that became Running later is served and a
    deleted pod's connections fail as on a real node. Without it, the `pod` snapshot is used
    for the whole session.
    """
    handler.close_connection = True
    refusal = _refusal(pod)
    if refusal is not None:
        send_status(handler, *refusal)
        return
    upgrade = (handler.headers.get("Upgrade") or "").strip().lower()
    if handler.command == "GET" and upgrade == "websocket":
        transport = _accept_websocket(handler)
    elif handler.command == "POST" and upgrade == SPDY_UPGRADE.lower():
        transport = _accept_spdy(handler)
    else:
        send_status(handler, 400, "BadRequest", "Upgrade request required")
        return
    if transport is not None:
        Session(transport, pod, current_pod).run()


def _refusal(pod: Mapping[str, Any]) -> tuple[int, str, str] | None:
    """Why the apiserver/kubelet would refuse to forward to this pod, if it would.

    A pod without a node has nowhere to forward to (the apiserver's own check). A finished
    pod has no sandbox left. A pod that has a node but is not Running yet (ContainerCreating,
    ErrImagePull) has a sandbox with nothing listening, so the upgrade succeeds and every
    connection is refused, as on a real cluster.
    """
    name = str(_get(pod, "metadata", "name") or "")
    if not _get(pod, "spec", "nodeName"):
        return 400, "BadRequest", f"pod {name} does not have a host assigned"
    if _get(pod, "status", "phase") in ("Succeeded", "Failed"):
        return 500, "InternalError", "sandbox container is not running"
    return None


def _accept_websocket(handler: http.server.BaseHTTPRequestHandler) -> Transport | None:
    offered = _header_tokens(handler, "Sec-WebSocket-Protocol")
    key = handler.headers.get("Sec-WebSocket-Key")
    if WEBSOCKET_PROTOCOL.lower() not in offered or not key:
        # kubectl falls back to the SPDY upgrade on any non-101 answer.
        send_status(
            handler,
            400,
            "BadRequest",
            "unable to upgrade: missing or unsupported"
            f" subprotocol; supported: [{WEBSOCKET_PROTOCOL}]",
        )
        return None
    handler.wfile.write(handshake_response(key, WEBSOCKET_PROTOCOL))
    handler.wfile.flush()
    return WebSocketTransport(handler.rfile, handler.connection)


def _accept_spdy(handler: http.server.BaseHTTPRequestHandler) -> Transport | None:
    if PORTFORWARD_PROTOCOL not in _header_tokens(handler, "X-Stream-Protocol-Version"):
        send_status(
            handler,
            403,
            "Forbidden",
            "unable to upgrade: unable to negotiate"
            f" protocol: client supports [], server supports [{PORTFORWARD_PROTOCOL}]",
        )
        return None
    handler.wfile.write(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Connection: Upgrade\r\n"
        b"Upgrade: SPDY/3.1\r\n"
        b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n"
    )
    handler.wfile.flush()
    return SocketTransport(handler.rfile, handler.connection)


def _header_tokens(handler: http.server.BaseHTTPRequestHandler, name: str) -> set[str]:
    """All comma-separated values of a possibly repeated header, lower-cased."""
    values = handler.headers.get_all(name) or []
    return {token.strip().lower() for value in values for token in str(value).split(",")}


def send_status(
    handler: http.server.BaseHTTPRequestHandler, code: int, reason: str, message: str
) -> None:
    """Refuse an upgrade with a Status body (also for exec and attach: streams/exec.py)."""
    body = json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)
    handler.wfile.flush()
