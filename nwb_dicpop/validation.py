"""Score how well each member of a population reproduces an observed spike train.

:func:`validate_population` simulates a population (or takes a finished
:class:`~nwb_dicpop.SimulationResult`) and compares every member with the observed train on
three counts (science.md section 8):

1. the firing class (silent / spiking / bursting);
2. the relative error of the class's key statistics: the spiking frequency for tonic
   spikers; spikes per burst, intraburst and interburst frequency for bursters;
3. the van Rossum distance ratio ``R_VR = D(x, member) / D_ref`` (Elephant's
   ``van_rossum_distance``, time constant ``tau = (max ISI + min ISI) / 2`` of the observed
   train ``x``, both trains aligned at their first spike).  Windows of different length are
   made comparable by dividing squared distances by the window length.  ``D_ref`` is the
   mean distance between ``x`` and the ``reference`` trains when given (the thesis
   definition: the members of ``x``'s own ground-truth population, or repeated recordings of
   the same neuron); otherwise it is the distance between the two halves of ``x`` (its own
   variability), reported for information only, because a noise-free, periodic train is
   almost identical to itself and that reference then tends to zero.

The rule that makes a member valid is stored in the result (``ValidationResult.rule``).

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop.containers import SimulationResult, SpikeTrains
from nwb_dicpop.statistics import (
    BURSTING,
    SILENT,
    SPIKING,
    as_spike_trains,
    compute_spike_statistics,
    van_rossum_distances,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEY_STATISTICS", "NOISE_FLOOR", "ValidationResult", "validate_population", "van_rossum_ratio"]

KEY_STATISTICS = {
    SPIKING: ("spiking_frequency",),
    BURSTING: ("spikes_per_burst", "intraburst_frequency", "interburst_frequency"),
    SILENT: (),
}
"""Statistics whose relative error is scored, per firing class of the observed train."""


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Outcome of :func:`validate_population`.

    Attributes
    ----------
    members : pandas.DataFrame
        One row per member: ``firing_class``, ``same_class``, the member's key statistics,
        ``error_<statistic>`` (relative), ``max_relative_error``, ``van_rossum_ratio``,
        ``valid``.
    observed : pandas.Series
        Statistics of the observed train (:func:`~nwb_dicpop.compute_spike_statistics`).
    observed_class : str
    fraction_valid : float
        Fraction of members that are valid.
    n_valid : int
    rule : str
        The validity rule, in words, with its thresholds.
    max_relative_error : float
    max_van_rossum_ratio : float
    van_rossum_tau : float
        Time constant of the van Rossum kernel in seconds.
    reference_distance : float
        ``D_ref`` (per square-root second).
    reference_kind : {"reference", "self"}
        Where ``D_ref`` came from.
    simulation : SimulationResult
        The simulated members.
    """

    members: pd.DataFrame
    observed: pd.Series
    observed_class: str
    fraction_valid: float
    n_valid: int
    rule: str
    max_relative_error: float
    max_van_rossum_ratio: float
    van_rossum_tau: float
    reference_distance: float
    reference_kind: str
    simulation: SimulationResult

    @property
    def n_members(self) -> int:
        """Number of members scored."""
        return len(self.members)

    def __repr__(self) -> str:
        return (
            f"ValidationResult({self.n_valid}/{self.n_members} valid = {self.fraction_valid:.0%}, "
            f"observed {self.observed_class}, reference={self.reference_kind!r})"
        )


def _observed_train(observed: Any) -> SpikeTrains:
    """The observed train as a one-unit SpikeTrains (any input :func:`as_spike_trains` takes)."""
    spikes = as_spike_trains(observed, input_name="observed_spiketrain")
    if spikes.n_units != 1:
        msg = (
            f"`observed_spiketrain` must be one train; got {spikes.n_units} units. Pass one array of "
            "spike times in seconds, or pick one unit with spikes.select([unit_id])."
        )
        raise ValueError(msg)
    n_spikes = int(spikes.n_spikes[0])
    if n_spikes < 3:
        msg = (
            f"`observed_spiketrain` has {n_spikes} spike(s); at least 3 are needed to define a "
            "firing class (a silent train cannot be validated)."
        )
        raise ValueError(msg)
    return spikes


def _aligned(train: np.ndarray, window: float) -> np.ndarray:
    """Spikes of ``train`` shifted to start at its first spike, kept within ``[0, window]``."""
    if train.size == 0:
        return train
    shifted = train - train[0]
    return shifted[shifted <= window]


NOISE_FLOOR = 1e-6
"""Relative size below which a van Rossum distance is rounding noise and counts as 0.

Elephant computes the distance from kernel sums whose terms cancel for identical trains; what
is left is float noise of order 1e-8 to 1e-7 of the trains' own norm (their distance to the
empty train).  Distances below ``NOISE_FLOOR`` times that norm are set to exactly 0, so that a
member identical to a perfectly periodic train scores 0 rather than noise divided by noise."""


def _distance(a: np.ndarray, b: np.ndarray, tau: float, window: float) -> float:
    """van Rossum distance (Elephant) per square-root second of window; 0 below the noise floor."""
    matrix = van_rossum_distances([a, b, np.zeros(0)], tau=tau, t_stop=window + 10 * tau)
    value, norm = float(matrix[0, 1]), float(np.hypot(matrix[0, 2], matrix[1, 2]))
    if value <= NOISE_FLOOR * norm:
        return 0.0
    return value / np.sqrt(window)


def van_rossum_ratio(
    observed: np.ndarray, members: Sequence[np.ndarray], *, duration: float,
    reference: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, float, float, str]:
    """van Rossum distance ratio of each member to the observed train.

    Parameters
    ----------
    observed : ndarray of float
        Observed spike times in seconds (>= 3 spikes).
    members : sequence of ndarray of float
        Member spike times in seconds over a window of ``duration`` seconds.
    duration : float
        Length of the members' (and reference trains') window in seconds.
    reference : sequence of ndarray of float, optional
        Trains whose mean distance to ``observed`` is the reference ``D_ref``; default: the
        two halves of ``observed``.

    Returns
    -------
    ratios : ndarray of float, shape (n_members,)
        ``D(x, member) / D_ref`` (inf for a silent member).  Distances below
        :data:`NOISE_FLOOR` of the trains' norm are 0; when ``D_ref`` is 0 (a perfectly
        periodic train compared with itself) the ratio is 0 for a member at distance 0 and
        inf otherwise.
    reference_distance : float
    tau : float
        Kernel time constant in seconds.
    kind : {"reference", "self"}
    """
    intervals = np.diff(observed)
    tau = float((intervals.max() + intervals.min()) / 2)
    span = float(observed[-1] - observed[0])

    def score(train: np.ndarray, limit: float) -> float:
        if train.size == 0:
            return np.inf
        window = min(span, limit - train[0])
        if window <= 0:
            return np.inf
        return _distance(_aligned(observed, window), _aligned(train, window), tau, window)

    if reference is not None and len(reference):
        distances = [score(np.asarray(r, dtype=np.float64), duration) for r in reference]
        reference_distance = float(np.mean([d for d in distances if np.isfinite(d)] or [np.nan]))
        kind = "reference"
    else:
        half = span / 2
        first = observed[observed <= observed[0] + half]
        second = observed[observed > observed[0] + half]
        reference_distance = np.nan
        if second.size:
            reference_distance = _distance(_aligned(first, half), _aligned(second, half), tau, half)
        kind = "self"
    ratios = np.array([score(np.asarray(m, dtype=np.float64), duration) for m in members])
    if reference_distance == 0:
        # the reference reproduces the train exactly: only an exact member matches it
        return np.where(ratios == 0, 0.0, np.inf), reference_distance, tau, kind
    with np.errstate(divide="ignore", invalid="ignore"):
        return ratios / reference_distance, reference_distance, tau, kind


def validate_population(
    observed_spiketrain: Any,
    population_or_result: Any,
    *,
    model: Any = None,
    duration: float = 2.0,
    transient: float = 2.0,
    dt: float | None = None,
    noise_sigma: float = 0.0,
    rng: int | np.random.Generator | None = None,
    reference: Any = None,
    max_relative_error: float = 0.2,
    max_van_rossum_ratio: float = 1.0,
    code_target: str = "auto",
    method: str | None = None,
) -> ValidationResult:
    """Simulate a population and score each member against an observed spike train.

    Parameters
    ----------
    observed_spiketrain : array of float, neo.SpikeTrain or one-unit SpikeTrains
        The recorded train, spike times in seconds (sorted, finite, >= 0, at least 3 spikes).
    population_or_result : Population, DataFrame, ndarray or SimulationResult
        The members, as accepted by :func:`~nwb_dicpop.simulate_population`, or an already
        simulated :class:`~nwb_dicpop.SimulationResult` (then ``duration``, ``transient``,
        ``dt``, ``noise_sigma``, ``rng``, ``code_target`` and ``method`` are not used).
    model : str or NeuronModel, optional
        Needed for tables and arrays of conductances.
    duration, transient, dt, noise_sigma, rng, code_target, method
        Passed to :func:`~nwb_dicpop.simulate_population` (seconds; ``duration`` is the
        recorded window, default 2 s, simulated after ``transient`` discarded seconds).
    reference : sequence of arrays, SpikeTrains or SimulationResult, optional
        Trains that reproduce the observed neuron by construction (its own ground-truth
        population, repeated recordings); their mean van Rossum distance to the observed
        train is ``D_ref`` and the van Rossum criterion is applied.  Without it the ratio to
        the observed train's half-to-half distance is reported but not used.
    max_relative_error : float
        Largest accepted relative error of each key statistic (default 0.2 = 20 %).
    max_van_rossum_ratio : float
        Largest accepted ``R_VR`` when ``reference`` is given (default 1: the member is at
        most as far from the observed train as the reference trains are).

    Returns
    -------
    ValidationResult
        Per-member detail, the fraction of valid members and the rule.

    Raises
    ------
    ValueError
        An observed train with fewer than 3 spikes, unsorted, NaN or negative times; bad
        simulation arguments (see :func:`~nwb_dicpop.simulate_population`).

    Notes
    -----
    A member is valid when (1) its firing class equals the observed one, (2) every key
    statistic of that class is within ``max_relative_error`` of the observed value (a
    statistic defined for the observed train but not for the member counts as an infinite
    error), and (3) when ``reference`` is given, ``R_VR <= max_van_rossum_ratio``.
    """
    from nwb_dicpop.simulation import simulate_population

    observed_spikes = _observed_train(observed_spiketrain)
    train = observed_spikes.times[0]
    for name, value in (("max_relative_error", max_relative_error), ("max_van_rossum_ratio", max_van_rossum_ratio)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            msg = f"`{name}` must be a positive number; got {value!r}."
            raise ValueError(msg)
    if isinstance(population_or_result, SimulationResult):
        result = population_or_result
    else:
        result = simulate_population(
            population_or_result, model=model, duration=duration, transient=transient, dt=dt,
            noise_sigma=noise_sigma, rng=rng, code_target=code_target, method=method,
        )
    reference_trains = None
    if reference is not None:
        reference_trains = list(as_spike_trains(reference, input_name="reference").times)
    observed = compute_spike_statistics(observed_spikes).iloc[0]
    stats = compute_spike_statistics(result)
    observed_class = str(observed["firing_class"])
    keys = KEY_STATISTICS[observed_class]
    frame = stats[["firing_class", "n_spikes", "mean_rate", *keys]].copy()
    frame["same_class"] = frame["firing_class"] == observed_class
    errors = []
    for key in keys:
        target = observed[key]
        values = frame[key].to_numpy(dtype=np.float64)
        if np.isnan(target):
            error = np.zeros_like(values)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                error = np.where(np.isnan(values), np.inf, np.abs(values / target - 1.0))
        frame[f"error_{key}"] = error
        errors.append(error)
    frame["max_relative_error"] = np.max(errors, axis=0) if errors else 0.0
    ratios, reference_distance, tau, kind = van_rossum_ratio(
        train, result.spike_times, duration=result.duration, reference=reference_trains
    )
    frame["van_rossum_ratio"] = ratios
    valid = frame["same_class"].to_numpy() & (frame["max_relative_error"].to_numpy() <= max_relative_error)
    if kind == "reference":
        valid &= ratios <= max_van_rossum_ratio
    frame["valid"] = valid
    rule = (
        f"valid = same firing class as the observed train ({observed_class}) and relative error "
        f"<= {max_relative_error:g} on {list(keys) or 'no statistic (silent)'}"
        + (f" and van Rossum ratio <= {max_van_rossum_ratio:g} (reference trains given)"
           if kind == "reference" else "; van Rossum ratio (vs the observed train's own halves) "
           "reported, not used")
    )
    n_valid = int(valid.sum())
    return ValidationResult(
        members=frame,
        observed=observed,
        observed_class=observed_class,
        fraction_valid=n_valid / len(frame) if len(frame) else 0.0,
        n_valid=n_valid,
        rule=rule,
        max_relative_error=float(max_relative_error),
        max_van_rossum_ratio=float(max_van_rossum_ratio),
        van_rossum_tau=tau,
        reference_distance=float(reference_distance),
        reference_kind=kind,
        simulation=result,
    )
