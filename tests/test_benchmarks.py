"""The identifiability benchmark runs on the committed test sets and reports what it claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_identifiability.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env, check=False)


def test_identifiability_benchmark_on_its_own_reference():
    """With the test set as its own reference and k=1, each train's nearest neighbour in rate is
    itself, so the rate baseline is exact; the network is not."""
    data = ROOT / "tests" / "data" / "da-test-v1.npz"
    result = _run("--model", "da", "--reference", str(data), "--test", str(data), "--k", "1", "2")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if re.match(r"(spiking|bursting)\s+\d+\s", line)}
    assert set(rows) == {"spiking", "bursting"}
    numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", rows["spiking"])]
    network_gs, network_gu = numbers[0], numbers[1]
    rate1_gs, rate1_gu = numbers[4], numbers[5]
    assert network_gs > 1.0
    assert network_gu > 0.3
    assert rate1_gs < 1e-6
    assert rate1_gu < 1e-6
    assert "rate floor" in result.stdout
    assert "issue-4 targets" in result.stdout


def test_identifiability_benchmark_rejects_another_models_reference():
    result = _run("--model", "stg", "--reference", str(ROOT / "tests" / "data" / "da-test-v1.npz"))
    assert result.returncode == 2
    assert "must both hold 'stg' trains" in result.stderr


def test_identifiability_benchmark_names_a_missing_reference(tmp_path):
    result = _run("--model", "da", "--reference", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert "No dataset at" in result.stderr
    assert "Traceback" not in result.stderr
