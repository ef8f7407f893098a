"""kubelesson installed the way a learner installs it: a wheel built from the repository
(sdist first, then the wheel from it, as `python -m build`, pipx and uv do), put into a
fresh virtual environment, run from an empty folder. The lessons and their manifests must
come with it, and `--root` must still name another course folder.

Everything here works offline: the build uses this environment's setuptools (no build
isolation), and the new environment gets kubelesson's dependencies as links to this
environment's copies of them, and nothing else of it (not the checkout's kubelesson).
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from tests.conftest import ROOT, kubectl_binary

pytestmark = pytest.mark.slow

SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "kubelesson", "transcripts", "examples")
DEPENDENCIES = ("click", "sh", "yaml", "_yaml")  # what [project] dependencies import as
NESTED = Path("examples/99_nested/deep/manifest.yaml")  # sub-folders of examples/ ship too


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the repository (so parallel test runs and the
    checkout's own build/ never meet), with one nested manifest added to the copy."""
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    (source / NESTED).parent.mkdir(parents=True)
    (source / NESTED).write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: nested\n")
    dist = tmp_path_factory.mktemp("dist")
    build_sdist = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    sdist = dist / run(sys.executable, "-c", build_sdist, dist, cwd=source).stdout.strip().splitlines()[-1]
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
        "--wheel-dir", dist, sdist, cwd=dist)
    (built,) = dist.glob("kubelesson-*.whl")
    return built


@dataclass
class Learner:
    venv: Path
    env: dict[str, str]

    def kubelesson(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "kubelesson"), *args], cwd=cwd, env=self.env,
                              capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def learner(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Learner:
    venv = tmp_path_factory.mktemp("learner") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=venv).stdout.strip())
    deps = venv.parent / "deps"
    deps.mkdir()
    for module in DEPENDENCIES:
        # Found on sys.path, not in sys.modules: `sh` replaces its module object when it is
        # imported (an earlier test in this worker may have), leaving it without a __spec__.
        spec = importlib.machinery.PathFinder.find_spec(module)
        if spec is None or spec.origin is None:
            continue  # _yaml: only where PyYAML has its C part
        origin = Path(spec.origin)
        found = origin.parent if origin.name == "__init__.py" else origin
        (deps / found.name).symlink_to(found)
    (purelib / "kubelesson-deps.pth").write_text(f"{deps}\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-index", "--no-deps", wheel,
        cwd=venv.parent)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{Path(kubectl_binary()).parent}:{env.get('PATH', '')}"
    return Learner(venv, env)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "anywhere"
    folder.mkdir()
    return folder


def _relative_files(folder: Path) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_the_wheel_carries_every_lesson_and_manifest(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    course = {f"kubelesson/course/{name}" for name in _relative_files(ROOT / "transcripts")
              | _relative_files(ROOT / "examples")}
    assert "kubelesson/course/transcripts/3.yaml" in course
    assert course <= names, sorted(course - names)
    assert f"kubelesson/course/{NESTED.as_posix()}" in names
    # The package itself, with its data; nothing of the repository beyond the course.
    assert {"kubelesson/rules.yaml", "kubelesson/py.typed", "kubelesson/cli.py"} <= names
    assert not [n for n in names if n.startswith(("transcripts/", "examples/", "tests/", "benchmarks/"))]


def test_the_installed_kubelesson_is_the_wheel_not_the_checkout(learner: Learner, empty: Path) -> None:
    python = str(learner.venv / "bin" / "python")
    where = subprocess.run([python, "-c", "import kubelesson; print(kubelesson.__file__)"],
                           cwd=empty, env=learner.env, capture_output=True, text=True, check=True).stdout
    assert Path(where.strip()).is_relative_to(learner.venv)


def test_list_and_show_from_an_empty_folder(learner: Learner, empty: Path) -> None:
    listed = learner.kubelesson("list", cwd=empty)
    assert listed.returncode == 0, listed.stderr
    from_checkout = subprocess.run([sys.executable, "-m", "kubelesson", "list"], cwd=ROOT, capture_output=True,
                                   text=True, check=True).stdout
    assert listed.stdout == from_checkout
    assert "  3  " in listed.stdout
    shown = learner.kubelesson("show", "3", cwd=empty)
    assert shown.returncode == 0, shown.stderr
    assert "kubectl apply -f ./examples/3_pod.yaml" in shown.stdout
    assert list(empty.iterdir()) == []  # nothing written where the learner happened to be


def test_check_runs_the_packaged_manifests_from_an_empty_folder(learner: Learner, empty: Path,
                                                                 shared_sim: SimHandle) -> None:
    """`kubectl apply -f ./examples/3_pod.yaml` runs in the installed course folder."""
    learner.env.update(shared_sim.env())
    checked = learner.kubelesson("check", "3", "--context", "kubelesson-sim", cwd=empty)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "PASS" in checked.stdout
    assert list(empty.iterdir()) == []


def test_root_and_the_current_course_folder_come_before_the_packaged_course(learner: Learner, tmp_path: Path) -> None:
    own = tmp_path / "my-course"
    shutil.copytree(ROOT / "examples", own / "examples")
    (own / "transcripts").mkdir()
    text = (ROOT / "transcripts" / "3.yaml").read_text(encoding="utf-8")
    (own / "transcripts" / "41.yaml").write_text(text.replace("lesson: 3", "lesson: 41", 1), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_root = learner.kubelesson("list", "--root", str(own), cwd=elsewhere)
    assert by_root.returncode == 0, by_root.stderr
    assert [line.split()[0] for line in by_root.stdout.splitlines()] == ["41"]
    in_folder = learner.kubelesson("list", cwd=own)
    assert in_folder.stdout == by_root.stdout
    # An explicit --root without lessons is an error, not a quiet fallback to the packaged course.
    missing = learner.kubelesson("list", "--root", str(elsewhere), cwd=own)
    assert missing.returncode == 2
    assert str(elsewhere / "transcripts") in missing.stderr
    assert "Traceback" not in missing.stderr
