"""The mock factories of nwb_dicpop.testing."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dicpop import SpikeTrains
from nwb_dicpop.testing import mock_dic_estimate, mock_nwbfile_with_units, mock_spike_trains, write_mock_nwb


def test_mock_spike_trains_rate_window_and_seed():
    spikes = mock_spike_trains(n_units=4, rate=[2.0, 10.0, 40.0, 0.0], duration=50.0, refractory=0.0, rng=3)
    assert isinstance(spikes, SpikeTrains)
    assert spikes.source == "mock"
    np.testing.assert_array_equal(spikes.t_start, 0.0)
    np.testing.assert_array_equal(spikes.t_stop, 50.0)
    rates = spikes.n_spikes / 50.0
    # Poisson counts: within 5 standard deviations of the requested rates
    for observed, expected in zip(rates[:3], [2.0, 10.0, 40.0], strict=True):
        assert abs(observed - expected) < 5 * np.sqrt(expected / 50.0)
    assert spikes.n_spikes[3] == 0
    again = mock_spike_trains(n_units=4, rate=[2.0, 10.0, 40.0, 0.0], duration=50.0, refractory=0.0, rng=3)
    for a, b in zip(spikes.times, again.times, strict=True):
        np.testing.assert_array_equal(a, b)
    other = mock_spike_trains(n_units=4, rate=10.0, duration=50.0, rng=4)
    assert not np.array_equal(other.times[1], spikes.times[1])


def test_mock_spike_trains_refractory_and_start():
    spikes = mock_spike_trains(n_units=2, rate=100.0, duration=5.0, t_start=2.0, refractory=0.004, rng=0)
    for times in spikes.times:
        assert times.min() >= 2.0
        assert times.max() <= 7.0
        assert np.diff(times).min() >= 0.004 - 1e-12


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_units": 0}, "n_units"),
        ({"duration": -1.0}, "duration"),
        ({"rate": [1.0, 2.0]}, "rate"),
        ({"rate": -3.0}, "rate"),
        ({"refractory": -0.1}, "refractory"),
    ],
)
def test_mock_spike_trains_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mock_spike_trains(**kwargs)


def test_mock_nwbfile_contents():
    spikes = mock_spike_trains(n_units=6, rate=5.0, duration=4.0, rng=0)
    nwbfile = mock_nwbfile_with_units(spikes)
    units = nwbfile.units
    assert len(units) == 6
    assert list(units.id.data) == list(range(6))
    assert units.resolution == pytest.approx(1 / 30000)
    assert list(units["quality"].data) == ["good", "good", "mua", "good", "good", "mua"]
    for i in range(6):
        np.testing.assert_array_equal(units.get_unit_spike_times(i), spikes.times[i])
        np.testing.assert_array_equal(units.get_unit_obs_intervals(i), [[0.0, 4.0]])
    epochs = nwbfile.epochs.to_dataframe()
    assert [t[0] for t in epochs["tags"]] == ["baseline", "drug"]
    assert epochs["start_time"].tolist() == [0.0, 2.0]
    assert nwbfile.subject.species == "Mus musculus"


def test_mock_nwbfile_explicit_ids_intervals_and_names():
    nwbfile = mock_nwbfile_with_units(
        {"cell-a": [0.1, 0.5], "cell-b": [0.3]},
        obs_intervals=[[[0.0, 0.2], [0.4, 1.0]], [[0.0, 1.0]]],
        epochs={},
        quality=["good", "noise"],
        resolution=None,
    )
    units = nwbfile.units
    assert list(units["unit_name"].data) == ["cell-a", "cell-b"]
    assert list(units.id.data) == [0, 1]
    np.testing.assert_array_equal(units.get_unit_obs_intervals(0), [[0.0, 0.2], [0.4, 1.0]])
    assert nwbfile.epochs is None
    with pytest.raises(ValueError, match="obs_intervals"):
        mock_nwbfile_with_units([np.array([0.1])], obs_intervals=[])
    one = mock_nwbfile_with_units(np.array([0.1, 0.2]), epochs={})  # one array is one unit
    np.testing.assert_array_equal(one.units.get_unit_spike_times(0), [0.1, 0.2])
    with pytest.raises(TypeError, match="`spikes` must be spike trains"):
        mock_nwbfile_with_units("spikes.csv")


def test_write_mock_nwb_roundtrip(tmp_path):
    from pynwb import NWBHDF5IO

    spikes = mock_spike_trains(n_units=3, rate=8.0, duration=3.0, unit_ids=[4, 9, 12], rng=1)
    path = write_mock_nwb(tmp_path / "mock.nwb", spikes)
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mock.nwb"]  # no temporary file left
    assert path.stat().st_mode & 0o777 != 0o600  # not mkstemp's private mode
    with NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        assert list(nwbfile.units.id.data[:]) == [4, 9, 12]
        for i, times in enumerate(spikes.times):
            np.testing.assert_array_equal(nwbfile.units.get_unit_spike_times(i), times)


def test_mock_file_passes_nwbinspector(tmp_path):
    from nwbinspector import inspect_nwbfile

    path = write_mock_nwb(tmp_path / "mock.nwb", n_units=4, duration=2.0)
    serious = [
        m for m in inspect_nwbfile(nwbfile_path=str(path))
        if m.importance.name in {"CRITICAL", "ERROR", "BEST_PRACTICE_VIOLATION"}
    ]
    assert serious == []


def test_mock_dic_estimate():
    dics = mock_dic_estimate([0, 1, 2, 3], silent=[2], rng=0)
    assert dics.model_name == "stg"
    assert dics.threshold == -51.0
    assert dics.status == ("ok", "ok", "silent", "ok")
    assert np.isnan(dics.g_s[2])
    assert np.isfinite(dics.g_s[[0, 1, 3]]).all()
    assert ((dics.g_s[dics.ok] >= 2) & (dics.g_s[dics.ok] <= 6)).all()
    fixed = mock_dic_estimate([5], g_s=[1.5], g_u=[4.5])
    assert fixed.g_s[0] == 1.5
    assert fixed.g_u[0] == 4.5


def test_extra_unit_columns_are_written_and_filterable(tmp_path):
    from nwb_dicpop import read_spike_trains
    from nwb_dicpop.testing import write_mock_nwb

    path = write_mock_nwb(tmp_path / "extra.nwb", n_units=4, unit_columns={"model": ["stg", "da", "stg", "da"],
                                                                          "true_g_s": [1.0, 2.0, 3.0, 4.0]})
    spikes = read_spike_trains(path, where={"model": "da"})
    assert spikes.unit_ids == (1, 3)
    with pytest.raises(ValueError, match="one value per unit"):
        write_mock_nwb(tmp_path / "bad.nwb", n_units=2, unit_columns={"model": ["stg"]})
