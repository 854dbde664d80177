"""Compensation: from DIC targets to degenerate populations of maximal conductances.

Two steps (science.md section 5):

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
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwb_dicpop._solver import check_set, compensate, compensate_sets, dics_at, rows_all
from nwb_dicpop._validation import (
    check_choice,
    check_finite_array,
    check_positive,
    normalize_rng,
    seed_of,
)
from nwb_dicpop.containers import Population
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import ModelKernel, kernel_for

__all__ = [
    "ReachabilityMap",
    "UnreachableTargetError",
    "candidate_sets",
    "choose_compensating_set",
    "compensate",
    "generate_population",
    "generate_populations",
    "generate_spiking_population",
    "reachability_map",
]

_MAX_DRAWS_FACTOR = 200  # give up on a target after this many draws per requested member
_MIN_MAX_DRAWS = 20_000


class UnreachableTargetError(ValueError):
    """A DIC target that the chosen compensating set cannot reach with valid conductances."""


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
            kernel, g, np.broadcast_to(goal, (size, 3)), unknown, [0, 1, 2], spec.threshold, 1e-12, 100
        )
        valid = _valid(spec, g, residual, 1e-6)
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
    return _population(spec, kernel, g, np.broadcast_to(goal, (g.shape[0], 2)), goal, np.zeros(2),
                       recipe.compensating, 1, 0, seed_of(rng), None, thresholds=True)


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
    n_models: int = 64,
    rng: int | np.random.Generator | None = 0,
) -> tuple[str, str]:
    """The pair of conductances re-solved to reach ``(g_s, g_u)``.

    ``method="rule"`` applies the model's published rule (science.md 5.3); ``"auto"`` picks,
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
    epsilon: float = 0.1,
) -> dict[tuple[str, ...], float]:
    kernel = kernel_for(spec)
    base = _draw_base(spec, kernel, n_models, rng)
    goal = np.broadcast_to([g_s, g_u], (n_models, 2))
    scores = {}
    for pair in pairs:
        unknown = check_set(spec, pair, size=2)
        g, residual, _, _ = compensate_sets(kernel, base.copy(), goal, unknown, [1, 2], spec.threshold, 1e-10, 100)
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
@dataclass
class _Job:
    """Book-keeping of one target while members are drawn."""

    rng: np.random.Generator
    mean: np.ndarray
    std: np.ndarray
    pair: tuple[str, ...]
    needed: int
    accepted: list[np.ndarray]
    accepted_targets: list[np.ndarray]
    accepted_residual: list[np.ndarray]
    accepted_dics: list[np.ndarray] = field(default_factory=list)
    drawn: int = 0
    n_valid: int = 0
    n_iterations: int = 1

    @property
    def remaining(self) -> int:
        return self.needed - self.n_valid


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
        Relative tolerance of the calcium fixed-point iteration.
    max_residual : float
        Members whose achieved ``(g_s, g_u)`` is further than this from their target are
        redrawn.
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

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> pop = ndp.generate_population("stg", -4.0, 5.0, n_models=100, rng=0)
    >>> pop.n_models, pop.compensating_set
    (100, ('CaS', 'H'))
    >>> bool(abs(pop.dics[:, 1] + 4.0).max() < 1e-6)
    True
    """
    (population,) = _generate(
        model, [g_s], [g_u], n_models=n_models, compensating_set=compensating_set, g_s_std=[g_s_std],
        g_u_std=[g_u_std], tolerance=tolerance, max_residual=max_residual, thresholds=thresholds,
        unit_ids=[unit_id], rng=rng, spawn=False,
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
    return _generate(
        model, g_s_a, g_u_a, n_models=n_models, compensating_set=compensating_set, g_s_std=std_s,
        g_u_std=std_u, tolerance=tolerance, max_residual=max_residual, thresholds=thresholds,
        unit_ids=ids, rng=rng, spawn=True,
    )


def _generate(
    model: str | NeuronModel,
    g_s: Any,
    g_u: Any,
    *,
    n_models: int,
    compensating_set: Any,
    g_s_std: Any,
    g_u_std: Any,
    tolerance: float,
    max_residual: float,
    thresholds: bool,
    unit_ids: list[Any],
    rng: int | np.random.Generator | None,
    spawn: bool,
) -> list[Population]:
    spec = get_model(model)
    kernel = kernel_for(spec)
    check_positive("n_models", n_models, integer=True)
    check_positive("tolerance", tolerance)
    check_positive("max_residual", max_residual)
    means = _pairs(check_finite_array("g_s", g_s), check_finite_array("g_u", g_u))
    stds = _pairs(check_finite_array("g_s_std", g_s_std), check_finite_array("g_u_std", g_u_std))
    if np.any(stds < 0):
        msg = f"`g_s_std` and `g_u_std` must be >= 0; got {stds.min():.4g}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    streams = generator.spawn(len(means)) if spawn else [generator]
    jobs = [
        _Job(stream, mean, std, _resolve_set(spec, compensating_set, mean[0], mean[1], stream), int(n_models), [], [], [])
        for stream, mean, std in zip(streams, means, stds, strict=True)
    ]
    max_draws = max(_MAX_DRAWS_FACTOR * int(n_models), _MIN_MAX_DRAWS)
    while any(job.remaining > 0 for job in jobs):
        active = [job for job in jobs if job.remaining > 0]
        for job in active:
            if job.drawn >= max_draws:
                raise UnreachableTargetError(_unreachable_message(spec, job))
        _draw_round(spec, kernel, active, tolerance, max_residual)
    seed = seed_of(rng)
    return [
        _population(
            spec, kernel, _first(job.accepted, job.needed), _first(job.accepted_targets, job.needed),
            job.mean, job.std, job.pair, job.n_iterations, job.drawn - job.n_valid, seed, uid,
            thresholds=thresholds, residual=_first(job.accepted_residual, job.needed),
            dics=_first(job.accepted_dics, job.needed),
        )
        for job, uid in zip(jobs, unit_ids, strict=True)
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


def _draw_round(spec: NeuronModel, kernel: ModelKernel, jobs: list[_Job], tolerance: float, max_residual: float) -> None:
    """Draw, neuromodulate and accept one batch of members for every active job."""
    by_pair: dict[tuple[str, ...], list[tuple[_Job, np.ndarray, np.ndarray]]] = {}
    for job in jobs:
        acceptance = job.n_valid / job.drawn if job.drawn else 1.0
        size = int(np.ceil(job.remaining / max(acceptance, 0.02) * 1.1)) + 2
        size = min(size, 50 * job.needed + 100)
        base = _draw_base(spec, kernel, size, job.rng)
        targets = np.repeat(job.mean[None], size, axis=0)
        if np.any(job.std > 0):
            targets += job.std * job.rng.standard_normal((size, 2))
        by_pair.setdefault(job.pair, []).append((job, base, targets))
    for pair, items in by_pair.items():
        unknown = check_set(spec, pair, size=2)
        if len(items) == 1:
            g, goal = items[0][1], items[0][2]
        else:
            g = np.concatenate([base for _, base, _ in items])
            goal = np.concatenate([targets for _, _, targets in items])
        g, residual, dics, n_iter = compensate_sets(kernel, g, goal, unknown, [1, 2], spec.threshold, tolerance, 200)
        valid = _valid(spec, g, residual, max_residual)
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
    spec: NeuronModel,
    kernel: ModelKernel,
    g: np.ndarray,
    targets: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    pair: tuple[str, ...],
    n_iterations: int,
    n_rejected: int,
    seed: int | None,
    unit_id: Any,
    *,
    thresholds: bool,
    residual: np.ndarray | None = None,
    dics: np.ndarray | None = None,
) -> Population:
    if dics is None:
        dics = dics_at(kernel, g, spec.threshold)
    if residual is None:
        residual = np.linalg.norm(dics[:, 1:] - targets, axis=1)
    if thresholds:
        from nwb_dicpop.dics import find_threshold

        v_th = find_threshold(spec, g).voltage
    else:
        v_th = np.full(g.shape[0], np.nan)
    return Population(
        model_name=spec.name,
        conductance_names=spec.conductance_names,
        conductances=g,
        dics=dics,
        threshold=v_th,
        reference_threshold=spec.threshold,
        targets=targets,
        target_mean=mean,
        target_std=std,
        compensating_set=tuple(pair),
        residual=residual,
        n_iterations=n_iterations,
        n_rejected=n_rejected,
        seed=seed,
        unit_id=unit_id,
    )


def _unreachable_message(spec: NeuronModel, job: _Job) -> str:
    g_s, g_u = (float(x) for x in job.mean)
    rng = np.random.default_rng(0)
    pairs = candidate_sets(spec)
    scores = _reachability_at(spec, g_s, g_u, pairs, 64, rng)
    reaching = sorted((s, p) for p, s in scores.items() if s > 0)[::-1][:4]
    span = _reachable_g_s_span(spec, job.pair, g_u, rng)
    lines = [
        (f"Target (g_s={g_s:.4g}, g_u={g_u:.4g}) of model {spec.name!r} cannot be reached with "
        f"compensating set {job.pair}: {job.n_valid} of {job.drawn} drawn members had valid "
        f"conductances (non-negative, within the model's conductance_limits)."),
    ]
    if span is None:
        lines.append(f"At g_u={g_u:.4g} this set reaches no g_s in [-30, 30].")
    else:
        lines.append(f"At g_u={g_u:.4g} this set reaches g_s in about [{span[0]:.3g}, {span[1]:.3g}].")
    if reaching:
        names = ", ".join(f"{p} ({100 * s:.0f}% of members)" for s, p in reaching)
        lines.append(f"Sets that reach this target: {names}; pass one as compensating_set=, or 'auto'.")
    else:
        lines.append("No pair of conductances reaches this target; it lies outside the model's reachable region.")
    return " ".join(lines)


def _reachable_g_s_span(spec: NeuronModel, pair: tuple[str, ...], g_u: float, rng: np.random.Generator) -> tuple[float, float] | None:
    values = np.arange(-30.0, 30.5, 1.0)
    fractions = reachability_map(spec, pair, g_s_values=values, g_u_values=[g_u], n_models=32, rng=rng).fraction[0]
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
    epsilon: float = 0.1,
    rng: int | np.random.Generator | None = None,
) -> ReachabilityMap:
    """Reachability of a grid of ``(g_s, g_u)`` targets by one compensating set (science.md 6).

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
        g, residual, _, _ = compensate_sets(kernel, g, goal, unknown, [1, 2], spec.threshold, 1e-10, 100)
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
