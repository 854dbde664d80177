"""Moves of population members by a subset of conductances, and how well they explain data.

A *move* multiplies the maximal conductances of a subset ``S`` of one member by ratios
``r_j = exp(x_j)`` and leaves every other conductance as it was.  This module computes, for
every member of a starting population and one subset, the integral

    z_S(member) = ∫ N(mu; D(member, x), Sigma) p(x) dx

of a Gaussian likelihood of the DICs ``D`` reached after the move (``mu``, ``Sigma``: the
posterior of the DICs inferred from the other recording) against a prior ``p(x)`` on the
log-ratios: independent Laplace laws of scale ``tau``, truncated to the model's modulation
limits.  The integral is the marginal likelihood of the subset for that member.  It is
computed

* for one conductance, by quadrature over a fine grid of ``x`` (``GRID_STEP``): the reached
  DICs trace a curve; for currents without a calcium path the curve is exactly linear in
  ``r`` and is evaluated in closed form, otherwise with :func:`~nwb_dicpop._solver.dics_at`;
* for two conductances, by importance sampling: targets are drawn from the posterior, the
  compensation solve (:func:`~nwb_dicpop._solver.compensate`, iterated for the calcium path)
  gives the unique move that reaches each, and the prior density of the move is carried to
  DIC space by the Jacobian of ``x -> D`` (finite differences through ``dics_at``).

Both are one vectorised computation over the population.  See ``docs/neuromodulation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nwb_dicpop._solver import compensate, dics_at
from nwb_dicpop.models import NeuronModel
from nwb_dicpop.models.kernel import kernel_for

__all__ = [
    "EXTENDED_LIMITS",
    "GRID_STEP",
    "LAPLACE_SCALE",
    "DICLikelihood",
    "SubsetFit",
    "fit_no_change",
    "fit_subset",
    "log_mean_exp",
    "sample_moves",
    "single_curve",
    "within_conductance_limits",
]

LAPLACE_SCALE = 0.7
"""Scale ``tau`` of the Laplace prior on each log-ratio ``ln(g_after / g_before)`` (about ln 2:
a doubling or a halving costs one unit)."""
GRID_STEP = 0.02
"""Step of the quadrature grid in log-ratio (a 2 % change)."""
EXTENDED_LIMITS = (1e-3, 1e3)
"""Ratios explored to tell whether a modulation limit decides (beyond the declared limits)."""
JACOBIAN_STEP = 1e-5
"""Step in log-ratio of the finite-difference Jacobian of the DICs."""
MAX_RESIDUAL = 1e-6
"""Largest accepted distance between reached and targeted DICs of a two-conductance move."""


def log_mean_exp(values: np.ndarray, axis: int | None = None) -> Any:
    """``log(mean(exp(values)))`` without overflow (``-inf`` when every value is ``-inf``)."""
    values = np.asarray(values, dtype=np.float64)
    top = np.max(values, axis=axis, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.mean(np.exp(values - safe), axis=axis, keepdims=True)) + safe
    return np.squeeze(out, axis=axis) if axis is not None else float(out.reshape(()))


@dataclass(frozen=True)
class DICLikelihood:
    """Likelihood of DICs: independent Student-t laws on some of ``(g_f, g_s, g_u)``.

    Each row ``i`` has location ``mean[i]``, scale ``scale * std[i]`` and ``degrees``
    degrees of freedom (``inf``: a normal law).  Heavy tails keep an inferred DIC that is
    off by several of its standard deviations (as happens on trains of modulated neurons)
    from ruling a subset out on its own.

    Attributes
    ----------
    rows : tuple of int
        DIC rows used (0: g_f, 1: g_s, 2: g_u); always contains 1 and 2.
    mean, std : ndarray of float, shape (len(rows),)
    scale : float
    degrees : float
    """

    rows: tuple[int, ...]
    mean: np.ndarray
    std: np.ndarray
    scale: float = 1.0
    degrees: float = np.inf

    @property
    def width(self) -> np.ndarray:
        """Scale of each row's law."""
        return self.scale * np.asarray(self.std, dtype=np.float64)

    def _z(self, dics: np.ndarray) -> np.ndarray:
        return (dics[..., list(self.rows)] - self.mean) / self.width

    def log_density(self, dics: np.ndarray) -> np.ndarray:
        """Log density at DICs of shape ``(..., 3)`` (NaN DICs give ``-inf``)."""
        z = self._z(dics)
        if np.isinf(self.degrees):
            per_row = -0.5 * z * z - 0.5 * np.log(2 * np.pi)
        else:
            nu = self.degrees
            per_row = (
                _log_gamma((nu + 1) / 2) - _log_gamma(nu / 2) - 0.5 * np.log(nu * np.pi)
                - (nu + 1) / 2 * np.log1p(z * z / nu)
            )
        value = np.sum(per_row, axis=-1) - np.sum(np.log(self.width))
        return np.where(np.isfinite(value), value, -np.inf)

    def inside(self, dics: np.ndarray) -> np.ndarray:
        """True where every row lies within the central 95 % of its law."""
        z = np.abs(self._z(dics))
        with np.errstate(invalid="ignore"):
            return np.all(z <= self.quantile_975, axis=-1)

    @property
    def quantile_975(self) -> float:
        """0.975 quantile of the standardised law of one row."""
        if np.isinf(self.degrees):
            return 1.959963984540054
        from scipy.stats import t

        return float(t.ppf(0.975, self.degrees))

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...], rows: list[int]) -> np.ndarray:
        """Draws of the given ``rows`` (positions in :attr:`rows`), shape ``(*shape, len(rows))``."""
        size = (*shape, len(rows))
        noise = rng.standard_normal(size) if np.isinf(self.degrees) else rng.standard_t(self.degrees, size)
        return self.mean[rows] + self.width[rows] * noise


def _log_gamma(x: float) -> float:
    from math import lgamma

    return lgamma(x)


@dataclass
class SubsetFit:
    """How well moves by one subset carry each member of a population to a DIC posterior.

    Attributes
    ----------
    subset : tuple of str
    log_evidence : ndarray of float, shape (n_members,)
        ``log z_S(member)`` with the prior truncated to the modulation limits.
    log_evidence_free : ndarray of float, shape (n_members,)
        The same with the prior over :data:`EXTENDED_LIMITS` (only non-negativity and the
        model's ``conductance_limits`` apply): where it is much larger, a limit decides.
    feasible : ndarray of float, shape (n_members,)
        Single conductance: 1 when the member's curve enters the likelihood's central 95 %
        (every row) within the limits.  Two conductances: the fraction of posterior draws reached by a
        move within the limits.
    bound_limited : ndarray of float, shape (n_members,)
        The part that only the modulation limits exclude (feasible without them, not with).
    cost : ndarray of float, shape (n_members,)
        Posterior mean of ``sum_j |ln r_j|`` under the limits (NaN where nothing is feasible).
    ratios : ndarray of float, shape (n_members, n_points, len(subset))
        Candidate moves: the quadrature grid (one conductance) or the solved draws (two).
    log_weights : ndarray of float, shape (n_members, n_points)
        Log posterior weight of each candidate move (``-inf``: infeasible).
    """

    subset: tuple[str, ...]
    log_evidence: np.ndarray
    log_evidence_free: np.ndarray
    feasible: np.ndarray
    bound_limited: np.ndarray
    cost: np.ndarray
    ratios: np.ndarray
    log_weights: np.ndarray
    columns: tuple[int, ...] = field(default=())


def _log_prior(x: np.ndarray, low: np.ndarray, high: np.ndarray, tau: float) -> np.ndarray:
    """Log density of independent Laplace(0, tau) laws truncated to ``[low, high]`` (last axis)."""
    norm = tau * (2.0 - np.exp(low / tau) - np.exp(-high / tau))  # low <= 0 <= high
    inside = (x >= low - 1e-12) & (x <= high + 1e-12)
    value = np.sum(-np.abs(x) / tau - np.log(norm), axis=-1)
    return np.where(np.all(inside, axis=-1), value, -np.inf)


def _log_limits(spec: NeuronModel, names: tuple[str, ...], inverse: bool) -> tuple[np.ndarray, np.ndarray]:
    low = np.log([spec.modulation_limit(n)[0] for n in names])
    high = np.log([spec.modulation_limit(n)[1] for n in names])
    return (-high, -low) if inverse else (low, high)


def within_conductance_limits(spec: NeuronModel, names: tuple[str, ...], g: np.ndarray) -> np.ndarray:
    """``g`` of shape (..., len(names)): finite, > 0 and inside each ``conductance_limits``."""
    low = np.array([max(spec.conductance_limits[n][0], 0.0) for n in names])
    high = np.array([spec.conductance_limits[n][1] for n in names])
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(g) & (g > 0) & (g >= low) & (g <= high), axis=-1)


def fit_no_change(spec: NeuronModel, start: np.ndarray, likelihood: DICLikelihood) -> np.ndarray:
    """``log N(mu; D(member), Sigma)`` per member: the evidence of "no change"."""
    return likelihood.log_density(dics_at(kernel_for(spec), start, spec.threshold))


def fit_subset(
    spec: NeuronModel,
    start: np.ndarray,
    subset: tuple[str, ...],
    likelihood: DICLikelihood,
    *,
    inverse: bool = False,
    tau: float = LAPLACE_SCALE,
    n_draws: int = 16,
    rng: np.random.Generator,
    limits: dict[str, tuple[float, float]] | None = None,
) -> SubsetFit:
    """Evidence of moves by ``subset`` for every member of ``start``.

    Parameters
    ----------
    spec : NeuronModel
    start : ndarray, shape (n_members, n_conductances)
        Starting conductances (mS/cm^2).
    subset : tuple of str
        One or two conductance names.
    likelihood : DICLikelihood
        Posterior of the DICs the moved members should reach.
    inverse : bool
        Moves go from "after" to "before": the modulation limits are inverted.
    tau : float
        Laplace scale of the prior on log-ratios.
    n_draws : int
        Posterior draws per member (two conductances).
    rng : numpy.random.Generator
    limits : dict, optional
        Ratio limits per conductance overriding the model's ``modulation_limits``.

    Returns
    -------
    SubsetFit
    """
    names = tuple(subset)
    columns = tuple(spec.index(n) for n in names)
    if limits:
        low = np.log([limits.get(n, spec.modulation_limit(n))[0] for n in names])
        high = np.log([limits.get(n, spec.modulation_limit(n))[1] for n in names])
        low, high = (-high, -low) if inverse else (low, high)
    else:
        low, high = _log_limits(spec, names, inverse)
    if len(names) == 1:
        fit = _fit_single(spec, start, names, columns[0], likelihood, low, high, tau)
    elif len(names) == 2:
        fit = _fit_pair(spec, start, names, columns, likelihood, low, high, tau, n_draws, rng)
    else:
        msg = f"Moves of {len(names)} conductances are not supported; use subsets of 1 or 2."
        raise ValueError(msg)
    fit.columns = columns
    return fit


def single_curve(spec: NeuronModel, start: np.ndarray, column: int, x: np.ndarray) -> np.ndarray:
    """DICs (n_members, n_points, 3) of each member with conductance ``column`` times ``exp(x)``."""
    kernel = kernel_for(spec)
    n, k = start.shape[0], x.size
    if column in kernel.calcium_currents:  # Ca_inf depends on it: evaluate every point
        g = np.repeat(start[:, None, :], k, axis=1)
        g[:, :, column] *= np.exp(x)[None, :]
        return dics_at(kernel, g.reshape(n * k, -1), spec.threshold).reshape(n, k, 3)
    # every other column enters the DICs linearly (its sensitivity does not depend on it)
    sens = kernel.sensitivity_matrix(spec.threshold, start)
    leak = start[:, kernel.leak_index]
    d0 = np.einsum("nxj,nj->nx", sens, start) / leak[:, None]
    lever = sens[:, :, column] * (start[:, column] / leak)[:, None]  # (n, 3)
    return d0[:, None, :] + np.expm1(x)[None, :, None] * lever[:, None, :]


def _fit_single(
    spec: NeuronModel,
    start: np.ndarray,
    names: tuple[str, ...],
    column: int,
    likelihood: DICLikelihood,
    low: np.ndarray,
    high: np.ndarray,
    tau: float,
) -> SubsetFit:
    lo_ext, hi_ext = np.log(EXTENDED_LIMITS)
    x = np.arange(min(lo_ext, low[0]), max(hi_ext, high[0]) + GRID_STEP / 2, GRID_STEP)
    curve = single_curve(spec, start, column, x)
    allowed = within_conductance_limits(spec, names, start[:, column, None, None] * np.exp(x)[None, :, None])
    log_lik = np.where(allowed, likelihood.log_density(curve), -np.inf)
    inside = allowed & likelihood.inside(curve)
    bounded = (x >= low[0] - 1e-12) & (x <= high[0] + 1e-12)
    log_prior = _log_prior(x[:, None], low, high, tau)
    log_prior_free = _log_prior(x[:, None], np.array([lo_ext]), np.array([hi_ext]), tau)
    log_w = log_lik + log_prior[None, :]
    log_z = log_mean_exp(log_w, axis=1) + np.log(x.size * GRID_STEP)
    log_z_free = log_mean_exp(log_lik + log_prior_free[None, :], axis=1) + np.log(x.size * GRID_STEP)
    feasible = np.any(inside & bounded[None, :], axis=1).astype(float)
    bound_limited = (np.any(inside, axis=1) & (feasible == 0)).astype(float)
    cost = _posterior_mean(log_w, np.abs(x)[None, :])
    keep = bounded
    return SubsetFit(
        subset=names,
        log_evidence=log_z,
        log_evidence_free=log_z_free,
        feasible=feasible,
        bound_limited=bound_limited,
        cost=cost,
        ratios=np.broadcast_to(np.exp(x[keep])[None, :, None], (start.shape[0], int(keep.sum()), 1)),
        log_weights=log_w[:, keep],
    )


def _posterior_mean(log_w: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted mean of ``values`` along the last axis with log weights (NaN if all ``-inf``)."""
    top = np.max(log_w, axis=-1, keepdims=True)
    ok = np.isfinite(top[..., 0])
    w = np.exp(log_w - np.where(np.isfinite(top), top, 0.0))
    total = np.sum(w, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.sum(w * values, axis=-1) / total
    return np.where(ok, mean, np.nan)


def _fit_pair(
    spec: NeuronModel,
    start: np.ndarray,
    names: tuple[str, ...],
    columns: tuple[int, ...],
    likelihood: DICLikelihood,
    low: np.ndarray,
    high: np.ndarray,
    tau: float,
    n_draws: int,
    rng: np.random.Generator,
) -> SubsetFit:
    kernel = kernel_for(spec)
    n, k = start.shape[0], int(n_draws)
    su = [likelihood.rows.index(1), likelihood.rows.index(2)]
    targets = likelihood.sample(rng, (n, k), su)
    g0 = np.repeat(start, k, axis=0)
    with np.errstate(all="ignore"):
        solved, residual, _ = compensate(
            spec, g0, targets.reshape(n * k, 2), names, rows=("g_s", "g_u"), tolerance=1e-10, max_iterations=60
        )
        cols = list(columns)
        ratio = solved[:, cols] / g0[:, cols]
        x = np.log(np.where(ratio > 0, ratio, np.nan))
    valid = (residual <= MAX_RESIDUAL) & within_conductance_limits(spec, names, solved[:, cols]) & np.all(
        np.isfinite(x), axis=1
    )
    x = np.where(valid[:, None], x, 0.0)
    # Jacobian of (g_s, g_u) with respect to the log-ratios, at the solution
    safe = np.where(valid[:, None], solved, g0)
    d_sol = dics_at(kernel, safe, spec.threshold)
    jac = np.empty((n * k, 2, 2))
    for i, j in enumerate(cols):
        bumped = safe.copy()
        bumped[:, j] *= np.exp(JACOBIAN_STEP)
        jac[:, :, i] = (dics_at(kernel, bumped, spec.threshold)[:, 1:] - d_sol[:, 1:]) / JACOBIAN_STEP
    with np.errstate(divide="ignore", invalid="ignore"):
        log_det = np.log(np.abs(jac[:, 0, 0] * jac[:, 1, 1] - jac[:, 0, 1] * jac[:, 1, 0]))
    extra = np.zeros(n * k)
    if 0 in likelihood.rows:  # g_f is not targeted by the solve: weigh it
        f = likelihood.rows.index(0)
        only_f = DICLikelihood((0,), likelihood.mean[[f]], likelihood.std[[f]], likelihood.scale, likelihood.degrees)
        extra = only_f.log_density(d_sol)
    lo_ext, hi_ext = np.log(EXTENDED_LIMITS)
    base = np.where(valid & np.isfinite(log_det), extra - log_det, -np.inf)
    log_w = base + _log_prior(x, low, high, tau)
    log_w_free = base + _log_prior(x, np.full(2, lo_ext), np.full(2, hi_ext), tau)
    inside = np.all((x >= low - 1e-12) & (x <= high + 1e-12), axis=1)
    feasible = (valid & inside).reshape(n, k)
    limited = (valid & ~inside & np.all((x >= lo_ext) & (x <= hi_ext), axis=1)).reshape(n, k)
    log_w = log_w.reshape(n, k)
    return SubsetFit(
        subset=names,
        log_evidence=log_mean_exp(log_w, axis=1),
        log_evidence_free=log_mean_exp(log_w_free.reshape(n, k), axis=1),
        feasible=feasible.mean(axis=1),
        bound_limited=limited.mean(axis=1),
        cost=_posterior_mean(log_w, np.sum(np.abs(x), axis=1).reshape(n, k)),
        ratios=np.exp(x).reshape(n, k, 2),
        log_weights=log_w,
    )


def sample_moves(
    fit: SubsetFit, start: np.ndarray, members: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One move per listed member, drawn from its posterior over moves.

    Returns the moved conductances ``(len(members), n_conductances)`` and a mask of members
    that had a feasible move (the others are returned unchanged and should be skipped).
    """
    out = start[members].copy()
    ok = np.zeros(members.size, dtype=bool)
    for i, m in enumerate(members):
        log_w = fit.log_weights[m]
        top = np.max(log_w)
        if not np.isfinite(top):
            continue
        p = np.exp(log_w - top)
        point = rng.choice(p.size, p=p / p.sum())
        out[i, list(fit.columns)] *= fit.ratios[m, point]
        ok[i] = True
    return out, ok
