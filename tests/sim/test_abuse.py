"""The simulator under abuse: idle and half-open connections, churn that must not leak,
and invalid input that must be refused without poisoning later requests.

Every loop and every wait here is bounded; everything stays on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import time
import urllib.request
from collections.abc import Callable
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
    from kubelesson.sim.api.resources import RESOURCES

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


def _until(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
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
    # k3s's own pods (traefik, svclb) settle and their events expire: then nothing changes.
    _until("the seed settled", lambda: not sim.store._log, 15)
    baseline = _footprint(sim)
    for how in ("graceful", "forced", "namespace"):
        ns = "churn" if how == "namespace" else "default"
        if how == "namespace":
            assert kubectl("create", "namespace", ns).rc == 0
        created = kubectl("apply", "-n", ns, "-f", str(manifest), timeout=180)
        assert created.rc == 0, created.err
        _until("500 pods running", lambda: sum(  # noqa: B023
            p.get("status", {}).get("phase") == "Running"
            for p in sim.store.list("pods", ns)[0]) == 500, 60)  # noqa: B023 - not kube-system's
        if how == "graceful":
            gone = kubectl("delete", "pods", "--all", "--wait=false", timeout=120)
        elif how == "forced":
            gone = kubectl("delete", "pods", "--all", "--grace-period=0", "--force", "--wait=false",
                           timeout=120)
        else:
            gone = kubectl("delete", "namespace", ns, "--wait=false", timeout=120)
        assert gone.rc == 0, gone.err
        _until("pods gone", lambda: not sim.store.list("pods", ns)[0], 60)  # noqa: B023
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


# --- (c) invalid input is refused, and never poisons later requests ------------------------

BAD_LABELS_POD = {"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "bad", "labels": [1]},
                  "spec": {"containers": [{"name": "c", "image": "caddy:2"}]}}


def _answers(kubectl: Kubectl, *args: str) -> None:
    """The command succeeds (a describe may meet a pod a controller just replaced: again)."""
    for _ in range(3):
        result = kubectl(*args)
        if result.rc == 0 or "(NotFound)" not in result.err:
            break
    assert result.rc == 0 and "InternalError" not in result.err, (args, result.err)


def _still_serving(kubectl: Kubectl) -> None:
    """Lists with selectors, tables and describe answer in every namespace."""
    for args in (("get", "pods", "-A", "-l", "app=web"), ("get", "all", "-A"),
                 ("get", "pods", "-A", "--field-selector", "status.phase=Running"),
                 ("describe", "pods", "-A"), ("get", "events", "-A"),
                 ("get", "configmaps,secrets,serviceaccounts,endpoints,nodes", "-A")):
        _answers(kubectl, *args)


def test_labels_that_are_not_a_map_are_refused(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path))).rc == 0
    body = tmp_path / "bad.json"
    body.write_text(json.dumps(BAD_LABELS_POD))
    result = kubectl("create", "--raw", "/api/v1/namespaces/default/pods", "-f", str(body))
    assert result.rc == 1
    assert ('Pod in version \\"v1\\" cannot be handled as a Pod: json: cannot unmarshal array '
            "into Go struct field ObjectMeta.metadata.labels of type map[string]string"
            in result.err.replace('"v1"', '\\"v1\\"')), result.err
    assert sim.store.get("pods", "default", "bad") is None
    listed = kubectl("get", "pods", "-A", "-l", "app=web")
    assert listed.rc == 0 and "caddy" in listed.out
    _still_serving(kubectl)


def test_ports_that_are_not_objects_are_refused(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    manifest = tmp_path / "ports.yaml"
    manifest.write_text(pod_manifest(tmp_path).read_text() + "      ports: [1]\n")
    result = kubectl("apply", "-f", str(manifest))
    assert result.rc == 1
    assert result.err.strip() == (
        f'Error from server (BadRequest): error when creating "{manifest}": Pod in version "v1" '
        "cannot be handled as a Pod: json: cannot unmarshal number into Go struct field "
        "Container.spec.containers.ports of type v1.ContainerPort")
    _still_serving(kubectl)


def test_deeply_nested_json_is_a_bad_request(sim: SimHandle) -> None:
    for depth in (150, 990, 5000):
        nested = "[" * depth + "]" * depth
        body = ('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"deep"},"spec":{'
                '"containers":[{"name":"c","image":"caddy:2"}]},"extra":' + nested + "}")
        for method, path in (("POST", "/api/v1/namespaces/default/pods"),
                             ("PUT", "/api/v1/namespaces/default/services/kubernetes"),
                             ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")):
            status, reply = _request(sim, method, path, body.encode())
            assert (status, reply.get("reason")) == (400, "BadRequest"), (depth, path, reply)
    assert _request(sim, "GET", "/api/v1/pods")[0] == 200


@pytest.mark.parametrize(("version", "wording"), [
    ("v1.32.4", "may not be more than 262144 bytes"),
    ("v1.31.0", "must have at most 262144 bytes"),
])
def test_annotations_over_256_kib_are_refused(tmp_path: Path, version: str, wording: str) -> None:
    from dataclasses import replace

    from kubelesson.sim import running
    from tests.sim.conftest import FAST

    with running(tmp_path / "sim", options=replace(FAST, kube_version=version)) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        big = tmp_path / "big.yaml"
        big.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n"
                       f"  annotations:\n    note: {'x' * (256 * 1024)}\n")
        result = kubectl("create", "-f", str(big))
        assert result.rc == 1
        assert result.err.strip() == (
            f'The ConfigMap "big" is invalid: metadata.annotations: Too long: {wording}')
        # Within the limit on its own, but kubectl apply copies the manifest into the
        # last-applied-configuration annotation: twice the size, refused as on a real cluster.
        half = tmp_path / "half.yaml"
        half.write_text(big.read_text().replace("x" * (256 * 1024), "x" * (200 * 1024)))
        applied = kubectl("apply", "-f", str(half))
        assert applied.rc == 1
        assert applied.err.strip().endswith(f"metadata.annotations: Too long: {wording}")
        assert kubectl("create", "-f", str(half)).rc == 0
        _still_serving(kubectl)


def test_invalid_label_keys_and_values_are_invalid(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    manifest = tmp_path / "labels.yaml"
    manifest.write_text(pod_manifest(tmp_path).read_text().replace(
        "    app: web\n", '    app: web\n    "bad key": "-bad-"\n'))
    result = kubectl("apply", "-f", str(manifest))
    assert result.rc == 1
    assert result.err.startswith('The Pod "caddy" is invalid: \n* metadata.labels: Invalid value: '
                                 '"bad key": name part must consist of alphanumeric characters')
    assert 'metadata.labels: Invalid value: "-bad-": a valid label must be an empty string' in (
        result.err)
    assert sim.store.get("pods", "default", "caddy") is None


def test_patches_cannot_store_what_a_create_could_not(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path))).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=20s").rc == 0
    before = sim.store.get("pods", "default", "caddy")
    for patch_type, patch in (
        ("merge", '{"metadata":{"labels":{"a":1}}}'),
        ("strategic", '{"metadata":{"labels":[1]}}'),
        ("json", '[{"op":"add","path":"/metadata/labels","value":[1]}]'),
        ("json", '[{"op":"add","path":"/spec/containers/0/ports","value":[1]}]'),
        ("json", '[{"op":"replace","path":"/metadata","value":"x"}]'),
        ("json", '[{"op":"add","path":"/metadata/labels/Bad Key","value":"x"}]'),
        ("json", '[{"op":"add","path":7,"value":1}]'),
        ("json", '[{"op":"move","from":5,"path":"/x"}]'),
        ("json", '[{"op":"add"}]'),
        ("json", '[1]'),
        ("json", '{"op":"add"}'),
        ("merge", '[1]'),
        ("strategic", '"x"'),
    ):
        result = kubectl("patch", "pod", "caddy", "--type", patch_type, "-p", patch)
        assert result.rc == 1 and "InternalError" not in result.err, (patch, result.err)
        assert "Error from server" in result.err or "is invalid" in result.err, (patch,
                                                                                  result.err)
    assert sim.store.get("pods", "default", "caddy") is before
    _still_serving(kubectl)


def test_delete_options_and_access_reviews_of_the_wrong_shape(sim: SimHandle) -> None:
    for body in (b'{"dryRun": 5}', b'{"gracePeriodSeconds": "soon"}', b'{"preconditions": 1}',
                 b'{"propagationPolicy": []}', b"[1]"):
        status, reply = _request(sim, "DELETE", "/api/v1/namespaces/default/services/kubernetes",
                                 body)
        assert (status, reply.get("reason")) == (400, "BadRequest"), (body, reply)
    for body in (b'{"spec": {"resourceAttributes": [1]}}', b'{"spec": {"resourceAttributes": '
                 b'{"verb": 5}}}', b'{"spec": 1}'):
        status, reply = _request(sim, "POST",
                                 "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body)
        assert (status, reply.get("reason")) == (400, "BadRequest"), (body, reply)
    assert sim.store.get("services", "default", "kubernetes") is not None


# A valid object of each kind, and the values a mutation puts anywhere in it.
_BASES: dict[str, tuple[str, dict[str, object]]] = {
    # Before the Service `x`: once that exists, the endpoints controller owns Endpoints `x`
    # (a create would be AlreadyExists, as on a real cluster).
    "endpoints": ("/api/v1/namespaces/default/endpoints", {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "x"}, "subsets": [
            {"addresses": [{"ip": "10.42.0.9"}], "ports": [{"port": 80}]}]}),
    "pods": ("/api/v1/namespaces/default/pods", json.loads(json.dumps(
        {**BAD_LABELS_POD, "metadata": {"name": "x", "labels": {"app": "web"},
                                        "annotations": {"a": "b"}},
         "spec": {"containers": [{"name": "c", "image": "caddy:2", "ports": [
             {"containerPort": 80}], "env": [{"name": "A", "value": "1"}],
             "command": ["caddy"], "resources": {"limits": {"cpu": "1"}}}],
             "volumes": [{"name": "v", "configMap": {"name": "x", "items": [
                 {"key": "k", "path": "p"}]}}],
             "tolerations": [{"key": "k", "operator": "Exists"}],
             "nodeSelector": {"a": "b"}, "terminationGracePeriodSeconds": 0}}))),
    "services": ("/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]}}),
    "configmaps": ("/api/v1/namespaces/default/configmaps", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"},
        "data": {"a": "b"}}),
    "secrets": ("/api/v1/namespaces/default/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "Yg=="},
        "type": "Opaque"}),
    "events": ("/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "x"}, "reason": "R",
        "message": "m", "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default"},
        "count": 1, "source": {"component": "c"}, "type": "Normal"}),
    "namespaces": ("/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}),
    "deployments": ("/apis/apps/v1/namespaces/default/deployments", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}}, "template": {
            "metadata": {"labels": {"app": "d"}},
            "spec": {"containers": [{"name": "c", "image": "caddy:2"}]}}}}),
    "statefulsets": ("/apis/apps/v1/namespaces/default/statefulsets", {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"},
        "spec": {"replicas": 1, "serviceName": "x", "selector": {"matchLabels": {"app": "s"}},
                 "template": {"metadata": {"labels": {"app": "s"}},
                              "spec": {"containers": [{"name": "c", "image": "redis:7"}]}}}}),
    "serviceaccounts": ("/api/v1/namespaces/default/serviceaccounts", {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}}),
}
_ODD_VALUES: list[object] = [None, 1, -1, 1.5, 2**40, True, "", "x", "-", [], [1], ["a"], {},
                             {"a": 1}, {"": ""}, {"Bad Key": "v"}, [[{}]], "x" * 300]


def _mutate(rng: random.Random, doc: object) -> object:
    """The document with one value replaced, added or removed somewhere inside it."""
    doc = json.loads(json.dumps(doc))
    node = doc
    for _ in range(rng.randint(0, 6)):
        children = (list(node.items()) if isinstance(node, dict)
                    else list(enumerate(node)) if isinstance(node, list) else [])
        containers = [(k, v) for k, v in children if isinstance(v, (dict, list))]
        if not containers or rng.random() < 0.25:
            break
        node = rng.choice(containers)[1]
    value = json.loads(json.dumps(rng.choice(_ODD_VALUES)))
    if isinstance(node, dict):
        keys = [k for k in node if k not in ("apiVersion", "kind")] or ["extra"]
        key = rng.choice([*keys, "extra"])
        if rng.random() < 0.15 and key in node:
            del node[key]
        else:
            node[key] = value
    elif isinstance(node, list):
        if node and rng.random() < 0.7:
            node[rng.randrange(len(node))] = value
        else:
            node.append(value)
    return doc


def test_random_malformed_objects_never_break_the_server(sim: SimHandle) -> None:
    """Bounded, seeded fuzzing: 400 mutated objects created, replaced and patched in
    every way kubectl can. No answer is a 5xx, and afterwards every kind still lists,
    prints and describes. (SIM_FUZZ_SEED and SIM_FUZZ_COUNT change the run, to search
    longer by hand.)"""
    rng = random.Random(int(os.environ.get("SIM_FUZZ_SEED", "13")))
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    failures: list[tuple[int, str, str, str]] = []

    def send(method: str, path: str, body: object, content_type: str) -> int:
        raw = json.dumps(body).encode()
        conn.request(method, path, body=raw, headers={"Content-Type": content_type})
        reply = conn.getresponse()
        text = reply.read().decode("utf-8", "replace")
        if reply.status >= 500:
            failures.append((reply.status, method, path, raw.decode()[:300] + " -> " + text[:200]))
        if reply.getheader("Connection") == "close":
            conn.close()
        return reply.status

    for resource, (path, base) in _BASES.items():
        assert send("POST", path, base, "application/json") == 201, resource
    for i in range(int(os.environ.get("SIM_FUZZ_COUNT", "400"))):
        resource = rng.choice(list(_BASES))
        path, base = _BASES[resource]
        doc = _mutate(rng, base)
        item = f"{path}/x"
        how = i % 7
        if how == 0:
            named = json.loads(json.dumps(doc))
            if isinstance(named, dict) and isinstance(named.get("metadata"), dict):
                named["metadata"]["name"] = f"f{i}"
            send("POST", path, named, "application/json")
        elif how == 1:
            send("PUT", item, doc, "application/json")
        elif how == 2:
            send("PATCH", item, doc, "application/merge-patch+json")
        elif how == 3:
            send("PATCH", item, doc, "application/strategic-merge-patch+json")
        elif how == 4:
            send("PATCH", item + "?fieldManager=fuzz&force=true", doc,
                 "application/apply-patch+yaml")
        elif how == 5:
            options = _mutate(rng, {"kind": "DeleteOptions", "apiVersion": "v1",
                                    "gracePeriodSeconds": 0, "propagationPolicy": "Background",
                                    "dryRun": ["All"], "preconditions": {"uid": "u"}})
            send("DELETE", item, options, "application/json")
        else:
            ops = [{"op": rng.choice(["add", "replace", "remove", "test", "copy", "move"]),
                    "path": rng.choice(["/metadata/labels", "/spec", "/spec/containers/0",
                                        "/metadata", "/data/a", "/x", "", "/spec/ports/0"]),
                    "from": "/metadata/name", "value": rng.choice(_ODD_VALUES)}]
            send("PATCH", item, ops, "application/json-patch+json")
    conn.close()
    assert not failures, failures[:5]
    kubectl = Kubectl(VENV_KUBECTL, sim)
    _still_serving(kubectl)
    for resource in _BASES:
        for args in (("get", resource, "-A", "-o", "wide"), ("get", resource, "-A", "-o", "json"),
                     ("describe", resource, "-A")):
            _answers(kubectl, *args)
