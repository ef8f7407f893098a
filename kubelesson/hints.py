"""What probably went wrong in a failing step, and the next command to try.

Recognition works on what kubectl printed (the raw output of the step) and on what the
runner observed (a wait that timed out, a probe that got no page). The first matching
rule wins, most specific first; the words themselves live in :mod:`kubelesson.messages`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubelesson.normalize import column_values
from kubelesson.runner import StepRecord


@dataclass(frozen=True)
class Hint:
    kind: str  # also the message key suffix: hint.<kind>
    try_command: str


@dataclass(frozen=True)
class _Rule:
    kind: str
    pattern: re.Pattern[str]
    try_command: str


def _object(command: str) -> str:
    """The object a command is about, for the suggestion (``pod/caddy`` -> ``pod caddy``)."""
    match = re.search(r"\b(pods?|deployments?|statefulsets?)[/ ]([a-z0-9][-a-z0-9.]*)", command)
    if not match:
        return "pod caddy"
    kind = match[1].rstrip("s")
    return f"{kind} {match[2]}"


# Ordered: the first match wins. {object} is filled from the step's command.
RULES = (
    _Rule(
        "connection_refused",
        re.compile(r"was refused - did you specify|connect: connection refused"),
        "kubectl cluster-info",
    ),
    _Rule(
        "port_busy",
        re.compile(r"address already in use|unable to listen on any of the requested ports"),
        "lsof -i :{port}",
    ),
    # Lesson 8's traps (chapter 8): a kustomize folder applied with -f, whose
    # kustomization.yaml kubectl then takes for a manifest (validated, or decoded without
    # validation); and a claim an earlier lesson left, which keeps that lesson's database.
    _Rule(
        "kustomization_as_manifest",
        re.compile(r'(?:error validating|unable to decode) "[^"]*kustomization\.ya?ml"'),
        "{kustomize}",
    ),
    _Rule(
        "leftover_claim",
        re.compile(r"^persistentvolumeclaim/\S+ unchanged$", re.M),
        "{delete}",
    ),
    _Rule(
        "image_pull",
        re.compile(r"\b(ErrImagePull|ImagePullBackOff|InvalidImageName)\b"),
        "kubectl describe {object}",
    ),
    _Rule(
        "crashloop",
        re.compile(r"\b(CrashLoopBackOff|Error)\b\s+\d"),
        "kubectl logs {name} --previous",
    ),
    _Rule(
        "leftover",
        re.compile(r"\(AlreadyExists\)|\bunchanged$|\bconfigured$", re.M),
        "kubectl delete {object}",
    ),
    _Rule("pending", re.compile(r"\bPending\b"), "kubectl get nodes"),
    _Rule(
        "still_starting", re.compile(r"\b(ContainerCreating|PodInitializing)\b"), "kubectl get pods"
    ),
    _Rule("not_found", re.compile(r"\(NotFound\)"), "kubectl get pods"),
)


# Where a pod table names the pod in trouble, the suggestion is about that one (a
# StatefulSet's traq-0, a Deployment's caddy-<hash>-<id>), not about the command's object.
_TROUBLED = ("CrashLoopBackOff", "Error", "ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def _troubled_pod(output: str) -> str | None:
    statuses = column_values(output, "STATUS")
    names = column_values(output, "NAME")
    return next((name for name, status in zip(names, statuses, strict=False) if status in _TROUBLED), None)


def _fill(template: str, command: str, output: str = "") -> str:
    pod = _troubled_pod(output) if "{object}" in template or "{name}" in template else None
    obj = f"pod {pod}" if pod else _object(command)
    port = re.search(r"\b(\d+):\d+\b", command)
    # -f on a kustomize folder: the same folder with -k. An apply that met leftovers: the
    # same command as a delete, which removes what it applied (a claim only with its pods).
    kustomize = re.sub(r"(?<=\s)(?:-f|--filename)(?=[\s=])", "-k", command, count=1)
    delete = re.sub(r"^kubectl apply\b", "kubectl delete", command) if command.startswith("kubectl apply") \
        else "kubectl get pvc"
    return template.format(object=obj, name=obj.split()[-1], port=port[1] if port else "8000",
                           kustomize=kustomize, delete=delete)


# The course's cluster: `k3d cluster create hands-on --agents 3` names its nodes so.
COURSE_NODE = re.compile(r"k3d-hands-on-(?:server|agent)-\d+")
COURSE_AGENTS = 3  # --agents 3


def course_nodes_missing(command: str, output: str) -> list[str] | None:
    """For ``kubectl get nodes``: the node names when they are not the course's cluster
    (another k3d name, kind, minikube…), else None. Such a cluster is another shape, not a
    broken one: the learner needs to hear that, not a diff of every row."""
    if command.split() != ["kubectl", "get", "nodes"]:
        return None
    names = column_values(output, "NAME")
    if not names or all(COURSE_NODE.fullmatch(name) for name in names):
        return None
    return names


# How long a pod may show a starting status before it is stuck rather than slow: a pod is
# scheduled within a second unless no node can take it; an image download can take minutes.
STUCK_AFTER = {"Pending": 60, "ContainerCreating": 300, "PodInitializing": 300}
_AGE_PART = re.compile(r"(\d+)([smhdy])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def age_seconds(age: str) -> int | None:
    """kubectl's AGE column ("12m", "2m30s", "3d4h") in seconds; None when it is not one."""
    parts = _AGE_PART.findall(age)
    if not parts or "".join(number + unit for number, unit in parts) != age:
        return None
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def stuck_status(output: str) -> str | None:
    """The starting status a pod of ``output`` has shown for longer than it should
    (AGE past :data:`STUCK_AFTER`), or None."""
    for status, age in zip(column_values(output, "STATUS"), column_values(output, "AGE"), strict=False):
        limit = STUCK_AFTER.get(status)
        seconds = age_seconds(age)
        if limit is not None and seconds is not None and seconds >= limit:
            return status
    return None


def _starting(command: str, output: str) -> Hint:
    """A pod seen only on its way to Running: looked too early, or stuck there (the AGE
    column tells), which needs another hint than waiting."""
    stuck = stuck_status(output)
    if stuck == "Pending":
        return Hint("pending", "kubectl get nodes")
    if stuck is not None:
        return Hint("stuck_creating", _fill("kubectl describe {object}", command))
    return Hint("still_starting", "kubectl get pods")


def for_output(command: str, output: str, reason: str | None = None) -> Hint:
    """A hint from a step's command and what it printed (also used for learners' sessions)."""
    if course_nodes_missing(command, output) is not None:
        return Hint("other_cluster", "kubectl config get-contexts")
    if command.split() == ["kubectl", "get", "nodes"]:
        agents = [name for name in column_values(output, "NAME") if "-agent-" in name]
        if len(agents) != COURSE_AGENTS:
            return Hint("agent_count", "k3d cluster list")
    if command.split() == ["kubectl", "get", "nodes"] and "NotReady" in column_values(output, "STATUS"):
        return Hint("nodes_not_ready", "kubectl get nodes --watch")
    if reason == "still-starting":
        return _starting(command, output)
    if reason == "missing":
        return Hint("missing", command)
    for rule in RULES:
        if rule.pattern.search(output):
            return Hint(rule.kind, _fill(rule.try_command, command, output))
    return Hint("differs", "kubectl get events --sort-by=.lastTimestamp")


# Rules that also speak about a command that is no step of the lesson: a learner who typed
# -f where the lesson has -k, or applied the chapter's files one by one, met the trap there.
TRAPS = frozenset({"kustomization_as_manifest", "leftover_claim"})


def for_extra(command: str, output: str) -> Hint | None:
    """The hint for an extra command of a learner's session whose output shows one of the
    lessons' known traps; None otherwise (an extra command is not wrong in itself)."""
    for rule in RULES:
        if rule.kind in TRAPS and rule.pattern.search(output):
            return Hint(rule.kind, _fill(rule.try_command, command, output))
    return None


def for_step(
    command: str, raw_output: str, record: StepRecord | None, reason: str | None = None
) -> Hint:
    """Like :func:`for_output`, but also using what the runner saw around the step."""
    if record is not None and record.wait is not None and not record.wait.ok:
        # A wait that ran out of time is not "still starting": say what held the pod up.
        seen = record.wait.last_status + "\n" + raw_output
        hint = for_output(command, seen)
        return (
            hint
            if hint.kind != "differs"
            else Hint("timeout", _fill("kubectl describe {object}", record.wait.wait.target))
        )
    if (
        record is not None
        and record.probe is not None
        and not record.probe.ok
        and command.startswith("curl")
    ):
        return for_probe(record)
    if record is not None and record.probe is not None and record.probe.probe.mysql and command.startswith("mysql "):
        return for_mysql(record, raw_output)
    return for_output(command, raw_output, reason)


# A database or table the lesson wrote in an earlier session that is gone (ERROR 1049
# Unknown database, 1146 Table doesn't exist): its data went with an earlier Pod (lesson 7).
_DATA_LOST = re.compile(r"^ERROR (?:1049|1146) ", re.M)


def for_mysql(record: StepRecord, output: str) -> Hint:
    """A MySQL session that differs: no server answered, or the data written before is gone."""
    assert record.probe is not None
    if not record.probe.ok:
        return Hint("probe_failed", record.step.run)
    if _DATA_LOST.search(output):
        return Hint("data_lost", _fill("kubectl describe {object}", record.step.run))
    return Hint("differs", "kubectl get events --sort-by=.lastTimestamp")


def for_probe(record: StepRecord) -> Hint:
    """A probe that failed: nothing answered, or something answered with another page."""
    assert record.probe is not None
    if record.probe.rejected:
        # The image's own page: the files meant to replace it are not where it serves from.
        return Hint("own_page", _fill("kubectl describe {object}", record.step.run))
    if record.probe.detail.startswith("HTTP ") and record.probe.probe.data is not None:
        # A form (a login) reached the application, which said no: its log says why.
        return Hint("form_refused", "kubectl get events --sort-by=.lastTimestamp")
    if record.probe.detail.startswith("HTTP "):
        # Something did answer, so the forward works: which image does the pod really run?
        return Hint("wrong_page", _fill("kubectl describe {object}", record.step.run))
    return Hint("probe_failed", record.step.run)


def for_checks(record: StepRecord) -> Hint:
    """A rollout whose invariants broke: a stalled one says which pod held it up."""
    stalled = next((check for check in record.checks if check.key == "stalled"), None)
    target = record.step.during.until if record.step.during else "deployment"
    if stalled is not None:
        return Hint("rollout_stalled", f"kubectl describe pod {stalled.params['pod']}")
    return Hint("invariant", f"kubectl rollout history {target}")
