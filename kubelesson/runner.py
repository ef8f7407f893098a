"""Runs a lesson's steps with the real kubectl and records what it printed.

Waits are kubectl's own (``kubectl wait``: a watch, so the next command runs the moment
the condition holds), background steps are known ready from their output, and whatever
happens, background processes are stopped (and, outside a sandbox, the lesson's cleanup
commands run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import json
import re
import shlex
import shutil
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from kubelesson import __version__, interrupts, podstate
from kubelesson.errors import ClusterUnreachable, EditImpossible
from kubelesson.kubectl import TIMED_OUT, Background, Kubectl, last_line
from kubelesson.lesson import Lesson, Step, Wait
from kubelesson.normalize import Context
from kubelesson.ports import PORT_RETRIES, could_not_listen, local_ports, rebind
from kubelesson.probes import ProbeOutcome, Prober, at_port
from kubelesson.rollouts import Check, Stuck, watch_rollout
from kubelesson.sandbox import Target
from kubelesson.transcript import Entry, Transcript


class Progress(Protocol):
    """What the runner tells the user while it works (implemented by the report layer)."""

    def step_started(self, index: int, step: Step) -> None: ...
    def waiting(self, wait: Wait, elapsed: float, status: str = "") -> None: ...
    def step_finished(self, index: int, record: StepRecord) -> None: ...


class Silent:
    def step_started(self, index: int, step: Step) -> None:
        pass

    def waiting(self, wait: Wait, elapsed: float, status: str = "") -> None:
        pass

    def step_finished(self, index: int, record: StepRecord) -> None:
        pass


@dataclass(frozen=True)
class WaitOutcome:
    wait: Wait
    ok: bool
    seconds: float
    message: str  # kubectl wait's own last line
    last_status: str = ""  # the object's `kubectl get` row when the wait failed


@dataclass(frozen=True)
class AsideOutcome:
    """A step that is not compared with the golden: the learner's own (never run), or a
    read-only look at their machine (run only where its program is installed)."""

    ran: bool
    ok: bool  # for a look that ran: every expected line was there
    why: str  # "" (ran, or the learner's own step), "context", "no_program", "program_failed"
    detail: str  # what was missing, or what made the look impossible
    output: str = ""


@dataclass(frozen=True)
class StepRecord:
    index: int
    step: Step
    entries: tuple[Entry, ...]
    seconds: float
    wait: WaitOutcome | None = None
    probe: ProbeOutcome | None = None
    port: tuple[int, int] | None = None  # (lesson's port, port used) when they differ
    command_started: float = 0.0  # wall clock when the command itself began (after any wait)
    aside: AsideOutcome | None = None  # for yourself/host steps, which give no entries
    checks: tuple[Check, ...] = ()  # a rollout's invariants (steps with `during`)


@dataclass(frozen=True)
class RunResult:
    lesson: Lesson
    transcript: Transcript  # raw: what kubectl printed, with a header
    records: tuple[StepRecord, ...]
    skipped: tuple[Step, ...]  # not run because a wait before them failed
    context: Context
    target: Target

    @property
    def seconds(self) -> float:
        return sum(record.seconds for record in self.records)

    @property
    def checks_failed(self) -> bool:
        """Did an invariant watched during a rollout break (or the rollout stall)?"""
        return any(not check.ok for record in self.records for check in record.checks)

    @property
    def looks_failed(self) -> bool:
        """Did a host step's look at the learner's machine miss what it expected?"""
        return any(r.aside is not None and r.aside.ran and not r.aside.ok for r in self.records)


# --- one step --------------------------------------------------------------------------


class Runner:
    def __init__(self, kubectl: Kubectl, *, progress: Progress, command_timeout: float = 120.0,
                 wait_timeout: float | None = None, context: str = "", stuck_grace: float = 5.0) -> None:
        self.kubectl = kubectl
        self.stuck_grace = stuck_grace  # how long a pod must stay stuck before a wait gives up
        self.context = context  # the learner's context, for host steps that only fit some clusters
        self.progress = progress
        self.command_timeout = command_timeout
        self.wait_timeout = wait_timeout
        self.ports: dict[int, int] = {}
        self.scratch: list[Path] = []  # folders of changed copies, removed when the run ends
        self._host_ports: dict[int, int] | None = None
        self.prober = Prober(self.ports)

    def wait(self, wait: Wait) -> WaitOutcome:
        """``kubectl wait`` for the step's condition, beside a watch of the pods: the watch
        feeds the progress line and ends the wait early when a pod is stuck in a state that
        does not heal by itself (a tag the registry lacks, a crash loop, no node that fits)."""
        timeout = self.wait_timeout or wait.timeout
        started = time.monotonic()
        # The target may be one object (pod/caddy) or a kind and a selector (pods -l app=caddy).
        target = shlex.split(wait.target)
        if wait.condition.startswith("log="):
            return self.wait_for_log(wait, target, timeout, started)
        proc = self.kubectl.start(["wait", f"--for={wait.condition}", *target, f"--timeout={timeout:g}s"])
        watch: Background | None = None
        kind, _, name = wait.target.partition("/")
        only = name if kind in ("pod", "pods") else None
        stuck = Stuck(self.stuck_grace)
        try:
            # Ticks refresh the progress line; the exit of `kubectl wait` ends the loop at once.
            while not proc.wait_exit(0.25):
                # Most waits end within a second: only a longer one gets a watch of the pods
                # (one more kubectl), to show their state and notice one that cannot start.
                if watch is None and time.monotonic() - started >= WATCH_AFTER:
                    watch = self.kubectl.start(["get", "pods", "--watch", "-o", "json"])
                pods = podstate.latest(watch.output, only) if watch else {}
                shown = next(iter(pods.values())).status if len(pods) == 1 else ""
                self.progress.waiting(wait, time.monotonic() - started, shown)
                if stuck.update(list(pods.values()), time.monotonic()):
                    break
                if interrupts.pending() or time.monotonic() - started > timeout + 30:
                    break
        finally:
            result = proc.stop(grace=1.0)
            if watch is not None:
                watch.stop(grace=0.5)
        seconds = time.monotonic() - started
        if result.ok:
            return WaitOutcome(wait, True, seconds, last_line(result.output))
        status = self.kubectl.run(["get", *target, "--no-headers"], timeout=30)
        verdict = ""
        if stuck.pod is not None:
            detail = f": {stuck.pod.message}" if stuck.pod.message else ""
            verdict = f"pod/{stuck.pod.name} is {stuck.pod.stuck}{detail}"
        message = verdict or last_line(result.output)
        return WaitOutcome(wait, False, seconds, message, last_line(status.output) or verdict)

    def wait_for_log(self, wait: Wait, target: list[str], timeout: float, started: float) -> WaitOutcome:
        """Follow the object's log until a line holds the text (the container may not have
        started yet: then ask again)."""
        text = wait.condition.removeprefix("log=")
        while time.monotonic() - started < timeout and not interrupts.pending():
            follow = self.kubectl.start(["logs", "-f", *target])
            try:
                found = follow.wait_for(lambda lines: any(text in line for line in lines),
                                        timeout - (time.monotonic() - started))
            finally:
                result = follow.stop(grace=0.5)
            if found:
                return WaitOutcome(wait, True, time.monotonic() - started, text)
            self.progress.waiting(wait, time.monotonic() - started, last_line(result.output))
            time.sleep(0.5)
        status = self.kubectl.run(["get", *target, "--no-headers"], timeout=30)
        return WaitOutcome(wait, False, time.monotonic() - started, f"no log line with {text!r}",
                           last_line(status.output))

    def run_plain(self, argv: list[str], shown: str | None = None) -> Entry:
        """Run a command; the transcript shows it as ``shown`` when kubelesson ran it on a
        changed copy of a course file (the learner's command names the file itself)."""
        result = self.kubectl.run(argv[1:], timeout=self.command_timeout)
        command = shown if shown is not None else shlex.join(argv)
        return Entry(command, result.output, result.exit_code)

    def edited(self, step: Step, argv: list[str]) -> list[str]:
        """``argv`` with the step's file replaced by a changed copy in a scratch folder."""
        if step.edit is None:
            return argv
        edit = step.edit
        source = self.kubectl.cwd / edit.file
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise EditImpossible(file=edit.file, what=exc.strerror or str(exc)) from None
        # The chapter invites the learner to switch back and forth: a file that already has
        # the new text gets the old one, so the step always changes something.
        if edit.replace in text:
            changed = text.replace(edit.replace, edit.with_)
        elif edit.with_ in text:
            changed = text.replace(edit.with_, edit.replace)
        else:
            raise EditImpossible(file=edit.file, what=f"neither {edit.replace!r} nor {edit.with_!r} is in it")
        copy = Path(tempfile.mkdtemp(prefix="kubelesson-edit-")) / Path(edit.file).name
        copy.write_text(changed, encoding="utf-8")
        self.scratch.append(copy.parent)
        return [str(copy) if word == edit.file else word for word in argv]

    def run_background(self, step: Step, argv: list[str]) -> tuple[tuple[Entry, ...], ProbeOutcome | None]:
        attempts = 1 + (PORT_RETRIES if "port-forward" in argv else 0)
        marker = step.ready or "Forwarding from"
        for attempt in range(attempts):
            proc = self.kubectl.start(argv[1:])
            probe = None
            try:
                ready = proc.wait_for(lambda lines: any(marker in line for line in lines), self.command_timeout)
                if ready and step.probe:
                    # kubectl's "Handling connection" lines are dropped by normalization (the
                    # chapter does not show them), so nothing waits for them here.
                    probe = self.prober.run(step.probe)
            finally:
                result = proc.stop()
            if ready or attempt + 1 == attempts or not could_not_listen(result.output):
                break
            # Another program took a local port after it was found free: run the step again
            # on fresh ports (the transcript keeps only this last run; ports map back).
            moved = rebind(argv)
            if not moved:
                break
            for old, new in moved.items():
                self.ports[new] = self.ports.pop(old, old)
        entries = [Entry(shlex.join(argv), result.output, result.exit_code)]
        if step.probe:
            entries.append(self.prober.entry(step.probe, probe))
        return tuple(entries), probe

    def host_ports(self) -> dict[int, int]:
        """Cluster host port -> local port, where the cluster serves them elsewhere (the
        simulator says so in a ConfigMap of its own; a real cluster has none: no mapping)."""
        if self._host_ports is None:
            found = self.kubectl.run(SIM_HOST_PORTS, timeout=30)
            try:
                data = json.loads(found.output) if found.ok and found.output.startswith("{") else {}
                self._host_ports = {int(k): int(v) for k, v in data.items()}
            except (ValueError, AttributeError):
                self._host_ports = {}
        return self._host_ports

    def run_probe_step(self, index: int, step: Step, started: float, waited: WaitOutcome | None) -> StepRecord:
        """A page reached through a host port of the cluster (a LoadBalancer, an Ingress),
        asked again until it answers as expected or the probe's time is up: a route or a
        load balancer takes a moment to follow a new object."""
        assert step.probe is not None
        wanted = urllib.parse.urlsplit(step.probe.url).port or 80
        used = self.host_ports().get(wanted, wanted)
        target = replace(step.probe, url=at_port(step.probe.url, used)) if used != wanted else step.probe
        deadline = time.monotonic() + step.probe.timeout
        while True:
            outcome = self.prober.run(replace(target, timeout=min(target.timeout, 10.0)))
            if outcome.ok or outcome.rejected or outcome.refused or time.monotonic() >= deadline \
                    or interrupts.pending():
                break
            time.sleep(0.25)
        # The transcript shows the URL the learner types; the report says where it really went.
        entry = self.prober.entry(step.probe, replace(outcome, url=step.probe.url))
        port = (wanted, used) if used != wanted else None
        record = StepRecord(index, step, (entry,), time.monotonic() - started, waited, outcome, port, time.time())
        self.progress.step_finished(index, record)
        return record

    def ensure_reachable(self, server: str) -> None:
        """One short request to the API server; raise when it does not answer."""
        result = self.kubectl.run(["version", "-o", "json", "--request-timeout=5s"], timeout=15)
        if '"serverVersion"' not in result.output:
            raise ClusterUnreachable(server=server, detail=last_line(result.output) or f"exit {result.exit_code}")

    def look(self, step: Step) -> AsideOutcome:
        """A host step: run its read-only command where it makes sense, and only there.
        Only a look that ran and missed an expected line fails the lesson; a program that
        is absent or cannot do its job (a Docker daemon out of reach) is said and skipped."""
        if step.context and not fnmatch.fnmatchcase(self.context, step.context):
            return AsideOutcome(False, True, "context", self.context)
        program = shutil.which(step.needs or step.argv[0])
        if program is None:
            return AsideOutcome(False, True, "no_program", step.needs or step.argv[0])
        result = self.kubectl.program(program).run(step.argv[1:], timeout=self.command_timeout)
        if not result.ok:
            return AsideOutcome(False, True, "program_failed", last_line(result.output) or f"exit {result.exit_code}",
                                result.output)
        lines = {line.strip() for line in result.output.splitlines()}
        absent = [want for want in step.expect if want not in lines]
        return AsideOutcome(True, not absent, "", ", ".join(absent), result.output)

    def run_step(self, index: int, step: Step) -> StepRecord:
        started = time.monotonic()
        self.progress.step_started(index, step)
        if step.kind in ("yourself", "host"):
            aside = self.look(step) if step.kind == "host" else AsideOutcome(False, True, "", "")
            record = StepRecord(index, step, (), time.monotonic() - started, aside=aside)
            self.progress.step_finished(index, record)
            return record
        waited = self.wait(step.wait) if step.wait else None
        if step.kind == "probe":
            return self.run_probe_step(index, step, started, waited)
        probe = None
        with local_ports(step.argv) as (argv, mapping):
            self.ports.update(mapping)
            command_started = time.time()
            argv = self.edited(step, argv)
            checks: tuple[Check, ...] = ()
            if step.background:
                entries, probe = self.run_background(step, argv)
            elif step.during:
                entry, checks = watch_rollout(self.kubectl, step.during, lambda: self.run_plain(argv, step.run),
                                              stuck_grace=self.stuck_grace, timeout=self.wait_timeout)
                entries = (entry,)
            else:
                entries = (self.run_plain(argv, step.run),)
        port = next(((wanted, used) for used, wanted in mapping.items()), None)
        record = StepRecord(index, step, entries, time.monotonic() - started, waited, probe, port, command_started,
                            checks=checks)
        self.progress.step_finished(index, record)
        return record



# Where the simulator serves the cluster's host ports (80, 8080) on this machine: a real k3d
# cluster has them on the ports themselves, which are privileged or busy on many machines.
WATCH_AFTER = 1.0  # seconds a wait runs before the pods are watched beside it
SIM_HOST_PORTS = ["get", "configmap", "kubelesson-sim-host-ports", "-n", "kube-system", "-o", "jsonpath={.data}"]


# --- the whole lesson ------------------------------------------------------------------


def header(target: Target, ports: dict[int, int]) -> tuple[tuple[str, str], ...]:
    moved = ",".join(f"{used}->{wanted}" for used, wanted in ports.items())
    return (
        ("kubelesson", __version__),
        ("kubectl-client", target.client_version),
        ("kubectl-server", target.server_version),
        ("context", target.context),
        ("namespace", target.namespace),
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
    ) + ((("ports", moved),) if moved else ())


def context_from_header(header: tuple[tuple[str, str], ...]) -> Context:
    """The normalization context a saved raw transcript's header describes."""
    fields = dict(header)
    namespace = fields.get("namespace", "default")
    ports = {}
    for pair in filter(None, fields.get("ports", "").split(",")):
        used, _, wanted = pair.partition("->")
        if used.isdigit() and wanted.isdigit():
            ports[int(used)] = int(wanted)
    return Context(namespaces={namespace: "default"} if namespace != "default" else {}, ports=ports)


def run_lesson(lesson: Lesson, kubectl: Kubectl, target: Target, *, progress: Progress | None = None,
               wait_timeout: float | None = None, cleanup: bool = True) -> RunResult:
    """Run every step in order; after a failed wait, run that step once more and stop.

    ``cleanup=False`` skips the lesson's cleanup commands: in a sandbox that is about to be
    deleted they would only cost time."""
    runner = Runner(kubectl, progress=progress or Silent(), wait_timeout=wait_timeout, context=target.context)
    records: list[StepRecord] = []
    skipped: tuple[Step, ...] = ()
    try:
        for index, step in enumerate(lesson.steps, 1):
            interrupts.check()
            record = runner.run_step(index, step)
            records.append(record)
            if _looks_unreachable(record):
                runner.ensure_reachable(target.server)  # raises: the remaining steps cannot work
            if record.wait and not record.wait.ok:
                skipped = lesson.steps[index:]
                break
    finally:
        for folder in runner.scratch:
            shutil.rmtree(folder, ignore_errors=True)
        if cleanup:
            run_cleanup(kubectl, lesson)
    entries = tuple(entry for record in records for entry in record.entries)
    namespaces = {target.namespace: "default"} if target.namespace != "default" else {}
    return RunResult(
        lesson=lesson,
        transcript=Transcript(entries, header(target, runner.ports)),
        records=tuple(records),
        skipped=skipped,
        context=Context(namespaces=namespaces, ports=dict(runner.ports)),
        target=target,
    )


# What kubectl prints when it cannot reach the API server at all (or a command timed out):
# a sign, checked with one quick request, that the cluster went away during the run.
UNREACHABLE = re.compile(
    r"The connection to the server \S+ was refused|Unable to connect to the server|"
    r"dial tcp \S+: connect: connection refused|net/http: TLS handshake timeout|i/o timeout"
)


def _looks_unreachable(record: StepRecord) -> bool:
    texts = [entry.output for entry in record.entries]
    if record.wait and not record.wait.ok:
        texts.append(record.wait.message)
    return any(entry.exit_code == TIMED_OUT for entry in record.entries) or any(
        UNREACHABLE.search(text) for text in texts
    )


def run_cleanup(kubectl: Kubectl, lesson: Lesson) -> None:
    """The lesson's cleanup commands; each may fail (the object may be gone already)."""
    with interrupts.deferred():
        for command in lesson.cleanup:
            with contextlib.suppress(Exception):
                kubectl.run(shlex.split(command)[1:], timeout=60)
