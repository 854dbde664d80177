"""Spike trains in: the front door, the Neo/Elephant boundary and the spike statistics.

:func:`as_spike_trains` is the one place where spike trains held in memory (arrays, lists,
dicts, tables, Neo objects, quantities, containers) become a checked
:class:`~nwb_dicpop.SpikeTrains`; every public function that takes spike trains calls it, so
the same input gives the same trains and the same mistake the same message (the messages are
written in :mod:`nwb_dicpop.containers`, next to the container they protect).  It lives here
because this module is the package's Neo/Elephant boundary: Neo, quantities and Elephant are
imported here only (Neo objects are recognised without importing Neo), by the front door,
:func:`to_neo` and :func:`read_neo_file` (for :func:`~nwb_dicpop.read_spike_trains`).
:func:`van_rossum_distance` computes Elephant's van Rossum distance in numpy for
:mod:`nwb_dicpop.validation`; the tests hold it to Elephant.

:func:`compute_spike_statistics` characterises each train with the interval statistics that
Elephant defines (coefficient of variation of the inter-spike intervals, CV2, LV) and with the
firing-pattern features of Brandoit et al. (2025), which Elephant lacks (firing class, spiking
frequency, burst metrics).  Elephant's functions cost about 1 ms per train on plain arrays
(measured: 10.2 s for 10,000 trains, against 0.34 s for the same maths in numpy), so the
production path is a numpy implementation of the same formulas and Elephant is the oracle the
tests compare against (they agree to float precision).  :func:`to_neo` converts to
``neo.SpikeTrain`` for anything else Elephant offers.

Units: times in seconds, frequencies in Hz, durations in seconds.

Firing class (Brandoit et al. 2025; the firing classes of ``docs/method.md``; the same threshold for
both models): fewer than 3 spikes is ``"silent"``; otherwise the CV of the inter-spike intervals
decides, ``<= 0.15`` is ``"spiking"`` and above is ``"bursting"``.

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._tables import (
    PREDECESSOR_COLUMNS,
    check_time_scale,
    spike_times_from_long_table,
    spike_times_from_predecessor,
    to_seconds,
)
from nwb_dicpop.containers import (
    SimulationResult,
    SpikeTrains,
    as_time_array,
    check_spike_times,
    check_window,
    clip_to_window,
    select_positions,
    spike_input_error,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BURSTING",
    "CV_THRESHOLD",
    "MIN_SPIKES",
    "SILENT",
    "SPIKING",
    "STATISTICS_UNITS",
    "as_spike_trains",
    "burst_metrics",
    "compute_spike_statistics",
    "firing_class",
    "read_neo_file",
    "to_neo",
    "van_rossum_distance",
]

SILENT, SPIKING, BURSTING = "silent", "spiking", "bursting"
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


# ---------------------------------------------------------------------------- the front door
def _is_neo(value: Any) -> bool:
    """True for Neo objects, told by their class's module (Neo is not imported to find out)."""
    return type(value).__module__.split(".")[0] == "neo"


def _is_quantity(value: Any) -> bool:
    """True for ``quantities`` arrays that are not Neo objects (those carry a window too)."""
    return type(value).__module__.split(".")[0] == "quantities"


def _element_kind(value: Any) -> str:
    if _is_neo(value):
        return "Neo objects"
    if _is_quantity(value):
        return "quantities arrays"
    return "plain arrays"


@dataclass
class _Unpacked:
    """Spike trains taken out of one input, before any check."""

    times: list[Any]
    ids: list[Any]
    label: str
    """Default ``source`` of the result, also naming the input in messages and warnings."""
    time_unit: str = "s"
    starts: np.ndarray | None = None
    stops: np.ndarray | None = None
    """The input's own observation window (Neo); None for windowless arrays and tables."""
    declared: bool = False
    """The unit was given by the caller (``time_unit=``): no plausibility warning."""


def _seconds(value: Any, unit: Any, where: str) -> np.ndarray:
    """A ``quantities`` array (or Neo train) in seconds, as a 1-D float array."""
    try:
        seconds = value.rescale("s")
    except ValueError as err:
        raise spike_input_error(
            "not_time", unit=unit, where=where, dimensionality=getattr(value, "dimensionality", "?")
        ) from err
    return as_time_array(np.asarray(seconds.magnitude), unit, where=where)


def _neo_ids(trains: Sequence[Any]) -> list[Any]:
    names = [st.name for st in trains]
    if all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
        return names
    annotated = [st.annotations.get("unit_id", st.annotations.get("id")) for st in trains]
    if all(a is not None for a in annotated) and len(set(map(str, annotated))) == len(annotated):
        return [a.item() if isinstance(a, np.generic) else a for a in annotated]
    return list(range(len(trains)))


def _from_neo(items: list[Any], segment: int | None, label: str, where: str) -> _Unpacked:
    """Spike trains (seconds) and their windows from neo.SpikeTrain(s), Segment(s) or Block(s)."""
    import neo

    if all(isinstance(item, neo.SpikeTrain) for item in items):
        if segment is not None:
            raise spike_input_error("segment", kind="a list of neo.SpikeTrain")
        trains = items
    else:
        segments = []
        for item in items:
            if isinstance(item, neo.Block):
                segments += list(item.segments)
            elif isinstance(item, neo.Segment):
                segments.append(item)
            else:
                raise spike_input_error("neo_type", kind=type(item).__name__)
        with_spikes = [k for k, seg in enumerate(segments) if len(seg.spiketrains)]
        if segment is None:
            if len(with_spikes) > 1:
                raise spike_input_error(
                    "neo_segments", source=label, n_with_spikes=len(with_spikes), n_segments=len(segments)
                )
            segment = with_spikes[0] if with_spikes else 0
        if isinstance(segment, bool) or not isinstance(segment, (int, np.integer)) or not (
            0 <= segment < max(len(segments), 1)
        ):
            raise spike_input_error("segment_range", last=max(len(segments) - 1, 0), value=segment)
        trains = list(segments[segment].spiketrains) if segments else []
    ids = _neo_ids(trains)
    return _Unpacked(
        times=[_seconds(st, uid, where) for st, uid in zip(trains, ids, strict=True)],
        ids=ids,
        label=label,
        starts=np.array([float(st.t_start.rescale("s").magnitude) for st in trains]),
        stops=np.array([float(st.t_stop.rescale("s").magnitude) for st in trains]),
    )


def _from_frame(frame: Any, time_unit: str | None, unit_column: str | None, time_column: str | None,
                label: str) -> _Unpacked:
    columns = {str(c) for c in frame.columns}
    if set(PREDECESSOR_COLUMNS) <= columns and unit_column is None and time_column is None:
        times, ids = spike_times_from_predecessor(frame, label)
        default = "ms"  # the predecessor tool's format
    else:
        times, ids = spike_times_from_long_table(frame, unit_column=unit_column, time_column=time_column, where=label)
        default = "s"
    return _Unpacked(times, ids, label, time_unit or default, declared=time_unit is not None)


def _unpack(data: Any, name: str, time_unit: str | None, segment: int | None, unit_column: str | None,
            time_column: str | None, source: str | None, where: str) -> _Unpacked:
    """Take the trains out of ``data``; reject the options that do not apply to it."""
    if type(data).__name__ == "DataFrame" and hasattr(data, "columns"):
        if segment is not None:
            raise spike_input_error("segment", kind="a DataFrame")
        return _from_frame(data, time_unit, unit_column, time_column, source or "DataFrame")
    if unit_column is not None or time_column is not None:
        raise spike_input_error("columns", kind=f"a {type(data).__name__}")
    kind = f"a {type(data).__name__}"
    if isinstance(data, Mapping):
        items, ids = list(data.values()), list(data.keys())
    elif isinstance(data, (list, tuple)) or (isinstance(data, np.ndarray) and data.dtype == object and data.ndim == 1):
        items, ids = list(data), list(range(len(data)))
    elif _is_neo(data) or _is_quantity(data) or (isinstance(data, np.ndarray) and data.ndim >= 1):
        items, ids = [data], [0]  # one unit
    else:
        raise spike_input_error("wrong_type", name=name, kind=type(data).__name__)
    if not items:
        raise spike_input_error("empty", name=name)
    kinds = {_element_kind(item) for item in items}
    if len(kinds) > 1:
        raise spike_input_error("mixed", name=name, kinds=" and ".join(sorted(kinds)))
    if _is_neo(items[0]):
        if time_unit is not None:
            raise spike_input_error("own_time_unit", kind="a Neo object")
        unpacked = _from_neo(items, segment, source or f"neo:{type(data).__name__}", where)
        if isinstance(data, Mapping) and len(unpacked.ids) == len(ids):
            unpacked.ids = ids  # {unit_id: neo.SpikeTrain}: the keys name the units
        return unpacked
    if segment is not None:
        raise spike_input_error("segment", kind=kind)
    if _is_quantity(items[0]):
        if time_unit is not None:
            raise spike_input_error("own_time_unit", kind="a quantities array")
        return _Unpacked([_seconds(q, uid, where) for uid, q in zip(ids, items, strict=True)], ids,
                         source or "quantities")
    if not isinstance(data, Mapping) and all(
        np.ndim(item) == 0 and isinstance(item, (int, float, np.number)) for item in items
    ):
        items, ids = [np.asarray(items, dtype=np.float64)], [0]  # one train given as a list of numbers
    return _Unpacked(items, ids, source or "array", time_unit or "s", declared=time_unit is not None)


def as_spike_trains(
    data: Any,
    *,
    unit_ids: Sequence[Any] | None = None,
    window: tuple[float, float] | None = None,
    time_unit: str | None = None,
    sort: bool = False,
    segment: int | None = None,
    unit_column: str | None = None,
    time_column: str | None = None,
    source: str | None = None,
    input_name: str = "data",
) -> SpikeTrains:
    """Spike trains held in memory, in any accepted form, as one checked :class:`SpikeTrains`.

    The front door of every public function that takes spike trains:
    :func:`~nwb_dicpop.read_spike_trains` (objects in memory, tables and Neo files),
    :func:`compute_spike_statistics`, :func:`to_neo`, :func:`~nwb_dicpop.infer_dics`,
    :func:`~nwb_dicpop.validate_population` and the :mod:`nwb_dicpop.testing` mocks.  One set
    of checks, one set of messages: the same input gives the same trains and the same mistake
    the same error, whichever of them receives it.

    Parameters
    ----------
    data : SpikeTrains, SimulationResult, array, list, dict, neo object, quantities array or DataFrame
        * a :class:`SpikeTrains` (returned as is when no other argument asks for a change) or
          a :class:`SimulationResult` (its members over ``[0, duration]``);
        * a 1-D array of spike times (one unit), a list of numbers (one unit), a list of 1-D
          arrays (one per unit, ids ``0 .. n - 1``) or a dict ``{unit_id: times}``;
        * ``neo.SpikeTrain`` object(s), a ``neo.Segment`` or a ``neo.Block`` (or a list of
          them): times and windows converted to seconds, ids from the trains' names (else
          their ``unit_id``/``id`` annotation, else positions);
        * a ``quantities`` array (one unit), or a list or dict of them, converted to seconds;
        * a pandas DataFrame with one row per spike (a unit column and a time column), or in
          the predecessor tool's layout (columns ``ID`` and ``spiking_times``, in ms).
    unit_ids : sequence, optional
        Units to keep, in this order (ids as described above).  Unknown ids raise with the
        closest existing ones.
    window : (float, float), optional
        ``(t_start, t_stop)`` in seconds: keep the spikes inside and set each unit's
        observation window to its intersection with this one.  Arrays and tables carry no
        window of their own: theirs is ``window`` when given, else 0 to the last spike of all
        units (and their times must then be >= 0).
    time_unit : {"s", "ms"}, optional
        Unit of plain arrays and tables.  By default ``"s"`` (``"ms"`` for the predecessor
        layout) and then implausible inter-spike intervals warn (:class:`TimeUnitWarning`); a
        unit given here is trusted.  Neo objects and quantities carry their own unit.
    sort : bool
        Sort unsorted spike times instead of raising.
    segment : int, optional
        Neo inputs with several segments holding spike trains: the one to use.
    unit_column, time_column : str, optional
        DataFrames: the column names (default: recognised names such as ``unit``/``unit_id``
        and ``time``/``spike_time``).
    source : str, optional
        Stored as :attr:`SpikeTrains.source` and named in messages (default: the input's own
        source, or its kind: ``"array"``, ``"quantities"``, ``"neo:Block"``, ``"DataFrame"``).
    input_name : str
        The caller's parameter name, used in messages (``"spiketrains"``, ``"source"``, ...).

    Returns
    -------
    SpikeTrains
        Times in seconds: finite, sorted, inside each unit's ``[t_start, t_stop]``.

    Raises
    ------
    TypeError
        ``data`` is not spike trains (files and URLs go to
        :func:`~nwb_dicpop.read_spike_trains`), mixes Neo objects, quantities and plain
        arrays, or holds non-numeric times.
    ValueError
        No trains; NaN or infinite times; unsorted times (without ``sort``); negative times in
        arrays or tables without a ``window``; a train that is not 1-D; unknown ``unit_ids``;
        a bad ``window``; an option that does not apply to ``data``.

    Warns
    -----
    TimeUnitWarning
        The inter-spike intervals are implausible in the assumed unit (for instance
        milliseconds passed as seconds).

    Examples
    --------
    >>> import numpy as np
    >>> spikes = as_spike_trains({"a": [0.1, 0.4], "b": np.array([0.2])})
    >>> spikes.unit_ids, spikes.t_stop.tolist()
    (('a', 'b'), [0.4, 0.4])
    >>> as_spike_trains([np.array([0.3, 0.1])])
    Traceback (most recent call last):
    ...
    ValueError: Spike times of unit 0 are not sorted (they decrease after index 0). Sort them with np.sort, or pass sort=True to read_spike_trains or as_spike_trains.
    """
    window = check_window(window)
    if time_unit is not None:
        to_seconds(time_unit)
    where = f" in {source}" if source else ""
    if isinstance(data, SimulationResult):
        data = data.to_spike_trains()
    if isinstance(data, SpikeTrains):
        if time_unit is not None:
            raise spike_input_error("own_time_unit", kind="a SpikeTrains")
        if segment is not None:
            raise spike_input_error("segment", kind="a SpikeTrains")
        if unit_column is not None or time_column is not None:
            raise spike_input_error("columns", kind="a SpikeTrains")
        if unit_ids is None and window is None and source is None:
            return data  # already checked
        raw = _Unpacked(list(data.times), list(data.unit_ids), data.source or "SpikeTrains",
                        starts=data.t_start, stops=data.t_stop, declared=True)
    else:
        raw = _unpack(data, input_name, time_unit, segment, unit_column, time_column, source, where)
    times, ids, starts, stops = raw.times, raw.ids, raw.starts, raw.stops
    if not times:
        raise spike_input_error("empty", name=input_name)
    if unit_ids is not None:
        positions = select_positions(ids, unit_ids, raw.label)
        if not positions:
            raise spike_input_error("empty", name="unit_ids")
        times, ids = [times[p] for p in positions], [ids[p] for p in positions]
        if starts is not None and stops is not None:
            starts, stops = starts[positions], stops[positions]
    arrays = [as_time_array(t, uid, where=where) for uid, t in zip(ids, times, strict=True)]
    arrays = check_spike_times(arrays, ids, where=where, sort=sort)
    if not raw.declared:
        check_time_scale(arrays, raw.time_unit, raw.label)
    factor = to_seconds(raw.time_unit)
    if factor != 1.0:
        arrays = [a * factor for a in arrays]
    if starts is None or stops is None:  # arrays and tables: the window is `window`, else 0 to the last spike
        if window is None:
            _reject_negative(arrays, ids, where)
            starts, stops = 0.0, max((float(a[-1]) for a in arrays if a.size), default=0.0)
        else:
            starts, stops = window
    if window is not None:
        arrays, starts, stops = clip_to_window(arrays, ids, starts, stops, window, source=raw.label)
    return SpikeTrains(arrays, ids, t_start=starts, t_stop=stops, source=source or raw.label)


def _reject_negative(arrays: Sequence[np.ndarray], ids: Sequence[Any], where: str) -> None:
    for uid, array in zip(ids, arrays, strict=True):
        if array.size and array[0] < 0:
            raise spike_input_error("negative", unit=uid, where=where, first=float(array[0]))


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
    """Burst features of one train (Brandoit et al. 2025), meaningful for bursting trains.

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
    spiketrains : SpikeTrains, SimulationResult, array, list, dict, neo object or DataFrame
        Anything :func:`as_spike_trains` accepts: spike-time arrays in seconds (sorted,
        finite, >= 0; a single array is one train), ``neo.SpikeTrain`` objects, ...  Empty
        trains are allowed (silent).
    t_start, t_stop : float or array of float, optional
        Observation window in seconds for the mean rate (default: the trains' own window;
        for plain arrays 0 and the last spike of all trains).

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
        As :func:`as_spike_trains`: unsupported input, or a train that is not 1-D, not
        sorted, has NaN or negative times.

    Examples
    --------
    >>> import numpy as np
    >>> import nwb_dicpop as ndp
    >>> stats = ndp.compute_spike_statistics([np.arange(0.0, 2.0, 0.1)])
    >>> stats.loc[0, "firing_class"], round(float(stats.loc[0, "spiking_frequency"]), 6)
    ('spiking', 10.0)
    """
    import pandas as pd

    times, starts, stops, ids = _rate_windows(spiketrains, t_start, t_stop)
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


def _rate_windows(
    spiketrains: Any, t_start: Any, t_stop: Any
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, list[Any]]:
    """``(times, t_start, t_stop, unit_ids)`` of :func:`as_spike_trains`' result; ``t_start``
    and ``t_stop``, when given, replace its window (they only set the rate's denominator)."""
    spikes = as_spike_trains(spiketrains, input_name="spiketrains")
    n = spikes.n_units
    starts = spikes.t_start if t_start is None else np.broadcast_to(np.asarray(t_start, dtype=np.float64), (n,))
    stops = spikes.t_stop if t_stop is None else np.broadcast_to(np.asarray(t_stop, dtype=np.float64), (n,))
    return list(spikes.times), np.array(starts, dtype=np.float64), np.array(stops, dtype=np.float64), list(
        spikes.unit_ids
    )


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

    times, starts, stops, ids = _rate_windows(spiketrains, t_start, t_stop)
    out = []
    for train, start, stop, uid in zip(times, starts, stops, ids, strict=True):
        low = min(start, train[0]) if train.size else start
        high = max(stop, train[-1]) if train.size else max(stop, start)
        out.append(neo.SpikeTrain(train * pq.s, t_start=low * pq.s, t_stop=high * pq.s, name=str(uid)))
    return out


def read_neo_file(path: str | os.PathLike[str], *, other_formats: str = "") -> list[Any]:
    """Every ``neo.Block`` of a file Neo reads (``.nix`` and Neo's other formats).

    Parameters
    ----------
    path : str or os.PathLike
        An existing file.
    other_formats : str
        The formats the caller reads itself, named when Neo has no reader for the file
        (e.g. ``"NWB (.nwb), tables (.csv, ...)"``).

    Returns
    -------
    list of neo.Block

    Raises
    ------
    ValueError
        Neo has no reader for the file, or its reader fails on it.
    """
    import neo

    path = Path(path)
    try:
        if path.suffix.lower() == ".nix":
            reader: Any = neo.io.NixIO(os.fspath(path), mode="ro")
        else:
            reader = neo.io.get_io(os.fspath(path))
    except (OSError, ImportError, IndexError, KeyError, ValueError) as err:
        others = f"{other_formats} or " if other_formats else ""
        msg = (
            f"`source` {str(path)!r} is not a format nwb_dicpop can read: {others}a file Neo reads "
            f"({type(err).__name__}: {err})."
        )
        raise ValueError(msg) from err
    try:
        return reader.read_all_blocks() if hasattr(reader, "read_all_blocks") else [reader.read_block()]
    except Exception as err:  # each Neo IO raises its own types on bad files
        msg = f"Neo ({type(reader).__name__}) could not read {str(path)!r}: {type(err).__name__}: {err}"
        raise ValueError(msg) from err
    finally:
        with contextlib.suppress(Exception):
            reader.close()


VAN_ROSSUM_CUTOFF = 40.0
"""Spike pairs further apart than this many time constants are left out of the kernel sums of
:func:`van_rossum_distance`: each would add less than ``exp(-40)`` (4e-18) to a sum of at least 1."""

_PAIRS_PER_BLOCK = 1 << 22
"""Spike pairs evaluated at once by :func:`_kernel_sum` (bounds its memory to about 100 MB)."""


def _kernel_sum(x: np.ndarray, y: np.ndarray, tau: float) -> float:
    """``sum_i sum_j exp(-|x_i - y_j| / tau)`` for sorted ``x`` and ``y``, pairs within the cutoff."""
    if x.size == 0 or y.size == 0:
        return 0.0
    reach = VAN_ROSSUM_CUTOFF * tau
    low = np.searchsorted(x, y - reach, "left")
    counts = np.searchsorted(x, y + reach, "right") - low
    ends = np.cumsum(counts)  # pairs up to and including each spike of y
    total = 0.0
    start = 0
    while start < y.size:
        # a block of y whose pairs fit the budget (at least one spike of y)
        done = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, done + _PAIRS_PER_BLOCK, "right")))
        block = counts[start:stop]
        n_pairs = int(ends[stop - 1]) - done
        if n_pairs:
            rows = np.repeat(np.arange(start, stop), block)
            first = np.cumsum(block) - block  # position of each row's first pair
            columns = np.arange(n_pairs) - np.repeat(first - low[start:stop], block)
            total += float(np.exp(-np.abs(x[columns] - y[rows]) / tau).sum())
        start = stop
    return total


def van_rossum_distance(a: np.ndarray, b: np.ndarray, *, tau: float) -> tuple[float, float]:
    """van Rossum distance between two spike trains, with Elephant's normalisation, in numpy.

    The same quantity as ``elephant.spike_train_dissimilarity.van_rossum_distance`` (a train
    of one spike is at distance 1 from the empty train): ``sqrt(K(a, a) + K(b, b) - 2 K(a, b))``
    with ``K(x, y) = sum_ij exp(-|x_i - y_j| / tau)``.  Elephant builds Neo objects and checks
    units on each call (about 4 ms per pair of trains); this costs tens of microseconds, which
    matters when every member of a population is scored.  The tests hold it to Elephant.

    Parameters
    ----------
    a, b : ndarray of float
        Spike times in seconds (any order).
    tau : float
        Time constant of the exponential kernel in seconds (> 0).

    Returns
    -------
    distance : float
        The van Rossum distance (square-root seconds in Elephant's units).
    norm : float
        ``sqrt(K(a, a) + K(b, b))``: the distance the two trains would have if they shared no
        spike timing; a distance far below it is rounding noise of the kernel sums.
    """
    x = np.sort(np.asarray(a, dtype=np.float64).ravel())
    y = np.sort(np.asarray(b, dtype=np.float64).ravel())
    own = _kernel_sum(x, x, tau) + _kernel_sum(y, y, tau)
    squared = own - 2.0 * _kernel_sum(x, y, tau)
    return float(np.sqrt(max(squared, 0.0))), float(np.sqrt(own))
