"""Progress of run_pipeline: members simulated out of members drawn, as simulation goes."""

import json

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.cli import main
from nwb_dicpop.testing import write_mock_nwb
from nwb_dicpop.testing.network import write_mock_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_mock_weights(tmp_path_factory.mktemp("weights"), model="stg")


@pytest.fixture
def recording(tmp_path):
    spiker = np.arange(0.05, 3.0, 0.1)
    onsets = np.arange(0.1, 2.9, 0.4)
    burster = np.sort((onsets[:, None] + 0.008 * np.arange(4)).ravel())
    return write_mock_nwb(tmp_path / "session.nwb", {0: spiker, 1: burster, 2: np.array([1.5])}, duration=3.0)


def test_progress_counts_members_simulated_up_to_the_summary_total(recording, weights):
    calls = []
    result = ndp.run_pipeline(recording, model="stg", n_models=4, duration=0.3, transient=0.2, weights=weights,
                              seed=3, write=False, progress=lambda *call: calls.append(call))
    simulated = [(done, total) for stage, done, total in calls if stage == "members simulated"]
    assert len(simulated) >= 2  # reported as simulation goes, not only at the end
    done = [d for d, _ in simulated]
    assert done == sorted(done)  # monotonic
    assert all(0 <= d <= t for d, t in simulated)
    expected = int(result.summary["n_simulated"].sum())
    assert expected > 0
    assert simulated[-1] == (expected, expected)


def test_progress_without_validation_reports_units(recording, weights):
    calls = []
    ndp.run_pipeline(recording, model="stg", n_models=4, validate=False, weights=weights, write=False,
                     progress=lambda *call: calls.append(call))
    assert calls
    assert all(stage == "units" for stage, _, _ in calls)
    assert calls[-1][1] == calls[-1][2] == 2  # two units with a population; the silent one has none


def _run(path, weights, workers, capsys):
    code = main(["run", str(path), "--model", "stg", "--n-models", "3", "--duration", "0.3", "--transient", "0.2",
                 "--max-rounds", "2", "--weights", str(weights), "--no-write", "--seed", "5",
                 "--workers", str(workers), "--json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_run_with_two_workers_matches_the_serial_run(recording, weights, capsys):
    pytest.importorskip("distributed")
    serial = _run(recording, weights, 1, capsys)
    parallel = _run(recording, weights, 2, capsys)
    assert serial == parallel


def test_workers_with_a_scheduler_address_is_a_usage_error(recording, weights, capsys):
    code = main(["run", str(recording), "--model", "stg", "--weights", str(weights), "--no-write",
                 "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert code != 0
    assert "--workers" in capsys.readouterr().err
