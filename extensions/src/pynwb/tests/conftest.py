"""Run from a checkout without installing: fall back to the package next to these tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("ndx_dicpop") is None:  # an installed ndx_dicpop is tested as installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
