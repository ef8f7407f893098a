"""The benchmark script runs and prints every figure (timings are not asserted: they are
benchmarks, see docs/performance.md), and the normalizer's fast paths give exactly what
its plain paths give: the shortcuts that make it fast must never change a result."""

from __future__ import annotations

import random
import re
import subprocess
import sys

import pytest

from kubelesson import lesson, normalize
from kubelesson.normalize import Context, Rules, rules_from_data
from kubelesson.transcript import Entry, Transcript
from tests.conftest import ROOT, Cli

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402


@pytest.mark.slow
def test_benchmark_script_runs_quickly(cli: Cli) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
        cwd=ROOT, env=cli.env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# kubelesson benchmarks:")
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["normalizer", "normalizer-deployment", "start-up", "simulator", "overhead", "reaction",
                     "check-all"]
    for line in lines[1:]:
        assert "(target:" in line and "=" in line
    assert "concurrent_5_errors=0" in result.stdout
    # check --all went over every lesson there is, serially and with -j 2.
    check_all = lines[-1]
    assert f"lessons={len(lesson.discover(ROOT))}," in check_all
    assert "serial_s=" in check_all and "j2_s=" in check_all


def test_deployment_shape_is_what_the_rules_mask() -> None:
    """The benchmark's Deployment tables are real `get pods` output: every name is masked to
    caddy-<hash>-<id> and every AGE to <age> (else it would time the wrong work)."""
    data = bench.deployment_transcript(200, seed=3)
    assert len(data.entries) >= 10
    for entry in normalize.normalize(data).entries:
        rows = entry.output.splitlines()
        assert len(rows) == 19
        assert rows[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        for row in rows[1:]:
            name, ready, _status, restarts, age = row.split()
            assert (name, ready, restarts, age) == ("caddy-<hash>-<id>", "1/1", "0", "<age>")


# --- the normalizer's fast paths against its plain ones ------------------------------------------

STATUSES = ["Running", "Pending", "ContainerCreating", "CrashLoopBackOff", "Completed", "Init:0/1"]
CELLS = ["redis-0", "k3d-hands-on-agent-1", "10.42.0.5", "<none>", "0 (5m ago)", "2 (43s ago)", "5m", "3d4h",
         "caddy-7d4b9c8f6d", "whoami-web-59586", "https", "x y", "", "-", "kubelesson-3-xk2p9", "80:30080/TCP",
         "10.0.0.1:80,10.0.0.2:80", "pod-template-hash=559688f7f", "…", "web-5d7f8", "a.b-59b4f8c7d6-q2w9z"]
HEADERS = [
    ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"],
    ["NAMESPACE", "NAME", "ENDPOINTS", "AGE"],
]


def _cell(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.35:
        pod_hash = "".join(rng.choice(bench.HASH_LETTERS) for _ in range(rng.randint(6, 10)))
        suffix = "".join(rng.choice(bench.SUFFIX_LETTERS) for _ in range(5))
        return f"{rng.choice(['caddy', 'web', 'a.b'])}-{pod_hash}-{suffix}"
    return rng.choice(CELLS + STATUSES)


def _table(rng: random.Random) -> str:
    """A table as kubectl prints it, or bent: 2 or 4 spaces apart, ragged rows, cut lines,
    empty cells, stray prose and elision lines in between."""
    header = rng.choice(HEADERS)
    rows = [header] + [[_cell(rng) for _ in header] for _ in range(rng.randint(0, 9))]
    pad = rng.choice([2, 3, 3, 3, 4])
    widths = [max(len(row[k]) for row in rows) + pad for k in range(len(header))]
    lines = []
    for row in rows:
        line = "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        bend = rng.random()
        if bend < 0.05:
            line = "  ".join(row)
        elif bend < 0.1:
            line = line[: rng.randint(0, len(line))]
        lines.append(line)
    if rng.random() < 0.3:
        lines.insert(rng.randint(0, len(lines)), rng.choice(["caddy-559688f7f-cx4hr is here", "...", "E0101 x"]))
    return "\n".join(lines)


def _transcript(seed: int, entries: int = 300) -> Transcript:
    rng = random.Random(seed)
    commands = ["kubectl get pods", "kubectl get pods -w", "kubectl get svc --sort-by=.metadata.name",
                "kubectl get all -n kubelesson-3-xk2p9"]
    return Transcript(tuple(Entry(rng.choice(commands), "\n".join(_table(rng) for _ in range(rng.randint(1, 3))))
                            for _ in range(entries)))


CONTEXTS = [Context(), Context(namespaces={"kubelesson-3-xk2p9": "default"}, ports={30080: 8000})]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ctx", CONTEXTS, ids=["no-context", "sandbox"])
def test_fast_normalize_equals_the_logged_path(seed: int, ctx: Context) -> None:
    """`explain` goes row by row and cell by cell, logging each change; `normalize` goes
    column by column through caches, aligned-row patterns and batched name rules. Twice, so
    the second run answers from the caches the first one filled."""
    data = _transcript(seed)
    explained, _ = normalize.explain(data, ctx)
    assert normalize.normalize(data, ctx) == explained
    assert normalize.normalize(data, ctx) == explained


NAME_RULES_NOT_LINE_LOCAL = {
    "names": [
        # \s can take in a line break: joined cells would run into each other.
        {"name": "spaced", "pattern": r"(\w+)-gen\s?(?=x)", "replace": r"\1-<gen>"},
        {"name": "whole", "pattern": r"\A[a-z]+-[0-9]{3}\Z", "replace": "<whole>"},
    ]
}


def test_name_rules_that_are_not_line_local_go_cell_by_cell() -> None:
    rules = rules_from_data(NAME_RULES_NOT_LINE_LOCAL)
    assert not rules.names_line_local
    output = "NAME            AGE\nabc-gen         1m\nxyz-123         2m\nabc-gen x       3m"
    data = Transcript((Entry("kubectl get pods", output),))
    assert normalize.normalize(data, rules=rules) == normalize.explain(data, rules=rules)[0]
    names = normalize.column_values(normalize.normalize(data, rules=rules).entries[0].output, "NAME")
    assert names == ["<whole>", "abc-<gen>x", "abc-gen"]


@pytest.mark.parametrize(("pattern", "local"), [
    (r"(?<![\w.-])([a-z0-9]+)-[4-9bcdf]{6,10}(?![\w.-])", True),
    (r"^Node:[ \t]+\S+$", True),
    (r"a.b|c(?=d)|\bx\B|(y)(?(1)z|w)|(?>q+)|r*+", True),
    (r"a\sb", False),
    (r"[^x]", False),
    (r"a\nb", False),
    (r"\Afoo", False),
    (r"foo\Z", False),
    (r"(?s:a.b)", False),
    (r"(?-m:^x)", False),
    (r"x(?=\W)", False),
    (r"[\x00-\x20]", False),
])
def test_which_patterns_keep_to_one_line(pattern: str, local: bool) -> None:
    assert normalize._line_local(re.compile(pattern, re.MULTILINE)) is local


def test_a_pattern_without_multiline_is_not_line_local() -> None:
    assert not normalize._line_local(re.compile(r"^x$"))


@pytest.mark.parametrize("template", [r"\1-<hash>-<id>", r"<\g<name>>", r"\g<0>!", r"\g<2>", r"a\\b\1", r"\1\2",
                                      "<plain>", r"\10"])
def test_replacement_functions_expand_as_re_does(template: str) -> None:
    pattern = re.compile(r"(?P<name>[a-z]+)-(\d+)?(x)?(y)?(z)?(a)?(b)?(c)?(d)?(e)?")
    replacement = normalize._replacement(pattern, template)
    for text in ["web-42 and caddy- and q-7x", "nothing here", "a-1b-2"]:
        assert pattern.sub(replacement, text) == pattern.sub(template, text)


def test_packaged_name_rules_are_line_local() -> None:
    """The shipped name rules must stay eligible for the batched pass: one that is not
    line-local would quietly halve the speed on Deployment tables (docs/performance.md)."""
    rules: Rules = normalize.default_rules()
    assert rules.names_line_local, "a name rule (or hint) can match across a line break: see _line_local"
