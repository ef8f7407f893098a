"""`kubelesson doctor`: every precondition of a run, checked up front, one line each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubelesson import core, lesson, ports, sandbox
from kubelesson.errors import KubelessonError
from kubelesson.kubectl import Kubectl, check_version, last_line, parse_version


@dataclass(frozen=True)
class Finding:
    ok: bool
    key: str  # message key (doctor.* or error.*)
    params: dict[str, Any]


def _lesson_ports(root_lessons: list[lesson.Lesson]) -> list[int]:
    ports: set[int] = set()
    for found in root_lessons:
        for step in found.steps:
            if "port-forward" in step.argv:
                for word in step.argv:
                    match = re.match(r"^(\d+)(:\d+)?$", word)
                    if match:
                        ports.add(int(match[1]))
    return sorted(ports)


def _permissions(tool: Kubectl) -> Finding:
    """`kubectl auth can-i` for what a sandboxed lesson needs; its answer is its last line
    (a warning may come first)."""
    answers = {resource: last_line(tool.run(["auth", "can-i", "create", resource], timeout=30).output)
               for resource in ("namespaces", "pods")}
    denied = [f"cannot create {resource}" for resource, answer in answers.items() if answer == "no"]
    if denied:
        return Finding(False, "doctor.no_permissions", {"detail": ", ".join(denied)})
    unknown = [answer for answer in answers.values() if answer != "yes"]
    if unknown:
        return Finding(True, "doctor.permissions_unknown", {"detail": unknown[0]})
    return Finding(True, "doctor.permissions", {})


def run(options: core.Options) -> Iterator[Finding]:
    """Yield findings in order; stop where a later check would make no sense."""
    folder = lesson.lessons_dir(options.root)
    try:
        found = lesson.load_all(options.root)
        yield Finding(bool(found), "doctor.lessons", {"count": len(found), "folder": str(folder)})
    except KubelessonError as exc:
        found = []
        yield Finding(False, exc.key, exc.params)
    try:
        tool = core.user_kubectl(options)
        # JSON: the plain form changed between kubectl versions (and old ones print a warning).
        client = tool.run(["version", "--client", "-o", "json"], timeout=20).output
        check_version(parse_version(client), tool.path)
        version = re.search(r'"gitVersion":\s*"([^"]+)"', client)
        yield Finding(True, "doctor.kubectl", {"path": tool.path, "version": version[1] if version else "?"})
        info = sandbox.choose_context(tool, options.context)
        yield Finding(True, "doctor.context", {"context": info.name})
        pinned = tool.for_context(info.name)
        _, server_version = sandbox.check_reachable(pinned, info.server)
        yield Finding(True, "doctor.cluster", {"server": info.server, "version": server_version})
        yield _permissions(pinned)
    except KubelessonError as exc:
        yield Finding(False, exc.key, exc.params)
    for port in _lesson_ports(found):
        free = ports.port_is_free(port)
        yield Finding(True, "doctor.port" if free else "doctor.port_busy", {"port": port})
