"""`kubectl exec`, `kubectl attach` and `kubectl run --rm -i` against the simulator
(streams/ and shell/), with the real kubectl 1.37 and 1.30: the WebSocket protocol both
try first, the SPDY fallback, exit codes, and chapter 5's in-cluster client, busybox wget
through the Service by name and by ClusterIP."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kubelesson.sim import running
from kubelesson.sim.kubelet.backends import CADDY_FILES
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl, pod_manifest
from tests.sim.controller_support import statefulset, wait_for
from tests.sim.service_support import caddy_behind_service, service

PAGE = CADDY_FILES["/usr/share/caddy/index.html"].decode()
PROMPT = "If you don't see a command prompt, try pressing enter.\n"
RUN = ("run", "tmp", "--rm", "-i", "--restart=Never", "--image=alpine:latest", "--")
OCI_MISSING = (r'error: Internal error occurred: error executing command in container: failed '
               r'to exec in container: failed to start exec "[0-9a-f]{64}": OCI runtime exec '
               r'failed: exec failed: unable to start container process: exec: "{name}": '
               r'executable file not found in \$PATH: unknown\n')


def _deleted(kubectl: Kubectl, name: str = "tmp") -> str:
    return f'pod "{name}" deleted' + (" from default namespace" if kubectl.is_137 else "") + "\n"


def _caddy_pod(kubectl: Kubectl, tmp_path: Path, name: str = "caddy",
               image: str = "caddy:2") -> None:
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path, name=name, image=image))).rc == 0
    assert kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=20s").rc == 0


def test_run_rm_wget_through_the_service(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    caddy_behind_service(kubectl, tmp_path)
    ip = kubectl("get", "service", "caddy", "-o", "jsonpath={.spec.clusterIP}").out
    for url in ("http://caddy/", f"http://{ip}/", "http://caddy.default/",
                "http://caddy.default.svc.cluster.local/"):
        result = kubectl(*RUN, "wget", "-qO-", url, input="")
        assert (result.rc, result.out) == (0, PAGE + _deleted(kubectl)), result.err
        assert result.err.endswith(PROMPT)
    assert kubectl.sim.store.get("pods", "default", "tmp") is None


def test_run_rm_wget_failures(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    caddy_behind_service(kubectl, tmp_path, replicas=1)
    assert kubectl("apply", "-f", str(service(tmp_path, "lonely", "nothing"))).rc == 0
    lonely = kubectl("get", "service", "lonely", "-o", "jsonpath={.spec.clusterIP}").out
    cases = {
        "http://nope/": "wget: bad address 'nope'\n",
        "http://lonely/": f"wget: can't connect to remote host ({lonely}): Connection refused\n",
        "http://caddy/missing": "wget: server returned error: HTTP/1.1 404 Not Found\n",
        # traefik's Service from inside the cluster: its router, which knows no such host.
        "http://traefik.kube-system/": "wget: server returned error: HTTP/1.1 404 Not Found\n",
    }
    for url, message in cases.items():
        result = kubectl(*RUN, "wget", "-qO-", url, input="")
        assert (result.rc, result.out) == (1, _deleted(kubectl)), result.err
        assert result.err.endswith(PROMPT + message + "pod default/tmp terminated (Error)\n")


def test_wget_header_reaches_an_ingress_by_name_through_traefik(kubectl137: Kubectl,
                                                                tmp_path: Path) -> None:
    """busybox's --header replaces its own Host: from inside the cluster, traefik's Service
    with the Ingress's host name routes to caddy; without it, traefik knows no such host."""
    kubectl = kubectl137
    caddy_behind_service(kubectl, tmp_path, replicas=1)
    ingress = Path(__file__).resolve().parents[2] / "examples" / "5_ingress.yaml"
    assert kubectl("apply", "-f", str(ingress)).rc == 0
    named = kubectl(*RUN, "wget", "-qO-", "--header", "Host: caddy.local.trapti.tech",
                    "http://traefik.kube-system/", input="")
    assert (named.rc, named.out) == (0, PAGE + _deleted(kubectl)), named.err
    unnamed = kubectl(*RUN, "wget", "-qO-", "--header=User-Agent: curl/8", "http://traefik.kube-system/",
                      input="")
    assert unnamed.rc == 1 and "HTTP/1.1 404 Not Found" in unnamed.err


def test_exec_cat_the_web_root(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    _caddy_pod(kubectl, tmp_path)
    result = kubectl("exec", "caddy", "--", "cat", "/usr/share/caddy/index.html")
    assert (result.rc, result.out, result.err) == (0, PAGE, "")


def test_exec_exit_codes_and_missing_programs(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    _caddy_pod(kubectl, tmp_path)
    failed = kubectl("exec", "caddy", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (failed.rc, failed.out) == (3, "out\n")
    assert failed.err == "err\ncommand terminated with exit code 3\n"
    missing = kubectl("exec", "caddy", "--", "nosuch", "arg")
    assert (missing.rc, missing.out) == (1, "")
    assert re.fullmatch(OCI_MISSING.replace("{name}", "nosuch"), missing.err)
    in_shell = kubectl("exec", "caddy", "--", "sh", "-c", "nosuch")
    assert (in_shell.rc, in_shell.err) == (
        127, "sh: nosuch: not found\ncommand terminated with exit code 127\n")
    catted = kubectl("exec", "caddy", "--", "cat", "/nope")
    assert (catted.rc, catted.err) == (
        1, "cat: can't open '/nope': No such file or directory\n"
           "command terminated with exit code 1\n")


def test_exec_with_stdin(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    _caddy_pod(kubectl, tmp_path)
    assert kubectl("exec", "-i", "caddy", "--", "cat", input="hello\nworld\n").out == (
        "hello\nworld\n")
    script = "echo one\ncd /etc\npwd\nhostname\nfalse || echo $?\n"
    assert kubectl("exec", "-i", "caddy", "--", "sh", input=script).out == (
        "one\n/etc\ncaddy\n1\n")


def _verbose_requests(result_err: str) -> list[str]:
    """`METHOD .../exec... STATUS` from kubectl's -v=6 lines (1.30 and 1.37 formats)."""
    found = []
    for line in result_err.splitlines():
        old = re.search(r"\] (GET|POST) (\S+/(?:exec|attach)\?\S+) (\d{3})", line)
        new = re.search(r'verb="(GET|POST)" url="(\S+/(?:exec|attach)\?\S+)" status="(\d{3})?',
                        line)
        match = old or new
        if match:
            found.append(f"{match.group(1)} {match.group(3) or 'refused'}")
    return found


@pytest.mark.parametrize("server,env,expected", [
    ("v1.32.4", {}, ["GET 101"]),  # the WebSocket (v5.channel.k8s.io)
    ("v1.32.4", {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}, ["POST 101"]),
    ("v1.28.8", {}, ["GET 400", "POST 101"]),  # no v5 before 1.30: SPDY after a refusal
])
def test_exec_transports(server: str, env: dict[str, str], expected: list[str],
                         tmp_path: Path) -> None:
    with running(tmp_path / "sim", options=replace(FAST, kube_version=server)) as sim:
        kubectl = Kubectl(VENV_KUBECTL, sim)
        _caddy_pod(kubectl, tmp_path)
        result = kubectl("exec", "caddy", "-v=6", "--", "cat", "/usr/share/caddy/index.html",
                         env=env)
        assert (result.rc, result.out) == (0, PAGE)
        statuses = _verbose_requests(result.err)
        assert [s.replace("GET refused", "GET 400") for s in statuses] == expected
        failed = kubectl("exec", "caddy", "--", "sh", "-c", "exit 4", env=env)
        assert (failed.rc, failed.err) == (4, "command terminated with exit code 4\n")


def test_wget_and_nslookup_say_what_busybox_says(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    caddy_behind_service(kubectl, tmp_path, replicas=1)
    _caddy_pod(kubectl, tmp_path, name="client")
    ip = kubectl("get", "service", "caddy", "-o", "jsonpath={.spec.clusterIP}").out
    loud = kubectl("exec", "client", "--", "wget", "-O-", "http://caddy/")
    assert loud.out == PAGE
    bar = "*" * 32
    assert loud.err == (f"Connecting to caddy ({ip}:80)\nwriting to stdout\n"
                        f"-                    100% |{bar}| {len(PAGE):5d}  0:00:00 ETA\n"
                        "written to stdout\n")
    saved = kubectl("exec", "client", "--", "sh", "-c",
                    "cd /tmp && wget -q http://caddy/ && cat index.html")
    assert (saved.rc, saved.out) == (0, PAGE)
    found = kubectl("exec", "client", "--", "nslookup", "caddy")
    assert found.out == (f"Server:\t\t10.43.0.10\nAddress:\t10.43.0.10:53\n\n"
                         f"Name:\tcaddy.default.svc.cluster.local\nAddress: {ip}\n\n")
    missing = kubectl("exec", "client", "--", "nslookup", "nope")
    assert missing.rc == 1 and "** server can't find nope: NXDOMAIN\n" in missing.out
    # The client started after the Service: the kubelet gave it the Service's variables.
    env = kubectl("exec", "client", "--", "printenv", "HOSTNAME", "CADDY_SERVICE_HOST")
    assert env.out == f"client\n{ip}\n"
    assert kubectl("exec", "client", "--", "printenv", "KUBERNETES_SERVICE_HOST").out == (
        "10.43.0.1\n")


def test_redis_cli_in_the_redis_pod(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    assert kubectl("apply", "-f", str(statefulset(tmp_path))).rc == 0
    assert kubectl("rollout", "status", "statefulset/redis", "--timeout=20s").rc == 0
    assert kubectl("exec", "redis-0", "--", "redis-cli", "set", "foo", "bar").out == "OK\n"
    assert kubectl("exec", "redis-0", "--", "redis-cli", "get", "foo").out == "bar\n"
    assert kubectl("exec", "redis-0", "--", "redis-cli", "get", "nope").out == "\n"
    piped = kubectl("exec", "-i", "redis-0", "--", "redis-cli", input="keys *\nexists foo\n")
    assert piped.out == "foo\n1\n"
    # The redis image is Debian's: dash, and no wget.
    dash = kubectl("exec", "redis-0", "--", "sh", "-c", "wget -qO- http://redis/")
    assert (dash.rc, dash.err) == (
        127, "sh: 1: wget: not found\ncommand terminated with exit code 127\n")


def test_run_without_attaching_completes(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    assert kubectl("run", "hello", "--image=busybox:1.36", "--restart=Never", "--",
                   "echo", "hi").rc == 0
    assert kubectl("run", "oops", "--image=busybox:1.36", "--restart=Never", "--",
                   "sh", "-c", "echo bye; exit 2").rc == 0
    for name, status in (("hello", "Completed"), ("oops", "Error")):
        kubectl.wait_status(name, status)
    assert kubectl("logs", "hello").out == "hi\n"
    assert kubectl("logs", "oops").out == "bye\n"
    code = kubectl("get", "pod", "oops", "-o",
                   "jsonpath={.status.phase} {.status.containerStatuses[0].state.terminated."
                   "exitCode}").out
    assert code == "Failed 2"


def test_attach_to_a_server_lasts_until_its_pod_goes(kubectl137: Kubectl,
                                                      tmp_path: Path) -> None:
    kubectl = kubectl137
    _caddy_pod(kubectl, tmp_path)
    attach = subprocess.Popen([str(kubectl.binary), "attach", "caddy"], env=kubectl.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert attach.poll() is None  # caddy writes nothing more: the session stays
        assert kubectl("delete", "pod", "caddy", "--wait=false").rc == 0
        out, err = attach.communicate(timeout=20)
    finally:
        if attach.poll() is None:
            attach.kill()
    assert attach.returncode == 0, err
    assert out == ""


def test_exec_into_a_container_that_does_not_run(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl = kubectl137
    assert kubectl("run", "bad", "--image=caddy:99", "--restart=Never").rc == 0
    wait_for(lambda: kubectl.sim.store.get("pods", "default", "bad") is not None and (
        kubectl.sim.store.get("pods", "default", "bad") or {}).get("status", {}).get("podIP"),
        what="the pod's sandbox")
    result = kubectl("exec", "bad", "--", "ls")
    assert (result.rc, result.err) == (
        1, 'error: unable to upgrade connection: container not found ("bad")\n')
