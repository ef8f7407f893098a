"""Every lesson's golden transcript, checked with pytest-golden against the simulator.

`pytest --update-goldens tests/test_goldens.py` re-records the goldens (the lesson files'
`transcript` key) from fresh runs; comments and key order of the files are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubelesson import core, lesson

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.golden_test("../transcripts/*.yaml")
def test_lesson_golden_matches_a_fresh_run(golden: Any, shared_sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in shared_sim.env().items():
        monkeypatch.setenv(key, value)
    found = lesson.load(Path(golden.path))
    # Read every key, so pytest-golden knows the whole file is in use.
    assert golden["lesson"] == found.number
    assert golden["title"] and golden["steps"]
    golden.get("objects"), golden.get("cleanup")
    result = core.run(core.Options(root=ROOT, context="kubelesson-sim"), found)
    assert core.golden_of(result) == golden.out["transcript"]
