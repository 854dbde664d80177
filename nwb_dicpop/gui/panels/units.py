"""The Units tab: spike statistics of every unit, and one unit's raster and inter-spike intervals."""

from __future__ import annotations

from typing import Any

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import Panel

__all__ = ["STATISTICS_COLUMNS", "UnitsPanel", "unit_index"]

STATISTICS_COLUMNS = ["unit_id", "n_spikes", "mean_rate", "isi_cv", "firing_class", "spiking_frequency", "n_bursts",
                      "spikes_per_burst", "interburst_frequency", "intraburst_frequency"]
"""Columns of :func:`~nwb_dicpop.compute_spike_statistics` the table shows."""


def unit_index(recording: work.Recording, text: Any) -> int:
    """Position in ``recording`` of the unit whose id reads ``text`` (a select's value)."""
    ids = [str(u) for u in recording.spikes.unit_ids]
    return ids.index(str(text))


class UnitsPanel(Panel):
    """The statistics table and the chosen unit's figures."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        ui = self.ui
        self.table_box = ui.column().classes("w-full ndp-units-table")
        with ui.row().classes("items-end"):
            self.unit = ui.select([], label="Unit", on_change=lambda _: self.show_unit()).classes("w-40 ndp-unit")
        self.figures = ui.row().classes("w-full")

    def show_recording(self, recording: work.Recording) -> None:
        """Fill the table and the unit choice for a newly opened recording."""
        ids = [str(u) for u in recording.spikes.unit_ids]
        self.unit.set_options(ids, value=ids[0] if ids else None)
        self.table_box.clear()
        with self.table_box:
            self.ui.label("Spike statistics of each unit over the selection (bursting units: burst statistics; "
                          "empty cells do not apply to the unit's firing class).").classes("text-caption")
        self.table(self.table_box, recording.statistics, STATISTICS_COLUMNS, "ndp-stats")
        self.show_unit()

    def show_unit(self) -> None:
        from nwb_dicpop import plotting

        recording = self.session.recording
        self.figures.clear()
        if recording is None or self.unit.value is None:
            return
        spikes = recording.spikes
        i = unit_index(recording, self.unit.value)
        uid = spikes.unit_ids[i]
        self.figure_card(self.figures, f"raster_unit_{uid}", f"Raster of unit {uid}", plotting.plot_raster,
                         spikes.select([uid]))
        self.figure_card(self.figures, f"isi_unit_{uid}", f"Inter-spike intervals of unit {uid}",
                         plotting.plot_isi_histogram, spikes.times[i])
