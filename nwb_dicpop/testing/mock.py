"""Mock factories: spike trains, DIC estimates and NWB files with a Units table.

The NWB factories build on :func:`pynwb.testing.mock.file.mock_NWBFile` and
:func:`pynwb.testing.mock.file.mock_Subject`.  The Units table is built columnar (flat
``spike_times`` + index) rather than with :func:`pynwb.testing.mock.ecephys.mock_Units`,
because we need chosen spike times, ``obs_intervals``, a ``quality`` column and
``resolution`` (NOTE: mock_Units draws its own random times and loops over ``add_unit``).

``experimenter`` and ``keywords`` are left out on purpose: Neo 0.14's NWBIO cannot read files
that have them with hdmf 6 (they come back as ``StrDataset``, which Neo rejects as a block
annotation), and the mock files must stay readable by Neo.

pynwb is imported inside the functions, so ``import nwb_dicpop.testing`` stays light.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._files import atomic_destination
from nwb_dicpop._tables import TimeUnitWarning
from nwb_dicpop._validation import check_positive, normalize_rng
from nwb_dicpop.containers import DICEstimate, SpikeTrains
from nwb_dicpop.statistics import as_spike_trains

if TYPE_CHECKING:
    from pynwb import NWBFile

__all__ = [
    "mock_dic_estimate",
    "mock_nwbfile_with_units",
    "mock_spike_trains",
    "write_mock_nwb",
]

_DEFAULT_START = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


def mock_spike_trains(
    *,
    n_units: int = 5,
    rate: float | Sequence[float] = 10.0,
    duration: float = 10.0,
    t_start: float = 0.0,
    refractory: float = 0.002,
    unit_ids: Sequence[Any] | None = None,
    rng: int | np.random.Generator | None = 0,
) -> SpikeTrains:
    """Poisson spike trains with a dead time, in seconds.

    Parameters
    ----------
    n_units : int
        Number of units.
    rate : float or sequence of float, shape (n_units,)
        Mean firing rate of each unit in Hz (before the dead time is applied).
    duration : float
        Length of the observation window in seconds.
    t_start : float
        Start of the window in seconds; every unit is observed over
        ``[t_start, t_start + duration]``.
    refractory : float
        Dead time in seconds added after every spike (0 for a plain Poisson process).
    unit_ids : sequence, optional
        Identifiers (default ``0 .. n_units - 1``).
    rng : None, int or numpy.random.Generator
        Seed or generator (default 0: the same trains every call).

    Returns
    -------
    SpikeTrains
        ``source="mock"``.

    Examples
    --------
    >>> spikes = mock_spike_trains(n_units=2, rate=[5.0, 20.0], duration=1.0, rng=1)
    >>> spikes.t_stop.tolist()
    [1.0, 1.0]
    """
    check_positive("n_units", n_units, integer=True)
    check_positive("duration", duration, unit="s")
    if refractory < 0 or not np.isfinite(refractory):
        msg = f"`refractory` must be a non-negative number of seconds; got {refractory!r}."
        raise ValueError(msg)
    rates = np.broadcast_to(np.asarray(rate, dtype=np.float64), (n_units,)) if np.ndim(rate) == 0 else (
        np.asarray(rate, dtype=np.float64)
    )
    if rates.shape != (n_units,) or np.any(~np.isfinite(rates)) or np.any(rates < 0):
        msg = f"`rate` must be a non-negative rate in Hz or one per unit ({n_units}); got {rate!r}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    times = []
    for unit_rate in rates:
        if unit_rate == 0:
            times.append(np.zeros(0))
            continue
        n_draw = int(unit_rate * duration * 1.5 + 10 * np.sqrt(unit_rate * duration) + 10)
        intervals = generator.exponential(1.0 / unit_rate, size=n_draw) + refractory
        train = t_start + np.cumsum(intervals)
        times.append(train[train <= t_start + duration])
    return SpikeTrains(
        times,
        unit_ids,
        t_start=t_start,
        t_stop=t_start + duration,
        source="mock",
    )


def mock_dic_estimate(
    unit_ids: Sequence[Any] = (0, 1, 2),
    *,
    model: str = "stg",
    g_s: Sequence[float] | None = None,
    g_u: Sequence[float] | None = None,
    silent: Sequence[Any] = (),
    rng: int | np.random.Generator | None = 0,
) -> DICEstimate:
    """A hand-made :class:`DICEstimate` (the network's output format), for tests and tutorials.

    Parameters
    ----------
    unit_ids : sequence
        Units the estimate covers.
    model : str
        Model name; its threshold ``V_th`` (mV) is recorded.
    g_s, g_u : sequence of float, shape (n_units,), optional
        Slow and ultraslow DICs (dimensionless).  Default: drawn in ``[2, 6]`` and
        ``[4, 6]``, a region reachable by the STG model.
    silent : sequence
        Unit ids to mark ``status="silent"`` (DICs NaN, class "silent").
    rng : None, int or numpy.random.Generator
        Seed or generator for the default draws and the uncertainties.

    Returns
    -------
    DICEstimate
        ``network_version="mock"``.
    """
    from nwb_dicpop.models import get_model

    spec = get_model(model)
    generator = normalize_rng(rng)
    n = len(unit_ids)
    g_s_values = generator.uniform(2.0, 6.0, n) if g_s is None else np.asarray(g_s, dtype=float)
    g_u_values = generator.uniform(4.0, 6.0, n) if g_u is None else np.asarray(g_u, dtype=float)
    g_s_std = generator.uniform(0.05, 0.3, n)
    g_u_std = generator.uniform(0.05, 0.3, n)
    is_silent = np.array([uid in set(silent) for uid in unit_ids], dtype=bool)
    firing_class = ["silent" if s else ("bursting" if gu > 0 and gs < 0 else "spiking")
                    for s, gs, gu in zip(is_silent, g_s_values, g_u_values, strict=True)]
    nan_if_silent = lambda a: np.where(is_silent, np.nan, a)
    return DICEstimate(
        unit_ids=tuple(unit_ids),
        model_name=spec.name,
        threshold=float(spec.threshold),
        g_s=nan_if_silent(g_s_values),
        g_u=nan_if_silent(g_u_values),
        g_s_std=nan_if_silent(g_s_std),
        g_u_std=nan_if_silent(g_u_std),
        network_class=tuple(firing_class),
        out_of_distribution=np.zeros(n, dtype=bool),
        status=tuple("silent" if s else "ok" for s in is_silent),
        network_version="mock",
    )


def _integer_ids(unit_ids: Sequence[Any]) -> np.ndarray | None:
    try:
        ids = np.array([int(u) for u in unit_ids], dtype=np.int64)
    except (TypeError, ValueError):
        return None
    if any(isinstance(u, (float, np.floating)) for u in unit_ids) or np.any(ids < 0):
        return None
    return ids


def mock_nwbfile_with_units(
    spikes: Any = None,
    *,
    n_units: int = 5,
    rate: float | Sequence[float] = 10.0,
    duration: float = 10.0,
    quality: Sequence[str] | None = None,
    obs_intervals: bool | Sequence[Any] = True,
    epochs: Mapping[str, tuple[float, float]] | None = None,
    resolution: float | None = 1.0 / 30000.0,
    session_start_time: datetime | None = None,
    identifier: str | None = None,
    unit_columns: Mapping[str, Sequence[Any]] | None = None,
    rng: int | np.random.Generator | None = 0,
) -> NWBFile:
    """An in-memory ``pynwb.NWBFile`` with Subject, Units and epochs.

    Parameters
    ----------
    spikes : SpikeTrains, array, list of array, dict, ..., optional
        Spike times in seconds to store (e.g. simulated units): anything
        :func:`~nwb_dicpop.as_spike_trains` accepts, stored without its time-unit warning
        (tests store implausible times on purpose).  Default:
        :func:`mock_spike_trains` with ``n_units``, ``rate``, ``duration`` and ``rng``.
        Non-negative integer unit ids become the Units ``id``; other ids are stored in a
        ``unit_name`` column and the rows numbered from 0.
    n_units, rate, duration : int, float, float
        Used only when ``spikes`` is None (rate in Hz, duration in seconds).
    quality : sequence of str, shape (n_units,), optional
        ``quality`` column; default ``"good"`` except every third unit ``"mua"``.
    obs_intervals : bool or sequence of array-like of shape (k, 2)
        True: one observation interval per unit, its ``[t_start, t_stop]``; False: no
        ``obs_intervals`` column; or explicit intervals per unit (seconds).
    epochs : mapping of str to (float, float), optional
        Named epochs (``tags=[name]``) in seconds.  Default: ``"baseline"`` over the first
        half of the recording and ``"drug"`` over the second half.  Pass ``{}`` for none.
    resolution : float or None
        ``Units.resolution`` in seconds (the spike-time precision; nwbinspector asks for it).
    session_start_time : datetime, optional
        Default 2024-01-15 09:30 UTC.
    identifier : str, optional
        Default a random UUID (pynwb's mock default).
    unit_columns : mapping of str to sequence, optional
        Extra Units columns, one value per unit (e.g. the true DICs of simulated units).
    rng : None, int or numpy.random.Generator
        Seed or generator for the default spike trains.

    Returns
    -------
    pynwb.NWBFile
    """
    from hdmf.common import ElementIdentifiers, VectorData, VectorIndex
    from pynwb.misc import Units
    from pynwb.testing.mock.file import mock_NWBFile, mock_Subject

    if spikes is None:
        trains = mock_spike_trains(n_units=n_units, rate=rate, duration=duration, rng=rng)
    else:
        with warnings.catch_warnings():  # store what was given, even times that look like ms
            warnings.simplefilter("ignore", TimeUnitWarning)
            trains = as_spike_trains(spikes, input_name="spikes")
    n = trains.n_units
    nwbfile = mock_NWBFile(
        session_description="Mock recording generated by nwb_dicpop.testing",
        identifier=identifier,
        session_start_time=session_start_time or _DEFAULT_START,
        institution="nwb_dicpop test suite",
        lab="nwb_dicpop",
        experiment_description="Simulated single units for testing nwb_dicpop readers and writers.",
    )
    mock_Subject(
        age="P90D",
        description="A mock mouse; the spike trains are simulated.",
        sex="F",
        subject_id="mock-001",
        nwbfile=nwbfile,
    )
    nwbfile.subject.species = "Mus musculus"

    ids = _integer_ids(trains.unit_ids)
    columns: list[Any] = []
    flat = np.concatenate([*trains.times, np.zeros(0)])
    ends = np.cumsum([t.size for t in trains.times]).astype(np.int64)
    spike_times = VectorData(name="spike_times", description="the spike times for each unit in seconds", data=flat)
    columns += [spike_times, VectorIndex(name="spike_times_index", data=ends, target=spike_times)]
    if obs_intervals is not False:
        if obs_intervals is True:
            intervals = [np.array([[a, b]]) for a, b in zip(trains.t_start, trains.t_stop, strict=True)]
        else:
            intervals = [np.asarray(iv, dtype=np.float64).reshape(-1, 2) for iv in obs_intervals]
            if len(intervals) != n:
                msg = f"`obs_intervals` needs one (k, 2) array per unit ({n}); got {len(intervals)}."
                raise ValueError(msg)
        obs = VectorData(
            name="obs_intervals",
            description="the observation intervals for each unit",
            data=np.concatenate([*intervals, np.zeros((0, 2))]),
        )
        obs_ends = np.cumsum([iv.shape[0] for iv in intervals]).astype(np.int64)
        columns += [obs, VectorIndex(name="obs_intervals_index", data=obs_ends, target=obs)]
    labels = (
        ["mua" if i % 3 == 2 else "good" for i in range(n)] if quality is None else [str(q) for q in quality]
    )
    if len(labels) != n:
        msg = f"`quality` needs one label per unit ({n}); got {len(labels)}."
        raise ValueError(msg)
    columns.append(VectorData(name="quality", description="sorting quality label", data=labels))
    if ids is None:
        columns.append(
            VectorData(name="unit_name", description="unit identifier in the source data",
                       data=[str(u) for u in trains.unit_ids])
        )
        ids = np.arange(n, dtype=np.int64)
    for name, values in (unit_columns or {}).items():
        values = list(values)
        if len(values) != n:
            msg = f"`unit_columns[{name!r}]` needs one value per unit ({n}); got {len(values)}."
            raise ValueError(msg)
        columns.append(VectorData(name=str(name), description=f"{name} of each unit", data=values))
    nwbfile.units = Units(
        name="units",
        description="Mock sorted units",
        id=ElementIdentifiers(name="id", data=ids),
        columns=columns,
        resolution=resolution,
    )

    finite_stop = float(np.max(trains.t_stop, initial=0.0))
    finite_start = float(np.min(trains.t_start, initial=0.0))
    if epochs is None:
        middle = 0.5 * (finite_start + finite_stop)
        epochs = {"baseline": (finite_start, middle), "drug": (middle, finite_stop)}
    for name, (start, stop) in epochs.items():
        nwbfile.add_epoch(start_time=float(start), stop_time=float(stop), tags=[str(name)])
    return nwbfile


def write_mock_nwb(path: str | os.PathLike[str], spikes: Any = None, **kwargs: Any) -> Path:
    """Write :func:`mock_nwbfile_with_units` to ``path`` (atomically) and return the path.

    Parameters
    ----------
    path : str or os.PathLike
        Destination ``.nwb`` file; replaced if it exists.
    spikes : SpikeTrains, array, list of array, dict, ..., optional
        Spike times in seconds (see :func:`mock_nwbfile_with_units`).
    **kwargs
        Passed to :func:`mock_nwbfile_with_units`.

    Returns
    -------
    pathlib.Path
    """
    from pynwb import NWBHDF5IO

    target = Path(path)
    nwbfile = mock_nwbfile_with_units(spikes, **kwargs)
    with atomic_destination(target) as tmp, NWBHDF5IO(tmp, "w") as io:
        io.write(nwbfile)
    return target
