"""Dynamic input conductances (DICs) and the threshold voltage of conductance-based models.

The DICs ``g_f, g_s, g_u`` (fast, slow, ultraslow; symbols of Drion et al. 2015) split the
slope of a model's steady-state I-V curve by the timescale of the feedback that produces it.
They are normalised by the leak conductance and so are dimensionless.  Negative ``g_f`` at
threshold means fast positive feedback (spike initiation); the sign of ``g_s`` separates tonic
spiking (``g_s > 0``) from bursting (``g_s < 0``); ``g_u > 0`` shapes interburst intervals.

See ``docs/dics.md``, ``docs/method.md`` (Drion et al. 2015 for the definitions) and the tutorial
``tutorials/01_dics_and_populations.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_finite_array, check_positive
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.expressions import VOLTAGE, parse_expression, sympy_module
from nwb_dicpop.models.kernel import kernel_for

__all__ = ["DIC_NAMES", "ThresholdResult", "compute_dics", "find_threshold"]

DIC_NAMES = ("g_f", "g_s", "g_u")

# Memory cap for one vectorised block of (sets x voltages) evaluations.
_MAX_BLOCK = 200_000
# Values per block of the threshold scan (sets x grid voltages).
_SCAN_BLOCK = 8192


def _conductance_table(model: NeuronModel, conductances: Any) -> np.ndarray:
    table = check_finite_array(
        "conductances", conductances, last_dim=model.n_conductances, nonnegative=True
    )
    leak = table[..., model.index(model.leak)]
    if np.any(leak <= 0):
        msg = (
            f"`conductances`: the leak conductance (column {model.leak!r}) must be > 0 because "
            "DICs are normalised by it; got a value <= 0."
        )
        raise ValueError(msg)
    return table


def _check_voltage(model: NeuronModel, voltage: Any) -> np.ndarray:
    volts = check_finite_array("voltage", voltage)
    low, high = -150.0, 100.0
    if np.any(volts < low) or np.any(volts > high):
        msg = (
            f"`voltage` must be in mV within [{low}, {high}] (model {model.name!r} is meant for "
            f"{model.voltage_limits}); got values in [{volts.min():.4g}, {volts.max():.4g}]. "
            "Did you pass volts instead of millivolts?"
        )
        raise ValueError(msg)
    return volts


def compute_dics(model: str | NeuronModel, conductances: Any, voltage: Any) -> np.ndarray:
    """Leak-normalised dynamic input conductances of conductance sets at voltages.

    Parameters
    ----------
    model : str or NeuronModel
        ``"stg"``, ``"da"`` or a declared model.
    conductances : array_like of float, shape (..., n_conductances)
        Maximal conductances in mS/cm^2, in the model's order
        (``get_model(model).conductance_names``).
    voltage : float or array_like of float, shape (...)
        Membrane voltage(s) in mV.

    Returns
    -------
    ndarray of float, shape conductances.shape[:-1] + voltage.shape + (3,)
        ``g_f, g_s, g_u`` (dimensionless, divided by ``g_leak``) for every conductance set at
        every voltage (an outer product of the two leading shapes).

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> spiker = [6600.82, 125.961, 4.14918, 18.3416, 159.678, 413.833, 0.321589, 0.00957712]
    >>> ndp.compute_dics("stg", spiker, -51.0).round(2)
    array([-6.16,  3.94,  4.97])
    """
    spec = get_model(model)
    table = _conductance_table(spec, conductances)
    volts = _check_voltage(spec, voltage)
    kernel = kernel_for(spec)
    flat_g = table.reshape(-1, spec.n_conductances)
    flat_v = volts.reshape(-1)
    step = max(1, _MAX_BLOCK // max(1, flat_v.size))
    blocks = [kernel.dics(flat_g[i : i + step], flat_v) for i in range(0, flat_g.shape[0], step)]
    out = np.concatenate(blocks, axis=0) if blocks else np.zeros((0, flat_v.size, 3))
    return out.reshape(*table.shape[:-1], *volts.shape, 3)


@dataclass(frozen=True, slots=True)
class ThresholdResult:
    """Threshold voltages found by :func:`find_threshold`.

    Attributes
    ----------
    voltage : ndarray of float, shape (n_sets,)
        ``V_th`` in mV; NaN where none was found.
    reason : tuple of str
        Empty string where found, else why not.
    """

    voltage: np.ndarray
    reason: tuple[str, ...]

    @property
    def found(self) -> np.ndarray:
        """Boolean mask of the sets that have a threshold."""
        return np.isfinite(self.voltage)

    def __repr__(self) -> str:
        n_found = int(self.found.sum())
        return f"ThresholdResult({n_found}/{self.voltage.size} found)"


def find_threshold(
    model: str | NeuronModel,
    conductances: Any,
    *,
    voltage_limits: tuple[float, float] | None = None,
    resolution: float = 0.5,
    tolerance: float = 1e-6,
) -> ThresholdResult:
    """Each conductance set's own threshold voltage ``V_th``.

    ``V_th`` is the first voltage, scanning upward, where the total input conductance
    ``g_f + g_s + g_u`` goes from positive to non-positive.  That total is the slope of the
    steady-state I-V curve divided by ``g_leak``, so the search evaluates the slope directly.
    The scan uses a grid of step ``resolution``, then Illinois regula falsi inside the first
    bracketing grid step to ``tolerance``; all sets are searched together, vectorised.

    Parameters
    ----------
    model : str or NeuronModel
    conductances : array_like of float, shape (n_sets, n_conductances) or (n_conductances,)
        mS/cm^2, model order.
    voltage_limits : (float, float), optional
        Scan range in mV; defaults to the model's ``voltage_limits``.
    resolution : float
        Grid step in mV.
    tolerance : float
        Refinement stops when successive estimates differ by less than this (mV).

    Returns
    -------
    ThresholdResult
        ``voltage`` has shape (n_sets,) (or () for a single set); NaN plus a reason where the
        total conductance has no decreasing zero crossing in the range.
    """
    spec = get_model(model)
    table = _conductance_table(spec, conductances)
    single = table.ndim == 1
    table = np.atleast_2d(table)
    check_positive("resolution", resolution, unit="mV")
    check_positive("tolerance", tolerance, unit="mV")
    low, high = spec.voltage_limits if voltage_limits is None else voltage_limits
    if not low < high:
        msg = f"`voltage_limits` must be (low, high) in mV with low < high; got {voltage_limits!r}."
        raise ValueError(msg)
    kernel = kernel_for(spec)
    grid, static, calcium_unit = _scan_table(kernel, float(low), float(high), float(resolution))
    # blocks of a few thousand values: small temporaries are recycled by the allocator, where
    # large ones cost fresh pages on every operation
    step = max(1, _SCAN_BLOCK // grid.size)
    n_sets = table.shape[0]
    first = np.zeros(n_sets, dtype=np.intp)  # grid step of the first decreasing zero crossing
    has = np.zeros(n_sets, dtype=bool)
    all_positive = np.zeros(n_sets, dtype=bool)  # positive on the whole grid
    bracket = np.zeros((n_sets, 2))  # the total at both ends of that step
    for i in range(0, n_sets, step):
        total = _total_on_grid(kernel, table[i : i + step], grid, static, calcium_unit)  # (block, n_grid)
        above = total > 0
        crossing = above[:, :-1] & (total[:, 1:] <= 0)
        at = np.argmax(crossing, axis=1)
        block = np.arange(total.shape[0])
        first[i : i + step] = at
        has[i : i + step] = crossing[block, at]
        all_positive[i : i + step] = above.all(axis=1)
        bracket[i : i + step, 0] = total[block, at]
        bracket[i : i + step, 1] = total[block, at + 1]
    rows = np.flatnonzero(has)
    lo = grid[first[rows]]
    hi = grid[first[rows] + 1]
    sub = table[rows]
    f_lo = bracket[rows, 0]
    f_hi = bracket[rows, 1]
    # Illinois regula falsi: keeps the bracket, converges superlinearly
    estimate = 0.5 * (lo + hi)
    last_side = np.zeros(rows.size, dtype=np.int8)
    active = np.ones(rows.size, dtype=bool)
    for _ in range(100):
        if not np.any(active):
            break
        idx = np.flatnonzero(active)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = hi[idx] - f_hi[idx] * (hi[idx] - lo[idx]) / (f_hi[idx] - f_lo[idx])
        x = np.where(np.isfinite(x) & (x > lo[idx]) & (x < hi[idx]), x, 0.5 * (lo[idx] + hi[idx]))
        f_x = _total_at(kernel, sub[idx], x)
        positive = f_x > 0
        # move the bound on the side of f_x; halve the stale one if the same side repeats
        lo[idx] = np.where(positive, x, lo[idx])
        hi[idx] = np.where(positive, hi[idx], x)
        stale_hi = positive & (last_side[idx] == 1)
        stale_lo = ~positive & (last_side[idx] == -1)
        f_lo[idx] = np.where(positive, f_x, np.where(stale_lo, 0.5 * f_lo[idx], f_lo[idx]))
        f_hi[idx] = np.where(positive, np.where(stale_hi, 0.5 * f_hi[idx], f_hi[idx]), f_x)
        last_side[idx] = np.where(positive, 1, -1)
        converged = (np.abs(x - estimate[idx]) < tolerance) | (hi[idx] - lo[idx] < tolerance) | (f_x == 0)
        estimate[idx] = x
        active[idx[converged]] = False
    voltage = np.full(table.shape[0], np.nan)
    voltage[rows] = estimate
    reasons = np.where(
        has,
        "",
        np.where(
            all_positive,
            f"total input conductance stays positive on [{low}, {high}] mV (no regenerative region)",
            f"total input conductance has no decreasing zero crossing on [{low}, {high}] mV",
        ),
    )
    if single:
        return ThresholdResult(voltage[0], (str(reasons[0]),))
    return ThresholdResult(voltage, tuple(reasons.tolist()))


# ---------------------------------------------------------------- total input conductance
# ``g_f + g_s + g_u`` does not depend on how the feedback is split between the bands: it is the
# slope of the steady-state I-V curve, sum_j g_j d/dV[prod_k x_k,inf^p_k (V - E_j)] / g_leak,
# with Ca_inf(V) inside the calcium-gated gates.  The threshold search needs only this total,
# so it skips the time constants and band weights that compute_dics evaluates.


def _power(x: Any, exponent: int) -> Any:
    """``x**exponent`` of a gate exponent (>= 0) as products (cheaper than ``pow``)."""
    if exponent == 0:
        return 1.0
    out = x
    for _ in range(exponent - 1):
        out = out * x
    return out


def _product_power_printer() -> Any:
    """A numpy code printer that writes integer powers ``x**n`` (2 <= |n| <= 8) as products:
    numpy multiplies much faster than it calls ``pow``."""
    from sympy.printing.numpy import NumPyPrinter

    class ProductPowers(NumPyPrinter):
        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            exponent = expr.exp
            if exponent.is_Number and float(exponent).is_integer() and 2 <= abs(int(exponent)) <= 8:
                base = f"({self._print(expr.base)})"
                product = "*".join([base] * abs(int(exponent)))
                return f"({product})" if exponent > 0 else f"(1.0/({product}))"
            return super()._print_Pow(expr, rational=rational)

    return ProductPowers({"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True})


class _SlopeFunctions:
    """The steady-state I-V slope of each current per unit conductance, compiled once per model.

    ``voltage_part(V)`` returns, for each current whose gates depend on V only (in model
    order), ``d/dV [prod x_inf^p (V - E)]``, then for each calcium current its unit current
    ``prod x_inf^p (V - E)`` and that current's voltage derivative (which feed ``Ca_inf``).
    ``calcium_part(V, Ca, dCa_dV)`` returns the total slope of each calcium-gated current,
    ``d/dV + d/dCa * dCa_dV``.  Both are ``sympy.lambdify`` functions with common
    subexpressions shared, so each gate's exponentials are computed once per call.
    """

    def __init__(self, kernel: Any) -> None:
        sp = sympy_module()
        model = kernel.model
        v = sp.Symbol(VOLTAGE, real=True)
        ca = sp.Symbol(model.calcium.name, real=True) if model.calcium is not None else sp.Symbol("_Ca", real=True)

        def iv(j: int) -> Any:
            current = model.currents[j]
            open_fraction = sp.Mul(*[parse_expression(model, g.steady_state) ** g.exponent for g in current.gates])
            return open_fraction * (v - current.reversal)

        dependent = kernel.calcium_dependent_currents
        self.voltage_only = tuple(j for j in range(model.n_conductances) if j not in dependent)
        self.calcium_currents = tuple(kernel.calcium_currents)
        self.dependent = tuple(dependent)
        rows = [sp.diff(iv(j), v) for j in self.voltage_only]
        for j in self.calcium_currents:
            rows += [iv(j), sp.diff(iv(j), v)]
        printer = _product_power_printer()
        self._voltage = sp.lambdify((v,), rows, modules="numpy", cse=True, printer=printer)
        self._calcium = None
        self._gates: list[list[tuple[int, Any]]] = []  # per calcium-gated current: (exponent, E)
        if dependent:
            gate_rows = []
            for j in dependent:
                current = model.currents[j]
                self._gates.append([(g.exponent, current.reversal) for g in current.gates])
                for gate in current.gates:
                    x = parse_expression(model, gate.steady_state)
                    gate_rows += [x, sp.diff(x, v), sp.diff(x, ca)]
            self._calcium = sp.lambdify((v, ca), gate_rows, modules="numpy", cse=True, printer=printer)

    def voltage_part(self, voltage: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Slopes of the voltage-only currents, shape (n_voltage_only, *V.shape), and the calcium
        currents' unit currents and derivatives, each shape (n_calcium_currents, *V.shape)."""
        rows = [np.broadcast_to(np.asarray(r, dtype=np.float64), voltage.shape) for r in self._voltage(voltage)]
        n = len(self.voltage_only)
        empty = np.zeros((0, *voltage.shape))
        slopes = np.stack(rows[:n]) if n else empty
        unit = np.stack(rows[n::2]) if self.calcium_currents else empty
        d_unit = np.stack(rows[n + 1 :: 2]) if self.calcium_currents else empty
        return slopes, unit, d_unit

    def calcium_part(self, voltage: Any, calcium: np.ndarray, d_calcium: np.ndarray) -> list[np.ndarray]:
        """Total slope of each calcium-gated current, each with the broadcast shape of the inputs.

        ``d/dV [prod_k x_k^p_k (V - E)] = prod_k x_k^p_k + (V - E) sum_k p_k x_k^(p_k - 1)
        prod_(m != k) x_m^p_m (dx_k/dV + dx_k/dCa dCa_dV)``.
        """
        assert self._calcium is not None
        rows = iter(self._calcium(voltage, calcium))
        out = []
        for gates in self._gates:
            values, rates, powers = [], [], []
            for exponent, _ in gates:
                x, d_v, d_ca = next(rows), next(rows), next(rows)
                values.append(x)
                rates.append(d_v + d_ca * d_calcium)
                powers.append(_power(x, exponent))
            open_fraction = powers[0]
            for power in powers[1:]:
                open_fraction = open_fraction * power
            derivative: Any = 0.0
            for k, (exponent, _) in enumerate(gates):
                partial = exponent * _power(values[k], exponent - 1) * rates[k]
                for m, power in enumerate(powers):
                    if m != k:
                        partial = partial * power
                derivative = derivative + partial
            out.append(open_fraction + (voltage - gates[0][1]) * derivative)
        return out


@cache
def _slope_functions(kernel: Any) -> _SlopeFunctions:
    return _SlopeFunctions(kernel)


@lru_cache(maxsize=32)
def _scan_table(kernel: Any, low: float, high: float, resolution: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scan grid, the slopes of the voltage-only currents on it (shape (n_grid,
    n_conductances), zero in calcium-gated columns) and the calcium currents' unit currents and
    their voltage derivatives (shape (2, n_calcium_currents, n_grid)); cached per grid."""
    functions = _slope_functions(kernel)
    grid = np.arange(low, high + resolution / 2, resolution)
    slopes, unit, d_unit = functions.voltage_part(grid)
    static = np.zeros((grid.size, kernel.model.n_conductances))
    static[:, list(functions.voltage_only)] = slopes.T
    calcium_unit = np.stack([unit, d_unit])
    for array in (grid, static, calcium_unit):
        array.setflags(write=False)
    return grid, static, calcium_unit


def _total_on_grid(
    kernel: Any, conductances: np.ndarray, grid: np.ndarray, static: np.ndarray, calcium_unit: np.ndarray
) -> np.ndarray:
    """``g_f + g_s + g_u`` of every set at every grid voltage, shape (n_sets, n_grid)."""
    total = conductances @ static.T
    functions = _slope_functions(kernel)
    if functions.dependent:
        spec = kernel.model.calcium
        g_ca = conductances[:, list(functions.calcium_currents)]
        calcium = spec.beta - spec.alpha * (g_ca @ calcium_unit[0])
        d_calcium = -spec.alpha * (g_ca @ calcium_unit[1])
        slopes = functions.calcium_part(grid[None, :], calcium, d_calcium)
        for j, slope in zip(functions.dependent, slopes, strict=True):
            total += conductances[:, j, None] * slope
    return total / conductances[:, kernel.leak_index, None]


def _total_at(kernel: Any, conductances: np.ndarray, voltage: np.ndarray) -> np.ndarray:
    """``g_f + g_s + g_u`` of set i at voltage[i] (one voltage per set)."""
    functions = _slope_functions(kernel)
    slopes, unit, d_unit = functions.voltage_part(voltage)
    total = np.einsum("jn,nj->n", slopes, conductances[:, list(functions.voltage_only)])
    if functions.dependent:
        spec = kernel.model.calcium
        g_ca = conductances[:, list(functions.calcium_currents)]
        calcium = spec.beta - spec.alpha * np.einsum("jn,nj->n", unit, g_ca)
        d_calcium = -spec.alpha * np.einsum("jn,nj->n", d_unit, g_ca)
        for j, slope in zip(functions.dependent, functions.calcium_part(voltage, calcium, d_calcium), strict=True):
            total += conductances[:, j] * slope
    return total / conductances[:, kernel.leak_index]
