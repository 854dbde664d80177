"""Long computations of the GUI, each in its own worker process: progress, cancel, errors.

A :class:`Job` runs one function of :mod:`nwb_dicpop.gui.work` in a fresh process (the
``spawn`` start method: Brian2 wants one simulation per process, and a crash there cannot take
the server down).  The function receives a ``progress(stage, n_done, n_total)`` callback, the
protocol of :func:`~nwb_dicpop.run_pipeline`; its messages, then its result or its error
message, come back through a queue that the page polls (:meth:`Job.poll`).  :meth:`Job.cancel`
ends the process.  Nothing here imports the web framework.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["EXPECTED_ERRORS", "Job", "plain_error", "shutdown_jobs"]

EXPECTED_ERRORS = (ValueError, TypeError, LookupError, OSError, ImportError, RuntimeError)
"""Errors that bad input or an unreachable resource raise: shown as their message alone."""

_RUNNING: set[Job] = set()


def plain_error(err: BaseException) -> str:
    """The message a user sees for ``err``: the package's own words, or a bug report hint."""
    text = str(err).strip() or type(err).__name__
    if isinstance(err, EXPECTED_ERRORS):
        return text
    return f"Unexpected {type(err).__name__}: {text} (this may be a bug; please report it with the steps that led here)."


def _worker(function: Callable[..., Any], kwargs: dict[str, Any], messages: Any) -> None:
    """Body of the worker process: run ``function`` and send progress, then a result or an error."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    warnings.simplefilter("ignore")  # warnings of the libraries are not the user's business here

    def progress(stage: str, done: int, total: int) -> None:
        messages.put(("progress", str(stage), int(done), int(total)))

    try:
        result = function(progress=progress, **kwargs)
    except BaseException as err:  # noqa: BLE001 - reported in words: the server must keep serving
        messages.put(("error", plain_error(err), traceback.format_exc()))
        return
    messages.put(("result", result))


class Job:
    """One computation in a worker process.

    Parameters
    ----------
    function : callable
        A top-level (picklable) function taking ``progress`` and ``**kwargs``.
    kwargs : dict
        Its arguments (picklable).
    label : str
        What the job does, in words, for the page.

    Attributes
    ----------
    state : {"running", "done", "failed", "cancelled"}
    stage : str
        The last stage reported by the function.
    n_done, n_total : int
        The last progress reported.
    result : object
        The function's return value once ``state`` is "done".
    error : str
        The message shown once ``state`` is "failed".
    details : str
        The worker's traceback, for a bug report.
    """

    def __init__(self, function: Callable[..., Any], kwargs: dict[str, Any], *, label: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.label = label
        self.state = "running"
        self.stage = "starting"
        self.n_done = 0
        self.n_total = 0
        self.result: Any = None
        self.error = ""
        self.details = ""
        self.started = time.monotonic()
        self._messages = context.Queue()
        self._process = context.Process(target=_worker, args=(function, kwargs, self._messages), daemon=True)
        self._process.start()
        _RUNNING.add(self)

    @property
    def elapsed(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self.started

    @property
    def finished(self) -> bool:
        """True once the job is done, failed or cancelled."""
        return self.state != "running"

    def poll(self) -> None:
        """Read the messages the worker sent; notice a worker that died without an answer."""
        if self.finished:
            return
        while True:
            try:
                message = self._messages.get_nowait()
            except queue.Empty:
                break
            kind = message[0]
            if kind == "progress":
                self.stage, self.n_done, self.n_total = message[1], message[2], message[3]
            elif kind == "result":
                self.result = message[1]
                self._finish("done")
                return
            elif kind == "error":
                self.error, self.details = message[1], message[2]
                self._finish("failed")
                return
        if not self._process.is_alive():
            try:  # the answer may have arrived between the last read and the exit
                message = self._messages.get(timeout=0.5)
            except queue.Empty:
                self.error = (f"The computation stopped unexpectedly (worker exit code {self._process.exitcode}); "
                              "it may have run out of memory. Try fewer units or a smaller population.")
                self._finish("failed")
            else:
                self._messages.put(message)  # handled by the next poll
                self.poll()

    def cancel(self) -> None:
        """Stop the worker process (its partial work is discarded)."""
        if self.finished:
            return
        self._process.terminate()
        self._process.join(timeout=5)
        if self._process.is_alive():  # pragma: no cover - terminate is enough on Linux
            self._process.kill()
            self._process.join(timeout=5)
        self._finish("cancelled")

    def wait(self, timeout: float) -> bool:
        """Poll until the job finishes or ``timeout`` seconds pass (for scripts and tests); True if finished."""
        end = time.monotonic() + timeout
        while not self.finished and time.monotonic() < end:
            self.poll()
            time.sleep(0.1)
        return self.finished

    def _finish(self, state: str) -> None:
        self.state = state
        _RUNNING.discard(self)
        if state != "cancelled":
            self._process.join(timeout=5)

    def __repr__(self) -> str:
        return f"Job({self.label!r}, {self.state}, {self.stage} {self.n_done}/{self.n_total})"


def shutdown_jobs() -> None:
    """Cancel every job still running (at server exit)."""
    for job in list(_RUNNING):
        job.cancel()
