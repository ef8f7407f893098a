"""Running the simulator as a background process: state dir, pid file, start, stop, status.

The click layer (cli.py) only parses options and prints; everything here returns values
or raises ControlError with a message that says what to do.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from kubelesson.sim.options import SimOptions

PID_FILE = "sim.pid"
INFO_FILE = "sim.json"
LOG_FILE = "sim.log"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class ControlError(Exception):
    """A foreseeable problem (port busy, already running): one line for the user."""


@dataclass(frozen=True)
class Status:
    running: bool
    state_dir: Path
    pid: int | None = None
    url: str | None = None
    started: float | None = None

    @property
    def uptime(self) -> float | None:
        return None if self.started is None else time.time() - self.started


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "kubelesson" / "sim"


def env_lines(state_dir: Path) -> list[str]:
    return [
        f"export KUBECONFIG={state_dir / 'kubeconfig'}",
        f"export KUBECACHEDIR={state_dir / 'cache'}",
    ]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/version", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def status(state_dir: Path) -> Status:
    """Running means: the pid file names a live process and the recorded URL answers."""
    pid_path, info_path = state_dir / PID_FILE, state_dir / INFO_FILE
    try:
        pid = int(pid_path.read_text().strip())
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return Status(False, state_dir)
    if not _alive(pid):
        return Status(False, state_dir)
    url = str(info.get("url", ""))
    return Status(_answers(url), state_dir, pid, url, float(info.get("started", 0)) or None)


def write_info(state_dir: Path, url: str) -> None:
    """Called by the background process once it listens."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started": time.time()}))
    tmp.replace(state_dir / INFO_FILE)
    (state_dir / PID_FILE).write_text(f"{os.getpid()}\n")


def clear_info(state_dir: Path) -> None:
    for name in (PID_FILE, INFO_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()


def option_args(options: SimOptions) -> list[str]:
    args: list[str] = []
    for key, value in asdict(options).items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            for item in value:
                args += [flag, str(item)]
        else:
            args += [flag, str(value)]
    return args


def up(state_dir: Path, options: SimOptions, port: int) -> Status:
    """Start `python -m kubelesson.sim run` detached and wait until it answers."""
    current = status(state_dir)
    if current.running:
        raise ControlError(
            f"the simulator is already running at {current.url} (pid {current.pid}); "
            f"run `kubelesson sim down --state-dir {state_dir}` first")
    state_dir.mkdir(parents=True, exist_ok=True)
    clear_info(state_dir)
    log_path = state_dir / LOG_FILE
    cmd = [sys.executable, "-m", "kubelesson.sim", "run", "--state-dir", str(state_dir),
           "--port", str(port), "--quiet", *option_args(options)]
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        rc = proc.poll()
        if rc is not None:
            raise ControlError(_startup_failure(log_path, rc))
        current = status(state_dir)
        if current.running:
            return current
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    raise ControlError(f"the simulator did not start within {START_TIMEOUT:.0f}s; see {log_path}")


def _startup_failure(log_path: Path, rc: int) -> str:
    try:
        lines = [li for li in log_path.read_text().splitlines() if li.strip()]
    except OSError:
        lines = []
    last = lines[-1] if lines else f"exit code {rc}"
    last = last.removeprefix("error: ")
    return f"the simulator failed to start: {last}"


def down(state_dir: Path) -> bool:
    """Stop the background simulator (its whole process group). False if none was running."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        clear_info(state_dir)
        return False
    if not _alive(pid):
        clear_info(state_dir)
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid) and time.monotonic() < deadline + 2:
            _reap(pid)
            time.sleep(0.05)
    clear_info(state_dir)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """The server runs in its own session, so its group id is its pid."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child (as in tests)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def run_foreground(state_dir: Path, options: SimOptions, port: int, *, quiet: bool,
                   announce: bool = True) -> int:
    """Serve until SIGINT/SIGTERM; 0 after SIGTERM, 130 after Ctrl-C."""
    import threading

    from kubelesson.sim.handle import PortInUse, running

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with running(state_dir, options=options, port=port) as sim:
            write_info(state_dir, sim.url)
            if announce and not quiet:
                print(f"kubelesson SIMULATED cluster listening at {sim.url} "
                      "(not a real Kubernetes cluster)", flush=True)
                for line in env_lines(state_dir):
                    print(line, flush=True)
                print("Press Ctrl-C to stop.", flush=True)
            while not stop.wait(3600):
                pass
    except PortInUse as exc:
        raise ControlError(f"{exc}; choose another with --port or leave it out") from None
    finally:
        clear_info(state_dir)
    return 130 if received and received[-1] == signal.SIGINT else 0
