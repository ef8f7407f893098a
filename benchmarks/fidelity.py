"""The simulator's fidelity figure (`make fidelity`): how often `kubelesson sim` prints what a
real cluster printed, measured on the corpus of real kubectl outputs (../shared/corpus/).

For every corpus entry the script decides whether the simulator can serve it (the kinds and
the commands it implements; a cluster of the course's k3d shape). For each entry it can serve:

  1. it derives, from what the entry's output shows (names, replica counts, READY/STATUS,
     labels from the command's selector, service types and ports, apply/delete lines), the
     objects that were there, as manifests;
  2. it applies them with the REAL kubectl into a fresh namespace of one simulator
     (`kubelesson.sim.running`, short timings) and waits until the pods are in the state the
     output shows (or stop changing);
  3. it runs the entry's own command, adapted only where it must be (the namespace, a local
     file instead of a URL, a free local port, the name a controller generated), with the
     real kubectl;
  4. it normalizes both outputs with kubelesson's own normalizer (the namespace and local
     port mapped back as `kubelesson check` maps them) and compares them.

Every difference is put down to one cause:
  * old kubectl/server version: the output turns into the corpus's once the wording or the
    columns of the entry's (older) version are applied, or only the columns differ;
  * pasted artefact: the corpus output agrees once what its author pasted or edited is taken
    out (`...` elisions, `^C`, a prompt's noise, runs pasted together, hand edits the entry's
    notes record);
  * simulator: anything else, grouped by what differs (pod states, restart counts, services,
    missing controllers ...);
  * and, apart from issue 10's three: normalizer gap, where the outputs agree once a value
    kubelesson's normalizer leaves unmasked (a provisioned volume's name ...) is masked on
    both sides: the simulator printed what a cluster prints; the gap is for the normalizer.

The figure is agree / (agree + simulator-caused differences), against the 90% target of
issue 10. Deterministic (entries are planned from the corpus alone; results are sorted;
states are waited for, never slept for), bounded in time (a deadline per entry, entries in
parallel on one simulator, cluster-wide entries one at a time first), loopback only.

    python benchmarks/fidelity.py [--json] [--only ID,ID] [--jobs N] [--details]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubelesson.normalize import Context, normalize  # noqa: E402
from kubelesson.sim import SimHandle, SimOptions, running  # noqa: E402
from kubelesson.sim.api.printers import pod_ready, pod_status  # noqa: E402
from kubelesson.transcript import Entry, Transcript  # noqa: E402

Obj = dict[str, Any]

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
TARGET = 0.90  # issue 10: at least 90% of the entries whose difference is the simulator's own agree
# Short timings, as the tests use. Pods the script makes have a 1 s grace period (deletes stay
# quick); one seen Terminating is caught in a watch while it is deleted (Runner.capture).
SIM_OPTIONS = SimOptions(pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=2.0,
                         backoff_seconds=0.5)
# The simulator's nodes (k3d's hands-on cluster), agents first.
SIM_NODES = [f"k3d-{SIM_OPTIONS.cluster_name}-agent-{i}" for i in range(SIM_OPTIONS.agents)] + [
    f"k3d-{SIM_OPTIONS.cluster_name}-server-0"]
SETTLE_DEADLINE = 12.0  # at most this long waiting for the state an entry shows
QUIET = 2.5  # ... or until the pods stop changing for this long (longer than one back-off)
# A watch waits longer for its next row: image pulls are retried after 4, 8, 16 back-offs.
WATCH_QUIET = 17 * SIM_OPTIONS.backoff_seconds
COMMAND_TIMEOUT = 30.0

SIMULATOR = "simulator"
VERSION = "old kubectl/server version"
ARTEFACT = "pasted artefact"
# Not one of issue 10's three: the simulator printed what a cluster prints, but kubelesson's
# normalizer leaves a value unmasked that differs on every cluster (a gap to fix there).
NORMALIZER = "normalizer gap"
CAUSES = (SIMULATOR, VERSION, ARTEFACT, NORMALIZER)


class Unservable(Exception):
    """The simulator cannot serve this entry (the reason is the message)."""


# --- the corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusEntry:
    id: str
    topic: str
    command: str
    output: str
    notes: str
    cluster: str
    kubectl_version: str

    @property
    def minor(self) -> int | None:
        """The Kubernetes minor version the output came from, from the entry's metadata
        (kubectl_version, else the cluster's description, else the year it names)."""
        return infer_minor(self.kubectl_version, self.cluster)


_VERSION_PATTERNS = (
    r"^v?1\.(\d+)",  # kubectl_version itself
    r"Kubernetes ~?v?1\.(\d+)",
    r"k3s:v1\.(\d+)",
    r"node:v1\.(\d+)",
    r"nodes v1\.(\d+)",
    r"\bv1\.(\d+)\)",  # (single node "docker-desktop", v1.27.2)
    r"v1\.(\d+)\.\d+\b(?!.*minikube)",
    r"~v?1\.(\d+)",
)
# What was current in a year, for entries that name only the year they were written.
_YEAR_MINOR = {2015: 1, 2016: 5, 2017: 9, 2018: 13, 2019: 17, 2020: 20, 2021: 23, 2022: 26,
               2023: 29, 2024: 32, 2025: 34}


def infer_minor(kubectl_version: str, cluster: str) -> int | None:
    if "pre-1.0" in cluster:
        return 0
    for text in (kubectl_version, cluster):
        for pattern in _VERSION_PATTERNS:
            found = re.search(pattern, text or "")
            if found:
                return int(found.group(1))
    years = [int(y) for y in re.findall(r"\b(20[12]\d)\b", cluster or "")]
    return _YEAR_MINOR.get(min(years)) if years else None


def load_corpus(folder: Path) -> list[CorpusEntry]:
    entries: list[CorpusEntry] = []
    for path in sorted(folder.glob("*.yaml")):
        entries += load_corpus_text(path.read_text(), topic=path.stem)
    return sorted(entries, key=lambda e: e.id)


def load_corpus_text(text: str, *, topic: str = "") -> list[CorpusEntry]:
    """The entries of one corpus file (a YAML list of id, command, output, notes ...)."""
    return [
        CorpusEntry(id=str(item["id"]), topic=topic, command=str(item["command"]),
                    output=str(item.get("output") or "").rstrip("\n"),
                    notes=str(item.get("notes") or ""), cluster=str(item.get("cluster") or ""),
                    kubectl_version=str(item.get("kubectl_version") or ""))
        for item in yaml.safe_load(text) or []
    ]


# --- the command line ----------------------------------------------------------------------

KUBECTL_NAMES = {"kubectl", "k", "kc", "cluster/kubectl.sh", "./cluster/kubectl.sh"}
# kubectl flags that take a value (the ones the corpus uses); everything else is boolean.
VALUE_FLAGS = {
    "-n", "--namespace", "-l", "--selector", "-o", "--output", "-L", "--label-columns",
    "-f", "--filename", "-k", "--kustomize", "--context", "--kubeconfig", "--server", "--token",
    "--timeout", "--for", "--replicas", "-r", "--image", "--port", "--type", "--name",
    "--target-port", "--tail", "-p", "--patch", "--to-revision", "--grace-period", "--sort-by",
    "-c", "--container", "--v", "-v", "--verb", "--resource", "--role", "--serviceaccount",
    "--key", "--cert", "--restart", "--address", "--cascade",
}
# Flags that point kubectl at another cluster or user: the script's kubeconfig replaces them.
CLUSTER_FLAGS = {"--context", "--kubeconfig", "--server", "--token"}


@dataclass
class Invocation:
    """One kubectl command line, split into its words."""

    words: list[str]  # after `kubectl`
    verb: str
    args: list[str]  # positional words after the verb
    flags: dict[str, list[str]]  # long or short name as typed -> values ("" for booleans)
    after_dashes: list[str] = field(default_factory=list)

    def value(self, *names: str) -> str | None:
        for name in names:
            if self.flags.get(name):
                return self.flags[name][-1]
        return None

    def has(self, *names: str) -> bool:
        return any(name in self.flags for name in names)

    @property
    def namespace(self) -> str | None:
        return self.value("-n", "--namespace")

    @property
    def all_namespaces(self) -> bool:
        return self.has("-A", "--all-namespaces")

    @property
    def watch(self) -> bool:
        return self.has("-w", "--watch")

    def selector_labels(self) -> dict[str, str]:
        """The equality terms of every -l/--selector (set-based terms are not labels)."""
        labels: dict[str, str] = {}
        for name in ("-l", "--selector"):
            for value in self.flags.get(name, []):
                for term in value.strip("\"'").split(","):
                    key, sep, val = term.partition("=")
                    if sep and not key.endswith("!"):
                        labels[key.strip()] = val.lstrip("=").strip()
        return labels


def split_flag(word: str) -> tuple[str, str | None]:
    """`--namespace=x` -> ("--namespace", "x"); `-owide` -> ("-o", "wide"); `-l=a=b` -> ("-l", "a=b")."""
    if word.startswith("--"):
        name, sep, value = word.partition("=")
        return name, value if sep else None
    if len(word) > 2 and word[:2] in VALUE_FLAGS:
        return word[:2], word[2:].removeprefix("=")
    return word, None


def parse_kubectl(words: list[str]) -> Invocation:
    flags: dict[str, list[str]] = {}
    positional: list[str] = []
    after: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            after = words[i + 1:]
            break
        if word.startswith("-") and word != "-":
            name, value = split_flag(word)
            if value is None and name in VALUE_FLAGS and name != "--cascade":
                value = words[i + 1] if i + 1 < len(words) else ""
                i += 1
            flags.setdefault(name, []).append(value if value is not None else "")
        else:
            positional.append(word)
        i += 1
    verb = positional[0] if positional else ""
    return Invocation(words, verb, positional[1:], flags, after)


def kubectl_words(command: str) -> list[str]:
    """The words of a plain `kubectl ...` command (aliases k, kc, cluster/kubectl.sh)."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise Unservable(f"the command does not parse ({exc})") from None
    if not words or words[0] not in KUBECTL_NAMES:
        raise Unservable(f"not a kubectl command ({words[0] if words else 'empty'})")
    return words[1:]


# --- tables in the corpus's outputs --------------------------------------------------------

_COLUMN = r"[A-Z][A-Z0-9_./:-]*(?:\([A-Za-z]+\))?"
_HEADER = re.compile(rf"{_COLUMN}(?: {_COLUMN})*(?: {{2,}}{_COLUMN}(?: {_COLUMN})*)+ *")


@dataclass
class Table:
    columns: list[str]
    rows: list[dict[str, str]]

    def get(self, row: dict[str, str], *names: str) -> str:
        for name in names:
            if name in row:
                return row[name]
        return ""


def _header_columns(line: str) -> tuple[list[str], list[int]]:
    names, starts = [], []
    for found in re.finditer(rf"{_COLUMN}(?: {_COLUMN})*", line):
        names.append(found.group(0))
        starts.append(found.start())
    return names, starts


def _split_row(line: str, names: list[str], starts: list[int]) -> dict[str, str] | None:
    cells = re.split(r" {2,}", line.strip())
    if len(cells) != len(names):  # empty cells (a Pending PVC) or ragged: by position
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)], strict=True)]
        if not cells[0]:
            return None
    return dict(zip(names, cells, strict=True))


def parse_tables(output: str) -> list[Table]:
    """Every `kubectl get` table of an output (a new header starts a new table)."""
    tables: list[Table] = []
    names: list[str] = []
    starts: list[int] = []
    for line in output.split("\n"):
        if _HEADER.fullmatch(line) and line[:1].isupper():
            names, starts = _header_columns(line)
            tables.append(Table(names, []))
            continue
        if not line.strip() or line.strip() in ("...", "…") or not tables:
            continue
        row = _split_row(line, names, starts)
        if row is not None:
            tables[-1].rows.append(row)
    return tables


# --- generated names ---------------------------------------------------------------------------
# As the normalizer's rules know them (kubelesson/rules.yaml): a Deployment's pod is
# <deployment>-<pod-template-hash>-<5 chars>, a ReplicaSet <deployment>-<hash>, a
# StatefulSet's pod <name>-<ordinal>, any other generated name <prefix>-<5 chars>.
_HASH = r"(?:(?=[bcdf]*[4-9])[4-9bcdf]{6,10}|\d{9,10})"
_SUFFIX = r"[bcdfghjklmnpqrstvwxz2456789]{5}"
_BASE = r"[a-z0-9](?:[a-z0-9.-]*?[a-z0-9])?"
DEPLOYMENT_POD = re.compile(rf"(?P<base>{_BASE})-(?P<hash>{_HASH})-(?P<id>{_SUFFIX}|[a-z0-9]{{5}})")
REPLICASET = re.compile(rf"(?P<base>{_BASE})-(?P<hash>{_HASH})")
ORDINAL = re.compile(rf"(?P<base>{_BASE})-(?P<ordinal>\d+)")
GENERATED = re.compile(rf"(?P<base>{_BASE})-(?!https$)(?P<id>{_SUFFIX})")


def age_seconds(age: str) -> float:
    """`5m52s` -> 352 (kubectl's short durations); unknown forms count as 0."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}
    return float(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhdy])", age or "")))


# --- the scene: the objects an entry's output shows ------------------------------------------

RUNNING = "Running"
# Pod states the script can ask for, and how a pod spec gets there on a real cluster.
FAILING_STATES = {"ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "Error",
                  "ContainerCreating", "Pending", "Completed", "NotReady"}
TRANSIENT = {"ContainerCreating", "Pending", "Terminating", "PodInitializing"}


@dataclass
class PodSpec:
    """What one revision's pods look like."""

    state: str = RUNNING  # Running, NotReady, Completed, CrashLoopBackOff, Error, ErrImagePull,
    #                       ImagePullBackOff, ContainerCreating, Pending, Init:<reason>
    containers: int = 1
    ready: int | None = None  # ready containers when fewer than all (NotReady)
    image: str | None = None
    ports: tuple[int, ...] = ()
    restarts: int = 0

    def expected(self) -> tuple[str, str, int]:
        """(READY, STATUS, restarts) as `get pods` shows them once the pod got there."""
        state = self.state
        ready = self.containers if state == RUNNING else (self.ready or 0)
        if state == "NotReady":
            state = RUNNING
        return f"{ready}/{self.containers}", state, self.restarts


@dataclass
class Thing:
    """One object of the scene, by kind, shown namespace and name."""

    kind: str  # Pod, GeneratedPod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Service,
    #            ConfigMap, Secret, ServiceAccount, Namespace, Job
    ns: str
    name: str
    replicas: int = 1
    revisions: list[PodSpec] = field(default_factory=lambda: [PodSpec()])
    labels: dict[str, str] = field(default_factory=dict)
    service_type: str = "ClusterIP"
    service_ports: list[tuple[int, int | None, str, str | None]] = field(default_factory=list)
    headless: bool = False
    selector: dict[str, str] | None = None
    secret_type: str = "Opaque"
    strategy: Obj | None = None
    service_account: str | None = None
    grace: int = 1
    # How the object stands when the command runs: "live" (applied before), "file" (only in
    # the command's own manifest file), "same" (applied before, identical in the file:
    # unchanged), "changed" (applied before, different in the file: configured), "none"
    # (must not exist: the command creates it).
    stage: str = "live"
    delete_before: bool = False  # deleted (without waiting) just before the command: Terminating
    container: str | None = None  # the first container's name, where the command names it
    # PersistentVolumeClaims and PersistentVolumes (and the pod that uses a claim):
    storage: str = "1Gi"
    access_modes: list[str] = field(default_factory=lambda: ["ReadWriteOnce"])
    storage_class: str | None = None  # None: the cluster's default class; "": none
    bound: bool = False
    volume_name: str = ""
    claim: str = ""  # a pod: the claim it mounts
    # Ingresses:
    ingress_class: str = "<none>"
    hosts: list[str] = field(default_factory=list)
    hold_last_revision: bool = False  # the newest revision is applied while a watch records

    @property
    def spec(self) -> PodSpec:
        return self.revisions[-1]


@dataclass(frozen=True)
class RSRow:
    ns: str
    name: str
    desired: int
    current: int
    ready: int
    age: float
    labels: dict[str, str]


class Scene:
    def __init__(self) -> None:
        self.things: dict[tuple[str, str, str], Thing] = {}
        self.replicasets: list[RSRow] = []  # `get rs` rows, merged into Deployments at the end
        self.namespaces_shown: set[str] = set()  # namespaces the output names
        # The command's own manifest file: (path, the things in it in order, raw extra documents).
        self.file_documents: tuple[str, list[Thing], list[Obj]] | None = None

    def add(self, kind: str, ns: str, name: str, **props: Any) -> Thing:
        key = (kind, ns, name)
        thing = self.things.get(key)
        if thing is None:
            thing = self.things[key] = Thing(kind, ns, name)
        for attr, value in props.items():
            if attr == "labels":
                thing.labels.update(value)
            else:
                setattr(thing, attr, value)
        return thing

    def find(self, name: str) -> Thing | None:
        return next((t for t in self.things.values() if t.name == name), None)

    def namespaces(self) -> set[str]:
        return {t.ns for t in self.things.values() if t.ns} | {
            t.name for t in self.things.values() if t.kind == "Namespace"}


# --- pods from table rows ----------------------------------------------------------------------


@dataclass(frozen=True)
class PodRow:
    ns: str
    name: str
    ready: str
    status: str
    restarts: str
    age: float
    labels: tuple[tuple[str, str], ...] = ()


def spec_from_rows(rows: list[PodRow]) -> PodSpec:
    """The spec that makes pods look like these rows: a failing state wins over a moment
    (a pod caught Terminating or ContainerCreating next to Running ones is a Running spec)."""
    states = [r.status for r in rows]
    wanted = next((s for s in states if s not in TRANSIENT and s != RUNNING), None)
    if wanted is None:
        held = [s for s in states if s in TRANSIENT and s != "Terminating"]
        # Every pod in the same transient state for a while: held there (a volume that
        # cannot be mounted, no node that fits), not a moment.
        wanted = held[0] if held and len(held) == len(states) else RUNNING
    total = max(int(r.ready.split("/")[1]) if "/" in r.ready else 1 for r in rows)
    ready_counts = [int(r.ready.split("/")[0]) for r in rows if "/" in r.ready and r.status == RUNNING]
    if wanted == RUNNING and ready_counts and min(ready_counts) < total:
        wanted = "NotReady"
    restarts = max(int(re.match(r"\d*", r.restarts).group(0) or 0) for r in rows)  # type: ignore[union-attr]
    ready = min(ready_counts) if wanted == "NotReady" and ready_counts else None
    if wanted == "ExitCode:0":
        wanted = "Completed"
    return PodSpec(state=wanted, containers=total, ready=ready, restarts=restarts)


def rollout_split(replicas: int, strategy: Obj | None = None) -> tuple[int, int]:
    """(old, new) pods of a rollout whose new pods never become ready: RollingUpdate gives
    the new ReplicaSet maxSurge and takes maxUnavailable from the old one, then stalls;
    Recreate removes the old pods first."""
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0, replicas
    rolling = strategy.get("rollingUpdate") or {}
    surge = rolling.get("maxSurge", math.ceil(replicas * 0.25))
    unavailable = rolling.get("maxUnavailable", math.floor(replicas * 0.25))
    return replicas - unavailable, min(replicas, surge + unavailable)


# The strategies a stalled rollout's split of old and new pods can reveal, the default first.
STRATEGIES: tuple[Obj | None, ...] = (
    None,
    {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
    {"type": "Recreate"},
)


def stall_for(old: int, new: int) -> tuple[int, Obj | None]:
    """The replica count and strategy that stall with `old` old and `new` new pods."""
    for strategy in STRATEGIES:
        for replicas in range(1, 50):
            if rollout_split(replicas, strategy) == (old, new):
                return replicas, strategy
    return max(old, new), None


def add_pod_rows(scene: Scene, rows: list[PodRow], notes: str) -> None:
    """Pods by the shape of their names: Deployment, StatefulSet, generated, or bare."""
    deployments: dict[tuple[str, str], dict[str, list[PodRow]]] = {}
    statefulsets: dict[tuple[str, str], list[tuple[int, PodRow]]] = {}
    for row in rows:
        if (m := DEPLOYMENT_POD.fullmatch(row.name)) and not ORDINAL.fullmatch(row.name):
            deployments.setdefault((row.ns, m["base"]), {}).setdefault(m["hash"], []).append(row)
        elif (m := ORDINAL.fullmatch(row.name)) and len(m["ordinal"]) < 5:  # 59586: generated
            statefulsets.setdefault((row.ns, m["base"]), []).append((int(m["ordinal"]), row))
        elif m := GENERATED.fullmatch(row.name):
            owner = generated_owner(notes)
            if owner == "Job":
                raise Unservable("Job pods (the simulator serves no batch/v1 Jobs)")
            kind = "DaemonSet" if owner == "DaemonSet" else "GeneratedPod"
            thing = scene.things.get((kind, row.ns, m["base"]))
            count = thing.replicas + 1 if thing else 1
            scene.add(kind, row.ns, m["base"], replicas=count, labels=dict(row.labels),
                      revisions=[spec_from_rows([row])])
        else:
            pod_thing(scene, row)
    for (ns, base), by_hash in deployments.items():
        deployment_from_rows(scene, ns, base, by_hash)
    for (ns, base), ordinals in statefulsets.items():
        numbers = sorted(n for n, _ in ordinals)
        if numbers[0] != 0 and len(numbers) == 1:  # hello-kiamol-3: a pod named so
            pod_thing(scene, ordinals[0][1])
            continue
        spec = spec_from_rows([r for _, r in ordinals])
        labels = dict(ordinals[0][1].labels)
        scene.add("StatefulSet", ns, base, replicas=max(numbers) + 1, revisions=[spec],
                  labels=labels)


def pod_thing(scene: Scene, row: PodRow) -> None:
    spec = spec_from_rows([row])
    scene.add("Pod", row.ns, row.name, revisions=[spec], labels=dict(row.labels),
              delete_before=row.status == "Terminating")
    if row.status == "Terminating":
        scene.things[("Pod", row.ns, row.name)].grace = 30


def deployment_from_rows(scene: Scene, ns: str, base: str, by_hash: dict[str, list[PodRow]]) -> None:
    # Revisions oldest first: the ReplicaSet whose oldest pod is oldest came first.
    order = sorted(by_hash.values(), key=lambda rs: -max(r.age for r in rs))
    revisions = [spec_from_rows(rs) for rs in order]
    labels = dict(order[0][0].labels)
    live = [[r for r in rs if r.status != "Terminating"] for rs in order]
    if len(order) == 1:
        replicas = max(1, len(live[0]))
    elif revisions[-1].state != RUNNING:
        replicas, strategy = stall_for(sum(len(x) for x in live[:-1]), len(live[-1]))
        scene.add("Deployment", ns, base, strategy=strategy)
    else:  # caught in the middle of a rollout that completes
        replicas = max(1, len(live[-1]))
    scene.add("Deployment", ns, base, replicas=replicas, revisions=revisions, labels=labels)


def generated_owner(notes: str) -> str | None:
    """Who made a pod with a 5-character suffix, where the entry's notes say it."""
    lowered = notes.lower()
    for owner in ("DaemonSet", "Job", "ReplicationController"):
        if owner.lower() in lowered:
            return owner
    return None


# --- resource words ----------------------------------------------------------------------------

def served_kinds() -> dict[str, tuple[str, ...]]:
    """The resources the simulator under test serves (its own list), by every word kubectl
    accepts for them: plural, singular, short names, `kind.group` (and `all`)."""
    from kubelesson.sim.api.resources import RESOURCES

    kinds: dict[str, tuple[str, ...]] = {"all": ("all",)}
    for rt in RESOURCES:
        words = {rt.plural, rt.singular, *rt.short_names}
        if rt.group:
            words |= {f"{rt.singular}.{rt.group}", f"{rt.plural}.{rt.group}"}
        if rt.group == "apps":  # the extensions group's old name for the same kinds
            words.add(f"{rt.singular}.extensions")
        kinds[rt.plural] = tuple(sorted(words))
    return kinds


SERVED_KINDS = served_kinds()
PLURAL = {word: plural for plural, words in SERVED_KINDS.items() for word in words}
THING_KIND = {"pods": "Pod", "deployments": "Deployment", "replicasets": "ReplicaSet",
              "statefulsets": "StatefulSet", "daemonsets": "DaemonSet", "services": "Service",
              "configmaps": "ConfigMap", "secrets": "Secret", "serviceaccounts": "ServiceAccount",
              "namespaces": "Namespace", "persistentvolumeclaims": "PersistentVolumeClaim",
              "persistentvolumes": "PersistentVolume", "ingresses": "Ingress"}
# Kinds that belong to the cluster, not to a namespace (k3s makes the StorageClass and the
# IngressClass; the script makes PersistentVolumes).
CLUSTER_KINDS = {"nodes", "namespaces", "persistentvolumes", "storageclasses", "ingressclasses"}


def plural_of(word: str) -> str:
    """The resource a word names, or Unservable when the simulator does not serve it."""
    plural = PLURAL.get(word.lower())
    if plural is None:
        raise Unservable(f"{word} (a kind the simulator does not serve)")
    return plural


def resource_words(inv: Invocation) -> list[tuple[str, str | None]]:
    """(plural, name or None) for what a get/describe/delete names: `pod,svc`, `pod/x`, `rs x y`."""
    if not inv.args:
        return []
    first = inv.args[0]
    if "/" in first:
        return [(plural_of(w.split("/", 1)[0]), w.split("/", 1)[1]) for w in inv.args]
    kinds = [plural_of(w) for w in first.split(",")]
    names: list[str | None] = list(inv.args[1:]) or [None]
    return [(k, n) for k in kinds for n in names]


# --- the plan: what to set up, what to run -----------------------------------------------------


@dataclass
class Plan:
    entry: CorpusEntry
    scene: Scene
    words: list[str]  # the kubectl command to run (after `kubectl`), before run-time rewrites
    shell: str | None = None  # or a shell line (pipes), run with bash
    shown_ns: str = "default"  # the namespace the entry ran in (the kubeconfig's namespace)
    cluster_wide: bool = False  # lists or changes what other entries' namespaces would disturb
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text, in its folder
    stdin: str | None = None
    steps: list[list[str]] = field(default_factory=list)  # kubectl commands run before it
    during: list[list[str]] = field(default_factory=list)  # run while a watch runs
    background: bool = False  # port-forward: stopped once it printed what it prints first
    refs: dict[str, str] = field(default_factory=dict)  # a word of the command -> "pod:<base>"...
    env_refs: dict[str, str] = field(default_factory=dict)  # $VAR -> "pod:<base>"
    paths: dict[str, str] = field(default_factory=dict)  # local file -> the path the entry named
    editor: bool = False  # kubectl edit: an editor that changes one label
    own_namespace: bool = True  # False: it runs in the cluster's own `default` (it lists namespaces)
    all_namespaces: bool = False  # -A: rows of the simulator's own namespaces are left out
    moment: bool = False  # the output is one moment of the `during` process (Runner.capture)
    openssl: bool = False  # kubectl create secret tls: a key and certificate made first


_APPLY_LINE = re.compile(
    r'^(?P<kind>[a-z][\w.-]*)(?:/(?P<name>\S+)| "(?P<qname>[^"]+)") '
    r"(?P<verb>created|configured|unchanged|deleted|force deleted|scaled|patched|exposed|labeled"
    r"|annotated|edited|rolled back|image updated|serviceaccount updated|condition met)"
    r"(?: from \S+ namespace)?(?: \(dry run\))?$")
_OUTPUT_NS = re.compile(r"\b(?:in|from) (?P<ns>[a-z0-9-]+) namespace\b")

# Outputs that show what the simulator has no part of: authentication, RBAC and admission
# webhooks, a cluster that is not there, and kubectl refusing a command line on its own.
_UNSERVABLE_OUTPUT = [
    (r"\(Forbidden\).*cannot \w+ resource|is forbidden: User", "RBAC denials (no authorization in the simulator)"),
    (r"pod security policy|admission webhook", "an admission controller the simulator does not run"),
    (r"\(Unauthorized\)", "authentication (the simulator has none)"),
    (r"The connection to the server .* was refused", "no cluster at all (kubectl alone answers)"),
    (r"^error: (?:unknown flag|required flag)", "a command line kubectl refuses by itself"),
]


def derive(entry: CorpusEntry) -> Plan:
    """The plan for an entry, or Unservable with the reason the simulator cannot serve it."""
    for pattern, reason in _UNSERVABLE_OUTPUT:
        if re.search(pattern, entry.output, re.M):
            raise Unservable(reason)
    if entry.id in NOT_SERVED:
        raise Unservable(NOT_SERVED[entry.id])
    special = SPECIAL.get(entry.id)
    if special is None and re.fullmatch(r"kubectl kustomize \S+ \| kubectl apply -f -", entry.command):
        special = derive_kustomize_pipe
    if special is not None:
        return special(entry)
    if any(token in entry.command for token in ("|", "&&", "$(", ";")):
        raise Unservable("a shell pipeline around kubectl")
    words = kubectl_words(entry.command)
    inv = parse_kubectl(words)
    deriver = DERIVERS.get(inv.verb)
    if deriver is None:
        raise Unservable(f"kubectl {inv.verb or '(no verb)'} (the simulator does not serve it)")
    plan = Plan(entry, Scene(), words, shown_ns=inv.namespace or "default")
    deriver(plan, inv)
    generated_refs(plan, inv)
    if any(t.kind == "Service" and t.service_type == "LoadBalancer" or t.kind == "PersistentVolume"
           for t in plan.scene.things.values()):
        plan.cluster_wide = True  # node ports and volumes belong to the cluster: one at a time
    hint = HINTS.get(entry.id)
    if hint is not None:
        hint(plan)
    return plan


def generated_refs(plan: Plan, inv: Invocation) -> None:
    """Names a controller generated (`nginx-6db489d4b7-2fgkn`) in the command: the simulator
    generates others, so the command names the pod or ReplicaSet made here instead."""
    deployments = {t.name for t in plan.scene.things.values() if t.kind == "Deployment"}
    for word in inv.args:
        name = word.split("/", 1)[-1]
        if name in plan.refs:
            continue
        if (m := DEPLOYMENT_POD.fullmatch(name)) and m["base"] in deployments:
            plan.refs[word] = f"pod:{m['base']}" if "/" not in word else f"{word.split('/')[0]}/pod:{m['base']}"
        elif (m := REPLICASET.fullmatch(name)) and m["base"] in deployments:
            plan.refs[word] = f"rs:{m['base']}" if "/" not in word else f"{word.split('/')[0]}/rs:{m['base']}"


def labels_of(inv: Invocation) -> dict[str, str]:
    labels = inv.selector_labels()
    if "job-name" in labels or "controller-uid" in labels:
        raise Unservable("Job pods (the simulator serves no batch/v1 Jobs)")
    return labels


def table_kind(table: Table, plural_hint: str | None) -> str:
    """Which resource a table lists: the NAME prefix (`pod/x`), else its columns."""
    first = table.rows[0].get("NAME", "") if table.rows else ""
    if "/" in first:
        return plural_of(first.split("/", 1)[0])
    cols = set(table.columns)
    if {"READY", "STATUS", "RESTARTS"} <= cols:
        return "pods"
    if "TYPE" in cols and "CLUSTER-IP" in cols or {"CLUSTER-IP", "PORT(S)"} <= cols:
        return "services"
    if "UP-TO-DATE" in cols:
        return "deployments"
    if {"DESIRED", "CURRENT", "READY"} <= cols and "NODE SELECTOR" not in cols:
        return "replicasets"
    if {"DESIRED", "CURRENT", "NODE SELECTOR"} <= cols:
        return "daemonsets"
    if "ROLES" in cols:
        return "nodes"
    if cols == {"NAME", "READY", "AGE"} or {"DESIRED", "CURRENT"} <= cols:
        return "statefulsets"
    if cols == {"NAME", "STATUS", "AGE"}:
        return "namespaces"
    if "VOLUME" in cols and "STATUS" in cols:
        return "persistentvolumeclaims"
    if "CLAIM" in cols:
        return "persistentvolumes"
    if "PROVISIONER" in cols:
        return "storageclasses"
    if "HOSTS" in cols:
        return "ingresses"
    if "CONTROLLER" in cols and "PARAMETERS" in cols:
        return "ingressclasses"
    if "DATA" in cols:
        return "secrets" if "TYPE" in cols else "configmaps"
    if plural_hint and plural_hint != "all":
        return plural_hint
    raise Unservable(f"a table of {', '.join(table.columns)}")


def add_tables(plan: Plan, inv: Invocation, output: str) -> None:
    """The objects the tables of a `get` output show, in the namespaces they show."""
    kinds = [k for k, _ in resource_words(inv)]
    hint = kinds[0] if len(set(kinds)) == 1 else None
    labels = labels_of(inv)
    pods: list[PodRow] = []
    for table in parse_tables(output):
        kind = table_kind(table, hint)
        for row in table.rows:
            name = row.get("NAME", "").split("/", 1)[-1]
            ns = row.get("NAMESPACE") or plan.shown_ns
            if not name:
                continue
            row_labels = dict(labels)
            for column in inv.flags.get("-L", []) + inv.flags.get("--label-columns", []):
                for key in column.split(","):
                    short = key.rsplit("/", 1)[-1].upper()
                    if row.get(short) not in (None, "", "<none>"):
                        row_labels[key] = row[short]
            if kind == "pods":
                pods.append(PodRow(ns, name, table.get(row, "READY"), table.get(row, "STATUS"),
                                   table.get(row, "RESTARTS"), age_seconds(table.get(row, "AGE")),
                                   tuple(sorted(row_labels.items()))))
            else:
                add_workload_row(plan, kind, ns, name, row, row_labels)
    # One pod shown several times (a watch, runs pasted together): its last row.
    pods = list({(row.ns, row.name): row for row in pods}.values())
    add_pod_rows(plan.scene, pods, plan.entry.notes)
    merge_replicasets(plan)
    if not inv.watch and kinds == ["pods"]:
        mark_moments(plan, pods)


YOUNG = 20.0  # seconds: a pod this young next to older ones was caught while a process ran


def mark_moments(plan: Plan, rows: list[PodRow]) -> None:
    """A table caught in the middle of a process (a rollout, a scale-up, a deletion) shows a
    moment no spec holds. Such an entry is replayed by running the process while a watch of
    its command records every change; the moment is looked for among the states it went
    through (`Runner.capture`)."""
    for t in list(plan.scene.things.values()):
        hashes = {m["hash"] for r in rows if (m := DEPLOYMENT_POD.fullmatch(r.name)) and m["base"] == t.name}
        if t.kind == "Deployment" and len(hashes) > 1 and t.spec.state == RUNNING:
            t.hold_last_revision = True  # the rollout to the newest template runs while watched
            plan.during.append(["#revision", t.kind, t.ns, t.name])
            continue
        own = [r for r in rows if r.ns == t.ns and _owner_base(r.name, t.kind) == t.name]
        young = [r for r in own if r.age <= YOUNG and r.status in TRANSIENT | {RUNNING}]
        settled = [r for r in own if r.age > YOUNG and r.status != "Terminating"]
        caught = any(r.status in TRANSIENT and r.status != "Terminating" for r in young)
        if t.kind in ("Deployment", "StatefulSet") and caught and settled and t.spec.state == RUNNING:
            after, t.replicas = t.replicas, len(settled)
            plan.during.append(["scale", f"{t.kind.lower()}/{t.name}", f"--replicas={after}"])
        elif t.kind == "DaemonSet" and any(r.status == "Terminating" for r in own):
            plan.during.append(["delete", "daemonset", t.name, "--wait=false"])
        elif t.kind == "Pod" and t.delete_before:  # deleted while watched, not before
            t.delete_before = False
            plan.during.append(["delete", "pod", t.name, "--wait=false"])
    plan.moment = bool(plan.during)


def _owner_base(name: str, kind: str) -> str | None:
    pattern = {"Deployment": DEPLOYMENT_POD, "StatefulSet": ORDINAL, "DaemonSet": GENERATED}.get(kind)
    m = pattern.fullmatch(name) if pattern else None
    return m["base"] if m else None


def _fraction(cell: str) -> tuple[int, int] | None:
    found = re.fullmatch(r"(\d+)/(\d+)", cell or "")
    return (int(found[1]), int(found[2])) if found else None


def add_workload_row(plan: Plan, kind: str, ns: str, name: str, row: dict[str, str],
                     labels: dict[str, str]) -> None:
    scene = plan.scene
    if kind == "deployments":
        ready, desired = _fraction(row.get("READY", "")) or (
            int(row.get("AVAILABLE", "0") or 0), int(row.get("DESIRED", "1") or 1))
        updated = int(row.get("UP-TO-DATE", str(desired)) or desired)
        revisions = [PodSpec()]
        if updated == 0 and desired > 0:
            # No pod could be made at all (a missing ServiceAccount, a quota).
            scene.add("Deployment", ns, name, service_account="fidelity-missing-account")
        elif updated < desired:  # a rollout that stalls on pods that never get ready
            revisions = [PodSpec(), PodSpec(state="ErrImagePull")]
        elif ready < desired:
            revisions = [PodSpec(state="ErrImagePull")]
        existing = scene.things.get(("Deployment", ns, name))
        if existing is None:
            scene.add("Deployment", ns, name, replicas=desired, revisions=revisions, labels=labels)
        else:
            existing.replicas = desired
    elif kind == "replicasets":
        scene.replicasets.append(RSRow(ns, name, int(row.get("DESIRED", "0") or 0),
                                       int(row.get("CURRENT", "0") or 0),
                                       int(row.get("READY", "0") or 0),
                                       age_seconds(row.get("AGE", "")), labels))
    elif kind == "statefulsets":
        ready, desired = _fraction(row.get("READY", "")) or (
            int(row.get("CURRENT", "1") or 1), int(row.get("DESIRED", "1") or 1))
        state = RUNNING if ready > 0 or desired == 0 else "ErrImagePull"
        if ("StatefulSet", ns, name) not in scene.things:
            scene.add("StatefulSet", ns, name, replicas=desired, revisions=[PodSpec(state=state)],
                      labels=labels)
    elif kind == "services":
        add_service_row(scene, ns, name, row, labels)
    elif kind == "daemonsets":
        scene.add("DaemonSet", ns, name, labels=labels, replicas=int(row.get("DESIRED", "1") or 1))
    elif kind in ("configmaps", "secrets"):
        scene.add(THING_KIND[kind], ns, name, replicas=int(row.get("DATA", "1") or 1),
                  secret_type=row.get("TYPE", "Opaque"))
    elif kind in ("namespaces", "nodes", "storageclasses", "ingressclasses"):
        pass  # listed, not made: the cluster's own (a cluster-wide entry)
    elif kind == "persistentvolumeclaims":
        add_claim_row(scene, ns, name, row, labels)
    elif kind == "persistentvolumes":
        add_volume_row(scene, name, row)
    elif kind == "ingresses":
        hosts = [h for h in row.get("HOSTS", "").split(",") if h and h != "*"]
        scene.add("Ingress", ns, name, ingress_class=row.get("CLASS", "<none>"), hosts=hosts,
                  service_ports=[(int(p), None, "TCP", None) for p in row.get("PORTS", "80").split(",")
                                 if p.isdigit()] or [(80, None, "TCP", None)])
        scene.add("Service", ns, name)
    else:
        raise Unservable(f"a table of {kind}")


def merge_replicasets(plan: Plan) -> None:
    """ReplicaSet rows: revisions of their Deployment (oldest first), or a ReplicaSet alone."""
    scene = plan.scene
    groups: dict[tuple[str, str], list[RSRow]] = {}
    for rs in scene.replicasets:
        m = REPLICASET.fullmatch(rs.name)
        if m is None:  # a ReplicaSet of its own: its pods were rows with generated names
            pods = scene.things.pop(("GeneratedPod", rs.ns, rs.name), None)
            scene.add("ReplicaSet", rs.ns, rs.name, replicas=rs.desired, labels=rs.labels,
                      revisions=pods.revisions if pods else [PodSpec()])
        else:
            groups.setdefault((rs.ns, m["base"]), []).append(rs)
    for (ns, base), sets in groups.items():
        sets.sort(key=lambda rs: -rs.age)  # oldest first
        existing = scene.things.get(("Deployment", ns, base))
        if existing is not None:
            missing = len(sets) - len(existing.revisions)
            existing.revisions = [PodSpec() for _ in range(max(0, missing))] + existing.revisions
            continue
        newest = sets[-1]
        revisions = [PodSpec() for _ in sets[:-1]]
        revisions.append(PodSpec(state=RUNNING if newest.ready >= newest.desired else "ErrImagePull"))
        if newest.desired > 0 and newest.current == 0:  # no pod could be made at all
            revisions[-1] = PodSpec()
            scene.add("Deployment", ns, base, service_account="fidelity-missing-account")
        live = [rs for rs in sets if rs.desired > 0]
        if len(sets) >= 2 and revisions[-1].state != RUNNING:
            replicas, strategy = stall_for(sum(rs.desired for rs in sets[:-1]), newest.desired)
            scene.add("Deployment", ns, base, strategy=strategy)
        else:
            replicas = live[-1].desired if live else 0
        scene.add("Deployment", ns, base, replicas=replicas, revisions=revisions,
                  labels=newest.labels)


ACCESS_MODES = {"RWO": "ReadWriteOnce", "RWX": "ReadWriteMany", "ROX": "ReadOnlyMany",
                "RWOP": "ReadWriteOncePod"}


def add_claim_row(scene: Scene, ns: str, name: str, row: dict[str, str], labels: dict[str, str]) -> None:
    """A PersistentVolumeClaim row: Bound claims of a class get a pod that uses them (the
    class binds when a pod comes: WaitForFirstConsumer), Bound claims without one the
    PersistentVolume the row names; a Pending claim without a class asks for too much."""
    status = row.get("STATUS", "Pending")
    size = row.get("CAPACITY") or "1Gi"
    modes = [ACCESS_MODES.get(m, "ReadWriteOnce") for m in (row.get("ACCESS MODES") or row.get(
        "ACCESSMODES") or "RWO").split(",")]
    klass = row.get("STORAGECLASS")  # an old table has no such column: the default class
    volume = row.get("VOLUME", "")
    claim = scene.add("PersistentVolumeClaim", ns, name, labels=labels, storage=size,
                      access_modes=modes, storage_class=klass, bound=status == "Bound")
    if status != "Bound":
        if not klass:
            claim.storage = "1Ti"  # more than any volume here: nothing binds it
        return
    if klass != "" or not volume:  # a class (the default one in an old table) provisioned it
        scene.add("Pod", ns, f"{name}-user", claim=name)
    else:
        scene.add("PersistentVolume", "", volume, storage=size, access_modes=modes, storage_class="")


def add_volume_row(scene: Scene, name: str, row: dict[str, str]) -> None:
    modes = [ACCESS_MODES.get(m, "ReadWriteOnce") for m in (row.get("ACCESS MODES") or row.get(
        "ACCESSMODES") or "RWO").split(",")]
    size = row.get("CAPACITY") or "1Gi"
    scene.add("PersistentVolume", "", name, storage=size, access_modes=modes,
              storage_class=row.get("STORAGECLASS", ""))
    claim = row.get("CLAIM", "")
    if "/" in claim:
        ns, claim_name = claim.split("/", 1)
        scene.add("PersistentVolumeClaim", ns, claim_name, storage=size, access_modes=modes,
                  storage_class="", bound=True, volume_name=name)


def add_service_row(scene: Scene, ns: str, name: str, row: dict[str, str], labels: dict[str, str]) -> None:
    ports: list[tuple[int, int | None, str, str | None]] = []
    for part in (row.get("PORT(S)") or "").split(","):
        found = re.fullmatch(r"(\d+)(?::(\d+))?/(\w+)", part.strip())
        if found:
            ports.append((int(found[1]), int(found[2]) if found[2] else None, found[3], None))
    service_type = row.get("TYPE") or ("LoadBalancer" if row.get("EXTERNAL-IP", "<none>") not in (
        "<none>", "") else ("NodePort" if any(p[1] for p in ports) else "ClusterIP"))
    selector = None
    if row.get("SELECTOR") and row["SELECTOR"] != "<none>":
        selector = dict(term.split("=", 1) for term in row["SELECTOR"].split(","))
    scene.add("Service", ns, name, service_type=service_type, service_ports=ports,
              headless=row.get("CLUSTER-IP") == "None", selector=selector, labels=labels)


# --- derivers, one per kubectl verb ------------------------------------------------------------


def k3d_entry(entry: CorpusEntry) -> bool:
    return "k3d" in entry.cluster and "hands-on" in entry.output + entry.notes + entry.cluster \
        or "k3d v5" in entry.cluster


def derive_get(plan: Plan, inv: Invocation) -> None:
    out = plan.entry.output
    if "doesn't have a resource type" in out:
        return  # the error is the point: nothing to make
    kinds = {k for k, _ in resource_words(inv)}
    if "nodes" in kinds:
        if not k3d_entry(plan.entry):
            raise Unservable("another cluster's nodes (the simulator plays k3d's hands-on cluster)")
        plan.cluster_wide = True
    if "namespaces" in kinds or inv.all_namespaces:
        plan.cluster_wide = True
    if "namespaces" in kinds:
        plan.own_namespace = False
    plan.all_namespaces = inv.all_namespaces
    if kinds & {"persistentvolumes", "storageclasses", "ingressclasses"}:
        plan.cluster_wide = True
    if inv.watch:
        plan.background = True
    add_tables(plan, inv, out)
    for found in _OUTPUT_NS.finditer(out):  # "No resources found in ui namespace."
        plan.scene.namespaces_shown.add(found["ns"])
    for kind, name in resource_words(inv):
        if name and kind not in ("all", "nodes", "namespaces") and plan.scene.find(name) is None \
                and not owned_pod(plan.scene, name) and "NotFound" not in out and "not found" not in out:
            plan.scene.add(THING_KIND.get(kind, "Pod"), plan.shown_ns, name)


def owned_pod(scene: Scene, name: str) -> bool:
    """Is this the name of a pod one of the scene's controllers makes (redis-0, web-x-y)?"""
    for pattern, kind in ((ORDINAL, "StatefulSet"), (DEPLOYMENT_POD, "Deployment")):
        m = pattern.fullmatch(name)
        if m and any(t.kind == kind and t.name == m["base"] for t in scene.things.values()):
            return True
    return False


def derive_describe(plan: Plan, inv: Invocation) -> None:
    words = resource_words(inv)
    if not words or words[0][1] is None:
        raise Unservable("describe without a name")
    kind, name = words[0]
    out = plan.entry.output
    assert name is not None
    if kind == "services":
        describe_service(plan, name, out)
    elif kind == "replicasets":
        m = REPLICASET.fullmatch(name)
        base = m["base"] if m else name
        account = re.search(r'serviceaccount "([^"]+)" not found', out)
        plan.scene.add("Deployment", plan.shown_ns, base,
                       service_account=account[1] if account else None)
        plan.refs[name] = f"rs:{base}"
    else:
        plan.scene.add(THING_KIND.get(kind, "Pod"), plan.shown_ns, name)


def describe_service(plan: Plan, name: str, out: str) -> None:
    field_of = dict(re.findall(r"^([A-Za-z][\w ]*?):\s+(.*)$", out, re.M))
    selector = dict(t.split("=", 1) for t in field_of.get("Selector", "").split(",") if "=" in t)
    port = re.search(r"^Port:\s+(?:(\S+)\s+)?(\d+)/(\w+)", out, re.M)
    target = re.search(r"^TargetPort:\s+(\d+)", out, re.M)
    ports = [(int(port[2]), None, port[3], port[1])] if port else []
    plan.scene.add("Service", plan.shown_ns, name, service_type=field_of.get("Type", "ClusterIP"),
                   service_ports=ports, selector=selector or None,
                   headless=field_of.get("IP") == "None")
    endpoints = field_of.get("Endpoints", "<none>")
    count = len(endpoints.split(",")) if endpoints not in ("<none>", "") else 0
    if count and selector:
        base = selector.get("app", name)
        plan.scene.add("Deployment", plan.shown_ns, base, replicas=count, labels=selector,
                       revisions=[PodSpec(ports=(int(target[1]),) if target else ())])


def apply_lines(plan: Plan, out: str, *, default_ns: str) -> list[Thing]:
    """Things from `kind/name created|configured|unchanged` lines (and their old wording)."""
    things: list[Thing] = []
    lines = [m for m in (_APPLY_LINE.match(line) for line in out.split("\n")) if m]
    namespaces = [m["name"] or m["qname"] for m in lines if m["kind"] == "namespace"]
    ns = namespaces[0] if len(namespaces) == 1 else default_ns  # kustomize's namespace
    for m in lines:
        word = m["kind"].split(".", 1)[0]
        plural = plural_of(m["kind"] if m["kind"] in PLURAL else word)
        kind = THING_KIND.get(plural)
        if kind is None:
            raise Unservable(f"{m['kind']} (a kind the simulator does not serve)")
        name = m["name"] or m["qname"]
        stage = {"created": "file", "configured": "changed", "unchanged": "same"}.get(m["verb"], "live")
        if kind == "Namespace":
            things.append(plan.scene.add(kind, "", name, stage=stage))
            plan.scene.namespaces_shown.add(name)
        else:
            things.append(plan.scene.add(kind, ns, name, stage=stage))
    return things


def local_path(plan: Plan, shown: str, *, directory: bool = False) -> str:
    """Where the entry's file (a URL, ~/..., /abs, or relative) lives in the entry's folder."""
    if not (shown.startswith(("http://", "https://", "/", "~")) or ".." in shown):
        local = shown.rstrip("/")
    else:
        local = "files/" + re.sub(r"[^\w.-]", "_", shown.rstrip("/").rsplit("/", 1)[-1])
        plan.paths[local] = shown.replace("~", "/home/user", 1) if shown.startswith("~") else shown
    if directory:
        return local
    return local if local.endswith((".yaml", ".yml", ".json")) else local + ".yaml"


def derive_apply(plan: Plan, inv: Invocation) -> None:
    out = plan.entry.output
    things = apply_lines(plan, out, default_ns=plan.shown_ns)
    for found in re.finditer(r'\((?P<reason>AlreadyExists)\): error when creating "[^"]+": '
                             r'(?P<plural>[\w.]+) "(?P<name>[^"]+)" already exists', out):
        kind = THING_KIND.get(plural_of(found["plural"].split(".")[0]), "ConfigMap")
        things.append(plan.scene.add(kind, plan.shown_ns, found["name"], stage="same"))
    extra: list[Obj] = []
    for found in re.finditer(r'no matches for kind "(?P<kind>\w+)" in version "(?P<version>[\w/]+)"', out):
        extra.append({"apiVersion": found["version"], "kind": found["kind"],
                      "metadata": {"name": "removed-api-" + found["kind"].lower()}})
    invalid = re.search(r'^The (?P<kind>\w+) "(?P<name>[^"]+)" is invalid: spec: Forbidden', out, re.M)
    if invalid:
        things.append(plan.scene.add(invalid["kind"], plan.shown_ns, invalid["name"], stage="forbidden"))
    if not things and not extra:
        raise Unservable("an apply whose output names no object")
    files = inv.flags.get("-f", []) + inv.flags.get("--filename", [])
    kustomize = inv.flags.get("-k", []) + inv.flags.get("--kustomize", [])
    documents = [t for t in things if t.stage != "live"]
    if kustomize:
        folder = local_path(plan, kustomize[0], directory=True)
        plan.words = rewrite_value(plan.words, ("-k", "--kustomize"), folder)
        plan.files[f"{folder}/kustomization.yaml"] = "resources:\n- resources.yaml\n"
        plan.files[f"{folder}/resources.yaml"] = MANIFESTS_LATER
        plan.scene.file_documents = (f"{folder}/resources.yaml", documents, extra)
    elif files and files[0] != "-":
        shown = files[0]
        is_dir = shown.endswith("/")
        path = local_path(plan, shown, directory=is_dir)
        target = f"{path}/all.yaml" if is_dir else path
        plan.words = rewrite_value(plan.words, ("-f", "--filename"), path + ("/" if is_dir else ""))
        plan.files[target] = MANIFESTS_LATER
        plan.scene.file_documents = (target, documents, extra)
    else:
        raise Unservable("apply without a file")


MANIFESTS_LATER = "# written once the namespaces are known\n"


def rewrite_value(words: list[str], names: tuple[str, ...], value: str) -> list[str]:
    """The command with the value of the first of these flags replaced."""
    out = list(words)
    for i, word in enumerate(out):
        name, inline = split_flag(word)
        if name in names:
            if inline is not None:
                out[i] = f"{name}={value}" if word.startswith("--") else f"{name}{value}"
            elif i + 1 < len(out):
                out[i + 1] = value
            return out
    return out


def derive_create(plan: Plan, inv: Invocation) -> None:
    if inv.has("-f", "--filename"):
        derive_apply(plan, inv)
        return
    what = inv.args[0] if inv.args else ""
    out = plan.entry.output
    if what in ("clusterrole", "clusterrolebinding", "role", "rolebinding"):
        raise Unservable("RBAC objects (the simulator serves no rbac.authorization.k8s.io)")
    if what in ("namespace", "ns") and len(inv.args) > 1:
        name = inv.args[1]
        plan.scene.add("Namespace", "", name, stage="live" if "already exists" in out else "none")
        plan.scene.namespaces_shown.add(name)
        plan.refs[name] = f"ns:{name}"
        plan.cluster_wide = True
        return
    if what == "secret" and len(inv.args) > 1 and inv.args[1] == "tls":
        plan.openssl = True
        plan.words = rewrite_value(rewrite_value(plan.words, ("--key",), "tls.key"), ("--cert",), "tls.crt")
        return
    if what in ("deployment", "deploy", "service", "svc", "configmap", "cm", "secret",
                "serviceaccount", "sa"):
        return  # the command makes it
    raise Unservable(f"kubectl create {what}")


def derive_delete(plan: Plan, inv: Invocation) -> None:
    out = plan.entry.output
    if "--all" in inv.flags and inv.args and inv.args[0] in ("namespace", "namespaces", "ns"):
        raise Unservable("deletes every namespace of the cluster")
    if inv.has("-f", "--filename"):
        raise Unservable("delete -f of a manifest the corpus does not show")
    labels = labels_of(inv)
    pods: list[PodRow] = []
    for line in out.split("\n"):
        m = _APPLY_LINE.match(line)
        if not m:
            continue
        name = m["name"] or m["qname"]
        plural = plural_of(m["kind"] if m["kind"] in PLURAL else m["kind"].split(".", 1)[0])
        if plural == "pods":
            pods.append(PodRow(plan.shown_ns, name, "1/1", RUNNING, "0", 0.0, tuple(sorted(labels.items()))))
        elif plural == "namespaces":
            plan.scene.add("Namespace", "", name)
            plan.scene.namespaces_shown.add(name)
            plan.refs[name] = f"ns:{name}"
            plan.cluster_wide = True
        else:
            plan.scene.add(THING_KIND[plural], plan.shown_ns, name, labels=labels)
    add_pod_rows(plan.scene, pods, plan.entry.notes)
    for t in plan.scene.things.values():
        if t.kind == "Deployment" and len(t.revisions) > 1:
            # Two ReplicaSets' pods side by side: a rollout stalled on its new pods.
            t.revisions[-1] = PodSpec(state="ErrImagePull")
            t.replicas, t.strategy = stall_for(*_split_counts(pods, t.name))


def _split_counts(pods: list[PodRow], base: str) -> tuple[int, int]:
    hashes: dict[str, int] = {}
    for row in pods:
        m = DEPLOYMENT_POD.fullmatch(row.name)
        if m and m["base"] == base:
            hashes[m["hash"]] = hashes.get(m["hash"], 0) + 1
    counts = list(hashes.values())
    return sum(counts[:-1]), counts[-1]


def derive_logs(plan: Plan, inv: Invocation) -> None:
    out = plan.entry.output
    waiting = re.search(r'container "(?P<c>[^"]+)" in pod "(?P<pod>[^"]+)" is waiting to start: '
                        r"(?P<state>\w+)", out)
    if waiting:
        row = PodRow(plan.shown_ns, waiting["pod"], "0/1", waiting["state"], "0", 60.0,
                     tuple(sorted(labels_of(inv).items())))
        add_pod_rows(plan.scene, [row], plan.entry.notes)
        for t in plan.scene.things.values():
            t.container = waiting["c"]
        return
    if "NotFound" in out:
        return
    raise Unservable("container logs of an application the simulator does not run")


def derive_port_forward(plan: Plan, inv: Invocation) -> None:
    if not inv.args:
        raise Unservable("port-forward without a target")
    target, ports = inv.args[0], inv.args[1:]
    remote = [int(p.split(":")[-1]) for p in ports if p.split(":")[-1].isdigit()]
    spec = PodSpec(ports=tuple(remote))
    kind, _, name = target.rpartition("/")
    kind = plural_of(kind.split(".", 1)[0]) if kind else "pods"
    plan.background = True
    if name.startswith("$"):
        plan.env_refs[name[1:]] = "pod:nginx"
        plan.scene.add("Deployment", plan.shown_ns, "nginx", revisions=[spec], labels={"app": "nginx"})
        return
    if kind == "services":
        plan.scene.add("Service", plan.shown_ns, name,
                       service_ports=[(p, None, "TCP", None) for p in remote], selector={"app": name})
        plan.scene.add("Deployment", plan.shown_ns, name, revisions=[spec], labels={"app": name})
    elif kind == "pods" and (m := DEPLOYMENT_POD.fullmatch(name)):
        plan.scene.add("Deployment", plan.shown_ns, m["base"], revisions=[spec])
        plan.refs[name] = f"pod:{m['base']}"
    else:
        plan.scene.add(THING_KIND[kind], plan.shown_ns, name, revisions=[spec])


def target_of(inv: Invocation) -> tuple[str, str]:
    """(Thing kind, name) of `deployment/x`, `deploy x`, `sts web`, `pod myapp`."""
    if not inv.args:
        raise Unservable("no object named")
    first = inv.args[0]
    if "/" in first:
        kind, name = first.split("/", 1)
    elif len(inv.args) > 1:
        kind, name = first, inv.args[1]
    else:
        raise Unservable("no object named")
    plural = plural_of(kind)
    return THING_KIND.get(plural, "Pod"), name


def derive_target(plan: Plan, inv: Invocation) -> None:
    """scale, set, patch, annotate, label, expose, rollout status/restart, edit: the object
    the command acts on exists and is rolled out."""
    kind, name = target_of(inv)
    if kind == "Node" or kind not in {"Pod", "Deployment", "StatefulSet", "Service", "DaemonSet",
                                      "ReplicaSet", "ConfigMap", "Secret"}:
        raise Unservable(f"{kind} objects")
    thing = plan.scene.add(kind, plan.shown_ns, name)
    if inv.verb == "expose" and kind == "Pod":
        port = inv.value("--target-port", "--port")
        thing.revisions = [PodSpec(ports=(int(port),) if port and port.isdigit() else (80,))]
    if inv.verb == "edit":
        plan.editor = True
        thing.labels["kubelesson.io/edit"] = "before"


def derive_set(plan: Plan, inv: Invocation) -> None:
    if not inv.args or inv.args[0] not in ("image", "serviceaccount", "sa", "env", "resources"):
        raise Unservable(f"kubectl set {inv.args[0] if inv.args else ''}")
    derive_target(plan, Invocation(inv.words, inv.verb, inv.args[1:], inv.flags))
    thing = next(iter(plan.scene.things.values()))
    if inv.args[0] == "image":
        pairs = [w.split("=", 1) for w in inv.args[2:] if "=" in w]
        if pairs:
            thing.container = pairs[0][0]
            thing.revisions = [PodSpec(image=older_tag(pairs[0][1]))]


def older_tag(image: str) -> str:
    """Another tag of the same image (the one `set image` changes from)."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}:1.27" if repo in ("nginx",) else f"{repo}:1.0"


def derive_rollout(plan: Plan, inv: Invocation) -> None:
    if not inv.args or inv.args[0] not in ("status", "history", "undo", "restart", "pause", "resume"):
        raise Unservable(f"kubectl rollout {inv.args[0] if inv.args else ''}")
    if "NotFound" in plan.entry.output:
        return
    sub = Invocation(inv.words, inv.verb, inv.args[1:], inv.flags)
    derive_target(plan, sub)
    thing = next(iter(plan.scene.things.values()))
    revisions = 1
    if inv.args[0] == "history":
        numbers = [int(n) for n in re.findall(r"^(\d+)\s", plan.entry.output, re.M)]
        revisions = max(numbers) if numbers else 1
        if numbers and min(numbers) > 1:  # an undo made an old revision the newest
            plan.steps.append(["rollout", "undo", f"deployment/{thing.name}", "--to-revision=1"])
            revisions -= 1
    elif inv.args[0] == "undo":
        to = inv.value("--to-revision")
        revisions = int(to) + 1 if to and to.isdigit() else 2
    thing.revisions = [PodSpec(image=f"nginx:1.{20 + i}") for i in range(revisions)]


def derive_wait(plan: Plan, inv: Invocation) -> None:
    labels = labels_of(inv)
    rows = [PodRow(plan.shown_ns, m["name"] or m["qname"], "1/1", RUNNING, "0", 60.0,
                   tuple(sorted(labels.items())))
            for m in (_APPLY_LINE.match(line) for line in plan.entry.output.split("\n"))
            if m and m["kind"] == "pod"]
    if not rows:
        raise Unservable("kubectl wait on objects its output does not name")
    add_pod_rows(plan.scene, rows, plan.entry.notes)


def derive_run(plan: Plan, inv: Invocation) -> None:
    if inv.has("--rm", "-i", "--stdin", "-t", "--tty", "-it"):
        raise Unservable("kubectl run --rm -it (attach: the simulator has no exec/attach)")


def derive_cluster_info(plan: Plan, inv: Invocation) -> None:
    if not k3d_entry(plan.entry):
        raise Unservable("another cluster's addresses")
    plan.cluster_wide = True


DERIVERS: dict[str, Callable[[Plan, Invocation], None]] = {
    "get": derive_get, "describe": derive_describe, "apply": derive_apply,
    "create": derive_create, "delete": derive_delete, "logs": derive_logs,
    "port-forward": derive_port_forward, "rollout": derive_rollout, "scale": derive_target,
    "set": derive_set, "patch": derive_target, "annotate": derive_target,
    "label": derive_target, "expose": derive_target, "edit": derive_target,
    "wait": derive_wait, "run": derive_run, "cluster-info": derive_cluster_info,
}


# --- manifests ---------------------------------------------------------------------------------

# The image a name suggests (a redis pod runs redis); anything else runs nginx.
IMAGES = (("caddy", "caddy:2"), ("redis", "redis:7"), ("mariadb", "mariadb:11"),
          ("mysql", "mysql:8"), ("busybox", "busybox:1.36"), ("httpd", "httpd:2.4"),
          ("whoami", "traefik/whoami:v1.10"))
MISSING_TAG = "nginx:0.0.0-no-such-tag"  # a tag no registry has: ErrImagePull
NOT_A_NODE = {"kubelesson.io/fidelity": "no-node-has-this-label"}  # nothing fits: Pending


def image_for(name: str) -> str:
    return next((image for word, image in IMAGES if word in name), "nginx:1.27")


def containers_for(thing: Thing, spec: PodSpec) -> tuple[list[Obj], list[Obj], Obj]:
    """(containers, initContainers, extra pod spec) for a revision's intended state."""
    image = spec.image or image_for(thing.name)
    extra: Obj = {}
    init: list[Obj] = []
    command: list[str] | None = ["sleep", "3600"] if image.startswith("busybox") else None
    state = spec.state
    if state in ("ErrImagePull", "ImagePullBackOff"):
        image, command = spec.image or MISSING_TAG, None  # an image the entry names fails as it is
    elif state in ("CrashLoopBackOff", "Completed"):
        image, command = "busybox:1.36", None  # exits at once: Completed, restarted -> back-off
    elif state == "Error":
        image, command = "busybox:1.36", ["sh", "-c", "exit 1"]
    elif state == "ContainerCreating":  # a volume that cannot be mounted holds the pod there
        extra["volumes"] = [{"name": "held", "configMap": {"name": "fidelity-missing-configmap"}}]
    elif state == "Pending":
        extra["nodeSelector"] = dict(NOT_A_NODE)
    elif state.startswith("Init:"):
        bad = state.split(":", 1)[1] in ("ErrImagePull", "ImagePullBackOff")
        init.append({"name": "init", "image": MISSING_TAG if bad else "busybox:1.36",
                     **({} if bad else {"command": ["sh", "-c", "exit 1"]})})
    if state in ("Completed", "Error") and thing.kind in ("Pod", "GeneratedPod"):
        extra["restartPolicy"] = "Never"
    base = thing.container or image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    containers: list[Obj] = []
    for i in range(spec.containers):
        c: Obj = {"name": base if i == 0 else f"{base}-{i}", "image": image}
        if command:
            c["command"] = command
        if image.startswith(("mariadb", "mysql")):  # a database that runs was given its password
            c["env"] = [{"name": "MARIADB_ROOT_PASSWORD" if image.startswith("mariadb")
                         else "MYSQL_ROOT_PASSWORD", "value": "fidelity"}]
        if spec.ports and i == 0:
            c["ports"] = [{"containerPort": p} for p in spec.ports]
        if state == "ContainerCreating" and i == 0:
            c["volumeMounts"] = [{"name": "held", "mountPath": "/held"}]
        if state == "NotReady" and i >= (spec.ready or 0):
            c["readinessProbe"] = {"exec": {"command": ["false"]}, "periodSeconds": 1}
        containers.append(c)
    return containers, init, extra


def pod_labels(thing: Thing) -> dict[str, str]:
    return {"app": thing.name, **thing.labels}


def pod_spec(thing: Thing, spec: PodSpec) -> Obj:
    containers, init, extra = containers_for(thing, spec)
    out: Obj = {"terminationGracePeriodSeconds": thing.grace, **extra}
    if thing.claim:  # a pod that uses a claim, so that its class binds it
        out["volumes"] = [*out.get("volumes", []), {"name": "data", "persistentVolumeClaim": {
            "claimName": thing.claim}}]
        containers[0]["volumeMounts"] = [*containers[0].get("volumeMounts", []),
                                         {"name": "data", "mountPath": "/data"}]
    if init:
        out["initContainers"] = init
    out["containers"] = containers
    if thing.service_account:
        out["serviceAccountName"] = thing.service_account
    return out


def template(thing: Thing, revision: int) -> Obj:
    spec = thing.revisions[revision]
    meta: Obj = {"labels": pod_labels(thing)}
    if revision:
        meta["annotations"] = {"kubelesson.io/revision": str(revision)}
    return {"metadata": meta, "spec": pod_spec(thing, spec)}


def manifests(thing: Thing, ns: str, *, revision: int = -1, variant: bool = False) -> list[Obj]:
    """The objects for one thing in namespace `ns` (the used one), at one of its revisions;
    `variant` is the earlier form a `configured` apply changes."""
    rev = revision % len(thing.revisions)
    meta: Obj = {"name": thing.name}
    if ns:
        meta["namespace"] = ns
    labels = dict(thing.labels)  # a selector (`get all -l ...`) selects every kind by these
    if variant:
        labels["kubelesson.io/variant"] = "earlier"
    if labels and kind_has_labels(thing):
        meta["labels"] = labels
    kind = thing.kind
    if kind in ("Pod", "GeneratedPod"):
        pods = []
        for _ in range(thing.replicas if kind == "GeneratedPod" else 1):
            pod_meta = dict(meta, labels={**pod_labels(thing), **meta.get("labels", {})})
            if kind == "GeneratedPod":
                pod_meta["generateName"] = pod_meta.pop("name") + "-"
            pods.append({"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
                         "spec": pod_spec(thing, thing.revisions[rev])})
        return pods
    if kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        spec: Obj = {"selector": {"matchLabels": pod_labels(thing)}, "template": template(thing, rev)}
        if kind != "DaemonSet":
            spec["replicas"] = thing.replicas
        else:  # one pod per node: on as many of the simulator's nodes as the entry had
            spec["template"]["spec"]["affinity"] = {"nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{
                    "matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In",
                                          "values": SIM_NODES[:max(1, thing.replicas)]}]}]}}}
        if kind == "StatefulSet":
            spec["serviceName"] = thing.name
        if kind == "StatefulSet" and thing.stage == "forbidden" and not variant:
            spec["podManagementPolicy"] = "Parallel"  # not among the fields that may change
        if kind == "Deployment" and variant:
            spec["template"]["metadata"]["annotations"] = {"kubelesson.io/variant": "earlier"}
        if thing.strategy:
            spec["strategy"] = thing.strategy
        return [{"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}]
    if kind == "Service":
        return [service_manifest(thing, meta)]
    if kind == "PersistentVolumeClaim":
        claim: Obj = {"accessModes": thing.access_modes,
                      "resources": {"requests": {"storage": thing.storage}}}
        if thing.storage_class is not None:  # "" asks for a volume of no class
            claim["storageClassName"] = thing.storage_class
        if thing.volume_name:
            claim["volumeName"] = thing.volume_name
        return [{"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": claim}]
    if kind == "PersistentVolume":
        return [{"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": {
            "capacity": {"storage": thing.storage}, "accessModes": thing.access_modes,
            "storageClassName": thing.storage_class or "", "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": f"/tmp/fidelity/{thing.name}"}}}]
    if kind == "Ingress":
        return [ingress_manifest(thing, meta)]
    if kind == "ConfigMap":
        data = {f"key{i}": "earlier" if variant else "value" for i in range(max(1, thing.replicas))}
        return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}]
    if kind == "Secret":
        return [secret_manifest(thing, meta, variant)]
    if kind == "ServiceAccount":
        return [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}]
    if kind == "Namespace":
        return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, **(
            {"labels": meta["labels"]} if variant else {})}}]
    raise Unservable(f"{kind} objects")


def ingress_manifest(thing: Thing, meta: Obj) -> Obj:
    port = thing.service_ports[0][0] if thing.service_ports else 80
    path = {"path": "/", "pathType": "Prefix",
            "backend": {"service": {"name": thing.name, "port": {"number": port}}}}
    rules = [{"host": h, "http": {"paths": [path]}} for h in thing.hosts] or [{"http": {"paths": [path]}}]
    spec: Obj = {"rules": rules}
    if thing.ingress_class not in ("<none>", ""):
        spec["ingressClassName"] = thing.ingress_class
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def kind_has_labels(thing: Thing) -> bool:
    return thing.kind not in ("Namespace",) or bool(thing.labels)


def service_manifest(thing: Thing, meta: Obj) -> Obj:
    ports = []
    for i, (port, node_port, protocol, name) in enumerate(thing.service_ports or [(80, None, "TCP", None)]):
        entry: Obj = {"port": port, "protocol": protocol}
        if name or len(thing.service_ports) > 1:
            entry["name"] = name or f"port-{i}"
        if node_port and thing.service_type in ("NodePort", "LoadBalancer"):
            entry["nodePort"] = node_port
        if thing.name == "kubernetes":
            entry["targetPort"] = 6443
        ports.append(entry)
    spec: Obj = {"type": thing.service_type, "ports": ports}
    if thing.headless:
        spec["clusterIP"] = "None"
    selector = thing.selector if thing.selector is not None else (
        None if thing.name == "kubernetes" else {"app": thing.name})
    if selector:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def secret_manifest(thing: Thing, meta: Obj, variant: bool) -> Obj:
    value = base64.b64encode(b"earlier" if variant else b"value").decode()
    if thing.secret_type == "kubernetes.io/tls":
        data = {"tls.crt": value, "tls.key": value}
    else:
        data = {f"key{i}": value for i in range(max(1, thing.replicas))}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta,
            "type": thing.secret_type or "Opaque", "data": data}


def expected_pods(thing: Thing) -> list[tuple[str, str, int]]:
    """(READY, STATUS, restarts) of the pods a thing should have once it got where the entry shows."""
    spec = thing.spec
    if thing.kind in ("Pod", "GeneratedPod"):
        if thing.delete_before:
            return [(f"{spec.containers}/{spec.containers}", "Terminating", spec.restarts)]
        return [spec.expected()] * (thing.replicas if thing.kind == "GeneratedPod" else 1)
    if thing.service_account == "fidelity-missing-account":
        return []  # a real cluster makes no pod (FailedCreate)
    if thing.kind == "Deployment" and len(thing.revisions) > 1 and spec.state != RUNNING:
        old, new = rollout_split(thing.replicas, thing.strategy)
        return [PodSpec().expected()] * old + [spec.expected()] * new
    if thing.kind == "StatefulSet" and spec.state != RUNNING:
        return [spec.expected()] if thing.replicas else []  # OrderedReady stops at pod 0
    if thing.kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet"):
        return [spec.expected()] * thing.replicas
    return []


# --- entries that need more than their command line says ---------------------------------------


def derive_kustomize_pipe(entry: CorpusEntry) -> Plan:
    """`kubectl kustomize DIR | kubectl apply -f -`: the objects its lines show, kustomized."""
    plan = Plan(entry, Scene(), ["apply", "-f", "-"])
    things = apply_lines(plan, entry.output, default_ns="default")
    plan.files["kustomize/kustomization.yaml"] = "resources:\n- resources.yaml\n"
    plan.files["kustomize/resources.yaml"] = MANIFESTS_LATER
    plan.scene.file_documents = ("kustomize/resources.yaml", [t for t in things if t.stage != "live"], [])
    plan.shell = "kubectl kustomize kustomize | kubectl apply -f -"
    plan.cluster_wide = any(t.kind == "Namespace" for t in things)
    return plan


def derive_describe_events(entry: CorpusEntry) -> Plan:
    """`kubectl describe pod $POD | awk '/Events:/,/^$/'`: the pod its events show."""
    plan = Plan(entry, Scene(), ["describe", "pod", "$POD"])
    pod = re.search(r"assigned \S+/(\S+) to", entry.output)
    image = re.search(r'Pulling image "([^"]+)"', entry.output)
    if pod is None or image is None:
        raise Unservable("a describe the script cannot read")
    m = DEPLOYMENT_POD.fullmatch(pod[1])
    base = m["base"] if m else pod[1]
    plan.scene.add("Deployment", "default", base, revisions=[PodSpec(state="ImagePullBackOff", image=image[1])])
    plan.env_refs["POD"] = f"pod:{base}"
    plan.shell = "kubectl describe pod $POD | awk '/Events:/,/^$/'"
    return plan


SPECIAL: dict[str, Callable[[CorpusEntry], Plan]] = {
    "describe-003": derive_describe_events,
}

# Entries whose story the simulator cannot play, known from their notes.
NOT_SERVED = {
    "get_pods-048": "a node failing under a pod (the simulator's nodes never fail)",
    "misc-013": "a name outside the cluster (nslookup google.com: the simulator has no Internet)",
}

SETTLE = ["#settle"]  # in `during`: wait for the pods to settle before the next step


def _watch_from_start(plan: Plan) -> None:
    """The watch ran before the objects were made: they are made while it runs."""
    plan.during = [["#setup"]]


def _held_then_released(plan: Plan) -> None:
    """The watch began while web-0 was still being created (its image pulled): held here by
    a ConfigMap volume that appears once the watch runs."""
    sts = plan.scene.things[("StatefulSet", "default", "web")]
    sts.revisions = [PodSpec(state="ContainerCreating")]
    plan.during = [["create", "configmap", "fidelity-missing-configmap"]]


def _sts_scale_up_down(plan: Plan) -> None:
    """web-0..3 ran; scaled to 5 (web-4 starts), then down to 3 (web-4, web-3 go)."""
    sts = plan.scene.things[("StatefulSet", "default", "web")]
    sts.replicas = 4
    plan.during = [["scale", "statefulset", "web", "--replicas=5"], SETTLE,
                   ["scale", "statefulset", "web", "--replicas=3"]]


def _sts_deleted(plan: Plan) -> None:
    """The tutorial deletes the StatefulSet while this watch runs (a cascading delete)."""
    plan.during = [["delete", "statefulset", "web", "--wait=false"]]


HINTS: dict[str, Callable[[Plan], None]] = {
    # What the command line and the output cannot tell: what happened while a watch ran.
    "get_pods-019": _watch_from_start,
    "get_pods-054": _watch_from_start,
    "get_pods-055": _held_then_released,
    "get_pods-056": _sts_scale_up_down,
    "get_pods-057": _sts_deleted,
}


# --- running an entry --------------------------------------------------------------------------


@dataclass
class Result:
    id: str
    served: bool
    reason: str = ""  # why not served
    agree: bool = False
    cause: str = ""  # of a difference: one of CAUSES
    detail: str = ""  # what differs, or which version/artefact explains it
    corpus: str = ""  # normalized
    simulated: str = ""  # normalized
    raw: str = ""  # what kubectl printed against the simulator
    seconds: float = 0.0


def slug(entry_id: str) -> str:
    return entry_id.replace("_", "-").lower()


def used_namespaces(plan: Plan) -> dict[str, str]:
    """Shown namespace -> the namespace the entry runs in on the shared simulator."""
    shown = {plan.shown_ns} | plan.scene.namespaces() | plan.scene.namespaces_shown
    if not plan.own_namespace:
        return {ns: ns for ns in sorted(shown)}
    base = f"fid-{slug(plan.entry.id)}"
    return {ns: (base if ns == plan.shown_ns else f"{base}-{ns}")[:63].rstrip("-")
            for ns in sorted(shown) if ns}


def kubeconfig(sim: SimHandle, namespace: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fidelity",
        "clusters": [{"name": "sim", "cluster": {"server": sim.url}}],
        "users": [{"name": "sim", "user": {}}],
        "contexts": [{"name": "fidelity", "context": {"cluster": "sim", "user": "sim",
                                                     "namespace": namespace}}],
    })


class Runner:
    """Runs plans against one simulator with one kubectl binary."""

    def __init__(self, sim: SimHandle, kubectl: str, workdir: Path) -> None:
        self.sim = sim
        self.kubectl = kubectl
        self.workdir = workdir

    # -- kubectl ------------------------------------------------------------------------------
    def env(self, folder: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        env.update(KUBECONFIG=str(folder / "kubeconfig"), KUBECACHEDIR=str(self.sim.cache_dir),
                   KUBERC="off", NO_COLOR="1", HOME=str(folder),
                   PATH=f"{Path(self.kubectl).parent}:{env.get('PATH', '')}")
        return env

    def kubectl_ok(self, folder: Path, args: list[str], stdin: str | None = None) -> str:
        proc = subprocess.run([self.kubectl, *args], input=stdin, capture_output=True, text=True,
                              cwd=folder, env=self.env(folder), timeout=COMMAND_TIMEOUT)
        if proc.returncode != 0:
            raise SetupFailed(f"kubectl {' '.join(args)}: {(proc.stderr or proc.stdout).strip()}")
        return proc.stdout

    # -- the state --------------------------------------------------------------------------------
    def pods(self, namespaces: Iterable[str]) -> Counter[tuple[str, str, int]]:
        seen: Counter[tuple[str, str, int]] = Counter()
        for ns in namespaces:
            for pod in self.sim.store.list("pods", ns)[0]:
                restarts = sum(int(cs.get("restartCount") or 0)
                               for cs in pod.get("status", {}).get("containerStatuses") or [])
                seen[(pod_ready(pod), pod_status(pod), restarts)] += 1
        return seen

    def settle(self, namespaces: list[str], expected: Counter[tuple[str, str, int]] | None) -> bool:
        """Wait until the pods look as expected, or stop changing, or the deadline."""
        start = last_change = time.monotonic()
        last: Counter[tuple[str, str, int]] | None = None
        crashing = Counter({k: n for k, n in (expected or Counter()).items()
                            if k[1] in ("CrashLoopBackOff", "Error")})
        while True:
            seen = self.pods(namespaces)
            now = time.monotonic()
            if expected is not None and seen == expected:
                return True
            if seen != last:
                last, last_change = seen, now
            transitional = any(status in ("ContainerCreating", "Pending", "Terminating")
                               for _, status, _ in seen)
            # Crash loops count on with time: once they show the restarts the entry shows,
            # that moment is taken (waiting on would only count past it).
            if crashing and not transitional and all(seen[k] >= n for k, n in crashing.items()):
                return False
            quiet = QUIET if expected is not None or transitional else 0.3
            if now - last_change >= quiet or now - start >= SETTLE_DEADLINE:
                return False
            time.sleep(0.05)

    def rolled_out(self, ns: str, name: str) -> None:
        deadline = time.monotonic() + SETTLE_DEADLINE
        while time.monotonic() < deadline:
            dep = self.sim.store.get("deployments.apps", ns, name) or {}
            status, spec = dep.get("status", {}), dep.get("spec", {})
            want = spec.get("replicas", 1)
            if (status.get("observedGeneration", 0) >= dep.get("metadata", {}).get("generation", 1)
                    and status.get("updatedReplicas", 0) == want
                    and status.get("availableReplicas", 0) == want
                    and status.get("replicas", 0) == want):
                return
            time.sleep(0.05)

    def resolve(self, ref: str, ns_map: dict[str, str], shown_ns: str, taken: set[str]) -> str:
        """A generated name the command needs: `pod:<deployment>`, `rs:<deployment>`, `ns:<name>`."""
        prefix = ""
        if "/" in ref:  # pod/<generated>: keep the kind the command typed
            prefix, ref = ref.split("/", 1)
            prefix += "/"
        kind, _, base = ref.partition(":")
        if kind == "ns":
            return ns_map.get(base, base)
        resource = "pods" if kind == "pod" else "replicasets.apps"
        items = self.sim.store.list(resource, ns_map[shown_ns])[0]
        names = [o["metadata"]["name"] for o in items
                 if o["metadata"]["name"].startswith(base + "-")
                 and not o["metadata"].get("deletionTimestamp")]
        if kind == "rs":  # the newest ReplicaSet
            items.sort(key=lambda o: o["metadata"].get("creationTimestamp", ""))
            names = [o["metadata"]["name"] for o in items if o["metadata"]["name"] in names][-1:]
        free = [n for n in names if n not in taken] or names
        if not free:
            raise SetupFailed(f"no {kind} of {base} to name in the command")
        taken.add(free[0])
        return prefix + str(free[0])

    # -- one entry ---------------------------------------------------------------------------
    def run(self, plan: Plan) -> Result:
        started = time.monotonic()
        folder = self.workdir / slug(plan.entry.id)
        folder.mkdir(parents=True, exist_ok=True)
        ns_map = used_namespaces(plan)
        (folder / "kubeconfig").write_text(kubeconfig(self.sim, ns_map[plan.shown_ns]))
        try:
            if plan.during[:1] != [["#setup"]]:
                self.set_up(plan, folder, ns_map)
            output, ports = self.execute(plan, folder, ns_map)
        except SetupFailed as exc:
            return Result(plan.entry.id, served=False, reason=f"setup failed: {exc}",
                          seconds=time.monotonic() - started)
        result = compare(plan, output, ns_map, ports)
        for _ in range(2):
            if result.agree or not self.flickers(plan, ns_map):
                break
            # ErrImagePull alternates with ImagePullBackOff: a read-only command that came
            # a moment late is run again once the state is back.
            self.settle(list(ns_map.values()), self.expected(plan, ns_map))
            output, ports = self.execute(plan, folder, ns_map)
            result = compare(plan, output, ns_map, ports)
        result.seconds = time.monotonic() - started
        return result

    def flickers(self, plan: Plan, ns_map: dict[str, str]) -> bool:
        read_only = plan.words[:1] in (["get"], ["describe"]) and plan.shell is None
        return read_only and not plan.background and not plan.moment and any(
            status == "ErrImagePull" for _, status, _ in self.expected(plan, ns_map))

    def set_up(self, plan: Plan, folder: Path, ns_map: dict[str, str]) -> None:
        scene = plan.scene
        things = list(scene.things.values())
        made_by_command = {t.name for t in things if t.kind == "Namespace" and t.stage in ("file", "none")}
        docs: list[Obj] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": used}}
            for shown, used in ns_map.items() if shown not in made_by_command and plan.own_namespace
            and not any(t.kind == "Namespace" and t.name == shown for t in things)
        ]
        order = ["Namespace", "ServiceAccount", "ConfigMap", "Secret", "PersistentVolume",
                 "PersistentVolumeClaim", "Service"]
        things.sort(key=lambda t: order.index(t.kind) if t.kind in order else len(order))
        applied: list[Obj] = []
        for t in things:
            if t.stage in ("file", "none"):
                continue
            ns = ns_map[t.name] if t.kind == "Namespace" else ns_map.get(t.ns, "")
            made = manifests(t, ns, revision=0, variant=t.stage in ("changed", "forbidden"))
            (applied if t.stage in ("same", "changed", "forbidden") else docs).extend(made)
        # What the command applies again was applied before (so `unchanged`/`configured`);
        # everything else is created, as a learner's `kubectl create` or `run` makes it
        # (apply would leave an annotation later commands warn about).
        if docs:
            self.kubectl_ok(folder, ["create", "-f", "-"], stdin=yaml.safe_dump_all(docs))
        if applied:
            self.kubectl_ok(folder, ["apply", "-f", "-"], stdin=yaml.safe_dump_all(applied))
        for t in things:  # later revisions, one rollout after another
            if t.kind != "Deployment" or t.stage in ("file", "none"):
                continue
            for revision in range(1, len(t.revisions) - (1 if t.hold_last_revision else 0)):
                self.rolled_out(ns_map[t.ns], t.name)
                self.kubectl_ok(folder, ["replace", "-f", "-"],
                                stdin=yaml.safe_dump_all(manifests(t, ns_map[t.ns], revision=revision)))
        for step in plan.steps:
            for t in things:
                if t.kind == "Deployment":
                    self.rolled_out(ns_map[t.ns], t.name)
            self.kubectl_ok(folder, step)
        self.write_files(plan, folder, ns_map)
        self.settle(list(ns_map.values()), self.expected(plan, ns_map, before_delete=True))
        for t in things:
            if t.delete_before:
                self.kubectl_ok(folder, ["delete", "pod", t.name, "--wait=false", "-n", ns_map[t.ns]])
        self.settle(list(ns_map.values()), self.expected(plan, ns_map))
        self.load_balancers(plan, ns_map)

    def load_balancers(self, plan: Plan, ns_map: dict[str, str]) -> None:
        """A LoadBalancer Service the entry shows with its EXTERNAL-IP: wait until it has one
        (on k3s once ServiceLB's pods run), or the deadline."""
        waiting = [("services", ns_map[t.ns], t.name) for t in plan.scene.things.values()
                   if t.kind == "Service" and t.service_type == "LoadBalancer" and t.stage == "live"]
        waiting += [("ingresses.networking.k8s.io", ns_map[t.ns], t.name)
                    for t in plan.scene.things.values() if t.kind == "Ingress" and t.stage == "live"]
        claims = [(ns_map[t.ns], t.name) for t in plan.scene.things.values()
                  if t.kind == "PersistentVolumeClaim" and t.bound and t.stage == "live"]
        deadline = time.monotonic() + SETTLE_DEADLINE
        while (waiting or claims) and time.monotonic() < deadline:
            waiting = [(kind, ns, name) for kind, ns, name in waiting
                       if not ((self.sim.store.get(kind, ns, name) or {}).get("status", {})
                               .get("loadBalancer", {}).get("ingress"))]
            claims = [(ns, name) for ns, name in claims
                      if ((self.sim.store.get("persistentvolumeclaims", ns, name) or {})
                          .get("status", {}).get("phase")) != "Bound"]
            time.sleep(0.05)

    def expected(self, plan: Plan, ns_map: dict[str, str], *,
                 before_delete: bool = False) -> Counter[tuple[str, str, int]]:
        seen: Counter[tuple[str, str, int]] = Counter()
        for t in plan.scene.things.values():
            if t.stage in ("file", "none"):
                continue
            if before_delete and t.delete_before:
                seen[PodSpec(containers=t.spec.containers).expected()] += 1
                continue
            seen.update(expected_pods(t))
        return seen

    def write_files(self, plan: Plan, folder: Path, ns_map: dict[str, str]) -> None:
        for rel, text in plan.files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        if plan.scene.file_documents is not None:
            rel, things, extra = plan.scene.file_documents
            docs: list[Obj] = []
            for t in things:
                ns = ns_map[t.name] if t.kind == "Namespace" else ns_map.get(t.ns, "")
                docs += manifests(t, ns)
            for doc in extra:
                docs.append(dict(doc, metadata=dict(doc["metadata"], namespace=ns_map[plan.shown_ns])))
            (folder / rel).write_text(yaml.safe_dump_all(docs, sort_keys=False))
        if plan.openssl:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=nginxsvc/O=nginxsvc", "-keyout", str(folder / "tls.key"),
                            "-out", str(folder / "tls.crt")], capture_output=True, check=True,
                           timeout=COMMAND_TIMEOUT)
        if plan.editor:
            editor = folder / "edit.sh"
            editor.write_text('#!/bin/sh\nsed -i "s/kubelesson.io\\/edit: before/kubelesson.io\\/edit: after/" "$1"\n')
            editor.chmod(0o755)

    # -- the command --------------------------------------------------------------------------
    def command_words(self, plan: Plan, ns_map: dict[str, str], ports: dict[int, int]) -> list[str]:
        """The entry's command as it runs here: its namespace, generated names and local ports
        replaced, flags that name another cluster or user left out."""
        taken: set[str] = set()
        refs = {word: self.resolve(ref, ns_map, plan.shown_ns, taken) for word, ref in plan.refs.items()}
        refs.update({f"${var}": self.resolve(ref, ns_map, plan.shown_ns, taken)
                     for var, ref in plan.env_refs.items()})
        out: list[str] = []
        words = plan.words
        i = 0
        while i < len(words):
            word = words[i]
            name, inline = split_flag(word) if word.startswith("-") else (word, None)
            takes_value = name in VALUE_FLAGS and inline is None and name != "--cascade"
            if name in CLUSTER_FLAGS:
                i += 2 if takes_value else 1
                continue
            if name in ("-n", "--namespace"):
                value = inline if inline is not None else (words[i + 1] if i + 1 < len(words) else "")
                out.append(f"--namespace={ns_map.get(value, value)}")
                i += 2 if takes_value else 1
                continue
            if takes_value:
                out += [word, words[i + 1] if i + 1 < len(words) else ""]
                i += 2
                continue
            out.append(refs.get(word, word))
            i += 1
        if plan.background and out[:1] == ["port-forward"]:
            out = [self.local_port(w, ports) for w in out]
        return out

    @staticmethod
    def until_rows(lines: list[str], shown: str) -> None:
        """A watch is stopped as its user stopped it: once it printed as many rows as the
        entry shows, or when nothing more comes (QUIET), or at the deadline."""
        want = _rows(shown)
        deadline = time.monotonic() + 2 * SETTLE_DEADLINE
        count, last_change = _rows("".join(lines)), time.monotonic()
        while time.monotonic() < deadline and count < want:
            time.sleep(0.05)
            now_count = _rows("".join(lines))
            if now_count != count:
                count, last_change = now_count, time.monotonic()
            elif time.monotonic() - last_change > WATCH_QUIET:
                break
        time.sleep(0.3)

    @staticmethod
    def local_port(word: str, ports: dict[int, int]) -> str:
        """`8000:80` -> `<free>:80` (and the free port maps back to 8000); `80` alike."""
        found = re.fullmatch(r"(\d+)(?::(\d+))?", word)
        if not found:
            return word
        shown, remote = int(found[1]), found[2] or found[1]
        free = free_port()
        ports[free] = shown
        return f"{free}:{remote}"

    def execute(self, plan: Plan, folder: Path, ns_map: dict[str, str]) -> tuple[str, dict[int, int]]:
        ports: dict[int, int] = {}
        env = self.env(folder)
        if plan.editor:
            env["KUBE_EDITOR"] = str(folder / "edit.sh")
        if plan.shell is not None:
            taken: set[str] = set()
            for var, ref in plan.env_refs.items():
                env[var] = self.resolve(ref, ns_map, plan.shown_ns, taken)
            proc = subprocess.run(["bash", "-c", plan.shell], input=plan.stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, cwd=folder, env=env,
                                  timeout=COMMAND_TIMEOUT)
            return proc.stdout, ports
        if plan.moment:
            return self.capture(plan, folder, ns_map, env, ports), ports
        if plan.background:
            words = self.command_words(plan, ns_map, ports)
            return self.in_background(plan, folder, ns_map, words, env, ports), ports
        words = self.command_words(plan, ns_map, ports)
        proc = subprocess.run([self.kubectl, *words], input=plan.stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, cwd=folder, env=env,
                              timeout=COMMAND_TIMEOUT)
        return proc.stdout, ports

    def run_step(self, plan: Plan, folder: Path, ns_map: dict[str, str], step: list[str]) -> None:
        """One step of a `during` process, in the entry's namespace."""
        if step == ["#setup"]:
            self.set_up(plan, folder, ns_map)
        elif step == SETTLE:
            self.settle(list(ns_map.values()), None)
        elif step[0] == "#revision":  # the newest template of a Deployment
            thing = plan.scene.things[(step[1], step[2], step[3])]
            self.rolled_out(ns_map[thing.ns], thing.name)
            self.kubectl_ok(folder, ["replace", "-f", "-"],
                            stdin=yaml.safe_dump_all(manifests(thing, ns_map[thing.ns])))
        else:
            self.kubectl_ok(folder, [*step, f"--namespace={ns_map[plan.shown_ns]}"])

    def capture(self, plan: Plan, folder: Path, ns_map: dict[str, str], env: dict[str, str],
                ports: dict[int, int]) -> str:
        """The entry's `get` as a watch (--output-watch-events) while the process runs; the
        table after each change is put together from the rows kubectl printed, and the first
        that agrees with the entry is the output (else the last one)."""
        words = self.command_words(plan, ns_map, ports) + ["--watch", "--output-watch-events"]
        target = normalized(plan.entry.command, plan.entry.output)
        ctx = Context(namespaces={used: shown for shown, used in ns_map.items()}, ports=ports)
        found: str | None = None
        with self.interrupted_later(words, folder, env) as (_, lines):
            time.sleep(0.5)  # the watch lists what is there first
            for step in plan.during:
                self.run_step(plan, folder, ns_map, step)
            deadline = time.monotonic() + SETTLE_DEADLINE
            count, last_change = 0, time.monotonic()
            while found is None and time.monotonic() < deadline:
                snapshots = watch_tables(list(lines))
                found = next((snap for snap in snapshots
                              if normalized(plan.entry.command, snap, ctx) == target), None)
                if len(lines) != count:
                    count, last_change = len(lines), time.monotonic()
                elif time.monotonic() - last_change > QUIET:
                    break
                time.sleep(0.05)
        return found if found is not None else (watch_tables(lines) or ["".join(lines)])[-1]

    @contextlib.contextmanager
    def interrupted_later(self, words: list[str], folder: Path,
                          env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
        """kubectl running in the background, its lines collected as they come, stopped
        with Ctrl-C (as a user would) when the block ends."""
        proc = subprocess.Popen([self.kubectl, *words], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=folder, env=env, start_new_session=True)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        try:
            yield proc, lines
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            reader.join(timeout=5)

    def in_background(self, plan: Plan, folder: Path, ns_map: dict[str, str], words: list[str],
                      env: dict[str, str], ports: dict[int, int]) -> str:
        """A port-forward until it printed its Forwarding lines, or a watch while the entry's
        story happens (objects made, scaled, deleted), then interrupted as a user would."""
        with self.interrupted_later(words, folder, env) as (proc, lines):
            if words[:1] == ["port-forward"]:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and proc.poll() is None \
                        and not any("Forwarding from" in line for line in lines):
                    time.sleep(0.02)
                time.sleep(0.3)  # the IPv6 line follows the IPv4 one
            else:
                time.sleep(0.5)  # the watch lists what is there first
                for step in plan.during:
                    self.run_step(plan, folder, ns_map, step)
                self.settle(list(ns_map.values()), None)
                self.until_rows(lines, plan.entry.output)
        output = "".join(lines)
        for found in re.finditer(r"Forwarding from 127\.0\.0\.1:(\d+) ->", output):
            shown = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) ->", plan.entry.output)
            if int(found[1]) not in ports and shown:  # kubectl chose the port (`:8787`)
                ports[int(found[1])] = int(shown[1])
        return output


def watch_tables(lines: list[str]) -> list[str]:
    """The table after each event of `get --watch --output-watch-events`: the EVENT column
    left out, the latest row of every object not DELETED, one table per event."""
    if not lines:
        return []
    header = re.split(r" {2,}", lines[0].strip())
    if not header or header[0] != "EVENT":
        return []
    rows: dict[str, str] = {}
    tables = []
    for line in lines[1:]:
        cells = re.split(r" {2,}", line.strip())
        if len(cells) < 2 or cells[0] not in ("ADDED", "MODIFIED", "DELETED"):
            continue
        if cells[0] == "DELETED":
            rows.pop(cells[1], None)
        else:
            rows[cells[1]] = "   ".join(cells[1:])
        body = [rows[name] for name in sorted(rows)]
        tables.append("\n".join(["   ".join(header[1:]), *body]) if body else "")
    return tables


def _rows(text: str) -> int:
    return sum(1 for line in text.split("\n")
               if line.strip() and not (_HEADER.fullmatch(line) and line[:1].isupper()))


class SetupFailed(Exception):
    """kubectl refused to make what the plan needs (a bug of the plan, reported as such)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- comparing and explaining differences ------------------------------------------------------


def only_own_namespaces(output: str, used: set[str]) -> str:
    """A cluster-wide listing without the rows of the simulator's own namespaces (k3s's
    system pods and Services in kube-system, the `kubernetes` Service): the entry's cluster
    had its own there, which the entry's namespaces hold again."""
    kept = []
    for line in output.split("\n"):
        first = line.split(" ", 1)[0]
        if line and not line[:1].isupper() and first not in used:
            continue
        kept.append(line)
    return "\n".join(kept)


def normalized(command: str, output: str, ctx: Context | None = None) -> str:
    transcript = Transcript((Entry(command, output.rstrip("\n")),))
    return normalize(transcript, ctx or Context()).entries[0].output


def compare(plan: Plan, output: str, ns_map: dict[str, str], ports: dict[int, int]) -> Result:
    entry = plan.entry
    for local, shown in plan.paths.items():
        named = re.search(rf'"([^"]*{re.escape(Path(shown).name)})"', entry.output)
        output = output.replace(local, named[1] if named else shown)
    if plan.all_namespaces:
        output = only_own_namespaces(output, set(ns_map.values()))
    ctx = Context(namespaces={used: shown for shown, used in ns_map.items()}, ports=ports)
    simulated = normalized(entry.command, output, ctx)
    corpus = normalized(entry.command, entry.output)
    result = Result(entry.id, served=True, corpus=corpus, simulated=simulated, raw=output)
    if simulated == corpus:
        result.agree = True
        return result
    result.cause, result.detail = classify(plan, corpus, simulated)
    return result


# What an author's paste adds to a real output, each undone on the corpus side.
def _drop_elisions(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip() not in ("...", "…"))


def _drop_terminal_noise(text: str) -> str:
    kept = [line for line in text.split("\n")
            if line.strip() not in ("^C", "^Z") and not line.startswith("zsh: suspended")]
    if kept:
        kept[-1] = kept[-1].removesuffix("%")  # zsh's mark for output without a final newline
    return "\n".join(kept)


def _last_run(text: str) -> str:
    """Several runs of one command pasted one after the other: the last one."""
    lines = text.split("\n")
    headers = [i for i, line in enumerate(lines) if _HEADER.fullmatch(line) and line[:1].isupper()]
    same = len({tuple(lines[i].split()) for i in headers}) == 1  # one command's table again
    return "\n".join(lines[headers[-1]:]) if len(headers) > 1 and same else text


ARTEFACTS: list[tuple[str, Callable[[str], str]]] = [
    ("elision (`...`) by the author", _drop_elisions),
    ("terminal noise (^C, ^Z, zsh marks)", _drop_terminal_noise),
    ("a blank line pasted before the output", lambda text: text.lstrip("\n")),
    ("several runs pasted together", _last_run),
]


# How an older kubectl or API server words what the simulator (1.32) and kubectl 1.37
# print, each applied to the simulated side; `before` is the first minor version that no
# longer prints the old form (the change's release).
def _old_created(text: str) -> str:
    return re.sub(r"^([a-z][\w.-]*)/(\S+) (created|configured|unchanged|deleted)$",
                  lambda m: f'{m[1].split(".")[0]} "{m[2]}" {m[3]}', text, flags=re.M)


def _extensions(text: str) -> str:
    return re.sub(r"^(deployment|daemonset|replicaset)\.apps([/ ])", r"\1.extensions\2", text, flags=re.M)


def _old_created_extensions(text: str) -> str:
    return re.sub(r"^([a-z][\w.-]*)/(\S+) (created|configured|unchanged|deleted)$",
                  lambda m: f'{m[1].replace(".apps", ".extensions")} "{m[2]}" {m[3]}', text, flags=re.M)


def _integer_restarts(text: str) -> str:
    return re.sub(r"(\d+) \(<age> ago\)", r"\1", text)


def _short_prefixes(text: str) -> str:
    for long, short in (("pod/", "po/"), ("deployment.apps/", "deploy/"), ("service/", "svc/"),
                        ("replicaset.apps/", "rs/"), ("statefulset.apps/", "statefulset/")):
        text = re.sub(rf"^{re.escape(long)}", short, text, flags=re.M)
    return text


def _exit_code_status(text: str) -> str:
    return re.sub(r"\bCompleted\b", "ExitCode:0", text)


def _unable_to_recognize(text: str) -> str:
    return re.sub(r'^(?:error: )?resource mapping not found for name: "[^"]*" namespace: "[^"]*" from '
                  r'"([^"]+)": (no matches for kind .*)\nensure CRDs are installed first$',
                  r'unable to recognize "\1": \2', text, flags=re.M)


def _old_deleted(text: str) -> str:
    return re.sub(r'^([a-z]+)\.[\w.]+ "([^"]+)" deleted$', r'\1 "\2" deleted', text, flags=re.M)


def _no_event_field_path(text: str) -> str:
    return re.sub(r"^(\s+(?:Normal|Warning)\s+\S+\s+.*?\s+)spec\.(?:initC|c)ontainers\{[^}]*\}: ",
                  r"\1", text, flags=re.M)


def _no_cascade_warning(text: str) -> str:
    return re.sub(r"^warning: --cascade=false is deprecated.*\n", "", text, flags=re.M)


def _no_namespace_in_empty(text: str) -> str:
    return re.sub(r"^No resources found in \S+ namespace\.$", "No resources found.", text, flags=re.M)


VERSIONS: list[tuple[str, int, Callable[[str], str]]] = [
    ('`kind "name" created` wording (kubectl < 1.11)', 11, _old_created),
    ('`kind "name" deleted` without the API group (kubectl < 1.11)', 11, _old_deleted),
    ("describe's events without the container's field path (kubectl < 1.35)", 35, _no_event_field_path),
    ("the extensions API group (< 1.16)", 16, _extensions),
    ('`deployment.extensions "name" created` (kubectl < 1.11)', 11, _old_created_extensions),
    ("RESTARTS without `(… ago)` (API server < 1.22)", 22, _integer_restarts),
    ("po/ deploy/ svc/ prefixes of multi-kind gets (kubectl < 1.10)", 10, _short_prefixes),
    ("ExitCode:0 for a completed pod (< 1.2)", 2, _exit_code_status),
    ('"unable to recognize" for a removed API version (kubectl < 1.24)', 24, _unable_to_recognize),
    ("no --cascade=false warning (kubectl < 1.20)", 20, _no_cascade_warning),
    ('"No resources found." without the namespace (kubectl < 1.17)', 17, _no_namespace_in_empty),
]

# Values kubelesson's normalizer does not mask (yet), though they differ on every cluster;
# applied to both sides. Each is a finding for the normalizer (docs/fidelity.md).
NORMALIZER_GAPS: list[tuple[str, Callable[[str], str]]] = [
    ("a provisioned volume's name (pvc-<claim uid>) is not masked",
     lambda text: re.sub(r"\bpvc-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "pvc-<uid>", text)),
    ('a ReplicaSet\'s generateName prefix in a message (pods "web-<hash>-") is not masked',
     lambda text: re.sub(r'"([a-z0-9][a-z0-9.-]*)-[a-z0-9]{6,10}-"', r'"\1-<hash>-"', text)),
    # (then the table is laid out by other widths: compared word by word)
    ("a row whose middle cells are all empty is not parsed (its AGE stays)",
     lambda text: re.sub(r"(?m) \d+[smhd](?:\d+[smhd])?$", " <age>", re.sub(r" {2,}", " ", text))),
]

OLD_COLUMNS_BEFORE = 30  # column sets differing from the simulator's: only for older entries

# Differences judged by reading the entry (its notes say what its author did), used only when
# nothing above explains them. With `True`, every line the author kept must be in the
# simulator's output (a trimmed paste is still checked for what it shows).
JUDGED: dict[str, tuple[str, str, bool]] = {
    "get_pods-024": (ARTEFACT, "STATUS cell edited by hand to READY", False),
    "get_deployments-005": (ARTEFACT, "cells run together by hand (one space after NAME)", False),
    "get_pods-068": (VERSION, "the pre-1.0 pod table (a row per container)", False),
    "get_pods-020": (VERSION, "a header without rows for an empty list (kubectl ~1.1)", False),
    "misc-012": (ARTEFACT, "lines hard-wrapped by the terminal; -v=7 traces of another machine", False),
    "describe-004": (ARTEFACT, "describe output trimmed by its author (only Name, Namespace, Events)", True),
    "get_pods-066": (ARTEFACT, "only the first section of `get all` was pasted", True),
    "port_forward-008": (ARTEFACT, "only the error lines were pasted", False),
}


def table_columns_differ_only(corpus: str, simulated: str) -> str | None:
    """The outputs differ only in columns one side has and the other has not (an older
    kubectl's DESIRED/CURRENT, a services table without TYPE, -o wide with only NODE):
    the columns both have agree. Returns the description, or None."""
    a, b = parse_tables(corpus), parse_tables(simulated)
    if not a or len(a) != len(b):
        return None
    text_a = [line for line in corpus.split("\n") if not _in_table(line)]
    text_b = [line for line in simulated.split("\n") if not _in_table(line)]
    if text_a != text_b:
        return None
    changed = []
    for ta, tb in zip(a, b, strict=True):
        common = [c for c in ta.columns if c in tb.columns]
        if "NAME" not in common or len(ta.rows) != len(tb.rows):
            return None
        rows_a = sorted(tuple(r.get(c, "") for c in common) for r in ta.rows)
        rows_b = sorted(tuple(r.get(c, "") for c in common) for r in tb.rows)
        if rows_a != rows_b:
            return None
        if ta.columns != tb.columns:
            changed.append(f"{' '.join(ta.columns)} (simulator: {' '.join(tb.columns)})")
    return "columns of an older version: " + "; ".join(changed) if changed else None


def _in_table(line: str) -> bool:
    return bool(line.strip()) and ("   " in line or bool(_HEADER.fullmatch(line)))


def _agrees(corpus: str, simulated: str, *, subset: bool) -> bool:
    if corpus == simulated:
        return True
    if not subset:
        return False
    # Elided rows: every line the author kept is there, in a table with the same header.
    have = Counter(simulated.split("\n"))
    need = Counter(corpus.split("\n"))
    return all(have[line] >= n for line, n in need.items())


def classify(plan: Plan, corpus: str, simulated: str) -> tuple[str, str]:
    """The cause of a difference: a pasted artefact or an older version if undoing it makes
    the two agree (first without, then with the normalizer's gaps masked on both sides), an
    entry judged from its notes, a normalizer gap if masking one is enough, else the
    simulator."""
    entry = plan.entry
    gaps = [("", lambda text: text)] + [(" (" + name + ")", fix) for name, fix in NORMALIZER_GAPS]
    found = None
    for note, gap in (gaps[0], ("; with the normalizer's gaps masked", _all_gaps)):
        found = _explained(plan, corpus, simulated, gap)
        if found is not None:
            return found[0], found[1] + note
    judged = JUDGED.get(entry.id)
    if judged is not None:
        cause, reason, subset = judged
        kept = _all_gaps(normalized(entry.command, _drop_elisions(entry.output)))
        if not subset or _agrees(kept, _all_gaps(simulated), subset=True):
            return cause, reason
    for name, fix in NORMALIZER_GAPS:
        if _agrees(fix(corpus), fix(simulated), subset=False):
            return NORMALIZER, name
    # What differs, read without what the author's paste added.
    cleaned = normalized(entry.command, _drop_terminal_noise(_last_run(entry.output)))
    return SIMULATOR, simulator_detail(plan, cleaned, simulated)


def _all_gaps(text: str) -> str:
    """Every gap masked but the last (which compares word by word and would hide columns)."""
    for _, fix in NORMALIZER_GAPS[:-1]:
        text = fix(text)
    return text


def _explained(plan: Plan, corpus: str, simulated: str,
               gap: Callable[[str], str]) -> tuple[str, str] | None:
    """An artefact or version adapter (or both) that makes the two agree."""
    entry = plan.entry
    command = entry.command
    minor = entry.minor
    fixes: list[tuple[str, str]] = [("", gap(corpus))]
    for name, fix in ARTEFACTS:
        fixed = normalized(command, fix(entry.output))
        if fixed != corpus:
            fixes.append((name, gap(fixed)))
    versions = [(name, fix) for name, before, fix in VERSIONS if minor is None or minor < before]
    aged_forms = [("", gap(simulated))] + [(name, gap(normalized(command, fix(simulated))))
                                           for name, fix in versions if fix(simulated) != simulated]
    for artefact, target in fixes:
        subset = artefact.startswith("elision")
        also = f"; and {artefact}" if artefact else ""
        if artefact and _agrees(target, aged_forms[0][1], subset=subset):
            return ARTEFACT, artefact
        for name, aged in aged_forms[1:]:
            if _agrees(target, aged, subset=subset):
                return VERSION, name + also
        if minor is None or minor < OLD_COLUMNS_BEFORE:
            for name, aged in aged_forms:
                columns = table_columns_differ_only(target, aged)
                if columns:
                    return VERSION, columns + (f"; and {name}" if name else "") + also
    return None


def simulator_detail(plan: Plan, corpus: str, simulated: str) -> str:
    """What the simulator does differently, in a few words (the group a difference goes in),
    read from the first row that differs."""
    a, b = parse_tables(corpus), parse_tables(simulated)
    kinds = {t.kind for t in plan.scene.things.values()}
    elided = any(line.strip() in ("...", "…") for line in corpus.split("\n"))
    if "DaemonSet" in kinds and sum(len(t.rows) for t in b) < sum(len(t.rows) for t in a):
        return "no DaemonSet controller (its pods are missing)"
    if len(a) > len(b) or (len(a) < len(b) and not elided):
        return "a different set of tables"
    for ta, tb in zip(a, b, strict=False):
        if len(ta.rows) != len(tb.rows) and elided:
            continue  # rows the author left out
        if len(ta.rows) != len(tb.rows):
            if "DaemonSet" in kinds and len(tb.rows) < len(ta.rows):
                return "no DaemonSet controller (its pods are missing)"
            return "a different number of rows (objects or pods)"
        rows_a = sorted(ta.rows, key=lambda r: r.get("NAME", ""))
        rows_b = sorted(tb.rows, key=lambda r: r.get("NAME", ""))
        for ra, rb in zip(rows_a, rows_b, strict=True):
            if ra != rb:
                return _row_difference(ra, rb)
    lines_a, lines_b = corpus.split("\n"), simulated.split("\n")
    first = next((x for x, y in zip(lines_a, lines_b, strict=False) if x != y), None)
    if first is None:
        return "missing or extra lines"
    if first.split(":")[0] in ("Endpoints", "Events"):
        return f"describe: {first.split(':')[0]}"
    return "text: " + first.strip()[:60]


def _row_difference(real: dict[str, str], ours: dict[str, str]) -> str:
    status, ready = real.get("STATUS", ""), _fraction(real.get("READY", ""))
    if "STATUS" in real and (status != ours.get("STATUS") or real.get("READY") != ours.get("READY")):
        if status == RUNNING and ready and ready[0] < ready[1]:
            return "readiness probes (a pod 0/1 Running)"
        if status.startswith("Init:"):
            return "init containers"
        if status == "Pending":
            return "unschedulable pods"
        if {status, ours.get("STATUS")} == {"ErrImagePull", "ImagePullBackOff"}:
            return "ErrImagePull does not alternate with ImagePullBackOff"
        return f"pod states ({status} shown, {ours.get('STATUS')} here)"
    if real.get("RESTARTS") != ours.get("RESTARTS"):
        return "container restart counts (a container that crashed and runs again)"
    if real.get("EXTERNAL-IP") != ours.get("EXTERNAL-IP"):
        return "service fields (a LoadBalancer's EXTERNAL-IP)"
    return "table cells: " + ", ".join(sorted(c for c in real if real.get(c) != ours.get(c)))


# --- the whole corpus --------------------------------------------------------------------------


def plan_all(entries: list[CorpusEntry]) -> tuple[list[Plan], list[Result]]:
    plans: list[Plan] = []
    unserved: list[Result] = []
    for entry in entries:
        try:
            plans.append(derive(entry))
        except Unservable as exc:
            unserved.append(Result(entry.id, served=False, reason=str(exc)))
    return plans, unserved


def run_all(plans: list[Plan], kubectl: str, jobs: int, kube_version: str | None) -> list[Result]:
    """Cluster-wide entries one at a time on the fresh simulator (each removes its
    namespaces after), then all others side by side, a namespace each."""
    options = SIM_OPTIONS if kube_version is None else SimOptions(
        **{**SIM_OPTIONS.__dict__, "kube_version": kube_version})
    with tempfile.TemporaryDirectory(prefix="kubelesson-fidelity-") as tmp, \
            running(Path(tmp) / "sim", options=options) as sim:
        runner = Runner(sim, kubectl, Path(tmp))
        results = []
        system = _system_pods(sim)
        for plan in sorted((p for p in plans if p.cluster_wide), key=_serial_order):
            results.append(runner.run(plan))
            _clean_up(runner, plan, system)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results += list(pool.map(runner.run, [p for p in plans if not p.cluster_wide]))
    return results


def _serial_order(plan: Plan) -> tuple[int, str]:
    # What lists namespaces goes first, before any other entry made one.
    return (0 if re.search(r"\bget (?:ns|namespaces?)\b", plan.entry.command) else 1, plan.entry.id)


def _system_pods(sim: SimHandle) -> set[str]:
    return {p["metadata"]["name"] for p in sim.store.list("pods", "kube-system")[0]}


def _clean_up(runner: Runner, plan: Plan, system: set[str]) -> None:
    """Remove what a cluster-wide entry made, and wait until it is gone: its namespaces, and
    what the cluster made for it in kube-system (ServiceLB's pods hold their node ports)."""
    folder = runner.workdir / slug(plan.entry.id)
    gone = set(used_namespaces(plan).values())
    for ns in sorted(gone):
        subprocess.run([runner.kubectl, "delete", "namespace", ns, "--wait=false", "--ignore-not-found"],
                       capture_output=True, cwd=folder, env=runner.env(folder), timeout=COMMAND_TIMEOUT)
    for t in plan.scene.things.values():
        if t.kind == "PersistentVolume":
            subprocess.run([runner.kubectl, "delete", "pv", t.name, "--wait=false", "--ignore-not-found"],
                           capture_output=True, cwd=folder, env=runner.env(folder), timeout=COMMAND_TIMEOUT)
    deadline = time.monotonic() + SETTLE_DEADLINE
    while time.monotonic() < deadline and (any(runner.sim.store.get("namespaces", "", ns) for ns in gone)
                                           or not _system_pods(runner.sim) <= system):
        time.sleep(0.05)


@dataclass
class Summary:
    results: list[Result]

    @property
    def served(self) -> list[Result]:
        return [r for r in self.results if r.served]

    @property
    def agree(self) -> list[Result]:
        return [r for r in self.results if r.agree]

    def differences(self, cause: str) -> list[Result]:
        return [r for r in self.results if r.served and not r.agree and r.cause == cause]

    @property
    def figure(self) -> float:
        agree, own = len(self.agree), len(self.differences(SIMULATOR))
        return agree / (agree + own) if agree + own else 1.0

    def groups(self, cause: str) -> list[tuple[str, list[str]]]:
        by: dict[str, list[str]] = {}
        for r in self.differences(cause):
            by.setdefault(r.detail, []).append(r.id)
        return sorted(by.items(), key=lambda item: (-len(item[1]), item[0]))

    def not_served(self) -> list[tuple[str, list[str]]]:
        by: dict[str, list[str]] = {}
        for r in self.results:
            if not r.served:
                by.setdefault(r.reason, []).append(r.id)
        return sorted(by.items(), key=lambda item: (-len(item[1]), item[0]))

    def as_json(self) -> Obj:
        return {
            "entries": len(self.results), "served": len(self.served), "agree": len(self.agree),
            "differences": {cause: {"count": len(self.differences(cause)),
                                    "groups": dict(self.groups(cause))} for cause in CAUSES},
            "figure": round(self.figure, 4), "target": TARGET,
            "not_served": dict(self.not_served()),
            "results": [{k: v for k, v in r.__dict__.items() if k not in ("raw",)}
                        for r in sorted(self.results, key=lambda r: r.id)],
        }


def report(summary: Summary, corpus: Path, kubectl_version: str, seconds: float, details: bool) -> str:
    served, agree = len(summary.served), len(summary.agree)
    own = len(summary.differences(SIMULATOR))
    lines = [
        f"# kubelesson fidelity: the simulator against the real kubectl outputs of {corpus}",
        f"# kubectl {kubectl_version}, simulated cluster {SIM_OPTIONS.kube_version}, {seconds:.0f}s",
        f"entries: {len(summary.results)}",
        f"served: {served} (not served: {len(summary.results) - served})",
        f"agree: {agree} of {served} served ({pct(agree, served)})",
        "differences: " + ", ".join(f"{cause} {len(summary.differences(cause))}" for cause in CAUSES),
        f"fidelity: of the entries whose difference is the simulator's own, {pct(agree, agree + own)} "
        f"agree ({agree} / ({agree} + {own})); target {TARGET:.0%}: "
        + ("met" if summary.figure >= TARGET else "not met"),
    ]
    for cause in CAUSES:
        found = summary.differences(cause)
        lines.append(f"\n## {cause} ({len(found)})")
        for detail, ids in summary.groups(cause):
            lines.append(f"  {len(ids):3d}  {detail}: {', '.join(ids[:4])}{' ...' if len(ids) > 4 else ''}")
        shown = found if details else [r for r in found if r.id in {ids[0] for _, ids in summary.groups(cause)}][:3]
        for r in shown:
            lines += [f"  --- {r.id} ({r.detail})", *_diff(r.corpus, r.simulated)]
    lines.append(f"\n## not served ({len(summary.results) - served})")
    for reason, ids in summary.not_served():
        lines.append(f"  {len(ids):3d}  {reason}: {', '.join(ids[:4])}{' ...' if len(ids) > 4 else ''}")
    return "\n".join(lines)


def pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}%" if d else "-"


def _diff(corpus: str, simulated: str, limit: int = 12) -> list[str]:
    import difflib

    out = [f"      {line}" for line in difflib.unified_diff(
        corpus.split("\n"), simulated.split("\n"), "corpus", "simulator", n=1, lineterm="")]
    return out[:limit] + (["      ..."] if len(out) > limit else [])


def kubectl_binary(given: str | None) -> str:
    found = given or os.environ.get("KUBELESSON_KUBECTL") or shutil.which(
        "kubectl", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if not found or not Path(found).exists():
        raise SystemExit("fidelity: no kubectl found (make install puts one in .venv/bin, or pass --kubectl)")
    return str(Path(found).resolve())


def kubectl_version(kubectl: str) -> str:
    proc = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, env={**os.environ, "KUBECONFIG": os.devnull})
    try:
        return str(json.loads(proc.stdout)["clientVersion"]["gitVersion"])
    except (ValueError, KeyError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("KUBELESSON_CORPUS", DEFAULT_CORPUS)),
                        help="folder of the corpus's YAML files (default: ../shared/corpus)")
    parser.add_argument("--kubectl", help="the kubectl binary (default: .venv/bin/kubectl, else PATH)")
    parser.add_argument("--only", help="comma-separated entry ids (default: every entry)")
    parser.add_argument("--jobs", type=int, default=4, help="entries run side by side (default 4)")
    parser.add_argument("--kube-version", help="what the simulated cluster reports (default: the simulator's)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of the text report")
    parser.add_argument("--details", action="store_true", help="show every difference, not a few per cause")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"fidelity: no corpus at {args.corpus} (pass --corpus DIR)", file=sys.stderr)
        return 2
    entries = load_corpus(args.corpus)
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        unknown = wanted - {e.id for e in entries}
        if unknown:
            print(f"fidelity: no such entries: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        entries = [e for e in entries if e.id in wanted]
    try:
        kubectl = kubectl_binary(args.kubectl)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    started = time.monotonic()
    plans, unserved = plan_all(entries)
    results = run_all(plans, kubectl, args.jobs, args.kube_version)
    summary = Summary(sorted(unserved + results, key=lambda r: r.id))
    if args.json:
        print(json.dumps({"kubectl": kubectl_version(kubectl), **summary.as_json()}, indent=1))
    else:
        print(report(summary, args.corpus, kubectl_version(kubectl), time.monotonic() - started, args.details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
