"""Table cells for Endpoints and EndpointSlices, as kube-apiserver's printers make them
(pkg/printers/internalversion: formatEndpoints, formatDiscoveryPorts,
formatDiscoveryEndpoints, listWithMoreString). Registered in printers.PRINTERS."""

from __future__ import annotations

from typing import Any

from kubelesson.sim.timeutil import age

Obj = dict[str, Any]
SHOWN = 3  # the printers list at most three entries, then "+ N more..."


def _with_more(items: list[str], count: int, *, empty: str) -> str:
    text = ",".join(items[:SHOWN])
    if count > SHOWN:
        return f"{text} + {count - SHOWN} more..."
    return text or empty


def endpoints_text(obj: Obj) -> str:
    """ENDPOINTS of `get endpoints`: ready `ip:port` pairs. No subsets at all is `<none>`;
    subsets with only not-ready addresses give an empty cell, as the apiserver prints it."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    pairs: list[str] = []
    for subset in subsets:
        addresses = [str(a.get("ip", "")) for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            pairs += addresses
            continue
        for port in ports:
            pairs += [f"{ip}:{port.get('port')}" for ip in addresses]
    return _with_more(pairs, len(pairs), empty="")


def endpoints_cells(obj: Obj, now: float) -> list[Any]:
    return [obj["metadata"]["name"], endpoints_text(obj),
            age(obj["metadata"].get("creationTimestamp"), now)]


def slice_ports_text(obj: Obj) -> str:
    """PORTS: each port's number (its name when it has none, `*` when neither)."""
    ports = obj.get("ports") or []
    shown = []
    for port in ports:
        if port.get("port") is not None:
            shown.append(str(port["port"]))
        elif port.get("name") is not None:
            shown.append(str(port["name"]))
        else:
            shown.append("*")
    return _with_more(shown, len(ports), empty="<unset>")


def slice_endpoints_text(obj: Obj) -> str:
    """ENDPOINTS: every address of every endpoint, ready or not."""
    addresses = [str(a) for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return _with_more(addresses, len(addresses), empty="<unset>")


def endpointslice_cells(obj: Obj, now: float) -> list[Any]:
    return [obj["metadata"]["name"], str(obj.get("addressType", "")), slice_ports_text(obj),
            slice_endpoints_text(obj), age(obj["metadata"].get("creationTimestamp"), now)]


ENDPOINTS_COLUMNS = [("Name", "string", 0), ("Endpoints", "string", 0), ("Age", "string", 0)]
ENDPOINTSLICE_COLUMNS = [("Name", "string", 0), ("AddressType", "string", 0),
                         ("Ports", "string", 0), ("Endpoints", "string", 0),
                         ("Age", "string", 0)]
