"""Brian2 boundary: simulate populations of conductance-based models.

The only part of the package that imports Brian2 (this module and its private helpers:
``_functions`` for the functions the generated code calls, ``_targets`` for the choice of code
target, ``_noise`` for the injected current).  The equations are generated from the
model declaration: :func:`~nwb_dicpop.models.dynamics.dynamics_for` derives the sympy right-hand
side once, and :func:`brian2_equations` prints it into Brian2 syntax, so the simulator and the
scipy reference solver integrate the same expressions.  One ``NeuronGroup`` holds a whole
population, one neuron per conductance set, the maximal conductances being per-neuron
parameters.

Spikes follow science.md section 3: a spike starts at the first step where V exceeds +10 mV
and only counts once V has fallen back below 0 mV (Brian2 ``threshold="v > 10*mV"`` with the
condition-based ``refractory="v > 0*mV"``; a last spike still above 0 mV at the end is
dropped).  Spike times are in seconds from the end of the transient.

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_choice, check_finite_array, seed_of
from nwb_dicpop.containers import Population, SimulationResult
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.codegen import (
    EXPREL_FUNCTION,
    GENERATED_METHODS,
    NOISE_FUNCTION,
    TABLE_FUNCTION,
    TABLE_INDEX_FUNCTION,
    brian2_equations,
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
    _BRIAN_LOCK,
    _brian2,
    _exprel_function,
    _GeneratedUpdater,
    _table_function,
    _table_index_function,
)
from nwb_dicpop.simulation._noise import (
    DEFAULT_NOISE_SAMPLING,
    NOISE_SAMPLING,
    _filtered_noise,
    member_seeds,
)
from nwb_dicpop.simulation._targets import (
    CodeTargetWarning,
    _configure_brian,
    _resolve_target,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_DT",
    "DEFAULT_INTEGRATION",
    "DEFAULT_METHOD",
    "MAX_DT",
    "CodeTargetWarning",
    "NumericalInstabilityWarning",
    "brian2_equations",
    "max_dt",
    "member_seeds",
    "read_batches",
    "simulate_batches",
    "simulate_population",
    "simulator_version",
]

logger = logging.getLogger(__name__)

DEFAULT_INTEGRATION = {"stg": ("rush_larsen2", 5e-5), "da": ("rk4", 2.5e-5)}
"""Per model: integration method and step (s) used when ``method``/``dt`` are None.

Chosen by comparison with scipy BDF at rtol 1e-6 (benchmarks/bench_simulation.py and
tests/test_simulation.py): the STG conductances are large (g_Na ~ 7000 mS/cm^2), so only
exponential (Rush-Larsen) schemes are stable at useful steps, and the second-order one is
within 0.3 % at 0.05 ms; the DA bursts are sensitive to the spike shape, which needs a
fourth-order method (rk4 at 0.025 ms matches the reference, Rush-Larsen schemes lose spikes
per burst at that step)."""
DEFAULT_METHOD = "rush_larsen2"
"""Method for models without an entry in :data:`DEFAULT_INTEGRATION`."""
DEFAULT_DT = 2.5e-5
"""Step (s) for models without an entry in :data:`DEFAULT_INTEGRATION`."""
MAX_DT = 5e-5
"""Largest accepted step in seconds (0.05 ms); larger steps lose the 2 % fidelity.  Explicit
methods are further limited by their stability bound on the fastest gate (see
:func:`max_dt`)."""
METHODS = (*GENERATED_METHODS, "exponential_euler", "rk2", "euler")
"""Accepted ``method`` values; the last three are Brian2's own state updaters."""
_MAX_NOISE_BYTES = 256 * 2**20


class NumericalInstabilityWarning(UserWarning):
    """Some members diverged (NaN or infinite state): choose another method or a smaller dt."""


_STABILITY = {"rk4": 2.78, "rk2": 2.0, "euler": 2.0}


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


# ---------------------------------------------------------------------------------- inputs
def _conductance_table(
    population: Any, model: str | NeuronModel | None
) -> tuple[NeuronModel, np.ndarray]:
    """``(model, conductances (n, n_conductances))`` from any accepted population input."""
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


def _integration(spec: NeuronModel, method: str | None) -> tuple[str, float]:
    """The method to use and the default step (s) that goes with it."""
    default_method, default_dt = DEFAULT_INTEGRATION.get(spec.name, (DEFAULT_METHOD, DEFAULT_DT))
    if method is None:
        return default_method, default_dt
    method = check_choice("method", method, METHODS)
    if method == default_method:
        return method, default_dt
    return method, min(DEFAULT_DT, max_dt(spec, method))


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


def _check_times(
    duration: Any, transient: Any, dt: Any, *, default_dt: float = DEFAULT_DT, limit: float = MAX_DT
) -> tuple[float, float, float]:
    for name, value in (("duration", duration), ("transient", transient)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            msg = f"`{name}` must be a number of seconds; got {value!r}."
            raise TypeError(msg)
        if not np.isfinite(value):
            msg = f"`{name}` must be finite seconds; got {value!r}."
            raise ValueError(msg)
    if duration <= 0:
        msg = f"`duration` must be positive seconds; got {duration!r}. Pass e.g. duration=4.0."
        raise ValueError(msg)
    if transient < 0:
        msg = f"`transient` must be >= 0 seconds; got {transient!r}."
        raise ValueError(msg)
    if transient >= duration:
        msg = (
            f"`transient` ({transient} s) must be shorter than `duration` ({duration} s): the "
            "transient is discarded from the start of the simulated time. Pass e.g. duration=4.0, "
            "transient=2.0."
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


# ---------------------------------------------------------------------------------- running
def _run_group(
    model: NeuronModel,
    conductances: np.ndarray,
    *,
    duration: float,
    transient: float,
    dt: float,
    method: str,
    target: str,
    noise: np.ndarray | None,
    noise_dt: float,
    record: np.ndarray,
    tables: bool = True,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Simulate one NeuronGroup: spike times (s after the transient), voltage traces (mV) and
    the mask of members whose state diverged."""
    b2 = _brian2()

    n = conductances.shape[0]
    text, frozen = equation_text(model, method == "exponential_euler", noise is not None)
    namespace: dict[str, Any] = {EXPREL_FUNCTION: _exprel_function()}
    if noise is not None:
        # fixed name and column count: the generated code (hence the compiled cache) is reused
        columns = max(8, 1 << int(np.ceil(np.log2(n))))
        padded = np.zeros((noise.shape[0], columns))
        padded[:, :n] = noise
        namespace[NOISE_FUNCTION] = b2.TimedArray(padded, dt=noise_dt * b2.second, name=NOISE_FUNCTION)
    integrator: Any = method
    if method in GENERATED_METHODS:
        code, table = update_code(model, method, noise is not None, dt * 1e3 if tables else None)
        integrator = _GeneratedUpdater(code, method)
        if table is not None:
            namespace[TABLE_FUNCTION] = _table_function(table)
            namespace[TABLE_INDEX_FUNCTION] = _table_index_function()
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
        voltage_monitor.active = False
        objects.append(voltage_monitor)
    network = b2.Network(*objects)
    if transient > 0:
        network.run(transient * b2.second, namespace={})
    if voltage_monitor is not None:
        voltage_monitor.active = True
    network.run(duration * b2.second, namespace={})
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


def _evaluate_frozen(dynamics: Any, name: str, initial: np.ndarray) -> float:
    import sympy as sp

    expr = dynamics.instantaneous[name[2:]]
    return float(expr.subs(sp.Symbol("V", real=True), float(initial[0])))


def _check_noise_dt(spec: NeuronModel, noise_dt: Any, dt: float) -> float:
    """The noise grid step (s): positive and an integer multiple of ``dt``."""
    step = NOISE_SAMPLING.get(spec.name, DEFAULT_NOISE_SAMPLING) if noise_dt is None else noise_dt
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


def _check_record(record_voltage: Any, n: int) -> np.ndarray:
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


def _simulate(
    spec: NeuronModel,
    conductances: np.ndarray,
    *,
    duration: float,
    transient: float,
    dt: float,
    method: str,
    target: str,
    noise_sigma: float,
    noise_dt: float,
    seeds: Sequence[Any] | None,
    record: np.ndarray,
    tables: bool = True,
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Run the population (in memory-bounded groups when noise is injected)."""
    b2 = _brian2()

    n = conductances.shape[0]
    total = transient + duration
    n_noise = int(np.ceil(total / noise_dt)) + 2
    group_size = n if noise_sigma == 0 else max(1, min(n, _MAX_NOISE_BYTES // (8 * n_noise)))
    spikes: list[np.ndarray] = []
    diverged = np.zeros(n, dtype=bool)
    voltage_rows: dict[int, np.ndarray] = {}
    with _BRIAN_LOCK:
        previous = b2.prefs.codegen.target
        _configure_brian(target)
        try:
            with warnings.catch_warnings():
                # Brian2's (and its parser's) own, unactionable notices during code generation
                warnings.filterwarnings("ignore", module="brian2")
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                for start in range(0, n, group_size):
                    stop = min(n, start + group_size)
                    noise = None
                    if noise_sigma > 0:
                        assert seeds is not None
                        noise = _filtered_noise(seeds[start:stop], n_noise, noise_dt, noise_sigma)
                    local = [m - start for m in record if start <= m < stop]
                    trains, voltage, diverged[start:stop] = _run_group(
                        spec,
                        conductances[start:stop],
                        duration=duration,
                        transient=transient,
                        dt=dt,
                        method=method,
                        target=target,
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


def simulate_population(
    population: Population | pd.DataFrame | np.ndarray,
    *,
    model: str | NeuronModel | None = None,
    duration: float = 4.0,
    transient: float = 2.0,
    dt: float | None = None,
    noise_sigma: float = 0.0,
    record_voltage: Sequence[int] = (),
    code_target: str = "auto",
    method: str | None = None,
    rng: int | np.random.Generator | None = None,
    noise_dt: float | None = None,
) -> SimulationResult:
    """Simulate every member of a population with Brian2 and detect its spikes.

    Parameters
    ----------
    population : Population, pandas.DataFrame or ndarray of float, shape (n_models, n_conductances)
        The conductance sets (mS/cm^2).  A DataFrame needs one column per conductance of the
        model, named ``"Na"`` or ``"g_Na"`` style (other columns are ignored); an array has
        the model's conductance order.  Tables and arrays need ``model``.
    model : str or NeuronModel, optional
        Required for tables and arrays; for a Population it must match its model.
    duration : float
        Total simulated time in seconds, transient included.
    transient : float
        Initial time in seconds that is simulated but discarded (must be < ``duration``).
    dt : float, optional
        Integration step in seconds (default: the model's entry of
        :data:`DEFAULT_INTEGRATION`, 0.05 ms for STG and 0.025 ms for DA; at most
        :func:`max_dt`).
    noise_sigma : float
        Standard deviation (uA/cm^2) of the white Gaussian current drawn on the model's noise
        grid (``noise_dt``) before the zero-phase 4th-order Butterworth low-pass at 1000 Hz
        (science.md section 3).  The noise is injected during the whole run, transient
        included.  0 (default) means no noise.
    record_voltage : sequence of int
        Members whose membrane voltage is recorded (every step after the transient).
    code_target : {"auto", "cython", "numpy"}
        Brian2 code generation target.  "auto" uses cython when a C compiler works (compiled
        code is cached under the user cache directory, or ``$NWB_DICPOP_CACHE_DIR``) and
        falls back to numpy with a :class:`CodeTargetWarning` otherwise.
    method : str, optional
        Integration method (default: the model's entry of :data:`DEFAULT_INTEGRATION`):
        ``"rush_larsen2"`` / ``"rush_larsen"`` (generalised Rush-Larsen, second / first
        order), ``"rk4"`` (classical Runge-Kutta), all three generated by this module, or
        Brian2's own ``"exponential_euler"``, ``"rk2"``, ``"euler"``.
    rng : None, int or numpy.random.Generator
        Seed of the current noise (member ``k`` uses ``SeedSequence(seed, spawn_key=(k,))``);
        ignored without noise.
    noise_dt : float, optional
        Step in seconds of the noise grid (default: science.md's sampling step of the model,
        0.1 ms for STG, 0.05 ms for DA).

    Returns
    -------
    SimulationResult
        Spike times in seconds measured from the end of the transient, over a recorded
        window of ``duration - transient`` seconds; ``code_target`` states the target used.

    Raises
    ------
    ValueError
        Empty population, negative or non-finite conductances, a population of another
        model, non-positive ``duration``, ``transient >= duration``, ``dt`` too large.

    Warns
    -----
    CodeTargetWarning
        When "auto" falls back to the numpy target.

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> pop = ndp.generate_population("stg", 4.0, 5.0, n_models=4, rng=0)
    >>> result = ndp.simulate_population(pop, duration=1.0, transient=0.5)
    >>> result.n_members
    4
    """
    spec, conductances = _conductance_table(population, model)
    method, default_dt = _integration(spec, method)
    total, transient_s, dt_s = _check_times(
        duration, transient, dt, default_dt=default_dt, limit=max_dt(spec, method)
    )
    if isinstance(noise_sigma, bool) or not isinstance(noise_sigma, (int, float, np.integer, np.floating)):
        msg = f"`noise_sigma` must be a number (uA/cm^2); got {noise_sigma!r}."
        raise TypeError(msg)
    if not np.isfinite(noise_sigma) or noise_sigma < 0:
        msg = f"`noise_sigma` must be >= 0 uA/cm^2; got {noise_sigma!r}."
        raise ValueError(msg)
    noise_step = _check_noise_dt(spec, noise_dt, dt_s) if noise_sigma > 0 else DEFAULT_NOISE_SAMPLING
    record = _check_record(record_voltage, conductances.shape[0])
    target = _resolve_target(code_target)
    seeds = member_seeds(rng, conductances.shape[0]) if noise_sigma > 0 else None
    return _result(
        spec,
        conductances,
        total=total,
        transient=transient_s,
        dt=dt_s,
        method=method,
        target=target,
        noise_sigma=float(noise_sigma),
        noise_dt=float(noise_step),
        seeds=seeds,
        record=record,
        seed=seed_of(rng) if noise_sigma > 0 else None,
    )


def simulator_version() -> str:
    """``"brian2 <version>"``."""
    b2 = _brian2()

    return f"brian2 {b2.__version__}"


def _result(
    spec: NeuronModel,
    conductances: np.ndarray,
    *,
    total: float,
    transient: float,
    dt: float,
    method: str,
    target: str,
    noise_sigma: float,
    noise_dt: float,
    seeds: Sequence[Any] | None,
    record: np.ndarray,
    seed: int | None,
) -> SimulationResult:
    spikes, voltage, diverged = _simulate(
        spec,
        conductances,
        duration=total - transient,
        transient=transient,
        dt=dt,
        method=method,
        target=target,
        noise_sigma=noise_sigma,
        noise_dt=noise_dt,
        seeds=seeds,
        record=record,
    )
    if diverged.any():
        bad = np.flatnonzero(diverged)
        warnings.warn(
            f"{bad.size} of {len(spikes)} members diverged (NaN state) with method={method!r}, "
            f"dt={dt} s: members {bad[:10].tolist()}{' ...' if bad.size > 10 else ''}. Their spike "
            "trains are unreliable; use method='rush_larsen2' or a smaller dt.",
            NumericalInstabilityWarning,
            stacklevel=3,
        )
    logger.info("simulated %d %s members with brian2 %s (%s)", len(spikes), spec.name, target, method)
    return SimulationResult(
        model_name=spec.name,
        spike_times=tuple(spikes),
        duration=total - transient,
        transient=transient,
        dt=dt,
        method=method,
        code_target=target,
        simulator_version=simulator_version(),
        conductances=conductances,
        voltage=voltage,
        voltage_members=record,
        noise_sigma=noise_sigma,
        seed=seed,
    )


# the batch runner lives in its own module (Parquet/Dask); re-exported here for discoverability
from nwb_dicpop.batches import read_batches, simulate_batches
