"""kubelesson's performance figures, measured (`make bench`).

Prints, each as the median of several runs, side by side:
  1. overhead: `kubelesson check 3` wall time / a plain shell script running the same kubectl
     commands with `kubectl wait`, against the same simulated cluster   (target <= 1.10)
  2. reaction: simulator marks the pod Ready -> kubelesson runs the next command
     (target <= 100 ms), beside a 1 s polling loop
  3. start-up: `kubelesson --help` and `kubelesson list`                 (target <= 150 ms)
  4. normalizer: lines per second on 100,000-line transcripts             (target >= 100,000/s)
     of two shapes: tables of 99 pods, and of a Deployment's 18 pods (caddy-<hash>-<id>)
  5. simulator: `get pods` round trip (HTTP and kubectl), 50 and 200 concurrent kubectl processes
  6. `check --all` over every lesson of the course against one simulator: serial and with -j 2
Only loopback traffic; everything it starts, it stops. Timings are not test assertions.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubelesson import core, lesson, normalize, transcript  # noqa: E402
from kubelesson.sim import SimOptions, running  # noqa: E402

KUBECTL = shutil.which("kubectl", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}") or "kubectl"
SHELL_LESSON = """\
set -e
kubectl apply -f ./examples/3_pod.yaml
kubectl wait --for=condition=Ready pod/caddy --timeout=180s >/dev/null
kubectl get pods
kubectl delete pods caddy
kubectl get pods
kubectl apply -f ./examples/3_pod.yaml
kubectl wait --for=condition=Ready pod/caddy --timeout=180s >/dev/null
out=$(mktemp)
kubectl port-forward pod/caddy "$PORT:80" >"$out" 2>&1 &
pf=$!
until grep -q "Forwarding from" "$out"; do sleep 0.01; done
curl -s "http://localhost:$PORT/" | grep -o 'Caddy works!'
kill -INT $pf; wait $pf || true
cat "$out"; rm -f "$out"
kubectl delete pod caddy
"""


def median_time(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


@contextmanager
def simulator(**options: float) -> Iterator[object]:
    with tempfile.TemporaryDirectory(prefix="kubelesson-bench-") as folder, \
            running(Path(folder), options=SimOptions(**options)) as sim:  # type: ignore[arg-type]
        yield sim


def env_for(sim: object) -> dict[str, str]:
    env = dict(os.environ)
    env.update(sim.env())  # type: ignore[attr-defined]
    env["PATH"] = f"{Path(KUBECTL).parent}:{env.get('PATH', '')}"
    env["KUBELESSON_KUBECTL"] = KUBECTL
    env["NO_COLOR"] = "1"
    return env


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_ok(cmd: list[str], env: dict[str, str], **kw: object) -> None:
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")


# --- 1. overhead -----------------------------------------------------------------------


def overhead(runs: int) -> dict[str, float]:
    with simulator() as sim:
        env = env_for(sim)
        shell_env = {**env, "PORT": str(free_port())}
        check = [sys.executable, "-m", "kubelesson", "check", "3", "--context", "kubelesson-sim"]
        kube, shell = [], []
        for _ in range(runs):  # alternate, so drift in machine load hits both sides alike
            kube.append(median_time(lambda: run_ok(check, env), 1))
            shell.append(median_time(lambda: run_ok(["bash", "-c", SHELL_LESSON], shell_env), 1))
    k, s = statistics.median(kube), statistics.median(shell)
    return {"kubelesson_s": k, "shell_s": s, "ratio": k / s}


# --- 2. reaction time ------------------------------------------------------------------


def ready_times(sim: object, namespace: str) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)  # type: ignore[attr-defined]
    conn.request("GET", "/_sim/events")
    events = json.loads(conn.getresponse().read())
    return sorted(e["time"] for e in events if e.get("namespace") == namespace and e.get("ready") is True
                  or (e.get("namespace") == namespace and e.get("status") == "Running"))


def reaction(runs: int) -> dict[str, float]:
    samples = []
    with simulator() as sim:
        os.environ.update(sim.env())  # type: ignore[attr-defined]
        options = core.Options(root=ROOT, context="kubelesson-sim", kubectl=KUBECTL)
        for _ in range(runs):
            checked = core.check(options, 3)
            readies = ready_times(sim, checked.run.target.namespace)
            for record in checked.run.records:
                if record.wait and record.wait.ok:
                    before = [t for t in readies if t <= record.command_started]
                    if before:
                        samples.append(record.command_started - before[-1])
    polled = poll_reaction(runs)
    return {"kubelesson_ms": statistics.median(samples) * 1000, "poll_1s_ms": polled * 1000}


def poll_reaction(runs: int) -> float:
    """The same moment measured for a loop that asks every second whether the pod is Ready."""
    samples = []
    with simulator() as sim:
        env = env_for(sim)
        for i in range(runs):
            name = f"poll{i}"
            manifest = (ROOT / "examples/3_pod.yaml").read_text().replace("name: caddy\n", f"name: {name}\n", 1)
            subprocess.run([KUBECTL, "apply", "-f", "-"], input=manifest, env=env, capture_output=True, text=True)
            # A checker's poll is not in step with the pod's start: begin at a random phase.
            time.sleep(random.uniform(0, 1.0))
            while True:
                status = subprocess.run(
                    [KUBECTL, "get", "pod", name, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
                    env=env, capture_output=True, text=True).stdout
                if status == "True":
                    seen = time.time()
                    break
                time.sleep(1.0)
            readies = ready_times(sim, "default")
            samples.append(seen - max(t for t in readies if t <= seen))
    return statistics.median(samples)


# --- 3. start-up -----------------------------------------------------------------------


def startup(runs: int) -> dict[str, float]:
    exe = str(Path(sys.executable).parent / "kubelesson")
    if not Path(exe).exists():
        exe = shutil.which("kubelesson") or exe
    env = dict(os.environ)
    return {
        "help_ms": median_time(lambda: run_ok([exe, "--help"], env), runs) * 1000,
        "list_ms": median_time(lambda: run_ok([exe, "list"], env), runs) * 1000,
    }


# --- 4. normalizer ---------------------------------------------------------------------


def big_transcript(lines: int, seed: int = 0) -> transcript.Transcript:
    """`get pods` tables of 99 pods each, in a mix of states, until ``lines`` lines."""
    statuses = ["Running", "Pending", "ContainerCreating", "CrashLoopBackOff", "Completed"]
    entries = []
    count = 0
    i = seed
    while count < lines:
        rows = ["NAME                       READY   STATUS              RESTARTS      AGE"]
        for j in range(99):
            status = statuses[(i + j) % len(statuses)]
            rows.append(f"web-7d4b9c8f6d-{i % 7}{j:04d}x   1/1     {status:<18}  {j % 4} ({j}m ago)   {j}m{i % 60}s")
        entries.append(transcript.Entry("kubectl get pods", "\n".join(rows)))
        count += len(rows) + 1
        i += 1
    return transcript.Transcript(tuple(entries))


# The alphabets apimachinery draws from: a pod-template-hash, and a generated name's suffix.
HASH_LETTERS = "456789bcdf"
SUFFIX_LETTERS = "bcdfghjklmnpqrstvwxz2456789"


def kubectl_layout(rows: list[list[str]]) -> str:
    """Cells laid out as kubectl's tabwriter does: each column 3 spaces wider than its widest cell."""
    widths = [max(len(row[k]) for row in rows) + 3 for k in range(len(rows[0]) - 1)]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + row[-1] for row in rows)


def deployment_transcript(lines: int, seed: int = 0) -> transcript.Transcript:
    """`get pods` of a Deployment's 18 pods (caddy-<pod-template-hash>-<suffix>), a new hash
    for each table as after a rollout, until ``lines`` lines: every name is new."""
    rng = random.Random(seed)
    statuses = ["Running", "Pending", "ContainerCreating", "Terminating"]
    entries = []
    count = 0
    while count < lines:
        pod_hash = "".join(rng.choice(HASH_LETTERS) for _ in range(rng.choice((9, 10))))
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]]
        for _ in range(18):
            suffix = "".join(rng.choice(SUFFIX_LETTERS) for _ in range(5))
            rows.append([f"caddy-{pod_hash}-{suffix}", "1/1", rng.choice(statuses), "0", f"{rng.randint(1, 59)}s"])
        entries.append(transcript.Entry("kubectl get pods", kubectl_layout(rows)))
        count += len(rows) + 1
    return transcript.Transcript(tuple(entries))


def normalizer(make: Callable[[int, int], transcript.Transcript], lines: int, runs: int = 3) -> dict[str, float]:
    """Lines per second, each run on new output (its own seed) with the caches of masked
    cells emptied first: what a fresh `kubelesson` process meets."""
    samples = []
    for run in range(runs):
        data = make(lines, run)
        total = sum(len(e.output.splitlines()) + 1 for e in data.entries)
        normalize.default_rules().cell_cache.clear()
        started = time.perf_counter()
        normalize.normalize(data)
        samples.append(total / (time.perf_counter() - started))
    return {"lines": total, "lines_per_s": statistics.median(samples)}


# --- 5. simulator ----------------------------------------------------------------------


def simulator_figures(runs: int, crowds: tuple[int, ...] = (50, 200)) -> dict[str, float]:
    table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    with simulator() as sim:
        env = env_for(sim)
        run_ok([KUBECTL, "apply", "-f", "./examples/3_pod.yaml"], env)
        conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)  # type: ignore[attr-defined]

        def http_get() -> None:
            conn.request("GET", "/api/v1/namespaces/default/pods?limit=500", headers={"Accept": table_accept})
            conn.getresponse().read()

        http_get()
        http_ms = median_time(http_get, max(runs * 20, 50)) * 1000
        kubectl_ms = median_time(lambda: run_ok([KUBECTL, "get", "pods"], env), runs) * 1000
        result = {"get_pods_http_ms": http_ms, "get_pods_kubectl_ms": kubectl_ms}
        for clients in crowds:
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=clients) as pool:
                codes = list(pool.map(
                    lambda _: subprocess.run([KUBECTL, "get", "pods"], env=env, capture_output=True).returncode,
                    range(clients)))
            result[f"concurrent_{clients}_errors"] = sum(1 for c in codes if c != 0)
            result[f"concurrent_{clients}_s"] = time.perf_counter() - started
    return result


# --- 6. check --all over the course ---------------------------------------------------------


def timed_check(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and exit code of a `check --all` (1 means a lesson differed: still timed)."""
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"benchmark command failed: {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return seconds, result.returncode


def check_all(jobs: int, runs: int) -> dict[str, float]:
    """Every lesson under transcripts/ (however many there are), one simulator for all runs;
    serial and with -j ``jobs`` alternately, so drift in machine load hits both alike."""
    lessons = len(lesson.discover(ROOT))
    with simulator() as sim:
        env = env_for(sim)
        base = [sys.executable, "-m", "kubelesson", "check", "--all", "--root", str(ROOT),
                "--context", "kubelesson-sim"]
        serial, parallel, exits = [], [], set()
        for _ in range(runs):
            for cmd, samples in (([*base, "-j", "1"], serial), ([*base, "-j", str(jobs)], parallel)):
                seconds, code = timed_check(cmd, env)
                samples.append(seconds)
                exits.add(code)
    s, p = statistics.median(serial), statistics.median(parallel)
    return {"lessons": lessons, "serial_s": s, f"j{jobs}_s": p, "speedup": s / p, "exit": max(exits)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one run each, small inputs (used by the tests)")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    print(f"# kubelesson benchmarks: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, kubectl {KUBECTL}")
    lines = 2_000 if args.quick else 100_000
    sections: list[tuple[str, Callable[[], dict[str, float]], str]] = [
        ("normalizer", lambda: normalizer(big_transcript, lines), "lines_per_s >= 100000"),
        ("normalizer-deployment", lambda: normalizer(deployment_transcript, lines), "lines_per_s >= 100000"),
        ("start-up", lambda: startup(3 if args.quick else 10), "help_ms, list_ms <= 150"),
        ("simulator", lambda: simulator_figures(runs, (5,) if args.quick else (50, 200)),
         "0 errors; http round trip < 10 ms"),
        ("overhead", lambda: overhead(runs), "ratio <= 1.10"),
        ("reaction", lambda: reaction(runs), "kubelesson_ms <= 100"),
        ("check-all", lambda: check_all(2, max(1, runs // 2)), "exit 0; j2_s < serial_s"),
    ]
    for name, measure, target in sections:
        figures = measure()
        shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
        print(f"{name:22} {shown}   (target: {target})", flush=True)


if __name__ == "__main__":
    main()
