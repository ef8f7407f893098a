"""The Deployment and ReplicaSet controllers, driven by the real kubectl: the course's
Deployment of three caddy pods, its rolling update, scaling, restarts and rollbacks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.sim.conftest import Kubectl
from tests.sim.controller_support import (
    HASH,
    SUFFIX,
    deployment,
    record_pods,
    rows,
    scaling_events,
    short,
    wait_for,
)


def _apply_and_wait(kubectl: Kubectl, manifest: Path) -> None:
    applied = kubectl("apply", "-f", str(manifest))
    assert applied.rc == 0, applied.err
    done = kubectl("rollout", "status", "deployment/caddy", "--timeout=20s")
    assert done.rc == 0, done.err
    assert done.out.splitlines()[-1] == 'deployment "caddy" successfully rolled out'


def test_apply_makes_a_replicaset_and_three_pods(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    created = kubectl("apply", "-f", str(deployment(tmp_path)))
    assert (created.rc, created.out) == (0, "deployment.apps/caddy created\n")
    early = kubectl("get", "deployments").out.splitlines()
    assert early[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    _apply_and_wait(kubectl, deployment(tmp_path))
    listed = kubectl("get", "deployments").out.splitlines()
    assert re.fullmatch(r"caddy   3/3     3            3           \d+s", listed[1])
    replicasets = rows(kubectl("get", "rs").out)
    assert len(replicasets) == 1
    rs_name = replicasets[0][0]
    assert re.fullmatch(f"caddy-{HASH}", rs_name)
    assert replicasets[0][1:4] == ["3", "3", "3"]
    pods = rows(kubectl("get", "pods").out)
    assert len(pods) == 3
    for pod in pods:
        assert re.fullmatch(f"{rs_name}-{SUFFIX}", pod[0])
        assert pod[1:4] == ["1/1", "Running", "0"]
    hash_ = rs_name.removeprefix("caddy-")
    labelled = kubectl("get", "pods", "-l", f"pod-template-hash={hash_}", "-o", "name")
    assert len(labelled.out.splitlines()) == 3


def test_objects_carry_defaults_owners_and_status(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    d = json.loads(kubectl("get", "deployment", "caddy", "-o", "json").out)
    assert d["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": "25%", "maxUnavailable": "25%"}}
    assert (d["spec"]["revisionHistoryLimit"], d["spec"]["progressDeadlineSeconds"]) == (10, 600)
    assert d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    status = d["status"]
    assert {k: status[k] for k in ("replicas", "readyReplicas", "updatedReplicas",
                                   "availableReplicas", "observedGeneration")} == {
        "replicas": 3, "readyReplicas": 3, "updatedReplicas": 3, "availableReplicas": 3,
        "observedGeneration": 1}
    assert "unavailableReplicas" not in status
    conditions = {c["type"]: (c["status"], c["reason"], c["message"])
                  for c in status["conditions"]}
    rs = json.loads(kubectl("get", "rs", "-o", "json").out)["items"][0]
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        "Progressing": ("True", "NewReplicaSetAvailable",
                        f'ReplicaSet "{rs["metadata"]["name"]}" has successfully progressed.'),
    }
    notes = rs["metadata"]["annotations"]
    assert (notes["deployment.kubernetes.io/revision"],
            notes["deployment.kubernetes.io/desired-replicas"],
            notes["deployment.kubernetes.io/max-replicas"]) == ("1", "3", "4")
    assert "kubectl.kubernetes.io/last-applied-configuration" not in notes
    owner = rs["metadata"]["ownerReferences"][0]
    assert owner == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "caddy",
                     "uid": d["metadata"]["uid"], "controller": True,
                     "blockOwnerDeletion": True}
    hash_ = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "caddy", "pod-template-hash": hash_}
    pod = json.loads(kubectl("get", "pods", "-o", "json").out)["items"][0]
    assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
    assert pod["metadata"]["labels"] == {"app": "caddy", "pod-template-hash": hash_}
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
    events = kubectl("get", "events", "--field-selector", "involvedObject.kind=ReplicaSet",
                     "-o", "json")
    messages = {e["message"] for e in json.loads(events.out)["items"]}
    assert {m.split(": ")[0] for m in messages} == {"Created pod"}
    assert len(messages) == 3


def test_image_change_rolls_one_pod_at_a_time(kubectl137: Kubectl, tmp_path: Path) -> None:
    """maxSurge 1, maxUnavailable 0 for three replicas: never fewer than three Ready pods,
    never more than four pods that are not terminating, and the events in that order."""
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    old = rows(kubectl("get", "rs").out)[0][0]
    recorder = record_pods(kubectl.sim, "caddy")
    recorder.reset()
    _apply_and_wait(kubectl, deployment(tmp_path, image="caddy:2.7"))
    wait_for(lambda: len(recorder.live) == 3, what="the old pods to go")
    assert recorder.min_ready == 3
    assert recorder.max_active == 4
    replicasets = {r[0]: r[1:4] for r in rows(kubectl("get", "rs").out)}
    new = next(name for name in replicasets if name != old)
    assert replicasets == {old: ["0", "0", "0"], new: ["3", "3", "3"]}
    assert short(scaling_events(kubectl.sim)) == [
        f"up {old} 0 3", f"up {new} 0 1", f"down {old} 3 2", f"up {new} 1 2",
        f"down {old} 2 1", f"up {new} 2 3", f"down {old} 1 0"]
    listed = kubectl("get", "events", "--field-selector", "reason=ScalingReplicaSet")
    assert f"Scaled up replica set {new} from 0 to 1" in listed.out
    image = kubectl("get", "deployment", "caddy", "-o", "jsonpath={.spec.template.spec."
                    "containers[0].image}")
    assert image.out == "caddy:2.7"
    pods = rows(kubectl("get", "pods").out)
    assert all(p[0].startswith(new + "-") for p in pods) and len(pods) == 3


def test_a_deleted_pod_is_replaced(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    victim = rows(kubectl("get", "pods").out)[0][0]
    deleted = kubectl("delete", "pod", victim)
    assert deleted.rc == 0, deleted.err
    wait_for(lambda: kubectl.sim.store.get("pods", "default", victim) is None)
    done = kubectl("rollout", "status", "deployment/caddy", "--timeout=20s")
    assert done.rc == 0
    wait_for(lambda: len(rows(kubectl("get", "pods").out)) == 3, what="a replacement pod")
    names = [p[0] for p in rows(kubectl("get", "pods").out)]
    assert victim not in names
    rs = rows(kubectl("get", "rs").out)[0][0]
    assert all(n.startswith(rs + "-") for n in names)
    messages = [e["message"] for e in kubectl.sim.store.list("events", "default")[0]
                if e["reason"] == "SuccessfulCreate"]
    assert len(messages) == 4


def test_scale_through_the_scale_subresource(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    up = kubectl("scale", "deployment/caddy", "--replicas=5")
    assert (up.rc, up.out) == (0, "deployment.apps/caddy scaled\n")
    _wait_ready(kubectl, "5/5")
    assert len(rows(kubectl("get", "pods").out)) == 5
    guarded = kubectl("scale", "deployment", "caddy", "--replicas=2", "--current-replicas=4")
    assert guarded.rc == 1
    assert guarded.err == "error: Expected replicas to be 4, was 5\n"
    down = kubectl("scale", "deployment", "caddy", "--replicas=2", "--current-replicas=5")
    assert down.rc == 0, down.err
    _wait_ready(kubectl, "2/2")
    wait_for(lambda: len(kubectl.sim.store.list("pods", "default")[0]) == 2)
    scale = json.loads(kubectl("get", "--raw",
                               "/apis/apps/v1/namespaces/default/deployments/caddy/scale").out)
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 2, "selector": "app=caddy"}
    messages = scaling_events(kubectl.sim)
    assert short(messages[1:]) == [f"up {_rs(kubectl)} 3 5", f"down {_rs(kubectl)} 5 2"]


def _rs(kubectl: Kubectl) -> str:
    return rows(kubectl("get", "rs").out)[0][0]


def _wait_ready(kubectl: Kubectl, ready: str) -> None:
    wait_for(lambda: rows(kubectl("get", "deployment", "caddy").out)[0][1] == ready,
             what=f"READY {ready}")


def test_restart_undo_and_history(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    first = _rs(kubectl)
    restarted = kubectl("rollout", "restart", "deployment/caddy")
    assert (restarted.rc, restarted.out) == (0, "deployment.apps/caddy restarted\n")
    done = kubectl("rollout", "status", "deployment/caddy", "--timeout=20s")
    assert done.rc == 0, done.err
    template = json.loads(kubectl("get", "deployment", "caddy", "-o", "json").out)["spec"][
        "template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    names = {r[0]: r[1] for r in rows(kubectl("get", "rs").out)}
    second = next(n for n in names if n != first)
    assert names == {first: "0", second: "3"}
    history = kubectl("rollout", "history", "deployment/caddy")
    assert history.out.splitlines()[1:4] == ["REVISION  CHANGE-CAUSE", "1         <none>",
                                            "2         <none>"]
    undone = kubectl("rollout", "undo", "deployment/caddy")
    assert (undone.rc, undone.out) == (0, "deployment.apps/caddy rolled back\n")
    assert kubectl("rollout", "status", "deployment/caddy", "--timeout=20s").rc == 0
    names = {r[0]: r[1] for r in rows(kubectl("get", "rs").out)}
    assert names == {first: "3", second: "0"}
    history = kubectl("rollout", "history", "deployment/caddy").out.splitlines()
    assert history[2:4] == ["2         <none>", "3         <none>"]
    rs = json.loads(kubectl("get", "rs", first, "-o", "json").out)
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert json.loads(kubectl("get", "deployment", "caddy", "-o", "json").out)["metadata"][
        "annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_recreate_stops_every_old_pod_first(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    manifest = deployment(tmp_path)
    manifest.write_text(manifest.read_text().replace(
        "spec:\n  replicas: 3", "spec:\n  strategy:\n    type: Recreate\n  replicas: 3"))
    _apply_and_wait(kubectl, manifest)
    recorder = record_pods(kubectl.sim, "caddy")
    recorder.reset()
    changed = tmp_path / "recreate-2.7.yaml"
    changed.write_text(manifest.read_text().replace("caddy:2.6", "caddy:2.7"))
    _apply_and_wait(kubectl, changed)
    for state in recorder.seen:  # never an old pod and a new one at the same time
        hashes = {name.rsplit("-", 2)[1] for name in state}
        assert len(hashes) <= 1, state


def test_selector_must_match_and_cannot_change(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    wrong = kubectl("apply", "-f", str(deployment(tmp_path, label="web")))
    assert wrong.rc == 1
    assert wrong.err == (
        'The Deployment "caddy" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`\n')
    _apply_and_wait(kubectl, deployment(tmp_path))
    moved = deployment(tmp_path, name="moved.yaml")
    moved.write_text(moved.read_text().replace("app: caddy", "app: web"))
    changed = kubectl("apply", "-f", str(moved))
    assert changed.rc == 1
    assert changed.err == (
        'The Deployment "caddy" is invalid: spec.selector: Invalid value: v1.LabelSelector'
        '{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelector'
        'Requirement(nil)}: field is immutable\n')


@pytest.mark.sim_options(kube_version="v1.34.1")
def test_newer_servers_print_values_as_json(kubectl137: Kubectl, tmp_path: Path) -> None:
    wrong = kubectl137("apply", "-f", str(deployment(tmp_path, label="web")))
    assert wrong.err == (
        'The Deployment "caddy" is invalid: spec.template.metadata.labels: Invalid value: '
        '{"app":"web"}: `selector` does not match template `labels`\n')


@pytest.mark.sim_options(kube_version="v1.28.8")
def test_a_1_28_server_words_scaling_events_the_old_way(kubectl137: Kubectl,
                                                        tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path, replicas=1))
    rs = _rs(kubectl)
    assert kubectl("scale", "deployment/caddy", "--replicas=2").rc == 0
    wait_for(lambda: len(scaling_events(kubectl.sim)) == 2)
    assert scaling_events(kubectl.sim) == [f"Scaled up replica set {rs} to 1",
                                           f"Scaled up replica set {rs} to 2 from 1"]


def test_wide_tables_follow_the_apiserver(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    wide = kubectl("get", "deployments", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                               "IMAGES", "SELECTOR"]
    assert wide[1].split()[:4] + wide[1].split()[5:] == [
        "caddy", "3/3", "3", "3", "caddy", "caddy:2.6", "app=caddy"]
    rs = kubectl("get", "replicaset", "-o", "wide").out.splitlines()
    assert rs[0].split() == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS",
                             "IMAGES", "SELECTOR"]
    cells = rs[1].split()
    hash_ = cells[0].removeprefix("caddy-")
    assert cells[1:4] + cells[5:] == ["3", "3", "3", "caddy", "caddy:2.6",
                                      f"app=caddy,pod-template-hash={hash_}"]
    everything = kubectl("get", "all").out
    assert "deployment.apps/caddy" in everything and f"replicaset.apps/caddy-{hash_}" in everything


def test_create_deployment_sends_protobuf(both: Kubectl) -> None:
    """`kubectl create deployment` posts a protobuf body, which the simulator decodes."""
    kubectl = both
    made = kubectl("create", "deployment", "web", "--image=caddy:2", "--replicas=2",
                   "--port=80")
    assert (made.rc, made.out, made.err) == (0, "deployment.apps/web created\n", "")
    assert kubectl("rollout", "status", "deployment/web", "--timeout=20s").rc == 0
    d = json.loads(kubectl("get", "deployment", "web", "-o", "json").out)
    assert d["metadata"]["labels"] == {"app": "web"}
    assert d["spec"]["replicas"] == 2 and d["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = d["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == (
        "caddy", "caddy:2", [{"containerPort": 80, "protocol": "TCP"}])
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    command = kubectl("create", "deployment", "sleeper", "--image=busybox", "--", "sleep", "1d")
    assert command.rc == 0, command.err
    sleeper = json.loads(kubectl("get", "deployment", "sleeper", "-o", "json").out)
    assert sleeper["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "1d"]


def test_a_missing_tag_stalls_with_the_old_pods_serving(kubectl137: Kubectl,
                                                        tmp_path: Path) -> None:
    """maxUnavailable 0 keeps the three old pods; after progressDeadlineSeconds the
    Progressing condition turns False and `rollout status` gives up."""
    kubectl = kubectl137
    _apply_and_wait(kubectl, deployment(tmp_path))
    old = _rs(kubectl)
    broken = deployment(tmp_path, image="caddy:2.77", name="typo.yaml")
    broken.write_text(broken.read_text().replace("spec:\n  replicas: 3",
                                                 "spec:\n  progressDeadlineSeconds: 2\n"
                                                 "  replicas: 3"))
    assert kubectl("apply", "-f", str(broken)).rc == 0
    stalled = kubectl("rollout", "status", "deployment/caddy", "--timeout=20s")
    assert stalled.rc == 1
    assert stalled.err == 'error: deployment "caddy" exceeded its progress deadline\n'
    replicasets = {r[0]: r[1:4] for r in rows(kubectl("get", "rs").out)}
    new = next(n for n in replicasets if n != old)
    assert replicasets == {old: ["3", "3", "3"], new: ["1", "1", "0"]}
    pods = rows(kubectl("get", "pods").out)
    assert sorted(p[2] for p in pods if p[0].startswith(old)) == ["Running"] * 3
    assert [p[2] for p in pods if p[0].startswith(new)][0] in ("ErrImagePull",
                                                                 "ImagePullBackOff")
    d = json.loads(kubectl("get", "deployment", "caddy", "-o", "json").out)
    progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"], progressing["message"]) == (
        "False", "ProgressDeadlineExceeded", f'ReplicaSet "{new}" has timed out progressing.')
    assert rows(kubectl("get", "deployments").out)[0][1:4] == ["3/3", "1", "3"]
