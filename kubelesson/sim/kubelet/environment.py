"""A container's environment as the kubelet builds it (pkg/kubelet/kubelet_pods.go,
makeEnvironmentVariables), and the environments of running containers for the simulated
programs (apps/) to read.

In the kubelet's order: the Service variables (`TRAQ_SERVICE_HOST`, `TRAQ_PORT=tcp://...`,
Docker-link style) of every Service in the pod's namespace when `enableServiceLinks` is
true, and of the `kubernetes` Service always; then `envFrom` (ConfigMaps and Secrets, with
their prefix); then `env`, whose values may name earlier variables as `$(NAME)`. A missing
ConfigMap, Secret or key that is not optional fails the container with the kubelet's words
(`secret "x" not found`, `couldn't find key password in Secret default/x`), which the pod
shows as CreateContainerConfigError.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Mapping
from typing import Any

from kubelesson.sim.store import Obj, Store

MASTER_NAMESPACE = "default"
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(Exception):
    """The container cannot be configured; str() is the kubelet's message."""


def _var_name(name: str) -> str:
    return name.upper().replace("-", "_")


def _ip_set(service: Obj) -> bool:
    ip = (service.get("spec") or {}).get("clusterIP") or ""
    return bool(ip) and ip != "None"


def service_variables(service: Obj) -> list[tuple[str, str]]:
    """envvars.FromServices for one Service: host and port, then the Docker link forms."""
    spec = service.get("spec") or {}
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if not _ip_set(service) or not ports:
        return []
    prefix = _var_name(str(service["metadata"]["name"]))
    ip = str(spec["clusterIP"])
    found = [(f"{prefix}_SERVICE_HOST", ip), (f"{prefix}_SERVICE_PORT", str(ports[0].get("port")))]
    found += [(f"{prefix}_SERVICE_PORT_{_var_name(str(p['name']))}", str(p.get("port")))
              for p in ports if p.get("name")]
    for i, port in enumerate(ports):
        protocol = str(port.get("protocol") or "TCP")
        address = f"{protocol.lower()}://{ip}:{port.get('port')}"
        if i == 0:
            found.append((f"{prefix}_PORT", address))
        link = f"{prefix}_PORT_{port.get('port')}_{protocol.upper()}"
        found += [(link, address), (f"{link}_PROTO", protocol.lower()),
                  (f"{link}_PORT", str(port.get("port"))), (f"{link}_ADDR", ip)]
    return found


def _service_env(store: Store, pod: Obj) -> dict[str, str]:
    namespace = str(pod["metadata"].get("namespace") or "default")
    spec = pod.get("spec") or {}
    chosen: dict[str, Obj] = {}
    master = store.get("services", MASTER_NAMESPACE, "kubernetes")
    if master is not None:
        chosen["kubernetes"] = master
    if spec.get("enableServiceLinks", True) is not False:
        services, _ = store.list("services", namespace)
        for service in services:  # the pod's own namespace wins over the master's
            chosen[str(service["metadata"]["name"])] = service
    env: dict[str, str] = {}
    for service in chosen.values():
        env.update(service_variables(service))
    return env


def _decoded(obj: Obj, kind: str) -> dict[str, str]:
    if kind == "ConfigMap":
        values = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
        for key, raw in (obj.get("binaryData") or {}).items():
            values.setdefault(str(key), _b64(raw))
        return values
    return {str(k): _b64(v) for k, v in (obj.get("data") or {}).items()}


def _b64(raw: Any) -> str:
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return ""


class _Objects:
    """The ConfigMaps and Secrets one container reads, each fetched once (as the kubelet
    caches them while it builds the environment)."""

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self._seen: dict[tuple[str, str], dict[str, str] | None] = {}

    def get(self, kind: str, name: str) -> dict[str, str] | None:
        key = (kind, name)
        if key not in self._seen:
            resource = "configmaps" if kind == "ConfigMap" else "secrets"
            obj = self.store.get(resource, self.namespace, name)
            self._seen[key] = None if obj is None else _decoded(obj, kind)
        return self._seen[key]

    def require(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        found = self.get(kind, name)
        if found is None and not optional:
            raise ConfigError(f'{kind.lower()} "{name}" not found')
        return found


def _expand(value: str, env: Mapping[str, str]) -> str:
    """$(VAR) from the variables defined so far; $$ escapes; unknown references stay."""
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (end := value.find(")", i)) > 0:
            name = value[i + 2:end]
            out.append(env[name] if name in env else value[i:end + 1])
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _env_from(objects: _Objects, container: Mapping[str, Any], env: dict[str, str]) -> None:
    for source in container.get("envFrom") or []:
        if not isinstance(source, Mapping):
            continue
        prefix = str(source.get("prefix") or "")
        for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(field)
            if not isinstance(ref, Mapping):
                continue
            found = objects.require(kind, str(ref.get("name") or ""), bool(ref.get("optional")))
            for key, value in (found or {}).items():
                if _C_IDENTIFIER.match(prefix + key):  # others are skipped, as the kubelet does
                    env[prefix + key] = value


def _value_from(objects: _Objects, namespace: str, pod: Obj,
                source: Mapping[str, Any]) -> str | None:
    """The value of one `valueFrom`; None when an optional reference is missing."""
    for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
        ref = source.get(field)
        if not isinstance(ref, Mapping):
            continue
        name, key = str(ref.get("name") or ""), str(ref.get("key") or "")
        optional = bool(ref.get("optional"))
        found = objects.require(kind, name, optional)
        if found is None:
            return None
        if key not in found:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
        return found[key]
    ref = source.get("fieldRef")
    if isinstance(ref, Mapping):
        return _field(pod, str(ref.get("fieldPath") or ""))
    return ""


def _field(pod: Obj, path: str) -> str:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"), "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"), "status.podIP": status.get("podIP"),
    }
    if path in simple:
        return str(simple[path] or "")
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
    return ""


def build(store: Store, pod: Obj, container: Mapping[str, Any]) -> dict[str, str]:
    """The container's environment; ConfigError when the kubelet could not build it."""
    namespace = str(pod["metadata"].get("namespace") or "default")
    env = _service_env(store, pod)
    objects = _Objects(store, namespace)
    _env_from(objects, container, env)
    for item in container.get("env") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        source = item.get("valueFrom")
        if isinstance(source, Mapping):
            value = _value_from(objects, namespace, pod, source)
            if value is None:
                continue
        else:
            value = _expand(str(item.get("value") or ""), env)
        env[str(item["name"])] = value
    return env


# --- the environments of running containers ------------------------------------------------

_lock = threading.Lock()
_running: dict[tuple[str, str], dict[str, str]] = {}  # (pod uid, container) -> environment


def remember(uid: str, container: str, env: Mapping[str, str]) -> None:
    with _lock:
        _running[(uid, container)] = dict(env)


def forget(uid: str) -> None:
    with _lock:
        for key in [k for k in _running if k[0] == uid]:
            del _running[key]


def of(uid: str, container: str) -> dict[str, str] | None:
    """What a running container was started with (None before it started)."""
    with _lock:
        found = _running.get((uid, container))
        return dict(found) if found is not None else None
