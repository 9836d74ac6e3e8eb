"""Every benchmark script answers --help with its usage and exit 0, running nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if "__main__" in p.read_text())


def test_scripts_were_found():
    assert {"cache.py", "reward_economy.py"} <= {p.name for p in SCRIPTS}
    assert "common.py" not in {p.name for p in SCRIPTS}  # a library module


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_answers_help(script, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:") and script.name in done.stdout.splitlines()[0], done.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written
