"""Discovery documents: aggregated (/api, /apis), legacy lists, and /version."""

from __future__ import annotations

from typing import Any

from kubelesson.sim.api.resources import GROUPS, ResourceType, in_group
from kubelesson.sim.options import SimOptions

# kubectl reads aggregated discovery only when the reply carries exactly this media type;
# the same body as plain application/json is taken for the legacy format and fails.
AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_VERSIONS = ("v2", "v2beta1")  # kubectl 1.30+ asks for v2, 1.26-1.29 for v2beta1


def aggregated_content_type(version: str) -> str:
    return f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"


def aggregated_version(accept: str) -> str | None:
    """The aggregated-discovery version the client accepts first, None for legacy only."""
    for media_range in accept.split(","):
        params = dict(
            part.strip().split("=", 1) for part in media_range.split(";")[1:] if "=" in part
        )
        if (params.get("g") == "apidiscovery.k8s.io" and params.get("as") ==
                "APIGroupDiscoveryList" and params.get("v") in AGGREGATED_VERSIONS):
            return params["v"]
    return None


def wants_aggregated(accept: str) -> bool:
    return aggregated_version(accept) is not None


def _response_kind(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": _response_kind(rt.group, rt.version, rt.kind),
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.subresources:
        entry["subresources"] = [
            {
                "subresource": sub.name,
                "responseKind": _response_kind(sub.group, sub.version, sub.kind),
                "verbs": list(sub.verbs),
            }
            for sub in rt.subresources
        ]
    return entry


def _aggregated_group(group: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"creationTimestamp": None}
    if group:
        metadata["name"] = group
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": "v1",
                "resources": [_aggregated_resource(rt) for rt in in_group(group)],
                "freshness": "Current",
            }
        ],
    }


def aggregated(core: bool, version: str = "v2") -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (core=True) or /apis (v2 and v2beta1 agree)."""
    groups = [""] if core else [g for g in GROUPS if g]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": [_aggregated_group(g) for g in groups],
    }


def legacy_api(host: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    }


def legacy_apis() -> dict[str, Any]:
    groups = []
    for group in GROUPS:
        if not group:
            continue
        gv = {"groupVersion": f"{group}/v1", "version": "v1"}
        groups.append({"name": group, "versions": [gv], "preferredVersion": gv})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The legacy APIResourceList of one group-version, None if not served."""
    if group not in GROUPS or version != "v1":
        return None
    resources: list[dict[str, Any]] = []
    for rt in in_group(group):
        entry: dict[str, Any] = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_entry: dict[str, Any] = {
                "name": f"{rt.plural}/{sub.name}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            if sub.group:
                sub_entry["group"] = sub.group
                sub_entry["version"] = sub.version
            resources.append(sub_entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


def version_info(options: SimOptions) -> dict[str, str]:
    """/version. gitVersion drives the kubectl dispatcher's choice of bundled binary."""
    raw = options.kube_version.lstrip("v")
    parts = raw.split(".")
    major = parts[0] if parts else "1"
    minor = parts[1] if len(parts) > 1 else "0"
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(max(int(minor) - 1, 0)) if minor.isdigit() else minor,
        "gitVersion": options.kube_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
