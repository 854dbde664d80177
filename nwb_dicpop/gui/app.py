"""The web page of ``nwb-dicpop gui`` (NiceGUI), one independent session per browser tab.

:func:`run_gui` serves the page on the loopback interface.  Each tab that opens the page gets
its own :class:`Page` and :class:`~nwb_dicpop.gui.state.Session` (its recording, results,
figures and running job); computations run in worker processes
(:class:`~nwb_dicpop.gui.jobs.Job`), so the page stays responsive and one tab's work never
touches another's.  Uploads go to a temporary folder of the server, removed when it stops; the
server reads no file but those a user opens.

The page is a header (status, error line, the running job with its progress bar and Cancel)
above six tabs, each built by its panel in :mod:`nwb_dicpop.gui.panels`.  This is the only
module of the package that imports NiceGUI; the panels receive its ``ui`` from the page.
"""

from __future__ import annotations

import atexit
import ipaddress
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nwb_dicpop.gui import DEFAULT_MAX_UPLOAD_MB, DEFAULT_PORT, work
from nwb_dicpop.gui.jobs import Job, plain_error, shutdown_jobs
from nwb_dicpop.gui.panels.data import DataPanel, describe_selection, is_demo
from nwb_dicpop.gui.panels.export import ExportPanel
from nwb_dicpop.gui.panels.infer import InferPanel
from nwb_dicpop.gui.panels.neuromodulation import NeuromodulationPanel
from nwb_dicpop.gui.panels.population import PopulationPanel
from nwb_dicpop.gui.panels.units import UnitsPanel
from nwb_dicpop.gui.state import Server, Session

__all__ = ["DEFAULT_MAX_UPLOAD_MB", "DEFAULT_PORT", "Page", "Server", "Session", "check_host", "run_gui"]

POLL_SECONDS = 0.25
"""How often the page reads the running job's progress."""
TABS = ("Data", "Units", "Infer", "Population", "Neuromodulation", "Export")


def check_host(host: str, *, allow_remote: bool) -> bool:
    """True when ``host`` is a loopback address; raise unless ``allow_remote`` otherwise."""
    name = str(host).strip()
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not allow_remote:
        msg = (
            f"`host` {host!r} is not a loopback address: the GUI would be reachable from other machines, with "
            "access to the files of this one. Use 127.0.0.1, or pass --allow-remote if you mean it."
        )
        raise ValueError(msg)
    return loopback


def plural(n: int, word: str) -> str:
    """``"1 unit"``, ``"2 units"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class Page:
    """One browser tab's page: the header, the running job, and the six tab panels.

    Attributes
    ----------
    ui : module
        NiceGUI's ``ui``, which the panels build with.
    session : Session
    data, units, infer, population, neuromodulation, export : Panel
        The tab panels (:mod:`nwb_dicpop.gui.panels`).
    """

    def __init__(self, server: Server) -> None:
        from nicegui import ui

        self.ui = ui
        self.session = Session(server)
        self._on_done: Callable[[Any], None] | None = None
        ui.page_title("nwb-dicpop")
        ui.add_css(".q-table__title {font-size: 1rem; font-weight: 500; line-height: 1.4rem;}")
        with ui.header().classes("items-center"):
            ui.label("nwb-dicpop").classes("text-h6")
            self.status = ui.label("No recording open.").classes("ndp-status")
        self.error = ui.label("").classes("ndp-error text-negative text-bold")
        self.error.visible = False
        with ui.row().classes("items-center w-full ndp-job") as self.job_row:
            self.job_label = ui.label("").classes("ndp-job-label")
            self.job_bar = ui.linear_progress(value=0.0, show_value=False).classes("w-64")
            ui.button("Cancel", on_click=self.cancel).classes("ndp-cancel").props("color=negative outline")
        self.job_row.visible = False
        with ui.tabs().classes("w-full") as self.tabs:
            for name in TABS:
                ui.tab(name).classes(f"ndp-tab-{name.lower()}")
        with ui.tab_panels(self.tabs, value="Data").classes("w-full"):
            with ui.tab_panel("Data"):
                self.data = DataPanel(self)
            with ui.tab_panel("Units"):
                self.units = UnitsPanel(self)
            with ui.tab_panel("Infer"):
                self.infer = InferPanel(self)
            with ui.tab_panel("Population"):
                self.population = PopulationPanel(self)
            with ui.tab_panel("Neuromodulation"):
                self.neuromodulation = NeuromodulationPanel(self)
            with ui.tab_panel("Export"):
                self.export = ExportPanel(self)
        self.timer = ui.timer(POLL_SECONDS, self.poll)
        ui.context.client.on_delete(self.session.close)

    # ------------------------------------------------------------------ what the panels share
    def recording_opened(self, recording: work.Recording) -> None:
        """A recording was opened (Data tab): say so, reset the results, show its units."""
        spikes = recording.spikes
        self.status.set_text(f"{recording.label}: {plural(spikes.n_units, 'unit')} ({describe_selection(recording)})")
        for panel in (self.infer, self.population, self.neuromodulation):
            panel.clear()
        ids = [str(u) for u in spikes.unit_ids]
        self.neuromodulation.set_units(ids, demo=is_demo(recording))
        self.units.show_recording(recording)
        self.tabs.set_value("Units")

    # ------------------------------------------------------------------ messages and jobs
    def show_error(self, text: str) -> None:
        """Show ``text`` in red at the top of the page and as a notification (empty: hide)."""
        self.error.set_text(text)
        self.error.visible = bool(text)
        if text:
            self.ui.notify(text, type="negative", multi_line=True, timeout=8000)

    def run(self, function: Callable[..., Any], kwargs: dict[str, Any], label: str,
            on_done: Callable[[Any], None]) -> None:
        """Start ``function`` in a worker process; ``on_done(result)`` once it succeeds."""
        if self.session.job is not None and not self.session.job.finished:
            self.show_error(f"Wait for '{self.session.job.label}' to finish, or cancel it, first.")
            return
        self.show_error("")
        self.session.job = Job(function, kwargs, label=label)
        self._on_done = on_done
        self.job_label.set_text(f"{label}: starting")
        self.job_bar.set_value(0.0)
        self.job_row.visible = True

    def cancel(self) -> None:
        """Stop the running job."""
        job = self.session.job
        if job is not None and not job.finished:
            job.cancel()
            self.job_row.visible = False
            self.ui.notify(f"Cancelled: {job.label}.", type="warning")

    def poll(self) -> None:
        """Show the running job's progress; hand its result to the panel, or its error to the page."""
        job = self.session.job
        if job is None or not self.job_row.visible:
            return
        job.poll()
        if not job.finished:
            done = f"{job.n_done} of {job.n_total}" if job.n_total else ""
            self.job_label.set_text(f"{job.label}: {job.stage} {done} ({job.elapsed:.0f} s)")
            self.job_bar.set_value(job.n_done / job.n_total if job.n_total else 0.0)
            return
        self.job_row.visible = False
        if job.state == "failed":
            self.show_error(job.error)
        elif job.state == "done" and self._on_done is not None:
            try:
                self._on_done(job.result)
            except Exception as err:  # noqa: BLE001 - shown in words; the server keeps serving
                self.show_error(plain_error(err))


def run_gui(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    allow_remote: bool = False,
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
) -> None:
    """Serve the GUI until interrupted (Ctrl-C).

    Parameters
    ----------
    host : str
        Interface to listen on; anything but a loopback address needs ``allow_remote``.
    port : int
    open_browser : bool
        Open the page in the default browser once the server is up.
    allow_remote : bool
        Accept a non-loopback ``host`` (a warning is printed: whoever reaches the page can read
        files of this computer through it).
    max_upload_mb : float
        Largest upload accepted, in megabytes.
    """
    import webbrowser

    from nicegui import app, ui

    if not (isinstance(port, int) and 0 < port < 65536):
        msg = f"`port` must be a whole number from 1 to 65535; got {port!r}."
        raise ValueError(msg)
    if not (isinstance(max_upload_mb, (int, float)) and max_upload_mb > 0):
        msg = f"`max_upload_mb` must be a positive number of megabytes; got {max_upload_mb!r}."
        raise ValueError(msg)
    loopback = check_host(host, allow_remote=allow_remote)
    server = Server(folder=Path(tempfile.mkdtemp(prefix="nwb-dicpop-gui-")), max_upload_mb=float(max_upload_mb))
    atexit.register(server.remove)
    app.on_shutdown(shutdown_jobs)
    app.on_shutdown(server.remove)
    ui.page("/")(lambda: Page(server))
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if not loopback:
        warning = (f"warning: the GUI listens on {host}: anyone who can reach this machine on port {port} can use "
                   "it and read its files through it.")
        print(warning, flush=True)  # noqa: T201
    print(f"nwb-dicpop GUI: {url}  (Ctrl-C to stop; uploads go to {server.folder}, removed at exit)",  # noqa: T201
          flush=True)
    if open_browser:
        app.on_startup(lambda: webbrowser.open(url))
    ui.run(host=host, port=port, title="nwb-dicpop", reload=False, show=False, show_welcome_message=False,
           favicon=None, uvicorn_logging_level="warning")
