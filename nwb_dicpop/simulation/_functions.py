"""Brian2 import, and the functions and integrator that the generated code calls.

:func:`~nwb_dicpop.models.codegen.update_code` prints abstract code that calls three helper
functions (the rate-table lookup, the clip of its index, ``exprel``). Each is a Brian2
``Function`` with a numpy implementation and an inlined Cython one.

Every import of Brian2 by the package goes through :func:`brian2_module`, which also undoes the
``sys.excepthook`` that Brian2 installs when it is first imported (Brian2's hook prints "Brian 2
encountered an unexpected error" for any later uncaught exception, Brian2's or not).
"""

from __future__ import annotations

import sys
import threading
from functools import cache
from typing import Any

import numpy as np

__all__ = [
    "BRIAN_LOCK",
    "GeneratedUpdater",
    "brian2_module",
    "exprel_function",
    "table_function",
    "table_index_function",
]

BRIAN_LOCK = threading.RLock()
"""Brian2 keeps global state (preferences, the magic network): one simulation at a time per process."""


def brian2_module() -> Any:
    """Import and return brian2, also from a worker thread (Dask runs tasks in threads).

    brian2 installs a SIGINT handler when it is first imported, and Python allows that only in
    the main thread: off the main thread the handler is skipped for the time of the import.
    brian2 also replaces ``sys.excepthook`` on its first import; the previous hook is put back
    right after, so that uncaught exceptions of other code are reported normally.
    """
    if "brian2" in sys.modules:
        import brian2

        return brian2
    with BRIAN_LOCK:
        if "brian2" in sys.modules:  # imported by another thread meanwhile
            import brian2

            return brian2
        previous_hook = sys.excepthook
        shim = threading.current_thread() is not threading.main_thread()
        if shim:
            import signal

            original = signal.signal
            signal.signal = lambda *args, **kwargs: None  # type: ignore[assignment]
        try:
            import brian2
        finally:
            if shim:
                signal.signal = original
            sys.excepthook = previous_hook
        return brian2


class GeneratedUpdater:
    """Brian2 state-update callable returning generated abstract code."""

    def __init__(self, code: str, method: str) -> None:
        self.code = code
        self.__name__ = method

    def __call__(self, equations: Any, variables: Any = None, method_options: Any = None) -> str:
        return self.code


_TABLE_CYTHON = """
cdef inline double _nwb_table(double j, double w, int k) noexcept nogil:
    global _namespace_nwb_table_values
    cdef int base = (<int>j)*%COLUMNS% + k
    return _namespace_nwb_table_values[base] + w*(_namespace_nwb_table_values[base + %COLUMNS%] - _namespace_nwb_table_values[base])
"""


_TABLE_INDEX_CYTHON = """
cdef inline double _nwb_table_index(double x, double low, double high) noexcept nogil:
    if x < low:
        return low
    if x > high:
        return high
    return x
"""


def _table_index_numpy(x: Any, low: Any, high: Any) -> np.ndarray:
    return np.clip(x, low, high)


@cache
def table_index_function() -> Any:
    """``clip`` of the table coordinate, inlined by the compiler on the Cython target."""
    b2 = brian2_module()

    function = b2.Function(_table_index_numpy, arg_units=[1, 1, 1], return_unit=1, stateless=True)
    function.implementations.add_numpy_implementation(_table_index_numpy, discard_units=True)
    function.implementations.add_implementation("cython", code=_TABLE_INDEX_CYTHON, name="_nwb_table_index")
    return function


def table_function(table: np.ndarray) -> Any:
    """Brian2 function interpolating the rate table (see :func:`~nwb_dicpop.models.codegen.update_code`)."""
    b2 = brian2_module()

    columns = table.shape[1]
    flat = np.ascontiguousarray(table, dtype=np.float64).ravel()

    def lookup(j: Any, w: Any, k: Any) -> np.ndarray:
        base = np.asarray(j).astype(np.int64) * columns + int(np.asarray(k).flat[0])
        return flat[base] + np.asarray(w) * (flat[base + columns] - flat[base])

    function = b2.Function(lookup, arg_units=[1, 1, 1], return_unit=1, stateless=True)
    function.implementations.add_numpy_implementation(lookup, discard_units=True)
    function.implementations.add_implementation(
        "cython",
        code=_TABLE_CYTHON.replace("%COLUMNS%", str(columns)),
        name="_nwb_table",
        namespace={"_nwb_table_values": flat},
    )
    return function


_EXPREL_CYTHON = """
cdef inline double _nwb_exprel(double x) noexcept nogil:
    if fabs(x) < 1e-16:
        return 1.0
    elif x > 717:
        return NPY_INFINITY
    else:
        return expm1(x) / x
"""


def _exprel_numpy(x: Any) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    out = np.ones_like(x)
    np.divide(np.expm1(np.minimum(x, 709.0)), x, out=out, where=np.abs(x) >= 1e-16)
    return out


@cache
def exprel_function() -> Any:
    """``(exp(x) - 1) / x`` for generated code, fast on both runtime targets."""
    b2 = brian2_module()

    function = b2.Function(_exprel_numpy, arg_units=[1], return_unit=1, stateless=True)
    function.implementations.add_numpy_implementation(_exprel_numpy, discard_units=True)
    function.implementations.add_implementation("cython", code=_EXPREL_CYTHON, name="_nwb_exprel")
    return function
