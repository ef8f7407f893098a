"""Endpoints and EndpointSlices (controllers/endpoints.py) seen through the real kubectl:
chapter 5's `get pods -o wide`, `describe service caddy` for kubectl 1.30 (which reads the
Endpoints object) and 1.37 (which reads EndpointSlices and adds Internal Traffic Policy),
`get endpointslices`, `describe endpointslice`, and endpoints following pod readiness."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, running
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl
from tests.sim.controller_support import wait_for
from tests.sim.service_support import (
    SLICES,
    caddy_behind_service,
    ready_addresses,
    service,
    wait_ready_endpoints,
)

IP = r"10\.42\.\d+\.\d+"

# Chapter 5, L109-124 (kubectl 1.30), with the addresses left to fill in.
DESCRIBE_130 = """\
Name:              caddy
Namespace:         default
Labels:            <none>
Annotations:       <none>
Selector:          app=caddy
Type:              ClusterIP
IP Family Policy:  SingleStack
IP Families:       IPv4
IP:                {ip}
IPs:               {ip}
Port:              web  80/TCP
TargetPort:        80/TCP
Endpoints:         {endpoints}
Session Affinity:  None
Events:            <none>
"""
# The same Service described by kubectl 1.31+ (kubectl PR #125117): EndpointSlices, and an
# Internal Traffic Policy line that widens the label column.
DESCRIBE_137 = """\
Name:                     caddy
Namespace:                default
Labels:                   <none>
Annotations:              <none>
Selector:                 app=caddy
Type:                     ClusterIP
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       {ip}
IPs:                      {ip}
Port:                     web  80/TCP
TargetPort:               80/TCP
Endpoints:                {endpoints}
Session Affinity:         None
Internal Traffic Policy:  Cluster
Events:                   <none>
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  containers:
    - name: web
      image: caddy:2.8
"""


def _cluster_ip(kubectl: Kubectl, name: str = "caddy") -> str:
    return kubectl("get", "service", name, "-o", "jsonpath={.spec.clusterIP}").out


def _describe(kubectl: Kubectl, ip: str, endpoints: str) -> str:
    template = DESCRIBE_137 if kubectl.is_137 else DESCRIBE_130
    return template.format(ip=ip, endpoints=endpoints)


def test_describe_service_as_each_kubectl_prints_it(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    in_slice_order = caddy_behind_service(kubectl, tmp_path)
    ip = _cluster_ip(kubectl)
    described = kubectl("describe", "service", "caddy")
    assert described.rc == 0, described.err
    # 1.30 prints the Endpoints object, whose addresses are sorted; 1.37 the slice's order.
    shown = in_slice_order if kubectl.is_137 else sorted(in_slice_order)
    assert described.out == _describe(kubectl, ip, ",".join(f"{a}:80" for a in shown))
    assert described.err == ""


def test_more_than_three_endpoints(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    addresses = caddy_behind_service(kubectl, tmp_path, replicas=5)
    shown = addresses if kubectl.is_137 else sorted(addresses)
    endpoints = ",".join(f"{a}:80" for a in shown[:3]) + " + 2 more..."
    assert kubectl("describe", "service", "caddy").out == _describe(
        kubectl, _cluster_ip(kubectl), endpoints)
    table = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=caddy").out
    row = table.splitlines()[1].split(None, 3)
    assert row[1:3] == ["IPv4", "80"]
    assert row[3].rsplit(None, 1)[0] == ",".join(addresses[:3]) + " + 2 more..."
    legacy = kubectl("get", "endpoints", "caddy").out.splitlines()[1]
    assert ",".join(f"{a}:80" for a in sorted(addresses)[:3]) + " + 2 more..." in legacy


def test_get_endpointslices_and_endpoints_tables(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    addresses = caddy_behind_service(kubectl, tmp_path)
    lines = kubectl("get", "endpointslices").out.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    caddy = next(line.split() for line in lines if line.startswith("caddy-"))
    assert re.fullmatch(r"caddy-[bcdfghjklmnpqrstvwxz2456789]{5}", caddy[0])
    assert caddy[1:4] == ["IPv4", "80", ",".join(addresses)]
    kubernetes = next(line.split() for line in lines if line.startswith("kubernetes "))
    assert kubernetes[1:4] == ["IPv4", "6443", "172.18.0.2"]  # k3s: the server node
    legacy = kubectl("get", "endpoints").out.splitlines()
    assert legacy[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert [line.split()[:2] for line in legacy[1:]] == [
        ["caddy", ",".join(f"{a}:80" for a in sorted(addresses))],
        ["kubernetes", "172.18.0.2:6443"]]
    # The literal name from the chapter does not exist here.
    missing = kubectl("describe", "endpointslice", "caddy-vdw57")
    assert missing.rc == 1
    assert 'endpointslices.discovery.k8s.io "caddy-vdw57" not found' in missing.err


def test_describe_endpointslice(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    caddy_behind_service(kubectl, tmp_path)
    name = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=caddy",
                   "-o", "jsonpath={.items[0].metadata.name}").out
    described = kubectl("describe", "endpointslice", name)
    assert described.rc == 0, described.err
    pods = {p["status"]["podIP"]: p for p in kubectl.sim.store.list("pods", "default")[0]}
    slice_ = kubectl.sim.store.get(SLICES, "default", name)
    assert slice_ is not None
    trigger = slice_["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
    expected = [
        f"Name:         {name}",
        "Namespace:    default",
        "Labels:       endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io",
        "              kubernetes.io/service-name=caddy",
        f"Annotations:  endpoints.kubernetes.io/last-change-trigger-time: {trigger}",
        "AddressType:  IPv4",
        "Ports:",
        "  Name  Port  Protocol",
        "  ----  ----  --------",
        "  web   80    TCP",
        "Endpoints:",
    ]
    for endpoint in slice_["endpoints"]:
        pod = pods[endpoint["addresses"][0]]
        expected += [
            f"  - Addresses:  {endpoint['addresses'][0]}",
            "    Conditions:",
            "      Ready:    true",
            "    Hostname:   <unset>",
            f"    TargetRef:  Pod/{pod['metadata']['name']}",
            f"    NodeName:   {pod['spec']['nodeName']}",
            "    Zone:       <unset>",
        ]
    expected.append("Events:         <none>")
    assert described.out.splitlines() == expected


def test_get_pods_wide_shows_the_endpoint_addresses(kubectl137: Kubectl,
                                                     tmp_path: Path) -> None:
    kubectl = kubectl137
    addresses = caddy_behind_service(kubectl, tmp_path)
    lines = kubectl("get", "pods", "-o", "wide").out.splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                                "NOMINATED", "NODE", "READINESS", "GATES"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[5] for r in rows) == sorted(addresses)
    nodes = {n["metadata"]["name"] for n in kubectl.sim.store.list("nodes")[0]}
    for row in rows:
        assert re.fullmatch(IP, row[5]) and row[6] in nodes and row[7:] == ["<none>", "<none>"]
        assert row[1:3] == ["1/1", "Running"]


def _endpoint_of(sim: SimHandle, pod: str, service: str = "web") -> dict[str, object] | None:
    slices, _ = sim.store.list(SLICES, "default")
    for slice_ in slices:
        if (slice_["metadata"].get("labels") or {}).get("kubernetes.io/service-name") != service:
            continue
        for endpoint in slice_.get("endpoints") or []:
            if endpoint["targetRef"]["name"] == pod:
                return dict(endpoint)
    return None


def _endpoints_json(kubectl: Kubectl, name: str = "web") -> dict[str, list[str]]:
    obj = json.loads(kubectl("get", "endpoints", name, "-o", "json").out)
    found: dict[str, list[str]] = {"addresses": [], "notReadyAddresses": []}
    for subset in obj.get("subsets") or []:
        for kind in found:
            found[kind] += [a["targetRef"]["name"] for a in subset.get(kind) or []]
    return found


@pytest.mark.sim_options(terminating_seconds=4.0)
def test_endpoints_follow_pod_readiness(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    sim = kubectl.sim
    for name in ("web-a", "web-b"):
        (tmp_path / f"{name}.yaml").write_text(POD.format(name=name))
        assert kubectl("apply", "-f", str(tmp_path / f"{name}.yaml")).rc == 0
    assert kubectl("apply", "-f", str(service(tmp_path, "web", "web"))).rc == 0
    wait_ready_endpoints(sim, "web", 2)
    ip_a = sim.store.get("pods", "default", "web-a")["status"]["podIP"]  # type: ignore[index]

    # web-b stops being Ready (its new image cannot be pulled): it leaves the ready
    # endpoints, and stays as a not-ready address.
    assert kubectl("set", "image", "pod/web-b", "web=caddy:99.9").rc == 0
    wait_for(lambda: (_endpoint_of(sim, "web-b") or {}).get("conditions") == {
        "ready": False, "serving": False, "terminating": False}, what="web-b not ready")
    assert _endpoints_json(kubectl) == {"addresses": ["web-a"], "notReadyAddresses": ["web-b"]}
    assert ready_addresses(sim, "web") == [ip_a]
    endpoints_line = next(line for line in kubectl("describe", "service", "web").out.splitlines()
                          if line.startswith("Endpoints:"))
    assert endpoints_line.split()[1:] == [f"{ip_a}:80"]

    # web-a is deleted: while it terminates it is in the slice as terminating (serving,
    # not ready) and gone from the Endpoints object.
    assert kubectl("delete", "pod", "web-a", "--wait=false").rc == 0
    wait_for(lambda: (_endpoint_of(sim, "web-a") or {}).get("conditions") == {
        "ready": False, "serving": True, "terminating": True}, what="web-a terminating")
    assert _endpoints_json(kubectl) == {"addresses": [], "notReadyAddresses": ["web-b"]}
    assert ready_addresses(sim, "web") == []
    wait_for(lambda: _endpoint_of(sim, "web-a") is None, what="web-a gone", timeout=15)

    # A pod whose labels stop matching leaves the Service.
    assert kubectl("label", "pod", "web-b", "app=other", "--overwrite").rc == 0
    wait_for(lambda: _endpoint_of(sim, "web-b") is None, what="web-b relabelled")
    assert _endpoints_json(kubectl) == {"addresses": [], "notReadyAddresses": []}


def test_a_service_without_pods_and_its_deletion(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    assert kubectl("apply", "-f", str(service(tmp_path, "lonely", "nothing"))).rc == 0
    wait_for(lambda: kubectl.sim.store.list(SLICES, "default", lambda s: s["metadata"][
        "name"].startswith("lonely-"))[0], what="the placeholder slice")
    row = kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=lonely").out
    assert row.splitlines()[1].split()[1:4] == ["IPv4", "<unset>", "<unset>"]
    assert kubectl("get", "endpoints", "lonely").out.splitlines()[1].split()[1] == "<none>"
    line = next(x for x in kubectl("describe", "service", "lonely").out.splitlines()
                if x.startswith("Endpoints:"))
    # 1.30 reads the empty Endpoints object; 1.37 finds the placeholder slice.
    assert line.split()[1:] == ([] if kubectl.is_137 else ["<none>"])
    assert kubectl("delete", "service", "lonely").rc == 0
    wait_for(lambda: not kubectl.sim.store.list(SLICES, "default", lambda s: s["metadata"][
        "name"].startswith("lonely-"))[0] and kubectl.sim.store.get(
        "endpoints", "default", "lonely") is None, what="the slice and Endpoints to go")


def test_endpoints_deprecation_from_133(tmp_path: Path) -> None:
    with running(tmp_path / "sim", options=replace(FAST, kube_version="v1.33.1")) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        caddy_behind_service(kubectl, tmp_path, replicas=1)
        got = kubectl("get", "endpoints", "caddy", "-o", "jsonpath={.metadata.labels}")
        assert json.loads(got.out) == {"endpoints.kubernetes.io/managed-by":
                                       "endpoint-controller"}
        assert got.err == ("Warning: v1 Endpoints is deprecated in v1.33+; use "
                           "discovery.k8s.io/v1 EndpointSlice\n")
        assert kubectl("get", "endpointslices").err == ""
