"""The user's kubeconfig: which context to use, and the sandbox's view of it.

kubelesson never copies credentials. The sandbox's kubeconfig is a small file that
defines one context — the user's own context name, cluster and user, with the sandbox
namespace — and it is put in front of the user's own files in ``KUBECONFIG``. kubectl
merges the files (for a name defined twice, the first file wins), so the lesson's
commands run verbatim in the sandbox and read the credentials from where they already are.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kubelesson.errors import KubeconfigMissing, NoContext


@dataclass(frozen=True)
class ContextInfo:
    name: str
    cluster: str
    user: str
    server: str  # host:port as kubectl prints it, never credentials
    files: tuple[Path, ...]  # the user's kubeconfig files, in KUBECONFIG order


def config_files(env: Mapping[str, str]) -> tuple[Path, ...]:
    """The files kubectl reads: ``$KUBECONFIG`` (a list), else ``~/.kube/config``."""
    listed = env.get("KUBECONFIG", "")
    if listed:
        return tuple(Path(part) for part in listed.split(os.pathsep) if part)
    return (Path(env.get("HOME", "~")).expanduser() / ".kube" / "config",)


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # kubectl skips listed files that do not exist, and so do we
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        raise NoContext("error.bad_context", context=str(path)) from None
    return data if isinstance(data, dict) else {}


def _first(configs: list[dict[str, Any]], section: str, name: str) -> dict[str, Any] | None:
    for config in configs:
        for entry in config.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                body = entry.get(section[:-1])  # "contexts" -> "context"
                return body if isinstance(body, dict) else {}
    return None


def host_port(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url


def find_context(env: Mapping[str, str], context: str | None) -> ContextInfo:
    """``context``, or the current one, as kubectl would resolve it from these files."""
    files = config_files(env)
    if files and not any(path.exists() for path in files):
        # kubectl would carry on with an empty config and say "no context": name the file.
        raise KubeconfigMissing(files=", ".join(str(path) for path in files))
    configs = [_load(path) for path in files]
    name = context or next((c["current-context"] for c in configs if c.get("current-context")), "")
    if not name:
        raise NoContext()
    found = _first(configs, "contexts", name)
    if found is None or not found.get("cluster"):
        raise NoContext("error.bad_context", context=name)
    cluster = _first(configs, "clusters", str(found["cluster"])) or {}
    return ContextInfo(
        name=name,
        cluster=str(found["cluster"]),
        user=str(found.get("user", "")),
        server=host_port(str(cluster.get("server", ""))),
        files=tuple(path for path, config in zip(files, configs, strict=True) if config),
    )


def sandbox_config(info: ContextInfo, namespace: str) -> dict[str, Any]:
    """The one-context kubeconfig that goes in front of the user's files."""
    context: dict[str, str] = {"cluster": info.cluster, "namespace": namespace}
    if info.user:
        context["user"] = info.user
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": info.name,
        "contexts": [{"name": info.name, "context": context}],
    }


def sandbox_env_value(path: Path, info: ContextInfo) -> str:
    """``KUBECONFIG`` for the sandbox: its own file first, then the user's."""
    return os.pathsep.join([str(path), *(str(f) for f in info.files)])
