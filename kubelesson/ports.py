"""Local ports for the lesson's port-forwards: the lesson's own port when it is free, else
another, claimed so that parallel lessons (in this process and in others) never race for
one; the mapping is kept so the transcript can show the lesson's port again."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock (see local_ports)
    fcntl = None  # type: ignore[assignment]

PORT_PAIR = re.compile(r"^(?P<local>\d+)(?P<rest>:\d+)?$")


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


def could_not_listen(output: str) -> bool:
    """kubectl port-forward's words when it cannot bind a local port."""
    return "unable to listen on" in output.lower()


def with_port(url: str, ports: dict[int, int]) -> str:
    for used, wanted in ports.items():
        url = re.sub(rf":{wanted}(?=/|$)", f":{used}", url)
    return url
