"""The lesson safety policy (kubelesson/policy.py, docs/policy.md).

Two layers: the rules themselves, as unit tests of the policy on command lines and on
manifests in a course folder made here (no cluster needed); and for every rule category
one lesson file run end to end with the real CLI against the shared simulator, which must
be refused with exit 2 and one ``file:line`` line before anything runs, leaving the
learner's own pods in ``default`` and in a namespace of their own exactly as they were.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelesson import lesson, policy
from kubelesson.errors import PolicyViolation
from kubelesson.messages import MESSAGES
from kubelesson.sim import SimHandle
from tests.conftest import ROOT, Cli, kubectl_binary

SIM = ("--context", "kubelesson-sim")


def shared_course() -> Path:
    """The course (its examples/) beside the project, as laid for developers and CI."""
    for candidate in (ROOT.parent / "shared" / "course", Path("/work/shared/course")):
        if (candidate / "examples").is_dir():
            return candidate
    pytest.skip("the course folder (shared/course/examples) is not beside the project")


# --- a course folder with the real manifests, and some that break the rules -------------------

BAD_MANIFESTS = {
    "bad/namespaced.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default}\n"
    "spec: {containers: [{name: c, image: caddy:2}]}\n",
    "bad/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: mine}\n",
    "bad/later-doc.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\n"
    "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: fast}\nprovisioner: x\n",
    "bad/list.yaml": "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
    "  metadata: {name: a, namespace: kube-system}\n",
    "bad/custom.yaml": "apiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata: {name: m}\n",
    "bad/custom-pod.yaml": "apiVersion: example.com/v1\nkind: Pod\nmetadata: {name: p}\n",
    "bad/broken.yaml": "kind: Pod\nmetadata: {name: [\n",
    "bad/dir/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    "bad/dir/sub/crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n"
    "metadata: {name: me-admin}\n",
    "bad/kust-ns/kustomization.yaml": "namespace: default\nresources: [pod.yaml]\n",
    "bad/kust-ns/pod.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    "bad/kust-remote/kustomization.yaml": "resources:\n- https://github.com/example/repo//base?ref=v1\n",
    "bad/kust-git/kustomization.yaml": "resources:\n- github.com/example/repo/base\n",
    "bad/kust-up/kustomization.yaml": "resources:\n- ../../../outside\n",
    "bad/kust-helm/kustomization.yaml": "helmCharts:\n- name: x\n  repo: https://charts.example.com\n",
    "bad/kust-gen/kustomization.yaml": "configMapGenerator:\n- name: c\n  files: [../../../secret.txt]\n",
    "bad/kust-patch/kustomization.yaml": "resources: [../kust-ns/pod.yaml]\n"
    "patches:\n- patch: |\n    - op: add\n      path: /metadata/namespace\n      value: default\n"
    "  target: {kind: ConfigMap}\n",
    "bad/kust-nested/kustomization.yaml": "resources: [../kust-ns]\n",
    "good/kust/kustomization.yaml": "resources: [cm.yaml]\ncommonLabels: {app: x}\n"
    "configMapGenerator:\n- name: g\n  files: [page.html]\n",
    "good/kust/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
    "good/kust/page.html": "<p>hi</p>\n",
}


def make_course(folder: Path) -> Path:
    """A course folder: the real examples/, the manifests above, a file outside it and a
    symlink that leads out of it."""
    course = folder / "course"
    shutil.copytree(shared_course() / "examples", course / "examples")
    for name, text in BAD_MANIFESTS.items():
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        (course / name).write_text(text)
    (folder / "secret.txt").write_text("password\n")
    (folder / "outside.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (course / "examples" / "escape.yaml").symlink_to(folder / "outside.yaml")
    (course / "transcripts").mkdir()
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_course(tmp_path_factory.mktemp("policy"))


def refusal(argv: str, course: Path) -> str | None:
    """The message key of the rule a kubectl command breaks, or None when it is allowed."""
    try:
        policy.check_kubectl(shlex.split(argv), course)
    except policy.Refused as refused:
        return refused.key
    return None


# --- what the course needs is allowed ----------------------------------------------------------

# Every kubectl command of COURSE-MAP sections B-G that a lesson would run (and a few
# spellings of them), checked against the course's real manifests.
COURSE_COMMANDS = [
    # chapter 2
    "kubectl cluster-info", "kubectl get nodes", "kubectl config current-context", "kubectl config get-contexts",
    # chapter 3 (lesson 3's steps and cleanup)
    "kubectl apply -f ./examples/3_pod.yaml", "kubectl get pods", "kubectl delete pods caddy",
    "kubectl port-forward pod/caddy 8000:80", "kubectl delete pod caddy --ignore-not-found --wait=false",
    # chapter 4
    "kubectl apply -f ./examples/4_deployment.yaml", "kubectl get deployments", "kubectl get rs",
    "kubectl port-forward deployment/caddy 8000:80", "kubectl delete deployment caddy",
    "kubectl rollout status deployment/caddy", "kubectl apply -f ./examples/4_statefulset.yaml",
    "kubectl get statefulsets", "kubectl get services", "kubectl rollout restart statefulset/redis",
    "kubectl rollout status statefulset/redis", "kubectl port-forward statefulset/redis 6379:6379",
    "kubectl exec redis-0 -- redis-cli SET foo bar", "kubectl exec redis-0 -- redis-cli GET foo",
    "kubectl delete statefulset redis", "kubectl delete service redis",
    "kubectl delete -f ./examples/4_statefulset.yaml", "kubectl get events",
    "kubectl wait --for=jsonpath={.status.readyReplicas}=1 statefulset/redis --timeout=180s",
    "kubectl get pods -l app=caddy",
    "kubectl get deployment caddy -o jsonpath={.spec.template.spec.containers[0].image}",
    "kubectl set image deployment/caddy caddy=caddy:2.7",
    # chapter 5
    "kubectl apply -f ./examples/5_service.yaml", "kubectl get pods -o wide", "kubectl describe service caddy",
    "kubectl get endpointslices",
    "kubectl run tmp --rm -i --restart=Never --image=alpine:latest -- wget -qO- http://caddy/",
    "kubectl apply -f ./examples/5_lb_service.yaml", "kubectl get service caddy-lb",
    "kubectl delete service caddy", "kubectl delete service caddy-lb", "kubectl get ingressclass",
    "kubectl get ingressclass traefik -o yaml", "kubectl apply -f ./5_service.yaml",
    "kubectl apply -f ./examples/5_ingress.yaml", "kubectl get service", "kubectl get ingress",
    "kubectl get svc traefik -n kube-system -o yaml", "kubectl get pods -n kube-system",
    "kubectl delete ingress caddy",
    # chapter 6
    "kubectl apply -f ./examples/6_configmap_pod.yaml", "kubectl get configmap my-html-files",
    "kubectl exec caddy -- cat /usr/share/caddy/index.html",
    "kubectl delete configmap my-html-files --ignore-not-found",
    # chapter 7
    "kubectl get node k3d-hands-on-agent-0 -o yaml",
    r"kubectl get node k3d-hands-on-agent-0 -o jsonpath={.metadata.labels.kubernetes\.io/hostname}",
    "kubectl apply -f ./examples/7_hostpath_pod.yaml", "kubectl port-forward pod/mariadb 3306:3306",
    "kubectl delete -f ./examples/7_hostpath_pod.yaml", "kubectl delete pod mariadb", "kubectl get storageclass",
    "kubectl apply -f ./examples/7_pvc.yaml", "kubectl get pvc", "kubectl describe pvc mariadb",
    "kubectl apply -f ./examples/7_pvc_pod.yaml", "kubectl describe pod mariadb",
    "kubectl get pvc mariadb -o jsonpath={.spec.volumeName}", "kubectl get pv",
    "kubectl exec mariadb -- mariadb -uroot -ppassword -t -e 'SELECT * FROM hands_on.test'",
    "kubectl delete pvc mariadb",
    # chapter 8
    "kubectl kustomize ./examples/8_traq", "kubectl apply -k ./examples/8_traq", "kubectl get ingress",
    "kubectl delete -k ./examples/8_traq", "kubectl delete statefulset traq", "kubectl delete deployment traq-ui",
    "kubectl scale --replicas=0 statefulset/traq", "kubectl scale --replicas=0 deployment/traq-ui",
    "kubectl apply -f ./examples/8_traq",  # the chapter's mistake: kubectl itself refuses the kustomization file
    # other spellings a lesson may use
    "kubectl version --client", "kubectl logs -f pod/caddy", "kubectl logs caddy -c caddy",
    "kubectl exec -it caddy -- sh", "kubectl get secrets", "kubectl describe secret mariadb-password",
    "kubectl label pod caddy example.com/team=a", "kubectl annotate pod caddy note- ",
    "kubectl apply -k ./good/kust", "kubectl get -f ./examples/3_pod.yaml",
    "kubectl delete -f ./examples/3_pod.yaml,./examples/7_pvc.yaml",
    "kubectl apply --dry-run=server -f ./examples/3_pod.yaml", "kubectl delete pod caddy --cascade foreground",
    "kubectl auth can-i create pods", "kubectl events --for pod/caddy", "kubectl top pods",
    "kubectl port-forward --address localhost,127.0.0.1 pod/caddy 8000:80",
]


@pytest.mark.parametrize("command", COURSE_COMMANDS)
def test_the_courses_commands_are_allowed(command: str, course: Path) -> None:
    assert refusal(command, course) is None


def test_the_projects_lessons_pass_the_policy() -> None:
    """Lessons 2, 3 and 6 (and any added later) load, which enforces the policy."""
    found = lesson.load_all(ROOT)
    assert {2, 3, 6} <= {each.number for each in found}


# --- every rule refuses ---------------------------------------------------------------------------

REFUSED = [
    # plugins and the built-in commands no lesson runs
    ("kubectl foo", "policy.plugin"),
    ("kubectl convert -f ./examples/3_pod.yaml", "policy.plugin"),
    ("kubectl proxy --port=8001", "policy.proxy"),
    ("kubectl plugin list", "policy.kubectl_setup"),
    ("kubectl kuberc view", "policy.kubectl_setup"),
    # kubeconfig and credentials
    ("kubectl config view --raw", "policy.config"),
    ("kubectl config view", "policy.config"),
    ("kubectl config set-credentials me --token=abc", "policy.credentials_flag"),
    ("kubectl config set-credentials me", "policy.config"),
    ("kubectl config use-context other", "policy.config"),
    ("kubectl config set-context --current --namespace=default", "policy.config"),
    ("kubectl config set-cluster x", "policy.config"),
    ("kubectl config set users.me.token abc", "policy.config"),
    ("kubectl config unset current-context", "policy.config"),
    ("kubectl config delete-context x", "policy.config"),
    ("kubectl config rename-context a b", "policy.config"),
    ("kubectl config", "policy.config"),
    ("kubectl create token default", "policy.credentials_output"),
    ("kubectl get secrets -n kube-system -o yaml", "policy.credentials_output"),
    ("kubectl get secret/k3s-serving -n kube-system", "policy.credentials_output"),
    ("kubectl get pods,secrets -A", "policy.credentials_output"),
    ("kubectl describe secrets --all-namespaces --show-secrets", "policy.credentials_output"),
    ("kubectl get --raw /api/v1/namespaces/kube-system/secrets", "policy.credentials_output"),
    # flags that switch cluster, user or credentials (anywhere on the line)
    ("kubectl get pods --context other", "policy.credentials_flag"),
    ("kubectl --context=other get pods", "policy.credentials_flag"),
    ("kubectl get pods --kubeconfig /tmp/other", "policy.credentials_flag"),
    ("kubectl get pods --server https://example.com", "policy.credentials_flag"),
    ("kubectl get pods -s https://example.com", "policy.credentials_flag"),
    ("kubectl get pods --token abc", "policy.credentials_flag"),
    ("kubectl get pods --user admin", "policy.credentials_flag"),
    ("kubectl get pods --cluster other", "policy.credentials_flag"),
    ("kubectl get pods --as system:admin", "policy.credentials_flag"),
    ("kubectl get pods --as-group system:masters", "policy.credentials_flag"),
    ("kubectl get pods --certificate-authority ca.crt", "policy.credentials_flag"),
    ("kubectl get pods --client-key k.pem", "policy.credentials_flag"),
    ("kubectl get pods --client-certificate c.pem", "policy.credentials_flag"),
    ("kubectl get pods --username u --password p", "policy.credentials_flag"),
    ("kubectl get pods --insecure-skip-tls-verify", "policy.credentials_flag"),
    ("kubectl get pods --kuberc ./rc.yaml", "policy.credentials_flag"),
    ("kubectl create rolebinding x --clusterrole=admin --user=me", "policy.credentials_flag"),
    # flags that write files on the machine
    ("kubectl get pods --cache-dir /tmp/c", "policy.writes_files"),
    ("kubectl get pods --profile=cpu", "policy.writes_files"),
    ("kubectl cluster-info dump --output-directory=./dump", "policy.writes_files"),
    ("kubectl kustomize ./examples/8_traq -o out.yaml", "policy.writes_files"),
    ("kubectl cp caddy:/etc/hosts ./hosts", "policy.writes_files"),
    ("kubectl kustomize ./examples/8_traq --enable-helm", "policy.kustomize_flag"),
    ("kubectl kustomize ./examples/8_traq --load-restrictor=LoadRestrictionsNone", "policy.kustomize_flag"),
    ("kubectl kustomize ./examples/8_traq --enable-alpha-plugins", "policy.kustomize_flag"),
    # changing commands act only in the lesson's namespace
    ("kubectl delete pod caddy -n default", "policy.namespace_flag"),
    ("kubectl -n default delete pod caddy", "policy.namespace_flag"),
    ("kubectl delete pod caddy -ndefault", "policy.namespace_flag"),
    ("kubectl delete pod caddy --namespace=default", "policy.namespace_flag"),
    ("kubectl delete pods --all -A", "policy.namespace_flag"),
    ("kubectl delete pods --all --all-namespaces", "policy.namespace_flag"),
    ("kubectl apply -f ./examples/3_pod.yaml -n default", "policy.namespace_flag"),
    ("kubectl exec -n kube-system coredns -- ls", "policy.namespace_flag"),
    ("kubectl port-forward -n kube-system svc/traefik 8080:80", "policy.namespace_flag"),
    ("kubectl run tmp -it --rm --image=alpine -n default -- sh", "policy.namespace_flag"),
    ("kubectl cp ./examples/3_pod.yaml default/web:/tmp/x", "policy.namespace_flag"),
    ("""kubectl run x --image=y --overrides={"metadata":{"namespace":"default"}}""", "policy.namespace_flag"),
    ("kubectl delete pods --all", "policy.bulk"),
    ("kubectl delete pods -l app=caddy", "policy.bulk"),
    ("kubectl label pods --selector=app=caddy x=y", "policy.bulk"),
    ("kubectl delete pods --field-selector=status.phase=Running", "policy.bulk"),
    ("kubectl apply -f ./examples/3_pod.yaml --prune -l app=x", "policy.bulk"),
    ("kubectl rollout restart deployment", "policy.bulk"),
    ("kubectl delete --raw /api/v1/namespaces/default/pods/web", "policy.raw"),
    # no cluster-scoped kinds, no deleting namespaces
    ("kubectl delete namespace default", "policy.cluster_scoped"),
    ("kubectl delete namespaces default kube-system", "policy.cluster_scoped"),
    ("kubectl delete ns/default", "policy.cluster_scoped"),
    ("kubectl create namespace mine", "policy.cluster_scoped"),
    ("kubectl label node k3d-hands-on-agent-0 disk=ssd", "policy.cluster_scoped"),
    ("kubectl delete storageclass local-path", "policy.cluster_scoped"),
    ("kubectl patch ingressclass traefik -p {}", "policy.cluster_scoped"),
    ("kubectl delete pv,pvc --all", "policy.bulk"),
    ("kubectl delete pv pvc-1", "policy.cluster_scoped"),
    ("kubectl delete clusterrolebinding cluster-admin", "policy.cluster_scoped"),
    ("kubectl delete crd ingressroutes.traefik.io", "policy.cluster_scoped"),
    ("kubectl annotate ingressclasses.networking.k8s.io traefik x=y", "policy.cluster_scoped"),
    ("kubectl create clusterrole x --verb=get --resource=pods", "policy.cluster_scoped"),
    ("kubectl cordon k3d-hands-on-agent-0", "policy.cluster_scoped"),
    ("kubectl drain k3d-hands-on-agent-0", "policy.cluster_scoped"),
    ("kubectl taint nodes k3d-hands-on-agent-0 a=b:NoSchedule", "policy.cluster_scoped"),
    ("kubectl certificate approve csr-1", "policy.cluster_scoped"),
    ("kubectl debug node/k3d-hands-on-agent-0 -it --image=busybox", "policy.cluster_scoped"),
    ("kubectl delete middlewares.traefik.io m", "policy.unknown_kind"),
    ("kubectl delete pods.example.com p", "policy.unknown_kind"),
    # manifests: no namespace, no cluster-scoped or unknown kinds, readable
    ("kubectl apply -f ./bad/namespaced.yaml", "policy.manifest_namespace"),
    ("kubectl create -f ./bad/namespace.yaml", "policy.manifest_cluster_scoped"),
    ("kubectl delete -f ./bad/namespace.yaml", "policy.manifest_cluster_scoped"),
    ("kubectl apply -f ./bad/later-doc.yaml", "policy.manifest_cluster_scoped"),
    ("kubectl apply -f ./bad/list.yaml", "policy.manifest_namespace"),
    ("kubectl replace -f ./bad/custom.yaml", "policy.manifest_unknown_kind"),
    ("kubectl apply -f ./bad/custom-pod.yaml", "policy.manifest_unknown_kind"),
    ("kubectl apply -f ./bad/broken.yaml", "policy.manifest_unreadable"),
    ("kubectl apply -f ./bad/dir", "policy.manifest_cluster_scoped"),
    ("kubectl apply -f ./examples/3_pod.yaml,./bad/namespace.yaml", "policy.manifest_cluster_scoped"),
    ("kubectl apply -k ./bad/kust-ns", "policy.manifest_namespace"),
    ("kubectl apply -k ./bad/kust-nested", "policy.manifest_namespace"),
    ("kubectl apply -k ./bad/kust-patch", "policy.manifest_namespace"),
    ("kubectl kustomize ./bad/kust-helm", "policy.kustomize_key"),
    # remote files and files outside the course folder
    ("kubectl apply -f http://example.com/pod.yaml", "policy.remote"),
    ("kubectl apply -f https://example.com/pod.yaml", "policy.remote"),
    ("kubectl get -f https://example.com/pod.yaml", "policy.remote"),
    ("kubectl apply --filename=https://example.com/pod.yaml", "policy.remote"),
    ("kubectl kustomize https://github.com/example/repo", "policy.remote"),
    ("kubectl apply -k ./bad/kust-remote", "policy.remote"),
    ("kubectl kustomize ./bad/kust-git", "policy.remote"),
    ("kubectl apply -k github.com/example/repo/base", "policy.kustomize_missing"),
    ("kubectl apply -f -", "policy.stdin"),
    ("kubectl apply -f ../outside.yaml", "policy.outside"),
    ("kubectl apply -f ./examples/../../outside.yaml", "policy.outside"),
    ("kubectl apply -f ./examples/escape.yaml", "policy.outside"),
    ("kubectl get -f ./examples/escape.yaml", "policy.outside"),
    ("kubectl apply -f /etc/passwd", "policy.outside"),
    ("kubectl apply -f ./examples", "policy.outside"),  # the folder holds the escaping symlink
    ("kubectl create configmap x --from-file=../secret.txt", "policy.outside"),
    ("kubectl create configmap x --from-file=pw=../secret.txt", "policy.outside"),
    ("kubectl create secret generic x --from-env-file ../secret.txt", "policy.outside"),
    ("kubectl create secret tls x --cert=../secret.txt --key=../secret.txt", "policy.outside"),
    ("kubectl patch deployment caddy --patch-file=../secret.txt", "policy.outside"),
    ("kubectl get pods -o go-template-file=../secret.txt", "policy.outside"),
    ("kubectl get pods -o custom-columns-file=../secret.txt", "policy.outside"),
    ("kubectl port-forward --address 0.0.0.0 pod/caddy 8000:80", "policy.address"),
    ("kubectl port-forward --address=localhost,192.168.1.2 pod/caddy 8000:80", "policy.address"),
    ("kubectl cp ../secret.txt caddy:/tmp/x", "policy.outside"),
    ("kubectl kustomize ./bad/kust-up", "policy.outside"),
    ("kubectl kustomize ./bad/kust-gen", "policy.outside"),
    ("kubectl kustomize ..", "policy.outside"),
    ("kubectl apply -k ../", "policy.outside"),
    ("docker ps", "policy.not_kubectl"),
]


@pytest.mark.parametrize(("command", "key"), REFUSED)
def test_every_rule_refuses(command: str, key: str, course: Path) -> None:
    assert refusal(command, course) == key


def test_every_refusal_has_an_english_and_a_japanese_sentence() -> None:
    used = set(re.findall(r'"(policy\.\w+)"', Path(policy.__file__).read_text()))
    assert {key for _, key in REFUSED} <= used
    for key in used:
        assert set(MESSAGES[key]) == {"en", "ja"}, key
        assert MESSAGES[key]["en"].startswith("{file}:{line}: ") and MESSAGES[key]["ja"].startswith("{file}:{line}: ")


@pytest.mark.parametrize(("args", "flags", "words"), [
    ("exec -it caddy -- sh -n default", [("--stdin", None), ("--tty", None)], ["caddy"]),
    ("-ndefault get pods", [("--namespace", "default")], ["pods"]),
    ("-n=default get pods", [("--namespace", "default")], ["pods"]),
    ("get --output yaml pods", [("--output", "yaml")], ["pods"]),
    ("delete --cascade foreground pod x", [("--cascade", None)], ["foreground", "pod", "x"]),
    ("logs -f -p caddy", [("--follow", None), ("--previous", None)], ["caddy"]),
])
def test_command_lines_are_read_as_kubectl_reads_them(args: str, flags: list[tuple[str, str]],
                                                     words: list[str]) -> None:
    cmd = policy.parse(args.split())
    assert cmd.flags == flags
    assert cmd.words == words


@pytest.mark.parametrize(("command", "needs", "allowed"), [
    ("docker ps --filter label=k3d.cluster=hands-on --format '{{.Names}}'", "docker", True),
    ("docker ps -a --filter=label=k3d.cluster=hands-on", "docker", True),
    ("docker ps -a -f name=k3d", None, True),
    ("docker ps", "docker", True),
    ("docker rm -f k3d-hands-on-server-0", "docker", False),
    ("docker ps -q", "docker", False),
    ("docker ps --filter", "docker", False),
    ("docker -H tcp://example.com ps", "docker", False),
    ("docker ps", "rm", False),  # host steps run `needs` with the words after the first
    ("k3d cluster delete hands-on", "k3d", False),
])
def test_host_steps_may_only_look_at_docker_containers(command: str, needs: str | None, allowed: bool) -> None:
    try:
        policy.check_host(shlex.split(command), needs)
    except policy.Refused as refused:
        assert not allowed and refused.key == "policy.host"
    else:
        assert allowed


GOLDEN = "transcript: |\n  $ kubectl get pods\n  No resources found in default namespace.\n"


def write_lesson(course: Path, number: int, body: str) -> Path:
    path = course / "transcripts" / f"{number}.yaml"
    path.write_text(textwrap.dedent(f"""\
        lesson: {number}
        title: {{en: Policy test, ja: ポリシーのテスト}}
        """) + textwrap.dedent(body) + GOLDEN)
    return path


def test_yourself_steps_are_exempt_and_cleanup_items_are_checked_at_their_line(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    write_lesson(course, 40, """\
        steps:
        - yourself: kubectl delete namespace default
        - run: kubectl get pods
        cleanup:
        - kubectl delete pod caddy --ignore-not-found
        - kubectl delete pods --all -n default
        """)
    with pytest.raises(PolicyViolation) as caught:
        lesson.load_number(course, 40)
    assert caught.value.key == "policy.namespace_flag"
    assert caught.value.params["line"] == 8 and caught.value.params["file"].endswith("40.yaml")


def test_a_cleanup_item_that_is_no_kubectl_command_is_refused(tmp_path: Path) -> None:
    course = make_course(tmp_path)
    write_lesson(course, 41, """\
        steps:
        - run: kubectl get pods
        cleanup:
        - rm -rf /tmp/x
        """)
    with pytest.raises(PolicyViolation) as caught:
        lesson.load_number(course, 41)
    assert (caught.value.key, caught.value.params["line"]) == ("policy.not_kubectl", 6)


# --- end to end: refused before anything runs, the learner's objects untouched --------------------

LEARNER = "policy-test=learner"
LEARNER_OBJECTS = """\
apiVersion: v1
kind: Namespace
metadata: {name: learner-own, labels: {policy-test: learner}}
---
apiVersion: v1
kind: Pod
metadata: {name: learner-web, namespace: default, labels: {policy-test: learner, app: learner}}
spec: {containers: [{name: web, image: caddy:2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: learner-db, namespace: learner-own, labels: {policy-test: learner, app: learner}}
spec: {containers: [{name: db, image: redis:7}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: learner-config, namespace: learner-own, labels: {policy-test: learner}}
data: {page: hello}
"""


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kubectl_binary(), *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def snapshot(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """The learner's objects: kind/namespace/name -> (uid, resourceVersion)."""
    result = kubectl(env, "get", "namespaces,pods,configmaps", "-A", "-l", LEARNER, "-o", "json")
    assert result.returncode == 0, result.stderr
    return {
        f"{item['kind']}/{item['metadata'].get('namespace', '')}/{item['metadata']['name']}":
            (item["metadata"]["uid"], item["metadata"]["resourceVersion"])
        for item in json.loads(result.stdout)["items"]
    }


@pytest.fixture(scope="module")
def learners_objects(shared_sim: SimHandle,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, str]]]:
    """Pods of the learner's own in ``default`` and in a namespace of their own, Ready (so
    the simulator has stopped changing them), in the simulator the tests share."""
    home = tmp_path_factory.mktemp("learner-home")
    env = {"PATH": os.environ["PATH"], "HOME": str(home), **shared_sim.env()}
    created = kubectl(env, "apply", "-f", "-", stdin=LEARNER_OBJECTS)
    assert created.returncode == 0, created.stderr
    for where in (("learner-web", "default"), ("learner-db", "learner-own")):
        ready = kubectl(env, "wait", "--for=condition=Ready", f"pod/{where[0]}", "-n", where[1], "--timeout=60s")
        assert ready.returncode == 0, ready.stderr
    before = snapshot(env)
    assert len(before) == 4
    yield before
    kubectl(env, "delete", "pod", "learner-web", "-n", "default", "--wait=false")
    kubectl(env, "delete", "namespace", "learner-own", "--wait=false")


# One lesson per rule category: its steps (the refused one on the given line) and the words
# the one-line refusal must hold.
E2E = {
    "namespace-flag": ("- run: kubectl delete pod learner-web -n default\n", 5, ": -n on a command that changes"),
    "all-namespaces": ("- run: kubectl delete pods --all -A\n", 5, ": -A on a command"),
    "delete-namespace": ("- run: kubectl delete namespace learner-own\n", 5, "cluster-scoped"),
    "cluster-scoped": ("- run: kubectl label node kubelesson-sim-agent-0 disk=ssd\n", 5, "cluster-scoped"),
    "bulk": ("- run: kubectl delete pods -l app=learner\n", 5, "'-l' on a command"),
    "config": ("- run: kubectl config use-context other\n", 5, "kubeconfig"),
    "credentials-flag": ("- run: kubectl delete pod learner-web --context kubelesson-sim --namespace default\n",
                         5, "--context"),
    "credentials-output": ("- run: kubectl get secrets -n kube-system -o yaml\n", 5, "credentials"),
    "plugin": ("- run: kubectl learnerwipe\n", 5, "plugin"),
    "remote": ("- run: kubectl apply -f http://127.0.0.1:9/pod.yaml\n", 5, "http://127.0.0.1:9/pod.yaml"),
    "outside": ("- run: kubectl create configmap stolen --from-file=../secret.txt\n", 5, "outside the course"),
    "writes-files": ("- run: kubectl cp learner-web:/etc/hosts ./hosts\n", 5, "write files"),
    "manifest-namespace": ("- run: kubectl apply -f ./bad/namespaced.yaml\n", 5, "bad/namespaced.yaml"),
    "manifest-cluster-scoped": ("- run: kubectl apply -f ./bad/namespace.yaml\n", 5, "Namespace/mine"),
    "kustomize": ("- run: kubectl delete -k ./bad/kust-ns\n", 5, "kustomization"),
    "host": ("- host: docker rm -f learner-web\n  needs: docker\n  expect: [x]\n", 5, "docker ps"),
    "cleanup": ("cleanup:\n- kubectl delete pod caddy --ignore-not-found\n- kubectl delete pods --all -n default\n",
                7, ": -n on a command"),
}


@pytest.mark.parametrize("rule", list(E2E))
def test_a_lesson_that_breaks_a_rule_is_refused_before_anything_runs(
        rule: str, sim_cli: Cli, tmp_path: Path, learners_objects: dict[str, tuple[str, str]]) -> None:
    steps, line, words = E2E[rule]
    course = make_course(tmp_path)
    number = 90
    path = write_lesson(course, number, "steps:\n- run: kubectl get pods\n" + steps)
    # A plugin that would touch a file, if the plugin step were run after all.
    plugins = tmp_path / "bin"
    plugins.mkdir()
    marker = tmp_path / "plugin-ran"
    (plugins / "kubectl-learnerwipe").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (plugins / "kubectl-learnerwipe").chmod(0o755)
    sim_cli.env["PATH"] = f"{plugins}:{sim_cli.env['PATH']}"

    result = sim_cli("check", str(number), *SIM, "--root", str(course), "--lang", "en")

    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"kubelesson: {path}:{line}: "), lines[0]
    assert words in lines[0], lines[0]
    assert not marker.exists()
    assert snapshot(sim_cli.env) == learners_objects
    sandboxes = kubectl(sim_cli.env, "get", "namespaces", "-o", "name")
    assert f"namespace/kubelesson-{number}-" not in sandboxes.stdout


def test_the_refusal_speaks_japanese(sim_cli: Cli, tmp_path: Path) -> None:
    course = make_course(tmp_path)
    path = write_lesson(course, 91, "steps:\n- run: kubectl delete namespace default\n")
    result = sim_cli("check", "91", *SIM, "--root", str(course), "--lang", "ja")
    assert result.returncode == 2
    assert result.stderr == f"kubelesson: {path}:4: namespace はクラスター全体のオブジェクトです。" \
        "クラスターを変更するコマンドはレッスンの名前空間の中のオブジェクトだけを扱えます\n"
