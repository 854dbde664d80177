"""The public namespace and the signatures of the main verbs are pinned; importing stays light.

A change to either is a change of the public API: update the pins here on purpose, and say so in the
release notes.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import nwb_dicpop as ndp

HEAVY = ("torch", "brian2", "pynwb", "sympy", "neo", "elephant", "dask")

PUBLIC_NAMES = ["CompensationSettings", "DICEstimate", "DicpopResults", "NeuromodulationResult", "NeuronModel",
 "PipelineResult", "Population", "PopulationSet", "ReachabilityMap", "SimulationResult", "SpikeTrains",
 "ThresholdResult", "TimeUnitWarning", "UnitPopulation", "UnreachableTargetError", "ValidationResult",
 "__version__", "analyze_neuromodulation", "as_spike_trains", "available_models", "burst_metrics",
 "choose_compensating_set", "compute_dics", "compute_spike_statistics", "find_threshold", "firing_class",
 "generate_population", "generate_populations", "generate_spiking_population", "generate_unit_populations",
 "get_model", "infer_dics", "reachability_map", "read_batches", "read_results", "read_spike_trains",
 "register_model", "run_pipeline", "simulate_batches", "simulate_population", "to_neo", "track_dics",
 "validate_population", "write_neuromodulation", "write_results"]

SIGNATURES = {
    "read_spike_trains": (
        "(source: 'Any', *, unit_ids: 'Sequence[Any] | None' = None, where: 'Mapping[str, Any] | None' = "
        "None, window: 'tuple[float, float] | None' = None, epoch: 'str | None' = None, time_unit: 'str |"
        " None' = None, unit_column: 'str | None' = None, time_column: 'str | None' = None, segment: 'int"
        " | None' = None, sort: 'bool' = False, timeout: 'float' = 30.0, cache_dir: 'str | "
        "os.PathLike[str] | None' = None) -> 'SpikeTrains'"
    ),
    "as_spike_trains": (
        "(data: 'Any', *, unit_ids: 'Sequence[Any] | None' = None, window: 'tuple[float, float] | None' ="
        " None, time_unit: 'str | None' = None, sort: 'bool' = False, segment: 'int | None' = None, "
        "unit_column: 'str | None' = None, time_column: 'str | None' = None, source: 'str | None' = None,"
        " input_name: 'str' = 'data') -> 'SpikeTrains'"
    ),
    "compute_spike_statistics": (
        "(spiketrains: 'Any', *, t_start: 'Any' = None, t_stop: 'Any' = None) -> 'pd.DataFrame'"
    ),
    "infer_dics": (
        "(spiketrains: 'Any', *, model: 'str' = 'stg', batch_size: 'int' = 512, weights: 'str | Path | "
        "None' = None, max_spikes: 'int | None' = None) -> 'DICEstimate'"
    ),
    "generate_population": (
        "(model: 'str | NeuronModel', g_s: 'float', g_u: 'float', *, n_models: 'int', compensating_set: "
        "'str | tuple[str, str]' = 'rule', g_s_std: 'float' = 0.0, g_u_std: 'float' = 0.0, tolerance: "
        "'float' = 1e-12, max_residual: 'float' = 1e-06, thresholds: 'bool' = True, unit_id: 'Any' = "
        "None, rng: 'int | np.random.Generator | None' = None) -> 'Population'"
    ),
    "generate_populations": (
        "(model: 'str | NeuronModel', g_s: 'Any', g_u: 'Any', *, n_models: 'int', compensating_set: 'str "
        "| tuple[str, str]' = 'rule', g_s_std: 'Any' = 0.0, g_u_std: 'Any' = 0.0, tolerance: 'float' = "
        "1e-12, max_residual: 'float' = 1e-06, thresholds: 'bool' = True, unit_ids: 'Any' = None, rng: "
        "'int | np.random.Generator | None' = None) -> 'list[Population]'"
    ),
    "generate_unit_populations": (
        "(estimate: 'DICEstimate', *, n_models: 'int', seed: 'int' = 0, uncertainty_scale: 'float' = 1.0,"
        " compensating_set: 'str | tuple[str, str]' = 'rule', compensation: 'CompensationSettings | None'"
        " = None, thresholds: 'bool' = True, skip_out_of_distribution: 'bool' = False) -> 'PopulationSet'"
    ),
    "simulate_population": (
        "(population: 'Population | pd.DataFrame | np.ndarray', *, model: 'str | NeuronModel | None' = "
        "None, duration: 'float | None' = None, transient: 'float' = 2.0, dt: 'float | None' = None, "
        "noise_sigma: 'float' = 0.0, record_voltage: 'Sequence[int]' = (), code_target: 'str' = 'auto', "
        "method: 'str | None' = None, rng: 'int | np.random.Generator | None' = None, noise_dt: 'float | "
        "None' = None, total_duration: 'float | None' = None) -> 'SimulationResult'"
    ),
    "simulate_batches": (
        "(conductances: 'Population | Any', *, model: 'str | NeuronModel | None', output_dir: 'str | "
        "os.PathLike[str]', chunk_size: 'int' = 1000, duration: 'float | None' = None, transient: "
        "'float', dt: 'float | None' = None, noise_sigma: 'float' = 0.0, seed: 'int' = 0, scheduler: "
        "'Any' = None, progress: 'Callable[[int, int], Any] | None' = None, method: 'str | None' = None, "
        "code_target: 'str' = 'auto', noise_dt: 'float | None' = None, total_duration: 'float | None' = "
        "None) -> 'Path'"
    ),
    "validate_population": (
        "(observed_spiketrain: 'Any', population_or_result: 'Any', *, model: 'Any' = None, duration: "
        "'float | None' = None, transient: 'float | None' = None, dt: 'float | None' = None, noise_sigma:"
        " 'float' = 0.0, rng: 'int | np.random.Generator | None' = None, reference: 'Any' = None, rule: "
        "'str | ValidationRule' = 'default', max_relative_error: 'float | None' = None, "
        "max_van_rossum_ratio: 'float' = 1.0, code_target: 'str' = 'auto', method: 'str | None' = None) "
        "-> 'ValidationResult'"
    ),
    "write_results": (
        "(source_path: 'str | os.PathLike[str]', output_path: 'str | os.PathLike[str] | None' = None, *, "
        "dics: 'DICEstimate | None' = None, populations: 'Population | Sequence[Population] | None' = "
        "None, statistics: 'pd.DataFrame | None' = None, validation: 'pd.DataFrame | None' = None, "
        "population_outcomes: 'pd.DataFrame | None' = None, provenance: 'Mapping[str, Any] | None' = "
        "None, overwrite: 'bool' = False, in_place: 'bool' = False) -> 'Path'"
    ),
    "read_results": (
        "(path: 'str | os.PathLike[str]') -> 'DicpopResults'"
    ),
    "write_neuromodulation": (
        "(source_path: 'str | os.PathLike[str]', results: 'NeuromodulationResult | "
        "Sequence[NeuromodulationResult]', output_path: 'str | os.PathLike[str] | None' = None, *, "
        "unit_ids: 'Sequence[Any] | None' = None, overwrite: 'bool' = False, in_place: 'bool' = False) -> 'Path'"
    ),
    "run_pipeline": (
        "(source: 'Any', *, model: 'str', n_models: 'int' = 100, output: 'str | Path | None' = None, "
        "validate: 'bool' = True, unit_ids: 'Sequence[Any] | None' = None, where: 'dict[str, Any] | None'"
        " = None, window: 'tuple[float, float] | None' = None, epoch: 'str | None' = None, time_unit: "
        "'str | None' = None, sort: 'bool' = False, seed: 'int' = 0, duration: 'float | None' = None, "
        "transient: 'float | None' = None, max_rounds: 'int' = 5, simulation_budget: 'float' = 5.0, "
        "validation_rule: 'Any' = 'default', write: 'bool' = True, overwrite: 'bool' = False, scheduler: "
        "'Any' = None, weights: 'str | Path | None' = None, uncertainty_scale: 'float' = 1.0, progress: "
        "'Progress | None' = None) -> 'PipelineResult'"
    ),
    "compute_dics": (
        "(model: 'str | NeuronModel', conductances: 'Any', voltage: 'Any') -> 'np.ndarray'"
    ),
    "find_threshold": (
        "(model: 'str | NeuronModel', conductances: 'Any', *, voltage_limits: 'tuple[float, float] | "
        "None' = None, resolution: 'float' = 0.5, tolerance: 'float' = 1e-06) -> 'ThresholdResult'"
    ),
    "reachability_map": (
        "(model: 'str | NeuronModel', compensating_set: 'tuple[str, str]', *, g_s_values: 'Any' = None, "
        "g_u_values: 'Any' = None, n_models: 'int' = 100, epsilon: 'float' = 0.1, rng: 'int | "
        "np.random.Generator | None' = None) -> 'ReachabilityMap'"
    ),
    "analyze_neuromodulation": (
        "(before: 'Any', after: 'Any', *, model: 'str | NeuronModel', recording: 'Any' = None, unit: "
        "'Any' = None, n_models: 'int' = 200, max_subset_size: 'int' = 2, subsets: 'Any' = None, "
        "validate: 'bool' = False, n_simulated: 'int' = 16, modulation_limits: 'Any' = None, min_spikes: "
        "'int' = 5, rng: 'int | np.random.Generator | None' = None) -> 'NeuromodulationResult'"
    ),
    "track_dics": (
        "(spiketrain: 'Any', *, model: 'str | NeuronModel', window: 'float', step: 'float', n_models: "
        "'int' = 100, compensating_set: 'str | tuple[str, str]' = 'rule', min_spikes: 'int' = 5, rng: "
        "'int | np.random.Generator | None' = None) -> 'DICTrajectory'"
    ),
}


def test_public_names_are_pinned_exactly():
    assert sorted(ndp.__all__) == PUBLIC_NAMES


def test_every_public_name_resolves():
    for name in ndp.__all__:
        assert getattr(ndp, name) is not None


@pytest.mark.parametrize("verb", sorted(SIGNATURES))
def test_signatures_of_the_verbs_are_pinned(verb):
    assert str(inspect.signature(getattr(ndp, verb))) == SIGNATURES[verb]


def test_import_is_light():
    code = f"import sys, nwb_dicpop; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
