"""The simulation engine shared by :func:`~nwb_dicpop.simulate_population` and
:func:`~nwb_dicpop.simulate_batches`: input checks, the Brian2 run, the spike rule.

Both front ends import from this module only (the Brian2 helpers of ``_functions``,
``_targets`` and ``_noise`` are re-exported here).  Times follow one convention everywhere:
``duration`` is the *recorded* window in seconds; ``transient`` seconds are simulated and
discarded before it, so a run simulates ``transient + duration`` seconds and spike times lie in
``[0, duration]``, measured from the end of the transient.

Spikes follow Brandoit et al. (2025): a spike starts at the first step where V exceeds +10 mV
and only counts once V has fallen back below 0 mV (Brian2 ``threshold="v > 10*mV"`` with the
condition-based ``refractory="v > 0*mV"``; a last spike still above 0 mV at the end is
dropped).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_choice, check_finite_array
from nwb_dicpop.containers import Population, SimulationResult
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.codegen import (
    EXPREL_FUNCTION,
    GENERATED_METHODS,
    NOISE_FUNCTION,
    TABLE_FUNCTION,
    TABLE_INDEX_FUNCTION,
    brian2_name,
    equation_text,
    update_code,
)
from nwb_dicpop.models.dynamics import (
    MIN_TIME_CONSTANT,
    SPIKE_RESET,
    SPIKE_THRESHOLD,
    dynamics_for,
)
from nwb_dicpop.simulation._functions import (
    BRIAN_LOCK,
    GeneratedUpdater,
    brian2_module,
    exprel_function,
    table_function,
    table_index_function,
)
from nwb_dicpop.simulation._noise import filtered_noise, member_seeds
from nwb_dicpop.simulation._targets import CodeTargetWarning, configure_brian, resolve_target

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FALLBACK_DT",
    "MAX_DT",
    "MAX_NOISE_BYTES",
    "METHODS",
    "CodeTargetWarning",
    "NumericalInstabilityWarning",
    "check_noise_dt",
    "check_noise_sigma",
    "check_record",
    "check_times",
    "conductance_table",
    "integration_settings",
    "max_dt",
    "member_seeds",
    "resolve_duration",
    "resolve_target",
    "run_population",
    "simulator_version",
]

MAX_DT = 1e-4
"""Largest accepted step in seconds (0.1 ms, the STG model's step with ``rush_larsen2``); larger
steps lose the 2 % fidelity to the BDF reference (``docs/scaling.md``).  Explicit methods are
further limited by their stability bound on the fastest gate (see :func:`max_dt`)."""
FALLBACK_DT = 2.5e-5
"""Default step (s) when ``method`` differs from the model's own method
(``model.simulation.method``); further capped by :func:`max_dt`."""
METHODS = (*GENERATED_METHODS, "exponential_euler", "rk2", "euler")
"""Accepted ``method`` values; the last three are Brian2's own state updaters."""
MAX_NOISE_BYTES = 256 * 2**20
"""Memory budget of the noise array of one NeuronGroup; larger noisy populations run in groups."""

_STABILITY = {"rk4": 2.78, "rk2": 2.0, "euler": 2.0}


class NumericalInstabilityWarning(UserWarning):
    """Some members diverged (NaN or infinite state): choose another method or a smaller dt."""


def max_dt(model: str | NeuronModel, method: str) -> float:
    """Largest integration step (s) accepted for ``model`` with ``method``.

    :data:`MAX_DT` for every method; explicit methods (``rk4``, ``rk2``, ``euler``) are also
    limited to their stability bound ``c * tau_min`` on a gate at the time-constant floor
    :data:`~nwb_dicpop.models.dynamics.MIN_TIME_CONSTANT` (0.01 ms, which the DA sodium
    activation reaches), with ``c`` = 2.78 for rk4 and 2 otherwise.  The voltage equation can
    be stiffer still (the STG conductances): members that diverge are reported with a
    :class:`NumericalInstabilityWarning`.
    """
    get_model(model)
    limit = MAX_DT
    if method in _STABILITY:
        limit = min(limit, _STABILITY[method] * MIN_TIME_CONSTANT * 1e-3)
    return limit


def simulator_version() -> str:
    """``"brian2 <version>"``."""
    return f"brian2 {brian2_module().__version__}"


# ---------------------------------------------------------------------------------- inputs
def conductance_table(population: Any, model: str | NeuronModel | None) -> tuple[NeuronModel, np.ndarray]:
    """``(model, conductances (n, n_conductances))`` from any accepted population input.

    Parameters
    ----------
    population : Population, pandas.DataFrame or array of float, shape (n, n_conductances)
        The conductance sets (mS/cm^2); tables and arrays need ``model``.
    model : str or NeuronModel, optional
        Required for tables and arrays; for a Population it must match its model.

    Returns
    -------
    tuple of (NeuronModel, ndarray)
        The model declaration and a fresh float64 copy of the conductances.

    Raises
    ------
    ValueError
        A missing or mismatched model, a wrong number of columns, an empty population,
        negative or non-finite conductances, a leak conductance that is not positive.
    TypeError
        A :class:`~nwb_dicpop.SimulationResult` or non-numeric columns.
    """
    if isinstance(population, Population):
        spec = get_model(population.model_name)
        if model is not None and get_model(model) is not spec:
            msg = (
                f"`population` belongs to model {population.model_name!r} but model="
                f"{getattr(model, 'name', model)!r} was passed; drop `model` or pass a population "
                "of that model."
            )
            raise ValueError(msg)
        if tuple(population.conductance_names) != spec.conductance_names:
            msg = (
                f"`population` has conductances {population.conductance_names}; model "
                f"{spec.name!r} expects {spec.conductance_names}."
            )
            raise ValueError(msg)
        values = np.array(population.conductances, dtype=np.float64)
    elif isinstance(population, SimulationResult):
        msg = "`population` is a SimulationResult; pass its conductances with model=result.model_name."
        raise TypeError(msg)
    else:
        if model is None:
            msg = (
                "`model` is required when `population` is a table or an array of conductances; "
                "pass model='stg' or model='da'."
            )
            raise ValueError(msg)
        spec = get_model(model)
        if _is_dataframe(population):
            values = _from_dataframe(population, spec)
        else:
            values = check_finite_array("population", population, ndim=(2,))
            if values.shape[1] != spec.n_conductances:
                msg = (
                    f"`population` must have one column per conductance of model {spec.name!r} "
                    f"{spec.conductance_names}; got shape {values.shape}."
                )
                raise ValueError(msg)
            values = values.copy()
    if values.shape[0] == 0:
        msg = "`population` is empty (0 conductance sets); nothing to simulate."
        raise ValueError(msg)
    values = check_finite_array("population conductances", values, nonnegative=True)
    leak = values[:, spec.index(spec.leak)]
    if np.any(leak <= 0):
        bad = np.flatnonzero(leak <= 0)
        msg = (
            f"The leak conductance g_{spec.leak} must be > 0 mS/cm^2 (it sets the resting "
            f"membrane); members {bad[:10].tolist()} have {leak[bad[:10]].tolist()}."
        )
        raise ValueError(msg)
    return spec, values


def integration_settings(spec: NeuronModel, method: str | None) -> tuple[str, float]:
    """The method to use and the default step (s) that goes with it.

    ``method=None`` gives the model's own ``simulation.method`` and ``simulation.dt``; another
    method gets :data:`FALLBACK_DT`, capped by :func:`max_dt`.
    """
    settings = spec.simulation
    if method is None:
        return settings.method, settings.dt
    method = check_choice("method", method, METHODS)
    if method == settings.method:
        return method, settings.dt
    return method, min(FALLBACK_DT, max_dt(spec, method))


def _is_dataframe(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and type(value).__name__ == "DataFrame"


def _from_dataframe(frame: pd.DataFrame, spec: NeuronModel) -> np.ndarray:
    columns = {str(c): c for c in frame.columns}
    picked = []
    for name in spec.conductance_names:
        for candidate in (name, f"g_{name}"):
            if candidate in columns:
                picked.append(columns[candidate])
                break
        else:
            check_choice(f"conductance column for {name!r} (model {spec.name!r})", f"g_{name}", list(columns))
    try:
        values = frame[picked].to_numpy(dtype=np.float64, copy=True)
    except (TypeError, ValueError) as err:
        msg = f"Conductance columns {picked} must be numeric: {err}"
        raise TypeError(msg) from err
    return values


def _check_seconds(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        msg = f"`{name}` must be a number of seconds; got {value!r}."
        raise TypeError(msg)
    if not np.isfinite(value):
        msg = f"`{name}` must be finite seconds; got {value!r}."
        raise ValueError(msg)


def resolve_duration(
    duration: Any, transient: Any, total_duration: Any, *, default: float | None = None, stacklevel: int = 3
) -> Any:
    """The recorded window (s) from ``duration`` or from the deprecated ``total_duration``.

    Parameters
    ----------
    duration : float or None
        The recorded window in seconds (after the transient), as passed by the caller.
    transient : float
        Seconds simulated and discarded before the recorded window.
    total_duration : float or None
        Deprecated: the simulated time with the transient included.  Converted to
        ``total_duration - transient`` with a :class:`FutureWarning`.
    default : float, optional
        Recorded window when neither is given; None makes ``duration`` required.
    stacklevel : int
        Passed to :func:`warnings.warn` (3: the caller of the function calling this one).

    Returns
    -------
    float
        The recorded window (not yet checked: see :func:`check_times`).

    Raises
    ------
    ValueError
        Both ``duration`` and ``total_duration`` given, or ``total_duration <= transient``.
    TypeError
        Neither given and no ``default``.
    """
    if total_duration is None:
        if duration is None:
            if default is None:
                msg = (
                    "`duration` is required: the recorded window in seconds, simulated after the "
                    "`transient` (e.g. duration=2.0, transient=2.0)."
                )
                raise TypeError(msg)
            return default
        return duration
    if duration is not None:
        msg = (
            "Pass either `duration` (the recorded window, after the transient) or the deprecated "
            f"`total_duration` (transient included), not both; got duration={duration!r}, "
            f"total_duration={total_duration!r}. Drop total_duration."
        )
        raise ValueError(msg)
    _check_seconds("total_duration", total_duration)
    _check_seconds("transient", transient)
    recorded = total_duration - transient
    if not recorded > 0:
        msg = (
            f"`total_duration` ({total_duration} s) must be longer than `transient` ({transient} s): "
            "it includes the transient. Pass duration=<recorded window in seconds> instead."
        )
        raise ValueError(msg)
    warnings.warn(
        "`total_duration` is deprecated: `duration` is now the recorded window, simulated after "
        f"the transient. Pass duration={float(round(recorded, 12))!r} (total_duration - transient) "
        f"instead of total_duration={total_duration!r}.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return recorded


def check_times(
    duration: Any, transient: Any, dt: Any, *, default_dt: float, limit: float = MAX_DT
) -> tuple[float, float, float]:
    """Checked ``(duration, transient, dt)`` in seconds.

    Parameters
    ----------
    duration : float
        Recorded window (> 0), after the transient.
    transient : float
        Simulated and discarded time before the recorded window (>= 0).
    dt : float or None
        Integration step; None gives ``default_dt``.
    default_dt : float
        The step used for ``dt=None``.
    limit : float
        Largest accepted step (see :func:`max_dt`).

    Raises
    ------
    TypeError
        Non-numeric ``duration`` or ``transient``.
    ValueError
        Non-finite or non-positive ``duration``, negative ``transient``, a non-positive ``dt``
        or one larger than ``limit``.
    """
    _check_seconds("duration", duration)
    _check_seconds("transient", transient)
    if duration <= 0:
        msg = (
            f"`duration` must be positive seconds (the recorded window, after the transient); got "
            f"{duration!r}. Pass e.g. duration=2.0."
        )
        raise ValueError(msg)
    if transient < 0:
        msg = (
            f"`transient` must be >= 0 seconds (simulated and discarded before the recorded window); "
            f"got {transient!r}. Pass e.g. transient=2.0, or 0 to record from the start."
        )
        raise ValueError(msg)
    dt = default_dt if dt is None else dt
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.integer, np.floating)) or not dt > 0:
        msg = f"`dt` must be a positive number of seconds; got {dt!r}. Pass e.g. dt=2.5e-5 (0.025 ms)."
        raise ValueError(msg)
    if dt > limit * (1 + 1e-9):
        msg = (
            f"`dt` = {dt} s is larger than this model and method allow ({limit:.4g} s = "
            f"{limit * 1e3:.4g} ms): the integration loses the 2 % fidelity or becomes unstable. "
            f"Pass dt <= {limit:.4g} or dt=None (default {default_dt} s)."
        )
        raise ValueError(msg)
    return float(duration), float(transient), float(dt)


def check_noise_sigma(noise_sigma: Any) -> float:
    """``noise_sigma`` (uA/cm^2) as a float >= 0; TypeError for non-numbers, ValueError otherwise."""
    if isinstance(noise_sigma, bool) or not isinstance(noise_sigma, (int, float, np.integer, np.floating)):
        msg = f"`noise_sigma` must be a number (uA/cm^2); got {noise_sigma!r}."
        raise TypeError(msg)
    if not np.isfinite(noise_sigma) or noise_sigma < 0:
        msg = f"`noise_sigma` must be >= 0 uA/cm^2; got {noise_sigma!r}."
        raise ValueError(msg)
    return float(noise_sigma)


def check_noise_dt(spec: NeuronModel, noise_dt: Any, dt: float) -> float:
    """The noise grid step (s): ``noise_dt`` or the model's ``simulation.noise_dt``, positive and
    an integer multiple of ``dt``."""
    step = spec.simulation.noise_dt if noise_dt is None else noise_dt
    if isinstance(step, bool) or not isinstance(step, (int, float, np.floating)) or not step > 0:
        msg = f"`noise_dt` must be a positive number of seconds; got {noise_dt!r}."
        raise ValueError(msg)
    ratio = step / dt
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6:
        msg = (
            f"`noise_dt` ({step} s) must be an integer multiple of the integration step `dt` ({dt} s); "
            "pass another dt or noise_dt."
        )
        raise ValueError(msg)
    return float(step)


def check_record(record_voltage: Any, n: int) -> np.ndarray:
    """Member indices whose voltage is recorded, as int64, each in ``[0, n)`` and unique."""
    try:
        members = np.asarray(list(record_voltage), dtype=np.int64).ravel()
    except (TypeError, ValueError) as err:
        msg = f"`record_voltage` must be a sequence of member indices; got {record_voltage!r}."
        raise TypeError(msg) from err
    if members.size and (members.min() < 0 or members.max() >= n):
        msg = f"`record_voltage` indices must lie in [0, {n - 1}]; got {members.tolist()}."
        raise ValueError(msg)
    if np.unique(members).size != members.size:
        msg = f"`record_voltage` contains duplicate members: {members.tolist()}."
        raise ValueError(msg)
    return members


# ---------------------------------------------------------------------------------- running
def _run_group(
    model: NeuronModel,
    conductances: np.ndarray,
    *,
    duration: float,
    transient: float,
    dt: float,
    method: str,
    noise: np.ndarray | None,
    noise_dt: float | None,
    record: np.ndarray,
    tables: bool = True,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Simulate one NeuronGroup: spike times (s after the transient), voltage traces (mV) and
    the mask of members whose state diverged."""
    b2 = brian2_module()

    n = conductances.shape[0]
    text, frozen = equation_text(model, method == "exponential_euler", noise is not None)
    namespace: dict[str, Any] = {EXPREL_FUNCTION: exprel_function()}
    if noise is not None:
        # fixed name and column count: the generated code (hence the compiled cache) is reused
        columns = max(8, 1 << int(np.ceil(np.log2(n))))
        padded = np.zeros((noise.shape[0], columns))
        padded[:, :n] = noise
        namespace[NOISE_FUNCTION] = b2.TimedArray(padded, dt=noise_dt * b2.second, name=NOISE_FUNCTION)
    integrator: Any = method
    if method in GENERATED_METHODS:
        code, table = update_code(model, method, noise is not None, dt * 1e3 if tables else None)
        integrator = GeneratedUpdater(code, method)
        if table is not None:
            namespace[TABLE_FUNCTION] = table_function(table)
            namespace[TABLE_INDEX_FUNCTION] = table_index_function()
    group = b2.NeuronGroup(
        n,
        text,
        threshold=f"v > {SPIKE_THRESHOLD!r}*mV",
        refractory=f"v > {SPIKE_RESET!r}*mV",
        method=integrator,
        dt=dt * b2.second,
        name="population",
        namespace=namespace,
    )
    dynamics = dynamics_for(model)
    initial = dynamics.initial_state()
    for name, value in zip(dynamics.state_names, initial, strict=True):
        if name == "V":
            group.v = value * b2.mV
        else:
            setattr(group, brian2_name(name), value)
    for k, name in enumerate(model.conductance_names):
        setattr(group, f"g_{name}", conductances[:, k])
    objects: list[Any] = [group]
    for name, expression in frozen:
        group.run_regularly(f"{name} = {expression}", when="before_groups", name=f"refresh_{name}")
        setattr(group, name, _evaluate_frozen(dynamics, name, initial))
    spikes = b2.SpikeMonitor(group, record=True, name="spikes")
    objects.append(spikes)
    voltage_monitor = None
    if record.size:
        voltage_monitor = b2.StateMonitor(group, "v", record=record.tolist(), name="voltage", when="end")
        voltage_monitor.active = transient <= 0  # voltage of the recorded window only
        objects.append(voltage_monitor)
    network = b2.Network(*objects)
    if voltage_monitor is not None and transient > 0:
        network.run(transient * b2.second, namespace={})
        voltage_monitor.active = True
        network.run(duration * b2.second, namespace={})
    else:
        # one run when no voltage is recorded: the same steps, and Brian2's start of a run (a
        # full garbage collection among others) paid once; transient spikes are dropped below
        end = _clock_steps(_clock_steps(transient, dt) * dt + duration, dt)  # the steps of two runs
        network.run(end * dt * b2.second, namespace={})
    diverged = ~np.isfinite(np.asarray(group.v[:] / b2.mV))
    trains = spikes.spike_trains()
    confirmed = np.asarray(group.not_refractory[:]) | (np.asarray(group.v[:] / b2.mV) <= SPIKE_RESET)
    out = []
    for k in range(n):
        # Brian2 stamps a spike with the start of the step whose end state crossed +10 mV
        times = np.asarray(trains[k] / b2.second) + dt - transient
        times = times[times >= -1e-12]
        if times.size and not confirmed[k]:
            times = times[:-1]  # still above 0 mV: the last spike never fell back
        out.append(np.clip(times, 0.0, None))
    voltage = np.zeros((0, 0))
    if voltage_monitor is not None:
        voltage = np.asarray(voltage_monitor.v / b2.mV)
    return out, voltage, diverged


def _clock_steps(target: float, dt: float) -> int:
    """The step at which a Brian2 run to ``target`` seconds ends (Brian2's rule: the nearest step
    when within 0.01 % of ``dt``, else the next one)."""
    nearest = round(target / dt)
    if abs(nearest * dt - target) <= 1e-4 * dt:
        return int(nearest)
    return int(np.ceil(target / dt))


def _evaluate_frozen(dynamics: Any, name: str, initial: np.ndarray) -> float:
    import sympy as sp

    expr = dynamics.instantaneous[name[2:]]
    return float(expr.subs(sp.Symbol("V", real=True), float(initial[0])))


def run_population(
    spec: NeuronModel,
    conductances: np.ndarray,
    *,
    duration: float,
    transient: float,
    dt: float,
    method: str,
    target: str,
    noise_sigma: float,
    noise_dt: float | None,
    seeds: Sequence[Any] | None,
    record: np.ndarray,
    tables: bool = True,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Simulate checked inputs with Brian2 (in memory-bounded groups when noise is injected).

    Parameters
    ----------
    spec : NeuronModel
    conductances : ndarray of float, shape (n, n_conductances)
        Checked conductance sets (see :func:`conductance_table`).
    duration : float
        Recorded window in seconds, after the transient.
    transient : float
        Seconds simulated and discarded first (the run lasts ``transient + duration``).
    dt : float
        Integration step (s).
    method : str
        One of :data:`METHODS`.
    target : {"cython", "numpy"}
        A resolved code target (see :func:`resolve_target`).
    noise_sigma : float
        Current-noise standard deviation (uA/cm^2); 0 for none.
    noise_dt : float or None
        Noise grid step (s); only used when ``noise_sigma > 0``.
    seeds : sequence of numpy.random.SeedSequence, optional
        One per member (see :func:`member_seeds`); required when ``noise_sigma > 0``.
    record : ndarray of int
        Members whose voltage is recorded over the recorded window.
    tables : bool
        Use the rate tables of the generated methods (False: exact rate expressions).

    Returns
    -------
    spikes : list of ndarray
        Spike times per member in seconds, in ``[0, duration]`` from the end of the transient.
    voltage : ndarray, shape (len(record), n_steps)
        Voltage (mV) of the recorded members, one sample at the end of every step.
    diverged : ndarray of bool, shape (n,)
        Members whose state became NaN or infinite.
    """
    b2 = brian2_module()

    n = conductances.shape[0]
    n_noise = 0
    group_size = n
    if noise_sigma > 0:
        if seeds is None or noise_dt is None:
            msg = "run_population: noise_sigma > 0 needs `seeds` (one per member) and `noise_dt`."
            raise ValueError(msg)
        total = transient + duration
        n_noise = int(np.ceil(total / noise_dt)) + 2
        group_size = max(1, min(n, MAX_NOISE_BYTES // (8 * n_noise)))
    spikes: list[np.ndarray] = []
    diverged = np.zeros(n, dtype=bool)
    voltage_rows: dict[int, np.ndarray] = {}
    with BRIAN_LOCK:
        previous = b2.prefs.codegen.target
        configure_brian(target)
        try:
            with warnings.catch_warnings():
                # Brian2's (and its parser's) own, unactionable notices during code generation
                warnings.filterwarnings("ignore", module="brian2")
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                for start in range(0, n, group_size):
                    stop = min(n, start + group_size)
                    noise = None
                    if noise_sigma > 0:
                        noise = filtered_noise(seeds[start:stop], n_noise, noise_dt, noise_sigma)
                    local = [m - start for m in record if start <= m < stop]
                    trains, voltage, diverged[start:stop] = _run_group(
                        spec,
                        conductances[start:stop],
                        duration=duration,
                        transient=transient,
                        dt=dt,
                        method=method,
                        noise=noise,
                        noise_dt=noise_dt,
                        record=np.asarray(local, dtype=np.int64),
                        tables=tables,
                    )
                    spikes.extend(trains)
                    for row, member in enumerate(local):
                        voltage_rows[member + start] = voltage[row]
        finally:
            b2.prefs.codegen.target = previous
    voltage_out = np.stack([voltage_rows[m] for m in record]) if record.size else np.zeros((0, 0))
    return spikes, voltage_out, diverged
