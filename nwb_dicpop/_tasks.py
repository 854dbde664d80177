"""Picklable units of work of :func:`~nwb_dicpop.run_pipeline`: populations, then validation.

A :class:`BatchTask` holds a few units of a :class:`~nwb_dicpop.DICEstimate` and their
recorded trains (numbers only: no files, no NWB objects), so that it runs in this process or as
a Dask task (:func:`~nwb_dicpop.distributed.map_tasks`).  :func:`run_batch` builds the units'
populations (:func:`draw_populations`: from the estimate's joint posterior when it has one,
``DICEstimate.sample`` with ``has_posterior``, else from its Gaussian uncertainty with
:func:`~nwb_dicpop.compensation.generate_unit_populations`), simulates all their members in
one Brian2 run per window (one run amortises the simulator's per-step overhead over many
units), and scores each unit's members against its recorded train.

With a :class:`ValidationBudget`, validation keeps only the members that reproduce the train
and draws more, round after round, until every unit has ``n_models`` valid members or the
budget is spent (:func:`run_batch` explains the rounds).

Unit ``u`` draws round ``r`` from ``unit_seed(round_seed(seed, r), u)`` (round 0 from
``unit_seed(seed, u)``), so its members do not depend on how the units are batched;
:func:`batch_tasks` groups them.  Shared by :mod:`nwb_dicpop.pipeline` and
:mod:`nwb_dicpop.inference.evaluation`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_positive
from nwb_dicpop.compensation import (
    CompensationSettings,
    PopulationSet,
    UnitPopulation,
    UnreachableTargetError,
    check_seed,
    check_uncertainty_scale,
    choose_compensating_set,
    generate_populations,
    generate_unit_populations,
    unit_seed,
)
from nwb_dicpop.containers import DICEstimate, Population
from nwb_dicpop.models import get_model

__all__ = [
    "MEMBERS_PER_TASK",
    "MIN_TASKS_DISTRIBUTED",
    "VALIDATION_STATUSES",
    "BatchTask",
    "PopulationSettings",
    "SimulationWindow",
    "UnitOutcome",
    "ValidationBudget",
    "batch_tasks",
    "concatenate_populations",
    "draw_populations",
    "has_joint_posterior",
    "member_targets",
    "round_seed",
    "run_batch",
    "select_units",
    "take_members",
    "target_estimate",
    "warm_up",
]

MEMBERS_PER_TASK = 2000
"""Population members simulated together in one task: one Brian2 run per task amortises the
per-step overhead of the simulator over many units."""

MIN_TASKS_DISTRIBUTED = 8
"""On a Dask cluster, units are split into at least this many tasks (when there are that many
units), so that every worker gets work; results do not depend on the split."""

VALIDATION_STATUSES = ("partial", "not_reproduced")
"""Statuses validation adds to :data:`~nwb_dicpop.compensation.UNIT_STATUSES`: fewer than
``n_models`` members reproduced the train within the budget (``"partial"``: the valid ones are
kept), or none did (``"not_reproduced"``: no population)."""

_PER_UNIT_FIELDS = (
    "unit_ids", "g_s", "g_u", "g_s_std", "g_u_std", "network_class", "out_of_distribution", "status", "g_f",
    "n_spikes_used", "g_f_std", "posterior_weights", "posterior_means", "posterior_scale_tril",
)
"""Fields of :class:`~nwb_dicpop.DICEstimate` that hold one entry per unit."""

_GROWTH = 1.2
"""Later rounds draw this many times the members the yield so far says are needed."""


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
        Member targets are drawn from ``Normal(mean, uncertainty_scale * std)``, or from the
        estimate's joint posterior with their distance to the point estimate scaled by it.
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
        """The populations of every unit of ``estimate`` with these settings (round 0)."""
        return draw_populations(estimate, self, n_models=self.n_models, seed=self.seed)


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
class ValidationBudget:
    """How validation turns a unit's draws into a population of valid members only.

    Attributes
    ----------
    max_rounds : int
        Rounds of draw, simulate, keep the valid members (default 5).
    simulation_budget : float
        At most ``simulation_budget * n_models`` members are simulated per unit, all rounds
        together (default 5).
    rule : str or ValidationRule
        The rule of :func:`~nwb_dicpop.validate_population` (default ``"default"``); stored
        as a ValidationRule.
    """

    max_rounds: int = 5
    simulation_budget: float = 5.0
    rule: Any = "default"

    def __post_init__(self) -> None:
        from nwb_dicpop.validation import get_rule

        object.__setattr__(self, "rule", get_rule(self.rule))
        check_positive("max_rounds", self.max_rounds, integer=True)
        object.__setattr__(self, "max_rounds", int(self.max_rounds))
        budget = self.simulation_budget
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 1 <= budget < math.inf:
            msg = (
                f"`simulation_budget` must be a number >= 1 (members simulated per unit, in multiples of "
                f"n_models); got {budget!r}."
            )
            raise ValueError(msg)
        object.__setattr__(self, "simulation_budget", float(budget))

    def max_simulated(self, n_models: int) -> int:
        """Most members simulated for one unit of ``n_models`` members."""
        return max(int(n_models), math.floor(self.simulation_budget * n_models + 1e-9))


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
    validation : SimulationWindow, tuple of SimulationWindow, or None
        Simulate and score the populations: one window for every unit, or one per unit of
        ``estimate`` (None: populations only).
    budget : ValidationBudget or None
        Keep only valid members and draw more until ``n_models`` are valid or the budget is
        spent; None: one round, every member kept with its score (the population then holds
        members that do not reproduce the train).
    """

    estimate: DICEstimate
    populations: PopulationSettings
    observed: tuple[np.ndarray, ...] | None = None
    validation: SimulationWindow | tuple[SimulationWindow, ...] | None = None
    budget: ValidationBudget | None = None

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
        if isinstance(self.validation, (list, tuple)):
            windows = tuple(self.validation)
            if len(windows) != self.estimate.n_units:
                msg = (
                    f"`validation` must be one SimulationWindow, or one per unit of the estimate "
                    f"({self.estimate.n_units}); got {len(windows)}."
                )
                raise ValueError(msg)
            object.__setattr__(self, "validation", windows)

    @property
    def n_populations(self) -> int:
        """Units of the task with a usable estimate (those that may get a population)."""
        return int(np.count_nonzero(self.estimate.ok))

    def window(self, row: int) -> SimulationWindow | None:
        """The simulation window of the unit at position ``row`` (None without validation)."""
        if isinstance(self.validation, tuple):
            return self.validation[row]
        return self.validation


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    """What a task produced for one unit.

    Attributes
    ----------
    unit_id : object
    status : str
        As :attr:`~nwb_dicpop.compensation.UnitPopulation.status`, or one of
        :data:`VALIDATION_STATUSES` when validation with a budget found fewer than
        ``n_models`` valid members.
    reason : str
        Why the unit got no population, or a partial one ("" when it got a full one).
    population : Population or None
    validation : ValidationResult or None
        None when validation was off or the unit got no population.  With a budget it scores
        the returned members only (all valid), with a ``round`` column.
    n_simulated : int
        Members simulated for the unit, all rounds together (0 without validation).
    n_valid : int
        Simulated members that reproduced the train (may exceed the population's size: the
        first ``n_models`` are kept).
    n_rounds : int
        Rounds simulated.
    window : SimulationWindow or None
        The simulation used to validate the unit.
    """

    unit_id: Any
    status: str
    reason: str = ""
    population: Population | None = None
    validation: Any = None
    n_simulated: int = 0
    n_valid: int = 0
    n_rounds: int = 0
    window: SimulationWindow | None = None

    @property
    def yield_(self) -> float:
        """``n_valid / n_simulated`` (NaN when nothing was simulated)."""
        return self.n_valid / self.n_simulated if self.n_simulated else float("nan")


# --------------------------------------------------------------------------- estimates and populations
def select_units(estimate: DICEstimate, rows: Sequence[int]) -> DICEstimate:
    """The estimate restricted to ``rows`` (positions, in the order given).

    Every per-unit field is sliced: the known ones (:data:`_PER_UNIT_FIELDS`) and any other
    array field whose first axis has one entry per unit (a posterior's parameters).
    """
    index = np.asarray(rows, dtype=np.intp)
    n = estimate.n_units
    changes: dict[str, Any] = {}
    for item in dataclasses.fields(estimate):
        name = item.name
        value = getattr(estimate, name)
        if name in _PER_UNIT_FIELDS and isinstance(value, tuple):
            changes[name] = tuple(value[i] for i in index)
        elif name in _PER_UNIT_FIELDS or (isinstance(value, np.ndarray) and value.ndim and value.shape[0] == n):
            changes[name] = np.asarray(value)[index]
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
        network_class=("unknown",) * n, out_of_distribution=False, status=("ok",) * n,
        network_version="known targets",
    )


def round_seed(seed: int, round_index: int) -> int:
    """The run seed of validation round ``round_index`` (``seed`` itself for round 0).

    Round ``r`` of unit ``u`` draws from ``unit_seed(round_seed(seed, r), u)``: a function of
    the run's seed, the unit and the round only.

    Examples
    --------
    >>> from nwb_dicpop._tasks import round_seed
    >>> round_seed(7, 0), round_seed(7, 1) == round_seed(7, 1) != round_seed(7, 2)
    (7, True)
    """
    if round_index == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(round_index), 0x726F756E64]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> 1)


def has_joint_posterior(estimate: DICEstimate) -> bool:
    """Whether member targets come from the estimate's joint posterior (``DICEstimate.sample``).

    True for estimates of networks with a posterior head (``estimate.has_posterior``); False
    for the others, whose targets are drawn from independent Gaussians by
    :func:`~nwb_dicpop.compensation.generate_unit_populations` as before.
    """
    return bool(getattr(estimate, "has_posterior", False)) and callable(getattr(estimate, "sample", None))


def member_targets(estimate: DICEstimate, n: int, rng: np.random.Generator, scale: float) -> np.ndarray | None:
    """``(n_units, n, 2)`` member targets drawn from the estimate's joint posterior, or None.

    When the estimate has a joint posterior (:func:`has_joint_posterior`; ``sample(n, rng)``
    returns ``(n_units, n, 2)`` draws of ``(g_s, g_u)``), each draw's distance to the point
    estimate is multiplied by ``scale`` (1: the posterior; 0: every member at the point
    estimate).  Without one, None: targets are then drawn from the independent Gaussian
    uncertainty.
    """
    if not has_joint_posterior(estimate):
        return None
    draws = np.asarray(estimate.sample(n, rng=rng), dtype=np.float64)
    if draws.shape != (estimate.n_units, n, 2):
        msg = f"DICEstimate.sample({n}) must return shape ({estimate.n_units}, {n}, 2); got {draws.shape}."
        raise ValueError(msg)
    mean = np.stack([estimate.g_s, estimate.g_u], axis=1)[:, None, :]
    return mean + scale * (draws - mean)


def take_members(population: Population, rows: Any) -> Population:
    """The members ``rows`` (positions or a boolean mask) of ``population``, in that order."""
    index = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.intp)
    return dataclasses.replace(
        population, conductances=population.conductances[index], dics=population.dics[index],
        threshold=population.threshold[index], targets=population.targets[index],
        residual=population.residual[index],
    )


def concatenate_populations(parts: Sequence[Population], **changes: Any) -> Population:
    """One population of the members of ``parts`` (same model and compensating set), in order.

    ``n_iterations`` is the largest and ``n_rejected`` the sum of the parts'; the other
    provenance (targets' mean and spread, seed, unit id) is the first part's unless given in
    ``changes``.
    """
    first = parts[0]
    sets = {p.compensating_set for p in parts}
    if len(sets) > 1 or len({p.model_name for p in parts}) > 1:
        msg = f"populations of different models or compensating sets cannot be joined: {sorted(sets)}."
        raise ValueError(msg)
    joined = dataclasses.replace(
        first,
        conductances=np.concatenate([p.conductances for p in parts]),
        dics=np.concatenate([p.dics for p in parts]),
        threshold=np.concatenate([p.threshold for p in parts]),
        targets=np.concatenate([p.targets for p in parts]),
        residual=np.concatenate([p.residual for p in parts]),
        n_iterations=max(p.n_iterations for p in parts),
        n_rejected=sum(p.n_rejected for p in parts),
    )
    return dataclasses.replace(joined, **changes) if changes else joined


def draw_populations(
    estimate: DICEstimate,
    settings: PopulationSettings,
    *,
    n_models: int,
    seed: int,
    compensating_sets: Sequence[Any] | None = None,
) -> PopulationSet:
    """One population of ``n_models`` members per unit of ``estimate``, from a run seed.

    Member targets come from the estimate's joint posterior when it has one
    (:func:`member_targets`), else from ``Normal(mean, uncertainty_scale * std)`` (then this
    is :func:`~nwb_dicpop.compensation.generate_unit_populations`).  Unit ``u`` draws from
    ``unit_seed(seed, u)``.

    Parameters
    ----------
    estimate : DICEstimate
    settings : PopulationSettings
        Everything but the size and the seed.
    n_models : int
    seed : int
    compensating_sets : sequence, optional
        One compensating set per unit (to keep the set of an earlier round); default
        ``settings.compensating_set``.

    Returns
    -------
    PopulationSet
    """
    sets = [settings.compensating_set] * estimate.n_units if compensating_sets is None else list(compensating_sets)
    if not has_joint_posterior(estimate):
        if len({repr(s) for s in sets}) <= 1:
            return generate_unit_populations(
                estimate, n_models=n_models, seed=seed, uncertainty_scale=settings.uncertainty_scale,
                compensating_set=sets[0] if sets else settings.compensating_set,
                compensation=settings.compensation, thresholds=settings.thresholds,
            )
        units = []
        for row, pair in enumerate(sets):
            (unit,) = generate_unit_populations(
                select_units(estimate, [row]), n_models=n_models, seed=seed,
                uncertainty_scale=settings.uncertainty_scale, compensating_set=pair,
                compensation=settings.compensation, thresholds=settings.thresholds,
            )
            units.append(unit)
        return PopulationSet(model_name=estimate.model_name, units=tuple(units), seed=seed)
    units = []
    for row, uid in enumerate(estimate.unit_ids):
        if estimate.status[row] != "ok":  # no draw: the status and reason of generate_unit_populations
            units.append(generate_unit_populations(select_units(estimate, [row]), n_models=n_models, seed=seed).units[0])
            continue
        units.append(_posterior_population(estimate, row, settings, n_models, unit_seed(seed, uid), sets[row]))
    return PopulationSet(model_name=estimate.model_name, units=tuple(units), seed=seed)


def _posterior_population(
    estimate: DICEstimate, row: int, settings: PopulationSettings, n_models: int, seed: int, pair: Any
) -> UnitPopulation:
    """One unit's population with member targets drawn from the joint posterior."""
    uid = estimate.unit_ids[row]
    mean = np.array([estimate.g_s[row], estimate.g_u[row]])
    rng = np.random.default_rng(seed)
    targets = member_targets(select_units(estimate, [row]), n_models, rng, settings.uncertainty_scale)[0]
    if isinstance(pair, str):
        pair = choose_compensating_set(estimate.model_name, mean[0], mean[1], method=pair, rng=rng)
    common = {"n_models": 1, "compensating_set": tuple(pair), "tolerance": settings.compensation.tolerance,
              "max_residual": settings.compensation.max_residual, "thresholds": settings.thresholds}
    try:
        parts = generate_populations(estimate.model_name, targets[:, 0], targets[:, 1], unit_ids=[uid] * n_models,
                                     rng=rng, **common)
    except UnreachableTargetError:
        parts, failures = [], 0
        for k, stream in enumerate(rng.spawn(n_models)):
            try:
                parts += generate_populations(estimate.model_name, targets[k:k + 1, 0], targets[k:k + 1, 1],
                                              unit_ids=[uid], rng=stream, **common)
            except UnreachableTargetError:
                failures += 1
        if not parts:
            reason = (f"none of the {n_models} targets drawn from the posterior of unit {uid!r} can be reached "
                      f"with compensating set {tuple(pair)}")
            return UnitPopulation(uid, "unreachable", reason)
    spread = np.array([estimate.g_s_std[row], estimate.g_u_std[row]]) * settings.uncertainty_scale
    population = concatenate_populations(parts, target_mean=mean, target_std=spread, seed=seed, unit_id=uid)
    return UnitPopulation(uid, "ok", "", population)


# --------------------------------------------------------------------------- tasks
def batch_tasks(
    estimate: DICEstimate,
    populations: PopulationSettings,
    *,
    observed: Sequence[np.ndarray] | None = None,
    validation: SimulationWindow | Sequence[SimulationWindow] | None = None,
    budget: ValidationBudget | None = None,
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
    validation : SimulationWindow or sequence of SimulationWindow, optional
        One window for all units, or one per unit of ``estimate``.
    budget : ValidationBudget, optional
        Validated populations of valid members only (see :func:`run_batch`).
    distributed : bool

    Returns
    -------
    list of BatchTask
    """
    if observed is not None and len(observed) != estimate.n_units:
        msg = f"`observed` must hold one spike train per unit of the estimate ({estimate.n_units}); got {len(observed)}."
        raise ValueError(msg)
    windows = None
    if validation is not None and not isinstance(validation, SimulationWindow):
        windows = list(validation)
        if len(windows) != estimate.n_units:
            msg = (f"`validation` must be one SimulationWindow, or one per unit of the estimate ({estimate.n_units}); "
                   f"got {len(windows)}.")
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
            observed=None if observed is None else tuple(observed[i] for i in rows),
            validation=validation if windows is None else tuple(windows[i] for i in rows), budget=budget,
        )
        for rows in groups
    ]


def run_batch(task: BatchTask, progress: Callable[[int, int], None] | None = None) -> list[UnitOutcome]:
    """Populations of a batch of units, simulated together, then validated unit by unit.

    Units that get no population have a status and a reason, never an exception that would
    stop the other units.

    Without a budget (``task.budget is None``) each unit's ``n_models`` members are simulated
    once and all are returned with their scores.  With a budget, validation works in rounds:

    1. round 0 draws ``n_models`` members per unit (the population ``validate=False`` gives);
    2. every drawn member is simulated (one Brian2 run per distinct window) and scored against
       its unit's train; the valid ones are kept, in draw order;
    3. a unit with fewer than ``n_models`` valid members draws again, from
       ``unit_seed(round_seed(seed, r), u)`` in round ``r``, with the compensating set of
       round 0: enough members for the yield so far (``1.2 x missing / yield``, at least the
       missing number), within ``budget.max_simulated(n_models)`` members in all;
    4. it stops after ``budget.max_rounds`` rounds or when the budget is spent.

    A unit returns exactly ``n_models`` valid members (status ``"ok"``), or the valid members
    it found (``"partial"``), or no population (``"not_reproduced"``).

    Parameters
    ----------
    task : BatchTask
    progress : callable, optional
        ``progress(n_simulated, n_drawn)`` with the members of this task simulated so far and
        drawn for simulation so far (all rounds), after each draw and each simulation.

    Returns
    -------
    list of UnitOutcome
        One per unit of ``task.estimate``, in its order.
    """
    generated = task.populations.generate(task.estimate)
    outcomes = [UnitOutcome(u.unit_id, u.status, u.reason, u.population) for u in generated]
    ready = {row: o.population for row, o in enumerate(outcomes) if o.population is not None}
    if task.validation is None or not ready:
        return outcomes
    counter = _Counter(progress)
    counter.drawn(sum(p.n_models for p in ready.values()))
    if task.budget is None:
        scores = _simulate_and_score(task, ready, "default", counter)
        return [
            dataclasses.replace(o, validation=scores[row], n_simulated=o.population.n_models,
                                n_valid=scores[row].n_valid, n_rounds=1, window=task.window(row))
            if row in scores else o
            for row, o in enumerate(outcomes)
        ]
    return _validated(task, outcomes, ready, counter)


@dataclass
class _Counter:
    """Members of one task drawn for simulation and simulated so far, passed to a callback."""

    callback: Callable[[int, int], None] | None
    n_simulated: int = 0
    n_drawn: int = 0

    def drawn(self, n: int) -> None:
        self.n_drawn += int(n)
        self._report()

    def simulated(self, n: int) -> None:
        self.n_simulated += int(n)
        self._report()

    def _report(self) -> None:
        if self.callback is not None:
            self.callback(self.n_simulated, self.n_drawn)


def _simulate_and_score(task: BatchTask, candidates: dict[int, Population], rule: Any,
                        counter: _Counter) -> dict[int, Any]:
    """Simulate the candidates of each unit (one Brian2 run per window) and score each unit's members."""
    from nwb_dicpop.simulation import simulate_population
    from nwb_dicpop.validation import validate_population

    estimate = task.estimate
    by_window: dict[SimulationWindow, list[int]] = {}
    for row in candidates:
        by_window.setdefault(task.window(row), []).append(row)  # type: ignore[arg-type]
    scores = {}
    for window, rows in by_window.items():
        conductances = np.concatenate([candidates[row].conductances for row in rows])
        simulated = simulate_population(
            conductances, model=estimate.model_name, duration=window.duration, transient=window.transient,
            rng=unit_seed(task.populations.seed, estimate.unit_ids[rows[0]]),
        )
        counter.simulated(conductances.shape[0])
        start = 0
        for row in rows:
            stop = start + candidates[row].n_models
            part = dataclasses.replace(
                simulated, spike_times=simulated.spike_times[start:stop],
                conductances=simulated.conductances[start:stop], voltage=np.zeros((0, 0)),
                voltage_members=np.zeros(0, dtype=np.int64),
            )
            scores[row] = validate_population(task.observed[row], part, model=estimate.model_name, rule=rule)  # type: ignore[index]
            start = stop
    return scores


@dataclass
class _Rounds:
    """Book-keeping of one unit across validation rounds."""

    kept: list[tuple[int, Population, Any, np.ndarray]] = field(default_factory=list)  # round, members, score, rows
    n_simulated: int = 0
    n_valid: int = 0
    n_rounds: int = 0
    stopped: str = ""

    @property
    def n_kept(self) -> int:
        return sum(rows.size for _, _, _, rows in self.kept)


def _validated(task: BatchTask, outcomes: list[UnitOutcome], ready: dict[int, Population],
               counter: _Counter) -> list[UnitOutcome]:
    """The rounds of :func:`run_batch` with a budget."""
    settings, budget = task.populations, task.budget
    assert budget is not None
    n_models = settings.n_models
    limit = budget.max_simulated(n_models)
    pairs = {row: population.compensating_set for row, population in ready.items()}
    state = {row: _Rounds() for row in ready}
    candidates = dict(ready)
    for round_index in range(budget.max_rounds):
        if not candidates:
            break
        scores = _simulate_and_score(task, candidates, budget.rule, counter)
        for row, population in candidates.items():
            score, unit = scores[row], state[row]
            valid = np.flatnonzero(score.members["valid"].to_numpy(dtype=bool))
            unit.n_simulated += population.n_models
            unit.n_valid += valid.size
            unit.n_rounds += 1
            taken = valid[: n_models - unit.n_kept]
            if taken.size:
                unit.kept.append((round_index, population, score, taken))
        candidates = {}
        if round_index + 1 == budget.max_rounds:
            break
        rows = [row for row, unit in state.items() if unit.n_kept < n_models and unit.n_simulated < limit]
        sizes = {}
        for row in rows:
            unit = state[row]
            missing = n_models - unit.n_kept
            rate = max(unit.n_valid, 1) / unit.n_simulated
            sizes[row] = min(limit - unit.n_simulated, max(missing, math.ceil(_GROWTH * missing / rate)))
        for row in rows:
            drawn = draw_populations(
                select_units(task.estimate, [row]), settings, n_models=sizes[row],
                seed=round_seed(settings.seed, round_index + 1), compensating_sets=[pairs[row]],
            ).units[0]
            if drawn.population is None:
                state[row].stopped = f"round {round_index + 1} drew no members ({drawn.reason})"
            else:
                candidates[row] = drawn.population
                counter.drawn(drawn.population.n_models)
    return [o if row not in state else _outcome(task, row, o, state[row]) for row, o in enumerate(outcomes)]


def _outcome(task: BatchTask, row: int, outcome: UnitOutcome, unit: _Rounds) -> UnitOutcome:
    """A unit's outcome after its rounds: exactly n_models valid members, fewer, or none."""
    import pandas as pd

    budget, n_models = task.budget, task.populations.n_models
    assert budget is not None
    assert outcome.population is not None
    counts = {"n_simulated": unit.n_simulated, "n_valid": unit.n_valid, "n_rounds": unit.n_rounds,
              "window": task.window(row)}
    found = (f"{unit.n_valid} of {unit.n_simulated} simulated members reproduced the train in {unit.n_rounds} "
             f"round(s) (budget: {budget.max_rounds} rounds, {budget.max_simulated(n_models)} members"
             + (f"; {unit.stopped}" if unit.stopped else "") + ")")
    if not unit.kept:
        return dataclasses.replace(outcome, status="not_reproduced", reason=f"no valid member: {found}",
                                   population=None, validation=None, **counts)
    population = concatenate_populations([take_members(p, rows) for _, p, _, rows in unit.kept],
                                         target_mean=outcome.population.target_mean,
                                         target_std=outcome.population.target_std, seed=outcome.population.seed)
    frames = []
    for round_index, _, score, rows in unit.kept:
        frame = score.members.iloc[rows].reset_index(drop=True)
        frame.insert(0, "round", round_index)
        frames.append(frame)
    first = unit.kept[0][2]
    simulation = dataclasses.replace(
        first.simulation,
        spike_times=tuple(t for _, _, score, rows in unit.kept for t in (score.simulation.spike_times[i] for i in rows)),
        conductances=population.conductances,
    )
    n_kept = population.n_models
    validation = dataclasses.replace(first, members=pd.concat(frames, ignore_index=True), fraction_valid=1.0,
                                     n_valid=n_kept, simulation=simulation)
    status, reason = ("ok", "") if n_kept == n_models else ("partial", f"{n_kept} of {n_models} members: {found}")
    return dataclasses.replace(outcome, status=status, reason=reason, population=population, validation=validation,
                               **counts)


def warm_up(model: Any) -> None:
    """Load what the first simulation of ``model`` needs in this process: Brian2, the model's
    generated code and its compiled modules (compiled now when the cache lacks them).

    The pipeline runs it on every Dask worker while it reads the recording and infers the
    DICs, so that the workers' first tasks do not pay for it."""
    from nwb_dicpop.compensation import generate_spiking_population
    from nwb_dicpop.simulation import simulate_population

    spec = get_model(model)
    population = generate_spiking_population(spec, n_models=1, rng=0)
    simulate_population(population, duration=5 * spec.simulation.dt, transient=0.0)
