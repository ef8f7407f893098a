"""Lesson 5's traffic that does not go through a port-forward, with the real kubectl (1.37
and the course's 1.30): LoadBalancer Services as k3s's ServiceLB serves them (node ports,
`<pending>` then the node addresses, svclb pods, one Service per host port), the cluster's
host ports 80 and 8080 on local ports, the IngressClass `traefik`, Ingresses and traefik's
routing by host and path, and what the apiserver refuses."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kubelesson.sim import running
from kubelesson.sim.api.netprinters import _hosts
from kubelesson.sim.controllers.placement import failure_message
from kubelesson.sim.network.hostports import HostPortInUse
from kubelesson.sim.network.ingress import Route, _host_matches, choose
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl
from tests.sim.storage_support import wait_until

NODE_IPS = "172.18.0.2,172.18.0.3,172.18.0.4,172.18.0.5"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
HOST = "caddy.local.trapti.tech"
SECOND_LB = """\
apiVersion: v1
kind: Service
metadata:
  name: other-lb
spec:
  type: LoadBalancer
  selector:
    app: caddy
  ports:
    - name: web
      port: 8080
      targetPort: 80
"""
NGINX = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
spec:
  replicas: 1
  selector:
    matchLabels: {app: nginx}
  template:
    metadata:
      labels: {app: nginx}
    spec:
      containers:
        - name: nginx
          image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: nginx
spec:
  selector: {app: nginx}
  ports:
    - name: web
      port: 8080
      targetPort: 80
"""
PATHS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: paths
spec:
  rules:
    - host: paths.example
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: caddy, port: {number: 80}}}}
          - {path: /nginx, pathType: Prefix,
             backend: {service: {name: nginx, port: {name: web}}}}
          - {path: /exact, pathType: Exact,
             backend: {service: {name: nginx, port: {number: 8080}}}}
          - {path: /exactly-this, pathType: Exact,
             backend: {service: {name: nginx, port: {number: 8080}}}}
"""


def _get(port: int, path: str = "/", host: str | None = None,
         method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": host} if host else {})
        reply = conn.getresponse()
        return reply.status, {k: v for k, v in reply.getheaders()}, reply.read()
    finally:
        conn.close()


def _closed_at_once(port: int) -> bool:
    """The connection is accepted and closed without a byte (k3d's serverlb, no backend)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        try:
            return conn.recv(100) == b""
        except ConnectionResetError:
            return True


def _rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    return {line.split()[0]: line.split() for line in lines[1:] if line.strip()}


def _row(kubectl: Kubectl, *args: str) -> list[str]:
    out = kubectl(*args).out.splitlines()
    assert len(out) == 2, out
    return out[1].split()


def _apply(kubectl: Kubectl, *files: str, text: str | None = None) -> None:
    args = [a for f in files for a in ("-f", f)]
    done = kubectl("apply", *args, input=text) if text is None else kubectl(
        "apply", "-f", "-", input=text)
    assert done.rc == 0, done.err


def _ready_lb(kubectl: Kubectl, name: str) -> list[str]:
    return wait_until(lambda: (row := _row(kubectl, "get", "service", name))[3] != "<pending>"
                  and row, f"{name} gets its node addresses")


# --- LoadBalancer Services and host port 8080 --------------------------------------------


@pytest.mark.sim_options(creating_seconds=0.6)
def test_load_balancer_is_pending_then_on_every_node_and_on_host_port_8080(
        both: Kubectl) -> None:
    kubectl = both
    _apply(kubectl, "examples/4_deployment.yaml", "examples/5_lb_service.yaml")
    pending = _row(kubectl, "get", "service", "caddy-lb")
    assert pending[:2] == ["caddy-lb", "LoadBalancer"] and pending[3] == "<pending>"
    row = _ready_lb(kubectl, "caddy-lb")
    assert re.fullmatch(r"10\.43\.\d+\.\d+", row[2])
    assert row[3] == NODE_IPS  # every node's address, sorted, as ServiceLB lists them
    node_port = re.fullmatch(r"8080:(\d{5})/TCP", row[4])
    assert node_port is not None and 30000 <= int(node_port.group(1)) <= 32767
    svc = json.loads(kubectl("get", "service", "caddy-lb", "-o", "json").out)
    assert svc["spec"]["ports"][0]["nodePort"] == int(node_port.group(1))
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster"
    assert svc["spec"]["allocateLoadBalancerNodePorts"] is True
    assert svc["metadata"]["finalizers"] == ["service.kubernetes.io/load-balancer-cleanup"]
    assert {i["ip"] for i in svc["status"]["loadBalancer"]["ingress"]} == set(NODE_IPS.split(","))
    assert all(i["ipMode"] == "VIP" for i in svc["status"]["loadBalancer"]["ingress"])
    kubectl("rollout", "status", "deployment/caddy", "--timeout=30s")
    status, _, body = _get(kubectl.sim.host_ports[8080])
    assert status == 200 and b"<title>Caddy works!</title>" in body
    pods = _rows(kubectl("get", "pods", "-n", "kube-system").out)
    svclb = [p for p in pods if p.startswith("svclb-caddy-lb-")]
    uid = svc["metadata"]["uid"][:8]
    assert len(svclb) == 4 and all(re.fullmatch(rf"svclb-caddy-lb-{uid}-[{ALPHABET}]{{5}}", p)
                                   for p in svclb)
    assert all(pods[p][1:3] == ["1/1", "Running"] for p in svclb)
    described = kubectl("describe", "service", "caddy-lb").out
    assert "LoadBalancer Ingress:" in described and "NodePort:" in described
    for line in ("Ensuring load balancer",
                 f"Applied LoadBalancer DaemonSet kube-system/svclb-caddy-lb-{uid}",
                 f"-> [{NODE_IPS.replace(',', ' ')}]"):
        assert line in described, line


def test_only_one_load_balancer_holds_a_host_port(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    _apply(kubectl, "examples/4_deployment.yaml", "examples/5_lb_service.yaml")
    _ready_lb(kubectl, "caddy-lb")
    _apply(kubectl, text=SECOND_LB)

    def pending_svclb() -> list[str]:
        pods = _rows(kubectl("get", "pods", "-n", "kube-system").out)
        return [p for p, row in pods.items()
                if p.startswith("svclb-other-lb-") and row[2] == "Pending"]

    waiting = wait_until(lambda: len(pending_svclb()) == 4
                     and pending_svclb(), "four Pending svclb pods")
    time.sleep(0.5)
    assert _row(kubectl, "get", "service", "other-lb")[3] == "<pending>"
    events = kubectl("describe", "pod", "-n", "kube-system", waiting[0]).out  # type: ignore[index]
    assert ("0/4 nodes are available: 1 node(s) didn't have free ports for the requested pod "
            "ports, 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes "
            "are available: 1 No preemption victims found for incoming pod, 3 Preemption is not "
            "helpful for scheduling.") in " ".join(events.split())
    # The first one goes: the second one's pods take the port, and it gets the addresses.
    assert kubectl("delete", "service", "caddy-lb").rc == 0
    assert _ready_lb(kubectl, "other-lb")[3] == NODE_IPS
    assert kubectl("get", "daemonsets", "-n", "kube-system", "-o", "name").out.count(
        "svclb-caddy-lb-") == 0
    kubectl("rollout", "status", "deployment/caddy", "--timeout=30s")
    assert b"Caddy works!" in _get(kubectl.sim.host_ports[8080])[2]


def test_a_changed_service_rolls_its_svclb_pods_and_a_type_change_is_recorded(
        kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    _apply(kubectl, text=_service("web", "NodePort", port=9090))
    _apply(kubectl, text=_service("web", "LoadBalancer", port=9090))  # 80 is traefik's
    _ready_lb(kubectl, "web")
    patched = kubectl("patch", "service", "web", "--type=merge", "-p",
                      '{"spec":{"ports":[{"name":"web","port":9091}]}}')
    assert patched.rc == 0, patched.err

    def rolled() -> bool:
        pods = [p for p in kubectl.sim.store.list("pods", "kube-system")[0]
                if p["metadata"]["name"].startswith("svclb-web-")]
        return len(pods) == 4 and all(
            p["spec"]["containers"][0]["name"] == "lb-tcp-9091"
            and p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp") for p in pods)

    wait_until(rolled, "the svclb pods rolled to port 9091")
    daemonset = json.loads(kubectl("get", "daemonsets", "-n", "kube-system", "-o", "json").out)
    mine = [d for d in daemonset["items"] if d["metadata"]["name"].startswith("svclb-web-")]
    assert mine[0]["metadata"]["generation"] == 2
    described = " ".join(kubectl("describe", "service", "web").out.split())
    assert "service-controller NodePort -> LoadBalancer" in described
    assert wait_until(lambda: _row(kubectl, "get", "service", "web")[3]
                  == NODE_IPS, "addresses again")
    _apply(kubectl, text=_service("web", "ClusterIP", port=9091))
    wait_until(lambda: not any(
        p["metadata"]["name"].startswith("svclb-web-")
        for p in kubectl.sim.store.list("pods", "kube-system")[0]), "svclb gone")
    svc = json.loads(kubectl("get", "service", "web", "-o", "json").out)
    assert "finalizers" not in svc["metadata"] and svc["status"] == {"loadBalancer": {}}
    described = " ".join(kubectl("describe", "service", "web").out.split())
    for words in ("LoadBalancer -> ClusterIP", "Deleting load balancer",
                  "Deleted LoadBalancer DaemonSet kube-system/svclb-web-", "Deleted load balancer"):
        assert words in described, words


def test_a_host_port_nothing_holds_closes_the_connection(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    port = kubectl.sim.host_ports[8080]
    assert _closed_at_once(port)
    # A LoadBalancer whose Service has no ready pod: the svclb pods run, nothing answers.
    _apply(kubectl, "examples/5_lb_service.yaml")
    _ready_lb(kubectl, "caddy-lb")
    assert _closed_at_once(port)


def test_the_host_ports_are_published_in_a_configmap(kubectl137: Kubectl) -> None:
    sim = kubectl137.sim
    shown = kubectl137("get", "configmap", "kubelesson-sim-host-ports", "-n", "kube-system",
                       "-o", "jsonpath={.data}")
    assert json.loads(shown.out) == {str(k): str(v) for k, v in sim.host_ports.items()}
    assert set(sim.host_ports) == {80, 8080}
    assert len(set(sim.host_ports.values())) == 2 and 0 not in sim.host_ports.values()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_host_port_can_be_pinned_and_a_taken_one_is_reported(tmp_path: Path) -> None:
    wanted = _free_port()
    options = replace(FAST, host_ports=(f"8080={wanted}",))
    with running(tmp_path / "a", options=options) as sim:
        assert sim.host_ports == {8080: wanted}
        with pytest.raises(HostPortInUse) as caught, running(tmp_path / "b", options=options):
            pass
        assert (caught.value.host_port, caught.value.local_port) == (8080, wanted)


def test_deleting_the_namespace_frees_the_host_port(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    assert kubectl("create", "namespace", "lesson").rc == 0
    assert kubectl("apply", "-n", "lesson", "-f", "examples/5_lb_service.yaml").rc == 0
    wait_until(lambda: "svclb-caddy-lb-" in kubectl(
        "get", "daemonsets", "-n", "kube-system", "-o", "name").out, "svclb DaemonSet")
    assert kubectl("delete", "namespace", "lesson").rc == 0
    wait_until(lambda: not any(
        p["metadata"]["name"].startswith("svclb-caddy-lb-")
        for p in kubectl.sim.store.list("pods", "kube-system")[0]), "svclb pods gone")
    assert "svclb-caddy-lb-" not in kubectl("get", "daemonsets", "-n", "kube-system").out


# --- Ingress and traefik on host port 80 ----------------------------------------------------


def test_ingress_routes_by_host_on_port_80(both: Kubectl) -> None:
    kubectl = both
    _apply(kubectl, "examples/4_deployment.yaml", "examples/5_service.yaml",
           "examples/5_ingress.yaml")
    first = _row(kubectl, "get", "ingress")
    assert first == ["caddy", "traefik", HOST, "80", first[4]]  # no ADDRESS yet
    row = wait_until(lambda: len(r := _row(kubectl, "get", "ingress")) == 6 and r, "traefik writes the address")
    assert row[:5] == ["caddy", "traefik", HOST, NODE_IPS, "80"]  # type: ignore[index]
    ingress = json.loads(kubectl("get", "ingress", "caddy", "-o", "json").out)
    assert ingress["status"]["loadBalancer"]["ingress"][0] == {"ip": "172.18.0.2"}  # no ipMode
    kubectl("rollout", "status", "deployment/caddy", "--timeout=30s")
    port = kubectl.sim.host_ports[80]
    status, _, body = _get(port, host=HOST)
    assert status == 200 and b"<title>Caddy works!</title>" in body
    status, headers, body = _get(port, host=f"{HOST.upper()}:{port}")  # case, port ignored
    assert status == 200 and headers["Server"] == "Caddy"
    status, headers, body = _get(port)
    assert (status, body) == (404, b"404 page not found\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert _get(port, host="other.example")[0] == 404
    described = kubectl("describe", "ingress", "caddy")
    assert described.rc == 0, described.err
    assert "Ingress Class:    traefik" in described.out and "caddy:80 (" in described.out
    assert f"Address:          {NODE_IPS}" in described.out


def test_ingressclass_traefik_as_k3s_installs_it(both: Kubectl) -> None:
    kubectl = both
    row = _row(kubectl, "get", "ingressclass")
    assert row[:3] == ["traefik", "traefik.io/ingress-controller", "<none>"]
    shown = kubectl("get", "ingressclass", "traefik", "-o", "yaml").out
    for line in ("apiVersion: networking.k8s.io/v1", "kind: IngressClass",
                 'ingressclass.kubernetes.io/is-default-class: "true"',
                 "meta.helm.sh/release-name: traefik",
                 "meta.helm.sh/release-namespace: kube-system", "generation: 1",
                 "app.kubernetes.io/instance: traefik-kube-system",
                 "app.kubernetes.io/managed-by: Helm", "app.kubernetes.io/name: traefik",
                 "helm.sh/chart: traefik-34.2.1_up34.2.0",  # k3s 1.32: Traefik v3
                 "controller: traefik.io/ingress-controller"):
        assert line in shown, line
    traefik = _row(kubectl, "get", "service", "traefik", "-n", "kube-system")
    assert traefik[:2] == ["traefik", "LoadBalancer"] and traefik[3] in ("<pending>", NODE_IPS)
    assert re.fullmatch(r"80:3\d{4}/TCP,443:3\d{4}/TCP", traefik[4])
    def running_pods() -> list[str] | None:
        rows = _rows(kubectl("get", "pods", "-n", "kube-system").out)
        ready = sorted(name for name, r in rows.items() if r[2] == "Running")
        return ready if len(rows) == len(ready) == 5 else None

    names: list[str] = wait_until(running_pods, "traefik's pods run")  # type: ignore[assignment]
    assert re.fullmatch(rf"traefik-[{ALPHABET}]{{6,10}}-[{ALPHABET}]{{5}}", names[-1])
    assert all(re.fullmatch(rf"svclb-traefik-[0-9a-f]{{8}}-[{ALPHABET}]{{5}}", n)
               for n in names[:4])


@pytest.mark.sim_options(kube_version="v1.28.8")
def test_k3s_1_28_has_the_chapters_traefik_v2_chart(kubectl137: Kubectl) -> None:
    shown = kubectl137("get", "ingressclass", "traefik", "-o", "yaml").out
    assert "helm.sh/chart: traefik-25.0.2_up25.0.0" in shown
    deployment = json.loads(kubectl137("get", "deployment", "traefik", "-n", "kube-system",
                                       "-o", "json").out)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "rancher/mirrored-library-traefik:2.10.7"
    assert "--providers.kubernetesingress.allowEmptyServices=true" not in container["args"]


def test_paths_prefix_exact_and_the_longest_rule(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    _apply(kubectl, "examples/4_deployment.yaml", "examples/5_service.yaml")
    _apply(kubectl, text=NGINX)
    _apply(kubectl, text=PATHS)
    for name in ("caddy", "nginx"):
        kubectl("rollout", "status", f"deployment/{name}", "--timeout=30s")
    # A new cluster's traefik is Ready once its readiness probe has passed (sim/prober.py).
    kubectl("wait", "-n", "kube-system", "--for=condition=Ready", "pod",
            "-l", "app.kubernetes.io/name=traefik", "--timeout=30s")
    port = kubectl.sim.host_ports[80]

    def server(path: str) -> str:
        return _get(port, path, host="paths.example")[1].get("Server", "")

    assert server("/") == "Caddy"
    assert server("/index.html") == "Caddy"
    assert server("/nginx").startswith("nginx")
    assert server("/nginxfoo").startswith("nginx")  # traefik's prefix is character-wise
    # Routers are ranked by the length of their rule: `Path("/exact")` is shorter than
    # `PathPrefix("/")`, so on traefik the catch-all wins over this Exact path...
    assert server("/exact") == "Caddy"
    # ...and a longer one wins, for itself only.
    assert server("/exactly-this").startswith("nginx")
    assert server("/exactly-this/more") == "Caddy"


@pytest.mark.parametrize("version,status,body", [
    ("v1.28.8", 404, b"404 page not found\n"),  # Traefik v2: no endpoints, no router
    ("v1.32.4", 503, b"no available server\n"),  # Traefik v3 chart: allowEmptyServices
])
def test_a_service_without_ready_pods(tmp_path: Path, version: str, status: int,
                                      body: bytes) -> None:
    with running(tmp_path / "sim", options=replace(FAST, kube_version=version)) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        _apply(kubectl, "examples/5_service.yaml", "examples/5_ingress.yaml")
        wait_until(lambda: len(_row(kubectl, "get", "ingress")) == 6, "traefik serves")
        assert _get(sim.host_ports[80], host=HOST)[::2] == (status, body)
        # Without the Service at all (the chapter's wrong path): no router in either version.
        assert kubectl("delete", "service", "caddy").rc == 0
        assert _get(sim.host_ports[80], host=HOST)[::2] == (404, b"404 page not found\n")


def test_two_namespaces_with_one_host_the_older_ingress_wins(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    _apply(kubectl, "examples/4_deployment.yaml", "examples/5_service.yaml",
           "examples/5_ingress.yaml")
    assert kubectl("create", "namespace", "second").rc == 0
    second = NGINX.replace("port: 8080", "port: 80").replace("name: nginx\nspec:\n  selector",
                                                              "name: caddy\nspec:\n  selector")
    assert kubectl("apply", "-n", "second", "-f", "-", input=second).rc == 0
    assert kubectl("apply", "-n", "second", "-f", "examples/5_ingress.yaml").rc == 0
    for ns, name in (("default", "caddy"), ("second", "nginx")):
        kubectl("rollout", "status", "-n", ns, f"deployment/{name}", "--timeout=30s")
    wait_until(lambda: all(len(_row(kubectl, "get", "ingress", "-n", ns)) == 6
                                         for ns in ("default", "second")), "both addressed")
    port = kubectl.sim.host_ports[80]
    assert _get(port, host=HOST)[1]["Server"] == "Caddy"
    assert kubectl("delete", "ingress", "caddy").rc == 0
    assert wait_until(lambda: _get(port, host=HOST)[1].get(
        "Server", "").startswith("nginx"), "the other one takes over")


# --- what the apiserver refuses and defaults --------------------------------------------


def _service(name: str, kind: str, node_port: int | None = None, port: int = 80) -> str:
    extra = f", nodePort: {node_port}" if node_port else ""
    return (f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  type: {kind}\n"
            f"  selector: {{app: caddy}}\n  ports: [{{name: web, port: {port}{extra}}}]\n")


def test_node_ports_are_checked_kept_and_dropped(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    low = kubectl("apply", "-f", "-", input=_service("low", "NodePort", 80))
    assert low.rc == 1 and low.err.strip() == (
        'The Service "low" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided '
        "port is not in the valid range. The range of valid ports is 30000-32767")
    _apply(kubectl, text=_service("first", "NodePort", 30080))
    taken = kubectl("apply", "-f", "-", input=_service("second", "NodePort", 30080))
    assert taken.rc == 1 and ("spec.ports[0].nodePort: Invalid value: 30080: provided port is "
                              "already allocated") in taken.err
    clusterip = kubectl("apply", "-f", "-", input=_service("plain", "ClusterIP", 30081))
    assert clusterip.rc == 1 and ("spec.ports[0].nodePort: Forbidden: may not be used when "
                                  "`type` is 'ClusterIP'") in clusterip.err
    _apply(kubectl, text=_service("auto", "NodePort"))
    given = json.loads(kubectl("get", "svc", "auto", "-o", "json").out)["spec"]["ports"][0]
    assert 30000 <= given["nodePort"] <= 32767 and given["nodePort"] != 30080
    _apply(kubectl, text=_service("auto", "NodePort"))  # applied again: the port stays
    again = json.loads(kubectl("get", "svc", "auto", "-o", "json").out)["spec"]
    assert again["ports"][0]["nodePort"] == given["nodePort"]
    _apply(kubectl, text=_service("auto", "ClusterIP"))  # no longer a NodePort: it goes
    plain = json.loads(kubectl("get", "svc", "auto", "-o", "json").out)["spec"]
    assert "nodePort" not in plain["ports"][0] and "externalTrafficPolicy" not in plain
    assert _row(kubectl, "get", "svc", "auto")[4] == "80/TCP"


def test_ingress_defaults_and_validation(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    no_class = ("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: plain}\n"
                "spec:\n  rules:\n  - http:\n      paths:\n      - path: /\n        pathType: "
                "Prefix\n        backend: {service: {name: caddy, port: {number: 80}}}\n")
    _apply(kubectl, text=no_class)
    assert _row(kubectl, "get", "ingress", "plain")[1:3] == ["traefik", "*"]  # default class
    missing = kubectl("apply", "-f", "-", input=no_class.replace("plain", "bad").replace(
        "        pathType: Prefix\n", ""))
    assert missing.rc == 1 and missing.err.strip() == (
        'The Ingress "bad" is invalid: spec.rules[0].http.paths[0].pathType: Required value: '
        "pathType must be specified")
    relative = kubectl("apply", "-f", "-", input=no_class.replace("plain", "bad").replace(
        "path: /", "path: foo"))
    assert relative.rc == 1 and ('spec.rules[0].http.paths[0].path: Invalid value: "foo": '
                                 "must be an absolute path") in relative.err


def test_ingress_bodies_of_the_wrong_shape_are_refused(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    manifest = (kubectl.cwd / "examples" / "5_ingress.yaml").read_text()
    typo = kubectl("apply", "-f", "-", input=manifest.replace("pathType:", "pathtype:"))
    assert typo.rc == 1 and ('Ingress in version "v1" cannot be handled as a Ingress: strict '
                             'decoding error: unknown field "spec.rules[0].http.paths[0].'
                             'pathtype"') in typo.err
    conn = http.client.HTTPConnection("127.0.0.1", kubectl.sim.port, timeout=10)
    path = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
    try:
        for spec in ({"rules": 5}, {"rules": [{"http": {"paths": "x"}}]}, {"tls": [3]},
                     {"defaultBackend": {"service": {"port": {"number": "80"}}}}, []):
            body = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": {"name": "bad"}, "spec": spec}
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            assert 400 <= reply.status < 500, (spec, reply.status)
    finally:
        conn.close()
    assert kubectl("get", "ingress").rc == 0


def test_sim_run_with_a_taken_pinned_host_port_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "kubelesson.sim", "run", "--state-dir", str(tmp_path),
             "--host-port", f"8080={port}"], capture_output=True, text=True, timeout=60,
            env={"LANG": "C", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: port {port} on 127.0.0.1, asked for with --host-port 8080={port}, is "
        "already in use; pin another one, or give --host-port 8080 for a free one")


# --- k3s's --disable ------------------------------------------------------------------------


def test_without_servicelb_and_traefik(tmp_path: Path) -> None:
    options = replace(FAST, disable=("servicelb", "traefik"))
    with running(tmp_path / "sim", options=options) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        _apply(kubectl, "examples/5_lb_service.yaml")
        time.sleep(1)
        assert _row(kubectl, "get", "service", "caddy-lb")[3] == "<pending>"
        assert kubectl("get", "pods", "-n", "kube-system").err.startswith("No resources found")
        assert kubectl("get", "ingressclass").err.startswith("No resources found")
        assert _closed_at_once(sim.host_ports[80])


# --- the simulator's own housekeeping -------------------------------------------------------


@contextlib.contextmanager
def _open_connection(port: int) -> Iterator[socket.socket]:
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        yield conn
    finally:
        conn.close()


def test_stopping_ends_every_host_port_connection(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    with running(tmp_path / "sim", options=FAST) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        _apply(kubectl, "examples/4_deployment.yaml", "examples/5_service.yaml",
               "examples/5_ingress.yaml")
        kubectl("rollout", "status", "deployment/caddy", "--timeout=30s")
        kubectl("wait", "-n", "kube-system", "--for=condition=Ready", "pod",  # its probes
                "-l", "app.kubernetes.io/name=traefik", "--timeout=30s")
        wait_until(lambda: _get(sim.host_ports[80], host=HOST)[0] == 200, "routed")
        with _open_connection(sim.host_ports[80]) as idle:  # kept alive across the stop
            idle.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            assert idle.recv(12) == b"HTTP/1.1 200"
            ports = dict(sim.host_ports)
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, leftover
    for port in ports.values():
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()


# --- pure parts -----------------------------------------------------------------------------


def test_scheduler_message_and_hosts_column() -> None:
    from collections import Counter

    assert failure_message(2, Counter({"b": 1, "a": 1}), Counter({"x": 2})) == (
        "0/2 nodes are available: 1 a, 1 b. preemption: 0/2 nodes are available: 2 x.")
    assert _hosts([]) == "*"
    assert _hosts([{"http": {}}, {"host": "a"}]) == "a"
    assert _hosts([{"host": h} for h in "abcde"]) == "a,b,c + 2 more..."
    assert _host_matches("x.example.com", "*.example.com")
    assert not _host_matches("a.x.example.com", "*.example.com")
    routes = [Route(20, "", "", "", "h", "/api", "PathPrefix", "s", 80, ""),
              Route(10, "", "", "", "h", "/", "PathPrefix", "t", 80, "")]
    assert choose(routes, "H", "/api/v1") is routes[0]
    assert choose(routes, "h", "/other") is routes[1]
    assert choose(routes, "g", "/") is None
