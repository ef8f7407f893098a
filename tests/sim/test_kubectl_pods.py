"""The real kubectl drives pods on the simulator: apply, get, wait, delete, describe, logs."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.sim.conftest import Kubectl, pod_manifest

HEADER = "NAME    READY   STATUS    RESTARTS   AGE"


def test_apply_created_unchanged_configured(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = pod_manifest(tmp_path)
    first = kubectl("apply", "-f", str(manifest))
    assert (first.rc, first.out, first.err) == (0, "pod/caddy created\n", "")
    again = kubectl("apply", "-f", str(manifest))
    assert (again.rc, again.out, again.err) == (0, "pod/caddy unchanged\n", "")
    relabelled = pod_manifest(tmp_path, label="changed")
    changed = kubectl("apply", "-f", str(relabelled))
    assert (changed.rc, changed.out, changed.err) == (0, "pod/caddy configured\n", "")
    pod = kubectl.sim.store.get("pods", "default", "caddy")
    assert pod is not None
    assert pod["metadata"]["labels"] == {"app": "changed"}
    last = json.loads(pod["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"])
    assert last["metadata"]["labels"] == {"app": "changed"}
    assert kubectl("apply", "-f", str(relabelled)).out == "pod/caddy unchanged\n"


@pytest.mark.sim_options(creating_seconds=2.0)
def test_get_pods_through_the_lifecycle(kubectl: Kubectl, tmp_path: Path) -> None:
    empty = kubectl("get", "pods")
    assert (empty.rc, empty.out, empty.err) == (0, "", "No resources found in default namespace.\n")
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    pending = kubectl("get", "pods")
    assert pending.out.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert re.match(r"caddy   0/1     (Pending|ContainerCreating) +0 +\d+s",
                    pending.out.splitlines()[1])
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy").out == "pod/caddy condition met\n"
    running = kubectl("get", "pods")
    lines = running.out.splitlines()
    assert lines[0] == HEADER
    assert re.fullmatch(r"caddy   1/1     Running   0          \d+s", lines[1])
    wide = kubectl("get", "pods", "-o", "wide").out.splitlines()
    assert wide[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                               "NOMINATED", "NODE", "READINESS", "GATES"]
    cells = wide[1].split()
    assert re.fullmatch(r"10\.42\.\d+\.\d+", cells[5])
    assert re.fullmatch(r"k3d-hands-on-(server|agent)-\d", cells[6])
    assert cells[7:] == ["<none>", "<none>"]
    single = kubectl("get", "pod", "caddy")
    assert single.out.splitlines()[0] == HEADER
    assert kubectl("get", "pods", "-o", "name").out == "pod/caddy\n"
    as_yaml = yaml.safe_load(kubectl("get", "pods", "-o", "yaml").out)
    assert as_yaml["kind"] == "List" and as_yaml["items"][0]["status"]["phase"] == "Running"
    one = json.loads(kubectl("get", "pod", "caddy", "-o", "json").out)
    assert one["kind"] == "Pod" and one["status"]["podIP"].startswith("10.42.")
    assert {c["type"] for c in one["status"]["conditions"]} >= {
        "Ready", "ContainersReady", "Initialized", "PodScheduled"}
    all_ns = kubectl("get", "pods", "-A").out.splitlines()
    assert all_ns[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert all_ns[1].split()[:4] == ["default", "caddy", "1/1", "Running"]


def test_sort_by_and_labels(kubectl: Kubectl, tmp_path: Path) -> None:
    for name in ("bravo", "alpha", "charlie"):
        kubectl("apply", "-f", str(pod_manifest(tmp_path, name=name, label=name)))
    sorted_out = kubectl("get", "pods", "--sort-by=.metadata.name")
    assert sorted_out.rc == 0, sorted_out.err
    assert [line.split()[0] for line in sorted_out.out.splitlines()[1:]] == [
        "alpha", "bravo", "charlie"]
    labelled = kubectl("get", "pods", "-l", "app=bravo", "-o", "name")
    assert labelled.out == "pod/bravo\n"
    not_in = kubectl("get", "pods", "-l", "app notin (bravo,alpha)", "-o", "name")
    assert not_in.out == "pod/charlie\n"
    by_field = kubectl("get", "pods", "--field-selector", "metadata.name=alpha", "-o", "name")
    assert by_field.out == "pod/alpha\n"
    shown = kubectl("get", "pods", "--show-labels").out.splitlines()
    assert shown[0].split()[-1] == "LABELS" and shown[1].split()[-1] == "app=alpha"


def test_delete_waits_until_gone(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    started = time.monotonic()
    deleted = kubectl("delete", "pods", "caddy")
    took = time.monotonic() - started
    expected = ('pod "caddy" deleted from default namespace\n' if kubectl.is_137
                else 'pod "caddy" deleted\n')
    assert (deleted.rc, deleted.out, deleted.err) == (0, expected, "")
    assert took >= kubectl.sim.options.terminating_seconds
    assert kubectl.sim.store.get("pods", "default", "caddy") is None
    again = kubectl("delete", "pods", "caddy")
    assert (again.rc, again.err) == (1, 'Error from server (NotFound): pods "caddy" not found\n')
    quiet = kubectl("delete", "pods", "caddy", "--ignore-not-found")
    assert (quiet.rc, quiet.out, quiet.err) == (0, "", "")


@pytest.mark.sim_options(terminating_seconds=2.0)
def test_delete_shows_terminating(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    proc = kubectl.popen("delete", "pods", "caddy")
    kubectl.wait_status("caddy", "Terminating")
    listing = kubectl("get", "pods").out.splitlines()
    assert listing[1].split()[:3] == ["caddy", "1/1", "Terminating"]
    assert proc.wait(10) == 0


def test_delete_file_and_force(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = pod_manifest(tmp_path)
    kubectl("apply", "-f", str(manifest))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    by_file = kubectl("delete", "-f", str(manifest))
    suffix = " from default namespace" if kubectl.is_137 else ""
    assert (by_file.rc, by_file.out) == (0, f'pod "caddy" deleted{suffix}\n')
    missing = kubectl("delete", "-f", str(manifest))
    assert missing.rc == 1
    assert missing.err == (f'Error from server (NotFound): error when deleting "{manifest}": '
                           'pods "caddy" not found\n')
    kubectl("apply", "-f", str(manifest))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    forced = kubectl("delete", "pod", "caddy", "--grace-period=0", "--force")
    assert (forced.rc, forced.out) == (0, f'pod "caddy" force deleted{suffix}\n')
    assert kubectl.sim.store.get("pods", "default", "caddy") is None


def test_wait_for_delete_and_timeout(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path, image="cadddy:2")))
    timed_out = kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=500ms")
    assert (timed_out.rc, timed_out.err) == (
        1, "error: timed out waiting for the condition on pods/caddy\n")
    waiter = kubectl.popen("wait", "--for=delete", "pod/caddy", "--timeout=20s")
    time.sleep(0.2)
    kubectl("delete", "pod", "caddy", "--wait=false")
    out, err = waiter.communicate(timeout=20)
    assert (waiter.returncode, out) == (0, "pod/caddy condition met\n"), err
    missing = kubectl("wait", "--for=condition=Ready", "pod/nope")
    assert (missing.rc, missing.err) == (1, 'Error from server (NotFound): pods "nope" not found\n')


def test_unknown_image_goes_to_image_pull_back_off(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path, image="cadddy:2")))
    kubectl.wait_status("caddy", "ErrImagePull")
    assert kubectl("get", "pods").out.splitlines()[1].split()[:3] == [
        "caddy", "0/1", "ErrImagePull"]
    kubectl.wait_status("caddy", "ImagePullBackOff")
    time.sleep(kubectl.sim.options.backoff_seconds * 2)
    row = kubectl("get", "pods").out.splitlines()[1].split()
    assert row[:4] == ["caddy", "0/1", "ImagePullBackOff", "0"]
    described = kubectl("describe", "pod", "caddy").out
    assert 'Failed to pull image "cadddy:2"' in described
    assert "Back-off pulling image" in described
    logs = kubectl("logs", "caddy")
    assert logs.rc == 1
    assert logs.err == ('Error from server (BadRequest): container "caddy" in pod "caddy" is '
                        "waiting to start: trying and failing to pull image\n")


def test_nodes_not_ready_keeps_pods_pending(tmp_path: Path) -> None:
    from kubelesson.sim import SimOptions, running
    from tests.sim.conftest import VENV_KUBECTL

    options = SimOptions(pending_seconds=0.05, nodes_ready=False)
    with running(tmp_path / "sim", options=options) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        assert "NotReady" in kubectl("get", "nodes").out
        kubectl("apply", "-f", str(pod_manifest(tmp_path)))
        time.sleep(0.4)
        assert kubectl("get", "pods").out.splitlines()[1].split()[:3] == [
            "caddy", "0/1", "Pending"]
        described = kubectl("describe", "pod", "caddy").out
        assert "FailedScheduling" in described and "Node:             <none>" in described


def test_describe_pod(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    out = kubectl("describe", "pod", "caddy").out
    for expected in ("Name:             caddy", "Namespace:        default",
                     "Node:             k3d-hands-on-", "Status:           Running",
                     "IP:               10.42.", "Containers:", "    Image:          caddy:2",
                     "    State:          Running", "    Ready:          True",
                     "Conditions:", "  Ready                       True",
                     "Events:", "Successfully assigned default/caddy to k3d-hands-on-",
                     'Pulling image "caddy:2"', "Started container caddy"):
        assert expected in out, expected
    reasons = [line.split()[1] for line in out.split("Events:")[1].splitlines()[3:]]
    assert reasons == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]


def test_logs(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    logs = kubectl("logs", "caddy")
    assert logs.rc == 0
    lines = logs.out.splitlines()
    assert len(lines) >= 5 and all(json.loads(line)["level"] in ("info", "warn") for line in lines)
    assert any("serving initial configuration" in line for line in lines)
    tail = kubectl("logs", "caddy", "--tail=1", "--timestamps").out.splitlines()
    assert len(tail) == 1 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \{", tail[0])


def test_logs_follow_ends_when_pod_goes(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    follower = kubectl.popen("logs", "-f", "caddy")
    time.sleep(0.3)
    kubectl("delete", "pod", "caddy")
    out, _ = follower.communicate(timeout=15)
    assert "serving initial configuration" in out


def test_get_watch_prints_the_lifecycle(kubectl: Kubectl, tmp_path: Path) -> None:
    watcher = kubectl.popen("get", "pods", "-w")
    time.sleep(0.5)
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    kubectl("delete", "pod", "caddy")
    time.sleep(0.3)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0] == HEADER.replace("STATUS    ", "STATUS") or lines[0].split() == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    statuses = [line.split()[2] for line in lines[1:]]
    assert statuses[0] == "Pending"
    assert "ContainerCreating" in statuses and "Running" in statuses
    assert statuses[-1] == "Terminating"
    assert statuses.index("ContainerCreating") < statuses.index("Running")


def test_image_change_restarts_the_container(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    changed = kubectl("apply", "-f", str(pod_manifest(tmp_path, image="caddy:2.9")))
    assert changed.out == "pod/caddy configured\n"
    time.sleep(0.6)
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    row = kubectl("get", "pods").out.splitlines()[1]
    assert re.fullmatch(r"caddy   1/1     Running   1 \(\d+s ago\)   \d+s", row), row
