"""The ReplicaSet controller (pkg/controller/replicaset): keep `spec.replicas` pods alive.

It counts the active pods it controls (not finished, not being deleted), creates the
missing ones from the template with `generateName: <replicaset>-`, deletes the surplus in
the order kube-controller-manager prefers (unscheduled, pending, unready, doubled-up on a
node, most recently ready, newest first), adopts matching orphans, releases pods whose
labels no longer match, and writes the status `get rs` and the Deployment controller read.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubelesson.sim import timeutil
from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.controllers import selectors
from kubelesson.sim.controllers.base import (
    Controller,
    Key,
    Manager,
    controller_ref,
    is_active,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    owned_by,
    owner_key,
    pod_from_template,
    ready_since,
)
from kubelesson.sim.store import Obj, WatchEvent

RESOURCE = "replicasets.apps"
PODS = "pods"
BURST = 500  # the controller's burstReplicas: at most this many creates per sync


class ReplicaSetController(Controller):
    name = "replicaset"
    component = "replicaset-controller"
    resource = RESOURCE

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        super().__init__(cluster, manager)
        self._failures: dict[Key, int] = {}  # failed creates in a row, for the back-off

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        if event.resource == RESOURCE:
            yield (event.namespace, event.object["metadata"]["name"])
        elif event.resource == PODS:
            key = owner_key(event, "ReplicaSet")
            if key is not None:
                yield key

    def sync(self, namespace: str, name: str) -> float | None:
        rs = self.store.get(RESOURCE, namespace, name)
        if rs is None:
            self._failures.pop((namespace, name), None)
            return None
        pods = self._claim_pods(rs)
        active = [p for p in pods if is_active(p)]
        if not is_terminating(rs) and self._manage_replicas(rs, active, pods):
            pods = self._claim_pods(rs)
            active = [p for p in pods if is_active(p)]
        current = self.store.get(RESOURCE, namespace, name)
        if current is None or current["metadata"]["uid"] != rs["metadata"]["uid"]:
            return None
        status = calculate_status(current, active, timeutil.now())
        self.write_status(RESOURCE, current, status)
        min_ready = int(current["spec"].get("minReadySeconds") or 0)
        if (min_ready > 0 and status.get("readyReplicas", 0) == current["spec"].get("replicas")
                and status.get("availableReplicas", 0) != status.get("readyReplicas", 0)):
            return float(min_ready)  # look again when the ready pods become available
        return None

    # -- ownership -----------------------------------------------------------------------
    def _claim_pods(self, rs: Obj) -> list[Obj]:
        """The pods this ReplicaSet controls after adopting matching orphans and releasing
        owned pods whose labels stopped matching (ClaimPods)."""
        selector = rs["spec"].get("selector")
        pods, _ = self.store.list(PODS, rs["metadata"]["namespace"])
        mine: list[Obj] = []
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            matching = selectors.matches(selector, labels)
            if owned_by(pod, rs):
                if matching or is_terminating(rs):
                    mine.append(pod)
                else:
                    self.set_controller(PODS, pod, None)
            elif (matching and controller_ref(pod) is None and not is_terminating(rs)
                  and not is_terminating(pod)):
                adopted = self.set_controller(PODS, pod, rs)
                if adopted is not None:
                    mine.append(adopted)
        return mine

    # -- scaling ---------------------------------------------------------------------------
    def _manage_replicas(self, rs: Obj, active: list[Obj], pods: list[Obj]) -> bool:
        diff = len(active) - int(rs["spec"].get("replicas", 1))
        if diff < 0:
            return self._create(rs, min(-diff, BURST))
        if diff > 0:
            related = self._related_pods(rs, pods)
            for pod in pods_to_delete(active, related, diff):
                if self.delete_pod(pod):
                    self.record(rs, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")
            return True
        return False

    def _create(self, rs: Obj, count: int) -> bool:
        """Create in growing batches (1, 2, 4 …) and stop at the first failure, as the
        controller's slowStartBatch does."""
        created = 0
        batch = 1
        while created < count:
            for _ in range(min(batch, count - created)):
                pod = pod_from_template(rs, rs["spec"].get("template") or {})
                result = self.create_pod(rs["metadata"]["namespace"], pod)
                if isinstance(result, ApiError):
                    self._failed_create(rs, result)
                    return created > 0
                self._failures.pop((rs["metadata"]["namespace"], rs["metadata"]["name"]), None)
                self.record(rs, "SuccessfulCreate",
                            f"Created pod: {result['metadata']['name']}")
                created += 1
            batch *= 2
        return created > 0

    def _failed_create(self, rs: Obj, error: ApiError) -> None:
        if "because it is being terminated" in error.message:
            return  # namespace deletion: every create fails, nothing worth an event
        self.record(rs, "FailedCreate", f"Error creating: {error.message}", "Warning")
        # The work queue's rate limiter tries again: 5 ms doubling, at most 1000 s (a missing
        # ServiceAccount made afterwards lets the next attempt through).
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        self.manager.enqueue(self, key, min(0.005 * 2 ** failures, 1000.0))

    def _related_pods(self, rs: Obj, pods: list[Obj]) -> list[Obj]:
        """The active pods of every ReplicaSet with the same owner (a Deployment's old and
        new ones), to rank pods that share a node with their siblings first."""
        owner = controller_ref(rs)
        if owner is None:
            return [p for p in pods if is_active(p)]
        siblings = {
            o["metadata"]["uid"] for o in self.store.list(RESOURCE, rs["metadata"]["namespace"])[0]
            if (controller_ref(o) or {}).get("uid") == owner.get("uid")
        }
        all_pods, _ = self.store.list(PODS, rs["metadata"]["namespace"])
        return [p for p in all_pods if is_active(p)
                and (controller_ref(p) or {}).get("uid") in siblings]


_PHASE_ORDER = {"Pending": 0, "Unknown": 1, "Running": 2}


def pods_to_delete(active: list[Obj], related: list[Obj], count: int) -> list[Obj]:
    """The `count` pods a scale-down removes first (controller.ActivePodsWithRanks)."""
    per_node: dict[str, int] = {}
    for pod in related:
        node = pod["spec"].get("nodeName", "")
        per_node[node] = per_node.get(node, 0) + 1

    def order(pod: Obj) -> tuple[int, int, int, int, float, int, float]:
        node = pod["spec"].get("nodeName", "")
        ready = is_pod_ready(pod)
        since = ready_since(pod) if ready else None
        restarts = sum(int(cs.get("restartCount", 0)) for cs in
                       pod.get("status", {}).get("containerStatuses") or [])
        created = timeutil.parse(pod["metadata"].get("creationTimestamp")) or 0.0
        return (
            1 if node else 0,
            _PHASE_ORDER.get(pod.get("status", {}).get("phase", ""), 0),
            1 if ready else 0,
            -per_node.get(node, 0),
            -(since or 0.0),
            -restarts,
            -created,
        )

    return sorted(active, key=order)[:count]


def calculate_status(rs: Obj, active: list[Obj], now: float) -> Obj:
    """replicas/fullyLabeled/ready/available over the active pods; zero counts other than
    `replicas` are left out, as their JSON tags say (omitempty)."""
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
        "labels") or {}
    labelled = sum(1 for p in active if all(
        (p["metadata"].get("labels") or {}).get(k) == v for k, v in template_labels.items()))
    ready = sum(1 for p in active if is_pod_ready(p))
    available = sum(1 for p in active if is_pod_available(p, min_ready, now))
    status: Obj = {"replicas": len(active)}
    if labelled:
        status["fullyLabeledReplicas"] = labelled
    if ready:
        status["readyReplicas"] = ready
    if available:
        status["availableReplicas"] = available
    status["observedGeneration"] = int(rs["metadata"].get("generation", 1))
    conditions = (rs.get("status") or {}).get("conditions")
    if conditions:
        status["conditions"] = conditions
    return status
