"""Dynamic input conductances (DICs) and the threshold voltage of conductance-based models.

The DICs ``g_f, g_s, g_u`` (fast, slow, ultraslow; symbols of Drion et al. 2015) split the
slope of a model's steady-state I-V curve by the timescale of the feedback that produces it.
They are normalised by the leak conductance and so are dimensionless.  Negative ``g_f`` at
threshold means fast positive feedback (spike initiation); the sign of ``g_s`` separates tonic
spiking (``g_s > 0``) from bursting (``g_s < 0``); ``g_u > 0`` shapes interburst intervals.

See ``docs/science.md``-derived notes in ``docs/dics.md`` and the tutorial
``tutorials/01_dics_and_populations.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_finite_array, check_positive
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import kernel_for

__all__ = ["DIC_NAMES", "ThresholdResult", "compute_dics", "find_threshold"]

DIC_NAMES = ("g_f", "g_s", "g_u")

# Memory cap for one vectorised block of (sets x voltages) evaluations.
_MAX_BLOCK = 200_000


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
    ``g_f + g_s + g_u`` goes from positive to non-positive (science.md 4.3).  The scan uses a
    grid of step ``resolution``, then bisection to ``tolerance``.

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
    grid = np.arange(low, high + resolution / 2, resolution)
    total = compute_dics(spec, table, grid).sum(axis=-1)  # (n_sets, n_grid)
    crossing = (total[:, :-1] > 0) & (total[:, 1:] <= 0)
    has = crossing.any(axis=1)
    first = np.argmax(crossing, axis=1)
    rows = np.flatnonzero(has)
    lo = grid[first[rows]]
    hi = grid[first[rows] + 1]
    kernel = kernel_for(spec)
    sub = table[rows]
    f_lo = total[rows, first[rows]]
    f_hi = total[rows, first[rows] + 1]
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
            np.all(total > 0, axis=1),
            f"total input conductance stays positive on [{low}, {high}] mV (no regenerative region)",
            f"total input conductance has no decreasing zero crossing on [{low}, {high}] mV",
        ),
    )
    if single:
        return ThresholdResult(voltage[0], (str(reasons[0]),))
    return ThresholdResult(voltage, tuple(str(r) for r in reasons))


def _total_at(kernel: Any, conductances: np.ndarray, voltage: np.ndarray) -> np.ndarray:
    """``g_f + g_s + g_u`` of set i at voltage[i] (one voltage per set)."""
    out = np.empty(conductances.shape[0])
    for i in range(0, conductances.shape[0], 4096):
        g = conductances[i : i + 4096]
        v = voltage[i : i + 4096]
        static = kernel.static_sensitivity_grid(v).sum(axis=1)  # (n, n_cond)
        total = np.einsum("nj,nj->n", static, g)
        if kernel.calcium_dependent_currents:
            calcium, d_calcium = _diagonal_calcium(kernel, v, g)
            for j in kernel.calcium_dependent_currents:
                sens = kernel.current_sensitivity(j, v, calcium, d_calcium).sum(axis=-1)
                total += sens * g[:, j]
        out[i : i + 4096] = total / g[:, kernel.leak_index]
    return out


def _diagonal_calcium(kernel: Any, voltage: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steady-state calcium of set i at voltage[i]."""
    calcium_spec = kernel.model.calcium
    current = np.zeros(voltage.shape)
    d_current = np.zeros(voltage.shape)
    for j in kernel.calcium_currents:
        open_fraction, d_open = kernel._open_fraction(j, voltage)
        drive = voltage - kernel.reversal[j]
        current += g[:, j] * open_fraction * drive
        d_current += g[:, j] * (d_open * drive + open_fraction)
    return calcium_spec.beta - calcium_spec.alpha * current, -calcium_spec.alpha * d_current
