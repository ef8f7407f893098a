"""The whole course at once: `kubelesson check --all` runs lessons 2 to 8 on one simulator
(two at a time, each in its own sandbox, taking turns on what a namespace does not isolate),
and `kubelesson docs` reads every chapter against the goldens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli

COURSE_DOCS = Path(__file__).resolve().parents[2] / "shared" / "course" / "docs"


def test_check_all_runs_every_lesson_on_one_simulator(sim_cli: Cli) -> None:
    result = sim_cli("check", "--all", "-j", "2", "--context", "kubelesson-sim", "--json", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lessons = json.loads(result.stdout)["lessons"]
    assert {lesson["lesson"]: lesson["passed"] for lesson in lessons} == {n: True for n in range(2, 9)}
    assert len({lesson["namespace"] for lesson in lessons}) == 7


@pytest.mark.skipif(not COURSE_DOCS.is_dir(), reason=f"the course's chapters are not at {COURSE_DOCS}")
def test_docs_on_the_whole_course_finds_only_chapter_5s_wrong_path(cli: Cli) -> None:
    result = cli("docs", str(COURSE_DOCS), "--root", str(ROOT), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    chapters = {chapter["chapter"]: chapter for chapter in json.loads(result.stdout)["chapters"]}
    for number in range(2, 9):  # every chapter with a lesson is read against it
        assert chapters[number]["lesson"] == number
        # Chapter 6 shows no command output of its own; the others have blocks compared.
        assert bool(chapters[number]["blocks"]) is (number != 6), chapters[number]
        assert chapters[number]["passed"] is (number != 5), chapters[number]
    assert [chapter for chapter in chapters.values() if chapter["drift"]] == [chapters[5]]
    failed = [line for line in cli("docs", str(COURSE_DOCS), "--root", str(ROOT), "--lang", "en").stdout.splitlines()
              if line.lstrip().startswith("✗")]
    assert failed == [f"  ✗ {COURSE_DOCS / '5_services.md'}:366  -f ./5_service.yaml"]
