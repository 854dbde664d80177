"""The Population tab: a unit's degenerate population, and chosen members simulated beside the recording."""

from __future__ import annotations

from typing import Any

import numpy as np

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import CONDUCTANCE_UNIT, Panel

__all__ = ["SCORE_COLUMNS", "PopulationPanel", "parse_members"]

SCORE_COLUMNS = ["member", "valid", "firing_class", "same_class", "max_relative_error", "van_rossum_ratio"]
"""Columns of the simulated members' validation scores the table shows."""


def parse_members(text: Any) -> list[int]:
    """Member numbers typed as "0, 1, 2" (ValueError in words otherwise)."""
    try:
        return [int(p) for p in str(text or "").replace(";", ",").split(",") if p.strip()]
    except ValueError:
        msg = f"Members must be numbers separated by commas; got {text!r}."
        raise ValueError(msg) from None


class PopulationPanel(Panel):
    """Distributions and scatter of a population's conductances, its table, and member simulations."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        ui = self.ui
        ui.markdown("The degenerate population of a unit: many sets of maximal conductances (in "
                    f"{CONDUCTANCE_UNIT}) with the unit's DICs. Run the inference first (Infer tab).")
        with ui.row().classes("items-end"):
            self.unit = ui.select([], label="Unit", on_change=lambda _: self.show_population()).classes(
                "w-32 ndp-population-unit")
            self.scatter_x = ui.select([], label="x conductance", on_change=lambda _: self.show_population()).classes(
                "w-36 ndp-scatter-x")
            self.scatter_y = ui.select([], label="y conductance", on_change=lambda _: self.show_population()).classes(
                "w-36 ndp-scatter-y")
        self.results = ui.column().classes("w-full ndp-population-results")
        ui.separator()
        ui.label("Simulate chosen members beside the recording").classes("text-subtitle2")
        with ui.row().classes("items-end"):
            self.members_input = ui.input("Members (e.g. 0, 1, 2)", value="0, 1, 2").classes("w-48 ndp-members")
            ui.button("Simulate members", on_click=self.run_members).classes("ndp-simulate")
        self.members_results = ui.column().classes("w-full ndp-members-results")

    def set_units(self, ids: list[str]) -> None:
        """Offer the units that have a population (after an inference)."""
        self.unit.set_options(ids, value=ids[0] if ids else None)

    def clear(self) -> None:
        """Forget the shown results (a new recording was opened)."""
        self.results.clear()
        self.members_results.clear()
        self.unit.set_options([], value=None)

    def chosen(self) -> tuple[Any, Any]:
        """``(unit id, Population)`` of the chosen unit, or ``(None, None)``."""
        outcome = self.session.inference
        if outcome is None or self.unit.value is None:
            return None, None
        for uid, population in outcome.populations.items():
            if str(uid) == str(self.unit.value):
                return uid, population
        return None, None

    def show_population(self) -> None:
        from nwb_dicpop import plotting

        uid, population = self.chosen()
        self.results.clear()
        if population is None:
            return
        names = list(population.conductance_names)
        if self.scatter_x.options != names:
            self.scatter_x.set_options(names, value=names[0])
            self.scatter_y.set_options(names, value=names[1] if len(names) > 1 else names[0])
            return  # the selects' change events draw again
        x, y = self.scatter_x.value or names[0], self.scatter_y.value or names[-1]
        with self.results, self.ui.row().classes("w-full") as row:
            pass
        self.figure_card(row, f"population_unit_{uid}",
                         f"Maximal conductances of unit {uid}'s population ({population.n_models} members)",
                         plotting.plot_population_distributions, population)
        self.figure_card(row, f"scatter_unit_{uid}", f"g_{x} against g_{y} ({CONDUCTANCE_UNIT}), one dot per member",
                         plotting.plot_population_scatter, population, x, y)
        frame = population.to_dataframe()
        scores = self.session.inference.validations.get(uid)
        if scores is not None and len(scores) == len(frame):
            frame = frame.join(scores[[c for c in ("valid", "max_relative_error", "van_rossum_ratio")
                                       if c in scores.columns]])
        frame.insert(0, "member", np.arange(len(frame)))
        self.table(self.results, frame, None, "ndp-population-table", title=f"Members of unit {uid}'s population")

    def run_members(self) -> None:
        uid, population = self.chosen()
        if population is None:
            self.show_error("Run the inference and choose a unit with a population first.")
            return
        try:
            members = parse_members(self.members_input.value)
        except ValueError as err:
            self.show_error(str(err))
            return
        observed = self.session.recording.spikes.select([uid])
        self.run(work.simulate_members, {"population": population, "members": members, "observed": observed},
                 f"Simulating {len(members)} members of unit {uid}", lambda result: self.members_done(uid, result))

    def members_done(self, uid: Any, result: tuple[Any, Any]) -> None:
        from nwb_dicpop import plotting

        simulation, scores = result
        self.session.simulation = result
        self.members_results.clear()
        recording = self.session.recording.spikes.select([uid])
        observed = np.asarray(recording.times[0]) - float(recording.t_start[0])
        labels = [f"member {m}" for m in scores["member"]]
        with self.members_results, self.ui.row().classes("w-full") as row:
            pass
        self.figure_card(row, f"members_raster_unit_{uid}", f"Recording of unit {uid} (red) and simulated members",
                         plotting.plot_raster, list(simulation.spike_times), reference=observed, labels=labels)
        self.figure_card(row, f"members_voltage_unit_{uid}", "Membrane voltage of the simulated members",
                         plotting.plot_voltage_traces, simulation)
        self.table(self.members_results, scores, SCORE_COLUMNS, "ndp-scores",
                   title="Do the simulated members fire like the unit?")
