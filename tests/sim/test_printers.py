"""Table cell rules: AGE format, pod STATUS/READY/RESTARTS derivation."""

from __future__ import annotations

from typing import Any

import pytest

from kubelesson.sim import timeutil
from kubelesson.sim.api.printers import pod_ready, pod_restarts, pod_status


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-5, "<invalid>"), (-0.5, "0s"), (0, "0s"), (6, "6s"), (119, "119s"), (120, "2m"),
     (121, "2m1s"), (352, "5m52s"), (599, "9m59s"), (600, "10m"), (179 * 60 + 59, "179m"),
     (3 * 3600, "3h"), (4 * 3600 + 46 * 60, "4h46m"), (8 * 3600, "8h"), (47 * 3600, "47h"),
     (48 * 3600, "2d"), (77 * 3600, "3d5h"), (8 * 86400, "8d"), (729 * 86400, "729d"),
     (730 * 86400, "2y"), (760 * 86400, "2y30d"), (9 * 365 * 86400, "9y")],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert timeutil.human_duration(seconds) == text


def _pod(*statuses: dict[str, Any], phase: str = "Running", deleting: bool = False,
         **extra: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": f"c{i}"} for i in range(max(len(statuses), 1))]},
        "status": {"phase": phase, "containerStatuses": list(statuses), **extra},
    }
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return pod


RUNNING = {"ready": True, "state": {"running": {}}}


@pytest.mark.parametrize(
    ("pod", "status", "ready"),
    [
        (_pod(phase="Pending"), "Pending", "0/1"),
        (_pod({"state": {"waiting": {"reason": "ContainerCreating"}}}, phase="Pending"),
         "ContainerCreating", "0/1"),
        (_pod(RUNNING), "Running", "1/1"),
        (_pod(RUNNING, deleting=True), "Terminating", "1/1"),
        (_pod({"state": {"waiting": {"reason": "ErrImagePull"}}}, phase="Pending"),
         "ErrImagePull", "0/1"),
        (_pod({"state": {"waiting": {"reason": "ImagePullBackOff"}}}, RUNNING,
              phase="Pending"), "ImagePullBackOff", "1/2"),
        (_pod({"state": {"terminated": {"reason": "Completed", "exitCode": 0}}},
              phase="Succeeded"), "Completed", "0/1"),
        (_pod({"state": {"terminated": {"exitCode": 3}}}, phase="Failed"), "ExitCode:3", "0/1"),
        (_pod({"state": {"terminated": {"exitCode": 0, "signal": 9}}}), "Signal:9", "0/1"),
        (_pod(RUNNING, reason="Evicted", phase="Failed"), "Evicted", "1/1"),
        (_pod(RUNNING, phase="Succeeded", deleting=True), "Succeeded", "1/1"),
    ],
)
def test_pod_status_and_ready(pod: dict[str, Any], status: str, ready: str) -> None:
    assert pod_status(pod) == status
    assert pod_ready(pod) == ready


def test_init_container_statuses() -> None:
    pod = _pod(phase="Pending")
    pod["spec"]["initContainers"] = [{"name": "i0"}, {"name": "i1"}]
    pod["status"]["initContainerStatuses"] = [
        {"state": {"terminated": {"exitCode": 0}}},
        {"state": {"running": {}}},
    ]
    assert pod_status(pod) == "Init:1/2"
    pod["status"]["initContainerStatuses"][1] = {"state": {"waiting": {
        "reason": "CrashLoopBackOff"}}}
    assert pod_status(pod) == "Init:CrashLoopBackOff"


def test_restarts_with_ago() -> None:
    now = timeutil.parse("2026-01-01T00:10:00Z")
    assert now is not None
    pod = _pod({**RUNNING, "restartCount": 5,
                "lastState": {"terminated": {"finishedAt": "2026-01-01T00:07:57Z"}}})
    assert pod_restarts(pod, now) == "5 (2m3s ago)"
    assert pod_restarts(_pod({**RUNNING, "restartCount": 0}), now) == "0"
    assert pod_restarts(_pod({**RUNNING, "restartCount": 2}), now) == "2"


@pytest.mark.parametrize(("seconds", "text"), [
    (0.7, "700ms"), (1.5, "1.5s"), (10, "10s"), (80, "1m20s"), (300, "5m0s"), (3600, "1h0m0s"), (0, "0s"),
])
def test_go_duration_as_the_kubelet_writes_it(seconds: float, text: str) -> None:
    assert timeutil.go_duration(seconds) == text
