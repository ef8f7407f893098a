"""The StatefulSet controller (pkg/controller/statefulset) and its ControllerRevisions.

Pods have stable names, `<set>-<ordinal>`. With the default `OrderedReady` policy a pod is
only created once every lower ordinal is Running and Ready, and a pod being deleted is
waited for before anything else happens: so a restart never shows two `redis-0`. Each
template the set has had is kept as a ControllerRevision `<set>-<hash>` (the hash of the
revision data, history.HashControllerRevision), and pods carry its name in the
`controller-revision-hash` label. `RollingUpdate` replaces pods from the highest ordinal
down to `partition`, one at a time, waiting for each to be Running and Ready. The logic
follows stateful_set_control.go and stateful_set_utils.go.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kubelesson.sim import timeutil
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import find
from kubelesson.sim.controllers import selectors
from kubelesson.sim.controllers.base import (
    Controller,
    Key,
    controller_ref,
    is_pod_available,
    is_pod_ready,
    is_terminating,
    owned_by,
    owner_key,
    owner_reference,
    pod_from_template,
)
from kubelesson.sim.controllers.hashing import canonical, revision_hash
from kubelesson.sim.store import Obj, WatchEvent, deep_copy

RESOURCE = "statefulsets.apps"
REVISIONS = "controllerrevisions.apps"
REVISION_TYPE = find("apps", "v1", "controllerrevisions")
PODS = "pods"
REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
HASH_LABEL = "controller.kubernetes.io/hash"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def ordinal_of(pod: Obj) -> tuple[str, int]:
    """(parent name, ordinal) from `redis-0`; ("", -1) when the name has no ordinal."""
    m = _ORDINAL.match(pod["metadata"]["name"])
    return (m.group(1), int(m.group(2))) if m else ("", -1)


def revision_data(template: Obj) -> Obj:
    """What a ControllerRevision stores: a strategic-merge patch replacing the template."""
    return {"spec": {"template": {**deep_copy(template), "$patch": "replace"}}}


def new_revision(owner: Obj, number: int, collisions: int | None, hash_label: str) -> Obj:
    """history.NewControllerRevision for a StatefulSet or DaemonSet: `<owner>-<hash>`
    holding its template, with the template's labels plus the hash under `hash_label`."""
    template = owner["spec"].get("template") or {}
    data = revision_data(template)
    hash_ = revision_hash(canonical(data), collisions)
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels[hash_label] = hash_
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"{owner['metadata']['name']}-{hash_}",
                     "namespace": owner["metadata"]["namespace"], "labels": labels,
                     "ownerReferences": [owner_reference(owner)]},
        "data": data, "revision": number,
    }


def template_of(revision: Obj) -> Obj:
    template = deep_copy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def is_created(pod: Obj) -> bool:
    return bool(pod.get("status", {}).get("phase"))


def is_running_and_ready(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and is_pod_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not is_terminating(pod)


def is_finished(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def pod_revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


class StatefulSetController(Controller):
    name = "statefulset"
    component = "statefulset-controller"
    resource = RESOURCE

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        if event.resource == RESOURCE:
            yield (event.namespace, event.object["metadata"]["name"])
        elif event.resource in (PODS, REVISIONS):
            key = owner_key(event, "StatefulSet")
            if key is not None:
                yield key
            elif event.resource == PODS and controller_ref(event.object) is None:
                parent, ordinal = ordinal_of(event.object)  # an orphan the set may adopt
                if ordinal >= 0:
                    yield (event.namespace, parent)

    # -- sync ------------------------------------------------------------------------------
    def sync(self, namespace: str, name: str) -> float | None:
        sts = self.store.get(RESOURCE, namespace, name)
        if sts is None:
            return None
        pods = self._claim_pods(sts)
        revisions = self._revisions(sts)
        try:
            current, update, collisions = self._current_and_update(sts, revisions)
        except ApiError:
            return 1.0
        status = self._update_set(sts, current, update, collisions, pods)
        self._complete_rolling_update(sts, status)
        latest = self.store.get(RESOURCE, namespace, name)
        if latest is not None and latest["metadata"]["uid"] == sts["metadata"]["uid"]:
            self.write_status(RESOURCE, latest, status)
        self._truncate_history(sts, self._revisions(sts), current, update,
                               self._claim_pods(sts))
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        if min_ready and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            return float(min_ready)
        return None

    def _claim_pods(self, sts: Obj) -> list[Obj]:
        """Owned pods, plus orphans named `<set>-<n>` whose labels match (adopted)."""
        name = sts["metadata"]["name"]
        selector = sts["spec"].get("selector")
        mine = []
        for pod in self.store.list(PODS, sts["metadata"]["namespace"])[0]:
            member = ordinal_of(pod)[0] == name
            if owned_by(pod, sts):
                mine.append(pod)
            elif (member and controller_ref(pod) is None and not is_terminating(sts)
                  and selectors.matches(selector, pod["metadata"].get("labels"))):
                adopted = self.set_controller(PODS, pod, sts)
                if adopted is not None:
                    mine.append(adopted)
        return mine

    # -- revisions -------------------------------------------------------------------------
    def _revisions(self, sts: Obj) -> list[Obj]:
        owned = [r for r in self.store.list(REVISIONS, sts["metadata"]["namespace"])[0]
                 if owned_by(r, sts)]
        owned.sort(key=lambda r: (int(r.get("revision", 0)),
                                  r["metadata"].get("creationTimestamp", ""),
                                  r["metadata"]["name"]))
        return owned

    def _current_and_update(self, sts: Obj,
                            revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        """getStatefulSetRevisions: reuse the last revision if the template is unchanged,
        bring an older equal one back (a rollback), or create a new one."""
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        number = int(revisions[-1].get("revision", 0)) + 1 if revisions else 1
        wanted = new_revision(sts, number, collisions, HASH_LABEL)
        equal = [r for r in revisions if r.get("data") == wanted["data"]]
        if equal and equal[-1] is revisions[-1]:
            update = revisions[-1]
        elif equal:
            update = self._renumber(equal[-1], number)
        else:
            update, collisions = self._create_revision(sts, wanted, number, collisions)
        current_name = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == current_name), update)
        return current, update, collisions

    def _renumber(self, revision: Obj, number: int) -> Obj:
        def change(current: Obj) -> Obj:
            current["revision"] = number
            return current

        meta = revision["metadata"]
        updated = self.store.mutate(REVISIONS, meta["namespace"], meta["name"], change)
        return updated if updated is not None else revision

    def _create_revision(self, sts: Obj, wanted: Obj, number: int,
                         collisions: int) -> tuple[Obj, int]:
        assert REVISION_TYPE is not None
        for _ in range(10):
            try:
                return self.cluster.create(REVISION_TYPE, sts["metadata"]["namespace"],
                                           deep_copy(wanted)), collisions
            except ApiError as exc:
                if exc.reason != "AlreadyExists":
                    raise
                existing = self.store.get(REVISIONS, sts["metadata"]["namespace"],
                                          wanted["metadata"]["name"])
                if existing is not None and existing.get("data") == wanted["data"]:
                    return existing, collisions
                collisions += 1  # a different revision has this name: probe another hash
                wanted = new_revision(sts, number, collisions, HASH_LABEL)
        raise ApiError(409, "AlreadyExists", "no free controller revision name")

    def _truncate_history(self, sts: Obj, revisions: list[Obj], current: Obj, update: Obj,
                          pods: list[Obj]) -> None:
        live = {current["metadata"]["name"], update["metadata"]["name"],
                *(pod_revision(p) for p in pods)}
        history = [r for r in revisions if r["metadata"]["name"] not in live]
        limit = int(sts["spec"].get("revisionHistoryLimit", 10))
        assert REVISION_TYPE is not None
        for revision in history[:max(len(history) - limit, 0)]:
            try:
                self.cluster.delete(REVISION_TYPE, revision["metadata"]["namespace"],
                                    revision["metadata"]["name"])
            except ApiError:
                continue

    # -- pods ------------------------------------------------------------------------------
    def _new_pod(self, sts: Obj, template: Obj, revision: str, ordinal: int) -> Obj:
        """newVersionedStatefulSetPod: the template, the identity and the revision label."""
        name = f"{sts['metadata']['name']}-{ordinal}"
        labels = {POD_NAME_LABEL: name}
        if self.cluster.options.minor >= 28:  # PodIndexLabel, on by default since 1.28
            labels[POD_INDEX_LABEL] = str(ordinal)
        labels[REVISION_LABEL] = revision
        pod = pod_from_template(sts, template, labels=labels, name=name)
        pod["spec"]["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
        return pod

    def _create(self, sts: Obj, pod: Obj) -> bool:
        result = self.create_pod(sts["metadata"]["namespace"], pod)
        name = pod["metadata"]["name"]
        set_name = sts["metadata"]["name"]
        if isinstance(result, ApiError):
            if "because it is being terminated" not in result.message:
                self.record(sts, "FailedCreate", f"create Pod {name} in StatefulSet {set_name} "
                            f"failed error: {result.message}", "Warning")
            return False
        self.record(sts, "SuccessfulCreate", f"create Pod {name} in StatefulSet {set_name} "
                    "successful")
        return True

    def _delete(self, sts: Obj, pod: Obj) -> None:
        if self.delete_pod(pod):
            self.record(sts, "SuccessfulDelete", f"delete Pod {pod['metadata']['name']} in "
                        f"StatefulSet {sts['metadata']['name']} successful")

    def _update_set(self, sts: Obj, current: Obj, update: Obj, collisions: int,
                    pods: list[Obj]) -> Obj:
        """updateStatefulSet: create, wait, scale down, roll; the status it computes."""
        spec = sts["spec"]
        count = int(spec.get("replicas", 1) or 0)
        start = int((spec.get("ordinals") or {}).get("start", 0) or 0)
        replicas: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in pods:
            ordinal = ordinal_of(pod)[1]
            if start <= ordinal < start + count:
                replicas[ordinal - start] = pod
            elif ordinal >= 0:
                condemned.append(pod)
        partition = int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get(
            "partition", 0) or 0)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == \
            "RollingUpdate"
        slots: list[Obj] = []
        for i, existing in enumerate(replicas):
            ordinal = start + i
            if existing is None:
                at_current = rolling and ordinal < partition
                template = template_of(current) if at_current else spec.get("template") or {}
                name = (current if at_current else update)["metadata"]["name"]
                existing = self._new_pod(sts, template, name, ordinal)
            slots.append(existing)
        condemned.sort(key=lambda p: -ordinal_of(p)[1])
        status = self._status(sts, current, update, collisions, [*slots, *condemned])
        if is_terminating(sts):
            return status
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        unhealthy = next((p for p in [*slots, *reversed(condemned)] if not is_healthy(p)), None)
        for pod in slots:
            if self._process_replica(sts, pod, monotonic):
                return status
        for pod in condemned:
            if self._process_condemned(sts, pod, unhealthy, monotonic):
                return status
        if not rolling:
            return status
        for target in range(len(slots) - 1, partition - 1, -1):
            pod = slots[target]
            if pod_revision(pod) != update["metadata"]["name"] and not is_terminating(pod):
                self._delete(sts, pod)
                status["currentReplicas"] = max(status.get("currentReplicas", 0) - 1, 0)
                return _clean(status)
            if not is_healthy(pod):
                return status
        return status

    def _process_replica(self, sts: Obj, pod: Obj, monotonic: bool) -> bool:
        """True when the pass must stop here (something to wait for)."""
        if is_finished(pod):
            if not is_terminating(pod):
                self._delete(sts, pod)
            return True
        if not is_created(pod):
            created = self._create(sts, pod)
            return monotonic or not created
        if is_terminating(pod) and monotonic:
            return True
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        return monotonic and not (is_running_and_ready(pod) and is_pod_available(
            pod, min_ready, timeutil.now()))

    def _process_condemned(self, sts: Obj, pod: Obj, unhealthy: Obj | None,
                           monotonic: bool) -> bool:
        if is_terminating(pod):
            return monotonic
        if monotonic and not is_running_and_ready(pod) and pod is not unhealthy:
            return True
        self._delete(sts, pod)
        return monotonic

    def _status(self, sts: Obj, current: Obj, update: Obj, collisions: int,
                pods: list[Obj]) -> Obj:
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        now = timeutil.now()
        counts = {"replicas": 0, "readyReplicas": 0, "currentReplicas": 0,
                  "updatedReplicas": 0, "availableReplicas": 0}
        for pod in pods:
            if is_created(pod):
                counts["replicas"] += 1
            if is_running_and_ready(pod):
                counts["readyReplicas"] += 1
                if is_pod_available(pod, min_ready, now):
                    counts["availableReplicas"] += 1
            if is_created(pod) and not is_terminating(pod):
                if pod_revision(pod) == current["metadata"]["name"]:
                    counts["currentReplicas"] += 1
                if pod_revision(pod) == update["metadata"]["name"]:
                    counts["updatedReplicas"] += 1
        status: Obj = {"observedGeneration": int(sts["metadata"].get("generation", 1)),
                       **counts, "currentRevision": current["metadata"]["name"],
                       "updateRevision": update["metadata"]["name"],
                       "collisionCount": collisions}
        return _clean(status)

    @staticmethod
    def _complete_rolling_update(sts: Obj, status: Obj) -> None:
        rolling = (sts["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == \
            "RollingUpdate"
        if (rolling and status.get("updatedReplicas", 0) == status["replicas"]
                and status.get("readyReplicas", 0) == status["replicas"]):
            if status.get("updatedReplicas"):
                status["currentReplicas"] = status["updatedReplicas"]
            else:
                status.pop("currentReplicas", None)
            status["currentRevision"] = status["updateRevision"]


def _clean(status: Obj) -> Obj:
    """Leave out the zero counts whose JSON tags say omitempty (replicas and
    availableReplicas are always there)."""
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
        if not status.get(key):
            status.pop(key, None)
    return status
