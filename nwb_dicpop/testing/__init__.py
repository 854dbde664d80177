"""Mock data for tests, examples and tutorials (no network, no binary fixtures).

``mock_*`` factories in the style of :mod:`pynwb.testing.mock`: every one takes an ``rng``
(seed or Generator, default 0 so that examples are reproducible) and returns package
containers or pynwb objects built from generated data.

Examples
--------
>>> from nwb_dicpop.testing import mock_spike_trains
>>> spikes = mock_spike_trains(n_units=3, rate=5.0, duration=2.0, rng=0)
>>> spikes.n_units
3
"""

from __future__ import annotations

from nwb_dicpop.testing.mock import (
    mock_dic_estimate,
    mock_nwbfile_with_units,
    mock_spike_trains,
    write_mock_nwb,
)

__all__ = [
    "mock_dic_estimate",
    "mock_nwbfile_with_units",
    "mock_spike_trains",
    "write_mock_nwb",
]
