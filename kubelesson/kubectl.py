"""The one place that runs kubectl (through ``sh``).

Every kubectl process gets an explicit environment (the sandbox kubeconfig, no colour,
a fixed locale and width), runs in a session of its own so that signals reach exactly the
processes we mean, and is killed if kubelesson stops waiting for it for any reason.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubelesson import interrupts
from kubelesson.errors import KubectlMissing, KubectlTooOld

MIN_VERSION = (1, 25)
TIMED_OUT = 124  # the exit status timeout(1) uses; shown as "[exit 124]" in a transcript

# What kubectl may inherit from the caller: where things are, proxies and certificates,
# kubectl's own switches, and what credential plugins of cloud clusters read. Everything
# that changes what kubectl prints is set explicitly (FIXED_ENV).
PASSTHROUGH = ("PATH", "HOME", "USER", "TMPDIR", "KUBECACHEDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
               "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
PASSTHROUGH_PREFIXES = ("KUBECTL_", "KUBE_FEATURE_", "AWS_", "CLOUDSDK_", "GOOGLE_", "AZURE_")
# KUBERC=off: a learner's ~/.kube/kuberc (kubectl 1.33+) could add default flags, even a namespace.
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200", "KUBERC": "off"}


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    output: str  # stdout and stderr as a terminal shows them (one pipe keeps their order)
    exit_code: int
    duration: float

    @property
    def timed_out(self) -> bool:
        return self.exit_code == TIMED_OUT

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def locate(explicit: str | None = None) -> str:
    """The kubectl to use: ``--kubectl``, then ``$KUBELESSON_KUBECTL``, then ``PATH``."""
    candidate = explicit or os.environ.get("KUBELESSON_KUBECTL") or "kubectl"
    found = shutil.which(candidate)
    if found is None:
        raise KubectlMissing(path=candidate)
    return found


def build_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key in PASSTHROUGH or key.startswith(PASSTHROUGH_PREFIXES)}
    env.update(FIXED_ENV)
    env.update(extra or {})
    return env


def _lines(text: str) -> str:
    return text.rstrip("\n")


def last_line(text: str) -> str:
    """The last non-blank line kubectl printed: where it says what went wrong."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


class Kubectl:
    """Runs one kubectl binary with one environment in one working directory."""

    def __init__(self, path: str, env: Mapping[str, str], cwd: Path, prefix: Sequence[str] = ()) -> None:
        self.path = path
        self.env = dict(env)
        self.cwd = cwd
        self.prefix = tuple(prefix)  # global flags put before every command's own arguments

    def with_env(self, **changes: str) -> Kubectl:
        return Kubectl(self.path, {**self.env, **changes}, self.cwd, self.prefix)

    def program(self, path: str) -> Kubectl:
        """Another program run the same careful way (a host step's ``docker ps``), with the
        caller's whole environment: it needs DOCKER_HOST and the like, not kubeconfigs."""
        return Kubectl(path, {**os.environ, **FIXED_ENV}, self.cwd)

    def for_context(self, context: str) -> Kubectl:
        return Kubectl(self.path, self.env, self.cwd, (f"--context={context}",))

    def spawn(self, args: Sequence[str], *, nice: int = 0, **redirect: Any) -> Any:
        """Start kubectl (an sh RunningCommand) in a session of its own, so that signals reach
        exactly it, with stderr merged into stdout as a terminal shows them; any exit code
        is data. ``redirect`` holds further sh arguments such as ``_out``."""
        import sh  # imported here: it costs start-up time that `--help` should not pay

        _prctl()  # resolved in the parent, so the child only makes the call
        return sh.Command(self.path)(
            *self.prefix,
            *args,
            _env=self.env,
            _cwd=str(self.cwd),
            _err_to_out=True,
            _tty_out=False,
            _ok_code=list(range(256)),
            _bg=True,
            _bg_exc=False,
            _new_session=True,
            _preexec_fn=functools.partial(_prepare_child, nice),
            **redirect,
        )

    def run(self, args: Sequence[str], *, timeout: float = 60.0, nice: int = 0) -> Result:
        """Run to completion; never raises for a non-zero exit (that is data, not an error).
        ``nice`` lowers the priority of work that runs beside the lesson (the sweep), so
        that it takes CPU time from nothing the lesson is waiting for."""
        import sh

        interrupts.check()  # after a signal, start nothing new (cleanup excepted)
        started = time.monotonic()
        proc = self.spawn(args, nice=nice, _decode_errors="replace")
        pid = proc.process.pid
        interrupts.track(pid)
        # Our own timer rather than sh's `_timeout`: sh checks that one in a 0.1 s loop, which
        # would add up to 100 ms to every command (measured).
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            _kill_quietly(pid)

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            proc.wait()
            code = proc.exit_code
        except sh.SignalException:  # killed: by the timer, or by an interrupt (check() below)
            code = -1
        except BaseException:
            _kill_quietly(pid)
            raise
        finally:
            timer.cancel()
            interrupts.untrack(pid)
        if expired.is_set():
            code = TIMED_OUT
        interrupts.check()
        output = _lines(proc.process.stdout.decode("utf-8", "replace"))
        return Result(tuple(args), output, code, time.monotonic() - started)

    def start(self, args: Sequence[str]) -> Background:
        return Background(self, args)


def parse_version(text: str) -> tuple[int, int]:
    match = re.search(r'"gitVersion":\s*"v(\d+)\.(\d+)', text) or re.search(r"v(\d+)\.(\d+)", text)
    if not match:
        return (0, 0)
    return int(match[1]), int(match[2])


def check_version(version: tuple[int, int], path: str) -> None:
    if version < MIN_VERSION:
        raise KubectlTooOld(
            path=path,
            found=f"{version[0]}.{version[1]}",
            minimum=f"{MIN_VERSION[0]}.{MIN_VERSION[1]}",
        )


@functools.cache
def _prctl() -> Callable[[int, int], int] | None:
    try:
        import ctypes

        prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):  # not Linux: no parent-death signal to ask for
        return None


def _prepare_child(nice: int) -> None:
    """Run in the child before exec: ask Linux to SIGKILL it if kubelesson dies, so not even
    a SIGKILLed kubelesson leaves a port-forward behind (PR_SET_PDEATHSIG is option 1)."""
    prctl = _prctl()
    if prctl is not None:
        prctl(1, signal.SIGKILL)
    if nice:
        os.nice(nice)


def _kill_quietly(pid: int) -> None:
    """Kill a child's whole session; it may be gone already."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class Background:
    """A long-running kubectl (port-forward) in a process group of its own.

    Output is collected line by line as it arrives, so readiness is known from kubectl's
    own words ("Forwarding from ...") the moment it prints them, not by polling.
    """

    def __init__(self, kubectl: Kubectl, args: Sequence[str]) -> None:
        interrupts.check()
        self.argv = tuple(args)
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._exited = False
        self._started = time.monotonic()
        # Output goes into a pipe we read ourselves: sh's `_out` callbacks are fed by a thread
        # that polls every 0.1 s, too slow to notice "Forwarding from ..." at once (measured).
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb", buffering=0) as writer:
            self._proc = kubectl.spawn(args, _out=writer)
        self.pid: int = self._proc.process.pid
        self._code = -1
        interrupts.track(self.pid)
        threading.Thread(target=self._pump, args=(read_fd,), name=f"kubectl-{self.pid}", daemon=True).start()

    def _pump(self, read_fd: int) -> None:
        """Collect lines as kubectl prints them; at end of output, reap the process."""
        with os.fdopen(read_fd, "rb") as reader:
            for raw in reader:
                with self._changed:
                    self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._changed.notify_all()
        try:
            self._proc.wait()
            code = int(self._proc.exit_code)
        except Exception:  # sh raises for a death by signal; it is still an exit
            code = -1
        with self._changed:
            self._code = code
            self._exited = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self._lines)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float) -> bool:
        """Block until ``predicate(lines)`` holds or the process exits; True if it held."""
        with self._changed:
            self._changed.wait_for(lambda: predicate(self._lines) or self._exited, timeout)
            return predicate(self._lines)

    def stop(self, grace: float = 3.0) -> Result:
        """Ctrl-C as a learner would (SIGINT to the group), then SIGKILL after ``grace``."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, grace)):
            if self.wait_exit(wait=0):
                break
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            if self.wait_exit(wait=wait):
                break
        code = self._exit_code()
        interrupts.untrack(self.pid)
        return Result(self.argv, self.output, code, time.monotonic() - self._started)

    def wait_exit(self, wait: float) -> bool:
        """True once the process has exited; waits at most ``wait`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._exited, wait)

    def _exit_code(self) -> int:
        self.wait_exit(wait=10.0)
        return self._code
