"""Server-side Table cells of the networking.k8s.io kinds (lesson 5), as kube-apiserver's
printers.go fills them: `get ingress` (NAME CLASS HOSTS ADDRESS PORTS AGE) and `get
ingressclass` (NAME CONTROLLER PARAMETERS AGE). printers.py registers them.

The server prints with `wide` set, so the ADDRESS of an Ingress is never cut short (the
chapter's four node addresses come out whole).
"""

from __future__ import annotations

from typing import Any

from kubelesson.sim.timeutil import age

Obj = dict[str, Any]
Cells = list[Any]
NONE = "<none>"


def _hosts(rules: list[Any]) -> str:
    """formatHosts: the hosts of the first rules (rules without one are skipped) until three
    are listed, then ` + N more...` counting every rule after the third; `*` for none."""
    listed: list[str] = []
    more = False
    for rule in rules:
        if len(listed) == 3:
            more = True
        host = rule.get("host") if isinstance(rule, dict) else None
        if not more and host:
            listed.append(str(host))
    if not listed:
        return "*"
    return ",".join(listed) + (f" + {len(rules) - 3} more..." if more else "")


def load_balancer_addresses(status: Any) -> str:
    """The sorted, unique IPs (or hostnames) of a load balancer status."""
    ingress = (status or {}).get("ingress") if isinstance(status, dict) else None
    found = {str(i.get("ip") or i.get("hostname") or "") for i in ingress or []
             if isinstance(i, dict)}
    return ",".join(sorted(found - {""}))


def ingress_cells(obj: Obj, now: float) -> Cells:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return [
        obj["metadata"]["name"],
        spec.get("ingressClassName") or NONE,
        _hosts(spec.get("rules") or []),
        load_balancer_addresses(status.get("loadBalancer")),
        "80, 443" if spec.get("tls") else "80",
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


def ingress_class_cells(obj: Obj, now: float) -> Cells:
    spec = obj.get("spec") or {}
    parameters = spec.get("parameters")
    shown = NONE
    if isinstance(parameters, dict):
        kind = str(parameters.get("kind") or "")
        if parameters.get("apiGroup"):
            kind += "." + str(parameters["apiGroup"])
        shown = f"{kind}/{parameters.get('name') or ''}"
    return [
        obj["metadata"]["name"],
        spec.get("controller") or "",
        shown,
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


INGRESS_COLUMNS = [("Name", "string", 0), ("Class", "string", 0), ("Hosts", "string", 0),
                   ("Address", "string", 0), ("Ports", "string", 0), ("Age", "string", 0)]
INGRESS_CLASS_COLUMNS = [("Name", "string", 0), ("Controller", "string", 0),
                         ("Parameters", "string", 0), ("Age", "string", 0)]
