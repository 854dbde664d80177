"""The Export tab: the annotated NWB file, the tables as CSV and every figure as a ZIP."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import Panel

__all__ = ["ExportPanel", "figures_zip", "populations_csv"]


def populations_csv(outcome: work.InferenceOutcome) -> bytes:
    """Every member of every population, one row each, with ``unit_id`` and ``member`` first."""
    import pandas as pd

    frames = []
    for uid, population in outcome.populations.items():
        frame = population.to_dataframe()
        frame.insert(0, "member", np.arange(len(frame)))
        frame.insert(0, "unit_id", uid)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode()


def figures_zip(figures: dict[str, Any]) -> bytes:
    """A ZIP archive of each figure as ``<name>.png`` and ``<name>.svg``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for figure in figures.values():
            archive.writestr(f"{figure.name}.png", figure.png)
            archive.writestr(f"{figure.name}.svg", figure.svg)
    return buffer.getvalue()


class ExportPanel(Panel):
    """One button per download."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        ui = self.ui
        ui.markdown("Download the results. Figures also have their own PNG and SVG buttons.")
        with ui.column():
            ui.button("Annotated NWB file", on_click=self.export_nwb).classes("ndp-export-nwb")
            ui.button("Populations (CSV)", on_click=self.export_csv).classes("ndp-export-csv")
            ui.button("Units and DICs (CSV)", on_click=self.export_summary).classes("ndp-export-summary")
            ui.button("Every figure (ZIP of PNG and SVG)", on_click=self.export_figures).classes("ndp-export-figures")

    def need_inference(self) -> Any:
        """The inference outcome, or None after saying that there is none yet."""
        outcome = self.session.inference
        if outcome is None:
            self.show_error("Nothing to export yet: run the inference first (Infer tab).")
        return outcome

    def export_csv(self) -> None:
        outcome = self.need_inference()
        if outcome is None:
            return
        if not outcome.populations:
            self.show_error("No unit got a population; there is no table to export.")
            return
        self.ui.download.content(populations_csv(outcome), "populations.csv")

    def export_summary(self) -> None:
        outcome = self.need_inference()
        if outcome is not None:
            self.ui.download.content(outcome.summary.to_csv(index=False).encode(), "units_dics.csv")

    def export_figures(self) -> None:
        figures = self.session.figures
        if not figures:
            self.show_error("No figure drawn yet.")
            return
        self.ui.download.content(figures_zip(figures), "figures.zip")

    def export_nwb(self) -> None:
        outcome = self.need_inference()
        recording = self.session.recording
        if outcome is None:
            return
        if not recording.local_nwb:
            self.show_error("The annotated file is written next to a local NWB recording; this recording is not an "
                            "NWB file on this computer. Export the tables (CSV) instead.")
            return
        stem = Path(recording.source).stem
        output = self.session.folder / "exports" / f"{stem}_dicpop.nwb"
        output.parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"source": recording.source, "output": str(output), "outcome": outcome,
                  "statistics": recording.statistics}
        self.run(work.export_nwb, kwargs, "Writing the annotated NWB file",
                 lambda path: self.ui.download.file(path, Path(path).name))
