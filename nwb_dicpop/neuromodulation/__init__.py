"""Neuromodulation at the population level: which conductances changed between two recordings.

:func:`analyze_neuromodulation` ranks subsets of conductances by how plausibly a change of
those conductances alone turns the degenerate population of the "before" train into one that
fires like the "after" train; :func:`modulation_map` shows which DICs a subset reaches from a
population and at what cost; :func:`track_dics` follows the DICs through sliding windows of
one recording; :func:`generate_scenarios` simulates known modulations for testing.  The
method and its measured accuracy are in ``docs/neuromodulation.md``.
"""

from __future__ import annotations

from nwb_dicpop.neuromodulation._analysis import NeuromodulationResult, analyze_neuromodulation
from nwb_dicpop.neuromodulation._maps import ModulationMap, modulation_map
from nwb_dicpop.neuromodulation._trajectory import DICTrajectory, track_dics
from nwb_dicpop.neuromodulation.scenarios import Scenario, generate_scenarios

__all__ = [
    "DICTrajectory",
    "ModulationMap",
    "NeuromodulationResult",
    "Scenario",
    "analyze_neuromodulation",
    "generate_scenarios",
    "modulation_map",
    "track_dics",
]
