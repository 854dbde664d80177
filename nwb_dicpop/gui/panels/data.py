"""The Data tab: open a recording (demo, upload, path, web address, DANDI asset) and select in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop.gui import work
from nwb_dicpop.gui.common import Panel, parse_ids, parse_window

__all__ = ["DataPanel"]

DEMO_LABEL = "demo recording (simulated STG neurons)"


class DataPanel(Panel):
    """Opens recordings; the page learns of each one through ``page.recording_opened``."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        ui = self.ui
        server = self.session.server
        ui.markdown(
            "Open a recording: the built-in demo, a file from this computer (NWB, a Neo-readable file or a CSV "
            "table of unit and spike time), or an NWB file on the web (an `https://` address or a DANDI asset "
            "`dandi://DANDISET/VERSION/PATH`)."
        )
        with ui.row().classes("items-center"):
            ui.button("Load the demo recording", on_click=self.load_demo).classes("ndp-load-demo")
            ui.label(f"simulated STG neurons with known DICs, in two epochs 'before' and 'after'; in the last "
                     f"{work.DEMO_SCENARIOS} units one conductance changes between them")
        ui.label(f"Upload a file (at most {server.max_upload_mb:g} MB):")
        ui.upload(on_upload=self.uploaded, auto_upload=True, max_file_size=server.max_upload_bytes, max_files=1,
                  label="Drop a file here, or press +").on_rejected(self.rejected).classes("ndp-upload").props(
            "accept=*")
        with ui.row().classes("items-end w-full"):
            self.path_input = ui.input("Path on this computer, https:// address or dandi:// asset").classes(
                "w-[36rem] ndp-path")
            ui.button("Open", on_click=self.open_typed).classes("ndp-open")
        ui.separator()
        ui.label("Selection (applies to the recording open now)").classes("text-subtitle2")
        with ui.row().classes("items-end"):
            self.units_input = ui.input("Units (e.g. 0, 2, 5; empty: all)").classes("w-64 ndp-units")
            self.window_start = ui.input("Window start (s)").classes("w-32 ndp-window-start")
            self.window_stop = ui.input("Window stop (s)").classes("w-32 ndp-window-stop")
            self.epoch_input = ui.input("or epoch name (NWB)").classes("w-48 ndp-epoch")
            self.time_unit = ui.select({"": "seconds (checked)", "s": "seconds", "ms": "milliseconds"}, value="",
                                       label="Spike times are in").classes("w-44 ndp-time-unit")
            ui.button("Apply selection", on_click=self.apply_selection).classes("ndp-apply")
        self.summary = ui.column().classes("w-full")

    def load_demo(self) -> None:
        def opened(path: str) -> None:
            self.open_source(path, label=DEMO_LABEL)

        self.run(work.make_demo, {"folder": str(self.session.server.folder)}, "Preparing the demo recording", opened)

    async def uploaded(self, event: Any) -> None:
        upload = event.file
        limit = self.session.server.max_upload_bytes
        if upload.size() > limit:
            self.show_error(f"The file {upload.name!r} is larger than the upload limit "
                            f"({self.session.server.max_upload_mb:g} MB); open it by its path instead.")
            return
        name = Path(upload.name).name or "upload"
        target = self.session.folder / "uploads" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        await upload.save(target)
        event.sender.reset()
        self.open_source(str(target), label=name)

    def rejected(self) -> None:
        self.show_error(f"The file was not accepted: uploads are limited to {self.session.server.max_upload_mb:g} MB "
                        "and one file at a time. Open a large file by its path instead.")

    def open_typed(self) -> None:
        text = (self.path_input.value or "").strip()
        if not text:
            self.show_error("Type a path, an https:// address or a dandi:// asset first.")
            return
        remote = "://" in text or text.lower().startswith("dandi:")
        if not remote:
            path = Path(text).expanduser()
            if not path.is_file():
                self.show_error(f"No file at {str(path)!r}; check the path (it is read on the computer running the "
                                "GUI).")
                return
            text = str(path.resolve())
        self.open_source(text, label=Path(text).name or text)

    def open_source(self, source: str, *, label: str, **selection: Any) -> None:
        kwargs = {"source": source, "label": label, "time_unit": self.time_unit.value or None, **selection}
        self.run(work.open_recording, kwargs, f"Opening {label}", self.opened)

    def apply_selection(self) -> None:
        recording = self.session.recording
        if recording is None:
            self.show_error("Open a recording first.")
            return
        try:
            all_ids = list(self.session.all_units or recording.spikes.unit_ids)
            units = parse_ids(self.units_input.value, all_ids)
            window = parse_window(self.window_start.value, self.window_stop.value, "window")
        except ValueError as err:
            self.show_error(str(err))
            return
        epoch = (self.epoch_input.value or "").strip() or None
        self.open_source(recording.source, label=recording.label, unit_ids=units, window=window, epoch=epoch)

    def opened(self, recording: work.Recording) -> None:
        session = self.session
        if recording.selection.get("unit_ids") is None:
            session.all_units = list(recording.spikes.unit_ids)
        session.recording = recording
        session.forget_results()
        spikes = recording.spikes
        self.summary.clear()
        with self.summary:
            self.ui.label(f"Opened {recording.label}: {spikes.n_units} units, {int(spikes.n_spikes.sum())} spikes, "
                          f"{float(np.max(spikes.t_stop - spikes.t_start)):.3g} s ({describe_selection(recording)})."
                          ).classes("ndp-opened")
        self.page.recording_opened(recording)


def describe_selection(recording: work.Recording) -> str:
    """The selection of ``recording`` in words ("whole recording" when nothing was selected)."""
    names = {"unit_ids": "units", "window": "window (s)", "epoch": "epoch"}
    parts = []
    for key, value in recording.selection.items():
        if value is None:
            continue
        if key == "unit_ids":
            value = ", ".join(map(str, value))
        elif key == "window":
            value = f"{value[0]:g} to {value[1]:g}"
        parts.append(f"{names.get(key, key)} {value}")
    return "; ".join(parts) or "whole recording"


def is_demo(recording: work.Recording) -> bool:
    """True for the GUI's demo recording."""
    return recording.label == DEMO_LABEL
