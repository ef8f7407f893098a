"""`kubelesson sim up/down/status/env/run` as a user runs them (a real background process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from kubelesson.sim.cli import sim
from tests.sim.conftest import VENV_KUBECTL


def _sim(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubelesson.sim", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_up_status_env_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = _sim("up", "--state-dir", str(state), "--pending-seconds", "0.05")
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines() == [f"export KUBECONFIG={state}/kubeconfig",
                                      f"export KUBECACHEDIR={state}/cache"]
    try:
        env = dict(os.environ, KUBECONFIG=str(state / "kubeconfig"),
                   KUBECACHEDIR=str(state / "cache"))
        nodes = subprocess.run([str(VENV_KUBECTL), "get", "nodes"], env=env,
                               capture_output=True, text=True, timeout=30)
        assert "k3d-hands-on-server-0" in nodes.stdout
        status = _sim("status", "--state-dir", str(state))
        assert status.returncode == 0 and "SIMULATED" in status.stdout
        assert "url:     http://127.0.0.1:" in status.stdout
        again = _sim("up", "--state-dir", str(state))
        assert again.returncode == 2 and "already running" in again.stderr
        assert again.stderr.count("\n") == 1
        assert _sim("env", "--state-dir", str(state)).stdout == up.stdout
        pid = int((state / "sim.pid").read_text())
    finally:
        down = _sim("down", "--state-dir", str(state))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not (state / "sim.pid").exists()
    time.sleep(0.1)
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    not_running = _sim("down", "--state-dir", str(state))
    assert not_running.returncode == 0 and "not running" in not_running.stdout
    assert "not running" in _sim("status", "--state-dir", str(state)).stdout


def test_up_on_busy_port_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _sim("up", "--state-dir", str(tmp_path / "s"), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: the simulator failed to start: port {port} on 127.0.0.1 is already in use; "
        "choose another with --port or leave it out"]


def test_run_foreground_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "fg"
    proc = subprocess.Popen([sys.executable, "-m", "kubelesson.sim", "run", "--state-dir",
                             str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "SIMULATED" in first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=15)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert not (state / "sim.pid").exists()


def test_default_state_dir_uses_xdg(tmp_path: Path, monkeypatch: object) -> None:
    runner = CliRunner()
    result = runner.invoke(sim, ["env"], env={"XDG_STATE_HOME": str(tmp_path)})
    assert result.exit_code == 0
    assert f"export KUBECONFIG={tmp_path}/kubelesson/sim/kubeconfig" in result.output
