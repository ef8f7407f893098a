"""kube-scheduler's VolumeBinding plugin for the simulated scheduler (lifecycle.py, next to
the node filters of placement.py).

* PreFilter: a claim that does not exist or is being deleted, or an unbound claim that is not
  left to the scheduler (its StorageClass binds Immediately, or does not exist), keeps the
  pod off every node with the plugin's message.
* Filter: a bound claim's PersistentVolume may only be used on the nodes its node affinity
  names (`node(s) had volume node affinity conflict`).
* Reserve/PreBind: for a claim of a WaitForFirstConsumer class, the chosen node is written to
  the claim (`volume.kubernetes.io/selected-node`); the pod is bound to the node only once
  the provisioner has made a volume there and the claim is Bound.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from kubelesson.sim.controllers import placement
from kubelesson.sim.store import Obj, Store

PVCS = "persistentvolumeclaims"
PVS = "persistentvolumes"
CLASSES = "storageclasses.storage.k8s.io"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
CONFLICT = "node(s) had volume node affinity conflict"
UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
POLL_SECONDS = 0.1  # how often a pod waiting in PreBind looks at its claims again
SLOW_POLL_SECONDS = 1.0  # after SLOW_AFTER seconds of waiting (a provisioner that fails)
SLOW_AFTER = 10.0
_waiting_since: dict[str, float] = {}  # pod uid -> when it started waiting in PreBind


def claim_names(pod: Obj) -> list[str]:
    return [str((v.get("persistentVolumeClaim") or {}).get("claimName") or "")
            for v in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(v, dict) and isinstance(v.get("persistentVolumeClaim"), dict)]


def _claims(store: Store, pod: Obj) -> list[tuple[str, Obj | None]]:
    namespace = str(pod["metadata"].get("namespace") or "default")
    return [(name, store.get(PVCS, namespace, name)) for name in claim_names(pod)]


def claim_class(claim: Obj) -> str:
    spec = claim.get("spec") or {}
    if spec.get("storageClassName") is not None:
        return str(spec["storageClassName"])
    return str((claim["metadata"].get("annotations") or {}).get(
        "volume.beta.kubernetes.io/storage-class", ""))


def waits_for_consumer(store: Store, claim: Obj) -> bool:
    """volume.IsDelayBindingMode: a missing class counts as Immediate binding."""
    name = claim_class(claim)
    found = store.get(CLASSES, "", name) if name else None
    return found is not None and found.get("volumeBindingMode") == "WaitForFirstConsumer"


def _bound_volume(store: Store, claim: Obj) -> Obj | None:
    name = str((claim.get("spec") or {}).get("volumeName") or "")
    return store.get(PVS, "", name) if name else None


def prefilter(store: Store, pod: Obj) -> str | None:
    """The PreFilter message that keeps the pod off every node, if any."""
    immediate = False
    for name, claim in _claims(store, pod):
        if claim is None:
            return f'persistentvolumeclaim "{name}" not found'
        if claim["metadata"].get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if not (claim.get("spec") or {}).get("volumeName") and not waits_for_consumer(store, claim):
            immediate = True
    return UNBOUND_IMMEDIATE if immediate else None


def prefilter_message(total: int, problem: str) -> str:
    """A PreFilter failure names no nodes; preemption cannot help on any of them."""
    return (f"0/{total} nodes are available: {problem}. preemption: 0/{total} nodes are "
            f"available: {total} {placement.NOT_HELPFUL}.")


def _node_matches(term_source: Obj, node: Obj) -> bool:
    """A PersistentVolume's required node affinity against a node's labels."""
    terms = ((term_source.get("required") or {}).get("nodeSelectorTerms") or [])
    pod_like = {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}
    return placement.matches_affinity(pod_like, node)


def volume_fits(store: Store, pod: Obj, node: Obj) -> bool:
    """The Filter: every bound volume may be used on the node, and a claim whose node was
    already chosen (PreBind under way) keeps the pod on that node."""
    for _, claim in _claims(store, pod):
        if claim is None:
            continue
        volume = _bound_volume(store, claim)
        if volume is not None:
            affinity = (volume.get("spec") or {}).get("nodeAffinity")
            if isinstance(affinity, dict) and not _node_matches(affinity, node):
                return False
            continue
        selected = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        if selected and selected != node["metadata"]["name"]:
            return False
    return True


def narrow(store: Store, pod: Obj, fits: Sequence[Any], nodes: Sequence[Any]) -> list[Any] | placement.Unfit:
    """The nodes of `fits` (those placement.py let through) the pod's volumes allow. When none
    is left, the scheduler's message counts each node under the first filter it failed."""
    if not claim_names(pod):
        return list(fits)
    kept = []
    for node in fits:
        stored = store.get("nodes", "", node.name)
        if stored is not None and volume_fits(store, pod, stored):
            kept.append(node)
    if kept:
        return kept
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    passed = {node.name for node in fits}
    for node in nodes:
        stored = store.get("nodes", "", node.name)
        if stored is None:
            continue
        if node.name in passed:
            reasons[CONFLICT] += 1
            preemption[placement.NOT_HELPFUL] += 1
        elif not placement.matches_affinity(pod, stored):
            reasons[placement.AFFINITY] += 1
            preemption[placement.NOT_HELPFUL] += 1
        else:
            reasons[placement.PORTS] += 1
            preemption[placement.NO_VICTIMS] += 1
    return placement.Unfit(placement.failure_message(len(nodes), reasons, preemption))


def ready_on(store: Store, pod: Obj, node_name: str) -> bool:
    """Reserve and PreBind: True once every claim of the pod is bound. An unbound claim of a
    WaitForFirstConsumer class gets the chosen node, for the provisioner to make its volume
    there; the scheduler then waits, and the pod stays Pending without a node meanwhile."""
    ready = True
    namespace = str(pod["metadata"].get("namespace") or "default")
    for name, claim in _claims(store, pod):
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            continue
        ready = False
        if (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE):
            continue

        def select(current: Obj, uid: str = claim["metadata"]["uid"]) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            notes = current["metadata"].setdefault("annotations", {})
            if notes.get(SELECTED_NODE):
                return None
            notes[SELECTED_NODE] = node_name
            return current

        store.mutate(PVCS, namespace, name, select)
    if ready:
        _waiting_since.pop(str(pod["metadata"].get("uid", "")), None)
    return ready


def poll_delay(pod: Obj) -> float:
    """Look again soon while the volume is being made; less often once it takes long."""
    uid = str(pod["metadata"].get("uid", ""))
    now = time.monotonic()
    since = _waiting_since.setdefault(uid, now)
    if len(_waiting_since) > 4096:  # pods that went while waiting: forget the oldest
        for old in sorted(_waiting_since, key=_waiting_since.__getitem__)[:2048]:
            _waiting_since.pop(old, None)
    return SLOW_POLL_SECONDS if now - since > SLOW_AFTER else POLL_SECONDS
