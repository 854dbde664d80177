"""Choice and configuration of the Brian2 code target (cython when a compiler works, else numpy)."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

from nwb_dicpop._validation import check_choice
from nwb_dicpop.simulation._functions import brian2_module

logger = logging.getLogger("nwb_dicpop.simulation")

__all__ = ["CODE_TARGETS", "CodeTargetWarning", "cache_dir", "configure_brian", "cython_available", "resolve_target"]

CODE_TARGETS = ("auto", "cython", "numpy")
"""Accepted ``code_target`` values."""


class CodeTargetWarning(UserWarning):
    """The requested or preferred Brian2 code target is unavailable; another one is used."""


def cache_dir() -> Path:
    """Folder of the compiled Cython code: ``$NWB_DICPOP_CACHE_DIR`` or the user cache directory."""
    root = os.environ.get("NWB_DICPOP_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "nwb_dicpop"
    return base / "brian2_cython"


@lru_cache(maxsize=1)
def cython_available() -> bool:
    """True when Brian2's Cython target compiles here (a C compiler and Cython work); cached."""
    if shutil.which(os.environ.get("CC", "gcc")) is None and shutil.which("cc") is None:
        return False
    try:
        import Cython  # noqa: F401

        brian2_module()  # first import off the main thread needs the signal shim
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        return bool(CythonCodeObject.is_available())
    except Exception:  # any failure of the test compile means "not available"
        logger.debug("cython target unavailable", exc_info=True)
        return False


def resolve_target(code_target: str) -> str:
    """The Brian2 target to use for ``code_target`` ("auto", "cython" or "numpy").

    "auto" falls back to numpy with a :class:`CodeTargetWarning` when Cython is unavailable;
    an explicit "cython" then raises a ValueError.
    """
    check_choice("code_target", code_target, CODE_TARGETS)
    if code_target == "numpy":
        return "numpy"
    if cython_available():
        return "cython"
    reason = "no working C compiler / Cython was found"
    if code_target == "cython":
        msg = f"code_target='cython' was requested but {reason}; install a C compiler or pass code_target='numpy'."
        raise ValueError(msg)
    warnings.warn(
        f"Brian2 cython target unavailable ({reason}); simulating with the slower numpy target.",
        CodeTargetWarning,
        stacklevel=3,
    )
    return "numpy"


def configure_brian(target: str) -> None:
    """Set Brian2's global preferences for a run on ``target`` (call under ``BRIAN_LOCK``)."""
    prefs = brian2_module().prefs
    prefs.codegen.target = target
    prefs.codegen.runtime.cython.cache_dir = str(cache_dir())
    prefs.devices.cpp_standalone.openmp_threads = 0  # never OpenMP on shared machines
    prefs.codegen.loop_invariant_optimisations = True
