"""``kill -9`` at random moments of a write: the input stays intact, the output is complete or absent.

Each trial starts a fresh process that writes (``write_results``, or the whole ``nwb-dicpop
run``), kills it with SIGKILL after a random delay drawn over the length of an undisturbed
run, then checks the input's bytes and that the output either does not exist or reads back
whole.  Temporary files left by the killed writer are removed by the next write of the same
target.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.testing import mock_spike_trains, write_mock_nwb

pytestmark = pytest.mark.slow

TRIALS = 20
UNITS = (0, 1, 2)

WRITE = """
import sys
import nwb_dicpop as ndp
from nwb_dicpop.testing import mock_dic_estimate
dics = mock_dic_estimate(unit_ids=(0, 1, 2), rng=0)
pops = [ndp.generate_population("stg", dics.g_s[k], dics.g_u[k], n_models=400, unit_id=u, rng=k)
        for k, u in enumerate(dics.unit_ids)]
ndp.write_results(sys.argv[1], sys.argv[2], dics=dics, populations=pops, overwrite=True)
"""


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=_env())
    return time.perf_counter() - start


def _kill_after(command: list[str], delay: float) -> None:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    try:
        process.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()


def _check_output(output: Path, n_members: int | None) -> str:
    """'absent' or 'complete' (a partial output fails the test)."""
    if not output.exists():
        return "absent"
    results = ndp.read_results(output)
    assert results.dics is not None
    assert sorted(results.dics.unit_ids) == list(UNITS)
    if n_members is not None:
        assert [p.n_models for p in results.populations] == [n_members] * len(UNITS)
    return "complete"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


@pytest.fixture
def source(tmp_path):
    spikes = mock_spike_trains(n_units=len(UNITS), rate=8.0, duration=20.0, rng=3)
    (tmp_path / "in").mkdir()
    return write_mock_nwb(tmp_path / "in" / "session.nwb", spikes)


def _trials(command: list[str], source: Path, output: Path, n_members: int | None) -> dict[str, int]:
    before = _digest(source)
    full = _timed(command)
    assert _check_output(output, n_members) == "complete"
    output.unlink()
    rng = np.random.default_rng(0)
    outcomes = {"absent": 0, "complete": 0}
    for _ in range(TRIALS):
        _kill_after(command, float(rng.uniform(0.0, 1.1 * full)))
        assert _digest(source) == before, "the input file changed"
        outcomes[_check_output(output, n_members)] += 1
        if output.exists():
            output.unlink()
    # one undisturbed write removes what the killed writers left behind
    subprocess.run(command, check=True, capture_output=True, env=_env())
    assert _leftovers(output.parent) == []
    assert _digest(source) == before
    return outcomes


def test_kill_during_write_results(source, tmp_path):
    output = tmp_path / "out" / "annotated.nwb"
    output.parent.mkdir()
    outcomes = _trials([sys.executable, "-c", WRITE, str(source), str(output)], source, output, 400)
    print("write_results kill trials:", outcomes)
    assert sum(outcomes.values()) == TRIALS


def test_kill_during_run(source, tmp_path):
    output = tmp_path / "out" / "annotated.nwb"
    output.parent.mkdir()
    cli = shutil.which("nwb-dicpop") or str(Path(sys.executable).parent / "nwb-dicpop")
    command = [cli, "run", str(source), "-o", str(output), "--model", "stg", "--n-models", "50",
               "--no-validate", "--overwrite", "-q"]
    outcomes = _trials(command, source, output, None)
    print("run kill trials:", outcomes)
    assert sum(outcomes.values()) == TRIALS
