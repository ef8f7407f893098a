"""The simulator under abuse: malformed requests, many clients, several instances, clean stop."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, running
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl, pod_manifest


def _request(sim: SimHandle, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "reason"),
    [
        ("POST", "/api/v1/namespaces/default/pods", b"{not json", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/default/pods", b"[1, 2]", 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/default/pods", b"", 400, "BadRequest"),
        ("GET", "/no/such/path", None, 404, "NotFound"),
        ("GET", "/api/v2", None, 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/widgets", None, 404, "NotFound"),
        ("GET", "/api/v1/namespaces/default/pods/a/b/c/d", None, 404, "NotFound"),
        ("PUT", "/api/v1/namespaces/default/pods", b"{}", 405, "MethodNotAllowed"),
        ("POST", "/version", b"{}", 405, "MethodNotAllowed"),
        ("DELETE", "/apis", None, 405, "MethodNotAllowed"),
        ("BREW", "/api", None, 405, "MethodNotAllowed"),
        ("GET", "/api/v1/pods?watch=true&resourceVersion=abc", None, 400, "BadRequest"),
        ("GET", "/api/v1/pods?labelSelector=a%20in%20(", None, 400, "BadRequest"),
        ("PATCH", "/api/v1/namespaces/default/services/kubernetes", b"{}", 415,
         "UnsupportedMediaType"),
        ("POST", "/api/v1/namespaces/default/pods",
         b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x","labels":[1]}}', 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/default/configmaps",
         b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":[1]}', 400,
         "BadRequest"),
        ("POST", "/api/v1/namespaces/default/pods", b"[" * 990 + b"]" * 990, 400, "BadRequest"),
        ("POST", "/api/v1/namespaces/default/services",
         b'{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},"spec":{"ports":[{}]}}',
         422, "Invalid"),
        ("DELETE", "/api/v1/namespaces/default/services/kubernetes", b'{"dryRun":5}', 400,
         "BadRequest"),
        ("GET", "/_sim/identity", b"", 200, None),
    ],
)
def test_malformed_requests_get_status_and_server_keeps_serving(
    sim: SimHandle, method: str, path: str, body: bytes | None, code: int, reason: str | None
) -> None:
    status, reply = _request(sim, method, path, body, {"Content-Type": "application/json"})
    if reason is None:
        assert status == code
    else:
        assert (status, reply.get("kind"), reply.get("reason")) == (code, "Status", reason)
    assert _request(sim, "GET", "/version")[0] == 200


def test_garbage_on_the_socket(sim: SimHandle) -> None:
    for garbage in (b"\x00\x01\x02 nonsense\r\n\r\n", b"GET\r\n\r\n", b"G" * 70000 + b"\r\n"):
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)
            data = sock.recv(65536)
            assert data.startswith(b"HTTP/1.") or data == b""
    assert _request(sim, "GET", "/version")[0] == 200


def _outside_address() -> str | None:
    """A non-loopback local address (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("10.255.255.255", 1))
            address = str(udp.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_binds_only_loopback(sim: SimHandle) -> None:
    assert sim.url.startswith("http://127.0.0.1:")
    assert sim._server.server_address[0] == "127.0.0.1"
    outside = _outside_address()
    if outside is None:
        pytest.skip("no non-loopback address to probe")
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex((outside, sim.port)) != 0


def test_fifty_concurrent_kubectl_processes(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))  # warm the discovery cache
    commands = [("get", "pods"), ("get", "nodes"), ("get", "pod", "caddy", "-o", "json"),
                ("apply", "-f", str(pod_manifest(tmp_path))), ("describe", "pod", "caddy")]
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda i: kubectl(*commands[i % len(commands)], timeout=60),
                                range(50)))
    failures = [r for r in results if r.rc != 0 or "rror" in r.err]
    assert not failures, failures[:3]


def test_simulators_side_by_side(tmp_path: Path) -> None:
    with running(tmp_path / "a", options=FAST) as a, running(tmp_path / "b", options=FAST) as b:
        assert a.port != b.port
        Kubectl(VENV_KUBECTL, a)("apply", "-f", str(pod_manifest(tmp_path)))
        assert a.store.get("pods", "default", "caddy") is not None
        assert b.store.get("pods", "default", "caddy") is None
        assert Kubectl(VENV_KUBECTL, b)("get", "pods").err.startswith("No resources found")


def test_stop_leaves_no_thread_behind(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with running(tmp_path / "sim", options=FAST) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        kubectl("apply", "-f", str(pod_manifest(tmp_path)))
        watcher = kubectl.popen("get", "pods", "-w")
        idle = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
        idle.request("GET", "/version")
        idle.getresponse().read()  # keep-alive connection left open on purpose
        kubectl.wait_status("caddy", "Running")
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, leftover
    watcher.wait(10)
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", sim.port), timeout=1).close()


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    from kubelesson.sim import PortInUse

    with running(tmp_path / "a", options=FAST) as a, pytest.raises(PortInUse):  # noqa: SIM117
        with running(tmp_path / "b", options=FAST, port=a.port):
            pass


def test_sim_events_endpoint(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("GET", "/_sim/events")
    events = json.loads(conn.getresponse().read())
    conn.close()
    statuses = [e["status"] for e in events if e["pod"] == "caddy"]
    assert statuses[0] == "Pending" and statuses[-1] == "Running"
    ready = [e for e in events if e["ready"] and e["pod"] == "caddy"]  # not k3s's own pods
    assert ready and isinstance(ready[0]["time"], float) and ready[0]["namespace"] == "default"
