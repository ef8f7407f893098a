"""Chapter 4's output blocks (the course's own transcripts, course/docs/4_controllers.md)
against what the simulator prints for the same commands with the real kubectl, both put
through kubelesson's normalizer: the controllers must make the rows the chapter shows."""

from __future__ import annotations

from pathlib import Path

from kubelesson.normalize import normalize
from kubelesson.transcript import Entry, Transcript, render
from tests.sim.conftest import Kubectl
from tests.sim.controller_support import deployment, statefulset

# The chapter's blocks, verbatim (program output, L128-130, L143-147, L323-330, L338-340).
CHAPTER = {
    "kubectl get deployments": """\
NAME    READY   UP-TO-DATE   AVAILABLE   AGE
caddy   3/3     3            3           6s""",
    "kubectl get pods": """\
NAME                     READY   STATUS    RESTARTS   AGE
caddy-766687f85d-k5wx5   1/1     Running   0          6m7s
caddy-766687f85d-sj2nm   1/1     Running   0          6m7s
caddy-766687f85d-mmkl6   1/1     Running   0          6m7s""",
    "kubectl get statefulsets": """\
NAME    READY   AGE
redis   1/1     5m4s""",
    "kubectl get services": """\
NAME         TYPE        CLUSTER-IP      EXTERNAL-IP   PORT(S)    AGE
kubernetes   ClusterIP   10.43.0.1       <none>        443/TCP    4h46m
redis        ClusterIP   10.43.122.204   <none>        6379/TCP   5m6s""",
    "kubectl get pods ": """\
NAME      READY   STATUS    RESTARTS   AGE
redis-0   1/1     Running   0          5m52s""",
}


def _same(command: str, shown: str) -> None:
    chapter = Transcript((Entry(command.strip(), CHAPTER[command]),))
    ours = Transcript((Entry(command.strip(), shown.rstrip("\n")),))
    assert render(normalize(ours)) == render(normalize(chapter))


def test_the_chapters_tables(both: Kubectl, tmp_path: Path) -> None:
    kubectl = both
    assert kubectl("apply", "-f", str(deployment(tmp_path))).rc == 0
    assert kubectl("rollout", "status", "deployment/caddy", "--timeout=20s").rc == 0
    _same("kubectl get deployments", kubectl("get", "deployments").out)
    _same("kubectl get pods", kubectl("get", "pods").out)
    assert kubectl("delete", "deployment", "caddy").rc == 0
    assert kubectl("wait", "--for=delete", "pod", "-l", "app=caddy", "--timeout=20s").rc == 0
    assert kubectl("apply", "-f", str(statefulset(tmp_path))).rc == 0
    assert kubectl("wait", "--for=jsonpath={.status.readyReplicas}=1", "statefulset/redis",
                   "--timeout=20s").rc == 0
    _same("kubectl get statefulsets", kubectl("get", "statefulsets").out)
    _same("kubectl get services", kubectl("get", "services").out)
    _same("kubectl get pods ", kubectl("get", "pods").out)
