"""What a simulated process runs with: its container, streams, environment and network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kubelesson.sim.shell.files import ContainerFiles
from kubelesson.sim.shell.io import Killed, Sink, Stdin
from kubelesson.sim.shell.network import Network
from kubelesson.sim.shell.profiles import Profile

Obj = dict[str, Any]


class ShellExit(Exception):
    """`exit N` in a shell script."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class Context:
    pod: Obj
    container: Obj
    profile: Profile
    files: ContainerFiles
    net: Network
    stdin: Stdin
    out: Sink
    err: Sink
    env: dict[str, str]
    cwd: str = "/"
    killed: threading.Event = field(default_factory=threading.Event)
    tty: bool = False
    status: int = 0  # $? of the shell running this context
    shell: str = "sh"  # argv[0] of that shell, for its error messages
    line: int = 1  # the script line being run (dash and bash print it)

    def child(self, **changes: Any) -> Context:
        """The same process state with other streams (a pipeline stage, a redirection)."""
        return replace(self, **changes)

    def write(self, text: str) -> None:
        self.out(self._tty(text).encode())

    def error(self, text: str) -> None:
        self.err(self._tty(text).encode())

    def _tty(self, text: str) -> str:
        # A terminal's line discipline turns each newline into CR LF.
        return text.replace("\n", "\r\n") if self.tty else text

    def sleep(self, seconds: float) -> None:
        """Wait, unless the process is killed first."""
        if self.killed.wait(max(seconds, 0.0)):
            raise Killed

    def check(self) -> None:
        if self.killed.is_set():
            raise Killed

    def variable(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "1"
        if name == "#":
            return "0"
        return self.env.get(name, "")


Program = Callable[[Context, list[str]], int]

# The programs the simulator can run, by name (each module of this package registers its
# own; another part of the simulator may add a client for its app, e.g. a database's).
PROGRAMS: dict[str, Program] = {}


def program(*names: str) -> Callable[[Program], Program]:
    def register(fn: Program) -> Program:
        for name in names:
            PROGRAMS[name] = fn
        return fn

    return register
