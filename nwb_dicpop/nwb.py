"""Write results into NWB through the ndx-dicpop extension, and read them back.

:func:`write_results` annotates an NWB file: DIC estimates, degenerate populations, spike
statistics, validation outcomes and provenance go into the processing module ``dicpop``,
linked to the rows of the file's ``Units`` table; :func:`write_neuromodulation` adds the
results of :func:`~nwb_dicpop.analyze_neuromodulation` to that module (keeping what is
already there).  By default a new file is written next to the input (the input is never
modified); every write is atomic.  :func:`read_results` returns the package's containers
from an annotated file.

The per-unit results are also mirrored as columns of the file's ``Units`` table, prefixed
``dicpop_`` (``dicpop_g_s``, ``dicpop_status``, ...; see ``nwb_dicpop._unit_results``), so that
tools reading Units only (pynapple, NWB widgets) show them;
:meth:`DicpopResults.to_pynapple` gives the same values as the metadata of a
``pynapple.TsGroup``.

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
import logging
import os
import re
import shutil
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._files import atomic_destination
from nwb_dicpop._results_reader import (
    POPULATION_OUTCOME_COLUMNS,
    read_dics,
    read_neuromodulation,
    read_population_outcomes,
    read_populations,
    read_provenance,
    table_frame,
)
from nwb_dicpop._results_writer import (
    NAMESPACE,
    NEUROMODULATION_TABLES,
    UnitRows,
    build_analysis_table,
    build_dic_table,
    build_member_table,
    build_population_table,
    build_provenance,
    build_ranking_table,
    build_statistics_table,
    model_declaration,
    region_column,
    vector_data,
)
from nwb_dicpop._unit_results import (
    drop_columns,
    outcome_rows,
    unit_key,
    unit_result_columns,
    written_columns,
)
from nwb_dicpop._validation import check_choice
from nwb_dicpop.containers import DICEstimate, Population, SpikeTrains

if TYPE_CHECKING:
    import pandas as pd

    from nwb_dicpop.neuromodulation import NeuromodulationResult

__all__ = [
    "EXTENSION_NAMESPACE",
    "READABLE_VERSIONS",
    "DicpopResults",
    "check_output_path",
    "extension_namespace_path",
    "read_results",
    "write_neuromodulation",
    "write_results",
]

logger = logging.getLogger(__name__)

EXTENSION_NAMESPACE = NAMESPACE
MODULE_NAME = "dicpop"
_NAMESPACE_FILE = "ndx-dicpop.namespace.yaml"
_PROVENANCE_KEYS = ("model", "seeds", "settings")

READABLE_VERSIONS = ("0.1.0", "0.2.0", "0.3.0")
"""Versions of ndx-dicpop whose files :func:`read_results` reads (files cache the version they
were written with; newer versions only add optional columns and new types)."""


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


def _schema_version(path: Path) -> str:
    """The ``version:`` of a namespace YAML file (read as text)."""
    found = re.search(r"^\s*version:\s*['\"]?([^'\"\s]+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    if found is None:
        msg = f"{path} has no 'version:' entry; reinstall nwb_dicpop."
        raise ValueError(msg)
    return found.group(1)


def _load_extension() -> dict[str, Any]:
    """Register the namespace (unless the reader package ``ndx_dicpop`` or an earlier import did:
    then its classes are reused, provided the versions agree) and return the classes by name."""
    from pynwb import get_class, get_type_map, load_namespaces

    path = extension_namespace_path()
    catalog = get_type_map().namespace_catalog
    if EXTENSION_NAMESPACE not in catalog.namespaces:
        load_namespaces(str(path))
    else:
        loaded, own = str(catalog.get_namespace(EXTENSION_NAMESPACE)["version"]), _schema_version(path)
        if loaded != own:
            msg = (
                f"ndx-dicpop {loaded} is already loaded in this process (by the ndx_dicpop package or another "
                f"import), but nwb_dicpop writes and reads version {own}. Install the ndx-dicpop of the same "
                "release as nwb_dicpop (pip install ./extensions from its checkout), or uninstall it: nwb_dicpop "
                "does not need it."
            )
            raise ImportError(msg)
    names = ("ConductanceColumn", "DICEstimates", "ConductancePopulations", "PopulationMembers",
             "SpikeStatistics", "DicpopProvenance", "NeuromodulationAnalyses", "NeuromodulationRanking",
             "NeuromodulationPopulations", "NeuromodulationMembers")
    return {name: get_class(name, EXTENSION_NAMESPACE) for name in names}


_TYPES = _load_extension()
ConductanceColumn = _TYPES["ConductanceColumn"]
DICEstimates = _TYPES["DICEstimates"]
ConductancePopulations = _TYPES["ConductancePopulations"]
PopulationMembers = _TYPES["PopulationMembers"]
SpikeStatistics = _TYPES["SpikeStatistics"]
DicpopProvenance = _TYPES["DicpopProvenance"]
NeuromodulationAnalyses = _TYPES["NeuromodulationAnalyses"]
NeuromodulationRanking = _TYPES["NeuromodulationRanking"]
NeuromodulationPopulations = _TYPES["NeuromodulationPopulations"]
NeuromodulationMembers = _TYPES["NeuromodulationMembers"]


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
    neuromodulation : tuple of NeuromodulationResult
        The analyses stored by :func:`write_neuromodulation` (ndx-dicpop >= 0.3.0), in the
        file's order; empty when there are none.  Their ``before`` / ``after`` estimates carry
        the analysed unit's id, their populations too.
    """

    dics: DICEstimate | None
    populations: tuple[Population, ...]
    statistics: pd.DataFrame | None
    validation: pd.DataFrame | None
    provenance: dict[str, Any] | None
    source: str = ""
    population_outcomes: pd.DataFrame | None = None
    neuromodulation: tuple[NeuromodulationResult, ...] = ()

    def __repr__(self) -> str:
        parts = [f"dics={self.dics.n_units if self.dics else 0} units",
                 f"{len(self.populations)} populations",
                 f"statistics={'yes' if self.statistics is not None else 'no'}",
                 f"validation={'yes' if self.validation is not None else 'no'}"]
        if self.neuromodulation:
            n = len(self.neuromodulation)
            parts.append(f"{n} neuromodulation {'analysis' if n == 1 else 'analyses'}")
        return f"DicpopResults({', '.join(parts)}, source={self.source!r})"

    def to_pynapple(self, spikes: SpikeTrains | None = None) -> Any:
        """The units as a ``pynapple.TsGroup``, with the per-unit results as its metadata.

        The metadata columns are those :func:`write_results` mirrors on the Units table
        (``dicpop_g_s``, ``dicpop_g_s_std``, ``dicpop_g_u``, ``dicpop_g_u_std``,
        ``dicpop_network_class``, ``dicpop_status``, ``dicpop_firing_class``,
        ``dicpop_n_models``, ``dicpop_validation_status``, ``dicpop_yield``, each when the file
        holds that result), computed from the results read here, so files written before the
        mirror existed give them too.  Units without a result get NaN, ``""``, 0 or
        ``"not analysed"``.  The populations themselves are tables of conductance sets, not time
        series: ``self.populations[k].to_dataframe()`` gives the members of one unit.

        Parameters
        ----------
        spikes : SpikeTrains, optional
            The units' spike trains (seconds).  Default: the Units table of :attr:`source`, read
            with :func:`~nwb_dicpop.read_spike_trains`.

        Returns
        -------
        pynapple.TsGroup
            One ``Ts`` per unit, keyed by the Units ids.

        Raises
        ------
        ImportError
            pynapple is not installed (``pip install pynapple``).
        TypeError
            ``spikes`` is not a SpikeTrains.
        ValueError
            No ``spikes`` and no :attr:`source` file to read them from.

        Examples
        --------
        >>> import nwb_dicpop as ndp
        >>> units = ndp.read_results("session_dicpop.nwb").to_pynapple()  # doctest: +SKIP
        >>> units[units.dicpop_status == "ok"].dicpop_g_s  # doctest: +SKIP
        """
        from nwb_dicpop._pynapple import to_tsgroup

        if spikes is None:
            if not self.source:
                msg = "`spikes` is needed: these results have no source file to read the spike trains from."
                raise ValueError(msg)
            from nwb_dicpop.io import read_spike_trains

            spikes = read_spike_trains(self.source)
        elif not isinstance(spikes, SpikeTrains):
            msg = (f"`spikes` must be a SpikeTrains (from read_spike_trains or as_spike_trains); got "
                   f"{type(spikes).__name__}.")
            raise TypeError(msg)
        columns = unit_result_columns(spikes.unit_ids, dics=self.dics, populations=self.populations,
                                      statistics=self.statistics, outcomes=outcome_rows(self.population_outcomes))
        return to_tsgroup(spikes, {name: values for name, _, values in columns})


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

    The results go into the processing module ``dicpop`` (the ``ndx-dicpop`` tables).  One value
    per unit is also copied onto the file's ``Units`` table, in columns prefixed ``dicpop_``
    (``dicpop_g_s``, ``dicpop_g_s_std``, ``dicpop_g_u``, ``dicpop_g_u_std``,
    ``dicpop_network_class``, ``dicpop_status``, and with the matching inputs
    ``dicpop_g_f``, ``dicpop_firing_class``, ``dicpop_n_models``,
    ``dicpop_validation_status``, ``dicpop_yield``), so that tools reading Units only
    (pynapple, NWB widgets) show them; ``docs/extension.md`` describes each.  Writing again
    with ``overwrite=True`` replaces those columns; a column of one of these names that
    nwb_dicpop did not write stops the write.

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
        network's class (``dics.network_class``) is stored as ``network_class``; the class of
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
        the input without ``in_place``, results already present without ``overwrite``, a
        ``dicpop_`` column of Units that nwb_dicpop did not write.
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
    neuromodulation: bool = False,
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
    neuromodulation : bool
        Check for :func:`write_neuromodulation` instead: the input may hold other dicpop
        results; only neuromodulation results already there need ``overwrite``.

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
        The input is not NWB, is the output without ``in_place``, already holds dicpop
        results without ``overwrite``, or (not with ``neuromodulation``) its Units table has a
        ``dicpop_`` column of a mirrored result that nwb_dicpop did not write.
    """
    source = Path(source_path)
    output = _check_paths(source, output_path, overwrite=overwrite, in_place=in_place)
    _check_existing_results(source, overwrite=overwrite, neuromodulation=neuromodulation)
    with contextlib.suppress(_DryRun), atomic_destination(output):
        raise _DryRun
    return output


class _DryRun(Exception):
    """Raised inside :func:`atomic_destination` to create and remove its temporary file only."""


def _check_existing_results(source: Path, *, overwrite: bool, neuromodulation: bool = False) -> None:
    """Raise when ``source`` already holds a dicpop module (or, with ``neuromodulation``, dicpop
    neuromodulation results) and ``overwrite`` is False, or (for :func:`write_results`) when its
    Units table has a column named like a mirrored result that nwb_dicpop did not write."""
    import h5py

    group = f"processing/{MODULE_NAME}" + (f"/{NEUROMODULATION_TABLES[0]}" if neuromodulation else "")
    try:
        with h5py.File(source, "r") as handle:
            present = group in handle
            foreign = [] if neuromodulation or "units" not in handle else written_columns(handle["units"])[1]
    except OSError as err:
        msg = f"`source_path` {str(source)!r} could not be opened; it is corrupt or truncated ({err})."
        raise ValueError(msg) from err
    _refuse_foreign_columns(foreign, source)
    if overwrite:
        return
    if present and neuromodulation:
        msg = (
            f"{str(source)!r} already holds dicpop neuromodulation results ({group}); pass overwrite=True "
            "to replace them (the other dicpop results are kept)."
        )
        raise ValueError(msg)
    if present:
        msg = (
            f"{str(source)!r} already holds dicpop results (processing/{MODULE_NAME}); "
            "pass overwrite=True to replace them."
        )
        raise ValueError(msg)


def _refuse_foreign_columns(foreign: list[str], source: Path) -> None:
    if foreign:
        msg = (
            f"The Units table of {str(source)!r} already has column(s) {foreign} that nwb_dicpop did not write, "
            "under the names where it stores its per-unit results. Rename or remove those columns in the input "
            "file (nwb_dicpop never changes it), then write the results again."
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
    rows = {unit_key(u): row for u, row in zip(outcomes["unit_id"], outcomes.to_dict(orient="records"), strict=True)}
    if len(rows) != len(outcomes):
        msg = "`population_outcomes` has several rows for the same unit_id."
        raise ValueError(msg)
    extra = sorted(set(rows) - {unit_key(p.unit_id) for p in pops}, key=str)
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
            if "units" in handle:
                # the mirrored columns of earlier results go with them; a user's own column stays
                ours, foreign = written_columns(handle["units"])
                _refuse_foreign_columns(foreign, source)
                drop_columns(handle["units"], ours)
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
        rows_of = UnitRows(units, str(source))
        for name, description, values in unit_result_columns(rows_of.ids, dics=dics, populations=pops,
                                                             statistics=statistics, outcomes=outcomes):
            units.add_column(name=name, description=description, data=values)
        module = nwbfile.create_processing_module(
            name=MODULE_NAME,
            description=(
                "nwb_dicpop results (ndx-dicpop extension): dynamic input conductances inferred from "
                "the spike trains of the Units table, degenerate populations of conductance-based "
                "models, spike statistics and provenance."
            ),
        )
        if dics is not None:
            module.add(build_dic_table(dics, units, rows_of))
        if pops:
            population_table = build_population_table(pops, units, rows_of, outcomes)
            module.add(population_table)
            module.add(build_member_table(pops, population_table, units, rows_of, validation))
        if statistics is not None:
            module.add(build_statistics_table(statistics, units, rows_of))
        module.add(build_provenance(dics, pops, provenance))
        io.write(nwbfile)


# --------------------------------------------------------------------------- neuromodulation


def write_neuromodulation(
    source_path: str | os.PathLike[str],
    results: NeuromodulationResult | Sequence[NeuromodulationResult],
    output_path: str | os.PathLike[str] | None = None,
    *,
    unit_ids: Sequence[Any] | None = None,
    overwrite: bool = False,
    in_place: bool = False,
) -> Path:
    """Store neuromodulation analyses in an annotated copy of an NWB file.

    The results of :func:`~nwb_dicpop.analyze_neuromodulation` go into the processing module
    ``dicpop`` (created when missing; DICs, populations and other results already there are
    kept) as four tables of the ``ndx-dicpop`` extension (version 0.3.0 and later):
    ``neuromodulation_analyses`` (one row per analysis: the unit, the DICs and windows before
    and after, whether the change is detectable and why, the score of "no change", the
    settings), ``neuromodulation_ranking`` (one row per candidate subset and analysis: rank,
    cost, feasible fraction, scores, tie reason), ``neuromodulation_populations`` and
    ``neuromodulation_members`` (the "before" population and the moved ones).
    :func:`read_results` reads them back (``DicpopResults.neuromodulation``).

    Parameters
    ----------
    source_path : str or os.PathLike
        The NWB file whose Units table holds the analysed units.  Never modified unless
        ``in_place=True``.
    results : NeuromodulationResult or sequence of NeuromodulationResult
        One or more analyses, all of one model.
    output_path : str or os.PathLike, optional
        Where to write.  Default: ``<stem>_dicpop.nwb`` next to the input.
    unit_ids : sequence, optional
        Units ids of the analyses, one per result, overriding their ``unit_id`` (which
        :func:`~nwb_dicpop.analyze_neuromodulation` sets from its ``unit`` argument).  A
        result without a unit id is linked to the only unit of a one-unit file.
    overwrite : bool
        Replace an existing ``output_path`` and the neuromodulation results already in the
        input (its other dicpop results are kept).
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
        Not an NWB file, no Units table, a unit id missing from it (or no unit id), results of
        several models, neuromodulation results already present without ``overwrite``.
    TypeError
        ``results`` are not NeuromodulationResult objects.

    Examples
    --------
    >>> import nwb_dicpop as ndp
    >>> result = ndp.analyze_neuromodulation("baseline", "drug", model="stg", recording="session.nwb",
    ...                                      unit=0, n_models=50, rng=0)  # doctest: +SKIP
    >>> out = ndp.write_neuromodulation("session.nwb", result, "session_neuromodulation.nwb")  # doctest: +SKIP
    >>> ndp.read_results(out).neuromodulation[0].top  # doctest: +SKIP
    ('A+H',)
    """
    source = Path(source_path)
    output = _check_paths(source, output_path, overwrite=overwrite, in_place=in_place)
    analyses = _check_neuromodulation(results, unit_ids)
    _check_existing_results(source, overwrite=overwrite, neuromodulation=True)
    with atomic_destination(output) as tmp:
        shutil.copyfile(source, tmp)
        _annotate_neuromodulation(tmp, source, analyses, overwrite)
    logger.info("Wrote %d neuromodulation analys%s to %s", len(analyses), "is" if len(analyses) == 1 else "es", output)
    return output


def _check_neuromodulation(results: Any, unit_ids: Any) -> list[tuple[Any, Any]]:
    """``[(result, unit id or None)]``, checked: result types, one model, one id per result."""
    from nwb_dicpop.neuromodulation import NeuromodulationResult

    items = [results] if isinstance(results, NeuromodulationResult) else results
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        msg = (f"`results` must be a NeuromodulationResult (from analyze_neuromodulation) or a list of them; "
               f"got {type(results).__name__}.")
        raise TypeError(msg)
    items = list(items)
    bad = [type(r).__name__ for r in items if not isinstance(r, NeuromodulationResult)]
    if bad:
        msg = f"`results` must hold NeuromodulationResult objects (from analyze_neuromodulation); got {bad[:3]}."
        raise TypeError(msg)
    if not items:
        msg = "`results` is empty; there is nothing to write (NWB tools reject empty tables)."
        raise ValueError(msg)
    models = sorted({r.model_name for r in items})
    if len(models) > 1:
        msg = f"`results` mix models {models}; write the analyses of one model per file."
        raise ValueError(msg)
    if unit_ids is None:
        ids = [r.unit_id for r in items]
    else:
        if isinstance(unit_ids, (str, bytes)) or not isinstance(unit_ids, Sequence):
            msg = f"`unit_ids` must be a list of Units ids, one per result; got {unit_ids!r}."
            raise TypeError(msg)
        ids = list(unit_ids)
        if len(ids) != len(items):
            msg = f"`unit_ids` needs one id per result ({len(items)}); got {len(ids)}."
            raise ValueError(msg)
    return list(zip(items, ids, strict=True))


def _annotate_neuromodulation(path: Path, source: Path, analyses: list[tuple[Any, Any]], overwrite: bool) -> None:
    import h5py
    from pynwb import NWBHDF5IO

    try:
        with h5py.File(path, "a") as handle:
            if "nwb_version" not in handle.attrs:
                msg = f"`source_path` {str(source)!r} is an HDF5 file but not an NWB file."
                raise ValueError(msg)
            stored = [f"processing/{MODULE_NAME}/{name}" for name in NEUROMODULATION_TABLES]
            if any(group in handle for group in stored) and not overwrite:
                msg = (f"{str(source)!r} already holds dicpop neuromodulation results; pass overwrite=True to "
                       "replace them (the other dicpop results are kept).")
                raise ValueError(msg)
            for group in stored:
                if group in handle:
                    del handle[group]
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
        rows_of = UnitRows(units, str(source))
        unit_ids = _analysis_units(analyses, rows_of)
        results = [result for result, _ in analyses]
        module = nwbfile.processing.get(MODULE_NAME)
        if module is None:
            module = nwbfile.create_processing_module(
                name=MODULE_NAME,
                description=("nwb_dicpop results (ndx-dicpop extension): neuromodulation analyses of units of the "
                             "Units table (which conductances changed between two recordings) and provenance."),
            )
        analysis_table = build_analysis_table(results, unit_ids, units, rows_of)
        module.add(analysis_table)
        module.add(build_ranking_table(results, unit_ids, analysis_table, units, rows_of))
        pops, analysis_rows, roles, subsets = [], [], [], []
        for row, (result, uid) in enumerate(zip(results, unit_ids, strict=True)):
            for role, subset, population in (("before", "", result.before_population),
                                             *(("moved", k, v) for k, v in result.moved.items())):
                pops.append(dataclasses.replace(population, unit_id=uid))
                analysis_rows.append(row)
                roles.append(role)
                subsets.append(subset)
        extra = [
            region_column("analysis", np.asarray(analysis_rows, dtype=np.int64), analysis_table,
                    "Row of NeuromodulationAnalyses the population belongs to."),
            vector_data("role", roles, "'before' (at the 'before' DICs) or 'moved'."),
            vector_data("subset", subsets, "Subset of the move ('' for the 'before' population)."),
        ]
        population_table = build_population_table(
            pops, units, rows_of, kind=NeuromodulationPopulations, name=NEUROMODULATION_TABLES[2],
            description=f"'before' and moved populations of {len(results)} neuromodulation analyses.",
            extra_columns=extra,
        )
        module.add(population_table)
        module.add(build_member_table(pops, population_table, units, rows_of, None, kind=NeuromodulationMembers,
                                 name=NEUROMODULATION_TABLES[3]))
        if "provenance" not in module.data_interfaces:
            name = results[0].model_name
            seeds = {"neuromodulation": {str(uid): r.settings.get("seed") for r, uid in zip(results, unit_ids,
                                                                                          strict=True)}}
            module.add(build_provenance(None, [], {"model": {name: model_declaration(name)}, "seeds": seeds,
                                              "settings": {"neuromodulation": "see neuromodulation_analyses.settings"}}))
        io.write(nwbfile)


def _analysis_units(analyses: list[tuple[Any, Any]], rows_of: UnitRows) -> list[Any]:
    """The Units id of each analysis (a one-unit file links results without one to its unit)."""
    ids = []
    for k, (_, uid) in enumerate(analyses):
        if uid is None:
            if len(rows_of.ids) != 1:
                msg = (f"`results[{k}]` has no unit_id and the Units table of {rows_of.where} holds "
                       f"{len(rows_of.ids)} units; pass unit=<id> to analyze_neuromodulation, or unit_ids=[...] "
                       "here.")
                raise ValueError(msg)
            uid = rows_of.ids[0]
        ids.append(unit_key(uid))
    rows_of(ids, "`results`")  # every id is a Units id (did-you-mean errors otherwise)
    return ids


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
        neuromodulation: tuple[Any, ...] = ()
        if NEUROMODULATION_TABLES[0] in module.data_interfaces:
            neuromodulation = read_neuromodulation(*(module[name] for name in NEUROMODULATION_TABLES), ids)
    return DicpopResults(dics, pops, statistics, validation, provenance, source=str(file),
                         population_outcomes=outcomes, neuromodulation=neuromodulation)
