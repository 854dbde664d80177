"""Spike times from tables (pandas/numpy only; used by :func:`nwb_dicpop.as_spike_trains`).

Formats
-------
* The predecessor tool's CSV (Spike2Pop): columns ``ID`` and ``spiking_times``, the latter a
  bracketed list ``"[t1, t2, ...]"`` in milliseconds, one row per unit.
* Long tables (CSV, TSV, Parquet or a DataFrame): one row per spike with a unit column and a
  time column.

The spike times come out in the table's unit; :func:`nwb_dicpop.as_spike_trains` converts them
to seconds and warns (:class:`TimeUnitWarning`, :func:`check_time_scale`) when the values look
like the other unit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_choice

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PREDECESSOR_COLUMNS",
    "TimeUnitWarning",
    "check_time_scale",
    "read_table",
    "spike_times_from_long_table",
    "spike_times_from_predecessor",
    "to_seconds",
]

PREDECESSOR_COLUMNS = ("ID", "spiking_times")
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
_UNIT_COLUMNS = ("unit", "unit_id", "unit_ids", "units", "id", "ID", "neuron", "cell", "cluster", "cluster_id")
_TIME_COLUMNS = ("time", "times", "spike_time", "spike_times", "t", "timestamp", "timestamps")
# Pooled median inter-spike interval beyond which "seconds" look like milliseconds (a typical
# unit firing at 1-50 Hz has ISIs of 20-1000 ms), and below which "milliseconds" look like
# seconds (ISIs under 1 ms are below any refractory period).
_MAX_PLAUSIBLE_MEDIAN_ISI_S = 5.0
_MIN_PLAUSIBLE_MEDIAN_ISI_MS = 1.0
_ISIS_PER_UNIT = 200


class TimeUnitWarning(UserWarning):
    """Spike times look like they are in another unit than the one declared."""


def to_seconds(time_unit: str) -> float:
    """Factor converting ``time_unit`` ("s" or "ms") to seconds."""
    check_choice("time_unit", time_unit, TIME_UNITS)
    return TIME_UNITS[time_unit]


def check_time_scale(times: Sequence[np.ndarray], time_unit: str, where: str) -> None:
    """Warn when the inter-spike intervals are implausible in ``time_unit``.

    Parameters
    ----------
    times : sequence of ndarray of float
        Spike times of each unit, in ``time_unit`` (not yet converted).
    time_unit : {"s", "ms"}
        The declared unit.
    where : str
        The source, named in the warning.
    """
    # the first intervals of each unit are enough to tell seconds from milliseconds
    intervals = [np.diff(t[: _ISIS_PER_UNIT + 1]) for t in times if t.size > 1]
    if not intervals:
        return
    pooled = np.concatenate(intervals)
    pooled = pooled[pooled > 0]
    if pooled.size < 3:
        return
    median = float(np.median(pooled))
    if time_unit == "s" and median > _MAX_PLAUSIBLE_MEDIAN_ISI_S:
        msg = (
            f"Spike times from {where} are read as seconds, but the median inter-spike interval "
            f"is {median:.4g} s (a rate below {1 / median:.3g} Hz); they look like milliseconds. "
            "If so, pass time_unit='ms' (read_spike_trains, as_spike_trains); a time_unit given "
            "explicitly is trusted."
        )
        warnings.warn(msg, TimeUnitWarning, stacklevel=4)
    elif time_unit == "ms" and median < _MIN_PLAUSIBLE_MEDIAN_ISI_MS:
        msg = (
            f"Spike times from {where} are read as milliseconds, but the median inter-spike "
            f"interval is {median:.4g} ms, shorter than any refractory period; they look like "
            "seconds. If so, pass time_unit='s' (read_spike_trains, as_spike_trains); a time_unit "
            "given explicitly is trusted."
        )
        warnings.warn(msg, TimeUnitWarning, stacklevel=4)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet file into a DataFrame, with errors that name the file."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        sep = "\t" if suffix == ".tsv" else ","
        return pd.read_csv(path, sep=sep)
    except ImportError as err:
        msg = f"Reading {path.name} needs pyarrow (pip install pyarrow): {err}"
        raise ImportError(msg) from err
    except (ValueError, OSError, pd.errors.ParserError) as err:
        msg = f"Could not read {str(path)!r} as a {suffix.lstrip('.').upper()} table: {err}"
        raise ValueError(msg) from err


def _parse_bracketed(cell: Any, row_id: Any, where: str) -> np.ndarray:
    if isinstance(cell, (list, tuple, np.ndarray)):
        values: Any = cell
    else:
        text = str(cell).strip()
        if not (text.startswith("[") and text.endswith("]")):
            msg = (
                f"{where}: the spiking_times of ID {row_id!r} must be a bracketed list such as "
                f"'[12.5, 40.1]' (milliseconds); got {text[:60]!r}."
            )
            raise ValueError(msg)
        body = text[1:-1].replace(",", " ").split()
        values = body
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError as err:
        msg = f"{where}: the spiking_times of ID {row_id!r} contain a non-numeric value ({err})."
        raise ValueError(msg) from err


def spike_times_from_predecessor(frame: pd.DataFrame, where: str) -> tuple[list[np.ndarray], list[Any]]:
    """Spike times (in the file's unit) and ids from a predecessor-format table."""
    times = [_parse_bracketed(cell, uid, where) for uid, cell in zip(frame["ID"], frame["spiking_times"], strict=True)]
    ids = [_python_scalar(uid) for uid in frame["ID"]]
    return times, ids


def _python_scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _pick_column(frame: pd.DataFrame, given: str | None, candidates: Sequence[str], role: str, where: str) -> str:
    columns = [str(c) for c in frame.columns]
    if given is not None:
        return check_choice(f"{role} column of {where}", given, columns)
    for name in candidates:
        if name in columns:
            return name
    msg = (
        f"Cannot tell which column of {where} holds the {role}s; columns are {columns}. Pass "
        f"{role}_column=... (recognised names: {list(candidates)})."
    )
    raise ValueError(msg)


def spike_times_from_long_table(
    frame: pd.DataFrame, *, unit_column: str | None, time_column: str | None, where: str
) -> tuple[list[np.ndarray], list[Any]]:
    """Group a one-row-per-spike table into sorted spike-time arrays (in the table's unit)."""
    ucol = _pick_column(frame, unit_column, _UNIT_COLUMNS, "unit", where)
    tcol = _pick_column(frame, time_column, _TIME_COLUMNS, "time", where)
    if len(frame) == 0:
        msg = f"{where} has no rows: there are no spike times to read."
        raise ValueError(msg)
    try:
        all_times = frame[tcol].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"Column {tcol!r} of {where} must hold numeric spike times; {err}."
        raise ValueError(msg) from err
    units = frame[ucol].to_numpy()
    if frame[ucol].isna().any():
        msg = f"Column {ucol!r} of {where} has missing unit ids; fill or drop those rows."
        raise ValueError(msg)
    ids, inverse = np.unique(units, return_inverse=True)
    order = np.lexsort((all_times, inverse))  # by unit, then by time: row order carries no meaning
    counts = np.bincount(inverse, minlength=ids.size)
    times = np.split(all_times[order], np.cumsum(counts)[:-1])
    return times, [_python_scalar(u) for u in ids]
