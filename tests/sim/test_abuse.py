"""The simulator under abuse: idle and half-open connections, churn that must not leak,
and invalid input that must be refused without poisoning later requests.

Every loop and every wait here is bounded; everything stays on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from tests.sim.conftest import VENV_KUBECTL, Kubectl, pod_manifest


def _request(sim: SimHandle, method: str, path: str, body: bytes | None = None,
             content_type: str = "application/json") -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        reply = conn.getresponse()
        data = reply.read()
        try:
            return reply.status, json.loads(data or b"{}")
        except ValueError:
            return reply.status, {"raw": data.decode("utf-8", "replace")}
    finally:
        conn.close()


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing the connection, or None if it stayed open."""
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    return None


# --- (a) idle, half-open and slow connections -------------------------------------------


@pytest.mark.sim_options(header_timeout=1.0, idle_timeout=1.0, max_connections=24)
def test_half_open_connections_are_capped_and_closed(sim: SimHandle) -> None:
    """Connections that never send a request: at most `max_connections` are held (one
    thread each); the rest are refused at once with a 429 kubectl retries; the held ones
    are closed when the header timeout passes."""
    socks = [socket.create_connection(("127.0.0.1", sim.port), timeout=5) for _ in range(120)]
    try:
        time.sleep(0.3)
        assert len(sim._server.handler_threads) <= 24
        started = time.monotonic()
        answers = [_closed_within(sock, 6.0) for sock in socks]
        assert all(answer is not None for answer in answers), "a connection stayed open"
        assert time.monotonic() - started < 6.0
        refused = [a for a in answers if a and a.startswith(b"HTTP/1.1 429 ")]
        assert len(refused) >= 120 - 24
        assert all(b"\r\nRetry-After: 1\r\n" in a for a in refused)
    finally:
        for sock in socks:
            sock.close()
    assert _request(sim, "GET", "/version")[0] == 200


@pytest.mark.sim_options(header_timeout=1.0, idle_timeout=1.0, max_connections=8)
def test_kubectl_gets_through_while_idle_connections_fill_the_cap(sim: SimHandle) -> None:
    socks = [socket.create_connection(("127.0.0.1", sim.port), timeout=5) for _ in range(8)]
    try:
        result = Kubectl(VENV_KUBECTL, sim)("get", "nodes", timeout=30)
    finally:
        for sock in socks:
            sock.close()
    assert result.rc == 0, result.err
    assert "server-0" in result.out


@pytest.mark.sim_options(header_timeout=1.0, idle_timeout=1.5)
def test_idle_keep_alive_connection_is_closed(sim: SimHandle) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: sim\r\n\r\n")
        started = time.monotonic()
        answer = _closed_within(sock, 5.0)
        assert answer is not None and answer.startswith(b"HTTP/1.1 200 ")
        assert 1.0 < time.monotonic() - started < 5.0


@pytest.mark.sim_options(header_timeout=1.0, idle_timeout=1.0)
def test_slow_request_is_cut_and_never_executed(sim: SimHandle, tmp_path: Path) -> None:
    """A request whose header trickles in past the deadline is dropped, even though its
    request line (a DELETE) arrived in time."""
    kubectl = Kubectl(VENV_KUBECTL, sim)
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path))).rc == 0
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        sock.sendall(b"DELETE /api/v1/namespaces/default/pods/caddy HTTP/1.1\r\n")
        closed = None
        for _ in range(40):  # one header byte every 0.1 s: never a complete request
            try:
                sock.sendall(b"X")
            except OSError:
                closed = b""
                break
            time.sleep(0.1)
        if closed is None:
            closed = _closed_within(sock, 3.0)
        assert closed is not None
    assert sim.store.get("pods", "default", "caddy") is not None
    assert _request(sim, "GET", "/version")[0] == 200


@pytest.mark.sim_options(header_timeout=0.5, idle_timeout=0.5)
def test_watch_and_port_forward_outlive_the_timeouts(sim: SimHandle, tmp_path: Path) -> None:
    """The timeouts are for waiting for a request, not for a stream that is under way."""
    kubectl = Kubectl(VENV_KUBECTL, sim)
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path))).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=20s").rc == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    watch = kubectl.popen("get", "pods", "--watch", "--output-watch-events")
    forward = kubectl.popen("port-forward", "pod/caddy", f"{port}:80")
    try:
        assert forward.stdout is not None and watch.stdout is not None
        assert "Forwarding from" in forward.stdout.readline()
        assert "EVENT" in watch.stdout.readline()
        assert "caddy" in watch.stdout.readline()
        time.sleep(2.0)  # four timeouts long, with nothing sent on either stream
        assert kubectl("label", "pod", "caddy", "seen=yes").rc == 0
        assert watch.stdout.readline().startswith("MODIFIED")
        for _ in range(2):
            with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                    f"http://127.0.0.1:{port}/", timeout=10) as page:
                assert b"Caddy works!" in page.read()
            time.sleep(1.5)
        assert forward.poll() is None and watch.poll() is None
    finally:
        for proc in (watch, forward):
            proc.terminate()
            proc.communicate(timeout=10)


# --- (b) churn must leave nothing behind ------------------------------------------------


def _footprint(sim: SimHandle) -> dict[str, int]:
    """Everything the simulator keeps that grows with the objects it has seen."""
    from kubelesson.sim.resources import RESOURCES

    lifecycle = sim.cluster.lifecycle
    counts = {rt.key: len(sim.store.list(rt.key)[0]) for rt in RESOURCES}
    counts.update({
        "watchers": sim.store.watcher_count(),
        "watch history": len(sim.store._log),
        "container logs": len(lifecycle.logs),
        "timers": len(lifecycle.scheduler._heap),
        "connections": len(sim._server.connections),
    })
    return counts


def _pods_yaml(count: int) -> str:
    return "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: churn-{i}\n  labels: {{app: churn}}\n"
        f"spec:\n  containers:\n  - name: c\n    image: caddy:2\n" for i in range(count))


def _until(what: str, check: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}")


@pytest.mark.sim_options(event_ttl=1.0, lifecycle_log_size=300, compaction_interval=0.5)
def test_pod_churn_returns_to_the_baseline(sim: SimHandle, tmp_path: Path) -> None:
    """Three cycles of 500 pods created and deleted (gracefully, forced, with their
    namespace): once the events have expired and the history is compacted, every count
    is back where it started, and the lifecycle log keeps only its last entries."""
    kubectl = Kubectl(VENV_KUBECTL, sim)
    manifest = tmp_path / "pods.yaml"
    manifest.write_text(_pods_yaml(500))
    _until("idle", lambda: _footprint(sim)["connections"] == 0, 10)
    time.sleep(1.5)  # the seed's history is compacted too
    baseline = _footprint(sim)
    for how in ("graceful", "forced", "namespace"):
        ns = "churn" if how == "namespace" else "default"
        if how == "namespace":
            assert kubectl("create", "namespace", ns).rc == 0
        created = kubectl("apply", "-n", ns, "-f", str(manifest), timeout=180)
        assert created.rc == 0, created.err
        _until("500 pods running", lambda: sum(  # noqa: B023
            p.get("status", {}).get("phase") == "Running"
            for p in sim.store.list("pods")[0]) == 500, 60)
        if how == "graceful":
            gone = kubectl("delete", "pods", "--all", "--wait=false", timeout=120)
        elif how == "forced":
            gone = kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false",
                           timeout=120)
        else:
            gone = kubectl("delete", "namespace", ns, "--wait=false", timeout=120)
        assert gone.rc == 0, gone.err
        _until("pods gone", lambda: not sim.store.list("pods")[0], 60)
    assert len(sim.cluster.lifecycle.transitions_snapshot()) == 300
    # Which event a repeat counts towards is cached like client-go's recorder does: bounded.
    assert len(sim.cluster.lifecycle._event_names) <= 4096
    deadline = time.monotonic() + 15
    while (now := _footprint(sim)) != baseline and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {k: (baseline[k], v) for k, v in now.items() if v != baseline[k]} == {}


@pytest.mark.sim_options(event_ttl=1.5)
def test_events_expire_after_their_ttl(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path))).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=20s").rc == 0
    assert "Started container caddy" in kubectl("get", "events").out
    _until("events expired", lambda: not sim.store.list("events")[0], 6)
    listed = kubectl("get", "events")
    assert listed.rc == 0 and "No resources found" in listed.err
    assert kubectl("get", "pod", "caddy").rc == 0  # only the events go


@pytest.mark.sim_options(compaction_interval=0.3)
def test_compacted_history_answers_410_gone(sim: SimHandle) -> None:
    old = sim.store.resource_version
    sim.store.create("configmaps", {"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "later", "namespace": "default"}})
    _until("compacted", lambda: sim.store.resource_version > old and not any(
        e.rv <= old + 1 for e in sim.store._log), 5)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    try:
        conn.request("GET", f"/api/v1/configmaps?watch=1&resourceVersion={old}")
        line = conn.getresponse().readline()
    finally:
        conn.close()
    event = json.loads(line)
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
