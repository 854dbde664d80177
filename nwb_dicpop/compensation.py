"""Compensation: from DIC targets to degenerate populations of maximal conductances.

Two steps (Fyon et al. 2024; Brandoit et al. 2025; ``docs/method.md``, "Compensation"):

1. a degenerate *spiking* base population: random conductances, then three "compensating"
   conductances solved so that ``(g_f, g_s, g_u)`` at the model's ``V_th`` hit fixed spiking
   values;
2. neuromodulation: two conductances of each base member are re-solved so that ``(g_s, g_u)``
   at ``V_th`` equal the target.  For calcium-gated models the sensitivity matrix depends on
   the calcium conductances, so when one of them is re-solved the linear solve is iterated to
   a fixed point (to ``tolerance``, not a fixed count) and the residual is reported.

Members with a negative, non-finite or out-of-range conductance, or whose residual exceeds
``max_residual``, are redrawn until exactly ``n_models`` are valid.

Every target draws from its own random stream (spawned from ``rng``), so a unit's population
does not depend on which other units are generated with it.

Three front doors: :func:`generate_population` (one target), :func:`generate_populations`
(many targets, one vectorised batch) and :func:`generate_unit_populations` (every unit of a
:class:`~nwb_dicpop.DICEstimate`, each from its own seed :func:`unit_seed`, with a status per
unit instead of an exception for units that get no population).  Solver settings travel as one
:class:`CompensationSettings`.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._solver import check_set, compensate, compensate_sets, dics_at, rows_all
from nwb_dicpop._validation import (
    check_choice,
    check_finite_array,
    check_positive,
    normalize_rng,
    seed_of,
)
from nwb_dicpop.containers import DICEstimate, Population
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import ModelKernel, kernel_for

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "UNIT_STATUSES",
    "CompensationSettings",
    "PopulationSet",
    "ReachabilityMap",
    "UnitPopulation",
    "UnreachableTargetError",
    "candidate_sets",
    "choose_compensating_set",
    "compensate",
    "generate_population",
    "generate_populations",
    "generate_spiking_population",
    "generate_unit_populations",
    "reachability_map",
    "unit_seed",
]


class UnreachableTargetError(ValueError):
    """A DIC target that the chosen compensating set cannot reach with valid conductances."""


# --------------------------------------------------------------------------- settings
MIN_DRAWS = 20_000
"""A target is given up only after at least this many drawn members (see
:attr:`CompensationSettings.max_draws_per_member`)."""


@dataclass(frozen=True, slots=True)
class CompensationSettings:
    """How DIC targets are solved, and which solved members are kept.

    Attributes
    ----------
    tolerance : float
        Relative tolerance of the calcium fixed-point iteration: it stops when no re-solved
        conductance changes by more than ``tolerance`` relative to its value.
    max_iterations : int
        Most linear solves of one fixed-point iteration.
    max_residual : float
        Members whose achieved ``(g_s, g_u)`` is further than this (Euclidean distance) from
        their target are rejected and redrawn.
    max_draws_per_member : int
        A target is declared unreachable (:class:`UnreachableTargetError`) once
        ``max(max_draws_per_member * n_models, MIN_DRAWS)`` members were drawn without
        ``n_models`` valid ones.

    Examples
    --------
    >>> from nwb_dicpop.compensation import CompensationSettings
    >>> CompensationSettings(max_residual=1e-8).max_draws(50)
    20000
    """

    tolerance: float = 1e-12
    max_iterations: int = 200
    max_residual: float = 1e-6
    max_draws_per_member: int = 200

    def __post_init__(self) -> None:
        check_positive("tolerance", self.tolerance)
        check_positive("max_iterations", self.max_iterations, integer=True)
        check_positive("max_residual", self.max_residual)
        check_positive("max_draws_per_member", self.max_draws_per_member, integer=True)

    def max_draws(self, n_models: int) -> int:
        """Members drawn for one target of ``n_models`` before it is declared unreachable."""
        return max(self.max_draws_per_member * int(n_models), MIN_DRAWS)


_BASE_SOLVE = CompensationSettings(tolerance=1e-12, max_iterations=100, max_residual=1e-6)
"""The spiking base population: three conductances re-solved so that ``(g_f, g_s, g_u)`` hit
the recipe's values; members further than ``max_residual`` from them are redrawn."""

_REACHABILITY_SOLVE = CompensationSettings(tolerance=1e-10, max_iterations=100)
"""Reachability maps and the scores of ``compensating_set="auto"``: members are counted, not
kept, so a looser tolerance; their acceptance distance is the caller's ``epsilon``."""

_SPIKING_ROWS = (0, 1, 2)
"""DIC rows set by the spiking base solve: ``g_f``, ``g_s`` and ``g_u``."""

_MODULATED_ROWS = (1, 2)
"""DIC rows set by neuromodulation (and scored by reachability): ``g_s`` and ``g_u``."""

_DEFAULT_EPSILON = 0.1
"""Distance to the target within which a member counts as reaching it, in reachability scores."""

_DIAGNOSIS_MEMBERS = 64
"""Base members scored per candidate pair when explaining an unreachable target."""

_SPAN_MEMBERS = 32
"""Base members per grid point when measuring the ``g_s`` span a pair reaches (same message)."""

_SPAN_G_S_VALUES = np.arange(-30.0, 30.5, 1.0)
"""The ``g_s`` grid of that span."""
_SPAN_G_S_VALUES.setflags(write=False)


# --------------------------------------------------------------------------- base population
def _draw_base(spec: NeuronModel, kernel: ModelKernel, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` valid members of the spiking base population (redrawing invalid ones)."""
    recipe = spec.spiking_base
    low, high = recipe.leak_limits
    mean = 0.5 * (low + high)
    variance = (high - low) ** 2 / 12.0
    unknown = [spec.index(name) for name in recipe.compensating]
    goal = np.array([recipe.g_f, recipe.g_s, recipe.g_u])
    sampled = [(spec.index(name), lo, hi) for name, (lo, hi) in recipe.sampled.items()]
    fixed = [(spec.index(name), value) for name, value in recipe.fixed.items()]
    parts: list[np.ndarray] = []
    n_drawn = 0
    for _ in range(100):
        missing = n - n_drawn
        if missing <= 0:
            break
        size = missing + max(4, missing // 10)
        g = np.zeros((size, spec.n_conductances))
        leak = rng.gamma(mean**2 / variance, variance / mean, size)
        factor = leak / mean
        g[:, kernel.leak_index] = leak
        for j, lo, hi in sampled:
            g[:, j] = rng.uniform(lo, hi, size) * factor
        for j, value in fixed:
            g[:, j] = value * factor
        g, residual, _, _ = compensate_sets(
            kernel, g, np.broadcast_to(goal, (size, 3)), unknown, rows=_SPIKING_ROWS, voltage=spec.threshold,
            tolerance=_BASE_SOLVE.tolerance, max_iterations=_BASE_SOLVE.max_iterations,
        )
        valid = _valid(spec, g, residual, _BASE_SOLVE.max_residual)
        kept = g if valid.all() else g[valid]
        parts.append(kept)
        n_drawn += kept.shape[0]
    if n_drawn < n:
        msg = f"Could not draw a spiking base population for model {spec.name!r}; check its recipe."
        raise RuntimeError(msg)
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return out[:n]


@functools.cache
def _limits(spec: NeuronModel) -> np.ndarray:
    limits = np.array([spec.conductance_limits[name] for name in spec.conductance_names], dtype=float)
    limits.setflags(write=False)
    return limits


_LIMIT_TABLES: dict[NeuronModel, tuple[np.ndarray, np.ndarray, bool]] = {}
_LIMIT_TABLE_ROWS = 8192
"""Rows of the cached limit tables (bounded memory); larger inputs compare with a broadcast row."""


def _limit_tables(spec: NeuronModel, n: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Lower and upper limits repeated on ``n`` rows (contiguous: numpy compares them faster
    than a broadcast row), and whether all limits are finite."""
    tables = _LIMIT_TABLES.get(spec)
    if tables is None:
        limits = _limits(spec)
        low = np.repeat(limits[None, :, 0], _LIMIT_TABLE_ROWS, axis=0)
        high = np.repeat(limits[None, :, 1], _LIMIT_TABLE_ROWS, axis=0)
        tables = _LIMIT_TABLES[spec] = (low, high, bool(np.isfinite(limits).all()))
    if n > _LIMIT_TABLE_ROWS:
        return tables[0][0], tables[1][0], tables[2]
    return tables[0][:n], tables[1][:n], tables[2]


def _valid(spec: NeuronModel, g: np.ndarray, residual: np.ndarray, max_residual: float) -> np.ndarray:
    """Finite, within ``conductance_limits`` and residual <= ``max_residual``, per row."""
    low, high, finite_limits = _limit_tables(spec, g.shape[0])
    with np.errstate(invalid="ignore"):
        inside = g >= low
        inside &= g <= high
    if not finite_limits:  # NaN fails both comparisons, +-inf one of them when limits are finite
        inside &= np.isfinite(g)
    ok = rows_all(inside)
    ok &= residual <= max_residual
    return ok


def generate_spiking_population(
    model: str | NeuronModel, *, n_models: int, rng: int | np.random.Generator | None = None
) -> Population:
    """The degenerate spiking base population of a model (step 1 of compensation).

    Parameters
    ----------
    model : str or NeuronModel
    n_models : int
        Number of members.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    Population
        Targets are the recipe's spiking ``(g_s, g_u)``; ``compensating_set`` is the recipe's
        three solved conductances.
    """
    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    generator = normalize_rng(rng)
    kernel = kernel_for(spec)
    g = _draw_base(spec, kernel, int(n_models), generator)
    recipe = spec.spiking_base
    goal = np.array([recipe.g_s, recipe.g_u])
    members = _Members(conductances=g, targets=np.broadcast_to(goal, (g.shape[0], 2)))
    origin = _Origin(target_mean=goal, target_std=np.zeros(2), compensating_set=tuple(recipe.compensating),
                     n_iterations=1, n_rejected=0, seed=seed_of(rng), unit_id=None)
    from nwb_dicpop.dics import find_threshold

    return _population(spec, kernel, members, origin, threshold=find_threshold(spec, g).voltage)


# --------------------------------------------------------------------------- choice of set
def candidate_sets(model: str | NeuronModel) -> tuple[tuple[str, str], ...]:
    """All unordered pairs of non-leak conductances (the candidates of ``"auto"``)."""
    spec = get_model(model)
    names = [n for n in spec.conductance_names if n != spec.leak]
    return tuple(itertools.combinations(names, 2))


def choose_compensating_set(
    model: str | NeuronModel,
    g_s: float,
    g_u: float,
    *,
    method: str = "rule",
    n_models: int = _DIAGNOSIS_MEMBERS,
    rng: int | np.random.Generator | None = 0,
) -> tuple[str, str]:
    """The pair of conductances re-solved to reach ``(g_s, g_u)``.

    ``method="rule"`` applies the model's published rule (Brandoit et al. 2025); ``"auto"`` picks,
    among :func:`candidate_sets`, the one with the highest reachability at the target
    (fraction of ``n_models`` base members that reach it with valid conductances), the rule's
    pair winning ties.
    """
    spec = get_model(model)
    check_choice("method", method, ("rule", "auto"))
    rule_pair = tuple(spec.compensation_rule(float(g_s), float(g_u)))
    if method == "rule":
        return rule_pair  # type: ignore[return-value]
    scores = _reachability_at(spec, float(g_s), float(g_u), candidate_sets(spec), n_models, normalize_rng(rng))
    best = max(scores.values())
    if scores.get(tuple(sorted(rule_pair)), -1.0) >= best:  # type: ignore[arg-type]
        return rule_pair  # type: ignore[return-value]
    return next(pair for pair, score in scores.items() if score == best)


def _reachability_at(
    spec: NeuronModel,
    g_s: float,
    g_u: float,
    pairs: tuple[tuple[str, str], ...],
    n_models: int,
    rng: np.random.Generator,
    epsilon: float = _DEFAULT_EPSILON,
) -> dict[tuple[str, ...], float]:
    """Fraction of ``n_models`` base members that reach ``(g_s, g_u)`` with each pair."""
    kernel = kernel_for(spec)
    base = _draw_base(spec, kernel, n_models, rng)
    goal = np.broadcast_to([g_s, g_u], (n_models, 2))
    scores = {}
    for pair in pairs:
        unknown = check_set(spec, pair, size=2)
        g, residual, _, _ = compensate_sets(
            kernel, base.copy(), goal, unknown, rows=_MODULATED_ROWS, voltage=spec.threshold,
            tolerance=_REACHABILITY_SOLVE.tolerance, max_iterations=_REACHABILITY_SOLVE.max_iterations,
        )
        scores[tuple(sorted(pair))] = float(np.mean(_valid(spec, g, residual, epsilon)))
    return scores


def _resolve_set(spec: NeuronModel, compensating_set: Any, g_s: float, g_u: float, rng: np.random.Generator) -> tuple[str, ...]:
    if isinstance(compensating_set, str):
        if compensating_set not in ("rule", "auto"):
            msg = (
                f"`compensating_set` must be 'rule', 'auto' or a pair of conductance names of model "
                f"{spec.name!r} such as {spec.compensation_rule(g_s, g_u)}; got {compensating_set!r}."
            )
            raise ValueError(msg)
        return choose_compensating_set(spec, g_s, g_u, method=compensating_set, rng=rng)
    check_set(spec, compensating_set, size=2)
    return tuple(compensating_set)


# --------------------------------------------------------------------------- populations
@dataclass(frozen=True, slots=True)
class _Target:
    """One population to generate: its DIC target, its uncertainty, its random stream."""

    mean: np.ndarray  # (g_s, g_u)
    std: np.ndarray  # one-sigma uncertainty of (g_s, g_u)
    rng: np.random.Generator
    unit_id: Any = None


@dataclass(frozen=True, slots=True)
class _Members:
    """The members of one population, in draw order (residual and DICs computed when None)."""

    conductances: np.ndarray
    targets: np.ndarray
    residual: np.ndarray | None = None
    dics: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class _Origin:
    """How one population was made: recorded with it."""

    target_mean: np.ndarray
    target_std: np.ndarray
    compensating_set: tuple[str, ...]
    n_iterations: int
    n_rejected: int
    seed: int | None
    unit_id: Any


@dataclass
class _Job:
    """Book-keeping of one target while members are drawn."""

    target: _Target
    pair: tuple[str, ...]
    needed: int
    accepted: list[np.ndarray] = field(default_factory=list)
    accepted_targets: list[np.ndarray] = field(default_factory=list)
    accepted_residual: list[np.ndarray] = field(default_factory=list)
    accepted_dics: list[np.ndarray] = field(default_factory=list)
    drawn: int = 0
    n_valid: int = 0
    n_iterations: int = 1

    @property
    def remaining(self) -> int:
        return self.needed - self.n_valid

    def members(self) -> _Members:
        """The first ``needed`` accepted members."""
        n = self.needed
        return _Members(
            conductances=_first(self.accepted, n), targets=_first(self.accepted_targets, n),
            residual=_first(self.accepted_residual, n), dics=_first(self.accepted_dics, n),
        )

    def origin(self, seed: int | None) -> _Origin:
        return _Origin(
            target_mean=self.target.mean, target_std=self.target.std, compensating_set=self.pair,
            n_iterations=self.n_iterations, n_rejected=self.drawn - self.n_valid, seed=seed,
            unit_id=self.target.unit_id,
        )


def generate_population(
    model: str | NeuronModel,
    g_s: float,
    g_u: float,
    *,
    n_models: int,
    compensating_set: str | tuple[str, str] = "rule",
    g_s_std: float = 0.0,
    g_u_std: float = 0.0,
    tolerance: float = 1e-12,
    max_residual: float = 1e-6,
    thresholds: bool = True,
    unit_id: Any = None,
    rng: int | np.random.Generator | None = None,
) -> Population:
    """A degenerate population of ``n_models`` conductance sets with DICs ``(g_s, g_u)``.

    Parameters
    ----------
    model : str or NeuronModel
        ``"stg"``, ``"da"`` or a declared model.
    g_s, g_u : float
        Target slow and ultraslow DICs at the model's ``V_th`` (dimensionless).
    n_models : int
        Exact number of valid members returned.
    compensating_set : "rule", "auto" or (str, str)
        The two conductances re-solved: the published rule, the most reachable pair at the
        target, or a pair of your choice.
    g_s_std, g_u_std : float
        One-sigma uncertainty of the target; when > 0 each member's target is drawn from
        ``Normal(mean, std)`` so that the population carries the inference uncertainty.
    tolerance : float
        Relative tolerance of the calcium fixed-point iteration
        (:attr:`CompensationSettings.tolerance`).
    max_residual : float
        Members whose achieved ``(g_s, g_u)`` is further than this from their target are
        redrawn (:attr:`CompensationSettings.max_residual`).
    thresholds : bool
        Compute each member's own ``V_th`` (:func:`~nwb_dicpop.find_threshold`); set False
        for speed when not needed (the ``threshold`` column is then NaN).
    unit_id : object, optional
        Recorded in the population's provenance.
    rng : None, int or numpy.random.Generator
        Same seed, same population.

    Returns
    -------
    Population

    Raises
    ------
    UnreachableTargetError
        If the target cannot be reached with valid conductances; the message says which
        region the set reaches and which sets reach the target.

    See Also
    --------
    generate_unit_populations : one population per unit of a DICEstimate, with statuses.

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> pop = ndp.generate_population("stg", -4.0, 5.0, n_models=100, rng=0)
    >>> pop.n_models, pop.compensating_set
    (100, ('CaS', 'H'))
    >>> bool(abs(pop.dics[:, 1] + 4.0).max() < 1e-6)
    True
    """
    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    settings = CompensationSettings(tolerance=tolerance, max_residual=max_residual)
    (target,) = _targets([g_s], [g_u], [g_s_std], [g_u_std], [normalize_rng(rng)], [unit_id])
    (population,) = _generate(
        spec, [target], n_models=int(n_models), compensating_set=compensating_set, settings=settings,
        thresholds=thresholds, seed=seed_of(rng),
    )
    return population


def generate_populations(
    model: str | NeuronModel,
    g_s: Any,
    g_u: Any,
    *,
    n_models: int,
    compensating_set: str | tuple[str, str] = "rule",
    g_s_std: Any = 0.0,
    g_u_std: Any = 0.0,
    tolerance: float = 1e-12,
    max_residual: float = 1e-6,
    thresholds: bool = True,
    unit_ids: Any = None,
    rng: int | np.random.Generator | None = None,
) -> list[Population]:
    """One population per target, computed in one vectorised batch.

    Same parameters as :func:`generate_population`, with ``g_s``, ``g_u`` (and optionally the
    standard deviations and ``unit_ids``) given per target.  Target ``i`` draws from the
    ``i``-th child stream spawned from ``rng``, so its population is the same whatever the
    other targets are.

    Returns
    -------
    list of Population

    Raises
    ------
    UnreachableTargetError
        If any target cannot be reached (no population is returned then); use
        :func:`generate_unit_populations` for a status per unit instead.
    """
    g_s_a = check_finite_array("g_s", g_s, ndim=(0, 1)).reshape(-1)
    g_u_a = check_finite_array("g_u", g_u, ndim=(0, 1)).reshape(-1)
    if g_s_a.shape != g_u_a.shape:
        msg = f"`g_s` and `g_u` must have the same length; got {g_s_a.size} and {g_u_a.size}."
        raise ValueError(msg)
    n = g_s_a.size
    std_s = np.broadcast_to(check_finite_array("g_s_std", g_s_std, ndim=(0, 1)), (n,))
    std_u = np.broadcast_to(check_finite_array("g_u_std", g_u_std, ndim=(0, 1)), (n,))
    ids = [None] * n if unit_ids is None else list(unit_ids)
    if len(ids) != n:
        msg = f"`unit_ids` must have one entry per target ({n}); got {len(ids)}."
        raise ValueError(msg)
    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    settings = CompensationSettings(tolerance=tolerance, max_residual=max_residual)
    generator = normalize_rng(rng)
    targets = _targets(g_s_a, g_u_a, std_s, std_u, generator.spawn(n), ids)
    return _generate(
        spec, targets, n_models=int(n_models), compensating_set=compensating_set, settings=settings,
        thresholds=thresholds, seed=seed_of(rng),
    )


def _targets(
    g_s: Any, g_u: Any, g_s_std: Any, g_u_std: Any, streams: Sequence[np.random.Generator], unit_ids: Sequence[Any]
) -> list[_Target]:
    """Checked targets, one per entry of the (equally long) sequences."""
    means = _pairs(check_finite_array("g_s", g_s), check_finite_array("g_u", g_u))
    stds = _pairs(check_finite_array("g_s_std", g_s_std), check_finite_array("g_u_std", g_u_std))
    if np.any(stds < 0):
        msg = f"`g_s_std` and `g_u_std` must be >= 0; got {stds.min():.4g}."
        raise ValueError(msg)
    return [
        _Target(mean=mean, std=std, rng=stream, unit_id=uid)
        for mean, std, stream, uid in zip(means, stds, streams, unit_ids, strict=True)
    ]


def _generate(
    spec: NeuronModel,
    targets: Sequence[_Target],
    *,
    n_models: int,
    compensating_set: Any,
    settings: CompensationSettings,
    thresholds: bool,
    seed: int | None,
) -> list[Population]:
    """The populations of ``targets``, drawn together; raises if any target is unreachable."""
    kernel = kernel_for(spec)
    jobs = [
        _Job(target, _resolve_set(spec, compensating_set, target.mean[0], target.mean[1], target.rng), n_models)
        for target in targets
    ]
    max_draws = settings.max_draws(n_models)
    while any(job.remaining > 0 for job in jobs):
        active = [job for job in jobs if job.remaining > 0]
        for job in active:
            if job.drawn >= max_draws:
                raise UnreachableTargetError(_unreachable_message(spec, job))
        _draw_round(spec, kernel, active, settings)
    members = [job.members() for job in jobs]
    voltages: list[np.ndarray | None] = [None] * len(jobs)
    if thresholds and jobs:
        # one vectorised threshold search for every member of every target (posterior draws
        # give one target per member: a search per target would cost ~2 ms per member)
        from nwb_dicpop.dics import find_threshold

        found = find_threshold(spec, np.concatenate([m.conductances for m in members])).voltage
        voltages = np.split(found, np.cumsum([m.conductances.shape[0] for m in members])[:-1])
    return [
        _population(spec, kernel, m, job.origin(seed), threshold=v)
        for job, m, v in zip(jobs, members, voltages, strict=True)
    ]


def _pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """``np.stack([first, second], axis=1)`` for two arrays of one shape (cheaper)."""
    if first.ndim != 1 or first.shape != second.shape:
        return np.stack([first, second], axis=1)
    out = np.empty((first.shape[0], 2))
    out[:, 0] = first
    out[:, 1] = second
    return out


def _first(parts: list[np.ndarray], n: int) -> np.ndarray:
    """The first ``n`` rows of the concatenated ``parts`` (the caller copies them)."""
    return parts[0][:n] if len(parts) == 1 else np.concatenate(parts)[:n]


def _draw_round(spec: NeuronModel, kernel: ModelKernel, jobs: list[_Job], settings: CompensationSettings) -> None:
    """Draw, neuromodulate and accept one batch of members for every active job."""
    by_pair: dict[tuple[str, ...], list[tuple[_Job, np.ndarray, np.ndarray]]] = {}
    for job in jobs:
        target = job.target
        acceptance = job.n_valid / job.drawn if job.drawn else 1.0
        size = int(np.ceil(job.remaining / max(acceptance, 0.02) * 1.1)) + 2
        size = min(size, 50 * job.needed + 100)
        base = _draw_base(spec, kernel, size, target.rng)
        goals = np.repeat(target.mean[None], size, axis=0)
        if np.any(target.std > 0):
            goals += target.std * target.rng.standard_normal((size, 2))
        by_pair.setdefault(job.pair, []).append((job, base, goals))
    for pair, items in by_pair.items():
        unknown = check_set(spec, pair, size=2)
        if len(items) == 1:
            g, goal = items[0][1], items[0][2]
        else:
            g = np.concatenate([base for _, base, _ in items])
            goal = np.concatenate([goals for _, _, goals in items])
        g, residual, dics, n_iter = compensate_sets(
            kernel, g, goal, unknown, rows=_MODULATED_ROWS, voltage=spec.threshold,
            tolerance=settings.tolerance, max_iterations=settings.max_iterations,
        )
        valid = _valid(spec, g, residual, settings.max_residual)
        start = 0
        for job, base, _ in items:
            stop = start + base.shape[0]
            ok = valid[start:stop]
            n_ok = int(np.count_nonzero(ok))
            job.drawn += base.shape[0]
            job.n_valid += n_ok
            job.n_iterations = max(job.n_iterations, n_iter)
            if n_ok == stop - start:  # all valid: keep the slices, no copy
                job.accepted.append(g[start:stop])
                job.accepted_targets.append(goal[start:stop])
                job.accepted_residual.append(residual[start:stop])
                job.accepted_dics.append(dics[start:stop])
            else:
                job.accepted.append(g[start:stop][ok])
                job.accepted_targets.append(goal[start:stop][ok])
                job.accepted_residual.append(residual[start:stop][ok])
                job.accepted_dics.append(dics[start:stop][ok])
            start = stop


def _population(
    spec: NeuronModel, kernel: ModelKernel, members: _Members, origin: _Origin, *, threshold: np.ndarray | None
) -> Population:
    """A Population of ``members``; ``threshold``: each member's ``V_th`` (NaN for all when None)."""
    g = members.conductances
    dics = members.dics
    if dics is None:
        dics = dics_at(kernel, g, spec.threshold)
    residual = members.residual
    if residual is None:
        residual = np.linalg.norm(dics[:, 1:] - members.targets, axis=1)
    v_th = np.full(g.shape[0], np.nan) if threshold is None else threshold
    return Population(
        model_name=spec.name,
        conductance_names=spec.conductance_names,
        conductances=g,
        dics=dics,
        threshold=v_th,
        reference_threshold=spec.threshold,
        targets=members.targets,
        target_mean=origin.target_mean,
        target_std=origin.target_std,
        compensating_set=tuple(origin.compensating_set),
        residual=residual,
        n_iterations=origin.n_iterations,
        n_rejected=origin.n_rejected,
        seed=origin.seed,
        unit_id=origin.unit_id,
    )


# --------------------------------------------------------------------------- per-unit populations
UNIT_STATUSES = ("ok", "silent", "no_estimate", "out_of_distribution", "unreachable")
"""Statuses of :class:`UnitPopulation`: a population was built (``"ok"``), the unit is silent
(its estimate has status ``"silent"``), its estimate has another non-``"ok"`` status
(``"no_estimate"``), it was skipped as out of distribution on request
(``"out_of_distribution"``), or its target cannot be reached with valid conductances
(``"unreachable"``)."""


def unit_seed(seed: int, unit_id: Any) -> int:
    """The seed of one unit: a function of the run's seed and the unit id only.

    Parameters
    ----------
    seed : int
        The run's seed (>= 0).
    unit_id : object
        The unit's id; its ``repr`` is hashed, so ``3`` and ``"3"`` give different seeds.

    Returns
    -------
    int
        A non-negative 63-bit seed.

    Examples
    --------
    >>> from nwb_dicpop.compensation import unit_seed
    >>> unit_seed(0, 7) == unit_seed(0, 7) != unit_seed(1, 7)
    True
    """
    key = zlib.crc32(repr(unit_id).encode("utf-8"))
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1, dtype=np.uint64)[0] >> 1)


def check_seed(seed: Any) -> int:
    """``seed`` as an int, or a clear error unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        msg = f"`seed` must be a non-negative int (each unit's seed is derived from it); got {seed!r}."
        raise TypeError(msg)
    if seed < 0:
        msg = f"`seed` must be >= 0; got {seed}. Use any non-negative int, e.g. 0."
        raise ValueError(msg)
    return int(seed)


def check_uncertainty_scale(value: Any) -> float:
    """``value`` as a float, or a clear error unless it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 <= value < np.inf:
        msg = (
            f"`uncertainty_scale` must be a number >= 0 (finite); got {value!r}. Use 1 to draw member "
            "targets from the inferred uncertainty, 0 to put every member at the point estimate."
        )
        raise ValueError(msg)
    return float(value)


@dataclass(frozen=True, slots=True)
class UnitPopulation:
    """What population generation gave for one unit.

    Attributes
    ----------
    unit_id : object
    status : str
        One of :data:`UNIT_STATUSES`: ``"ok"``, ``"silent"``, ``"no_estimate"``,
        ``"out_of_distribution"`` or ``"unreachable"``.
    reason : str
        Why the unit got no population, in words ("" when ``status == "ok"``).
    population : Population or None
        The population (None unless ``status == "ok"``).
    """

    unit_id: Any
    status: str
    reason: str = ""
    population: Population | None = None

    def __post_init__(self) -> None:
        if self.status not in UNIT_STATUSES:
            msg = f"`status` must be one of {UNIT_STATUSES}; got {self.status!r}."
            raise ValueError(msg)
        if (self.status == "ok") != (self.population is not None):
            msg = (
                f"A UnitPopulation has a population exactly when its status is 'ok'; got status "
                f"{self.status!r} with population={'a Population' if self.population is not None else 'None'}."
            )
            raise ValueError(msg)

    @property
    def ok(self) -> bool:
        """Whether the unit got a population."""
        return self.population is not None


@dataclass(frozen=True, slots=True)
class PopulationSet:
    """One population per unit of a :class:`~nwb_dicpop.DICEstimate`, and a status per unit.

    Iterating yields the :class:`UnitPopulation` of every unit, in the estimate's order.

    Attributes
    ----------
    model_name : str
    units : tuple of UnitPopulation
        One per unit of the estimate, in its order.
    seed : int
        The run's seed; unit ``u`` drew from ``unit_seed(seed, u)``.
    """

    model_name: str
    units: tuple[UnitPopulation, ...]
    seed: int

    @property
    def unit_ids(self) -> tuple[Any, ...]:
        """Unit ids, in the estimate's order."""
        return tuple(u.unit_id for u in self.units)

    @property
    def status(self) -> tuple[str, ...]:
        """Status of each unit (see :data:`UNIT_STATUSES`)."""
        return tuple(u.status for u in self.units)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why each unit got no population ("" for units that got one)."""
        return tuple(u.reason for u in self.units)

    @property
    def ok(self) -> np.ndarray:
        """Mask of units with a population."""
        return np.array([u.ok for u in self.units], dtype=bool)

    @property
    def populations(self) -> tuple[Population, ...]:
        """The populations of the units that got one, in the estimate's order."""
        return tuple(u.population for u in self.units if u.population is not None)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.units)

    def __len__(self) -> int:
        return len(self.units)

    def __iter__(self) -> Iterator[UnitPopulation]:
        return iter(self.units)

    def get(self, unit_id: Any) -> UnitPopulation:
        """The outcome of unit ``unit_id``.

        Raises
        ------
        KeyError
            If the set has no such unit (the message lists the ids it has).
        """
        for unit in self.units:
            if unit.unit_id == unit_id:
                return unit
        shown = list(self.unit_ids[:10])
        more = ", ..." if len(self.units) > 10 else ""
        msg = f"No unit {unit_id!r} in this PopulationSet; its units are {shown}{more}."
        raise KeyError(msg)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per unit: ``unit_id``, ``status``, ``reason``, ``n_models``,
        ``compensating_set`` ("+"-joined, "" without a population) and ``n_rejected``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "unit_id": list(self.unit_ids),
                "status": list(self.status),
                "reason": list(self.reasons),
                "n_models": [u.population.n_models if u.population is not None else 0 for u in self.units],
                "compensating_set": ["+".join(u.population.compensating_set) if u.population is not None else ""
                                     for u in self.units],
                "n_rejected": [u.population.n_rejected if u.population is not None else 0 for u in self.units],
            }
        )

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for status in self.status:
            counts[status] = counts.get(status, 0) + 1
        text = ", ".join(f"{n} {status}" for status, n in counts.items())
        return f"PopulationSet(model={self.model_name!r}, {self.n_units} units: {text or 'none'}, seed={self.seed})"


_SILENT = "silent"
"""The estimate status of units with too few spikes (``infer_dics``)."""


def generate_unit_populations(
    estimate: DICEstimate,
    *,
    n_models: int,
    seed: int = 0,
    uncertainty_scale: float = 1.0,
    compensating_set: str | tuple[str, str] = "rule",
    compensation: CompensationSettings | None = None,
    thresholds: bool = True,
    skip_out_of_distribution: bool = False,
) -> PopulationSet:
    """One population per unit of a DIC estimate, with a status per unit.

    Units whose estimate is not ``"ok"`` get no population, and neither do units whose target
    cannot be reached: instead of raising, their status says why (:data:`UNIT_STATUSES`), so
    one unit never stops the others.

    Parameters
    ----------
    estimate : DICEstimate
        DICs per unit (from :func:`~nwb_dicpop.infer_dics`, :func:`~nwb_dicpop.read_results`
        or built by hand); its ``threshold`` must be the model's ``V_th``.
    n_models : int
        Members per population.
    seed : int
        Unit ``u`` draws from ``unit_seed(seed, u)`` (:func:`unit_seed`), so its population
        depends on the seed and its id only, not on the other units: it is the one
        ``generate_population(..., unit_id=u, rng=unit_seed(seed, u))`` gives.
    uncertainty_scale : float
        Member targets are drawn from ``Normal(mean, uncertainty_scale * std)`` of each unit's
        estimate (1: the estimate's uncertainty; 0: every member at the point estimate).
    compensating_set : "rule", "auto" or (str, str)
        As in :func:`generate_population`.
    compensation : CompensationSettings, optional
        Solver tolerance, iterations, residual and draw limits (default
        ``CompensationSettings()``).
    thresholds : bool
        Compute each member's own ``V_th``, as in :func:`generate_population`.
    skip_out_of_distribution : bool
        Give units flagged ``out_of_distribution`` no population (status
        ``"out_of_distribution"``); by default they get one like the others.

    Returns
    -------
    PopulationSet
        One :class:`UnitPopulation` per unit of ``estimate``, in its order.

    Raises
    ------
    TypeError
        If ``estimate`` is not a DICEstimate, or ``seed`` not an int.
    ValueError
        For bad settings, an estimate at another ``V_th`` than its model's, or a unit marked
        ``"ok"`` without finite DICs and uncertainties.

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> from nwb_dicpop.testing import mock_dic_estimate
    >>> dics = mock_dic_estimate([0, 1, 2], g_s=[-4.0, 3.0, 5.0], g_u=[5.0, 6.0, 4.0], silent=[2])
    >>> pops = ndp.generate_unit_populations(dics, n_models=20, seed=0, thresholds=False)
    >>> pops.status
    ('ok', 'ok', 'silent')
    >>> [p.n_models for p in pops.populations]
    [20, 20]
    """
    if not isinstance(estimate, DICEstimate):
        msg = (
            f"`estimate` must be a DICEstimate (from infer_dics, read_results or built by hand); got "
            f"{type(estimate).__name__}. For DIC values use generate_population or generate_populations."
        )
        raise TypeError(msg)
    spec = get_model(estimate.model_name)
    check_positive("n_models", n_models, integer=True)
    run_seed = check_seed(seed)
    scale = check_uncertainty_scale(uncertainty_scale)
    settings = CompensationSettings() if compensation is None else compensation
    if not isinstance(settings, CompensationSettings):
        msg = f"`compensation` must be a CompensationSettings or None; got {type(settings).__name__}."
        raise TypeError(msg)
    if not abs(float(estimate.threshold) - spec.threshold) <= 1e-9:
        msg = (
            f"`estimate` holds DICs at V_th={estimate.threshold} mV, but model {spec.name!r} sets its targets at "
            f"V_th={spec.threshold} mV; DICs at another voltage are other quantities. Infer them with this model."
        )
        raise ValueError(msg)
    _check_usable(estimate)
    units = []
    for i, uid in enumerate(estimate.unit_ids):
        skipped = _skipped(estimate, i, skip_out_of_distribution)
        if skipped is not None:
            units.append(skipped)
            continue
        own_seed = unit_seed(run_seed, uid)
        target = _Target(
            mean=np.array([estimate.g_s[i], estimate.g_u[i]]),
            std=np.array([scale * estimate.g_s_std[i], scale * estimate.g_u_std[i]]),
            rng=normalize_rng(own_seed),
            unit_id=uid,
        )
        try:
            (population,) = _generate(
                spec, [target], n_models=int(n_models), compensating_set=compensating_set, settings=settings,
                thresholds=thresholds, seed=own_seed,
            )
        except UnreachableTargetError as err:
            units.append(UnitPopulation(uid, "unreachable", str(err)))
        else:
            units.append(UnitPopulation(uid, "ok", "", population))
    return PopulationSet(model_name=spec.name, units=tuple(units), seed=run_seed)


def _check_usable(estimate: DICEstimate) -> None:
    """Raise if a unit marked "ok" lacks finite DICs or has a negative or non-finite uncertainty."""
    for i, uid in enumerate(estimate.unit_ids):
        if estimate.status[i] != "ok":
            continue
        values = {name: float(getattr(estimate, name)[i]) for name in ("g_s", "g_u", "g_s_std", "g_u_std")}
        bad = {name: value for name, value in values.items() if not np.isfinite(value)}
        bad.update({name: values[name] for name in ("g_s_std", "g_u_std") if values[name] < 0})
        if bad:
            shown = ", ".join(f"{name}={value!r}" for name, value in bad.items())
            msg = (
                f"`estimate` unit {uid!r} has status 'ok' but {shown}; an 'ok' unit needs finite DICs and "
                "uncertainties >= 0. Fix the estimate or give the unit another status."
            )
            raise ValueError(msg)


def _skipped(estimate: DICEstimate, i: int, skip_out_of_distribution: bool) -> UnitPopulation | None:
    """The outcome of unit ``i`` when it gets no population before any compensation, else None."""
    uid, status = estimate.unit_ids[i], estimate.status[i]
    if status == _SILENT:
        return UnitPopulation(uid, "silent", "The unit is silent: too few spikes for a DIC estimate.")
    if status != "ok":
        return UnitPopulation(uid, "no_estimate", f"The unit has no DIC estimate (estimate status {status!r}).")
    if skip_out_of_distribution and estimate.out_of_distribution[i]:
        return UnitPopulation(
            uid, "out_of_distribution",
            "The unit's train lies outside the network's training support; its DICs are not trusted "
            "(skip_out_of_distribution=True).",
        )
    return None


def _unreachable_message(spec: NeuronModel, job: _Job) -> str:
    g_s, g_u = (float(x) for x in job.target.mean)
    rng = np.random.default_rng(0)
    pairs = candidate_sets(spec)
    scores = _reachability_at(spec, g_s, g_u, pairs, _DIAGNOSIS_MEMBERS, rng)
    reaching = sorted((s, p) for p, s in scores.items() if s > 0)[::-1][:4]
    span = _reachable_g_s_span(spec, job.pair, g_u, rng)
    lines = [
        (f"Target (g_s={g_s:.4g}, g_u={g_u:.4g}) of model {spec.name!r} cannot be reached with "
        f"compensating set {job.pair}: {job.n_valid} of {job.drawn} drawn members had valid "
        f"conductances (non-negative, within the model's conductance_limits)."),
    ]
    if span is None:
        lines.append(
            f"At g_u={g_u:.4g} this set reaches no g_s in [{_SPAN_G_S_VALUES[0]:g}, {_SPAN_G_S_VALUES[-1]:g}]."
        )
    else:
        lines.append(f"At g_u={g_u:.4g} this set reaches g_s in about [{span[0]:.3g}, {span[1]:.3g}].")
    if reaching:
        names = ", ".join(f"{p} ({100 * s:.0f}% of members)" for s, p in reaching)
        lines.append(f"Sets that reach this target: {names}; pass one as compensating_set=, or 'auto'.")
    else:
        lines.append("No pair of conductances reaches this target; it lies outside the model's reachable region.")
    return " ".join(lines)


def _reachable_g_s_span(spec: NeuronModel, pair: tuple[str, ...], g_u: float, rng: np.random.Generator) -> tuple[float, float] | None:
    values = _SPAN_G_S_VALUES
    fractions = reachability_map(
        spec, pair, g_s_values=values, g_u_values=[g_u], n_models=_SPAN_MEMBERS, rng=rng
    ).fraction[0]
    reached = values[fractions > 0]
    return (float(reached.min()), float(reached.max())) if reached.size else None


# --------------------------------------------------------------------------- reachability
@dataclass(frozen=True, slots=True)
class ReachabilityMap:
    """Fraction of base members that reach each target of a grid with valid conductances.

    Attributes
    ----------
    model_name : str
    compensating_set : tuple of str
    g_s_values : ndarray, shape (n_s,)
    g_u_values : ndarray, shape (n_u,)
    fraction : ndarray, shape (n_u, n_s)
        Reachability in [0, 1] (rows: g_u, columns: g_s, ready for ``imshow``).
    n_models : int
    epsilon : float
    """

    model_name: str
    compensating_set: tuple[str, ...]
    g_s_values: np.ndarray
    g_u_values: np.ndarray
    fraction: np.ndarray
    n_models: int
    epsilon: float

    def reachable(self, g_s: float, g_u: float) -> float:
        """Reachability at the grid point nearest to ``(g_s, g_u)``."""
        i = int(np.argmin(np.abs(self.g_u_values - g_u)))
        j = int(np.argmin(np.abs(self.g_s_values - g_s)))
        return float(self.fraction[i, j])


def reachability_map(
    model: str | NeuronModel,
    compensating_set: tuple[str, str],
    *,
    g_s_values: Any = None,
    g_u_values: Any = None,
    n_models: int = 100,
    epsilon: float = _DEFAULT_EPSILON,
    rng: int | np.random.Generator | None = None,
) -> ReachabilityMap:
    """Reachability of a grid of ``(g_s, g_u)`` targets by one compensating set (``docs/method.md``).

    One spiking base population of ``n_models`` members is neuromodulated to every target;
    the reachability is the fraction of members whose re-solved conductances are valid
    (finite, non-negative, within the model's limits) and whose achieved ``(g_s, g_u)`` is
    within ``epsilon`` of the target.

    Parameters
    ----------
    model : str or NeuronModel
    compensating_set : (str, str)
    g_s_values, g_u_values : array_like, optional
        Grid; defaults to steps of 0.5 over [-20, 20) and [0, 20).
    n_models : int
    epsilon : float
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ReachabilityMap
    """
    spec = get_model(model)
    kernel = kernel_for(spec)
    unknown = check_set(spec, compensating_set, size=2)
    check_positive("n_models", n_models, integer=True)
    check_positive("epsilon", epsilon)
    s_values = np.arange(-20.0, 20.0, 0.5) if g_s_values is None else check_finite_array("g_s_values", g_s_values, ndim=(1,))
    u_values = np.arange(0.0, 20.0, 0.5) if g_u_values is None else check_finite_array("g_u_values", g_u_values, ndim=(1,))
    base = _draw_base(spec, kernel, int(n_models), normalize_rng(rng))
    grid_u, grid_s = np.meshgrid(u_values, s_values, indexing="ij")
    targets = np.stack([grid_s.ravel(), grid_u.ravel()], axis=1)
    fraction = np.empty(targets.shape[0])
    chunk = max(1, 50_000 // int(n_models))
    for start in range(0, targets.shape[0], chunk):
        block = targets[start : start + chunk]
        g = np.tile(base, (block.shape[0], 1))
        goal = np.repeat(block, int(n_models), axis=0)
        g, residual, _, _ = compensate_sets(
            kernel, g, goal, unknown, rows=_MODULATED_ROWS, voltage=spec.threshold,
            tolerance=_REACHABILITY_SOLVE.tolerance, max_iterations=_REACHABILITY_SOLVE.max_iterations,
        )
        ok = _valid(spec, g, residual, epsilon).reshape(block.shape[0], int(n_models))
        fraction[start : start + block.shape[0]] = ok.mean(axis=1)
    return ReachabilityMap(
        model_name=spec.name,
        compensating_set=tuple(compensating_set),
        g_s_values=s_values,
        g_u_values=u_values,
        fraction=fraction.reshape(grid_u.shape),
        n_models=int(n_models),
        epsilon=float(epsilon),
    )
