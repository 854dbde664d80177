"""Spike times -> network inputs: ISI tokens, padding masks and train-level summaries.

Numpy only (no torch), so that data generation and evaluation code can use it freely.

Token features follow Brandoit et al. (2025): for a train with spike times
``t_0 < ... < t_{n-1}`` the ``n - 1`` inter-spike intervals (ISIs, in ms) become tokens

* ``z1 = log(1 + ISI / 1 ms)``
* ``z2 = z1[i] - z1[i - 1]`` (0 for the first token).

Trains are right-padded to the longest train of a batch; ``mask`` marks real tokens.

Train-level summaries (:data:`SUMMARY_NAMES`) are computed from the spikes actually used:
the ISI-based firing rate (Hz), the number of spikes and the coefficient of variation of the
ISIs.  The network reads their logarithms (see :func:`summary_inputs`) and
:func:`~nwb_dicpop.inference.predict.infer_dics` compares them with the training support to
flag out-of-distribution trains.

Long trains: at most ``max_spikes`` spikes (the first ones) of a train are used.  This is a
documented, explicit cap, never silent: :class:`TokenBatch` records ``n_spikes`` and
``n_spikes_used`` for every train and ``infer_dics`` reports both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nwb_dicpop._validation import check_positive, normalize_rng
from nwb_dicpop.units import MS_PER_S

__all__ = [
    "BURSTING_CV",
    "DEFAULT_MAX_SPIKES",
    "MIN_SPIKES",
    "SUMMARY_NAMES",
    "TokenBatch",
    "encode_spike_trains",
    "firing_class_labels",
    "network_inputs",
    "perturb_spike_trains",
    "summary_inputs",
]

MIN_SPIKES = 3
"""Trains with fewer spikes are "silent" (firing classes: ``docs/method.md``): no estimate."""
BURSTING_CV = 0.15
"""ISI coefficient of variation above which a train is "bursting" (``docs/method.md``)."""
DEFAULT_MAX_SPIKES = 1024
"""Default cap on the number of spikes read per train (the first ``max_spikes`` are used)."""
SUMMARY_NAMES = ("rate", "n_spikes", "isi_cv")
"""Train-level summaries: ISI-based rate (Hz), spike count, ISI coefficient of variation."""
BURST_NAMES = ("short_isi", "long_isi", "long_fraction")
"""Burst summaries: the ISIs of a bursting train split at ``(max ISI + min ISI) / 2`` (the burst
rule of Brandoit et al. 2025): mean short ISI (ms), mean long ISI (ms) and the fraction of long ISIs
(about one over the spikes per burst); for a tonic train both means are the mean ISI and the
fraction is 0."""
N_TOKEN_FEATURES = 2
N_SUMMARY_INPUTS = len(SUMMARY_NAMES) + len(BURST_NAMES)
"""Width of the train-level input vector of networks trained by this version (see
:func:`network_inputs`); networks with 3 read :func:`summary_inputs` only."""


@dataclass(frozen=True, slots=True)
class TokenBatch:
    """Padded network inputs for a batch of spike trains.

    Attributes
    ----------
    tokens : ndarray of float32, shape (n_trains, n_tokens, 2)
        ``(z1, z2)`` per ISI, zero where padded.
    mask : ndarray of bool, shape (n_trains, n_tokens)
        True for real tokens.
    summary : ndarray of float64, shape (n_trains, 3)
        :data:`SUMMARY_NAMES` of the spikes used: rate (Hz), spike count, ISI CV.
    n_spikes : ndarray of int, shape (n_trains,)
        Spikes in each input train.
    n_spikes_used : ndarray of int, shape (n_trains,)
        Spikes actually read (``min(n_spikes, max_spikes)``).
    bursts : ndarray of float64, shape (n_trains, 3)
        :data:`BURST_NAMES` of the spikes used.
    """

    tokens: np.ndarray
    mask: np.ndarray
    summary: np.ndarray
    n_spikes: np.ndarray
    n_spikes_used: np.ndarray
    bursts: np.ndarray

    @property
    def n_trains(self) -> int:
        """Number of trains in the batch."""
        return int(self.tokens.shape[0])


def _as_arrays(spiketrains: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(t, dtype=np.float64).reshape(-1) for t in spiketrains]


def encode_spike_trains(
    spiketrains: Sequence[np.ndarray], *, max_spikes: int = DEFAULT_MAX_SPIKES, max_tokens: int | None = None
) -> TokenBatch:
    """Token features, padding mask and summaries of a batch of spike trains.

    Parameters
    ----------
    spiketrains : sequence of ndarray of float, each shape (n_spikes,)
        Sorted spike times in seconds, each train with at least :data:`MIN_SPIKES` spikes
        (callers filter silent trains first; :func:`~nwb_dicpop.inference.predict.infer_dics`
        does).
    max_spikes : int
        Cap on the number of spikes read per train: the first ``max_spikes`` spikes are used
        and the count is recorded in ``n_spikes_used``.
    max_tokens : int, optional
        Cap on the ISI tokens per train (the first ``max_tokens`` ISIs), for the token part
        only: the summaries and burst summaries still describe all ``n_spikes_used`` spikes.
        The network's cost grows with the tokens, not with the summaries, so a token cap
        makes long trains cheap while the train-level inputs stay those of the whole train.
        None (default): every ISI of the spikes used is a token.

    Returns
    -------
    TokenBatch

    Raises
    ------
    ValueError
        If a train has fewer than :data:`MIN_SPIKES` spikes or ``max_spikes`` < 3.

    Examples
    --------
    >>> import numpy as np
    >>> batch = encode_spike_trains([np.arange(5) * 0.1, np.array([0.0, 0.01, 0.5])])
    >>> batch.tokens.shape, batch.mask.sum(axis=1).tolist()
    ((2, 4, 2), [4, 2])
    """
    check_positive("max_spikes", max_spikes, integer=True)
    if max_spikes < MIN_SPIKES:
        msg = f"`max_spikes` must be at least {MIN_SPIKES}; got {max_spikes}."
        raise ValueError(msg)
    if max_tokens is not None:
        check_positive("max_tokens", max_tokens, integer=True)
    arrays = _as_arrays(spiketrains)
    n_spikes = np.array([a.size for a in arrays], dtype=np.int64)
    if n_spikes.size and n_spikes.min() < MIN_SPIKES:
        bad = int(np.argmin(n_spikes))
        msg = (
            f"Train {bad} has {n_spikes[bad]} spike(s); encoding needs at least {MIN_SPIKES}. "
            "Filter silent trains first."
        )
        raise ValueError(msg)
    used = np.minimum(n_spikes, max_spikes)
    n = len(arrays)
    n_isi = used - 1
    n_tokens = n_isi if max_tokens is None else np.minimum(n_isi, max_tokens)
    width = int(n_tokens.max()) if n else 0
    tokens = np.zeros((n, width, N_TOKEN_FEATURES), dtype=np.float32)
    mask = np.zeros((n, width), dtype=bool)
    summary = np.zeros((n, len(SUMMARY_NAMES)), dtype=np.float64)
    bursts = np.zeros((n, len(BURST_NAMES)), dtype=np.float64)
    if n == 0:
        return TokenBatch(tokens, mask, summary, n_spikes, used, bursts)
    flat = np.concatenate([a[:k] for a, k in zip(arrays, used, strict=True)]) * MS_PER_S
    starts = np.concatenate([[0], np.cumsum(used)[:-1]])
    isi = np.diff(flat)
    keep = np.ones(isi.size, dtype=bool)
    keep[starts[1:] - 1] = False  # differences across train boundaries
    isi = isi[keep]
    z1 = np.log1p(np.maximum(isi, 0.0))
    z2 = np.diff(z1, prepend=0.0)
    isi_starts = np.concatenate([[0], np.cumsum(n_isi)[:-1]])
    z2[isi_starts] = 0.0
    rows = np.repeat(np.arange(n), n_isi)
    cols = np.arange(isi.size) - np.repeat(isi_starts, n_isi)
    if max_tokens is None:
        tokens[rows, cols, 0] = z1
        tokens[rows, cols, 1] = z2
        mask[rows, cols] = True
    else:
        first = cols < max_tokens
        tokens[rows[first], cols[first], 0] = z1[first]
        tokens[rows[first], cols[first], 1] = z2[first]
        mask[rows[first], cols[first]] = True
    total = np.add.reduceat(isi, isi_starts)
    mean = total / n_isi
    var = np.add.reduceat((isi - np.repeat(mean, n_isi)) ** 2, isi_starts) / n_isi
    summary[:, 0] = np.where(total > 0, MS_PER_S * n_isi / np.where(total > 0, total, 1.0), np.inf)  # Hz
    summary[:, 1] = used
    summary[:, 2] = np.where(mean > 0, np.sqrt(var) / np.where(mean > 0, mean, 1.0), 0.0)
    threshold = 0.5 * (np.maximum.reduceat(isi, isi_starts) + np.minimum.reduceat(isi, isi_starts))
    # only trains classed bursting (ISI CV > BURSTING_CV) have long ISIs: a tonic train's
    # ISIs would otherwise split at random around its mean
    long = (isi > np.repeat(threshold, n_isi)) & np.repeat(summary[:, 2] > BURSTING_CV, n_isi)
    n_long = np.add.reduceat(long.astype(np.float64), isi_starts)
    sum_long = np.add.reduceat(np.where(long, isi, 0.0), isi_starts)
    n_short = n_isi - n_long  # >= 1: the shortest ISI is never above the threshold
    bursts[:, 0] = (total - sum_long) / n_short
    bursts[:, 1] = np.where(n_long > 0, sum_long / np.maximum(n_long, 1.0), bursts[:, 0])
    bursts[:, 2] = n_long / n_isi
    return TokenBatch(tokens, mask, summary, n_spikes, used, bursts)


def summary_inputs(summary: np.ndarray) -> np.ndarray:
    """The network's view of the summaries: ``log rate``, ``log n_spikes``, ``ISI CV``.

    Parameters
    ----------
    summary : ndarray of float, shape (n_trains, 3)

    Returns
    -------
    ndarray of float32, shape (n_trains, 3)
    """
    out = np.empty(summary.shape, dtype=np.float32)
    out[:, 0] = np.log(np.clip(summary[:, 0], 1e-3, 1e5))
    out[:, 1] = np.log(summary[:, 1])
    out[:, 2] = np.clip(summary[:, 2], 0.0, 10.0)
    return out


def network_inputs(batch: TokenBatch, n_inputs: int = N_SUMMARY_INPUTS) -> np.ndarray:
    """The train-level input vector of a network: :func:`summary_inputs`, then (for networks
    with 6 inputs) ``log(1 + short ISI / ms)``, ``log(1 + long ISI / ms)`` and the long fraction.

    Returns
    -------
    ndarray of float32, shape (n_trains, n_inputs)
    """
    base = summary_inputs(batch.summary)
    if n_inputs == len(SUMMARY_NAMES):
        return base
    if n_inputs != N_SUMMARY_INPUTS:
        msg = f"`n_inputs` must be {len(SUMMARY_NAMES)} or {N_SUMMARY_INPUTS}; got {n_inputs!r}."
        raise ValueError(msg)
    extra = np.empty((base.shape[0], len(BURST_NAMES)), dtype=np.float32)
    extra[:, 0] = np.log1p(np.maximum(batch.bursts[:, 0], 0.0))
    extra[:, 1] = np.log1p(np.maximum(batch.bursts[:, 1], 0.0))
    extra[:, 2] = batch.bursts[:, 2]
    return np.concatenate([base, extra], axis=1)


def firing_class_labels(spiketrains: Sequence[np.ndarray]) -> np.ndarray:
    """Firing class of each train by the rule of ``docs/method.md``, as integers.

    ``0`` silent (< 3 spikes), ``1`` spiking (ISI CV <= 0.15), ``2`` bursting; the rule is
    :func:`nwb_dicpop.statistics.firing_class`.

    Returns
    -------
    ndarray of int, shape (n_trains,)
    """
    from nwb_dicpop.statistics import firing_class

    codes = {"silent": 0, "spiking": 1, "bursting": 2}
    return np.array([codes[firing_class(t)] for t in _as_arrays(spiketrains)], dtype=np.int64)


def perturb_spike_trains(
    spiketrains: Sequence[np.ndarray],
    *,
    jitter: float = 0.0,
    drop_fraction: float = 0.0,
    window: bool = False,
    min_spikes: int = 5,
    rng: int | np.random.Generator | None = None,
) -> list[np.ndarray]:
    """Randomly perturbed copies of spike trains (augmentation and robustness tests).

    Parameters
    ----------
    spiketrains : sequence of ndarray of float
        Spike times in seconds; not modified.
    jitter : float
        Standard deviation (seconds) of Gaussian noise added to every spike time; the result
        is re-sorted.
    drop_fraction : float
        Probability of deleting each spike.  A train left with fewer than ``min_spikes``
        spikes keeps all of them (as in the training of Brandoit et al. 2025).
    window : bool
        Keep a random contiguous run of ``randint(n // 2, n)`` spikes from trains with more
        than 10 spikes (Brandoit et al. 2025).
    min_spikes : int
        See ``drop_fraction``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    list of ndarray of float
    """
    if not (np.isfinite(jitter) and jitter >= 0):
        msg = f"`jitter` must be >= 0 seconds; got {jitter!r}."
        raise ValueError(msg)
    if not (0.0 <= drop_fraction < 1.0):
        msg = f"`drop_fraction` must be in [0, 1); got {drop_fraction!r}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    out = []
    for train in _as_arrays(spiketrains):
        t = train.copy()
        if jitter > 0 and t.size:
            t = np.sort(t + jitter * generator.standard_normal(t.size))
        if drop_fraction > 0 and t.size:
            kept = t[generator.random(t.size) >= drop_fraction]
            if kept.size >= min_spikes:
                t = kept
        if window and t.size > 10:
            length = int(generator.integers(t.size // 2, t.size + 1))
            start = int(generator.integers(0, t.size - length + 1))
            t = t[start : start + length]
        out.append(t)
    return out
