"""Reachability maps of a subset from a starting population, with a cost layer.

For every point of a ``(g_s, g_u)`` grid and every member of a population: can the member
reach that point by changing only the conductances of a subset, within the modulation
limits, and at what cost (summed ``|ln(g_after / g_before)|``)?  Two conductances: one
vectorised compensation solve over grid x population (chunked to bound memory).  One
conductance: each member's reachable DICs form a curve; a grid cell is reached when the curve
passes through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nwb_dicpop._solver import compensate, dics_at
from nwb_dicpop._validation import check_finite_array
from nwb_dicpop.containers import Population
from nwb_dicpop.models import get_model
from nwb_dicpop.models.kernel import kernel_for
from nwb_dicpop.neuromodulation._inputs import candidate_subsets, check_limits, subset_name
from nwb_dicpop.neuromodulation._moves import MAX_RESIDUAL, single_curve, within_conductance_limits

__all__ = ["ModulationMap", "modulation_map"]

_CHUNK_ROWS = 100_000
_CURVE_STEP = 0.005


@dataclass(frozen=True)
class ModulationMap:
    """Which ``(g_s, g_u)`` a subset reaches from a population, and at what cost.

    Attributes
    ----------
    model_name : str
    subset : tuple of str
    g_s_values : ndarray, shape (n_s,)
    g_u_values : ndarray, shape (n_u,)
    fraction : ndarray, shape (n_u, n_s)
        Fraction of members that reach each point within the modulation limits (rows g_u,
        columns g_s, ready for ``imshow``).
    mean_cost : ndarray, shape (n_u, n_s)
        Mean over those members of the summed ``|ln(g_after / g_before)|`` (NaN where no
        member reaches the point).
    bound_limited : ndarray, shape (n_u, n_s)
        Fraction of members that reach the point only beyond the modulation limits.
    start_dics : ndarray, shape (n_models, 3)
        ``(g_f, g_s, g_u)`` of the starting members.
    modulation_limits : dict of str to (float, float)
    n_models : int
    """

    model_name: str
    subset: tuple[str, ...]
    g_s_values: np.ndarray
    g_u_values: np.ndarray
    fraction: np.ndarray
    mean_cost: np.ndarray
    bound_limited: np.ndarray
    start_dics: np.ndarray
    modulation_limits: dict[str, tuple[float, float]]
    n_models: int

    def reachable(self, g_s: float, g_u: float) -> float:
        """Fraction of members reaching the grid point nearest to ``(g_s, g_u)``."""
        i = int(np.argmin(np.abs(self.g_u_values - g_u)))
        j = int(np.argmin(np.abs(self.g_s_values - g_s)))
        return float(self.fraction[i, j])

    def __repr__(self) -> str:
        return (
            f"ModulationMap(model={self.model_name!r}, subset={subset_name(self.subset)!r}, "
            f"{self.g_u_values.size}x{self.g_s_values.size} grid, {self.n_models} members, "
            f"reached somewhere: {np.mean(self.fraction > 0):.0%} of the grid)"
        )


def modulation_map(
    population: Population,
    subset: Any,
    *,
    g_s_values: Any = None,
    g_u_values: Any = None,
    modulation_limits: Any = None,
) -> ModulationMap:
    """Reachability and cost of a ``(g_s, g_u)`` grid by modulating ``subset`` of each member.

    Parameters
    ----------
    population : Population
        The starting members (e.g. the "before" population of an analysis).
    subset : str or tuple of str
        One or two conductances (``"A+H"``, ``("A", "H")`` or ``"H"``).
    g_s_values, g_u_values : array_like, optional
        The grid; default 100 points over [-20, 20] and [0, 20].
    modulation_limits : mapping of str to (float, float), optional
        Overrides of the model's ratio limits.

    Returns
    -------
    ModulationMap

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> from nwb_dicpop.neuromodulation import modulation_map
    >>> pop = ndp.generate_population("stg", 4.0, 5.0, n_models=20, thresholds=False, rng=0)
    >>> m = modulation_map(pop, "A+H", g_s_values=[-2.0, 4.0], g_u_values=[5.0])
    >>> m.fraction.shape
    (1, 2)
    """
    if not isinstance(population, Population):
        msg = f"`population` must be a Population (e.g. from generate_population); got {type(population).__name__}."
        raise TypeError(msg)
    spec = get_model(population.model_name)
    (names,) = candidate_subsets(spec, [subset], 2)
    limits = check_limits(spec, modulation_limits)
    s_values = np.linspace(-20.0, 20.0, 100) if g_s_values is None else check_finite_array("g_s_values", g_s_values, ndim=(1,))
    u_values = np.linspace(0.0, 20.0, 100) if g_u_values is None else check_finite_array("g_u_values", g_u_values, ndim=(1,))
    start = np.array(population.conductances)
    low = np.log([limits[n][0] for n in names])
    high = np.log([limits[n][1] for n in names])
    if len(names) == 2:
        fraction, cost, limited = _pair_map(spec, start, names, s_values, u_values, low, high)
    else:
        fraction, cost, limited = _single_map(spec, start, names, s_values, u_values, low, high)
    return ModulationMap(
        model_name=spec.name, subset=names, g_s_values=s_values, g_u_values=u_values, fraction=fraction,
        mean_cost=cost, bound_limited=limited, start_dics=dics_at(kernel_for(spec), start, spec.threshold),
        modulation_limits={n: limits[n] for n in names}, n_models=start.shape[0],
    )


def _pair_map(spec: Any, start: np.ndarray, names: tuple[str, ...], s_values: np.ndarray, u_values: np.ndarray,
              low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    grid_u, grid_s = np.meshgrid(u_values, s_values, indexing="ij")
    targets = np.stack([grid_s.ravel(), grid_u.ravel()], axis=1)
    n, n_points = start.shape[0], targets.shape[0]
    columns = [spec.index(c) for c in names]
    reached = np.zeros(n_points)
    limited = np.zeros(n_points)
    total_cost = np.zeros(n_points)
    chunk = max(1, _CHUNK_ROWS // n)
    for first in range(0, n_points, chunk):
        block = targets[first:first + chunk]
        g0 = np.tile(start, (block.shape[0], 1))
        with np.errstate(all="ignore"):
            solved, residual, _ = compensate(spec, g0, np.repeat(block, n, axis=0), names, rows=("g_s", "g_u"),
                                             tolerance=1e-10, max_iterations=60)
            x = np.log(solved[:, columns] / g0[:, columns])
        valid = (residual <= MAX_RESIDUAL) & within_conductance_limits(spec, names, solved[:, columns])
        valid &= np.all(np.isfinite(x), axis=1)
        inside = np.all((x >= low - 1e-12) & (x <= high + 1e-12), axis=1)
        ok = (valid & inside).reshape(block.shape[0], n)
        cost = np.where(ok, np.sum(np.abs(np.where(np.isfinite(x), x, 0.0)), axis=1).reshape(block.shape[0], n), 0.0)
        reached[first:first + block.shape[0]] = ok.sum(axis=1)
        limited[first:first + block.shape[0]] = (valid & ~inside).reshape(block.shape[0], n).sum(axis=1)
        total_cost[first:first + block.shape[0]] = cost.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_cost = np.where(reached > 0, total_cost / reached, np.nan)
    shape = grid_u.shape
    return (reached / n).reshape(shape), mean_cost.reshape(shape), (limited / n).reshape(shape)


def _single_map(spec: Any, start: np.ndarray, names: tuple[str, ...], s_values: np.ndarray, u_values: np.ndarray,
                low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    column = spec.index(names[0])
    lo_all, hi_all = min(low[0], np.log(1e-3)), max(high[0], np.log(1e3))
    x = np.arange(lo_all, hi_all + _CURVE_STEP / 2, _CURVE_STEP)
    n, n_s, n_u = start.shape[0], s_values.size, u_values.size
    best = np.full((n, n_u * n_s), np.inf)  # smallest |x| with which member m reaches each cell
    best_free = np.full((n, n_u * n_s), np.inf)
    per_chunk = max(1, _CHUNK_ROWS // n)
    for first in range(0, x.size, per_chunk):
        xs = x[first:first + per_chunk]
        curve = single_curve(spec, start, column, xs)  # (n, k, 3)
        allowed = within_conductance_limits(spec, names, start[:, column, None, None] * np.exp(xs)[None, :, None])
        i = _cell(curve[:, :, 2], u_values)
        j = _cell(curve[:, :, 1], s_values)
        ok = allowed & (i >= 0) & (j >= 0)
        member = np.broadcast_to(np.arange(n)[:, None], ok.shape)
        cell = i * n_s + j
        size = np.broadcast_to(np.abs(xs)[None, :], ok.shape)
        inside = np.broadcast_to(((xs >= low[0] - 1e-12) & (xs <= high[0] + 1e-12))[None, :], ok.shape)
        np.minimum.at(best_free, (member[ok], cell[ok]), size[ok])
        keep = ok & inside
        np.minimum.at(best, (member[keep], cell[keep]), size[keep])
    reached = np.isfinite(best)
    fraction = reached.mean(axis=0)
    with np.errstate(invalid="ignore"):
        mean_cost = np.where(reached.any(axis=0), np.sum(np.where(reached, best, 0.0), axis=0) / reached.sum(axis=0), np.nan)
    limited = (np.isfinite(best_free) & ~reached).mean(axis=0)
    return fraction.reshape(n_u, n_s), mean_cost.reshape(n_u, n_s), limited.reshape(n_u, n_s)


def _cell(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Index of the grid cell (nearest grid point) holding each value; -1 outside the grid."""
    if grid.size == 1:
        half = 0.5
        index = np.zeros(values.shape, dtype=np.int64)
        return np.where(np.abs(values - grid[0]) <= half, index, -1)
    edges = np.concatenate([[grid[0] - (grid[1] - grid[0]) / 2], (grid[1:] + grid[:-1]) / 2,
                            [grid[-1] + (grid[-1] - grid[-2]) / 2]])
    index = np.searchsorted(edges, values) - 1
    with np.errstate(invalid="ignore"):
        return np.where((index >= 0) & (index < grid.size) & np.isfinite(values), index, -1)
