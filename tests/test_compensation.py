"""Compensation: base population, neuromodulation, redraws, reachability, uncertainty."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.compensation import candidate_sets, compensate

sys.path.insert(0, str(Path(__file__).parent))
from hh_model import REFERENCE, make_hh


@pytest.mark.parametrize(
    ("model", "g_s", "g_u"),
    [("stg", -4.0, 5.0), ("stg", 6.0, 3.0), ("stg", -12.0, 10.0), ("stg", -3.0, -0.5), ("da", -4.0, 5.0), ("da", 6.0, 8.0)],
)
def test_population_reaches_target_with_exact_size(model, g_s, g_u):
    pop = ndp.generate_population(model, g_s, g_u, n_models=200, rng=1)
    assert pop.n_models == 200
    assert pop.residual.max() < 1e-6
    # independent check through compute_dics
    dics = ndp.compute_dics(model, pop.conductances, ndp.get_model(model).threshold)
    np.testing.assert_allclose(dics[:, 1], g_s, atol=1e-6)
    np.testing.assert_allclose(dics[:, 2], g_u, atol=1e-6)
    np.testing.assert_allclose(pop.dics, dics, atol=1e-9)
    assert np.all(pop.conductances >= 0)
    assert pop.compensating_set == ndp.get_model(model).compensation_rule(g_s, g_u)
    assert np.isfinite(pop.threshold).mean() > 0.9


def test_spiking_base_population_matches_its_targets_and_published_means():
    stg = ndp.generate_spiking_population("stg", n_models=300, rng=0)
    np.testing.assert_allclose(stg.dics, np.broadcast_to([-6.2, 4.0, 5.0], (300, 3)), atol=1e-9)
    assert stg.conductances.min() >= 0
    da = ndp.generate_spiking_population("da", n_models=300, rng=0)
    np.testing.assert_allclose(da.dics, np.broadcast_to([-12.95, 0.5, 5.0], (300, 3)), atol=1e-9)
    # science.md 15: DA base means Na ~ 34.8, Kd ~ 7.8, ERG ~ 0.148, leak ~ 0.0126
    means = da.conductances.mean(axis=0)
    np.testing.assert_allclose(means[[0, 1, 4, 6]], [34.8, 7.8, 0.148, 0.0126], rtol=0.05)


def test_calcium_iteration_converges_beyond_a_fixed_count():
    """With CaS re-solved the sensitivities depend on the unknown: one solve is not enough."""
    base = ndp.generate_spiking_population("stg", n_models=100, rng=2).conductances
    goal = np.array([-4.0, 5.0])
    _once, residual_once, _ = compensate("stg", base, goal, ("CaS", "H"), max_iterations=1)
    _full, residual_full, n_iterations = compensate("stg", base, goal, ("CaS", "H"))
    assert residual_once.mean() > 1e-3  # science.md 5.3: ~0.25 for a single solve
    assert residual_full.max() < 1e-9
    assert 2 < n_iterations < 30


def test_same_seed_same_population_and_different_seed_differs():
    a = ndp.generate_population("stg", -4.0, 5.0, n_models=50, rng=7)
    b = ndp.generate_population("stg", -4.0, 5.0, n_models=50, rng=7)
    c = ndp.generate_population("stg", -4.0, 5.0, n_models=50, rng=8)
    np.testing.assert_array_equal(a.conductances, b.conductances)
    assert not np.allclose(a.conductances, c.conductances)
    assert a.seed == 7


def test_populations_of_many_targets_do_not_depend_on_the_batch():
    pops = ndp.generate_populations("stg", [-4.0, 5.0, -10.0], [5.0, 4.0, 12.0], n_models=40, rng=3, unit_ids=["a", "b", "c"])
    alone = ndp.generate_populations("stg", [-4.0, 5.0], [5.0, 4.0], n_models=40, rng=3)
    np.testing.assert_array_equal(pops[0].conductances, alone[0].conductances)
    np.testing.assert_array_equal(pops[1].conductances, alone[1].conductances)
    assert [p.unit_id for p in pops] == ["a", "b", "c"]
    assert {p.compensating_set for p in pops} == {("CaS", "H"), ("A", "H")}


def test_invalid_members_are_redrawn_not_dropped():
    # {CaT, CaS} reaches (0, 5) for only a fraction of base members
    pop = ndp.generate_population("stg", 0.0, 5.0, n_models=100, compensating_set=("CaT", "CaS"), rng=4)
    assert pop.n_models == 100
    assert pop.n_rejected > 0
    assert np.all(pop.conductances >= 0)
    limits = np.array([ndp.get_model("stg").conductance_limits[n] for n in pop.conductance_names])
    assert np.all(pop.conductances <= limits[:, 1])


def test_unreachable_target_says_which_region_and_which_sets():
    with pytest.raises(ndp.UnreachableTargetError, match=r"cannot be reached.*reaches g_s in about.*Sets that reach") as info:
        ndp.generate_population("stg", -15.0, 5.0, n_models=20, compensating_set=("A", "H"), rng=0)
    assert "('A', 'H')" in str(info.value)


def test_uncertain_targets_spread_the_members():
    pop = ndp.generate_population("stg", -4.0, 5.0, g_s_std=1.0, g_u_std=0.5, n_models=400, rng=5)
    assert pop.targets[:, 0].std() == pytest.approx(1.0, rel=0.15)
    assert pop.targets[:, 1].std() == pytest.approx(0.5, rel=0.15)
    np.testing.assert_allclose(pop.dics[:, 1:], pop.targets, atol=1e-6)
    np.testing.assert_array_equal(pop.target_std, [1.0, 0.5])


def test_user_chosen_and_auto_sets():
    pop = ndp.generate_population("stg", -4.0, 5.0, n_models=30, compensating_set=("CaT", "H"), rng=0)
    assert pop.compensating_set == ("CaT", "H")
    auto = ndp.choose_compensating_set("stg", -4.0, 5.0, method="auto")
    assert auto in {tuple(p) for p in candidate_sets("stg")} | {("CaS", "H")}
    reach = ndp.reachability_map("stg", auto, g_s_values=[-4.0], g_u_values=[5.0], n_models=50, rng=1)
    assert reach.fraction[0, 0] > 0.9
    pop = ndp.generate_population("stg", -4.0, 5.0, n_models=30, compensating_set="auto", rng=0)
    assert pop.residual.max() < 1e-6


def test_reachability_map_matches_published_qualitative_result():
    # science.md 6: {CaS, H} reaches nearly everywhere except g_s > ~10; {A, H} not below ~-10
    g_s = np.array([-12.0, -4.0, 4.0, 14.0])
    g_u = np.array([5.0, 10.0])
    cas_h = ndp.reachability_map("stg", ("CaS", "H"), g_s_values=g_s, g_u_values=g_u, n_models=40, rng=0)
    a_h = ndp.reachability_map("stg", ("A", "H"), g_s_values=g_s, g_u_values=g_u, n_models=40, rng=0)
    assert cas_h.fraction.shape == (2, 4)
    assert np.all(cas_h.fraction[:, :3] > 0.9)
    assert np.all(a_h.fraction[:, 2:] > 0.9)
    assert np.all(a_h.fraction[:, 0] < 0.1)
    assert cas_h.reachable(-4.1, 5.2) == cas_h.fraction[0, 1]


def test_third_model_populations():
    model = make_hh(tuple(ndp.compute_dics(make_hh((0, 0, 0)), REFERENCE, -51.0)))
    pop = ndp.generate_population(model, 0.6, 0.2, n_models=50, rng=0)
    assert pop.compensating_set == ("K", "M")
    assert pop.residual.max() < 1e-6


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_models": 0}, ValueError, "n_models"),
        ({"n_models": 2.5}, ValueError, "n_models"),
        ({"g_s": np.nan}, ValueError, "g_s"),
        ({"compensating_set": ("CaS",)}, ValueError, "compensating_set"),
        ({"compensating_set": ("CaS", "Hh")}, ValueError, "Did you mean 'H'"),
        ({"compensating_set": ("CaS", "leak")}, ValueError, "leak"),
        ({"compensating_set": "best"}, ValueError, "pair of conductance names"),
        ({"g_s_std": -1.0}, ValueError, "g_s_std"),
        ({"rng": 1.5}, TypeError, "rng"),
    ],
)
def test_bad_input_is_named(kwargs, error, match):
    args = {"g_s": -4.0, "g_u": 5.0, "n_models": 10, **kwargs}
    with pytest.raises(error, match=match):
        ndp.generate_population("stg", **args)


# --------------------------------------------------------------------------- per-unit populations
def _estimate(**changes):
    """Units 0-1 reachable by {A, H}, unit 2 not (g_s < -10), unit 3 silent."""
    import dataclasses

    from nwb_dicpop.testing import mock_dic_estimate

    dics = mock_dic_estimate([0, 1, "c", 3], g_s=[3.0, 5.0, -15.0, 4.0], g_u=[6.0, 4.0, 5.0, 5.0], silent=[3], rng=2)
    return dataclasses.replace(dics, **changes) if changes else dics


def test_unit_populations_give_the_scalar_populations_and_a_status_per_unit():
    from nwb_dicpop.compensation import unit_seed

    dics = _estimate()
    pops = ndp.generate_unit_populations(dics, n_models=15, seed=4, compensating_set=("A", "H"), thresholds=False)
    assert isinstance(pops, ndp.PopulationSet)
    assert pops.unit_ids == (0, 1, "c", 3)
    assert pops.status == ("ok", "ok", "unreachable", "silent")
    assert pops.ok.tolist() == [True, True, False, False]
    assert pops.reasons[:2] == ("", "")
    assert "cannot be reached" in pops.reasons[2]  # the UnreachableTargetError's whole message
    assert "silent" in pops.reasons[3]
    assert [p.unit_id for p in pops.populations] == [0, 1]
    for i, unit in enumerate(pops.units[:2]):
        alone = ndp.generate_population(
            "stg", dics.g_s[i], dics.g_u[i], n_models=15, g_s_std=dics.g_s_std[i], g_u_std=dics.g_u_std[i],
            compensating_set=("A", "H"), thresholds=False, unit_id=unit.unit_id, rng=unit_seed(4, unit.unit_id),
        )
        for name in ("conductances", "targets", "residual", "dics", "target_mean", "target_std"):
            np.testing.assert_array_equal(getattr(unit.population, name), getattr(alone, name))
        assert (unit.population.seed, unit.population.n_rejected) == (alone.seed, alone.n_rejected)
    # a unit's population does not depend on the other units
    (only,) = ndp.generate_unit_populations(
        _select(dics, [1]), n_models=15, seed=4, compensating_set=("A", "H"), thresholds=False
    ).populations
    np.testing.assert_array_equal(only.conductances, pops.populations[1].conductances)
    again = ndp.generate_unit_populations(dics, n_models=15, seed=5, compensating_set=("A", "H"), thresholds=False)
    assert not np.allclose(again.populations[0].conductances, pops.populations[0].conductances)


def _select(dics, rows):
    from nwb_dicpop._tasks import select_units

    return select_units(dics, rows)


def test_unit_populations_scale_the_uncertainty_and_skip_what_is_asked():
    dics = _estimate(out_of_distribution=[False, True, False, False], status=("ok", "ok", "too few spikes", "silent"))
    point = ndp.generate_unit_populations(dics, n_models=6, seed=0, uncertainty_scale=0, thresholds=False)
    assert point.status == ("ok", "ok", "no_estimate", "silent")
    assert "'too few spikes'" in point.get("c").reason
    for i, population in enumerate(point.populations):
        np.testing.assert_array_equal(population.targets, [[dics.g_s[i], dics.g_u[i]]] * 6)
        np.testing.assert_array_equal(population.target_std, [0.0, 0.0])
    skipped = ndp.generate_unit_populations(dics, n_models=6, seed=0, skip_out_of_distribution=True, thresholds=False)
    assert skipped.status == ("ok", "out_of_distribution", "no_estimate", "silent")
    assert skipped.get(1).population is None
    tight = ndp.generate_unit_populations(dics, n_models=6, seed=0, thresholds=False,
                                          compensation=ndp.CompensationSettings(max_residual=1e-9))
    assert max(p.residual.max() for p in tight.populations) <= 1e-9


def test_population_set_table_lookup_and_repr():
    pops = ndp.generate_unit_populations(_estimate(), n_models=5, seed=1, thresholds=False)
    table = pops.to_dataframe()
    assert table.columns.tolist() == ["unit_id", "status", "reason", "n_models", "compensating_set", "n_rejected"]
    assert table["n_models"].tolist() == [5, 5, 5, 0]
    assert table["compensating_set"].iloc[3] == ""
    assert len(pops) == 4
    assert [u.unit_id for u in pops] == [0, 1, "c", 3]
    assert pops.get("c").ok
    assert "3 ok, 1 silent" in repr(pops)
    with pytest.raises(KeyError, match=r"No unit 'missing'.*\[0, 1, 'c', 3\]"):
        pops.get("missing")
    with pytest.raises(ValueError, match="status"):
        ndp.UnitPopulation(0, "fine")
    with pytest.raises(ValueError, match="exactly when its status is 'ok'"):
        ndp.UnitPopulation(0, "ok")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda d: ndp.generate_unit_populations([1.0, 2.0], n_models=3), TypeError, "must be a DICEstimate"),
        (lambda d: ndp.generate_unit_populations(d, n_models=0), ValueError, "n_models"),
        (lambda d: ndp.generate_unit_populations(d, n_models=3, seed=-1), ValueError, "`seed` must be >= 0"),
        (lambda d: ndp.generate_unit_populations(d, n_models=3, seed=1.5), TypeError, "`seed` must be a non-negative int"),
        (lambda d: ndp.generate_unit_populations(d, n_models=3, uncertainty_scale=-1), ValueError, "uncertainty_scale"),
        (lambda d: ndp.generate_unit_populations(d, n_models=3, compensation={"tolerance": 1}), TypeError,
         "CompensationSettings"),
        (lambda d: ndp.generate_unit_populations(d, n_models=3, compensating_set=("CaS", "Hh")), ValueError,
         "Did you mean 'H'"),
        (lambda d: ndp.generate_unit_populations(_estimate(threshold=-40.0), n_models=3), ValueError,
         "V_th=-40.0 mV"),
        (lambda d: ndp.generate_unit_populations(_estimate(g_u_std=[0.1, np.nan, 0.1, np.nan]), n_models=3), ValueError,
         "unit 1 has status 'ok' but g_u_std=nan"),
        (lambda d: ndp.CompensationSettings(tolerance=0.0), ValueError, "`tolerance` must be a positive number"),
        (lambda d: ndp.CompensationSettings(max_iterations=2.5), ValueError, "max_iterations"),
    ],
)
def test_unit_population_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call(_estimate())
