"""The fidelity script (benchmarks/fidelity.py, `make fidelity`) on a handful of corpus entries,
so that it cannot rot: it plans them, runs them with the real kubectl against a simulator,
and counts what agrees, what differs and why, and what it cannot serve."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import fidelity  # noqa: E402

# Eight entries of ../shared/corpus, copied verbatim (the test must not depend on the shared
# folder): five the simulator serves exactly, an old kubectl's services table, a paste with an
# elided row, and another cluster's nodes (not served).
ENTRIES: list[dict[str, str]] = [
    # motoki317/mini-k8s-hands-on (4_controllers.md#L143-L147)
    {
        "id": "get_pods-003",
        "command": "kubectl get pods",
        "output": (
            "NAME                     READY   STATUS    RESTARTS   AGE\n"
            "caddy-766687f85d-k5wx5   1/1     Running   0          6m7s\n"
            "caddy-766687f85d-sj2nm   1/1     Running   0          6m7s\n"
            "caddy-766687f85d-mmkl6   1/1     Running   0          6m7s\n"
        ),
        "cluster": "k3d v5.6.3 (rancher/k3s:v1.28.8-k3s1), 1 server + 3 agents, Linux/Docker host",
    },
    # aws-samples/eks-workshop-v2 (deployments.md#L89-L94)
    {
        "id": "get_pods-030",
        "command": "kubectl get pods -n ui",
        "output": (
            "NAME                  READY   STATUS         RESTARTS   AGE\n"
            "ui-5989474687-5gcbt   1/1     Running        0          13m\n"
            "ui-5989474687-dhk6q   1/1     Running        0          14s\n"
            "ui-5989474687-dw8x8   1/1     Running        0          14s\n"
            "ui-7c65b44b7c-znm9c   0/1     ErrImagePull   0          7s\n"
        ),
        "cluster": "Amazon EKS (EKS Workshop v2 lab cluster, managed node groups, VPC CNI; service CIDR 172.20.0.0/16)",
    },
    # aws-samples/eks-workshop-v2 (index.md#L91-L98)
    {
        "id": "apply-012",
        "command": "kubectl kustomize ~/environment/eks-workshop/modules/introduction/kustomize | kubectl apply -f -",
        "output": (
            "namespace/checkout unchanged\n"
            "serviceaccount/checkout unchanged\n"
            "configmap/checkout unchanged\n"
            "service/checkout unchanged\n"
            "service/checkout-redis unchanged\n"
            "deployment.apps/checkout configured\n"
            "deployment.apps/checkout-redis unchanged\n"
        ),
        "cluster": "Amazon EKS (EKS Workshop v2 lab cluster, managed node groups, VPC CNI; service CIDR 172.20.0.0/16)",
    },
    # unattributed: public GitHub markdown; repository not identified
    {
        "id": "delete_unattributed-005",
        "command": "kubectl delete pod -l app=academia --force",
        "output": (
            "Warning: Immediate deletion does not wait for confirmation that the running resource has b"
            "een terminated. The resource may continue to run on the cluster indefinitely.\n"
            'pod "academia-deployment-7cd9fc568-kpgr6" force deleted from default namespace\n'
            'pod "academia-deployment-c68cb8c6f-74dnk" force deleted from default namespace\n'
        ),
        "cluster": "k3d cluster on Windows (Docker Desktop)",
        "kubectl_version": "v1.34+ (new wording)",
    },
    # https://github.com/paciorek/future-kubernetes/issues/5
    {
        "id": "port_forward-007",
        "command": "kubectl port-forward --namespace default svc/future-scheduler :8787",
        "output": (
            "Forwarding from 127.0.0.1:38491 -> 8787\n"
            "Forwarding from [::1]:38491 -> 8787\n"
            "Handling connection for 38491\n"
            "Handling connection for 38491\n"
            "Handling connection for 38491\n"
            "Handling connection for 38491\n"
            "Handling connection for 38491\n"
        ),
        "cluster": "cluster not stated (Dask/future on Kubernetes tutorial)",
    },
    # https://github.com/kubernetes/examples/blob/e00514bce95b38223f92c36b3a3fc526e5aaa94e/guestbook/README.md#L77-L81
    {
        "id": "get_services-005",
        "command": "kubectl get services",
        "output": (
            "NAME           CLUSTER-IP   EXTERNAL-IP   PORT(S)    AGE\n"
            "frontend       10.0.0.117   <none>        80/TCP     20s\n"
            "redis-master   10.0.0.170   <none>        6379/TCP   20s\n"
            "redis-slave    10.0.0.201   <none>        6379/TCP   20s\n"
        ),
        "cluster": "kube-up.sh era cluster (GCE, 2015-2017)",
    },
    # kubernetes/examples (README.md#L190-L198)
    {
        "id": "get_pods-025",
        "command": "kubectl get pods",
        "output": (
            "NAME                           READY     STATUS    RESTARTS   AGE\n"
            "guestbook-3crgn                1/1       Running   0          2m\n"
            "guestbook-gv7i6                1/1       Running   0          2m\n"
            "guestbook-x405a                1/1       Running   0          2m\n"
            "redis-master-xx4uv             1/1       Running   0          23m\n"
            "redis-replica-b6wj4              1/1       Running   0          6m\n"
            "redis-replica-iai40              1/1       Running   0          6m\n"
            "...\n"
        ),
        "cluster": "GCE (2015/2016)",
    },
    # kelseyhightower/kubernetes-the-hard-way (09-bootstrapping-kubernetes-workers.md#L202-L204)
    {
        "id": "get_nodes-002",
        "command": "kubectl get nodes --kubeconfig admin.kubeconfig",
        "output": (
            "NAME     STATUS   ROLES    AGE    VERSION\n"
            "node-0   Ready    <none>   1m     v1.32.3\n"
            "node-1   Ready    <none>   10s    v1.32.3\n"
        ),
        "cluster": "Kubernetes the Hard Way (2025 edition): Debian 12 ARM64 VMs, manual install, Kubernetes v1.32.3",
        "kubectl_version": "v1.32.3",
    },
]
ENTRIES_YAML = yaml.safe_dump(ENTRIES, sort_keys=False)
AGREE = {"get_pods-003", "get_pods-030", "apply-012", "delete_unattributed-005", "port_forward-007"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "entries.yaml").write_text(ENTRIES_YAML)
    return folder


def run_script(corpus: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--corpus", str(corpus), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_handful_of_entries(corpus: Path) -> None:
    result = run_script(corpus, "--json", "--jobs", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_id = {r["id"]: r for r in report["results"]}
    assert report["entries"] == 8
    assert report["served"] == 7
    # Entries the simulator is known to serve exactly must be counted as agreeing.
    assert {r["id"] for r in report["results"] if r["agree"]} == AGREE
    assert by_id["get_services-005"]["cause"] == fidelity.VERSION
    assert "TYPE" in by_id["get_services-005"]["detail"]
    assert by_id["get_pods-025"]["cause"] == fidelity.ARTEFACT
    assert not by_id["get_nodes-002"]["served"]
    assert "nodes" in by_id["get_nodes-002"]["reason"]
    assert report["differences"]["simulator"]["count"] == 0
    assert report["figure"] == 1.0
    for r in report["results"]:
        if r["agree"]:
            assert r["corpus"] == r["simulated"]


def test_the_text_report_states_the_figure_against_the_target() -> None:
    agree = fidelity.Result("a", served=True, agree=True)
    own = fidelity.Result("b", served=True, cause=fidelity.SIMULATOR, detail="pod states", corpus="x", simulated="y")
    old = fidelity.Result("c", served=True, cause=fidelity.VERSION, detail="columns", corpus="x", simulated="y")
    text = fidelity.report(fidelity.Summary([agree, own, old, fidelity.Result("d", served=False, reason="pvc")]),
                           Path("corpus"), "v1.37.1", 1.0, details=False)
    assert "entries: 4" in text and "served: 3 (not served: 1)" in text
    assert ("of the entries whose difference is the simulator's own, 50.0% agree (1 / (1 + 1)); "
            "target 90%: not met") in text
    assert "   1  pod states: b" in text


def test_a_different_state_is_a_difference_of_the_simulator() -> None:
    entry = next(e for e in fidelity.load_corpus_text(ENTRIES_YAML) if e.id == "get_pods-003")
    plan = fidelity.derive(entry)
    ns_map = fidelity.used_namespaces(plan)
    shown = entry.output.replace("Running", "Pending").replace("1/1", "0/1")
    result = fidelity.compare(plan, shown, ns_map, {})
    assert not result.agree
    assert (result.cause, result.detail) == (fidelity.SIMULATOR, "pod states (Running shown, Pending here)")
    same = fidelity.compare(plan, entry.output.replace("6m7s", "3s"), ns_map, {})
    assert same.agree


def test_plans_from_what_the_output_shows() -> None:
    entries = {e.id: e for e in fidelity.load_corpus_text(ENTRIES_YAML)}
    stalled = fidelity.derive(entries["get_pods-030"]).scene.things[("Deployment", "ui", "ui")]
    assert stalled.replicas == 3
    assert [r.state for r in stalled.revisions] == ["Running", "ErrImagePull"]
    forced = fidelity.derive(entries["delete_unattributed-005"]).scene.things
    assert forced[("Deployment", "default", "academia-deployment")].replicas == 1
    with pytest.raises(fidelity.Unservable, match="nodes"):
        fidelity.derive(entries["get_nodes-002"])
    assert fidelity.stall_for(3, 1) == (3, None)
    assert fidelity.stall_for(2, 2) == (3, fidelity.STRATEGIES[1])
    assert fidelity.stall_for(0, 3) == (3, {"type": "Recreate"})


def test_old_wording_is_put_down_to_the_version() -> None:
    entry = fidelity.CorpusEntry("x-1", "apply", "kubectl create -f all.yaml", 'service "frontend" created',
                                 "", "kube-up.sh era cluster (GCE, 2015-2017)", "")
    plan = fidelity.Plan(entry, fidelity.Scene(), ["create", "-f", "all.yaml"])
    result = fidelity.compare(plan, "service/frontend created\n", {"default": "fid-x-1"}, {})
    assert (result.cause, result.detail) == (fidelity.VERSION, '`kind "name" created` wording (kubectl < 1.11)')
    assert fidelity.infer_minor("", "kube-up.sh era cluster (GCE, 2015-2017)") == 1
    assert fidelity.infer_minor("v1.30.0", "") == 30
    assert fidelity.infer_minor("", "k3d v5.6.3 (rancher/k3s:v1.28.8-k3s1), 1 server + 3 agents") == 28


def test_usage_errors(corpus: Path, tmp_path: Path) -> None:
    unknown = run_script(corpus, "--only", "no_such-001")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "fidelity: no such entries: no_such-001"
    missing = run_script(tmp_path / "nowhere")
    assert missing.returncode == 2
    assert "no corpus at" in missing.stderr and "Traceback" not in missing.stderr
