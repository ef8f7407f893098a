"""The simulator looks like the course's cluster, `k3d cluster create hands-on --agents 3`
(lesson 2): node names, roles by k3s version, Ready, one VERSION, and `kubectl cluster-info`
line for line as k3d prints it. The real kubectl 1.37, and the course's 1.30 where present."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelesson.sim import SimHandle, running
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl, newest_and_course_kubectl, pod_manifest

COURSE_NODES = ["k3d-hands-on-agent-0", "k3d-hands-on-agent-1", "k3d-hands-on-agent-2",
                "k3d-hands-on-server-0"]


Start = Callable[..., SimHandle]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start simulators with some options changed; all are stopped at the end."""
    with contextlib.ExitStack() as stack:
        count = itertools.count()

        def _start(**changes: Any) -> SimHandle:
            options = dataclasses.replace(FAST, **changes)
            return stack.enter_context(running(tmp_path / f"sim{next(count)}", options=options))

        yield _start


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


@pytest.mark.parametrize("binary", newest_and_course_kubectl())
@pytest.mark.parametrize(("version", "server_roles"), [
    ("v1.28.8", "control-plane,master"),  # the course's k3s
    ("v1.32.4", "control-plane,master"),
    ("v1.34.1", "control-plane"),  # k3s 1.34 stopped labelling the server as master
])
def test_get_nodes_as_k3d_shows_them(start: Start, binary: Path, version: str,
                                     server_roles: str) -> None:
    sim = start(kube_version=version)
    kubectl = Kubectl(binary, sim)
    result = kubectl("get", "nodes")
    assert result.rc == 0, result.err
    assert result.out.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {row[0]: row for row in _rows(result.out)}
    assert sorted(rows) == COURSE_NODES
    assert {row[1] for row in rows.values()} == {"Ready"}
    assert rows["k3d-hands-on-server-0"][2] == server_roles
    assert [rows[name][2] for name in COURSE_NODES[:3]] == ["<none>"] * 3
    assert {row[4] for row in rows.values()} == {f"{version}+k3s1"}


def test_node_labels_as_k3s_sets_them(start: Start) -> None:
    old = Kubectl(VENV_KUBECTL, start(kube_version="v1.32.4"))
    new = Kubectl(VENV_KUBECTL, start(kube_version="v1.34.1"))
    for kubectl, master in ((old, True), (new, False)):
        nodes = json.loads(kubectl("get", "nodes", "-o", "json").out)["items"]
        for node in nodes:
            name = node["metadata"]["name"]
            labels = node["metadata"]["labels"]
            assert labels["kubernetes.io/hostname"] == name
            assert labels["node.kubernetes.io/instance-type"] == "k3s"
            is_server = name.endswith("-server-0")
            assert ("node-role.kubernetes.io/control-plane" in labels) is is_server
            assert ("node-role.kubernetes.io/master" in labels) is (is_server and master)
            # The server is schedulable, as in k3d: no taint, not cordoned.
            assert "taints" not in node["spec"] and not node["spec"].get("unschedulable")


def test_wide_and_describe_node(start: Start) -> None:
    kubectl = Kubectl(VENV_KUBECTL, start())
    wide = kubectl("get", "nodes", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP",
                               "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    server = next(line for line in wide if line.startswith("k3d-hands-on-server-0 "))
    # The honest part: the OS image says who made this node.
    assert "K3s v1.32.4+k3s1 (simulated by kubelesson)" in server
    assert "172.18.0.2" in server and "containerd://" in server
    described = kubectl("describe", "node", "k3d-hands-on-agent-0").out
    for expected in ("Name:               k3d-hands-on-agent-0", "Roles:              <none>",
                     "Taints:             <none>", "Unschedulable:      false",
                     "  Ready            True ", "  InternalIP:  172.18.0.3",
                     "  Hostname:    k3d-hands-on-agent-0", "PodCIDR:                      10.42.0.0/24",
                     "ProviderID:                   k3s://k3d-hands-on-agent-0",
                     "  Kubelet Version:            v1.32.4+k3s1"):
        assert expected in described, expected


@pytest.mark.parametrize("binary", newest_and_course_kubectl())
def test_cluster_info_is_exactly_k3ds(start: Start, binary: Path) -> None:
    sim = start()
    result = Kubectl(binary, sim)("cluster-info")
    url = sim.url
    assert (result.rc, result.err) == (0, "")
    # kubectl 1.30 colours the names and URLs even into a pipe (1.37 no longer does).
    assert re.sub(r"\x1b\[[0-9;]*m", "", result.out) == (
        f"Kubernetes control plane is running at {url}\n"
        f"CoreDNS is running at {url}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy\n"
        f"Metrics-server is running at {url}/api/v1/namespaces/kube-system/services/"
        "https:metrics-server:https/proxy\n"
        "\n"
        "To further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.\n"
    )


def test_agents_and_cluster_name(start: Start, tmp_path: Path) -> None:
    sim = start(agents=1, cluster_name="demo")
    kubectl = Kubectl(VENV_KUBECTL, sim)
    rows = _rows(kubectl("get", "nodes").out)
    assert [row[:3] for row in rows] == [["k3d-demo-agent-0", "Ready", "<none>"],
                                         ["k3d-demo-server-0", "Ready", "control-plane,master"]]
    alone = Kubectl(VENV_KUBECTL, start(agents=0))
    assert [row[0] for row in _rows(alone("get", "nodes").out)] == ["k3d-hands-on-server-0"]
    # With no agents the server takes the pods: it is schedulable.
    alone("apply", "-f", str(pod_manifest(tmp_path)))
    assert alone("wait", "--for=condition=Ready", "pod/caddy").rc == 0
    wide = alone("get", "pod", "caddy", "-o", "wide").out.splitlines()[1].split()
    assert wide[5].startswith("10.42.0.") and wide[6] == "k3d-hands-on-server-0"


def test_pod_addresses_follow_the_nodes_cidr(start: Start, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, start())
    for i in range(4):  # round robin: one pod on each node
        kubectl("run", f"web{i}", "--image=caddy:2")
    for i in range(4):
        assert kubectl("wait", "--for=condition=Ready", f"pod/web{i}").rc == 0
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").out)["items"]
    cidr = {n["metadata"]["name"]: n["spec"]["podCIDR"].rsplit(".", 1)[0] for n in nodes}
    assert cidr["k3d-hands-on-agent-2"] == "10.42.2"
    for row in _rows(kubectl("get", "pods", "-o", "wide").out):
        assert row[5].startswith(cidr[row[6]] + "."), row


def test_a_bad_cluster_name_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kubelesson.sim", "up", "--state-dir", str(tmp_path),
         "--cluster-name", "Hands_On"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Invalid value for '--cluster-name'" in done.stderr
    assert not (tmp_path / "sim.pid").exists()
