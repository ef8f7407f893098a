"""Simulated processes in containers: the main process of a busybox or alpine container
that was given a command, and the processes `kubectl exec` starts.

A main process writes to the container log (what `kubectl logs` shows) and to every
session attached to it; when it exits, the simulated kubelet records the container as
terminated with its exit code (reason Completed or Error), and the pod becomes Succeeded or
Failed (restartPolicy Never, or OnFailure after a success) or goes to CrashLoopBackOff.

A container with `stdin: true` (what `kubectl run -i` creates) starts its command when the
first session attaches, or after ATTACH_WAIT seconds without one. On a real node the
command starts at once and an attach comes when it comes; the simulator waits so that
`kubectl run --rm -i ... -- wget ...` always shows the command's whole output, which is
one of the outcomes a real cluster gives. With `stdinOnce`, stdin is closed when that first
session ends.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubelesson.sim import timeutil
from kubelesson.sim.kubelet import environment
from kubelesson.sim.shell.context import Context
from kubelesson.sim.shell.files import ContainerFiles, pod_hostname
from kubelesson.sim.shell.io import Killed, Sink, Stdin, Tee, closed_stdin
from kubelesson.sim.shell.network import Network
from kubelesson.sim.shell.profiles import Profile, profile_for, runs_commands
from kubelesson.sim.shell.sh import NotFound, run_argv
from kubelesson.sim.store import Obj, Store

if TYPE_CHECKING:
    from kubelesson.sim.kubelet.lifecycle import Lifecycle

ATTACH_WAIT = 10.0


# -- the environment ---------------------------------------------------------------------
def container_env(store: Store, pod: Obj, container: Obj, profile: Profile) -> dict[str, str]:
    """PATH and the image's own variables, HOSTNAME, what the kubelet gives the container
    (environment.py: service links, envFrom, env), HOME: the order containerd and runc
    build. The kubelet's part is what the container was started with when the runtime
    remembered it, else it is built now."""
    image_env = dict(profile.env)
    env: dict[str, str] = {"PATH": image_env.pop("PATH", "")}
    env["HOSTNAME"] = pod_hostname(pod)
    env.update(image_env)
    name = str(container.get("name", ""))
    given = environment.of(str(pod["metadata"].get("uid", "")), name)
    if given is None:
        try:
            given = environment.build(store, pod, container)
        except environment.ConfigError:
            given = {}
    env.update(given)
    env.setdefault("HOME", "/root")
    return env


def make_context(store: Store, pod: Obj, container: Obj, *, stdin: Stdin, out: Sink,
                 err: Sink, tty: bool = False,
                 killed: threading.Event | None = None) -> Context:
    profile = profile_for(str(container.get("image", "")))
    return Context(
        pod=pod, container=container, profile=profile,
        files=ContainerFiles(pod, container, profile),
        net=Network(store, pod["metadata"].get("namespace", "default")),
        stdin=stdin, out=out, err=err,
        env=container_env(store, pod, container, profile),
        cwd=str(container.get("workingDir") or profile.workdir), tty=tty,
        killed=killed or threading.Event(),
    )


def container_argv(container: Obj) -> list[str]:
    """command + args. busybox and alpine have no ENTRYPOINT, so args alone are the
    command; without either, their default command is a shell."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    if not command and not args:
        command = ["sh"]
    return [str(a) for a in command + args]


def start_error(argv0: str) -> str:
    """What containerd reports when a container's command is not in its image."""
    return ("failed to create containerd task: failed to create shim task: OCI runtime "
            "create failed: runc create failed: unable to start container process: exec: "
            f'"{argv0}": executable file not found in $PATH: unknown')


def exec_error(argv0: str) -> str:
    """What the kubelet reports (as an InternalError) for an exec of a missing program."""
    return ("error executing command in container: failed to exec in container: failed to "
            f'start exec "{uuid.uuid4().hex}{uuid.uuid4().hex}": OCI runtime exec failed: '
            "exec failed: unable to start container process: exec: "
            f'"{argv0}": executable file not found in $PATH: unknown')


# -- main processes ------------------------------------------------------------------------
class _LogWriter:
    """Container output into the kubelet's log, one LogLine per line."""

    def __init__(self, lines: list[Any], make_line: Callable[[float, str], Any]) -> None:
        self._lines = lines
        self._make = make_line
        self._partial = b""
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> None:
        with self._lock:
            self._partial += data
            *complete, self._partial = self._partial.split(b"\n")
            now = time.time()
            for line in complete:
                self._lines.append(self._make(now, line.decode("utf-8", "replace")))

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                self._lines.append(self._make(time.time(),
                                              self._partial.decode("utf-8", "replace")))
                self._partial = b""


class MainProcess:
    def __init__(self, lifecycle: Lifecycle, pod: Obj, container: Obj) -> None:
        from kubelesson.sim.kubelet.lifecycle import LogLine

        self.lifecycle = lifecycle
        self.pod = pod
        self.container = container
        self.name = str(container.get("name"))
        self.tty = bool(container.get("tty"))
        self.stdin = Stdin() if container.get("stdin") else closed_stdin()
        self.stdin_once = bool(container.get("stdinOnce"))
        uid = pod["metadata"]["uid"]
        self.log = _LogWriter(lifecycle.logs.setdefault((uid, self.name), []), LogLine)
        self.out = Tee(self.log)
        self.err = self.out if self.tty else Tee(self.log)
        self.go = threading.Event()  # set by the first attach (or the wait running out)
        self.done = threading.Event()
        self.killed = threading.Event()
        self.attaches = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        if not self.container.get("stdin"):
            self.go.set()
        thread = threading.Thread(target=self._run, name=f"sim-process-{self.name}",
                                  daemon=True)
        thread.start()

    def _run(self) -> None:
        self.go.wait(ATTACH_WAIT)
        store = self.lifecycle.store
        argv = container_argv(self.container)
        code, reason, message = 0, "", ""
        try:
            ctx = make_context(store, self.pod, self.container, stdin=self.stdin,
                               out=self.out, err=self.err, tty=self.tty, killed=self.killed)
            code = run_argv(ctx, argv)
        except NotFound:
            code, reason, message = 128, "StartError", start_error(argv[0])
        except Killed:
            code = 137
        except Exception:  # a bug in a simulated program: the container errors out
            code = 1
        self.log.flush()
        self.done.set()
        if not self.killed.is_set():
            container_exited(self.lifecycle, self.pod, self.name, code, reason, message)

    # -- attaching --
    def attach(self, out: Sink, err: Sink) -> Stdin:
        """Connect a session's outputs; returns the process's stdin to feed."""
        self.out.add(out)
        if not self.tty:
            self.err.add(err)
        with self._lock:
            self.attaches += 1
        self.go.set()
        return self.stdin

    def detach(self, out: Sink, err: Sink) -> None:
        self.out.remove(out)
        self.err.remove(err)
        if self.stdin_once:
            self.stdin.close()

    def kill(self) -> None:
        self.killed.set()
        self.stdin.kill()
        self.go.set()


_lock = threading.Lock()
_processes: dict[tuple[str, str], MainProcess] = {}


def runs_command(container: Obj) -> bool:
    """A busybox or alpine container given a command, or whose default shell has a stdin
    to read (`kubectl run -i`)."""
    return runs_commands(str(container.get("image", ""))) and bool(
        container.get("command") or container.get("args") or container.get("stdin"))


def start(lifecycle: Lifecycle, pod: Obj, container: Obj) -> None:
    """The kubelet started a container whose command the simulator runs."""
    process = MainProcess(lifecycle, pod, container)
    with _lock:
        old = _processes.pop((pod["metadata"]["uid"], process.name), None)
        _processes[(pod["metadata"]["uid"], process.name)] = process
    if old is not None:
        old.kill()
    process.start()


def find(uid: str, container: str) -> MainProcess | None:
    with _lock:
        return _processes.get((uid, container))


def forget(uid: str) -> None:
    """The pod is gone: kill what still runs in it."""
    with _lock:
        gone = [p for key, p in _processes.items() if key[0] == uid]
        for process in gone:
            del _processes[(uid, process.name)]
    for process in gone:
        process.kill()


def container_exited(lifecycle: Lifecycle, pod: Obj, name: str, code: int, reason: str,
                     message: str) -> None:
    """The kubelet's view of a main process that ended."""
    from kubelesson.sim.kubelet.lifecycle import _set_condition

    now = timeutil.rfc3339(timeutil.now())
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")

    def finished(p: Obj) -> None:
        status = p.setdefault("status", {})
        for cs in status.get("containerStatuses") or []:
            if cs.get("name") != name:
                continue
            running = (cs.get("state") or {}).get("running") or {}
            terminated: Obj = {"exitCode": code, "reason": reason or (
                "Completed" if code == 0 else "Error"), "startedAt": running.get(
                    "startedAt", now), "finishedAt": now, "containerID": cs.get("containerID", "")}
            if message:
                terminated["message"] = message
            cs["state"] = {"terminated": terminated}
            cs["ready"] = False
            cs["started"] = False
        statuses = status.get("containerStatuses") or []
        all_done = all((s.get("state") or {}).get("terminated") for s in statuses)
        if all_done and (policy == "Never" or (policy == "OnFailure" and all(
                s["state"]["terminated"].get("exitCode") == 0 for s in statuses))):
            failed = any(s["state"]["terminated"].get("exitCode") != 0 for s in statuses)
            status["phase"] = "Failed" if failed else "Succeeded"
            _set_condition(p, "PodReadyToStartContainers", False, now)
            _set_condition(p, "Ready", False, now, "PodCompleted")
            _set_condition(p, "ContainersReady", False, now, "PodCompleted")
        else:
            not_ready = f"containers with unready status: [{name}]"
            _set_condition(p, "Ready", False, now, "ContainersNotReady", not_ready)
            _set_condition(p, "ContainersReady", False, now, "ContainersNotReady", not_ready)

    current = lifecycle.store.get("pods", pod["metadata"].get("namespace", ""),
                                  pod["metadata"]["name"])
    if current is None or current["metadata"].get("uid") != pod["metadata"]["uid"]:
        return
    updated = lifecycle._update(current, finished)
    if updated is not None and (updated.get("status") or {}).get("phase") == "Running":
        lifecycle._step(updated, lifecycle.options.backoff_seconds, lifecycle._crash_loop)
