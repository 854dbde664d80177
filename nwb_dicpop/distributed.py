"""Scale-out on Dask: the one module that imports ``dask.distributed``.

:func:`map_tasks` runs a function over items either in this process (``scheduler=None``) or as
Dask tasks on a ``distributed`` cluster: ``"local"`` starts a ``LocalCluster`` on this machine;
an address such as ``"tcp://10.0.0.5:8786"`` joins an existing cluster (one started by
dask-jobqueue on HPC, or on Kubernetes); a ``distributed.Client`` is used as is.

Tasks must be picklable functions of picklable items (paths, numbers, arrays, our frozen
dataclasses), and they must return such values. They must not take open files or NWB objects.
A task whose worker dies is retried on another worker, so a run survives a killed worker.
Results come back in input order, whatever order the tasks finish in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["check_scheduler", "map_tasks", "open_client", "submit_to_every_worker"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


PROBE_TIMEOUT = 5.0
"""Seconds :func:`check_scheduler` waits for a TCP connection to a scheduler address."""
CONNECT_TIMEOUT = 20.0
"""Seconds ``distributed.Client`` may take to connect once the address answers."""


def check_scheduler(address: str, timeout: float = PROBE_TIMEOUT) -> None:
    """Fail fast, within ``timeout`` seconds, when nothing answers at a scheduler ``address``.

    Opens (and closes) one TCP connection to the host and port of a ``tcp://`` or ``tls://``
    address, so that a wrong address is reported in well under a second (a refused
    connection) or ``timeout`` (no answer), before any work starts and without waiting for
    ``distributed``'s own, longer, connection timeout.  Other schemes are not checked.

    Parameters
    ----------
    address : str
        e.g. ``"tcp://10.0.0.5:8786"``.
    timeout : float
        Seconds to wait for the connection.

    Raises
    ------
    ValueError
        The address has no port or an invalid one.
    ConnectionError
        Nothing answers at the address.
    """
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None:
        msg = f"`scheduler` address {address!r} needs a host and a port, e.g. 'tcp://10.0.0.5:8786'."
        raise ValueError(msg)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError as err:
        msg = (
            f"Could not connect to the Dask scheduler at {address!r}: the connection was refused (no "
            "scheduler listens on that host and port). Check the address, start the scheduler (the "
            "'dask scheduler' command), or use scheduler='local'."
        )
        raise ConnectionError(msg) from err
    except TimeoutError as err:
        msg = (
            f"Could not connect to the Dask scheduler at {address!r}: no answer within {timeout:g} s. "
            "Check the address and your network, or use scheduler='local'."
        )
        raise ConnectionError(msg) from err
    except OSError as err:
        msg = (
            f"Could not connect to the Dask scheduler at {address!r} ({err.strerror or err}). Check the "
            "address, or use scheduler='local'."
        )
        raise ConnectionError(msg) from err


@contextmanager
def open_client(scheduler: Any, *, n_workers: int | None = None) -> Any:
    """A ``distributed.Client`` for ``scheduler`` ("local", an address or a Client).

    A local cluster runs one single-threaded worker process per core (at most ``n_workers``),
    because simulation and inference code is single-threaded by design. Clusters and clients
    started here are closed on exit; a Client passed in is left open.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = (
            "scheduler= needs the 'distributed' package; install it with "
            "`pip install 'nwb_dicpop[dask]'` or run without a scheduler."
        )
        raise ImportError(msg) from err
    if isinstance(scheduler, Client):
        yield scheduler
        return
    if scheduler == "local":
        workers = n_workers or max(1, min(os.cpu_count() or 1, 2))
        # the cluster's start and stop notices (scheduler, nanny, dashboard) are not the user's
        # business: only its errors are shown
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                host="127.0.0.1", silence_logs=logging.ERROR,
            )
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
                cluster.close()
        finally:
            quiet.setLevel(level)
        return
    if not isinstance(scheduler, str) or "://" not in scheduler:
        msg = (
            f"`scheduler` must be None, 'local', a scheduler address such as 'tcp://host:8786', or a "
            f"distributed.Client; got {scheduler!r}."
        )
        raise ValueError(msg)
    check_scheduler(scheduler)
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT:g}s")
    except OSError as err:
        msg = (
            f"Could not connect to the Dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT:g} s ({err}). "
            "Check the address and that the scheduler is running, or use scheduler='local'."
        )
        raise ConnectionError(msg) from err
    try:
        yield client
    finally:
        client.close()


def map_tasks(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    scheduler: Any = None,
    retries: int = 2,
    progress: Callable[[int, int], None] | None = None,
    n_workers: int | None = None,
    on_result: Callable[[int, R], None] | None = None,
) -> list[R]:
    """``[func(item) for item in items]``, serially or as Dask tasks.

    Parameters
    ----------
    func : callable
        A picklable top-level function.
    items : iterable
        Picklable arguments, one task each.
    scheduler : None, "local", str or distributed.Client
        Where to run (see the module docstring).
    retries : int
        Extra attempts for a task that raised an exception (a task whose worker died is
        rescheduled by Dask independently of this).
    progress : callable, optional
        ``progress(n_done, n_total)`` after each finished task.
    n_workers : int, optional
        Workers of a ``"local"`` cluster (default: cores, at most 2).
    on_result : callable, optional
        ``on_result(index, result)`` as each task finishes (in completion order), before
        ``progress``.

    Returns
    -------
    list
        Results in the order of ``items``.
    """
    work: Sequence[T] = list(items)
    total = len(work)
    if scheduler is None:
        results = []
        for done, item in enumerate(work, start=1):
            results.append(func(item))
            if on_result is not None:
                on_result(done - 1, results[-1])
            if progress is not None:
                progress(done, total)
        return results
    from distributed import as_completed

    with open_client(scheduler, n_workers=n_workers) as client:
        futures = client.map(func, work, retries=retries, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * total
        for done, future in enumerate(as_completed(futures), start=1):
            results[index[future.key]] = future.result()
            if on_result is not None:
                on_result(index[future.key], results[index[future.key]])
            if progress is not None:
                progress(done, total)
        log.info("ran %d tasks on %s", total, scheduler)
        return results


def submit_to_every_worker(client: Any, func: Callable[..., Any], *args: Any) -> list[Any]:
    """Start ``func(*args)`` once on each worker of ``client`` and return at once.

    Used to load code on the workers (imports, generated model code, compiled modules) while
    the caller does other work; tasks submitted later queue behind it on each worker.

    Returns
    -------
    list of distributed.Future
        One per worker; keep them until the work that needs the workers is done.
    """
    workers = list(client.scheduler_info().get("workers", {}))
    return [client.submit(func, *args, workers=[w], allow_other_workers=False, pure=False) for w in workers]
