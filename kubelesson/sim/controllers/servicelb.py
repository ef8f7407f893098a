"""k3s's ServiceLB ("klipper-lb") behind the cloud-controller-manager's service controller:
what makes a LoadBalancer Service reachable on every node's port, and its EXTERNAL-IP.

For a Service of type LoadBalancer (k3s pkg/cloudprovider, described, not copied):

* the service controller adds the finalizer `service.kubernetes.io/load-balancer-cleanup`
  and records `EnsuringLoadBalancer`; ServiceLB applies the DaemonSet
  `svclb-<service>-<first 8 characters of its uid>` in kube-system (`AppliedDaemonSet`):
  one container `lb-<protocol>-<port>` per Service port, image rancher/klipper-lb, that
  port as hostPort, and the env that points it at the Service's cluster IP. So the
  DaemonSet controller puts a svclb pod on every node, and a node whose port another
  LoadBalancer Service already holds keeps its pod Pending (placement.py);
* the status `loadBalancer.ingress` lists the InternalIP of every node whose svclb pod is
  Ready, sorted (`<pending>` until then, `UpdatedLoadBalancer` events as it changes);
  from 1.30 the apiserver adds `ipMode: VIP` to each entry;
* when the Service goes, or stops being a LoadBalancer, the DaemonSet is deleted
  (`DeletedDaemonSet`), the status emptied and the finalizer removed.

A changed Service (ports, type) is applied again. externalTrafficPolicy Local is treated as
Cluster here (every node with a Ready svclb pod is listed).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import NAMESPACE, SERVICE, find
from kubelesson.sim.controllers.base import Controller, Key, is_pod_ready
from kubelesson.sim.controllers.hashing import canonical
from kubelesson.sim.store import Obj, WatchEvent, deep_copy

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager

LB_NAMESPACE = "kube-system"
DAEMONSETS = "daemonsets.apps"
DAEMONSET = find("apps", "v1", "daemonsets")
FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
SVC_NAME = "svccontroller.k3s.cattle.io/svcname"
SVC_NAMESPACE = "svccontroller.k3s.cattle.io/svcnamespace"
NODE_SELECTOR = "svccontroller.k3s.cattle.io/nodeselector"
SERVICE_CONTROLLER = "service-controller"


def klipper_image(minor: int) -> str:
    """The klipper-lb image k3s releases of that minor version ship (as public captures
    show them: v0.4.7 with 1.28, v0.4.9 with 1.29-1.31, v0.4.13 with 1.32-1.34, v0.4.17
    with 1.35+; patch releases of k3s may differ)."""
    if minor <= 28:
        return "rancher/klipper-lb:v0.4.7"
    if minor <= 31:
        return "rancher/klipper-lb:v0.4.9"
    if minor <= 34:
        return "rancher/klipper-lb:v0.4.13"
    return "rancher/klipper-lb:v0.4.17"


def daemonset_name(service: Obj) -> str:
    """generateName: `svclb-<name>-<uid[:8]>`, the name cut to 48 characters (not at a '-')."""
    name = str(service["metadata"]["name"])
    if len(name) > 48:
        name = name[:48].rstrip("-")
    return f"svclb-{name}-{str(service['metadata'].get('uid', ''))[:8]}"


def is_load_balancer(service: Obj | None) -> bool:
    return service is not None and (service.get("spec") or {}).get("type") == "LoadBalancer"


def lb_container(port: Obj, service: Obj, image: str) -> Obj:
    protocol = str(port.get("protocol") or "TCP")
    number = int(port.get("port") or 0)
    name = f"lb-{protocol.lower()}-{number}"
    cluster_ips = (service.get("spec") or {}).get("clusterIPs") or [
        (service.get("spec") or {}).get("clusterIP", "")]
    env = [{"name": "SRC_PORT", "value": str(number)},
           {"name": "SRC_RANGES", "value": ",".join(
               (service.get("spec") or {}).get("loadBalancerSourceRanges") or ["0.0.0.0/0"])},
           {"name": "DEST_PROTO", "value": protocol},
           {"name": "DEST_PORT", "value": str(number)},
           {"name": "DEST_IPS", "value": ",".join(cluster_ips)}]
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": name, "containerPort": number, "hostPort": number,
                       "protocol": protocol}],
            "env": env, "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}


def daemonset_for(service: Obj, minor: int) -> Obj:
    name = daemonset_name(service)
    meta = service["metadata"]
    image = klipper_image(minor)
    owner = f"{meta.get('namespace', '')}/{meta['name']}"
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {
            "name": name, "namespace": LB_NAMESPACE,
            "labels": {"objectset.rio.cattle.io/hash":
                       hashlib.sha1(owner.encode()).hexdigest(),  # noqa: S324 - a label
                       NODE_SELECTOR: "false", SVC_NAME: meta["name"],
                       SVC_NAMESPACE: meta.get("namespace", "")},
            "annotations": {"objectset.rio.cattle.io/owner-gvk": "/v1, Kind=Service",
                            "objectset.rio.cattle.io/owner-name": meta["name"],
                            "objectset.rio.cattle.io/owner-namespace":
                                meta.get("namespace", "")},
        },
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name, SVC_NAME: meta["name"],
                                        SVC_NAMESPACE: meta.get("namespace", "")}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "priorityClassName": "system-node-critical",
                    "serviceAccountName": "svclb",
                    "securityContext": {"sysctls": [{"name": "net.ipv4.ip_forward",
                                                     "value": "1"}]},
                    "tolerations": [
                        {"key": "node-role.kubernetes.io/master", "operator": "Exists",
                         "effect": "NoSchedule"},
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"},
                        {"key": "CriticalAddonsOnly", "operator": "Exists"}],
                    "containers": [lb_container(p, service, image)
                                   for p in (service.get("spec") or {}).get("ports") or []
                                   if isinstance(p, dict)],
                },
            },
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxUnavailable": 1}},
        },
    }


def _type(service: Obj) -> str:
    return str((service.get("spec") or {}).get("type") or "ClusterIP")


def _go_list(ips: list[str]) -> str:
    """A []string as Go's %v prints it."""
    return "[" + " ".join(ips) + "]"


class ServiceLBController(Controller):
    name = "servicelb"
    component = "service-lb-controller"

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        super().__init__(cluster, manager)
        self._applied: dict[Key, tuple[str, str]] = {}  # service -> (uid, what was applied)
        # Every Service's type as last seen, and the changes to or from LoadBalancer not yet
        # reported (the service controller's `Type` event, e.g. `NodePort -> LoadBalancer`).
        self._seen: dict[Key, str] = {}
        self._changes: dict[Key, list[str]] = {}
        self._lock = threading.Lock()  # _changes: filled by keys_for, emptied by sync
        for svc in self.store.list(SERVICE.key)[0]:
            self._seen[(svc["metadata"]["namespace"], svc["metadata"]["name"])] = _type(svc)

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        obj = event.object
        meta = obj.get("metadata") or {}
        if event.resource == SERVICE.key:
            key = (event.namespace, str(meta.get("name")))
            old = self._seen.pop(key, "")
            new = "" if event.type == "DELETED" else _type(obj)
            if new:
                self._seen[key] = new
            if "LoadBalancer" in (old, new):
                if old and new and old != new:
                    with self._lock:
                        self._changes.setdefault(key, []).append(f"{old} -> {new}")
                yield key
        elif event.resource in ("pods", DAEMONSETS) and event.namespace == LB_NAMESPACE:
            labels = meta.get("labels") or {}
            if labels.get(SVC_NAME):
                yield (str(labels.get(SVC_NAMESPACE, "")), str(labels[SVC_NAME]))

    def initial_keys(self) -> Iterable[Key]:
        items, _ = self.store.list(SERVICE.key)
        return [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in items
                if is_load_balancer(s)]

    # -- events ---------------------------------------------------------------------------
    def _event(self, service: Obj, reason: str, message: str, *, component: str = "",
               type_: str = "Normal") -> None:
        ns = service["metadata"].get("namespace", "")
        namespace = self.store.get(NAMESPACE.key, "", ns)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        self.cluster.lifecycle.event(service, reason, message, type_=type_,
                                     component=component or self._lb_component())

    def _lb_component(self) -> str:
        # Older k3s recorded ServiceLB's events under the service controller's name.
        return self.component if self.cluster.options.minor >= 28 else SERVICE_CONTROLLER

    # -- sync -----------------------------------------------------------------------------
    def sync(self, namespace: str, name: str) -> float | None:
        key = (namespace, name)
        service = self.store.get(SERVICE.key, namespace, name)
        with self._lock:
            changes = self._changes.pop(key, [])
        for change in changes:
            if service is not None:
                self._event(service, "Type", change, component=SERVICE_CONTROLLER)
        if service is None or not is_load_balancer(service) or service["metadata"].get(
                "deletionTimestamp"):
            self._tear_down(key, service)
            return None
        service = self._ensure(key, service)
        if service is not None:
            self._update_status(service)
        return None

    def _ensure(self, key: Key, service: Obj) -> Obj | None:
        """EnsureLoadBalancer when the Service is new or changed (or its DaemonSet went)."""
        minor = self.cluster.options.minor
        wanted = daemonset_for(service, minor)
        applied = (service["metadata"]["uid"], canonical(wanted["spec"]).decode())
        live = self.store.get(DAEMONSETS, LB_NAMESPACE, wanted["metadata"]["name"])
        if self._applied.get(key) == applied and live is not None:
            return service
        self._event(service, "EnsuringLoadBalancer", "Ensuring load balancer",
                    component=SERVICE_CONTROLLER)
        service = self._set_finalizer(service, add=True) or service
        assert DAEMONSET is not None
        try:
            if live is None:
                self.cluster.create(DAEMONSET, LB_NAMESPACE, deep_copy(wanted))
            elif live["spec"].get("template") != wanted["spec"]["template"]:
                # An update through the API, so the generation moves and the DaemonSet rolls.
                body = deep_copy(live)
                body["spec"]["template"] = deep_copy(wanted["spec"]["template"])
                self.cluster.update(DAEMONSET, LB_NAMESPACE, wanted["metadata"]["name"], body)
        except ApiError:
            return service  # kube-system cannot go away; a race: the next change retries
        self._applied[key] = applied
        self._event(service, "AppliedDaemonSet",
                    f"Applied LoadBalancer DaemonSet {LB_NAMESPACE}/{wanted['metadata']['name']}")
        return service

    def _svclb_pods(self, namespace: str, name: str) -> list[Obj]:
        pods, _ = self.store.list("pods", LB_NAMESPACE)
        return [p for p in pods if (p["metadata"].get("labels") or {}).get(SVC_NAME) == name
                and (p["metadata"].get("labels") or {}).get(SVC_NAMESPACE) == namespace]

    def node_ips(self, service: Obj) -> list[str]:
        """InternalIPs of the nodes running a Ready svclb pod of the Service, sorted."""
        meta = service["metadata"]
        ips: set[str] = set()
        for pod in self._svclb_pods(meta.get("namespace", ""), meta["name"]):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not node_name or not (pod.get("status") or {}).get("podIP"):
                continue
            if not is_pod_ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            node = self.store.get("nodes", "", node_name)
            for address in ((node or {}).get("status") or {}).get("addresses") or []:
                if address.get("type") == "InternalIP":
                    ips.add(str(address.get("address")))
        return sorted(ips)

    def _update_status(self, service: Obj) -> None:
        ips = self.node_ips(service)
        before = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        old_ips = [str(i.get("ip") or i.get("hostname") or "") for i in before]
        if old_ips == ips:
            return
        entry: Obj = {"ipMode": "VIP"} if self.cluster.options.minor >= 30 else {}
        status = deep_copy(service.get("status") or {})
        status["loadBalancer"] = {"ingress": [{"ip": ip, **entry} for ip in ips]} if ips else {}
        if self.write_status(SERVICE.key, service, status) is None:
            return
        if ips:
            self._event(service, "UpdatedLoadBalancer",
                        f"Updated LoadBalancer with new IPs: {_go_list(old_ips)} -> "
                        f"{_go_list(ips)}")
        else:
            self._event(service, "UnAvailableLoadBalancer",
                        "There are no available nodes for LoadBalancer", type_="Warning")

    # -- deletion -------------------------------------------------------------------------
    def _tear_down(self, key: Key, service: Obj | None) -> None:
        """EnsureLoadBalancerDeleted, then the status and the finalizer."""
        self._applied.pop(key, None)
        daemonsets, _ = self.store.list(DAEMONSETS, LB_NAMESPACE)
        mine = [d for d in daemonsets if (d["metadata"].get("labels") or {}).get(SVC_NAME)
                == key[1] and (d["metadata"].get("labels") or {}).get(SVC_NAMESPACE) == key[0]]
        has_finalizer = service is not None and FINALIZER in (
            service["metadata"].get("finalizers") or [])
        if not mine and not has_finalizer:
            return
        if service is not None:
            self._event(service, "DeletingLoadBalancer", "Deleting load balancer",
                        component=SERVICE_CONTROLLER)
        assert DAEMONSET is not None
        for daemonset in mine:
            with contextlib.suppress(ApiError):
                self.cluster.delete(DAEMONSET, LB_NAMESPACE, daemonset["metadata"]["name"])
                if service is not None:
                    self._event(service, "DeletedDaemonSet", "Deleted LoadBalancer DaemonSet "
                                f"{LB_NAMESPACE}/{daemonset['metadata']['name']}")
        if service is None:
            return
        if ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            status = deep_copy(service.get("status") or {})
            status["loadBalancer"] = {}
            service = self.write_status(SERVICE.key, service, status) or service
        self._event(service, "DeletedLoadBalancer", "Deleted load balancer",
                    component=SERVICE_CONTROLLER)
        self._set_finalizer(service, add=False)

    def _set_finalizer(self, service: Obj, *, add: bool) -> Obj | None:
        uid = service["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            finalizers = list(current["metadata"].get("finalizers") or [])
            if add == (FINALIZER in finalizers):
                return None
            if add:
                finalizers.append(FINALIZER)
            else:
                finalizers.remove(FINALIZER)
            if finalizers:
                current["metadata"]["finalizers"] = finalizers
            else:
                current["metadata"].pop("finalizers", None)
            return current

        meta = service["metadata"]
        return self.store.mutate(SERVICE.key, meta.get("namespace", ""), meta["name"], change)
