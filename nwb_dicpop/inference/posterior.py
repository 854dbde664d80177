"""The joint posterior over ``(g_s, g_u)``: a Gaussian mixture in a logit space of the support box.

A network with a posterior head (:class:`~nwb_dicpop.inference.network.PosteriorHead`)
describes, per spike train, a mixture of ``K`` bivariate Gaussians with full covariances over

    z_d = logit((g_d - low_d) / (high_d - low_d)),   d in (g_s, g_u),

where ``[low, high]`` is the model's training target box (``training.target_box``).  The
posterior in DIC units is the image of that mixture under the inverse map
``g_d = low_d + (high_d - low_d) * sigmoid(z_d)``: every draw lies strictly inside the box
the network was trained on (no mass at ``g_u < 0`` when no training target is below 0), and
the components' correlations follow the curved ridges of equal rate of tonic trains.

This module is numpy/scipy only (no torch): the parameters live in
:class:`~nwb_dicpop.DICEstimate` and are sampled there.  It also holds the proper scoring
rule and the calibration checks used by :mod:`~nwb_dicpop.inference.evaluation`:

* :func:`energy_score`: ``E|X - y| - 0.5 E|X - X'|`` (Euclidean, DIC units), estimated from
  draws (Gneiting & Raftery 2007);
* :func:`sbc_ranks` / :func:`rank_histogram`: simulation-based calibration (Talts et al.
  2018): the rank of the true DIC among posterior draws is uniform when the posterior is
  calibrated and the test trains are drawn from the training prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special, stats

__all__ = [
    "energy_score",
    "from_latent",
    "gaussian_draws",
    "marginal_quantiles",
    "mixture_draws",
    "mixture_moments",
    "posterior_median",
    "rank_histogram",
    "sbc_ranks",
    "to_latent",
]

_GH_ORDER = 24
"""Gauss-Hermite nodes for the moments of a component's marginal in DIC units."""


def to_latent(g: np.ndarray, support: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """DICs ``(..., 2)`` -> logit space; values are first clipped to ``[margin, 1 - margin]``
    of the box (a margin > 0 maps targets on the box edge to finite values)."""
    support = np.asarray(support, dtype=np.float64)
    low, high = support[:, 0], support[:, 1]
    u = (np.asarray(g, dtype=np.float64) - low) / (high - low)
    if margin > 0:
        u = np.clip(u, margin, 1.0 - margin)
    return special.logit(u)


def from_latent(z: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Logit space ``(..., 2)`` -> DICs, inside the box ``support`` (shape (2, 2): rows g_s,
    g_u; columns low, high)."""
    support = np.asarray(support, dtype=np.float64)
    low, high = support[:, 0], support[:, 1]
    return low + (high - low) * special.expit(z)


def _check_mixture(weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray) -> tuple[np.ndarray, ...]:
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    scale_tril = np.asarray(scale_tril, dtype=np.float64)
    n, k = weights.shape
    if means.shape != (n, k, 2) or scale_tril.shape != (n, k, 2, 2):
        msg = (f"mixture parameters must have shapes (n, K), (n, K, 2), (n, K, 2, 2); got {weights.shape}, "
               f"{means.shape}, {scale_tril.shape}.")
        raise ValueError(msg)
    return weights, means, scale_tril


def mixture_draws(
    weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray, support: np.ndarray, n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` draws per row of a logit-space Gaussian mixture, in DIC units.

    Parameters
    ----------
    weights : ndarray, shape (n_units, K)
        Component probabilities (rows sum to 1).
    means : ndarray, shape (n_units, K, 2)
        Component means in logit space.
    scale_tril : ndarray, shape (n_units, K, 2, 2)
        Lower Cholesky factors of the component covariances in logit space.
    support : ndarray, shape (2, 2)
        ``[[g_s_low, g_s_high], [g_u_low, g_u_high]]``.
    n : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_units, n, 2)
    """
    weights, means, scale_tril = _check_mixture(weights, means, scale_tril)
    m, k = weights.shape
    cumulative = np.cumsum(weights, axis=1)
    cumulative /= cumulative[:, -1:]
    u = rng.random((m, n))
    component = np.minimum((u[:, :, None] > cumulative[:, None, :]).sum(axis=2), k - 1)
    eps = rng.standard_normal((m, n, 2))
    mu = np.take_along_axis(means, component[:, :, None], axis=1)
    tril = np.take_along_axis(scale_tril, component[:, :, None, None], axis=1)
    z = mu + np.einsum("mnij,mnj->mni", tril, eps)
    return from_latent(z, support)


def gaussian_draws(mean: np.ndarray, std: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws per row of independent Gaussians ``N(mean, std^2)`` (shape (n_units, 2)),
    shape (n_units, n, 2); the posterior of networks without a posterior head."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    return mean[:, None, :] + std[:, None, :] * rng.standard_normal((mean.shape[0], n, 2))


def mixture_moments(
    weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and marginal standard deviation in DIC units, shape (n_units, 2) each.

    ``g_d`` depends on ``z_d`` only, so each moment is a one-dimensional integral per component
    over its marginal ``N(mu_d, sigma_d^2)``, done with a 24-node Gauss-Hermite rule (the
    sigmoid is smooth: the error is far below the Monte Carlo error of any practical sample).
    """
    weights, means, scale_tril = _check_mixture(weights, means, scale_tril)
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(_GH_ORDER)
    node_weights = node_weights / node_weights.sum()
    sd = np.sqrt(np.einsum("nkij,nkij->nki", scale_tril, scale_tril))
    z = means[..., None] + sd[..., None] * nodes  # (n, K, 2, P)
    support = np.asarray(support, dtype=np.float64)
    g = support[:, 0, None] + (support[:, 1, None] - support[:, 0, None]) * special.expit(z)
    first = np.einsum("nk,nkdp,p->nd", weights, g, node_weights)
    second = np.einsum("nk,nkdp,p->nd", weights, g * g, node_weights)
    return first, np.sqrt(np.maximum(second - first * first, 0.0))


def marginal_quantiles(
    weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray, support: np.ndarray, q: Any
) -> np.ndarray:
    """Marginal quantiles of ``g_s`` and ``g_u``, shape (len(q), n_units, 2).

    The map from logit space to DICs is monotonic per coordinate, so a marginal quantile of
    ``g_d`` is the image of the quantile of the one-dimensional mixture of ``z_d``, found by
    bisection on its CDF.
    """
    weights, means, scale_tril = _check_mixture(weights, means, scale_tril)
    levels = np.atleast_1d(np.asarray(q, dtype=np.float64))
    sd = np.sqrt(np.einsum("nkij,nkij->nki", scale_tril, scale_tril))  # sqrt of diag(L L^T)
    lo = (means - 8.0 * sd).min(axis=1)  # (n, 2)
    hi = (means + 8.0 * sd).max(axis=1)
    lo = np.broadcast_to(lo, (levels.size, *lo.shape)).copy()
    hi = np.broadcast_to(hi, (levels.size, *hi.shape)).copy()
    target = levels[:, None, None]
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        cdf = np.einsum("nk,qnkd->qnd", weights, special.ndtr((mid[:, :, None, :] - means[None]) / sd[None]))
        below = cdf < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return from_latent(0.5 * (lo + hi), support)


def posterior_median(
    weights: np.ndarray, means: np.ndarray, scale_tril: np.ndarray, support: np.ndarray
) -> np.ndarray:
    """The marginal medians of ``g_s`` and ``g_u``, shape (n_units, 2): the point estimate of
    networks with a posterior head.

    Under the posterior, the median of each DIC is the value with the least expected absolute
    error (the metric of the accuracy targets); unlike the mean of a posterior with mass
    against a box edge, it is not pulled inward by the tail.
    """
    return marginal_quantiles(weights, means, scale_tril, support, [0.5])[0]


# --------------------------------------------------------------------------- scores and calibration
def energy_score(draws: np.ndarray, truth: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Energy score of sample forecasts, one value per row (lower is better).

    ``ES = mean_i |X_i - y| - 0.5 * mean_{i != j} |X_i - X_j|`` with Euclidean norms: the
    unbiased estimate of ``E|X - y| - 0.5 E|X - X'|`` from ``m`` draws ``X_i`` of the
    forecast and the truth ``y``.  It is a strictly proper score for multivariate forecasts;
    in one dimension it equals the CRPS.

    Parameters
    ----------
    draws : ndarray, shape (n, m, d)
        ``m >= 2`` draws per forecast.
    truth : ndarray, shape (n, d)
    chunk : int
        Rows per vectorised block (memory: ``chunk * m * m`` floats).

    Returns
    -------
    ndarray, shape (n,)
    """
    draws = np.asarray(draws, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if draws.ndim != 3 or truth.shape != (draws.shape[0], draws.shape[2]) or draws.shape[1] < 2:
        msg = f"`draws` must have shape (n, m >= 2, d) and `truth` (n, d); got {draws.shape} and {truth.shape}."
        raise ValueError(msg)
    n, m, _ = draws.shape
    out = np.empty(n)
    for start in range(0, n, chunk):
        x = draws[start : start + chunk]
        to_truth = np.linalg.norm(x - truth[start : start + chunk, None, :], axis=-1).mean(axis=1)
        pairwise = np.linalg.norm(x[:, :, None, :] - x[:, None, :, :], axis=-1).sum(axis=(1, 2)) / (m * (m - 1))
        out[start : start + chunk] = to_truth - 0.5 * pairwise
    return out


def sbc_ranks(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank of each true value among the draws, per coordinate: ``#(draws < truth)``.

    ``draws`` (n, L, d), ``truth`` (n, d) -> int array (n, d) with values in ``0..L``;
    uniform over ``0..L`` for a calibrated posterior.
    """
    draws = np.asarray(draws)
    return (draws < np.asarray(truth)[:, None, :]).sum(axis=1)


def rank_histogram(ranks: np.ndarray, n_draws: int, n_bins: int = 10) -> dict[str, Any]:
    """Histogram of SBC ranks (values ``0..n_draws``) in ``n_bins`` equal bins, with a
    chi-square test of uniformity.

    ``n_draws + 1`` must be a multiple of ``n_bins`` (every bin then holds the same number of
    possible ranks, e.g. 99 draws and 10 bins).

    Returns
    -------
    dict
        ``counts`` (list of int), ``fractions`` (list of float, expected ``1 / n_bins`` each),
        ``chi2``, ``p_value`` (chi-square with ``n_bins - 1`` degrees of freedom),
        ``max_deviation`` (largest ``|fraction - 1/n_bins|``), ``n``.
    """
    ranks = np.asarray(ranks, dtype=np.int64).reshape(-1)
    if (n_draws + 1) % n_bins:
        msg = f"`n_draws + 1` ({n_draws + 1}) must be a multiple of `n_bins` ({n_bins})."
        raise ValueError(msg)
    if ranks.size and (ranks.min() < 0 or ranks.max() > n_draws):
        msg = f"ranks must lie in 0..{n_draws}."
        raise ValueError(msg)
    counts = np.bincount(ranks * n_bins // (n_draws + 1), minlength=n_bins)
    n = int(ranks.size)
    expected = n / n_bins
    chi2 = float(((counts - expected) ** 2 / expected).sum()) if n else float("nan")
    fractions = counts / max(n, 1)
    return {
        "counts": [int(c) for c in counts],
        "fractions": [float(f) for f in fractions],
        "chi2": chi2,
        "p_value": float(stats.chi2.sf(chi2, n_bins - 1)) if n else float("nan"),
        "max_deviation": float(np.abs(fractions - 1.0 / n_bins).max()) if n else float("nan"),
        "n": n,
    }


def calibration_report(
    truth: np.ndarray,
    *,
    mean: np.ndarray,
    std: np.ndarray,
    weights: np.ndarray | None = None,
    means: np.ndarray | None = None,
    scale_tril: np.ndarray | None = None,
    support: np.ndarray | None = None,
    n_draws: int = 199,
    n_bins: int = 10,
    rng: int | np.random.Generator | None = 0,
    classes: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Calibration and proper-score metrics of a network's uncertainty on labelled trains.

    The *posterior* is the mixture (``weights``, ``means``, ``scale_tril``, ``support``) when
    given, else the independent Gaussians ``N(mean, std^2)`` (networks without a posterior
    head).  The independent Gaussians are always scored as well, as the baseline.

    Parameters
    ----------
    truth : ndarray, shape (n, 2)
        True ``(g_s, g_u)``.
    mean, std : ndarray, shape (n, 2)
        Point estimate and the independent-Gaussian sigma of the network's sigma head.
    weights, means, scale_tril, support : optional
        The logit-space mixture (see :func:`mixture_draws`).
    n_draws : int
        Draws per train for the energy score and the SBC ranks (``n_draws + 1`` must be a
        multiple of ``n_bins``).
    n_bins : int
        Bins of the rank histograms.
    rng : None, int or Generator
        Seeds the draws.
    classes : dict of str to bool ndarray, optional
        Subsets (e.g. ``{"spiking": ..., "bursting": ...}``) whose mean energy scores and
        coverages are reported as ``energy_score_<name>``, ``energy_score_gaussian_<name>``,
        ``coverage90_g_s_<name>``, ``coverage90_g_u_<name>``.

    Returns
    -------
    dict
        ``posterior`` ("mixture" or "gaussian"); ``coverage90_g_s``, ``coverage90_g_u``
        (central 90 % marginal intervals of the posterior); ``coverage50_g_s``,
        ``coverage50_g_u``; ``energy_score`` (mean over trains) and ``energy_score_gaussian``
        (the independent Gaussians), ``energy_score_ratio`` (posterior / Gaussian);
        ``gaussian_mass_outside_support`` (fraction of Gaussian draws outside ``support``,
        when known); ``interval90_width_g_s``, ``interval90_width_g_u`` (mean widths);
        ``sbc_g_s``, ``sbc_g_u`` (rank histograms, :func:`rank_histogram`) and ``sbc_n_draws``;
        for a mixture also ``sbc_gaussian_g_s``, ``sbc_gaussian_g_u`` (the Gaussians' ranks).
    """
    from nwb_dicpop._validation import normalize_rng

    generator = normalize_rng(rng)
    truth = np.asarray(truth, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    gaussian = gaussian_draws(mean, std, n_draws, generator)
    mixture = weights is not None
    if mixture:
        draws = mixture_draws(weights, means, scale_tril, support, n_draws, generator)
        quantiles = marginal_quantiles(weights, means, scale_tril, support, [0.05, 0.95, 0.25, 0.75])
    else:
        draws = gaussian
        z90, z50 = stats.norm.ppf(0.95), stats.norm.ppf(0.75)
        quantiles = np.stack([mean - z90 * std, mean + z90 * std, mean - z50 * std, mean + z50 * std])
    inside90 = (truth >= quantiles[0]) & (truth <= quantiles[1])
    inside50 = (truth >= quantiles[2]) & (truth <= quantiles[3])
    score = energy_score(draws, truth, chunk=64)
    score_gaussian = score if not mixture else energy_score(gaussian, truth, chunk=64)
    ranks = sbc_ranks(draws, truth)
    report: dict[str, Any] = {
        "posterior": "mixture" if mixture else "gaussian",
        "n_trains": int(truth.shape[0]),
        "coverage90_g_s": float(inside90[:, 0].mean()),
        "coverage90_g_u": float(inside90[:, 1].mean()),
        "coverage50_g_s": float(inside50[:, 0].mean()),
        "coverage50_g_u": float(inside50[:, 1].mean()),
        "interval90_width_g_s": float((quantiles[1] - quantiles[0])[:, 0].mean()),
        "interval90_width_g_u": float((quantiles[1] - quantiles[0])[:, 1].mean()),
        "energy_score": float(score.mean()),
        "energy_score_gaussian": float(score_gaussian.mean()),
        "energy_score_ratio": float(score.mean() / score_gaussian.mean()),
        "sbc_n_draws": int(n_draws),
        "sbc_g_s": rank_histogram(ranks[:, 0], n_draws, n_bins),
        "sbc_g_u": rank_histogram(ranks[:, 1], n_draws, n_bins),
    }
    if mixture:
        baseline = sbc_ranks(gaussian, truth)
        report["sbc_gaussian_g_s"] = rank_histogram(baseline[:, 0], n_draws, n_bins)
        report["sbc_gaussian_g_u"] = rank_histogram(baseline[:, 1], n_draws, n_bins)
    for name, chosen in (classes or {}).items():
        chosen = np.asarray(chosen, dtype=bool)
        if chosen.any():
            report[f"energy_score_{name}"] = float(score[chosen].mean())
            report[f"energy_score_gaussian_{name}"] = float(score_gaussian[chosen].mean())
            report[f"coverage90_g_s_{name}"] = float(inside90[chosen, 0].mean())
            report[f"coverage90_g_u_{name}"] = float(inside90[chosen, 1].mean())
    if support is not None:
        support = np.asarray(support, dtype=np.float64)
        outside = (gaussian < support[:, 0]) | (gaussian > support[:, 1])
        report["gaussian_mass_outside_support"] = float(outside.any(axis=-1).mean())
    return report
