"""Services and port-forwards to what the controllers made, with the real kubectl:
`port-forward deployment/caddy`, `statefulset/redis` and `service/redis` each reach a pod
that kubectl picks through the selector, and ClusterIPs come from the k3s range."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from tests.sim.conftest import Kubectl
from tests.sim.controller_support import (
    deployment,
    forwarding,
    free_port,
    resp,
    rows,
    statefulset,
)


def _redis(kubectl: Kubectl, tmp_path: Path) -> None:
    assert kubectl("apply", "-f", str(statefulset(tmp_path))).rc == 0
    done = kubectl("rollout", "status", "statefulset/redis", "--timeout=20s")
    assert done.rc == 0, done.err


def test_service_fields_are_defaulted(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _redis(kubectl, tmp_path)
    svc = json.loads(kubectl("get", "service", "redis", "-o", "json").out)
    spec = svc["spec"]
    assert re.fullmatch(r"10\.43\.\d+\.\d+", spec["clusterIP"])
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"], spec["sessionAffinity"],
            spec["internalTrafficPolicy"], spec["type"]) == (
        ["IPv4"], "SingleStack", "None", "Cluster", "ClusterIP")
    assert spec["ports"] == [{"name": "redis", "port": 6379, "protocol": "TCP",
                              "targetPort": 6379}]
    kubernetes = json.loads(kubectl("get", "service", "kubernetes", "-o", "json").out)
    assert kubernetes["spec"]["clusterIP"] == "10.43.0.1"
    wide = kubectl("get", "services", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE",
                               "SELECTOR"]
    assert wide[2].split()[-1] == "app=redis"


def test_port_forward_to_the_deployment(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    assert kubectl("apply", "-f", str(deployment(tmp_path))).rc == 0
    assert kubectl("rollout", "status", "deployment/caddy", "--timeout=20s").rc == 0
    port = free_port()
    with forwarding(kubectl.popen("port-forward", "deployment/caddy", f"{port}:80")) as fwd:
        assert fwd.ready() == f"Forwarding from 127.0.0.1:{port} -> 80"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert "Caddy works!" in page.read().decode()


def test_port_forward_to_the_statefulset_and_its_service(kubectl137: Kubectl,
                                                         tmp_path: Path) -> None:
    kubectl = kubectl137
    _redis(kubectl, tmp_path)
    port = free_port()
    with forwarding(kubectl.popen("port-forward", "statefulset/redis",
                                  f"{port}:6379")) as fwd:
        assert fwd.ready() == f"Forwarding from 127.0.0.1:{port} -> 6379"
        assert resp(port, "SET", "foo", "bar") == b"+OK\r\n"
        assert resp(port, "GET", "foo") == b"$3\r\nbar\r\n"
        assert resp(port, "KEYS", "*") == b"*1\r\n$3\r\nfoo\r\n"
    port = free_port()
    with forwarding(kubectl.popen("port-forward", "service/redis", f"{port}:6379")) as fwd:
        assert fwd.ready() == f"Forwarding from 127.0.0.1:{port} -> 6379"
        assert resp(port, "GET", "foo") == b"$3\r\nbar\r\n"  # the same redis-0


def test_a_restart_loses_the_keys(kubectl137: Kubectl, tmp_path: Path) -> None:
    """The example has no volume: the new redis-0 starts empty."""
    kubectl = kubectl137
    _redis(kubectl, tmp_path)
    port = free_port()
    with forwarding(kubectl.popen("port-forward", "statefulset/redis",
                                  f"{port}:6379")) as fwd:
        fwd.ready()
        assert resp(port, "SET", "foo", "bar") == b"+OK\r\n"
    assert kubectl("rollout", "restart", "statefulset/redis").rc == 0
    assert kubectl("rollout", "status", "statefulset/redis", "--timeout=20s").rc == 0
    port = free_port()
    with forwarding(kubectl.popen("port-forward", "statefulset/redis",
                                  f"{port}:6379")) as fwd:
        fwd.ready()
        assert resp(port, "KEYS", "*") == b"*0\r\n"


def test_each_service_gets_its_own_address(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    for name in ("one", "two", "three"):
        made = kubectl("create", "service", "clusterip", name, "--tcp=80:8080")
        assert made.rc == 0, made.err
    addresses = [r[2] for r in rows(kubectl("get", "services").out)]
    assert len(set(addresses)) == len(addresses) == 4
    assert all(re.fullmatch(r"10\.43\.\d+\.\d+", a) for a in addresses)
    one = json.loads(kubectl("get", "service", "one", "-o", "json").out)
    assert one["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP",
                                     "targetPort": 8080}]
    assert one["spec"]["selector"] == {"app": "one"}
