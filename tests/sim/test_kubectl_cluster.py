"""Cluster-level kubectl commands against the simulator: nodes, namespaces, errors, versions."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.sim.conftest import Kubectl, pod_manifest


def test_get_nodes(kubectl: Kubectl) -> None:
    result = kubectl("get", "nodes")
    lines = result.out.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["k3d-hands-on-agent-0", "k3d-hands-on-agent-1",
                                    "k3d-hands-on-agent-2", "k3d-hands-on-server-0"]
    assert all(r[1] == "Ready" for r in rows)
    assert rows[3][2] == "control-plane,master" and rows[0][2] == "<none>"
    assert all(r[4] == "v1.32.4+k3s1" for r in rows)
    wide = kubectl("get", "nodes", "-o", "wide").out.splitlines()
    assert "CONTAINER-RUNTIME" in wide[0] and "containerd://" in wide[1]


def test_cluster_info_is_honest(kubectl: Kubectl) -> None:
    result = kubectl("cluster-info")
    url = kubectl.sim.url
    assert result.rc == 0
    assert result.out.splitlines()[:2] == [
        f"Kubernetes control plane is running at {url}",
        f"CoreDNS is running at {url}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy",
    ]


def test_version(kubectl: Kubectl) -> None:
    result = kubectl("version")
    assert result.rc == 0
    assert "Server Version: v1.32.4\n" in result.out


def test_namespaces(kubectl: Kubectl, tmp_path: Path) -> None:
    listing = kubectl("get", "namespaces").out.splitlines()
    assert listing[0].split() == ["NAME", "STATUS", "AGE"]
    assert {line.split()[0] for line in listing[1:]} >= {"default", "kube-system"}
    created = kubectl("create", "namespace", "lesson")
    assert (created.rc, created.out) == (0, "namespace/lesson created\n")
    twice = kubectl("create", "namespace", "lesson")
    assert (twice.rc, twice.err) == (
        1, 'Error from server (AlreadyExists): namespaces "lesson" already exists\n')
    manifest = pod_manifest(tmp_path)
    assert kubectl("apply", "-f", str(manifest), "-n", "lesson").out == "pod/caddy created\n"
    kubectl("wait", "-n", "lesson", "--for=condition=Ready", "pod/caddy")
    empty = kubectl("get", "pods")
    assert empty.err == "No resources found in default namespace.\n"
    rows = kubectl("get", "pods", "-n", "lesson").out.splitlines()
    assert rows[1].split()[:3] == ["caddy", "1/1", "Running"]
    gone = kubectl("delete", "namespace", "lesson", timeout=30)
    assert (gone.rc, gone.out) == (0, 'namespace "lesson" deleted\n'), gone.err
    assert kubectl.sim.store.get("pods", "lesson", "caddy") is None
    missing = kubectl("get", "pods", "-n", "lesson")
    assert missing.err == "No resources found in lesson namespace.\n"
    nowhere = kubectl("apply", "-f", str(manifest), "-n", "nowhere")
    assert nowhere.rc == 1 and 'namespaces "nowhere" not found' in nowhere.err
    protected = kubectl("delete", "namespace", "kube-system")
    assert protected.rc == 1
    assert protected.err == ('Error from server (Forbidden): namespaces "kube-system" is '
                             "forbidden: this namespace may not be deleted\n")


def test_errors(kubectl: Kubectl, tmp_path: Path) -> None:
    missing = kubectl("get", "pod", "caddy")
    assert (missing.rc, missing.out, missing.err) == (
        1, "", 'Error from server (NotFound): pods "caddy" not found\n')
    unknown = kubectl("get", "foos")
    assert (unknown.rc, unknown.err) == (
        1, 'error: the server doesn\'t have a resource type "foos"\n')
    manifest = pod_manifest(tmp_path)
    assert kubectl("create", "-f", str(manifest)).out == "pod/caddy created\n"
    dup = kubectl("create", "-f", str(manifest))
    assert (dup.rc, dup.err) == (1, 'Error from server (AlreadyExists): error when creating '
                                    f'"{manifest}": pods "caddy" already exists\n')
    no_containers = tmp_path / "empty.yaml"
    no_containers.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\nspec: {}\n")
    invalid = kubectl("apply", "-f", str(no_containers))
    assert (invalid.rc, invalid.err) == (
        1, 'The Pod "empty" is invalid: spec.containers: Required value\n')
    bad_name = tmp_path / "bad.yaml"
    bad_name.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n"
        "  - name: c\n    image: caddy:2\n")
    bad = kubectl("create", "-f", str(bad_name))
    assert bad.rc == 1
    assert bad.err.startswith('The Pod "Bad_Name" is invalid: metadata.name: Invalid value: '
                              '"Bad_Name": a lowercase RFC 1123 subdomain must consist of')


def test_pod_spec_is_immutable(kubectl137: Kubectl, tmp_path: Path) -> None:
    manifest = pod_manifest(tmp_path)
    kubectl137("apply", "-f", str(manifest))
    changed = tmp_path / "changed.yaml"
    changed.write_text(manifest.read_text() + "      command: ['caddy', 'run']\n")
    result = kubectl137("apply", "-f", str(changed))
    assert result.rc == 1
    assert result.err.startswith('The Pod "caddy" is invalid: spec: Forbidden: pod updates may '
                                 "not change fields other than")


def test_get_services_events_and_all(kubectl137: Kubectl, tmp_path: Path) -> None:
    services = kubectl137("get", "services").out.splitlines()
    assert services[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert re.fullmatch(r"kubernetes   ClusterIP   10\.43\.0\.1    <none>        443/TCP   \d+s",
                        services[1])
    kubectl137("apply", "-f", str(pod_manifest(tmp_path)))
    kubectl137("wait", "--for=condition=Ready", "pod/caddy")
    events = kubectl137("get", "events").out.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("pod/caddy" in line and "Scheduled" in line for line in events)
    everything = kubectl137("get", "all")
    assert "pod/caddy" in everything.out and "service/kubernetes" in everything.out


def test_patch_types(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl137("apply", "-f", str(pod_manifest(tmp_path)))
    merge = kubectl137("patch", "pod", "caddy", "--type=merge",
                       "-p", '{"metadata":{"labels":{"tier":"front"}}}')
    assert (merge.rc, merge.out) == (0, "pod/caddy patched\n"), merge.err
    json_patch = kubectl137("patch", "pod", "caddy", "--type=json",
                            "-p", '[{"op":"remove","path":"/metadata/labels/tier"}]')
    assert json_patch.out == "pod/caddy patched\n", json_patch.err
    noop = kubectl137("patch", "pod", "caddy", "-p", '{"metadata":{"labels":{"app":"web"}}}')
    assert noop.out == "pod/caddy patched (no change)\n"
    labelled = kubectl137("label", "pod", "caddy", "extra=yes")
    assert labelled.out == "pod/caddy labeled\n"


def test_dry_runs(kubectl137: Kubectl, tmp_path: Path) -> None:
    manifest = pod_manifest(tmp_path)
    server = kubectl137("apply", "-f", str(manifest), "--dry-run=server")
    assert server.out == "pod/caddy created (server dry run)\n"
    assert kubectl137.sim.store.get("pods", "default", "caddy") is None
    kubectl137("apply", "-f", str(manifest))
    deleted = kubectl137("delete", "pod", "caddy", "--dry-run=server")
    assert deleted.out == 'pod "caddy" deleted from default namespace (server dry run)\n'
    time.sleep(0.05)
    assert kubectl137.sim.store.get("pods", "default", "caddy") is not None


def test_strict_field_validation(kubectl: Kubectl, tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: caddy\nspec:\n  containers:\n"
                    "  - name: caddy\n    image: caddy:2\n    imagee: caddy:2\n")
    strict = kubectl("apply", "-f", str(typo))
    assert (strict.rc, strict.err) == (1, (
        f'Error from server (BadRequest): error when creating "{typo}": Pod in version "v1" '
        'cannot be handled as a Pod: strict decoding error: unknown field '
        '"spec.containers[0].imagee"\n'))
    warned = kubectl("apply", "--validate=warn", "-f", str(typo))
    assert (warned.rc, warned.out) == (0, "pod/caddy created\n")
    assert warned.err == 'Warning: unknown field "spec.containers[0].imagee"\n'
    stored = kubectl.sim.store.get("pods", "default", "caddy")
    assert stored is not None and "imagee" not in stored["spec"]["containers"][0]


def test_server_side_apply_and_typed_creates(kubectl137: Kubectl, tmp_path: Path) -> None:
    manifest = pod_manifest(tmp_path)
    first = kubectl137("apply", "--server-side", "-f", str(manifest))
    assert (first.rc, first.out) == (0, "pod/caddy serverside-applied\n"), first.err
    relabelled = kubectl137("apply", "--server-side", "-f",
                            str(pod_manifest(tmp_path, label="other")))
    assert relabelled.out == "pod/caddy serverside-applied\n"
    pod = kubectl137.sim.store.get("pods", "default", "caddy")
    assert pod is not None and pod["metadata"]["labels"] == {"app": "other"}
    # kubectl's typed clients send protobuf bodies for these
    assert kubectl137("create", "configmap", "cfg", "--from-literal=a=b").out == (
        "configmap/cfg created\n")
    assert kubectl137("create", "secret", "generic", "s", "--from-literal=a=b").out == (
        "secret/s created\n")
    rows = kubectl137("get", "secret", "s").out.splitlines()
    assert rows[1].split()[:3] == ["s", "Opaque", "1"]
