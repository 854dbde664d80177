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
    assert summary.loc[2, "status"] == "silent"  # reported with a reason, not dropped
    assert summary.loc[2, "n_models"] == 0
    assert summary.loc[2, "n_simulated"] == 0
    assert np.isnan(summary.loc[2, "yield"])
    simulated = summary.loc[[0, 1]]
    assert set(simulated["status"]) <= {"ok", "partial", "not_reproduced"}
    assert (simulated["n_simulated"] <= 5 * 4).all()  # the default budget: 5 x n_models
    np.testing.assert_allclose(simulated["yield"], simulated["n_valid"] / simulated["n_simulated"])
    np.testing.assert_array_equal(simulated["valid_fraction"], simulated["yield"])
    assert (simulated["window_duration"] == 0.5).all()  # given: wins over the recording's duration
    assert (simulated["window_transient"] == 0.5).all()
    for population in result.populations:  # every returned member reproduces its unit's train
        validation = result.validations[population.unit_id]
        assert len(validation.members) == population.n_models
        assert validation.members["valid"].all()
        row = summary.loc[population.unit_id]
        assert population.n_models == (4 if row["status"] == "ok" else min(4, row["n_valid"]))
    stored = ndp.read_results(result.output)
    assert len(stored.populations) == len(result.populations)
    assert stored.provenance["settings"]["seed"] == 1
    assert stored.provenance["settings"]["unit_status"] == {str(u): s for u, s in summary["status"].items()}
    if result.populations:
        outcomes = stored.population_outcomes.set_index("unit_id")
        for population in result.populations:
            row = summary.loc[population.unit_id]
            assert outcomes.loc[population.unit_id, "n_simulated"] == row["n_simulated"]
            assert outcomes.loc[population.unit_id, "yield"] == pytest.approx(row["yield"])
            assert outcomes.loc[population.unit_id, "validation_status"] == row["status"]
            assert outcomes.loc[population.unit_id, "validation_duration"] == 0.5
        assert stored.validation["valid"].all()


def test_summary_names_both_classes_and_the_population_g_f(recording, weights):
    result = ndp.run_pipeline(recording, model="stg", n_models=4, validate=False, write=False, weights=weights)
    summary = result.summary.set_index("unit_id")
    statistics = result.statistics.set_index("unit_id")
    assert summary["firing_class"].tolist() == statistics["firing_class"].tolist()  # the ISI-CV rule
    assert summary["network_class"].tolist() == list(result.dics.network_class)  # the network's
    assert "g_f" not in summary  # the network does not infer it
    for population in result.populations:
        assert summary.loc[population.unit_id, "g_f_population"] == pytest.approx(population.dics[:, 0].mean())
    assert np.isnan(summary.loc[2, "g_f_population"])
    assert summary["n_simulated"].tolist() == [0, 0, 0]  # validate=False: nothing simulated
    assert summary["window_duration"].isna().all()


def test_default_window_fits_the_recording_and_the_model(recording, weights):
    from nwb_dicpop.validation import MAX_WINDOW, MIN_WINDOW, validation_window

    result = ndp.run_pipeline(recording, model="stg", n_models=2, write=False, weights=weights, unit_ids=[0],
                              max_rounds=1)
    row = result.summary.iloc[0]
    spikes = result.spikes
    recorded = float(spikes.t_stop[0] - spikes.t_start[0])
    assert (row["window_duration"], row["window_transient"]) == validation_window(recorded, "stg")
    assert row["window_transient"] == ndp.get_model("stg").training.transient == 3.0
    assert row["window_duration"] == pytest.approx(np.floor(recorded * 10) / 10)
    if result.populations:
        assert result.validations[0].simulation.duration == row["window_duration"]
    assert validation_window(3600.0, "da") == (MAX_WINDOW, 3.0)
    assert validation_window(0.3, "da") == (MIN_WINDOW, 3.0)
    with pytest.raises(ValueError, match="duration in seconds"):
        validation_window(float("nan"), "stg")


def test_output_is_checked_before_any_work(recording, weights, monkeypatch):
    from nwb_dicpop import pipeline

    existing = recording.with_name("taken.nwb")
    existing.write_bytes(b"x")
    monkeypatch.setattr(pipeline, "read_recording", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ndp.run_pipeline(recording, model="stg", output=existing, weights=weights)
    with pytest.raises(ValueError, match=r"local \.nwb input"):
        ndp.run_pipeline(str(recording).replace(".nwb", ".csv"), model="stg", weights=weights)


def test_time_unit_and_sort_reach_the_reader(tmp_path, weights):
    spikes = ndp.SpikeTrains([np.arange(0.05, 3.0, 0.1) * 1000.0], [0], t_start=0.0, t_stop=3000.0)
    source = write_mock_nwb(tmp_path / "ms.nwb", spikes)
    with pytest.warns(ndp.TimeUnitWarning):
        ndp.run_pipeline(source, model="stg", n_models=2, validate=False, write=False, weights=weights)
    result = ndp.run_pipeline(source, model="stg", n_models=2, validate=False, weights=weights, time_unit="ms")
    np.testing.assert_allclose(result.spikes.times[0], np.arange(0.05, 3.0, 0.1))
    assert result.spikes.t_stop[0] == pytest.approx(3.0)
    assert ndp.read_results(result.output).provenance["settings"]["time_unit"] == "ms"
    table = tmp_path / "unsorted.csv"
    table.write_text("unit,time\n0,0.3\n0,0.1\n0,0.2\n0,0.5\n")
    ordered = ndp.run_pipeline(table, model="stg", n_models=2, validate=False, write=False, weights=weights,
                               sort=True)
    np.testing.assert_allclose(ordered.spikes.times[0], [0.1, 0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="`time_unit` must be"):
        ndp.run_pipeline(table, model="stg", validate=False, write=False, weights=weights, time_unit="h")


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
    assert result.summary["yield"].notna().all()
    serial = ndp.run_pipeline(recording, model="stg", n_models=3, duration=0.5, transient=0.5, write=False,
                              weights=weights, unit_ids=[0])
    assert result.summary.drop(columns="reason").equals(serial.summary.drop(columns="reason"))
    for a, b in zip(result.populations, serial.populations, strict=True):
        np.testing.assert_array_equal(a.conductances, b.conductances)
        assert result.validations[a.unit_id].simulation.code_target == "cython"  # no silent fallback in workers


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


# --------------------------------------------------------------------------- validated populations (rounds)


def _truth_task(n_models, *, rule="default", max_rounds=5, budget=5.0, seed=0, windows=None, g_s=(4.0,), g_u=(5.0,)):
    """A task whose units' trains come from member 0 of their own round-0 population (known DICs)."""
    from nwb_dicpop._tasks import (
        PopulationSettings,
        SimulationWindow,
        ValidationBudget,
        batch_tasks,
        target_estimate,
    )

    ids = [f"u{k}" for k in range(len(g_s))]
    estimate = target_estimate("stg", ids, list(g_s), list(g_u))
    settings = PopulationSettings(n_models=n_models, seed=seed, thresholds=False)
    windows = windows or [SimulationWindow(duration=1.0, transient=0.5)] * len(ids)
    observed = []
    for unit, window in zip(settings.generate(estimate), windows, strict=True):
        first = unit.population.conductances[:1]
        simulated = ndp.simulate_population(first, model="stg", duration=window.duration, transient=window.transient)
        observed.append(simulated.spike_times[0])
    budget = ValidationBudget(max_rounds=max_rounds, simulation_budget=budget, rule=rule)
    return batch_tasks(estimate, settings, observed=observed, validation=windows, budget=budget), observed


def test_rounds_return_exactly_n_valid_members_and_the_same_seed_gives_the_same_members():
    from nwb_dicpop._tasks import run_batch

    (task,), observed = _truth_task(6)
    (outcome,) = run_batch(task)
    assert outcome.status == "ok"
    assert outcome.reason == ""
    assert outcome.population.n_models == 6  # exactly n_models
    members = outcome.validation.members
    assert len(members) == 6
    assert members["valid"].all()  # every returned member reproduces the train
    assert outcome.validation.fraction_valid == 1.0
    assert 6 <= outcome.n_valid <= outcome.n_simulated <= 30
    assert outcome.n_rounds >= 1
    assert members["round"].is_monotonic_increasing
    # the kept members are the valid ones, in draw order: re-scoring them gives the same verdicts
    again = ndp.validate_population(observed[0], outcome.population, duration=1.0, transient=0.5)
    assert again.members["valid"].all()
    np.testing.assert_allclose(again.members["spiking_frequency"], members["spiking_frequency"])
    (repeat,) = run_batch(task)
    np.testing.assert_array_equal(repeat.population.conductances, outcome.population.conductances)
    assert (repeat.n_simulated, repeat.n_valid, repeat.n_rounds) == (outcome.n_simulated, outcome.n_valid,
                                                                     outcome.n_rounds)


def test_a_spent_budget_gives_partial_with_the_valid_members_kept():
    from nwb_dicpop._tasks import run_batch
    from nwb_dicpop.validation import ValidationRule

    # only a member firing at the observed frequency to 1e-9 is valid: member 0 of round 0 (the train's source)
    exact = ValidationRule(spiking_frequency=1e-9, name="exact")
    (task,), _ = _truth_task(3, rule=exact, max_rounds=2, budget=2.0)
    (outcome,) = run_batch(task)
    assert outcome.status == "partial"
    assert outcome.population.n_models == outcome.n_valid == 1
    assert outcome.validation.members["valid"].all()
    assert outcome.validation.members["round"].tolist() == [0]
    assert outcome.n_simulated == 6  # the budget: 2 x n_models
    assert outcome.n_rounds == 2
    assert "1 of 3 members" in outcome.reason
    assert "budget: 2 rounds, 6 members" in outcome.reason
    round_zero = task.populations.generate(task.estimate).populations[0]
    np.testing.assert_array_equal(outcome.population.conductances, round_zero.conductances[:1])


def test_a_train_no_member_reproduces_gets_no_population():
    from nwb_dicpop._tasks import SimulationWindow, ValidationBudget, batch_tasks, run_batch, target_estimate

    estimate = target_estimate("stg", ["tonic"], [4.0], [5.0])  # a tonic spiker's DICs ...
    burster = np.sort((np.arange(0.1, 1.0, 0.3)[:, None] + 0.004 * np.arange(6)).ravel())  # ... against bursts
    settings = ndp_settings(2)
    (task,) = batch_tasks(estimate, settings, observed=[burster], validation=SimulationWindow(1.0, 0.5),
                          budget=ValidationBudget(max_rounds=3, simulation_budget=3))
    (outcome,) = run_batch(task)
    assert outcome.status == "not_reproduced"
    assert outcome.population is None
    assert outcome.validation is None
    assert outcome.n_valid == 0
    assert outcome.n_simulated == 6
    assert "no valid member: 0 of 6" in outcome.reason


def ndp_settings(n_models):
    from nwb_dicpop._tasks import PopulationSettings

    return PopulationSettings(n_models=n_models, seed=0, thresholds=False)


def test_units_with_different_windows_are_simulated_over_their_own():
    from nwb_dicpop._tasks import SimulationWindow, run_batch

    windows = [SimulationWindow(duration=1.0, transient=0.5), SimulationWindow(duration=1.5, transient=0.5)]
    (task,), _ = _truth_task(2, windows=windows, g_s=(4.0, 3.0), g_u=(5.0, 5.5))
    first, second = run_batch(task)
    assert first.window == windows[0]
    assert second.window == windows[1]
    assert first.validation.simulation.duration == 1.0
    assert second.validation.simulation.duration == 1.5
    # the same units validated one at a time give the same members (the split does not matter)
    from nwb_dicpop._tasks import batch_tasks, select_units

    alone = batch_tasks(select_units(task.estimate, [1]), task.populations, observed=[task.observed[1]],
                        validation=[windows[1]], budget=task.budget)
    (again,) = run_batch(alone[0])
    np.testing.assert_array_equal(again.population.conductances, second.population.conductances)


def test_budget_settings_are_checked():
    from nwb_dicpop._tasks import ValidationBudget

    assert ValidationBudget().max_simulated(100) == 500
    assert ValidationBudget(simulation_budget=1.5).max_simulated(3) == 4
    with pytest.raises(ValueError, match="`simulation_budget` must be a number >= 1"):
        ValidationBudget(simulation_budget=0.5)
    with pytest.raises(ValueError, match="max_rounds"):
        ValidationBudget(max_rounds=0)
    with pytest.raises(ValueError, match="`rule` must be one of"):
        ValidationBudget(rule="lenient")


def test_members_are_drawn_from_a_joint_posterior_when_the_estimate_has_one():
    """``DICEstimate.sample`` (a joint posterior), when present, gives the members' targets."""
    import dataclasses

    from nwb_dicpop._tasks import PopulationSettings, draw_populations, member_targets
    from nwb_dicpop.containers import DICEstimate
    from nwb_dicpop.testing import mock_dic_estimate

    class Posterior(DICEstimate):
        __slots__ = ()

        @property
        def has_posterior(self):
            return True

        def sample(self, n, rng=None):
            rng = np.random.default_rng(rng)
            along = rng.normal(size=(self.n_units, n, 1)) * np.array([0.3, -0.2])  # a tilted line
            return np.stack([self.g_s, self.g_u], axis=1)[:, None, :] + along

    plain = mock_dic_estimate([0, 1, 2], silent=[1], rng=0)
    estimate = Posterior(**{f.name: getattr(plain, f.name) for f in dataclasses.fields(plain)})
    settings = PopulationSettings(n_models=5, seed=3, thresholds=False)
    drawn = draw_populations(estimate, settings, n_models=5, seed=3)
    assert drawn.status == ("ok", "silent", "ok")
    for unit, row in zip(drawn.populations, (0, 2), strict=True):
        assert unit.n_models == 5
        offsets = unit.targets - [estimate.g_s[row], estimate.g_u[row]]
        np.testing.assert_allclose(offsets[:, 0] / 0.3, -offsets[:, 1] / 0.2)  # on the posterior's line
        np.testing.assert_allclose(unit.dics[:, 1:], unit.targets, atol=1e-6)
    again = draw_populations(estimate, settings, n_models=5, seed=3)
    np.testing.assert_array_equal(again.populations[0].conductances, drawn.populations[0].conductances)
    point = member_targets(estimate, 4, np.random.default_rng(0), 0.0)
    np.testing.assert_array_equal(point[0], [[estimate.g_s[0], estimate.g_u[0]]] * 4)
    assert member_targets(plain, 4, np.random.default_rng(0), 1.0) is None  # no posterior: Gaussian draws
    gaussian = draw_populations(plain, settings, n_models=5, seed=3)  # as generate_unit_populations, unchanged
    expected = ndp.generate_unit_populations(plain, n_models=5, seed=3, thresholds=False)
    np.testing.assert_array_equal(gaussian.populations[0].conductances, expected.populations[0].conductances)
