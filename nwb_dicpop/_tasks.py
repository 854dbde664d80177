"""Picklable units of work of :func:`~nwb_dicpop.run_pipeline`: populations, then validation.

A :class:`BatchTask` holds a few units of a :class:`~nwb_dicpop.DICEstimate` and their
recorded trains (numbers only: no files, no NWB objects), so that it runs in this process or as
a Dask task (:func:`~nwb_dicpop.distributed.map_tasks`).  :func:`run_batch` builds the units'
populations with :func:`~nwb_dicpop.compensation.generate_unit_populations`, simulates all their
members in one Brian2 run (one run per task amortises the simulator's per-step overhead over
many units), and scores each unit's members against its recorded train.

Unit ``u`` draws from ``unit_seed(seed, u)``, so its population does not depend on how the
units are batched; :func:`batch_tasks` groups them.  Shared by :mod:`nwb_dicpop.pipeline` and
:mod:`nwb_dicpop.inference.evaluation`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_positive
from nwb_dicpop.compensation import (
    CompensationSettings,
    PopulationSet,
    check_seed,
    check_uncertainty_scale,
    generate_unit_populations,
    unit_seed,
)
from nwb_dicpop.containers import DICEstimate, Population
from nwb_dicpop.models import get_model

__all__ = [
    "MEMBERS_PER_TASK",
    "MIN_TASKS_DISTRIBUTED",
    "BatchTask",
    "PopulationSettings",
    "SimulationWindow",
    "UnitOutcome",
    "batch_tasks",
    "run_batch",
    "select_units",
    "target_estimate",
]

MEMBERS_PER_TASK = 2000
"""Population members simulated together in one task: one Brian2 run per task amortises the
per-step overhead of the simulator over many units."""

MIN_TASKS_DISTRIBUTED = 8
"""On a Dask cluster, units are split into at least this many tasks (when there are that many
units), so that every worker gets work; results do not depend on the split."""

_PER_UNIT_FIELDS = (
    "unit_ids", "g_s", "g_u", "g_s_std", "g_u_std", "firing_class", "out_of_distribution", "status", "g_f",
    "n_spikes_used",
)
"""Fields of :class:`~nwb_dicpop.DICEstimate` that hold one entry per unit."""


@dataclass(frozen=True, slots=True)
class PopulationSettings:
    """How every unit's population is built (the arguments of ``generate_unit_populations``).

    Attributes
    ----------
    n_models : int
        Members per population.
    seed : int
        The run's seed; unit ``u`` draws from ``unit_seed(seed, u)``.
    uncertainty_scale : float
        Member targets are drawn from ``Normal(mean, uncertainty_scale * std)``.
    compensating_set : "rule", "auto" or (str, str)
    compensation : CompensationSettings
        Solver tolerance, iterations, residual and draw limits.
    thresholds : bool
        Compute each member's own ``V_th``.
    """

    n_models: int
    seed: int = 0
    uncertainty_scale: float = 1.0
    compensating_set: str | tuple[str, str] = "rule"
    compensation: CompensationSettings = field(default_factory=CompensationSettings)
    thresholds: bool = True

    def __post_init__(self) -> None:
        check_positive("n_models", self.n_models, integer=True)
        object.__setattr__(self, "n_models", int(self.n_models))
        object.__setattr__(self, "seed", check_seed(self.seed))
        object.__setattr__(self, "uncertainty_scale", check_uncertainty_scale(self.uncertainty_scale))

    def generate(self, estimate: DICEstimate) -> PopulationSet:
        """The populations of every unit of ``estimate`` with these settings."""
        return generate_unit_populations(
            estimate, n_models=self.n_models, seed=self.seed, uncertainty_scale=self.uncertainty_scale,
            compensating_set=self.compensating_set, compensation=self.compensation, thresholds=self.thresholds,
        )


@dataclass(frozen=True, slots=True)
class SimulationWindow:
    """The Brian2 simulation that validates populations.

    Attributes
    ----------
    duration, transient : float
        Seconds, passed as they are to :func:`~nwb_dicpop.simulate_population` (see it for
        what each covers).
    """

    duration: float
    transient: float


@dataclass(frozen=True, slots=True)
class BatchTask:
    """A few units handled by one task.

    Attributes
    ----------
    estimate : DICEstimate
        The task's units (rows of the run's estimate).
    populations : PopulationSettings
    observed : tuple of ndarray or None
        Each unit's recorded spike times in seconds from the start of its recording, in the
        order of ``estimate``; needed when ``validation`` is set.
    validation : SimulationWindow or None
        Simulate and score the populations (None: populations only).
    """

    estimate: DICEstimate
    populations: PopulationSettings
    observed: tuple[np.ndarray, ...] | None = None
    validation: SimulationWindow | None = None

    def __post_init__(self) -> None:
        if self.observed is not None and len(self.observed) != self.estimate.n_units:
            msg = (
                f"`observed` must hold one spike train per unit of the estimate ({self.estimate.n_units}); "
                f"got {len(self.observed)}."
            )
            raise ValueError(msg)
        if self.validation is not None and self.observed is None:
            msg = "`observed` spike trains are needed to validate populations; pass them or set validation=None."
            raise ValueError(msg)

    @property
    def n_populations(self) -> int:
        """Units of the task with a usable estimate (those that may get a population)."""
        return int(np.count_nonzero(self.estimate.ok))


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    """What a task produced for one unit.

    Attributes
    ----------
    unit_id : object
    status : str
        As :attr:`~nwb_dicpop.compensation.UnitPopulation.status`.
    reason : str
        Why the unit got no population ("" when it got one).
    population : Population or None
    validation : ValidationResult or None
        None when validation was off or the unit got no population.
    """

    unit_id: Any
    status: str
    reason: str = ""
    population: Population | None = None
    validation: Any = None


def select_units(estimate: DICEstimate, rows: Sequence[int]) -> DICEstimate:
    """The estimate restricted to ``rows`` (positions, in the order given)."""
    index = np.asarray(rows, dtype=np.intp)
    changes: dict[str, Any] = {}
    for name in _PER_UNIT_FIELDS:
        value = getattr(estimate, name)
        changes[name] = tuple(value[i] for i in index) if isinstance(value, tuple) else np.asarray(value)[index]
    return dataclasses.replace(estimate, **changes)


def target_estimate(model: str, unit_ids: Sequence[Any], g_s: Any, g_u: Any) -> DICEstimate:
    """A :class:`~nwb_dicpop.DICEstimate` of known DICs, to build populations at given targets.

    Every unit has status ``"ok"``, zero uncertainty and firing class ``"unknown"``; the
    network version is ``"known targets"``.
    """
    spec = get_model(model)
    n = len(unit_ids)
    return DICEstimate(
        unit_ids=tuple(unit_ids), model_name=spec.name, threshold=float(spec.threshold),
        g_s=np.asarray(g_s, dtype=np.float64), g_u=np.asarray(g_u, dtype=np.float64), g_s_std=0.0, g_u_std=0.0,
        firing_class=("unknown",) * n, out_of_distribution=False, status=("ok",) * n,
        network_version="known targets",
    )


def batch_tasks(
    estimate: DICEstimate,
    populations: PopulationSettings,
    *,
    observed: Sequence[np.ndarray] | None = None,
    validation: SimulationWindow | None = None,
    distributed: bool = False,
) -> list[BatchTask]:
    """Every unit of ``estimate`` in tasks of about :data:`MEMBERS_PER_TASK` members.

    Only units with an ``"ok"`` estimate count towards a task's size (the others get no
    members); a task starts at such a unit.  When ``distributed``, tasks are smaller so that
    there are at least :data:`MIN_TASKS_DISTRIBUTED` of them.  Results do not depend on the
    split.

    Parameters
    ----------
    estimate : DICEstimate
    populations : PopulationSettings
    observed : sequence of ndarray, optional
        Each unit's recorded train (seconds from the start of its recording), in the order of
        ``estimate``; needed for ``validation``.
    validation : SimulationWindow, optional
    distributed : bool

    Returns
    -------
    list of BatchTask
    """
    if observed is not None and len(observed) != estimate.n_units:
        msg = f"`observed` must hold one spike train per unit of the estimate ({estimate.n_units}); got {len(observed)}."
        raise ValueError(msg)
    usable = estimate.ok
    n_usable = int(np.count_nonzero(usable))
    per_task = max(1, MEMBERS_PER_TASK // populations.n_models)
    if distributed:
        per_task = min(per_task, max(1, -(-n_usable // MIN_TASKS_DISTRIBUTED)))
    groups: list[list[int]] = []
    current: list[int] = []
    count = 0
    for i in range(estimate.n_units):
        if usable[i] and count == per_task:
            groups.append(current)
            current, count = [], 0
        current.append(i)
        count += int(usable[i])
    if current:
        groups.append(current)
    return [
        BatchTask(
            estimate=select_units(estimate, rows), populations=populations,
            observed=None if observed is None else tuple(observed[i] for i in rows), validation=validation,
        )
        for rows in groups
    ]


def run_batch(task: BatchTask) -> list[UnitOutcome]:
    """Populations of a batch of units, simulated together, then validated unit by unit.

    Units that get no population have a status and a reason, never an exception that would
    stop the other units.

    Parameters
    ----------
    task : BatchTask

    Returns
    -------
    list of UnitOutcome
        One per unit of ``task.estimate``, in its order.
    """
    generated = task.populations.generate(task.estimate)
    outcomes = [UnitOutcome(u.unit_id, u.status, u.reason, u.population) for u in generated]
    ready = [o for o in outcomes if o.population is not None]
    if task.validation is None or not ready:
        return outcomes
    from nwb_dicpop.simulation import simulate_population
    from nwb_dicpop.validation import validate_population

    estimate = task.estimate
    first = next(uid for uid, ok in zip(estimate.unit_ids, estimate.ok, strict=True) if ok)
    conductances = np.concatenate([o.population.conductances for o in ready])  # type: ignore[union-attr]
    simulated = simulate_population(
        conductances, model=estimate.model_name, duration=task.validation.duration,
        transient=task.validation.transient, rng=unit_seed(task.populations.seed, first),
    )
    observed = dict(zip(estimate.unit_ids, task.observed or (), strict=True))
    start = 0
    validated = {}
    for outcome in ready:
        stop = start + outcome.population.n_models  # type: ignore[union-attr]
        part = dataclasses.replace(
            simulated, spike_times=simulated.spike_times[start:stop], conductances=simulated.conductances[start:stop],
            voltage=np.zeros((0, 0)), voltage_members=np.zeros(0, dtype=np.int64),
        )
        validated[outcome.unit_id] = validate_population(observed[outcome.unit_id], part, model=estimate.model_name)
        start = stop
    return [dataclasses.replace(o, validation=validated.get(o.unit_id)) for o in outcomes]
