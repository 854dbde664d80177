"""Score how well each member of a population reproduces an observed spike train.

:func:`validate_population` simulates a population (or takes a finished
:class:`~nwb_dicpop.SimulationResult`) and compares every member with the observed train on
three counts (``docs/method.md``, "The validation rule"):

1. the firing class (silent / spiking / bursting);
2. the key statistics of that class, each within its tolerance (:class:`ValidationRule`):
   the spiking frequency for tonic spikers; spikes per burst, interburst and intraburst
   frequency for bursters.  The default rule (:data:`RULES` ``["default"]``) allows each
   statistic the spread measured between trains simulated at the same DICs
   (``docs/method.md``); ``"strict"`` is the former rule, every statistic within 20 %;
3. the van Rossum distance ratio ``R_VR = D(x, member) / D_ref`` (Elephant's
   ``van_rossum_distance``, time constant ``tau = (max ISI + min ISI) / 2`` of the observed
   train ``x``, both trains aligned at their first spike).  Windows of different length are
   made comparable by dividing squared distances by the window length.  ``D_ref`` is the
   mean distance between ``x`` and the ``reference`` trains when given (the thesis
   definition: the members of ``x``'s own ground-truth population, or repeated recordings of
   the same neuron); otherwise it is the distance between the two halves of ``x`` (its own
   variability), reported for information only, because a noise-free, periodic train is
   almost identical to itself and that reference then tends to zero.

:func:`validation_window` sets the simulated window from the recording and the model: the
recorded window is the recording's duration, floored at :data:`MIN_WINDOW` and capped at
:data:`MAX_WINDOW`, after the model's training transient.

The rule that makes a member valid is stored in the result (``ValidationResult.rule``).

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    van_rossum_distance,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KEY_STATISTICS",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "NOISE_FLOOR",
    "RULES",
    "WINDOW_STEP",
    "ValidationResult",
    "ValidationRule",
    "get_rule",
    "validate_population",
    "validation_window",
    "van_rossum_ratio",
]

KEY_STATISTICS = {
    SPIKING: ("spiking_frequency",),
    BURSTING: ("spikes_per_burst", "intraburst_frequency", "interburst_frequency"),
    SILENT: (),
}
"""Statistics that can be scored, per firing class of the observed train."""


@dataclass(frozen=True, slots=True)
class ValidationRule:
    """Tolerances of the key statistics a valid member must match (besides its firing class).

    Each tolerance is a relative error, ``|member / observed - 1|``; ``None`` leaves the
    statistic out of the rule (it is still reported).  A statistic defined for the observed
    train but not for the member (a burster with fewer than two kept bursts has no
    interburst frequency) is an infinite error; one undefined for the observed train is not
    compared.

    Attributes
    ----------
    spiking_frequency : float or None
        Tonic spikers: mean instantaneous frequency (1 / ISI).
    spikes_per_burst : float or None
        Bursters: mean spikes per burst, relative tolerance ...
    spikes_per_burst_count : float
        ... or this many spikes, whichever is larger (a burst of 3 spikes against one of 4 is
        a 33 % error but a one-spike difference).
    interburst_frequency : float or None
        Bursters: 1 / mean interval between burst onsets.
    intraburst_frequency : float or None
        Bursters: mean spikes per second within a burst.
    name : str
        How the rule is called in messages and in ``ValidationResult.rule``.
    """

    spiking_frequency: float | None = 0.2
    spikes_per_burst: float | None = 0.4
    spikes_per_burst_count: float = 1.0
    interburst_frequency: float | None = 0.25
    intraburst_frequency: float | None = 0.3
    name: str = "custom"

    def __post_init__(self) -> None:
        for key in ("spiking_frequency", "spikes_per_burst", "interburst_frequency", "intraburst_frequency"):
            value = getattr(self, key)
            if value is not None and not _positive_number(value):
                msg = f"ValidationRule `{key}` must be a positive number or None (not compared); got {value!r}."
                raise ValueError(msg)
        count = self.spikes_per_burst_count
        if isinstance(count, bool) or not isinstance(count, (int, float)) or not 0 <= count < math.inf:
            msg = f"ValidationRule `spikes_per_burst_count` must be a number >= 0 (spikes); got {count!r}."
            raise ValueError(msg)

    def tolerances(self, observed_class: str) -> dict[str, float]:
        """The compared statistics of ``observed_class`` and their relative tolerances."""
        return {key: float(getattr(self, key)) for key in KEY_STATISTICS[observed_class]
                if getattr(self, key) is not None}

    def describe(self, observed_class: str) -> str:
        """The statistics part of the rule in words, for ``observed_class``."""
        parts = []
        for key, tolerance in self.tolerances(observed_class).items():
            text = f"{key} within {tolerance:.0%}"
            if key == "spikes_per_burst" and self.spikes_per_burst_count > 0:
                text += f" or {self.spikes_per_burst_count:g} spike(s)"
            parts.append(text)
        return ", ".join(parts) or "no statistic"


def _positive_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value < math.inf


RULES: Mapping[str, ValidationRule] = {
    "default": ValidationRule(name="default"),
    "strict": ValidationRule(
        spiking_frequency=0.2, spikes_per_burst=0.2, spikes_per_burst_count=0.0, interburst_frequency=0.2,
        intraburst_frequency=0.2, name="strict",
    ),
}
"""Named rules.  ``"default"``: spiking frequency within 20 %; spikes per burst within 40 % or
one spike, interburst frequency within 25 %, intraburst frequency within 30 % (the tolerances
measured in ``docs/method.md``: at a train's own DICs, 0.94 (STG) and 0.85 (DA) of tonic and
0.93 and 0.38 of bursting members pass).  ``"strict"``: every key statistic within 20 % (the
rule used before; 0.75 and 0.23 of bursting members at their own DICs pass it)."""


def get_rule(rule: str | ValidationRule) -> ValidationRule:
    """The :class:`ValidationRule` called ``rule`` in :data:`RULES` (a ValidationRule is returned as is).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    return _resolve_rule(rule, None)


def _resolve_rule(rule: Any, max_relative_error: Any) -> ValidationRule:
    """The rule of :func:`validate_population`: a name, a ValidationRule, or one tolerance for all."""
    if max_relative_error is not None:
        if not _positive_number(max_relative_error):
            msg = f"`max_relative_error` must be a positive number; got {max_relative_error!r}."
            raise ValueError(msg)
        value = float(max_relative_error)
        return ValidationRule(spiking_frequency=value, spikes_per_burst=value, spikes_per_burst_count=0.0,
                              interburst_frequency=value, intraburst_frequency=value,
                              name=f"every key statistic within {value:.0%}")
    if isinstance(rule, ValidationRule):
        return rule
    if isinstance(rule, str) and rule in RULES:
        return RULES[rule]
    msg = f"`rule` must be one of {sorted(RULES)} or a ValidationRule; got {rule!r}."
    raise ValueError(msg)


MIN_WINDOW = 2.0
"""Shortest recorded window (s) :func:`validation_window` simulates, whatever the recording."""

MAX_WINDOW = 10.0
"""Longest recorded window (s) :func:`validation_window` simulates: long recordings are
compared with 10 s of each member (at most a few seconds of simulation per member and core for
the shipped models; DA bursts come every 1 to 3 s)."""

WINDOW_STEP = 0.1
"""Recorded windows are rounded down to this step (s), so that units of one recording share
one simulation."""

DEFAULT_TRANSIENT = 3.0
"""Transient (s) of models without a training protocol; the shipped models use their own
(``get_model(m).training.transient``, 3 s for both)."""


def validation_window(recording: float, model: Any) -> tuple[float, float]:
    """The ``(duration, transient)`` simulated to validate members against a recording.

    Parameters
    ----------
    recording : float
        Duration of the recording (its observation window), in seconds.
    model : str or NeuronModel

    Returns
    -------
    duration : float
        ``recording`` rounded down to :data:`WINDOW_STEP`, floored at :data:`MIN_WINDOW` and
        capped at :data:`MAX_WINDOW` seconds.
    transient : float
        The model's training transient (``model.training.transient``; 3 s for STG and DA),
        or :data:`DEFAULT_TRANSIENT` for a model without a training protocol.

    Examples
    --------
    >>> from nwb_dicpop.validation import validation_window
    >>> validation_window(9.0, "da"), validation_window(600.0, "stg"), validation_window(0.8, "stg")
    ((9.0, 3.0), (10.0, 3.0), (2.0, 3.0))
    """
    from nwb_dicpop.models import get_model

    spec = get_model(model)
    if isinstance(recording, bool) or not isinstance(recording, (int, float, np.integer, np.floating)) or not (
        np.isfinite(recording) and recording >= 0
    ):
        msg = f"`recording` must be a duration in seconds (a finite number >= 0); got {recording!r}."
        raise ValueError(msg)
    steps = math.floor(float(recording) / WINDOW_STEP + 1e-9)
    duration = min(MAX_WINDOW, max(MIN_WINDOW, round(steps * WINDOW_STEP, 6)))
    transient = float(spec.training.transient) if spec.training is not None else DEFAULT_TRANSIENT
    return float(duration), transient


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Outcome of :func:`validate_population`.

    Attributes
    ----------
    members : pandas.DataFrame
        One row per member: ``firing_class``, ``same_class``, the member's key statistics,
        ``error_<statistic>`` (relative), ``max_relative_error`` (largest relative error of the
        compared statistics), ``van_rossum_ratio``, ``valid``.
    observed : pandas.Series
        Statistics of the observed train (:func:`~nwb_dicpop.compute_spike_statistics`).
    observed_class : str
    fraction_valid : float
        Fraction of members that are valid.
    n_valid : int
    rule : str
        The validity rule, in words, with its tolerances.
    max_relative_error : float
        Largest relative tolerance of the rule's compared statistics.
    max_van_rossum_ratio : float
    van_rossum_tau : float
        Time constant of the van Rossum kernel in seconds.
    reference_distance : float
        ``D_ref`` (per square-root second).
    reference_kind : {"reference", "self"}
        Where ``D_ref`` came from.
    simulation : SimulationResult
        The simulated members.
    criteria : ValidationRule
        The tolerances applied.
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
    criteria: ValidationRule = RULES["default"]

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
    """van Rossum distance (Elephant's, computed in numpy) per square-root second of window; 0
    below the noise floor."""
    value, norm = van_rossum_distance(a, b, tau=tau)
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
    duration: float | None = None,
    transient: float | None = None,
    dt: float | None = None,
    noise_sigma: float = 0.0,
    rng: int | np.random.Generator | None = None,
    reference: Any = None,
    rule: str | ValidationRule = "default",
    max_relative_error: float | None = None,
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
    duration, transient : float, optional
        Recorded window simulated after ``transient`` discarded seconds (passed to
        :func:`~nwb_dicpop.simulate_population`).  Default: :func:`validation_window` of the
        observed train's window (its ``t_stop - t_start``; 0 to its last spike for an array)
        and the model, i.e. the recording's duration within [2, 10] s after the model's
        training transient (3 s for STG and DA).
    dt, noise_sigma, rng, code_target, method
        Passed to :func:`~nwb_dicpop.simulate_population`.
    reference : sequence of arrays, SpikeTrains or SimulationResult, optional
        Trains that reproduce the observed neuron by construction (its own ground-truth
        population, repeated recordings); their mean van Rossum distance to the observed
        train is ``D_ref`` and the van Rossum criterion is applied.  Without it the ratio to
        the observed train's half-to-half distance is reported but not used.
    rule : {"default", "strict"} or ValidationRule
        Tolerances of the key statistics (:data:`RULES`, :class:`ValidationRule`):
        ``"default"`` allows spikes per burst within 40 % or one spike, interburst frequency
        within 25 %, intraburst frequency within 30 % and the tonic spiking frequency within
        20 %; ``"strict"`` asks 20 % of every statistic.
    max_relative_error : float, optional
        One relative tolerance for every key statistic (replaces ``rule``); e.g. 0.2 is the
        ``"strict"`` rule.
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
        An observed train with fewer than 3 spikes, unsorted, NaN or negative times; an
        unknown rule or a non-positive tolerance; bad simulation arguments (see
        :func:`~nwb_dicpop.simulate_population`).

    Notes
    -----
    A member is valid when (1) its firing class equals the observed one, (2) every key
    statistic of that class that the rule compares is within its tolerance (a statistic
    defined for the observed train but not for the member counts as an infinite error), and
    (3) when ``reference`` is given, ``R_VR <= max_van_rossum_ratio``.
    """
    from nwb_dicpop.simulation import simulate_population

    observed_spikes = _observed_train(observed_spiketrain)
    train = observed_spikes.times[0]
    criteria = _resolve_rule(rule, max_relative_error)
    if not _positive_number(max_van_rossum_ratio):
        msg = f"`max_van_rossum_ratio` must be a positive number; got {max_van_rossum_ratio!r}."
        raise ValueError(msg)
    if isinstance(population_or_result, SimulationResult):
        result = population_or_result
    else:
        if duration is None or transient is None:
            target_model = model if model is not None else getattr(population_or_result, "model_name", None)
            if target_model is None:
                msg = "`model` is needed to simulate a table or an array of conductances."
                raise ValueError(msg)
            recording = float(observed_spikes.t_stop[0] - observed_spikes.t_start[0])
            default_duration, default_transient = validation_window(recording, target_model)
            duration = default_duration if duration is None else duration
            transient = default_transient if transient is None else transient
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
    tolerances = criteria.tolerances(observed_class)
    frame = stats[["firing_class", "n_spikes", "mean_rate", *keys]].copy()
    frame["same_class"] = frame["firing_class"] == observed_class
    within = np.ones(len(frame), dtype=bool)
    compared = []
    for key in keys:
        target = observed[key]
        values = frame[key].to_numpy(dtype=np.float64)
        if np.isnan(target):
            error = np.zeros_like(values)
            difference = np.zeros_like(values)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                error = np.where(np.isnan(values), np.inf, np.abs(values / target - 1.0))
            difference = np.where(np.isnan(values), np.inf, np.abs(values - target))
        frame[f"error_{key}"] = error
        if key not in tolerances:
            continue
        compared.append(error)
        ok = error <= tolerances[key]
        if key == "spikes_per_burst":
            ok |= difference <= criteria.spikes_per_burst_count
        within &= ok
    frame["max_relative_error"] = np.max(compared, axis=0) if compared else 0.0
    ratios, reference_distance, tau, kind = van_rossum_ratio(
        train, result.spike_times, duration=result.duration, reference=reference_trains
    )
    frame["van_rossum_ratio"] = ratios
    valid = frame["same_class"].to_numpy() & within
    if kind == "reference":
        valid &= ratios <= max_van_rossum_ratio
    frame["valid"] = valid
    rule_text = (
        f"valid = same firing class as the observed train ({observed_class}) and "
        f"{criteria.describe(observed_class)} (rule {criteria.name!r})"
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
        rule=rule_text,
        max_relative_error=max(tolerances.values(), default=0.0),
        max_van_rossum_ratio=float(max_van_rossum_ratio),
        van_rossum_tau=tau,
        reference_distance=float(reference_distance),
        reference_kind=kind,
        simulation=result,
        criteria=criteria,
    )
