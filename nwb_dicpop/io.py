"""Read spike trains from NWB (local, HTTP(S), DANDI), Neo and tables into :class:`SpikeTrains`.

One verb, :func:`read_spike_trains`, whatever the source; times always come out in seconds.
This is the package's reading boundary for files: pynwb/h5py and remote file access (fsspec,
remfile, the dandi client) are imported here and only when a source needs them.  Objects in
memory, table files and Neo files go through :func:`~nwb_dicpop.as_spike_trains` (Neo itself
is read by :func:`nwb_dicpop.statistics.read_neo_file`, the package's Neo boundary); NWB Units
tables are checked with the same :func:`~nwb_dicpop.containers.check_spike_times`.

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

from nwb_dicpop._remote import open_remote_file, probe_url, resolve_dandi_url, unreachable_error
from nwb_dicpop._tables import TimeUnitWarning, check_time_scale, read_table, to_seconds
from nwb_dicpop._units_table import (
    bulk_spike_times,
    epoch_span,
    intersect,
    obs_spans,
    recording_span,
    where_mask,
)
from nwb_dicpop.containers import (
    SpikeTrains,
    check_spike_times,
    check_window,
    clip_to_window,
    select_positions,
    spike_input_error,
)
from nwb_dicpop.statistics import as_spike_trains, read_neo_file

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
        * a 1-D array (one unit), a list of arrays, a dict ``{unit_id: times}`` or
          ``quantities`` arrays;
        * a :class:`SpikeTrains` or :class:`SimulationResult` (to select units or a window).

        Objects in memory, tables and Neo files go through :func:`~nwb_dicpop.as_spike_trains`:
        the same checks and messages as every other function that takes spike trains.
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
        CSV, whose format is in ms; the default is checked for plausibility
        (:class:`TimeUnitWarning`), a unit given here is trusted.  NWB, Neo and quantities
        carry their own units.
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
    TypeError
        ``source`` is none of the above.
    ValueError
        Unreadable or corrupt file, no Units table, unknown unit ids, columns or epochs,
        no spikes left, unsorted, non-finite or (arrays and tables without a ``window``)
        negative times, or an option the source cannot use.
    ConnectionError
        A URL could not be reached within ``timeout``.
    ImportError
        A ``dandi://`` reference without the dandi client installed.

    Warns
    -----
    TimeUnitWarning
        The inter-spike intervals are implausible in the assumed unit.

    Examples
    --------
    >>> import numpy as np
    >>> spikes = read_spike_trains([np.array([0.1, 0.5]), np.array([0.2])], window=(0.0, 1.0))
    >>> spikes.n_spikes.tolist()
    [2, 1]
    """
    window = check_window(window)
    if time_unit is not None:
        to_seconds(time_unit)
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, str) and text.lower().startswith(("http://", "https://")):
            _reject_segment(segment, "an NWB file")
            return _read_nwb_remote(text, text, unit_ids, where, window, epoch, sort, timeout, cache_dir)
        if isinstance(text, str) and text.lower().startswith(("dandi://", "dandi:")):
            _reject_segment(segment, "an NWB file")
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
    _reject_nwb_only(where, epoch, f"a {type(source).__name__}")
    spikes = as_spike_trains(
        source, unit_ids=unit_ids, window=window, time_unit=time_unit, sort=sort, segment=segment,
        unit_column=unit_column, time_column=time_column, input_name="source",
    )
    return _require_spikes(spikes, window)


# --------------------------------------------------------------------------- common helpers


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
        raise spike_input_error("segment", kind=kind)


def _require_spikes(spikes: SpikeTrains, window: tuple[float, float] | None) -> SpikeTrains:
    """Reading nothing is a mistake (a wrong selection or window): raise; log silent units."""
    if int(spikes.n_spikes.sum()) == 0:
        inside = f" inside the window {window}" if window is not None else ""
        raise spike_input_error("no_spikes", inside=inside, source=spikes.source)
    silent = [uid for uid, n in zip(spikes.unit_ids, spikes.n_spikes, strict=True) if n == 0]
    if silent:
        logger.info("Units without spikes in %s: %s", spikes.source, silent)
    return spikes


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
        _reject_segment(segment, "a table")
        spikes = as_spike_trains(
            read_table(path), unit_ids=unit_ids, window=window, time_unit=time_unit, sort=sort,
            unit_column=unit_column, time_column=time_column, source=str(path), input_name="source",
        )
        return _require_spikes(spikes, window)
    if time_unit is not None:
        raise spike_input_error("own_time_unit", kind=path.name)
    if suffix in _NWB_SUFFIXES or (suffix in _HDF5_SUFFIXES and _is_nwb(path)):
        _reject_segment(segment, "an NWB file")
        with _open_local_nwb(path) as nwbfile:
            return _from_nwbfile(nwbfile, str(path), unit_ids, where, window, epoch, sort)
    _reject_nwb_only(where, epoch, f"a {suffix or 'suffix-less'} file read by Neo")
    blocks = read_neo_file(path, other_formats=f"NWB (.nwb), tables ({', '.join(_TABLE_SUFFIXES)})")
    spikes = as_spike_trains(
        blocks, unit_ids=unit_ids, window=window, sort=sort, segment=segment, source=str(path), input_name="source"
    )
    return _require_spikes(spikes, window)


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
    if units is not None and len(units) == 0:
        msg = (
            f"{where_name} has a Units table with no units (0 rows), so there are no spikes to read. "
            "Check that spike sorting wrote its units to this file."
        )
        raise ValueError(msg)
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
        rows = np.array(select_positions(ids, unit_ids, where_name), dtype=np.int64)
        rows = rows[mask[rows]]
    else:
        rows = np.flatnonzero(mask)
    if rows.size == 0:
        msg = f"No unit of {where_name} satisfies where={dict(where or {})!r} (and unit_ids={unit_ids!r})."
        raise ValueError(msg)

    times = bulk_spike_times(units, rows)
    selected = [ids[r] for r in rows]
    times = check_spike_times(times, selected, where=f" in {where_name}", sort=sort)
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
    clipped, t_start, t_stop = clip_to_window(times, selected, t_start, t_stop, window, source=where_name)
    n_outside = sum(t.size for t in times) - sum(t.size for t in clipped)
    if obs_span is not None and window is None and n_outside:
        warnings.warn(
            f"{n_outside} spike(s) in {where_name} lie outside their unit's obs_intervals and were dropped.",
            UserWarning,
            stacklevel=5,
        )
    return _require_spikes(SpikeTrains(clipped, selected, t_start=t_start, t_stop=t_stop, source=where_name), window)


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
        raise unreachable_error(f"{name} (while streaming)", err, timeout) from err
    except OSError as err:
        msg = f"Streaming {name} failed; the remote file could not be read as HDF5 ({err})."
        raise ValueError(msg) from err
