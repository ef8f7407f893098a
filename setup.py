"""Build hook: the course ships inside the wheel.

Everything else about the package is in pyproject.toml. A learner installs kubelesson
with ``pipx install`` (or ``uv tool install``) and runs ``kubelesson check 3`` from any
folder, so the lessons (transcripts/) and their manifests (examples/, sub-folders too)
must be in the installed package. They stay where the course's layout puts them, at the
top of the repository; building the package copies them to ``kubelesson/course/``. An
editable install copies nothing: kubelesson finds the checkout itself (lesson.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
COURSE = ("transcripts", "examples")


class BuildPyWithCourse(build_py):  # type: ignore[misc]
    """build_py, then the course folders copied into the package being built."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "kubelesson" / "course"
        shutil.rmtree(target, ignore_errors=True)  # a lesson removed since the last build goes too
        for name in COURSE:
            shutil.copytree(HERE / name, target / name, ignore=shutil.ignore_patterns(".*", "__pycache__"))


setup(cmdclass={"build_py": BuildPyWithCourse})
