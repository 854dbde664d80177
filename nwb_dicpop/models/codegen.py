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

from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.dynamics import APPLIED_CURRENT, dynamics_for

__all__ = [
    "EXPREL_FUNCTION",
    "GENERATED_METHODS",
    "NOISE_FUNCTION",
    "brian2_equations",
    "brian2_name",
    "equation_text",
    "rk4_update_code",
    "rush_larsen_update_code",
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


@cache
def rush_larsen_update_code(model: NeuronModel, order: int, noise: bool) -> str:
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
    names = [brian2_name(name) for name in dynamics.state_names]
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
            increments.append(step * rate * sp.Function(EXPREL_FUNCTION)(slopes[k] * step))
        temporaries, reduced = sp.cse(increments, symbols=sp.numbered_symbols(f"_{prefix}c"), optimizations="basic")
        out.extend(f"{t} = {printer.doprint(e)}" for t, e in temporaries)
        base = at if anchor is None else anchor
        for x, name, increment in zip(states, names, reduced, strict=True):
            out.append(f"_{prefix}_{name} = {printer.doprint(base[x])} + {printer.doprint(increment)}")
        return out

    current = sp.Symbol("_I", real=True) if noise else sp.Integer(0)
    if noise:
        lines.append(f"_I = {NOISE_FUNCTION}(t, i)")
    if order == 1:
        lines += stage(start, current, dt, "n", None)
        final = "n"
    else:
        lines += stage(start, current, dt / 2, "h", None)
        half = {x: sp.Symbol(f"_h_{n}", real=True) for x, n in zip(states, names, strict=True)}
        if noise:
            lines.append(f"_Ih = {NOISE_FUNCTION}(t + 0.5*dt, i)")
        mid_current = sp.Symbol("_Ih", real=True) if noise else sp.Integer(0)
        lines += stage(half, mid_current, dt, "n", start)
        final = "n"
    for name in names:
        lines.append(f"v = _{final}_v*mV" if name == "v" else f"{name} = _{final}_{name}")
    return "\n".join(lines)


@cache
def rk4_update_code(model: NeuronModel, noise: bool) -> str:
    """Abstract code of one classical fourth-order Runge-Kutta step, common subexpressions
    computed once per stage (Brian2's own ``rk4`` recomputes every rate function)."""
    import sympy as sp

    dynamics = dynamics_for(model)
    printer = _printer()
    states = [dynamics.symbols[name] for name in dynamics.state_names]
    names = [brian2_name(name) for name in dynamics.state_names]
    applied = dynamics.symbols[APPLIED_CURRENT]
    lines = ["_V = v/mV", "_dt = dt/ms"]
    at = {x: sp.Symbol("_V" if n == "v" else n, real=True) for x, n in zip(states, names, strict=True)}
    start = dict(at)
    offsets = ("0", "0.5*dt", "0.5*dt", "dt")
    weights = ("0.5*_dt", "0.5*_dt", "_dt")
    for k in range(4):
        current: Any = sp.Integer(0)
        if noise:
            lines.append(f"_I{k} = {NOISE_FUNCTION}(t + {offsets[k]}, i)")
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
