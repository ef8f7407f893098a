"""Garbage collection through ownerReferences, driven by the real kubectl: background (the
default of `kubectl delete`), foreground and orphan propagation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.sim.conftest import Kubectl
from tests.sim.controller_support import deployment, rows, statefulset, wait_for


def _ready(kubectl: Kubectl, tmp_path: Path) -> None:
    assert kubectl("apply", "-f", str(deployment(tmp_path))).rc == 0
    assert kubectl("rollout", "status", "deployment/caddy", "--timeout=20s").rc == 0


def _count(kubectl: Kubectl, resource: str) -> int:
    return len(kubectl.sim.store.list(resource, "default")[0])


def test_deleting_a_deployment_removes_its_replicasets_and_pods(kubectl: Kubectl,
                                                                  tmp_path: Path) -> None:
    _ready(kubectl, tmp_path)
    deleted = kubectl("delete", "deployment", "caddy")
    suffix = " from default namespace" if kubectl.is_137 else ""
    assert (deleted.rc, deleted.out) == (0, f'deployment.apps "caddy" deleted{suffix}\n')
    gone = kubectl("get", "deployments")
    assert gone.err == "No resources found in default namespace.\n"
    wait_for(lambda: _count(kubectl, "replicasets.apps") == 0, what="the ReplicaSet to go")
    wait_for(lambda: _count(kubectl, "pods") == 0, what="the pods to go")
    assert kubectl("get", "pods").err == "No resources found in default namespace.\n"


@pytest.mark.sim_options(terminating_seconds=1.0)
def test_foreground_deletion_waits_for_the_pods(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _ready(kubectl, tmp_path)
    proc = kubectl.popen("delete", "deployment", "caddy", "--cascade=foreground")
    wait_for(lambda: (kubectl.sim.store.get("deployments.apps", "default", "caddy") or {}).get(
        "metadata", {}).get("deletionTimestamp") is not None, what="the deletion mark")
    held = json.loads(kubectl("get", "deployment", "caddy", "-o", "json").out)
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    rs = json.loads(kubectl("get", "rs", "-o", "json").out)["items"]
    assert rs and rs[0]["metadata"].get("deletionTimestamp")
    assert {r[2] for r in rows(kubectl("get", "pods").out)} == {"Terminating"}
    assert proc.wait(20) == 0
    assert _count(kubectl, "pods") == 0 and _count(kubectl, "replicasets.apps") == 0
    assert kubectl.sim.store.get("deployments.apps", "default", "caddy") is None


def test_orphaned_objects_stay_and_are_adopted_again(kubectl137: Kubectl,
                                                      tmp_path: Path) -> None:
    kubectl = kubectl137
    _ready(kubectl, tmp_path)
    pods_before = {p[0] for p in rows(kubectl("get", "pods").out)}
    orphaned = kubectl("delete", "deployment", "caddy", "--cascade=orphan")
    assert orphaned.rc == 0, orphaned.err
    time.sleep(0.5)  # give a (wrong) collector the time to act
    rs = json.loads(kubectl("get", "rs", "-o", "json").out)["items"]
    assert len(rs) == 1 and "ownerReferences" not in rs[0]["metadata"]
    assert {p[0] for p in rows(kubectl("get", "pods").out)} == pods_before
    _ready(kubectl, tmp_path)
    rs = json.loads(kubectl("get", "rs", "-o", "json").out)["items"]
    assert len(rs) == 1
    owner = rs[0]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("Deployment", "caddy", True)
    assert {p[0] for p in rows(kubectl("get", "pods").out)} == pods_before


def test_deleting_a_replicaset_alone_takes_its_pods(kubectl137: Kubectl,
                                                    tmp_path: Path) -> None:
    """The Deployment then makes the same ReplicaSet again, with new pods."""
    kubectl = kubectl137
    _ready(kubectl, tmp_path)
    name = rows(kubectl("get", "rs").out)[0][0]
    first_pods = {p[0] for p in rows(kubectl("get", "pods").out)}
    assert kubectl("delete", "rs", name).rc == 0
    wait_for(lambda: not first_pods & {p["metadata"]["name"] for p in
                                       kubectl.sim.store.list("pods", "default")[0]},
             what="the old pods to go")
    assert kubectl("rollout", "status", "deployment/caddy", "--timeout=20s").rc == 0
    assert rows(kubectl("get", "rs").out)[0][0] == name


def test_a_dependent_with_another_live_owner_stays(kubectl137: Kubectl,
                                                   tmp_path: Path) -> None:
    kubectl = kubectl137
    for name in ("first", "second"):
        assert kubectl("create", "configmap", name).rc == 0
    uids = {name: kubectl.sim.store.get("configmaps", "default", name)["metadata"]["uid"]
            for name in ("first", "second")}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": "shared", "ownerReferences": [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": u}
            for n, u in uids.items()]}}
    path = tmp_path / "secret.json"
    path.write_text(json.dumps(secret))
    assert kubectl("apply", "-f", str(path)).rc == 0
    assert kubectl("delete", "configmap", "first").rc == 0
    wait_for(lambda: len(kubectl.sim.store.get("secrets", "default", "shared")["metadata"][
        "ownerReferences"]) == 1, what="the dangling reference to go")
    assert kubectl("delete", "configmap", "second").rc == 0
    wait_for(lambda: kubectl.sim.store.get("secrets", "default", "shared") is None,
             what="the secret to go with its last owner")


def test_deleting_the_namespace_leaves_nothing_behind(kubectl137: Kubectl,
                                                      tmp_path: Path) -> None:
    """kubelesson runs a lesson in its own namespace and deletes it afterwards: the
    controllers must neither block that nor leave objects behind."""
    kubectl = kubectl137
    assert kubectl("create", "namespace", "sandbox").rc == 0
    assert kubectl("apply", "-n", "sandbox", "-f", str(deployment(tmp_path))).rc == 0
    waited = kubectl("wait", "-n", "sandbox", "--for=condition=Available", "deployment/caddy",
                     "--timeout=20s")
    assert waited.out == "deployment.apps/caddy condition met\n", waited.err
    assert kubectl("apply", "-n", "sandbox", "-f", str(statefulset(tmp_path))).rc == 0
    ready = kubectl("wait", "-n", "sandbox", "--for=jsonpath={.status.readyReplicas}=1",
                    "statefulset/redis", "--timeout=20s")
    assert ready.out == "statefulset.apps/redis condition met\n", ready.err
    deleted = kubectl("delete", "namespace", "sandbox", "--timeout=30s")
    assert deleted.rc == 0, deleted.err
    assert kubectl.sim.store.get("namespaces", "", "sandbox") is None
    assert kubectl.sim.store.count("sandbox") == 0
