"""Brian2 boundary: simulate populations of conductance-based models.

The only module of the package that imports Brian2.  The equations are generated from the
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
import os
import shutil
import threading
import warnings
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_choice, check_finite_array, normalize_rng, seed_of
from nwb_dicpop.containers import Population, SimulationResult
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.dynamics import (
    APPLIED_CURRENT,
    MIN_TIME_CONSTANT,
    SPIKE_RESET,
    SPIKE_THRESHOLD,
    dynamics_for,
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
    "simulate_population",
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
RUSH_LARSEN_METHODS = {"rush_larsen": 1, "rush_larsen2": 2}
GENERATED_METHODS = ("rush_larsen", "rush_larsen2", "rk4")
"""Integrators whose abstract code this module generates (with common subexpressions)."""
METHODS = (*GENERATED_METHODS, "exponential_euler", "rk2", "euler")
"""Accepted ``method`` values; the last three are Brian2's own state updaters."""
CODE_TARGETS = ("auto", "cython", "numpy")
NOISE_CUTOFF = 1000.0
"""Cut-off (Hz) of the 4th-order Butterworth low-pass applied to the current noise."""
NOISE_SAMPLING = {"stg": 1e-4, "da": 5e-5}
"""Step (s) of the grid on which white noise is drawn, per model (science.md section 3:
the original sampling grid; sigma is the pre-filter standard deviation on this grid)."""
DEFAULT_NOISE_SAMPLING = 1e-4
_NOISE_NAME = "nwb_dicpop_noise"
_MAX_NOISE_BYTES = 256 * 2**20
_BRIAN_LOCK = threading.RLock()  # Brian2 keeps global state: one simulation at a time per process


class CodeTargetWarning(UserWarning):
    """The requested or preferred Brian2 code target is unavailable; another one is used."""


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


# ---------------------------------------------------------------------------------- equations
def _printer() -> Any:
    import sympy as sp
    from sympy.printing.str import StrPrinter

    class BrianPrinter(StrPrinter):
        """sympy -> Brian2 expression syntax (floats only, Max as clip)."""

        def _print_Rational(self, expr: Any) -> str:
            return repr(float(expr))

        def _print_Max(self, expr: Any) -> str:
            constants = [a for a in expr.args if a.is_number]
            others = [a for a in expr.args if not a.is_number]
            if len(constants) != 1 or len(others) != 1:
                msg = f"cannot print {expr} for Brian2: only Max(expression, constant) is supported"
                raise NotImplementedError(msg)
            return f"clip({self._print(others[0])}, {float(constants[0])!r}, inf)"

        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            base, exponent = expr.args
            if exponent.is_Integer and 1 < int(exponent) <= 4:
                factor = self.parenthesize(base, 100)
                return "(" + "*".join([factor] * int(exponent)) + ")"
            if exponent == -1:
                return f"1.0/{self.parenthesize(base, 100)}"
            return super()._print_Pow(expr, rational)

    del sp
    return BrianPrinter()


def _brian_name(state: str) -> str:
    return "v" if state == "V" else f"x_{state}"


@cache
def _equation_text(
    model: NeuronModel, freeze_instantaneous: bool, noise: bool = False
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Brian2 equations and, when frozen, the ``(variable, expression)`` of instantaneous gates."""
    import sympy as sp

    dynamics = dynamics_for(model)
    printer = _printer()
    v_mv = sp.Symbol("v_mV", real=True)
    rename: dict[Any, Any] = {dynamics.symbols["V"]: v_mv}
    for name in dynamics.state_names[1:]:
        rename[dynamics.symbols[name]] = sp.Symbol(_brian_name(name), real=True)
    rename[dynamics.symbols[APPLIED_CURRENT]] = sp.Symbol("I_noise", real=True) if noise else sp.Integer(0)
    frozen = []
    derivatives = dynamics.derivatives
    if freeze_instantaneous and dynamics.instantaneous:
        derivatives = dynamics.derivatives_with_instantaneous
        for name, expr in dynamics.instantaneous.items():
            rename[sp.Symbol(name, real=True)] = sp.Symbol(_brian_name(name), real=True)
            frozen.append((_brian_name(name), printer.doprint(expr.xreplace(rename))))
    lines = []
    for name, derivative in zip(dynamics.state_names, derivatives, strict=True):
        text = printer.doprint(derivative.xreplace(rename))
        if name == "V":
            lines.append(f"dv/dt = ({text})*mV/ms : volt")
        else:
            lines.append(f"d{_brian_name(name)}/dt = ({text})/ms : 1")
    lines.append("v_mV = v/mV : 1")
    lines.extend(f"g_{current.name} : 1 (constant)" for current in model.currents)
    if noise:
        lines.append(f"I_noise = {_NOISE_NAME}(t, i) : 1")
    lines.extend(f"{name} : 1" for name, _ in frozen)
    return "\n".join(lines), tuple(frozen)


@cache
def _rush_larsen_code(model: NeuronModel, order: int, noise: bool) -> str:
    """Abstract code of one generalised Rush-Larsen step (Sundnes et al. 2009).

    Every state ``x`` with derivative ``f`` is advanced with its own diagonal linearisation
    ``a = df/dx``: ``x_new = x + dt * f * exprel(a * dt)``, which is exact for the gates
    (``f`` linear in ``x``: the classical exponential / Rush-Larsen update) and handles the
    non-linear voltage equation (NMDA block) without freezing anything.  ``order=2`` takes
    the half step first and uses the midpoint linearisation for the full step (GRL2, second
    order).  Common subexpressions are computed once.
    """
    import sympy as sp

    dynamics = dynamics_for(model)
    printer = _printer()
    dt = sp.Symbol("_dt", real=True)
    states = [dynamics.symbols[name] for name in dynamics.state_names]
    names = [_brian_name(name) for name in dynamics.state_names]
    start = {x: sp.Symbol("_V" if n == "v" else n, real=True) for x, n in zip(states, names, strict=True)}
    applied = dynamics.symbols[APPLIED_CURRENT]
    derivatives = list(dynamics.derivatives)
    linear = [sp.diff(f, x) for f, x in zip(derivatives, states, strict=True)]
    lines = ["_V = v/mV", "_dt = dt/ms"]

    def stage(at: dict[Any, Any], current: Any, step: Any, prefix: str, anchor: dict[Any, Any] | None) -> list[str]:
        out = []
        values = [f.xreplace({**at, applied: current}) for f in derivatives]
        slopes = [a.xreplace({**at, applied: current}) for a in linear]
        increments = []
        for k, x in enumerate(states):
            rate = values[k]
            if anchor is not None:  # linearisation at the midpoint, integrated from the start
                rate = rate + slopes[k] * (anchor[x] - at[x])
            increments.append(step * rate * sp.Function("exprel")(slopes[k] * step))
        temporaries, reduced = sp.cse(increments, symbols=sp.numbered_symbols(f"_{prefix}c"), optimizations="basic")
        out.extend(f"{t} = {printer.doprint(e)}" for t, e in temporaries)
        base = at if anchor is None else anchor
        for x, name, increment in zip(states, names, reduced, strict=True):
            out.append(f"_{prefix}_{name} = {printer.doprint(base[x])} + {printer.doprint(increment)}")
        return out

    current = sp.Symbol("_I", real=True) if noise else sp.Integer(0)
    if noise:
        lines.append(f"_I = {_NOISE_NAME}(t, i)")
    if order == 1:
        lines += stage(start, current, dt, "n", None)
        final = "n"
    else:
        lines += stage(start, current, dt / 2, "h", None)
        half = {x: sp.Symbol(f"_h_{n}", real=True) for x, n in zip(states, names, strict=True)}
        if noise:
            lines.append(f"_Ih = {_NOISE_NAME}(t + 0.5*dt, i)")
        mid_current = sp.Symbol("_Ih", real=True) if noise else sp.Integer(0)
        lines += stage(half, mid_current, dt, "n", start)
        final = "n"
    for name in names:
        lines.append(f"v = _{final}_v*mV" if name == "v" else f"{name} = _{final}_{name}")
    return "\n".join(lines)


@cache
def _rk4_code(model: NeuronModel, noise: bool) -> str:
    """Abstract code of one classical fourth-order Runge-Kutta step, common subexpressions
    computed once per stage (Brian2's own ``rk4`` recomputes every rate function)."""
    import sympy as sp

    dynamics = dynamics_for(model)
    printer = _printer()
    states = [dynamics.symbols[name] for name in dynamics.state_names]
    names = [_brian_name(name) for name in dynamics.state_names]
    applied = dynamics.symbols[APPLIED_CURRENT]
    lines = ["_V = v/mV", "_dt = dt/ms"]
    at = {x: sp.Symbol("_V" if n == "v" else n, real=True) for x, n in zip(states, names, strict=True)}
    start = dict(at)
    offsets = ("0", "0.5*dt", "0.5*dt", "dt")
    weights = ("0.5*_dt", "0.5*_dt", "_dt")
    for k in range(4):
        current: Any = sp.Integer(0)
        if noise:
            lines.append(f"_I{k} = {_NOISE_NAME}(t + {offsets[k]}, i)")
            current = sp.Symbol(f"_I{k}", real=True)
        values = [f.xreplace({**at, applied: current}) for f in dynamics.derivatives]
        temporaries, reduced = sp.cse(values, symbols=sp.numbered_symbols(f"_s{k}c"), optimizations="basic")
        lines.extend(f"{t} = {printer.doprint(e)}" for t, e in temporaries)
        lines.extend(f"_k{k}_{n} = {printer.doprint(e)}" for n, e in zip(names, reduced, strict=True))
        if k < 3:
            for x, n in zip(states, names, strict=True):
                lines.append(f"_y{k}_{n} = {printer.doprint(start[x])} + {weights[k]}*_k{k}_{n}")
            at = {x: sp.Symbol(f"_y{k}_{n}", real=True) for x, n in zip(states, names, strict=True)}
    for n in names:
        increment = f"_dt/6*(_k0_{n} + 2*_k1_{n} + 2*_k2_{n} + _k3_{n})"
        if n == "v":
            lines.append(f"v = (_V + {increment})*mV")
        else:
            lines.append(f"{n} = {n} + {increment}")
    return "\n".join(lines)


class _GeneratedUpdater:
    """Brian2 state-update callable returning generated abstract code."""

    def __init__(self, model: NeuronModel, method: str, noise: bool) -> None:
        self.model, self.method, self.noise = model, method, noise
        self.__name__ = method

    def __call__(self, equations: Any, variables: Any = None, method_options: Any = None) -> str:
        if self.method == "rk4":
            return _rk4_code(self.model, self.noise)
        return _rush_larsen_code(self.model, RUSH_LARSEN_METHODS[self.method], self.noise)


def brian2_equations(model: str | NeuronModel, *, method: str = DEFAULT_METHOD, noise: bool = False) -> str:
    """The Brian2 equations of ``model``, generated from its declaration.

    Variables: ``v`` (volt), one dimensionless variable per gate or Markov state
    (``x_<current>_<gate>``) and the calcium concentration (``x_Ca``), per-neuron maximal
    conductances ``g_<current>`` (constant numbers in mS/cm^2: the declaration's expressions
    are printed unchanged, in model units) and, with ``noise``, ``I_noise`` (uA/cm^2).  With
    ``method="exponential_euler"`` instantaneous gates (the DA NMDA block) become variables
    refreshed at the start of each step, which keeps dV/dt linear in V within a step.

    Parameters
    ----------
    model : str or NeuronModel
    method : str
        Brian2 integration method the equations are meant for.
    noise : bool
        Include the injected current ``I_noise`` read from a TimedArray.

    Returns
    -------
    str
    """
    text, _ = _equation_text(get_model(model), method == "exponential_euler", noise)
    return text


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


# ---------------------------------------------------------------------------------- targets
def _cache_dir() -> Path:
    root = os.environ.get("NWB_DICPOP_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "nwb_dicpop"
    return base / "brian2_cython"


@lru_cache(maxsize=1)
def _cython_available() -> bool:
    if shutil.which(os.environ.get("CC", "gcc")) is None and shutil.which("cc") is None:
        return False
    try:
        import Cython  # noqa: F401
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        return bool(CythonCodeObject.is_available())
    except Exception:  # any failure of the test compile means "not available"
        logger.debug("cython target unavailable", exc_info=True)
        return False


def _resolve_target(code_target: str) -> str:
    check_choice("code_target", code_target, CODE_TARGETS)
    if code_target == "numpy":
        return "numpy"
    if _cython_available():
        return "cython"
    reason = "no working C compiler / Cython was found"
    if code_target == "cython":
        msg = f"code_target='cython' was requested but {reason}; install a C compiler or pass code_target='numpy'."
        raise ValueError(msg)
    warnings.warn(
        f"Brian2 cython target unavailable ({reason}); simulating with the slower numpy target.",
        CodeTargetWarning,
        stacklevel=3,
    )
    return "numpy"


def _configure_brian(target: str) -> None:
    from brian2 import prefs

    prefs.codegen.target = target
    prefs.codegen.runtime.cython.cache_dir = str(_cache_dir())
    prefs.devices.cpp_standalone.openmp_threads = 0  # never OpenMP on shared machines
    prefs.codegen.loop_invariant_optimisations = True


# ---------------------------------------------------------------------------------- noise
def member_seeds(rng: int | np.random.Generator | None, n_members: int, *, offset: int = 0) -> list[Any]:
    """Per-member ``SeedSequence`` of the current noise.

    Member ``k`` gets ``SeedSequence(seed, spawn_key=(offset + k,))``, so a member's noise
    depends only on the seed and its global index, not on how members are grouped in chunks.
    A Generator (or None) first draws the integer seed.
    """
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = int(rng)
    else:
        seed = int(normalize_rng(rng).integers(0, 2**63 - 1))
    return [np.random.SeedSequence(seed, spawn_key=(offset + k,)) for k in range(n_members)]


def _filtered_noise(seeds: Sequence[Any], n_samples: int, sample_dt: float, sigma: float) -> np.ndarray:
    """White Gaussian noise (std ``sigma``) low-passed forward-backward, shape (n_samples, n)."""
    from scipy.signal import butter, sosfiltfilt

    white = np.empty((n_samples, len(seeds)))
    for k, seed in enumerate(seeds):
        white[:, k] = np.random.default_rng(seed).standard_normal(n_samples)
    white *= sigma
    fs = 1.0 / sample_dt
    if fs / 2 <= NOISE_CUTOFF:
        return white
    sos = butter(4, NOISE_CUTOFF, btype="low", fs=fs, output="sos")
    return sosfiltfilt(sos, white, axis=0)


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
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Simulate one NeuronGroup: spike times (s after the transient), voltage traces (mV) and
    the mask of members whose state diverged."""
    import brian2 as b2

    n = conductances.shape[0]
    text, frozen = _equation_text(model, method == "exponential_euler", noise is not None)
    namespace: dict[str, Any] = {}
    if noise is not None:
        # fixed name and column count: the generated code (hence the compiled cache) is reused
        columns = max(8, 1 << int(np.ceil(np.log2(n))))
        padded = np.zeros((noise.shape[0], columns))
        padded[:, :n] = noise
        namespace[_NOISE_NAME] = b2.TimedArray(padded, dt=noise_dt * b2.second, name=_NOISE_NAME)
    integrator: Any = method
    if method in GENERATED_METHODS:
        integrator = _GeneratedUpdater(model, method, noise is not None)
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
            setattr(group, _brian_name(name), value)
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
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Run the population (in memory-bounded groups when noise is injected)."""
    import brian2 as b2

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
    noise_step = NOISE_SAMPLING.get(spec.name, DEFAULT_NOISE_SAMPLING) if noise_dt is None else noise_dt
    if not isinstance(noise_step, (int, float, np.floating)) or not noise_step > 0:
        msg = f"`noise_dt` must be a positive number of seconds; got {noise_dt!r}."
        raise ValueError(msg)
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
    import brian2 as b2

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
        simulator_version=f"brian2 {b2.__version__}",
        conductances=conductances,
        voltage=voltage,
        voltage_members=record,
        noise_sigma=noise_sigma,
        seed=seed,
    )
