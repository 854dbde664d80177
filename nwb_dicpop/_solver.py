"""The core solve of compensation: re-solve chosen conductances so that DICs hit targets.

Vectorised over conductance sets.  For calcium-gated models the sensitivity matrix depends on
the calcium conductances; when one of them is among the unknowns, the solve is a fixed point
iterated (with secant steps) to a relative tolerance.  Used by :mod:`nwb_dicpop.compensation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nwb_dicpop._validation import check_choice, check_finite_array
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import ModelKernel, kernel_for

__all__ = ["check_set", "compensate", "compensate_sets", "dics_at", "rows_all"]

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
        kernel_for(spec), table.copy(), goal, unknown, rows=row_idx, voltage=v_th, tolerance=tolerance,
        max_iterations=max_iterations,
    )
    return g, residual, n_iterations


def compensate_sets(
    kernel: ModelKernel,
    g: np.ndarray,
    goal: np.ndarray,
    unknown: Sequence[int],
    *,
    rows: Sequence[int],
    voltage: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Solve in place: :func:`compensate` on unchecked arrays, with column and row indices.

    Parameters
    ----------
    kernel : ModelKernel
    g : ndarray, shape (n_sets, n_conductances)
        Conductances; the ``unknown`` columns are overwritten with the solution.
    goal : ndarray, shape (n_sets, len(rows))
        Target DICs of each set.
    unknown : sequence of int
        Columns re-solved (as many as ``rows``).
    rows : sequence of int
        DIC rows constrained (0: ``g_f``, 1: ``g_s``, 2: ``g_u``).
    voltage : float
        Where the DICs are set (mV).
    tolerance : float
        Relative tolerance of the calcium fixed-point iteration.
    max_iterations : int
        Upper bound on linear solves.

    Returns
    -------
    g, residual, dics, n_solves
        Solved sets, distance to the goal on ``rows`` (inf where non-finite), the achieved
        DICs (n_sets, 3) and the number of linear solves.

    Notes
    -----
    The sensitivity matrix depends on the unknowns only through the calcium conductances
    among them (via ``Ca_inf``).  With one such conductance the fixed point ``c = G(c)`` is
    accelerated by secant steps on that scalar (plain substitution otherwise).
    """
    unknown, rows = list(unknown), list(rows)  # lists: numpy reads a tuple index as one per axis
    at_v = kernel.at_voltage(float(voltage))
    plan = _plan(kernel, at_v, unknown, rows, g.shape[1])
    if plan is not None:
        return _compensate_static(kernel, at_v, plan, g, goal, voltage, tolerance, max_iterations)
    return _compensate_general(kernel, at_v, g, goal, unknown, rows, voltage, tolerance, max_iterations)


class _Plan:
    """Constants of one solve (voltage, unknowns, rows) whose matrix is conductance-free.

    When no unknown is a calcium-gated current, the matrix of the unknowns is the static one:
    the 2x2 / 3x3 closed forms of :func:`_batched_solve` then have scalar coefficients (the
    same arithmetic on far fewer arrays), and the known part of the right-hand side is
    computed once.  Only the calcium-gated columns that are kept change with ``Ca_inf``.
    Scalars are held as 0-d arrays: numpy combines them with arrays faster than numbers.
    """

    def __init__(self, kernel: ModelKernel, at_v: Any, unknown: list[int], rows: list[int], n_cond: int) -> None:
        self.unknown = list(unknown)
        self.rows = list(rows)
        self.known = [j for j in range(n_cond) if j not in unknown]
        static = at_v.static[rows]
        self.static_known = static[:, self.known]
        m = static[:, unknown]  # entries as numpy scalars, as _batched_solve reads them
        if len(unknown) == 2:
            a, b, c, d = m[0, 0], m[0, 1], m[1, 0], m[1, 1]
            self.coefficients = tuple(np.array(x) for x in (a, b, c, d, a * d - b * c))
        else:
            cols = [tuple(m[r, i] for r in range(3)) for i in range(3)]
            (a0, a1, a2), (b0, b1, b2), (c0, c1, c2) = cols
            minors = (b1 * c2 - b2 * c1, a1 * c2 - a2 * c1, a1 * b2 - a2 * b1)
            self.coefficients = tuple(np.array(x) for x in (a0, a1, a2, b0, b1, b2, c0, c1, c2, *minors, _det3_rows(*cols)))
        self.kept = [(j, func) for j, func in at_v.functions if j not in unknown]
        self.kept_columns = [j for j, _ in self.kept]
        calcium_unknowns = [k for k, j in enumerate(unknown) if j in kernel.calcium_currents]
        self.calcium_unknown = calcium_unknowns[0] if calcium_unknowns else None
        self.calcium_slot = None
        if self.calcium_unknown is not None:
            self.calcium_slot = kernel.calcium_currents.index(unknown[self.calcium_unknown])
            self.alpha, self.minus_alpha, self.beta = (np.array(x) for x in (at_v.alpha, -at_v.alpha, at_v.beta))
        self.small = np.array(1e-12)


def _plan(kernel: ModelKernel, at_v: Any, unknown: list[int], rows: list[int], n_cond: int) -> _Plan | None:
    key = (tuple(unknown), tuple(rows), n_cond)
    plan = at_v.plans.get(key, False)
    if plan is False:
        calcium_unknowns = [j for j in unknown if j in kernel.calcium_currents]
        kept = [j for j in kernel.calcium_dependent_currents if j not in unknown]
        fast = (
            len(unknown) == len(rows) in (2, 3)
            and len(kept) == len(kernel.calcium_dependent_currents)
            and (not calcium_unknowns or (len(calcium_unknowns) == 1 and bool(kept)))
        )
        plan = _Plan(kernel, at_v, unknown, rows, n_cond) if fast else None
        at_v.plans[key] = plan
    return plan


def _solve_static(coefficients: tuple[np.ndarray, ...], rhs: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`_batched_solve` for one constant matrix and per-row right-hand sides.

    The same products and sums as the closed forms there (Cramer's rule), with the
    matrix-only minors precomputed and the products shared between the three unknowns.
    """
    if len(rhs) == 2:
        a, b, c, d, det = coefficients
        r0, r1 = rhs
        out = [(d * r0 - b * r1) / det, (a * r1 - c * r0) / det]
    else:
        a0, a1, a2, b0, b1, b2, c0, c1, c2, m0, m1, m2, det = coefficients
        r0, r1, r2 = rhs
        rc = r1 * c2 - r2 * c1
        q, p = r1 * b2, r2 * b1
        ra = a1 * r2 - a2 * r1
        out = [
            (r0 * m0 - b0 * rc + c0 * (q - p)) / det,
            (a0 * rc - r0 * m1 + c0 * ra) / det,
            (a0 * (p - q) - b0 * ra + r0 * m2) / det,
        ]
    finite = np.isfinite(out[0])
    for x in out[1:]:
        finite &= np.isfinite(x)
    if np.count_nonzero(finite) != finite.size:
        bad = ~finite
        for x in out:
            x[bad] = np.inf
    return out


def _compensate_static(
    kernel: ModelKernel,
    at_v: Any,
    plan: _Plan,
    g: np.ndarray,
    goal: np.ndarray,
    voltage: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    unknown, rows = plan.unknown, plan.rows
    leak = g[:, kernel.leak_index]
    known_part = g[:, plan.known] @ plan.static_known.T
    goal_rows = [goal[:, i] for i in range(len(rows))]
    base_rhs = [goal_rows[i] * leak - known_part[:, i] for i in range(len(rows))]
    kept = [(np.ascontiguousarray(g[:, j]), func) for j, func in plan.kept]
    coefficients = plan.coefficients
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if plan.calcium_unknown is None:
            parts_all = []
            rhs = base_rhs
            if kept:
                calcium = at_v.calcium(g)
                for g_j, func in kept:
                    parts = func(*calcium)
                    parts_all.append(parts)
                    rhs = [rhs[i] - parts[r] * g_j for i, r in enumerate(rows)]
            solution = _solve_static(coefficients, rhs)
            n_iterations = 1
        else:
            # Fixed point on the calcium conductance c (see _compensate_general); the matrix is
            # constant, so only Ca_inf and the kept calcium-gated columns change with c.
            k, slot = plan.calcium_unknown, plan.calcium_slot
            g_ca = g[:, at_v.calcium_index]
            unit, d_unit = at_v.unit_current, at_v.d_unit_current
            alpha, minus_alpha, beta, small = plan.alpha, plan.minus_alpha, plan.beta, plan.small
            tol = np.array(tolerance)
            n = g.shape[0]
            c = g[:, unknown[k]].copy()
            previous_c = previous_f = None
            solution = [g[:, j] for j in unknown]
            n_iterations = 0
            for n_iterations in range(1, max_iterations + 1):  # noqa: B007 - used after the loop
                g_ca[:, slot] = c
                calcium = (beta - alpha * (g_ca @ unit), minus_alpha * (g_ca @ d_unit))
                rhs = base_rhs
                for g_j, func in kept:
                    parts = func(*calcium)
                    rhs = [rhs[i] - parts[r] * g_j for i, r in enumerate(rows)]
                solution = _solve_static(coefficients, rhs)
                mapped = solution[k]
                f = mapped - c  # fixed-point defect
                converged = np.abs(f) <= tol * np.maximum(np.abs(mapped), small)
                # stop when every member has converged or has a non-finite defect
                n_converged = np.count_nonzero(converged)
                if n_converged == n:
                    break
                finite = np.isfinite(f)
                if np.count_nonzero(finite) <= n_converged and not np.count_nonzero(finite & ~converged):
                    break
                next_c = mapped
                if previous_c is not None:
                    slope = (f - previous_f) / (c - previous_c)
                    step = c - f / slope
                    next_c = np.where(np.isfinite(step) & (np.abs(slope) > small), step, mapped)
                previous_c, previous_f = c, f
                c = np.where(converged, c, next_c)
            # the columns at the solution (its calcium conductance is the last mapped value)
            g_ca[:, slot] = solution[k]
            calcium = (beta - alpha * (g_ca @ unit), minus_alpha * (g_ca @ d_unit))
            parts_all = [func(*calcium) for _, func in kept]
        for j, x in zip(unknown, solution, strict=True):
            g[:, j] = x
        dics = _dics_from_parts(kernel, at_v, g, plan.kept_columns, parts_all)
        residual = _residual_rows(dics, goal_rows, rows)
    return g, residual, dics, n_iterations


def _residual_rows(dics: np.ndarray, goal_rows: list[np.ndarray], rows: list[int]) -> np.ndarray:
    """``np.linalg.norm(dics[:, rows] - goal, axis=1)`` (same sums), non-finite -> inf."""
    total = None
    for i, r in enumerate(rows):
        e = dics[:, r] - goal_rows[i]
        e = e * e
        total = e if total is None else total + e
    residual = np.sqrt(total)
    residual[~np.isfinite(residual)] = np.inf
    return residual


def _dics_from_parts(
    kernel: ModelKernel, at_v: Any, g: np.ndarray, columns: list[int], parts_all: list[list[Any]]
) -> np.ndarray:
    """:func:`dics_at` given the calcium-gated columns at ``g`` (already evaluated)."""
    finite = _rows_finite(g)
    if not finite.all():
        return dics_at(kernel, g, at_v.voltage)
    sens = np.repeat(at_v.static[None], g.shape[0], axis=0)
    for j, parts in zip(columns, parts_all, strict=True):
        for x in range(3):
            sens[:, x, j] = parts[x]
    return np.einsum("nxj,nj->nx", sens, g) / g[:, kernel.leak_index, None]


def _rows_finite(g: np.ndarray) -> np.ndarray:
    """``np.isfinite(g).all(axis=1)``."""
    return rows_all(np.isfinite(g))


_TRUE_BYTES = np.uint64(0x0101010101010101)


def rows_all(mask: np.ndarray) -> np.ndarray:
    """``mask.all(axis=1)`` for a boolean table, reading 8 columns per machine word.

    numpy reduces a short last axis row by row (slow on thousands of narrow rows); here the
    rows are padded with True to a multiple of 8 bytes and compared as 64-bit words.
    """
    n, k = mask.shape
    width = max(1, -(-k // 8))
    if k != 8 * width or not mask.flags.c_contiguous:
        padded = np.ones((n, 8 * width), dtype=bool)
        padded[:, :k] = mask
        mask = padded
    words = mask.view(np.uint64) == _TRUE_BYTES
    out = words[:, 0]
    for i in range(1, width):
        out &= words[:, i]
    return out


def _compensate_general(
    kernel: ModelKernel,
    at_v: Any,
    g: np.ndarray,
    goal: np.ndarray,
    unknown: list[int],
    rows: list[int],
    voltage: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n_cond = g.shape[1]
    known = [j for j in range(n_cond) if j not in unknown]
    calcium_unknowns = [k for k, j in enumerate(unknown) if j in kernel.calcium_currents]
    leak = g[:, kernel.leak_index]

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


def _det3_rows(a: Any, b: Any, c: Any) -> Any:
    """:func:`_det3` with columns given as sequences of 3 entries (scalars or arrays)."""
    return a[0] * (b[1] * c[2] - b[2] * c[1]) - b[0] * (a[1] * c[2] - a[2] * c[1]) + c[0] * (a[1] * b[2] - a[2] * b[1])


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
