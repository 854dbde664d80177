"""``track_dics``: DICs through sliding windows of one recording, and a population carried along.

Under modulation, activity drifts.  Sliding windows (``window`` and ``step`` in seconds) give
one DIC estimate each (one batched network call).  A degenerate population is built at the
first usable window and carried from window to window: each member is moved to a target
drawn from the next window's posterior by re-solving two conductances (the model's rule at
that window, or a pair of your choice), everything else kept.  The conductances' paths are
kept for every member.  :meth:`DICTrajectory.analyze` runs the neuromodulation analysis
between any two (disjoint) windows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_positive, normalize_rng
from nwb_dicpop.containers import SpikeTrains, accept_old_class_keyword
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.neuromodulation._inputs import MIN_SPIKES, train_from_value

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.neuromodulation._analysis import NeuromodulationResult

__all__ = ["DICTrajectory", "track_dics"]


@dataclass(frozen=True)
class DICTrajectory:
    """DICs per sliding window, and a population carried along them.

    Attributes
    ----------
    model_name : str
    t_start, t_stop : ndarray of float, shape (n_windows,)
        Window bounds in seconds.
    g_s, g_u, g_s_std, g_u_std : ndarray of float, shape (n_windows,)
        Inferred DICs and their one-sigma uncertainty (NaN where ``status`` is not "ok").
    network_class : tuple of str
        The network's class of each window's train ("spiking" or "bursting"; "silent" where
        the window has too few spikes), as :attr:`DICEstimate.network_class
        <nwb_dicpop.DICEstimate.network_class>`.  Called ``firing_class`` before; that name
        still works but warns (``DeprecationWarning``): ``firing_class`` now means only the
        class by the ISI-CV rule of :func:`~nwb_dicpop.compute_spike_statistics`.
    n_spikes : ndarray of int, shape (n_windows,)
    status : tuple of str
        "ok", or why the window has no estimate ("too few spikes").
    conductance_names : tuple of str
    conductances : ndarray of float, shape (n_windows, n_models, n_conductances)
        Each member's conductances (mS/cm^2) in each window (NaN before the first usable
        window; unchanged through windows without an estimate).
    moved : ndarray of bool, shape (n_windows, n_models)
        Whether the member reached that window's target (False: it kept its conductances
        because the move would have been invalid).
    compensating_sets : tuple of tuple of str
        The pair re-solved to enter each window (empty for the first and skipped windows).
    spiketrain : ndarray of float
        The whole recording's spike times in seconds.
    recording_window : (float, float)
        The recording's ``(t_start, t_stop)`` in seconds.
    """

    model_name: str
    t_start: np.ndarray
    t_stop: np.ndarray
    g_s: np.ndarray
    g_u: np.ndarray
    g_s_std: np.ndarray
    g_u_std: np.ndarray
    network_class: tuple[str, ...]
    n_spikes: np.ndarray
    status: tuple[str, ...]
    conductance_names: tuple[str, ...]
    conductances: np.ndarray
    moved: np.ndarray
    compensating_sets: tuple[tuple[str, ...], ...]
    spiketrain: np.ndarray
    recording_window: tuple[float, float]

    @property
    def firing_class(self) -> tuple[str, ...]:
        """Deprecated name of :attr:`network_class` (the network's class, not the ISI-CV rule's)."""
        warnings.warn(_OLD_CLASS_NAME, DeprecationWarning, stacklevel=2)
        return self.network_class

    @property
    def times(self) -> np.ndarray:
        """Window centres in seconds."""
        return 0.5 * (self.t_start + self.t_stop)

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.t_start.size)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per window: bounds, centre, DICs, uncertainty, ``network_class``, spikes, status."""
        import pandas as pd

        return pd.DataFrame({
            "t_start": self.t_start, "t_stop": self.t_stop, "time": self.times, "g_s": self.g_s,
            "g_u": self.g_u, "g_s_std": self.g_s_std, "g_u_std": self.g_u_std,
            "network_class": list(self.network_class), "n_spikes": self.n_spikes, "status": list(self.status),
            "fraction_moved": self.moved.mean(axis=1),
        })

    def analyze(self, first: int, second: int, **kwargs: Any) -> NeuromodulationResult:
        """:func:`~nwb_dicpop.analyze_neuromodulation` between windows ``first`` and ``second``.

        The windows must not overlap; keyword arguments are passed on.
        """
        from nwb_dicpop.neuromodulation._analysis import analyze_neuromodulation

        for name, i in (("first", first), ("second", second)):
            if not isinstance(i, (int, np.integer)) or not -self.n_windows <= i < self.n_windows:
                msg = f"`{name}` must be a window index in [0, {self.n_windows}); got {i!r}."
                raise ValueError(msg)
        start, stop = self.recording_window
        recording = SpikeTrains([self.spiketrain], t_start=start, t_stop=stop)
        return analyze_neuromodulation(
            (float(self.t_start[first]), float(self.t_stop[first])),
            (float(self.t_start[second]), float(self.t_stop[second])),
            model=self.model_name, recording=recording, **kwargs,
        )

    def __repr__(self) -> str:
        ok = sum(s == "ok" for s in self.status)
        return (
            f"DICTrajectory(model={self.model_name!r}, {self.n_windows} windows ({ok} with DICs), "
            f"{self.conductances.shape[1]} members)"
        )


_OLD_CLASS_NAME = (
    "DICTrajectory.firing_class was renamed network_class (the network's class of each window); "
    "`firing_class` now means only the class by the ISI-CV rule of compute_spike_statistics. "
    "Use network_class."
)
accept_old_class_keyword(DICTrajectory, _OLD_CLASS_NAME)


def track_dics(
    spiketrain: Any,
    *,
    model: str | NeuronModel,
    window: float,
    step: float,
    n_models: int = 100,
    compensating_set: str | tuple[str, str] = "rule",
    min_spikes: int = MIN_SPIKES,
    rng: int | np.random.Generator | None = None,
) -> DICTrajectory:
    """DIC trajectory over sliding windows of one recording, with a population carried along.

    Parameters
    ----------
    spiketrain : array of float, one-unit SpikeTrains or neo.SpikeTrain
        Spike times in seconds.
    model : str or NeuronModel
    window, step : float
        Window length and step between window starts, in seconds.
    n_models : int
        Members of the carried population.
    compensating_set : "rule" or (str, str)
        Pair re-solved to enter each window: the model's rule at that window's DICs, or a
        fixed pair.
    min_spikes : int
        Windows with fewer spikes get no estimate (status "too few spikes").
    rng : None, int or numpy.random.Generator

    Returns
    -------
    DICTrajectory

    Raises
    ------
    ValueError
        Non-positive ``window`` or ``step``, a window longer than the recording, or no window
        with enough spikes.

    Examples
    --------
    >>> import numpy as np, nwb_dicpop as ndp
    >>> train = np.cumsum(np.full(200, 0.08))               # 16 s of 12.5 Hz firing
    >>> trajectory = ndp.track_dics(train, model="stg", window=4.0, step=2.0, n_models=10, rng=0)  # doctest: +SKIP
    >>> trajectory.n_windows  # doctest: +SKIP
    7
    """
    from nwb_dicpop import generate_population, infer_dics
    from nwb_dicpop._solver import compensate

    spec = get_model(model)
    check_positive("window", window, unit="s")
    check_positive("step", step, unit="s")
    check_positive("n_models", n_models, integer=True)
    check_positive("min_spikes", min_spikes, integer=True)
    if isinstance(compensating_set, str) and compensating_set != "rule":
        msg = f"`compensating_set` must be 'rule' or a pair of conductance names; got {compensating_set!r}."
        raise ValueError(msg)
    generator = normalize_rng(rng)
    train = train_from_value(spiketrain, "spiketrain", None)
    if train.times is None:
        msg = "`spiketrain` must hold spike times, not a DICEstimate."
        raise TypeError(msg)
    span = train.t_stop - train.t_start
    if window > span:
        msg = (f"`window`={window:g} s is longer than the recording ({span:g} s, [{train.t_start:g}, "
               f"{train.t_stop:g}]); pass a shorter window.")
        raise ValueError(msg)
    starts = train.t_start + step * np.arange(int(np.floor((span - window) / step + 1e-9)) + 1)
    stops = starts + window
    pieces = [train.times[(train.times >= a) & (train.times < b)] - a for a, b in zip(starts, stops, strict=True)]
    counts = np.array([p.size for p in pieces])
    usable = np.flatnonzero(counts >= min_spikes)
    if usable.size == 0:
        msg = (f"No window of {window:g} s holds {min_spikes} spikes (at most {counts.max()}); "
               "use longer windows.")
        raise ValueError(msg)
    n_w = starts.size
    g_s, g_u, s_std, u_std = (np.full(n_w, np.nan) for _ in range(4))
    classes, status = ["silent"] * n_w, ["too few spikes"] * n_w
    estimate = infer_dics([pieces[i] for i in usable], model=spec.name)
    for k, i in enumerate(usable):
        g_s[i], g_u[i] = estimate.g_s[k], estimate.g_u[k]
        s_std[i], u_std[i] = estimate.g_s_std[k], estimate.g_u_std[k]
        classes[i], status[i] = estimate.network_class[k], estimate.status[k]
    first = int(usable[0])
    population = generate_population(spec, float(g_s[first]), float(g_u[first]), n_models=int(n_models),
                                     g_s_std=float(s_std[first]), g_u_std=float(u_std[first]), thresholds=False,
                                     rng=generator)
    current = np.array(population.conductances)
    paths = np.full((n_w, current.shape[0], spec.n_conductances), np.nan)
    moved = np.zeros((n_w, current.shape[0]), dtype=bool)
    sets: list[tuple[str, ...]] = [()] * n_w
    paths[first], moved[first] = current, True
    limits = np.array([spec.conductance_limits[n] for n in spec.conductance_names])
    for i in range(first + 1, n_w):
        if status[i] != "ok":
            paths[i] = current
            continue
        pair = tuple(spec.compensation_rule(g_s[i], g_u[i])) if compensating_set == "rule" else tuple(compensating_set)
        targets = np.array([g_s[i], g_u[i]]) + np.array([s_std[i], u_std[i]]) * generator.standard_normal((current.shape[0], 2))
        with np.errstate(all="ignore"):
            solved, residual, _ = compensate(spec, current, targets, pair, rows=("g_s", "g_u"))
        ok = (residual <= 1e-6) & np.all(np.isfinite(solved), axis=1)
        ok &= np.all((solved >= np.maximum(limits[:, 0], 0.0)) & (solved <= limits[:, 1]), axis=1)
        current = np.where(ok[:, None], solved, current)
        paths[i], moved[i], sets[i] = current, ok, pair
    return DICTrajectory(
        model_name=spec.name, t_start=starts, t_stop=stops, g_s=g_s, g_u=g_u, g_s_std=s_std, g_u_std=u_std,
        network_class=tuple(classes), n_spikes=counts, status=tuple(status),
        conductance_names=spec.conductance_names, conductances=paths, moved=moved,
        compensating_sets=tuple(sets), spiketrain=np.asarray(train.times),
        recording_window=(float(train.t_start), float(train.t_stop)),
    )
