"""Write results into NWB through the ndx-dicpop extension, and read them back.

:func:`write_results` annotates an NWB file: DIC estimates, degenerate populations, spike
statistics, validation outcomes and provenance go into the processing module ``dicpop``,
linked to the rows of the file's ``Units`` table.  By default a new file is written next to
the input (the input is never modified); every write is atomic.  :func:`read_results` returns
the package's containers from an annotated file.

The extension's namespace is loaded when this module is first imported (not at
``import nwb_dicpop``).  Its neurodata types are the classes pynwb generates from the YAML
(``get_class``); they are not picklable with plain pickle, which is why the public functions
return our own containers.  See ``docs/extension.md`` for the schema and the tutorial
``tutorials/02_reading_nwb_and_annotating.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.resources
import json
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._files import atomic_destination
from nwb_dicpop._results_reader import (
    POPULATION_OUTCOME_COLUMNS,
    VALIDATION_PREFIX,
    read_dics,
    read_population_outcomes,
    read_populations,
    read_provenance,
    table_frame,
)
from nwb_dicpop._validation import check_choice
from nwb_dicpop.containers import DICEstimate, Population, close_ids
from nwb_dicpop.units import CONDUCTANCE_UNIT

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "EXTENSION_NAMESPACE",
    "READABLE_VERSIONS",
    "DicpopResults",
    "check_output_path",
    "extension_namespace_path",
    "read_results",
    "write_results",
]

logger = logging.getLogger(__name__)

EXTENSION_NAMESPACE = "ndx-dicpop"
MODULE_NAME = "dicpop"
_NAMESPACE_FILE = "ndx-dicpop.namespace.yaml"
_PROVENANCE_KEYS = ("model", "seeds", "settings")

READABLE_VERSIONS = ("0.1.0", "0.2.0")
"""Versions of ndx-dicpop whose files :func:`read_results` reads (files cache the version they
were written with; newer versions only add optional columns)."""


def _older_version_pattern() -> str:
    versions = "|".join(re.escape(v) for v in READABLE_VERSIONS)
    return (r"Ignoring the following cached namespace\(s\) because another version is already loaded:\n"
            rf"{re.escape(EXTENSION_NAMESPACE)} - cached version: (?:{versions}), loaded version: [^\n]*\n"
            r"The loaded extension")


@contextlib.contextmanager
def _older_versions_accepted() -> Iterator[None]:
    """Silence pynwb's warning that a file's cached ndx-dicpop (an older, readable version) is ignored.

    pynwb reads a file with the extension version loaded by this package and warns when the
    file caches another one; for the versions in :data:`READABLE_VERSIONS` that is expected
    (later versions only add optional columns), so only that warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_older_version_pattern(), category=UserWarning)
        yield


# Readers other than read_results (read_spike_trains, Neo, pynapple) open annotated files with the
# extension loaded by this module: the same notice, for the same compatible versions, is silenced
# for them too (only this message, only for ndx-dicpop files of a version in READABLE_VERSIONS).
warnings.filterwarnings("ignore", message=_older_version_pattern(), category=UserWarning)


def extension_namespace_path() -> Path:
    """Path of the ndx-dicpop namespace YAML.

    From the installed package (``nwb_dicpop/extensions/``, put there by the wheel build), or
    from the repository's ``extensions/`` folder in editable installs.

    Returns
    -------
    pathlib.Path
    """
    packaged = importlib.resources.files("nwb_dicpop") / "extensions" / _NAMESPACE_FILE
    if packaged.is_file():
        return Path(str(packaged))
    repository = Path(__file__).resolve().parent.parent / "extensions" / _NAMESPACE_FILE
    if repository.is_file():
        return repository
    msg = (
        f"The ndx-dicpop extension files are missing: neither {packaged} nor {repository} exists. "
        "Reinstall nwb_dicpop."
    )
    raise FileNotFoundError(msg)


def _load_extension() -> dict[str, Any]:
    from pynwb import get_class, get_type_map, load_namespaces

    if EXTENSION_NAMESPACE not in get_type_map().namespace_catalog.namespaces:
        load_namespaces(str(extension_namespace_path()))
    names = ("ConductanceColumn", "DICEstimates", "ConductancePopulations", "PopulationMembers",
             "SpikeStatistics", "DicpopProvenance")
    return {name: get_class(name, EXTENSION_NAMESPACE) for name in names}


_TYPES = _load_extension()
ConductanceColumn = _TYPES["ConductanceColumn"]
DICEstimates = _TYPES["DICEstimates"]
ConductancePopulations = _TYPES["ConductancePopulations"]
PopulationMembers = _TYPES["PopulationMembers"]
SpikeStatistics = _TYPES["SpikeStatistics"]
DicpopProvenance = _TYPES["DicpopProvenance"]


@dataclass(frozen=True, slots=True)
class DicpopResults:
    """What :func:`read_results` found in an annotated NWB file.

    Attributes
    ----------
    dics : DICEstimate or None
        Per-unit DIC estimates (``unit_ids`` are Units ids).
    populations : tuple of Population
        One per unit (``unit_id`` is the Units id), in the file's order.
    statistics : pandas.DataFrame or None
        One row per unit, a ``unit_id`` column then one column per statistic.
    validation : pandas.DataFrame or None
        One row per population member with ``unit_id`` and ``member`` columns, then the
        validation columns (NaN for members not simulated).
    provenance : dict or None
        ``software``, ``software_version``, ``date`` (ISO 8601 text), and the decoded JSON of
        ``model_declaration``, ``seeds`` and ``settings``.
    source : str
        The file read.
    population_outcomes : pandas.DataFrame or None
        One row per population whose members were validated: ``unit_id`` and the columns of
        :data:`~nwb_dicpop._results_reader.POPULATION_OUTCOME_COLUMNS` the file stores
        (``validation_status``, ``n_simulated``, ``n_valid``, ``yield``, ``validation_duration``,
        ``validation_transient``); None for files without them (written without validation,
        or by ndx-dicpop 0.1.0).
    """

    dics: DICEstimate | None
    populations: tuple[Population, ...]
    statistics: pd.DataFrame | None
    validation: pd.DataFrame | None
    provenance: dict[str, Any] | None
    source: str = ""
    population_outcomes: pd.DataFrame | None = None

    def __repr__(self) -> str:
        parts = [f"dics={self.dics.n_units if self.dics else 0} units",
                 f"{len(self.populations)} populations",
                 f"statistics={'yes' if self.statistics is not None else 'no'}",
                 f"validation={'yes' if self.validation is not None else 'no'}"]
        return f"DicpopResults({', '.join(parts)}, source={self.source!r})"


# --------------------------------------------------------------------------- writing


def write_results(
    source_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None = None,
    *,
    dics: DICEstimate | None = None,
    populations: Population | Sequence[Population] | None = None,
    statistics: pd.DataFrame | None = None,
    validation: pd.DataFrame | None = None,
    population_outcomes: pd.DataFrame | None = None,
    provenance: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    in_place: bool = False,
) -> Path:
    """Annotate an NWB file with DICs, populations, statistics and provenance.

    Parameters
    ----------
    source_path : str or os.PathLike
        The NWB file whose Units table the results refer to.  Never modified unless
        ``in_place=True``.
    output_path : str or os.PathLike, optional
        Where to write.  Default: ``<stem>_dicpop.nwb`` next to the input (or the input itself
        with ``in_place=True``).
    dics : DICEstimate, optional
        Per-unit DIC estimates; their ``unit_ids`` must be ids of the Units table.  The
        network's class (``dics.firing_class``) is stored as ``network_class``; the class of
        the spike train (ISI-CV rule) belongs to ``statistics``.
    populations : Population or sequence of Population, optional
        One population per unit (``unit_id`` set, e.g. by ``generate_populations(...,
        unit_ids=...)``), all of the same model.  Different units may use different
        compensating sets.
    statistics : pandas.DataFrame, optional
        One row per unit as returned by ``compute_spike_statistics``, with a ``unit_id``
        column (or index); numeric, boolean or text columns.
    validation : pandas.DataFrame, optional
        One row per simulated population member with ``unit_id`` and ``member`` (index within
        its population) columns, then the outcome and statistics columns, stored as
        ``validation_<name>`` columns of the member table.  Needs ``populations``.
    population_outcomes : pandas.DataFrame, optional
        One row per population (``unit_id`` column) with any of the columns
        ``validation_status``, ``n_simulated``, ``n_valid``, ``yield``,
        ``validation_duration``, ``validation_transient`` (how its members were validated,
        as :func:`~nwb_dicpop.run_pipeline` reports them); stored as columns of
        ConductancePopulations.  Needs ``populations``.
    provenance : mapping, optional
        Keys ``"model"`` (a NeuronModel, a model name or a JSON-able declaration; default the
        model of the results), ``"seeds"`` and ``"settings"`` (JSON-able).  Software version and
        date are always recorded.
    overwrite : bool
        Replace an existing ``output_path`` and any ``dicpop`` results already in the input.
    in_place : bool
        Append to ``source_path`` itself (still atomically: a modified copy replaces it).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    FileNotFoundError
        ``source_path`` does not exist.
    FileExistsError
        ``output_path`` exists and ``overwrite`` is False.
    ValueError
        Not an NWB file, no Units table, unknown unit ids, nothing to write, output equal to
        the input without ``in_place``, results already present without ``overwrite``.
    TypeError
        Arguments of the wrong type.
    """
    source = Path(source_path)
    output = _check_paths(source, output_path, overwrite=overwrite, in_place=in_place)
    pops = _check_inputs(dics, populations, statistics, validation, provenance)
    outcomes = _check_outcomes(population_outcomes, pops)
    _check_existing_results(source, overwrite=overwrite)
    with atomic_destination(output) as tmp:
        shutil.copyfile(source, tmp)
        _annotate(tmp, source, dics, pops, statistics, validation, outcomes, provenance, overwrite)
    logger.info("Wrote dicpop results to %s", output)
    return output


def check_output_path(
    source_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    in_place: bool = False,
) -> Path:
    """Where :func:`write_results` would write, checked now, before any work, writing nothing.

    Checks what can fail at the end of a long computation: the input is a readable NWB
    (HDF5) file that holds no dicpop results yet (unless ``overwrite``); the output is not
    the input (unless ``in_place``), not a directory, and does not exist (unless
    ``overwrite``); its folder exists and a file can be created in it (a temporary file is
    created and removed, so read-only folders and file systems are caught whoever runs it).

    Parameters
    ----------
    source_path, output_path, overwrite, in_place
        As for :func:`write_results`.

    Returns
    -------
    pathlib.Path
        The file :func:`write_results` would write.

    Raises
    ------
    FileNotFoundError
        ``source_path``, or the output's folder, does not exist.
    FileExistsError
        The output exists and ``overwrite`` is False.
    IsADirectoryError
        The output is a directory.
    PermissionError or OSError
        No file can be created in the output's folder (the message names the output).
    ValueError
        The input is not NWB, is the output without ``in_place``, or already holds dicpop
        results without ``overwrite``.
    """
    source = Path(source_path)
    output = _check_paths(source, output_path, overwrite=overwrite, in_place=in_place)
    _check_existing_results(source, overwrite=overwrite)
    with contextlib.suppress(_DryRun), atomic_destination(output):
        raise _DryRun
    return output


class _DryRun(Exception):
    """Raised inside :func:`atomic_destination` to create and remove its temporary file only."""


def _check_existing_results(source: Path, *, overwrite: bool) -> None:
    """Raise when ``source`` already holds a dicpop module and ``overwrite`` is False."""
    if overwrite:
        return
    import h5py

    try:
        with h5py.File(source, "r") as handle:
            present = f"processing/{MODULE_NAME}" in handle
    except OSError as err:
        msg = f"`source_path` {str(source)!r} could not be opened; it is corrupt or truncated ({err})."
        raise ValueError(msg) from err
    if present:
        msg = (
            f"{str(source)!r} already holds dicpop results (processing/{MODULE_NAME}); "
            "pass overwrite=True to replace them."
        )
        raise ValueError(msg)


def _check_paths(source: Path, output_path: Any, *, overwrite: bool, in_place: bool) -> Path:
    if not source.is_file():
        msg = f"`source_path` {str(source)!r} does not exist (or is not a file)."
        raise FileNotFoundError(msg)
    import h5py

    if not h5py.is_hdf5(source):
        msg = f"`source_path` {str(source)!r} is not an HDF5/NWB file (corrupt, truncated or another format)."
        raise ValueError(msg)
    if in_place:
        if output_path is not None and Path(output_path).resolve() != source.resolve():
            msg = "`in_place=True` writes into `source_path`; do not also pass a different `output_path`."
            raise ValueError(msg)
        return source
    output = Path(output_path) if output_path is not None else source.with_name(f"{source.stem}_dicpop.nwb")
    if output.resolve() == source.resolve():
        msg = (
            f"`output_path` is the input file {str(source)!r}; the input is never modified unless "
            "you ask for it. Choose another output path, or pass in_place=True to append to it."
        )
        raise ValueError(msg)
    if output.is_dir():
        msg = f"`output_path` {str(output)!r} is a directory, not a file; choose another `output_path` (a file name)."
        raise IsADirectoryError(msg)
    if output.exists() and not overwrite:
        msg = (
            f"`output_path` {str(output)!r} already exists; pass overwrite=True to replace it, or choose "
            "another `output_path`."
        )
        raise FileExistsError(msg)
    if not output.parent.is_dir():
        msg = (
            f"The folder of `output_path` {str(output.parent)!r} does not exist; create it first, or choose "
            "another `output_path`."
        )
        raise FileNotFoundError(msg)
    return output


def _check_inputs(
    dics: Any, populations: Any, statistics: Any, validation: Any, provenance: Any
) -> list[Population]:
    if dics is not None and not isinstance(dics, DICEstimate):
        msg = f"`dics` must be a DICEstimate; got {type(dics).__name__}."
        raise TypeError(msg)
    if dics is not None and dics.n_units == 0:
        msg = "`dics` has no units; there is nothing to write (NWB tools reject empty tables)."
        raise ValueError(msg)
    if isinstance(populations, Population):
        pops = [populations]
    elif populations is None:
        pops = []
    else:
        pops = list(populations)
        bad = [type(p).__name__ for p in pops if not isinstance(p, Population)]
        if bad:
            msg = f"`populations` must be Population objects; got {bad[:3]}."
            raise TypeError(msg)
    if pops:
        models = {(p.model_name, p.conductance_names) for p in pops}
        if len(models) > 1:
            msg = (
                f"`populations` mix models {sorted(m for m, _ in models)}; write the populations "
                "of one model per file."
            )
            raise ValueError(msg)
        missing = [i for i, p in enumerate(pops) if p.unit_id is None]
        if missing:
            msg = (
                f"Populations at positions {missing} have no unit_id; generate them with "
                "generate_population(..., unit_id=...) or generate_populations(..., unit_ids=...) "
                "so they can be linked to Units rows."
            )
            raise ValueError(msg)
        if len({p.unit_id for p in pops}) != len(pops):
            msg = "`populations` has two populations for the same unit_id; write one population per unit."
            raise ValueError(msg)
        empty = [p.unit_id for p in pops if p.n_models == 0]
        if empty:
            msg = f"Populations of units {empty} have no members; NWB tools reject empty tables."
            raise ValueError(msg)
    for name, frame in (("statistics", statistics), ("validation", validation)):
        if frame is not None and type(frame).__name__ != "DataFrame":
            msg = f"`{name}` must be a pandas DataFrame; got {type(frame).__name__}."
            raise TypeError(msg)
        if frame is not None and len(frame) == 0:
            msg = f"`{name}` has no rows; pass None instead (NWB tools reject empty tables)."
            raise ValueError(msg)
    if validation is not None and not pops:
        msg = "`validation` describes population members; pass the `populations` too."
        raise ValueError(msg)
    if provenance is not None:
        if not isinstance(provenance, Mapping):
            msg = f"`provenance` must be a dict with keys {list(_PROVENANCE_KEYS)}; got {type(provenance).__name__}."
            raise TypeError(msg)
        for key in provenance:
            check_choice("provenance key", key, _PROVENANCE_KEYS)
    if dics is None and not pops and statistics is None:
        msg = "Nothing to write: pass at least one of `dics`, `populations` or `statistics`."
        raise ValueError(msg)
    return pops


def _check_outcomes(outcomes: Any, pops: list[Population]) -> dict[Any, dict[str, Any]] | None:
    """``population_outcomes`` as ``{unit id: {column: value}}``, checked against the populations."""
    if outcomes is None:
        return None
    if type(outcomes).__name__ != "DataFrame":
        msg = f"`population_outcomes` must be a pandas DataFrame; got {type(outcomes).__name__}."
        raise TypeError(msg)
    if not pops:
        msg = "`population_outcomes` describes populations; pass the `populations` too."
        raise ValueError(msg)
    if "unit_id" not in outcomes.columns:
        msg = f"`population_outcomes` needs a 'unit_id' column; it has {list(outcomes.columns)}."
        raise ValueError(msg)
    unknown = [c for c in outcomes.columns if c != "unit_id" and c not in POPULATION_OUTCOME_COLUMNS]
    if unknown:
        msg = (f"`population_outcomes` has unknown columns {unknown}; the extension stores "
               f"{list(POPULATION_OUTCOME_COLUMNS)}.")
        raise ValueError(msg)
    rows = {_key(u): row for u, row in zip(outcomes["unit_id"], outcomes.to_dict(orient="records"), strict=True)}
    if len(rows) != len(outcomes):
        msg = "`population_outcomes` has several rows for the same unit_id."
        raise ValueError(msg)
    extra = sorted(set(rows) - {_key(p.unit_id) for p in pops}, key=str)
    if extra:
        msg = f"`population_outcomes` has rows for units {extra[:5]} that have no population."
        raise ValueError(msg)
    return rows


def _annotate(
    path: Path,
    source: Path,
    dics: DICEstimate | None,
    pops: list[Population],
    statistics: pd.DataFrame | None,
    validation: pd.DataFrame | None,
    outcomes: dict[Any, dict[str, Any]] | None,
    provenance: Mapping[str, Any] | None,
    overwrite: bool,
) -> None:
    import h5py
    from pynwb import NWBHDF5IO

    try:
        with h5py.File(path, "a") as handle:
            if "nwb_version" not in handle.attrs:
                msg = f"`source_path` {str(source)!r} is an HDF5 file but not an NWB file."
                raise ValueError(msg)
            if f"processing/{MODULE_NAME}" in handle:
                if not overwrite:
                    msg = (
                        f"{str(source)!r} already holds dicpop results (processing/{MODULE_NAME}); "
                        "pass overwrite=True to replace them."
                    )
                    raise ValueError(msg)
                del handle[f"processing/{MODULE_NAME}"]
    except OSError as err:
        msg = f"`source_path` {str(source)!r} could not be opened; it is corrupt or truncated ({err})."
        raise ValueError(msg) from err
    with _older_versions_accepted(), NWBHDF5IO(str(path), "a") as io:
        try:
            nwbfile = io.read()
        except Exception as err:  # pynwb/hdmf raise many types on broken files
            msg = f"{str(source)!r} could not be read as NWB ({type(err).__name__}: {err})."
            raise ValueError(msg) from err
        units = nwbfile.units
        if units is None or len(units) == 0:
            msg = f"{str(source)!r} has no Units table (or it is empty); dicpop results are linked to Units rows."
            raise ValueError(msg)
        rows_of = _UnitRows(units, str(source))
        module = nwbfile.create_processing_module(
            name=MODULE_NAME,
            description=(
                "nwb_dicpop results (ndx-dicpop extension): dynamic input conductances inferred from "
                "the spike trains of the Units table, degenerate populations of conductance-based "
                "models, spike statistics and provenance."
            ),
        )
        if dics is not None:
            module.add(_dic_table(dics, units, rows_of))
        if pops:
            population_table = _population_table(pops, units, rows_of, outcomes)
            module.add(population_table)
            module.add(_member_table(pops, population_table, units, rows_of, validation))
        if statistics is not None:
            module.add(_statistics_table(statistics, units, rows_of))
        module.add(_provenance(dics, pops, provenance))
        io.write(nwbfile)


class _UnitRows:
    """Units id -> row index, with did-you-mean errors."""

    def __init__(self, units: Any, where: str) -> None:
        self.ids = [int(i) for i in np.asarray(units.id.data[:])]
        self.lookup = {uid: row for row, uid in enumerate(self.ids)}
        self.where = where

    def __call__(self, unit_ids: Sequence[Any], what: str) -> np.ndarray:
        rows = []
        for uid in unit_ids:
            key = uid.item() if isinstance(uid, np.generic) else uid
            try:
                rows.append(self.lookup[int(key)])
                continue
            except (KeyError, TypeError, ValueError):
                pass
            close = close_ids(key, self.ids)
            hint = f" Did you mean {', '.join(map(str, close))}?" if close else ""
            shown = self.ids if len(self.ids) <= 20 else [*self.ids[:20], "..."]
            msg = f"{what} refers to unit id {key!r}, which is not in the Units table of {self.where} (ids {shown}).{hint}"
            raise ValueError(msg)
        return np.asarray(rows, dtype=np.int64)


def _vector(name: str, data: Any, description: str) -> Any:
    from hdmf.common import VectorData

    return VectorData(name=name, description=description, data=data)


def _region(name: str, rows: np.ndarray, table: Any, description: str) -> Any:
    from hdmf.common import DynamicTableRegion

    return DynamicTableRegion(name=name, data=rows, table=table, description=description)


def _ids(n: int) -> Any:
    from hdmf.common import ElementIdentifiers

    return ElementIdentifiers(name="id", data=np.arange(n, dtype=np.int64))


def _dic_table(dics: DICEstimate, units: Any, rows_of: _UnitRows) -> Any:
    rows = rows_of(dics.unit_ids, "`dics`")
    columns = [_region("units", rows, units, "Row of the Units table each estimate belongs to.")]
    if np.any(np.isfinite(dics.g_f)):
        columns.append(_vector("g_f", dics.g_f, "Fast DIC at V_th (dimensionless)."))
    g_f_std = getattr(dics, "g_f_std", None)
    if g_f_std is not None and np.any(np.isfinite(g_f_std)):
        columns.append(_vector("g_f_std", np.asarray(g_f_std, dtype=np.float64), "One-sigma uncertainty of g_f."))
    columns += [
        _vector("g_s", dics.g_s, "Slow DIC at V_th (dimensionless)."),
        _vector("g_u", dics.g_u, "Ultraslow DIC at V_th (dimensionless)."),
        _vector("g_s_std", dics.g_s_std, "One-sigma uncertainty of g_s."),
        _vector("g_u_std", dics.g_u_std, "One-sigma uncertainty of g_u."),
        _vector("threshold", np.full(dics.n_units, dics.threshold), "Threshold voltage V_th (mV)."),
        _vector("network_class", list(dics.firing_class),
                "Firing class predicted by the network ('spiking', 'bursting'; 'silent' below 3 spikes)."),
        _vector("out_of_distribution", dics.out_of_distribution, "True outside the network's training support."),
        _vector("status", list(dics.status), "'ok' or why no estimate was made."),
    ]
    return DICEstimates(
        name="dic_estimates",
        description=f"DICs of {dics.n_units} units inferred with model {dics.model_name!r}.",
        model_name=dics.model_name,
        network_version=dics.network_version,
        id=_ids(dics.n_units),
        columns=columns,
    )


_OUTCOME_DESCRIPTIONS = {
    "validation_status": ("'ok': every requested member reproduces the unit's train; 'partial': the validation "
                          "budget ran out and the valid members found are kept."),
    "n_simulated": "Members simulated to find the valid ones, all rounds together.",
    "n_valid": "Simulated members that reproduced the unit's train.",
    "yield": "n_valid / n_simulated.",
    "validation_duration": "Recorded window of the validation simulation (s).",
    "validation_transient": "Time simulated and discarded before the recorded window (s).",
}


def _population_table(
    pops: list[Population], units: Any, rows_of: _UnitRows, outcomes: dict[Any, dict[str, Any]] | None = None
) -> Any:
    from hdmf.common import VectorIndex

    rows = rows_of([p.unit_id for p in pops], "`populations`")
    names = [name for p in pops for name in p.compensating_set]
    names_column = _vector("compensating_set", names, "Conductances re-solved to reach the target.")
    ends = np.cumsum([len(p.compensating_set) for p in pops]).astype(np.int64)
    columns = [
        _region("units", rows, units, "Row of the Units table whose DICs the population targets."),
        _vector("target_g_s", [p.target_mean[0] for p in pops], "Requested g_s (dimensionless)."),
        _vector("target_g_u", [p.target_mean[1] for p in pops], "Requested g_u (dimensionless)."),
        _vector("target_g_s_std", [p.target_std[0] for p in pops], "Uncertainty of the g_s target."),
        _vector("target_g_u_std", [p.target_std[1] for p in pops], "Uncertainty of the g_u target."),
        _vector("reference_threshold", [p.reference_threshold for p in pops], "The model's V_th (mV)."),
        names_column,
        VectorIndex(name="compensating_set_index", data=ends, target=names_column),
        _vector("n_iterations", np.array([p.n_iterations for p in pops], dtype=np.int64), "Fixed-point solves."),
        _vector("n_rejected", np.array([p.n_rejected for p in pops], dtype=np.int64), "Rejected draws."),
        _vector("seed", np.array([-1 if p.seed is None else p.seed for p in pops], dtype=np.int64),
                "Generation seed (-1: none recorded)."),
    ]
    if outcomes:
        columns += _outcome_columns(pops, outcomes)
    return ConductancePopulations(
        name="conductance_populations",
        description=f"{len(pops)} degenerate populations of model {pops[0].model_name!r}, one per unit.",
        model_name=pops[0].model_name,
        id=_ids(len(pops)),
        columns=columns,
    )


def _outcome_columns(pops: list[Population], outcomes: dict[Any, dict[str, Any]]) -> list[Any]:
    """The validation columns of ConductancePopulations (missing values: "", -1 or NaN)."""
    present = [name for name in POPULATION_OUTCOME_COLUMNS if any(name in row for row in outcomes.values())]
    columns = []
    for name in present:
        values = [outcomes.get(_key(p.unit_id), {}).get(name) for p in pops]
        if name == "validation_status":
            data: Any = ["" if v is None else str(v) for v in values]
        elif name in ("n_simulated", "n_valid"):
            data = np.array([-1 if v is None else int(v) for v in values], dtype=np.int64)
        else:
            data = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
        columns.append(_vector(name, data, _OUTCOME_DESCRIPTIONS[name]))
    return columns


def _member_table(
    pops: list[Population], population_table: Any, units: Any, rows_of: _UnitRows, validation: Any
) -> Any:
    unit_rows = rows_of([p.unit_id for p in pops], "`populations`")
    sizes = np.array([p.n_models for p in pops])
    population_index = np.repeat(np.arange(len(pops), dtype=np.int64), sizes)
    member = np.concatenate([np.arange(n, dtype=np.int64) for n in sizes])
    conductances = np.concatenate([p.conductances for p in pops])
    dics = np.concatenate([p.dics for p in pops])
    targets = np.concatenate([p.targets for p in pops])
    columns = [
        _region("population", population_index, population_table, "Row of ConductancePopulations."),
        _region("units", np.repeat(unit_rows, sizes), units, "Row of the Units table the population targets."),
        _vector("member", member, "Index of the member within its population."),
    ]
    for k, name in enumerate(pops[0].conductance_names):
        columns.append(
            ConductanceColumn(
                name=f"g_{name}",
                description=f"Maximal conductance of the {name} current ({CONDUCTANCE_UNIT}).",
                data=conductances[:, k],
                unit=CONDUCTANCE_UNIT,
                current=name,
            )
        )
    columns += [
        _vector("dic_g_f", dics[:, 0], "Fast DIC of the member at V_th."),
        _vector("dic_g_s", dics[:, 1], "Slow DIC of the member at V_th."),
        _vector("dic_g_u", dics[:, 2], "Ultraslow DIC of the member at V_th."),
        _vector("threshold", np.concatenate([p.threshold for p in pops]), "The member's own V_th (mV)."),
        _vector("target_g_s", targets[:, 0], "g_s target of this member."),
        _vector("target_g_u", targets[:, 1], "g_u target of this member."),
        _vector("residual", np.concatenate([p.residual for p in pops]), "Distance to the target after compensation."),
    ]
    if validation is not None:
        keys = [(p.unit_id, m) for p in pops for m in range(p.n_models)]
        columns += _validation_columns(validation, keys, [c.name for c in columns])
    return PopulationMembers(
        name="population_members",
        description=f"{int(sizes.sum())} members of {len(pops)} populations ({pops[0].model_name!r}).",
        id=_ids(int(sizes.sum())),
        columns=columns,
    )


def _key(value: Any) -> Any:
    value = value.item() if isinstance(value, np.generic) else value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def _validation_columns(validation: pd.DataFrame, keys: list[tuple[Any, int]], taken: list[str]) -> list[Any]:
    for required in ("unit_id", "member"):
        if required not in validation.columns:
            msg = f"`validation` needs a {required!r} column; it has {list(validation.columns)}."
            raise ValueError(msg)
    position = {(_key(u), int(m)): i for i, (u, m) in enumerate(keys)}
    rows = []
    for u, m in zip(validation["unit_id"], validation["member"], strict=True):
        key = (_key(u), int(m))
        if key not in position:
            msg = f"`validation` has a row for unit {key[0]!r}, member {key[1]}, which is not among the populations."
            raise ValueError(msg)
        rows.append(position[key])
    if len(set(rows)) != len(rows):
        msg = "`validation` has several rows for the same (unit_id, member)."
        raise ValueError(msg)
    rows_a = np.asarray(rows, dtype=np.int64)
    complete = len(rows) == len(keys)
    out = []
    for name in validation.columns:
        if name in ("unit_id", "member"):
            continue
        column = f"{VALIDATION_PREFIX}{name}"
        if column in taken:
            msg = f"`validation` column {name!r} clashes with an existing column {column!r}."
            raise ValueError(msg)
        values = validation[name].to_numpy()
        kind = values.dtype.kind
        if kind in "biuf" and complete and kind != "f":
            data = np.empty(len(keys), dtype=values.dtype)
        elif kind in "biuf":
            data = np.full(len(keys), np.nan)
        elif kind in "OUS":
            data = np.full(len(keys), "", dtype=object)
            values = np.array([str(v) for v in values], dtype=object)
        else:
            msg = f"`validation` column {name!r} has unsupported dtype {validation[name].dtype}; use numbers, booleans or text."
            raise TypeError(msg)
        data[rows_a] = values
        out.append(_vector(column, data, f"Validation of the simulated member: {name} (from nwb_dicpop validation)."))
    return out


def _statistics_table(statistics: pd.DataFrame, units: Any, rows_of: _UnitRows) -> Any:
    frame = statistics.reset_index() if "unit_id" not in statistics.columns and statistics.index.name == "unit_id" else statistics
    if "unit_id" not in frame.columns:
        msg = f"`statistics` needs a 'unit_id' column (or index); it has {list(frame.columns)}."
        raise ValueError(msg)
    rows = rows_of(list(frame["unit_id"]), "`statistics`")
    columns = [_region("units", rows, units, "Row of the Units table the statistics describe.")]
    for name in frame.columns:
        if name == "unit_id":
            continue
        if name in ("units", "id"):
            msg = f"`statistics` column {name!r} clashes with a reserved column name; rename it."
            raise ValueError(msg)
        values = frame[name].to_numpy()
        if values.dtype.kind == "O":
            if not all(isinstance(v, str) for v in values):
                msg = f"`statistics` column {name!r} must hold numbers, booleans or text."
                raise TypeError(msg)
            values = list(values)
        elif values.dtype.kind not in "biuf":
            msg = f"`statistics` column {name!r} has unsupported dtype {frame[name].dtype}."
            raise TypeError(msg)
        columns.append(_vector(str(name), values, f"Spike statistic {name!r} (nwb_dicpop.compute_spike_statistics)."))
    return SpikeStatistics(
        name="spike_statistics",
        description=f"Spike-train statistics of {len(frame)} units.",
        id=_ids(len(frame)),
        columns=columns,
    )


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', repr(value))}"
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _model_declaration(model: Any) -> Any:
    if isinstance(model, str):
        from nwb_dicpop.models import get_model

        return _jsonable(get_model(model))
    return _jsonable(model)


def _provenance(dics: DICEstimate | None, pops: list[Population], provenance: Mapping[str, Any] | None) -> Any:
    from nwb_dicpop import __version__

    given = dict(provenance or {})
    model = given.get("model")
    if model is None:
        names = sorted({*([dics.model_name] if dics else []), *(p.model_name for p in pops)})
        model = {name: _model_declaration(name) for name in names} if names else {}
    declaration = model if isinstance(model, str) and model.lstrip().startswith("{") else json.dumps(
        _model_declaration(model)
    )
    seeds = given.get("seeds")
    if seeds is None:
        seeds = {"populations": {str(p.unit_id): p.seed for p in pops}}
    return DicpopProvenance(
        name="provenance",
        software="nwb_dicpop",
        software_version=__version__,
        date=datetime.now(UTC),
        model_declaration=declaration,
        seeds=json.dumps(_jsonable(seeds)),
        settings=json.dumps(_jsonable(given.get("settings", {}))),
    )


# --------------------------------------------------------------------------- reading


def read_results(path: str | os.PathLike[str]) -> DicpopResults:
    """Read the dicpop results of an annotated NWB file back into the package's containers.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`write_results` (any ndx-dicpop version this package reads).

    Returns
    -------
    DicpopResults

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        Not an NWB file, or no ``processing/dicpop`` module.
    """
    from pynwb import NWBHDF5IO

    file = Path(path)
    if not file.is_file():
        msg = f"`path` {str(file)!r} does not exist (or is not a file)."
        raise FileNotFoundError(msg)
    import h5py

    if not h5py.is_hdf5(file):
        msg = f"`path` {str(file)!r} is not an HDF5/NWB file."
        raise ValueError(msg)
    with _older_versions_accepted(), NWBHDF5IO(str(file), "r") as io:
        try:
            nwbfile = io.read()
        except Exception as err:  # pynwb/hdmf raise many types on broken files
            msg = f"{str(file)!r} could not be read as NWB ({type(err).__name__}: {err})."
            raise ValueError(msg) from err
        if MODULE_NAME not in nwbfile.processing:
            msg = (
                f"{str(file)!r} has no dicpop results (no processing/{MODULE_NAME} module); "
                f"modules present: {sorted(nwbfile.processing) or 'none'}. Write them with write_results."
            )
            raise ValueError(msg)
        module = nwbfile.processing[MODULE_NAME]
        ids = np.asarray(nwbfile.units.id.data[:]).astype(np.int64)
        dics = read_dics(module["dic_estimates"], ids) if "dic_estimates" in module.data_interfaces else None
        pops: tuple[Population, ...] = ()
        validation = None
        outcomes = None
        if "conductance_populations" in module.data_interfaces:
            pops, validation = read_populations(module["conductance_populations"], module["population_members"], ids)
            outcomes = read_population_outcomes(module["conductance_populations"], ids)
        statistics = None
        if "spike_statistics" in module.data_interfaces:
            statistics = table_frame(module["spike_statistics"], ids)
        provenance = read_provenance(module["provenance"]) if "provenance" in module.data_interfaces else None
    return DicpopResults(dics, pops, statistics, validation, provenance, source=str(file),
                         population_outcomes=outcomes)
