"""Training data for the DIC network: targets -> populations -> Brian2 simulations -> dataset.

Reproduces the protocol of Brandoit et al. (2025), as declared by the model's
``training`` protocol (:class:`~nwb_dicpop.models.TrainingProtocol`):

1. ``n_targets`` DIC targets ``(g_s, g_u)`` spread over the protocol's ``target_box`` (Latin
   hypercube, seeded): STG ``g_s`` in [-20, 20], ``g_u`` in [0, 20]; DA ``g_s`` in [-10, 15],
   ``g_u`` in [0, 20];
2. for each target, a neuromodulated population of ``n_per_target`` members
   (:func:`~nwb_dicpop.compensation.generate_populations`); targets that the model's
   compensation rule cannot reach are retried with the protocol's
   ``fallback_compensating_set`` (``"auto"`` for STG and DA) and, if still unreachable,
   skipped and listed in ``skipped_targets.json``;
3. members that the fixed-point screen finds surely silent (one fixed point, stable;
   :func:`~nwb_dicpop.models.fixed_points.screen_silent`) labelled silent without simulation
   when there is no current noise; every other member simulated with Brian2 by
   :func:`~nwb_dicpop.batches.simulate_batches` over
   the protocol's recorded window after its transient (STG 3 s, DA 9 s, both after a 3 s
   transient; optional current noise), in chunks of ``chunk_size`` members run in parallel
   (local processes or a Dask cluster) and written to disk as they finish, so an interrupted
   run resumes where it stopped;
4. the spike times and labels (target, the member's actual DICs, conductances, firing class,
   train summaries) assembled into ``dataset.npz``.

Layout of ``output_dir``::

    manifest.json           settings (checked on resume); format version 2 stores the
                            recorded ``duration``, version 1 the total (transient included)
    populations.npz         conductances and DICs of every member, targets, compensating sets
    skipped_targets.json    unreachable targets, with the reason
    simulation/             the simulate_batches folder (one Parquet file per chunk)
    dataset.npz             the assembled dataset read by :func:`load_training_data`

The dataset is never part of the package or the repository; the default directory
(``./data/``) is git-ignored.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nwb_dicpop._files import write_bytes_atomic
from nwb_dicpop._validation import check_choice, check_positive
from nwb_dicpop.models import NeuronModel, TrainingProtocol, get_model

__all__ = [
    "TrainingSet",
    "load_training_data",
    "make_training_data",
    "sample_targets",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""Version of ``manifest.json``: 2 stores the recorded ``duration``; 1 stored the total
simulated time, transient included (still read and resumed)."""
_POPULATION_BLOCK = 256  # targets per vectorised generate_populations call (fixed: part of the seed path)


# --------------------------------------------------------------------------- dataset container
@dataclass(frozen=True)
class TrainingSet:
    """Spike trains with their labels, stored flat (ragged).

    Attributes
    ----------
    spike_times : ndarray of float, shape (n_total_spikes,)
        All spike times (seconds, from the end of the transient), train after train.
    offsets : ndarray of int, shape (n_trains + 1,)
        Train ``i`` is ``spike_times[offsets[i]:offsets[i + 1]]``.
    targets : ndarray of float, shape (n_trains, 2)
        ``(g_s, g_u)`` of each train's neuron at the model's ``V_th`` (its actual DICs).
    labels : ndarray of int, shape (n_trains,)
        0 silent, 1 spiking, 2 bursting (the firing classes of ``docs/method.md``).
    groups : ndarray of int, shape (n_trains,)
        Population (target) index; train/validation splits never divide a population.
    noise_sigma : ndarray of float, shape (n_trains,)
        Current-noise standard deviation used in the simulation (uA/cm^2).
    model_name : str
    duration : float
        Recorded duration of every train (seconds).
    g_f : ndarray of float, shape (n_trains,), or None
        Fast DIC of each train's neuron at ``V_th`` where the dataset stores it (generated
        datasets do; the committed compact test sets do not).
    """

    spike_times: np.ndarray
    offsets: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    noise_sigma: np.ndarray
    model_name: str
    duration: float
    g_f: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets.size - 1)

    @property
    def n_spikes(self) -> np.ndarray:
        """Spikes per train, shape (n_trains,)."""
        return np.diff(self.offsets)

    def train(self, index: int) -> np.ndarray:
        """Spike times (seconds) of train ``index``."""
        return self.spike_times[self.offsets[index] : self.offsets[index + 1]]

    def trains(self, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        """Spike times of several trains."""
        return [self.spike_times[self.offsets[i] : self.offsets[i + 1]] for i in indices]

    def subset(self, indices: Sequence[int] | np.ndarray) -> TrainingSet:
        """A new set with the trains ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        pieces = self.trains(idx)
        lengths = np.array([p.size for p in pieces], dtype=np.int64)
        return TrainingSet(
            spike_times=np.concatenate(pieces) if pieces else np.zeros(0),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            targets=self.targets[idx],
            labels=self.labels[idx],
            groups=self.groups[idx],
            noise_sigma=self.noise_sigma[idx],
            model_name=self.model_name,
            duration=self.duration,
            g_f=None if self.g_f is None else self.g_f[idx],
        )

    @classmethod
    def from_trains(
        cls,
        trains: Sequence[np.ndarray],
        targets: np.ndarray,
        *,
        model_name: str,
        duration: float,
        groups: np.ndarray | None = None,
        noise_sigma: np.ndarray | float = 0.0,
        g_f: np.ndarray | None = None,
    ) -> TrainingSet:
        """Build a set from a list of spike-time arrays (seconds); labels by the CV rule."""
        from nwb_dicpop.inference.features import firing_class_labels

        arrays = [np.asarray(t, dtype=np.float64).reshape(-1) for t in trains]
        lengths = np.array([a.size for a in arrays], dtype=np.int64)
        n = len(arrays)
        return cls(
            spike_times=np.concatenate(arrays) if arrays else np.zeros(0),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            targets=np.asarray(targets, dtype=np.float64).reshape(n, 2),
            labels=firing_class_labels(arrays),
            groups=np.arange(n) if groups is None else np.asarray(groups, dtype=np.int64),
            noise_sigma=np.broadcast_to(np.asarray(noise_sigma, dtype=np.float64), (n,)).copy(),
            model_name=model_name,
            duration=float(duration),
            g_f=None if g_f is None else np.asarray(g_f, dtype=np.float64).reshape(n),
        )

    def save(self, path: str | Path, *, compact: bool = False, **extra: np.ndarray) -> Path:
        """Write the set (and ``extra`` per-train columns) to ``path`` (``.npz``) atomically.

        ``compact=True`` stores spike times and targets as float32 (about 0.2 us resolution over
        a 9 s window): half the size, for small evaluation sets kept in the repository.
        """
        dtype = np.float32 if compact else np.float64
        arrays = {
            "spike_times": self.spike_times.astype(dtype),
            "offsets": self.offsets,
            "targets": self.targets.astype(dtype),
            "labels": self.labels.astype(np.int8 if compact else np.int64),
            "groups": self.groups.astype(np.int32 if compact else np.int64),
            "noise_sigma": self.noise_sigma.astype(dtype),
            "model_name": np.array(self.model_name),
            "duration": np.array(self.duration),
            **({} if self.g_f is None or "dics" in extra else {"g_f": self.g_f.astype(dtype)}),
            **extra,
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path = Path(path)
        write_bytes_atomic(path, buffer.getvalue())
        return path


def load_training_data(
    paths: str | Path | Sequence[str | Path], *, allow_partial: bool = False, n_chunks: int | None = None
) -> TrainingSet:
    """Load one or several generated datasets (directories or ``dataset.npz`` files).

    Population indices are offset per dataset so that populations stay distinct.

    Parameters
    ----------
    paths : path or sequence of paths
    allow_partial : bool
        For a directory whose generation has not finished, use the simulation chunks written
        so far (every train of a finished chunk, with its labels) instead of raising.
    n_chunks : int, optional
        Use only the first ``n_chunks`` simulation chunks of each directory (all of them must
        be finished): a reproducible subset of a larger generation.

    Raises
    ------
    FileNotFoundError
        If a dataset file is missing (generation not finished: run
        :func:`make_training_data` again on that directory to resume, or pass
        ``allow_partial=True``).
    ValueError
        If the datasets belong to different models.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        msg = "`paths` is empty; pass at least one dataset directory."
        raise ValueError(msg)
    sets = []
    for entry in paths:
        path = Path(entry)
        file = path / "dataset.npz" if path.is_dir() else path
        if n_chunks is not None:
            sets.append(_partial_set(path, n_chunks))
            continue
        if not file.is_file() and allow_partial and (path / "populations.npz").is_file():
            sets.append(_partial_set(path))
            continue
        if not file.is_file():
            msg = (
                f"No dataset at {file}. Generate it with make_training_data(output_dir={path!s}); an "
                "interrupted generation resumes when called again with the same settings (or pass "
                "allow_partial=True to use the chunks finished so far)."
            )
            raise FileNotFoundError(msg)
        with np.load(file, allow_pickle=False) as data:
            sets.append(
                TrainingSet(
                    spike_times=data["spike_times"].astype(np.float64),
                    offsets=data["offsets"].astype(np.int64),
                    targets=data["targets"].astype(np.float64),
                    labels=data["labels"].astype(np.int64),
                    groups=data["groups"].astype(np.int64),
                    noise_sigma=data["noise_sigma"].astype(np.float64),
                    model_name=str(data["model_name"]),
                    duration=float(data["duration"]),
                    g_f=_stored_g_f(data),
                )
            )
    models = {s.model_name for s in sets}
    if len(models) > 1:
        msg = f"Datasets belong to different models {sorted(models)}; train one model at a time."
        raise ValueError(msg)
    if len(sets) == 1:
        return sets[0]
    group_offset = 0
    spike_offset = 0
    offsets, groups = [np.zeros(1, dtype=np.int64)], []
    for s in sets:
        offsets.append(s.offsets[1:] + spike_offset)
        groups.append(s.groups + group_offset)
        spike_offset += int(s.offsets[-1])
        group_offset += int(s.groups.max(initial=-1)) + 1
    return TrainingSet(
        spike_times=np.concatenate([s.spike_times for s in sets]),
        offsets=np.concatenate(offsets),
        targets=np.concatenate([s.targets for s in sets]),
        labels=np.concatenate([s.labels for s in sets]),
        groups=np.concatenate(groups),
        noise_sigma=np.concatenate([s.noise_sigma for s in sets]),
        model_name=sets[0].model_name,
        duration=max(s.duration for s in sets),
        g_f=None if any(s.g_f is None for s in sets) else np.concatenate([s.g_f for s in sets]),
    )


def _stored_g_f(data: Any) -> np.ndarray | None:
    """``g_f`` of every train of an open ``dataset.npz``: its ``g_f`` column, or the first
    column of the members' ``dics`` (g_f, g_s, g_u); None when neither is stored."""
    if "g_f" in data.files:
        return data["g_f"].astype(np.float64)
    if "dics" in data.files:
        return data["dics"][:, 0].astype(np.float64)
    return None


def _member_index(population_conductances: np.ndarray, simulated: np.ndarray) -> np.ndarray:
    """Row of ``population_conductances`` of every simulated member (matched exactly)."""
    rows = {row.tobytes(): i for i, row in enumerate(np.ascontiguousarray(population_conductances))}
    try:
        return np.array([rows[row.tobytes()] for row in np.ascontiguousarray(simulated)], dtype=np.int64)
    except KeyError as err:
        msg = "The simulation folder holds conductances that are not in populations.npz; regenerate it."
        raise ValueError(msg) from err


def _partial_set(folder: Path, n_chunks: int | None = None) -> TrainingSet:
    """The trains of the finished simulation chunks (or of the first ``n_chunks``)."""
    from nwb_dicpop.batches import read_batches

    manifest = _read_manifest(folder)
    chunk_size = int(manifest["chunk_size"])
    with np.load(folder / "populations.npz", allow_pickle=False) as data:
        conductances, dics, target_index = data["conductances"], data["dics"], data["target_index"]
    result = read_batches(folder / "simulation", allow_incomplete=True)
    index = _member_index(conductances, result.conductances)
    trains = list(result.spike_times)
    if n_chunks is not None:
        check_positive("n_chunks", n_chunks, integer=True)
        wanted = np.arange(min(conductances.shape[0], n_chunks * chunk_size))
        missing = np.setdiff1d(wanted, index)
        if missing.size:
            msg = (
                f"`n_chunks`={n_chunks} but {missing.size} of their members are not simulated yet in {folder} "
                "(chunks not finished); resume make_training_data or pass fewer chunks."
            )
            raise FileNotFoundError(msg)
        keep = np.flatnonzero(index < wanted.size)
        index, trains = index[keep], [trains[i] for i in keep]
    if not trains:
        msg = f"No finished simulation chunk in {folder / 'simulation'} yet."
        raise FileNotFoundError(msg)
    logger.info("partial dataset %s: %d trains", folder, index.size)
    return TrainingSet.from_trains(
        trains, dics[index, 1:], model_name=manifest["model"],
        duration=float(manifest["duration"]), groups=target_index[index],
        noise_sigma=float(manifest["noise_sigma"]), g_f=dics[index, 0],
    )


# --------------------------------------------------------------------------- targets
def _training_protocol(model: str | NeuronModel) -> tuple[NeuronModel, TrainingProtocol]:
    """The model's declaration and its training protocol; a clear error when it has none."""
    spec = get_model(model)
    if spec.training is None:
        msg = (
            f"Model {spec.name!r} declares no training protocol (its `training` is None), so no "
            "training data can be generated for it. Declare one in the model: NeuronModel(..., "
            "training=TrainingProtocol(g_s_range=(low, high), g_u_range=(low, high), duration=<recorded s>, "
            "transient=<discarded s>))."
        )
        raise ValueError(msg)
    return spec, spec.training


def sample_targets(
    model: str | NeuronModel, n_targets: int, *, method: str = "lhs", rng: int | np.random.Generator | None = None
) -> np.ndarray:
    """DIC targets spread over the box of the model's training protocol.

    Parameters
    ----------
    model : str or NeuronModel
        A registered model name or declaration; its ``training.target_box`` gives the
        ``(g_s, g_u)`` ranges.
    n_targets : int
    method : {"lhs", "uniform"}
        Latin hypercube (one target per row and column stratum, as in the thesis) or
        independent uniform draws (as in the generator script).
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ndarray of float, shape (n_targets, 2)
        ``(g_s, g_u)`` per target.

    Raises
    ------
    ValueError
        An unknown model, a model without a training protocol, a bad ``n_targets`` or
        ``method``.
    """
    from nwb_dicpop._validation import normalize_rng

    _, training = _training_protocol(model)
    check_positive("n_targets", n_targets, integer=True)
    check_choice("method", method, ("lhs", "uniform"))
    generator = normalize_rng(rng)
    box = np.array(training.target_box, dtype=np.float64)
    if method == "uniform":
        unit = generator.random((n_targets, 2))
    else:
        unit = np.empty((n_targets, 2))
        for k in range(2):
            unit[:, k] = (generator.permutation(n_targets) + generator.random(n_targets)) / n_targets
    return box[:, 0] + unit * (box[:, 1] - box[:, 0])


# --------------------------------------------------------------------------- generation
def _write_json(path: Path, value: Any) -> None:
    write_bytes_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def _normalised_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """A ``manifest.json`` in the current format: version 1 stored the total simulated time
    (transient included) as ``duration``; it becomes the recorded window."""
    if "silent_screen" not in manifest:  # written before the screen existed: every member simulated
        manifest = {**manifest, "silent_screen": False}
    if manifest.get("format_version", 1) == 1 and "duration" in manifest and "transient" in manifest:
        return {**manifest, "format_version": FORMAT_VERSION,
                "duration": float(manifest["duration"]) - float(manifest["transient"])}
    return manifest


def _read_manifest(folder: Path) -> dict[str, Any]:
    """The generation settings of ``folder``, normalised to the current format."""
    return _normalised_manifest(json.loads((folder / "manifest.json").read_text()))


def _same_setting(key: str, old: Any, new: Any) -> bool:
    if key == "duration" and isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return bool(np.isclose(old, new, rtol=1e-12, atol=1e-15))  # version 1: total - transient
    return old == new


def _check_manifest(output_dir: Path, manifest: dict[str, Any]) -> None:
    path = output_dir / "manifest.json"
    if path.is_file():
        old = _normalised_manifest(json.loads(path.read_text()))
        keys = [k for k in manifest if k not in ("created",)]
        differ = [k for k in keys if not _same_setting(k, old.get(k), manifest[k])]
        if differ:
            changes = ", ".join(f"{k}: {old.get(k)!r} -> {manifest[k]!r}" for k in differ)
            msg = (
                f"{output_dir} holds a dataset made with other settings ({changes}). Resume with the "
                "same settings or choose a new `output_dir`."
            )
            raise ValueError(msg)
        return
    _write_json(path, manifest)


def _screen_setting(output_dir: Path, silent_screen: bool | None) -> bool:
    """``silent_screen`` as given, or (None) the folder's own setting, on for a new folder."""
    if silent_screen is not None:
        return bool(silent_screen)
    path = output_dir / "manifest.json"
    return bool(_read_manifest(output_dir)["silent_screen"]) if path.is_file() else True


def _generate_block(
    model: str | NeuronModel, targets: np.ndarray, n_per_target: int, seed: int, block: int
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Populations of one block of targets; targets the model's rule cannot reach are retried
    with the training protocol's ``fallback_compensating_set``, then skipped."""
    from nwb_dicpop.compensation import UnreachableTargetError, generate_population, generate_populations

    _, training = _training_protocol(model)
    choices = ("rule",) if training.fallback_compensating_set is None else ("rule", training.fallback_compensating_set)
    try:
        pops = generate_populations(
            model, targets[:, 0], targets[:, 1], n_models=n_per_target, thresholds=False,
            rng=np.random.default_rng([seed, block]),
        )
        return list(pops), []
    except UnreachableTargetError:
        logger.info("block %d: a target is unreachable with the rule's pair; generating one by one", block)
    pops: list[Any] = []
    skipped: list[dict[str, Any]] = []
    for i, (g_s, g_u) in enumerate(targets):
        rng = np.random.default_rng([seed, block, i])
        population = None
        for choice in choices:
            try:
                population = generate_population(
                    model, float(g_s), float(g_u), n_models=n_per_target, compensating_set=choice,
                    thresholds=False, rng=rng,
                )
                break
            except UnreachableTargetError as err:
                reason = str(err)
        if population is None:
            skipped.append({"g_s": float(g_s), "g_u": float(g_u), "block": block, "index": i, "reason": reason})
        pops.append(population)
    return pops, skipped


def _make_populations(
    output_dir: Path, model: str | NeuronModel, targets: np.ndarray, n_per_target: int, seed: int,
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, np.ndarray]:
    path = output_dir / "populations.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    conductances, dics, target_of, sets = [], [], [], []
    skipped: list[dict[str, Any]] = []
    n_blocks = int(np.ceil(len(targets) / _POPULATION_BLOCK))
    start_time = time.perf_counter()
    for block in range(n_blocks):
        rows = np.arange(block * _POPULATION_BLOCK, min(len(targets), (block + 1) * _POPULATION_BLOCK))
        pops, skip = _generate_block(model, targets[rows], n_per_target, seed, block)
        skipped.extend(skip)
        for row, pop in zip(rows, pops, strict=True):
            if pop is None:
                continue
            conductances.append(pop.conductances)
            dics.append(pop.dics)
            target_of.append(np.full(pop.n_models, row, dtype=np.int64))
            sets.append("+".join(pop.compensating_set))
        if progress is not None:
            progress("populations", block + 1, n_blocks)
    logger.info(
        "populations: %d targets (%d skipped) in %.1f s", len(targets), len(skipped), time.perf_counter() - start_time
    )
    result = {
        "conductances": np.concatenate(conductances),
        "dics": np.concatenate(dics),
        "target_index": np.concatenate(target_of),
        "targets": targets,
        "compensating_set": np.array(sets),
    }
    _write_json(output_dir / "skipped_targets.json", skipped)
    buffer = io.BytesIO()
    np.savez(buffer, **result)
    write_bytes_atomic(path, buffer.getvalue())
    return result


def make_training_data(
    model: str | NeuronModel,
    output_dir: str | Path = "data",
    *,
    n_targets: int,
    n_per_target: int = 16,
    seed: int = 0,
    noise_sigma: float = 0.0,
    duration: float | None = None,
    transient: float | None = None,
    dt: float | None = None,
    chunk_size: int = 1024,
    target_sampling: str = "lhs",
    n_processes: int = 1,
    scheduler: Any = None,
    progress: Callable[[str, int, int], None] | None = None,
    silent_screen: bool | None = None,
) -> Path:
    """Generate (or resume generating) a training set for the DIC network.

    Parameters
    ----------
    model : str or NeuronModel
        A registered model name or declaration with a ``training`` protocol
        (:class:`~nwb_dicpop.models.TrainingProtocol`), which gives the target box, the
        recorded window and transient, and the fallback compensating set.
    output_dir : str or Path
        Directory for the dataset (created; default ``./data``, which git ignores).  Calling
        again with the same settings resumes an interrupted run; other settings raise.
    n_targets : int
        Number of ``(g_s, g_u)`` targets (populations).
    n_per_target : int
        Members per population (16 in the original study).
    seed : int
        Seeds the targets, the populations and the simulation noise.
    noise_sigma : float
        Standard deviation of the injected current noise (uA/cm^2); 0 for deterministic
        trains, 3 or 5 for the robust variants of the original study.
    duration : float, optional
        Recorded window of every train in seconds, after the transient; default the model's
        ``training.duration`` (STG 3 s, DA 9 s).
    transient : float, optional
        Seconds simulated and discarded before the recorded window; default the model's
        ``training.transient`` (3 s).
    dt : float, optional
        Integration step (seconds); the simulator's default if None.
    chunk_size : int
        Members simulated per chunk file.
    target_sampling : {"lhs", "uniform"}
    n_processes : int
        Simulate chunks in parallel in this many local worker processes (a Dask
        ``LocalCluster``); 1 runs them in this process.
    scheduler : optional
        Instead of ``n_processes``: a Dask scheduler name or ``distributed.Client`` (e.g. of
        an HPC cluster), passed to :func:`~nwb_dicpop.batches.simulate_batches`.
    progress : callable, optional
        ``progress(stage, done, total)`` called as populations and chunks finish.
    silent_screen : bool, optional
        Label members silent without simulating them where the fixed-point screen is sure
        (:func:`~nwb_dicpop.models.fixed_points.screen_silent`: exactly one fixed point, stable,
        and attracting within a third of the transient); every other member is simulated.
        Used only without current noise (``noise_sigma == 0``), where a stable rest state stays
        at rest.  The dataset's ``screened_silent`` column marks the members labelled this
        way.  False simulates every member.  The setting is part of the folder's settings;
        None (default): on for a new folder, the folder's own setting when resuming (folders
        written before the screen existed simulate every member).

    Returns
    -------
    Path
        The ``dataset.npz`` file.

    Raises
    ------
    ValueError
        An unknown model, a model without a training protocol, bad settings, or an
        ``output_dir`` holding a dataset made with other settings.
    """
    spec, training = _training_protocol(model)
    check_positive("n_targets", n_targets, integer=True)
    check_positive("n_per_target", n_per_target, integer=True)
    check_positive("chunk_size", chunk_size, integer=True)
    check_positive("n_processes", n_processes, integer=True)
    if not (np.isfinite(noise_sigma) and noise_sigma >= 0):
        msg = f"`noise_sigma` must be >= 0 uA/cm^2; got {noise_sigma!r}."
        raise ValueError(msg)
    duration = training.duration if duration is None else duration
    transient = training.transient if transient is None else transient
    check_positive("duration", duration, unit="s")
    if isinstance(transient, bool) or not isinstance(transient, (int, float, np.integer, np.floating)) \
            or not np.isfinite(transient) or transient < 0:
        msg = (
            f"`transient` must be >= 0 seconds (simulated and discarded before the recorded window); got "
            f"{transient!r}. Pass e.g. transient={training.transient}."
        )
        raise ValueError(msg)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": spec.name,
        "n_targets": int(n_targets),
        "n_per_target": int(n_per_target),
        "seed": int(seed),
        "noise_sigma": float(noise_sigma),
        "duration": float(duration),
        "transient": float(transient),
        "dt": dt,
        "chunk_size": int(chunk_size),
        "target_sampling": target_sampling,
        "silent_screen": _screen_setting(output_dir, silent_screen) and float(noise_sigma) == 0.0,
    }
    _check_manifest(output_dir, manifest)
    dataset_path = output_dir / "dataset.npz"
    if dataset_path.is_file():
        return dataset_path
    targets = sample_targets(spec, n_targets, method=target_sampling, rng=np.random.default_rng([seed, 1]))
    populations = _make_populations(output_dir, spec, targets, n_per_target, seed, progress)
    conductances = populations["conductances"]
    screened = np.zeros(conductances.shape[0], dtype=bool)
    if manifest["silent_screen"] and transient > 0:  # no transient: no time to come to rest
        from nwb_dicpop.models.fixed_points import screen_silent

        # the rest state must attract within a third of the discarded transient (ms)
        screened = screen_silent(spec, conductances, max_relaxation_time=float(transient) * 1000.0 / 3.0)
        logger.info("fixed-point screen: %d of %d members labelled silent without simulation",
                    int(screened.sum()), screened.size)
    start_time = time.perf_counter()
    simulated = [] if screened.all() else _simulate(
        output_dir / "simulation", spec, conductances[~screened], chunk_size=chunk_size, duration=duration,
        transient=transient, dt=dt, noise_sigma=noise_sigma, seed=seed, n_processes=n_processes,
        scheduler=scheduler, progress=progress,
    )
    logger.info("simulation finished in %.1f s", time.perf_counter() - start_time)
    trains: list[np.ndarray] = [np.zeros(0)] * conductances.shape[0]
    for i, train in zip(np.flatnonzero(~screened), simulated, strict=True):
        trains[i] = train
    dataset = TrainingSet.from_trains(
        trains, populations["dics"][:, 1:], model_name=spec.name, duration=duration,
        groups=populations["target_index"], noise_sigma=noise_sigma, g_f=populations["dics"][:, 0],
    )
    from nwb_dicpop.statistics import compute_spike_statistics

    stats = compute_spike_statistics(trains, t_start=0.0, t_stop=duration)
    columns = {f"stat_{name}": stats[name].to_numpy(dtype=np.float64) for name in stats.columns if name != "firing_class"}
    return dataset.save(
        dataset_path,
        dics=populations["dics"],
        conductances=populations["conductances"],
        target=populations["targets"][populations["target_index"]],
        compensating_set=populations["compensating_set"][_population_of_member(populations)],
        screened_silent=screened,
        **columns,
    )


def _population_of_member(populations: dict[str, np.ndarray]) -> np.ndarray:
    """Index into the per-population arrays (``compensating_set``) of every member."""
    _, position = np.unique(populations["target_index"], return_inverse=True)
    return position


def _simulate(
    folder: Path,
    model: NeuronModel,
    conductances: np.ndarray,
    *,
    chunk_size: int,
    duration: float,
    transient: float,
    dt: float | None,
    noise_sigma: float,
    seed: int,
    n_processes: int,
    scheduler: Any,
    progress: Callable[[str, int, int], None] | None,
) -> list[np.ndarray]:
    """Simulate every member with :func:`~nwb_dicpop.batches.simulate_batches` (resumable);
    ``duration`` is the recorded window after ``transient``."""
    from nwb_dicpop.batches import read_batches, simulate_batches

    def report(done: int, total: int) -> None:
        logger.info("simulation: %d of %d chunks written", done, total)
        if progress is not None:
            progress("simulation", done, total)

    options = {
        "model": model, "output_dir": folder, "chunk_size": chunk_size, "duration": duration,
        "transient": transient, "dt": dt, "noise_sigma": noise_sigma, "seed": seed, "progress": report,
    }
    if scheduler is None and n_processes > 1:
        from nwb_dicpop.distributed import open_client
        from nwb_dicpop.simulation import simulate_population

        # compile the model's code once, so that the workers find it in the shared cache
        simulate_population(conductances[:1], model=model, duration=0.002, transient=0.0, dt=dt)
        with open_client("local", n_workers=n_processes) as client:
            simulate_batches(conductances, scheduler=client, **options)
    else:
        simulate_batches(conductances, scheduler=scheduler, **options)
    result = read_batches(folder)
    if not np.array_equal(result.conductances, conductances):
        msg = f"The simulation folder {folder} does not match populations.npz; delete it and rerun."
        raise ValueError(msg)
    return list(result.spike_times)
