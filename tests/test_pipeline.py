"""run_pipeline end to end on mock NWB files, with a stand-in network."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb
from nwb_dicpop.testing.network import write_mock_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_mock_weights(tmp_path_factory.mktemp("weights"), model="stg")


@pytest.fixture
def recording(tmp_path):
    """Three units: a tonic spiker, a burster, and a nearly silent unit."""
    spiker = np.arange(0.05, 3.0, 0.1)
    onsets = np.arange(0.1, 2.9, 0.4)
    burster = np.sort((onsets[:, None] + 0.008 * np.arange(4)).ravel())
    silent = np.array([1.5])
    return write_mock_nwb(tmp_path / "session.nwb", {0: spiker, 1: burster, 2: silent}, duration=3.0)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pipeline_end_to_end_writes_and_reports_every_unit(recording, weights):
    before = _digest(recording)
    result = ndp.run_pipeline(recording, model="stg", n_models=4, duration=0.5, transient=0.5, weights=weights, seed=1)
    assert _digest(recording) == before  # the input is never modified
    assert result.output == recording.with_name("session_dicpop.nwb")
    summary = result.summary.set_index("unit_id")
    assert list(summary.index) == [0, 1, 2]
    assert summary.loc[2, "status"] != "ok"  # silent: reported with a reason, not dropped
    assert summary.loc[2, "n_models"] == 0
    ok = summary[summary["status"] == "ok"]
    assert len(ok) == 2
    assert (ok["n_models"] == 4).all()
    assert ok["valid_fraction"].between(0, 1).all()
    stored = ndp.read_results(result.output)
    assert len(stored.populations) == 2
    assert stored.validation is not None
    assert stored.provenance["settings"]["seed"] == 1


def test_same_seed_same_result_and_serial_equals_dask(recording, weights):
    kwargs = {"model": "stg", "n_models": 6, "validate": False, "write": False, "weights": weights, "seed": 3}
    first = ndp.run_pipeline(recording, **kwargs)
    second = ndp.run_pipeline(recording, **kwargs)
    for a, b in zip(first.populations, second.populations, strict=True):
        np.testing.assert_array_equal(a.conductances, b.conductances)
    parallel = ndp.run_pipeline(recording, scheduler="local", **kwargs)
    for a, b in zip(first.populations, parallel.populations, strict=True):
        np.testing.assert_array_equal(a.conductances, b.conductances)


def test_unit_selection_and_bad_input(recording, weights):
    result = ndp.run_pipeline(recording, model="stg", n_models=3, validate=False, write=False, unit_ids=[1], weights=weights)
    assert result.summary["unit_id"].tolist() == [1]
    with pytest.raises(ValueError, match="n_models"):
        ndp.run_pipeline(recording, model="stg", n_models=0, weights=weights)
    with pytest.raises(ValueError, match="Did you mean 'stg'"):
        ndp.run_pipeline(recording, model="sgt", weights=weights)


def test_cli_run_infer_populate_show(recording, weights, tmp_path, capsys):
    import json

    from nwb_dicpop.cli import main

    out = tmp_path / "annotated.nwb"
    code = main(["run", str(recording), "-o", str(out), "--model", "stg", "--n-models", "3", "--no-validate",
                 "--weights", str(weights), "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["unit_id"] for r in rows] == [0, 1, 2]
    assert out.exists()
    assert main(["show", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["units"]) == 3
    dics_csv = tmp_path / "dics.csv"
    assert main(["infer", str(recording), "--model", "stg", "--weights", str(weights), "-o", str(dics_csv), "-q"]) == 0
    pops_csv = tmp_path / "pops.csv"
    assert main(["populate", "--model", "stg", "--dics", str(dics_csv), "--n-models", "2", "-o", str(pops_csv), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [r["n_models"] for r in table][:2] == [2, 2]
    assert main(["run", str(tmp_path / "none*.nwb"), "--model", "stg"]) == 1
    assert "no input matches" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path, capsys):
    import json

    from nwb_dicpop.cli import main

    weights = write_mock_weights(tmp_path / "w", model="stg")
    da_weights = write_mock_weights(tmp_path / "w", model="da")
    code = main(["demo", "--output-dir", str(tmp_path / "demo"), "--n-models", "4", "--stg-weights", str(weights),
                 "--da-weights", str(da_weights), "--json"])
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    models = {row["model"] for row in payload["comparison"]}
    assert models == {"stg", "da"}
    assert all(row["true_g_s"] is not None for row in payload["comparison"])
    assert (tmp_path / "demo" / "demo_summary.png").exists()
    for path in payload["annotated"].values():
        assert ndp.read_results(path).dics is not None


def test_validation_runs_on_dask_workers(recording, weights):
    """Brian2 imported inside worker threads (it sets a signal handler on import)."""
    result = ndp.run_pipeline(recording, model="stg", n_models=3, duration=0.5, transient=0.5, write=False,
                              weights=weights, scheduler="local", unit_ids=[0])
    assert result.summary["valid_fraction"].notna().all()
    assert result.validations[0].simulation.code_target == "cython"  # no silent fallback in workers


def test_uncertainty_scale_zero_puts_every_member_at_the_point_estimate(recording, weights):
    kwargs = {"model": "stg", "n_models": 5, "validate": False, "write": False, "weights": weights, "seed": 2}
    tight = ndp.run_pipeline(recording, uncertainty_scale=0.0, **kwargs)
    spread = ndp.run_pipeline(recording, **kwargs)
    assert tight.settings["uncertainty_scale"] == 0.0
    for population, row in zip(tight.populations, tight.summary[tight.summary["status"] == "ok"].itertuples(),
                               strict=True):
        np.testing.assert_array_equal(population.targets, [[row.g_s, row.g_u]] * 5)
        np.testing.assert_array_equal(population.target_std, [0.0, 0.0])
    assert all(np.ptp(p.targets[:, 0]) > 0 for p in spread.populations)
    with pytest.raises(ValueError, match="`uncertainty_scale` must be a number >= 0"):
        ndp.run_pipeline(recording, uncertainty_scale=-1.0, **kwargs)


def test_summary_status_and_populations_come_from_the_per_unit_api(recording, weights):
    from nwb_dicpop.compensation import unit_seed

    result = ndp.run_pipeline(recording, model="stg", n_models=5, validate=False, write=False, weights=weights,
                              seed=7, uncertainty_scale=0.5)
    summary = result.summary.set_index("unit_id")
    assert summary["status"].tolist() == ["ok", "ok", "silent"]
    assert summary["reason"].tolist()[:2] == ["", ""]
    assert "silent" in summary.loc[2, "reason"]
    expected = ndp.generate_unit_populations(result.dics, n_models=5, seed=7, uncertainty_scale=0.5)
    assert expected.status == ("ok", "ok", "silent")
    for got, want in zip(result.populations, expected.populations, strict=True):
        np.testing.assert_array_equal(got.conductances, want.conductances)
        np.testing.assert_array_equal(got.targets, want.targets)
        assert got.seed == want.seed == unit_seed(7, got.unit_id)


def test_batch_tasks_group_usable_units_and_results_do_not_depend_on_the_split():
    from nwb_dicpop._tasks import MEMBERS_PER_TASK, PopulationSettings, batch_tasks, run_batch
    from nwb_dicpop.testing import mock_dic_estimate

    dics = mock_dic_estimate(list(range(7)), silent=[0, 3], rng=1)
    settings = PopulationSettings(n_models=MEMBERS_PER_TASK // 2, seed=3, thresholds=False)  # 2 units per task
    serial = batch_tasks(dics, settings)
    assert [t.estimate.unit_ids for t in serial] == [(0, 1, 2, 3), (4, 5), (6,)]  # silent units ride along
    assert [t.n_populations for t in serial] == [2, 2, 1]
    spread = batch_tasks(dics, settings, distributed=True)  # at least 8 tasks wanted: one usable unit each
    assert [t.estimate.unit_ids for t in spread] == [(0, 1), (2, 3), (4,), (5,), (6,)]
    first = [o for task in serial for o in run_batch(task)]
    second = [o for task in spread for o in run_batch(task)]
    assert [o.status for o in first] == ["silent", "ok", "ok", "silent", "ok", "ok", "ok"]
    for a, b in zip(first, second, strict=True):
        assert (a.unit_id, a.status, a.reason) == (b.unit_id, b.status, b.reason)
        if a.population is not None:
            np.testing.assert_array_equal(a.population.conductances, b.population.conductances)
    assert batch_tasks(mock_dic_estimate([0], silent=[0]), settings)[0].n_populations == 0
    assert batch_tasks(mock_dic_estimate([]), settings) == []


def test_batch_tasks_need_one_observed_train_per_unit():
    from nwb_dicpop._tasks import BatchTask, PopulationSettings, SimulationWindow, batch_tasks
    from nwb_dicpop.testing import mock_dic_estimate

    dics = mock_dic_estimate([0, 1])
    settings = PopulationSettings(n_models=3)
    with pytest.raises(ValueError, match=r"one spike train per unit of the estimate \(2\); got 1"):
        batch_tasks(dics, settings, observed=[np.arange(5.0)])
    with pytest.raises(ValueError, match="`observed` spike trains are needed"):
        BatchTask(dics, settings, validation=SimulationWindow(duration=1.0, transient=0.5))
    with pytest.raises(ValueError, match="`uncertainty_scale` must be a number >= 0"):
        PopulationSettings(n_models=3, uncertainty_scale=float("inf"))


def test_run_batch_validates_reachable_units_and_reports_the_others():
    from nwb_dicpop._tasks import (
        PopulationSettings,
        SimulationWindow,
        batch_tasks,
        run_batch,
        target_estimate,
    )

    estimate = target_estimate("stg", ["far", "near"], [-15.0, 4.0], [5.0, 5.0])
    settings = PopulationSettings(n_models=2, seed=0, compensating_set=("A", "H"), thresholds=False)
    observed = [np.arange(0.05, 0.5, 0.05)] * 2
    (task,) = batch_tasks(estimate, settings, observed=observed, validation=SimulationWindow(duration=1.0, transient=0.5))
    far, near = run_batch(task)
    assert (far.status, far.population, far.validation) == ("unreachable", None, None)
    assert "cannot be reached with compensating set ('A', 'H')" in far.reason
    assert near.status == "ok"
    assert near.population.n_models == 2
    assert near.validation is not None
    assert len(near.validation.members) == 2
