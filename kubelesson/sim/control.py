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
from typing import Literal

from kubelesson.messages import language, say
from kubelesson.sim.options import SimOptions

PID_FILE = "sim.pid"
INFO_FILE = "sim.json"
LOG_FILE = "sim.log"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class ControlError(Exception):
    """A foreseeable problem (port busy, start-up failed): one line for the user, as a key
    of kubelesson.messages and its values; str() is the English line."""

    def __init__(self, key: str, **params: object) -> None:
        self.key = key
        self.params = params
        super().__init__(say("en", key, **params))

    def text(self, lang: str) -> str:
        return say(lang, self.key, **self.params)


@dataclass(frozen=True)
class Status:
    running: bool
    state_dir: Path
    pid: int | None = None
    url: str | None = None
    started: float | None = None
    host_ports: tuple[tuple[int, int], ...] = ()  # lesson 5: (cluster host port, local port)

    @property
    def uptime(self) -> float | None:
        return None if self.started is None else time.time() - self.started


@dataclass(frozen=True)
class Started:
    status: Status
    already: bool  # it was running before: nothing was started


@dataclass(frozen=True)
class Stopped:
    """What `down` did: stopped the simulator, found none, or found a pid file naming a
    process that is not the simulator (left alone) or that could not be checked."""

    outcome: Literal["stopped", "not-running", "stale", "unverified"]
    pid: int | None = None


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


def _served_by(url: str) -> int | None:
    """The pid of the simulator answering at `url` (its /_sim/identity), or None."""
    if not url.startswith("http://127.0.0.1:"):  # only ever ask our own loopback servers
        return None
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url + "/_sim/identity", timeout=1) as reply:
            identity = json.loads(reply.read(4096))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if not isinstance(identity, dict) or identity.get("kind") != "kubelesson-sim":
        return None
    pid = identity.get("pid")
    return pid if isinstance(pid, int) else None


def _recorded(state_dir: Path) -> tuple[int, dict[str, object]] | None:
    """The pid file's pid and sim.json's contents, if both can be read."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
        info = json.loads((state_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return (pid, info) if isinstance(info, dict) else None


def status(state_dir: Path) -> Status:
    """Running means: the pid file names a live process, and the simulator answering at the
    recorded URL says that it is that process."""
    recorded = _recorded(state_dir)
    if recorded is None:
        return Status(False, state_dir)
    pid, info = recorded
    url = str(info.get("url", ""))
    if not _alive(pid) or _served_by(url) != pid:
        return Status(False, state_dir)
    started = info.get("started")
    ports = info.get("host_ports")
    host_ports = tuple(sorted((int(k), int(v)) for k, v in ports.items())) if isinstance(
        ports, dict) else ()
    return Status(True, state_dir, pid, url,
                  float(started) if isinstance(started, (int, float)) and started else None,
                  host_ports)


def _command_line(pid: int) -> list[str] | None:
    """The process's arguments, from /proc or else from ps; None if neither can tell."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]
    except OSError:
        pass
    try:
        ps = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                            text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return ps.stdout.split() if ps.returncode == 0 and ps.stdout.strip() else None


def _looks_like_simulator(args: list[str], state_dir: Path, cwd: Path) -> bool:
    """`python -m kubelesson.sim run ...` or `kubelesson sim run ...`, for this state dir
    (a relative --state-dir is taken from the process's working directory, `cwd`)."""
    ours = "kubelesson.sim" in args or (
        any(Path(arg).name == "kubelesson" for arg in args) and "sim" in args)
    if not ours or "run" not in args:
        return False
    given = next((arg.split("=", 1)[1] for arg in args if arg.startswith("--state-dir=")), None)
    if "--state-dir" in args[:-1]:
        given = args[args.index("--state-dir") + 1]
    if given is None:
        return state_dir.resolve() == default_state_dir().resolve()
    return (cwd / given).resolve() == state_dir.resolve()


def _identify(pid: int, url: str, state_dir: Path) -> Literal["simulator", "stale", "unverified"]:
    """Whether `pid` is this state dir's simulator: it says so at its URL, or its command
    line shows it (when it does not answer: hung, or still starting)."""
    if _served_by(url) == pid:
        return "simulator"
    args = _command_line(pid)
    if args is None:
        return "unverified"
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        cwd = Path.cwd()
    return "simulator" if _looks_like_simulator(args, state_dir, cwd) else "stale"


def write_info(state_dir: Path, url: str, host_ports: dict[int, int] | None = None) -> None:
    """Called by the background process once it listens."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / (INFO_FILE + ".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started": time.time(),
                               "host_ports": {str(k): v for k, v in (host_ports or {}).items()}}))
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


def up(state_dir: Path, options: SimOptions, port: int) -> Started:
    """Start `python -m kubelesson.sim run` detached and wait until it answers; if it runs
    already, say so (its options stay those it was started with)."""
    current = status(state_dir)
    if current.running:
        return Started(current, already=True)
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
            raise ControlError("sim.start_failed", why=_startup_failure(log_path, rc))
        current = status(state_dir)
        if current.running:
            return Started(current, already=False)
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    raise ControlError("sim.start_timeout", seconds=f"{START_TIMEOUT:.0f}", log=log_path)


def _startup_failure(log_path: Path, rc: int) -> str:
    try:
        lines = [li for li in log_path.read_text().splitlines() if li.strip()]
    except OSError:
        lines = []
    last = lines[-1] if lines else f"exit code {rc}"
    for lang in ("en", "ja"):  # the child wrote its error in the language it was given
        prefix = say(lang, "sim.error", what="")
        last = last.removeprefix(prefix)
    return last


def down(state_dir: Path) -> Stopped:
    """Stop the background simulator (its whole process group), after making sure the pid
    on file is still the simulator: a pid file left by one that died may by now name any
    other program, which must not be signalled."""
    recorded = _recorded(state_dir)
    if recorded is None or not _alive(recorded[0]):
        clear_info(state_dir)
        return Stopped("not-running")
    pid, info = recorded
    identity = _identify(pid, str(info.get("url", "")), state_dir)
    if identity == "stale":
        clear_info(state_dir)
        return Stopped("stale", pid)
    if identity == "unverified":
        return Stopped("unverified", pid)
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
    return Stopped("stopped", pid)


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
    from kubelesson.sim.network.hostports import HostPortInUse

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with running(state_dir, options=options, port=port) as sim:
            write_info(state_dir, sim.url, sim.host_ports)
            if announce and not quiet:
                lang = language()
                print(say(lang, "sim.listening", url=sim.url), flush=True)
                for line in env_lines(state_dir):
                    print(line, flush=True)
                print(say(lang, "sim.press_ctrl_c"), flush=True)
            while not stop.wait(3600):
                pass
    except PortInUse as exc:
        raise ControlError("sim.port_in_use", port=exc.port) from None
    except HostPortInUse as exc:
        raise ControlError("sim.host_port_in_use", host=exc.host_port,
                           local=exc.local_port) from None
    finally:
        clear_info(state_dir)
    return 130 if received and received[-1] == signal.SIGINT else 0
