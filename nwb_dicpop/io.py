"""Read spike trains from NWB (local, HTTP(S), DANDI), Neo and tables into :class:`SpikeTrains`.

One verb, :func:`read_spike_trains`, whatever the source; times always come out in seconds.
This is the package's reading boundary: pynwb/h5py, remote file access (fsspec, remfile,
the dandi client) and Neo are imported here and only when a source needs them.

See the tutorial ``tutorials/02_reading_nwb_and_annotating.md``.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop._remote import open_remote_file, probe_url, resolve_dandi_url
from nwb_dicpop._tables import (
    TimeUnitWarning,
    check_time_scale,
    read_table,
    spike_times_from_arrays,
    spike_times_from_long_table,
    spike_times_from_predecessor,
    to_seconds,
)
from nwb_dicpop._units_table import (
    bulk_spike_times,
    epoch_span,
    intersect,
    obs_spans,
    recording_span,
    where_mask,
)
from nwb_dicpop.containers import SpikeTrains

__all__ = ["TimeUnitWarning", "read_spike_trains"]

logger = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
_NWB_SUFFIXES = (".nwb",)
_HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def read_spike_trains(
    source: Any,
    *,
    unit_ids: Sequence[Any] | None = None,
    where: Mapping[str, Any] | None = None,
    window: tuple[float, float] | None = None,
    epoch: str | None = None,
    time_unit: str | None = None,
    unit_column: str | None = None,
    time_column: str | None = None,
    segment: int | None = None,
    sort: bool = False,
    timeout: float = 30.0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SpikeTrains:
    """Read spike trains from a file, a URL, a DANDI asset, Neo objects or arrays.

    Parameters
    ----------
    source : str, os.PathLike, neo object, DataFrame, array or SpikeTrains
        * a local ``.nwb`` file: its Units table (read in bulk: the flat ``spike_times`` and its
          index, not unit by unit);
        * an ``http(s)://`` URL of an NWB file, streamed lazily (range requests through an
          fsspec block cache, or remfile when fsspec is missing);
        * ``"dandi://<dandiset>/<version>/<path>"``, e.g.
          ``"dandi://000123/draft/sub-1/sub-1_ecephys.nwb"``, resolved to a URL with the dandi
          client (``pip install 'nwb_dicpop[dandi]'``);
        * a file Neo can read (``.nix`` and the other Neo formats), or a ``neo.SpikeTrain``, a
          list of them, a ``neo.Segment`` or a ``neo.Block``;
        * a table: the predecessor tool's CSV (columns ``ID`` and ``spiking_times``, a bracketed
          list in ms), or a CSV/TSV/Parquet file or DataFrame with one row per spike (a unit
          column and a time column);
        * a 1-D array (one unit), a list of arrays or a dict ``{unit_id: times}``;
        * a :class:`SpikeTrains` (to select units or a window).
    unit_ids : sequence, optional
        Units to keep, in this order (NWB: values of the Units ``id`` column).  Unknown ids
        raise with the closest existing ones.
    where : mapping of str to object, optional
        NWB only: filters on Units columns, all of which must hold, e.g. ``{"quality": "good"}``.
        A value may be a scalar (equality), a list/tuple/set (membership) or a callable that
        takes the column (ndarray, shape (n_units,)) and returns a boolean mask.
    window : (float, float), optional
        ``(t_start, t_stop)`` in seconds: keep spikes inside and set each unit's observation
        window to its intersection with this one.
    epoch : str, optional
        NWB only: the name of a TimeIntervals table in ``/intervals`` (e.g. a custom
        ``"baseline"`` table) or an epochs/intervals tag; its span becomes the window
        (intersected with ``window`` if both are given).
    time_unit : {"s", "ms"}, optional
        Unit of times in tables and arrays.  Default: ``"s"``, except for the predecessor
        CSV, whose format is in ms.  NWB and Neo carry their own units.
    unit_column, time_column : str, optional
        Column names of a long table (default: recognised names such as ``unit``/``unit_id``
        and ``time``/``spike_time``).
    segment : int, optional
        Neo only: which segment to read when the source has several.
    sort : bool
        Sort unsorted spike times instead of raising (rows of long tables are always sorted).
    timeout : float
        Remote sources: seconds to wait for a connection or a read before giving up.
    cache_dir : str or os.PathLike, optional
        Remote sources: a folder for an on-disk block cache kept between calls.

    Returns
    -------
    SpikeTrains
        Times in seconds; ``t_start``/``t_stop`` from the NWB ``obs_intervals`` when present,
        else the recording span (epochs, trials and intervals, and the spikes), intersected
        with ``window``/``epoch``; ``source`` names where they came from.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Unreadable or corrupt file, no Units table, unknown unit ids, columns or epochs,
        no spikes left, unsorted or non-finite times, or an option the source cannot use.
    ConnectionError
        A URL could not be reached within ``timeout``.
    ImportError
        A ``dandi://`` reference without the dandi client installed.

    Warns
    -----
    TimeUnitWarning
        The inter-spike intervals are implausible in the declared unit.

    Examples
    --------
    >>> import numpy as np
    >>> spikes = read_spike_trains([np.array([0.1, 0.5]), np.array([0.2])], window=(0.0, 1.0))
    >>> spikes.n_spikes.tolist()
    [2, 1]
    """
    window = _check_window(window)
    if time_unit is not None:
        to_seconds(time_unit)
    is_neo = type(source).__module__.split(".")[0] == "neo" or (
        isinstance(source, (list, tuple)) and bool(source) and type(source[0]).__module__.split(".")[0] == "neo"
    )
    is_path = isinstance(source, (str, os.PathLike))
    if not is_neo and not is_path:
        _reject_segment(segment, type(source).__name__)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, str) and text.lower().startswith(("http://", "https://")):
            _reject_segment(segment, "NWB files")
            return _read_nwb_remote(text, text, unit_ids, where, window, epoch, sort, timeout, cache_dir)
        if isinstance(text, str) and text.lower().startswith(("dandi://", "dandi:")):
            _reject_segment(segment, "NWB files")
            url = resolve_dandi_url(text, timeout=timeout)
            return _read_nwb_remote(url, text, unit_ids, where, window, epoch, sort, timeout, cache_dir)
        if isinstance(text, str) and "://" in text:
            scheme = text.split("://", 1)[0]
            msg = (
                f"`source` uses the unsupported scheme {scheme!r}://. Pass a local path, an "
                "http(s):// URL or a dandi://<dandiset>/<version>/<path> reference."
            )
            raise ValueError(msg)
        return _read_path(Path(text), unit_ids, where, window, epoch, time_unit, unit_column, time_column,
                          segment, sort)
    if isinstance(source, SpikeTrains):
        _reject_nwb_only(where, epoch, "a SpikeTrains")
        return _finish(list(source.times), list(source.unit_ids), source.t_start, source.t_stop,
                       source=source.source, unit_ids=unit_ids, window=window, sort=sort)
    if is_neo:
        _reject_nwb_only(where, epoch, "Neo objects")
        return _from_neo(source, "neo:" + type(source).__name__, unit_ids, window, segment, sort)
    if type(source).__name__ == "DataFrame":
        _reject_nwb_only(where, epoch, "a DataFrame")
        return _from_frame(source, "DataFrame", unit_ids, window, time_unit, unit_column, time_column, sort)
    if isinstance(source, (np.ndarray, list, tuple, Mapping)):
        _reject_nwb_only(where, epoch, "arrays")
        times, ids = spike_times_from_arrays(source)
        return _from_raw(times, ids, "array", time_unit or "s", unit_ids, window, sort)
    msg = (
        f"`source` must be a path, URL, dandi:// reference, Neo object, DataFrame, array or "
        f"SpikeTrains; got {type(source).__name__}."
    )
    raise TypeError(msg)


# --------------------------------------------------------------------------- common helpers


def _check_window(window: Any) -> tuple[float, float] | None:
    if window is None:
        return None
    try:
        start, stop = (float(v) for v in window)
    except (TypeError, ValueError) as err:
        msg = f"`window` must be (t_start, t_stop) in seconds; got {window!r}."
        raise ValueError(msg) from err
    if not (np.isfinite(start) and np.isfinite(stop)) or stop <= start:
        msg = f"`window` must be finite with t_stop > t_start (seconds); got {window!r}."
        raise ValueError(msg)
    return start, stop


def _reject_nwb_only(where: Any, epoch: Any, kind: str) -> None:
    if where is not None:
        msg = f"`where` filters Units-table columns of NWB files; it cannot be used with {kind}."
        raise ValueError(msg)
    if epoch is not None:
        msg = (
            f"`epoch` names an interval of an NWB file; it cannot be used with {kind}. Pass "
            "window=(t_start, t_stop) in seconds instead."
        )
        raise ValueError(msg)


def _reject_segment(segment: Any, kind: str) -> None:
    if segment is not None:
        msg = f"`segment` chooses a segment of a Neo source; {kind} have none. Use `window` instead."
        raise ValueError(msg)


def close_ids(key: Any, available: Sequence[Any], n: int = 3) -> list[Any]:
    """Ids of ``available`` that look like ``key``: similar text, else the numerically nearest."""
    names = {str(a): a for a in available}
    close = [names[c] for c in difflib.get_close_matches(str(key), list(names), n=n, cutoff=0.5)]
    if close:
        return close
    numeric = [a for a in available if isinstance(a, (int, np.integer)) and not isinstance(a, bool)]
    if isinstance(key, (int, np.integer)) and numeric:
        return sorted(numeric, key=lambda a: (abs(int(a) - int(key)), int(a)))[:n]
    return []


def _select_positions(available: Sequence[Any], requested: Sequence[Any], where: str) -> list[int]:
    if isinstance(requested, (str, bytes)) or not isinstance(requested, Sequence | np.ndarray):
        msg = f"`unit_ids` must be a sequence of ids, e.g. [0, 3]; got {requested!r}."
        raise TypeError(msg)
    lookup: dict[Any, int] = {}
    for i, uid in enumerate(available):
        lookup.setdefault(uid, i)
        lookup.setdefault(str(uid), i)
    positions = []
    for uid in requested:
        key = uid.item() if isinstance(uid, np.generic) else uid
        if key in lookup:
            positions.append(lookup[key])
            continue
        close = close_ids(key, available)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = list(available) if len(available) <= 20 else [*available[:20], "..."]
        msg = f"Unknown unit id {key!r} in {where}; available ids: {shown}.{hint}"
        raise ValueError(msg)
    return positions


def _finish(
    times: list[np.ndarray],
    ids: list[Any],
    t_start: Any,
    t_stop: Any,
    *,
    source: str,
    unit_ids: Sequence[Any] | None,
    window: tuple[float, float] | None,
    sort: bool,
    drop_outside_warning: bool = False,
) -> SpikeTrains:
    """Select units, check order and finiteness, clip to windows and build the container."""
    n = len(times)
    start = np.broadcast_to(np.asarray(t_start, dtype=np.float64), (n,)).copy()
    stop = np.broadcast_to(np.asarray(t_stop, dtype=np.float64), (n,)).copy()
    if unit_ids is not None:
        positions = _select_positions(ids, unit_ids, source)
        times = [times[p] for p in positions]
        ids = [ids[p] for p in positions]
        start, stop = start[positions], stop[positions]
    if not times:
        msg = f"No units to read from {source}."
        raise ValueError(msg)
    for k, (uid, unit_times) in enumerate(zip(ids, times, strict=True)):
        if not np.all(np.isfinite(unit_times)):
            msg = f"Spike times of unit {uid!r} in {source} contain NaN or infinite values."
            raise ValueError(msg)
        if unit_times.size > 1 and np.any(unit_times[1:] < unit_times[:-1]):
            if not sort:
                first = int(np.argmax(unit_times[1:] < unit_times[:-1]))
                msg = (
                    f"Spike times of unit {uid!r} in {source} are not sorted (they decrease after "
                    f"index {first}). Pass sort=True to sort them on reading."
                )
                raise ValueError(msg)
            times[k] = np.sort(unit_times)
    if window is not None:
        start = np.maximum(start, window[0])
        stop = np.minimum(stop, window[1])
    clipped = []
    n_outside = 0
    for unit_times, a, b in zip(times, start, stop, strict=True):
        first = int(np.searchsorted(unit_times, a, side="left"))
        last = int(np.searchsorted(unit_times, b, side="right"))
        inside = unit_times[first:last]  # sorted: a slice, not a copy
        n_outside += unit_times.size - inside.size
        clipped.append(inside)
    if drop_outside_warning and n_outside and window is None:
        warnings.warn(
            f"{n_outside} spike(s) in {source} lie outside their unit's obs_intervals and were dropped.",
            UserWarning,
            stacklevel=3,
        )
    if sum(t.size for t in clipped) == 0:
        where = f" inside the window {window}" if window is not None else ""
        msg = (
            f"No spikes{where} for the selected units of {source}; check `unit_ids`, `where`, "
            "`window` and `epoch`."
        )
        raise ValueError(msg)
    unobserved = [uid for uid, a, b in zip(ids, start, stop, strict=True) if b < a]
    if unobserved:
        warnings.warn(
            f"Units {unobserved} of {source} were not observed inside the requested window; they "
            "are kept with an empty window and no spikes.",
            UserWarning,
            stacklevel=3,
        )
        stop = np.maximum(stop, start)
    silent = [uid for uid, t in zip(ids, clipped, strict=True) if t.size == 0]
    if silent:
        logger.info("Units without spikes in %s: %s", source, silent)
    return SpikeTrains(clipped, ids, t_start=start, t_stop=stop, source=source)


def _from_raw(
    times: list[np.ndarray],
    ids: list[Any],
    source: str,
    time_unit: str,
    unit_ids: Sequence[Any] | None,
    window: tuple[float, float] | None,
    sort: bool,
) -> SpikeTrains:
    """Tables and arrays: convert to seconds; the window spans 0 (or the first spike) to the last."""
    check_time_scale(times, time_unit, source)
    factor = to_seconds(time_unit)
    seconds = [t * factor for t in times]
    if window is not None:  # tables and arrays carry no observation window: the window is it
        start, stop = window
    else:
        nonempty = [t for t in seconds if t.size]
        start = min(min((float(t.min()) for t in nonempty), default=0.0), 0.0)
        stop = max((float(t.max()) for t in nonempty), default=0.0)
    return _finish(seconds, ids, start, stop, source=source, unit_ids=unit_ids, window=window, sort=sort)


# --------------------------------------------------------------------------- local paths


def _read_path(
    path: Path,
    unit_ids: Sequence[Any] | None,
    where: Mapping[str, Any] | None,
    window: tuple[float, float] | None,
    epoch: str | None,
    time_unit: str | None,
    unit_column: str | None,
    time_column: str | None,
    segment: int | None,
    sort: bool,
) -> SpikeTrains:
    if not path.exists():
        parent = path.parent if str(path.parent) else Path()
        siblings = [p.name for p in parent.iterdir()] if parent.is_dir() else []
        close = difflib.get_close_matches(path.name, siblings, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(str(parent / c) for c in close)}?" if close else ""
        msg = f"`source` file {str(path)!r} does not exist.{hint}"
        raise FileNotFoundError(msg)
    suffix = path.suffix.lower()
    if suffix in _TABLE_SUFFIXES:
        _reject_nwb_only(where, epoch, f"a {suffix} table")
        _reject_segment(segment, "tables")
        frame = read_table(path)
        return _from_frame(frame, str(path), unit_ids, window, time_unit, unit_column, time_column, sort)
    if time_unit is not None:
        msg = f"`time_unit` applies to tables and arrays; {path.name} carries its own time unit."
        raise ValueError(msg)
    if suffix in _NWB_SUFFIXES or (suffix in _HDF5_SUFFIXES and _is_nwb(path)):
        _reject_segment(segment, "NWB files")
        with _open_local_nwb(path) as nwbfile:
            return _from_nwbfile(nwbfile, str(path), unit_ids, where, window, epoch, sort)
    _reject_nwb_only(where, epoch, f"a {suffix or 'suffix-less'} file read by Neo")
    return _from_neo_file(path, unit_ids, window, segment, sort)


def _is_nwb(path: Path) -> bool:
    import h5py

    if not h5py.is_hdf5(path):
        return False
    with contextlib.suppress(OSError), h5py.File(path, "r") as handle:
        return "nwb_version" in handle.attrs
    return False


@contextlib.contextmanager
def _open_local_nwb(path: Path) -> Iterator[Any]:
    import h5py

    if path.is_dir():
        msg = f"`source` {str(path)!r} is a folder; pass an .nwb file (HDF5). Zarr NWB is not supported."
        raise ValueError(msg)
    if not h5py.is_hdf5(path):
        msg = (
            f"`source` {str(path)!r} is not an HDF5 file, so it cannot be NWB (it may be truncated "
            "or another format). Check the file, or pass a table/Neo file with its own extension."
        )
        raise ValueError(msg)
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        msg = f"`source` {str(path)!r} could not be opened as HDF5; it is corrupt or truncated ({err})."
        raise ValueError(msg) from err
    with handle, _nwb_io(handle, str(path)) as nwbfile:
        yield nwbfile


@contextlib.contextmanager
def _nwb_io(handle: Any, where: str) -> Iterator[Any]:
    from pynwb import NWBHDF5IO

    if "nwb_version" not in handle.attrs:
        msg = f"{where} is an HDF5 file but not an NWB file (no 'nwb_version' attribute)."
        raise ValueError(msg)
    try:
        io = NWBHDF5IO(file=handle, mode="r", load_namespaces=True)
        nwbfile = io.read()
    except Exception as err:  # pynwb/hdmf raise many types on broken files
        msg = f"{where} could not be read as NWB; it may be corrupt or truncated ({type(err).__name__}: {err})."
        raise ValueError(msg) from err
    try:
        yield nwbfile
    finally:
        io.close()


# --------------------------------------------------------------------------- NWB Units


def _from_nwbfile(
    nwbfile: Any,
    where_name: str,
    unit_ids: Sequence[Any] | None,
    where: Mapping[str, Any] | None,
    window: tuple[float, float] | None,
    epoch: str | None,
    sort: bool,
) -> SpikeTrains:
    units = nwbfile.units
    if units is None or "spike_times" not in units.colnames:
        modules = sorted(nwbfile.processing)
        msg = (
            f"{where_name} has no Units table with spike_times, so there are no sorted spikes to "
            f"read (processing modules: {modules or 'none'}). Spike-sort the recording first, or "
            "read spike times from another source."
        )
        raise ValueError(msg)
    try:
        return _read_units(nwbfile, units, where_name, unit_ids, where, window, epoch, sort)
    except (OSError, KeyError, RuntimeError) as err:
        msg = f"Reading the Units table of {where_name} failed; the file may be corrupt ({err})."
        raise ValueError(msg) from err


def _read_units(
    nwbfile: Any,
    units: Any,
    where_name: str,
    unit_ids: Sequence[Any] | None,
    where: Mapping[str, Any] | None,
    window: tuple[float, float] | None,
    epoch: str | None,
    sort: bool,
) -> SpikeTrains:
    ids = [int(i) for i in np.asarray(units.id.data[:])]
    if not ids:
        msg = f"The Units table of {where_name} has no rows."
        raise ValueError(msg)
    mask = where_mask(units, where, len(ids), where_name) if where else np.ones(len(ids), dtype=bool)
    if unit_ids is not None:
        rows = np.array(_select_positions(ids, unit_ids, where_name), dtype=np.int64)
        rows = rows[mask[rows]]
    else:
        rows = np.flatnonzero(mask)
    if rows.size == 0:
        msg = f"No unit of {where_name} satisfies where={dict(where or {})!r} (and unit_ids={unit_ids!r})."
        raise ValueError(msg)

    times = bulk_spike_times(units, rows)
    check_time_scale(times, "s", where_name)

    if epoch is not None:
        window = intersect(window, epoch_span(nwbfile, epoch, where_name), epoch)
    obs_span = obs_spans(units, rows)
    if obs_span is not None:
        t_start, t_stop = obs_span
    else:
        span_start, span_stop = recording_span(nwbfile)
        first = min((float(t[0]) for t in times if t.size), default=0.0)
        last = max((float(t[-1]) for t in times if t.size), default=0.0)
        t_start = min(0.0, first) if span_start is None else min(span_start, first)
        t_stop = last if span_stop is None else max(span_stop, last)
    return _finish(
        times,
        [ids[r] for r in rows],
        t_start,
        t_stop,
        source=where_name,
        unit_ids=None,
        window=window,
        sort=sort,
        drop_outside_warning=obs_span is not None,
    )


# --------------------------------------------------------------------------- remote NWB


def _read_nwb_remote(
    url: str,
    name: str,
    unit_ids: Sequence[Any] | None,
    where: Mapping[str, Any] | None,
    window: tuple[float, float] | None,
    epoch: str | None,
    sort: bool,
    timeout: float,
    cache_dir: str | os.PathLike[str] | None,
) -> SpikeTrains:
    import h5py

    if not (isinstance(timeout, (int, float)) and timeout > 0):
        msg = f"`timeout` must be a positive number of seconds; got {timeout!r}."
        raise ValueError(msg)
    probe_url(url, timeout)
    try:
        with (
            open_remote_file(url, timeout, cache_dir) as remote,
            h5py.File(remote, "r") as handle,
            _nwb_io(handle, name) as nwbfile,
        ):
            return _from_nwbfile(nwbfile, name, unit_ids, where, window, epoch, sort)
    except (TimeoutError, ConnectionError) as err:
        msg = f"Streaming {name} failed: the server stopped answering within {timeout} s ({err})."
        raise ConnectionError(msg) from err
    except OSError as err:
        msg = f"Streaming {name} failed; the remote file could not be read as HDF5 ({err})."
        raise ValueError(msg) from err


# --------------------------------------------------------------------------- Neo and tables


def _neo_ids(trains: Sequence[Any]) -> list[Any]:
    names = [st.name for st in trains]
    if all(isinstance(n, str) and n for n in names) and len(set(names)) == len(names):
        return names
    annotated = [st.annotations.get("unit_id", st.annotations.get("id")) for st in trains]
    if all(a is not None for a in annotated) and len(set(map(str, annotated))) == len(annotated):
        return [a.item() if isinstance(a, np.generic) else a for a in annotated]
    return list(range(len(trains)))


def _from_neo(
    source: Any,
    where_name: str,
    unit_ids: Sequence[Any] | None,
    window: tuple[float, float] | None,
    segment: int | None,
    sort: bool,
) -> SpikeTrains:
    import neo

    items = list(source) if isinstance(source, (list, tuple)) else [source]
    if all(isinstance(item, neo.SpikeTrain) for item in items):
        trains = items
    else:
        segments = []
        for item in items:
            if isinstance(item, neo.Block):
                segments += list(item.segments)
            elif isinstance(item, neo.Segment):
                segments.append(item)
            else:
                msg = (
                    "Neo sources must be SpikeTrain(s), Segment(s) or Block(s); got "
                    f"{type(item).__name__}."
                )
                raise TypeError(msg)
        with_spikes = [k for k, seg in enumerate(segments) if len(seg.spiketrains)]
        if segment is None:
            if len(with_spikes) != 1:
                msg = (
                    f"{where_name} has {len(with_spikes)} segments with spike trains (of "
                    f"{len(segments)}); pass segment=<index> to choose one."
                )
                raise ValueError(msg)
            segment = with_spikes[0]
        if not 0 <= segment < len(segments):
            msg = f"`segment` must be in 0..{len(segments) - 1}; got {segment!r}."
            raise ValueError(msg)
        trains = list(segments[segment].spiketrains)
    if not trains:
        msg = f"{where_name} contains no spike trains."
        raise ValueError(msg)
    times = [np.asarray(st.times.rescale("s").magnitude, dtype=np.float64).ravel() for st in trains]
    t_start = [float(st.t_start.rescale("s").magnitude) for st in trains]
    t_stop = [float(st.t_stop.rescale("s").magnitude) for st in trains]
    check_time_scale(times, "s", where_name)
    return _finish(times, _neo_ids(trains), t_start, t_stop, source=where_name, unit_ids=unit_ids,
                   window=window, sort=sort)


def _from_neo_file(
    path: Path, unit_ids: Sequence[Any] | None, window: tuple[float, float] | None, segment: int | None, sort: bool
) -> SpikeTrains:
    import neo

    try:
        if path.suffix.lower() == ".nix":
            reader: Any = neo.io.NixIO(os.fspath(path), mode="ro")
        else:
            reader = neo.io.get_io(os.fspath(path))
    except (OSError, ImportError, IndexError, KeyError, ValueError) as err:
        msg = (
            f"`source` {str(path)!r} is not a format nwb_dicpop can read: NWB (.nwb), tables "
            f"({', '.join(_TABLE_SUFFIXES)}) or a file Neo reads ({type(err).__name__}: {err})."
        )
        raise ValueError(msg) from err
    try:
        blocks = reader.read_all_blocks() if hasattr(reader, "read_all_blocks") else [reader.read_block()]
    except Exception as err:  # each Neo IO raises its own types on bad files
        msg = f"Neo ({type(reader).__name__}) could not read {str(path)!r}: {type(err).__name__}: {err}"
        raise ValueError(msg) from err
    finally:
        with contextlib.suppress(Exception):
            reader.close()
    return _from_neo(blocks, str(path), unit_ids, window, segment, sort)


def _from_frame(
    frame: Any,
    where_name: str,
    unit_ids: Sequence[Any] | None,
    window: tuple[float, float] | None,
    time_unit: str | None,
    unit_column: str | None,
    time_column: str | None,
    sort: bool,
) -> SpikeTrains:
    columns = {str(c) for c in frame.columns}
    predecessor = {"ID", "spiking_times"} <= columns and unit_column is None and time_column is None
    if predecessor:
        times, ids = spike_times_from_predecessor(frame, where_name)
        unit = time_unit or "ms"
    else:
        times, ids = spike_times_from_long_table(
            frame, unit_column=unit_column, time_column=time_column, where=where_name
        )
        unit = time_unit or "s"
    return _from_raw(times, ids, where_name, unit, unit_ids, window, sort)

