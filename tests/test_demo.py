"""The built-in demo takes its units and times from the model declarations."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.demo import make_demo_recordings
from nwb_dicpop.models import get_model

sys.path.insert(0, str(Path(__file__).parent))
from hh_model import REFERENCE, make_hh


@pytest.fixture(scope="module", autouse=True)
def _brian2_cache():
    key = "NWB_DICPOP_CACHE_DIR"
    previous = os.environ.get(key)
    if previous is None:
        os.environ[key] = str(Path(tempfile.gettempdir()) / "nwb_dicpop-test-brian2")
    yield
    if previous is None:
        os.environ.pop(key, None)


def test_demo_units_are_the_declared_demo_targets_over_the_training_window(tmp_path):
    from pynwb import NWBHDF5IO

    spec = get_model("stg")
    paths = make_demo_recordings(tmp_path, models=("stg",), rng=0)
    assert list(paths) == ["stg"]
    spikes = ndp.read_spike_trains(paths["stg"])
    assert spikes.n_units == len(spec.evaluation.demo_targets)
    np.testing.assert_allclose(spikes.t_stop, spec.training.duration)
    for train in spikes.times:
        assert train.size > 0
        assert train.min() >= 0.0
        assert train.max() <= spec.training.duration
    with NWBHDF5IO(str(paths["stg"]), "r") as io:
        units = io.read().units
        declared = np.array(spec.evaluation.demo_targets)
        np.testing.assert_array_equal(units["true_g_s"].data[:], declared[:, 0])
        np.testing.assert_array_equal(units["true_g_u"].data[:], declared[:, 1])


def test_demo_needs_a_model_with_demo_units(tmp_path):
    hh = make_hh(tuple(ndp.compute_dics(make_hh((0, 0, 0)), REFERENCE, -51.0)))
    with pytest.raises(ValueError, match=r"'hh-m' declares no demo units.*demo_targets"):
        make_demo_recordings(tmp_path, models=(hh,))
    assert not list(tmp_path.glob("*.nwb"))
