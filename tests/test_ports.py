"""Local ports for port-forward steps: several kubelesson processes at once never choose the
same one, and a port another program takes after the check is replaced, not a failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from kubelesson import ports
from kubelesson.kubectl import Kubectl
from kubelesson.lesson import Probe, Step
from kubelesson.ports import free_port
from kubelesson.runner import Runner, Silent
from tests.conftest import ROOT, kubectl_binary

HOLDER = """
import sys, time
from kubelesson.ports import local_ports
with local_ports(["kubectl", "port-forward", "pod/caddy", sys.argv[1] + ":80"]) as (argv, _):
    print(argv[-1].split(":")[0], flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(port: int, seconds: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(port), str(seconds)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)


def test_processes_never_claim_the_same_local_port() -> None:
    """The lesson's port looks free to every process until kubectl listens on it: the
    first to claim it holds it, the others get other ports (before, all took it)."""
    wanted = free_port()
    first = _holder(wanted, 4)
    others: list[subprocess.Popen[str]] = []
    try:
        assert first.stdout is not None
        assert first.stdout.readline().strip() == str(wanted)
        others = [_holder(wanted, 1) for _ in range(4)]
        chosen = [proc.communicate(timeout=30)[0].strip() for proc in others]
    finally:
        for proc in (first, *others):
            proc.kill()
            proc.wait(10)
    assert str(wanted) not in chosen
    assert len(set(chosen)) == len(chosen) and all(port.isdigit() for port in chosen)


def test_a_released_port_can_be_claimed_again() -> None:
    wanted = free_port()
    assert _holder(wanted, 0).communicate(timeout=30)[0].strip() == str(wanted)
    assert _holder(wanted, 0).communicate(timeout=30)[0].strip() == str(wanted)


@contextmanager
def _listening(port: int) -> Iterator[None]:
    """Another program listening on the port, on both loopback addresses where there are two."""
    with ExitStack() as stack:
        for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            try:
                sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
                sock.bind((host, port))
            except OSError:
                if family == socket.AF_INET6:
                    continue
                raise
            sock.listen()
        yield


def test_port_taken_after_the_check_is_replaced(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program binds the lesson's port between kubelesson's check and kubectl's
    bind: kubectl cannot listen, so the step runs again on another port, mapped back."""
    from kubelesson.sim import running
    from tests.sim.conftest import FAST, pod_manifest

    with running(tmp_path / "sim", options=FAST) as sim:
        env = {**os.environ, **sim.env()}
        for args in (("apply", "-f", str(pod_manifest(tmp_path))),
                     ("wait", "--for=condition=Ready", "pod/caddy", "--timeout=30s")):
            done = subprocess.run([kubectl_binary(), *args], env=env, capture_output=True,
                                  text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        wanted = free_port()
        step = Step(run=f"kubectl port-forward pod/caddy {wanted}:80", line=1, background=True,
                    probe=Probe(f"http://localhost:{wanted}/", "Caddy works!"))
        lesson_runner = Runner(Kubectl(kubectl_binary(), env, tmp_path), progress=Silent())
        monkeypatch.setattr(ports, "port_is_free", lambda port: True)  # the check said free
        started = time.monotonic()
        with _listening(wanted):
            record = lesson_runner.run_step(1, step)
    assert record.probe is not None and record.probe.ok, record.entries
    assert record.port is not None and record.port[0] == wanted and record.port[1] != wanted
    used = record.port[1]
    assert lesson_runner.ports == {used: wanted}
    assert f"Forwarding from 127.0.0.1:{used} -> 80" in record.entries[0].output
    assert "unable to listen" not in record.entries[0].output.lower()
    assert record.entries[0].command == f"kubectl port-forward pod/caddy {used}:80"
    assert time.monotonic() - started < 30


def test_four_checks_at_once_all_pass(tmp_path: Path) -> None:
    """Four `kubelesson check 3` processes at once against one simulator: each port-forward
    gets a local port of its own (one of them 8000 if it is free) and every run passes."""
    from kubelesson.sim import running
    from tests.sim.conftest import FAST

    with running(tmp_path / "sim", options=FAST) as sim:
        env = {**os.environ, **sim.env()}
        runs = [subprocess.Popen([sys.executable, "-m", "kubelesson", "check", "3", "--context",
                                  "kubelesson-sim", "--json"], cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(4)]
        results = [run.communicate(timeout=180) for run in runs]
    failed = [(run.returncode, err[-500:]) for run, (_, err) in zip(runs, results, strict=True)
              if run.returncode != 0]
    assert not failed, failed
