"""Fixed points of a declared model and their stability, for many conductance sets at once.

A fixed point (rest state) of a model without applied current is a voltage ``V*`` where the
steady-state current ``I_inf(V) = sum_j g_j prod_k x_k,inf(V, Ca_inf(V))^p_k (V - E_j)``
vanishes, with every gate, Markov scheme and the calcium concentration at their steady state at
``V*``.  Every fixed point lies between the lowest and the highest reversal potential (outside,
all currents push the voltage back), so :func:`find_fixed_points` scans that interval on a grid,
refines each sign change by bisection and classifies it by the eigenvalues of the full
Jacobian of the model's equations (:mod:`nwb_dicpop.models.dynamics`) there.

:func:`screen_silent` turns this into a pre-screen for simulations: a member whose only fixed
point is stable is very likely silent (it rests there), so training-data generation labels it
silent without simulating it.  A member with several fixed points, or an unstable one, is
simulated.  Everything is vectorised over conductance sets with numpy; sympy builds the
functions once per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from nwb_dicpop.models.declaration import NeuronModel
from nwb_dicpop.models.dynamics import APPLIED_CURRENT, dynamics_for
from nwb_dicpop.models.expressions import VOLTAGE, parse_expression, sympy_module

__all__ = ["FixedPoints", "find_fixed_points", "screen_silent"]

# values per block (sets x voltages) of the vectorised scan: small temporaries are recycled by
# the allocator, where large ones cost fresh memory pages on every operation
_BLOCK = 8192
_BISECTIONS = 40


@dataclass(frozen=True)
class FixedPoints:
    """Fixed points of conductance sets, found by :func:`find_fixed_points`.

    Attributes
    ----------
    voltage : ndarray of float, shape (n_sets, max_fixed_points)
        Fixed-point voltages in mV, ascending per set, NaN-padded.
    stable : ndarray of bool, shape (n_sets, max_fixed_points)
        True where every eigenvalue of the Jacobian has a negative real part.
    max_real_eigenvalue : ndarray of float, shape (n_sets, max_fixed_points)
        Largest real part of the Jacobian's eigenvalues (per ms), NaN-padded.
    """

    voltage: np.ndarray
    stable: np.ndarray
    max_real_eigenvalue: np.ndarray

    @property
    def n_fixed_points(self) -> np.ndarray:
        """Number of fixed points of each set, shape (n_sets,)."""
        return np.isfinite(self.voltage).sum(axis=1)

    @property
    def n_stable(self) -> np.ndarray:
        """Number of stable fixed points of each set, shape (n_sets,)."""
        return self.stable.sum(axis=1)


class _Compiled:
    """Numeric functions of one model: the steady-state current and the Jacobian at rest."""

    def __init__(self, model: NeuronModel) -> None:
        sp = sympy_module()
        dynamics = dynamics_for(model)
        self.model = model
        v = dynamics.symbols[VOLTAGE]
        conductances = [dynamics.symbols[f"g_{name}"] for name in model.conductance_names]
        # each non-voltage state at its steady state, as an expression of V (and the
        # conductances, through the calcium concentration)
        steady: dict[Any, Any] = {}
        calcium_gated = []
        for state in dynamics.states:
            if state.kind == "gate":
                current = model.currents[model.index(state.current)]
                gate = next(g for g in current.gates if g.name == state.gate)
                steady[dynamics.symbols[state.name]] = parse_expression(model, gate.steady_state)
        for current in model.currents:
            for gate in current.gates:
                if gate.markov is None:
                    continue
                symbols = [dynamics.symbols[f"{current.name}_{s}"] for s in gate.markov.states]
                equations = [dynamics.derivatives[dynamics.index(s.name)] for s in symbols]
                # the scheme's kinetics are linear in its states: A x = b at steady state
                matrix, rhs = sp.linear_eq_to_matrix(equations, symbols)
                try:
                    values = matrix.LUsolve(rhs)
                except ValueError as err:  # singular, e.g. no conservation law written out
                    msg = f"Model {model.name!r}: the Markov scheme of {current.name} has no unique steady state."
                    raise ValueError(msg) from err
                steady.update(dict(zip(symbols, values, strict=True)))
        if model.calcium is not None:
            calcium = dynamics.symbols[model.calcium.name]
            spec = model.calcium
            influx = sp.Add(*(dynamics.current_expressions[name] for name in spec.currents))
            calcium_value = (spec.beta - spec.alpha * influx).xreplace(steady)
            if calcium_value.free_symbols & {calcium}:
                msg = f"Model {model.name!r}: a calcium current depends on calcium; no closed-form rest state."
                raise ValueError(msg)
            calcium_gated = [s for s, e in steady.items() if calcium in e.free_symbols]
            steady = {s: e.xreplace({calcium: calcium_value}) for s, e in steady.items()}
            steady[calcium] = calcium_value
        self.state_symbols = [dynamics.symbols[name] for name in dynamics.state_names]
        self.steady = steady
        applied = dynamics.symbols[APPLIED_CURRENT]
        i_inf = -dynamics.derivatives[0].xreplace({applied: 0}).xreplace(steady)
        self.reversal_limits = (
            min(c.reversal for c in model.currents), max(c.reversal for c in model.currents)
        )
        self.current = sp.lambdify([v, *conductances], i_inf, modules="numpy", cse=True)
        others = [s for s in self.state_symbols if s != v]
        self.rest_state = sp.lambdify([v, *conductances], [steady[s] for s in others], modules="numpy", cse=True)
        rhs = [d.replace(sp.Max, _smooth_max(sp)) for d in dynamics.derivatives]
        jacobian = sp.Matrix(rhs).jacobian(self.state_symbols)
        self.jacobian = sp.lambdify(
            [*self.state_symbols, *conductances, applied], jacobian.tolist(), modules="numpy", cse=True
        )
        self.n_states = len(self.state_symbols)
        self.calcium_gated = tuple(str(s) for s in calcium_gated)

    def current_on(self, voltage: np.ndarray, conductances: np.ndarray) -> np.ndarray:
        """``I_inf`` (uA/cm^2) of each set (rows) at each voltage (columns)."""
        columns = [conductances[:, j, None] for j in range(conductances.shape[1])]
        with np.errstate(all="ignore"):
            value = self.current(voltage[None, :], *columns)
        return np.broadcast_to(np.asarray(value, dtype=np.float64), (conductances.shape[0], voltage.size))

    def current_at(self, voltage: np.ndarray, conductances: np.ndarray) -> np.ndarray:
        """``I_inf`` of set i at voltage[i]."""
        with np.errstate(all="ignore"):
            value = self.current(voltage, *conductances.T)
        return np.broadcast_to(np.asarray(value, dtype=np.float64), voltage.shape)

    def max_real_eigenvalue(self, voltage: np.ndarray, conductances: np.ndarray) -> np.ndarray:
        """Largest real part of the Jacobian's eigenvalues at the rest state at voltage[i]."""
        n = voltage.size
        if n == 0:
            return np.zeros(0)
        with np.errstate(all="ignore"):
            others = [np.broadcast_to(np.asarray(x, dtype=np.float64), (n,)) for x in self.rest_state(voltage, *conductances.T)]
            entries = self.jacobian(voltage, *others, *conductances.T, 0.0)
        matrix = np.empty((n, self.n_states, self.n_states))
        for r, row in enumerate(entries):
            for c, value in enumerate(row):
                matrix[:, r, c] = value
        finite = np.isfinite(matrix).all(axis=(1, 2))
        out = np.full(n, np.nan)
        if finite.any():
            out[finite] = np.linalg.eigvals(matrix[finite]).real.max(axis=1)
        return out


def _smooth_max(sp: Any) -> Any:
    """``Max(a, b)`` as a Piecewise that numpy code can evaluate elementwise."""

    def replace(*arguments: Any) -> Any:
        first, *rest = arguments
        out = first
        for other in rest:
            out = sp.Piecewise((out, out >= other), (other, True))
        return out

    return replace


@cache
def _compiled(model: NeuronModel) -> _Compiled:
    return _Compiled(model)


def find_fixed_points(model: str | NeuronModel, conductances: Any, *, resolution: float = 0.25) -> FixedPoints:
    """Fixed points (rest states without applied current) of conductance sets, with stability.

    Parameters
    ----------
    model : str or NeuronModel
    conductances : array_like of float, shape (n_sets, n_conductances)
        Maximal conductances in mS/cm^2, in the model's order.
    resolution : float
        Grid step (mV) of the scan between the lowest and highest reversal potential.  Two fixed
        points closer than this can be missed (near a saddle-node bifurcation).

    Returns
    -------
    FixedPoints
    """
    from nwb_dicpop._validation import check_finite_array, check_positive
    from nwb_dicpop.models import get_model

    spec = get_model(model)
    check_positive("resolution", resolution, unit="mV")
    table = np.atleast_2d(check_finite_array("conductances", conductances, last_dim=spec.n_conductances, nonnegative=True))
    compiled = _compiled(spec)
    low, high = compiled.reversal_limits
    grid = np.arange(low, high + resolution, resolution)
    step = max(1, _BLOCK // grid.size)
    set_index, lower = [], []
    for start in range(0, table.shape[0], step):
        block = compiled.current_on(grid, table[start : start + step])
        sign = np.sign(block)
        change = np.nonzero(sign[:, :-1] * sign[:, 1:] <= 0)
        # a zero on a grid point is one fixed point, not two sign changes
        keep = ~((sign[change[0], change[1]] == 0) & (change[1] > 0))
        set_index.append(change[0][keep] + start)
        lower.append(change[1][keep])
    rows = np.concatenate(set_index) if set_index else np.zeros(0, dtype=np.intp)
    cols = np.concatenate(lower) if lower else np.zeros(0, dtype=np.intp)
    lo, hi = grid[cols].copy(), grid[cols + 1].copy()
    g = table[rows]
    f_lo = compiled.current_at(lo, g)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        f_mid = compiled.current_at(mid, g)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
    voltage = 0.5 * (lo + hi)
    eigen = compiled.max_real_eigenvalue(voltage, g)
    counts = np.bincount(rows, minlength=table.shape[0])
    width = max(1, int(counts.max()) if counts.size else 1)
    position = np.arange(rows.size) - np.concatenate([[0], np.cumsum(counts)[:-1]])[rows]
    out_v = np.full((table.shape[0], width), np.nan)
    out_e = np.full((table.shape[0], width), np.nan)
    out_v[rows, position] = voltage
    out_e[rows, position] = eigen
    return FixedPoints(voltage=out_v, stable=out_e < 0, max_real_eigenvalue=out_e)


def screen_silent(
    model: str | NeuronModel,
    conductances: Any,
    *,
    max_relaxation_time: float | None = None,
    resolution: float = 0.25,
) -> np.ndarray:
    """Sets that are silent for sure enough to skip simulating them.

    The rule: exactly one fixed point, and it is stable.  Such a set rests at that point from
    most initial states; the exceptions (a stable rest state coexisting with a stable
    oscillation that the initial state falls into) are rare.  Sets with several fixed points
    (possibly bistable) or an unstable one are left to simulation.

    Parameters
    ----------
    model : str or NeuronModel
    conductances : array_like of float, shape (n_sets, n_conductances)
    max_relaxation_time : float, optional
        Also require the rest state to attract within this time (ms): the slowest decay
        time ``1 / |max Re(eigenvalue)|`` at most this.  A rest state that is approached more
        slowly than the discarded transient of a simulation allows may still be far at the
        start of the recorded window (and spike on the way).  Training-data generation passes a
        third of its transient.  None: no such requirement.
    resolution : float
        Grid step (mV) of the fixed-point scan (:func:`find_fixed_points`).

    Returns
    -------
    ndarray of bool, shape (n_sets,)
    """
    points = find_fixed_points(model, conductances, resolution=resolution)
    sure = (points.n_fixed_points == 1) & (points.n_stable == 1)
    if max_relaxation_time is not None:
        from nwb_dicpop._validation import check_positive

        check_positive("max_relaxation_time", max_relaxation_time, unit="ms")
        slowest = np.nanmax(np.where(np.isfinite(points.max_real_eigenvalue), points.max_real_eigenvalue, -np.inf), axis=1)
        sure &= slowest * max_relaxation_time <= -1.0
    return sure
