"""The shells of the simulated images, and how a command line is run.

busybox ash (busybox, alpine, caddy) says `sh: wget: not found`; Debian's dash says
`sh: 1: wget: not found`; bash says `bash: line 1: wget: command not found`; each exits
127. Lists, pipelines (each stage runs to its end before the next one reads), variables,
assignments, `cd`, `exit`, `export` and redirections to files or /dev/null work; job
control, functions, loops and `test` do not.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from kubelesson.sim.shell import coreutils, netcmds, redis_cli  # noqa: F401 (they register)
from kubelesson.sim.shell.context import PROGRAMS, Context, Program, ShellExit, program
from kubelesson.sim.shell.coreutils import absolute
from kubelesson.sim.shell.io import Stdin
from kubelesson.sim.shell.script import Command, Pipeline, Redirect, SyntaxProblem, expand, parse

BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
NOT_SIMULATED = 126


class NotFound(Exception):
    """No such program in the image."""


def find(ctx: Context, name: str) -> Program:
    """The program `name` runs in this image; NotFound when the image has none."""
    base = posixpath.basename(name)
    if "/" in name and posixpath.dirname(absolute(ctx, name)) not in BIN_DIRS:
        raise NotFound(name)
    if base not in ctx.profile.programs:
        raise NotFound(name)
    return PROGRAMS.get(base, _not_simulated)


def _not_simulated(ctx: Context, argv: list[str]) -> int:
    ctx.error(f"kubelesson-sim: {posixpath.basename(argv[0])} is not simulated in this "
              "container\n")
    return NOT_SIMULATED


def _kind(ctx: Context) -> str:
    """Which shell's wording: busybox ash, dash or bash."""
    base = posixpath.basename(ctx.shell)
    if base == "bash":
        return "bash"
    return "ash" if ctx.profile.shell == "ash" else "dash"


def _message(ctx: Context, text: str) -> None:
    """An error from the shell itself, prefixed as each shell prefixes it."""
    kind = _kind(ctx)
    if kind == "dash":
        ctx.error(f"{ctx.shell}: {ctx.line}: {text}\n")
    elif kind == "bash":
        ctx.error(f"{ctx.shell}: line {ctx.line}: {text}\n")
    else:
        ctx.error(f"{ctx.shell}: {text}\n")


def _not_found(ctx: Context, name: str) -> int:
    if _kind(ctx) == "bash":
        _message(ctx, f"{name}: command not found")
    else:
        _message(ctx, f"{name}: not found")
    return 127


# -- running scripts -------------------------------------------------------------------------
def execute(ctx: Context, text: str) -> int:
    """Run a command line (or several lines) and return the last status."""
    try:
        script = parse(text)
    except SyntaxProblem as problem:
        _message(ctx, str(problem))
        return 2
    status = ctx.status
    for joiner, pipeline in script:
        if (joiner == "&&" and status != 0) or (joiner == "||" and status == 0):
            continue
        status = _pipeline(ctx, pipeline)
        ctx.status = status
    return status


def _pipeline(ctx: Context, pipeline: Pipeline) -> int:
    if len(pipeline) == 1:  # run in the shell itself: `cd` and assignments stay
        return _command(ctx, pipeline[0])
    stdin = ctx.stdin
    status = 0
    for index, command in enumerate(pipeline):
        last = index == len(pipeline) - 1
        captured = bytearray()
        stage = ctx if last else ctx.child(out=captured.extend)
        stage = stage.child(stdin=stdin)
        status = _command(stage, command)
        if not last:
            stdin = Stdin()
            stdin.feed(bytes(captured))
            stdin.close()
    return status


def _command(ctx: Context, command: Command) -> int:
    argv = [expand(word, ctx.variable) for word in command.argv]
    assignments = [(name, expand(value, ctx.variable)) for name, value in command.assignments]
    if not argv:
        ctx.env.update(assignments)
        return 0
    redirected = _redirect(ctx, command.redirects)
    if redirected is None:
        return 1
    run_ctx, finish = redirected
    if assignments:
        run_ctx = run_ctx.child(env={**ctx.env, **dict(assignments)})
    builtin = BUILTINS.get(argv[0])
    if builtin is not None:
        status = builtin(run_ctx, argv)
    else:
        try:
            fn = find(run_ctx, argv[0])
        except NotFound:
            status = _not_found(run_ctx, argv[0])
        else:
            status = fn(run_ctx.child(status=0), argv)
    finish()
    ctx.cwd = run_ctx.cwd
    return status


def _redirect(ctx: Context, redirects: list[Redirect]) -> tuple[Context, Callable[[], None]] | None:
    """The context with its streams redirected, and what to do when the command ends
    (write the files); None after printing why a redirection failed."""
    out, err, stdin = ctx.out, ctx.err, ctx.stdin
    files: list[tuple[str, bool, bytearray]] = []
    for redirect in redirects:
        target = expand(redirect.target, ctx.variable)
        if target == "&1":
            err = out
            continue
        if target == "&2":
            out = err
            continue
        if redirect.fd == 0:
            data = ctx.files.read(absolute(ctx, target))
            if data is None:
                _message(ctx, f"can't open '{target}': no such file" if _kind(ctx) == "ash"
                         else f"cannot open {target}: No such file")
                return None
            stdin = Stdin()
            stdin.feed(data)
            stdin.close()
            continue
        if target == "/dev/null":
            sink: Callable[[bytes], None] = lambda data: None  # noqa: E731
        else:
            path = absolute(ctx, target)
            if ctx.files.stat(posixpath.dirname(path)) != "dir":
                _message(ctx, f"can't create {target}: nonexistent directory"
                         if _kind(ctx) == "ash" else f"cannot create {target}: "
                         "Directory nonexistent")
                return None
            buffer = bytearray()
            files.append((path, redirect.append, buffer))
            sink = buffer.extend
        if redirect.fd == 1:
            out = sink
        else:
            err = sink

    def finish() -> None:
        for path, append, buffer in files:
            problem = ctx.files.write(path, bytes(buffer), append=append)
            if problem:
                _message(ctx, f"can't create {path}: {problem}")

    return ctx.child(out=out, err=err, stdin=stdin), finish


# -- builtins --------------------------------------------------------------------------------
def _exit(ctx: Context, argv: list[str]) -> int:
    raise ShellExit(int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else ctx.status)


def _cd(ctx: Context, argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else ctx.env.get("HOME", "/")
    path = absolute(ctx, target)
    if ctx.files.stat(path) != "dir":
        _message(ctx, f"cd: can't cd to {target}: No such file or directory")
        return 2
    ctx.cwd = path
    ctx.env["PWD"] = path
    return 0


def _export(ctx: Context, argv: list[str]) -> int:
    for arg in argv[1:]:
        name, sep, value = arg.partition("=")
        if sep:
            ctx.env[name] = value
    return 0


BUILTINS: dict[str, Program] = {"exit": _exit, "cd": _cd, "export": _export}


# -- the shell program -----------------------------------------------------------------------
@program("sh", "ash", "dash", "bash")
def sh(ctx: Context, argv: list[str]) -> int:
    shell = ctx.child(shell=argv[0], status=0, line=1)
    args = argv[1:]
    try:
        if args and args[0] == "-c":
            if len(args) < 2:
                _message(shell, "-c requires an argument")
                return 2
            return execute(shell, args[1])
        if args:
            text = ctx.files.read(absolute(ctx, args[0]))
            if text is None:
                _message(shell, f"can't open '{args[0]}': No such file or directory")
                return 2 if _kind(shell) != "dash" else 127
            return execute(shell, text.decode("utf-8", "replace"))
        return _interactive(shell)
    except ShellExit as done:
        return done.status


def _prompt(ctx: Context) -> str:
    if _kind(ctx) == "ash":
        return f"{ctx.cwd} # "
    return "# "


def _interactive(ctx: Context) -> int:
    """Commands from stdin, one line at a time, as they come; a prompt on a terminal."""
    status = 0
    while True:
        if ctx.tty:
            ctx.write(_prompt(ctx))
        line = ctx.stdin.readline()
        if not line:
            return status
        if ctx.tty:
            ctx.write(line.decode("utf-8", "replace"))  # the terminal echoes what is typed
        status = execute(ctx, line.decode("utf-8", "replace"))
        ctx.line += 1


def run_argv(ctx: Context, argv: list[str]) -> int:
    """Run a process's argv (a container's command, an exec): NotFound when the image
    has no such program (the container runtime reports that itself)."""
    fn = find(ctx, argv[0])
    try:
        return fn(ctx, argv)
    except ShellExit as done:
        return done.status
