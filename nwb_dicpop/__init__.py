"""nwb_dicpop: degenerate populations of conductance-based neuron models from spike times.

Spike times (NWB, DANDI, Neo, tables) -> dynamic input conductances (DICs) -> populations of
maximal conductances that fire like the recording -> back into NWB.

The public names below are imported lazily: ``import nwb_dicpop`` does not import torch,
brian2, pynwb or sympy; each is loaded by the first function that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "SpikeTrains": "nwb_dicpop.containers",
    "DICEstimate": "nwb_dicpop.containers",
    "Population": "nwb_dicpop.containers",
    "SimulationResult": "nwb_dicpop.containers",
    "NeuronModel": "nwb_dicpop.models",
    "available_models": "nwb_dicpop.models",
    "get_model": "nwb_dicpop.models",
    "register_model": "nwb_dicpop.models",
    "compute_dics": "nwb_dicpop.dics",
    "find_threshold": "nwb_dicpop.dics",
    "ThresholdResult": "nwb_dicpop.dics",
    "generate_population": "nwb_dicpop.compensation",
    "generate_populations": "nwb_dicpop.compensation",
    "generate_spiking_population": "nwb_dicpop.compensation",
    "generate_unit_populations": "nwb_dicpop.compensation",
    "PopulationSet": "nwb_dicpop.compensation",
    "UnitPopulation": "nwb_dicpop.compensation",
    "CompensationSettings": "nwb_dicpop.compensation",
    "choose_compensating_set": "nwb_dicpop.compensation",
    "reachability_map": "nwb_dicpop.compensation",
    "ReachabilityMap": "nwb_dicpop.compensation",
    "UnreachableTargetError": "nwb_dicpop.compensation",
    "read_spike_trains": "nwb_dicpop.io",
    "TimeUnitWarning": "nwb_dicpop.io",
    "write_results": "nwb_dicpop.nwb",
    "write_neuromodulation": "nwb_dicpop.nwb",
    "read_results": "nwb_dicpop.nwb",
    "DicpopResults": "nwb_dicpop.nwb",
    "infer_dics": "nwb_dicpop.inference.predict",
    "run_pipeline": "nwb_dicpop.pipeline",
    "PipelineResult": "nwb_dicpop.pipeline",
    "simulate_population": "nwb_dicpop.simulation",
    "simulate_batches": "nwb_dicpop.batches",
    "read_batches": "nwb_dicpop.batches",
    "as_spike_trains": "nwb_dicpop.statistics",
    "compute_spike_statistics": "nwb_dicpop.statistics",
    "to_neo": "nwb_dicpop.statistics",
    "firing_class": "nwb_dicpop.statistics",
    "burst_metrics": "nwb_dicpop.statistics",
    "validate_population": "nwb_dicpop.validation",
    "ValidationResult": "nwb_dicpop.validation",
    "analyze_neuromodulation": "nwb_dicpop.neuromodulation",
    "NeuromodulationResult": "nwb_dicpop.neuromodulation",
    "track_dics": "nwb_dicpop.neuromodulation",
}

__all__ = ["__version__", *_EXPORTS]  # noqa: PLE0604 - the names are the keys of _EXPORTS


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'nwb_dicpop' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
