"""Property tests of the normalizer (hypothesis) over generated ``kubectl get pods`` tables:
idempotence, that what must differ stays different (status, READY, restarts, names, row
count, the order of a watch), and that what legitimately varies normalizes equal (AGE, IPs,
nodes, generated suffixes, column spacing, row order).

No golden files here, so pytest-golden's assertion-pass hook is switched off for these
tests: pytest rewrites the asserts of plugin packages too (hypothesis's own), and with the
hook on it builds an explanation for each of them that passes, which made these tests ten
times slower.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kubelesson.normalize import Context, column_values, normalize
from kubelesson.transcript import Entry, Transcript

STATUSES = (
    "Pending",
    "ContainerCreating",
    "Running",
    "Terminating",
    "Completed",
    "Error",
    "CrashLoopBackOff",
    "ErrImagePull",
    "ImagePullBackOff",
    "Init:0/1",
    "Init:CrashLoopBackOff",
    "PodInitializing",
    "Unknown",
)
# Hand-picked names: dash-separated parts of at most 4 characters never look generated
# (a generated suffix has 5, a pod-template-hash 6 to 10), so a changed name must show.
NAMES = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4}){0,2}", fullmatch=True)


pytestmark = pytest.mark.usefixtures("no_assertion_pass_hook")


AGES = st.from_regex(r"[1-9][0-9]?[smhd]|[1-9]m[1-5][0-9]s|[1-9]d[1-9]h", fullmatch=True)
SAFE = "bcdfghjklmnpqrstvwxz2456789"
HASH = st.text("456789bcdf", min_size=8, max_size=10).filter(lambda h: re.search("[4-9]", h) is not None)
SUFFIX = st.text(SAFE, min_size=5, max_size=5).filter(lambda s: re.search("[a-z]", s) is not None)


@st.composite
def pod_rows(draw: st.DrawFn) -> dict[str, Any]:
    total = draw(st.integers(1, 3))
    restarts = draw(st.integers(0, 12))
    ago = f" ({draw(AGES)} ago)" if restarts and draw(st.booleans()) else ""
    return {
        "name": draw(NAMES),
        "ready": f"{draw(st.integers(0, total))}/{total}",
        "status": draw(st.sampled_from(STATUSES)),
        "restarts": f"{restarts}{ago}",
        "age": draw(AGES),
        "ip": draw(st.sampled_from(["10.42.0.5", "10.244.1.17", "192.168.39.154", "<none>"])),
        "node": draw(st.sampled_from(["k3d-hands-on-agent-0", "kind-control-plane", "minikube"])),
    }


def table(rows: list[dict[str, Any]], *, wide: bool = False, pad: int = 3) -> str:
    """A table laid out like kubectl's tabwriter (``pad`` spaces between columns)."""
    header = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    keys = ["name", "ready", "status", "restarts", "age"]
    if wide:
        header += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
        keys += ["ip", "node"]
    cells = [header] + [[row[k] for k in keys] + (["<none>", "<none>"] if wide else []) for row in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = []
    for r in cells:
        line = "".join(c.ljust(w + pad) for c, w in zip(r[:-1], widths[:-1], strict=True)) + r[-1]
        lines.append(line.rstrip())
    return "\n".join(lines)


def _one(command: str, output: str) -> Transcript:
    return Transcript((Entry(command, output),))


def _normalized_output(command: str, output: str) -> str:
    return normalize(_one(command, output)).entries[0].output


ROWS = st.lists(pod_rows(), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, wide=st.booleans(), watch=st.booleans())
def test_tables_are_idempotent(rows: list[dict[str, Any]], wide: bool, watch: bool) -> None:
    command = "kubectl get pods" + (" -o wide" if wide else "") + (" -w" if watch else "")
    once = normalize(_one(command, table(rows, wide=wide)))
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, data=st.data())
def test_changing_what_matters_changes_the_normalized_table(rows: list[dict[str, Any]], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(["status", "ready", "restarts", "name"]))
    changed = [dict(row) for row in rows]
    row = changed[k]
    if field == "status":
        row["status"] = data.draw(st.sampled_from([s for s in STATUSES if s != row["status"]]))
    elif field == "ready":
        up, total = row["ready"].split("/")
        row["ready"] = f"{(int(up) + 1) % (int(total) + 1)}/{total}"
    elif field == "restarts":
        count, _, ago = row["restarts"].partition(" ")
        row["restarts"] = f"{int(count) + 1} {ago}".strip()
    else:
        row["name"] = data.draw(NAMES.filter(lambda n: n != row["name"]))
    # two rows that swap into each other's values describe the same set of pods
    assume(sorted(map(str, rows)) != sorted(map(str, changed)))
    command = "kubectl get pods"
    assert _normalized_output(command, table(rows)) != _normalized_output(command, table(changed))


@settings(max_examples=200, deadline=None)
@given(rows=ROWS, data=st.data())
def test_what_varies_between_runs_normalizes_equal(rows: list[dict[str, Any]], data: st.DataObject) -> None:
    other = []
    for row in rows:
        twin = dict(row)
        twin["age"] = data.draw(AGES)
        if " (" in row["restarts"]:
            twin["restarts"] = row["restarts"].split(" ")[0] + f" ({data.draw(AGES)} ago)"
        if row["ip"] != "<none>":
            twin["ip"] = data.draw(st.sampled_from(["10.42.3.9", "172.17.0.4", "10.1.0.166"]))
        twin["node"] = data.draw(st.sampled_from(["docker-desktop", "ha-demo-m02", "worker-1"]))
        other.append(twin)
    # generated names: the same deployment's pods with another hash and other suffixes
    deployment = [dict(row, name=f"caddy-{data.draw(HASH)}-{data.draw(SUFFIX)}") for row in rows]
    redeployed = [dict(row, name=f"caddy-{data.draw(HASH)}-{data.draw(SUFFIX)}") for row in other]
    order = data.draw(st.permutations(range(len(rows))))
    shuffled = [other[i] for i in order]
    command = "kubectl get pods -o wide"
    base = _normalized_output(command, table(rows, wide=True))
    assert base == _normalized_output(command, table(shuffled, wide=True, pad=data.draw(st.integers(2, 6))))
    assert _normalized_output(command, table(deployment, wide=True)) == _normalized_output(
        command, table([redeployed[i] for i in order], wide=True)
    )


@settings(max_examples=100, deadline=None)
@given(rows=ROWS)
def test_watch_keeps_the_order_of_events(rows: list[dict[str, Any]]) -> None:
    output = _normalized_output("kubectl get pods -w", table(rows))
    assert column_values(output, "STATUS") == [row["status"] for row in rows]
    assert column_values(output, "NAME") == [row["name"] for row in rows]


@settings(max_examples=100, deadline=None)
@given(rows=ROWS)
def test_row_count_is_kept(rows: list[dict[str, Any]]) -> None:
    output = _normalized_output("kubectl get pods", table(rows + rows[:1]))
    assert len(output.splitlines()) == len(rows) + 2


# --- idempotence over real outputs, cut up and mixed -----------------------------------------


def _corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted((Path(__file__).parent / "normalize_cases").glob("*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        lines += str(case.get("input") or case.get("transcript") or "").split("\n")
    return lines


CORPUS_LINES = _corpus_lines()


@st.composite
def mangled_line(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(CORPUS_LINES))
    how = draw(st.sampled_from(["keep", "keep", "cut", "indent", "squeeze", "unspace"]))
    if how == "cut":
        return line[: draw(st.integers(0, len(line)))]
    if how == "indent":
        return "  " + line
    if how == "squeeze":
        return line.replace("   ", "  ", 1)
    if how == "unspace":
        return line.replace(" ", "", 1)
    return line


@settings(max_examples=1000, deadline=None)
@given(
    lines=st.lists(mangled_line(), min_size=1, max_size=10),
    command=st.sampled_from(
        ["kubectl get pods", "kubectl get pods -w", "kubectl get all -A", "kubectl port-forward pod/caddy 38123:80"]
    ),
    sandbox=st.booleans(),
)
def test_mixed_real_outputs_are_idempotent(lines: list[str], command: str, sandbox: bool) -> None:
    ctx = Context({"kubelesson-3-x7k2p": "default"}, {38123: 8000}) if sandbox else Context()
    once = normalize(Transcript((Entry(command, "\n".join(lines)),)), ctx)
    assert normalize(once, ctx) == once
    assert normalize(once) == once
