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
    uid: str = ""
    ready: bool = False  # the Ready condition is True (and the pod is not being deleted)

    @property
    def live(self) -> bool:
        """Counts as one of the workload's pods: not being deleted, not finished."""
        return self.status not in ("Terminating", "Succeeded", "Failed")


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
    name, uid = str(meta.get("name", "")), str(meta.get("uid", ""))
    if meta.get("deletionTimestamp"):
        return PodState(name, "Terminating", "", uid=uid)
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason", ""))
        if reason:
            stuck = reason if reason in STUCK_REASONS else ""
            return PodState(name, reason, stuck, str(waiting.get("message", "")), uid, ready)
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == UNSCHEDULABLE:
            return PodState(name, "Pending", UNSCHEDULABLE, str(condition.get("message", "")), uid)
    return PodState(name, str(status.get("phase", "")), "", uid=uid, ready=ready)


def latest(text: str, only: str | None = None) -> dict[str, PodState]:
    """The last state of each pod in a watch's output (of pod ``only``, when given)."""
    found: dict[str, PodState] = {}
    for pod in objects(text):
        current = state(pod)
        if only is None or current.name == only:
            found[current.name] = current
    return found


# --- a rollout watched as events -------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """What a watch of a workload's pods saw while a change rolled out."""

    min_ready: int  # the fewest Ready pods at any moment after the change began
    max_live: int  # the most pods that were not being deleted, at any moment
    before: frozenset[str]  # uids of the pods there when the watch began
    after: dict[str, PodState]  # the pods there at the end, by name


def events(text: str) -> Iterator[tuple[str, PodState]]:
    """(type, pod) of each event of ``kubectl get pods --watch --output-watch-events -o json``."""
    for event in objects(text):
        obj = event.get("object")
        if isinstance(obj, dict):
            yield str(event.get("type", "")), state(obj)


def rollout(text: str, initial: int) -> Rollout:
    """Replay the watch: the first ``initial`` events are the pods as they were (the watch's
    opening list); the counts are taken after every event that follows."""
    pods: dict[str, PodState] = {}
    before: set[str] = set()
    min_ready, max_live = 1 << 30, 0
    for index, (kind, pod) in enumerate(events(text)):
        if kind == "DELETED":
            pods.pop(pod.name, None)
        else:
            pods[pod.name] = pod
        if index < initial:
            before.add(pod.uid)
            if index < initial - 1:
                continue
        min_ready = min(min_ready, sum(1 for p in pods.values() if p.live and p.ready))
        max_live = max(max_live, sum(1 for p in pods.values() if p.live))
    if min_ready == 1 << 30:
        min_ready = 0
    return Rollout(min_ready, max_live, frozenset(before), dict(pods))
