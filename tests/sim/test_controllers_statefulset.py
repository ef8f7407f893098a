"""The StatefulSet controller, driven by the real kubectl: the course's redis StatefulSet,
ordered pods, restarts that never run two `redis-0`, revisions and rollout status."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.sim.conftest import Kubectl
from tests.sim.controller_support import HASH, record_pods, rows, statefulset, wait_for

DONE = "partitioned roll out complete: {n} new pods have been updated...\n"


def _apply_and_wait(kubectl: Kubectl, manifest: Path, replicas: int = 1) -> None:
    applied = kubectl("apply", "-f", str(manifest))
    assert applied.rc == 0, applied.err
    done = kubectl("rollout", "status", "statefulset/redis", "--timeout=20s")
    assert (done.rc, done.out.splitlines()[-1] + "\n") == (0, DONE.format(n=replicas)), done


def test_apply_runs_redis_0(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    applied = kubectl("apply", "-f", str(statefulset(tmp_path)))
    assert (applied.rc, applied.out) == (0, "statefulset.apps/redis created\n"
                                            "service/redis created\n")
    early = kubectl("get", "statefulsets").out.splitlines()
    assert early[0].split() == ["NAME", "READY", "AGE"]
    _apply_and_wait(kubectl, statefulset(tmp_path))
    listed = kubectl("get", "statefulsets").out.splitlines()
    assert re.fullmatch(r"redis   1/1     \d+s", listed[1])
    pods = kubectl("get", "pods").out.splitlines()
    assert re.fullmatch(r"redis-0   1/1     Running   0          \d+s", pods[1])
    assert len(pods) == 2
    services = rows(kubectl("get", "services").out)
    assert services[0][:5] == ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]
    assert services[1][0:2] == ["redis", "ClusterIP"]
    assert re.fullmatch(r"10\.43\.\d+\.\d+", services[1][2])
    assert services[1][3:5] == ["<none>", "6379/TCP"]


def test_pods_revisions_and_status(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, statefulset(tmp_path))
    sts = json.loads(kubectl("get", "statefulset", "redis", "-o", "json").out)
    spec = sts["spec"]
    assert (spec["podManagementPolicy"], spec["revisionHistoryLimit"]) == ("OrderedReady", 10)
    assert spec["updateStrategy"] == {"type": "RollingUpdate",
                                      "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                            "whenScaled": "Retain"}
    revisions = json.loads(kubectl("get", "controllerrevisions", "-o", "json").out)["items"]
    assert len(revisions) == 1
    revision = revisions[0]
    name = revision["metadata"]["name"]
    assert re.fullmatch(f"redis-{HASH}", name)
    assert revision["revision"] == 1
    assert revision["metadata"]["labels"] == {
        "app": "redis", "controller.kubernetes.io/hash": name.removeprefix("redis-")}
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    assert revision["metadata"]["ownerReferences"][0]["uid"] == sts["metadata"]["uid"]
    assert sts["status"] == {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                             "currentReplicas": 1, "updatedReplicas": 1,
                             "availableReplicas": 1, "currentRevision": name,
                             "updateRevision": name, "collisionCount": 0}
    pod = json.loads(kubectl("get", "pod", "redis-0", "-o", "json").out)
    assert pod["metadata"]["labels"] == {
        "app": "redis", "controller-revision-hash": name,
        "statefulset.kubernetes.io/pod-name": "redis-0", "apps.kubernetes.io/pod-index": "0"}
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("redis-0", "redis")
    owner = pod["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == ("StatefulSet", "redis", True)
    table = kubectl("get", "controllerrevisions").out.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert table[1].split()[:3] == [name, "statefulset.apps/redis", "1"]


@pytest.mark.sim_options(terminating_seconds=0.5, creating_seconds=0.3)
def test_restart_never_runs_two_redis_pods(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, statefulset(tmp_path))
    before = kubectl.sim.store.get("pods", "default", "redis-0")
    assert before is not None
    recorder = record_pods(kubectl.sim, "redis")
    restarted = kubectl("rollout", "restart", "statefulset/redis")
    assert (restarted.rc, restarted.out) == (0, "statefulset.apps/redis restarted\n")
    done = kubectl("rollout", "status", "statefulset/redis", "--timeout=20s")
    assert done.out.endswith(DONE.format(n=1)), done
    after = kubectl.sim.store.get("pods", "default", "redis-0")
    assert after is not None and after["metadata"]["uid"] != before["metadata"]["uid"]
    assert recorder.max_pods == 1
    uids = [state["redis-0"][0] for state in recorder.seen if "redis-0" in state]
    assert uids[0] == before["metadata"]["uid"] and uids[-1] == after["metadata"]["uid"]
    assert any(not state for state in recorder.seen)  # gone before it came back
    revisions = rows(kubectl("get", "controllerrevisions").out)
    assert sorted(r[2] for r in revisions) == ["1", "2"]
    sts = json.loads(kubectl("get", "statefulset", "redis", "-o", "json").out)["status"]
    assert sts["currentRevision"] == sts["updateRevision"] == after["metadata"]["labels"][
        "controller-revision-hash"]
    events = [e["message"] for e in kubectl.sim.store.list("events", "default")[0]
              if e["involvedObject"]["kind"] == "StatefulSet"]
    assert events == ["create Pod redis-0 in StatefulSet redis successful",
                      "delete Pod redis-0 in StatefulSet redis successful"]


def test_ordered_scale_up_and_down(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, statefulset(tmp_path))
    recorder = record_pods(kubectl.sim, "redis")
    assert kubectl("scale", "statefulset/redis", "--replicas=3").rc == 0
    done = kubectl("rollout", "status", "statefulset/redis", "--timeout=20s")
    assert done.out.endswith(DONE.format(n=3)), done
    for state in recorder.seen:  # a pod appears only when the one before it is Ready
        for ordinal in (1, 2):
            if f"redis-{ordinal}" in state:
                assert state[f"redis-{ordinal - 1}"][2], state
    assert [r[0] for r in rows(kubectl("get", "pods").out)] == ["redis-0", "redis-1", "redis-2"]
    recorder.reset()
    assert kubectl("scale", "statefulset/redis", "--replicas=1").rc == 0
    wait_for(lambda: set(recorder.live) == {"redis-0"}, what="the scale-down")
    for state in recorder.seen:  # the highest ordinal goes first, one at a time
        assert not ("redis-1" in state and "redis-2" in state and state["redis-1"][1])
    assert rows(kubectl("get", "statefulsets").out)[0][1] == "1/1"


def test_spec_fields_other_than_the_allowed_ones_are_refused(kubectl: Kubectl,
                                                             tmp_path: Path) -> None:
    _apply_and_wait(kubectl, statefulset(tmp_path))
    changed = tmp_path / "renamed.yaml"
    changed.write_text(statefulset(tmp_path).read_text().replace(
        "serviceName: redis", "serviceName: cache"))
    refused = kubectl("apply", "-f", str(changed))
    assert refused.rc == 1
    assert refused.err == (
        'The StatefulSet "redis" is invalid: spec: Forbidden: updates to statefulset spec for '
        "fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden\n")
    assert "service/redis unchanged" in refused.out


def test_undo_brings_the_old_revision_back(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, statefulset(tmp_path))
    first = rows(kubectl("get", "controllerrevisions").out)[0][0]
    _apply_and_wait(kubectl, statefulset(tmp_path, image="redis:7.2", name="newer.yaml"))
    undone = kubectl("rollout", "undo", "statefulset/redis")
    assert (undone.rc, undone.out) == (0, "statefulset.apps/redis rolled back\n"), undone
    done = kubectl("rollout", "status", "statefulset/redis", "--timeout=20s")
    assert done.out.endswith(DONE.format(n=1))
    revisions = {r[0]: r[2] for r in rows(kubectl("get", "controllerrevisions").out)}
    assert revisions[first] == "3" and len(revisions) == 2
    image = kubectl("get", "pod", "redis-0", "-o", "jsonpath={.spec.containers[0].image}")
    assert image.out == "redis:7"


def test_deleting_the_statefulset_removes_its_pods(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, statefulset(tmp_path))
    deleted = kubectl("delete", "-f", str(statefulset(tmp_path)))
    assert deleted.out.splitlines() == [
        'statefulset.apps "redis" deleted from default namespace',
        'service "redis" deleted from default namespace']
    wait_for(lambda: not kubectl.sim.store.list("pods", "default")[0], what="redis-0 to go")
    wait_for(lambda: not kubectl.sim.store.list("controllerrevisions.apps", "default")[0],
             what="the revisions to go")
