"""The live progress line: on a terminal (a real pseudo-terminal here) a self-overwriting
line says what is awaited and for how long, in colour unless NO_COLOR; piped, not one
carriage return or escape code."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from kubelesson.lesson import Wait
from kubelesson.messages import say
from kubelesson.report import TerminalProgress
from kubelesson.sim import SimHandle
from tests.conftest import ROOT, Cli

SIM = ("--context", "kubelesson-sim")
ESC = "\x1b"
WAITING = re.compile(r"waiting for condition=Ready pod/caddy(, now \w+)? \(\d+s\)")


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    """Containers take over a second to start, so there is a wait to show."""
    from kubelesson.sim import SimOptions, running

    options = SimOptions(pending_seconds=0.1, creating_seconds=1.2, terminating_seconds=0.2)
    with running(tmp_path_factory.mktemp("progress-sim"), options=options) as sim:
        yield sim


@pytest.fixture
def env(cli: Cli, slow_sim: SimHandle) -> dict[str, str]:
    env = dict(cli.env)
    env.update(slow_sim.env())
    env.pop("CI", None)
    env["COLUMNS"] = "200"
    env["TERM"] = "xterm-256color"
    return env


def run_on_terminal(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`kubelesson check 3` with a pseudo-terminal as stdout and stderr; all it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "kubelesson", "check", "3", *SIM, *args],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child side is closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8", "replace")


def test_terminal_shows_live_coloured_progress(env: dict[str, str]) -> None:
    env.pop("NO_COLOR", None)
    code, out = run_on_terminal(env)
    assert code == 0, out
    assert WAITING.search(out), out
    assert "\r\x1b[K" in out  # the line overwrites itself
    assert re.search(r"waiting for condition=Ready pod/caddy, now (Pending|ContainerCreating) \(\d+s\)", out)
    assert "\x1b[36m⏳ waiting for" in out  # tinted
    assert "\x1b[32m✓\x1b[0m kubectl get pods" in out  # the report is coloured too
    # The progress line is gone before the report's lines appear.
    assert out.rstrip().endswith("\x1b[0m") or "PASS" in out.splitlines()[-1]


def test_terminal_in_japanese(env: dict[str, str]) -> None:
    env.pop("NO_COLOR", None)
    code, out = run_on_terminal(env, "--lang", "ja")
    assert code == 0, out
    expected = say("ja", "report.waiting_status", what="condition=Ready pod/caddy", status="STATUS", seconds=0)
    pattern = re.escape(expected).replace("STATUS", r"\w+").replace("0", r"\d+")
    assert re.search(pattern, out), out


def test_no_color_on_a_terminal_has_no_escape_codes(env: dict[str, str]) -> None:
    env["NO_COLOR"] = "1"
    code, out = run_on_terminal(env)
    assert code == 0, out
    assert ESC not in out
    assert WAITING.search(out), out
    assert "\r" in out.replace("\r\n", "")  # still live: a bare carriage return redraws the line


def test_piped_output_is_plain(env: dict[str, str]) -> None:
    env.pop("NO_COLOR", None)
    result = subprocess.run([sys.executable, "-m", "kubelesson", "check", "3", *SIM],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    for stream in (result.stdout, result.stderr):
        assert "\r" not in stream and ESC not in stream
    assert "waiting for" not in result.stderr
    assert "PASS: all 8 steps match the lesson" in result.stdout


# --- the progress object on its own (a terminal-like stream) ------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_status_is_shown_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    stream = FakeTerminal()
    progress = TerminalProgress("en", stream)
    progress.waiting(Wait("condition=Ready", "pod/caddy", 180), 3.2, status="ContainerCreating")
    line = "⏳ waiting for condition=Ready pod/caddy, now ContainerCreating (3s)"
    assert stream.getvalue() == "\r" + line
    progress.clear()
    # Blanked with spaces (no ESC[K under NO_COLOR), cursor back at the start.
    # (⏳ takes two columns on a terminal, so one more space than characters.)
    assert stream.getvalue() == "\r" + line + "\r" + " " * (len(line) + 1) + "\r"


def test_ci_environment_is_never_live(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    stream = FakeTerminal()
    progress = TerminalProgress("ja", stream)
    progress.waiting(Wait("condition=Ready", "pod/caddy", 180), 1.0)
    progress.clear()
    assert stream.getvalue() == ""
