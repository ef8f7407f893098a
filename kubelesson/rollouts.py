"""A step whose change rolls out over time (a Deployment's new image, a StatefulSet's
restart), checked as a process: the pods are watched from before the command until
``kubectl rollout status`` says the rollout ended, and what must hold throughout is judged
from every event of that watch, not from one random moment of it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kubelesson import interrupts, podstate
from kubelesson.kubectl import Kubectl, last_line
from kubelesson.lesson import During
from kubelesson.transcript import Entry


@dataclass(frozen=True)
class Check:
    """One invariant's verdict; ``key`` names its sentence (``check.<key>``)."""

    key: str
    ok: bool
    params: dict[str, str] = field(default_factory=dict)


class Stuck:
    """Since when each pod has been stuck; one stuck for ``grace`` seconds is the verdict."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.since: dict[str, float] = {}
        self.pod: podstate.PodState | None = None

    def update(self, pods: list[podstate.PodState], now: float) -> bool:
        for pod in pods:
            if not pod.stuck:
                self.since.pop(pod.name, None)
            elif now - self.since.setdefault(pod.name, now) >= self.grace:
                self.pod = pod
                return True
        return False


def _count_pods(kubectl: Kubectl, selector: str) -> int:
    listed = kubectl.run(["get", "pods", "-l", selector, "-o", "name"], timeout=30)
    return sum(1 for line in listed.output.splitlines() if line.startswith("pod/"))


def watch_rollout(kubectl: Kubectl, during: During, command: Callable[[], Entry], *,
                  stuck_grace: float = 5.0, timeout: float | None = None) -> tuple[Entry, tuple[Check, ...]]:
    """Run ``command`` under a watch of the pods, wait for the rollout, judge the invariants."""
    initial = _count_pods(kubectl, during.pods)
    watch = kubectl.start(["get", "pods", "-l", during.pods, "--watch", "--output-watch-events", "-o", "json"])
    limit = timeout or during.timeout
    try:
        # The opening list first: the invariants are about what happens after the command.
        watch.wait_for(lambda lines: sum(1 for _ in podstate.events("\n".join(lines))) >= initial, 10.0)
        entry = command()
        status = kubectl.start(["rollout", "status", during.until, f"--timeout={limit:g}s"])
        stuck = Stuck(stuck_grace)
        try:
            while not status.wait_exit(0.25):
                seen = podstate.rollout(watch.output, initial)
                if stuck.update(list(seen.after.values()), time.monotonic()) or interrupts.pending():
                    break
        finally:
            done = status.stop(grace=1.0)
    finally:
        watched = watch.stop(grace=0.5)
    seen = podstate.rollout(watched.output, initial)
    checks = _judge(kubectl, during, seen)
    if stuck.pod is not None:
        serving = sum(1 for pod in seen.after.values() if pod.live and pod.ready)
        checks.insert(0, Check("stalled", False, {"pod": stuck.pod.name, "state": stuck.pod.stuck,
                                                 "serving": str(serving)}))
    elif not done.ok:
        checks.insert(0, Check("rollout", False, {"detail": last_line(done.output) or f"exit {done.exit_code}"}))
    return entry, tuple(checks)


def _judge(kubectl: Kubectl, during: During, seen: podstate.Rollout) -> list[Check]:
    checks = []
    if during.min_ready is not None:
        checks.append(Check("min_ready", seen.min_ready >= during.min_ready,
                            {"want": str(during.min_ready), "seen": str(seen.min_ready)}))
    if during.max_live is not None:
        checks.append(Check("max_live", seen.max_live <= during.max_live,
                            {"want": str(during.max_live), "seen": str(seen.max_live)}))
    if during.all_new:
        live = [pod for pod in seen.after.values() if pod.live]
        old = [pod.name for pod in live if pod.uid in seen.before]
        checks.append(Check("all_new", bool(live) and not old, {"old": ", ".join(old) or "-"}))
    if during.final_replicas is not None:
        checks.append(_final_replicasets(kubectl, during))
    return checks


def _final_replicasets(kubectl: Kubectl, during: During) -> Check:
    """One ReplicaSet (the new one) ends with all the replicas Ready; every other at 0."""
    result = kubectl.run(["get", "replicasets", "-l", during.pods, "-o", "json"], timeout=30)
    try:
        items = json.loads(result.output).get("items", [])
    except json.JSONDecodeError:
        items = []
    sizes = sorted(
        ((int(rs.get("spec", {}).get("replicas", 0)), int(rs.get("status", {}).get("readyReplicas", 0) or 0))
         for rs in items),
        reverse=True,
    )
    want = during.final_replicas or 0
    ok = bool(sizes) and sizes[0] == (want, want) and all(spec == 0 for spec, _ in sizes[1:])
    shown = ", ".join(f"{spec}/{ready}" for spec, ready in sizes) or "-"
    return Check("final_replicas", ok, {"want": str(want), "seen": shown})
