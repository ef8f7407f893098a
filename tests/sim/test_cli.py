"""`kubelesson sim up/down/status/env/run` as a user runs them (a real background process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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
        assert again.returncode == 0 and again.stdout == up.stdout  # eval "$(...)" still works
        assert "already running" in again.stderr and "kubelesson sim env" in again.stderr
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
    stopped = _sim("status", "--state-dir", str(state))
    assert stopped.returncode == 2 and "not running" in stopped.stdout


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


def test_eval_of_up_works_when_it_was_already_running(tmp_path: Path) -> None:
    """The second `eval "$(kubelesson sim up)"` in a new shell still points kubectl at it."""
    state = tmp_path / "state"
    first = _sim("up", "--state-dir", str(state))
    assert first.returncode == 0, first.stderr
    try:
        script = (f'eval "$({sys.executable} -m kubelesson.sim up --state-dir {state})" && '
                  f'echo "$KUBECONFIG" && {VENV_KUBECTL} get nodes -o name')
        shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                               timeout=60, env={k: v for k, v in os.environ.items()
                                                if k not in ("KUBECONFIG", "KUBECACHEDIR")})
    finally:
        _sim("down", "--state-dir", str(state))
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[0] == str(state / "kubeconfig")
    assert "node/" in shell.stdout and "already running" in shell.stderr


def _stale_state(state: Path, pid: int, url: str) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "sim.pid").write_text(f"{pid}\n")
    (state / "sim.json").write_text(json.dumps({"url": url, "pid": pid, "started": time.time()}))


def test_down_leaves_a_stranger_named_by_a_stale_pid_alone(tmp_path: Path) -> None:
    """A pid file left by a simulator that died: the number now belongs to another program."""
    state = tmp_path / "state"
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        _stale_state(state, stranger.pid, "http://127.0.0.1:9")
        down = _sim("down", "--state-dir", str(state))
        time.sleep(0.3)
        assert stranger.poll() is None, "the stranger was signalled"
        assert down.returncode == 0, down.stderr
        assert f"pid {stranger.pid}" in down.stdout and "not the simulator" in down.stdout
        assert not (state / "sim.pid").exists() and not (state / "sim.json").exists()
    finally:
        stranger.kill()
        stranger.wait(10)


def test_down_asks_the_server_who_it_is(tmp_path: Path) -> None:
    """The recorded URL answers, but it is another simulator, not the pid on file."""
    from kubelesson.sim import running
    from tests.sim.conftest import FAST

    stranger = subprocess.Popen(["sleep", "60"])
    try:
        with running(tmp_path / "other", options=FAST) as other:
            _stale_state(tmp_path / "state", stranger.pid, other.url)
            assert _sim("status", "--state-dir", str(tmp_path / "state")).returncode == 2
            down = _sim("down", "--state-dir", str(tmp_path / "state"))
            assert down.returncode == 0 and "not the simulator" in down.stdout
            assert stranger.poll() is None
            assert _sim("status", "--state-dir", str(tmp_path / "other")).returncode == 2
            with urllib.request.urlopen(other.url + "/version", timeout=5) as reply:
                assert reply.status == 200
    finally:
        stranger.kill()
        stranger.wait(10)


def test_sim_messages_follow_the_language(tmp_path: Path) -> None:
    runner = CliRunner()
    unset = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": ""}
    ja = runner.invoke(sim, ["status", "--state-dir", str(tmp_path)],
                       env={**unset, "LANG": "ja_JP.UTF-8"})
    en = runner.invoke(sim, ["status", "--state-dir", str(tmp_path)],
                       env={**unset, "LANG": "C.UTF-8"})
    assert (ja.exit_code, en.exit_code) == (2, 2)
    assert ja.output == f"動いていません(状態ディレクトリ {tmp_path})\n"
    assert en.output == f"not running (state dir {tmp_path})\n"
