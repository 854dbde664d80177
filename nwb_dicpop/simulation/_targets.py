"""Choice and configuration of the Brian2 code target (cython when a compiler works, else numpy)."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from functools import lru_cache
from pathlib import Path

from nwb_dicpop._validation import check_choice
from nwb_dicpop.simulation._functions import _brian2

logger = logging.getLogger("nwb_dicpop.simulation")

CODE_TARGETS = ("auto", "cython", "numpy")


class CodeTargetWarning(UserWarning):
    """The requested or preferred Brian2 code target is unavailable; another one is used."""


def _cache_dir() -> Path:
    root = os.environ.get("NWB_DICPOP_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "nwb_dicpop"
    return base / "brian2_cython"


@lru_cache(maxsize=1)
def _cython_available() -> bool:
    if shutil.which(os.environ.get("CC", "gcc")) is None and shutil.which("cc") is None:
        return False
    try:
        import Cython  # noqa: F401

        _brian2()  # first import off the main thread needs the signal shim
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        return bool(CythonCodeObject.is_available())
    except Exception:  # any failure of the test compile means "not available"
        logger.debug("cython target unavailable", exc_info=True)
        return False


def _resolve_target(code_target: str) -> str:
    check_choice("code_target", code_target, CODE_TARGETS)
    if code_target == "numpy":
        return "numpy"
    if _cython_available():
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


def _configure_brian(target: str) -> None:
    from brian2 import prefs

    prefs.codegen.target = target
    prefs.codegen.runtime.cython.cache_dir = str(_cache_dir())
    prefs.devices.cpp_standalone.openmp_threads = 0  # never OpenMP on shared machines
    prefs.codegen.loop_invariant_optimisations = True
