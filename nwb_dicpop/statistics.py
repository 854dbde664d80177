"""Spike-train statistics: the Neo/Elephant boundary of the package.

:func:`compute_spike_statistics` characterises each train with the interval statistics that
Elephant defines (coefficient of variation of the inter-spike intervals, CV2, LV) and with the
firing-pattern features of science.md section 8, which Elephant lacks (firing class, spiking
frequency, burst metrics).  Elephant's functions cost about 1 ms per train on plain arrays
(measured: 10.2 s for 10,000 trains, against 0.34 s for the same maths in numpy), so the
production path is a numpy implementation of the same formulas and Elephant is the oracle the
tests compare against (they agree to float precision).  :func:`to_neo` converts to
``neo.SpikeTrain`` for anything else Elephant offers.

Units: times in seconds, frequencies in Hz, durations in seconds.

Firing class (science.md section 8, the same threshold for both models): fewer than 3 spikes
is ``"silent"``; otherwise the CV of the inter-spike intervals decides, ``<= 0.15`` is
``"spiking"`` and above is ``"bursting"``.

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.containers import SimulationResult, SpikeTrains

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BURSTING",
    "CV_THRESHOLD",
    "FIRING_CLASSES",
    "MIN_SPIKES",
    "SILENT",
    "SPIKING",
    "STATISTICS_UNITS",
    "burst_metrics",
    "compute_spike_statistics",
    "firing_class",
    "to_neo",
]

SILENT, SPIKING, BURSTING = "silent", "spiking", "bursting"
FIRING_CLASSES = (SILENT, SPIKING, BURSTING)
MIN_SPIKES = 3
"""Trains with fewer spikes are silent."""
CV_THRESHOLD = 0.15
"""ISI coefficient of variation at or below which a train is tonic spiking."""

STATISTICS_UNITS = {
    "n_spikes": "count",
    "t_start": "s",
    "t_stop": "s",
    "mean_rate": "Hz",
    "isi_cv": "dimensionless",
    "cv2": "dimensionless",
    "lv": "dimensionless",
    "firing_class": "silent/spiking/bursting",
    "spiking_frequency": "Hz",
    "n_bursts": "count",
    "spikes_per_burst": "count",
    "burst_duration": "s",
    "intraburst_frequency": "Hz",
    "interburst_frequency": "Hz",
    "duty_cycle": "dimensionless",
    "burstiness": "Hz^2",
}
"""Unit of each column of :func:`compute_spike_statistics` (also in ``frame.attrs["units"]``)."""

_BURST_KEYS = (
    "n_bursts",
    "spikes_per_burst",
    "burst_duration",
    "intraburst_frequency",
    "interburst_frequency",
    "duty_cycle",
    "burstiness",
)


# ---------------------------------------------------------------------------------- inputs
def _is_neo_train(value: Any) -> bool:
    return type(value).__name__ == "SpikeTrain" and type(value).__module__.startswith("neo")


def _check_raw(index: int, times: Any) -> np.ndarray:
    try:
        array = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"Spike train {index} must be numeric spike times in seconds; got {type(times).__name__}."
        raise TypeError(msg) from err
    if array.ndim != 1:
        msg = f"Spike train {index} must be 1-D (spike times in seconds); got shape {array.shape}."
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"Spike train {index} contains NaN or infinite times; remove them."
        raise ValueError(msg)
    if array.size and np.min(array) < 0:
        msg = (
            f"Spike train {index} has negative spike times (min {array.min():.6g} s); pass times "
            "in seconds from the start of the recording (>= 0)."
        )
        raise ValueError(msg)
    if array.size > 1 and np.any(np.diff(array) < 0):
        msg = f"Spike train {index} is not sorted; sort it (np.sort) first."
        raise ValueError(msg)
    return array


def _trains(
    spiketrains: Any, t_start: Any = None, t_stop: Any = None
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[Any]]:
    """``(times, t_start, t_stop, unit_ids)`` from any accepted input, times in seconds."""
    if isinstance(spiketrains, SpikeTrains):
        times = list(spiketrains.times)
        starts, stops, ids = spiketrains.t_start, spiketrains.t_stop, list(spiketrains.unit_ids)
    elif isinstance(spiketrains, SimulationResult):
        times = list(spiketrains.spike_times)
        n = len(times)
        starts, stops, ids = np.zeros(n), np.full(n, spiketrains.duration), list(range(n))
    else:
        if _is_neo_train(spiketrains) or (
            isinstance(spiketrains, np.ndarray) and spiketrains.dtype != object and spiketrains.ndim == 1
        ):
            spiketrains = [spiketrains]
        elif isinstance(spiketrains, (str, bytes)) or not isinstance(spiketrains, (Sequence, np.ndarray)):
            msg = (
                "`spiketrains` must be a SpikeTrains, a SimulationResult, a neo.SpikeTrain, or a "
                f"sequence of spike-time arrays in seconds; got {type(spiketrains).__name__}."
            )
            raise TypeError(msg)
        elif len(spiketrains) and all(np.ndim(x) == 0 and not _is_neo_train(x) for x in spiketrains):
            spiketrains = [np.asarray(spiketrains, dtype=np.float64)]  # one train as a list of floats
        times, starts_list, stops_list = [], [], []
        for k, train in enumerate(spiketrains):
            if _is_neo_train(train):
                values = np.asarray(train.rescale("s").magnitude, dtype=np.float64).ravel()
                times.append(_check_sorted_finite(k, values))
                starts_list.append(float(train.t_start.rescale("s").magnitude))
                stops_list.append(float(train.t_stop.rescale("s").magnitude))
            else:
                values = _check_raw(k, train)
                times.append(values)
                starts_list.append(0.0)
                stops_list.append(float(values[-1]) if values.size else 0.0)
        starts, stops, ids = np.array(starts_list), np.array(stops_list), list(range(len(times)))
    n = len(times)
    if t_start is not None:
        starts = np.broadcast_to(np.asarray(t_start, dtype=np.float64), (n,))
    if t_stop is not None:
        stops = np.broadcast_to(np.asarray(t_stop, dtype=np.float64), (n,))
    return times, np.array(starts, dtype=np.float64), np.array(stops, dtype=np.float64), ids


def _check_sorted_finite(index: int, array: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(array)):
        msg = f"Spike train {index} contains NaN or infinite times; remove them."
        raise ValueError(msg)
    if array.size > 1 and np.any(np.diff(array) < 0):
        msg = f"Spike train {index} is not sorted; sort it first."
        raise ValueError(msg)
    return array


# ---------------------------------------------------------------------------------- metrics
def firing_class(times: Any) -> str:
    """Firing class of one train: ``"silent"``, ``"spiking"`` or ``"bursting"``.

    Parameters
    ----------
    times : array of float, shape (n_spikes,)
        Sorted spike times in seconds.

    Returns
    -------
    str
        ``"silent"`` below 3 spikes; ``"spiking"`` if the ISI coefficient of variation
        (std / mean, ddof 0) is at most 0.15; ``"bursting"`` otherwise.
    """
    times = np.asarray(times, dtype=np.float64)
    if times.size < MIN_SPIKES:
        return SILENT
    return SPIKING if _cv(times) <= CV_THRESHOLD else BURSTING


def burst_metrics(times: Any) -> dict[str, float]:
    """Burst features of one train (science.md section 8), meaningful for bursting trains.

    The ISI threshold is ``(max ISI + min ISI) / 2``; the train is split at longer
    intervals, groups of one spike are dropped, and so are the first and last bursts (they may
    be truncated by the window).

    Parameters
    ----------
    times : array of float, shape (n_spikes,)
        Sorted spike times in seconds.

    Returns
    -------
    dict
        ``n_bursts`` (kept bursts), ``spikes_per_burst`` (mean), ``burst_duration`` (mean
        first-to-last spike time, s), ``intraburst_frequency`` (mean over bursts of
        n_spikes / duration, Hz; n, not n - 1, as in the original code),
        ``interburst_frequency`` (1 / mean interval between burst onsets, Hz; needs two kept
        bursts), ``duty_cycle`` (burst duration x interburst frequency) and ``burstiness``
        (spikes per burst x intraburst frequency x interburst frequency, Hz^2, Fyon et al.).
        NaN where undefined.
    """
    times = np.asarray(times, dtype=np.float64)
    out = dict.fromkeys(_BURST_KEYS, np.nan)
    out["n_bursts"] = 0.0
    if times.size < 2:
        return out
    intervals = np.diff(times)
    threshold = (intervals.max() + intervals.min()) / 2
    edges = np.concatenate(([0], np.flatnonzero(intervals > threshold) + 1, [times.size]))
    sizes = np.diff(edges)
    kept = np.flatnonzero(sizes > 1)[1:-1]
    if kept.size == 0:
        return out
    sizes = sizes[kept].astype(np.float64)
    onsets = times[edges[kept]]
    durations = times[edges[kept + 1] - 1] - onsets
    out["n_bursts"] = float(kept.size)
    out["spikes_per_burst"] = float(sizes.mean())
    out["burst_duration"] = float(durations.mean())
    positive = durations > 0
    if positive.any():
        out["intraburst_frequency"] = float(np.mean(sizes[positive] / durations[positive]))
    if onsets.size > 1:
        out["interburst_frequency"] = float((onsets.size - 1) / (onsets[-1] - onsets[0]))
        out["duty_cycle"] = out["burst_duration"] * out["interburst_frequency"]
        out["burstiness"] = out["spikes_per_burst"] * out["intraburst_frequency"] * out["interburst_frequency"]
    return out


def _interval_statistics(times: list[np.ndarray]) -> dict[str, np.ndarray]:
    """CV2 (Holt et al. 1996), LV (Shinomoto et al. 2003) and mean 1/ISI of every train at
    once (Elephant's formulas, vectorised over trains); NaN below 3 spikes."""
    n = len(times)
    counts = np.array([t.size for t in times], dtype=np.int64)
    n_intervals = np.maximum(counts - 1, 0)
    intervals = np.concatenate([np.diff(t) for t in times]) if n else np.zeros(0)
    labels = np.repeat(np.arange(n), n_intervals)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.bincount(labels, weights=1.0 / intervals, minlength=n) / n_intervals
        same = labels[1:] == labels[:-1]  # consecutive interval pairs within one train
        ratio = (np.diff(intervals) / (intervals[1:] + intervals[:-1]))[same]
        pair_labels = labels[1:][same]
        n_pairs = np.bincount(pair_labels, minlength=n)
        cv2 = np.bincount(pair_labels, weights=2.0 * np.abs(ratio), minlength=n) / n_pairs
        lv = 3.0 * np.bincount(pair_labels, weights=ratio**2, minlength=n) / n_pairs
    short = counts < MIN_SPIKES
    for out in (cv2, lv, inverse):
        out[short] = np.nan
    return {"cv2": cv2, "lv": lv, "spiking_frequency": inverse}


def compute_spike_statistics(spiketrains: Any, *, t_start: Any = None, t_stop: Any = None) -> pd.DataFrame:
    """Interval statistics and firing-pattern features, one row per spike train.

    Parameters
    ----------
    spiketrains : SpikeTrains, SimulationResult, neo.SpikeTrain, or sequence
        A sequence of spike-time arrays in seconds (sorted, finite, >= 0) or of
        ``neo.SpikeTrain``; a single array or ``neo.SpikeTrain`` is one train.  Empty trains
        are allowed (silent).
    t_start, t_stop : float or array of float, optional
        Observation window in seconds for the mean rate (default: the container's window;
        for plain arrays 0 and the last spike).

    Returns
    -------
    pandas.DataFrame
        Index ``unit_id``; columns ``n_spikes``, ``t_start``, ``t_stop``, ``mean_rate`` (Hz),
        ``isi_cv``, ``cv2``, ``lv`` (NaN below 3 spikes), ``firing_class``,
        ``spiking_frequency`` (mean of 1/ISI, Hz; spiking trains only), and for bursting trains
        the :func:`burst_metrics` columns.  Class-specific columns are NaN for the other
        classes.  ``frame.attrs["units"]`` gives each column's unit.

    Raises
    ------
    TypeError, ValueError
        Unsupported input, or a train that is not 1-D, not sorted, has NaN or negative times.

    Examples
    --------
    >>> import numpy as np
    >>> import nwb_dicpop as ndp
    >>> stats = ndp.compute_spike_statistics([np.arange(0.0, 2.0, 0.1)])
    >>> stats.loc[0, "firing_class"], round(stats.loc[0, "spiking_frequency"], 6)
    ('spiking', 10.0)
    """
    import pandas as pd

    times, starts, stops, ids = _trains(spiketrains, t_start, t_stop)
    n = len(times)
    counts = np.array([t.size for t in times], dtype=np.int64)
    interval_stats = _interval_statistics(times)
    cv = np.array([_cv(t) for t in times]) if n else np.zeros(0)
    labels = np.where(counts < MIN_SPIKES, SILENT, np.where(cv <= CV_THRESHOLD, SPIKING, BURSTING))
    window = stops - starts
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(window > 0, counts / window, np.nan)
    columns: dict[str, Any] = {
        "n_spikes": counts,
        "t_start": starts,
        "t_stop": stops,
        "mean_rate": rate,
        "isi_cv": cv,
        "cv2": interval_stats["cv2"],
        "lv": interval_stats["lv"],
        "firing_class": labels,
        "spiking_frequency": np.where(labels == SPIKING, interval_stats["spiking_frequency"], np.nan),
    }
    bursts = {key: np.full(n, np.nan) for key in _BURST_KEYS}
    for k in np.flatnonzero(labels == BURSTING):
        for key, value in burst_metrics(times[k]).items():
            bursts[key][k] = value
    columns.update(bursts)
    frame = pd.DataFrame(columns, index=pd.Index(ids, name="unit_id"))[list(STATISTICS_UNITS)]
    frame.attrs["units"] = dict(STATISTICS_UNITS)
    return frame


def _cv(times: np.ndarray) -> float:
    """ISI coefficient of variation (std / mean, ddof 0) by the two-pass formula; NaN below 3 spikes."""
    if times.size < MIN_SPIKES:
        return np.nan
    intervals = times[1:] - times[:-1]
    mean = intervals.sum() / intervals.size
    if mean <= 0:
        return np.inf
    return float(np.sqrt(np.mean((intervals - mean) ** 2)) / mean)


def to_neo(spiketrains: Any, *, t_start: Any = None, t_stop: Any = None) -> list[Any]:
    """Convert spike trains to ``neo.SpikeTrain`` objects (seconds).

    Parameters
    ----------
    spiketrains, t_start, t_stop
        As in :func:`compute_spike_statistics`.

    Returns
    -------
    list of neo.SpikeTrain
        One per train, with ``t_start``/``t_stop`` from the input (widened to contain every
        spike) and ``name`` the unit id.
    """
    import neo
    import quantities as pq

    times, starts, stops, ids = _trains(spiketrains, t_start, t_stop)
    out = []
    for train, start, stop, uid in zip(times, starts, stops, ids, strict=True):
        low = min(start, train[0]) if train.size else start
        high = max(stop, train[-1]) if train.size else max(stop, start)
        out.append(neo.SpikeTrain(train * pq.s, t_start=low * pq.s, t_stop=high * pq.s, name=str(uid)))
    return out
