"""What a stream of pod objects (``kubectl get pods --watch -o json``) says about the pods:
their status as ``kubectl get`` would show it, and which are stuck in a state that does not
heal by itself, so that a wait can stop early instead of running out its timeout (pure).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Waiting reasons a kubelet keeps reporting until someone changes the pod: a tag that is
# not in the registry, a command that exits at once, a missing ConfigMap key, a bad name.
STUCK_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
UNSCHEDULABLE = "Unschedulable"


@dataclass(frozen=True)
class PodState:
    name: str
    status: str  # as the STATUS column would show it (roughly: reason, else phase)
    stuck: str  # the state that does not heal by itself, or ""
    message: str = ""  # what the kubelet or the scheduler said about it


def objects(text: str) -> Iterator[dict[str, Any]]:
    """The complete JSON objects of a watch's output so far (an unfinished one is left out)."""
    decoder = json.JSONDecoder()
    index = 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return
        try:
            value, index = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            return
        if isinstance(value, dict):
            yield value


def state(pod: dict[str, Any]) -> PodState:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    name = str(meta.get("name", ""))
    if meta.get("deletionTimestamp"):
        return PodState(name, "Terminating", "")
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason", ""))
        if reason:
            return PodState(name, reason, reason if reason in STUCK_REASONS else "", str(waiting.get("message", "")))
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == UNSCHEDULABLE:
            return PodState(name, "Pending", UNSCHEDULABLE, str(condition.get("message", "")))
    return PodState(name, str(status.get("phase", "")), "")


def latest(text: str, only: str | None = None) -> dict[str, PodState]:
    """The last state of each pod in a watch's output (of pod ``only``, when given)."""
    found: dict[str, PodState] = {}
    for pod in objects(text):
        current = state(pod)
        if only is None or current.name == only:
            found[current.name] = current
    return found
