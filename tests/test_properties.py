"""Property-based tests (hypothesis) of the readers, the statistics and the compensation."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nwb_dicpop as ndp
from nwb_dicpop.testing import write_mock_nwb

# sorted, finite, non-negative spike times in seconds, distinct, on a 1 us grid (recordings are
# sampled; sub-nanosecond intervals are not spike trains)
trains = st.lists(st.integers(min_value=0, max_value=10**10), min_size=1, max_size=200, unique=True).map(
    lambda ticks: np.sort(np.asarray(ticks, dtype=np.float64)) * 1e-6
)

SLOW_EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SLOW_EXAMPLES
@given(st.lists(trains, min_size=1, max_size=4))
def test_any_sorted_finite_train_round_trips_through_nwb_exactly(units):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "units.nwb"
        write_mock_nwb(path, units, obs_intervals=False, epochs={})
        with warnings.catch_warnings():
            # sparse trains can look like milliseconds; the warning is right, the data exact
            warnings.simplefilter("ignore", ndp.TimeUnitWarning)
            back = ndp.read_spike_trains(path)
    assert back.n_units == len(units)
    for original, read in zip(units, back.times, strict=True):
        np.testing.assert_array_equal(read, original)


@pytest.mark.filterwarnings("ignore::nwb_dicpop.TimeUnitWarning")  # sparse trains look like ms
@settings(max_examples=60, deadline=None)
@given(trains.filter(lambda t: t.size >= 3), st.floats(min_value=0.0, max_value=1e3))
def test_spike_statistics_are_invariant_to_a_time_shift(train, shift):
    shifted = train + shift
    assume(np.all(np.diff(shifted) > 0))  # the shift must not merge spikes in float64
    first = ndp.compute_spike_statistics([train]).iloc[0]
    second = ndp.compute_spike_statistics([shifted]).iloc[0]
    assert first["n_spikes"] == second["n_spikes"] == train.size
    assert first["firing_class"] == second["firing_class"]
    for column in ("isi_cv", "cv2", "lv"):
        assert second[column] == pytest.approx(first[column], rel=1e-6, abs=1e-9)


@pytest.mark.filterwarnings("ignore::nwb_dicpop.TimeUnitWarning")  # sparse trains look like ms
@settings(max_examples=60, deadline=None)
@given(trains)
def test_spike_statistics_are_sane_for_any_train(train):
    row = ndp.compute_spike_statistics([train]).iloc[0]
    assert row["n_spikes"] == train.size
    assert row["firing_class"] in {"silent", "spiking", "bursting"}
    assert row["mean_rate"] >= 0 or (np.isnan(row["mean_rate"]) and train[-1] == train[0])
    if train.size < 3:
        assert row["firing_class"] == "silent"


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["stg", "da"]),
    st.floats(min_value=-10.0, max_value=10.0),
    st.floats(min_value=1.0, max_value=12.0),
    st.integers(min_value=0, max_value=2**31 - 1),
)
def test_any_reachable_target_gives_members_at_that_target(model, g_s, g_u, seed):
    try:
        population = ndp.generate_population(model, g_s, g_u, n_models=8, rng=seed)
    except ndp.UnreachableTargetError:
        assume(False)
    spec = ndp.get_model(model)
    dics = ndp.compute_dics(model, population.conductances, spec.threshold)
    np.testing.assert_allclose(dics[:, 1], g_s, atol=1e-5)
    np.testing.assert_allclose(dics[:, 2], g_u, atol=1e-5)
    assert np.all(population.conductances >= 0)
    low = np.array([spec.conductance_limits[n][0] for n in spec.conductance_names])
    high = np.array([spec.conductance_limits[n][1] for n in spec.conductance_names])
    assert np.all((population.conductances >= low) & (population.conductances <= high))
