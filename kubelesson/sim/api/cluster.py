"""The API semantics on top of the store: validation, defaults, patches, deletes, seeding."""

from __future__ import annotations

import builtins
import contextlib
import json
import random
import re
import threading
from pathlib import Path
from typing import Any

from kubelesson.sim import storage, timeutil
from kubelesson.sim.api import errors, patch, schema
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import NAMESPACE, NODE, POD, SERVICE, ResourceType
from kubelesson.sim.api.selectors import Predicate
from kubelesson.sim.kubelet import probes
from kubelesson.sim.kubelet.lifecycle import Lifecycle, NodeInfo
from kubelesson.sim.options import SimOptions
from kubelesson.sim.storage.disks import NodeDisks
from kubelesson.sim.store import Conflict, Obj, Store, deep_copy

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
POD_UPDATE_FORBIDDEN = (
    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)
Cause = tuple[str, str, str]
SYSTEM_PRIORITIES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}


def _random_suffix(n: int = 5) -> str:
    return "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=n))


def _name_causes(rt: ResourceType, name: str) -> list[Cause]:
    if rt.plural == "services":
        pattern, msg, limit = _DNS1035, DNS1035_MSG, 63
    elif rt.plural == "namespaces":
        pattern, msg, limit = _LABEL, LABEL_MSG, 63
    else:
        pattern, msg, limit = _SUBDOMAIN, SUBDOMAIN_MSG, 253
    causes: list[Cause] = []
    if len(name) > limit:
        causes.append(("FieldValueInvalid", "metadata.name",
                       f'Invalid value: "{name}": must be no more than {limit} characters'))
    if not pattern.match(name):
        causes.append(("FieldValueInvalid", "metadata.name", f'Invalid value: "{name}": {msg}'))
    return causes


def _pod_causes(pod: Obj) -> list[Cause]:
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return [("FieldValueRequired", "spec.containers", "Required value")]
    containers = spec.get("containers")
    if not containers:
        return [("FieldValueRequired", "spec.containers", "Required value")]
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, c in enumerate(containers):
        where = f"spec.containers[{i}]"
        if not isinstance(c, dict):
            causes.append(("FieldValueInvalid", where, "Invalid value: must be an object"))
            continue
        name = c.get("name")
        if not name:
            causes.append(("FieldValueRequired", f"{where}.name", "Required value"))
        elif not _LABEL.match(str(name)):
            causes.append(("FieldValueInvalid", f"{where}.name",
                           f'Invalid value: "{name}": {LABEL_MSG}'))
        elif name in seen:
            causes.append(("FieldValueDuplicate", f"{where}.name", f'Duplicate value: "{name}"'))
        else:
            seen.add(str(name))
        if not c.get("image"):
            causes.append(("FieldValueRequired", f"{where}.image", "Required value"))
        causes += _mount_causes(spec, where, c)
    return causes


def _mount_causes(spec: Obj, where: str, container: Obj) -> list[Cause]:
    """A volumeMount must name one of the pod's volumes (a typo there is refused)."""
    volumes = {v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict)}
    causes: list[Cause] = []
    for j, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        name = mount.get("name")
        if not name:
            causes.append(("FieldValueRequired", f"{where}.volumeMounts[{j}].name",
                           "Required value"))
        elif name not in volumes:
            causes.append(("FieldValueNotFound", f"{where}.volumeMounts[{j}].name",
                           f'Not found: "{name}"'))
        if not mount.get("mountPath"):
            causes.append(("FieldValueRequired", f"{where}.volumeMounts[{j}].mountPath",
                           "Required value"))
    return causes


def _pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _pod_defaults(pod: Obj) -> None:
    """Fill the fields kube-apiserver's defaulting and admission add to a new pod."""
    spec = pod["spec"]
    token_volume = next((v["name"] for v in spec.get("volumes") or []
                         if str(v.get("name", "")).startswith("kube-api-access-")), None)
    if token_volume is None and spec.get("automountServiceAccountToken", True):
        token_volume = "kube-api-access-" + _random_suffix()
        spec.setdefault("volumes", []).append({
            "name": token_volume,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt",
                                   "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"fieldRef": {
                        "apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        "path": "namespace"}]}},
                ],
            },
        })
    for volume in spec.get("volumes") or []:
        for kind in ("configMap", "secret"):  # as the apiserver's defaulting does
            if isinstance(volume.get(kind), dict):
                volume[kind].setdefault("defaultMode", 420)
    probes.set_pod_defaults(spec)  # periodSeconds 10, timeoutSeconds 1 ... (describe shows them)
    for c in spec.get("containers") or []:
        c.setdefault("imagePullPolicy", _pull_policy(str(c.get("image", ""))))
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        for port in c.get("ports") or []:
            port.setdefault("protocol", "TCP")
        mounts = c.setdefault("volumeMounts", [])
        if token_volume and not any(m.get("name") == token_volume for m in mounts):
            mounts.append({"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                           "name": token_volume, "readOnly": True})
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    # The Priority admission plugin: the built-in classes k3s's system pods name.
    spec.setdefault("priority", SYSTEM_PRIORITIES.get(str(spec.get("priorityClassName")), 0))
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccount", spec.get("serviceAccountName", "default"))
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    tolerations = spec.setdefault("tolerations", [])
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if not any(t.get("key") == key for t in tolerations):
            tolerations.append({"effect": "NoExecute", "key": key, "operator": "Exists",
                                "tolerationSeconds": 300})


def _service_defaults(svc: Obj, cluster_ip: str) -> None:
    spec = svc.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        if not spec.get("clusterIP"):
            spec["clusterIP"] = cluster_ip
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))
    svc.setdefault("status", {"loadBalancer": {}})


def _k3d_nodes(options: SimOptions) -> list[NodeInfo]:
    """The nodes of `k3d cluster create NAME --agents N`: k3d creates the server first, so
    it has the first address on the cluster's Docker network. The pod CIDRs follow a real
    k3d cluster of the course (corpus get_pods-006: agent-0 10.42.0.x, agent-1 10.42.1.x,
    agent-2 10.42.2.x): the agents take 10.42.0-N, the server the next one."""
    prefix = f"k3d-{options.cluster_name}"
    return [
        NodeInfo(f"{prefix}-server-0", "172.18.0.2", options.agents, server=True),
        *(NodeInfo(f"{prefix}-agent-{i}", f"172.18.0.{3 + i}", i)
          for i in range(options.agents)),
    ]


class Cluster:
    """All objects and the rules for changing them. Thread-safe through the store."""

    def __init__(self, options: SimOptions, state_dir: Path | None = None) -> None:
        self.options = options
        self.store = Store(options.watch_log_size)
        self.nodes = _k3d_nodes(options)
        self.lifecycle = Lifecycle(self.store, options, self.nodes)
        self.lifecycle.on_removed = self._maybe_finish_namespace
        # The nodes' disks (hostPath and local-path volumes), wiped: a new cluster.
        self.disks = NodeDisks(state_dir / "nodes" if state_dir else None)
        storage.attach(self)
        self._next_service_ip = 2
        self._ip_lock = threading.Lock()
        self._seed()

    def close(self) -> None:
        self.lifecycle.stop()
        self.store.close()
        self.disks.close()

    # -- seeding -----------------------------------------------------------------------
    def _seed(self) -> None:
        for ns in PROTECTED_NAMESPACES:
            self.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": ns}})
        for node in self.nodes:
            self.store.create(NODE.key, self._node(node))
        self.create(SERVICE, "default", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.43.0.1", "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]},
        })
        self.create(SERVICE, "kube-system", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "labels": {
                "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                "kubernetes.io/name": "CoreDNS", "objectset.rio.cattle.io/hash":
                "bce283298811743a0386ab510f2f67ef74240c57"}},
            "spec": {"clusterIP": "10.43.0.10", "selector": {"k8s-app": "kube-dns"}, "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]},
        })
        self.create(SERVICE, "kube-system", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "metrics-server", "labels": {
                "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "Metrics-server"}},
            "spec": {"selector": {"k8s-app": "metrics-server"}, "ports": [
                {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]},
        })
        for ns in PROTECTED_NAMESPACES:
            self.store.create("serviceaccounts", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns}})

    def _node(self, node: NodeInfo) -> Obj:
        labels = {
            "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/instance-type": "k3s",
            "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": node.name, "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "k3s",
        }
        if node.server:
            labels["node-role.kubernetes.io/control-plane"] = "true"
            if self.options.minor < 34:  # k3s 1.34 stopped setting the master role (k3s#12395)
                labels["node-role.kubernetes.io/master"] = "true"
        now = timeutil.rfc3339(timeutil.now())
        ready = self.options.nodes_ready
        version = self.options.kube_version + "+k3s1"

        def cond(type_: str, ok: bool, reason: str, message: str) -> Obj:
            return {"type": type_, "status": "True" if ok else "False",
                    "lastHeartbeatTime": now, "lastTransitionTime": now,
                    "reason": reason, "message": message}

        spec: Obj = {"podCIDR": f"10.42.{node.subnet}.0/24",
                     "podCIDRs": [f"10.42.{node.subnet}.0/24"],
                     "providerID": f"k3s://{node.name}"}
        if not ready:
            spec["taints"] = [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": labels, "annotations": {
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/kube-subnet-manager": "true",
                "flannel.alpha.coreos.com/public-ip": node.ip,
                "k3s.io/hostname": node.name,
                "k3s.io/internal-ip": node.ip,
                "kubelesson.io/simulated": "true",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": spec,
            "status": {
                "addresses": [{"type": "InternalIP", "address": node.ip},
                              {"type": "Hostname", "address": node.name}],
                "allocatable": {"cpu": "2", "ephemeral-storage": "30000000000",
                                "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                                "memory": "8000000Ki", "pods": "110"},
                "capacity": {"cpu": "2", "ephemeral-storage": "30830568Ki",
                             "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                             "memory": "8000000Ki", "pods": "110"},
                "conditions": [
                    cond("MemoryPressure", False, "KubeletHasSufficientMemory",
                         "kubelet has sufficient memory available"),
                    cond("DiskPressure", False, "KubeletHasNoDiskPressure",
                         "kubelet has no disk pressure"),
                    cond("PIDPressure", False, "KubeletHasSufficientPID",
                         "kubelet has sufficient PID available"),
                    cond("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
                         "kubelet is posting ready status" if ready else
                         "container runtime network not ready"),
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "architecture": "amd64", "bootID": "00000000-0000-0000-0000-0000000000"
                    + f"{node.subnet:02d}", "containerRuntimeVersion": "containerd://2.0.4-k3s2",
                    "kernelVersion": "6.1.0-kubelesson-sim", "kubeProxyVersion": version,
                    "kubeletVersion": version, "machineID": "", "operatingSystem": "linux",
                    "osImage": f"K3s {version} (simulated by kubelesson)",
                    "systemUUID": "",
                },
            },
        }

    # -- reading -----------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if obj is None:
            raise errors.not_found(rt, name)
        return obj

    def list(self, rt: ResourceType, namespace: str | None,
             predicate: Predicate | None) -> tuple[builtins.list[Obj], int]:
        return self.store.list(rt.key, namespace if rt.namespaced else None, predicate)

    # -- creating ----------------------------------------------------------------------
    def _check_body(self, rt: ResourceType, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        kind, api_version = body.get("kind"), body.get("apiVersion")
        if kind is None and api_version is None:
            raise errors.bad_request("Object 'Kind' is missing in the request body")
        if api_version != rt.api_version or kind != rt.kind:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})" if api_version != rt.api_version else
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        problem = schema.decode_error(rt.kind, body)
        if problem:  # a value of the wrong JSON type: it would not decode into the Go struct
            raise errors.cannot_decode(rt.kind, rt.version, problem)
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            given = meta.get("namespace")
            if given and given != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return body

    def _check_namespace(self, rt: ResourceType, namespace: str, name: str) -> None:
        if not rt.namespaced:
            return
        ns = self.store.get(NAMESPACE.key, "", namespace)
        if ns is None:
            raise errors.not_found(NAMESPACE, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt, name, f"unable to create new content in namespace "
                                   f"{namespace} because it is being terminated")

    def create(self, rt: ResourceType, namespace: str, body: Any, *,
               dry_run: bool = False) -> Obj:
        obj = self._check_body(rt, namespace, body)
        meta = obj["metadata"]
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation", "managedFields", "selfLink"):
            meta.pop(key, None)
        if rt is POD:
            self._check_service_account(obj, namespace)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = str(meta["generateName"]) + _random_suffix()
        name = str(meta.get("name") or "")
        if not name:
            raise errors.invalid(rt, "", [("FieldValueRequired", "metadata.name",
                                          "Required value: name or generateName is required")])
        causes = _name_causes(rt, name) + schema.object_causes(rt.kind, obj, self.options.minor)
        if rt is POD:
            causes += _pod_causes(obj)
        if causes:
            raise errors.invalid(rt, name, causes)
        self._check_namespace(rt, namespace, name)
        self._defaults(rt, obj)
        if dry_run:
            if self.store.get(rt.key, meta.get("namespace", ""), name) is not None:
                raise errors.already_exists(rt, name)
            meta["uid"] = "00000000-0000-0000-0000-000000000000"
            meta["creationTimestamp"] = timeutil.rfc3339(timeutil.now())
            return obj
        try:
            created = self.store.create(rt.key, obj, generation=bool(rt.group))
        except Conflict:
            raise errors.already_exists(rt, name) from None
        if rt is POD:
            self.lifecycle.pod_created(created)
        return created

    def _check_service_account(self, pod: Obj, namespace: str) -> None:
        """The ServiceAccount admission plugin: a pod naming a ServiceAccount that does not
        exist is refused (a ReplicaSet then reports FailedCreate and makes no pod). Named as
        the plugin names it, before the name is generated. The `default` ServiceAccount is
        taken to exist in every namespace (kube-controller-manager makes it at once)."""
        spec = pod.get("spec")
        if not isinstance(spec, dict):
            return  # the body checks that follow say what is wrong with it
        account = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
        if account == "default" or self.store.get("serviceaccounts", namespace, account) is not None:
            return
        meta = pod["metadata"]
        raise errors.forbidden(POD, str(meta.get("name") or meta.get("generateName") or ""),
                               f"error looking up service account {namespace}/{account}: "
                               f'serviceaccount "{account}" not found')

    def _defaults(self, rt: ResourceType, obj: Obj) -> None:
        if rt is POD:
            _pod_defaults(obj)
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rt is NAMESPACE:
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = (
                obj["metadata"]["name"])
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif rt is SERVICE:
            _service_defaults(obj, self._allocate_service_ip())
        elif rt.plural == "secrets" and not obj.get("type"):
            obj["type"] = "Opaque"

    def _allocate_service_ip(self) -> str:
        with self._ip_lock:
            ip = self._next_service_ip
            self._next_service_ip += 1
        return f"10.43.{(ip * 37) % 250 + 1}.{(ip * 113) % 250 + 2}"

    # -- updating ----------------------------------------------------------------------
    def _finish_update(self, rt: ResourceType, live: Obj, new: Any, *, dry_run: bool,
                       check_rv: bool) -> Obj:
        if not isinstance(new, dict):
            raise errors.bad_request("the patched object must be a JSON object")
        problem = schema.decode_error(rt.kind, new)
        if problem:  # a patch made a value of the wrong type
            raise errors.invalid_patch(new, problem)
        name = live["metadata"]["name"]
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        if meta.get("name") != name:  # missing too: an update must name its object
            raise errors.bad_request(
                f"the name of the object ({meta.get('name') or ''}) does not match the name on "
                f"the URL ({name})")
        if check_rv and meta.get("resourceVersion") not in (
            None, "", live["metadata"]["resourceVersion"]
        ):
            raise errors.conflict(rt, name, "the object has been modified; please apply your "
                                  "changes to the latest version and try again")
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        for key in ("uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation", "resourceVersion", "namespace"):
            if key in live["metadata"]:
                meta[key] = live["metadata"][key]
            else:
                meta.pop(key, None)
        if "status" in live:
            new["status"] = deep_copy(live["status"])
        shared_causes = schema.object_causes(rt.kind, new, self.options.minor)
        if shared_causes:
            raise errors.invalid(rt, name, shared_causes)
        changed_images: list[str] = []
        if rt is POD:
            if not isinstance(new.get("spec"), dict):
                new["spec"] = {}
            _pod_defaults(new)
            causes = _pod_causes(new)
            if causes:
                raise errors.invalid(rt, name, causes)
            changed_images = self._check_pod_update(live, new)
        if rt is SERVICE:
            _service_defaults(new, live.get("spec", {}).get("clusterIP", ""))
        if new == live or dry_run:
            return new if dry_run else live
        spec_changed = new.get("spec") != live.get("spec")
        ns = live["metadata"].get("namespace", "")
        updated = self.store.mutate(rt.key, ns, name, lambda _: deep_copy(new))
        if updated is None:
            raise errors.not_found(rt, name)
        if spec_changed and "generation" in updated["metadata"]:
            updated = self.store.mutate(rt.key, ns, name, lambda o: self._bump_generation(o))
            assert updated is not None
        if changed_images:
            self.lifecycle.images_changed(updated, changed_images)
        return updated

    @staticmethod
    def _bump_generation(obj: Obj) -> Obj:
        obj["metadata"]["generation"] = int(obj["metadata"]["generation"]) + 1
        return obj

    def _check_pod_update(self, live: Obj, new: Obj) -> builtins.list[str]:
        """Pods are immutable except images and a few fields; returns changed containers."""
        old_spec, new_spec = deep_copy(live["spec"]), deep_copy(new["spec"])
        changed: list[str] = []
        old_containers = {c.get("name"): c for c in old_spec.get("containers") or []}
        for c in new_spec.get("containers") or []:
            old = old_containers.get(c.get("name"))
            if old is not None and old.get("image") != c.get("image"):
                changed.append(str(c.get("name")))
                c["image"] = old.get("image")
        for key in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
            new_spec.pop(key, None)
            old_spec.pop(key, None)
        old_tol = old_spec.pop("tolerations", [])
        new_tol = new_spec.pop("tolerations", [])
        if not all(t in new_tol for t in old_tol):
            new_spec["tolerations"] = new_tol
        if old_spec.get("nodeName") and not new_spec.get("nodeName"):
            new_spec["nodeName"] = old_spec["nodeName"]
        if old_spec != new_spec:
            raise errors.invalid(POD, live["metadata"]["name"], [
                ("FieldValueForbidden", "spec", POD_UPDATE_FORBIDDEN)])
        return changed

    def update(self, rt: ResourceType, namespace: str, name: str, body: Any, *,
               dry_run: bool = False) -> Obj:
        live = self.get(rt, namespace, name)
        new = self._check_body(rt, namespace, body)
        return self._finish_update(rt, live, deep_copy(new), dry_run=dry_run, check_rv=True)

    def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str,
              body: Any, *, dry_run: bool = False) -> Obj:
        live = self.get(rt, namespace, name)
        kind = content_type.split(";", 1)[0].strip()
        if kind == "application/strategic-merge-patch+json":
            if not isinstance(body, dict):
                raise errors.bad_request("a strategic merge patch must be a JSON object")
            new = patch.strategic_merge(deep_copy(live), body)
        elif kind == "application/merge-patch+json":
            if not isinstance(body, dict):
                raise errors.bad_request("a merge patch must be a JSON object")
            new = patch.merge_patch(deep_copy(live), body)
        elif kind == "application/json-patch+json":
            new = patch.json_patch(deep_copy(live), body)
        else:
            raise errors.unsupported_media_type(content_type)
        return self._finish_update(rt, live, new, dry_run=dry_run, check_rv=True)

    def server_side_apply(self, rt: ResourceType, namespace: str, name: str, body: Any, *,
                          dry_run: bool = False) -> tuple[Obj, bool]:
        """An approximation of server-side apply: create, or merge the applied fields in.

        Field ownership (managedFields) and conflict detection are not simulated.
        """
        obj = self._check_body(rt, namespace, body)
        if obj["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({obj['metadata'].get('name')}) does not match the "
                f"name on the URL ({name})")
        obj["metadata"]["name"] = name
        live = self.store.get(rt.key, namespace if rt.namespaced else "", name)
        if live is None:
            return self.create(rt, namespace, obj, dry_run=dry_run), True
        applied = deep_copy(obj)
        applied.pop("status", None)
        new = patch.strategic_merge(deep_copy(live), applied)
        return self._finish_update(rt, live, new, dry_run=dry_run, check_rv=False), False

    # -- deleting ----------------------------------------------------------------------
    def delete(self, rt: ResourceType, namespace: str, name: str, *,
               grace: int | None = None, dry_run: bool = False) -> Obj:
        ns = namespace if rt.namespaced else ""
        live = self.get(rt, ns, name)
        if rt is NAMESPACE:
            return self._delete_namespace(live, dry_run=dry_run)
        if rt is POD:
            return self._delete_pod(live, grace, dry_run=dry_run)
        if dry_run:
            return live
        final = self.store.delete(rt.key, ns, name)
        if final is None:
            raise errors.not_found(rt, name)
        self._maybe_finish_namespace(ns)
        return final

    def _delete_pod(self, live: Obj, grace: int | None, *, dry_run: bool) -> Obj:
        meta = live["metadata"]
        if grace is None:
            grace = int(live["spec"].get("terminationGracePeriodSeconds", 30))
        graceful = (grace > 0 and bool(live["spec"].get("nodeName"))
                    and live.get("status", {}).get("phase") not in ("Succeeded", "Failed"))
        if dry_run:
            return live
        if not graceful:
            final = self.store.delete(POD.key, meta["namespace"], meta["name"])
            if final is None:
                raise errors.not_found(POD, meta["name"])
            self.lifecycle._record(final, "Deleted")
            self.lifecycle.released(final)
            self._maybe_finish_namespace(meta["namespace"])
            return final
        if meta.get("deletionTimestamp"):
            return live
        stamp = timeutil.rfc3339(timeutil.now() + grace)

        def mark(p: Obj) -> Obj:
            p["metadata"]["deletionTimestamp"] = stamp
            p["metadata"]["deletionGracePeriodSeconds"] = grace
            return p

        marked = self.store.mutate(POD.key, meta["namespace"], meta["name"], mark)
        if marked is None:
            raise errors.not_found(POD, meta["name"])
        self.lifecycle.terminate(marked, grace)
        return marked

    def _delete_namespace(self, live: Obj, *, dry_run: bool) -> Obj:
        name = live["metadata"]["name"]
        if name in PROTECTED_NAMESPACES:
            raise errors.forbidden(NAMESPACE, name, "this namespace may not be deleted")
        if dry_run or live["metadata"].get("deletionTimestamp"):
            return live
        stamp = timeutil.rfc3339(timeutil.now())

        def mark(ns: Obj) -> Obj:
            ns["metadata"]["deletionTimestamp"] = stamp
            ns["metadata"]["deletionGracePeriodSeconds"] = 0
            ns["status"] = {"phase": "Terminating"}
            return ns

        marked = self.store.mutate(NAMESPACE.key, "", name, mark)
        assert marked is not None
        from kubelesson.sim.api.resources import RESOURCES

        for rt in RESOURCES:
            if not rt.namespaced:
                continue
            items, _ = self.store.list(rt.key, name)
            for obj in items:
                with contextlib.suppress(ApiError):  # already gone
                    self.delete(rt, name, obj["metadata"]["name"])
        self._maybe_finish_namespace(name)
        return marked

    def _maybe_finish_namespace(self, namespace: str) -> None:
        """Remove a Terminating namespace once nothing is left in it."""
        if not namespace:
            return
        ns = self.store.get(NAMESPACE.key, "", namespace)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        # Events written while the pods were terminating go with the namespace.
        events, _ = self.store.list("events", namespace)
        if self.store.count(namespace) == len(events):
            for ev in events:
                self.store.delete("events", namespace, ev["metadata"]["name"])
            self.store.delete(NAMESPACE.key, "", namespace)

    # -- debug -------------------------------------------------------------------------
    def transitions_json(self) -> bytes:
        return json.dumps(self.lifecycle.transitions_snapshot()).encode()

