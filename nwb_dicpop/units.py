"""The one place where the package's units are written down.

Inside the package every quantity is a plain float in its canonical unit; readers convert on
entry and writers annotate on exit.
"""

from __future__ import annotations

__all__ = [
    "CONDUCTANCE_UNIT",
    "CURRENT_UNIT",
    "DIC_UNIT",
    "MODEL_TIME_UNIT",
    "MS_PER_S",
    "TIME_UNIT",
    "VOLTAGE_UNIT",
]

TIME_UNIT = "s"
"""Spike times, durations and time steps crossing the public API."""
MODEL_TIME_UNIT = "ms"
"""Time inside model equations (gate time constants)."""
VOLTAGE_UNIT = "mV"
CONDUCTANCE_UNIT = "mS/cm^2"
CURRENT_UNIT = "uA/cm^2"
DIC_UNIT = "dimensionless (normalised by g_leak)"

MS_PER_S = 1000.0
"""Milliseconds per second: ``seconds * MS_PER_S`` is milliseconds (model equations and the
network's inter-spike-interval tokens work in ms; the API in s)."""
