"""The Infer tab: DICs of every unit, a population per unit, and the DIC posterior figure."""

from __future__ import annotations

from typing import Any

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import Panel, whole_number

__all__ = ["OOD_TEXT", "SUMMARY_COLUMNS", "InferPanel"]

OOD_TEXT = (
    "The spike train of unit {uid} lies outside what the network saw in training (its firing is unlike any "
    "simulated train of the model). Its DICs are extrapolated: treat them, and the population built on them, "
    "with caution."
)
SUMMARY_COLUMNS = ["unit_id", "firing_class", "network_class", "g_s", "g_s_std", "g_u", "g_u_std",
                   "out_of_distribution", "status", "reason", "n_models", "n_simulated", "n_valid", "yield"]
"""Columns of the pipeline's summary the table shows (the last three only after a validated run)."""
VALIDATION_COLUMNS = ("n_simulated", "n_valid", "yield")


class InferPanel(Panel):
    """Model, population size, validation and seed; the summary table and the DIC figure.

    The model and the seed chosen here are used by the other tabs too.
    """

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        from nwb_dicpop import available_models

        ui = self.ui
        ui.markdown(
            "Infer each unit's dynamic input conductances (DICs: the slow `g_s` and ultraslow `g_u` feedback, "
            "dimensionless: divided by the leak conductance) with the model's network, then build a population "
            "of conductance-based models per unit. With *validate*, every member is simulated and only those "
            "that fire like the unit are kept (slower)."
        )
        with ui.row().classes("items-end"):
            self.model = ui.select(list(available_models()), value="stg", label="Model").classes("w-32 ndp-model")
            self.n_models = ui.number("Population size", value=20, min=1, max=2000, step=1, format="%d").classes(
                "w-36 ndp-n-models")
            self.validate = ui.checkbox("validate (simulate members)", value=True).classes("ndp-validate")
            self.seed = ui.number("Seed", value=0, min=0, step=1, format="%d").classes("w-24 ndp-seed")
            ui.button("Run inference", on_click=self.run_inference).classes("ndp-run-infer")
        self.results = ui.column().classes("w-full ndp-infer-results")
        with ui.row().classes("items-end"):
            self.dic_unit = ui.select([], label="Posterior of unit", on_change=lambda _: self.show_dics()).classes(
                "w-48 ndp-dic-unit")
        self.dic_figure = ui.row().classes("w-full")

    def seed_value(self) -> int:
        """The seed typed in this tab (ValueError in words when it is not a whole number >= 0)."""
        return whole_number(self.seed.value, "Seed", 0)

    def clear(self) -> None:
        """Forget the shown results (a new recording was opened)."""
        self.results.clear()
        self.dic_figure.clear()
        self.dic_unit.set_options([], value=None)

    def run_inference(self) -> None:
        recording = self.session.recording
        if recording is None:
            self.show_error("Open a recording first (Data tab).")
            return
        try:
            kwargs = {"spikes": recording.spikes, "model": self.model.value,
                      "n_models": whole_number(self.n_models.value, "Population size"),
                      "validate": bool(self.validate.value), "seed": self.seed_value()}
        except ValueError as err:
            self.show_error(str(err))
            return
        self.run(work.infer_units, kwargs, "Inferring DICs and building populations", self.inferred)

    def inferred(self, outcome: work.InferenceOutcome) -> None:
        ui = self.ui
        self.session.inference = outcome
        self.results.clear()
        columns = SUMMARY_COLUMNS
        if not outcome.settings.get("validate"):
            columns = [c for c in columns if c not in VALIDATION_COLUMNS]
        if not (outcome.summary["reason"].fillna("").astype(str).str.strip() != "").any():
            columns = [c for c in columns if c != "reason"]  # every unit is fine: nothing to explain
        validated = "validated" if outcome.settings.get("validate") else "not validated: no member was simulated"
        title = f"DICs and populations ({outcome.settings.get('model')}, {validated})"
        self.table(self.results, outcome.summary, columns, "ndp-summary", title=title)
        with self.results:
            flagged = outcome.summary.loc[outcome.summary["out_of_distribution"].astype(bool), "unit_id"]
            for uid in flagged:
                ui.label(OOD_TEXT.format(uid=uid)).classes("text-warning ndp-ood")
            if not len(flagged):
                ui.label("Every unit's train lies within the network's training distribution.").classes("ndp-ood")
            for row in outcome.summary.itertuples(index=False):
                if row.status not in ("ok",):
                    ui.label(f"Unit {row.unit_id}: {row.status}. {row.reason}").classes("ndp-unit-status")
        ids = [str(u) for u in outcome.dics.unit_ids]
        ok = [str(u) for u, good in zip(outcome.dics.unit_ids, outcome.dics.ok, strict=True) if good]
        self.dic_unit.set_options(ids, value=ok[0] if ok else None)
        self.page.population.set_units([str(u) for u in outcome.populations])
        self.show_dics()

    def show_dics(self) -> None:
        from nwb_dicpop import plotting

        outcome = self.session.inference
        self.dic_figure.clear()
        if outcome is None:
            return
        ids = [str(u) for u in outcome.dics.unit_ids]
        value = self.dic_unit.value
        unit = outcome.dics.unit_ids[ids.index(value)] if value in ids else None
        if unit is not None and not outcome.dics.ok[ids.index(value)]:
            unit = None
        self.figure_card(self.dic_figure, "dics", "Units in the (g_s, g_u) plane; dashed: the network's training "
                         "support", plotting.plot_dic_estimates, outcome.dics, unit=unit, rng=0)
