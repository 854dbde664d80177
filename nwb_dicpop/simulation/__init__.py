"""Brian2 boundary: simulate populations of conductance-based models.

The only part of the package that imports Brian2.  The engine shared with
:func:`~nwb_dicpop.simulate_batches` lives in ``_engine`` (input checks, the Brian2 run, the
spike rule) on top of private helpers: ``_functions`` for the Brian2 import and the functions
the generated code calls, ``_targets`` for the choice of code target, ``_noise`` for the
injected current.  The equations are generated from the model declaration:
:func:`~nwb_dicpop.models.dynamics.dynamics_for` derives the sympy right-hand side once, and
:func:`brian2_equations` prints it into Brian2 syntax, so the simulator and the scipy
reference solver integrate the same expressions.  One ``NeuronGroup`` holds a whole
population, one neuron per conductance set, the maximal conductances being per-neuron
parameters.  The default integration method, step and noise grid of a model are its
declaration's ``simulation`` settings (:class:`~nwb_dicpop.models.SimulationSettings`).

Times: ``duration`` is the recorded window; ``transient`` seconds are simulated and discarded
before it.  Spike times are in seconds from the end of the transient, in ``[0, duration]``.

Spikes follow Brandoit et al. (2025): a spike starts at the first step where V exceeds +10 mV
and only counts once V has fallen back below 0 mV (Brian2 ``threshold="v > 10*mV"`` with the
condition-based ``refractory="v > 0*mV"``; a last spike still above 0 mV at the end is
dropped).

See ``tutorials/03_simulation_and_validation.md``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from nwb_dicpop._validation import seed_of
from nwb_dicpop.containers import Population, SimulationResult
from nwb_dicpop.models import NeuronModel
from nwb_dicpop.models.codegen import brian2_equations
from nwb_dicpop.simulation._engine import (
    MAX_DT,
    METHODS,
    CodeTargetWarning,
    NumericalInstabilityWarning,
    check_noise_dt,
    check_noise_sigma,
    check_record,
    check_times,
    conductance_table,
    integration_settings,
    max_dt,
    member_seeds,
    resolve_duration,
    resolve_target,
    run_population,
    simulator_version,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_DT",
    "METHODS",
    "CodeTargetWarning",
    "NumericalInstabilityWarning",
    "brian2_equations",
    "max_dt",
    "member_seeds",
    "simulate_population",
    "simulator_version",
]

logger = logging.getLogger(__name__)


def simulate_population(
    population: Population | pd.DataFrame | np.ndarray,
    *,
    model: str | NeuronModel | None = None,
    duration: float | None = None,
    transient: float = 2.0,
    dt: float | None = None,
    noise_sigma: float = 0.0,
    record_voltage: Sequence[int] = (),
    code_target: str = "auto",
    method: str | None = None,
    rng: int | np.random.Generator | None = None,
    noise_dt: float | None = None,
    total_duration: float | None = None,
) -> SimulationResult:
    """Simulate every member of a population with Brian2 and detect its spikes.

    Each member is simulated for ``transient + duration`` seconds; the first ``transient``
    seconds are discarded and spikes are reported over the recorded window of ``duration``
    seconds.

    Parameters
    ----------
    population : Population, pandas.DataFrame or ndarray of float, shape (n_models, n_conductances)
        The conductance sets (mS/cm^2).  A DataFrame needs one column per conductance of the
        model, named ``"Na"`` or ``"g_Na"`` style (other columns are ignored); an array has
        the model's conductance order.  Tables and arrays need ``model``.
    model : str or NeuronModel, optional
        Required for tables and arrays; for a Population it must match its model.
    duration : float, optional
        Recorded window in seconds, after the transient (default 2 s; any positive value).
    transient : float
        Time in seconds simulated and discarded before the recorded window (default 2 s;
        any value >= 0).
    dt : float, optional
        Integration step in seconds (default: the model's ``simulation.dt``, 0.1 ms for STG
        and 0.025 ms for DA, when ``method`` is the model's own; at most :func:`max_dt`).
    noise_sigma : float
        Standard deviation (uA/cm^2) of the white Gaussian current drawn on the model's noise
        grid (``noise_dt``) before the zero-phase 4th-order Butterworth low-pass at 1000 Hz
        (Brandoit et al. 2025).  The noise is injected during the whole run, transient
        included.  0 (default) means no noise.
    record_voltage : sequence of int
        Members whose membrane voltage is recorded (every step of the recorded window).
    code_target : {"auto", "cython", "numpy"}
        Brian2 code generation target.  "auto" uses cython when a C compiler works (compiled
        code is cached under the user cache directory, or ``$NWB_DICPOP_CACHE_DIR``) and
        falls back to numpy with a :class:`CodeTargetWarning` otherwise.
    method : str, optional
        Integration method (default: the model's ``simulation.method``, ``"rush_larsen2"``
        for STG and ``"rk4"`` for DA): ``"rush_larsen2"`` / ``"rush_larsen"`` (generalised
        Rush-Larsen, second / first order), ``"rk4"`` (classical Runge-Kutta), all three
        generated by this package, or Brian2's own ``"exponential_euler"``, ``"rk2"``,
        ``"euler"``.
    rng : None, int or numpy.random.Generator
        Seed of the current noise (member ``k`` uses ``SeedSequence(seed, spawn_key=(k,))``);
        ignored without noise.
    noise_dt : float, optional
        Step in seconds of the noise grid (default: the model's ``simulation.noise_dt``,
        the original study's sampling step: 0.1 ms for STG, 0.05 ms for DA).
    total_duration : float, optional
        Deprecated: the simulated time with the transient included (the former meaning of
        ``duration``).  Converted to ``duration = total_duration - transient`` with a
        :class:`FutureWarning`; pass ``duration`` instead.

    Returns
    -------
    SimulationResult
        Spike times in seconds measured from the end of the transient, in ``[0, duration]``;
        ``result.duration`` is the recorded window; ``code_target`` states the target used.

    Raises
    ------
    ValueError
        Empty population, negative or non-finite conductances, a population of another
        model, non-positive ``duration``, negative ``transient``, ``dt`` too large, both
        ``duration`` and ``total_duration``.

    Warns
    -----
    CodeTargetWarning
        When "auto" falls back to the numpy target.
    NumericalInstabilityWarning
        When members diverge (NaN state).
    FutureWarning
        When the deprecated ``total_duration`` is used.

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> pop = ndp.generate_population("stg", 4.0, 5.0, n_models=4, rng=0)
    >>> result = ndp.simulate_population(pop, duration=0.5, transient=0.5)
    >>> result.n_members, result.duration
    (4, 0.5)
    """
    spec, conductances = conductance_table(population, model)
    method, default_dt = integration_settings(spec, method)
    duration = resolve_duration(duration, transient, total_duration, default=2.0)
    duration_s, transient_s, dt_s = check_times(
        duration, transient, dt, default_dt=default_dt, limit=max_dt(spec, method)
    )
    sigma = check_noise_sigma(noise_sigma)
    noise_step = check_noise_dt(spec, noise_dt, dt_s) if sigma > 0 else None
    record = check_record(record_voltage, conductances.shape[0])
    target = resolve_target(code_target)
    seeds = member_seeds(rng, conductances.shape[0]) if sigma > 0 else None
    spikes, voltage, diverged = run_population(
        spec,
        conductances,
        duration=duration_s,
        transient=transient_s,
        dt=dt_s,
        method=method,
        target=target,
        noise_sigma=sigma,
        noise_dt=noise_step,
        seeds=seeds,
        record=record,
    )
    if diverged.any():
        bad = np.flatnonzero(diverged)
        warnings.warn(
            f"{bad.size} of {len(spikes)} members diverged (NaN state) with method={method!r}, "
            f"dt={dt_s} s: members {bad[:10].tolist()}{' ...' if bad.size > 10 else ''}. Their spike "
            "trains are unreliable; use method='rush_larsen2' or a smaller dt.",
            NumericalInstabilityWarning,
            stacklevel=2,
        )
    logger.info("simulated %d %s members with brian2 %s (%s)", len(spikes), spec.name, target, method)
    return SimulationResult(
        model_name=spec.name,
        spike_times=tuple(spikes),
        duration=duration_s,
        transient=transient_s,
        dt=dt_s,
        method=method,
        code_target=target,
        simulator_version=simulator_version(),
        conductances=conductances,
        voltage=voltage,
        voltage_members=record,
        noise_sigma=sigma,
        seed=seed_of(rng) if sigma > 0 else None,
    )
