"""The Neuromodulation tab: which conductances changed between "before" and "after", and DICs over time.

"Before" and "after" are two epochs of the NWB file open now, two time windows of the recording,
or the recording open now and a second file.  The comparison is
:func:`~nwb_dicpop.analyze_neuromodulation` (:func:`~nwb_dicpop.gui.work.compare_recordings`);
the trajectory is :func:`~nwb_dicpop.track_dics` (:func:`~nwb_dicpop.gui.work.trajectory`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import Panel, parse_window, whole_number
from nwb_dicpop.gui.panels.units import unit_index

__all__ = ["RANKING_COLUMNS", "TRAJECTORY_COLUMNS", "NeuromodulationPanel", "ranking_view", "verdict"]

MODES = {"epochs": "two epochs", "windows": "two windows", "files": "two files"}
RANKING_COLUMNS = ["subset", "rank", "log_bayes_factor", "cost", "feasible_fraction", "reproduced_fraction",
                   "tie_reason"]
"""Columns of the ranking the table shows (``rank`` only for a detectable change,
``reproduced_fraction`` only with validation)."""
TRAJECTORY_COLUMNS = ["t_start", "t_stop", "g_s", "g_s_std", "g_u", "g_u_std", "network_class", "n_spikes",
                      "status", "fraction_moved"]


def verdict(analysis: Any) -> str:
    """The answer of a comparison in one sentence."""
    if analysis.detectable:
        top = list(analysis.top)
        if len(top) == 1:
            return f"Most plausible change: {top[0]}."
        named = ", ".join(top[:-1]) + f" and {top[-1]}"
        return f"{len(top)} subsets explain the change equally well (a tie): {named}."
    if analysis.change_detected:
        return "A change is detected, but too many subsets explain it equally well to name one."
    return "No detectable change: the DICs before and after do not differ beyond their uncertainty."


def ranking_view(analysis: Any) -> tuple[list[str], str]:
    """``(columns, title)`` of the ranking table of ``analysis``.

    A detectable change shows its ranks; otherwise no subset has a rank (the analysis names
    none), so the column is left out and the title says why.
    """
    columns = list(RANKING_COLUMNS)
    if not analysis.settings.get("validate", False):
        columns.remove("reproduced_fraction")
    if analysis.detectable:
        return columns, ("Candidate changes, most plausible first: rank 1 is the answer (tied subsets share a "
                         "rank); a log Bayes factor above 2 beats \"no change\"")
    columns.remove("rank")
    return columns, ("No rank: the change is not detectable, so no subset is named. Candidate changes by score, "
                     "best first")


@dataclass(frozen=True)
class SecondFile:
    """The second file of a comparison, read before the comparison runs."""

    path: str
    unit: str


class NeuromodulationPanel(Panel):
    """The comparison's settings and answer, and the DIC trajectory of the chosen unit."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        ui = self.ui
        ui.markdown(
            "Which conductances changed between a *before* and an *after* recording of one neuron? Choose the two "
            "parts: two epochs or two time windows of the recording open now, or a second file."
        )
        with ui.row().classes("items-end"):
            self.mode = ui.toggle(MODES, value="epochs").classes("ndp-nm-mode")
            self.unit = ui.select([], label="Unit").classes("w-32 ndp-nm-unit")
        with ui.row().classes("items-end") as epochs:
            self.epoch_before = ui.input("Epoch before", value=work.DEMO_EPOCHS[0]).classes("w-36 ndp-epoch-before")
            self.epoch_after = ui.input("Epoch after", value=work.DEMO_EPOCHS[1]).classes("w-36 ndp-epoch-after")
        epochs.bind_visibility_from(self.mode, "value", backward=lambda v: v == "epochs")
        with ui.row().classes("items-end") as windows:
            self.before = (ui.input("Before: from (s)").classes("w-32 ndp-before-start"),
                           ui.input("to (s)").classes("w-24 ndp-before-stop"))
            self.after = (ui.input("After: from (s)").classes("w-32 ndp-after-start"),
                          ui.input("to (s)").classes("w-24 ndp-after-stop"))
        windows.bind_visibility_from(self.mode, "value", backward=lambda v: v == "windows")
        with ui.column() as files:
            ui.label("Before: the unit chosen above, in the recording open now. After: a unit of a second file "
                     "(read whole; times in seconds).").classes("text-caption")
            with ui.row().classes("items-end"):
                self.file = ui.input("After: path of the second file").classes("w-96 ndp-nm-file")
                self.file_unit = ui.input("its unit (empty: the same id)").classes("w-48 ndp-nm-file-unit")
        files.bind_visibility_from(self.mode, "value", backward=lambda v: v == "files")
        with ui.row().classes("items-end"):
            self.n_models = ui.number("Population size", value=100, min=1, step=1, format="%d").classes(
                "w-36 ndp-nm-n-models")
            self.validate = ui.checkbox("validate with simulations (recommended; slower)", value=True).classes(
                "ndp-nm-validate")
            ui.button("Compare before and after", on_click=self.run_comparison).classes("ndp-run-nm")
        self.results = ui.column().classes("w-full ndp-nm-results")
        ui.separator()
        ui.label("DIC trajectory: the chosen unit's DICs in sliding windows of the whole recording").classes(
            "text-subtitle2")
        with ui.row().classes("items-end"):
            self.window = ui.number("Window (s)", value=2.0, min=0.1).classes("w-28 ndp-tr-window")
            self.step = ui.number("Step (s)", value=1.0, min=0.1).classes("w-28 ndp-tr-step")
            ui.button("Track DICs", on_click=self.run_trajectory).classes("ndp-run-trajectory")
        self.trajectory_results = ui.column().classes("w-full ndp-trajectory-results")

    def set_units(self, ids: list[str], *, demo: bool) -> None:
        """Offer the units of a newly opened recording (the demo: its first modulated unit, by epochs)."""
        self.unit.set_options(ids, value=ids[0] if ids else None)
        if demo and len(ids) > work.DEMO_SCENARIOS:
            self.unit.set_value(ids[-work.DEMO_SCENARIOS])
            self.mode.set_value("epochs")

    def clear(self) -> None:
        """Forget the shown results (a new recording was opened)."""
        self.results.clear()
        self.trajectory_results.clear()

    def chosen_unit(self) -> Any:
        """The id of the chosen unit (ValueError in words when there is none)."""
        recording = self.session.recording
        if recording is None or self.unit.value is None:
            msg = "Open a recording and choose a unit first."
            raise ValueError(msg)
        return recording.spikes.unit_ids[unit_index(recording, self.unit.value)]

    def run_comparison(self) -> None:
        infer = self.page.infer
        try:
            uid = self.chosen_unit()
            recording = self.session.recording
            kwargs: dict[str, Any] = {"model": infer.model.value,
                                      "n_models": whole_number(self.n_models.value, "Population size"),
                                      "validate": bool(self.validate.value), "seed": infer.seed_value()}
            mode = self.mode.value
            if mode == "epochs":
                if not recording.local_nwb:
                    msg = "Epochs are read from a local NWB file; this recording is not one. Use two windows."
                    raise ValueError(msg)
                kwargs |= {"before": (self.epoch_before.value or "").strip(),
                           "after": (self.epoch_after.value or "").strip(), "recording": recording.source,
                           "unit": uid}
            elif mode == "windows":
                before = parse_window(*(w.value for w in self.before), "before window")
                after = parse_window(*(w.value for w in self.after), "after window")
                if before is None or after is None:
                    msg = "Give both windows, before and after, in seconds."
                    raise ValueError(msg)
                kwargs |= {"before": before, "after": after, "recording": recording.spikes.select([uid])}
            else:
                other = (self.file.value or "").strip()
                if not other:
                    msg = "Type the path of the second file (after)."
                    raise ValueError(msg)
                after_unit = (self.file_unit.value or "").strip() or str(uid)
                kwargs |= {"before": recording.spikes.select([uid]), "after": SecondFile(other, after_unit)}
        except ValueError as err:
            self.show_error(str(err))
            return
        if isinstance(kwargs.get("after"), SecondFile):
            second = kwargs.pop("after")
            self.run(work.open_recording, {"source": second.path}, "Opening the second file",
                     lambda rec: self.compare_files(kwargs, rec, second.unit))
            return
        self.run(work.compare_recordings, kwargs, f"Comparing before and after (unit {uid})", self.compared)

    def compare_files(self, kwargs: dict[str, Any], other: work.Recording, unit: str) -> None:
        ids = [str(u) for u in other.spikes.unit_ids]
        if unit not in ids:
            self.show_error(f"Unit {unit!r} is not in {other.label}; its units are {', '.join(ids)}.")
            return
        kwargs["after"] = other.spikes.select([other.spikes.unit_ids[ids.index(unit)]])
        self.run(work.compare_recordings, kwargs, f"Comparing the two files (after: {other.label}, unit {unit})",
                 self.compared)

    def compared(self, result: tuple[Any, dict[str, Any]]) -> None:
        from nwb_dicpop import plotting

        ui = self.ui
        analysis, maps = result
        self.session.comparison = result
        self.results.clear()
        with self.results:
            ui.label(verdict(analysis)).classes("text-h6 ndp-verdict")
            if analysis.before_window is not None and analysis.after_window is not None:
                (b0, b1), (a0, a1) = analysis.before_window, analysis.after_window
                validated = "with" if analysis.settings.get("validate") else "without"
                ui.label(f"Before: {b0:g} to {b1:g} s; after: {a0:g} to {a1:g} s; "
                         f"{analysis.before_population.n_models} models, {validated} simulations.").classes(
                    "ndp-nm-windows")
            ui.label(f"Details: {analysis.reason}").classes("ndp-reason")
            for note in analysis.bound_notes:
                ui.label(note).classes("text-caption")
        columns, title = ranking_view(analysis)
        self.table(self.results, analysis.ranking, columns, "ndp-ranking", title=title)
        with self.results, ui.row().classes("w-full") as row:
            pass
        self.figure_card(row, "ranking", "Subsets ranked against no change", plotting.plot_ranking, analysis)
        after = (float(analysis.after.g_s[0]), float(analysis.after.g_u[0]))
        for name, modulation in maps.items():
            moved = analysis.moved.get(name)
            self.figure_card(row, f"map_{name}", f"Reachability by {name}: before population, after DICs (star)",
                             plotting.plot_modulation_map, modulation, after=after, moved=moved)
        for name in analysis.moved:
            self.figure_card(row, f"conductances_{name}", f"Conductances before and after ({name})",
                             plotting.plot_conductances, analysis, name)

    def run_trajectory(self) -> None:
        try:
            uid = self.chosen_unit()
            window, step = float(self.window.value or 0), float(self.step.value or 0)
        except (TypeError, ValueError) as err:
            self.show_error(str(err))
            return
        train = self.session.recording.spikes.select([uid])
        self.run(work.trajectory, {"spiketrain": train, "model": self.page.infer.model.value, "window": window,
                                   "step": step},
                 f"Tracking the DICs of unit {uid}", lambda result: self.tracked(uid, result))

    def tracked(self, uid: Any, result: Any) -> None:
        from nwb_dicpop import plotting

        self.session.trajectory = result
        self.trajectory_results.clear()
        with self.trajectory_results, self.ui.row().classes("w-full") as row:
            pass
        self.figure_card(row, f"trajectory_unit_{uid}", f"DICs of unit {uid} over time",
                         plotting.plot_trajectory, result)
        self.table(self.trajectory_results, result.to_dataframe(), TRAJECTORY_COLUMNS, "ndp-trajectory-table",
                   title=f"Unit {uid}: one row per window")
