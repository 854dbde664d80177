"""Units-table helpers for :mod:`nwb_dicpop.io`: bulk spike-time reads, column filters, windows.

These work on the pynwb objects handed over by :mod:`nwb_dicpop.io` (duck-typed; pynwb itself is
imported only there): the Units table's ragged ``spike_times``/``obs_intervals`` columns, its
scalar columns for ``where`` filters, and the file's interval tables (epochs, trials, named
TimeIntervals) for ``epoch`` and for the recording span.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_choice

__all__ = ["bulk_spike_times", "epoch_span", "intersect", "obs_spans", "recording_span", "where_mask"]

MIN_SPLIT_READ = 1 << 17
"""Spikes (1 MiB of float64): below this, one slice covers all selected units."""


def bulk_spike_times(units: Any, rows: np.ndarray) -> list[np.ndarray]:
    """Spike times of ``rows`` from the flat ``spike_times`` dataset and its index.

    The rows' spikes are read in one contiguous slice when it is not much larger than what
    they need (always the case for all units); otherwise in one slice per run of adjacent
    rows, so that a few units of a large remote file cost a few small range requests.
    """
    ends = np.asarray(units["spike_times"].data[:], dtype=np.int64)  # the VectorIndex
    flat_data = units["spike_times"].target.data
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    low, high = int(starts[rows].min()), int(ends[rows].max())
    needed = int(np.sum(ends[rows] - starts[rows]))
    if high - low <= max(2 * needed, MIN_SPLIT_READ):
        flat = np.asarray(flat_data[low:high], dtype=np.float64)
        return [flat[starts[r] - low : ends[r] - low] for r in rows]
    cache: dict[int, np.ndarray] = {}
    for run in np.split(np.sort(np.unique(rows)), np.flatnonzero(np.diff(np.sort(np.unique(rows))) != 1) + 1):
        first, last = int(starts[run[0]]), int(ends[run[-1]])
        block = np.asarray(flat_data[first:last], dtype=np.float64)
        for r in run:
            cache[int(r)] = block[starts[r] - first : ends[r] - first]
    return [cache[int(r)] for r in rows]


def _column_values(units: Any, name: str, where_name: str) -> np.ndarray:
    if name not in units.colnames:
        check_choice(f"Units column of {where_name} (in `where`)", name, units.colnames)
    column = units[name]
    if type(column).__name__ in ("VectorIndex", "DynamicTableRegion"):
        msg = f"`where` cannot filter on {name!r}: it is a ragged or reference column. Use a scalar column."
        raise ValueError(msg)
    values = np.asarray(column.data[:])
    if values.dtype.kind in ("O", "S"):
        values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
    return values


def where_mask(units: Any, where: Mapping[str, Any], n: int, where_name: str) -> np.ndarray:
    if not isinstance(where, Mapping):
        msg = f"`where` must be a dict of column filters such as {{'quality': 'good'}}; got {where!r}."
        raise TypeError(msg)
    mask = np.ones(n, dtype=bool)
    for name, condition in where.items():
        values = _column_values(units, name, where_name)
        if callable(condition):
            selected = np.asarray(condition(values), dtype=bool)
            if selected.shape != (n,):
                msg = f"`where[{name!r}]` must return one boolean per unit ({n}); got shape {selected.shape}."
                raise ValueError(msg)
        elif isinstance(condition, (list, tuple, set, frozenset, np.ndarray)):
            selected = np.isin(values, list(condition))
        else:
            selected = values == condition
        if not selected.any():
            present = sorted({str(v) for v in values})[:20]
            msg = (
                f"No unit of {where_name} has {name} matching {condition!r}; values present: {present}."
            )
            raise ValueError(msg)
        mask &= selected
    return mask


def obs_spans(units: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if "obs_intervals" not in units.colnames:
        return None
    ends = np.asarray(units["obs_intervals"].data[:], dtype=np.int64)
    intervals = np.asarray(units["obs_intervals"].target.data[:], dtype=np.float64).reshape(-1, 2)
    starts = np.concatenate([[0], ends[:-1]])
    t_start = np.empty(rows.size)
    t_stop = np.empty(rows.size)
    for k, r in enumerate(rows):
        own = intervals[starts[r] : ends[r]]
        if own.size == 0:
            return None  # a unit without intervals: fall back to the recording span for all
        t_start[k], t_stop[k] = own[:, 0].min(), own[:, 1].max()
    return t_start, t_stop


def _interval_tables(nwbfile: Any) -> dict[str, Any]:
    tables = dict(nwbfile.intervals.items()) if nwbfile.intervals else {}
    for name in ("epochs", "trials", "invalid_times"):
        table = getattr(nwbfile, name, None)
        if table is not None:
            tables.setdefault(name, table)
    return tables


def recording_span(nwbfile: Any) -> tuple[float | None, float | None]:
    starts, stops = [], []
    for name, table in _interval_tables(nwbfile).items():
        if name == "invalid_times" or len(table) == 0:
            continue
        starts.append(float(np.min(table["start_time"].data[:])))
        stops.append(float(np.max(table["stop_time"].data[:])))
    return (min(starts) if starts else None, max(stops) if stops else None)


def epoch_span(nwbfile: Any, epoch: str, where_name: str) -> tuple[float, float]:
    tables = _interval_tables(nwbfile)
    intervals: list[tuple[float, float]] = []
    names: set[str] = set(tables)
    if epoch in tables and len(tables[epoch]):
        table = tables[epoch]
        intervals += list(zip(table["start_time"].data[:], table["stop_time"].data[:], strict=True))
    else:
        for table in tables.values():
            if "tags" not in table.colnames or len(table) == 0:
                continue
            starts, stops = table["start_time"].data[:], table["stop_time"].data[:]
            for i in range(len(table)):
                tags = [t.decode() if isinstance(t, bytes) else str(t) for t in table["tags"][i]]
                names.update(tags)
                if epoch in tags:
                    intervals.append((starts[i], stops[i]))
    if not intervals:
        close = difflib.get_close_matches(epoch, sorted(names), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        msg = (
            f"Unknown epoch {epoch!r} in {where_name}; interval tables and tags present: "
            f"{sorted(names) or 'none'}.{hint}"
        )
        raise ValueError(msg)
    merged = sorted((float(a), float(b)) for a, b in intervals)
    span_start, span_stop = merged[0]
    for a, b in merged[1:]:
        if a > span_stop + 1e-9:
            msg = (
                f"Epoch {epoch!r} of {where_name} has {len(merged)} separate intervals; read one "
                f"at a time with window=(t_start, t_stop) (intervals: {merged[:5]})."
            )
            raise ValueError(msg)
        span_stop = max(span_stop, b)
    return span_start, span_stop


def intersect(
    window: tuple[float, float] | None, span: tuple[float, float], epoch: str
) -> tuple[float, float]:
    if window is None:
        return span
    start, stop = max(window[0], span[0]), min(window[1], span[1])
    if stop <= start:
        msg = f"`window` {window} does not overlap epoch {epoch!r} {span} (seconds)."
        raise ValueError(msg)
    return start, stop
