"""Validation score: firing class, key statistics, van Rossum ratio, validity rule."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.containers import SimulationResult, SpikeTrains
from nwb_dicpop.validation import van_rossum_ratio


@pytest.fixture(scope="module", autouse=True)
def _brian2_cache():
    key = "NWB_DICPOP_CACHE_DIR"
    previous = os.environ.get(key)
    if previous is None:
        os.environ[key] = str(Path(tempfile.gettempdir()) / "nwb_dicpop-test-brian2")
    yield
    if previous is None:
        os.environ.pop(key, None)


def _bursts(n_bursts: int, n_spikes: int, intra: float, period: float, start: float = 0.05) -> np.ndarray:
    return np.concatenate([start + k * period + np.arange(n_spikes) * intra for k in range(n_bursts)])


def _result(trains: list[np.ndarray], duration: float = 4.0) -> SimulationResult:
    return SimulationResult(
        model_name="stg", spike_times=tuple(trains), duration=duration, transient=1.0, dt=5e-5,
        method="rush_larsen2", code_target="cython", simulator_version="test",
        conductances=np.ones((len(trains), 8)),
    )


def test_identical_and_shifted_members_are_valid_others_are_not():
    observed = _bursts(8, 4, 0.01, 0.5)
    members = [
        observed.copy(),                      # identical
        observed + 0.123,                     # same train, other phase: aligned at first spike
        _bursts(8, 6, 0.01, 0.5),             # 6 spikes per burst: 50 % error
        np.arange(0.05, 4.0, 0.1),            # tonic spiker: wrong class
        np.array([]),                         # silent
    ]
    result = ndp.validate_population(observed, _result(members))
    detail = result.members
    assert result.observed_class == "bursting"
    assert list(detail["firing_class"]) == ["bursting", "bursting", "bursting", "spiking", "silent"]
    assert list(detail["valid"]) == [True, True, False, False, False]
    assert result.n_valid == 2
    assert result.fraction_valid == pytest.approx(0.4)
    assert detail.loc[0, "max_relative_error"] == pytest.approx(0.0)
    assert detail.loc[2, "error_spikes_per_burst"] == pytest.approx(0.5)
    assert detail.loc[0, "van_rossum_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert detail.loc[1, "van_rossum_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert np.isinf(detail.loc[4, "van_rossum_ratio"])
    assert result.reference_kind == "self"
    assert "not used" in result.rule
    assert "bursting" in result.rule
    assert result.van_rossum_tau == pytest.approx((0.47 + 0.01) / 2)


def test_reference_trains_make_the_van_rossum_criterion_apply():
    rng = np.random.default_rng(0)
    observed = np.sort(np.arange(0.05, 4.0, 0.1) + rng.normal(0, 0.002, 40))
    close = observed + rng.normal(0, 0.001, observed.size)
    far = np.sort(np.arange(0.05, 4.0, 0.1) + rng.normal(0, 0.012, 40))
    reference = [np.sort(np.arange(0.05, 4.0, 0.1) + rng.normal(0, 0.006, 40)) for _ in range(3)]
    result = ndp.validate_population(observed, _result([close, far]), reference=reference)
    assert result.reference_kind == "reference"
    ratios = result.members["van_rossum_ratio"].to_numpy()
    assert ratios[0] < 1.0 < ratios[1]
    assert list(result.members["valid"]) == [True, False]
    assert "van Rossum ratio <= 1" in result.rule
    # the same reference given as a SpikeTrains container
    again = ndp.validate_population(observed, _result([close, far]), reference=SpikeTrains(reference))
    np.testing.assert_allclose(again.members["van_rossum_ratio"], ratios)


def test_van_rossum_ratio_uses_elephant_distance():
    import neo
    import quantities as pq
    from elephant.spike_train_dissimilarity import van_rossum_distance

    observed = np.array([0.0, 0.1, 0.2, 0.35, 0.5, 0.6])
    member = np.array([0.0, 0.12, 0.2, 0.3, 0.55, 0.6])
    reference = [np.array([0.0, 0.1, 0.21, 0.35, 0.5, 0.59])]  # within the 0.6 s window
    ratios, _, tau, kind = van_rossum_ratio(observed, [member], duration=1.0, reference=reference)
    assert tau == pytest.approx((0.15 + 0.1) / 2)

    def distance(a, b):
        trains = [neo.SpikeTrain(x * pq.s, t_stop=10 * pq.s) for x in (a, b)]
        return van_rossum_distance(trains, time_constant=tau * pq.s)[0, 1]

    expected = distance(observed, member) / distance(observed, reference[0])
    assert ratios[0] == pytest.approx(expected, rel=1e-9)
    assert kind == "reference"


def test_validate_population_simulates_a_population():
    truth = ndp.generate_population("stg", 4.0, 5.0, n_models=3, rng=1, thresholds=False)
    observed = ndp.simulate_population(truth.conductances[:1], model="stg", duration=1.0, transient=0.5)
    result = ndp.validate_population(observed.spike_times[0], truth, duration=1.0, transient=0.5)
    assert result.observed_class == "spiking"
    assert result.n_members == 3
    assert bool(result.members.loc[0, "valid"])  # the member that produced the train
    assert result.members.loc[0, "error_spiking_frequency"] == pytest.approx(0.0, abs=1e-12)
    assert result.simulation.n_members == 3
    assert "ValidationResult(" in repr(result)


@pytest.mark.parametrize(
    ("observed", "match"),
    [
        (np.array([0.1, 0.2]), "at least 3 are needed"),
        (np.array([]), "at least 3 are needed"),
        (np.array([0.3, 0.1, 0.2, 0.4]), "not sorted"),
        (np.array([0.1, np.nan, 0.3, 0.4]), "NaN"),
        (np.array([-0.1, 0.1, 0.3, 0.4]), "negative"),
        ([np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3])], "one train"),
    ],
)
def test_bad_observed_trains(observed, match):
    with pytest.raises(ValueError, match=match):
        ndp.validate_population(observed, _result([np.array([0.1, 0.2, 0.3])]))


def test_bad_thresholds():
    observed = np.arange(0.1, 2.0, 0.1)
    with pytest.raises(ValueError, match="max_relative_error"):
        ndp.validate_population(observed, _result([observed]), max_relative_error=0.0)
    with pytest.raises(ValueError, match="units"):
        ndp.validate_population(SpikeTrains([observed, observed]), _result([observed]))


def test_van_rossum_ratio_of_a_periodic_train_to_itself_is_exactly_zero():
    # the halves of a perfectly periodic train are identical: the reference distance is
    # rounding noise of the kernel sums, and so is an identical member's distance
    from nwb_dicpop.validation import van_rossum_ratio

    observed = _bursts(8, 4, 0.01, 0.5)
    moved = observed.copy()
    moved[5] += 0.004  # one spike 4 ms late
    ratios, reference, _, kind = van_rossum_ratio(observed, [observed.copy(), moved], duration=4.0)
    assert kind == "self"
    assert reference == 0.0
    assert ratios[0] == 0.0
    assert np.isinf(ratios[1])


# --------------------------------------------------------------------------- the rule


def test_default_rule_tolerates_what_trains_at_the_same_dics_differ_by_and_strict_does_not():
    from nwb_dicpop.validation import RULES

    observed = _bursts(8, 3, 0.01, 0.5)  # 3 spikes per burst, 2 Hz
    members = [
        _bursts(8, 4, 0.01, 0.5),    # one spike more per burst: 33 % but one spike
        _bursts(8, 3, 0.013, 0.5),   # intraburst frequency 23 % lower (3 / 0.026 s against 3 / 0.02 s)
        _bursts(8, 3, 0.01, 0.45),   # interburst frequency 11 % higher
        _bursts(8, 5, 0.01, 0.5),    # two spikes more per burst: 67 %
        _bursts(8, 3, 0.01, 0.7),    # interburst frequency 29 % lower
    ]
    default = ndp.validate_population(observed, _result(members, duration=6.0))
    strict = ndp.validate_population(observed, _result(members, duration=6.0), rule="strict")
    assert list(default.members["valid"]) == [True, True, True, False, False]
    assert list(strict.members["valid"]) == [False, False, True, False, False]
    assert default.criteria == RULES["default"]
    assert strict.criteria == RULES["strict"]
    assert "spikes_per_burst within 40% or 1 spike(s)" in default.rule
    assert "rule 'strict'" in strict.rule
    assert default.members.loc[0, "error_spikes_per_burst"] == pytest.approx(1 / 3)
    # one tolerance for every statistic (the former argument) is the strict rule at that tolerance
    again = ndp.validate_population(observed, _result(members, duration=6.0), max_relative_error=0.2)
    assert list(again.members["valid"]) == list(strict.members["valid"])


def test_a_statistic_left_out_of_the_rule_is_reported_not_used():
    from nwb_dicpop.validation import ValidationRule

    observed = _bursts(8, 3, 0.01, 0.5)
    slow_bursts = _bursts(8, 3, 0.02, 0.5)  # intraburst frequency halved
    without = ValidationRule(intraburst_frequency=None, name="no intraburst")
    result = ndp.validate_population(observed, _result([slow_bursts]), rule=without)
    assert bool(result.members.loc[0, "valid"])
    assert result.members.loc[0, "error_intraburst_frequency"] == pytest.approx(0.5)
    assert "intraburst_frequency" not in result.rule
    assert not ndp.validate_population(observed, _result([slow_bursts])).members.loc[0, "valid"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rule": "lenient"}, r"`rule` must be one of \['default', 'strict'\]"),
        ({"max_relative_error": -1.0}, "max_relative_error"),
        ({"max_van_rossum_ratio": 0}, "max_van_rossum_ratio"),
    ],
)
def test_bad_rules(kwargs, match):
    observed = np.arange(0.1, 2.0, 0.1)
    with pytest.raises(ValueError, match=match):
        ndp.validate_population(observed, _result([observed]), **kwargs)


def test_bad_rule_settings():
    from nwb_dicpop.validation import ValidationRule

    with pytest.raises(ValueError, match="positive number or None"):
        ValidationRule(interburst_frequency=0.0)
    with pytest.raises(ValueError, match="spikes_per_burst_count"):
        ValidationRule(spikes_per_burst_count=-1)


def test_default_window_is_the_recording_within_limits_after_the_model_transient():
    from nwb_dicpop.validation import validation_window

    truth = ndp.generate_population("stg", 4.0, 5.0, n_models=2, rng=1, thresholds=False)
    observed = ndp.simulate_population(truth.conductances[:1], model="stg", duration=2.5, transient=3.0)
    result = ndp.validate_population(observed.spike_times[0], truth)
    expected = validation_window(float(observed.spike_times[0][-1]), "stg")  # an array: 0 to its last spike
    assert (result.simulation.duration, result.simulation.transient) == expected
    assert expected[1] == 3.0
    assert bool(result.members.loc[0, "valid"])
