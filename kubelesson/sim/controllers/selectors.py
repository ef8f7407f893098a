"""apps/v1 label selectors (matchLabels + matchExpressions) as the controllers use them.

A missing selector selects nothing and an empty one selects everything, as
metav1.LabelSelectorAsSelector has it; `describe()` is metav1.FormatLabelSelector.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def _requirements(selector: Obj) -> list[tuple[str, str, list[str]]]:
    """(key, operator, values) for every term, sorted by key like the apiserver's selector."""
    terms: list[tuple[str, str, list[str]]] = [
        (str(k), "=", [str(v)]) for k, v in (selector.get("matchLabels") or {}).items()
    ]
    for expr in selector.get("matchExpressions") or []:
        terms.append((str(expr.get("key", "")), str(expr.get("operator", "")),
                      sorted(str(v) for v in expr.get("values") or [])))
    return sorted(terms, key=lambda t: t[0])


def _term_matches(op: str, values: list[str], present: bool, value: str | None) -> bool:
    if op == "=":
        return present and value == values[0]
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    return False


def matches(selector: Obj | None, labels: dict[str, str] | None) -> bool:
    if selector is None:
        return False
    found = labels or {}
    return all(_term_matches(op, values, key in found, found.get(key))
               for key, op, values in _requirements(selector))


def is_empty(selector: Obj | None) -> bool:
    """No terms at all (an empty selector selects everything)."""
    return selector is not None and not _requirements(selector)


def describe(selector: Obj | None) -> str:
    """`app=caddy,tier in (a,b)`, or `<none>` when there is nothing to print."""
    if not selector:
        return "<none>"
    parts = []
    for key, op, values in _requirements(selector):
        if op == "=":
            parts.append(f"{key}={values[0]}")
        elif op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!" + key)
    return ",".join(parts) or "<none>"
