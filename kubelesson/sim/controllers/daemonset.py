"""The DaemonSet controller (pkg/controller/daemon): one pod on every node that should run it.

k3s's ServiceLB runs its svclb pods as DaemonSets (servicelb.py), so this is what puts one
on each of the four nodes. For each node the template fits (its nodeSelector and required
node affinity) the controller keeps exactly one active pod, created from the template with
`generateName: <daemonset>-`, the labels `controller-revision-hash` and
`pod-template-generation`, the DaemonSet's tolerations, and a required node affinity on the
node's name: the scheduler then binds it there, or leaves it Pending when the node cannot
take it (a host port in use: placement.py). A ControllerRevision per template records the
history. RollingUpdate replaces outdated pods at most `maxUnavailable` at a time; OnDelete
only when they are deleted. The status is what `kubectl get daemonsets` prints.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from kubelesson.sim import timeutil
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.controllers import placement
from kubelesson.sim.controllers.base import (
    Controller,
    Key,
    is_active,
    is_pod_available,
    is_pod_ready,
    owned_by,
    owner_key,
    pod_from_template,
)
from kubelesson.sim.controllers.statefulset import (
    REVISION_TYPE,
    REVISIONS,
    new_revision,
    revision_data,
)
from kubelesson.sim.store import Obj, WatchEvent

RESOURCE = "daemonsets.apps"
PODS = "pods"
HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
# What the controller adds to every daemon pod (util.AddOrUpdateDaemonPodTolerations).
TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)


def pin_to_node(spec: Obj, node: str) -> None:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: every required term matches the node's name."""
    field = {"key": "metadata.name", "operator": "In", "values": [node]}
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    if not terms:
        terms = [{}]
    for term in terms:
        term["matchFields"] = [field]
    required["nodeSelectorTerms"] = terms


def add_tolerations(spec: Obj) -> None:
    tolerations = spec.setdefault("tolerations", [])
    wanted = list(TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in wanted:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tolerations):
            tolerations.append({"effect": effect, "key": key, "operator": "Exists"})


def node_of(pod: Obj) -> str:
    """The node a daemon pod is for: bound, or named by its node affinity."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return ""


class DaemonSetController(Controller):
    name = "daemonset"
    component = "daemonset-controller"
    resource = RESOURCE

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        if event.resource == RESOURCE:
            yield (event.namespace, event.object["metadata"]["name"])
        elif event.resource == PODS:
            key = owner_key(event, "DaemonSet")
            if key is not None:
                yield key

    def sync(self, namespace: str, name: str) -> float | None:
        ds = self.store.get(RESOURCE, namespace, name)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        revision = self._revision(ds)
        hash_ = (revision["metadata"].get("labels") or {}).get(HASH_LABEL, "")
        pods = [p for p in self.store.list(PODS, namespace)[0] if owned_by(p, ds)]
        self._manage(ds, pods, hash_)
        current = self.store.get(RESOURCE, namespace, name)
        if current is None or current["metadata"]["uid"] != ds["metadata"]["uid"]:
            return None
        pods = [p for p in self.store.list(PODS, namespace)[0] if owned_by(p, current)]
        self.write_status(RESOURCE, current, self._status(current, pods, hash_))
        return None

    # -- nodes and pods --------------------------------------------------------------------
    def _eligible_nodes(self, ds: Obj) -> list[str]:
        template = {"spec": (ds["spec"].get("template") or {}).get("spec") or {}}
        nodes, _ = self.store.list("nodes")
        return [n["metadata"]["name"] for n in nodes if placement.matches_affinity(template, n)]

    def _manage(self, ds: Obj, pods: list[Obj], hash_: str) -> None:
        eligible = set(self._eligible_nodes(ds))
        by_node: dict[str, list[Obj]] = {}
        for pod in pods:
            if is_active(pod):
                by_node.setdefault(node_of(pod), []).append(pod)
            elif (pod.get("status") or {}).get("phase") == "Failed":
                self._delete(ds, pod)  # a failed daemon pod is replaced
        for node, mine in sorted(by_node.items()):
            if node not in eligible:
                for pod in mine:
                    self._delete(ds, pod)
            else:
                mine.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
                for extra in mine[1:]:
                    self._delete(ds, extra)
        for node in sorted(eligible - set(by_node)):
            self._create(ds, node, hash_)
        self._roll(ds, {n: p[0] for n, p in by_node.items() if n in eligible}, hash_)

    def _roll(self, ds: Obj, running: dict[str, Obj], hash_: str) -> None:
        """RollingUpdate: outdated pods go, unavailable ones first, while no more than
        maxUnavailable nodes are without an available pod."""
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        raw = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
        desired = max(len(running), 1)
        if isinstance(raw, str) and raw.endswith("%"):
            limit = max(int(desired * int(raw[:-1] or 0) / 100), 1)
        else:
            limit = int(raw or 1)
        now = timeutil.now()
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        outdated = [p for p in running.values()
                    if (p["metadata"].get("labels") or {}).get(HASH_LABEL) != hash_]
        unavailable = sum(1 for p in running.values()
                          if not is_pod_available(p, min_ready, now))
        for pod in sorted(outdated, key=lambda p: is_pod_available(p, min_ready, now)):
            if is_pod_available(pod, min_ready, now):
                if unavailable >= limit:
                    break
                unavailable += 1
            self._delete(ds, pod)

    def _create(self, ds: Obj, node: str, hash_: str) -> None:
        generation = str(ds["metadata"].get("generation", 1))
        pod = pod_from_template(ds, ds["spec"].get("template") or {},
                                labels={HASH_LABEL: hash_, GENERATION_LABEL: generation})
        pin_to_node(pod["spec"], node)
        add_tolerations(pod["spec"])
        result = self.create_pod(ds["metadata"]["namespace"], pod)
        if isinstance(result, ApiError):
            if "because it is being terminated" not in result.message:
                self.record(ds, "FailedCreate", f"Error creating: {result.message}", "Warning")
            return
        self.record(ds, "SuccessfulCreate", f"Created pod: {result['metadata']['name']}")

    def _delete(self, ds: Obj, pod: Obj) -> None:
        if pod["metadata"].get("deletionTimestamp"):
            return
        if self.delete_pod(pod):
            self.record(ds, "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}")

    # -- history ---------------------------------------------------------------------------
    def _revision(self, ds: Obj) -> Obj:
        """The ControllerRevision of the current template, created when it is new."""
        namespace = ds["metadata"]["namespace"]
        data = revision_data(ds["spec"].get("template") or {})
        owned = [r for r in self.store.list(REVISIONS, namespace)[0] if owned_by(r, ds)]
        for revision in owned:
            if revision.get("data") == data:
                return revision
        number = max((int(r.get("revision", 0)) for r in owned), default=0) + 1
        body = new_revision(ds, number, None, HASH_LABEL)
        assert REVISION_TYPE is not None
        try:
            created = self.cluster.create(REVISION_TYPE, namespace, body)
        except ApiError:
            return body  # taken or going away: the pods are labelled all the same
        limit = int(ds["spec"].get("revisionHistoryLimit", 10))
        for old in sorted(owned, key=lambda r: int(r.get("revision", 0)))[:max(
                len(owned) + 1 - limit, 0)]:
            with contextlib.suppress(ApiError):
                self.cluster.delete(REVISION_TYPE, namespace, old["metadata"]["name"])
        return created

    # -- status ----------------------------------------------------------------------------
    def _status(self, ds: Obj, pods: list[Obj], hash_: str) -> Obj:
        eligible = set(self._eligible_nodes(ds))
        active = [p for p in pods if is_active(p)]
        scheduled = {node_of(p) for p in active if (p.get("spec") or {}).get("nodeName")}
        now = timeutil.now()
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        on_eligible = [p for p in active if node_of(p) in eligible]
        ready = sum(1 for p in on_eligible if is_pod_ready(p))
        available = sum(1 for p in on_eligible if is_pod_available(p, min_ready, now))
        updated = sum(1 for p in on_eligible
                      if (p["metadata"].get("labels") or {}).get(HASH_LABEL) == hash_)
        status: Obj = {
            "currentNumberScheduled": len(scheduled & eligible),
            "desiredNumberScheduled": len(eligible),
            "numberMisscheduled": len(scheduled - eligible),
            "numberReady": ready,
            "observedGeneration": int(ds["metadata"].get("generation", 1)),
        }
        if updated:
            status["updatedNumberScheduled"] = updated
        if available:
            status["numberAvailable"] = available
        if len(eligible) - available > 0:
            status["numberUnavailable"] = len(eligible) - available
        return status
