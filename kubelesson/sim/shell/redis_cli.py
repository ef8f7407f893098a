"""redis-cli in the redis images, talking to the pod's own simulated redis (or another
host through the pod network). Replies are printed as redis-cli prints them: raw when its
stdout is not a terminal (`OK`, `bar`, `1`, an empty line for nil), with types on a
terminal (`"bar"`, `(integer) 1`, `(nil)`). Without a command it reads commands from
stdin, one per line."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from kubelesson.sim.shell.context import Context, program
from kubelesson.sim.shell.network import exchange

Reply = tuple[str, Any]  # ("status"|"error"|"int"|"bulk"|"array", value)
LOCAL = ("127.0.0.1", "localhost", "::1")


def _encode(args: list[str]) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


def _parse(data: bytes, pos: int = 0) -> tuple[Reply, int] | None:
    end = data.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, text = data[pos:pos + 1], data[pos + 1:end].decode("utf-8", "replace")
    pos = end + 2
    if kind == b"+":
        return ("status", text), pos
    if kind == b"-":
        return ("error", text), pos
    if kind == b":":
        return ("int", int(text)), pos
    if kind == b"$":
        size = int(text)
        if size < 0:
            return ("bulk", None), pos
        return ("bulk", data[pos:pos + size]), pos + size + 2
    if kind == b"*":
        count = int(text)
        if count < 0:
            return ("array", None), pos
        items = []
        for _ in range(count):
            parsed = _parse(data, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return ("array", items), pos
    return None


def _format(reply: Reply, *, tty: bool, indent: str = "") -> str:
    kind, value = reply
    if kind == "array":
        if not value:
            return "(empty array)\n" if tty else "\n" if value is None else ""
        if not tty:
            return "".join(_format(item, tty=False) for item in value)
        width = len(str(len(value)))
        lines = []
        for i, item in enumerate(value, 1):
            prefix = f"{indent}{i:>{width}}) " if i > 1 or not indent else f"{i:>{width}}) "
            lines.append(prefix + _format(item, tty=True, indent=indent + " " * (width + 2)))
        return "".join(lines)
    if kind == "bulk":
        if value is None:
            return "(nil)\n" if tty else "\n"
        text = value.decode("utf-8", "replace")
        return f'"{text}"\n' if tty else text + "\n"
    if kind == "int":
        return f"(integer) {value}\n" if tty else f"{value}\n"
    if kind == "error":
        return f"(error) {value}\n" if tty else f"{value}\n"
    return f"{value}\n"


@dataclass
class _Target:
    host: str = "127.0.0.1"
    port: int = 6379
    raw: bool | None = None


def _options(argv: list[str]) -> tuple[_Target, list[str]]:
    target = _Target()
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag in ("-h", "-p", "-n", "-a", "--user", "--pass") and args:
            value = args.pop(0)
            if flag == "-h":
                target.host = value
            elif flag == "-p":
                target.port = int(value) if value.isdigit() else 0
        elif flag == "--raw":
            target.raw = True
        elif flag == "--no-raw":
            target.raw = False
    return target, args


@program("redis-cli")
def redis_cli(ctx: Context, argv: list[str]) -> int:
    target, command = _options(argv)
    tty = not target.raw if target.raw is not None else ctx.tty
    if command:
        return _run(ctx, target, command, tty=tty)
    status = 0
    while line := ctx.stdin.readline():
        try:
            words = shlex.split(line.decode("utf-8", "replace"))
        except ValueError:
            ctx.error("Invalid argument(s)\n")
            continue
        if words:
            status = _run(ctx, target, words, tty=tty)
    return status


def _run(ctx: Context, target: _Target, command: list[str], *, tty: bool) -> int:
    if target.host in LOCAL:
        from kubelesson.sim.kubelet.listeners import app_for

        app: Any = app_for(ctx.pod, target.port)
        ip = "127.0.0.1"
    else:
        ip = ctx.net.resolve(target.host) or ""
        if not ip:
            ctx.error(f"Could not connect to Redis at {target.host}:{target.port}: "
                      "Name does not resolve\n")
            return 1
        app = ctx.net.connect(ip, target.port)
    if app is None or isinstance(app, str):
        ctx.error(f"Could not connect to Redis at {target.host}:{target.port}: "
                  "Connection refused\n")
        return 1
    # QUIT after the command makes the server close the connection, which ends the read.
    raw = exchange(app, _encode(command) + _encode(["QUIT"]))
    parsed = _parse(raw)
    if parsed is None:
        ctx.error("Error: Server closed the connection\n")
        return 1
    reply, _ = parsed
    ctx.write(_format(reply, tty=tty))
    return 1 if reply[0] == "error" else 0
