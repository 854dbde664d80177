"""Brian2 checks of the neuromodulation analysis: does a member fire like a recorded train?

A member *reproduces* a train under the rule of :func:`~nwb_dicpop.validate_population`:
the same firing class, and every key statistic of that class (spiking frequency for tonic
trains; spikes per burst, intraburst and interburst frequency for bursting ones) within
``tolerance`` (default 20 %) of the train's.  The simulation itself goes through the public
:func:`~nwb_dicpop.simulate_population`.
"""

from __future__ import annotations

import inspect
import re
import warnings
from typing import Any

import numpy as np

from nwb_dicpop.models import NeuronModel

__all__ = ["ObservedTrain", "paired_agreement", "reproduces", "simulate_recorded"]

DEFAULT_TOLERANCE = 0.2
"""Largest relative error of a key statistic for a member to reproduce a train."""
CHANGE_WIDTH = 0.1
"""Width (in log units, about 10 %) of the Gaussian kernel that compares a simulated change of
a key statistic with the recorded change."""
LEVEL_WIDTH = 0.2
"""Width (log units) of the kernel comparing a statistic's level when the class changes."""


class ObservedTrain:
    """A recorded train and its statistics (one row of ``compute_spike_statistics``).

    Parameters
    ----------
    times : ndarray of float
        Spike times in seconds.
    t_start, t_stop : float
        Observation window in seconds.
    """

    def __init__(self, times: np.ndarray, t_start: float, t_stop: float) -> None:
        from nwb_dicpop.statistics import compute_spike_statistics

        self.times = np.asarray(times, dtype=np.float64)
        self.t_start = float(t_start)
        self.t_stop = float(t_stop)
        self.statistics = compute_spike_statistics([self.times], t_start=self.t_start, t_stop=self.t_stop).iloc[0]

    @property
    def firing_class(self) -> str:
        """"silent", "spiking" or "bursting"."""
        return str(self.statistics["firing_class"])

    @property
    def duration(self) -> float:
        """Window length in seconds."""
        return self.t_stop - self.t_start

    def summary(self) -> dict[str, Any]:
        """The statistics as a plain dict (floats and str)."""
        out: dict[str, Any] = {}
        for key, value in self.statistics.items():
            out[str(key)] = value if isinstance(value, str) else float(value)
        return out


def simulate_recorded(
    spec: NeuronModel, conductances: np.ndarray, *, recorded: float, transient: float
) -> tuple[Any, np.ndarray]:
    """Simulate conductance sets, discarding ``transient`` s and recording ``recorded`` s.

    Works with both meanings of ``simulate_population``'s ``duration`` (the recorded window,
    when the function also offers ``total_duration``; the total simulated time before).
    Members whose state diverged are expected for extreme moves: the simulator's
    ``NumericalInstabilityWarning`` is caught and turned into a mask.

    Returns
    -------
    result : SimulationResult
    diverged : ndarray of bool, shape (n_members,)
        Members whose spike trains are unreliable (all True when the simulator did not list
        them all).
    """
    from nwb_dicpop import simulate_population
    from nwb_dicpop.simulation import NumericalInstabilityWarning

    parameters = inspect.signature(simulate_population).parameters
    duration = recorded if "total_duration" in parameters else recorded + transient
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = simulate_population(conductances, model=spec, duration=duration, transient=transient)
    diverged = np.zeros(conductances.shape[0], dtype=bool)
    for item in caught:
        if issubclass(item.category, NumericalInstabilityWarning):
            diverged |= _diverged_members(str(item.message), conductances.shape[0])
        else:  # not ours to silence
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
    return result, diverged


def _diverged_members(message: str, n: int) -> np.ndarray:
    """The members a ``NumericalInstabilityWarning`` message lists (all when it lists some only)."""
    mask = np.zeros(n, dtype=bool)
    match = re.search(r"members \[([0-9, ]*)\]( \.\.\.)?", message)
    if match is None or match.group(2):
        mask[:] = True
        return mask
    listed = [int(x) for x in match.group(1).split(",") if x.strip()]
    mask[[i for i in listed if 0 <= i < n]] = True
    return mask


def paired_agreement(
    parents: Any, moved: Any, observed_before: ObservedTrain, observed_after: ObservedTrain
) -> np.ndarray:
    """How well each moved member's change of firing matches the recorded change, in [0, 1].

    Parameters
    ----------
    parents, moved : pandas.DataFrame
        Statistics (``compute_spike_statistics``) of the members before their move and after
        it, row ``i`` of one paired with row ``i`` of the other.
    observed_before, observed_after : ObservedTrain

    Returns
    -------
    ndarray of float, shape (n_members,)
        0 when the moved member's firing class differs from the "after" train's.  When the
        two trains share a class, ``exp(-sum_k d_k^2 / 2)`` with
        ``d_k = (ln(moved_k / parent_k) - ln(after_k / before_k)) / CHANGE_WIDTH`` over the
        class's key statistics ``k``: the member must change as the neuron did.  When the
        class changes, the levels are compared instead, ``d_k = ln(moved_k / after_k) /
        LEVEL_WIDTH``.
    """
    from nwb_dicpop.validation import KEY_STATISTICS

    cls_b, cls_a = observed_before.firing_class, observed_after.firing_class
    same = (moved["firing_class"].to_numpy() == cls_a)
    keys = KEY_STATISTICS.get(cls_a, ())
    terms = []
    for key in keys:
        after = float(observed_after.statistics[key])
        if not np.isfinite(after) or after <= 0:
            continue
        new = moved[key].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            if cls_b == cls_a:
                before = float(observed_before.statistics[key])
                old = parents[key].to_numpy(dtype=np.float64)
                d = (np.log(new / old) - np.log(after / before)) / CHANGE_WIDTH
            else:
                d = np.log(new / after) / LEVEL_WIDTH
        terms.append(np.where(np.isfinite(d), d * d, np.inf))
    if not terms:
        return same.astype(float)
    return np.where(same, np.exp(-0.5 * np.sum(terms, axis=0)), 0.0)


def reproduces(simulation: Any, observed: ObservedTrain, *, tolerance: float = DEFAULT_TOLERANCE) -> np.ndarray:
    """Per simulated member: True when it fires like ``observed`` (class and key statistics).

    Parameters
    ----------
    simulation : SimulationResult or pandas.DataFrame
        Simulated members, or their statistics.
    observed : ObservedTrain
    tolerance : float
        Largest accepted relative error of each key statistic.

    Returns
    -------
    ndarray of bool, shape (n_members,)
    """
    from nwb_dicpop.statistics import compute_spike_statistics
    from nwb_dicpop.validation import KEY_STATISTICS

    stats = simulation if hasattr(simulation, "columns") else compute_spike_statistics(simulation)
    same = (stats["firing_class"] == observed.firing_class).to_numpy()
    ok = same.copy()
    for key in KEY_STATISTICS.get(observed.firing_class, ()):
        target = float(observed.statistics[key])
        if not np.isfinite(target) or target == 0:
            continue
        values = stats[key].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            ok &= np.abs(values / target - 1.0) <= tolerance
    return ok
