"""Argument checks shared by the public functions.

Every message follows one template: the parameter, what was received, what is expected and,
where possible, how to fix it (with "did you mean" suggestions for names).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_choice",
    "check_finite_array",
    "check_positive",
    "normalize_rng",
    "seed_of",
]


def check_choice(parameter: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise with a suggestion."""
    choices = list(choices)
    if isinstance(value, str) and value in choices:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
        if not close:
            lowered = {c.lower(): c for c in choices}
            close = [lowered[value.lower()]] if value.lower() in lowered else []
        if close:
            hint = f" Did you mean {close[0]!r}?"
    msg = f"Unknown {parameter} {value!r}; expected one of {choices}.{hint}"
    raise ValueError(msg)


def check_positive(parameter: str, value: Any, *, unit: str = "", integer: bool = False) -> Any:
    """Raise unless ``value`` is a finite number > 0 (an int if ``integer``)."""
    kind = "integer" if integer else "number"
    ok_type = isinstance(value, (int, np.integer)) if integer else isinstance(
        value, (int, float, np.integer, np.floating)
    )
    if isinstance(value, bool) or not ok_type or not np.isfinite(value) or value <= 0:
        suffix = f" {unit}" if unit else ""
        msg = f"`{parameter}` must be a positive {kind}{suffix}; got {value!r}."
        raise ValueError(msg)
    return value


def check_finite_array(
    parameter: str,
    value: Any,
    *,
    ndim: Sequence[int] | None = None,
    last_dim: int | None = None,
    nonnegative: bool = False,
) -> np.ndarray:
    """Convert to float64 and check shape, finiteness and (optionally) sign."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        msg = f"`{parameter}` must be numeric; got {type(value).__name__}: {value!r:.80}."
        raise TypeError(msg) from err
    if ndim is not None and array.ndim not in ndim:
        msg = f"`{parameter}` must have {' or '.join(map(str, ndim))} dimension(s); got shape {array.shape}."
        raise ValueError(msg)
    if last_dim is not None and (array.ndim == 0 or array.shape[-1] != last_dim):
        msg = f"`{parameter}` must have {last_dim} entries along its last axis; got shape {array.shape}."
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        msg = f"`{parameter}` contains {n_bad} NaN or infinite value(s); remove or replace them."
        raise ValueError(msg)
    if nonnegative and np.any(array < 0):
        msg = (
            f"`{parameter}` contains negative values (min {array.min():.4g}); maximal "
            "conductances must be >= 0."
        )
        raise ValueError(msg)
    return array


def normalize_rng(rng: int | np.random.Generator | None) -> np.random.Generator:
    """SPEC 7: ``None``, a seed or a Generator become a Generator."""
    if isinstance(rng, (bool, float)) or (
        rng is not None and not isinstance(rng, (int, np.integer, np.random.Generator))
    ):
        msg = f"`rng` must be None, an int seed or a numpy Generator; got {rng!r}."
        raise TypeError(msg)
    return np.random.default_rng(rng)


def seed_of(rng: int | np.random.Generator | None) -> int | None:
    """The integer seed to record in provenance (None when not given as an int)."""
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return int(rng)
    return None
