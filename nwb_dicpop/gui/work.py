"""What the GUI's worker processes run: compositions of the package's public functions.

Every function here takes ``progress(stage, n_done, n_total)`` (see
:class:`~nwb_dicpop.gui.jobs.Job`) and picklable arguments, and returns picklable results.
The science lives in the package (:func:`~nwb_dicpop.run_pipeline`,
:func:`~nwb_dicpop.analyze_neuromodulation`, ...); these functions only call it in the order
a page needs.  They run in a worker process, never in the server.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEMO_EPOCHS",
    "DEMO_FILE",
    "InferenceOutcome",
    "Recording",
    "compare_recordings",
    "export_nwb",
    "infer_units",
    "make_demo",
    "open_recording",
    "simulate_members",
    "trajectory",
]

Progress = Callable[[str, int, int], None]

DEMO_FILE = "demo_gui_stg.nwb"
"""Name of the demo recording in the GUI's temporary folder."""
DEMO_EPOCHS = ("before", "after")
"""Epochs of the demo recording: its two halves."""
DEMO_SCENARIOS = 2
"""Demo units (the last ones) in which one conductance changes between the two epochs."""


@dataclass(frozen=True)
class Recording:
    """Spike trains opened by the GUI, with where they came from and how they were selected.

    Attributes
    ----------
    source : str
        Path, URL or DANDI reference the trains were read from.
    label : str
        Short name for the page (file name).
    spikes : SpikeTrains
    statistics : pandas.DataFrame
        :func:`~nwb_dicpop.compute_spike_statistics`, one row per unit.
    selection : dict
        ``unit_ids``, ``window`` and ``epoch`` as passed to the reader.
    local_nwb : bool
        True when ``source`` is a local NWB file (then results can be written next to it).
    """

    source: str
    label: str
    spikes: Any
    statistics: Any
    selection: dict[str, Any] = field(default_factory=dict)
    local_nwb: bool = False


def make_demo(folder: str | Path, *, seed: int = 0, progress: Progress | None = None) -> str:
    """Write the GUI's demo recording (STG units simulated with Brian2) and return its path.

    The file holds the model's demo units (known DICs, tonic spikers and bursters) simulated
    without change for two training windows, and :data:`DEMO_SCENARIOS` units in which one
    conductance changes at the middle, enough to change the firing class (bursting <-> tonic;
    :func:`~nwb_dicpop.neuromodulation.generate_scenarios`): a change large enough to be
    detectable, so the Neuromodulation tab has something to find.  The units table records the
    truth (``true_g_s``, ``true_g_u`` and ``modulation``, e.g. "A x2.89").  Its epochs
    ``before`` and ``after`` are the two halves.  Nothing is downloaded.
    """
    import nwb_dicpop as ndp
    from nwb_dicpop.models import get_model
    from nwb_dicpop.neuromodulation import generate_scenarios
    from nwb_dicpop.testing import write_mock_nwb

    report = progress or (lambda *_: None)
    path = Path(folder) / DEMO_FILE
    if path.exists():
        return str(path)
    spec = get_model("stg")
    half, transient = float(spec.training.duration), float(spec.training.transient)
    targets = np.asarray(spec.evaluation.demo_targets, dtype=float)
    report("simulating the demo neurons", 0, 2)
    populations = ndp.generate_populations(spec, targets[:, 0], targets[:, 1], n_models=1, thresholds=False, rng=seed)
    conductances = np.concatenate([p.conductances for p in populations])
    steady = ndp.simulate_population(conductances, model=spec, duration=2 * half, transient=transient, rng=seed)
    report("simulating neuromodulated neurons", 1, 2)
    scenarios = generate_scenarios(spec, DEMO_SCENARIOS, class_changing_fraction=1.0, sizes=(1,), rng=seed)
    trains = [np.asarray(t) for t in steady.spike_times]
    trains += [np.concatenate([s.before_times, s.after_times + half]) for s in scenarios]
    n_steady = len(steady.spike_times)
    changes = ["none"] * n_steady + [
        ", ".join(f"{name} x{factor:.2f}" for name, factor in zip(s.subset, s.factors, strict=True)) for s in scenarios
    ]
    true_g_s = [*targets[:, 0], *(s.before_dics[1] for s in scenarios)]
    true_g_u = [*targets[:, 1], *(s.before_dics[2] for s in scenarios)]
    spikes = ndp.SpikeTrains(trains, list(range(len(trains))), t_start=0.0, t_stop=2 * half, source="GUI demo")
    write_mock_nwb(path, spikes, epochs={DEMO_EPOCHS[0]: (0.0, half), DEMO_EPOCHS[1]: (half, 2 * half)},
                   unit_columns={"model": [spec.name] * len(trains), "true_g_s": true_g_s, "true_g_u": true_g_u,
                                 "modulation": changes})
    report("done", 2, 2)
    return str(path)


def open_recording(
    source: str,
    *,
    unit_ids: Sequence[Any] | None = None,
    window: tuple[float, float] | None = None,
    epoch: str | None = None,
    time_unit: str | None = None,
    label: str | None = None,
    progress: Progress | None = None,
) -> Recording:
    """Read ``source`` with the package's readers and compute its spike statistics."""
    import nwb_dicpop as ndp
    from nwb_dicpop.pipeline import read_recording

    report = progress or (lambda *_: None)
    report("reading", 0, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ndp.TimeUnitWarning)
        try:
            spikes = read_recording(source, unit_ids=unit_ids, window=window, epoch=epoch, time_unit=time_unit)
        except ndp.TimeUnitWarning as warning:
            msg = (f"{warning} In the GUI: choose the time unit (seconds or milliseconds) under Selection and "
                   "open the file again.")
            raise ValueError(msg) from None
    report("spike statistics", 1, 2)
    statistics = ndp.compute_spike_statistics(spikes).reset_index()
    text = str(source)
    local = "://" not in text and not text.lower().startswith("dandi:") and Path(text).suffix.lower() == ".nwb"
    report("done", 2, 2)
    return Recording(source=text, label=label or Path(text).name or text, spikes=spikes, statistics=statistics,
                     selection={"unit_ids": unit_ids, "window": window, "epoch": epoch}, local_nwb=local)


@dataclass(frozen=True)
class InferenceOutcome:
    """DICs and populations of the units of a recording (what the Infer page shows).

    Attributes
    ----------
    dics : DICEstimate
        Every unit's estimate (one :func:`~nwb_dicpop.infer_dics` call).
    summary : pandas.DataFrame
        :attr:`~nwb_dicpop.PipelineResult.summary` rows of every unit.
    populations : dict
        Unit id -> Population (units with members).
    validations : dict
        Unit id -> the members' validation scores (``ValidationResult.members``), when validated.
    settings : dict
    """

    dics: Any
    summary: Any
    populations: dict[Any, Any]
    validations: dict[Any, Any]
    settings: dict[str, Any]


def infer_units(
    spikes: Any,
    *,
    model: str,
    n_models: int,
    validate: bool,
    seed: int = 0,
    max_rounds: int = 5,
    progress: Progress | None = None,
) -> InferenceOutcome:
    """DICs of every unit, then one :func:`~nwb_dicpop.run_pipeline` per unit (progress per unit).

    Each unit draws from its own seed in the pipeline, so running units one at a time gives
    the same members as one call on all of them.
    """
    import pandas as pd

    import nwb_dicpop as ndp

    report = progress or (lambda *_: None)
    n = spikes.n_units
    report("inferring DICs", 0, n)
    dics = ndp.infer_dics(spikes, model=model)
    rows, populations, validations = [], {}, {}
    simulated = 0
    for i, uid in enumerate(spikes.unit_ids):
        result = ndp.run_pipeline(spikes.select([uid]), model=model, n_models=n_models, validate=validate,
                                  write=False, seed=seed, max_rounds=max_rounds)
        rows.append(result.summary)
        for population in result.populations:
            populations[uid] = population
        for key, check in result.validations.items():
            validations[key] = check.members.reset_index(drop=True)
        simulated += int(result.summary["n_simulated"].sum())
        stage = f"populations: {simulated} members simulated" if validate else "populations"
        report(stage, i + 1, n)
    summary = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    settings = {"model": model, "n_models": int(n_models), "validate": bool(validate), "seed": int(seed),
                "max_rounds": int(max_rounds)}
    return InferenceOutcome(dics=dics, summary=summary, populations=populations, validations=validations,
                            settings=settings)


def simulate_members(
    population: Any,
    members: Sequence[int],
    observed: Any,
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[Any, Any]:
    """Simulate chosen members (voltage recorded) and score them against the observed train.

    Returns ``(SimulationResult, members' validation table)``; the window is the one
    validation uses for a recording of this length (:func:`~nwb_dicpop.validation.validation_window`).
    """
    import nwb_dicpop as ndp
    from nwb_dicpop.validation import validation_window

    report = progress or (lambda *_: None)
    chosen = [int(m) for m in members]
    if not chosen:
        msg = "Choose at least one member to simulate."
        raise ValueError(msg)
    if any(m < 0 or m >= population.n_models for m in chosen):
        msg = f"Members must be numbers from 0 to {population.n_models - 1}; got {chosen}."
        raise ValueError(msg)
    times = np.asarray(observed.times[0]) - float(observed.t_start[0])
    duration, transient = validation_window(float(observed.t_stop[0] - observed.t_start[0]), population.model_name)
    report("simulating", 0, len(chosen))
    simulation = ndp.simulate_population(population.conductances[chosen], model=population.model_name,
                                         duration=duration, transient=transient,
                                         record_voltage=list(range(len(chosen))), rng=seed)
    report("scoring", len(chosen), len(chosen))
    scores = ndp.validate_population(times, simulation).members.reset_index(drop=True)
    scores.insert(0, "member", chosen)
    return simulation, scores


def compare_recordings(
    before: Any,
    after: Any,
    *,
    model: str,
    recording: Any = None,
    unit: Any = None,
    n_models: int = 100,
    validate: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[Any, dict[str, Any]]:
    """:func:`~nwb_dicpop.analyze_neuromodulation`, and the modulation map of each leading subset.

    Returns ``(NeuromodulationResult, {subset: ModulationMap})``: the maps of the first-ranked
    subsets, or of the best-scoring one when no change is detectable.
    """
    import nwb_dicpop as ndp
    from nwb_dicpop.neuromodulation import modulation_map

    report = progress or (lambda *_: None)
    report("ranking subsets", 0, 2)
    result = ndp.analyze_neuromodulation(before, after, model=model, recording=recording, unit=unit,
                                         n_models=n_models, validate=validate, rng=seed)
    report("reachability maps", 1, 2)
    subsets = list(result.top) or list(result.ranking["subset"].head(1))
    maps = {name: modulation_map(result.before_population, name) for name in subsets[:3]}
    report("done", 2, 2)
    return result, maps


def trajectory(
    spiketrain: Any,
    *,
    model: str,
    window: float,
    step: float,
    n_models: int = 50,
    seed: int = 0,
    progress: Progress | None = None,
) -> Any:
    """:func:`~nwb_dicpop.track_dics` of one unit's train."""
    import nwb_dicpop as ndp

    report = progress or (lambda *_: None)
    report("tracking DICs", 0, 1)
    result = ndp.track_dics(spiketrain, model=model, window=window, step=step, n_models=n_models, rng=seed)
    report("done", 1, 1)
    return result


def export_nwb(
    source: str,
    output: str,
    *,
    outcome: InferenceOutcome,
    statistics: Any = None,
    progress: Progress | None = None,
) -> str:
    """Write the annotated NWB file (:func:`~nwb_dicpop.write_results`) and return its path."""
    import nwb_dicpop as ndp

    report = progress or (lambda *_: None)
    report("writing", 0, 1)
    provenance = {"model": outcome.settings["model"], "seeds": {"seed": outcome.settings["seed"]},
                  "settings": {**outcome.settings, "written_by": "nwb-dicpop gui"}}
    path = ndp.write_results(source, output, dics=outcome.dics, populations=list(outcome.populations.values()),
                             statistics=statistics, provenance=provenance, overwrite=True)
    report("done", 1, 1)
    return str(path)
