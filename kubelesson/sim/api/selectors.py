"""labelSelector and fieldSelector parsing, as predicates over stored objects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from kubelesson.sim.api.errors import ApiError, bad_request

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (`a in (x,y),b`)."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


_SET_RE = re.compile(r"^(!?)([A-Za-z0-9_./-]+)\s+(in|notin)\s+\((.*)\)$")
_CMP_RE = re.compile(r"^([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)$")
_EXISTS_RE = re.compile(r"^(!?)([A-Za-z0-9_./-]+)$")


def _label_term(term: str) -> Predicate:
    m = _SET_RE.match(term)
    if m and not m.group(1):
        key, op = m.group(2), m.group(3)
        values = {v.strip() for v in m.group(4).split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = _CMP_RE.match(term)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _EXISTS_RE.match(term)
    if m:
        neg, key = m.groups()
        if neg:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise bad_request(f"unable to parse requirement: invalid label selector: {term!r}")


def label_selector(text: str) -> Predicate | None:
    terms = [_label_term(t) for t in _split_top(text)]
    if not terms:
        return None

    def matches(obj: Obj) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(term(labels) for term in terms)

    return matches


def field_value(obj: Obj, path: str) -> str:
    """A dotted field path's value as the apiserver compares it ("" when missing)."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")


def field_selector(text: str) -> Predicate | None:
    terms: list[tuple[str, bool, str]] = []
    for raw in re.split(r"(?<!\\),", text):
        term = raw.strip()
        if not term:
            continue
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)(.*)$", term)
        if m is None:
            raise ApiError(
                400, "BadRequest", f"invalid field selector: {term!r}"
            )
        terms.append((m.group(1), m.group(2) != "!=", _unescape(m.group(3))))
    if not terms:
        return None

    def matches(obj: Obj) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in terms)

    return matches


def both(first: Predicate | None, second: Predicate | None) -> Predicate | None:
    if first is None:
        return second
    if second is None:
        return first
    return lambda obj: first(obj) and second(obj)
