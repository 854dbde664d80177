"""The public namespace is pinned, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import nwb_dicpop as ndp

HEAVY = ("torch", "brian2", "pynwb", "sympy", "neo", "elephant", "dask")


def test_every_public_name_resolves():
    for name in ndp.__all__:
        assert getattr(ndp, name) is not None


def test_public_names_are_pinned():
    expected = {
        "DICEstimate", "NeuronModel", "Population", "ReachabilityMap", "SimulationResult", "SpikeTrains",
        "ThresholdResult", "UnreachableTargetError", "__version__", "available_models", "choose_compensating_set",
        "compute_dics", "find_threshold", "generate_population", "generate_populations",
        "generate_spiking_population", "get_model", "reachability_map", "register_model",
    }
    assert expected <= set(ndp.__all__)


def test_import_is_light():
    code = f"import sys, nwb_dicpop; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
