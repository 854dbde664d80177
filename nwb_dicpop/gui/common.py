"""What every tab of the GUI page shares: tables, figure cards, and reading typed fields.

:class:`Panel` is the base of the six tab panels (:mod:`nwb_dicpop.gui.panels`): it reaches the
page (:class:`~nwb_dicpop.gui.app.Page`) for the web framework, the session, the job runner
and the error line, and draws tables and figures into the panel.  The functions turn a
DataFrame into table rows with readable column names (units included) and read the numbers,
unit lists and time windows typed into fields, with messages in words.  Nothing here imports
the web framework: the page hands it over (``page.ui``).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from nwb_dicpop.gui import figures as fig
from nwb_dicpop.gui.jobs import plain_error

__all__ = [
    "COLUMN_LABELS",
    "CONDUCTANCE_UNIT",
    "MAX_TABLE_ROWS",
    "Panel",
    "cell",
    "column_label",
    "parse_ids",
    "parse_window",
    "table_rows",
    "whole_number",
]

MAX_TABLE_ROWS = 200
"""Rows a table shows at most (the CSV exports hold every row)."""
CONDUCTANCE_UNIT = "mS/cm^2"

COLUMN_LABELS = {
    "unit_id": "unit",
    "n_spikes": "spikes",
    "mean_rate": "mean rate (Hz)",
    "isi_cv": "ISI CV",
    "firing_class": "firing class",
    "spiking_frequency": "spiking frequency (Hz)",
    "n_bursts": "bursts",
    "spikes_per_burst": "spikes per burst",
    "interburst_frequency": "burst rate (Hz)",
    "intraburst_frequency": "intraburst frequency (Hz)",
    "network_class": "class seen by the network",
    "g_s": "g_s (slow DIC)",
    "g_s_std": "g_s uncertainty (1 sd)",
    "g_u": "g_u (ultraslow DIC)",
    "g_u_std": "g_u uncertainty (1 sd)",
    "out_of_distribution": "out of distribution",
    "n_models": "models built",
    "n_simulated": "models simulated",
    "n_valid": "models that fire like the unit",
    "yield": "yield (valid / simulated)",
    "dic_g_f": "DIC g_f",
    "dic_g_s": "DIC g_s",
    "dic_g_u": "DIC g_u",
    "V_th": "threshold (mV)",
    "target_g_s": "target g_s",
    "target_g_u": "target g_u",
    "valid": "fires like the unit",
    "same_class": "same class as the unit",
    "max_relative_error": "largest relative error",
    "van_rossum_ratio": "spike-timing distance (van Rossum ratio)",
    "subset": "changed conductances",
    "log_bayes_factor": "log Bayes factor against no change",
    "cost": "cost (sum of |ln ratio|)",
    "feasible_fraction": "feasible fraction",
    "reproduced_fraction": "reproduced fraction (simulated)",
    "tie_reason": "tied because",
    "t_start": "window start (s)",
    "t_stop": "window stop (s)",
    "time": "window centre (s)",
    "fraction_moved": "members moved (fraction)",
}
"""Column name -> header shown on the page (the CSV exports keep the column names)."""


def column_label(name: str) -> str:
    """The header of column ``name``: a readable label, with mS/cm^2 for maximal conductances."""
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    if re.fullmatch(r"g_[A-Za-z0-9]+", name):
        return f"{name} ({CONDUCTANCE_UNIT})"
    return name.replace("_", " ")


def cell(value: Any) -> Any:
    """A table cell as JSON: rounded floats, None for NaN, "yes"/"no", text for the rest."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(f"{float(value):.4g}")
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def table_rows(frame: Any, columns: list[str] | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(rows, columns)`` of a DataFrame for ``ui.table`` (at most :data:`MAX_TABLE_ROWS` rows)."""
    names = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    rows = [{"_row": i, **{c: cell(v) for c, v in zip(names, values, strict=True)}}
            for i, values in enumerate(frame[names].head(MAX_TABLE_ROWS).itertuples(index=False))]
    spec = [{"name": c, "label": column_label(c), "field": c, "sortable": True, "align": "left"} for c in names]
    return rows, spec


def parse_ids(text: str, available: list[Any]) -> list[Any] | None:
    """Unit ids typed as "1, 2, 5" matched to the recording's ids (None: all)."""
    parts = [p.strip() for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    if not parts:
        return None
    by_text = {str(u): u for u in available}
    chosen = []
    for part in parts:
        if part not in by_text:
            msg = f"Unit {part!r} is not in the recording; its units are {', '.join(map(str, available))}."
            raise ValueError(msg)
        chosen.append(by_text[part])
    return chosen


def parse_window(start: Any, stop: Any, what: str) -> tuple[float, float] | None:
    """A ``(t_start, t_stop)`` window in seconds from two fields (None when both are empty)."""
    if start in (None, "") and stop in (None, ""):
        return None
    try:
        window = (float(start), float(stop))
    except (TypeError, ValueError):
        msg = f"The {what} needs a start and a stop time in seconds; got {start!r} and {stop!r}."
        raise ValueError(msg) from None
    if not window[0] < window[1]:
        msg = f"The {what} must start before it stops; got {window[0]:g} s to {window[1]:g} s."
        raise ValueError(msg)
    return window


def whole_number(value: Any, name: str, low: int = 1) -> int:
    """The whole number typed in field ``name``, at least ``low``; a ValueError in words otherwise."""
    if value is None or not float(value).is_integer() or int(value) < low:
        msg = f"{name} must be a whole number >= {low}; got {value!r}."
        raise ValueError(msg)
    return int(value)


class Panel:
    """Base of a tab panel: the page it lives in, and tables and figures drawn into it.

    Parameters
    ----------
    page : nwb_dicpop.gui.app.Page
        Gives ``ui`` (NiceGUI's ``ui`` module), ``session``
        (:class:`~nwb_dicpop.gui.state.Session`), ``run`` and ``show_error``, and the other panels.

    A subclass builds its widgets in ``__init__``, inside the tab panel being built.
    """

    def __init__(self, page: Any) -> None:
        self.page = page
        self.ui = page.ui
        self.session = page.session

    def show_error(self, text: str) -> None:
        """Show ``text`` in red at the top of the page (an empty text hides the line)."""
        self.page.show_error(text)

    def run(self, function: Callable[..., Any], kwargs: dict[str, Any], label: str,
            on_done: Callable[[Any], None]) -> None:
        """Run ``function(**kwargs)`` in a worker process; ``on_done(result)`` once it succeeds."""
        self.page.run(function, kwargs, label, on_done)

    def figure_card(self, container: Any, name: str, title: str, draw: Callable[..., Any], *args: Any,
                    **kwargs: Any) -> None:
        """Draw a figure into ``container`` with PNG and SVG download buttons."""
        ui = self.ui
        try:
            figure = fig.render(name, title, draw, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 - a figure that cannot be drawn says why
            with container:
                ui.label(f"{title}: {plain_error(err)}").classes("text-negative")
            return
        self.session.figures[name] = figure
        with container, ui.card().classes(f"ndp-figure ndp-figure-{name}"):
            ui.label(title).classes("text-subtitle2")
            source = "data:image/png;base64," + base64.b64encode(figure.png).decode()
            ui.image(source).classes("w-[36rem] max-w-full")
            with ui.row():
                ui.button("PNG", on_click=lambda f=figure: ui.download.content(f.png, f"{f.name}.png")).props(
                    "flat dense").classes("ndp-png")
                ui.button("SVG", on_click=lambda f=figure: ui.download.content(f.svg, f"{f.name}.svg")).props(
                    "flat dense").classes("ndp-svg")

    def table(self, container: Any, frame: Any, columns: list[str] | None = None, css: str = "",
              title: str | None = None, labels: dict[str, str] | None = None) -> None:
        """A sortable table of ``frame`` (10 rows a page) in ``container``.

        ``title`` is shown above the header; ``labels`` overrides column headers.
        """
        rows, spec = table_rows(frame, columns)
        for column in spec:
            column["label"] = (labels or {}).get(column["name"], column["label"])
        with container:
            table = self.ui.table(rows=rows, columns=spec, row_key="_row", pagination=10, title=title)
            table.classes(f"w-full {css}").props("dense")
