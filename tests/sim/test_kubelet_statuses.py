"""Pod statuses as a kubelet and the apiserver's admission make them, found by the fidelity
script (benchmarks/fidelity.py) against real kubectl outputs: a crash loop's RESTARTS grows
with the back-off, ErrImagePull comes back between ImagePullBackOffs, a deleted pod shows
three `0/1 Terminating` lines in a watch, and a ServiceAccount that does not exist stops pod
creation (FailedCreate)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.sim.conftest import Kubectl, pod_manifest

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: reader}
spec:
  replicas: 1
  selector: {matchLabels: {app: reader}}
  template:
    metadata: {labels: {app: reader}}
    spec:
      serviceAccountName: sa-pod-reader
      containers: [{name: nginx, image: "nginx:1.27"}]
"""


def _restarts(kubectl: Kubectl, pod: str) -> int:
    out = kubectl("get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}").out
    return int(out or 0)


def _wait(condition: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition never held")


@pytest.mark.sim_options(backoff_seconds=0.2)
def test_crash_loop_restarts_count_up_with_the_back_off(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path, name="crash", image="busybox:1.36")))
    kubectl.wait_status("crash", "CrashLoopBackOff")
    _wait(lambda: _restarts(kubectl, "crash") >= 3)
    row = kubectl("get", "pod", "crash").out.splitlines()[1]
    assert re.fullmatch(r"crash   0/1     CrashLoopBackOff   [3-9] \(\d+s ago\)   \d+s", row), row
    waiting = kubectl("get", "pod", "crash", "-o",
                      "jsonpath={.status.containerStatuses[0].state.waiting.message}").out
    # The kubelet's own back-off in the message: 10s, 20s, 40s ... whatever the sim's timing.
    assert re.match(r"back-off (20s|40s|1m20s|2m40s|5m0s) restarting failed container=crash "
                    r"pod=crash_default\(", waiting), waiting
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=crash").out
    assert re.search(r"BackOff\s+pod/crash\s+Back-off restarting failed container crash", events)
    assert 'Container image "busybox:1.36" already present on machine' in events


@pytest.mark.sim_options(backoff_seconds=0.2)
def test_err_image_pull_comes_back_after_each_back_off(kubectl: Kubectl, tmp_path: Path) -> None:
    watcher = kubectl.popen("get", "pods", "-w")
    time.sleep(0.5)
    kubectl("apply", "-f", str(pod_manifest(tmp_path, image="caddy:22")))
    # ErrImagePull, ImagePullBackOff (0.8 s), ErrImagePull, ImagePullBackOff (1.6 s) ...
    time.sleep(4.0)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    statuses = [line.split()[2] for line in out.splitlines()[1:]]
    pulls = [s for s in statuses if s in ("ErrImagePull", "ImagePullBackOff")]
    assert pulls[:4] == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"], statuses
    events = kubectl("get", "events", "--field-selector", "involvedObject.name=caddy").out
    assert re.search(r"Pulling\s+pod/caddy\s+Pulling image \"caddy:22\"", events)
    described = kubectl("describe", "pod", "caddy").out
    assert re.search(r"Failed\s+\S+ \(x[2-9] over \S+\)\s+kubelet\s+.*Error: ErrImagePull", described), described


def test_a_deleted_pod_is_written_once_more_before_it_goes(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl("wait", "--for=condition=Ready", "pod/caddy")
    watcher = kubectl.popen("get", "pods", "-w", "--output-watch-events")
    time.sleep(0.5)
    kubectl("delete", "pod", "caddy")
    time.sleep(0.3)
    watcher.terminate()
    out, _ = watcher.communicate(timeout=10)
    events = [line.split()[:4] for line in out.splitlines()[1:]]
    # The deletion mark, the kubelet's stopped containers, its delete with grace 0, the delete.
    assert events[-4:] == [["MODIFIED", "caddy", "1/1", "Terminating"],
                           ["MODIFIED", "caddy", "0/1", "Terminating"],
                           ["MODIFIED", "caddy", "0/1", "Terminating"],
                           ["DELETED", "caddy", "0/1", "Terminating"]], out


def test_a_missing_service_account_stops_pod_creation(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "reader.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl("apply", "-f", str(manifest)).rc == 0
    _wait(lambda: "FailedCreate" in kubectl("get", "events").out)
    assert kubectl("get", "deployment", "reader").out.splitlines()[1].split()[:4] == [
        "reader", "0/1", "0", "0"]
    assert kubectl("get", "pods").err == "No resources found in default namespace.\n"
    described = kubectl("describe", "rs", "-l", "app=reader").out
    assert re.search(r'Warning\s+FailedCreate\s+.*replicaset-controller\s+Error creating: pods '
                     r'"reader-[a-z0-9]+-" is forbidden: error looking up service account '
                     r'default/sa-pod-reader: serviceaccount "sa-pod-reader" not found', described), described
    # A pod naming it directly is refused the same way; once it exists, pods are made.
    direct = kubectl("run", "direct", "--image=nginx:1.27", "--overrides",
                     '{"spec": {"serviceAccountName": "sa-pod-reader"}}')
    assert direct.rc == 1
    assert direct.err == ('Error from server (Forbidden): pods "direct" is forbidden: error looking up '
                          'service account default/sa-pod-reader: serviceaccount "sa-pod-reader" not '
                          "found\n")
    assert kubectl("create", "serviceaccount", "sa-pod-reader").rc == 0
    _wait(lambda: "1/1" in kubectl("get", "deployment", "reader").out)
