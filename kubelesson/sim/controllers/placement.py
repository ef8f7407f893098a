"""Which nodes a pod may be scheduled to: the scheduler's filter plugins that the course's
pods meet, in kube-scheduler's order.

* NodeAffinity: `spec.nodeSelector` and the required node affinity (`matchExpressions` on
  labels, `matchFields` on `metadata.name`, which is how a DaemonSet pins its pods).
* NodePorts: a `hostPort` (with its protocol and host IP) already used by a pod on the node.
  ServiceLB's svclb pods ask for the Service's ports as host ports, so a second
  LoadBalancer Service on port 8080 finds no node, as on k3s.

When no node fits, `Unfit.message` is the scheduler's FailedScheduling text: how many
nodes failed for which reason, then what preemption found (a node whose port is held by a
pod of the same or a higher priority has no victims; a node that does not match the affinity
cannot be helped by preemption).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kubelesson.sim.store import Obj, Store

AFFINITY = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


class NodeLike(Protocol):
    name: str


@dataclass(frozen=True)
class Unfit:
    message: str


def _term_matches(term: Obj, node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    for key, source in (("matchExpressions", labels), ("matchFields", fields)):
        for expr in term.get(key) or []:
            if not isinstance(expr, dict):
                return False
            name = str(expr.get("key", ""))
            values = [str(v) for v in expr.get("values") or []]
            op = expr.get("operator")
            present = name in source
            value = source.get(name)
            if op == "In" and not (present and value in values):
                return False
            if op == "NotIn" and present and value in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
            if op in ("Gt", "Lt"):
                try:
                    number, limit = int(str(value)), int(values[0])
                except (ValueError, IndexError):
                    return False
                if (op == "Gt" and not number > limit) or (op == "Lt" and not number < limit):
                    return False
    return True


def matches_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = [t for t in required.get("nodeSelectorTerms") or [] if isinstance(t, dict)]
    return not terms or any(_term_matches(t, node) for t in terms)


def host_ports(pod: Obj) -> list[tuple[str, str, int]]:
    """(protocol, hostIP, hostPort) the pod's containers ask for."""
    wanted = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in (container or {}).get("ports") or []:
            if isinstance(port, dict) and isinstance(port.get("hostPort"), int) and port["hostPort"]:
                wanted.append((str(port.get("protocol") or "TCP"),
                               str(port.get("hostIP") or "0.0.0.0"), int(port["hostPort"])))
    return wanted


def _clash(a: tuple[str, str, int], b: tuple[str, str, int]) -> bool:
    any_ip = "0.0.0.0"
    return a[0] == b[0] and a[2] == b[2] and (a[1] == b[1] or any_ip in (a[1], b[1]))


def _holds_node(pod: Obj) -> bool:
    """Assigned pods count until they are gone; finished ones have released their ports."""
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def feasible(store: Store, pod: Obj, nodes: Sequence[NodeLike]) -> list[Any] | Unfit:
    """The nodes `pod` fits on, in the given order, or why none does."""
    wanted = host_ports(pod)
    held: dict[str, list[tuple[tuple[str, str, int], int]]] = {}
    if wanted:
        pods, _ = store.list("pods")
        uid = pod["metadata"].get("uid")
        for other in pods:
            node_name = (other.get("spec") or {}).get("nodeName")
            if node_name and other["metadata"].get("uid") != uid and _holds_node(other):
                priority = int((other.get("spec") or {}).get("priority") or 0)
                held.setdefault(node_name, []).extend((p, priority) for p in host_ports(other))
    fits: list[Any] = []
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    mine = int((pod.get("spec") or {}).get("priority") or 0)
    for node in nodes:
        stored = store.get("nodes", "", node.name)
        if stored is None:
            continue
        if not matches_affinity(pod, stored):
            reasons[AFFINITY] += 1
            preemption[NOT_HELPFUL] += 1
            continue
        clashes = [priority for port, priority in held.get(node.name, [])
                   if any(_clash(port, w) for w in wanted)]
        if clashes:
            reasons[PORTS] += 1
            # Preemption could only free the port by evicting lower-priority pods.
            preemption[NO_VICTIMS if min(clashes) >= mine else NOT_HELPFUL] += 1
            continue
        fits.append(node)
    if fits:
        return fits
    return Unfit(failure_message(len(nodes), reasons, preemption))


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{n} {reason}" for reason, n in counts.items()))


def failure_message(total: int, reasons: Counter[str], preemption: Counter[str]) -> str:
    return (f"0/{total} nodes are available: {_histogram(reasons)}. preemption: 0/{total} nodes "
            f"are available: {_histogram(preemption)}.")
