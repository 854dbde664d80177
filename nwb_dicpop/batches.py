"""Simulate very large sets of conductances in chunks written to disk, with resume.

:func:`simulate_batches` splits ``10^5 - 10^6`` conductance sets into chunks, simulates each
chunk with :func:`~nwb_dicpop.simulate_population`'s engine and writes it to its own Parquet
file as soon as it is done (atomically: a temporary file in the same folder, then
``os.replace``).  Running it again on the same folder skips the chunks already written, so an
interrupted run resumes where it stopped.  The noise of member ``k`` is seeded by
``SeedSequence(seed, spawn_key=(k,))`` with ``k`` its global index, so results do not depend
on the chunk size or on the order in which chunks run.  Chunks can run as Dask tasks.
:func:`read_batches` reads a folder back into one :class:`~nwb_dicpop.SimulationResult`.

Times follow :func:`~nwb_dicpop.simulate_population`: ``duration`` is the recorded window,
simulated after ``transient`` discarded seconds.

Folder layout::

    manifest.json          parameters of the run (model, times, dt, method, noise, seed,
                           chunking, SHA-256 of the conductances); format version 2 stores
                           the recorded ``duration``, version 1 (read and resumed as well)
                           stored the total simulated time, transient included
    chunk_000000.parquet   columns member (int64), spike_times (list of float64, seconds
    chunk_000001.parquet   from the end of the transient), g_<name> (float64, mS/cm^2)
    ...
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop._files import atomic_destination, write_text_atomic
from nwb_dicpop.containers import Population, SimulationResult
from nwb_dicpop.distributed import map_tasks
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.simulation._engine import (
    check_noise_dt,
    check_noise_sigma,
    check_times,
    conductance_table,
    integration_settings,
    max_dt,
    member_seeds,
    resolve_duration,
    resolve_target,
    run_population,
    simulator_version,
)

__all__ = ["read_batches", "simulate_batches"]

logger = logging.getLogger(__name__)

FORMAT = "nwb_dicpop.batches"
FORMAT_VERSION = 2
"""Version of the manifest: 2 stores the recorded ``duration``; 1 stored the total (transient
included)."""
_MANIFEST = "manifest.json"
# parameters that must match for a folder to be resumed
_RUN_KEYS = (
    "model",
    "conductance_names",
    "n_members",
    "chunk_size",
    "duration",
    "transient",
    "dt",
    "method",
    "noise_sigma",
    "noise_dt",
    "seed",
    "conductances_sha256",
)


def _chunk_name(index: int) -> str:
    return f"chunk_{index:06d}.parquet"


def _write_chunk(path: Path, members: np.ndarray, spikes: list[np.ndarray], conductances: np.ndarray,
                 names: tuple[str, ...], metadata: dict[str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        "member": pa.array(members, type=pa.int64()),
        "spike_times": pa.array([s.tolist() for s in spikes], type=pa.list_(pa.float64())),
    }
    for k, name in enumerate(names):
        columns[f"g_{name}"] = pa.array(conductances[:, k], type=pa.float64())
    table = pa.table(columns).replace_schema_metadata({k: str(v) for k, v in metadata.items()})
    with atomic_destination(path) as temporary:
        pq.write_table(table, temporary)


def _run_chunk(task: dict[str, Any]) -> str:
    """Simulate one chunk and write its file; a plain function so Dask can ship it."""
    spec: NeuronModel = task["model"]
    conductances: np.ndarray = task["conductances"]
    offset: int = task["offset"]
    target = resolve_target(task["code_target"])
    seeds = None
    if task["noise_sigma"] > 0:
        seeds = member_seeds(task["seed"], conductances.shape[0], offset=offset)
    spikes, _, diverged = run_population(
        spec,
        conductances,
        duration=task["duration"],
        transient=task["transient"],
        dt=task["dt"],
        method=task["method"],
        target=target,
        noise_sigma=task["noise_sigma"],
        noise_dt=task["noise_dt"],
        seeds=seeds,
        record=np.zeros(0, dtype=np.int64),
    )
    if diverged.any():
        logger.warning("chunk %s: %d members diverged", task["path"], int(diverged.sum()))
    members = np.arange(offset, offset + conductances.shape[0], dtype=np.int64)
    metadata = {"code_target": target, "simulator_version": simulator_version(),
                "n_diverged": str(int(diverged.sum()))}
    _write_chunk(Path(task["path"]), members, spikes, conductances, spec.conductance_names, metadata)
    return str(task["path"])


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"`{name}` must be a positive integer; got {value!r}."
        raise ValueError(msg)
    return int(value)


def simulate_batches(
    conductances: Population | Any,
    *,
    model: str | NeuronModel | None,
    output_dir: str | os.PathLike[str],
    chunk_size: int = 1000,
    duration: float | None = None,
    transient: float,
    dt: float | None = None,
    noise_sigma: float = 0.0,
    seed: int = 0,
    scheduler: Any = None,
    progress: Callable[[int, int], Any] | None = None,
    method: str | None = None,
    code_target: str = "auto",
    noise_dt: float | None = None,
    total_duration: float | None = None,
) -> Path:
    """Simulate many conductance sets chunk by chunk, one Parquet file per chunk.

    Parameters
    ----------
    conductances : ndarray of float, shape (n_sets, n_conductances), DataFrame or Population
        Maximal conductances (mS/cm^2), as accepted by :func:`~nwb_dicpop.simulate_population`.
    model : str or NeuronModel
        Model of the conductances (may be None for a Population).
    output_dir : path
        Folder of the run; created if needed.  A folder holding a run with the same
        parameters is resumed (finished chunks are skipped); one holding a different run is
        refused.
    chunk_size : int
        Conductance sets per chunk (and per Brian2 ``NeuronGroup``).
    duration : float
        Recorded window in seconds (required), after the transient, as in
        :func:`~nwb_dicpop.simulate_population`.
    transient : float
        Seconds simulated and discarded before the recorded window (>= 0).
    dt : float, optional
        Integration step in seconds (default: the model's).
    noise_sigma : float
        Current noise standard deviation (uA/cm^2); 0 for none.
    seed : int
        Seed of the noise: member ``k`` (global index) uses ``SeedSequence(seed,
        spawn_key=(k,))``, whatever the chunking.
    scheduler : None, "local", str or distributed.Client
        None runs the chunks one after the other in this process.  Otherwise each chunk is
        a Dask task (see :func:`nwb_dicpop.distributed.map_tasks`): ``"local"`` starts a
        LocalCluster, an address joins a cluster, a ``Client`` is used as is.
    progress : callable, optional
        ``progress(n_done, n_chunks)`` after each finished chunk.
    method, code_target, noise_dt
        As in :func:`~nwb_dicpop.simulate_population`.
    total_duration : float, optional
        Deprecated: the simulated time with the transient included (the former meaning of
        ``duration``).  Converted to ``duration = total_duration - transient`` with a
        :class:`FutureWarning`; pass ``duration`` instead.

    Returns
    -------
    pathlib.Path
        ``output_dir``; read it with :func:`read_batches`.

    Raises
    ------
    ValueError
        Bad inputs (as :func:`~nwb_dicpop.simulate_population`), a non-positive
        ``chunk_size``, both ``duration`` and ``total_duration``, or an ``output_dir``
        holding a different run.
    TypeError
        Neither ``duration`` nor ``total_duration``.
    """
    spec, values = conductance_table(conductances, model)
    chunk_size = _check_count("chunk_size", chunk_size)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        msg = f"`seed` must be a non-negative integer; got {seed!r}."
        raise ValueError(msg)
    method, default_dt = integration_settings(spec, method)
    duration = resolve_duration(duration, transient, total_duration)
    duration_s, transient_s, dt_s = check_times(duration, transient, dt, default_dt=default_dt,
                                                limit=max_dt(spec, method))
    sigma = check_noise_sigma(noise_sigma)
    noise_step = check_noise_dt(spec, noise_dt, dt_s) if sigma > 0 else None
    resolve_target(code_target)  # fail (or warn) once, before any work
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    n = values.shape[0]
    n_chunks = -(-n // chunk_size)
    run = {
        "model": spec.name,
        "conductance_names": list(spec.conductance_names),
        "n_members": n,
        "chunk_size": chunk_size,
        "duration": duration_s,
        "transient": transient_s,
        "dt": dt_s,
        "method": method,
        "noise_sigma": sigma,
        "noise_dt": noise_step,
        "seed": int(seed),
        "conductances_sha256": hashlib.sha256(np.ascontiguousarray(values).tobytes()).hexdigest(),
    }
    manifest_path = folder / _MANIFEST
    if manifest_path.exists():
        existing = _read_manifest(folder)
        different = [k for k in _RUN_KEYS if not _same_setting(k, existing, run)]
        if different:
            msg = (
                f"`output_dir` {str(folder)!r} holds a different run (differs in {different}); "
                "pass a new output_dir, or the same parameters and conductances to resume it."
            )
            raise ValueError(msg)
    else:
        manifest = {"format": FORMAT, "version": FORMAT_VERSION, "n_chunks": n_chunks, **run}
        write_text_atomic(manifest_path, json.dumps(manifest, indent=2))
    tasks = []
    for index in range(n_chunks):
        path = folder / _chunk_name(index)
        if path.exists():
            continue
        start, stop = index * chunk_size, min(n, (index + 1) * chunk_size)
        tasks.append({
            "model": spec, "conductances": values[start:stop], "offset": start, "path": str(path),
            "duration": duration_s, "transient": transient_s, "dt": dt_s, "method": method,
            "noise_sigma": sigma, "noise_dt": noise_step, "seed": int(seed),
            "code_target": code_target,
        })
    done = n_chunks - len(tasks)
    if done:
        logger.info("resuming %s: %d of %d chunks already written", folder, done, n_chunks)
    if progress is not None:
        offset = done
        report = lambda finished, total: progress(offset + finished, n_chunks)
    else:
        report = None
    map_tasks(_run_chunk, tasks, scheduler=scheduler, progress=report)
    return folder


def _same_setting(key: str, existing: dict[str, Any], run: dict[str, Any]) -> bool:
    """Whether a (normalised) manifest and a new run agree on ``key``.

    Durations are compared to 1e-12 relative (a version-1 manifest's recorded window is
    computed as total minus transient); the noise grid does not matter without noise.
    """
    if key == "noise_dt" and existing.get("noise_sigma") == 0 and run["noise_sigma"] == 0:
        return True
    old, new = existing.get(key), run[key]
    if key == "duration" and isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return math.isclose(old, new, rel_tol=1e-12, abs_tol=1e-15)
    return old == new


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / _MANIFEST
    if not path.exists():
        msg = f"{str(folder)!r} is not a simulate_batches folder: {_MANIFEST} is missing."
        raise FileNotFoundError(msg)
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        msg = f"{str(path)!r} is not valid JSON: {err}"
        raise ValueError(msg) from err
    if manifest.get("format") != FORMAT:
        msg = f"{str(path)!r} is not a {FORMAT} manifest (format={manifest.get('format')!r})."
        raise ValueError(msg)
    version = manifest.get("version", 1)
    if version not in (1, FORMAT_VERSION):
        msg = (
            f"{str(path)!r} has manifest version {version!r}; this nwb_dicpop reads versions 1 and "
            f"{FORMAT_VERSION}. Upgrade nwb_dicpop or simulate into a new folder."
        )
        raise ValueError(msg)
    if version == 1:  # version 1 stored the total simulated time, transient included
        manifest = {**manifest, "duration": float(manifest["duration"]) - float(manifest["transient"])}
    return manifest


def read_batches(path: str | os.PathLike[str], *, allow_incomplete: bool = False) -> SimulationResult:
    """Read a :func:`simulate_batches` folder back.

    Parameters
    ----------
    path : path
        The ``output_dir`` of :func:`simulate_batches`.
    allow_incomplete : bool
        Return the members of the chunks written so far instead of raising when the run has
        not finished.

    Returns
    -------
    SimulationResult
        Members in their original order; ``spike_times`` in seconds from the end of the
        transient, ``duration`` the recorded window, ``conductances`` in mS/cm^2, ``seed``
        the run's noise seed.

    Raises
    ------
    FileNotFoundError
        ``path`` is not a batch folder.
    ValueError
        The run is incomplete (and ``allow_incomplete`` is False).
    """
    import pyarrow.parquet as pq

    folder = Path(path)
    manifest = _read_manifest(folder)
    n_chunks = int(manifest["n_chunks"])
    files = [folder / _chunk_name(k) for k in range(n_chunks)]
    missing = [f.name for f in files if not f.exists()]
    if missing and not allow_incomplete:
        msg = (
            f"Batch run in {str(folder)!r} is incomplete: {len(missing)} of {n_chunks} chunks missing "
            f"(first: {missing[0]}). Call simulate_batches again with the same arguments to resume, "
            "or pass allow_incomplete=True."
        )
        raise ValueError(msg)
    spec = get_model(manifest["model"])
    names = [f"g_{name}" for name in spec.conductance_names]
    spikes: list[np.ndarray] = []
    blocks = []
    targets = set()
    versions = set()
    for file in files:
        if not file.exists():
            continue
        table = pq.read_table(file)
        metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
        targets.add(metadata.get("code_target", "unknown"))
        versions.add(metadata.get("simulator_version", "unknown"))
        column = table.column("spike_times")
        offsets = column.combine_chunks().offsets.to_numpy()
        flat = column.combine_chunks().values.to_numpy(zero_copy_only=False)
        spikes.extend(flat[offsets[i]:offsets[i + 1]].copy() for i in range(len(offsets) - 1))
        blocks.append(np.column_stack([table.column(n).to_numpy() for n in names]))
    conductances = np.concatenate(blocks) if blocks else np.zeros((0, len(names)))
    return SimulationResult(
        model_name=spec.name,
        spike_times=tuple(spikes),
        duration=float(manifest["duration"]),
        transient=float(manifest["transient"]),
        dt=float(manifest["dt"]),
        method=str(manifest["method"]),
        code_target="+".join(sorted(targets)),
        simulator_version="+".join(sorted(versions)),
        conductances=conductances,
        noise_sigma=float(manifest["noise_sigma"]),
        seed=int(manifest["seed"]),
    )
