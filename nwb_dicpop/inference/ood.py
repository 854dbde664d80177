"""The ISI check of the out-of-distribution flag: is a train as regular as the model's trains?

The networks learn from trains of deterministic model neurons: after the transient, a tonic
train repeats one ISI and a bursting train repeats one burst, so its ISI sequence is periodic
(period: one ISI, or the spikes of one burst cycle).  A train that is irregular at every
period, such as a Poisson train (exponential ISIs), looks like nothing the network was trained
on, even when its rate, spike count and ISI CV lie inside the training ranges and its network
features happen to fall near the training ones.

:func:`isi_periodicity` measures that irregularity per train: for each lag ``p`` (ISIs), the
median of ``|isi[i + p] - isi[i]|``; the train keeps its best lag.  Two numbers come out: that
median divided by the mean ISI (``relative``, about 0.5 for Poisson trains, 0 for the model's
noise-free trains) and the median itself in seconds (``absolute``).  A train is flagged
(:func:`irregular_isis`) when both exceed thresholds calibrated on simulated trains of the
model (:func:`calibrate_isi_check`), stored in the network's card under
``support["isi_periodicity"]``:

- ``relative``: a high quantile of ``relative`` over trains the network is trained to read:
  clean, with 1 and 2 ms of spike jitter and with 5 % of spikes deleted;
- ``absolute``: a high quantile of ``absolute`` over the same trains with 5 ms of jitter, so
  that timing noise of up to 5 ms (a short-ISI burst jittered by 5 ms is irregular relative to
  its ISIs) is not mistaken for another firing pattern.

Trains with fewer than :data:`MIN_ISIS` ISIs are not judged by this check (NaN statistics).
Numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAX_LAG",
    "MIN_CALIBRATION_TRAINS",
    "MIN_ISIS",
    "calibrate_isi_check",
    "irregular_isis",
    "isi_periodicity",
    "training_isi_check",
]

MIN_ISIS = 6
"""Fewest ISIs a train needs for the ISI check (below: not judged, never flagged by it)."""

MAX_LAG = 16
"""Longest period, in ISIs, searched for (a burst cycle of up to 16 spikes)."""

MIN_CALIBRATION_TRAINS = 200
"""Fewest trains with :data:`MIN_ISIS` ISIs that :func:`training_isi_check` calibrates on."""


def isi_periodicity(
    trains: Sequence[np.ndarray], *, max_spikes: int | None = None, max_lag: int = MAX_LAG
) -> tuple[np.ndarray, np.ndarray]:
    """How far each train is from a periodic ISI sequence.

    Parameters
    ----------
    trains : sequence of ndarray of float
        Sorted spike times in seconds.
    max_spikes : int, optional
        Read only the first ``max_spikes`` spikes (those the network reads).
    max_lag : int
        Longest lag (ISIs) tried; lags are also limited to a third of the train's ISIs, so
        that every median is over at least two thirds of them.

    Returns
    -------
    relative : ndarray of float, shape (n_trains,)
        ``min_p median_i |isi[i + p] - isi[i]| / mean(isi)``: 0 for a periodic train, about
        0.5 for a Poisson train; NaN below :data:`MIN_ISIS` ISIs.
    absolute : ndarray of float, shape (n_trains,)
        The same median at the best lag, in seconds (NaN below :data:`MIN_ISIS` ISIs).
    """
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 1:
        msg = f"`max_lag` must be a positive integer (ISIs); got {max_lag!r}."
        raise ValueError(msg)
    relative = np.full(len(trains), np.nan)
    absolute = np.full(len(trains), np.nan)
    for k, train in enumerate(trains):
        times = np.asarray(train, dtype=np.float64)
        if max_spikes is not None:
            times = times[:max_spikes]
        isi = np.diff(times)
        n = isi.size
        if n < MIN_ISIS:
            continue
        lags = np.arange(1, min(int(max_lag), n // 3) + 1)
        gaps = np.full((lags.size, n), np.inf)
        for row, lag in enumerate(lags):
            gaps[row, : n - lag] = np.abs(isi[lag:] - isi[:-lag])
        gaps.sort(axis=1)
        count = n - lags  # pairs per lag; the inf padding sorts last
        rows = np.arange(lags.size)
        median = 0.5 * (gaps[rows, (count - 1) // 2] + gaps[rows, count // 2])
        best = float(median.min())
        mean = float(isi.mean())
        absolute[k] = best
        relative[k] = best / mean if mean > 0 else np.inf
    return relative, absolute


def irregular_isis(
    trains: Sequence[np.ndarray], support: Mapping[str, Any] | None, *, max_spikes: int | None = None
) -> np.ndarray:
    """Trains flagged by the ISI check of a network's card (all False without one).

    Parameters
    ----------
    trains : sequence of ndarray of float
        Spike times in seconds.
    support : mapping or None
        The card's ``support``; the check runs when it holds ``isi_periodicity`` (networks
        whose card was calibrated with :func:`calibrate_isi_check`).
    max_spikes : int, optional
        Spikes read per train (the network's cap).

    Returns
    -------
    ndarray of bool, shape (n_trains,)
        True where both statistics of :func:`isi_periodicity` exceed the card's thresholds.
    """
    check = (support or {}).get("isi_periodicity")
    if not check:
        return np.zeros(len(trains), dtype=bool)
    relative, absolute = isi_periodicity(trains, max_spikes=max_spikes, max_lag=int(check.get("max_lag", MAX_LAG)))
    with np.errstate(invalid="ignore"):
        return (relative > float(check["relative"])) & (absolute > float(check["absolute"]))


def calibrate_isi_check(
    trains: Sequence[np.ndarray],
    *,
    max_spikes: int | None = None,
    quantile: float = 0.995,
    tolerated_jitter: float = 0.005,
    rng: int | np.random.Generator | None = 0,
) -> dict[str, Any]:
    """Thresholds of the ISI check from simulated trains of the model (not the test trains).

    Parameters
    ----------
    trains : sequence of ndarray of float
        Non-silent simulated trains of the model (seconds), from another seed than the test
        set.
    max_spikes : int, optional
        The network's cap on spikes read.
    quantile : float
        Quantile of the statistics taken as thresholds, in (0, 1).
    tolerated_jitter : float
        Spike jitter (s, Gaussian sigma) that must not be flagged; sets ``absolute``.
    rng : None, int or numpy.random.Generator
        Seeds the perturbations.

    Returns
    -------
    dict
        ``relative``, ``absolute`` (seconds), ``max_lag``, ``min_isis``, ``quantile``,
        ``tolerated_jitter``, ``n_trains``: the card's ``support["isi_periodicity"]``.
    """
    from nwb_dicpop._validation import normalize_rng
    from nwb_dicpop.inference.features import perturb_spike_trains

    if not 0.0 < float(quantile) < 1.0:
        msg = f"`quantile` must be in (0, 1); got {quantile!r}."
        raise ValueError(msg)
    if not 0.0 < float(tolerated_jitter) < 1.0:
        msg = f"`tolerated_jitter` must be a jitter in seconds, in (0, 1); got {tolerated_jitter!r}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    trains = [np.asarray(t, dtype=np.float64) for t in trains]
    read = [trains,
            perturb_spike_trains(trains, jitter=0.001, rng=generator),
            perturb_spike_trains(trains, jitter=0.002, rng=generator),
            perturb_spike_trains(trains, drop_fraction=0.05, rng=generator)]
    relative = np.concatenate([isi_periodicity(group, max_spikes=max_spikes)[0] for group in read])
    shaken = perturb_spike_trains(trains, jitter=float(tolerated_jitter), rng=generator)
    absolute = isi_periodicity(shaken, max_spikes=max_spikes)[1]
    if not np.isfinite(relative).any() or not np.isfinite(absolute).any():
        msg = f"No calibration train has {MIN_ISIS} ISIs or more; pass longer or more trains."
        raise ValueError(msg)
    return {
        "relative": float(np.nanquantile(relative, quantile)),
        "absolute": float(np.nanquantile(absolute, quantile)),
        "max_lag": MAX_LAG,
        "min_isis": MIN_ISIS,
        "quantile": float(quantile),
        "tolerated_jitter": float(tolerated_jitter),
        "n_trains": len(trains),
    }


def training_isi_check(trains: Sequence[np.ndarray], *, max_spikes: int | None = None) -> dict[str, Any] | None:
    """The ISI check of a network being trained, calibrated on its training trains (seed 0).

    None when fewer than :data:`MIN_CALIBRATION_TRAINS` trains have :data:`MIN_ISIS` ISIs or
    more: the network then has no ISI check, like the networks before it.
    """
    long_enough = [t for t in trains if min(len(t), max_spikes or len(t)) > MIN_ISIS]
    if len(long_enough) < MIN_CALIBRATION_TRAINS:
        return None
    return calibrate_isi_check(long_enough, max_spikes=max_spikes, rng=0)
