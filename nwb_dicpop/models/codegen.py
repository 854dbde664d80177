"""Print a declared model's dynamics as Brian2 code.

Pure sympy (no Brian2 import): :func:`brian2_equations` gives the equations that declare a
population's variables, and the ``*_update_code`` functions give the abstract code of one
integration step for the integrators :mod:`nwb_dicpop.simulation` generates itself
(generalised Rush-Larsen of first and second order, classical RK4), with common
subexpressions computed once.  Everything is printed from
:func:`~nwb_dicpop.models.dynamics.dynamics_for`, the same expressions the scipy reference
solver integrates.

Names: ``v`` (volt) for the membrane voltage, ``x_<state>`` for every other state (gates,
Markov states, calcium), ``g_<current>`` for the per-neuron maximal conductances (numbers in
mS/cm^2), ``I_noise`` for the injected current (uA/cm^2).  Prefixing avoids Brian2's reserved
unit names (``mA``, ``ms``, ...).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.dynamics import APPLIED_CURRENT, dynamics_for

__all__ = [
    "EXPREL_FUNCTION",
    "GENERATED_METHODS",
    "NOISE_FUNCTION",
    "TABLE_FUNCTION",
    "TABLE_INDEX_FUNCTION",
    "brian2_equations",
    "brian2_name",
    "equation_text",
    "update_code",
]

EXPREL_FUNCTION = "nwb_exprel"
"""Name of the ``(exp(x) - 1) / x`` function in generated code (:mod:`nwb_dicpop.simulation`
provides it; Brian2's own ``exprel`` is unit-checked, hence slow, on the numpy target)."""
NOISE_FUNCTION = "nwb_dicpop_noise"
"""Name of the Brian2 TimedArray holding the injected current noise (uA/cm^2)."""
GENERATED_METHODS = ("rush_larsen", "rush_larsen2", "rk4")
"""Integrators whose abstract code this module generates."""


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


def brian2_name(state: str) -> str:
    """Brian2 variable name of the state called ``state`` in the dynamics (``"V"`` -> ``"v"``)."""
    return "v" if state == "V" else f"x_{state}"


@cache
def equation_text(
    model: NeuronModel, freeze_instantaneous: bool, noise: bool = False
) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Brian2 equations and, when frozen, the ``(variable, expression)`` of instantaneous gates."""
    import sympy as sp

    dynamics = dynamics_for(model)
    printer = _printer()
    v_mv = sp.Symbol("v_mV", real=True)
    rename: dict[Any, Any] = {dynamics.symbols["V"]: v_mv}
    for name in dynamics.state_names[1:]:
        rename[dynamics.symbols[name]] = sp.Symbol(brian2_name(name), real=True)
    rename[dynamics.symbols[APPLIED_CURRENT]] = sp.Symbol("I_noise", real=True) if noise else sp.Integer(0)
    frozen = []
    derivatives = dynamics.derivatives
    if freeze_instantaneous and dynamics.instantaneous:
        derivatives = dynamics.derivatives_with_instantaneous
        for name, expr in dynamics.instantaneous.items():
            rename[sp.Symbol(name, real=True)] = sp.Symbol(brian2_name(name), real=True)
            frozen.append((brian2_name(name), printer.doprint(expr.xreplace(rename))))
    lines = []
    for name, derivative in zip(dynamics.state_names, derivatives, strict=True):
        text = printer.doprint(derivative.xreplace(rename))
        if name == "V":
            lines.append(f"dv/dt = ({text})*mV/ms : volt")
        else:
            lines.append(f"d{brian2_name(name)}/dt = ({text})/ms : 1")
    lines.append("v_mV = v/mV : 1")
    lines.extend(f"g_{current.name} : 1 (constant)" for current in model.currents)
    if noise:
        lines.append(f"I_noise = {NOISE_FUNCTION}(t, i) : 1")
    lines.extend(f"{name} : 1" for name, _ in frozen)
    return "\n".join(lines), tuple(frozen)


TABLE_FUNCTION = "nwb_table"
"""Name of the table-lookup function ``nwb_table(j, w, k)`` in generated code: linear
interpolation of tabulated function ``k`` between grid rows ``j`` and ``j + 1`` (weight ``w``)."""
TABLE_INDEX_FUNCTION = "nwb_table_index"
"""Name of ``nwb_table_index(x, low, high)`` in generated code: ``x`` clipped to ``[low, high]``
(Brian2's ``clip``, which the Cython target compiles as a generic function)."""
TABLE_STEP = 0.02
"""Voltage step (mV) of the rate tables."""


class _Tabulator:
    """Replaces voltage-only subexpressions of generated code by table lookups.

    Every maximal subexpression that depends on the stage voltage (and the fixed step) only,
    and is not a polynomial in it (exponentials, divisions, ``Max``, ``exprel``), becomes a
    column of a table sampled every :data:`TABLE_STEP` mV and linearly interpolated: the
    classical rate-table technique of NEURON, here generated from the declaration.  The
    relative interpolation error is below 1e-6 for the shipped models' rate functions.
    """

    def __init__(self, model: NeuronModel, dt_ms: float, dt: Any) -> None:
        import sympy as sp

        self.voltage = sp.Symbol("V", real=True)
        self.dt, self.dt_ms = dt, float(dt_ms)
        reversals = [c.reversal for c in model.currents]
        self.v_min = float(min(model.voltage_limits[0], *reversals) - 50.0)
        self.v_max = float(max(model.voltage_limits[1], *reversals) + 30.0)
        self.n_points = int(np.ceil((self.v_max - self.v_min) / TABLE_STEP)) + 1
        self.expressions: list[Any] = []
        self._index: dict[Any, int] = {}

    @staticmethod
    def _expensive(node: Any, voltage: Any) -> bool:
        return not node.is_polynomial(voltage)

    def rewrite(self, expressions: list[Any], voltage: Any, suffix: str) -> tuple[list[Any], list[str]]:
        """Rewritten expressions and the lookup statements they need."""
        import sympy as sp

        allowed = {voltage, self.dt}
        used: dict[int, Any] = {}

        def lookup(node: Any) -> Any:
            canonical = node.xreplace({voltage: self.voltage, self.dt: sp.Float(self.dt_ms)})
            k = self._index.setdefault(canonical, len(self.expressions))
            if k == len(self.expressions):
                self.expressions.append(canonical)
            used[k] = sp.Symbol(f"_T{k}{suffix}", real=True)
            return used[k]

        def tabulable(node: Any) -> bool:
            return node.free_symbols <= allowed

        def visit(node: Any) -> Any:
            if node.is_Atom:
                return node
            if voltage in node.free_symbols and tabulable(node) and self._expensive(node, voltage):
                return lookup(node)
            if isinstance(node, (sp.Mul, sp.Add)):
                # factors (terms) that depend on V and dt only become one table together
                group = [a for a in node.args if tabulable(a)]
                rest = [a for a in node.args if not tabulable(a)]
                combined = node.func(*group) if group else None
                if combined is not None and voltage in combined.free_symbols and self._expensive(combined, voltage):
                    return node.func(lookup(combined), *[visit(a) for a in rest])
            return node.func(*[visit(a) for a in node.args])

        rewritten = [visit(e) for e in expressions]
        printer = _printer()
        lines = []
        if used:
            scale = 1.0 / TABLE_STEP
            v = printer.doprint(voltage)
            lines += [
                f"_u{suffix} = {TABLE_INDEX_FUNCTION}(({v} - ({self.v_min!r}))*{scale!r}, 0.0, {self.n_points - 1.000001!r})",
                f"_j{suffix} = floor(_u{suffix})",
                f"_w{suffix} = _u{suffix} - _j{suffix}",
            ]
            lines += [f"{symbol} = {TABLE_FUNCTION}(_j{suffix}, _w{suffix}, {k})" for k, symbol in sorted(used.items())]
        return rewritten, lines

    def values(self) -> np.ndarray:
        """The table, shape (n_points, n_functions), rows at ``v_min + k * TABLE_STEP``."""
        import sympy as sp

        grid = self.v_min + TABLE_STEP * np.arange(self.n_points)
        columns = []
        modules = [{EXPREL_FUNCTION: _exprel}, "numpy"]
        for expr in self.expressions:
            with np.errstate(all="ignore"):
                column = np.broadcast_to(sp.lambdify(self.voltage, expr, modules=modules)(grid), grid.shape)
            if not np.all(np.isfinite(column)):
                msg = f"rate table of {expr} is not finite on [{self.v_min}, {self.v_max}] mV"
                raise ValueError(msg)
            columns.append(column)
        return np.ascontiguousarray(np.stack(columns, axis=1)) if columns else np.zeros((self.n_points, 0))


def _exprel(x: Any) -> Any:
    x = np.asarray(x, dtype=np.float64)
    out = np.ones_like(x)
    np.divide(np.expm1(np.minimum(x, 709.0)), x, out=out, where=np.abs(x) >= 1e-16)
    return out


def _emit(
    expressions: list[Any], voltage: Any, prefix: str, tabulator: _Tabulator | None
) -> tuple[list[Any], list[str]]:
    """CSE (after table substitution) of one stage: reduced expressions and the statements."""
    import sympy as sp

    printer = _printer()
    lines: list[str] = []
    if tabulator is not None:
        expressions, lines = tabulator.rewrite(expressions, voltage, f"_{prefix}")
    temporaries, reduced = sp.cse(expressions, symbols=sp.numbered_symbols(f"_{prefix}c"), optimizations="basic")
    lines += [f"{t} = {printer.doprint(e)}" for t, e in temporaries]
    return reduced, lines


@cache
def update_code(
    model: NeuronModel, method: str, noise: bool, dt_ms: float | None = None
) -> tuple[str, np.ndarray | None]:
    """Abstract code of one step of a generated integrator, and its rate table.

    Parameters
    ----------
    model : NeuronModel
    method : {"rush_larsen", "rush_larsen2", "rk4"}
        Generalised Rush-Larsen of order 1 or 2 (Sundnes et al. 2009), or classical RK4.
        Rush-Larsen advances every state ``x`` with its own diagonal linearisation
        ``a = df/dx``: ``x_new = x + dt * f * exprel(a * dt)``, exact for the gates (the
        classical exponential update) and valid for the non-linear voltage equation (NMDA
        block); order 2 takes a half step first and integrates from the start with the
        midpoint linearisation.  The states of a Markov scheme (the DA model's ERG) are
        advanced together, by the trapezoidal rule on their linear system, because their
        exchange of occupancy becomes fast during a spike.
    noise : bool
        Add the injected current read from :data:`NOISE_FUNCTION`.
    dt_ms : float, optional
        Step in ms; when given, voltage-only rate functions are tabulated for that step
        (see :class:`_Tabulator`) and the table is returned.

    Returns
    -------
    code : str
    table : ndarray of float, shape (n_points, n_functions), or None
    """
    import sympy as sp

    if method not in GENERATED_METHODS:
        msg = f"no generated code for method {method!r}; expected one of {GENERATED_METHODS}"
        raise ValueError(msg)
    dynamics = dynamics_for(model)
    printer = _printer()
    dt = sp.Symbol("_dt", real=True)
    tabulator = None if dt_ms is None else _Tabulator(model, dt_ms, dt)
    states = [dynamics.symbols[name] for name in dynamics.state_names]
    names = [brian2_name(name) for name in dynamics.state_names]
    applied = dynamics.symbols[APPLIED_CURRENT]
    start = {x: sp.Symbol("_V" if n == "v" else n, real=True) for x, n in zip(states, names, strict=True)}
    lines = ["_V = v/mV", "_dt = dt/ms"]
    if method == "rk4":
        body, final = _rk4_lines(dynamics, states, names, start, applied, noise, tabulator)
    else:
        body, final = _rush_larsen_lines(
            dynamics, states, names, start, applied, noise, tabulator, 2 if method == "rush_larsen2" else 1, dt
        )
    lines += body
    for name, value in zip(names, final, strict=True):
        lines.append(f"v = ({printer.doprint(value)})*mV" if name == "v" else f"{name} = {printer.doprint(value)}")
    table = None if tabulator is None else tabulator.values()
    return "\n".join(lines), table


def _rush_larsen_lines(
    dynamics: Any, states: list[Any], names: list[str], start: dict[Any, Any], applied: Any,
    noise: bool, tabulator: _Tabulator | None, order: int, dt: Any,
) -> tuple[list[str], list[Any]]:
    import sympy as sp

    printer = _printer()
    derivatives = list(dynamics.derivatives)
    linear = [sp.diff(f, x) for f, x in zip(derivatives, states, strict=True)]
    schemes = _markov_groups(dynamics)
    lines: list[str] = []

    def stage(at: dict[Any, Any], current: Any, step: Any, prefix: str, anchor: dict[Any, Any] | None) -> list[Any]:
        values = [f.xreplace({**at, applied: current}) for f in derivatives]
        slopes = [a.xreplace({**at, applied: current}) for a in linear]
        increments = []
        for k, x in enumerate(states):
            rate = values[k]
            if anchor is not None:  # linearisation at the midpoint, integrated from the start
                rate = rate + slopes[k] * (anchor[x] - at[x])
                if k > 0:  # gates: (inf - x_h)/tau - (x - x_h)/tau = (inf - x)/tau
                    rate = sp.factor_terms(sp.expand(rate))
            increments.append(step * sp.Function(EXPREL_FUNCTION)(slopes[k] * step) * rate)
        for group in schemes:
            # the states of a Markov scheme exchange occupancy at rates that become fast during a
            # spike: advance them together, with the trapezoidal rule on their linear system
            # (A-stable), instead of one state at a time with the others held fixed
            coupling = sp.Matrix([[sp.diff(derivatives[j], states[k]).xreplace({**at, applied: current})
                                   for k in group] for j in group])
            rate = sp.Matrix([values[j] for j in group])
            if anchor is not None:
                rate += coupling * sp.Matrix([anchor[states[k]] - at[states[k]] for k in group])
            change = step * (sp.eye(len(group)) - step / 2 * coupling).LUsolve(rate)
            for row, j in enumerate(group):
                increments[j] = change[row]
        reduced, statements = _emit(increments, at[states[0]], prefix, tabulator)
        lines.extend(statements)
        base = at if anchor is None else anchor
        out = []
        for x, name, increment in zip(states, names, reduced, strict=True):
            lines.append(f"_{prefix}_{name} = {printer.doprint(base[x])} + {printer.doprint(increment)}")
            out.append(sp.Symbol(f"_{prefix}_{name}", real=True))
        return out

    current = sp.Symbol("_I", real=True) if noise else sp.Integer(0)
    if noise:
        lines.append(f"_I = {NOISE_FUNCTION}(t, i)")
    if order == 1:
        return lines, stage(start, current, dt, "n", None)
    half_values = stage(start, current, dt / 2, "h", None)
    half = dict(zip(states, half_values, strict=True))
    if noise:
        lines.append(f"_Ih = {NOISE_FUNCTION}(t + 0.5*dt, i)")
    mid_current = sp.Symbol("_Ih", real=True) if noise else sp.Integer(0)
    return lines, stage(half, mid_current, dt, "n", start)


def _markov_groups(dynamics: Any) -> list[list[int]]:
    """State indices of each Markov scheme of the model (one list per current)."""
    groups: dict[str, list[int]] = {}
    for k, state in enumerate(dynamics.states):
        if state.kind == "markov":
            groups.setdefault(state.current, []).append(k)
    return list(groups.values())


def _rk4_lines(
    dynamics: Any, states: list[Any], names: list[str], start: dict[Any, Any], applied: Any,
    noise: bool, tabulator: _Tabulator | None,
) -> tuple[list[str], list[Any]]:
    import sympy as sp

    printer = _printer()
    lines: list[str] = []
    at = dict(start)
    offsets = ("0", "0.5*dt", "0.5*dt", "dt")
    weights = ("0.5*_dt", "0.5*_dt", "_dt")
    for k in range(4):
        current: Any = sp.Integer(0)
        if noise:
            lines.append(f"_I{k} = {NOISE_FUNCTION}(t + {offsets[k]}, i)")
            current = sp.Symbol(f"_I{k}", real=True)
        values = [f.xreplace({**at, applied: current}) for f in dynamics.derivatives]
        reduced, statements = _emit(values, at[states[0]], f"s{k}", tabulator)
        lines.extend(statements)
        lines.extend(f"_k{k}_{n} = {printer.doprint(e)}" for n, e in zip(names, reduced, strict=True))
        if k < 3:
            for x, n in zip(states, names, strict=True):
                lines.append(f"_y{k}_{n} = {printer.doprint(start[x])} + {weights[k]}*_k{k}_{n}")
            at = {x: sp.Symbol(f"_y{k}_{n}", real=True) for x, n in zip(states, names, strict=True)}
    dt = sp.Symbol("_dt", real=True)
    final = []
    for x, n in zip(states, names, strict=True):
        k0, k1, k2, k3 = (sp.Symbol(f"_k{j}_{n}", real=True) for j in range(4))
        final.append(start[x] + dt / 6 * (k0 + 2 * k1 + 2 * k2 + k3))
    return lines, final


def brian2_equations(model: str | NeuronModel, *, method: str = "rush_larsen2", noise: bool = False) -> str:
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
    text, _ = equation_text(get_model(model), method == "exponential_euler", noise)
    return text
