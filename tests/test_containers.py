"""The front door for spike trains: every input kind gives the same SpikeTrains, and every bad
input the same message, whichever public function receives it."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import nwb_dicpop as ndp
from nwb_dicpop import SimulationResult, SpikeTrains, TimeUnitWarning, as_spike_trains
from nwb_dicpop.containers import check_spike_times, clip_to_window, select_positions

A = np.array([0.10, 0.35, 0.62, 0.90])
B = np.array([0.20, 0.45, 1.30])
LAST = 1.30


def _neo_trains():
    neo = pytest.importorskip("neo")
    import quantities as pq

    return neo, [neo.SpikeTrain(t * 1e3 * pq.ms, t_start=0.0 * pq.s, t_stop=LAST * pq.s) for t in (A, B)]


def _kinds() -> dict[str, tuple[object, dict]]:
    """The same two units (ids 0 and 1, window [0, 1.3] s) in every accepted form."""
    neo, trains = _neo_trains()
    import quantities as pq

    segment = neo.Segment()
    segment.spiketrains.extend(trains)
    block = neo.Block()
    block.segments.append(segment)
    long_table = pd.DataFrame({"unit": [0] * A.size + [1] * B.size, "time": np.concatenate([A, B])})
    predecessor = pd.DataFrame({"ID": [0, 1], "spiking_times": [str((t * 1e3).tolist()) for t in (A, B)]})
    return {
        "list of arrays": ([A, B], {}),
        "tuple of lists": ((A.tolist(), B.tolist()), {}),
        "ragged object array": (np.array([A, B], dtype=object), {}),
        "dict": ({0: A, 1: B}, {}),
        "list in ms": ([A * 1e3, B * 1e3], {"time_unit": "ms"}),
        "long DataFrame": (long_table, {}),
        "predecessor DataFrame (ms)": (predecessor, {}),
        "quantities": ([A * pq.s, B * 1e3 * pq.ms], {}),
        "neo.SpikeTrain list": (trains, {}),
        "neo.Segment": (segment, {}),
        "neo.Block": (block, {}),
        "SpikeTrains": (SpikeTrains([A, B], t_start=0.0, t_stop=LAST), {}),
    }


def _assert_same(spikes: SpikeTrains, reference: SpikeTrains) -> None:
    assert spikes.unit_ids == reference.unit_ids
    for got, expected in zip(spikes.times, reference.times, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(spikes.t_start, reference.t_start)
    np.testing.assert_allclose(spikes.t_stop, reference.t_stop)


@pytest.mark.parametrize("kind", list(_kinds()))
def test_every_input_kind_gives_the_same_spike_trains(kind):
    data, options = _kinds()[kind]
    reference = SpikeTrains([A, B], t_start=0.0, t_stop=LAST)
    spikes = as_spike_trains(data, **options)
    _assert_same(spikes, reference)
    _assert_same(ndp.read_spike_trains(data, **options), reference)
    if not options:  # the functions without a time_unit see the same trains
        stats = ndp.compute_spike_statistics(data)
        expected = ndp.compute_spike_statistics(reference)
        pd.testing.assert_frame_equal(stats, expected, check_index_type=False, rtol=1e-12)
    selected = as_spike_trains(data, unit_ids=[1], **options)
    assert selected.unit_ids == (1,)
    np.testing.assert_allclose(selected.times[0], B)


def test_single_train_forms_are_one_unit():
    quantities = pytest.importorskip("quantities")
    for data in (A, A.tolist(), A * quantities.s, {"x": A}):
        spikes = as_spike_trains(data)
        assert spikes.n_units == 1
        np.testing.assert_allclose(spikes.times[0], A)
    _, trains = _neo_trains()
    assert as_spike_trains(trains[0]).n_units == 1


def test_spike_trains_and_simulation_results_pass_through():
    spikes = SpikeTrains([A, B], ["a", "b"], t_start=0.0, t_stop=2.0, source="mock")
    assert as_spike_trains(spikes) is spikes  # nothing to do: no copy
    narrowed = as_spike_trains(spikes, unit_ids=["b"], window=(0.3, 1.0))
    assert narrowed.unit_ids == ("b",)
    np.testing.assert_array_equal(narrowed.times[0], [0.45])
    assert (narrowed.t_start[0], narrowed.t_stop[0], narrowed.source) == (0.3, 1.0, "mock")
    result = SimulationResult(
        model_name="stg", spike_times=(A, B), duration=2.0, transient=1.0, dt=5e-5, method="rush_larsen2",
        code_target="numpy", simulator_version="test", conductances=np.ones((2, 8)),
    )
    simulated = as_spike_trains(result)
    np.testing.assert_array_equal(simulated.t_stop, 2.0)
    assert simulated.source == "simulation"


def test_window_sort_and_negative_times():
    # arrays carry no window: `window` becomes theirs, spikes outside are dropped
    windowed = as_spike_trains([A, B], window=(0.3, 2.0))
    np.testing.assert_array_equal(windowed.times[0], [0.35, 0.62, 0.90])
    np.testing.assert_array_equal(windowed.t_stop, 2.0)
    unsorted = [np.array([0.3, 0.1, 0.2])]
    np.testing.assert_array_equal(as_spike_trains(unsorted, sort=True).times[0], [0.1, 0.2, 0.3])
    # negative times need a window that says where the recording starts
    relative = [np.array([-0.5, 0.2, 0.4])]
    kept = as_spike_trains(relative, window=(-1.0, 1.0))
    np.testing.assert_array_equal(kept.times[0], relative[0])
    assert kept.t_start[0] == -1.0
    # a SpikeTrains may hold negative times inside its own window
    assert as_spike_trains(SpikeTrains(relative)).t_start[0] == -0.5
    assert as_spike_trains([np.array([]), A]).n_spikes.tolist() == [0, 4]  # empty trains are silent units


def test_options_that_do_not_apply_are_refused():
    neo, trains = _neo_trains()
    with pytest.raises(ValueError, match="carries its own time unit"):
        as_spike_trains(trains, time_unit="ms")
    with pytest.raises(ValueError, match="carries its own time unit"):
        as_spike_trains(SpikeTrains([A]), time_unit="s")
    with pytest.raises(ValueError, match="`segment` chooses a segment of a Neo source"):
        as_spike_trains([A, B], segment=0)
    with pytest.raises(ValueError, match="`unit_column` and `time_column` name columns"):
        as_spike_trains([A, B], unit_column="unit")
    with pytest.raises(ValueError, match="Unknown time_unit"):
        as_spike_trains([A], time_unit="sec")
    with pytest.raises(ValueError, match=r"Unknown unit id 'unit_c' in array.*Did you mean 'unit_b', 'unit_a'"):
        as_spike_trains({"unit_a": A, "unit_b": B}, unit_ids=["unit_c"])
    with pytest.raises(TypeError, match="`unit_ids` must be a sequence"):
        as_spike_trains([A], unit_ids=0)
    with pytest.raises(ValueError, match="No spikes inside the window"):
        as_spike_trains([A, B], window=(5.0, 6.0))
    block = neo.Block()
    for _ in range(2):
        segment = neo.Segment()
        segment.spiketrains.append(trains[0].copy())
        block.segments.append(segment)
    with pytest.raises(ValueError, match=r"2 segments with spike trains.*segment=<index>"):
        as_spike_trains(block)
    assert as_spike_trains(block, segment=1).n_units == 1
    with pytest.raises(ValueError, match=r"`segment` must be in 0..1; got 5"):
        as_spike_trains(block, segment=5)


# --------------------------------------------------------------------------- one message per mistake
def _torch_infer_dics(data):
    pytest.importorskip("torch")
    from nwb_dicpop.inference.predict import infer_dics

    return infer_dics(data, model="stg")


def _mock(data):
    from nwb_dicpop.testing import mock_nwbfile_with_units

    return mock_nwbfile_with_units(data)


RECEIVERS = {
    "as_spike_trains": ("data", as_spike_trains),
    "read_spike_trains": ("source", ndp.read_spike_trains),
    "compute_spike_statistics": ("spiketrains", ndp.compute_spike_statistics),
    "to_neo": ("spiketrains", ndp.to_neo),
    "infer_dics": ("spiketrains", _torch_infer_dics),
    "validate_population": ("observed_spiketrain", lambda data: ndp.validate_population(data, None)),
    "mock_nwbfile_with_units": ("spikes", _mock),
}

BAD_INPUTS = {
    "NaN": ([np.array([0.1, np.nan, 0.3, 0.4])], ValueError, "Spike times of unit 0 contain 1 NaN"),
    "negative": ([np.array([-0.1, 0.2, 0.3, 0.4])], ValueError, "Spike times of unit 0 are negative"),
    "unsorted": ([np.array([0.3, 0.1, 0.2, 0.4])], ValueError, r"not sorted \(they decrease after index 0\)"),
    "not 1-D": ([np.zeros((2, 3))], ValueError, r"must be 1-D, one array per unit; got shape \(2, 3\)"),
    "not numbers": ([["a", "b", "c"]], TypeError, "must be numbers"),
    "empty list": ([], ValueError, "is empty: it contains no spike trains"),
    "empty dict": ({}, ValueError, "is empty: it contains no spike trains"),
    "wrong type": (42, TypeError, "must be spike trains.*got int"),
    "mixed kinds": ("mixed", TypeError, "mixes plain arrays and quantities arrays"),
}


def _bad(name):
    data, error, match = BAD_INPUTS[name]
    if isinstance(data, str) and data == "mixed":
        quantities = pytest.importorskip("quantities")
        data = [A, B * quantities.s]
    return data, error, match


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_each_bad_input_gives_one_message_whichever_function_receives_it(bad):
    data, error, match = _bad(bad)
    messages = {}
    for receiver, (parameter, function) in RECEIVERS.items():
        with pytest.raises(error, match=match) as caught:
            function(data)
        # the parameter is named as the caller knows it; the rest is word for word the same
        messages[receiver] = re.sub(rf"`{parameter}`", "`<input>`", str(caught.value))
    assert len(set(messages.values())) == 1, messages


def test_milliseconds_passed_as_seconds_warn_the_same_everywhere():
    in_ms = [np.arange(1.0, 20.0) * 100.0]  # 10 Hz written in ms, read as seconds
    messages = set()
    for receiver, (_, function) in RECEIVERS.items():
        if receiver == "mock_nwbfile_with_units":
            continue  # the mocks store what they are given (tests write ms on purpose)
        with warnings.catch_warnings():
            warnings.simplefilter("error", TimeUnitWarning)
            with pytest.raises(TimeUnitWarning, match="they look like milliseconds") as caught:
                function(in_ms)
        messages.add(str(caught.value))
    assert len(messages) == 1, messages
    spikes = as_spike_trains(in_ms, time_unit="s")  # a declared unit is trusted: no warning
    assert spikes.t_stop[0] == pytest.approx(1900.0)


def test_validate_population_wants_one_train_with_three_spikes():
    with pytest.raises(ValueError, match="must be one train; got 2 units"):
        ndp.validate_population([A, B], None)
    with pytest.raises(ValueError, match="at least 3 are needed"):
        ndp.validate_population(np.array([0.1, 0.2]), None)


# --------------------------------------------------------------------------- the building blocks
def test_spike_trains_constructor_uses_the_same_checks():
    for data, error, match in (BAD_INPUTS["NaN"], BAD_INPUTS["unsorted"], BAD_INPUTS["not 1-D"]):
        with pytest.raises(error, match=match):
            SpikeTrains(data)
    with pytest.raises(ValueError, match=r"spikes outside \[t_start, t_stop\]"):
        SpikeTrains([A], t_stop=0.5)
    with pytest.raises(ValueError, match=r"t_stop \(0.0\) is before t_start \(1.0\)"):
        SpikeTrains([np.array([])], t_start=1.0, t_stop=0.0)
    with pytest.raises(ValueError, match=r"Unknown unit id 'z' in mock.*available ids: \['x'\]"):
        SpikeTrains([A], ["x"], source="mock").select(["z"])


def test_check_spike_times_finds_the_first_offending_unit_and_sorts():
    trains = [np.array([]), np.array([0.1, 0.2]), np.array([0.5, 0.4]), np.array([0.3, 0.1])]
    with pytest.raises(ValueError, match=r"unit 'c' are not sorted \(they decrease after index 0\)"):
        check_spike_times(trains, ["a", "b", "c", "d"])
    # a decrease across two units (0.2 then 0.5, 0.4 then 0.3) is not an unsorted train
    fixed = check_spike_times(trains, ["a", "b", "c", "d"], sort=True)
    assert [t.tolist() for t in fixed] == [[], [0.1, 0.2], [0.4, 0.5], [0.1, 0.3]]
    assert fixed[1] is trains[1]  # sorted trains are not copied
    with pytest.raises(ValueError, match=r"unit 'b' in x.nwb contain 2 NaN"):
        check_spike_times([np.array([0.1]), np.array([np.inf, np.nan])], ["a", "b"], where=" in x.nwb")


def test_clip_to_window_and_select_positions():
    clipped, start, stop = clip_to_window([A, B], [0, 1], 0.0, LAST, (0.3, 0.7))
    assert [t.tolist() for t in clipped] == [[0.35, 0.62], [0.45]]
    assert start.tolist() == [0.3, 0.3]
    assert stop.tolist() == [0.7, 0.7]
    with pytest.warns(UserWarning, match=r"Units \[1\] of here were not observed"):
        _, start, stop = clip_to_window([A, B], [0, 1], [0.0, 1.0], [1.0, 1.3], (0.0, 0.95), source="here")
    assert stop[1] == start[1] == 1.0
    assert select_positions([3, 5, 8], [8, "3", np.int64(5)], "x") == [2, 0, 1]
    with pytest.raises(ValueError, match=r"Unknown unit id 4 in x; available ids: \[3, 5, 8\]. Did you mean 3, 5"):
        select_positions([3, 5, 8], [4], "x")


def _estimate(**classes):
    return ndp.DICEstimate(unit_ids=(3, 7), model_name="stg", threshold=-51.0, g_s=[1.0, -2.0], g_u=[3.0, 4.0],
                           g_s_std=0.1, g_u_std=0.2, out_of_distribution=False, status=("ok", "ok"), **classes)


def test_dic_estimate_names_the_networks_class_network_class():
    """One meaning of firing_class: the ISI-CV rule's. The network's class is network_class everywhere."""
    estimate = _estimate(network_class=("spiking", "bursting"))
    frame = estimate.to_dataframe()
    assert frame["network_class"].tolist() == ["spiking", "bursting"]
    assert "firing_class" not in frame
    # the old name still works, with a DeprecationWarning naming the new one
    with pytest.warns(DeprecationWarning, match="network_class"):
        old = _estimate(firing_class=("spiking", "bursting"))
    assert old.network_class == estimate.network_class
    with pytest.warns(DeprecationWarning, match="renamed network_class"):
        assert estimate.firing_class == ("spiking", "bursting")
    with pytest.raises(TypeError, match="once"):
        _estimate(network_class=("spiking", "bursting"), firing_class=("spiking", "bursting"))
    with pytest.raises(ValueError, match="`network_class` must have one entry per unit"):
        _estimate(network_class=("spiking",))
