"""The core solve of compensation: re-solve chosen conductances so that DICs hit targets.

Vectorised over conductance sets.  For calcium-gated models the sensitivity matrix depends on
the calcium conductances; when one of them is among the unknowns, the solve is a fixed point
iterated (with secant steps) to a relative tolerance.  Used by :mod:`nwb_dicpop.compensation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nwb_dicpop._validation import check_choice, check_finite_array
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import ModelKernel, kernel_for

__all__ = ["check_set", "compensate", "compensate_sets", "dics_at"]

_ROWS = {"g_f": 0, "g_s": 1, "g_u": 2}


def compensate(
    model: str | NeuronModel,
    conductances: Any,
    targets: Any,
    compensating_set: tuple[str, ...],
    *,
    rows: tuple[str, ...] = ("g_s", "g_u"),
    voltage: float | None = None,
    tolerance: float = 1e-12,
    max_iterations: int = 100,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Re-solve some conductances of each set so that chosen DICs hit their targets.

    Parameters
    ----------
    model : str or NeuronModel
    conductances : array_like, shape (n_sets, n_conductances)
        Starting conductances (mS/cm^2); the ``compensating_set`` columns are overwritten.
    targets : array_like, shape (n_sets, len(rows)) or (len(rows),)
        Target DICs (dimensionless) for ``rows``.
    compensating_set : tuple of str
        As many conductance names as ``rows``.
    rows : tuple of {"g_f", "g_s", "g_u"}
        Which DICs are constrained.
    voltage : float, optional
        Where the DICs are set (mV); the model's ``threshold`` by default.
    tolerance : float
        The calcium fixed-point iteration stops when no re-solved conductance changes by more
        than ``tolerance`` relative to its value.
    max_iterations : int
        Upper bound on solves.

    Returns
    -------
    conductances : ndarray, shape (n_sets, n_conductances)
        Solved sets (columns may be negative or inf: the caller decides validity).
    residual : ndarray, shape (n_sets,)
        Euclidean distance between achieved and target DICs on ``rows``.
    n_iterations : int
        Number of linear solves done.
    """
    spec = get_model(model)
    table = check_finite_array("conductances", conductances, ndim=(2,), last_dim=spec.n_conductances)
    unknown = check_set(spec, compensating_set, size=len(rows))
    row_idx = [_ROWS[check_choice("row", r, _ROWS)] for r in rows]
    goal = np.broadcast_to(
        check_finite_array("targets", targets, last_dim=len(rows)), (table.shape[0], len(rows))
    )
    v_th = spec.threshold if voltage is None else float(voltage)
    g, residual, _, n_iterations = compensate_sets(
        kernel_for(spec), table.copy(), goal, unknown, row_idx, v_th, tolerance, max_iterations
    )
    return g, residual, n_iterations


def compensate_sets(
    kernel: ModelKernel,
    g: np.ndarray,
    goal: np.ndarray,
    unknown: list[int],
    rows: list[int],
    voltage: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Solve in place; see :func:`compensate`.  Returns (g, residual, achieved DICs, n_solves).

    The sensitivity matrix depends on the unknowns only through the calcium conductances
    among them (via ``Ca_inf``).  With one such conductance the fixed point ``c = G(c)`` is
    accelerated by secant steps on that scalar (plain substitution otherwise).
    """
    n_cond = g.shape[1]
    known = [j for j in range(n_cond) if j not in unknown]
    calcium_unknowns = [k for k, j in enumerate(unknown) if j in kernel.calcium_currents]
    leak = g[:, kernel.leak_index]

    at_v = kernel.at_voltage(float(voltage))
    static = at_v.static[rows]
    static_unknown = static[:, unknown]
    static_known = static[:, known]
    position = {j: p for p, j in enumerate(unknown)}

    def linear_solve(state: np.ndarray) -> np.ndarray:
        matrix = np.broadcast_to(static_unknown, (state.shape[0], *static_unknown.shape))
        rhs = goal * leak[:, None] - state[:, known] @ static_known.T
        columns = at_v.dependent_columns(state)
        if columns:
            matrix = matrix.copy()
            for j, column in columns:
                if j in position:
                    matrix[:, :, position[j]] = column[:, rows]
                else:  # a calcium-gated current that is kept: correct the static guess (zero)
                    rhs -= column[:, rows] * state[:, j, None]
        return _batched_solve(matrix, rhs)

    if not calcium_unknowns:
        g[:, unknown] = linear_solve(g)
        return g, *_residual(kernel, g, goal, rows, voltage), 1
    # Fixed point on the calcium conductance c: solve with Ca_inf computed from c, read the
    # new c.  Start from each member's current value; secant steps when c is a scalar.
    calcium_columns = [unknown[k] for k in calcium_unknowns]
    secant = len(calcium_unknowns) == 1
    c = g[:, calcium_columns].copy()
    previous_c = previous_f = None
    solution = g[:, unknown]
    n_iterations = 0
    for n_iterations in range(1, max_iterations + 1):  # noqa: B007 - used after the loop
        g[:, calcium_columns] = c
        solution = linear_solve(g)
        mapped = solution[:, calcium_unknowns]
        f = mapped - c  # fixed-point defect
        with np.errstate(invalid="ignore"):
            converged = np.all(np.abs(f) <= tolerance * np.maximum(np.abs(mapped), 1e-12), axis=1)
        if np.all(converged | ~np.isfinite(f).all(axis=1)):
            break
        next_c = mapped
        if secant and previous_c is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (f - previous_f) / (c - previous_c)
                step = c - f / slope
            next_c = np.where(np.isfinite(step) & (np.abs(slope) > 1e-12), step, mapped)
        previous_c, previous_f = c, f
        c = np.where(converged[:, None], c, next_c)
    g[:, unknown] = solution
    return g, *_residual(kernel, g, goal, rows, voltage), n_iterations


def _batched_solve(matrix: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve each small system; singular systems give inf (rejected downstream)."""
    if matrix.shape[1] == 2:  # closed form: faster than LAPACK for tiny systems
        a, b = matrix[:, 0, 0], matrix[:, 0, 1]
        c, d = matrix[:, 1, 0], matrix[:, 1, 1]
        det = a * d - b * c
        with np.errstate(divide="ignore", invalid="ignore"):
            x0 = (d * rhs[:, 0] - b * rhs[:, 1]) / det
            x1 = (a * rhs[:, 1] - c * rhs[:, 0]) / det
        out = np.stack([x0, x1], axis=1)
        out[~np.isfinite(out).all(axis=1)] = np.inf
        return out
    if matrix.shape[1] == 3:  # Cramer's rule, vectorised
        cols = [matrix[:, :, i] for i in range(3)]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            det = _det3(*cols)
            out = np.stack(
                [_det3(*(rhs if m == i else cols[m] for m in range(3))) / det for i in range(3)], axis=1
            )
        out[~np.isfinite(out).all(axis=1)] = np.inf
        return out
    out = np.full(rhs.shape, np.inf)
    with np.errstate(all="ignore"):
        det = np.linalg.det(matrix)
        scale = np.prod(np.linalg.norm(matrix, axis=2), axis=1)
    ok = np.isfinite(det) & (np.abs(det) > 1e-13 * scale)
    if np.any(ok):
        out[ok] = np.linalg.solve(matrix[ok], rhs[ok][..., None])[..., 0]
    return out


def _det3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Determinant of the 3x3 matrices with columns a, b, c (each shape (n, 3))."""
    return (
        a[:, 0] * (b[:, 1] * c[:, 2] - b[:, 2] * c[:, 1])
        - b[:, 0] * (a[:, 1] * c[:, 2] - a[:, 2] * c[:, 1])
        + c[:, 0] * (a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1])
    )


def _residual(
    kernel: ModelKernel, g: np.ndarray, goal: np.ndarray, rows: list[int], voltage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to the goal on ``rows``, and the achieved DICs (n_sets, 3)."""
    dics = dics_at(kernel, g, voltage)
    with np.errstate(invalid="ignore"):
        residual = np.linalg.norm(dics[:, rows] - goal, axis=1)
    return np.where(np.isfinite(residual), residual, np.inf), dics


def dics_at(kernel: ModelKernel, g: np.ndarray, voltage: float) -> np.ndarray:
    finite = np.isfinite(g).all(axis=1)
    out = np.full((g.shape[0], 3), np.nan)
    if np.any(finite):
        sens = kernel.sensitivity_matrix(voltage, np.where(finite[:, None], g, 0.0)[finite])
        with np.errstate(invalid="ignore"):
            out[finite] = np.einsum("nxj,nj->nx", sens, g[finite]) / g[finite, kernel.leak_index, None]
    return out


def check_set(spec: NeuronModel, names: Any, *, size: int) -> list[int]:
    if isinstance(names, str) or not isinstance(names, (tuple, list)) or len(names) != size:
        msg = (
            f"`compensating_set` must be a tuple of {size} conductance names of model "
            f"{spec.name!r} (from {[n for n in spec.conductance_names if n != spec.leak]}); "
            f"got {names!r}."
        )
        raise ValueError(msg)
    indices = [spec.index(name) for name in names]
    if len(set(indices)) != len(indices):
        msg = f"`compensating_set` repeats a conductance: {names!r}."
        raise ValueError(msg)
    if spec.index(spec.leak) in indices:
        msg = f"`compensating_set` cannot contain the leak {spec.leak!r}: DICs are normalised by it."
        raise ValueError(msg)
    return indices
