"""A local web GUI for experimentalists: ``nwb-dicpop gui`` (install with ``pip install 'nwb_dicpop[gui]'``).

The page opens recordings (the built-in demo, uploads, local files, HTTPS addresses, DANDI
assets), shows units, infers DICs and populations, simulates members, compares recordings
before and after a neuromodulator, and exports the annotated NWB file, tables and figures.
It calls the package's public functions only:

* :mod:`nwb_dicpop.gui.app`: the page (NiceGUI): header, running job, tabs; and :func:`run_gui`;
* :mod:`nwb_dicpop.gui.panels`: the six tabs, one module each (Data, Units, Infer, Population,
  Neuromodulation, Export);
* :mod:`nwb_dicpop.gui.common`: what the panels share (tables, figure cards, typed fields);
* :mod:`nwb_dicpop.gui.state`: what the server and each browser tab's session remember;
* :mod:`nwb_dicpop.gui.jobs`: long computations in worker processes, with progress and cancel;
* :mod:`nwb_dicpop.gui.work`: what the worker processes run;
* :mod:`nwb_dicpop.gui.figures`: figures of :mod:`nwb_dicpop.plotting` as PNG and SVG.

``import nwb_dicpop.gui`` imports no web framework; :func:`run_gui` does.  The guide is
``docs/gui.md``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "DEFAULT_PORT", "run_gui"]

DEFAULT_PORT = 8080
"""Port the GUI listens on unless told otherwise."""
DEFAULT_MAX_UPLOAD_MB = 200.0
"""Largest upload accepted, in megabytes, unless told otherwise."""


def run_gui(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    allow_remote: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
) -> None:
    """Serve the GUI until interrupted; see :func:`nwb_dicpop.gui.app.run_gui`.

    Raises
    ------
    ImportError
        NiceGUI is not installed (``pip install 'nwb_dicpop[gui]'``).
    ValueError
        A non-loopback ``host`` without ``allow_remote``, a bad port or upload limit.
    """
    if importlib.util.find_spec("nicegui") is None:
        msg = "The GUI needs NiceGUI: pip install 'nwb_dicpop[gui]'."
        raise ImportError(msg)
    from nwb_dicpop.gui.app import run_gui as serve

    kwargs: dict[str, Any] = {"host": host, "port": port, "open_browser": open_browser,
                              "allow_remote": allow_remote, "max_upload_mb": max_upload_mb}
    serve(**kwargs)
