"""Fast paths against their slow references: the vectorised threshold search against a
per-member scalar search, the token cap of inference against the uncapped encoding, and the
silent-member screen of training-data generation against simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import nwb_dicpop as ndp

# find_threshold's documented agreement with a scalar search of the same definition (mV)
THRESHOLD_TOLERANCE = 1e-6


def scalar_threshold(model: str, conductances: np.ndarray, resolution: float = 0.5) -> float:
    """One set's V_th the slow way: the three DICs from compute_dics summed on the grid, the first
    decreasing zero crossing, then Brent's method on that sum to 1e-12 mV."""
    low, high = ndp.get_model(model).voltage_limits
    grid = np.arange(low, high + resolution / 2, resolution)
    total = ndp.compute_dics(model, conductances, grid).sum(axis=-1)
    crossing = np.flatnonzero((total[:-1] > 0) & (total[1:] <= 0))
    if crossing.size == 0:
        return float("nan")
    i = int(crossing[0])
    if total[i + 1] == 0:
        return float(grid[i + 1])

    def total_at(v: float) -> float:
        return float(ndp.compute_dics(model, conductances, v).sum())

    return float(brentq(total_at, grid[i], grid[i + 1], xtol=1e-12, rtol=4 * np.finfo(float).eps))


def random_members(model: str, n: int, seed: int) -> np.ndarray:
    """Population members at random targets, plus random sets inside the conductance limits
    (many of which have no threshold)."""
    rng = np.random.default_rng(seed)
    spec = ndp.get_model(model)
    g_s_range, g_u_range = spec.training.g_s_range, spec.training.g_u_range
    members = [
        ndp.generate_population(model, rng.uniform(*g_s_range), rng.uniform(*g_u_range), n_models=4, rng=rng,
                                thresholds=False).conductances
        for _ in range(n // 8)
    ]
    limits = np.array([spec.conductance_limits[name] for name in spec.conductance_names])
    base = ndp.generate_spiking_population(model, n_models=n // 2, rng=rng).conductances
    scale = np.exp(rng.uniform(np.log(0.2), np.log(5.0), base.shape))  # around spiking sets
    wild = np.clip(base * scale, limits[:, 0], limits[:, 1])
    wild[:, spec.index(spec.leak)] = np.maximum(wild[:, spec.index(spec.leak)], 1e-4)
    wild[::6, spec.index("Na")] *= 0.01  # too little sodium: often no threshold
    return np.concatenate([*members, wild])


@pytest.mark.parametrize("model", ["stg", "da"])
def test_vectorised_threshold_search_equals_the_scalar_search(model):
    sets = random_members(model, 48, seed={"stg": 3, "da": 4}[model])
    fast = ndp.find_threshold(model, sets)
    slow = np.array([scalar_threshold(model, g) for g in sets])
    assert np.array_equal(np.isnan(fast.voltage), np.isnan(slow))
    assert np.isfinite(slow).sum() >= 24  # the comparison covers real thresholds
    np.testing.assert_allclose(fast.voltage, slow, atol=THRESHOLD_TOLERANCE, rtol=0)
    assert all((r == "") == np.isfinite(v) for r, v in zip(fast.reason, fast.voltage, strict=True))


@pytest.mark.parametrize("model", ["stg", "da"])
def test_population_thresholds_are_the_scalar_thresholds(model):
    pop = ndp.generate_population(model, -4.0, 5.0, n_models=12, rng=7)
    slow = np.array([scalar_threshold(model, g) for g in pop.conductances])
    np.testing.assert_allclose(pop.threshold, slow, atol=THRESHOLD_TOLERANCE, rtol=0)


def test_threshold_search_with_other_limits_and_resolution():
    sets = random_members("stg", 16, seed=5)
    fast = ndp.find_threshold("stg", sets, voltage_limits=(-75.0, -10.0), resolution=0.25)
    again = ndp.find_threshold("stg", sets, voltage_limits=(-75.0, -10.0), resolution=0.25)
    np.testing.assert_array_equal(fast.voltage, again.voltage)  # the cached scan table is reused
    coarse = ndp.find_threshold("stg", sets)
    both = np.isfinite(fast.voltage) & np.isfinite(coarse.voltage) & (coarse.voltage < -10.0) & (coarse.voltage > -75.0)
    assert both.any()
    np.testing.assert_allclose(fast.voltage[both], coarse.voltage[both], atol=1e-5)


# --------------------------------------------------------------------------- token cap
def _trains(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.uniform(0, 9.0, n)) for n in (3, 40, 120, 300, 700)]


def test_token_cap_keeps_the_summaries_of_every_spike_read():
    from nwb_dicpop.inference.features import encode_spike_trains

    trains = _trains(0)
    full = encode_spike_trains(trains)
    capped = encode_spike_trains(trains, max_tokens=100)
    spikes = encode_spike_trains(trains, max_spikes=101)
    np.testing.assert_array_equal(capped.summary, full.summary)
    np.testing.assert_array_equal(capped.bursts, full.bursts)
    np.testing.assert_array_equal(capped.n_spikes_used, full.n_spikes_used)
    assert capped.tokens.shape[1] == 100
    np.testing.assert_array_equal(capped.mask.sum(axis=1), np.minimum(full.mask.sum(axis=1), 100))
    np.testing.assert_array_equal(capped.tokens, full.tokens[:, :100])
    np.testing.assert_array_equal(capped.tokens, spikes.tokens)  # the same tokens as a spike cap...
    assert not np.array_equal(capped.summary, spikes.summary)  # ...but not the same summaries
    with pytest.raises(ValueError, match="max_tokens"):
        encode_spike_trains(trains, max_tokens=0)


def test_token_cap_changes_nothing_for_trains_below_it():
    from nwb_dicpop.inference.network import load_network
    from nwb_dicpop.inference.predict import predict_arrays, resolve_weights

    loaded = load_network(resolve_weights("da", "da-v3"))
    trains = _trains(1)
    short = trains[:3]  # at most 120 spikes: 119 tokens
    np.testing.assert_allclose(predict_arrays(loaded, short, max_tokens=200).mean, predict_arrays(loaded, short).mean,
                               rtol=0, atol=1e-5)
    capped = predict_arrays(loaded, trains, max_tokens=200)
    uncapped = predict_arrays(loaded, trains)
    np.testing.assert_array_equal(capped.summary, uncapped.summary)
    np.testing.assert_array_equal(capped.n_spikes_used, uncapped.n_spikes_used)
    assert np.isfinite(capped.mean).all()


# --------------------------------------------------------------------------- silent screen
@pytest.mark.parametrize("model", ["stg", "da"])
def test_fixed_points_are_rest_states_and_their_stability_is_the_jacobians(model):
    from nwb_dicpop.models.dynamics import dynamics_for
    from nwb_dicpop.models.fixed_points import find_fixed_points, screen_silent

    sets = random_members(model, 16, seed=9)
    points = find_fixed_points(model, sets)
    assert (points.n_fixed_points >= 1).all()  # I_inf changes sign between the reversal potentials
    assert (points.n_fixed_points % 2 == 1).all()
    dynamics = dynamics_for(model)
    spec = ndp.get_model(model)
    checked = 0
    for i in range(0, sets.shape[0], 3):  # every third set: each check integrates to rest
        for k in np.flatnonzero(np.isfinite(points.voltage[i])):
            v = points.voltage[i, k]
            state = _rest_state(dynamics, spec, sets[i], v)
            rhs = dynamics.rhs(0.0, state, sets[i])
            assert np.abs(rhs).max() < 1e-6, (i, k, rhs)  # a fixed point of the full equations
            eigen = np.linalg.eigvals(dynamics.jacobian(0.0, state, sets[i])).real.max()
            assert eigen == pytest.approx(points.max_real_eigenvalue[i, k], rel=1e-6, abs=1e-9)
            checked += 1
    assert checked >= sets.shape[0] // 3
    sure = screen_silent(model, sets)
    np.testing.assert_array_equal(sure, (points.n_fixed_points == 1) & (points.n_stable == 1))
    strict = screen_silent(model, sets, max_relaxation_time=1.0)
    assert not (strict & ~sure).any()
    with pytest.raises(ValueError, match="max_relaxation_time"):
        screen_silent(model, sets, max_relaxation_time=-1.0)


def _rest_state(dynamics, spec, conductances: np.ndarray, voltage: float) -> np.ndarray:
    """The full state at rest at ``voltage``, by relaxing the non-voltage states with V clamped
    (an independent route: integrate their own equations to steady state)."""
    from scipy.integrate import solve_ivp

    y0 = dynamics.initial_state().copy()
    y0[0] = voltage

    def clamped(t, y):
        d = dynamics.rhs(t, y, conductances)
        d[0] = 0.0
        return d

    solution = solve_ivp(clamped, (0.0, 2e5), y0, method="LSODA", rtol=1e-11, atol=1e-13)
    return solution.y[:, -1]


# --------------------------------------------------------------------------- progress
def test_progress_line_estimates_the_time_left(monkeypatch):
    """Between the first and the last step, the command line's progress says how long is left at
    the pace so far (units of run_pipeline, chunks of make-training-data)."""
    import io
    import sys

    from nwb_dicpop import cli

    now = [100.0]
    monkeypatch.setattr(cli.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    progress = cli._Progress()
    progress.begin("units", label="x")
    now[0] = 130.0
    progress("units", 1, 4)  # 30 s for 1 unit: 90 s for the 3 left
    now[0] = 190.0
    progress("units", 4, 4)
    lines = log.getvalue().splitlines()
    assert "left" not in lines[0]
    assert "1/4 30 s, about 90 s left" in lines[1]
    assert "left" not in lines[2]
