"""The benchmark script runs and prints every figure (timings are not asserted: they are
benchmarks, see docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, Cli


def test_benchmark_script_runs_quickly(cli: Cli) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--quick"],
        cwd=ROOT, env=cli.env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# kubelesson benchmarks:")
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["normalizer", "start-up", "simulator", "overhead", "reaction"]
    for line in lines[1:]:
        assert "(target:" in line and "=" in line
    assert "concurrent_5_errors=0" in result.stdout
