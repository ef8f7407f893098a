"""The small programs a lesson types into a container: echo, cat, ls, env, printenv,
hostname, pwd, sleep, true, false. Messages are busybox's in busybox images and GNU
coreutils' in the Debian-based ones."""

from __future__ import annotations

import posixpath

from kubelesson.sim.kubelet.podfs import clean_path
from kubelesson.sim.shell.context import Context, program
from kubelesson.sim.shell.files import pod_hostname


def _gnu(ctx: Context) -> bool:
    return ctx.profile.shell != "ash"


def absolute(ctx: Context, path: str) -> str:
    return clean_path(path if path.startswith("/") else posixpath.join(ctx.cwd, path))


@program("echo")
def echo(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        flag = args.pop(0)
        newline = newline and "n" not in flag
        escapes = "e" in flag
    text = " ".join(args)
    if escapes:
        text = text.encode().decode("unicode_escape", errors="replace")
    ctx.write(text + ("\n" if newline else ""))
    return 0


@program("true", ":")
def true(ctx: Context, argv: list[str]) -> int:
    return 0


@program("false")
def false(ctx: Context, argv: list[str]) -> int:
    return 1


@program("pwd")
def pwd(ctx: Context, argv: list[str]) -> int:
    ctx.write(ctx.cwd + "\n")
    return 0


@program("hostname")
def hostname(ctx: Context, argv: list[str]) -> int:
    ctx.write(pod_hostname(ctx.pod) + "\n")
    return 0


@program("env", "printenv")
def env(ctx: Context, argv: list[str]) -> int:
    names = argv[1:]
    if argv[0].endswith("printenv") and names:
        found = [ctx.env[n] for n in names if n in ctx.env]
        for value in found:
            ctx.write(value + "\n")
        return 0 if len(found) == len(names) else 1
    for name, value in ctx.env.items():
        ctx.write(f"{name}={value}\n")
    return 0


@program("sleep")
def sleep(ctx: Context, argv: list[str]) -> int:
    try:
        seconds = sum(float(a.rstrip("s")) for a in argv[1:])
    except ValueError:
        ctx.error(f"sleep: invalid number '{argv[1]}'\n")
        return 1
    ctx.sleep(seconds)
    return 0


@program("cat")
def cat(ctx: Context, argv: list[str]) -> int:
    paths = [a for a in argv[1:] if a != "--"] or ["-"]
    status = 0
    for path in paths:
        if path == "-":
            while data := ctx.stdin.read():
                ctx.out(data)
            continue
        kind = ctx.files.stat(absolute(ctx, path))
        if kind is None:
            ctx.error(f"cat: {path}: No such file or directory\n" if _gnu(ctx)
                      else f"cat: can't open '{path}': No such file or directory\n")
            status = 1
        elif kind == "dir":
            ctx.error(f"cat: {path}: Is a directory\n" if _gnu(ctx)
                      else "cat: read error: Is a directory\n")
            status = 1
        else:
            ctx.out(ctx.files.read(absolute(ctx, path)) or b"")
    return status


@program("ls")
def ls(ctx: Context, argv: list[str]) -> int:
    show_all = False
    paths: list[str] = []
    for arg in argv[1:]:
        if arg.startswith("-") and len(arg) > 1:
            for flag in arg[1:]:
                if flag == "a":
                    show_all = True
                elif flag != "1":
                    ctx.error(f"kubelesson-sim: 'ls -{flag}' is not simulated\n")
                    return 1
        else:
            paths.append(arg)
    status = 0
    targets = paths or ["."]
    files = [p for p in targets if ctx.files.stat(absolute(ctx, p)) == "file"]
    dirs = [p for p in targets if ctx.files.stat(absolute(ctx, p)) == "dir"]
    for missing in (p for p in targets if p not in files and p not in dirs):
        ctx.error(f"ls: cannot access '{missing}': No such file or directory\n" if _gnu(ctx)
                  else f"ls: {missing}: No such file or directory\n")
        status = 2 if _gnu(ctx) else 1
    for name in sorted(files):
        ctx.write(name + "\n")
    for index, directory in enumerate(sorted(dirs)):
        if len(targets) > 1:
            ctx.write(("\n" if files or index else "") + f"{directory}:\n")
        names = ctx.files.listdir(absolute(ctx, directory))
        if show_all:
            names = [".", "..", *names]
        for name in names:
            if show_all or not name.startswith("."):
                ctx.write(name + "\n")
    return status


def _inputs(ctx: Context, paths: list[str], name: str) -> list[bytes] | None:
    """The contents of the named files (stdin when none); None after an error."""
    if not paths:
        return [ctx.stdin.read_all()]
    contents = []
    for path in paths:
        if path == "-":
            contents.append(ctx.stdin.read_all())
            continue
        data = ctx.files.read(absolute(ctx, path))
        if data is None:
            ctx.error(f"{name}: cannot open '{path}' for reading: No such file or directory\n"
                      if _gnu(ctx) else f"{name}: can't open '{path}': No such file or "
                      "directory\n")
            return None
        contents.append(data)
    return contents


def _count_option(args: list[str], default: int) -> tuple[int, list[str]]:
    count, rest = default, []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "-n" and index + 1 < len(args):
            count = int(args[index + 1].lstrip("+-") or 0)
            index += 1
        elif arg.startswith("-n"):
            count = int(arg[2:].lstrip("+-") or 0)
        elif arg.startswith("-") and arg[1:].isdigit():
            count = int(arg[1:])
        else:
            rest.append(arg)
        index += 1
    return count, rest


@program("head", "tail")
def head_tail(ctx: Context, argv: list[str]) -> int:
    name = posixpath.basename(argv[0])
    count, paths = _count_option(argv[1:], 10)
    contents = _inputs(ctx, paths, name)
    if contents is None:
        return 1
    for data in contents:
        lines = data.splitlines(keepends=True)
        ctx.out(b"".join(lines[:count] if name == "head" else lines[-count:] if count else []))
    return 0


@program("wc")
def wc(ctx: Context, argv: list[str]) -> int:
    flags = "".join(a[1:] for a in argv[1:] if a.startswith("-")) or "lwc"
    paths = [a for a in argv[1:] if not a.startswith("-")]
    contents = _inputs(ctx, paths, "wc")
    if contents is None:
        return 1
    for index, data in enumerate(contents):
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        shown = [counts[f] for f in "lwc" if f in flags]
        if len(shown) == 1 and not paths:
            ctx.write(f"{shown[0]}\n")
            continue
        width = 7 if not _gnu(ctx) else 1
        text = " ".join(f"{n:>{width}}" for n in shown)
        ctx.write(text + (f" {paths[index]}" if paths else "") + "\n")
    return 0


@program("grep")
def grep(ctx: Context, argv: list[str]) -> int:
    """grep [-ivcqoEF] [-m N] PATTERN [FILE]... (busybox's and GNU's common ground)."""
    import re

    flags = ""
    most: int | None = None
    args: list[str] = []
    words = iter(argv[1:])
    for arg in words:
        if arg.startswith("-m") and not args:
            value = arg[2:] or next(words, "")
            if not value.isdigit():
                ctx.error(f"grep: invalid max count '{value}'\n")
                return 2
            most = int(value)
        elif arg.startswith("-") and len(arg) > 1 and not args:
            flags += arg[1:]
        else:
            args.append(arg)
    if not args:
        ctx.error("Usage: grep [-ivcqoEF] [-m N] PATTERN [FILE]...\n")
        return 2
    text = re.escape(args[0]) if "F" in flags else args[0]
    pattern = re.compile(text, re.IGNORECASE if "i" in flags else 0)
    contents = _inputs(ctx, args[1:], "grep")
    if contents is None:
        return 2
    found = 0
    for data in contents:
        for line in data.decode("utf-8", "replace").splitlines(keepends=True):
            if most is not None and found >= most:
                break
            if bool(pattern.search(line)) == ("v" in flags):
                continue
            found += 1
            if "c" in flags or "q" in flags:
                continue
            if "o" in flags and "v" not in flags:
                for match in pattern.finditer(line.rstrip("\n")):
                    ctx.write(match.group(0) + "\n")
            else:
                ctx.write(line if line.endswith("\n") else line + "\n")
    if "c" in flags:
        ctx.write(f"{found}\n")
    return 0 if found else 1
