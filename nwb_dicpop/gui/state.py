"""What the GUI remembers: the server's shared folder and each browser tab's session.

A :class:`Server` is made once by :func:`~nwb_dicpop.gui.app.run_gui`; every browser tab that
opens the page gets its own :class:`Session`, which holds the tab's recording, its results, its
figures and its running job.  Nothing here imports the web framework.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nwb_dicpop.gui import DEFAULT_MAX_UPLOAD_MB
from nwb_dicpop.gui.figures import Figure
from nwb_dicpop.gui.jobs import Job

__all__ = ["Server", "Session"]


@dataclass
class Server:
    """What every session of one server shares: its temporary folder and upload limit.

    Attributes
    ----------
    folder : pathlib.Path
        Uploads (one sub-folder per session), the demo recording and exported files.
    max_upload_mb : float
    """

    folder: Path
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def remove(self) -> None:
        """Delete the temporary folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class Session:
    """The state of one browser tab: what it opened, computed and drew.

    Attributes
    ----------
    server : Server
    key : str
        Names the session's upload folder.
    recording : work.Recording or None
        The recording open now (:func:`~nwb_dicpop.gui.work.open_recording`).
    all_units : list or None
        Every unit id of the recording as first opened, before a selection kept some.
    inference : work.InferenceOutcome or None
    simulation : tuple or None
        ``(SimulationResult, scores)`` of the last members simulated.
    comparison : tuple or None
        ``(NeuromodulationResult, maps)`` of the last comparison.
    trajectory : DICTrajectory or None
        The last DIC trajectory tracked.
    figures : dict
        Figure name -> :class:`~nwb_dicpop.gui.figures.Figure`, the latest of each.
    job : Job or None
    """

    server: Server
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    recording: Any = None
    all_units: list[Any] | None = None
    inference: Any = None
    simulation: Any = None
    comparison: Any = None
    trajectory: Any = None
    figures: dict[str, Figure] = field(default_factory=dict)
    job: Job | None = None

    @property
    def folder(self) -> Path:
        """The session's own folder for uploads and exports (created on first use)."""
        path = self.server.folder / self.key
        path.mkdir(parents=True, exist_ok=True)
        return path

    def forget_results(self) -> None:
        """Drop every result (a new recording was opened)."""
        self.inference = self.simulation = self.comparison = self.trajectory = None

    def close(self) -> None:
        """Cancel the running job and delete the session's files (the tab went away)."""
        if self.job is not None:
            self.job.cancel()
        shutil.rmtree(self.server.folder / self.key, ignore_errors=True)
