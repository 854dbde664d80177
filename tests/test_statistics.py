"""Spike statistics: known answers on hand-made trains, Elephant as the oracle, inputs."""

from __future__ import annotations

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.containers import SimulationResult, SpikeTrains
from nwb_dicpop.statistics import STATISTICS_UNITS, burst_metrics, firing_class


def _bursts(n_bursts: int, n_spikes: int, intra: float, period: float, start: float = 0.5) -> np.ndarray:
    """``n_bursts`` bursts of ``n_spikes`` spikes ``intra`` s apart, one every ``period`` s."""
    return np.concatenate([start + k * period + np.arange(n_spikes) * intra for k in range(n_bursts)])


def test_regular_train_is_spiking_with_exact_frequency():
    times = np.arange(0.1, 3.0, 0.05)  # 20 Hz
    stats = ndp.compute_spike_statistics([times])
    row = stats.iloc[0]
    assert row["firing_class"] == "spiking"
    assert row["spiking_frequency"] == pytest.approx(20.0)
    assert row["isi_cv"] == pytest.approx(0.0, abs=1e-9)
    assert row["cv2"] == pytest.approx(0.0, abs=1e-9)
    assert row["lv"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(row["spikes_per_burst"])  # burst metrics only for bursting trains


def test_burst_train_has_known_metrics():
    # 6 bursts of 4 spikes 10 ms apart, one burst every 0.5 s
    times = _bursts(6, 4, 0.010, 0.5)
    stats = ndp.compute_spike_statistics([times]).iloc[0]
    assert stats["firing_class"] == "bursting"
    assert stats["n_bursts"] == 4  # first and last dropped
    assert stats["spikes_per_burst"] == pytest.approx(4.0)
    assert stats["burst_duration"] == pytest.approx(0.030)
    assert stats["intraburst_frequency"] == pytest.approx(4 / 0.030)  # n, not n - 1
    assert stats["interburst_frequency"] == pytest.approx(2.0)
    assert stats["duty_cycle"] == pytest.approx(0.030 * 2.0)
    assert stats["burstiness"] == pytest.approx(4 * (4 / 0.030) * 2.0)
    assert np.isnan(stats["spiking_frequency"])


def test_burst_metrics_of_irregular_bursts_average_over_bursts():
    sizes = [3, 5, 2, 4, 6]
    times = np.concatenate([k * 1.0 + np.arange(n) * 0.02 for k, n in enumerate(sizes)])
    metrics = burst_metrics(times)
    kept = sizes[1:-1]
    assert metrics["n_bursts"] == 3
    assert metrics["spikes_per_burst"] == pytest.approx(np.mean(kept))
    assert metrics["burst_duration"] == pytest.approx(np.mean([(n - 1) * 0.02 for n in kept]))
    assert metrics["interburst_frequency"] == pytest.approx(1.0)


def test_firing_class_rules():
    assert firing_class([]) == "silent"
    assert firing_class([0.1, 0.2]) == "silent"
    # CV 0.13 (below 0.15) is spiking; regular bursts are bursting
    base = np.array([0.0, 1.0, 2.0 + 0.3, 3.3])  # ISIs 1, 1.3, 1
    intervals = np.diff(base)
    assert intervals.std() / intervals.mean() < 0.15
    assert firing_class(base) == "spiking"
    assert firing_class(_bursts(5, 3, 0.01, 0.4)) == "bursting"


def test_silent_and_empty_trains():
    stats = ndp.compute_spike_statistics([np.array([]), np.array([0.5]), np.array([0.1, 0.9])])
    assert list(stats["firing_class"]) == ["silent"] * 3
    assert list(stats["n_spikes"]) == [0, 1, 2]
    assert stats["isi_cv"].isna().all()


def test_interval_statistics_match_elephant():
    import elephant.statistics as es

    rng = np.random.default_rng(1)
    trains = [np.cumsum(rng.gamma(shape, 0.02, size=n)) for shape, n in [(0.5, 40), (2, 100), (8, 25), (1, 3)]]
    stats = ndp.compute_spike_statistics(trains)
    for k, train in enumerate(trains):
        intervals = np.diff(train)
        assert stats.loc[k, "isi_cv"] == pytest.approx(es.cv(intervals), rel=1e-12)
        assert stats.loc[k, "cv2"] == pytest.approx(es.cv2(intervals), rel=1e-12)
        assert stats.loc[k, "lv"] == pytest.approx(es.lv(intervals), rel=1e-12)


def test_mean_rate_uses_the_window():
    times = np.arange(0.0, 1.0, 0.1) + 0.05  # 10 spikes
    assert ndp.compute_spike_statistics([times], t_start=0.0, t_stop=2.0).loc[0, "mean_rate"] == pytest.approx(5.0)
    container = SpikeTrains([times], t_start=0.0, t_stop=4.0)
    assert ndp.compute_spike_statistics(container).loc[0, "mean_rate"] == pytest.approx(2.5)


def test_accepts_neo_containers_and_simulation_results():
    import neo
    import quantities as pq

    times = _bursts(5, 3, 0.01, 0.3)
    expected = ndp.compute_spike_statistics([times])
    neo_train = neo.SpikeTrain(times * 1e3 * pq.ms, t_start=0 * pq.ms, t_stop=2000 * pq.ms)
    from_neo = ndp.compute_spike_statistics(neo_train)
    assert from_neo.loc[0, "spikes_per_burst"] == pytest.approx(expected.loc[0, "spikes_per_burst"])
    assert from_neo.loc[0, "t_stop"] == pytest.approx(2.0)
    single = ndp.compute_spike_statistics(times)  # one array = one train
    assert len(single) == 1
    result = SimulationResult(
        model_name="stg", spike_times=(times, np.array([])), duration=2.0, transient=1.0, dt=5e-5,
        method="rush_larsen2", code_target="numpy", simulator_version="test", conductances=np.ones((2, 8)),
    )
    sim = ndp.compute_spike_statistics(result)
    assert list(sim["firing_class"]) == ["bursting", "silent"]
    assert sim.loc[0, "mean_rate"] == pytest.approx(times.size / 2.0)
    container = SpikeTrains([times, times + 0.001], unit_ids=["a", "b"])
    assert list(ndp.compute_spike_statistics(container).index) == ["a", "b"]
    assert ndp.compute_spike_statistics(container).attrs["units"] == STATISTICS_UNITS


def test_to_neo_roundtrip():
    times = [np.array([0.1, 0.2, 0.4]), np.array([])]
    trains = ndp.to_neo(times, t_stop=1.0)
    assert [t.size for t in trains] == [3, 0]
    assert float(trains[0].t_stop.rescale("s").magnitude) == 1.0
    np.testing.assert_allclose(trains[0].rescale("s").magnitude, times[0])
    back = ndp.compute_spike_statistics(trains)
    assert list(back["n_spikes"]) == [3, 0]


@pytest.mark.parametrize(
    ("trains", "match"),
    [
        ([np.array([0.3, 0.1, 0.2])], "not sorted"),
        ([np.array([0.1, np.nan, 0.3])], "NaN"),
        ([np.array([-0.1, 0.2, 0.3])], "negative"),
        ([np.zeros((2, 3))], "1-D"),
        ("spikes.csv", "`spiketrains` must be spike trains.*got str.*read_spike_trains"),
        (42, "`spiketrains` must be spike trains.*got int"),
    ],
)
def test_bad_trains_raise_clear_errors(trains, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ndp.compute_spike_statistics(trains)


def test_inputs_are_not_modified():
    times = np.array([0.1, 0.2, 0.35, 0.5])
    copy = times.copy()
    ndp.compute_spike_statistics([times])
    np.testing.assert_array_equal(times, copy)


@pytest.mark.parametrize("tau", [0.002, 0.05, 1.0])
def test_van_rossum_distance_matches_elephant(tau):
    """The numpy van Rossum distance is Elephant's, with its normalisation, for trains of every
    size (empty, one spike, bursts, long dense trains whose pairs are evaluated in blocks)."""
    import warnings

    import neo
    import quantities as pq
    from elephant.spike_train_dissimilarity import van_rossum_distance as elephant_distance

    from nwb_dicpop import statistics
    from nwb_dicpop.statistics import van_rossum_distance

    def van_rossum_distances(trains, *, tau, t_stop):
        neo_trains = [neo.SpikeTrain(np.asarray(x) * pq.s, t_stop=t_stop * pq.s) for x in trains]
        with warnings.catch_warnings():  # Elephant clips its own rounding below zero, and says so
            warnings.filterwarnings("ignore", message=".*van_rossum_distance.*")
            return elephant_distance(neo_trains, time_constant=tau * pq.s)

    rng = np.random.default_rng(3)
    trains = [np.zeros(0), np.array([0.5]), np.sort(rng.uniform(0, 2, 7)), np.sort(rng.uniform(0, 2, 40)),
              np.concatenate([k + np.arange(5) * 0.01 for k in np.arange(0, 2, 0.4)]), np.sort(rng.uniform(0, 2, 900))]
    for i, a in enumerate(trains):
        for b in trains[i:]:
            oracle = van_rossum_distances([a, b, np.zeros(0)], tau=tau, t_stop=3.0)
            distance, norm = van_rossum_distance(b[::-1], a, tau=tau)  # order of the spikes does not matter
            assert distance == pytest.approx(oracle[0, 1], rel=1e-9, abs=1e-7 * norm)
            assert norm == pytest.approx(np.hypot(oracle[0, 2], oracle[1, 2]), rel=1e-12)
    # the block size does not change the sums
    long = trains[-1]
    whole = van_rossum_distance(long, long + 0.001, tau=tau)
    budget = statistics._PAIRS_PER_BLOCK
    try:
        statistics._PAIRS_PER_BLOCK = 97
        blocked = van_rossum_distance(long, long + 0.001, tau=tau)
        assert blocked[0] == pytest.approx(whole[0], rel=1e-9, abs=1e-7 * whole[1])  # rounding of the sums only
        assert blocked[1] == pytest.approx(whole[1], rel=1e-12)
    finally:
        statistics._PAIRS_PER_BLOCK = budget
    assert van_rossum_distance(np.array([1.0]), np.zeros(0), tau=tau) == pytest.approx((1.0, 1.0))
