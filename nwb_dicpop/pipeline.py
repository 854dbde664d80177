"""``run_pipeline``: spike trains in, an annotated NWB file and a per-unit summary out.

The stages, in order: read (:func:`read_recording`, i.e. :func:`~nwb_dicpop.read_spike_trains`
with a ``time_unit`` for NWB files too), statistics (:func:`~nwb_dicpop.compute_spike_statistics`),
inference (:func:`~nwb_dicpop.infer_dics`), one population per unit with targets drawn from the
network's posterior (its joint posterior, ``DICEstimate.sample``, for networks that have one; else
the independent Gaussians of :func:`~nwb_dicpop.generate_unit_populations`), optional validation,
and writing (:func:`~nwb_dicpop.write_results`).  Populations and validation run as batch tasks
(:mod:`nwb_dicpop._tasks`), here or on Dask.

Validation keeps only the members that reproduce the unit's own train
(:func:`~nwb_dicpop.validate_population`) and draws more, in rounds, until every unit has
``n_models`` valid members or a budget is spent (``max_rounds`` rounds, ``simulation_budget x
n_models`` simulated members); the summary reports the yield (valid / simulated).  Each unit
is simulated over a window that fits its recording and the model
(:func:`~nwb_dicpop.validation.validation_window`).

Units that cannot be handled (silent, unreachable target, no member reproduces the train) are
reported with a status and a reason in the summary.  They are never dropped silently, and they
never stop the other units.  Each unit draws from its own seed (:func:`unit_seed`, from
``seed`` and its unit id), so results do not depend on how units are split across Dask workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import warnings
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
    ValidationBudget,
    batch_tasks,
    run_batch,
    warm_up,
)
from nwb_dicpop._validation import check_positive
from nwb_dicpop.compensation import unit_seed
from nwb_dicpop.containers import DICEstimate, Population, SpikeTrains
from nwb_dicpop.models import get_model

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PipelineResult", "read_recording", "run_pipeline", "unit_seed"]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

NWB_SUFFIXES = (".nwb", ".h5", ".hdf5", ".hdf")
"""Suffixes of files read as NWB (their times are seconds by definition)."""


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
        One per unit that got a population.  With validation, every member reproduces its
        unit's train.
    validations : dict
        Validation result per unit id with a population (empty when validation was off).
    summary : pandas.DataFrame
        One row per unit: ``firing_class`` (the spike train's class by the ISI-CV rule of
        :func:`~nwb_dicpop.compute_spike_statistics`), ``network_class`` (the network's),
        the inferred DICs, ``g_f_population`` (mean fast DIC of the population's members: the
        network does not infer g_f), ``status`` ("ok", "partial", "not_reproduced",
        "silent", "unreachable", ...) and ``reason``, ``n_models`` (members returned),
        ``n_simulated``, ``n_valid``, ``yield`` (``n_valid / n_simulated``; ``valid_fraction``
        repeats it under its former name), and the simulated window (``window_duration``,
        ``window_transient``, seconds).
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
        statuses = self.summary["status"].value_counts().to_dict() if len(self.summary) else {}
        shown = ", ".join(f"{n} {status}" for status, n in statuses.items()) or "no units"
        return (
            f"PipelineResult(source={self.source!r}, model={self.model_name!r}, {len(self.summary)} units "
            f"({shown}), output={str(self.output) if self.output else None!r})"
        )


def read_recording(
    source: Any,
    *,
    unit_ids: Sequence[Any] | None = None,
    where: dict[str, Any] | None = None,
    window: tuple[float, float] | None = None,
    epoch: str | None = None,
    time_unit: str | None = None,
    sort: bool = False,
) -> SpikeTrains:
    """The spike trains :func:`run_pipeline` analyses: :func:`~nwb_dicpop.read_spike_trains`,
    with ``time_unit`` for NWB files too.

    Parameters
    ----------
    source, unit_ids, where, window, epoch, sort
        As for :func:`~nwb_dicpop.read_spike_trains` (``window`` in seconds).
    time_unit : {"s", "ms"}, optional
        Tables and arrays: the unit of their times.  NWB files store seconds by definition;
        ``"ms"`` divides a file's times and intervals by 1000 when it was written in
        milliseconds by mistake, and ``"s"`` reads them as they are.  Given explicitly, the
        unit is trusted: the plausibility check (:class:`~nwb_dicpop.TimeUnitWarning`) is
        skipped.  Default: seconds, checked.

    Returns
    -------
    SpikeTrains
    """
    from nwb_dicpop.io import TimeUnitWarning, read_spike_trains
    from nwb_dicpop.statistics import as_spike_trains

    selection = {"unit_ids": unit_ids, "where": where, "window": window, "epoch": epoch}
    if time_unit is not None and time_unit not in ("s", "ms"):
        msg = f"`time_unit` must be 's' or 'ms'; got {time_unit!r}."
        raise ValueError(msg)
    text = str(source) if isinstance(source, (str, Path)) else ""
    nwb_like = bool(text) and ("://" in text or text.lower().startswith("dandi:")
                               or Path(text).suffix.lower() in NWB_SUFFIXES)
    with warnings.catch_warnings() if time_unit else contextlib.nullcontext():
        if time_unit:
            warnings.simplefilter("ignore", TimeUnitWarning)  # a unit given explicitly is trusted
        if time_unit is None or not nwb_like:
            return read_spike_trains(source, time_unit=time_unit, sort=sort, **selection)
        if time_unit == "s":
            return read_spike_trains(source, sort=sort, **selection)
        selection["window"] = None  # seconds: applied after the conversion
        spikes = read_spike_trains(source, sort=sort, **selection)
    converted = SpikeTrains([t * 1e-3 for t in spikes.times], spikes.unit_ids, t_start=spikes.t_start * 1e-3,
                            t_stop=spikes.t_stop * 1e-3, source=spikes.source)
    return converted if window is None else as_spike_trains(converted, window=window)


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
    time_unit: str | None = None,
    sort: bool = False,
    seed: int = 0,
    duration: float | None = None,
    transient: float | None = None,
    max_rounds: int = 5,
    simulation_budget: float = 5.0,
    validation_rule: Any = "default",
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
        Members per unit population.  With ``validate``, each unit gets exactly ``n_models``
        members that reproduce its train, unless the budget runs out (status ``"partial"``).
    output : path, optional
        Annotated NWB file; default ``<input stem>_dicpop.nwb`` next to a local NWB input. The
        input is never modified.  Checked before any work (:func:`~nwb_dicpop.nwb.check_output_path`).
    validate : bool
        Simulate members with Brian2 and keep those that reproduce the unit's train (see
        ``max_rounds``); False: one population of ``n_models`` unsimulated members per unit.
    unit_ids, where, window, epoch, time_unit, sort
        Which units and which part of the recording, and how to read its times (see
        :func:`read_recording`); ``window`` is ``(t_start, t_stop)`` in seconds.
    seed : int
        Same seed, same result, however the work is split.
    duration, transient : float, optional
        Recorded window simulated after a discarded transient, in seconds (validation only).
        Default, per unit: its recording's duration (observation window) rounded down to
        0.1 s, within [2, 10] s, after the model's training transient (3 s for STG and DA);
        see :func:`~nwb_dicpop.validation.validation_window`.  Given values apply to every unit.
    max_rounds : int
        Validation rounds at most (default 5): draw, simulate, keep the valid members.
    simulation_budget : float
        At most ``simulation_budget * n_models`` members simulated per unit (default 5).
    validation_rule : {"default", "strict"} or ValidationRule
        What a valid member must match (:func:`~nwb_dicpop.validate_population`).
    write : bool
        Write the annotated NWB file (requires a local NWB input).
    overwrite : bool
        Replace an existing output file.
    scheduler : None, "local", address or distributed.Client
        Run units as Dask tasks (see :mod:`nwb_dicpop.distributed`).
    weights : path, optional
        Network weights (a ``.json`` card); default the weights shipped for ``model``.
    uncertainty_scale : float
        Member targets are drawn from the network's posterior, their distance to the point
        estimate multiplied by ``uncertainty_scale`` (joint posterior; without one,
        ``Normal(mean, uncertainty_scale * std)``).  Default 1: the population carries the
        network's calibrated uncertainty; 0: every member at the point estimate, a tighter
        population with a higher yield (``docs/method.md``).
    progress : callable, optional
        ``progress(stage, n_done, n_total)``.  With ``validate``: stage ``"members simulated"``,
        members simulated so far out of those drawn so far (the total grows when a validation
        round draws more), after each simulation (each finished task with a ``scheduler``);
        without: stage ``"units"``, populations drawn, after each task.  Then ``"writing"``.

    Returns
    -------
    PipelineResult

    Raises
    ------
    ValueError, FileExistsError, FileNotFoundError
        Bad settings, an output that cannot be written (before any work), unreadable input.
    """
    import pandas as pd

    from nwb_dicpop.distributed import map_tasks, open_client, submit_to_every_worker
    from nwb_dicpop.inference.predict import infer_dics
    from nwb_dicpop.statistics import compute_spike_statistics
    from nwb_dicpop.validation import validation_window

    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    if duration is not None:
        check_positive("duration", duration, unit="s")
    if transient is not None and not (isinstance(transient, (int, float)) and 0 <= transient < float("inf")):
        msg = f"`transient` must be >= 0 seconds; got {transient}."
        raise ValueError(msg)
    population_settings = PopulationSettings(n_models=n_models, seed=seed, uncertainty_scale=uncertainty_scale)
    budget = ValidationBudget(max_rounds=max_rounds, simulation_budget=simulation_budget, rule=validation_rule)
    output_path = _check_output(source, output, overwrite=overwrite) if write else None
    with contextlib.ExitStack() as stack:
        client = None if scheduler is None else stack.enter_context(open_client(scheduler))
        # the workers load Brian2 and the model's code while this process reads and infers
        # (the futures are held until the tasks are done: a released one could be cancelled)
        warming = submit_to_every_worker(client, warm_up, spec) if client is not None and validate else []
        if isinstance(source, SpikeTrains):
            spikes = source
            source_name = source.source or "SpikeTrains"
        else:
            spikes = read_recording(source, unit_ids=unit_ids, where=where, window=window, epoch=epoch,
                                    time_unit=time_unit, sort=sort)
            source_name = str(source)
        statistics = compute_spike_statistics(spikes).reset_index()
        dics = infer_dics(spikes, model=spec.name, weights=weights)
        windows = None
        observed = None
        if validate:
            windows = []
            for i in range(spikes.n_units):
                own_duration, own_transient = validation_window(float(spikes.t_stop[i] - spikes.t_start[i]), spec)
                windows.append(SimulationWindow(duration=float(own_duration if duration is None else duration),
                                                transient=float(own_transient if transient is None else transient)))
            observed = [spikes.times[i] - spikes.t_start[i] for i in range(spikes.n_units)]
        tasks = batch_tasks(dics, population_settings, observed=observed, validation=windows,
                            budget=budget if validate else None, distributed=scheduler is not None)
        sizes = [task.n_populations for task in tasks]
        report = None
        on_result = None
        work: Any = run_batch
        if progress is not None and validate:
            counts = _SimulationProgress(progress, [n_models * int(np.count_nonzero(t.estimate.ok)) for t in tasks])
            on_result = counts.finished
            if scheduler is None:  # in this process: counts as each simulation ends
                work = counts.runner()
        elif progress is not None and sum(sizes):
            report = lambda done, total: progress("units", sum(sizes[:done]), sum(sizes))
        batches = map_tasks(work, tasks, scheduler=client, progress=report, on_result=on_result)
        del warming
    outcomes = {o.unit_id: o for batch in batches for o in batch}
    summary = _summary(spikes, statistics, dics, outcomes)
    populations = tuple(o.population for o in outcomes.values() if o.population is not None)
    validations = {uid: o.validation for uid, o in outcomes.items() if o.validation is not None}
    settings = {
        "model": spec.name, "n_models": int(n_models), "validate": bool(validate), "seed": int(seed),
        "duration_s": None if duration is None else float(duration),
        "transient_s": None if transient is None else float(transient),
        "window_rule": ("per unit: recording duration within [2, 10] s after the model's training transient"
                        if duration is None or transient is None else "given"),
        "max_rounds": budget.max_rounds, "simulation_budget": budget.simulation_budget,
        "validation_rule": dataclasses.asdict(budget.rule),
        "window": window, "epoch": epoch, "time_unit": time_unit or "s", "sort": bool(sort),
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
    if output_path is not None:
        result = dataclasses.replace(result, output=_write(source, output_path, result, overwrite=overwrite))
        if progress is not None:
            progress("writing", 1, 1)
    return result


class _SimulationProgress:
    """``progress("members simulated", n_simulated, n_total)`` over the tasks of a validated run.

    ``n_total`` starts at the members the first round draws (``expected``, per task) and grows
    as later rounds draw more; each task's figures are replaced by its own counts as it reports
    them (during the task when it runs in this process, else when it finishes).
    """

    STAGE = "members simulated"

    def __init__(self, progress: Progress, expected: list[int]) -> None:
        self.progress = progress
        self.simulated = [0] * len(expected)
        self.drawn = list(expected)
        self.current = 0

    def runner(self) -> Callable[[Any], Any]:
        """``run_batch`` reporting each simulation of the task it runs (serial order)."""

        def run(task: Any) -> Any:
            index = self.current
            self.current += 1
            return run_batch(task, progress=lambda simulated, drawn: self.update(index, simulated, drawn))

        return run

    def finished(self, index: int, outcomes: Any) -> None:
        """A finished task: its members simulated, all rounds together."""
        n = sum(o.n_simulated for o in outcomes)
        self.update(index, n, n)

    def update(self, index: int, simulated: int, drawn: int) -> None:
        self.simulated[index], self.drawn[index] = simulated, drawn
        self.progress(self.STAGE, sum(self.simulated), sum(self.drawn))


def _check_output(source: Any, output: str | Path | None, *, overwrite: bool) -> Path:
    """The annotated file's path, checked before any work (a local NWB input is needed)."""
    from nwb_dicpop.nwb import check_output_path

    if not isinstance(source, (str, Path)) or not str(source).endswith(".nwb") or "://" in str(source):
        msg = (
            f"Writing an annotated NWB file needs a local .nwb input; got {source!r}. Pass write=False "
            "(CLI: --no-write) and use the returned result, or convert the input to NWB first."
        )
        raise ValueError(msg)
    return check_output_path(source, output, overwrite=overwrite)


def _summary(
    spikes: SpikeTrains, statistics: pd.DataFrame, dics: DICEstimate, outcomes: dict[Any, UnitOutcome]
) -> list[dict[str, Any]]:
    """One row per unit of ``dics``: its classes, estimate, population status, yield and window."""
    classes = dict(zip(statistics["unit_id"], statistics["firing_class"], strict=True))
    inferred_g_f = bool(np.any(np.isfinite(dics.g_f)))
    rows = []
    for i, uid in enumerate(dics.unit_ids):
        outcome = outcomes.get(uid)
        status = dics.status[i] if outcome is None else outcome.status
        population = None if outcome is None else outcome.population
        simulated = 0 if outcome is None else outcome.n_simulated
        row = {
            "unit_id": uid,
            "n_spikes": int(spikes.n_spikes[i]),
            "firing_class": classes.get(uid, "unknown"),
            "network_class": dics.network_class[i],
            "g_s": float(dics.g_s[i]),
            "g_s_std": float(dics.g_s_std[i]),
            "g_u": float(dics.g_u[i]),
            "g_u_std": float(dics.g_u_std[i]),
        }
        if inferred_g_f:
            row["g_f"] = float(dics.g_f[i])
        row |= {
            "g_f_population": float(np.mean(population.dics[:, 0])) if population is not None else float("nan"),
            "out_of_distribution": bool(dics.out_of_distribution[i]),
            "status": status,
            "reason": "" if outcome is None else outcome.reason,
            "n_models": 0 if population is None else population.n_models,
            "n_simulated": simulated,
            "n_valid": 0 if outcome is None else outcome.n_valid,
            "yield": float("nan") if outcome is None else outcome.yield_,
        }
        row["valid_fraction"] = row["yield"]
        window = None if outcome is None else outcome.window
        row["window_duration"] = float("nan") if window is None else float(window.duration)
        row["window_transient"] = float("nan") if window is None else float(window.transient)
        rows.append(row)
    return rows


def _population_outcomes(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-population validation columns of a summary, as :func:`~nwb_dicpop.write_results` stores them.

    One row per unit with members: ``unit_id``, ``validation_status`` ("ok" or "partial"),
    ``n_simulated``, ``n_valid``, ``yield``, ``validation_duration`` and ``validation_transient``.
    """
    columns = ["unit_id", "status", "n_simulated", "n_valid", "yield", "window_duration", "window_transient"]
    frame = summary.loc[(summary["n_models"] > 0) & (summary["n_simulated"] > 0), columns]
    names = {"status": "validation_status", "window_duration": "validation_duration",
             "window_transient": "validation_transient"}
    return frame.rename(columns=names).reset_index(drop=True)


def _write(source: Any, output: Path, result: PipelineResult, *, overwrite: bool) -> Path:
    """Write ``result`` (its DICs, populations, statistics, validations, settings) next to ``source``."""
    from nwb_dicpop.nwb import write_results

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
    unit_status = {str(uid): status for uid, status in zip(result.summary["unit_id"], result.summary["status"],
                                                          strict=True)}
    provenance = {"model": settings["model"], "seeds": seeds,
                  "settings": json.loads(json.dumps({**settings, "unit_status": unit_status}, default=str))}
    outcomes = _population_outcomes(result.summary) if settings["validate"] and result.populations else None
    return write_results(
        source, output, dics=result.dics, populations=list(result.populations), statistics=result.statistics,
        validation=validation_frame, population_outcomes=outcomes, provenance=provenance, overwrite=overwrite,
    )
