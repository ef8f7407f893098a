"""kube-apiserver's part of Services, Ingresses and IngressClasses (lesson 5): defaults and
validation, installed as part of the store's admission hook.

* Services: node ports and the type-dependent defaults (network/nodeports.py).
* Ingresses (networking.k8s.io/v1): an empty `status.loadBalancer` on create; the
  DefaultIngressClass admission plugin fills `spec.ingressClassName` with the default
  IngressClass when neither the field nor the old `kubernetes.io/ingress.class` annotation
  names one; the checks of pkg/apis/networking/validation that a manifest is likely to
  break (rules or a default backend, pathType, absolute paths, a backend with a service
  name and a port, no IP address as host, class and annotation agreeing).
* IngressClasses: `spec.controller` is required and may not change.

The messages are the apiserver's (values rendered in Go syntax before 1.34 and as JSON
from 1.34, as admission.py does for the apps kinds).
"""

from __future__ import annotations

import re
from typing import Any

from kubelesson.sim.api import errors
from kubelesson.sim.api.cluster import DNS1035_MSG, SUBDOMAIN_MSG
from kubelesson.sim.api.resources import SERVICE, by_kind
from kubelesson.sim.network import nodeports
from kubelesson.sim.network.dns import is_ip
from kubelesson.sim.options import SimOptions
from kubelesson.sim.store import Obj, Store

INGRESSES = "ingresses.networking.k8s.io"
INGRESS_CLASSES = "ingressclasses.networking.k8s.io"
INGRESS = by_kind("networking.k8s.io/v1", "Ingress")
INGRESS_CLASS = by_kind("networking.k8s.io/v1", "IngressClass")
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
_BAD_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_SUFFIXES = ("/..", "/.")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_WILDCARD = re.compile(r"^\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")
WILDCARD_MSG = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, "
    "which must consist of lower case alphanumeric characters, '-' or '.' and end with an "
    "alphanumeric character (e.g. '*.example.com', regex used for validation is "
    "'\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
Cause = tuple[str, str, str]


class NetworkingAdmission:
    """The admission hook for services, ingresses and ingressclasses (under the store lock)."""

    def __init__(self, store: Store, options: SimOptions) -> None:
        self.store = store
        self.minor = options.minor

    def __call__(self, resource: str, old: Obj | None, new: Obj) -> None:
        if resource == SERVICE.key:
            nodeports.admit_service(self.store, old, new)
        elif resource == INGRESSES:
            self._ingress(old, new)
        elif resource == INGRESS_CLASSES:
            self._ingress_class(old, new)

    # -- ingresses -----------------------------------------------------------------------
    def _ingress(self, old: Obj | None, new: Obj) -> None:
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        if old is None:
            new["status"] = {"loadBalancer": {}}
            self._default_class(new, spec)
        elif spec == old.get("spec"):
            return  # a status or metadata write
        causes = self.ingress_causes(new, spec, creating=old is None)
        if causes:
            assert INGRESS is not None
            raise errors.invalid(INGRESS, str(new["metadata"].get("name", "")), causes)

    def _default_class(self, ingress: Obj, spec: Obj) -> None:
        """The DefaultIngressClass admission plugin (on create only)."""
        annotations = ingress["metadata"].get("annotations") or {}
        if spec.get("ingressClassName") or CLASS_ANNOTATION in annotations:
            return
        classes, _ = self.store.list(INGRESS_CLASSES)
        defaults = [c for c in classes if (c["metadata"].get("annotations") or {}).get(
            DEFAULT_CLASS_ANNOTATION) == "true"]
        if defaults:  # several: the newest one, as 1.30+ picks
            newest = max(defaults, key=lambda c: (c["metadata"].get("creationTimestamp", ""),
                                                  c["metadata"]["name"]))
            spec["ingressClassName"] = newest["metadata"]["name"]

    def render(self, value: Any, go: str) -> str:
        """A value as field.Invalid prints it: Go syntax before 1.34, JSON from 1.34."""
        if self.minor >= 34:
            return "null" if value is None else _quote(str(value))
        return go

    def ingress_causes(self, ingress: Obj, spec: Obj, *, creating: bool) -> list[Cause]:
        causes: list[Cause] = []
        rules = [r for r in spec.get("rules") or [] if isinstance(r, dict)]
        backend = spec.get("defaultBackend")
        if not rules and not isinstance(backend, dict):
            shown = self.render(None, "[]networking.IngressRule(nil)")
            causes.append(("FieldValueInvalid", "spec", f"Invalid value: {shown}: either "
                           "`defaultBackend` or `rules` must be specified"))
        if isinstance(backend, dict):
            causes += _backend_causes(backend, "spec.defaultBackend")
        for i, rule in enumerate(rules):
            causes += _rule_causes(rule, f"spec.rules[{i}]")
        name = spec.get("ingressClassName")
        if isinstance(name, str) and name and not _SUBDOMAIN.match(name):
            causes.append(("FieldValueInvalid", "spec.ingressClassName",
                           f"Invalid value: {_quote(name)}: {SUBDOMAIN_MSG}"))
        annotation = (ingress["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION)
        if creating and annotation is not None and name and annotation != name:
            causes.append(("FieldValueInvalid", f"annotations.{CLASS_ANNOTATION}",
                           f"Invalid value: {_quote(annotation)}: must match "
                           "`ingressClassName` when both are specified"))
        return causes

    # -- ingress classes -----------------------------------------------------------------
    def _ingress_class(self, old: Obj | None, new: Obj) -> None:
        spec = new.get("spec")
        if not isinstance(spec, dict):
            spec = new["spec"] = {}
        causes: list[Cause] = []
        controller = spec.get("controller")
        if not controller:
            causes.append(("FieldValueRequired", "spec.controller", "Required value"))
        elif old is not None and controller != (old.get("spec") or {}).get("controller"):
            causes.append(("FieldValueInvalid", "spec.controller",
                           f"Invalid value: {_quote(str(controller))}: field is immutable"))
        if causes:
            assert INGRESS_CLASS is not None
            raise errors.invalid(INGRESS_CLASS, str(new["metadata"].get("name", "")), causes)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'



def _rule_causes(rule: Obj, where: str) -> list[Cause]:
    causes: list[Cause] = []
    host = rule.get("host") or ""
    if host:
        if is_ip(host):
            causes.append(("FieldValueInvalid", f"{where}.host",
                           f"Invalid value: {_quote(host)}: must be a DNS name, not an IP address"))
        pattern, message = (_WILDCARD, WILDCARD_MSG) if "*" in host else (_SUBDOMAIN, SUBDOMAIN_MSG)
        if not pattern.match(host) or len(host) > 253:
            causes.append(("FieldValueInvalid", f"{where}.host",
                           f"Invalid value: {_quote(host)}: {message}"))
    http = rule.get("http")
    if isinstance(http, dict):
        paths = [p for p in http.get("paths") or [] if isinstance(p, dict)]
        if not paths:
            causes.append(("FieldValueRequired", f"{where}.http.paths", "Required value"))
        for j, path in enumerate(paths):
            causes += _path_causes(path, f"{where}.http.paths[{j}]")
    return causes


def _path_causes(path: Obj, where: str) -> list[Cause]:
    kind = path.get("pathType")
    if not kind:
        return [("FieldValueRequired", f"{where}.pathType",
                 "Required value: pathType must be specified")]
    value = str(path.get("path") or "")
    causes: list[Cause] = []
    if kind in ("Exact", "Prefix"):
        if not value.startswith("/"):
            causes.append(("FieldValueInvalid", f"{where}.path",
                           f"Invalid value: {_quote(value)}: must be an absolute path"))
        for sequence in _BAD_SEQUENCES:
            if value and sequence in value:
                causes.append(("FieldValueInvalid", f"{where}.path",
                               f"Invalid value: {_quote(value)}: must not contain '{sequence}'"))
        for suffix in _BAD_SUFFIXES:
            if value and value.endswith(suffix):
                causes.append(("FieldValueInvalid", f"{where}.path",
                               f"Invalid value: {_quote(value)}: cannot end with '{suffix}'"))
    elif kind == "ImplementationSpecific":
        if value and not value.startswith("/"):
            causes.append(("FieldValueInvalid", f"{where}.path",
                           f"Invalid value: {_quote(value)}: must be an absolute path"))
    else:
        supported = ", ".join(_quote(t) for t in PATH_TYPES)
        causes.append(("FieldValueNotSupported", f"{where}.pathType",
                       f"Unsupported value: {_quote(str(kind))}: supported values: {supported}"))
    backend = path.get("backend")
    return causes + _backend_causes(backend if isinstance(backend, dict) else {},
                                    f"{where}.backend")


def _backend_causes(backend: Obj, where: str) -> list[Cause]:
    service = backend.get("service")
    resource = backend.get("resource")
    if isinstance(service, dict) and isinstance(resource, dict):
        return [("FieldValueInvalid", where,
                 'Invalid value: "": cannot set both resource and service backends')]
    if isinstance(resource, dict):
        return []
    if not isinstance(service, dict):
        return [("FieldValueInvalid", where,
                 'Invalid value: "": resource or service backend is required')]
    causes: list[Cause] = []
    name = str(service.get("name") or "")
    if not name:
        causes.append(("FieldValueRequired", f"{where}.service.name", "Required value"))
    elif not _DNS1035.match(name) or len(name) > 63:
        causes.append(("FieldValueInvalid", f"{where}.service.name",
                       f"Invalid value: {_quote(name)}: {DNS1035_MSG}"))
    given = service.get("port")
    port: Obj = given if isinstance(given, dict) else {}
    port_name, number = port.get("name") or "", port.get("number") or 0
    if port_name and number:
        causes.append(("FieldValueInvalid", where,
                       'Invalid value: "": cannot set both port name & port number'))
    elif port_name:
        causes += [("FieldValueInvalid", f"{where}.service.port.name",
                    f"Invalid value: {_quote(str(port_name))}: {message}")
                   for message in port_name_errors(str(port_name))]
    elif number:
        if not isinstance(number, int) or not 1 <= number <= 65535:
            causes.append(("FieldValueInvalid", f"{where}.service.port.number",
                           f"Invalid value: {number}: must be between 1 and 65535, inclusive"))
    else:
        causes.append(("FieldValueRequired", where,
                       "Required value: port name or number is required"))
    return causes


def port_name_errors(name: str) -> list[str]:
    """validation.IsValidPortName (an IANA_SVC_NAME)."""
    found = []
    if len(name) > 15:
        found.append("must be no more than 15 characters")
    if not _PORT_NAME.match(name):
        found.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", name):
        found.append("must contain at least one letter (a-z)")
    if "--" in name:
        found.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        found.append("must not begin or end with a hyphen")
    return found
