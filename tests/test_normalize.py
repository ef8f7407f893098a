"""The normalizer, tested with data.

* ``normalize_cases/*.yaml``: one case per file, either a corpus entry (``command`` and its
  ``input``, with the entry's ``source``) or a whole ``transcript``, with an optional
  ``context``. The goldens are ``expected`` (the normalized transcript) and ``rules`` (which
  rules changed something). ``pytest --update-goldens`` rewrites them; review the diff.

The property tests (hypothesis) are in ``test_normalize_properties.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelesson.normalize import (
    Context,
    RuleFileError,
    default_rules,
    explain,
    normalize,
    rules_from_data,
)
from kubelesson.transcript import Entry, Transcript, parse, render

CASES = Path(__file__).parent / "normalize_cases"


def _case_transcript(golden: Any) -> Transcript:
    text = golden.get("transcript")
    if text is not None:
        return parse(text)
    output = golden["input"].rstrip("\n")
    return Transcript((Entry(golden["command"], output, golden.get("exit_code", 0)),))


def _context(spec: dict[str, Any] | None) -> Context:
    spec = spec or {}
    return Context(
        namespaces=dict(spec.get("namespaces", {})),
        ports={int(k): int(v) for k, v in spec.get("ports", {}).items()},
    )


@pytest.mark.golden_test("normalize_cases/*.yaml")
def test_normalize_case(golden: Any) -> None:
    raw = _case_transcript(golden)
    golden.get("source")  # documentation of where the case comes from (corpus id, URL)
    golden.get("corpus_id")
    golden.get("notes")
    ctx = _context(golden.get("context"))
    result, changes = explain(raw, ctx)
    without_header = Transcript(result.entries)
    assert render(without_header) == golden.out["expected"]
    assert sorted({change.rule for change in changes}) == golden.out["rules"]
    # explain and normalize agree, and a second pass changes nothing
    assert normalize(raw, ctx) == result
    assert normalize(result) == result
    assert normalize(result, ctx) == result


# --- the lesson's own outputs are lines of the golden -----------------------------------------

LESSON_GOLDEN = Path(__file__).parent.parent / "transcripts" / "3.yaml"


def test_seed_outputs_are_lines_of_the_normalized_lesson() -> None:
    case = yaml.safe_load((CASES / "lesson3-seed.yaml").read_text(encoding="utf-8"))
    recorded = yaml.safe_load((CASES / "lesson3-kubectl137-sandbox.yaml").read_text(encoding="utf-8"))
    seed = render(normalize(parse(case["transcript"])))
    run = normalize(parse(recorded["transcript"]), _context(recorded["context"]))
    run_lines = set(render(Transcript(run.entries)).splitlines())
    for line in seed.splitlines():
        assert line in run_lines, line
    for wanted in (
        "pod/caddy created",
        "NAME    READY   STATUS    RESTARTS   AGE",
        "caddy   1/1     Running   0          <age>",
        'pod "caddy" deleted',
        "No resources found in default namespace.",
        "Forwarding from 127.0.0.1:8000 -> 80",
    ):
        assert wanted in seed.splitlines()


# --- the corpus as a whole ----------------------------------------------------------------------


def _corpus_cases() -> list[Transcript]:
    found = []
    for path in sorted(CASES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        found.append(_case_transcript(data))
    return found


ALL_CASES = _corpus_cases()


def test_every_case_is_idempotent() -> None:
    for t in ALL_CASES:
        once = normalize(t)
        assert normalize(once) == once


def _one(command: str, output: str) -> Transcript:
    return Transcript((Entry(command, output),))


# --- contexts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "shown"),
    [
        (
            "No resources found in kubelesson-3-x7k2p namespace.",
            "No resources found in default namespace.",
        ),
        ('pod "caddy" deleted from kubelesson-3-x7k2p namespace', 'pod "caddy" deleted'),
        ("Forwarding from 127.0.0.1:38123 -> 80", "Forwarding from 127.0.0.1:8000 -> 80"),
        (
            "Forwarding from [::1]:38123 -> 80\nForwarding from 127.0.0.1:38123 -> 80",
            "Forwarding from 127.0.0.1:8000 -> 80",
        ),
        ("Namespace:    kubelesson-3-x7k2p", "Namespace:  default"),
        # a namespace that merely starts like the sandbox's is another namespace
        ("No resources found in kubelesson-3-x7k2p-old namespace.", None),
        # another number that contains the port's digits is another number
        ("Forwarding from 127.0.0.1:381234 -> 80", None),
    ],
)
def test_context_maps_the_sandbox_back(used: str, shown: str | None) -> None:
    ctx = Context({"kubelesson-3-x7k2p": "default"}, {38123: 8000})
    out = normalize(_one("kubectl get pods", used), ctx).entries[0].output
    assert out == (shown if shown is not None else used)


def test_context_applies_to_commands() -> None:
    ctx = Context({"kubelesson-3-x7k2p": "default"}, {38123: 8000})
    t = Transcript(
        (
            Entry("kubectl port-forward pod/caddy 38123:80"),
            Entry("curl -s http://localhost:38123/ | grep -o 'Caddy works!'", "Caddy works!"),
            Entry("kubectl get pods -n kubelesson-3-x7k2p"),
        )
    )
    assert [e.command for e in normalize(t, ctx).entries] == [
        "kubectl port-forward pod/caddy 8000:80",
        "curl -s http://localhost:8000/ | grep -o 'Caddy works!'",
        "kubectl get pods -n default",
    ]


# --- the rule file -------------------------------------------------------------------------------


def test_every_rule_has_a_name_and_a_reason() -> None:
    data = yaml.safe_load((Path(__file__).parent.parent / "kubelesson" / "rules.yaml").read_text(encoding="utf-8"))
    names = [rule["name"] for section in data.values() for rule in section]
    assert len(names) == len(set(names)), "rule names must be unique"
    for section in data.values():
        for rule in section:
            assert rule.get("why"), rule["name"]
    assert default_rules() is default_rules()  # loaded once


@pytest.mark.parametrize(
    "data",
    [
        {"text_rules": [{"name": "x", "pattern": "(", "replace": ""}]},
        {"text_rules": [{"name": "x", "pattern": "a", "replace": "", "typo": 1}]},
        {"text_rules": [{"pattern": "a", "replace": ""}]},
        {"text_rules": [{"name": "x", "pattern": "a"}]},
        {"text_rules": [{"name": "x", "pattern": "a", "action": "shred"}]},
        {"columns": [{"name": "x", "pattern": "a", "replace": "b"}]},
        {"colums": []},
        [],
    ],
)
def test_a_malformed_rule_file_is_refused(data: Any) -> None:
    with pytest.raises(RuleFileError):
        rules_from_data(data)


def test_a_maintainer_can_add_a_rule_as_data() -> None:
    data = yaml.safe_load((Path(__file__).parent.parent / "kubelesson" / "rules.yaml").read_text(encoding="utf-8"))
    data["text_rules"].append(
        {
            "name": "kustomize-version",
            "why": "test",
            "pattern": r"^(Kustomize Version: )v\S+$",
            "replace": r"\1<v>",
        }
    )
    rules = rules_from_data(data)
    t = _one("kubectl version", "Client Version: v1.30.0\nKustomize Version: v5.0.4")
    result, changes = explain(t, rules=rules)
    assert result.entries[0].output == "Client Version: v1.30.0\nKustomize Version: <v>"
    assert [c.rule for c in changes] == ["kustomize-version"]


# --- never too loose, never too strict ------------------------------------------------------------

MUST_DIFFER = [
    ("pod/caddy created", "pod/caddy unchanged"),
    ("pod/caddy created", "pod/caddy configured"),
    ('pod "caddy" deleted', 'pod "caddy" force deleted'),
    ('pod "caddy" deleted', 'pod "caddy" deleted (dry run)'),
    ('pod "caddy" deleted', 'pod "kaddy" deleted'),
    (
        'Error from server (NotFound): pods "caddy" not found',
        'Error from server (AlreadyExists): pods "caddy" already exists',
    ),
    ("No resources found in default namespace.", "No resources found in kube-system namespace."),
    ("No resources found in default namespace.", "No resources found."),
    ("Forwarding from 127.0.0.1:8000 -> 80", "Forwarding from 127.0.0.1:8000 -> 8080"),
    ("Forwarding from 127.0.0.1:8000 -> 80", "Forwarding from 127.0.0.1:8001 -> 80"),
    # an event of another reason, type or source
    ("  Normal  Scheduled  3s  default-scheduler  x", "  Warning  Scheduled  3s  default-scheduler  x"),
    ("  Normal  Pulled  3s  kubelet  x", "  Normal  Pulling  3s  kubelet  x"),
    # a volume attributes class that is set is not dropped
    (
        "NAME   STATUS   STORAGECLASS   AGE\nd      Bound    local-path     1s",
        "NAME   STATUS   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE\nd      Bound    local-path     gold   1s",
    ),
    # how many endpoints a Service has, their port, and a policy other than the default
    ("Endpoints:  10.42.0.5:80,10.42.1.5:80", "Endpoints:  10.42.0.5:80"),
    ("Endpoints:  10.42.0.5:80", "Endpoints:  10.42.0.5:8080"),
    ("Internal Traffic Policy:  Cluster", "Internal Traffic Policy:  Local"),
    ("Caddy works!", ""),
    ("pod/caddy condition met", "error: timed out waiting for the condition on pods/caddy"),
    ("E0101 00:00:00.000000 1 portforward.go:1] a", "W0101 00:00:00.000000 1 portforward.go:1] a"),
    (
        "NAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          1m",
        (
            "NAME    READY   STATUS    RESTARTS   AGE\n"
            "caddy   1/1     Running   0          1m\n"
            "web     1/1     Running   0          1m"
        ),
    ),
    (
        (
            "NAME    READY   STATUS    RESTARTS   AGE   IP          NODE\n"
            "caddy   1/1     Running   0          1m    10.0.0.1    k3d-a"
        ),
        (
            "NAME    READY   STATUS    RESTARTS   AGE   IP          NODE\n"
            "caddy   1/1     Running   0          1m    <none>      k3d-a"
        ),
    ),
    (
        (
            "NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
            "web     ClusterIP   None         <none>        80/TCP    1m"
        ),
        (
            "NAME    TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE\n"
            "web     ClusterIP   10.0.0.7     <none>        80/TCP    1m"
        ),
    ),
    (
        (
            "NAME    TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE\n"
            "web     LoadBalancer   10.0.0.7     <pending>     80:30001/TCP   1m"
        ),
        (
            "NAME    TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE\n"
            "web     LoadBalancer   10.0.0.7     172.18.0.2    80:30001/TCP   1m"
        ),
    ),
]


@pytest.mark.parametrize(("one", "other"), MUST_DIFFER)
def test_what_means_something_stays_different(one: str, other: str) -> None:
    assert normalize(_one("kubectl x", one)) != normalize(_one("kubectl x", other))


def test_exit_codes_stay_different() -> None:
    same = 'Error from server (NotFound): pods "caddy" not found'
    assert normalize(Transcript((Entry("kubectl x", same, 1),))) != normalize(Transcript((Entry("kubectl x", same),)))


MUST_EQUAL = [
    ('pod "caddy" deleted', 'pod "caddy" deleted from default namespace'),
    ('pod "caddy" force deleted', 'pod "caddy" force deleted from default namespace'),
    ('pod "caddy" deleted (dry run)', 'pod "caddy" deleted from default namespace (dry run)'),
    (
        "Forwarding from 127.0.0.1:8000 -> 80",
        "I0710 14:43:38.274550    3655 portforward.go:225] Forwarding from 127.0.0.1:8000 -> 80",
    ),
    (
        # The chapters show a port-forward before anything connected: no "Handling connection".
        "Forwarding from 127.0.0.1:8000 -> 80",
        "Forwarding from 127.0.0.1:8000 -> 80\nForwarding from [::1]:8000 -> 80\n"
        "Handling connection for 8000\nHandling connection for 8000",
    ),
    (
        "NAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          12m",
        "NAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          4s  ",
    ),
    (
        (
            "NAME                     READY   STATUS    RESTARTS      AGE\n"
            "caddy-766687f85d-k5wx5   1/1     Running   2 (3m ago)    5m"
        ),
        (
            "NAME                    READY     STATUS    RESTARTS        AGE\n"
            "caddy-bd8fb7cbd-vflm9   1/1       Running   2 (1h2m ago)    9d"
        ),
    ),
    # describe service: kubectl 1.30 (the chapter) and 1.31+ (EndpointSlices, one more line).
    (
        "Name:              caddy\nIP:                10.43.13.144\nPort:              web  80/TCP\n"
        "Endpoints:         10.42.0.5:80,10.42.1.5:80,10.42.2.4:80\nSession Affinity:  None\n"
        "Events:            <none>",
        "Name:                     caddy\nIP:                       10.43.7.1\nPort:                     web  80/TCP\n"
        "Endpoints:                10.42.3.9:80,10.42.1.2:80,10.42.0.4:80\nSession Affinity:         None\n"
        "Internal Traffic Policy:  Cluster\nEvents:                   <none>",
    ),
    # describe's Events table: ages, repeat counts and the widths they bring
    (
        "Events:\n  Type    Reason                Age                   From                         Message\n"
        "  ----    ------                ----                  ----                         -------\n"
        "  Normal  WaitForFirstConsumer  10s (x11 over 2m35s)  persistentvolume-controller  waiting for first",
        "Events:\n  Type    Reason                Age   From                         Message\n"
        "  ----    ------                ----  ----                         -------\n"
        "  Normal  WaitForFirstConsumer  3s    persistentvolume-controller  waiting for first",
    ),
    # get pvc from a 1.28 server and from a newer one with the <unset> attributes class.
    (
        "NAME      STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   AGE\n"
        "mariadb   Pending                                      local-path     107s",
        "NAME      STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE\n"
        "mariadb   Pending                                      local-path     <unset>                 3s",
    ),
    # a Pending claim with no storage class: only NAME, STATUS and AGE are filled in
    (
        "NAME           STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   AGE\n"
        "postgres-pvc   Bound     pv01     50Mi       RWO                           87s\n"
        "toobig         Pending                                                     15s",
        "NAME           STATUS    VOLUME   CAPACITY   ACCESS MODES   STORAGECLASS   AGE\n"
        "postgres-pvc   Bound     pv01     50Mi       RWO                           2d\n"
        "toobig         Pending                                                     9h",
    ),
    # an object as YAML from two installs: identity and Helm's chart labels differ.
    (
        "metadata:\n  labels:\n    helm.sh/chart: traefik-25.0.2_up25.0.0\n  name: traefik\n"
        '  resourceVersion: "706"\n  uid: 9c10b08f-54ca-4e48-9e04-5979cc69fb26',
        "metadata:\n  labels:\n    helm.sh/chart: traefik-34.2.1_up34.2.0\n    app.kubernetes.io/version: 3.3.2\n"
        '  name: traefik\n  resourceVersion: "1123"\n  uid: 0a9e4c1d-1111-4e48-9e04-5979cc69fb26',
    ),
]


@pytest.mark.parametrize(("one", "other"), MUST_EQUAL)
def test_what_only_varies_normalizes_equal(one: str, other: str) -> None:
    assert normalize(_one("kubectl x", one)) == normalize(_one("kubectl x", other))
