"""Lesson 7's storage with the real kubectl: k3s's local-path StorageClass, claims that wait
for their first consumer, dynamic provisioning on the pod's node, the pvc-protection
finalizer, reclaim Delete, scheduling by nodeSelector and volume node affinity, and the
server-version-dependent tables."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, running
from tests.conftest import course_kubectl
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl
from tests.sim.storage_support import HOSTPATH_POD, PVC, VOLUME_POD, course_file, wait_until, write

pytestmark = [pytest.mark.slow, pytest.mark.sim_options(database_init_seconds=0.2)]

NODE_SELECTOR_MESSAGE = (
    "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector. preemption: "
    "0/4 nodes are available: 4 Preemption is not helpful for scheduling.")
WAIT_MESSAGE = "waiting for first consumer to be created before binding"


def _rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.strip().splitlines()]


def _events(kubectl: Kubectl, name: str, kind: str = "PersistentVolumeClaim",
            namespace: str = "default") -> list[tuple[str, str, str]]:
    """(reason, source, message) of an object's events, oldest first."""
    result = kubectl("get", "events", "-n", namespace, "--field-selector",
                     f"involvedObject.name={name},involvedObject.kind={kind}",
                     "--sort-by=.firstTimestamp", "-o",
                     "jsonpath={range .items[*]}{.reason}|{.source.component}|{.message}{'\\n'}{end}")
    assert result.rc == 0, result.both
    return [tuple(line.split("|", 2)) for line in result.out.splitlines() if line]  # type: ignore[misc]


def test_storageclass_as_k3s_has_it(kubectl137: Kubectl) -> None:
    result = kubectl137("get", "storageclass")
    assert result.rc == 0, result.both
    header, row = _rows(result.out)
    assert header == ["NAME", "PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE",
                      "ALLOWVOLUMEEXPANSION", "AGE"]
    assert row[:5] == ["local-path (default)", "rancher.io/local-path", "Delete",
                       "WaitForFirstConsumer", "false"]


def test_claim_waits_for_its_first_consumer(kubectl137: Kubectl, tmp_path: Path) -> None:
    result = kubectl137("apply", "-f", str(course_file("7_pvc.yaml")))
    assert result.out == "persistentvolumeclaim/mariadb created\n", result.both
    table = kubectl137("get", "pvc")
    header, row = _rows(table.out)
    assert header == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                      "VOLUMEATTRIBUTESCLASS", "AGE"]
    assert row[:4] == ["mariadb", "Pending", "local-path", "<unset>"]
    wait_until(lambda: ("WaitForFirstConsumer", "persistentvolume-controller", WAIT_MESSAGE)
               in _events(kubectl137, "mariadb"), "the WaitForFirstConsumer event")
    described = kubectl137("describe", "pvc", "mariadb").out
    for line in ("StorageClass:  local-path", "Status:        Pending", "Annotations:   <none>",
                 "Finalizers:    [kubernetes.io/pvc-protection]", "VolumeMode:    Filesystem",
                 "Used By:       <none>"):
        assert line in described, described
    assert re.search(r"Normal\s+WaitForFirstConsumer\s+\S+\s+persistentvolume-controller\s+"
                     + WAIT_MESSAGE, described), described


def test_pod_binds_the_claim_to_a_volume_on_its_node(kubectl137: Kubectl) -> None:
    kubectl137("apply", "-f", str(course_file("7_pvc.yaml")))
    assert kubectl137("apply", "-f", str(course_file("7_pvc_pod.yaml"))).rc == 0
    assert kubectl137("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    pvc = kubectl137("get", "pvc", "mariadb", "-o", "jsonpath={.status.phase} {.spec.volumeName} "
                     "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}").out.split()
    node = kubectl137("get", "pod", "mariadb", "-o", "jsonpath={.spec.nodeName}").out
    assert pvc[0] == "Bound" and re.fullmatch(r"pvc-[0-9a-f-]{36}", pvc[1]) and pvc[2] == node
    uid = kubectl137("get", "pvc", "mariadb", "-o", "jsonpath={.metadata.uid}").out
    assert pvc[1] == f"pvc-{uid}"
    _, row = _rows(kubectl137("get", "pvc").out)
    assert row[:7] == ["mariadb", "Bound", pvc[1], "10Gi", "RWO", "local-path", "<unset>"]
    _, pv_row = _rows(kubectl137("get", "pv").out)
    assert pv_row[:8] == [pvc[1], "10Gi", "RWO", "Delete", "Bound", "default/mariadb",
                          "local-path", "<unset>"]
    affinity = kubectl137("get", "pv", pvc[1], "-o", "jsonpath={.spec.nodeAffinity.required."
                          "nodeSelectorTerms[0].matchExpressions[0].values[0]}").out
    assert affinity == node
    reasons = [(reason, source.split("_")[0]) for reason, source, _ in _events(kubectl137, "mariadb")]
    assert reasons == [("WaitForFirstConsumer", "persistentvolume-controller"),
                       ("ExternalProvisioning", "persistentvolume-controller"),
                       ("Provisioning", "rancher.io/local-path"),
                       ("ProvisioningSucceeded", "rancher.io/local-path")]
    messages = {reason: message for reason, _, message in _events(kubectl137, "mariadb")}
    assert messages["Provisioning"] == 'External provisioner is provisioning volume for claim "default/mariadb"'
    assert messages["ProvisioningSucceeded"] == f"Successfully provisioned volume {pvc[1]}"
    assert "external provisioner 'rancher.io/local-path'" in messages["ExternalProvisioning"]
    described = kubectl137("describe", "pvc", "mariadb").out
    assert "Used By:       mariadb" in described and "pv.kubernetes.io/bind-completed: yes" in described


def test_claim_in_use_stays_terminating_until_its_pod_goes(kubectl137: Kubectl, sim: SimHandle) -> None:
    kubectl137("apply", "-f", str(course_file("7_pvc.yaml")))
    kubectl137("apply", "-f", str(course_file("7_pvc_pod.yaml")))
    assert kubectl137("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    volume = kubectl137("get", "pvc", "mariadb", "-o", "jsonpath={.spec.volumeName}").out
    disk = sim.cluster.disks.root
    assert any(volume in str(p) for p in disk.rglob("pvc-*"))
    # Without --wait=false kubectl would block here until the pod is gone (the trap).
    deleted = kubectl137("delete", "pvc", "mariadb", "--wait=false")
    assert deleted.rc == 0, deleted.both
    _, row = _rows(kubectl137("get", "pvc").out)
    assert row[:2] == ["mariadb", "Terminating"]
    assert kubectl137("get", "pvc", "mariadb", "-o", "jsonpath={.metadata.finalizers}").out == (
        '["kubernetes.io/pvc-protection"]')
    waiting = kubectl137.popen("delete", "pvc", "mariadb")  # blocks while the pod uses it
    assert kubectl137("delete", "pod", "mariadb").rc == 0
    out, _ = waiting.communicate(timeout=30)
    assert waiting.returncode == 0 and "deleted" in out
    wait_until(lambda: kubectl137("get", "pv").out == "" and "No resources" in kubectl137("get", "pv").err,
               "the volume to be reclaimed")
    assert not any(volume in str(p) for p in disk.rglob("pvc-*")), "reclaim Delete removes the data"


def test_missing_storage_class_keeps_claim_and_pod_pending(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl137("apply", "-f", str(write(tmp_path, "pvc.yaml", PVC.format(name="data", storage_class="standard-rwo"))))
    pod = VOLUME_POD.format(name="db", volume="      persistentVolumeClaim:\n        claimName: data")
    kubectl137("apply", "-f", str(write(tmp_path, "pod.yaml", pod)))
    wait_until(lambda: ("ProvisioningFailed", "persistentvolume-controller",
                        'storageclass.storage.k8s.io "standard-rwo" not found') in _events(kubectl137, "data"),
               "ProvisioningFailed")
    wait_until(lambda: any(reason == "FailedScheduling" for reason, _, _ in _events(kubectl137, "db", "Pod")),
               "FailedScheduling")
    message = [m for r, _, m in _events(kubectl137, "db", "Pod") if r == "FailedScheduling"][0]
    assert message == ("0/4 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
                       "preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.")
    _, row = _rows(kubectl137("get", "pods").out)
    assert row[:3] == ["db", "0/1", "Pending"]
    assert _rows(kubectl137("get", "pvc").out)[1][:2] == ["data", "Pending"]


def test_pod_waits_for_a_missing_claim_then_starts(kubectl137: Kubectl, tmp_path: Path) -> None:
    pod = VOLUME_POD.format(name="db", volume="      persistentVolumeClaim:\n        claimName: later")
    kubectl137("apply", "-f", str(write(tmp_path, "pod.yaml", pod)))
    wait_until(lambda: any(r == "FailedScheduling" for r, _, _ in _events(kubectl137, "db", "Pod")), "FailedScheduling")
    message = [m for r, _, m in _events(kubectl137, "db", "Pod") if r == "FailedScheduling"][0]
    assert message.startswith('0/4 nodes are available: persistentvolumeclaim "later" not found. ')
    kubectl137("apply", "-f", str(write(tmp_path, "pvc.yaml", PVC.format(name="later", storage_class="local-path"))))
    assert kubectl137("wait", "--for=condition=Ready", "pod/db", "--timeout=30s").rc == 0
    assert kubectl137("get", "pvc", "later", "-o", "jsonpath={.status.phase}").out == "Bound"


def test_node_selector_that_matches_no_node(kubectl137: Kubectl, tmp_path: Path) -> None:
    pod = HOSTPATH_POD.format(name="mariadb", node="k3d-other-agent-0", path="/data/mariadb")
    kubectl137("apply", "-f", str(write(tmp_path, "pod.yaml", pod)))
    wait_until(lambda: any(r == "FailedScheduling" for r, _, _ in _events(kubectl137, "mariadb", "Pod")),
               "FailedScheduling")
    assert ("FailedScheduling", "default-scheduler", NODE_SELECTOR_MESSAGE) in _events(kubectl137, "mariadb", "Pod")
    _, row = _rows(kubectl137("get", "pods").out)
    assert row[:3] == ["mariadb", "0/1", "Pending"]


def test_node_selector_pins_the_pod(kubectl137: Kubectl, tmp_path: Path) -> None:
    pod = HOSTPATH_POD.format(name="mariadb", node="k3d-hands-on-agent-2", path="/data/mariadb")
    kubectl137("apply", "-f", str(write(tmp_path, "pod.yaml", pod)))
    assert kubectl137("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    assert kubectl137("get", "pod", "mariadb", "-o", "jsonpath={.spec.nodeName}").out == "k3d-hands-on-agent-2"


def test_bound_volume_keeps_later_pods_on_its_node(kubectl137: Kubectl, tmp_path: Path) -> None:
    """A pod using a claim bound on agent-0 but selecting agent-1 fits nowhere."""
    kubectl137("apply", "-f", str(write(tmp_path, "pvc.yaml", PVC.format(name="data", storage_class="local-path"))))
    first = VOLUME_POD.format(name="first", volume="      persistentVolumeClaim:\n        claimName: data")
    kubectl137("apply", "-f", str(write(tmp_path, "first.yaml", first)))
    assert kubectl137("wait", "--for=condition=Ready", "pod/first", "--timeout=30s").rc == 0
    node = kubectl137("get", "pod", "first", "-o", "jsonpath={.spec.nodeName}").out
    other = next(n for n in ("k3d-hands-on-agent-0", "k3d-hands-on-agent-1") if n != node)
    second = VOLUME_POD.format(name="second", volume="      persistentVolumeClaim:\n        claimName: data")
    second = second.replace("spec:\n", f"spec:\n  nodeSelector:\n    kubernetes.io/hostname: {other}\n", 1)
    kubectl137("apply", "-f", str(write(tmp_path, "second.yaml", second)))
    wait_until(lambda: any(r == "FailedScheduling" for r, _, _ in _events(kubectl137, "second", "Pod")),
               "FailedScheduling")
    message = [m for r, _, m in _events(kubectl137, "second", "Pod") if r == "FailedScheduling"][0]
    assert message == ("0/4 nodes are available: 1 node(s) had volume node affinity conflict, 3 node(s) "
                       "didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: "
                       "4 Preemption is not helpful for scheduling.")


@pytest.fixture
def old_server(tmp_path: Path) -> Iterator[SimHandle]:
    """The course's cluster: k3s 1.28, before the VOLUMEATTRIBUTESCLASS column."""
    from dataclasses import replace

    with running(tmp_path / "sim128", options=replace(FAST, kube_version="v1.28.8",
                                                      database_init_seconds=0.2)) as handle:
        yield handle


@pytest.mark.parametrize("client", ["1.37", "1.30"])
def test_claim_columns_follow_the_server_version(old_server: SimHandle, client: str) -> None:
    binary = VENV_KUBECTL if client == "1.37" else course_kubectl()
    if binary is None:
        pytest.skip("kubectl 1.30 is not installed")
    kubectl = Kubectl(binary, old_server)
    kubectl("apply", "-f", str(course_file("7_pvc.yaml")))
    header, row = _rows(kubectl("get", "pvc").out)
    assert header == ["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS", "AGE"]
    assert row[:3] == ["mariadb", "Pending", "local-path"]
    kubectl("apply", "-f", str(course_file("7_pvc_pod.yaml")))
    assert kubectl("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    header, row = _rows(kubectl("get", "pv").out)
    assert header == ["NAME", "CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM",
                      "STORAGECLASS", "REASON", "AGE"]
    # The course's k3s 1.28 words ExternalProvisioning as 1.28+ does.
    described = kubectl("describe", "pvc", "mariadb").out
    assert "Waiting for a volume to be created either by the external provisioner" in described


def test_course_kubectl_sees_binding(tmp_path: Path, sim: SimHandle) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("kubectl 1.30 is not installed")
    kubectl = Kubectl(binary, sim)
    assert kubectl("apply", "-f", str(course_file("7_pvc.yaml"))).rc == 0
    assert kubectl("apply", "-f", str(course_file("7_pvc_pod.yaml"))).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    _, row = _rows(kubectl("get", "pvc").out)
    assert row[:2] == ["mariadb", "Bound"] and row[3:7] == ["10Gi", "RWO", "local-path", "<unset>"]
    assert kubectl("delete", "pod", "mariadb").rc == 0
    assert kubectl("delete", "pvc", "mariadb").rc == 0
    wait_until(lambda: "No resources" in kubectl("get", "pv").err, "the volume to go")
