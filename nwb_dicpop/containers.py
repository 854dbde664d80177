"""The data that flows between the stages: frozen dataclasses of numpy arrays.

readers -> :class:`SpikeTrains` -> inference -> :class:`DICEstimate` -> compensation ->
:class:`Population` -> simulation -> :class:`SimulationResult` -> NWB writer.

Units are fixed (see :mod:`nwb_dicpop.units`): times in seconds, voltages in mV, maximal
conductances in mS/cm^2, DICs dimensionless (normalised by the leak conductance).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.units import CONDUCTANCE_UNIT, TIME_UNIT, VOLTAGE_UNIT

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DICEstimate",
    "Population",
    "SimulationResult",
    "SpikeTrains",
    "as_time_array",
    "check_spike_times",
    "check_window",
    "clip_to_window",
    "close_ids",
    "select_positions",
    "spike_input_error",
]

DIC_NAMES = ("g_f", "g_s", "g_u")


def _frozen(array: Any, dtype: Any = np.float64) -> np.ndarray:
    out = np.array(array, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


def _per_unit(name: str, value: Any, n: int, dtype: Any = np.float64) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    if array.ndim == 0:
        array = np.full(n, array, dtype=dtype)
    if array.shape != (n,):
        msg = f"`{name}` must be a scalar or have one entry per unit ({n}); got shape {array.shape}."
        raise ValueError(msg)
    return _frozen(array, dtype)


# ------------------------------------------------------------------ spike-train input checks
# Every message about spike-train input, whichever public function receives it: the SpikeTrains
# constructor, nwb_dicpop.statistics.as_spike_trains (the front door that read_spike_trains,
# compute_spike_statistics, infer_dics, validate_population and the mocks call) and the NWB
# reader.  ``{name}`` is the parameter, ``{unit}`` a unit id, ``{where}`` " in <source>" or "".
_MESSAGES = {
    "wrong_type": (
        "`{name}` must be spike trains: a SpikeTrains, a 1-D array of spike times in seconds, a "
        "list or dict {{unit_id: times}} of such arrays, neo.SpikeTrain object(s), a neo.Segment "
        "or neo.Block, a quantities array, or a table (DataFrame) with unit and time columns; got "
        "{kind}. Files, URLs and dandi:// references are read by nwb_dicpop.read_spike_trains."
    ),
    "empty": (
        "`{name}` is empty: it contains no spike trains. Pass at least one (an empty array is a "
        "unit without spikes)."
    ),
    "mixed": (
        "`{name}` mixes {kinds}; pass one kind (all Neo objects, all quantities arrays or all "
        "plain arrays of seconds)."
    ),
    "own_time_unit": (
        "`time_unit` applies to plain arrays and tables; {kind} carries its own time unit. Leave "
        "time_unit=None."
    ),
    "segment": "`segment` chooses a segment of a Neo source; {kind} has none. Use `window` instead.",
    "columns": "`unit_column` and `time_column` name columns of a table; {kind} has none.",
    "not_numeric": "Spike times of unit {unit!r}{where} must be numbers (seconds); got {kind}: {value}.",
    "not_1d": (
        "Spike times of unit {unit!r}{where} must be 1-D, one array per unit; got shape {shape}. "
        "Pass a list of 1-D arrays (or a table with unit and time columns)."
    ),
    "not_finite": "Spike times of unit {unit!r}{where} contain {count} NaN or infinite value(s); remove them.",
    "unsorted": (
        "Spike times of unit {unit!r}{where} are not sorted (they decrease after index {index}). "
        "Sort them with np.sort, or pass sort=True to read_spike_trains or as_spike_trains."
    ),
    "negative": (
        "Spike times of unit {unit!r}{where} are negative (first spike {first:.6g} s); spike times "
        "are seconds from the start of the recording (>= 0). If they count from another origin, "
        "shift them, or pass window=(start, stop) covering them (read_spike_trains, as_spike_trains)."
    ),
    "outside_window": (
        "Unit {unit!r}{where}: spikes outside [t_start, t_stop] = [{start}, {stop}] s; widen the "
        "window or clip the spikes."
    ),
    "not_time": "Spike times of unit {unit!r}{where} must be in a unit of time; got {dimensionality}.",
    "reversed_window": "Unit {unit!r}{where}: t_stop ({stop}) is before t_start ({start}).",
    "no_spikes": (
        "No spikes{inside} for the selected units of {source}; check `unit_ids`, `where`, `window` "
        "and `epoch`."
    ),
    "window": "`window` must be (t_start, t_stop) in seconds, finite, with t_stop > t_start; got {value!r}.",
    "unit_ids_type": "`unit_ids` must be a sequence of ids, e.g. [0, 3]; got {value!r}.",
    "unknown_unit": "Unknown unit id {unit!r} in {source}; available ids: {available}.{hint}",
    "neo_type": (
        "Neo inputs must be neo.SpikeTrain object(s), or neo.Segment(s) and neo.Block(s), not a mix; "
        "got {kind}."
    ),
    "neo_segments": (
        "{source} has {n_with_spikes} segments with spike trains (of {n_segments}); pass "
        "segment=<index> to choose one."
    ),
    "segment_range": "`segment` must be in 0..{last}; got {value!r}.",
}
_TYPE_ERRORS = frozenset({"mixed", "neo_type", "not_numeric", "unit_ids_type", "wrong_type"})
"""Problems raised as TypeError; the others are ValueError."""


def spike_input_error(problem: str, **fields: Any) -> Exception:
    """The exception, with its message, for one problem with spike-train input.

    All messages about spike trains passed to the package are written here, so that the same
    mistake reads the same whichever public function receives it.

    Parameters
    ----------
    problem : str
        A key of the message table: ``"wrong_type"``, ``"empty"``, ``"mixed"``,
        ``"own_time_unit"``, ``"segment"``, ``"columns"``, ``"not_numeric"``, ``"not_1d"``,
        ``"not_finite"``, ``"unsorted"``, ``"negative"``, ``"not_time"``, ``"outside_window"``,
        ``"reversed_window"``, ``"no_spikes"``, ``"window"``, ``"unit_ids_type"``,
        ``"unknown_unit"``, ``"neo_type"``, ``"neo_segments"``, ``"segment_range"``.
    **fields
        The values the message names (``name``, ``unit``, ``where``, ...).

    Returns
    -------
    TypeError or ValueError
        To be raised by the caller.
    """
    kind = TypeError if problem in _TYPE_ERRORS else ValueError
    return kind(_MESSAGES[problem].format(**{"where": "", "hint": "", **fields}))


def check_window(window: Any) -> tuple[float, float] | None:
    """``window`` as ``(t_start, t_stop)`` floats in seconds (None stays None), or raise."""
    if window is None:
        return None
    try:
        start, stop = (float(v) for v in window)
    except (TypeError, ValueError) as err:
        raise spike_input_error("window", value=window) from err
    if not (np.isfinite(start) and np.isfinite(stop)) or stop <= start:
        raise spike_input_error("window", value=window)
    return start, stop


def clip_to_window(
    trains: Sequence[np.ndarray],
    unit_ids: Sequence[Any],
    t_start: Any,
    t_stop: Any,
    window: tuple[float, float] | None = None,
    *,
    source: str = "",
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Intersect each unit's window with ``window`` and keep the spikes inside it.

    Parameters
    ----------
    trains : sequence of ndarray of float
        Sorted spike times of each unit in seconds.
    unit_ids : sequence
        Id of each unit (named in the warning).
    t_start, t_stop : float or array of float, shape (n_units,)
        Each unit's observation window in seconds.
    window : (float, float), optional
        ``(t_start, t_stop)`` to intersect with; None keeps the units' windows.
    source : str
        Where the trains come from, named in the warning.

    Returns
    -------
    trains : list of ndarray
        The spikes inside each unit's (new) window: slices, not copies.
    t_start, t_stop : ndarray of float, shape (n_units,)
        The windows; a unit not observed inside ``window`` gets the empty window
        ``[t_start, t_start]`` (with a warning).

    Raises
    ------
    ValueError
        ``window`` leaves no spike at all (a wrong window or selection).
    """
    n = len(trains)
    start = np.broadcast_to(np.asarray(t_start, dtype=np.float64), (n,)).copy()
    stop = np.broadcast_to(np.asarray(t_stop, dtype=np.float64), (n,)).copy()
    if window is not None:
        start = np.maximum(start, window[0])
        stop = np.minimum(stop, window[1])
    clipped = []
    for unit_times, a, b in zip(trains, start, stop, strict=True):
        first = int(np.searchsorted(unit_times, a, side="left"))
        last = int(np.searchsorted(unit_times, b, side="right"))
        clipped.append(unit_times[first:max(first, last)])
    if window is not None and not any(t.size for t in clipped):
        raise spike_input_error("no_spikes", inside=f" inside the window {window}", source=source)
    unobserved = [uid for uid, a, b in zip(unit_ids, start, stop, strict=True) if b < a]
    if unobserved:
        warnings.warn(
            f"Units {unobserved} of {source} were not observed inside the requested window; they "
            "are kept with an empty window and no spikes.",
            UserWarning,
            stacklevel=3,
        )
        stop = np.maximum(stop, start)
    return clipped, start, stop


def as_time_array(values: Any, unit: Any, *, where: str = "") -> np.ndarray:
    """``values`` as a 1-D float64 array (no copy when already one), or raise naming ``unit``.

    Parameters
    ----------
    values : array-like
        Spike times of one unit.
    unit : object
        The unit's id, named in the message.
    where : str
        ``" in <source>"`` or ``""``, appended to the unit in the message.

    Returns
    -------
    ndarray of float64, shape (n_spikes,)
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise spike_input_error(
            "not_numeric", unit=unit, where=where, kind=type(values).__name__, value=f"{values!r:.60}"
        ) from err
    if array.ndim != 1:
        raise spike_input_error("not_1d", unit=unit, where=where, shape=array.shape)
    return array


def check_spike_times(
    trains: Sequence[np.ndarray], unit_ids: Sequence[Any], *, where: str = "", sort: bool = False
) -> list[np.ndarray]:
    """Check that every train is finite and sorted; sort the unsorted ones when ``sort``.

    The checks run once over all trains together (fast for many units); the message names
    the first offending unit.

    Parameters
    ----------
    trains : sequence of ndarray of float64, each shape (n_spikes,)
        Spike times of each unit (see :func:`as_time_array`).
    unit_ids : sequence
        Id of each unit, named in the messages.
    where : str
        ``" in <source>"`` or ``""``.
    sort : bool
        Sort unsorted trains (a sorted copy) instead of raising.

    Returns
    -------
    list of ndarray
        The trains, the unsorted ones replaced by sorted copies.

    Raises
    ------
    ValueError
        NaN or infinite times, or unsorted times when ``sort`` is False.
    """
    trains = list(trains)
    sizes = np.fromiter((t.size for t in trains), dtype=np.int64, count=len(trains))
    total = int(sizes.sum())
    if total == 0:
        return trains
    ends = np.cumsum(sizes)
    flat = np.concatenate(trains)
    finite = np.isfinite(flat)
    if not finite.all():
        k = int(np.searchsorted(ends, int(np.argmin(finite)), side="right"))
        count = int(sizes[k] - np.count_nonzero(np.isfinite(trains[k])))
        raise spike_input_error("not_finite", unit=unit_ids[k], where=where, count=count)
    drops = np.flatnonzero(flat[1:] < flat[:-1])  # flat[i + 1] < flat[i]
    if drops.size:
        owner = np.searchsorted(ends, drops, side="right")
        inside = owner == np.searchsorted(ends, drops + 1, side="right")  # not across two units
        drops, owner = drops[inside], owner[inside]
    if drops.size:
        if not sort:
            k = int(owner[0])
            index = int(drops[0] - (ends[k] - sizes[k]))
            raise spike_input_error("unsorted", unit=unit_ids[k], where=where, index=index)
        for k in np.unique(owner):
            trains[k] = np.sort(trains[k])
    return trains


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


def select_positions(available: Sequence[Any], requested: Any, source: str) -> list[int]:
    """Positions in ``available`` of the ``requested`` unit ids, in the requested order.

    An id matches itself or its text (``"3"`` finds ``3``); numpy scalars match their Python
    value.  Unknown ids raise with the closest existing ones.

    Parameters
    ----------
    available : sequence
        Unit ids present.
    requested : sequence
        Unit ids wanted.
    source : str
        Where the units come from, named in the message.

    Returns
    -------
    list of int
    """
    if isinstance(requested, (str, bytes)) or not isinstance(requested, Sequence | np.ndarray):
        raise spike_input_error("unit_ids_type", value=requested)
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
        raise spike_input_error("unknown_unit", unit=key, source=source, available=shown, hint=hint)
    return positions


@dataclass(frozen=True, slots=True)
class SpikeTrains:
    """Spike trains of several units, in seconds.

    Attributes
    ----------
    times : tuple of ndarray of float, each shape (n_spikes,)
        Sorted spike times in seconds, one array per unit.
    unit_ids : tuple
        Identifier of each unit (NWB Units ids, Neo names, CSV ids).
    t_start, t_stop : ndarray of float, shape (n_units,)
        Observation window of each unit in seconds.
    source : str
        Where the trains came from (path, URL, "mock", ...).
    """

    times: tuple[np.ndarray, ...]
    unit_ids: tuple[Any, ...]
    t_start: np.ndarray
    t_stop: np.ndarray
    source: str = ""

    def __init__(
        self,
        times: Sequence[Any],
        unit_ids: Sequence[Any] | None = None,
        *,
        t_start: Any = None,
        t_stop: Any = None,
        source: str = "",
    ) -> None:
        if isinstance(times, np.ndarray) and times.dtype != object and times.ndim == 1:
            msg = (
                "`times` must be a sequence of spike-time arrays, one per unit; got a single "
                "1-D array. Wrap it in a list: SpikeTrains([times])."
            )
            raise TypeError(msg)
        ids = tuple(range(len(times))) if unit_ids is None else tuple(unit_ids)
        if len(ids) != len(times):
            msg = f"`unit_ids` has {len(ids)} entries but `times` has {len(times)} units."
            raise ValueError(msg)
        if len(set(ids)) != len(ids):
            msg = "`unit_ids` contains duplicates; every unit needs its own id."
            raise ValueError(msg)
        checked = check_spike_times([as_time_array(t, uid) for uid, t in zip(ids, times, strict=True)], ids)
        arrays = tuple(_frozen(a) for a in checked)
        n = len(arrays)
        first = np.array([a[0] if a.size else np.nan for a in arrays])
        last = np.array([a[-1] if a.size else np.nan for a in arrays])
        start = np.where(np.isfinite(first), np.minimum(first, 0.0), 0.0) if t_start is None else t_start
        stop = np.where(np.isfinite(last), last, 0.0) if t_stop is None else t_stop
        start_a = _per_unit("t_start", start, n)
        stop_a = _per_unit("t_stop", stop, n)
        reversed_window = np.flatnonzero(stop_a < start_a)
        if reversed_window.size:
            i = reversed_window[0]
            raise spike_input_error("reversed_window", unit=ids[i], start=start_a[i], stop=stop_a[i])
        with np.errstate(invalid="ignore"):  # the NaN first/last of empty trains compare False
            outside = np.flatnonzero((first < start_a - 1e-12) | (last > stop_a + 1e-12))
        if outside.size:
            i = outside[0]
            raise spike_input_error("outside_window", unit=ids[i], start=start_a[i], stop=stop_a[i])
        object.__setattr__(self, "times", arrays)
        object.__setattr__(self, "unit_ids", ids)
        object.__setattr__(self, "t_start", start_a)
        object.__setattr__(self, "t_stop", stop_a)
        object.__setattr__(self, "source", str(source))

    def __len__(self) -> int:
        return len(self.times)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.times)

    @property
    def n_spikes(self) -> np.ndarray:
        """Number of spikes of each unit, shape (n_units,)."""
        return np.array([t.size for t in self.times], dtype=np.int64)

    @property
    def duration(self) -> np.ndarray:
        """Observation window length of each unit in seconds."""
        return self.t_stop - self.t_start

    def select(self, unit_ids: Sequence[Any]) -> SpikeTrains:
        """A new container with only ``unit_ids`` (in the given order)."""
        positions = select_positions(self.unit_ids, unit_ids, self.source or "these spike trains")
        return SpikeTrains(
            [self.times[p] for p in positions],
            [self.unit_ids[p] for p in positions],
            t_start=self.t_start[positions],
            t_stop=self.t_stop[positions],
            source=self.source,
        )

    def __repr__(self) -> str:
        spikes = self.n_spikes
        total = int(spikes.sum())
        return (
            f"SpikeTrains({self.n_units} units, {total} spikes, "
            f"times in {TIME_UNIT}, source={self.source!r})"
        )


@dataclass(frozen=True, slots=True)
class DICEstimate:
    """DICs inferred from spike trains, one row per unit.

    Attributes
    ----------
    unit_ids : tuple
    model_name : str
    threshold : float
        ``V_th`` (mV) at which the DICs are defined.
    g_s, g_u : ndarray of float, shape (n_units,)
        Predicted slow and ultraslow DICs (dimensionless; the network's point estimate); NaN
        where ``status`` is not "ok".
    g_s_std, g_u_std : ndarray of float, shape (n_units,)
        One-sigma uncertainty of ``g_s`` and ``g_u``: the marginal standard deviations of the
        joint posterior where the estimate has one (:attr:`has_posterior`), else the sigmas of
        independent Gaussians around ``g_s``, ``g_u``.
    network_class : tuple of str
        The network's class of each train: "spiking", "bursting", or "silent" (fewer than 3
        spikes: no estimate).  It can differ from the train's ``firing_class`` by the ISI-CV
        rule of :func:`~nwb_dicpop.compute_spike_statistics` on borderline trains (see
        ``docs/method.md``, "Two firing classes").  Called ``firing_class`` before; that name
        is still accepted, with a DeprecationWarning.
    out_of_distribution : ndarray of bool, shape (n_units,)
        True where the train lies outside the network's training support.
    status : tuple of str
        "ok" or the reason no estimate was made ("silent", "too few spikes", ...).
    network_version : str
    g_f : ndarray of float, shape (n_units,)
        Fast DIC when known: inferred by networks with a posterior head (``stg-v4``,
        ``da-v3``); NaN otherwise.
    n_spikes_used : ndarray of int, shape (n_units,)
        Spikes of each train the estimate is based on (trains longer than the network's
        ``max_spikes`` are cut to their first spikes); -1 when unknown.
    g_f_std : ndarray of float, shape (n_units,)
        One-sigma uncertainty of ``g_f`` (NaN when unknown).
    posterior_weights : ndarray of float, shape (n_units, K)
        The joint posterior of ``(g_s, g_u)`` per unit: a mixture of ``K`` Gaussians with full
        covariances in the logit space of the box ``posterior_support``
        (``z = logit((g - low) / (high - low))`` per DIC; see
        :mod:`nwb_dicpop.inference.posterior`).  Component weights; ``K = 0`` (shape
        (n_units, 0)) when the estimate has no joint posterior; NaN rows for units without
        an estimate.
    posterior_means : ndarray of float, shape (n_units, K, 2)
        Component means in logit space.
    posterior_scale_tril : ndarray of float, shape (n_units, K, 2, 2)
        Lower Cholesky factors of the component covariances in logit space.
    posterior_support : tuple of (float, float), or None
        ``((g_s_low, g_s_high), (g_u_low, g_u_high))``: the box the posterior lives in (the
        network's training targets); None without a joint posterior.

    Notes
    -----
    :meth:`sample` draws from the joint posterior; an estimate without one (networks before
    ``stg-v4`` / ``da-v3``, or built by hand) draws from independent Gaussians
    ``N(g_s, g_s_std^2)``, ``N(g_u, g_u_std^2)`` instead.
    """

    unit_ids: tuple[Any, ...]
    model_name: str
    threshold: float
    g_s: np.ndarray
    g_u: np.ndarray
    g_s_std: np.ndarray
    g_u_std: np.ndarray
    network_class: tuple[str, ...]
    out_of_distribution: np.ndarray
    status: tuple[str, ...]
    network_version: str = ""
    g_f: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_spikes_used: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    g_f_std: np.ndarray = field(default_factory=lambda: np.zeros(0))
    posterior_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    posterior_means: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2)))
    posterior_scale_tril: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 2, 2)))
    posterior_support: tuple[tuple[float, float], tuple[float, float]] | None = None

    def __post_init__(self) -> None:
        n = len(self.unit_ids)
        object.__setattr__(self, "unit_ids", tuple(self.unit_ids))
        for name in ("g_s", "g_u", "g_s_std", "g_u_std"):
            object.__setattr__(self, name, _per_unit(name, getattr(self, name), n))
        g_f = self.g_f if np.size(self.g_f) else np.full(n, np.nan)
        object.__setattr__(self, "g_f", _per_unit("g_f", g_f, n))
        used = self.n_spikes_used if np.size(self.n_spikes_used) else np.full(n, -1)
        object.__setattr__(self, "n_spikes_used", _per_unit("n_spikes_used", used, n, np.int64))
        g_f_std = self.g_f_std if np.size(self.g_f_std) else np.full(n, np.nan)
        object.__setattr__(self, "g_f_std", _per_unit("g_f_std", g_f_std, n))
        self._check_posterior(n)
        object.__setattr__(
            self, "out_of_distribution", _per_unit("out_of_distribution", self.out_of_distribution, n, bool)
        )
        for name in ("network_class", "status"):
            values = tuple(str(v) for v in getattr(self, name))
            if len(values) != n:
                msg = f"`{name}` must have one entry per unit ({n}); got {len(values)}."
                raise ValueError(msg)
            object.__setattr__(self, name, values)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    def _check_posterior(self, n: int) -> None:
        weights = np.asarray(self.posterior_weights, dtype=np.float64)
        if weights.size == 0 and weights.shape[0] in (0, n) and self.posterior_support is None:
            k = 0
            means, tril = np.zeros((n, 0, 2)), np.zeros((n, 0, 2, 2))
            weights = np.zeros((n, 0))
        else:
            k = weights.shape[1] if weights.ndim == 2 else -1
            means = np.asarray(self.posterior_means, dtype=np.float64)
            tril = np.asarray(self.posterior_scale_tril, dtype=np.float64)
            if weights.shape != (n, k) or means.shape != (n, k, 2) or tril.shape != (n, k, 2, 2) or k < 1:
                msg = (
                    f"The posterior parameters must have shapes (n_units, K), (n_units, K, 2), (n_units, K, 2, 2) "
                    f"with n_units={n}, K >= 1; got {weights.shape}, {means.shape}, {tril.shape}."
                )
                raise ValueError(msg)
            support = np.asarray(self.posterior_support, dtype=np.float64) if self.posterior_support is not None \
                else np.zeros(0)
            if support.shape != (2, 2) or not np.all(np.isfinite(support)) or np.any(support[:, 1] <= support[:, 0]):
                msg = (f"`posterior_support` must be ((g_s_low, g_s_high), (g_u_low, g_u_high)) with low < high; "
                       f"got {self.posterior_support!r}.")
                raise ValueError(msg)
            object.__setattr__(self, "posterior_support", tuple((float(lo), float(hi)) for lo, hi in support))
        object.__setattr__(self, "posterior_weights", _frozen(weights))
        object.__setattr__(self, "posterior_means", _frozen(means))
        object.__setattr__(self, "posterior_scale_tril", _frozen(tril))

    @property
    def firing_class(self) -> tuple[str, ...]:
        """Deprecated name of :attr:`network_class` (the network's class, not the ISI-CV rule's)."""
        warnings.warn(_OLD_CLASS_NAME, DeprecationWarning, stacklevel=2)
        return self.network_class

    @property
    def ok(self) -> np.ndarray:
        """Mask of units with a usable estimate."""
        return np.array([s == "ok" for s in self.status], dtype=bool)

    @property
    def has_posterior(self) -> bool:
        """True when the estimate carries a joint posterior (a mixture per unit)."""
        return self.posterior_weights.shape[1] > 0

    def _posterior_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Rows drawn from the mixture and rows drawn from independent Gaussians."""
        point = np.isfinite(self.g_s) & np.isfinite(self.g_u) & self.ok
        if not self.has_posterior:
            gaussian = point & np.isfinite(self.g_s_std) & np.isfinite(self.g_u_std)
            return np.zeros(self.n_units, dtype=bool), gaussian
        finite = (np.isfinite(self.posterior_weights).all(axis=1) & np.isfinite(self.posterior_means).all(axis=(1, 2))
                  & np.isfinite(self.posterior_scale_tril).all(axis=(1, 2, 3)))
        return point & finite, np.zeros(self.n_units, dtype=bool)

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        """Draws of ``(g_s, g_u)`` from each unit's posterior.

        Parameters
        ----------
        n : int
            Draws per unit.
        rng : None, int or numpy.random.Generator
            Same seed, same draws.

        Returns
        -------
        ndarray of float, shape (n_units, n, 2)
            ``[..., 0]`` is ``g_s``, ``[..., 1]`` is ``g_u``.  From the joint posterior (inside
            ``posterior_support``) when the estimate has one; otherwise from independent
            Gaussians ``N(g_s, g_s_std^2)``, ``N(g_u, g_u_std^2)`` (unbounded).  NaN for units
            without an estimate (``status`` not "ok", e.g. silent trains).

        Examples
        --------
        >>> import numpy as np, nwb_dicpop as ndp
        >>> est = ndp.infer_dics([np.arange(0.0, 3.0, 0.1)], model="stg")  # doctest: +SKIP
        >>> est.sample(500, rng=0).shape  # doctest: +SKIP
        (1, 500, 2)
        """
        from nwb_dicpop._validation import check_positive, normalize_rng
        from nwb_dicpop.inference.posterior import gaussian_draws, mixture_draws

        check_positive("n", n, integer=True)
        generator = normalize_rng(rng)
        out = np.full((self.n_units, int(n), 2), np.nan)
        mixture, gaussian = self._posterior_rows()
        if mixture.any():
            out[mixture] = mixture_draws(
                self.posterior_weights[mixture], self.posterior_means[mixture], self.posterior_scale_tril[mixture],
                np.asarray(self.posterior_support), int(n), generator,
            )
        if gaussian.any():
            mean = np.stack([self.g_s, self.g_u], axis=1)[gaussian]
            std = np.stack([self.g_s_std, self.g_u_std], axis=1)[gaussian]
            out[gaussian] = gaussian_draws(mean, std, int(n), generator)
        return out

    def interval(self, level: float = 0.9) -> np.ndarray:
        """Central marginal credible intervals of ``g_s`` and ``g_u``.

        Parameters
        ----------
        level : float
            Probability mass inside each interval, in (0, 1).

        Returns
        -------
        ndarray of float, shape (n_units, 2, 2)
            ``[unit, dic, (low, high)]`` with ``dic`` 0 for ``g_s`` and 1 for ``g_u``: exact
            quantiles of the joint posterior's marginals, or ``mean -+ z * std`` for
            independent Gaussians; NaN for units without an estimate.
        """
        from scipy import stats

        from nwb_dicpop.inference.posterior import marginal_quantiles

        if not 0.0 < float(level) < 1.0:
            msg = f"`level` must be in (0, 1); got {level!r}."
            raise ValueError(msg)
        tail = 0.5 * (1.0 - float(level))
        out = np.full((self.n_units, 2, 2), np.nan)
        mixture, gaussian = self._posterior_rows()
        if mixture.any():
            q = marginal_quantiles(
                self.posterior_weights[mixture], self.posterior_means[mixture], self.posterior_scale_tril[mixture],
                np.asarray(self.posterior_support), [tail, 1.0 - tail],
            )
            out[mixture] = np.moveaxis(q, 0, -1)
        if gaussian.any():
            mean = np.stack([self.g_s, self.g_u], axis=1)[gaussian]
            std = np.stack([self.g_s_std, self.g_u_std], axis=1)[gaussian]
            z = stats.norm.ppf(1.0 - tail)
            out[gaussian] = np.stack([mean - z * std, mean + z * std], axis=-1)
        return out

    def to_dataframe(self) -> pd.DataFrame:
        """One row per unit: ``unit_id``, the DICs and their uncertainty, ``network_class`` (the
        network's class), ``out_of_distribution``, ``status``, ``n_spikes_used``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "unit_id": list(self.unit_ids),
                "g_f": self.g_f,
                "g_f_std": self.g_f_std,
                "g_s": self.g_s,
                "g_u": self.g_u,
                "g_s_std": self.g_s_std,
                "g_u_std": self.g_u_std,
                "network_class": list(self.network_class),
                "out_of_distribution": self.out_of_distribution,
                "status": list(self.status),
                "n_spikes_used": self.n_spikes_used,
            }
        )

    def __repr__(self) -> str:
        return (
            f"DICEstimate(model={self.model_name!r}, {self.n_units} units, {int(self.ok.sum())} ok, "
            f"V_th={self.threshold} {VOLTAGE_UNIT}, network={self.network_version!r})"
        )


def accept_old_class_keyword(cls: type, message: str) -> None:
    """Let the dataclass ``cls`` accept its field ``network_class`` under the old name ``firing_class``.

    The old keyword warns with ``message`` (``DeprecationWarning``); passing the class twice
    (as ``network_class``, by keyword or position, and as ``firing_class``) is a ``TypeError``.
    """
    init = cls.__init__
    position = [f.name for f in dataclasses.fields(cls) if f.init].index("network_class")

    @functools.wraps(init)
    def accepting_init(self: Any, *args: Any, firing_class: Any = None, **kwargs: Any) -> None:
        if firing_class is not None:
            if "network_class" in kwargs or len(args) > position:
                msg = "Pass the network's class once, as `network_class` (`firing_class` is its old name)."
                raise TypeError(msg)
            warnings.warn(message, DeprecationWarning, stacklevel=2)
            kwargs["network_class"] = firing_class
        init(self, *args, **kwargs)

    cls.__init__ = accepting_init  # type: ignore[method-assign]


_OLD_CLASS_NAME = (
    "DICEstimate.firing_class was renamed network_class (the network's class of each train); "
    "`firing_class` now means only the class by the ISI-CV rule of compute_spike_statistics. "
    "Use network_class."
)
accept_old_class_keyword(DICEstimate, _OLD_CLASS_NAME)


@dataclass(frozen=True, slots=True)
class Population:
    """A degenerate population of conductance sets targeting one pair of DICs.

    Attributes
    ----------
    model_name : str
    conductance_names : tuple of str
    conductances : ndarray of float, shape (n_models, n_conductances)
        Maximal conductances in mS/cm^2.
    dics : ndarray of float, shape (n_models, 3)
        ``g_f, g_s, g_u`` each member actually has at ``reference_threshold``.
    threshold : ndarray of float, shape (n_models,)
        Each member's own threshold voltage (mV; NaN where it has none).
    reference_threshold : float
        The model's fixed ``V_th`` (mV) at which the targets are set.
    targets : ndarray of float, shape (n_models, 2)
        ``(g_s, g_u)`` target of each member (equal rows unless sampled from an uncertainty).
    target_mean : ndarray of float, shape (2,)
        Requested ``(g_s, g_u)``.
    target_std : ndarray of float, shape (2,)
        Requested uncertainty (zeros for exact targets).
    compensating_set : tuple of str
        Conductances re-solved to reach the target.
    residual : ndarray of float, shape (n_models,)
        ``|(g_s, g_u)(V_th) - target|`` of each member after compensation.
    n_iterations : int
        Solves of the calcium fixed-point iteration (1 when not needed).
    n_rejected : int
        Members drawn and rejected (negative or out-of-range conductances) before reaching
        ``n_models``.
    seed : int or None
        Integer seed, when the population was generated from one.
    unit_id : object
        The unit whose DICs were targeted, if any.
    """

    model_name: str
    conductance_names: tuple[str, ...]
    conductances: np.ndarray
    dics: np.ndarray
    threshold: np.ndarray
    reference_threshold: float
    targets: np.ndarray
    target_mean: np.ndarray
    target_std: np.ndarray
    compensating_set: tuple[str, ...]
    residual: np.ndarray
    n_iterations: int = 1
    n_rejected: int = 0
    seed: int | None = None
    unit_id: Any = None

    def __post_init__(self) -> None:
        conductances = _frozen(self.conductances)
        if conductances.ndim != 2 or conductances.shape[1] != len(self.conductance_names):
            msg = (
                f"`conductances` must have shape (n_models, {len(self.conductance_names)}); "
                f"got {conductances.shape}."
            )
            raise ValueError(msg)
        n = conductances.shape[0]
        object.__setattr__(self, "conductances", conductances)
        object.__setattr__(self, "conductance_names", tuple(self.conductance_names))
        object.__setattr__(self, "compensating_set", tuple(self.compensating_set))
        for name, shape in (("dics", (n, 3)), ("targets", (n, 2)), ("threshold", (n,)), ("residual", (n,)), ("target_mean", (2,)), ("target_std", (2,))):
            value = _frozen(getattr(self, name))
            if value.shape != shape:
                msg = f"`{name}` must have shape {shape}; got {value.shape}."
                raise ValueError(msg)
            object.__setattr__(self, name, value)

    @property
    def n_models(self) -> int:
        """Number of members."""
        return int(self.conductances.shape[0])

    def __len__(self) -> int:
        return self.n_models

    def conductance(self, name: str) -> np.ndarray:
        """Column of conductance ``name`` (mS/cm^2)."""
        from nwb_dicpop._validation import check_choice

        check_choice("conductance name", name, self.conductance_names)
        return self.conductances[:, self.conductance_names.index(name)]

    def to_dataframe(self) -> pd.DataFrame:
        """One row per member: conductances (``g_<name>``, mS/cm^2), DICs, V_th, residual."""
        import pandas as pd

        frame = pd.DataFrame(self.conductances, columns=[f"g_{n}" for n in self.conductance_names])
        for k, name in enumerate(DIC_NAMES):
            frame[f"dic_{name}"] = self.dics[:, k]
        frame["V_th"] = self.threshold
        frame["target_g_s"] = self.targets[:, 0]
        frame["target_g_u"] = self.targets[:, 1]
        frame["residual"] = self.residual
        return frame

    def __repr__(self) -> str:
        g_s, g_u = self.target_mean
        return (
            f"Population(model={self.model_name!r}, {self.n_models} members, target g_s={g_s:.3g}, "
            f"g_u={g_u:.3g}, set={self.compensating_set}, max residual "
            f"{float(np.max(self.residual, initial=0.0)):.2g}, conductances in {CONDUCTANCE_UNIT})"
        )


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Spike times of simulated population members.

    Attributes
    ----------
    model_name : str
    spike_times : tuple of ndarray of float
        One array per member, seconds, measured from the end of the transient.
    duration : float
        Recorded duration in seconds (transient excluded).
    transient : float
        Discarded initial time in seconds.
    dt : float
        Integration step in seconds.
    method : str
        Integration method.
    code_target : str
        Brian2 code-generation target actually used.
    simulator_version : str
        e.g. "brian2 2.9.0".
    conductances : ndarray of float, shape (n_members, n_conductances)
        The simulated conductance sets (mS/cm^2).
    voltage : ndarray of float, shape (n_recorded, n_samples) or empty
        Membrane voltage traces (mV) of the recorded members.
    voltage_members : ndarray of int
        Member indices of ``voltage`` rows.
    noise_sigma : float
        Standard deviation of the injected current noise (uA/cm^2), 0 if none.
    seed : int or None
    """

    model_name: str
    spike_times: tuple[np.ndarray, ...]
    duration: float
    transient: float
    dt: float
    method: str
    code_target: str
    simulator_version: str
    conductances: np.ndarray
    voltage: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    voltage_members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    noise_sigma: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "spike_times", tuple(_frozen(t) for t in self.spike_times))
        object.__setattr__(self, "conductances", _frozen(self.conductances))
        object.__setattr__(self, "voltage", _frozen(self.voltage))
        object.__setattr__(self, "voltage_members", _frozen(self.voltage_members, np.int64))
        if self.conductances.shape[0] != len(self.spike_times):
            msg = "`conductances` must have one row per simulated member."
            raise ValueError(msg)

    @property
    def n_members(self) -> int:
        """Number of simulated members."""
        return len(self.spike_times)

    def to_spike_trains(self, *, source: str = "simulation") -> SpikeTrains:
        """The spike times as a :class:`SpikeTrains` over ``[0, duration]``."""
        return SpikeTrains(
            list(self.spike_times), t_start=0.0, t_stop=self.duration, source=source
        )

    def __repr__(self) -> str:
        n_spikes = sum(t.size for t in self.spike_times)
        return (
            f"SimulationResult(model={self.model_name!r}, {self.n_members} members, {n_spikes} spikes, "
            f"duration={self.duration} {TIME_UNIT}, target={self.code_target!r}, method={self.method!r})"
        )
