"""`pods/exec` and `pods/attach`: the checks the apiserver and the kubelet make, the
upgrade (a WebSocket with `v5.channel.k8s.io`, or SPDY/3.1 with `v4.channel.k8s.io`), and
a simulated process (shell/) connected to the streams.

kubectl 1.30+ asks for a WebSocket first and falls back to SPDY when the answer is not a
101. A server older than 1.30 has no stream translator: its kubelet does not know v5, so
the WebSocket upgrade fails there and kubectl uses SPDY, as against the course's k3s 1.28.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubelesson.sim.shell import process as processes
from kubelesson.sim.shell.io import Killed, Stdin, closed_stdin
from kubelesson.sim.shell.sh import NotFound, run_argv
from kubelesson.sim.store import Obj, Store
from kubelesson.sim.streams import protocol
from kubelesson.sim.streams.portforward import send_status
from kubelesson.sim.streams.spdychannels import SpdyChannels
from kubelesson.sim.streams.spdysession import SocketTransport
from kubelesson.sim.streams.websocket import handshake_response
from kubelesson.sim.streams.wschannels import WebSocketChannels

log = logging.getLogger(__name__)
JOIN_SECONDS = 2.0
POLL_SECONDS = 0.5  # how often an attach to a program that never ends checks its pod

PodLookup = Callable[[], Mapping[str, Any] | None]
Channels = WebSocketChannels | SpdyChannels


class Refused(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass(frozen=True)
class Request:
    kind: str  # "exec" or "attach"
    container: Obj
    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @property
    def streams(self) -> set[str]:
        """The streams the kubelet waits for before it starts."""
        wanted = {"error"}
        for name, on in (("stdin", self.stdin), ("stdout", self.stdout),
                         ("stderr", self.stderr and not self.tty), ("resize", self.tty)):
            if on:
                wanted.add(name)
        return wanted


def _truthy(values: list[str]) -> bool:
    return bool(values) and values[-1].lower() in ("true", "1")


def parse_request(path: str, kind: str, pod: Obj) -> Request:
    """The query as PodExecOptions / PodAttachOptions, checked as the apiserver checks it."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    meta, spec = pod["metadata"], pod.get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    name = (query.get("container") or [""])[-1]
    if not name:
        if len(containers) != 1:
            names = " ".join(str(c.get("name")) for c in containers)
            raise Refused(400, "BadRequest", f"a container name must be specified for pod "
                          f"{meta['name']}, choose one of: [{names}]")
        name = str(containers[0].get("name"))
    container = next((c for c in containers if c.get("name") == name), None)
    if container is None:
        raise Refused(400, "BadRequest", f"container {name} is not valid for pod {meta['name']}")
    request = Request(kind, container, query.get("command") or [],
                      _truthy(query.get("stdin", [])), _truthy(query.get("stdout", [])),
                      _truthy(query.get("stderr", [])), _truthy(query.get("tty", [])))
    if kind == "exec" and not request.command:
        raise Refused(400, "BadRequest", "you must specify at least 1 command")
    if not (request.stdin or request.stdout or request.stderr):
        raise Refused(400, "BadRequest",
                      "you must specify at least one of stdin, stdout, stderr")
    if not spec.get("nodeName"):
        raise Refused(400, "BadRequest", f"pod {meta['name']} does not have a host assigned")
    return request


def _running(pod: Mapping[str, Any], name: str) -> bool:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == name:
            return (status.get("state") or {}).get("running") is not None
    return False


def _tokens(handler: http.server.BaseHTTPRequestHandler, name: str) -> list[str]:
    values = handler.headers.get_all(name) or []
    return [t.strip() for v in values for t in str(v).split(",") if t.strip()]


def _upgrade(handler: http.server.BaseHTTPRequestHandler, request: Request,
             minor: int) -> Channels:
    """Answer the upgrade; Refused when neither protocol can be agreed on."""
    upgrade = (handler.headers.get("Upgrade") or "").strip().lower()
    stdin = Stdin() if request.stdin else None
    if handler.command == "GET" and upgrade == "websocket":
        offered = _tokens(handler, "Sec-WebSocket-Protocol")
        supported = [protocol.V5, protocol.V4] if minor >= 30 else [protocol.V4]
        chosen = next((p for p in supported if p in offered), None)
        key = handler.headers.get("Sec-WebSocket-Key")
        if chosen is None or not key:
            raise Refused(400, "BadRequest", "unable to upgrade: requested protocol(s) are "
                          f"not supported: {offered}; supports {supported}")
        handler.wfile.write(handshake_response(key, chosen))
        handler.wfile.flush()
        return WebSocketChannels(handler.rfile, handler.connection, chosen, stdin)
    if handler.command == "POST" and upgrade == "spdy/3.1":
        offered = _tokens(handler, "X-Stream-Protocol-Version")
        chosen = next((p for p in offered if p in protocol.SPDY_PROTOCOLS), None)
        if chosen is None:
            raise Refused(403, "Forbidden", "unable to upgrade: unable to negotiate protocol: "
                          f"client supports {offered}, server supports "
                          f"{list(protocol.SPDY_PROTOCOLS)}")
        handler.wfile.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
            b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: " + chosen.encode()
            + b"\r\n\r\n")
        handler.wfile.flush()
        conn: socket.socket = handler.connection

        def linger(seconds: float) -> None:
            with contextlib.suppress(OSError):
                conn.settimeout(seconds)

        return SpdyChannels(SocketTransport(handler.rfile, conn), request.streams, stdin,
                            linger)
    raise Refused(400, "BadRequest", "Upgrade request required")


def serve(handler: http.server.BaseHTTPRequestHandler, kind: str, pod: Obj, store: Store,
          minor: int, current_pod: PodLookup) -> None:
    """Answer an exec or attach request for an existing pod and run it to its end. The
    caller closes the connection afterwards."""
    handler.close_connection = True
    try:
        request = parse_request(handler.path, kind, pod)
        if not _running(pod, str(request.container.get("name"))):
            # The kubelet has no running container by that name (ContainerCreating,
            # ImagePullBackOff, or it has exited).
            raise Refused(404, "NotFound",
                          f'container not found ("{request.container.get("name")}")')
        channels = _upgrade(handler, request, minor)
    except Refused as refused:
        send_status(handler, refused.code, refused.reason, refused.message)
        return
    runner = _Exec(store, pod, request, channels) if kind == "exec" else _Attach(
        pod, request, channels, current_pod)
    channels.run(runner.start)
    runner.stop()


class _Exec:
    """A new process in the container (`kubectl exec`)."""

    def __init__(self, store: Store, pod: Obj, request: Request, channels: Channels) -> None:
        self.store, self.pod, self.request, self.channels = store, pod, request, channels
        self.killed = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="sim-exec", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        req, channels = self.request, self.channels
        out = channels.stdout if req.stdout else (lambda data: None)
        err = out if req.tty else (channels.stderr if req.stderr else (lambda data: None))
        stdin = channels.stdin or closed_stdin()
        try:
            ctx = processes.make_context(self.store, self.pod, req.container, stdin=stdin,
                                         out=out, err=err, tty=req.tty, killed=self.killed)
            code = run_argv(ctx, req.command)
            status = protocol.success() if code == 0 else protocol.exit_code(code,
                                                                             req.command)
        except NotFound:
            status = protocol.internal_error(processes.exec_error(req.command[0]))
        except Killed:
            return  # the client went away: nobody to tell
        except Exception as exc:  # a bug in a simulated program
            log.exception("exec failed")
            status = protocol.internal_error(f"error executing command in container: {exc}")
        channels.finish(status)

    def stop(self) -> None:
        self.killed.set()
        if self.channels.stdin is not None:
            self.channels.stdin.kill()
        if self.thread is not None:
            self.thread.join(JOIN_SECONDS)


class _Attach:
    """The session joins the container's main process (`kubectl attach`, `kubectl run
    -i`): its output from now on, stdin into it; it ends when the process does."""

    def __init__(self, pod: Obj, request: Request, channels: Channels,
                 current_pod: PodLookup) -> None:
        self.pod, self.request, self.channels = pod, request, channels
        self.current_pod = current_pod
        self.thread: threading.Thread | None = None
        self.stopped = threading.Event()

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="sim-attach", daemon=True)
        self.thread.start()

    def _outputs(self) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
        req, channels = self.request, self.channels
        out = channels.stdout if req.stdout else (lambda data: None)
        err = out if req.tty else (channels.stderr if req.stderr else (lambda data: None))
        return out, err

    def _run(self) -> None:
        uid = str(self.pod["metadata"].get("uid", ""))
        name = str(self.request.container.get("name"))
        main = processes.find(uid, name)
        if main is None:
            self._wait_for_container(name)
            return
        out, err = self._outputs()
        stdin = main.attach(out, err)
        pump = self._pump(stdin) if self.channels.stdin is not None else None
        try:
            while not (main.done.wait(POLL_SECONDS) or self.channels.closed.is_set()
                       or self.stopped.is_set()):
                pass
        finally:
            main.detach(out, err)
        if pump is not None and self.channels.stdin is not None:
            self.channels.stdin.close()
        if main.done.is_set():
            self.channels.finish(protocol.success())

    def _pump(self, target: Stdin) -> threading.Thread:
        """The session's stdin into the process's."""
        source = self.channels.stdin
        assert source is not None

        def copy() -> None:
            try:
                while data := source.read():
                    target.feed(data)
            except Killed:
                return
            if self.request.container.get("stdinOnce"):
                target.close()

        thread = threading.Thread(target=copy, name="sim-attach-stdin", daemon=True)
        thread.start()
        return thread

    def _wait_for_container(self, name: str) -> None:
        """A program the simulator does not run as a process (caddy, redis...) prints
        nothing after it started: the session stays until the client leaves or the
        container stops."""
        while not (self.channels.closed.wait(POLL_SECONDS) or self.stopped.is_set()):
            pod = self.current_pod()
            if pod is None or not _running(pod, name):
                self.channels.finish(protocol.success())
                return

    def stop(self) -> None:
        self.stopped.set()
        if self.channels.stdin is not None:
            self.channels.stdin.kill()
        if self.thread is not None:
            self.thread.join(JOIN_SECONDS)
