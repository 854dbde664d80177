"""The ordinary differential equations of a declared model, and a reference solver.

:func:`dynamics_for` turns a :class:`~nwb_dicpop.models.declaration.NeuronModel` into its
state layout, initial state and right-hand side, all derived from the declaration with the
same parser as the DIC kernels (:func:`~nwb_dicpop.models.expressions.parse_expression`):
there is no second hand-written copy of the kinetics.  The sympy expressions it holds are also
what :mod:`nwb_dicpop.simulation` prints into Brian2 equations.

State layout: ``V`` (mV) first, then for each current in declaration order each gate with
kinetics (``"<current>_<gate>"``, e.g. ``"Na_m"``; every state of a Markov scheme, e.g.
``"ERG_o"``, ``"ERG_i"``), then the calcium concentration when the model has one.
Instantaneous gates (``x = x_inf(V)``, e.g. the NMDA magnesium block) are not states.

Units: V in mV, time in ms, conductances in mS/cm^2, currents in uA/cm^2, capacitance
1 uF/cm^2, so ``dV/dt = -sum(I) + I_app`` in mV/ms (as in Brandoit et al. 2025).

:func:`solve_reference` integrates one neuron with scipy's ``solve_ivp`` (BDF, analytical
Jacobian) and detects spikes with the protocol of Brandoit et al. (2025); it is the reference
against which the Brian2 simulator is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from nwb_dicpop.models.declaration import NeuronModel
from nwb_dicpop.models.expressions import VOLTAGE, parse_expression, sympy_module

__all__ = [
    "SPIKE_RESET",
    "SPIKE_THRESHOLD",
    "ModelDynamics",
    "ReferenceSolution",
    "StateVariable",
    "detect_spikes",
    "dynamics_for",
    "solve_reference",
]

SPIKE_THRESHOLD = 10.0
"""A spike starts when V rises above this voltage (mV), as in Brandoit et al. (2025)."""
SPIKE_RESET = 0.0
"""A spike only counts once V has fallen back below this voltage (mV)."""

APPLIED_CURRENT = "I_app"
"""Name of the applied current (uA/cm^2) added to dV/dt."""

MIN_TIME_CONSTANT = 1e-2
"""Floor (ms) applied to every gate time constant.

Some published rate functions are not positive everywhere: the DA sodium activation
``tau_m = 0.01 + 1/(alpha + beta)`` has a pole of ``alpha`` at V = -38.7272 mV whose numerator
does not vanish there (the constants 15.6504/0.4043 and 19.565/0.5052 differ slightly), so
``tau_m`` is negative in a 0.003 mV window around -38.726 mV and crosses zero.  Large-step
integrators jump over it; tight-tolerance or explicit integrators blow up.  The floor is the
formula's own lower bound (0.01 ms, reached as ``alpha -> inf``) and lies below every time
constant of the shipped models elsewhere (the smallest STG one is 0.06 ms), so it changes the
kinetics only inside that window.
"""


@dataclass(frozen=True)
class StateVariable:
    """One entry of the state vector.

    Attributes
    ----------
    name : str
        ``"V"``, ``"<current>_<gate>"``, ``"<current>_<markov state>"`` or the calcium name.
    kind : {"voltage", "gate", "markov", "calcium"}
    current : str or None
        Current the gate belongs to.
    gate : str or None
        Gate (or Markov state) name within its current.
    """

    name: str
    kind: str
    current: str | None = None
    gate: str | None = None


class ModelDynamics:
    """Right-hand side, Jacobian and initial state of a declared model.  Build with
    :func:`dynamics_for` (cached per model).

    Attributes
    ----------
    model : NeuronModel
    states : tuple of StateVariable
        The state layout.
    state_names : tuple of str
    conductance_names : tuple of str
    symbols : dict of str to sympy.Symbol
        Symbols of the states (by state name), of the conductances (``"g_<name>"``) and of
        the applied current (``"I_app"``).
    derivatives : tuple of sympy.Expr
        Time derivative (per ms) of each state, in state order.
    instantaneous : dict of str to sympy.Expr
        Instantaneous gates (``"<current>_<gate>"``, e.g. ``"NMDA_B"``) and their value
        ``x_inf(V)``.
    derivatives_with_instantaneous : tuple of sympy.Expr
        Like ``derivatives`` but with each instantaneous gate left as a symbol of that name.
    current_expressions : dict of str to sympy.Expr
        Each ionic current (uA/cm^2) in terms of the states and conductance symbols;
        instantaneous gates are written out as functions of ``V``.
    """

    def __init__(self, model: NeuronModel) -> None:
        sp = sympy_module()
        self.model = model
        v = sp.Symbol(VOLTAGE, real=True)
        symbols: dict[str, Any] = {VOLTAGE: v}
        states = [StateVariable(VOLTAGE, "voltage")]
        calcium = None
        if model.calcium is not None:
            calcium = sp.Symbol(model.calcium.name, real=True)
        derivatives: dict[str, Any] = {}
        currents: dict[str, Any] = {}
        instantaneous: dict[Any, Any] = {}
        self.initial_expressions: dict[str, Any] = {}
        for current in model.currents:
            g = sp.Symbol(f"g_{current.name}", real=True)
            symbols[g.name] = g
            open_fraction = sp.Integer(1)
            for gate in current.gates:
                inf = parse_expression(model, gate.steady_state)
                if gate.markov is not None:
                    scheme = gate.markov.states
                    local = {s: sp.Symbol(f"{current.name}_{s}", real=True) for s in scheme}
                    for state in scheme:
                        symbols[local[state].name] = local[state]
                        states.append(StateVariable(local[state].name, "markov", current.name, state))
                    renames = {sp.Symbol(s, real=True): local[s] for s in scheme}
                    for state in scheme:
                        expr = parse_expression(model, gate.markov.derivatives[state], extra_names=scheme)
                        derivatives[local[state].name] = expr.subs(renames)
                        init = parse_expression(model, gate.markov.initial[state], extra_names=scheme)
                        self.initial_expressions[local[state].name] = init.subs(renames)
                    value = local[gate.name]
                elif gate.is_instantaneous:
                    value = sp.Symbol(f"{current.name}_{gate.name}", real=True)
                    instantaneous[value] = inf
                else:
                    x = sp.Symbol(f"{current.name}_{gate.name}", real=True)
                    symbols[x.name] = x
                    states.append(StateVariable(x.name, "gate", current.name, gate.name))
                    tau = sp.Max(parse_expression(model, gate.time_constant), MIN_TIME_CONSTANT)
                    derivatives[x.name] = (inf - x) / tau
                    self.initial_expressions[x.name] = inf
                    value = x
                open_fraction = open_fraction * value**gate.exponent
            currents[current.name] = g * open_fraction * (v - current.reversal)
        applied = sp.Symbol(APPLIED_CURRENT, real=True)
        symbols[APPLIED_CURRENT] = applied
        derivatives[VOLTAGE] = -sp.Add(*currents.values()) + applied
        if model.calcium is not None:
            assert calcium is not None
            spec = model.calcium
            symbols[calcium.name] = calcium
            states.append(StateVariable(calcium.name, "calcium"))
            influx = sp.Add(*(currents[name] for name in spec.currents))
            derivatives[calcium.name] = (-spec.alpha * influx - calcium + spec.beta) / spec.time_constant
            self.initial_expressions[calcium.name] = sp.Float(spec.initial)
        self.states = tuple(states)
        self.state_names = tuple(s.name for s in states)
        self.conductance_names = model.conductance_names
        self.symbols = symbols
        self.instantaneous = {sym.name: expr for sym, expr in instantaneous.items()}
        self.derivatives_with_instantaneous = tuple(derivatives[name] for name in self.state_names)
        self.derivatives = tuple(d.xreplace(instantaneous) for d in self.derivatives_with_instantaneous)
        self.current_expressions = {name: c.xreplace(instantaneous) for name, c in currents.items()}
        self._state_symbols = [symbols[name] for name in self.state_names]
        self._conductance_symbols = [symbols[f"g_{name}"] for name in self.conductance_names]
        self._compiled: dict[str, Any] = {}
        self._initial = self._initial_state()

    def _function(self, kind: str) -> Any:
        """Lambdified right-hand side or Jacobian, compiled on first use."""
        if kind not in self._compiled:
            sp = sympy_module()
            arguments = [*self._state_symbols, *self._conductance_symbols, self.symbols[APPLIED_CURRENT]]
            if kind == "rhs":
                function = sp.lambdify(arguments, list(self.derivatives), modules="numpy", cse=True)
            elif kind == "rhs_scalar":  # one neuron, as solve_ivp calls it: math is ~10x faster
                function = sp.lambdify(arguments, list(self.derivatives), modules="math", cse=True)
            else:
                jacobian = sp.Matrix(self.derivatives).jacobian(self._state_symbols)
                function = sp.lambdify(arguments, jacobian.tolist(), modules="math", cse=True)
            self._compiled[kind] = function
        return self._compiled[kind]

    @property
    def n_states(self) -> int:
        """Length of the state vector."""
        return len(self.states)

    def index(self, name: str) -> int:
        """Position of state ``name`` in the state vector."""
        from nwb_dicpop._validation import check_choice

        check_choice("state name", name, self.state_names)
        return self.state_names.index(name)

    def _initial_state(self) -> np.ndarray:
        sp = sympy_module()
        model = self.model
        values: dict[Any, float] = {self.symbols[VOLTAGE]: float(model.initial_voltage)}
        if model.calcium is not None:
            values[self.symbols[model.calcium.name]] = float(model.calcium.initial)
        out = np.empty(self.n_states)
        for k, name in enumerate(self.state_names):
            if name == VOLTAGE:
                out[k] = model.initial_voltage
                continue
            expr = sp.sympify(self.initial_expressions[name]).subs(values)
            if expr.free_symbols:
                msg = (
                    f"Model {model.name!r}: initial value of state {name!r} depends on "
                    f"{sorted(map(str, expr.free_symbols))}; it may only depend on V and calcium."
                )
                raise ValueError(msg)
            out[k] = float(expr)
        out.setflags(write=False)
        return out

    def initial_state(self, n_neurons: int | None = None) -> np.ndarray:
        """Initial state of the original study's simulations (Brandoit et al. 2025).

        ``V = V0`` of the declaration, every gate at its steady state at ``V0`` (calcium-gated
        ones at the initial calcium), Markov states at their declared initial values, calcium
        at its declared initial value.

        Parameters
        ----------
        n_neurons : int, optional
            When given, the state is repeated for that many neurons.

        Returns
        -------
        ndarray of float, shape (n_states,) or (n_states, n_neurons)
        """
        if n_neurons is None:
            return self._initial.copy()
        return np.repeat(self._initial[:, None], int(n_neurons), axis=1)

    def _arguments(self, y: Any, conductances: Any, current: Any) -> list[Any]:
        y = np.asarray(y, dtype=np.float64)
        g = np.asarray(conductances, dtype=np.float64)
        if g.ndim == 2:
            g = g.T
        if y.shape[0] != self.n_states or g.shape[0] != len(self.conductance_names):
            msg = (
                f"Model {self.model.name!r}: expected a state of {self.n_states} rows and "
                f"{len(self.conductance_names)} conductances; got state shape {y.shape} and "
                f"conductance shape {np.shape(conductances)}."
            )
            raise ValueError(msg)
        return [*y, *g, current]

    def _scalar_arguments(self, y: Any, conductances: Any, current: Any) -> list[float]:
        y_list = np.asarray(y, dtype=np.float64).tolist()
        g_list = np.asarray(conductances, dtype=np.float64).tolist()
        if len(y_list) != self.n_states or len(g_list) != len(self.conductance_names):
            msg = (
                f"Model {self.model.name!r}: expected a state of {self.n_states} values and "
                f"{len(self.conductance_names)} conductances; got {len(y_list)} and {len(g_list)}."
            )
            raise ValueError(msg)
        return [*y_list, *g_list, float(current)]

    def rhs(self, t: float, y: Any, conductances: Any, current: Any = 0.0) -> np.ndarray:
        """Time derivative of the state, for scipy's ``solve_ivp``.

        Parameters
        ----------
        t : float
            Time in ms (the model is autonomous; ``t`` is ignored).
        y : ndarray of float, shape (n_states,) or (n_states, n_neurons)
            State in the layout of :attr:`state_names`.
        conductances : ndarray of float, shape (n_conductances,) or (n_neurons, n_conductances)
            Maximal conductances in mS/cm^2, in the model's order.
        current : float or ndarray
            Applied current in uA/cm^2 (added to dV/dt).

        Returns
        -------
        ndarray of float, same shape as ``y``
            Derivatives per ms.
        """
        del t
        if np.ndim(y) == 1 and np.ndim(conductances) == 1 and np.ndim(current) == 0:
            arguments = self._scalar_arguments(y, conductances, current)
            try:
                return np.array(self._function("rhs_scalar")(*arguments))
            except (OverflowError, ZeroDivisionError, ValueError):
                pass  # a solver's trial state far out of range: numpy returns inf/nan instead
        with np.errstate(all="ignore"):
            values = self._function("rhs")(*self._arguments(y, conductances, current))
        shape = np.shape(y)
        return np.stack([np.broadcast_to(np.asarray(v, dtype=np.float64), shape[1:]) for v in values])

    def jacobian(self, t: float, y: Any, conductances: Any, current: Any = 0.0) -> np.ndarray:
        """Jacobian ``d rhs / d y`` of one neuron, shape (n_states, n_states), per ms."""
        del t
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            msg = f"`y` must be the state of one neuron, shape ({self.n_states},); got {y.shape}."
            raise ValueError(msg)
        arguments = self._scalar_arguments(y, conductances, current)
        try:
            return np.array(self._function("jacobian")(*arguments), dtype=np.float64)
        except (OverflowError, ZeroDivisionError, ValueError):
            return np.full((self.n_states, self.n_states), np.nan)


@cache
def _dynamics_cache(model: NeuronModel) -> ModelDynamics:
    return ModelDynamics(model)


def dynamics_for(model: str | NeuronModel) -> ModelDynamics:
    """The :class:`ModelDynamics` of ``model`` (a registered name or a declaration), cached."""
    from nwb_dicpop.models import get_model

    return _dynamics_cache(get_model(model))


def detect_spikes(
    time: Any,
    voltage: Any,
    *,
    threshold: float = SPIKE_THRESHOLD,
    reset: float = SPIKE_RESET,
) -> np.ndarray:
    """Spike times of a sampled voltage trace (protocol of Brandoit et al. 2025).

    A spike starts at the first sample above ``threshold``; it is kept only if the trace later
    falls below ``reset``, and no new spike can start before that.

    Parameters
    ----------
    time : ndarray of float, shape (n_samples,)
        Sample times (any unit; the result is in the same unit).
    voltage : ndarray of float, shape (n_samples,)
        Membrane voltage in mV.
    threshold, reset : float
        mV.

    Returns
    -------
    ndarray of float, shape (n_spikes,)
    """
    time = np.asarray(time, dtype=np.float64)
    voltage = np.asarray(voltage, dtype=np.float64)
    if time.shape != voltage.shape or time.ndim != 1:
        msg = f"`time` and `voltage` must be 1-D of equal length; got {time.shape} and {voltage.shape}."
        raise ValueError(msg)
    above = voltage > threshold
    below = voltage < reset
    starts = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    if above.size and above[0]:
        starts = np.concatenate([[0], starts])
    falls = np.flatnonzero(below)
    spikes = []
    armed_after = -1  # index after which a new spike may start
    for start in starts:
        if start <= armed_after:
            continue
        after = falls[np.searchsorted(falls, start):]
        if after.size == 0:
            break
        spikes.append(time[start])
        armed_after = after[0]
    return np.asarray(spikes, dtype=np.float64)


@dataclass(frozen=True)
class ReferenceSolution:
    """Result of :func:`solve_reference` for one neuron.

    Attributes
    ----------
    spike_times : ndarray of float
        Seconds from the end of the transient.
    n_steps : int
        Steps taken by the solver.
    time, voltage : ndarray of float
        Samples (s from the end of the transient, mV) when ``sample_dt`` was given, else empty.
    """

    spike_times: np.ndarray
    n_steps: int
    time: np.ndarray
    voltage: np.ndarray


def solve_reference(
    model: str | NeuronModel,
    conductances: Any,
    *,
    duration: float = 4.0,
    transient: float = 2.0,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    method: str = "BDF",
    use_jacobian: bool = True,
    sample_dt: float | None = None,
    current: Callable[[float], float] | None = None,
) -> ReferenceSolution:
    """Simulate one neuron with scipy ``solve_ivp`` (the original study's integrator).

    Spikes follow Brandoit et al. (2025): upward crossings of +10 mV, each kept only if V later
    falls below 0 mV.  Without ``sample_dt`` the crossings are located exactly by event
    detection; with it, spikes are read off the samples (grid resolution), as in the original
    code.

    Parameters
    ----------
    model : str or NeuronModel
    conductances : array of float, shape (n_conductances,)
        mS/cm^2, in the model's order.
    duration : float
        Total simulated time in seconds, transient included (as in
        :func:`~nwb_dicpop.simulate_population`).
    transient : float
        Discarded initial time in seconds.
    rtol, atol : float
        Solver tolerances (the tight defaults make this a reference solution; the original
        study used rtol 1e-3 / atol 1e-6 or rtol 1e-2 / atol 1e-4).
    method : str
        ``solve_ivp`` method.
    use_jacobian : bool
        Pass the analytical Jacobian (derived from the declaration) to implicit methods.
    sample_dt : float, optional
        Sampling step in seconds of the returned trace.
    current : callable, optional
        Applied current ``I(t)`` in uA/cm^2, ``t`` in ms from the start.

    Returns
    -------
    ReferenceSolution
    """
    from scipy.integrate import solve_ivp

    dynamics = dynamics_for(model)
    g = np.asarray(conductances, dtype=np.float64)
    if g.shape != (len(dynamics.conductance_names),):
        msg = (
            f"`conductances` must have shape ({len(dynamics.conductance_names)},) for model "
            f"{dynamics.model.name!r}; got {g.shape}."
        )
        raise ValueError(msg)
    if not 0 <= transient < duration:
        msg = f"Need 0 <= transient < duration (seconds); got transient={transient}, duration={duration}."
        raise ValueError(msg)
    t_total = duration * 1e3
    t_skip = transient * 1e3

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        i_app = 0.0 if current is None else current(t)
        return dynamics.rhs(t, y, g, i_app)

    jac = None
    if use_jacobian and method in ("BDF", "Radau", "LSODA"):

        def jac(t: float, y: np.ndarray) -> np.ndarray:
            return dynamics.jacobian(t, y, g)

    def rise(t: float, y: np.ndarray) -> float:
        return y[0] - SPIKE_THRESHOLD

    def fall(t: float, y: np.ndarray) -> float:
        return y[0] - SPIKE_RESET

    rise.direction = 1.0  # type: ignore[attr-defined]
    fall.direction = -1.0  # type: ignore[attr-defined]
    t_eval = None
    if sample_dt is not None:
        step = sample_dt * 1e3
        t_eval = np.arange(0.0, t_total + step / 2, step)
    solution = solve_ivp(
        fun,
        (0.0, t_total),
        dynamics.initial_state(),
        method=method,
        rtol=rtol,
        atol=atol,
        jac=jac,
        events=None if sample_dt is not None else (rise, fall),
        t_eval=t_eval,
    )
    if not solution.success:
        msg = f"solve_ivp failed for conductances {g.tolist()}: {solution.message}"
        raise RuntimeError(msg)
    if sample_dt is not None:
        spikes = detect_spikes(solution.t, solution.y[0])
        keep = solution.t >= t_skip
        time, voltage = (solution.t[keep] - t_skip) * 1e-3, solution.y[0][keep]
    else:
        spikes = _spikes_from_events(solution.t_events[0], solution.t_events[1])
        time = voltage = np.zeros(0)
    spikes = spikes[spikes >= t_skip]
    return ReferenceSolution(
        spike_times=(spikes - t_skip) * 1e-3,
        n_steps=int(solution.t.size if sample_dt is None else solution.nfev),
        time=time,
        voltage=voltage,
    )


def _spikes_from_events(rises: np.ndarray, falls: np.ndarray) -> np.ndarray:
    """Apply the +10 mV / 0 mV rule to exact crossing times."""
    spikes = []
    armed_after = -np.inf
    for t in rises:
        if t <= armed_after:
            continue
        later = falls[falls > t]
        if later.size == 0:
            break
        spikes.append(t)
        armed_after = later[0]
    return np.asarray(spikes, dtype=np.float64)
