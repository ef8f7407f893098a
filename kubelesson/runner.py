"""Runs a lesson's steps with the real kubectl and records what it printed.

Waits are kubectl's own (``kubectl wait``: a watch, so the next command runs the moment
the condition holds), background steps are known ready from their output, and whatever
happens, background processes are stopped (and, outside a sandbox, the lesson's cleanup
commands run).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.message
import fnmatch
import http.client
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol

from kubelesson import __version__, interrupts, mysql, podstate, resp
from kubelesson.errors import ClusterUnreachable, EditImpossible
from kubelesson.kubectl import TIMED_OUT, Kubectl, last_line
from kubelesson.lesson import Lesson, Probe, Step, Wait
from kubelesson.normalize import Context
from kubelesson.rollouts import Check, Stuck, watch_rollout
from kubelesson.sandbox import Target
from kubelesson.transcript import Entry, Transcript

try:
    import fcntl
except ImportError:  # Windows: no flock (see local_ports)
    fcntl = None  # type: ignore[assignment]

PORT_PAIR = re.compile(r"^(?P<local>\d+)(?P<rest>:\d+)?$")


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
class ProbeOutcome:
    probe: Probe
    url: str  # the URL actually fetched (port substituted)
    ok: bool
    detail: str  # what came back: the status and a short excerpt, or the error
    rejected: bool = False  # the body held the probe's ``reject`` text (the image's own page)
    session: str = ""  # a Redis probe: the session as redis-cli shows it


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


# --- ports -----------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    """Whether kubectl could listen on 127.0.0.1:port (it also needs [::1], if present).

    SO_REUSEADDR as Go sets it for kubectl's listeners: a connection of an earlier
    port-forward lingering in TIME_WAIT does not make the port busy, a listener does."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (97, 99):  # no IPv6 here: fine
                continue
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Local ports held by the port-forward steps running in this process: with `check --all
# -j N`, two lessons would otherwise both find 8000 free and race for it.
_claimed: set[int] = set()
_claim_lock = threading.Lock()
# ... and by other kubelesson processes (five `kubelesson check 3` at once): a port is
# free to one of them only until kubectl listens on it, so each claim also holds a lock
# file, <tmp>/kubelesson-ports-<uid>/<port>.lock, with flock, until the step ends; the
# kernel lets go of it when a process dies. Without flock (Windows) claims stay within the
# process, and a failed bind is retried on another port (Runner.run_background).
NO_LOCK = -1  # a claim that holds no lock file
PORT_RETRIES = 2  # new ports tried when kubectl cannot listen on the one it was given


def _lock_dir() -> Path | None:
    if fcntl is None:
        return None
    folder = Path(tempfile.gettempdir()) / f"kubelesson-ports-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid != os.getuid():  # not ours: its locks mean nothing
            return None
    except OSError:
        return None
    return folder


def _lock_port(port: int) -> int | None:
    """Lock this port's file for this claim: the descriptor (NO_LOCK if locking is not
    possible here), or None when another kubelesson process holds it."""
    folder = _lock_dir()
    if folder is None or fcntl is None:
        return NO_LOCK
    path = folder / f"{port}.lock"
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return NO_LOCK
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        try:
            # Its last holder removes the file on release: a lock on a removed file is
            # no lock at all, so try again on the file that is there now.
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except OSError:
            pass
        os.close(fd)
    return None


def _claim(port: int, *, check: bool) -> int | None:
    """Claim a local port for a port-forward (the caller holds _claim_lock): its lock, or
    None when this process or another kubelesson holds it, or (check) it is busy."""
    if port in _claimed:
        return None
    fd = _lock_port(port)
    if fd is None:
        return None
    if check and not port_is_free(port):
        _unlock(port, fd)
        return None
    _claimed.add(port)
    return fd


def _claim_free() -> tuple[int, int]:
    """A free port the kernel picks, claimed (two processes may be handed the same one)."""
    for _ in range(50):
        port = free_port()
        fd = _claim(port, check=False)
        if fd is not None:
            return port, fd
    port = free_port()
    _claimed.add(port)
    return port, NO_LOCK


def _unlock(port: int, fd: int) -> None:
    if fd == NO_LOCK:
        return
    folder = _lock_dir()
    if folder is not None:
        with contextlib.suppress(OSError):
            (folder / f"{port}.lock").unlink()
    os.close(fd)


def _release(port: int, fd: int) -> None:
    _claimed.discard(port)
    _unlock(port, fd)


@dataclass
class _Lease:
    """The ports one port-forward step holds: used -> lesson's port, and their locks."""

    mapping: dict[int, int]
    locks: dict[int, int]


_leases: dict[int, _Lease] = {}  # id(argv) of the steps under way -> their lease


def _remap(argv: list[str]) -> tuple[list[str], _Lease]:
    lease = _Lease({}, {})
    result = list(argv)
    start = argv.index("port-forward") + 2
    for i, word in enumerate(argv[start:], start):
        match = PORT_PAIR.match(word)
        if not match:
            continue
        wanted = int(match["local"])
        fd = _claim(wanted, check=True)
        if fd is not None:
            lease.locks[wanted] = fd
            continue
        used, fd = _claim_free()
        lease.locks[used] = fd
        lease.mapping[used] = wanted
        result[i] = f"{used}{match['rest'] or ':' + match['local']}"
    return result, lease


@contextlib.contextmanager
def local_ports(argv: list[str]) -> Iterator[tuple[list[str], dict[int, int]]]:
    """For ``kubectl port-forward``: the lesson's local ports, or free ones where those are
    busy (mapping used -> lesson's), held against this and other kubelesson processes
    until the step ends."""
    if "port-forward" not in argv:
        yield argv, {}
        return
    with _claim_lock:
        result, lease = _remap(argv)
    _leases[id(result)] = lease
    try:
        yield result, lease.mapping
    finally:
        _leases.pop(id(result), None)
        with _claim_lock:
            for port, fd in lease.locks.items():
                _release(port, fd)


def rebind(argv: list[str]) -> dict[int, int]:
    """kubectl could not listen on a port it was given (another program took it after the
    check): every local port of this step is exchanged for a fresh one, in ``argv`` and in
    the step's mapping, in place. Returns old -> new; empty if ``argv`` is not a
    port-forward step under way in local_ports."""
    lease = _leases.get(id(argv))
    if lease is None:
        return {}
    moved: dict[int, int] = {}
    with _claim_lock:
        start = argv.index("port-forward") + 2
        for i, word in enumerate(argv[start:], start):
            match = PORT_PAIR.match(word)
            if not match:
                continue
            old = int(match["local"])
            wanted = lease.mapping.pop(old, old)
            used, fd = _claim_free()
            lease.locks[used] = fd
            if old in lease.locks:
                _release(old, lease.locks.pop(old))
            lease.mapping[used] = wanted
            argv[i] = f"{used}{match['rest'] or f':{wanted}'}"
            moved[old] = used
    return moved


def _could_not_listen(output: str) -> bool:
    """kubectl port-forward's words when it cannot bind a local port."""
    return "unable to listen on" in output.lower()


def with_port(url: str, ports: dict[int, int]) -> str:
    for used, wanted in ports.items():
        url = re.sub(rf":{wanted}(?=/|$)", f":{used}", url)
    return url


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
        watch = self.kubectl.start(["get", "pods", "--watch", "-o", "json"])
        kind, _, name = wait.target.partition("/")
        only = name if kind in ("pod", "pods") else None
        stuck = Stuck(self.stuck_grace)
        try:
            # Ticks refresh the progress line; the exit of `kubectl wait` ends the loop at once.
            while not proc.wait_exit(0.25):
                pods = podstate.latest(watch.output, only)
                shown = next(iter(pods.values())).status if len(pods) == 1 else ""
                self.progress.waiting(wait, time.monotonic() - started, shown)
                if stuck.update(list(pods.values()), time.monotonic()):
                    break
                if interrupts.pending() or time.monotonic() - started > timeout + 30:
                    break
        finally:
            result = proc.stop(grace=1.0)
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
        command = shown if shown is not None and argv != shlex.split(shown) else shlex.join(argv)
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
                    probe = self.probe(step.probe)
            finally:
                result = proc.stop()
            if ready or attempt + 1 == attempts or not _could_not_listen(result.output):
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
            entries.append(self.probe_entry(step.probe, probe))
        return tuple(entries), probe

    def probe(self, probe: Probe) -> ProbeOutcome:
        """GET the probe's page through the forwarded port. A probe never leaves this machine:
        no proxy, and a redirect is followed only to a loopback address, judged from the URL
        alone, so a redirect to a remote name is not even looked up."""
        if probe.is_redis:
            return self.redis(probe)
        if probe.mysql:
            return self.mysql(probe)
        url = with_port(probe.url, self.ports)
        if not _on_loopback(url):
            return ProbeOutcome(probe, url, False, f"{url}: {_OFF_LOOPBACK}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _LoopbackRedirects())
        try:
            with opener.open(url, timeout=probe.timeout) as response:
                body = response.read(1 << 20).decode("utf-8", "replace")
                rejected = bool(probe.reject) and probe.reject in body
                ok = probe.expect in body and not rejected
                return ProbeOutcome(probe, url, ok, f"HTTP {response.status}: {_excerpt(body)}", rejected)
        except _Refused as exc:
            return ProbeOutcome(probe, url, False, f"HTTP {exc.code} -> {exc.location}: {_OFF_LOOPBACK}")
        except urllib.error.HTTPError as exc:
            return ProbeOutcome(probe, url, False, f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return ProbeOutcome(probe, url, False, str(reason))

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
        target = replace(step.probe, url=_at_port(step.probe.url, used)) if used != wanted else step.probe
        deadline = time.monotonic() + step.probe.timeout
        while True:
            outcome = self.probe(replace(target, timeout=min(target.timeout, 10.0)))
            if outcome.ok or outcome.rejected or time.monotonic() >= deadline or interrupts.pending():
                break
            time.sleep(0.25)
        # The transcript shows the URL the learner types; the report says where it really went.
        entry = self.probe_entry(step.probe, replace(outcome, url=step.probe.url))
        port = (wanted, used) if used != wanted else None
        record = StepRecord(index, step, (entry,), time.monotonic() - started, waited, outcome, port, time.time())
        self.progress.step_finished(index, record)
        return record

    def _local(self, address: str) -> tuple[str, int, int]:
        """host, the lesson's port and the local port really used (a port-forward may have moved)."""
        host, _, port = address.partition(":")
        used = next((local for local, wanted in self.ports.items() if wanted == int(port)), int(port))
        return host, int(port), used

    def mysql(self, probe: Probe) -> ProbeOutcome:
        """A MySQL session through the forwarded port, shown as the mysql client shows it."""
        import pymysql

        host, _, used = self._local(probe.url)
        try:
            lines = mysql.session("127.0.0.1", used, probe.user, probe.password, probe.send,
                                  timeout=probe.timeout, prepare=probe.prepare)
        except (pymysql.err.MySQLError, OSError) as exc:
            return ProbeOutcome(probe, f"{host}:{used}", False, str(exc))
        return ProbeOutcome(probe, f"{host}:{used}", True, "", session="\n".join(lines))

    def redis(self, probe: Probe) -> ProbeOutcome:
        """A Redis session through the forwarded port, shown the way redis-cli shows it
        (its prompt names the lesson's port, whichever local port was used)."""
        host, port, used = self._local(probe.url)
        lines: list[str] = []
        try:
            with socket.create_connection(("127.0.0.1", used), timeout=probe.timeout) as sock:
                stream = sock.makefile("rb")
                for command in probe.send:
                    sock.sendall(resp.encode(shlex.split(command)))
                    lines += [f"{host}:{port}> {command}", *resp.render(resp.read(stream))]
        except (OSError, resp.ProtocolError, ValueError) as exc:
            return ProbeOutcome(probe, f"{host}:{used}", False, str(exc))
        return ProbeOutcome(probe, f"{host}:{used}", True, "", session="\n".join(lines))

    def probe_entry(self, probe: Probe, outcome: ProbeOutcome | None) -> Entry:
        """The probe as the shell command a learner would type to check the same thing."""
        if probe.is_redis or probe.mysql:
            command = probe.shell_command(outcome.url if outcome else None)
            return Entry(command, outcome.session, 0) if outcome and outcome.ok else Entry(command, "", 1)
        command = probe.shell_command(outcome.url if outcome else with_port(probe.url, self.ports))
        if outcome and outcome.ok:
            return Entry(command, probe.expect, 0)
        return Entry(command, "", 1)

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
        if not step.runs_kubectl:
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
SIM_HOST_PORTS = ["get", "configmap", "kubelesson-sim-host-ports", "-n", "kube-system", "-o", "jsonpath={.data}"]


def _at_port(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _excerpt(body: str) -> str:
    title = re.search(r"<title>(.*?)</title>", body, re.S | re.I)
    text = title.group(1) if title else body
    return " ".join(text.split())[:80]


# --- the probe stays on this machine (Runner.probe) -------------------------------------

_OFF_LOOPBACK = "not followed (not on this machine)"


def _on_loopback(url: str) -> bool:
    """Is ``url`` an http(s) URL on this machine: ``localhost``, 127.0.0.0/8 or ::1?
    Decided from the text, without a name lookup."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost: it would need a lookup, which we refuse
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class _Refused(urllib.error.HTTPError):
    """A redirect off this machine, not followed."""

    def __init__(self, url: str, code: int, location: str) -> None:
        super().__init__(url, code, _OFF_LOOPBACK, email.message.Message(), None)
        self.location = location


class _LoopbackRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, but only to loopback URLs."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if not _on_loopback(newurl):
            raise _Refused(req.full_url, code, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


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
