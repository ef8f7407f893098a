"""Where a lesson runs: a throw-away namespace reached through a temporary kubeconfig.

The temporary kubeconfig re-defines the learner's own context with the sandbox as its
namespace and refers to the learner's kubeconfig for everything else (see
:mod:`kubelesson.kubeconfig`), so the lesson's commands run verbatim (``kubectl get pods``)
and still cannot see or touch the learner's objects, and no credential is ever copied.
The namespace is labelled as kubelesson's and annotated with its owner (host and pid) and
creation time, so that a later run can remove it if this one is killed outright.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kubelesson import interrupts, kubeconfig
from kubelesson.errors import (
    ClusterUnreachable,
    ContextNotLocal,
    Forbidden,
    KubectlUnresponsive,
    KubelessonError,
    NamespaceMissing,
    ObjectsExist,
)
from kubelesson.kubectl import Kubectl, Result, check_version, last_line, parse_version

MANAGED_BY = "app.kubernetes.io/managed-by"
LESSON_LABEL = "kubelesson.dev/lesson"
OWNER = "kubelesson.dev/owner"
CREATED = "kubelesson.dev/created"
KEPT = "kubelesson.dev/kept"  # --keep: the learner wants to look at it; no later run sweeps it
VERSION_TIMEOUT = 20.0  # `kubectl version` answers in well under a second, even remotely
STALE_AFTER = 3600.0  # longer than any lesson may run (timeouts are capped at 3600 s)

LOCAL_CONTEXT = re.compile(
    r"^(k3d-.*|kind-.*|minikube|docker-desktop|docker-for-desktop|rancher-desktop|orbstack"
    r"|colima(-.*)?|kubelesson-sim.*)$"
)


@dataclass(frozen=True)
class Target:
    """The cluster a run talks to, as shown to the user before anything runs."""

    context: str
    server: str  # host:port only, never credentials
    kubeconfig: Path  # the temporary, namespaced one
    namespace: str
    created: bool  # True when the namespace is a sandbox kubelesson made
    client_version: str = ""
    server_version: str = ""


def is_local(context: str) -> bool:
    return bool(LOCAL_CONTEXT.match(context))


def sandbox_name(lesson: int) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # like Kubernetes' generated names
    return f"kubelesson-{lesson}-" + "".join(secrets.choice(alphabet) for _ in range(5))


def choose_context(kubectl: Kubectl, context: str | None) -> kubeconfig.ContextInfo:
    """The context to use. Without ``--context`` the current one is used, but only if it
    looks local: a learner's lesson must never land on a production cluster by accident."""
    info = kubeconfig.find_context(kubectl.env, context)
    if context is None and not is_local(info.name):
        raise ContextNotLocal(context=info.name)
    return info


def write_private(folder: Path, config: dict[str, Any]) -> Path:
    """Written 0600 in a private folder: no secrets in it, but nobody else's business either."""
    path = folder / "kubeconfig"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def ask_versions(kubectl: Kubectl) -> Result:
    return kubectl.run(["version", "-o", "json", "--request-timeout=10s"], timeout=VERSION_TIMEOUT)


def versions_from(result: Result, path: str, server: str) -> tuple[str, str]:
    """kubectl's and the server's versions (one call gives both), or an error saying which
    is the problem: a kubectl too old, or a server that does not answer."""
    try:
        info = json.loads(result.output[result.output.index("{") : result.output.rindex("}") + 1])
    except ValueError:
        info = {}
    client = str(info.get("clientVersion", {}).get("gitVersion", ""))
    if result.timed_out:
        raise KubectlUnresponsive(path=path, seconds=f"{VERSION_TIMEOUT:g}")
    if not client:
        # Not an old kubectl: no kubectl at all (`--kubectl /bin/true`) or a broken one.
        raise KubectlUnresponsive("error.kubectl_no_version", path=path, said=last_line(result.output) or "-")
    check_version(parse_version(client), path)
    if "serverVersion" not in info:
        raise ClusterUnreachable(server=server, detail=last_line(result.output))
    return client, str(info["serverVersion"]["gitVersion"])


def check_reachable(kubectl: Kubectl, server: str) -> tuple[str, str]:
    return versions_from(ask_versions(kubectl), kubectl.path, server)


def namespace_manifest(name: str, lesson: int, *, keep: bool = False) -> str:
    annotations = {OWNER: f"{socket.gethostname()}:{os.getpid()}", CREATED: str(int(time.time()))}
    if keep:
        annotations[KEPT] = "true"
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {MANAGED_BY: "kubelesson", LESSON_LABEL: str(lesson)},
                "annotations": annotations,
            },
        }
    )


def create_namespace(kubectl: Kubectl, name: str, lesson: int, folder: Path, *,
                     keep: bool = False) -> Callable[[], None]:
    """Ask for the namespace; the returned function raises if that failed. The two are apart
    so that the version check can run meanwhile."""
    # From a file, not stdin: sh feeds stdin from a polling thread that costs ~50 ms.
    manifest = folder / "namespace.json"
    manifest.write_text(namespace_manifest(name, lesson, keep=keep), encoding="utf-8")
    # --validate=false: our own manifest needs no schema check, which would cost kubectl an
    # OpenAPI download (~90 ms measured).
    result = kubectl.run(["create", "-f", str(manifest), "--validate=false"], timeout=VERSION_TIMEOUT)

    def check() -> None:
        # kubectl names our temporary file in its error; the learner needs only the reason.
        detail = last_line(result.output).replace(f'error when creating "{manifest}": ', "")
        if "(Forbidden)" in result.output:
            raise Forbidden(action=f"create namespace {name}", detail=detail)
        if not result.ok:
            raise ClusterUnreachable(server="", detail=detail)

    return check


def delete_namespace(kubectl: Kubectl, name: str) -> None:
    kubectl.run(["delete", "namespace", name, "--ignore-not-found", "--wait=false", "--request-timeout=20s"],
                timeout=60)


def _owner_gone(annotations: dict[str, str]) -> bool:
    host, _, pid = annotations.get(OWNER, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _sandbox_namespaces(kubectl: Kubectl) -> list[dict[str, Any]]:
    """kubelesson's sandbox namespaces on the cluster, as objects (none if it does not say)."""
    result = kubectl.run(["get", "namespaces", "-l", f"{MANAGED_BY}=kubelesson", "-o", "json"], timeout=30, nice=10)
    if not result.ok:
        return []
    try:
        items: list[dict[str, Any]] = json.loads(result.output).get("items", [])
    except json.JSONDecodeError:
        return []
    return items


def passing_sandboxes(kubectl: Kubectl) -> set[str]:
    """Sandboxes that go away by themselves: those of runs going on now or just ended (their
    run deletes them) and of killed runs (swept). Not those kept with --keep."""
    return {item["metadata"]["name"] for item in _sandbox_namespaces(kubectl)
            if (item["metadata"].get("annotations") or {}).get(KEPT) != "true"}


def stale_sandboxes(kubectl: Kubectl, now: float | None = None) -> list[str]:
    """Sandboxes left by runs that were killed: their process is gone, or they are too old."""
    now = time.time() if now is None else now
    stale = []
    for item in _sandbox_namespaces(kubectl):
        meta = item.get("metadata", {})
        annotations = meta.get("annotations") or {}
        if item.get("status", {}).get("phase") == "Terminating" or annotations.get(KEPT) == "true":
            continue  # going already, or kept with --keep for the learner to look at
        created = float(annotations.get(CREATED, "0") or 0)
        if _owner_gone(annotations) or now - created > STALE_AFTER:
            stale.append(meta["name"])
    return stale


def sweep(kubectl: Kubectl) -> list[str]:
    names = stale_sandboxes(kubectl)
    if names:
        kubectl.run(["delete", "namespace", *names, "--ignore-not-found", "--wait=false"], timeout=60, nice=10)
    return names


def existing_objects(kubectl: Kubectl, namespace: str, objects: tuple[str, ...]) -> list[str] | None:
    """The lesson's objects already in ``namespace``, or None when the namespace is missing."""
    there = kubectl.run(["get", "namespace", namespace, "-o", "name"], timeout=30)
    if "(NotFound)" in there.output:
        return None
    if not objects:
        return []
    result = kubectl.run(["get", *objects, "-n", namespace, "--ignore-not-found", "-o", "name"], timeout=30)
    return [line for line in result.output.splitlines() if "/" in line and " " not in line]


def share_users(kubectl: Kubectl, share: str, *, besides: Collection[str]) -> list[tuple[str, str]]:
    """What outside the namespaces ``besides`` holds a thing the lesson shares (``shares:``
    in its file), as (resource, namespace/name): the pods that mount a node folder
    (``hostpath NODE:PATH``), the LoadBalancer Services on a port (``host-port N``), the
    Ingresses that route a host name (``ingress-host NAME``). Objects being deleted do not
    count. Empty when the cluster does not say (no right to list everywhere): the lesson then
    meets the problem itself."""
    kind, _, what = share.partition(" ")
    holds: Callable[[dict[str, Any]], bool]
    if kind == "hostpath":
        node, _, path = what.partition(":")
        resource, holds = "pod", lambda pod: _mounts(pod, node, path.rstrip("/"))
    elif kind == "host-port" and what.isdigit():
        resource, holds = "service", lambda svc: _balances(svc, int(what))
    elif kind == "ingress-host":
        resource, holds = "ingress", lambda ing: any(
            rule.get("host") == what for rule in (ing.get("spec") or {}).get("rules") or [])
    else:
        return []
    result = kubectl.run(["get", resource, "--all-namespaces", "-o", "json"], timeout=60)
    try:
        items = json.loads(result.output).get("items", []) if result.ok else []
    except json.JSONDecodeError:
        return []
    users = []
    for item in items:
        meta = item.get("metadata") or {}
        if meta.get("namespace") not in besides and not meta.get("deletionTimestamp") and holds(item):
            users.append((resource, f"{meta.get('namespace')}/{meta.get('name')}"))
    return sorted(users)


def _mounts(pod: dict[str, Any], node: str, path: str) -> bool:
    """A pod that runs, or is about to, on ``node`` with the node's folder ``path`` mounted."""
    spec = pod.get("spec") or {}
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    # A pod not scheduled yet will go where its nodeSelector says (lesson 7's does).
    placed = spec.get("nodeName") or (spec.get("nodeSelector") or {}).get("kubernetes.io/hostname")
    mounted = {str((v.get("hostPath") or {}).get("path", "")).rstrip("/") for v in spec.get("volumes") or []}
    return bool(placed == node and path in mounted)


def _balances(service: dict[str, Any], port: int) -> bool:
    spec = service.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and any(p.get("port") == port for p in spec.get("ports") or [])


@dataclass
class Session:
    """What the runner needs: a kubectl bound to the sandbox, and where it points."""

    kubectl: Kubectl
    target: Target
    sweeper: threading.Thread | None = None
    swept: list[str] = field(default_factory=list)

    def swept_names(self) -> list[str]:
        """Sandboxes of killed runs that this run removed (waits for the sweep to end)."""
        if self.sweeper is not None:
            self.sweeper.join(timeout=60)
        return list(self.swept)

    def start_sweep(self) -> None:
        """Remove stale sandboxes in the background, while the lesson runs: it must happen,
        but nothing the lesson does depends on it."""

        def sweep_quietly() -> None:
            with contextlib.suppress(Exception):
                self.swept.extend(sweep(self.kubectl))

        self.sweeper = threading.Thread(target=sweep_quietly, name="kubelesson-sweep", daemon=True)
        self.sweeper.start()


@contextlib.contextmanager
def open_sandbox(
    user_kubectl: Kubectl,
    *,
    lesson: int,
    objects: tuple[str, ...] = (),
    context: str | None = None,
    namespace: str | None = None,
    keep: bool = False,
) -> Iterator[Session]:
    """Make the sandbox, yield a session in it, and remove it whatever happens."""
    info = choose_context(user_kubectl, context)
    folder = Path(tempfile.mkdtemp(prefix="kubelesson-"))
    created = False
    name = namespace or sandbox_name(lesson)
    session = None
    broken = False  # kubectl itself does not work: nothing to clean up with it
    try:
        config_path = write_private(folder, kubeconfig.sandbox_config(info, name))
        kubectl = user_kubectl.with_env(KUBECONFIG=kubeconfig.sandbox_env_value(config_path, info))
        # The version check and the namespace are independent kubectl calls: run them side
        # by side, then report the first problem in a sensible order.
        with ThreadPoolExecutor(max_workers=1) as pool:
            asked = pool.submit(ask_versions, kubectl)
            if namespace:
                found = existing_objects(kubectl, namespace, objects)
            else:
                created = True  # before the call: an interrupt may land after the server made it
                check_created = create_namespace(kubectl, name, lesson, folder, keep=keep)
            try:
                client_version, server_version = versions_from(asked.result(), kubectl.path, info.server)
            except KubectlUnresponsive:
                broken = True
                raise
        if namespace and found is None:
            raise NamespaceMissing(namespace=namespace, context=info.name)
        if namespace and found:
            # A claim is not just in the way: it holds an earlier run's data (lesson 8 meets
            # lesson 7's claim mariadb), which deleting it would lose. Say so.
            claim = any(name.startswith("persistentvolumeclaim/") for name in found)
            raise ObjectsExist("error.objects_exist_claim" if claim else None, namespace=namespace,
                               objects=", ".join(found))
        if created:
            check_created()
        target = Target(info.name, info.server, config_path, name, created, client_version, server_version)
        session = Session(kubectl, target)
        session.start_sweep()
        yield session
    finally:
        with interrupts.deferred():
            if session is not None:
                session.swept_names()
            if created and not keep and not broken:
                with contextlib.suppress(KubelessonError, OSError):
                    delete_namespace(user_kubectl.for_context(info.name), name)
            shutil.rmtree(folder, ignore_errors=True)
