"""API errors, carried as Kubernetes Status objects so kubectl prints its usual lines."""

from __future__ import annotations

import json
from typing import Any

from kubelesson.sim.api.resources import ResourceType


class ApiError(Exception):
    """An error answered as a `Status` with the given HTTP code and reason."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(rt: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": rt.plural}
    if rt.group:
        details["group"] = rt.group
    return details


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.key} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.key} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.key} "{name}": {why}',
        _details(rt, name),
    )


def rbac_denied(rt: ResourceType, verb: str, namespace: str) -> ApiError:
    """The wording kube-apiserver's RBAC authorizer uses for a denied request."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    message = (f'{rt.key} is forbidden: User "kubelesson-sim-learner" cannot {verb} resource '
               f'"{rt.plural}" in API group "{rt.group}" {scope}')
    details = {"kind": rt.plural, **({"group": rt.group} if rt.group else {})}
    return ApiError(403, "Forbidden", message, details)


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
        {},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
        f"accepted media types include: application/json-patch+json, application/merge-patch+json,"
        f" application/strategic-merge-patch+json (got {content_type!r})", {},
    )


def forbidden(rt: ResourceType, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{rt.key} "{name}" is forbidden: {why}', _details(rt, name)
    )


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """causes: (reason, field, message) such as ("FieldValueRequired", "spec.containers",
    "Required value"). kubectl prints `The Pod "x" is invalid: <field>: <message>`."""
    parts = [f"{field}: {msg}" for _, field, msg in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    details = _details(rt, name)
    details["kind"] = rt.kind
    details["causes"] = [
        {"reason": reason, "message": msg, "field": field} for reason, field, msg in causes
    ]
    return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {joined}', details)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def cannot_decode(rt_kind: str, version: str, problem: str) -> ApiError:
    """A body that does not decode into the kind's Go struct (a value of the wrong type)."""
    return bad_request(f'{rt_kind} in version "{version}" cannot be handled as a {rt_kind}: '
                       f"{problem}")


def invalid_patch(patched: Any, problem: str) -> ApiError:
    """A patch whose result does not decode: the apiserver reports the patched object as the
    invalid value of a field called `patch`, with no kind and no name."""
    rendered = json.dumps(json.dumps(patched, separators=(",", ":")), ensure_ascii=False)
    message = f"Invalid value: {rendered}: {problem}"
    return ApiError(422, "Invalid", f' "" is invalid: patch: {message}', {
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "patch"}]})
