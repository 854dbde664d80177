"""The data that flows between the stages: frozen dataclasses of numpy arrays.

readers -> :class:`SpikeTrains` -> inference -> :class:`DICEstimate` -> compensation ->
:class:`Population` -> simulation -> :class:`SimulationResult` -> NWB writer.

Units are fixed (see :mod:`nwb_dicpop.units`): times in seconds, voltages in mV, maximal
conductances in mS/cm^2, DICs dimensionless (normalised by the leak conductance).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.units import CONDUCTANCE_UNIT, TIME_UNIT, VOLTAGE_UNIT

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DICEstimate", "Population", "SimulationResult", "SpikeTrains"]

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


def _check_times(index: int, unit_id: Any, times: Any) -> np.ndarray:
    array = np.asarray(times, dtype=np.float64)
    if array.ndim != 1:
        msg = f"Spike times of unit {unit_id!r} must be 1-D; got shape {array.shape}."
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"Spike times of unit {unit_id!r} contain NaN or infinite values; remove them."
        raise ValueError(msg)
    if array.size > 1 and np.any(np.diff(array) < 0):
        msg = (
            f"Spike times of unit {unit_id!r} (position {index}) are not sorted; sort them "
            "(np.sort) before building SpikeTrains."
        )
        raise ValueError(msg)
    return _frozen(array)


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
        arrays = tuple(_check_times(i, uid, t) for i, (uid, t) in enumerate(zip(ids, times, strict=True)))
        n = len(arrays)
        first = np.array([a[0] if a.size else np.nan for a in arrays])
        last = np.array([a[-1] if a.size else np.nan for a in arrays])
        start = np.where(np.isfinite(first), np.minimum(first, 0.0), 0.0) if t_start is None else t_start
        stop = np.where(np.isfinite(last), last, 0.0) if t_stop is None else t_stop
        start_a = _per_unit("t_start", start, n)
        stop_a = _per_unit("t_stop", stop, n)
        for i, arr in enumerate(arrays):
            if stop_a[i] < start_a[i]:
                msg = f"Unit {ids[i]!r}: t_stop ({stop_a[i]}) is before t_start ({start_a[i]})."
                raise ValueError(msg)
            if arr.size and (arr[0] < start_a[i] - 1e-12 or arr[-1] > stop_a[i] + 1e-12):
                msg = (
                    f"Unit {ids[i]!r}: spikes outside [t_start, t_stop] = [{start_a[i]}, "
                    f"{stop_a[i]}] s; widen the window or clip the spikes."
                )
                raise ValueError(msg)
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
        from nwb_dicpop._validation import check_choice

        positions = []
        for uid in unit_ids:
            if uid not in self.unit_ids:
                check_choice("unit id", str(uid), [str(u) for u in self.unit_ids])
            positions.append(self.unit_ids.index(uid))
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
        Predicted slow and ultraslow DICs (dimensionless); NaN where ``status`` is not "ok".
    g_s_std, g_u_std : ndarray of float, shape (n_units,)
        One-sigma uncertainty of ``g_s`` and ``g_u``.
    firing_class : tuple of str
        "spiking", "bursting" or "silent" per unit.
    out_of_distribution : ndarray of bool, shape (n_units,)
        True where the train lies outside the network's training support.
    status : tuple of str
        "ok" or the reason no estimate was made ("silent", "too few spikes", ...).
    network_version : str
    g_f : ndarray of float, shape (n_units,)
        Fast DIC when known (NaN otherwise: the network does not predict it).
    n_spikes_used : ndarray of int, shape (n_units,)
        Spikes of each train the estimate is based on (trains longer than the network's
        ``max_spikes`` are cut to their first spikes); -1 when unknown.
    """

    unit_ids: tuple[Any, ...]
    model_name: str
    threshold: float
    g_s: np.ndarray
    g_u: np.ndarray
    g_s_std: np.ndarray
    g_u_std: np.ndarray
    firing_class: tuple[str, ...]
    out_of_distribution: np.ndarray
    status: tuple[str, ...]
    network_version: str = ""
    g_f: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_spikes_used: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        n = len(self.unit_ids)
        object.__setattr__(self, "unit_ids", tuple(self.unit_ids))
        for name in ("g_s", "g_u", "g_s_std", "g_u_std"):
            object.__setattr__(self, name, _per_unit(name, getattr(self, name), n))
        g_f = self.g_f if np.size(self.g_f) else np.full(n, np.nan)
        object.__setattr__(self, "g_f", _per_unit("g_f", g_f, n))
        used = self.n_spikes_used if np.size(self.n_spikes_used) else np.full(n, -1)
        object.__setattr__(self, "n_spikes_used", _per_unit("n_spikes_used", used, n, np.int64))
        object.__setattr__(
            self, "out_of_distribution", _per_unit("out_of_distribution", self.out_of_distribution, n, bool)
        )
        for name in ("firing_class", "status"):
            values = tuple(str(v) for v in getattr(self, name))
            if len(values) != n:
                msg = f"`{name}` must have one entry per unit ({n}); got {len(values)}."
                raise ValueError(msg)
            object.__setattr__(self, name, values)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_ids)

    @property
    def ok(self) -> np.ndarray:
        """Mask of units with a usable estimate."""
        return np.array([s == "ok" for s in self.status], dtype=bool)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per unit."""
        import pandas as pd

        return pd.DataFrame(
            {
                "unit_id": list(self.unit_ids),
                "g_f": self.g_f,
                "g_s": self.g_s,
                "g_u": self.g_u,
                "g_s_std": self.g_s_std,
                "g_u_std": self.g_u_std,
                "firing_class": list(self.firing_class),
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
