"""k3s's packaged traefik: the objects its Helm chart installs in kube-system, and the part
of traefik that writes Ingress status.

`install(cluster)` creates what k3s's helm-controller leaves behind (the helm-install jobs
themselves are not simulated): the ServiceAccount `traefik`, the IngressClass
`traefik` (the default class, controller `traefik.io/ingress-controller`), the
LoadBalancer Service `traefik` on ports 80 (`web`) and 443 (`websecure`), which ServiceLB
then serves on every node, and the Deployment `traefik` whose pod runs the router
(network/ingress.py). Labels, image and ports follow the chart k3s ships with the
simulated version: Traefik v2 (chart 25/27) up to k3s 1.31, Traefik v3 (chart 34 and
later) from 1.32.

`IngressStatusController` is traefik's status writer (its ingress provider with
`publishedService: kube-system/traefik`): every Ingress traefik serves gets the addresses of
the `traefik` Service's load balancer, without ipMode, once a traefik pod runs and its
Service has them, shortly after the Ingress appears (traefik's provider works in batches).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import SERVICE, ResourceType, find
from kubelesson.sim.controllers.base import Controller, Key, is_pod_ready
from kubelesson.sim.network.ingress import INGRESS_CLASSES, INGRESSES, is_traefiks, traefik_classes
from kubelesson.sim.store import Obj, WatchEvent

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager

NAMESPACE = "kube-system"
NAME = "traefik"
INSTANCE = "traefik-kube-system"
SELECTOR = {"app.kubernetes.io/instance": INSTANCE, "app.kubernetes.io/name": NAME}
HELM_ANNOTATIONS = {"meta.helm.sh/release-name": NAME, "meta.helm.sh/release-namespace": NAMESPACE}
CONTROLLER = "traefik.io/ingress-controller"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
WEB_PORT = 8000  # the `web` entry point: where the Service's port 80 leads
STATUS_DELAY = 0.5  # traefik's provider applies changes in batches


@dataclass(frozen=True)
class Release:
    """What k3s's traefik chart looks like in one k3s version."""

    chart: str  # the helm.sh/chart label (Helm writes `+` as `_`)
    image: str
    traefik_port: int  # the dashboard/ping entry point: 9000 in v2, 8080 in v3

    @property
    def major(self) -> int:
        return int(self.image.rsplit(":", 1)[1].split(".")[0])


def release(minor: int) -> Release:
    """The chart and image of the k3s release line (as captures of those releases show
    them; patch releases of k3s moved the patch versions)."""
    image = "rancher/mirrored-library-traefik:"
    if minor <= 28:
        return Release("traefik-25.0.2_up25.0.0", image + "2.10.7", 9000)
    if minor <= 31:
        return Release("traefik-27.0.201_up27.0.2", image + "2.11.18", 9000)
    if minor <= 33:
        return Release("traefik-34.2.1_up34.2.0", image + "3.3.6", 8080)
    if minor == 34:
        return Release("traefik-37.1.1_up37.1.0", image + "3.5.1", 8080)
    return Release("traefik-39.0.701_up39.0.7", image + "3.6.13", 8080)


def helm_labels(chart: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": INSTANCE, "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/name": NAME, "helm.sh/chart": chart}


def _meta(name: str, chart: str, namespace: str | None = NAMESPACE) -> Obj:
    meta: Obj = {"name": name, "labels": helm_labels(chart),
                 "annotations": dict(HELM_ANNOTATIONS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def ingress_class(chart: str) -> Obj:
    meta = _meta(NAME, chart, None)
    meta["annotations"][DEFAULT_CLASS] = "true"
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": meta,
            "spec": {"controller": CONTROLLER}}


def service(chart: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(NAME, chart),
            "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "PreferDualStack",
                     "selector": dict(SELECTOR),
                     "ports": [{"name": "web", "port": 80, "protocol": "TCP", "targetPort": "web"},
                               {"name": "websecure", "port": 443, "protocol": "TCP",
                                "targetPort": "websecure"}]}}


def _args(rel: Release) -> list[str]:
    """The container's arguments as k3s's chart renders them (v2: chart 25/27; v3: chart
    34+, which also lets a Service without endpoints keep its router: allowEmptyServices)."""
    published = f"--providers.kubernetesingress.ingressendpoint.publishedservice={NAMESPACE}/{NAME}"
    if rel.major < 3:
        return ["--global.checknewversion", "--global.sendanonymoususage",
                "--entrypoints.metrics.address=:9100/tcp",
                f"--entrypoints.traefik.address=:{rel.traefik_port}/tcp",
                f"--entrypoints.web.address=:{WEB_PORT}/tcp",
                "--entrypoints.websecure.address=:8443/tcp", "--api.dashboard=true",
                "--ping=true", "--metrics.prometheus=true",
                "--metrics.prometheus.entrypoint=metrics", "--providers.kubernetescrd",
                "--providers.kubernetesingress", published,
                "--entrypoints.websecure.http.tls=true"]
    return ["--entryPoints.metrics.address=:9100/tcp",
            f"--entryPoints.traefik.address=:{rel.traefik_port}/tcp",
            f"--entryPoints.web.address=:{WEB_PORT}/tcp",
            "--entryPoints.websecure.address=:8443/tcp", "--api.dashboard=true", "--ping=true",
            "--metrics.prometheus=true", "--metrics.prometheus.entrypoint=metrics",
            "--providers.kubernetescrd", "--providers.kubernetescrd.allowEmptyServices=true",
            "--providers.kubernetesingress",
            "--providers.kubernetesingress.allowEmptyServices=true", published,
            "--entryPoints.websecure.http.tls=true", "--log.level=INFO"]


def allows_empty_services(minor: int) -> bool:
    """k3s's Traefik v3 chart runs traefik with allowEmptyServices: a Service without ready
    endpoints answers 503 `no available server` instead of 404."""
    return release(minor).major >= 3


def deployment(rel: Release) -> Obj:
    probe = {"failureThreshold": 1, "httpGet": {"path": "/ping", "port": rel.traefik_port,
                                                "scheme": "HTTP"},
             "initialDelaySeconds": 2, "periodSeconds": 10, "successThreshold": 1,
             "timeoutSeconds": 2}
    container = {
        "name": NAME, "image": rel.image, "imagePullPolicy": "IfNotPresent", "args": _args(rel),
        "ports": [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"},
                  {"name": "traefik", "containerPort": rel.traefik_port, "protocol": "TCP"},
                  {"name": "web", "containerPort": WEB_PORT, "protocol": "TCP"},
                  {"name": "websecure", "containerPort": 8443, "protocol": "TCP"}],
        "readinessProbe": probe, "livenessProbe": {**probe, "failureThreshold": 3},
        "securityContext": {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(NAME, rel.chart),
        "spec": {
            "replicas": 1, "selector": {"matchLabels": dict(SELECTOR)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": helm_labels(rel.chart), "annotations": {
                    "prometheus.io/path": "/metrics", "prometheus.io/port": "9100",
                    "prometheus.io/scrape": "true"}},
                "spec": {
                    "serviceAccountName": NAME, "priorityClassName": "system-cluster-critical",
                    "terminationGracePeriodSeconds": 60, "containers": [container],
                    "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                    "securityContext": {"fsGroupChangePolicy": "OnRootMismatch",
                                        "runAsGroup": 65532, "runAsNonRoot": True,
                                        "runAsUser": 65532},
                    "tolerations": [
                        {"key": "CriticalAddonsOnly", "operator": "Exists"},
                        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                         "effect": "NoSchedule"},
                        {"key": "node-role.kubernetes.io/master", "operator": "Exists",
                         "effect": "NoSchedule"}],
                },
            },
        },
    }


def install(cluster: Cluster) -> None:
    """What k3s deploys for ServiceLB and traefik, created through the API as Helm would."""
    rel = release(cluster.options.minor)
    bodies: list[tuple[ResourceType | None, Obj]] = [
        (find("", "v1", "serviceaccounts"),
         {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, rel.chart)}),
        (find("networking.k8s.io", "v1", "ingressclasses"), ingress_class(rel.chart)),
        (SERVICE, service(rel.chart)),
        (find("apps", "v1", "deployments"), deployment(rel)),
    ]
    for rt, body in bodies:
        assert rt is not None
        with contextlib.suppress(ApiError):  # already there (a second install)
            cluster.create(rt, NAMESPACE if rt.namespaced else "", body)


# --- traefik's Ingress status --------------------------------------------------------------


class IngressStatusController(Controller):
    name = "traefik-ingress-status"
    component = "traefik"

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        super().__init__(cluster, manager)
        self._first_seen: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        if event.resource == INGRESSES and event.type != "DELETED":
            yield (event.namespace, str(meta.get("name")))
        elif event.resource == INGRESSES:
            with self._lock:
                self._first_seen.pop((event.namespace, str(meta.get("name")),
                                      str(meta.get("uid"))), None)
        elif (event.resource == INGRESS_CLASSES or (
                event.resource in (SERVICE.key, "pods") and event.namespace == NAMESPACE
                and (meta.get("labels") or {}).get("app.kubernetes.io/name") == NAME)):
            yield ("", "*all*")

    def initial_keys(self) -> Iterable[Key]:
        return [("", "*all*")]

    def sync(self, namespace: str, name: str) -> float | None:
        if name == "*all*":
            for each in self.store.list(INGRESSES)[0]:
                self.manager.enqueue(self, (each["metadata"]["namespace"],
                                            each["metadata"]["name"]))
            return None
        found = self.store.get(INGRESSES, namespace, name)
        if found is None or not is_traefiks(found, traefik_classes(self.store)):
            return None
        ingress: Obj = found
        wanted = self.published()
        if wanted is None:
            return None  # no traefik running, or its Service has no load balancer yet
        key = (namespace, name, str(ingress["metadata"].get("uid")))
        now = time.monotonic()
        with self._lock:
            seen = self._first_seen.setdefault(key, now)
        if now - seen < STATUS_DELAY:
            return STATUS_DELAY - (now - seen)
        current = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if {_address(i) for i in current} == {_address(i) for i in wanted} and len(
                current) == len(wanted):
            return None
        self.write_status(INGRESSES, ingress, {"loadBalancer": {"ingress": wanted}})
        return None

    def published(self) -> list[Obj] | None:
        """The `traefik` Service's load balancer ingress (without ipMode, which an Ingress
        status does not have), if a traefik pod is ready to serve."""
        pods, _ = self.store.list("pods", NAMESPACE)
        if not any(is_pod_ready(p) and not p["metadata"].get("deletionTimestamp")
                   and all((p["metadata"].get("labels") or {}).get(k) == v
                           for k, v in SELECTOR.items()) for p in pods):
            return None
        svc = self.store.get(SERVICE.key, NAMESPACE, NAME)
        found = (((svc or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress")
        if not found:
            return None
        return [{k: v for k, v in entry.items() if k in ("ip", "hostname", "ports")}
                for entry in found]


def _address(entry: Obj) -> str:
    return str(entry.get("hostname", "")) + str(entry.get("ip", ""))
