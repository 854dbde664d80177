"""``run_pipeline``: spike trains in, an annotated NWB file and a per-unit summary out.

The stages, in order: read (:func:`~nwb_dicpop.read_spike_trains`), statistics
(:func:`~nwb_dicpop.compute_spike_statistics`), inference (:func:`~nwb_dicpop.infer_dics`), one
population per unit with targets drawn from the inferred uncertainty
(:func:`~nwb_dicpop.generate_unit_populations`), optional simulation and validation
(:func:`~nwb_dicpop.validate_population`), and writing (:func:`~nwb_dicpop.write_results`).
Populations and validation run as batch tasks (:mod:`nwb_dicpop._tasks`), here or on Dask.

Units that cannot be handled (silent, unreachable target) are reported with a status and a
reason in the summary. They are never dropped silently, and they never stop the other units.
Each unit draws from its own seed (:func:`unit_seed`, from ``seed`` and its unit id), so results
do not depend on how units are split across Dask workers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._tasks import (
    PopulationSettings,
    SimulationWindow,
    UnitOutcome,
    batch_tasks,
    run_batch,
)
from nwb_dicpop._validation import check_positive
from nwb_dicpop.compensation import unit_seed
from nwb_dicpop.containers import DICEstimate, Population, SpikeTrains
from nwb_dicpop.models import get_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PipelineResult", "run_pipeline", "unit_seed"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PipelineResult:
    """What :func:`run_pipeline` produced for one input.

    Attributes
    ----------
    source : str
    output : pathlib.Path or None
        The annotated NWB file (None when writing was off).
    model_name : str
    spikes : SpikeTrains
    statistics : pandas.DataFrame
        One row per unit (spike statistics).
    dics : DICEstimate
    populations : tuple of Population
        One per unit that got a population.
    validations : dict
        Validation result per unit id (empty when validation was off).
    summary : pandas.DataFrame
        One row per unit: firing class, inferred DICs, ``status`` ("ok", "silent",
        "unreachable", ... see :data:`~nwb_dicpop.compensation.UNIT_STATUSES`) and ``reason``
        (why a unit got no population), population size, fraction of valid members.
    settings : dict
    """

    source: str
    output: Path | None
    model_name: str
    spikes: SpikeTrains
    statistics: pd.DataFrame
    dics: DICEstimate
    populations: tuple[Population, ...]
    validations: dict[Any, Any]
    summary: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        n_ok = int((self.summary["status"] == "ok").sum()) if len(self.summary) else 0
        return (
            f"PipelineResult(source={self.source!r}, model={self.model_name!r}, {len(self.summary)} units, "
            f"{n_ok} with a population, output={str(self.output) if self.output else None!r})"
        )


def run_pipeline(
    source: Any,
    *,
    model: str,
    n_models: int = 100,
    output: str | Path | None = None,
    validate: bool = True,
    unit_ids: Sequence[Any] | None = None,
    where: dict[str, Any] | None = None,
    window: tuple[float, float] | None = None,
    epoch: str | None = None,
    seed: int = 0,
    duration: float = 2.0,
    transient: float = 2.0,
    write: bool = True,
    overwrite: bool = False,
    scheduler: Any = None,
    weights: str | Path | None = None,
    uncertainty_scale: float = 1.0,
    progress: Progress | None = None,
) -> PipelineResult:
    """Read, characterise, infer, populate, validate and write, for every unit of ``source``.

    Parameters
    ----------
    source : str, pathlib.Path, SpikeTrains or anything :func:`~nwb_dicpop.read_spike_trains` reads
        A local NWB file, an HTTP(S) URL, a ``dandi://`` asset, a Neo-readable file or a CSV.
    model : str
        ``"stg"`` or ``"da"`` (or a registered model with shipped network weights).
    n_models : int
        Members per unit population.
    output : path, optional
        Annotated NWB file; default ``<input stem>_dicpop.nwb`` next to a local NWB input. The
        input is never modified.
    validate : bool
        Simulate every population with Brian2 and score it against the recorded train.
    unit_ids, where, window, epoch
        Which units and which part of the recording (see ``read_spike_trains``); ``window`` is
        ``(t_start, t_stop)`` in seconds.
    seed : int
        Same seed, same result, however the work is split.
    duration, transient : float
        Recorded window simulated after a discarded transient, in seconds (validation only;
        default 2 s after 2 s).
    write : bool
        Write the annotated NWB file (requires an NWB input).
    overwrite : bool
        Replace an existing output file.
    scheduler : None, "local", address or distributed.Client
        Run units as Dask tasks (see :mod:`nwb_dicpop.distributed`).
    weights : path, optional
        Network weights (a ``.json`` card); default the weights shipped for ``model``.
    uncertainty_scale : float
        Member targets are drawn from ``Normal(mean, uncertainty_scale * std)`` of the inferred
        DICs (default 1: the population carries the network's calibrated uncertainty; 0: every
        member at the point estimate, a tighter population that validates more often, see
        ``docs/model_card.md``).
    progress : callable, optional
        ``progress(stage, n_done, n_total)``.

    Returns
    -------
    PipelineResult
    """
    import pandas as pd

    from nwb_dicpop.distributed import map_tasks
    from nwb_dicpop.inference.predict import infer_dics
    from nwb_dicpop.io import read_spike_trains
    from nwb_dicpop.statistics import compute_spike_statistics

    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    check_positive("duration", duration, unit="s")
    if transient < 0:
        msg = f"`transient` must be >= 0 seconds; got {transient}."
        raise ValueError(msg)
    population_settings = PopulationSettings(n_models=n_models, seed=seed, uncertainty_scale=uncertainty_scale)
    if isinstance(source, SpikeTrains):
        spikes = source
        source_name = source.source or "SpikeTrains"
    else:
        spikes = read_spike_trains(source, unit_ids=unit_ids, where=where, window=window, epoch=epoch)
        source_name = str(source)
    statistics = compute_spike_statistics(spikes).reset_index()
    dics = infer_dics(spikes, model=spec.name, weights=weights)
    validation = SimulationWindow(duration=float(duration), transient=float(transient)) if validate else None
    observed = [spikes.times[i] - spikes.t_start[i] for i in range(spikes.n_units)] if validate else None
    tasks = batch_tasks(dics, population_settings, observed=observed, validation=validation,
                        distributed=scheduler is not None)
    sizes = [task.n_populations for task in tasks]
    report = None
    if progress is not None and sum(sizes):
        report = lambda done, total: progress("units", sum(sizes[:done]), sum(sizes))
    batches = map_tasks(run_batch, tasks, scheduler=scheduler, progress=report)
    outcomes = {o.unit_id: o for batch in batches for o in batch}
    summary = _summary(spikes, dics, outcomes)
    populations = tuple(o.population for o in outcomes.values() if o.population is not None)
    validations = {uid: o.validation for uid, o in outcomes.items() if o.validation is not None}
    settings = {
        "model": spec.name, "n_models": int(n_models), "validate": bool(validate), "seed": int(seed),
        "duration_s": float(duration), "transient_s": float(transient), "window": window, "epoch": epoch,
        "unit_ids": None if unit_ids is None else [str(u) for u in unit_ids], "where": where,
        "weights": str(weights) if weights else "shipped", "network_version": dics.network_version,
        "uncertainty_scale": float(uncertainty_scale),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    result = PipelineResult(
        source=source_name, output=None, model_name=spec.name, spikes=spikes, statistics=statistics,
        dics=dics, populations=populations, validations=validations, summary=pd.DataFrame(summary),
        settings=settings,
    )
    if write:
        result = dataclasses.replace(result, output=_write(source, output, result, overwrite=overwrite))
    return result


def _summary(spikes: SpikeTrains, dics: DICEstimate, outcomes: dict[Any, UnitOutcome]) -> list[dict[str, Any]]:
    """One row per unit of ``dics``: its estimate, its population's status and its validation."""
    rows = []
    for i, uid in enumerate(dics.unit_ids):
        outcome = outcomes.get(uid)
        status = dics.status[i] if outcome is None else outcome.status
        reason = "" if outcome is None else outcome.reason
        validation = None if outcome is None else outcome.validation
        rows.append(
            {
                "unit_id": uid,
                "n_spikes": int(spikes.n_spikes[i]),
                "firing_class": dics.firing_class[i],
                "g_s": float(dics.g_s[i]),
                "g_s_std": float(dics.g_s_std[i]),
                "g_u": float(dics.g_u[i]),
                "g_u_std": float(dics.g_u_std[i]),
                "out_of_distribution": bool(dics.out_of_distribution[i]),
                "status": status,
                "reason": reason,
                "n_models": 0 if outcome is None or outcome.population is None else outcome.population.n_models,
                "valid_fraction": float("nan") if validation is None else float(validation.fraction_valid),
            }
        )
    return rows


def _write(source: Any, output: str | Path | None, result: PipelineResult, *, overwrite: bool) -> Path:
    """Write ``result`` (its DICs, populations, statistics, validations, settings) next to ``source``."""
    from nwb_dicpop.nwb import write_results

    if not isinstance(source, (str, Path)) or not str(source).endswith(".nwb") or "://" in str(source):
        msg = (
            f"Writing an annotated NWB file needs a local .nwb input; got {source!r}. Pass write=False "
            "(CLI: --no-write) and use the returned result, or convert the input to NWB first."
        )
        raise ValueError(msg)
    settings = result.settings
    validation_frame = None
    if result.validations:
        import pandas as pd

        frames = []
        for uid, validation in result.validations.items():
            frame = validation.members.reset_index(drop=True)
            frame.insert(0, "member", np.arange(len(frame)))
            frame.insert(0, "unit_id", uid)
            frames.append(frame)
        validation_frame = pd.concat(frames, ignore_index=True)
    seeds = {"seed": settings["seed"], "unit_seeds": {str(p.unit_id): p.seed for p in result.populations}}
    provenance = {"model": settings["model"], "seeds": seeds, "settings": json.loads(json.dumps(settings, default=str))}
    return write_results(
        source, output, dics=result.dics, populations=list(result.populations), statistics=result.statistics,
        validation=validation_frame, provenance=provenance, overwrite=overwrite,
    )
